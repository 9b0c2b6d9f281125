//! The thread that starts bubblewrap and waits for it, prepared ahead of time.
//!
//! Two reasons for a dedicated thread per session:
//! - `PR_SET_PDEATHSIG` (behind `--die-with-parent`) fires when the *thread* that forked the child
//!   exits, so bubblewrap must be forked by a thread that lives exactly as long as the session.
//! - Moving a task into a cgroup waits for an RCU grace period (often 10 ms or more). On cgroup
//!   v1 a single thread can move, and what it forks starts inside its cgroup, so each launcher
//!   first joins a fresh session cgroup, *before* it is needed: the backend keeps one such warm
//!   launcher ready, and starting a session only sets the cgroup's limits and hands over the
//!   command line. (On v2, where threads cannot move alone, bubblewrap joins between fork and
//!   exec instead.)

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::mpsc;

use tokio::sync::{oneshot, watch};

use super::cgroup::{self, CgroupVersion, SessionCgroup};
use super::view::SANDBOX_UID;

/// What bubblewrap is started with.
#[derive(Debug)]
pub(crate) struct LaunchRequest {
    /// The bubblewrap executable.
    pub bwrap: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Descriptors bubblewrap must inherit besides the user namespace (the control socket end).
    pub inherited: Vec<OwnedFd>,
    /// Its stderr.
    pub diagnostics: OwnedFd,
}

/// What a warm launcher has prepared.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared {
    /// The descriptor number of the session's user namespace (inherited by bubblewrap).
    pub userns_fd: RawFd,
}

/// A started bubblewrap.
#[derive(Debug)]
pub(crate) struct Launched {
    /// Its pid.
    pub pid: libc::pid_t,
    /// Its raw wait status once it has exited.
    pub exit: watch::Receiver<Option<i32>>,
}

type Handoff = (LaunchRequest, oneshot::Sender<std::io::Result<Launched>>);

/// The warm-up's outcome: the user namespace, and whether the cgroup was joined.
#[derive(Debug)]
struct Warm {
    userns: std::io::Result<RawFd>,
    cgroup: Result<(), String>,
}

/// A launcher thread waiting for its command line.
#[derive(Debug)]
pub(crate) struct Launcher {
    requests: Option<mpsc::Sender<Handoff>>,
    warm: oneshot::Receiver<Warm>,
    cgroup: Option<SessionCgroup>,
    cgroup_error: Option<String>,
    cgroup_joined: Option<Result<(), String>>,
}

impl Launcher {
    /// Starts a launcher: it creates the session's user namespace and, with `use_cgroup`, a
    /// session cgroup it joins at once.
    pub(crate) fn spawn(use_cgroup: bool) -> std::io::Result<Self> {
        let (cgroup, cgroup_error) = if use_cgroup {
            match SessionCgroup::create(&format!("s-{}", ulid::Ulid::generate())) {
                Ok(cgroup) => (Some(cgroup), None),
                Err(err) => (None, Some(err)),
            }
        } else {
            (None, None)
        };
        let task_files = cgroup
            .as_ref()
            .filter(|c| c.version() == CgroupVersion::V1)
            .map(SessionCgroup::task_files)
            .unwrap_or_default();
        let join_fds = cgroup
            .as_ref()
            .filter(|c| c.version() == CgroupVersion::V2)
            .map(SessionCgroup::join_fds)
            .unwrap_or_default();
        let (requests, handoffs) = mpsc::channel::<Handoff>();
        let (warm_tx, warm) = oneshot::channel();
        std::thread::Builder::new()
            .name("drydock-sbx".into())
            .stack_size(256 * 1024)
            .spawn(move || run(task_files, join_fds, handoffs, warm_tx))?;
        Ok(Self {
            requests: Some(requests),
            warm,
            cgroup,
            cgroup_error,
            cgroup_joined: None,
        })
    }

    /// Waits for the warm-up; `Err` when the user namespace could not be created.
    pub(crate) async fn prepared(&mut self) -> std::io::Result<Prepared> {
        let warm = (&mut self.warm).await.unwrap_or_else(|_| Warm {
            userns: Err(std::io::Error::other("the launcher thread died")),
            cgroup: Err("the launcher thread died".into()),
        });
        self.cgroup_joined = Some(warm.cgroup);
        Ok(Prepared {
            userns_fd: warm.userns?,
        })
    }

    /// Starts bubblewrap from this launcher (after [`Launcher::prepared`]). Returns the
    /// session's cgroup (or why there is none).
    pub(crate) async fn launch(
        mut self,
        request: LaunchRequest,
        memory_bytes: u64,
        max_processes: u64,
    ) -> (std::io::Result<Launched>, Result<SessionCgroup, String>) {
        let warm = self
            .cgroup_joined
            .take()
            .unwrap_or_else(|| Err("the launcher was not prepared".into()));
        let mut cgroup = match (self.cgroup.take(), warm) {
            (Some(cgroup), Ok(())) => Ok(cgroup),
            (Some(_), Err(err)) => Err(err),
            (None, _) => Err(self
                .cgroup_error
                .take()
                .unwrap_or_else(|| "cgroups not used".into())),
        };
        if let Ok(group) = &mut cgroup
            && let Err(err) = group.set_limits(memory_bytes, max_processes)
        {
            cgroup = Err(err);
        }
        let (tx, rx) = oneshot::channel();
        let sent = self
            .requests
            .take()
            .map(|requests| requests.send((request, tx)).is_ok())
            .unwrap_or(false);
        if !sent {
            return (
                Err(std::io::Error::other("the launcher thread died")),
                cgroup,
            );
        }
        let launched = rx
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the launcher thread died")));
        (launched, cgroup)
    }
}

fn run(
    task_files: Vec<PathBuf>,
    join_fds: Vec<RawFd>,
    handoffs: mpsc::Receiver<Handoff>,
    warm: oneshot::Sender<Warm>,
) {
    let entered = cgroup::enter_thread(&task_files);
    let joined = entered.is_ok() && !task_files.is_empty();
    let userns = super::create_user_namespace(SANDBOX_UID, SANDBOX_UID);
    let userns_fd = userns
        .as_ref()
        .map(AsRawFd::as_raw_fd)
        .map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
    let _ = warm.send(Warm {
        userns: userns_fd,
        cgroup: entered,
    });
    let Ok((mut request, reply)) = handoffs.recv() else {
        // Never used (the backend went away): leave the cgroup so it can be removed.
        if joined {
            cgroup::leave_thread(&task_files);
        }
        return;
    };
    if let Ok(userns) = userns {
        request.inherited.push(userns);
    }
    spawn_and_wait(request, &join_fds, reply);
}

fn spawn_and_wait(
    request: LaunchRequest,
    join_fds: &[RawFd],
    reply: oneshot::Sender<std::io::Result<Launched>>,
) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut command = std::process::Command::new(&request.bwrap);
    command
        .args(&request.args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(request.diagnostics));
    let keep: Vec<RawFd> = request.inherited.iter().map(AsRawFd::as_raw_fd).collect();
    let join: Vec<RawFd> = join_fds.to_vec();
    // SAFETY: the closure runs between fork and exec and only makes system calls.
    unsafe {
        command.pre_exec(move || {
            for fd in &join {
                if libc::write(*fd, b"0".as_ptr().cast(), 1) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for fd in &keep {
                crate::sys::set_cloexec(*fd, false)?;
            }
            Ok(())
        });
    }
    let child = command.spawn();
    drop(request.inherited);
    match child {
        Err(err) => {
            let _ = reply.send(Err(err));
        }
        Ok(mut child) => {
            let (exit_tx, exit) = watch::channel(None);
            let _ = reply.send(Ok(Launched {
                pid: child.id() as libc::pid_t,
                exit,
            }));
            let status = child.wait().map(|s| s.into_raw()).unwrap_or(-1);
            exit_tx.send_replace(Some(status));
        }
    }
}
