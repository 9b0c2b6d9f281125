//! drydock-secrets (see DESIGN.md §3).
