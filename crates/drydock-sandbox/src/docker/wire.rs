//! The status protocol between the host and the drydock processes inside a container.
//!
//! One Unix stream socket per session, served by the host and bind-mounted (read-only) into the
//! container. Every message is one line of JSON. The container's init connects first and keeps
//! its connection for the life of the session (the host sends sweeps on it, and its end-of-file
//! tells the init that drydock is gone); every command's exec wrapper opens its own connection,
//! names its command, and reports how the command ended.
//!
//! Nothing on this socket is trusted: a command runs as the same user as the wrappers and can
//! connect too. Each wrapper proves which command it speaks for with a token made for that
//! command only, so a command can at most misreport its own end, which changes nothing it could
//! not do by exiting; lines are bounded, and unexpected messages close the connection.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::protocol::ExecOutcome;

/// Longest line either side accepts.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// From the container to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InnerMessage {
    /// First line of the init's connection.
    HelloInit,
    /// The init is listening for egress and ready for commands.
    Ready {
        /// The memory cgroup's OOM kill count, when readable.
        oom_kills: Option<u64>,
    },
    /// First line of an exec wrapper's connection.
    HelloExec {
        /// The command, as numbered by the host.
        id: u64,
        /// The secret the host gave this command's wrapper alone: a process of an earlier
        /// command cannot have known it, so cannot speak for a later one.
        token: String,
    },
    /// The command's main process ended.
    Exited {
        /// How.
        outcome: ExecOutcome,
    },
    /// A sweep is done: nothing but the init is left.
    Swept {
        /// The request answered.
        seq: u64,
        /// Processes that were still running.
        killed: u32,
        /// The memory cgroup's OOM kill count, when readable.
        oom_kills: Option<u64>,
        /// Why processes may be left (the sweep gave up), when it did.
        error: Option<String>,
    },
    /// The init cannot go on (it exits after sending this).
    Fatal {
        /// What went wrong.
        message: String,
    },
}

/// From the host to the container's init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HostCommand {
    /// Kill every process of the container but the init, and answer once they are gone.
    Sweep {
        /// Echoed in the answer.
        seq: u64,
    },
}

/// A line could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LineError {
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// The line is longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// The line is not a message of the expected kind.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A fresh secret for one command's wrapper (128 random bits, hex).
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: getrandom writes at most the given length into the buffer.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // No kernel randomness (pre-3.17 kernel): a ULID's 80 random bits still serve.
            return ulid::Ulid::generate().to_string();
        }
    }
    hex::encode(bytes)
}

/// Encodes a message as one line.
pub(crate) fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing these plain enums cannot fail; an empty line is refused by the peer anyway.
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Reads one message, refusing lines longer than [`MAX_LINE`].
pub(crate) async fn read_message<R, T>(reader: &mut R) -> Result<T, LineError>
where
    R: AsyncBufRead + Unpin,
    T: for<'de> Deserialize<'de>,
{
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Err(if line.is_empty() {
                LineError::Closed
            } else {
                LineError::Malformed("truncated line".into())
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..end], Some(end + 1)),
            None => (available, None),
        };
        if line.len() + chunk.len() > MAX_LINE {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(chunk);
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        if done.is_some() {
            break;
        }
    }
    serde_json::from_slice(&line).map_err(|err| LineError::Malformed(err.to_string()))
}

/// Blocking counterpart of [`read_message`] (for tests that play the container's side).
#[cfg(test)]
pub(crate) fn read_message_blocking<R, T>(reader: &mut R) -> Result<T, LineError>
where
    R: std::io::BufRead,
    T: for<'de> Deserialize<'de>,
{
    let mut line = Vec::new();
    let read = std::io::BufRead::read_until(
        &mut std::io::Read::take(&mut *reader, MAX_LINE as u64 + 1),
        b'\n',
        &mut line,
    )?;
    if read == 0 {
        return Err(LineError::Closed);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE {
            LineError::TooLong
        } else {
            LineError::Malformed("truncated line".into())
        });
    }
    line.pop();
    serde_json::from_slice(&line).map_err(|err| LineError::Malformed(err.to_string()))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[tokio::test]
    async fn messages_round_trip_one_per_line() {
        let messages = vec![
            InnerMessage::HelloInit,
            InnerMessage::Ready { oom_kills: Some(3) },
            InnerMessage::HelloExec {
                id: 7,
                token: "t".into(),
            },
            InnerMessage::Exited {
                outcome: ExecOutcome::Signaled(15),
            },
            InnerMessage::Swept {
                seq: 2,
                killed: 4,
                oom_kills: None,
                error: None,
            },
        ];
        let mut bytes = Vec::new();
        for message in &messages {
            bytes.extend(encode(message));
        }
        let mut reader = tokio::io::BufReader::new(&bytes[..]);
        let mut decoded = Vec::new();
        for _ in &messages {
            decoded.push(read_message::<_, InnerMessage>(&mut reader).await.unwrap());
        }
        assert_eq!(decoded, messages);
        assert!(matches!(
            read_message::<_, InnerMessage>(&mut reader).await,
            Err(LineError::Closed)
        ));
        let mut blocking = std::io::BufReader::new(&bytes[..]);
        let first: InnerMessage = read_message_blocking(&mut blocking).unwrap();
        assert_eq!(first, InnerMessage::HelloInit);
    }

    #[test]
    fn tokens_are_long_and_never_repeat() {
        let tokens: std::collections::HashSet<String> = (0..1000).map(|_| new_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| t.len() == 32));
    }

    #[tokio::test]
    async fn oversized_truncated_and_malformed_lines_are_refused() {
        let long = vec![b'x'; MAX_LINE + 10];
        let mut reader = tokio::io::BufReader::new(&long[..]);
        assert!(matches!(
            read_message::<_, InnerMessage>(&mut reader).await,
            Err(LineError::TooLong)
        ));
        let mut blocking = std::io::BufReader::new(&long[..]);
        assert!(matches!(
            read_message_blocking::<_, InnerMessage>(&mut blocking),
            Err(LineError::TooLong)
        ));
        let truncated = br#"{"hello_exec":{"id":1,"token":"t"}"#;
        let mut reader = tokio::io::BufReader::new(&truncated[..]);
        assert!(matches!(
            read_message::<_, InnerMessage>(&mut reader).await,
            Err(LineError::Malformed(_))
        ));
        let wrong = b"{\"sweep\":{\"seq\":1}}\n\xff\xfe\n";
        let mut reader = tokio::io::BufReader::new(&wrong[..]);
        assert!(matches!(
            read_message::<_, InnerMessage>(&mut reader).await,
            Err(LineError::Malformed(_))
        ));
        let command: HostCommand = read_message(&mut tokio::io::BufReader::new(&wrong[..]))
            .await
            .unwrap();
        assert_eq!(command, HostCommand::Sweep { seq: 1 });
    }
}
