//! The drydock processes inside a container: its init (pid 1) and each command's exec wrapper.
//!
//! Both are the stage executable, started through the host's dynamic loader (see `bundle`), so
//! they run in any image. They hold no privilege: same user as the commands, no capabilities.
//!
//! The init binds the egress forwarder on `127.0.0.1:<port>` (relayed to the proxy's socket),
//! reaps orphans, sweeps on request (`kill(-1, SIGKILL)` until nothing but itself is left: the
//! kernel spares pid 1 and reaches every other process of the container's pid namespace, however
//! it detached), and exits when the host's end of its status connection closes, which ends the
//! container: a crashed drydock leaves nothing running.
//!
//! The exec wrapper names its command to the host, starts it (reporting a missing working
//! directory or program precisely), waits for it and reports how it ended.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixStream};

use super::wire::{self, HostCommand, InnerMessage, LineError};
use crate::protocol::{ExecOutcome, STAGE_ARG};

/// The role of the container's init.
pub(crate) const INIT_ROLE: &str = "docker-init";
/// The role of a command's exec wrapper.
pub(crate) const EXEC_ROLE: &str = "docker-exec";

/// How long a sweep may take before the init reports processes it could not kill.
const SWEEP_LIMIT: Duration = Duration::from_secs(10);

/// Runs a docker role and exits if this process was started as one; returns otherwise.
pub(crate) fn run_if_requested() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(|a| a.as_bytes()) != Some(STAGE_ARG.as_bytes()) {
        return;
    }
    let rest = args.get(3..).unwrap_or_default();
    let code = match args.get(2).map(|a| a.as_bytes()) {
        Some(role) if role == INIT_ROLE.as_bytes() => run_init(rest),
        Some(role) if role == EXEC_ROLE.as_bytes() => run_exec(rest),
        _ => return,
    };
    std::process::exit(code);
}

/// Options after the role: `--flag value` pairs, then `--` and the command for the wrapper.
#[derive(Debug, Default, PartialEq, Eq)]
struct RoleArgs {
    values: Vec<(String, OsString)>,
    flags: Vec<String>,
    command: Vec<OsString>,
}

impl RoleArgs {
    fn parse(args: &[OsString], switches: &[&str]) -> Result<Self, String> {
        let mut parsed = Self::default();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let arg = arg.to_string_lossy().into_owned();
            if arg == "--" {
                parsed.command = iter.cloned().collect();
                break;
            }
            if switches.contains(&arg.as_str()) {
                parsed.flags.push(arg);
                continue;
            }
            let value = iter.next().ok_or_else(|| format!("{arg} needs a value"))?;
            parsed.values.push((arg, value.clone()));
        }
        Ok(parsed)
    }

    fn get(&self, name: &str) -> Result<&OsString, String> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("missing {name}"))
    }

    fn number(&self, name: &str) -> Result<u64, String> {
        self.get(name)?
            .to_string_lossy()
            .parse()
            .map_err(|_| format!("{name} is not a number"))
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

fn run_init(args: &[OsString]) -> i32 {
    match init(args) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("drydock container init: {message}");
            1
        }
    }
}

fn init(args: &[OsString]) -> Result<(), String> {
    let args = RoleArgs::parse(args, &[])?;
    let status_path = PathBuf::from(args.get("--status")?);
    let proxy_path = PathBuf::from(args.get("--proxy")?);
    let home = PathBuf::from(args.get("--home")?);
    let port = u16::try_from(args.number("--proxy-port")?).map_err(|_| "bad --proxy-port")?;
    // Commands run as the same user; a non-dumpable init keeps them out of its memory.
    let _ = crate::sys::set_dumpable(false);
    let mut status = StdUnixStream::connect(&status_path)
        .map_err(|e| format!("connecting to {}: {e}", status_path.display()))?;
    let fatal = |status: &mut StdUnixStream, message: String| {
        let _ = status.write_all(&wire::encode(&InnerMessage::Fatal {
            message: message.clone(),
        }));
        message
    };
    status
        .write_all(&wire::encode(&InnerMessage::HelloInit))
        .map_err(|e| format!("writing to the host: {e}"))?;
    if let Err(err) = create_home(&home) {
        return Err(fatal(
            &mut status,
            format!("creating HOME {}: {err}", home.display()),
        ));
    }
    let listener = std::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .map_err(|e| {
            fatal(
                &mut status,
                format!("binding the egress forwarder on 127.0.0.1:{port}: {e}"),
            )
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal(&mut status, format!("starting the runtime: {e}")))?;
    runtime.block_on(serve_init(status, listener, proxy_path))
}

async fn serve_init(
    status: StdUnixStream,
    listener: std::net::TcpListener,
    proxy_path: PathBuf,
) -> Result<(), String> {
    status.set_nonblocking(true).map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let status = UnixStream::from_std(status).map_err(|e| e.to_string())?;
    let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let (read, mut write) = status.into_split();
    let mut reader = BufReader::new(read);
    let mut children = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(|e| format!("watching SIGCHLD: {e}"))?;
    tokio::spawn(async move {
        loop {
            children.recv().await;
            reap_children();
        }
    });
    tokio::spawn(forward(listener, proxy_path));
    let ready = InnerMessage::Ready {
        oom_kills: oom_kills(),
    };
    write
        .write_all(&wire::encode(&ready))
        .await
        .map_err(|e| format!("writing to the host: {e}"))?;
    loop {
        match wire::read_message::<_, HostCommand>(&mut reader).await {
            Ok(HostCommand::Sweep { seq }) => {
                let (killed, error) = sweep().await;
                let answer = InnerMessage::Swept {
                    seq,
                    killed,
                    oom_kills: oom_kills(),
                    error,
                };
                if write.write_all(&wire::encode(&answer)).await.is_err() {
                    return Ok(());
                }
            }
            // The host is gone (stopped, crashed or killed): so is the container.
            Err(LineError::Closed | LineError::Io(_)) => return Ok(()),
            Err(err) => return Err(format!("bad message from the host: {err}")),
        }
    }
}

/// Relays each connection on the forwarder's port to the egress proxy's socket.
async fn forward(listener: TcpListener, proxy_path: PathBuf) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let proxy_path = proxy_path.clone();
        tokio::spawn(async move {
            match UnixStream::connect(&proxy_path).await {
                Ok(mut unix) => {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
                Err(err) => eprintln!("drydock container init: egress proxy unreachable: {err}"),
            }
        });
    }
}

fn reap_children() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// Kills every process of this user in the container but the init, until none is left.
async fn sweep() -> (u32, Option<String>) {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let found = live_processes(uid).len() as u32;
    let started = Instant::now();
    loop {
        // From pid 1, -1 means every process we may signal except ourselves; a process forking
        // while this runs cannot escape it (a fork pending a fatal signal is abandoned).
        // SAFETY: kill with constant arguments.
        unsafe { libc::kill(-1, libc::SIGKILL) };
        reap_children();
        let left = live_processes(uid);
        if left.is_empty() {
            return (found, None);
        }
        if started.elapsed() > SWEEP_LIMIT {
            return (
                found,
                Some(format!(
                    "{} process(es) survived {SWEEP_LIMIT:?} of SIGKILL: {left:?}",
                    left.len()
                )),
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Pids of running (not zombie) processes of `uid`, other than this one.
fn live_processes(uid: libc::uid_t) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && *pid != 1)
        .filter(|pid| process_is_live_and_owned(*pid, uid))
        .collect()
}

fn process_is_live_and_owned(pid: i32, uid: libc::uid_t) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let state = field("State:");
    if state.starts_with('Z') || state.starts_with('X') {
        return false;
    }
    field("Uid:").split_whitespace().next() == Some(uid.to_string().as_str())
}

/// OOM kills recorded by the container's memory cgroup (cgroup v2 or v1), when visible.
fn oom_kills() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.events",
        "/sys/fs/cgroup/memory/memory.oom_control",
    ]
    .iter()
    .find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    })
}

fn create_home(home: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
    {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// Exit status of the wrapper when it could not run the command at all.
const WRAPPER_FAILED: i32 = 125;

fn run_exec(args: &[OsString]) -> i32 {
    let args = match RoleArgs::parse(args, &["--merge"]) {
        Ok(args) if !args.command.is_empty() => args,
        Ok(_) => {
            eprintln!("drydock exec: missing -- PROGRAM");
            return WRAPPER_FAILED;
        }
        Err(message) => {
            eprintln!("drydock exec: {message}");
            return WRAPPER_FAILED;
        }
    };
    let (id, status_path, cwd) =
        match (args.number("--id"), args.get("--status"), args.get("--cwd")) {
            (Ok(id), Ok(status), Ok(cwd)) => (id, PathBuf::from(status), PathBuf::from(cwd)),
            (id, status, cwd) => {
                let problem = [id.err(), status.err().map(|e| e.to_string()), cwd.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ");
                eprintln!("drydock exec: {problem}");
                return WRAPPER_FAILED;
            }
        };
    let token = args
        .get("--token")
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file_size = args.number("--fsize").ok();
    let processes = args.number("--nproc").ok();
    // Connected before the command exists, so the host hears from us first.
    let mut host = match StdUnixStream::connect(&status_path) {
        Ok(mut stream) => {
            let hello = wire::encode(&InnerMessage::HelloExec { id, token });
            stream.write_all(&hello).ok().map(|()| stream)
        }
        Err(err) => {
            eprintln!(
                "drydock exec: cannot reach the host at {}: {err}",
                status_path.display()
            );
            None
        }
    };
    let mut report = |outcome: ExecOutcome| {
        if let Some(stream) = host.as_mut() {
            let _ = stream.write_all(&wire::encode(&InnerMessage::Exited { outcome }));
        }
    };
    let errno = |err: &std::io::Error| err.raw_os_error().unwrap_or(libc::EIO);
    match std::fs::metadata(&cwd) {
        Ok(meta) if meta.is_dir() => {}
        result => {
            let errno = result.map_or_else(|e| errno(&e), |_| libc::ENOTDIR);
            report(ExecOutcome::SpawnFailed {
                step: "chdir".into(),
                errno,
            });
            return WRAPPER_FAILED;
        }
    }
    let mut command = std::process::Command::new(&args.command[0]);
    command.args(&args.command[1..]).current_dir(&cwd);
    if args.has("--merge") {
        use std::os::fd::AsFd;
        match std::io::stdout().as_fd().try_clone_to_owned() {
            Ok(stdout) => {
                command.stderr(std::process::Stdio::from(stdout));
            }
            Err(err) => {
                report(ExecOutcome::SetupFailed {
                    step: "merging stderr into stdout".into(),
                    errno: errno(&err),
                });
                return WRAPPER_FAILED;
            }
        }
    }
    // The same system call filter as `local` commands get, over the daemon's profile (which
    // differs between engines: Podman's allows user namespaces, Docker's does not). Installed on
    // the wrapper itself, so a failure is reported as such and nothing runs unfiltered.
    let filtered = crate::sys::set_no_new_privs().and_then(|()| {
        let programs = crate::stage::seccomp::build_filters()
            .map_err(|err| std::io::Error::other(err.to_string()))?;
        crate::stage::seccomp::install(&programs)
    });
    if let Err(err) = filtered {
        eprintln!("drydock exec: installing the seccomp filter: {err}");
        report(ExecOutcome::SetupFailed {
            step: "installing the seccomp filter".into(),
            errno: errno(&err),
        });
        return WRAPPER_FAILED;
    }
    // Writes past the disk budget fail with EFBIG instead of killing the writer.
    // SAFETY: setting a signal disposition to SIG_IGN; it is inherited across exec.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let set = |resource, value: u64| {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_CORE, 0)?;
            if let Some(bytes) = file_size {
                set(libc::RLIMIT_FSIZE, bytes)?;
            }
            if let Some(count) = processes {
                set(libc::RLIMIT_NPROC, count)?;
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let errno = errno(&err);
            report(ExecOutcome::SpawnFailed {
                step: "execve".into(),
                errno,
            });
            return if errno == libc::ENOENT { 127 } else { 126 };
        }
    };
    drop(command);
    let outcome = match child.wait() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => ExecOutcome::Exited(code),
            (None, Some(signal)) => ExecOutcome::Signaled(signal),
            (None, None) => ExecOutcome::Exited(WRAPPER_FAILED),
        },
        Err(err) => ExecOutcome::SetupFailed {
            step: "waiting for the command".into(),
            errno: errno(&err),
        },
    };
    let code = match outcome {
        ExecOutcome::Exited(code) => code,
        ExecOutcome::Signaled(signal) => 128 + signal,
        _ => WRAPPER_FAILED,
    };
    report(outcome);
    code
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn role_arguments_split_options_switches_and_the_command() {
        let parsed = RoleArgs::parse(
            &os(&[
                "--id", "4", "--merge", "--cwd", "/w", "--", "bash", "-c", "--id 9",
            ]),
            &["--merge"],
        )
        .unwrap();
        assert_eq!(parsed.number("--id").unwrap(), 4);
        assert_eq!(parsed.get("--cwd").unwrap(), "/w");
        assert!(parsed.has("--merge"));
        assert_eq!(parsed.command, os(&["bash", "-c", "--id 9"]));
        assert!(parsed.get("--status").is_err());
        assert!(RoleArgs::parse(&os(&["--id"]), &[]).is_err());
        let bad = RoleArgs::parse(&os(&["--id", "x"]), &[]).unwrap();
        assert!(bad.number("--id").is_err());
    }

    #[test]
    fn live_processes_see_a_running_child_and_not_a_zombie() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(process_is_live_and_owned(pid, uid));
        assert!(!process_is_live_and_owned(pid, uid + 1));
        child.kill().unwrap();
        // Not reaped yet: a zombie is not a live process.
        let started = Instant::now();
        while process_is_live_and_owned(pid, uid) {
            assert!(started.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(!process_is_live_and_owned(pid, uid));
    }
}
