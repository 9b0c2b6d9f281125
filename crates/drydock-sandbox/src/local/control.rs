//! The host's end of the control socket: sends requests, routes the stage's answers.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use crate::protocol::{
    ExecOutcome, HostMessage, MAX_PACKET, ReadyInfo, StageMessage, recv_packet, send_packet,
};

/// Why the stage did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlClosed {
    /// The stage reported a fatal error.
    Fatal(String),
    /// The socket closed (the session ended).
    Gone,
}

/// What the reader delivers once at start-up.
pub(crate) type ReadyResult = Result<(ReadyInfo, Option<OwnedFd>), ControlClosed>;

#[derive(Debug)]
pub(crate) struct Control {
    fd: AsyncFd<OwnedFd>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<ExecOutcome, ControlClosed>>>>,
    ready: Mutex<Option<oneshot::Sender<ReadyResult>>>,
    closed: AtomicBool,
    fatal: Mutex<Option<String>>,
}

impl Control {
    /// Wraps the host end; the receiver yields the stage's `Ready` (or why it never came).
    pub(crate) fn new(fd: OwnedFd) -> std::io::Result<(Arc<Self>, oneshot::Receiver<ReadyResult>)> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let control = Arc::new(Self {
            // SAFETY: an OwnedFd keeps the same open descriptor for as long as the AsyncFd owns it.
            fd: unsafe { AsyncFd::register(fd) }?,
            pending: Mutex::new(HashMap::new()),
            ready: Mutex::new(Some(ready_tx)),
            closed: AtomicBool::new(false),
            fatal: Mutex::new(None),
        });
        Ok((control, ready_rx))
    }

    /// True once the stage is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Registers interest in a command's end (before sending it).
    pub(crate) fn register(
        &self,
        id: u64,
    ) -> oneshot::Receiver<Result<ExecOutcome, ControlClosed>> {
        let (tx, rx) = oneshot::channel();
        let mut pending = lock(&self.pending);
        if self.is_closed() {
            let _ = tx.send(Err(self.closed_reason()));
        } else {
            pending.insert(id, tx);
        }
        rx
    }

    /// Forgets a registration (the command could not be sent).
    pub(crate) fn unregister(&self, id: u64) {
        lock(&self.pending).remove(&id);
    }

    fn closed_reason(&self) -> ControlClosed {
        match lock(&self.fatal).clone() {
            Some(message) => ControlClosed::Fatal(message),
            None => ControlClosed::Gone,
        }
    }

    /// Sends a message with descriptors.
    pub(crate) async fn send(&self, message: &HostMessage, fds: &[RawFd]) -> Result<(), Errno> {
        let bytes = serde_json::to_vec(message).map_err(|_| Errno::EINVAL)?;
        if bytes.len() > MAX_PACKET {
            return Err(Errno::EMSGSIZE);
        }
        loop {
            let mut guard = self.fd.writable().await.map_err(|_| Errno::EPIPE)?;
            match guard.try_io(|fd| {
                send_packet(fd.get_ref().as_raw_fd(), &bytes, fds, true)
                    .map_err(std::io::Error::from)
            }) {
                Ok(result) => {
                    return result
                        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Best-effort kill from synchronous code (a dropped exec future).
    pub(crate) fn kill_now(&self, id: u64) {
        if let Ok(bytes) = serde_json::to_vec(&HostMessage::Kill { id }) {
            let _ = send_packet(self.fd.get_ref().as_raw_fd(), &bytes, &[], true);
        }
    }

    /// Reads the stage's messages until the socket closes. Run it as a task for the session.
    pub(crate) async fn run_reader(self: Arc<Self>) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let received = match self.fd.readable().await {
                Ok(mut guard) => match guard.try_io(|fd| {
                    recv_packet(fd.get_ref().as_raw_fd(), &mut buf, true)
                        .map_err(std::io::Error::from)
                }) {
                    Ok(result) => result,
                    Err(_would_block) => continue,
                },
                Err(err) => Err(err),
            };
            let packet = match received {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    tracing::warn!(%err, "sandbox control socket failed");
                    break;
                }
            };
            let message = match serde_json::from_slice::<StageMessage>(&buf[..packet.len]) {
                Ok(message) => message,
                Err(err) => {
                    tracing::warn!(%err, "unreadable message from the sandbox stage");
                    continue;
                }
            };
            match message {
                StageMessage::Ready(info) => {
                    let pidfd = packet.fds.into_iter().next();
                    if let Some(tx) = lock(&self.ready).take() {
                        let _ = tx.send(Ok((info, pidfd)));
                    }
                }
                StageMessage::Exited { id, outcome } => {
                    if let Some(tx) = lock(&self.pending).remove(&id) {
                        let _ = tx.send(Ok(outcome));
                    }
                }
                StageMessage::Fatal { message } => {
                    tracing::error!(%message, "sandbox stage failed");
                    *lock(&self.fatal) = Some(message);
                }
            }
        }
        self.close();
    }

    /// Marks the stage gone and fails everything still waiting.
    pub(crate) fn close(&self) {
        let reason = self.closed_reason();
        let mut pending = lock(&self.pending);
        self.closed.store(true, Ordering::SeqCst);
        for (_, tx) in pending.drain() {
            let _ = tx.send(Err(reason.clone()));
        }
        if let Some(tx) = lock(&self.ready).take() {
            let _ = tx.send(Err(reason));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
