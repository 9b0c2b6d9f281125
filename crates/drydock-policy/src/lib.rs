//! drydock-policy (see DESIGN.md §3).
