//! drydock-testkit (see DESIGN.md §3).
