//! The host's end of a session's status socket (see `wire`): accepts the container's init and
//! each command's exec wrapper, answers readiness, carries sweeps, and hands every wrapper's
//! connection to the exec waiting for it.
//!
//! Connections are read one at a time, in the order they were made: a wrapper connects before
//! its command exists, so no process of that command can claim its place.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::wire::{self, HostCommand, InnerMessage, LineError};

/// Time a new connection has to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

/// What the init reports once it runs.
pub(crate) type ReadyResult = Result<Option<u64>, String>;

/// The answer to a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Processes that were still running.
    pub killed: u32,
    /// The memory cgroup's OOM kill count, when visible.
    pub oom_kills: Option<u64>,
}

/// A sweep could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SweepError {
    /// The init is gone (the container ended).
    #[error("the container's init is gone{}", .0.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    InitGone(Option<String>),
    /// The init could not kill everything.
    #[error("{0}")]
    Incomplete(String),
}

/// A wrapper's connection, after its hello.
pub(crate) type ExecConnection = BufReader<OwnedReadHalf>;

#[derive(Debug, Default)]
struct Shared {
    init_commands: Mutex<Option<mpsc::UnboundedSender<HostCommand>>>,
    ready: Mutex<Option<oneshot::Sender<ReadyResult>>>,
    sweeps: Mutex<HashMap<u64, oneshot::Sender<Result<Swept, SweepError>>>>,
    execs: Mutex<HashMap<u64, (String, oneshot::Sender<ExecConnection>)>>,
    init_seen: AtomicBool,
    init_gone: AtomicBool,
    gone_notify: Notify,
    fatal: Mutex<Option<String>>,
    last_oom_kills: Mutex<Option<u64>>,
    next_seq: AtomicU64,
}

/// The listening status socket of one session. Dropping it closes the init's connection, which
/// ends the container.
#[derive(Debug)]
pub(crate) struct StatusHub {
    path: PathBuf,
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StatusHub {
    /// Listens at `path` (which must not exist); the receiver yields the init's readiness.
    pub(crate) fn bind(path: &Path) -> std::io::Result<(Self, oneshot::Receiver<ReadyResult>)> {
        let listener = UnixListener::bind(path)?;
        // The container's user differs from ours when drydock runs as root; the socket is only
        // reachable through the session directory, which only that container sees.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            ready: Mutex::new(Some(ready_tx)),
            ..Shared::default()
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        let hub = Self {
            path: path.to_path_buf(),
            shared,
            tasks: Mutex::new(vec![accept]),
        };
        Ok((hub, ready_rx))
    }

    /// Registers interest in the wrapper of command `id`, which will present `token` (before
    /// starting it).
    pub(crate) fn expect_exec(&self, id: u64, token: &str) -> oneshot::Receiver<ExecConnection> {
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.execs).insert(id, (token.to_string(), tx));
        rx
    }

    /// Forgets command `id` (it ended or was never started).
    pub(crate) fn forget_exec(&self, id: u64) {
        lock(&self.shared.execs).remove(&id);
    }

    /// True once the init's connection closed.
    pub(crate) fn init_gone(&self) -> bool {
        self.shared.init_gone.load(Ordering::SeqCst)
    }

    /// What the init said before it went, if anything.
    pub(crate) fn fatal_message(&self) -> Option<String> {
        lock(&self.shared.fatal).clone()
    }

    /// The OOM kill count of the latest answer from the init.
    pub(crate) fn last_oom_kills(&self) -> Option<u64> {
        *lock(&self.shared.last_oom_kills)
    }

    /// Resolves once the init's connection closed.
    pub(crate) async fn wait_init_gone(&self) {
        loop {
            let notified = self.shared.gone_notify.notified();
            if self.init_gone() {
                return;
            }
            notified.await;
        }
    }

    /// Asks the init to kill every other process and waits for its answer.
    pub(crate) async fn sweep(&self) -> Result<Swept, SweepError> {
        let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.sweeps).insert(seq, tx);
        if !self.send(HostCommand::Sweep { seq }) {
            lock(&self.shared.sweeps).remove(&seq);
            return Err(SweepError::InitGone(self.fatal_message()));
        }
        rx.await
            .unwrap_or_else(|_| Err(SweepError::InitGone(self.fatal_message())))
    }

    /// Asks for a sweep without waiting (from synchronous code: a dropped exec).
    pub(crate) fn sweep_soon(&self) {
        let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        self.send(HostCommand::Sweep { seq });
    }

    fn send(&self, command: HostCommand) -> bool {
        if self.init_gone() {
            return false;
        }
        lock(&self.shared.init_commands)
            .as_ref()
            .is_some_and(|tx| tx.send(command).is_ok())
    }

    /// Stops listening and closes every connection (the init then exits).
    pub(crate) fn shutdown(&self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        lock(&self.shared.init_commands).take();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for StatusHub {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    let mut init_tasks = Vec::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(%err, "docker sandbox status socket: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (read, write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let hello = tokio::time::timeout(
            HELLO_TIMEOUT,
            wire::read_message::<_, InnerMessage>(&mut reader),
        )
        .await;
        match hello {
            Ok(Ok(InnerMessage::HelloInit)) if !shared.init_seen.swap(true, Ordering::SeqCst) => {
                let (tx, rx) = mpsc::unbounded_channel();
                *lock(&shared.init_commands) = Some(tx);
                init_tasks.push(AbortOnDrop(tokio::spawn(write_commands(write, rx))));
                init_tasks.push(AbortOnDrop(tokio::spawn(read_init(
                    reader,
                    Arc::clone(&shared),
                ))));
            }
            Ok(Ok(InnerMessage::HelloExec { id, token })) => {
                let waiter = {
                    let mut execs = lock(&shared.execs);
                    match execs.get(&id) {
                        Some((expected, _)) if *expected == token => execs.remove(&id),
                        _ => None,
                    }
                };
                match waiter {
                    // The wrapper keeps writing on its read half; our write half is not needed.
                    Some((_, waiter)) => {
                        drop(write);
                        let _ = waiter.send(reader);
                    }
                    None => tracing::debug!(
                        id,
                        "status connection for an unknown command or with a wrong token"
                    ),
                }
            }
            Ok(Ok(other)) => tracing::debug!(?other, "unexpected first status message"),
            Ok(Err(err)) => tracing::debug!(%err, "unreadable status connection"),
            Err(_) => tracing::debug!("a status connection did not say who it is"),
        }
    }
}

/// Aborts a task when dropped (so the accept loop's cancellation ends the init's tasks too).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn write_commands(
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut commands: mpsc::UnboundedReceiver<HostCommand>,
) {
    while let Some(command) = commands.recv().await {
        if write.write_all(&wire::encode(&command)).await.is_err() {
            return;
        }
    }
    // Dropping the write half shuts it down: the init reads end-of-file and exits.
}

async fn read_init(mut reader: BufReader<OwnedReadHalf>, shared: Arc<Shared>) {
    loop {
        match wire::read_message::<_, InnerMessage>(&mut reader).await {
            Ok(InnerMessage::Ready { oom_kills }) => {
                if let Some(tx) = lock(&shared.ready).take() {
                    let _ = tx.send(Ok(oom_kills));
                }
            }
            Ok(InnerMessage::Swept {
                seq,
                killed,
                oom_kills,
                error,
            }) => {
                if oom_kills.is_some() {
                    *lock(&shared.last_oom_kills) = oom_kills;
                }
                let result = match error {
                    Some(message) => Err(SweepError::Incomplete(message)),
                    None => Ok(Swept { killed, oom_kills }),
                };
                if let Some(tx) = lock(&shared.sweeps).remove(&seq) {
                    let _ = tx.send(result);
                }
            }
            Ok(InnerMessage::Fatal { message }) => {
                tracing::error!(%message, "docker sandbox init failed");
                *lock(&shared.fatal) = Some(message);
            }
            Ok(other) => tracing::debug!(?other, "unexpected message from the init"),
            Err(LineError::Closed | LineError::Io(_)) => break,
            Err(err) => {
                tracing::warn!(%err, "bad message from the docker sandbox init");
                break;
            }
        }
    }
    shared.init_gone.store(true, Ordering::SeqCst);
    let fatal = lock(&shared.fatal).clone();
    if let Some(tx) = lock(&shared.ready).take() {
        let _ = tx.send(Err(fatal
            .clone()
            .unwrap_or_else(|| "the container's init exited".into())));
    }
    for (_, tx) in lock(&shared.sweeps).drain() {
        let _ = tx.send(Err(SweepError::InitGone(fatal.clone())));
    }
    shared.gone_notify.notify_waiters();
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, Write};

    use pretty_assertions::assert_eq;

    use super::*;

    fn connect(path: &Path, hello: &InnerMessage) -> std::os::unix::net::UnixStream {
        let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream.write_all(&wire::encode(hello)).unwrap();
        stream
    }

    #[tokio::test]
    async fn the_init_gets_ready_sweeps_and_its_end_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.sock");
        let (hub, ready) = StatusHub::bind(&path).unwrap();
        let init_path = path.clone();
        let init = tokio::task::spawn_blocking(move || {
            let mut stream = connect(&init_path, &InnerMessage::HelloInit);
            stream
                .write_all(&wire::encode(&InnerMessage::Ready { oom_kills: Some(0) }))
                .unwrap();
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let command: HostCommand = wire::read_message_blocking(&mut reader).unwrap();
            let HostCommand::Sweep { seq } = command;
            stream
                .write_all(&wire::encode(&InnerMessage::Swept {
                    seq,
                    killed: 2,
                    oom_kills: Some(1),
                    error: None,
                }))
                .unwrap();
            // A second init is refused: its hello is ignored and nothing is sent to it.
            let mut impostor = connect(&init_path, &InnerMessage::HelloInit);
            impostor
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut line = String::new();
            let read = std::io::BufReader::new(&mut impostor).read_line(&mut line);
            assert!(read.is_err() || line.is_empty(), "{line}");
            stream
        });
        assert_eq!(ready.await.unwrap(), Ok(Some(0)));
        let swept = hub.sweep().await.unwrap();
        assert_eq!(
            swept,
            Swept {
                killed: 2,
                oom_kills: Some(1)
            }
        );
        let stream = init.await.unwrap();
        assert!(!hub.init_gone());
        drop(stream);
        tokio::time::timeout(Duration::from_secs(5), hub.wait_init_gone())
            .await
            .unwrap();
        assert_eq!(hub.sweep().await, Err(SweepError::InitGone(None)));
    }

    #[tokio::test]
    async fn exec_connections_reach_their_waiter_and_strangers_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.sock");
        let (hub, _ready) = StatusHub::bind(&path).unwrap();
        let waiting = hub.expect_exec(5, "right-token");
        let p = path.clone();
        let (silent, stranger, forger, mut wrapper) = tokio::task::spawn_blocking(move || {
            // A connection that never speaks only delays the next one.
            let silent = std::os::unix::net::UnixStream::connect(&p).unwrap();
            let stranger = connect(
                &p,
                &InnerMessage::HelloExec {
                    id: 99,
                    token: "x".into(),
                },
            );
            // The right command, the wrong token: a process of an earlier command guessing.
            let mut forger = connect(
                &p,
                &InnerMessage::HelloExec {
                    id: 5,
                    token: "guessed".into(),
                },
            );
            forger
                .write_all(&wire::encode(&InnerMessage::Exited {
                    outcome: crate::protocol::ExecOutcome::Exited(0),
                }))
                .unwrap();
            let wrapper = connect(
                &p,
                &InnerMessage::HelloExec {
                    id: 5,
                    token: "right-token".into(),
                },
            );
            (silent, stranger, forger, wrapper)
        })
        .await
        .unwrap();
        wrapper
            .write_all(&wire::encode(&InnerMessage::Exited {
                outcome: crate::protocol::ExecOutcome::Exited(3),
            }))
            .unwrap();
        let mut connection = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap();
        let message: InnerMessage = wire::read_message(&mut connection).await.unwrap();
        assert_eq!(
            message,
            InnerMessage::Exited {
                outcome: crate::protocol::ExecOutcome::Exited(3)
            }
        );
        drop(wrapper);
        assert!(matches!(
            wire::read_message::<_, InnerMessage>(&mut connection).await,
            Err(LineError::Closed)
        ));
        // Nobody waits for command 99, and the forger had the wrong token: the hub closed both.
        for mut refused in [stranger, forger] {
            let mut buf = [0u8; 1];
            refused
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(std::io::Read::read(&mut refused, &mut buf).unwrap(), 0);
        }
        drop(silent);
        hub.shutdown();
        assert!(!path.exists());
    }
}
