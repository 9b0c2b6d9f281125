//! drydock-forge (see DESIGN.md §3).
