//! The inner stage: our own code, running inside bubblewrap, that supervises a session.
//!
//! bubblewrap builds the namespaces and the filesystem view, then executes this binary (the same
//! `drydock` executable, recognised by a hidden first argument) as pid 1 of the session's pid
//! namespace. This supervisor
//! - starts the egress forwarder (loopback → the proxy's Unix socket),
//! - reports `Ready` with a pidfd for itself (so the host can kill the session race-free),
//! - then serves the host's control socket: each `Exec` becomes a command in its own pid and mount
//!   namespace (see `spawn`), each `Kill` kills such a namespace, and every end is reported.
//!
//! It stays single-threaded (it forks per command) and exits when the host closes the socket; as
//! pid 1 its exit takes every process of the session with it.

mod confine;
mod forwarder;
// Also installed by the docker backend's exec wrapper.
pub(crate) mod seccomp;
mod spawn;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::protocol::{
    ExecOutcome, HostMessage, MAX_PACKET, ReadyInfo, STAGE_ARG, StageMessage, recv_packet,
    send_packet,
};
use crate::sys::{Cloned, clone_into_namespaces};
use confine::Confinement;

pub(crate) use spawn::decode_report;

/// Runs the inner stage and exits if this process was started as one; returns otherwise.
///
/// Call it first thing in `main()`, before any thread (or async runtime) starts: the stage forks
/// and must be single-threaded. A single `drydock` binary is all `local` sandboxes need.
pub fn run_stage_if_requested() {
    // Inside a docker sandbox the same executable plays the container's init and exec wrapper.
    crate::docker::run_inner_if_requested();
    let mut args = std::env::args_os();
    let _argv0 = args.next();
    if args.next().as_deref() != Some(OsStr::new(STAGE_ARG)) {
        return;
    }
    let code = match run(args.collect()) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("drydock sandbox stage: {message}");
            70
        }
    };
    std::process::exit(code);
}

/// Arguments the host passes to the supervisor.
#[derive(Debug)]
struct StageArgs {
    control_fd: RawFd,
    proxy_socket: String,
    home: String,
}

fn parse_args(args: Vec<OsString>) -> Result<StageArgs, String> {
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    if args.next().as_deref() != Some("supervisor") {
        return Err("unknown stage role".into());
    }
    let mut control_fd = None;
    let mut proxy_socket = None;
    let mut home = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--control-fd" => {
                control_fd = Some(value.parse::<RawFd>().map_err(|_| "bad --control-fd")?)
            }
            "--proxy-socket" => proxy_socket = Some(value),
            "--home" => home = Some(value),
            other => return Err(format!("unknown stage argument {other}")),
        }
    }
    Ok(StageArgs {
        control_fd: control_fd.ok_or("missing --control-fd")?,
        proxy_socket: proxy_socket.ok_or("missing --proxy-socket")?,
        home: home.ok_or("missing --home")?,
    })
}

fn run(args: Vec<OsString>) -> Result<(), String> {
    let args = parse_args(args)?;
    if args.control_fd < 3 {
        return Err("bad --control-fd".into());
    }
    // SAFETY: the host handed this descriptor to us (and only us) for the session.
    let control = unsafe { OwnedFd::from_raw_fd(args.control_fd) };
    let supervisor = Supervisor::start(control, &args)?;
    supervisor.serve()
}

/// A command the supervisor started.
#[derive(Debug)]
struct Running {
    id: u64,
    pidfd: OwnedFd,
    report: OwnedFd,
    killed: bool,
}

#[derive(Debug)]
struct Supervisor {
    control: OwnedFd,
    confinement: Confinement,
    forwarder: libc::pid_t,
    running: HashMap<libc::pid_t, Running>,
}

impl Supervisor {
    fn start(control: OwnedFd, args: &StageArgs) -> Result<Self, String> {
        let fatal = |control: &OwnedFd, message: String| -> String {
            send(
                control,
                &StageMessage::Fatal {
                    message: message.clone(),
                },
                &[],
            );
            message
        };
        crate::sys::set_cloexec(control.as_raw_fd(), true).map_err(|e| e.to_string())?;
        // Commands run as the same user; a non-dumpable supervisor keeps its memory out of reach.
        let _ = crate::sys::set_dumpable(false);
        if let Err(err) = create_home(&args.home) {
            return Err(fatal(&control, format!("creating {}: {err}", args.home)));
        }
        let confinement = Confinement::prepare().map_err(|e| fatal(&control, e.to_string()))?;
        // Bound here so the port is known without waiting for the forwarder to start.
        let listener = std::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(|e| fatal(&control, format!("binding the egress forwarder: {e}")))?;
        let forwarder_port = listener
            .local_addr()
            .map_err(|e| fatal(&control, e.to_string()))?
            .port();
        let child_confinement = confinement
            .copy_for_child()
            .map_err(|e| fatal(&control, e.to_string()))?;
        // SAFETY: the supervisor is single-threaded; the child only runs the forwarder.
        let forwarder = match unsafe { libc::fork() } {
            -1 => return Err(fatal(&control, std::io::Error::last_os_error().to_string())),
            0 => {
                // SAFETY: closing our copy of the control socket; this child never uses it.
                unsafe { libc::close(control.as_raw_fd()) };
                forwarder::run(&args.proxy_socket, child_confinement, listener)
            }
            pid => pid,
        };
        drop(child_confinement);
        drop(listener);
        let pidfd = crate::sys::pidfd_open(std::process::id() as libc::pid_t)
            .map_err(|e| fatal(&control, format!("pidfd_open: {e}")))?;
        let info = ReadyInfo {
            forwarder_port,
            landlock: confinement.landlock_description(),
            seccomp: confinement.seccomp_description(),
        };
        if !send(&control, &StageMessage::Ready(info), &[pidfd.as_raw_fd()]) {
            return Err("the host went away before the session was ready".into());
        }
        Ok(Self {
            control,
            confinement,
            forwarder,
            running: HashMap::new(),
        })
    }

    fn serve(mut self) -> Result<(), String> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().map_err(|e| e.to_string())?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; MAX_PACKET];
        // A child may have ended before SIGCHLD was routed to the signalfd.
        self.reap()?;
        loop {
            let (control_ready, signals_ready) = {
                let mut fds = [
                    PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
                    PollFd::new(signals.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(err) => return Err(format!("poll: {err}")),
                }
                let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]))
            };
            if signals_ready {
                while let Ok(Some(_)) = signals.read_signal() {}
                self.reap()?;
            }
            if control_ready {
                match recv_packet(self.control.as_raw_fd(), &mut buf, false) {
                    Ok(None) => return Ok(()),
                    Ok(Some(packet)) => {
                        let message = serde_json::from_slice::<HostMessage>(&buf[..packet.len])
                            .map_err(|e| format!("bad control message: {e}"))?;
                        self.handle(message, packet.fds, signals.as_raw_fd());
                    }
                    Err(Errno::EINTR | Errno::EAGAIN) => {}
                    Err(err) => return Err(format!("control socket: {err}")),
                }
            }
        }
    }

    fn handle(&mut self, message: HostMessage, fds: Vec<OwnedFd>, signal_fd: RawFd) {
        match message {
            HostMessage::Exec { id, plan } => {
                let outcome = |step: &str, errno: i32| StageMessage::Exited {
                    id,
                    outcome: ExecOutcome::SetupFailed {
                        step: step.to_string(),
                        errno,
                    },
                };
                let Ok::<[OwnedFd; 3], _>(stdio) = fds.try_into() else {
                    send(
                        &self.control,
                        &outcome("receiving stdio", libc::EINVAL),
                        &[],
                    );
                    return;
                };
                let (report_read, report_write) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
                    Ok(pair) => pair,
                    Err(err) => {
                        send(
                            &self.control,
                            &outcome("creating the report pipe", err as i32),
                            &[],
                        );
                        return;
                    }
                };
                let confinement = match self.confinement.copy_for_child() {
                    Ok(c) => c,
                    Err(err) => {
                        let errno = err.raw_os_error().unwrap_or(libc::EIO);
                        send(
                            &self.control,
                            &outcome("copying the landlock ruleset", errno),
                            &[],
                        );
                        return;
                    }
                };
                let flags = (libc::CLONE_NEWPID | libc::CLONE_NEWNS) as u64;
                // SAFETY: the supervisor is single-threaded.
                match unsafe { clone_into_namespaces(flags) } {
                    Ok(Cloned::Child) => {
                        // SAFETY: closing inherited copies this child must not hold.
                        unsafe {
                            libc::close(self.control.as_raw_fd());
                            libc::close(signal_fd);
                        }
                        drop(report_read);
                        let fds = spawn::CommandFds {
                            stdio,
                            report: report_write,
                        };
                        spawn::command_init(&plan, fds, confinement)
                    }
                    Ok(Cloned::Parent { pid, pidfd }) => {
                        drop(report_write);
                        drop(stdio);
                        self.running.insert(
                            pid,
                            Running {
                                id,
                                pidfd,
                                report: report_read,
                                killed: false,
                            },
                        );
                    }
                    Err(err) => {
                        let errno = err.raw_os_error().unwrap_or(libc::EIO);
                        send(
                            &self.control,
                            &outcome("creating the command's namespaces", errno),
                            &[],
                        );
                    }
                }
            }
            HostMessage::Kill { id } => {
                if let Some(running) = self.running.values_mut().find(|r| r.id == id) {
                    // Killing the namespace's init kills every process in the namespace.
                    if let Err(err) =
                        crate::sys::pidfd_send_signal(running.pidfd.as_fd(), libc::SIGKILL)
                    {
                        eprintln!("drydock sandbox stage: killing command {id}: {err}");
                    }
                    running.killed = true;
                }
            }
        }
    }

    /// Reaps ended children and reports each command's end.
    fn reap(&mut self) -> Result<(), String> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return Ok(());
            }
            if pid == self.forwarder {
                let message = format!("the egress forwarder exited (wait status {status})");
                send(
                    &self.control,
                    &StageMessage::Fatal {
                        message: message.clone(),
                    },
                    &[],
                );
                return Err(message);
            }
            let Some(running) = self.running.remove(&pid) else {
                continue;
            };
            let mut record = [0u8; 12];
            let got = read_record(&running.report, &mut record);
            let reported = if got == record.len() {
                decode_report(&record)
            } else {
                None
            };
            let outcome = match reported {
                Some(outcome) => outcome,
                None if running.killed => ExecOutcome::Killed,
                None if libc::WIFSIGNALED(status) => ExecOutcome::Signaled(libc::WTERMSIG(status)),
                None => ExecOutcome::SetupFailed {
                    step: "command init".into(),
                    errno: libc::WEXITSTATUS(status),
                },
            };
            drop(running.pidfd);
            send(
                &self.control,
                &StageMessage::Exited {
                    id: running.id,
                    outcome,
                },
                &[],
            );
        }
    }
}

fn read_record(fd: &OwnedFd, record: &mut [u8]) -> usize {
    let mut got = 0;
    while got < record.len() {
        // SAFETY: reading into a valid buffer; the writer has exited, so this cannot block.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                record[got..].as_mut_ptr().cast(),
                record.len() - got,
            )
        };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    got
}

fn create_home(home: &str) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
    {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Sends a message to the host; `false` if the host is gone.
fn send(control: &OwnedFd, message: &StageMessage, fds: &[RawFd]) -> bool {
    let Ok(bytes) = serde_json::to_vec(message) else {
        return false;
    };
    loop {
        match send_packet(control.as_raw_fd(), &bytes, fds, false) {
            Ok(()) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}
