//! The session's user namespace, created by us and handed to bubblewrap (`--userns`).
//!
//! Why not `bwrap --unshare-user --uid 1000`: to switch uid, bubblewrap nests a second user
//! namespace, and when it runs as root it also covers parts of `/proc` with read-only mounts. In
//! the nested namespace those mounts are locked, and the kernel then refuses any new `/proc`
//! mount, so commands could not get a `/proc` of their own pid namespace. A single namespace that
//! maps the sandbox uid straight to the caller's uid avoids both, for root and for unprivileged
//! users alike (an unprivileged process may map exactly its own uid).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::OFlag;

/// Creates a user namespace mapping `inner_uid`/`inner_gid` to our effective uid/gid and returns
/// a descriptor for it.
pub(crate) fn create_user_namespace(inner_uid: u32, inner_gid: u32) -> io::Result<OwnedFd> {
    // SAFETY: geteuid/getegid cannot fail.
    let (outer_uid, outer_gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let (ready_read, ready_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (hold_read, hold_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the child only makes async-signal-safe system calls and ends in _exit, so forking
    // from a multi-threaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: raw system calls only; see above.
        unsafe {
            libc::close(ready_read.as_raw_fd());
            libc::close(hold_write.as_raw_fd());
            let status: u8 = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                0
            } else {
                (*libc::__errno_location()).clamp(1, 255) as u8
            };
            libc::write(ready_write.as_raw_fd(), (&status as *const u8).cast(), 1);
            let mut byte = 0u8;
            // Blocks until the parent has the namespace and closes its end.
            libc::read(hold_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    drop(ready_write);
    drop(hold_read);
    let helper = Helper {
        pid,
        hold: Some(hold_write),
    };
    let mut status = [0u8; 1];
    let n = nix::unistd::read(&ready_read, &mut status)?;
    if n != 1 {
        return Err(io::Error::other("the user namespace helper died"));
    }
    if status[0] != 0 {
        return Err(io::Error::from_raw_os_error(i32::from(status[0])));
    }
    let proc = format!("/proc/{}", helper.pid);
    match std::fs::write(format!("{proc}/setgroups"), b"deny") {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    std::fs::write(
        format!("{proc}/uid_map"),
        format!("{inner_uid} {outer_uid} 1\n"),
    )?;
    std::fs::write(
        format!("{proc}/gid_map"),
        format!("{inner_gid} {outer_gid} 1\n"),
    )?;
    let path = std::ffi::CString::new(format!("{proc}/ns/user"))
        .map_err(|_| io::Error::other("bad path"))?;
    // SAFETY: open with a valid C string; a non-negative result is a descriptor we own.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: see above.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };
    drop(helper);
    Ok(ns)
}

/// The short-lived process holding the namespace until we have a descriptor for it.
struct Helper {
    pid: libc::pid_t,
    hold: Option<OwnedFd>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Closing our end lets the helper exit; then reap it.
        self.hold.take();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_maps_exactly_one_uid() {
        let ns = create_user_namespace(1000, 1000).unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", ns.as_raw_fd())).unwrap();
        let mine = std::fs::read_link("/proc/self/ns/user").unwrap();
        assert!(link.to_string_lossy().starts_with("user:["));
        assert_ne!(link, mine);
    }
}
