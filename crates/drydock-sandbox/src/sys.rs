//! Thin wrappers over Linux calls that `nix` does not cover (clone3, pidfds, capabilities,
//! close_range), each returning `io::Result`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The result of [`clone_into_namespaces`].
#[derive(Debug)]
pub(crate) enum Cloned {
    /// In the parent: the child's pid and a pidfd for it.
    Parent {
        /// Child pid (in the parent's pid namespace).
        pid: libc::pid_t,
        /// A pidfd referring to the child.
        pidfd: OwnedFd,
    },
    /// In the child.
    Child,
}

/// `clone3` like `fork`, with namespace flags and a pidfd for the child.
///
/// # Safety
///
/// The calling process must be single-threaded: the child is a copy of this thread only, and
/// libc's per-thread state is not updated (the stage supervisor is single-threaded by design).
pub(crate) unsafe fn clone_into_namespaces(flags: u64) -> io::Result<Cloned> {
    let mut pidfd: libc::c_int = -1;
    // SAFETY: an all-zero clone_args is valid; the fields set below follow clone3(2).
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut libc::c_int as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    // SAFETY: without CLONE_VM the child gets a copy of the address space, as with fork.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    let pid = check(ret)?;
    if pid == 0 {
        return Ok(Cloned::Child);
    }
    // SAFETY: the kernel stored a fresh pidfd for the child.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Cloned::Parent {
        pid: pid as libc::pid_t,
        pidfd,
    })
}

/// A pidfd for `pid` (in the caller's pid namespace).
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: see above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` through a pidfd (no pid reuse race). `ESRCH` (already gone) is success.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we hold.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match check(ret) {
        Ok(_) => Ok(()),
        Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        Err(err) => Err(err),
    }
}

/// The pid (in our namespace) a pidfd refers to, from `/proc/self/fdinfo`.
pub(crate) fn pidfd_pid(pidfd: BorrowedFd<'_>) -> io::Result<libc::pid_t> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))?;
    info.lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .filter(|pid: &libc::pid_t| *pid > 0)
        .ok_or_else(|| io::Error::other("pidfd refers to no live process"))
}

/// Marks every descriptor from `first` up close-on-exec.
pub(crate) fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret).map(drop)
}

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; failure is reported.
    let flags = check_int(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

/// Drops every capability: bounding set, ambient set, then effective, permitted and inheritable.
pub(crate) fn drop_all_capabilities() -> io::Result<()> {
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments. EINVAL marks capabilities the kernel lacks.
        let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            // Without CAP_SETPCAP the bounding set cannot shrink; what follows still empties the
            // sets that matter, and no_new_privs stops file capabilities from refilling them.
            if err.raw_os_error() != Some(libc::EPERM) {
                return Err(err);
            }
        }
    }
    // SAFETY: prctl with integer arguments.
    check_int(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })?;
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a v3 header and two data words, as documented in capget(2).
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) }).map(drop)
}

/// `PR_SET_NO_NEW_PRIVS`.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// `PR_SET_PDEATHSIG`.
pub(crate) fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) }).map(drop)
}

/// `PR_SET_DUMPABLE`.
pub(crate) fn set_dumpable(on: bool) -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    check_int(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) })
        .map(drop)
}

/// The kernel's Landlock ABI version (`Err` with `EOPNOTSUPP` when disabled, `ENOSYS` when absent).
pub(crate) fn landlock_abi() -> io::Result<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the documented ABI query: null attributes, size 0, the version flag.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check(abi).map(|v| v as i32)
}

/// Start time of a process (field 22 of `/proc/<pid>/stat`), to tell a pid from a reused one.
pub(crate) fn process_start_time(pid: libc::pid_t) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is alive and still the process that started at `start_time`.
pub(crate) fn same_process_alive(pid: libc::pid_t, start_time: u64) -> bool {
    pid > 0 && process_start_time(pid) == Some(start_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_identifies_this_process() {
        let me = std::process::id() as libc::pid_t;
        let start = process_start_time(me).unwrap();
        assert!(same_process_alive(me, start));
        assert!(!same_process_alive(me, start + 1));
        assert!(!same_process_alive(0, start));
    }

    #[test]
    fn a_pidfd_names_the_process_it_was_opened_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id() as libc::pid_t).unwrap();
        use std::os::fd::AsFd;
        assert_eq!(pidfd_pid(pidfd.as_fd()).unwrap(), child.id() as libc::pid_t);
        pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // Signalling a reaped process is not an error.
        pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
    }
}
