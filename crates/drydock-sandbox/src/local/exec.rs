//! Running one command in a `local` session.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cgroup::SessionCgroup;
use super::control::{Control, ControlClosed};
use super::disk::DiskExceeded;
use super::inputs::CheckedCommand;
use super::session::{DRAIN_TIMEOUT, KILL_GRACE, LocalSession, lock};
use crate::capture::{OutputSink, OutputStream, capture_reader};
use crate::protocol::{ExecOutcome, ExecPlan, HostMessage};
use crate::{CapturedOutput, ExecOutput, ExecRequest, SandboxError};

/// Why the host asked the stage to kill a command.
#[derive(Debug, Clone, Copy)]
enum KillReason {
    Timeout,
    Cancelled,
    Disk(DiskExceeded),
}

/// Sends `Kill` if the exec future is dropped before the command ended.
struct KillOnDrop<'a> {
    control: &'a Control,
    id: u64,
    armed: bool,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.control.kill_now(self.id);
        }
    }
}

impl LocalSession {
    /// Runs a command: sends it to the stage, feeds stdin, captures output, enforces the timeout,
    /// the disk budget and cancellation, and reports how it ended.
    pub(super) async fn run(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutput, SandboxError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(SandboxError::Stopped);
        }
        let command = CheckedCommand::check(&request)?;
        let exec_error = |message: String| command.exec_error(message);
        let pipe =
            || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| exec_error(format!("pipe: {e}")));
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let stderr = if request.merge_stderr {
            None
        } else {
            Some(pipe()?)
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let plan = ExecPlan {
            argv: request.argv.clone(),
            cwd: command.cwd.clone(),
            env: self.env.clone(),
            limits: self.limits,
        };
        let outcome_rx = self.control.register(id);
        let stderr_fd = stderr
            .as_ref()
            .map_or(stdout_write.as_raw_fd(), |(_, w)| w.as_raw_fd());
        let fds = [stdin_read.as_raw_fd(), stdout_write.as_raw_fd(), stderr_fd];
        let oom_before = lock(&self.cgroup).as_ref().map(SessionCgroup::oom_kills);
        let started = Instant::now();
        if let Err(errno) = self
            .control
            .send(&HostMessage::Exec { id, plan }, &fds)
            .await
        {
            self.control.unregister(id);
            if self.control.is_closed() || self.stopped.load(Ordering::SeqCst) {
                return Err(SandboxError::Stopped);
            }
            return Err(match errno {
                Errno::EMSGSIZE | Errno::ENOBUFS => SandboxError::InvalidRequest {
                    message: "the command line and environment are too large; pass large input through stdin".into(),
                },
                other => exec_error(format!("sending the command to the sandbox: {other}")),
            });
        }
        let mut guard = KillOnDrop {
            control: &self.control,
            id,
            armed: true,
        };
        // The stage holds its own copies now; ours must close so EOF means the command is gone.
        drop(stdin_read);
        drop(stdout_write);
        let stderr_read = stderr.map(|(read, write)| {
            drop(write);
            read
        });
        let limit = request.max_output_bytes;
        let stdin_task = tokio::spawn(feed_stdin(stdin_write, request.stdin));
        let stdout_task = spawn_capture(stdout_read, limit, OutputStream::Stdout, sink.clone());
        let stderr_task =
            stderr_read.map(|fd| spawn_capture(fd, limit, OutputStream::Stderr, sink));

        let disk_stop = CancellationToken::new();
        let disk_watch = self.disk.watch(disk_stop.clone());
        tokio::pin!(disk_watch);
        let deadline = tokio::time::sleep(request.timeout);
        tokio::pin!(deadline);
        let mut outcome_rx = outcome_rx;
        let mut kill: Option<(KillReason, Instant)> = None;
        let outcome = loop {
            let grace_left = kill.map(|(_, at)| KILL_GRACE.saturating_sub(at.elapsed()));
            tokio::select! {
                outcome = &mut outcome_rx => break outcome.unwrap_or(Err(ControlClosed::Gone)),
                () = &mut deadline, if kill.is_none() => {
                    kill = Some((KillReason::Timeout, Instant::now()));
                    let _ = self.control.send(&HostMessage::Kill { id }, &[]).await;
                }
                () = cancel.cancelled(), if kill.is_none() => {
                    kill = Some((KillReason::Cancelled, Instant::now()));
                    let _ = self.control.send(&HostMessage::Kill { id }, &[]).await;
                }
                exceeded = &mut disk_watch, if kill.is_none() => {
                    kill = Some((KillReason::Disk(exceeded), Instant::now()));
                    let _ = self.control.send(&HostMessage::Kill { id }, &[]).await;
                }
                () = tokio::time::sleep(grace_left.unwrap_or(Duration::MAX)), if grace_left.is_some() => {
                    tracing::error!(id, "the sandbox stage did not confirm a kill; killing the session");
                    self.kill_now();
                    break Err(ControlClosed::Fatal("the sandbox did not stop the command; the session was killed".into()));
                }
            }
        };
        guard.armed = false;
        disk_stop.cancel();
        let duration = started.elapsed();
        stdin_task.abort();
        let stdout = join_capture(stdout_task).await;
        let stderr = match stderr_task {
            Some(task) => join_capture(task).await,
            None => CapturedOutput::default(),
        };
        let reason = kill.map(|(reason, _)| reason);
        if matches!(reason, Some(KillReason::Cancelled)) {
            return Err(SandboxError::Cancelled);
        }
        let (exit_code, signal) = match outcome {
            Ok(ExecOutcome::Exited(code)) => (Some(code), None),
            Ok(ExecOutcome::Signaled(signal)) => (None, Some(signal)),
            Ok(ExecOutcome::Killed) => (None, Some(libc::SIGKILL)),
            Ok(ExecOutcome::SpawnFailed { step, errno }) => {
                return Err(command.spawn_failed(&step, errno));
            }
            Ok(ExecOutcome::SetupFailed { step, errno }) => {
                let err = std::io::Error::from_raw_os_error(errno);
                return Err(exec_error(format!(
                    "confining the command failed ({step}): {err}"
                )));
            }
            Err(closed) => {
                if self.stopped.load(Ordering::SeqCst) {
                    return Err(SandboxError::Stopped);
                }
                let detail = lock(&self.diagnostics).trim().to_string();
                let message = match closed {
                    ControlClosed::Fatal(message) => message,
                    ControlClosed::Gone => "the sandbox session ended unexpectedly".into(),
                };
                return Err(exec_error(if detail.is_empty() {
                    message
                } else {
                    format!("{message}: {detail}")
                }));
            }
        };
        let mut output = ExecOutput {
            exit_code,
            signal,
            timed_out: matches!(reason, Some(KillReason::Timeout)),
            stdout,
            stderr,
            duration,
        };
        let mut notices = Vec::new();
        if let Some(KillReason::Disk(exceeded)) = reason {
            notices.push(format!(
                "drydock: command killed: the workspace grew to {} MiB, past its disk limit of {} MiB",
                exceeded.usage_bytes >> 20,
                exceeded.limit_bytes >> 20
            ));
        }
        let oom_after = lock(&self.cgroup).as_ref().map(SessionCgroup::oom_kills);
        if let (Some(before), Some(after)) = (oom_before, oom_after)
            && after > before
        {
            notices.push(format!(
                "drydock: {} process(es) killed by the session's memory limit ({} MiB)",
                after - before,
                self.memory_mb
            ));
        }
        for notice in notices {
            let target = if request.merge_stderr {
                &mut output.stdout
            } else {
                &mut output.stderr
            };
            append_notice(target, &notice);
        }
        Ok(output)
    }
}

fn append_notice(output: &mut CapturedOutput, notice: &str) {
    let text = format!("\n[{notice}]\n");
    if output.tail.is_empty() {
        output.head.extend_from_slice(text.as_bytes());
    } else {
        output.tail.extend_from_slice(text.as_bytes());
    }
    output.total_bytes += text.len() as u64;
}

async fn feed_stdin(fd: OwnedFd, data: Option<Vec<u8>>) {
    let Some(data) = data else {
        return;
    };
    let Ok(mut writer) = pipe::Sender::from_owned_fd(fd) else {
        return;
    };
    // A command that exits without reading closes the pipe (EPIPE): that is its choice.
    let _ = writer.write_all(&data).await;
}

fn spawn_capture(
    fd: OwnedFd,
    limit: usize,
    stream: OutputStream,
    sink: Option<OutputSink>,
) -> JoinHandle<CapturedOutput> {
    tokio::spawn(async move {
        match pipe::Receiver::from_owned_fd(fd) {
            Ok(reader) => capture_reader(reader, limit, stream, sink).await,
            Err(err) => {
                tracing::warn!(%err, "cannot read command output");
                CapturedOutput::default()
            }
        }
    })
}

async fn join_capture(task: JoinHandle<CapturedOutput>) -> CapturedOutput {
    let abort = task.abort_handle();
    match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
        Ok(Ok(output)) => output,
        Ok(Err(_)) => CapturedOutput::default(),
        Err(_) => {
            tracing::error!("command output did not end after its processes were gone");
            abort.abort();
            CapturedOutput::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_go_after_the_kept_output() {
        let mut out = CapturedOutput {
            head: b"a".to_vec(),
            tail: Vec::new(),
            total_bytes: 1,
        };
        append_notice(&mut out, "n");
        assert_eq!(out.head, b"a\n[n]\n");
        let mut out = CapturedOutput {
            head: b"a".to_vec(),
            tail: b"z".to_vec(),
            total_bytes: 10,
        };
        append_notice(&mut out, "n");
        assert_eq!(out.tail, b"z\n[n]\n");
        assert_eq!(out.total_bytes, 15);
    }
}
