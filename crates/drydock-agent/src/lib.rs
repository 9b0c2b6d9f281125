//! drydock-agent (see DESIGN.md §3).
