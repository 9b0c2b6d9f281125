//! Who watches a task run: the CLI's progress display, the server's event stream.

use drydock_agent::Progress;
use drydock_core::EventKind;

/// Sees every event as it is recorded, and the live progress between them.
pub trait Observer: Send + Sync {
    /// An event was appended to the task's audit log.
    fn event(&self, kind: &EventKind);

    /// Live progress (a model call started, a tool is running); display only.
    fn progress(&self, _progress: Progress<'_>) {}
}

/// An observer that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _kind: &EventKind) {}
}
