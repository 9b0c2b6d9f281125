//! The control protocol between the host side of a `local` session and its inner stage.
//!
//! One `SOCK_SEQPACKET` Unix socket pair per session: the host keeps one end, the stage inherits the
//! other through bubblewrap. Every packet is one JSON message; file descriptors (a command's stdio
//! pipes, the supervisor's pidfd) travel alongside as `SCM_RIGHTS`. Packets keep message boundaries,
//! so no framing is needed, and both sides are the same binary, so the types are shared.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};

/// The hidden first argument that turns the executable into the inner stage.
pub(crate) const STAGE_ARG: &str = "__drydock-sandbox-stage";

/// The session's own directory inside the sandbox (proxy socket, stage executable).
pub(crate) const RUN_MOUNT: &str = "/run/drydock";

/// Where the egress proxy's socket appears inside the sandbox.
pub(crate) const PROXY_SOCKET_MOUNT: &str = "/run/drydock/proxy.sock";

/// Where the stage executable appears inside the sandbox.
pub(crate) const STAGE_MOUNT: &str = "/run/drydock/stage";

/// The largest packet either side accepts; a command line bigger than this is refused.
pub(crate) const MAX_PACKET: usize = 1 << 20;

/// Most file descriptors a packet carries.
pub(crate) const MAX_PACKET_FDS: usize = 4;

/// Host to stage.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HostMessage {
    /// Run a command; the packet carries its stdin, stdout and stderr.
    Exec {
        /// Chosen by the host, unique in the session.
        id: u64,
        /// What to run.
        plan: ExecPlan,
    },
    /// Kill a running command's whole process tree.
    Kill {
        /// The command.
        id: u64,
    },
}

/// One command as the stage runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExecPlan {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Absolute working directory inside the sandbox.
    pub cwd: String,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Resource limits applied to the command's processes.
    pub limits: ExecLimits,
}

/// Per-process limits set with `setrlimit` before the command starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecLimits {
    /// `RLIMIT_NPROC`: processes and threads of the sandbox user.
    pub max_processes: u64,
    /// `RLIMIT_DATA`: heap and private writable mappings per process.
    pub memory_bytes: u64,
    /// `RLIMIT_FSIZE`: the largest file a process may write.
    pub file_size_bytes: u64,
}

/// Stage to host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum StageMessage {
    /// The supervisor is up; the packet carries a pidfd for it.
    Ready(ReadyInfo),
    /// A command ended and every process it started is gone.
    Exited {
        /// The command.
        id: u64,
        /// How it ended.
        outcome: ExecOutcome,
    },
    /// The stage cannot go on (it exits after sending this).
    Fatal {
        /// What went wrong.
        message: String,
    },
}

/// What the supervisor reports once it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReadyInfo {
    /// The in-sandbox forwarder's port on 127.0.0.1.
    pub forwarder_port: u16,
    /// How Landlock is enforced (`landlock abi 7 (fully enforced)`, or why not).
    pub landlock: String,
    /// How seccomp is enforced.
    pub seccomp: String,
}

/// How a command ended, as the stage saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ExecOutcome {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// The host asked for it to be killed and it was.
    Killed,
    /// The command could not be started (`step` is `chdir` or `execve`).
    SpawnFailed {
        /// What was being done.
        step: String,
        /// The error number.
        errno: i32,
    },
    /// Confining the command failed, so it was not run (fail closed).
    SetupFailed {
        /// What was being done.
        step: String,
        /// The error number.
        errno: i32,
    },
}

/// A received packet: its bytes and the descriptors that came with it.
#[derive(Debug)]
pub(crate) struct Packet {
    /// Message bytes.
    pub len: usize,
    /// Descriptors, owned (received close-on-exec).
    pub fds: Vec<OwnedFd>,
}

/// Sends one packet; `nonblocking` adds `MSG_DONTWAIT` (the host side is driven by tokio).
pub(crate) fn send_packet(
    socket: RawFd,
    payload: &[u8],
    fds: &[RawFd],
    nonblocking: bool,
) -> nix::Result<()> {
    if payload.len() > MAX_PACKET {
        return Err(Errno::EMSGSIZE);
    }
    let iov = [IoSlice::new(payload)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let mut flags = MsgFlags::MSG_NOSIGNAL;
    if nonblocking {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    let sent = sendmsg::<()>(socket, &iov, cmsgs, flags, None)?;
    if sent != payload.len() {
        return Err(Errno::EMSGSIZE);
    }
    Ok(())
}

/// Receives one packet into `buf`. `Ok(None)` means the peer closed the socket.
pub(crate) fn recv_packet(
    socket: RawFd,
    buf: &mut [u8],
    nonblocking: bool,
) -> nix::Result<Option<Packet>> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_PACKET_FDS]);
    let mut flags = MsgFlags::MSG_CMSG_CLOEXEC;
    if nonblocking {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    let (len, msg_flags, raw_fds) = {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(socket, &mut iov, Some(&mut cmsg_space), flags)?;
        let mut raw_fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                raw_fds.extend(fds);
            }
        }
        (msg.bytes, msg.flags, raw_fds)
    };
    // SAFETY: SCM_RIGHTS hands us fresh descriptors that nothing else owns.
    let fds: Vec<OwnedFd> = raw_fds
        .into_iter()
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    if msg_flags.contains(MsgFlags::MSG_TRUNC) || msg_flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(Errno::EMSGSIZE);
    }
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    Ok(Some(Packet { len, fds }))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    use super::*;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn a_message_and_its_descriptors_arrive_together() {
        let (a, b) = pair();
        let (r, w) = nix::unistd::pipe().unwrap();
        let message = serde_json::to_vec(&HostMessage::Kill { id: 7 }).unwrap();
        send_packet(
            a.as_raw_fd(),
            &message,
            &[r.as_raw_fd(), w.as_raw_fd()],
            false,
        )
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let packet = recv_packet(b.as_raw_fd(), &mut buf, false)
            .unwrap()
            .unwrap();
        let decoded: HostMessage = serde_json::from_slice(&buf[..packet.len]).unwrap();
        assert!(matches!(decoded, HostMessage::Kill { id: 7 }));
        assert_eq!(packet.fds.len(), 2);
        // The received write end really is the pipe: bytes written to it come out of `r`.
        nix::unistd::write(&packet.fds[1], b"x").unwrap();
        let mut out = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut out).unwrap(), 1);
        assert_eq!(&out, b"x");
    }

    #[test]
    fn a_closed_peer_reads_as_none() {
        let (a, b) = pair();
        drop(a);
        let mut buf = vec![0u8; 64];
        assert!(
            recv_packet(b.as_raw_fd(), &mut buf, false)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_packet_larger_than_the_receive_buffer_is_an_error_not_a_partial_message() {
        let (a, b) = pair();
        let payload = vec![b'x'; 2048];
        send_packet(a.as_raw_fd(), &payload, &[], false).unwrap();
        let mut buf = vec![0u8; 100];
        assert_eq!(
            recv_packet(b.as_raw_fd(), &mut buf, false).unwrap_err(),
            Errno::EMSGSIZE
        );
    }

    #[test]
    fn an_oversized_payload_is_refused_before_sending() {
        let (a, _b) = pair();
        let payload = vec![0u8; MAX_PACKET + 1];
        assert_eq!(
            send_packet(a.as_raw_fd(), &payload, &[], false).unwrap_err(),
            Errno::EMSGSIZE
        );
    }
}
