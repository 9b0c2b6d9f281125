//! Starting one command: a fresh pid and mount namespace whose init is our code.
//!
//! The supervisor `clone3`s a child into new pid and mount namespaces. That child is pid 1 there
//! (the "command init"): it mounts a `/proc` of its own namespace (sensitive parts read-only or
//! hidden), sets the rlimits, confines itself (capabilities, no_new_privs, Landlock, seccomp) and
//! forks the command as pid 2. When the command exits, the init reports how and exits; the kernel
//! then kills every other process of the namespace (background jobs, `setsid`, double forks: none
//! can leave a pid namespace), so a command's process tree never outlives it.
//!
//! Everything here runs in a freshly cloned child of the single-threaded supervisor and ends in
//! `execve` or `_exit`; errors are written to the report pipe as fixed-size records.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::mount::{MsFlags, mount};
use nix::sys::resource::{Resource, setrlimit};

use super::confine::ChildConfinement;
use crate::protocol::{ExecLimits, ExecOutcome, ExecPlan};

/// Report record tags.
const TAG_EXITED: u32 = 1;
const TAG_SIGNALED: u32 = 2;
const TAG_SPAWN_FAILED: u32 = 3;
const TAG_SETUP_FAILED: u32 = 4;

/// Steps that can fail, by number (the record carries the number, the host gets the name).
const STEPS: &[&str] = &[
    "unknown",
    "mounting /proc",
    "protecting /proc",
    "setting rlimits",
    "dropping capabilities",
    "setting no_new_privs",
    "applying landlock",
    "installing seccomp",
    "forking the command",
    "chdir",
    "execve",
    "preparing arguments",
    "setting up stdio",
];

fn step_number(step: &str) -> i32 {
    STEPS.iter().position(|s| *s == step).unwrap_or(0) as i32
}

/// Parts of `/proc` made read-only in a command's view.
const PROC_READ_ONLY: &[&str] = &[
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
    "/proc/acpi",
    "/proc/scsi",
];

/// Files of `/proc` hidden (replaced by `/dev/null`): kernel memory and timing side channels.
const PROC_HIDDEN: &[&str] = &[
    "/proc/kcore",
    "/proc/kpagecount",
    "/proc/kpageflags",
    "/proc/kpagecgroup",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
];

/// Decodes a 12-byte report record.
pub(crate) fn decode_report(record: &[u8]) -> Option<ExecOutcome> {
    if record.len() != 12 {
        return None;
    }
    let word =
        |i: usize| i32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
    let tag = word(0) as u32;
    let (a, b) = (word(4), word(8));
    let step = || {
        STEPS
            .get(a as usize)
            .copied()
            .unwrap_or("unknown")
            .to_string()
    };
    Some(match tag {
        TAG_EXITED => ExecOutcome::Exited(a),
        TAG_SIGNALED => ExecOutcome::Signaled(a),
        TAG_SPAWN_FAILED => ExecOutcome::SpawnFailed {
            step: step(),
            errno: b,
        },
        TAG_SETUP_FAILED => ExecOutcome::SetupFailed {
            step: step(),
            errno: b,
        },
        _ => return None,
    })
}

fn encode(tag: u32, a: i32, b: i32) -> [u8; 12] {
    let mut record = [0u8; 12];
    record[..4].copy_from_slice(&tag.to_le_bytes());
    record[4..8].copy_from_slice(&a.to_le_bytes());
    record[8..].copy_from_slice(&b.to_le_bytes());
    record
}

fn write_all(fd: RawFd, bytes: &[u8]) {
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: writing from a valid buffer to a descriptor we hold.
        let n = unsafe { libc::write(fd, bytes[done..].as_ptr().cast(), bytes.len() - done) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        done += n as usize;
    }
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and runs no destructors or atexit handlers (the parent's).
    unsafe { libc::_exit(code) }
}

fn errno_of(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// The command's stdio and the report pipe, as received by the supervisor.
#[derive(Debug)]
pub(crate) struct CommandFds {
    /// stdin, stdout, stderr.
    pub stdio: [OwnedFd; 3],
    /// Write end of the report pipe.
    pub report: OwnedFd,
}

/// Runs in the cloned child: becomes the command's init. Never returns.
pub(crate) fn command_init(
    plan: &ExecPlan,
    fds: CommandFds,
    confinement: ChildConfinement<'_>,
) -> ! {
    let report = fds.report.as_raw_fd();
    let setup_failed = |step: &str, err: &std::io::Error| -> ! {
        write_all(
            report,
            &encode(TAG_SETUP_FAILED, step_number(step), errno_of(err)),
        );
        exit_now(111)
    };
    unblock_all_signals();
    // If the supervisor dies the session's namespace dies with it; this makes it immediate.
    let _ = crate::sys::set_parent_death_signal(libc::SIGKILL);
    if let Err(err) = mount_own_proc() {
        setup_failed("mounting /proc", &err);
    }
    if let Err(err) = protect_proc() {
        setup_failed("protecting /proc", &err);
    }
    // The supervisor is not dumpable (so commands cannot read its memory); this process must be
    // to write its own /proc files.
    let _ = crate::sys::set_dumpable(true);
    // Under memory pressure the kernel kills commands before the supervisor.
    let _ = std::fs::write("/proc/self/oom_score_adj", b"1000");
    // Back to non-dumpable: the command (same uid) must not reach this init's memory through
    // /proc/1/mem. Its own execve makes the command dumpable again.
    let _ = crate::sys::set_dumpable(false);
    if let Err(err) = set_limits(&plan.limits) {
        setup_failed("setting rlimits", &err);
    }
    let prepared = match PreparedExec::new(plan) {
        Ok(prepared) => prepared,
        Err(err) => setup_failed("preparing arguments", &err),
    };
    if let Err(err) = confinement.apply() {
        setup_failed(err.step, &err.error);
    }
    let (error_read, error_write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(pair) => pair,
        Err(err) => setup_failed("forking the command", &err.into()),
    };
    // SAFETY: this process is single-threaded (a clone of the single-threaded supervisor).
    match unsafe { libc::fork() } {
        -1 => setup_failed("forking the command", &std::io::Error::last_os_error()),
        0 => {
            drop(error_read);
            run_command(&prepared, &fds.stdio, error_write.as_raw_fd())
        }
        child => {
            drop(error_write);
            drop(fds.stdio);
            let spawn_error = read_spawn_error(error_read.as_raw_fd());
            let status = wait_for(child);
            let record = match spawn_error {
                Some((step, errno)) => encode(TAG_SPAWN_FAILED, step, errno),
                None if libc::WIFEXITED(status) => encode(TAG_EXITED, libc::WEXITSTATUS(status), 0),
                None => encode(TAG_SIGNALED, libc::WTERMSIG(status), 0),
            };
            write_all(report, &record);
            exit_now(0)
        }
    }
}

fn unblock_all_signals() {
    // SAFETY: an empty set unblocks everything; pointers are valid for the call.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn mount_own_proc() -> std::io::Result<()> {
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )?;
    Ok(())
}

fn protect_proc() -> std::io::Result<()> {
    let none: Option<&str> = None;
    for path in PROC_READ_ONLY {
        if !std::path::Path::new(path).exists() {
            continue;
        }
        mount(
            Some(*path),
            *path,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )?;
        mount(
            none,
            *path,
            none,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            none,
        )?;
    }
    for path in PROC_HIDDEN {
        if std::path::Path::new(path).exists() {
            mount(Some("/dev/null"), *path, none, MsFlags::MS_BIND, none)?;
        }
    }
    Ok(())
}

fn set_limits(limits: &ExecLimits) -> std::io::Result<()> {
    setrlimit(
        Resource::RLIMIT_NPROC,
        limits.max_processes,
        limits.max_processes,
    )?;
    setrlimit(
        Resource::RLIMIT_DATA,
        limits.memory_bytes,
        limits.memory_bytes,
    )?;
    setrlimit(
        Resource::RLIMIT_FSIZE,
        limits.file_size_bytes,
        limits.file_size_bytes,
    )?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    Ok(())
}

/// Arguments converted before forking, so the child only makes system calls.
struct PreparedExec {
    argv: Vec<CString>,
    env: Vec<CString>,
    cwd: CString,
    candidates: Vec<CString>,
}

impl PreparedExec {
    fn new(plan: &ExecPlan) -> std::io::Result<Self> {
        let nul = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "argument holds a NUL byte",
            )
        };
        let argv = plan
            .argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| nul()))
            .collect::<Result<Vec<_>, _>>()?;
        let env = plan
            .env
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")).map_err(|_| nul()))
            .collect::<Result<Vec<_>, _>>()?;
        let cwd = CString::new(plan.cwd.as_bytes()).map_err(|_| nul())?;
        let program = plan.argv.first().ok_or_else(nul)?;
        let candidates = if program.contains('/') {
            vec![CString::new(program.as_bytes()).map_err(|_| nul())?]
        } else {
            let path = plan
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_str())
                .unwrap_or("/usr/bin:/bin");
            path.split(':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| CString::new(format!("{dir}/{program}")).map_err(|_| nul()))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self {
            argv,
            env,
            cwd,
            candidates,
        })
    }
}

fn run_command(prepared: &PreparedExec, stdio: &[OwnedFd; 3], error_pipe: RawFd) -> ! {
    let fail = |step: &str, errno: i32| -> ! {
        let mut record = [0u8; 8];
        record[..4].copy_from_slice(&step_number(step).to_le_bytes());
        record[4..].copy_from_slice(&errno.to_le_bytes());
        write_all(error_pipe, &record);
        exit_now(127)
    };
    let last_errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: plain calls in a single-threaded child that ends in execve or _exit.
    unsafe {
        libc::setsid();
        for signal in 1..libc::SIGRTMAX() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        // A write past RLIMIT_FSIZE fails with EFBIG instead of killing the writer.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        // Move the descriptors above 2 first so a stdio slot is never overwritten early.
        let mut high = [0; 3];
        for (slot, fd) in stdio.iter().enumerate() {
            high[slot] = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10);
            if high[slot] < 0 {
                fail("setting up stdio", last_errno());
            }
        }
        for (slot, fd) in high.iter().enumerate() {
            if libc::dup2(*fd, slot as RawFd) < 0 {
                fail("setting up stdio", last_errno());
            }
        }
        if crate::sys::cloexec_from(3).is_err() {
            fail("setting up stdio", last_errno());
        }
        if libc::chdir(prepared.cwd.as_ptr()) < 0 {
            fail("chdir", last_errno());
        }
        let mut argv: Vec<*const libc::c_char> = prepared.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = prepared.env.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        // Like execvp: try each PATH candidate, keep the most telling error.
        let mut errno = libc::ENOENT;
        for candidate in &prepared.candidates {
            libc::execve(candidate.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let err = last_errno();
            if err != libc::ENOENT && err != libc::ENOTDIR {
                errno = err;
                if err != libc::EACCES {
                    break;
                }
            }
        }
        fail("execve", errno)
    }
}

/// Reads the child's exec error record: `None` once exec succeeded (the pipe closed empty).
fn read_spawn_error(fd: RawFd) -> Option<(i32, i32)> {
    let mut record = [0u8; 8];
    let mut got = 0;
    while got < record.len() {
        // SAFETY: reading into a valid buffer from a descriptor we hold.
        let n = unsafe { libc::read(fd, record[got..].as_mut_ptr().cast(), record.len() - got) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    if got < record.len() {
        return None;
    }
    let step = i32::from_le_bytes([record[0], record[1], record[2], record[3]]);
    let errno = i32::from_le_bytes([record[4], record[5], record[6], record[7]]);
    Some((step, errno))
}

/// Waits for `child`, reaping every orphan that is handed to us (we are pid 1) meanwhile.
fn wait_for(child: libc::pid_t) -> libc::c_int {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == child {
            return status;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // No children left: the command is gone without us seeing it; report a kill.
            return libc::SIGKILL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_records_round_trip() {
        assert_eq!(
            decode_report(&encode(TAG_EXITED, 3, 0)),
            Some(ExecOutcome::Exited(3))
        );
        assert_eq!(
            decode_report(&encode(TAG_SIGNALED, 9, 0)),
            Some(ExecOutcome::Signaled(9))
        );
        assert_eq!(
            decode_report(&encode(
                TAG_SPAWN_FAILED,
                step_number("execve"),
                libc::ENOENT
            )),
            Some(ExecOutcome::SpawnFailed {
                step: "execve".into(),
                errno: libc::ENOENT
            })
        );
        assert_eq!(
            decode_report(&encode(
                TAG_SETUP_FAILED,
                step_number("installing seccomp"),
                1
            )),
            Some(ExecOutcome::SetupFailed {
                step: "installing seccomp".into(),
                errno: 1
            })
        );
        assert_eq!(decode_report(&[0u8; 5]), None);
        assert_eq!(decode_report(&encode(99, 0, 0)), None);
    }
}
