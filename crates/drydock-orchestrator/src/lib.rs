//! drydock-orchestrator (see DESIGN.md §3).
