//! Running one command in a `docker` session.
//!
//! Each command is a `docker exec` of our wrapper, which reports how the command's main process
//! ended over the status socket. Whatever else the command started (background jobs, daemons
//! that `setsid` and double-fork) is then killed by a sweep of the container's init, before the
//! exec returns; a timeout, a cancellation or an exceeded disk budget sweep at once. Because a
//! sweep kills every process but the init, commands of one session run one at a time (a second
//! `exec` waits for the first).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::container::STATUS_SOCKET;
use super::inner::EXEC_ROLE;
use super::session::{DockerSession, remove_container};
use super::status::SweepError;
use super::wire::{self, InnerMessage};
use crate::capture::{OutputCapture, OutputChunk, OutputSink, OutputStream};
use crate::local::{CheckedCommand, DiskExceeded};
use crate::protocol::{ExecOutcome, STAGE_ARG};
use crate::{CapturedOutput, ExecOutput, ExecRequest, SandboxError};

/// How long output may keep flowing after a command's processes are gone.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sweep may take before the session is declared broken.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the wrapper's report may lag behind the end of its output.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// Why the host ended a command.
#[derive(Debug, Clone, Copy)]
enum KillReason {
    Timeout,
    Cancelled,
    Disk(DiskExceeded),
}

/// How the wait for a command ended.
#[derive(Debug)]
enum Ending {
    /// The wrapper reported the main process's end.
    Reported(ExecOutcome),
    /// The wrapper went away without a report (killed by its own command).
    WrapperGone,
    /// The host killed the command.
    Killed(KillReason),
    /// The container's init is gone.
    ContainerGone,
}

/// Asks for a sweep if an exec future is dropped before its command was cleaned up.
struct SweepOnDrop<'a> {
    session: &'a DockerSession,
    armed: bool,
}

impl Drop for SweepOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.session.hub.sweep_soon();
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type OutputStreamBox =
    Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

impl DockerSession {
    /// Runs a command: serialises it with the session's others, starts it, feeds stdin,
    /// captures output, enforces the timeout, the disk budget and cancellation, sweeps, and
    /// reports how it ended.
    pub(super) async fn run(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
        sink: Option<OutputSink>,
    ) -> Result<ExecOutput, SandboxError> {
        if self.stop_called.load(Ordering::SeqCst) {
            return Err(SandboxError::Stopped);
        }
        let command = CheckedCommand::check(&request)?;
        let exec_error = |message: String| command.exec_error(message);
        let _turn = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(SandboxError::Cancelled),
            guard = self.exec_lock.lock() => guard,
        };
        if self.stop_called.load(Ordering::SeqCst) {
            return Err(SandboxError::Stopped);
        }
        if let Some(reason) = self.broken_reason() {
            return Err(exec_error(reason));
        }
        if self.needs_sweep.load(Ordering::SeqCst) {
            self.sweep_or_break()
                .await
                .map_err(|e| self.gone_or(e, &exec_error))?;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.needs_sweep.store(true, Ordering::SeqCst);
        let mut sweep_guard = SweepOnDrop {
            session: self,
            armed: true,
        };
        let token = wire::new_token();
        let wrapper = self.hub.expect_exec(id, &token);
        let started = self.start_exec(id, &token, &command.cwd, &request).await;
        let (exec_id, output, input) = match started {
            Ok(started) => started,
            Err(message) => {
                self.hub.forget_exec(id);
                sweep_guard.armed = false;
                if self.stop_called.load(Ordering::SeqCst) {
                    return Err(SandboxError::Stopped);
                }
                if self.hub.init_gone() {
                    return Err(exec_error(self.container_gone_message()));
                }
                return Err(exec_error(message));
            }
        };
        let started = Instant::now();
        let stdin_task = AbortOnDrop(tokio::spawn(feed_stdin(input, request.stdin.clone())));
        let mut output_task = AbortOnDrop(tokio::spawn(collect_output(
            output,
            request.max_output_bytes,
            sink,
        )));
        let report = async {
            let mut connection = wrapper.await.ok()?;
            match wire::read_message::<_, InnerMessage>(&mut connection).await {
                Ok(InnerMessage::Exited { outcome }) => Some(outcome),
                _ => None,
            }
        };
        tokio::pin!(report);
        let disk_stop = CancellationToken::new();
        let disk_watch = self.disk.watch(disk_stop.clone());
        tokio::pin!(disk_watch);
        let deadline = tokio::time::sleep(request.timeout);
        tokio::pin!(deadline);
        let mut finished_output = None;
        let ending = tokio::select! {
            outcome = &mut report => match outcome {
                Some(outcome) => Ending::Reported(outcome),
                None => Ending::WrapperGone,
            },
            captured = &mut output_task.0 => {
                // Every holder of the output is gone, the wrapper included: its report, if any,
                // is already on its way.
                finished_output = Some(captured.unwrap_or_default());
                match tokio::time::timeout(REPORT_GRACE, &mut report).await {
                    Ok(Some(outcome)) => Ending::Reported(outcome),
                    Ok(None) | Err(_) => Ending::WrapperGone,
                }
            }
            () = &mut deadline => Ending::Killed(KillReason::Timeout),
            () = cancel.cancelled() => Ending::Killed(KillReason::Cancelled),
            exceeded = &mut disk_watch => Ending::Killed(KillReason::Disk(exceeded)),
            () = self.hub.wait_init_gone() => Ending::ContainerGone,
        };
        disk_stop.cancel();
        self.hub.forget_exec(id);
        // Whatever the command left running dies here, before anything else happens.
        let swept = match ending {
            Ending::ContainerGone => Err(SweepError::InitGone(self.hub.fatal_message())),
            _ => self.sweep_or_break().await,
        };
        sweep_guard.armed = false;
        let duration = started.elapsed();
        drop(stdin_task);
        let (stdout, stderr) = match finished_output {
            Some(captured) => captured,
            None => match tokio::time::timeout(DRAIN_TIMEOUT, &mut output_task.0).await {
                Ok(Ok(captured)) => captured,
                _ => {
                    tracing::error!(
                        id,
                        "command output did not end after its processes were gone"
                    );
                    (CapturedOutput::default(), CapturedOutput::default())
                }
            },
        };
        if let Err(err) = swept {
            return Err(self.gone_or(err, &exec_error));
        }
        if matches!(ending, Ending::Killed(KillReason::Disk(_))) {
            // The writes between the last measurement and the kill count for the next command.
            self.disk.refresh().await;
        }
        let output = ExecOutput {
            exit_code: None,
            signal: None,
            timed_out: false,
            stdout,
            stderr,
            duration,
        };
        self.finish(ending, output, &exec_id, &command, request.merge_stderr)
            .await
    }

    /// Creates and starts the exec of our wrapper; returns the exec id and its streams.
    async fn start_exec(
        &self,
        id: u64,
        token: &str,
        cwd: &str,
        request: &ExecRequest,
    ) -> Result<
        (
            String,
            OutputStreamBox,
            Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
        ),
        String,
    > {
        let mut cmd = self.backend.bundle.launcher.clone();
        cmd.extend(
            [
                STAGE_ARG,
                EXEC_ROLE,
                "--id",
                &id.to_string(),
                "--token",
                token,
                "--status",
                STATUS_SOCKET,
                "--cwd",
                cwd,
                "--fsize",
                &self.file_size_bytes.to_string(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        if let Some(nproc) = self.nproc_limit {
            cmd.extend(["--nproc".to_string(), nproc.to_string()]);
        }
        if request.merge_stderr {
            cmd.push("--merge".into());
        }
        cmd.push("--".into());
        cmd.extend(request.argv.iter().cloned());
        let options = CreateExecOptions {
            attach_stdin: Some(request.stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            cmd: Some(cmd),
            user: Some(self.user.spec()),
            working_dir: Some("/".to_string()),
            ..CreateExecOptions::default()
        };
        let client = &self.backend.daemon.client;
        let created = client
            .create_exec(&self.container_id, options)
            .await
            .map_err(|err| format!("creating the exec: {}", super::client::message_of(&err)))?;
        let start = StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: Some(64 * 1024),
        };
        match client.start_exec(&created.id, Some(start)).await {
            Ok(StartExecResults::Attached { output, input }) => Ok((created.id, output, input)),
            Ok(StartExecResults::Detached) => Err("the daemon detached the exec".into()),
            Err(err) => Err(format!(
                "starting the exec: {}",
                super::client::message_of(&err)
            )),
        }
    }

    /// Sweeps; if the init cannot, kills the whole container (nothing may outlive a command).
    async fn sweep_or_break(&self) -> Result<(), SweepError> {
        let result = match tokio::time::timeout(SWEEP_TIMEOUT, self.hub.sweep()).await {
            Ok(result) => result,
            Err(_) => Err(SweepError::Incomplete(format!(
                "the container's init did not sweep within {SWEEP_TIMEOUT:?}"
            ))),
        };
        match result {
            Ok(swept) => {
                self.needs_sweep.store(false, Ordering::SeqCst);
                if swept.killed > 0 {
                    tracing::debug!(killed = swept.killed, "swept what a command left running");
                }
                Ok(())
            }
            Err(err) => {
                if !self.stop_called.load(Ordering::SeqCst) {
                    tracing::error!(%err, container = %self.name, "cannot clean up the sandbox; removing its container");
                    let reason = match &err {
                        SweepError::InitGone(_) => self.container_gone_message(),
                        SweepError::Incomplete(message) => format!(
                            "processes of a command could not be killed ({message}); the session was ended"
                        ),
                    };
                    *self
                        .broken
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
                }
                remove_container(&self.backend.daemon.client, &self.container_id).await;
                Err(err)
            }
        }
    }

    fn container_gone_message(&self) -> String {
        match self.hub.fatal_message() {
            Some(message) => format!("the sandbox container ended: {message}"),
            None => "the sandbox container ended unexpectedly (its init died, was it killed by the memory limit?); start a new session".into(),
        }
    }

    /// `Stopped` when the session was stopped, else an exec error saying what broke.
    fn gone_or(
        &self,
        err: SweepError,
        exec_error: &impl Fn(String) -> SandboxError,
    ) -> SandboxError {
        if self.stop_called.load(Ordering::SeqCst) {
            return SandboxError::Stopped;
        }
        match err {
            SweepError::InitGone(_) => exec_error(self.container_gone_message()),
            SweepError::Incomplete(message) => exec_error(format!(
                "processes of the command could not be killed ({message}); the session was ended"
            )),
        }
    }

    fn broken_reason(&self) -> Option<String> {
        self.broken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Fills in how the command ended (or turns it into the error it is), with notices.
    async fn finish(
        &self,
        ending: Ending,
        mut output: ExecOutput,
        exec_id: &str,
        command: &CheckedCommand,
        merge_stderr: bool,
    ) -> Result<ExecOutput, SandboxError> {
        let exec_error = |message: String| command.exec_error(message);
        let mut notices = Vec::new();
        match ending {
            Ending::Reported(ExecOutcome::Exited(code)) => output.exit_code = Some(code),
            Ending::Reported(ExecOutcome::Signaled(signal)) => output.signal = Some(signal),
            Ending::Reported(ExecOutcome::Killed) => output.signal = Some(libc::SIGKILL),
            Ending::Reported(ExecOutcome::SpawnFailed { step, errno }) => {
                return Err(command.spawn_failed(&step, errno));
            }
            Ending::Reported(ExecOutcome::SetupFailed { step, errno }) => {
                let err = std::io::Error::from_raw_os_error(errno);
                return Err(exec_error(format!("{step} failed: {err}")));
            }
            Ending::Killed(KillReason::Cancelled) => return Err(SandboxError::Cancelled),
            Ending::Killed(KillReason::Timeout) => {
                output.timed_out = true;
                output.signal = Some(libc::SIGKILL);
            }
            Ending::Killed(KillReason::Disk(exceeded)) => {
                output.signal = Some(libc::SIGKILL);
                notices.push(format!(
                    "drydock: command killed: the workspace grew to {} MiB, past its disk limit of {} MiB",
                    exceeded.usage_bytes >> 20,
                    exceeded.limit_bytes >> 20
                ));
            }
            Ending::WrapperGone => {
                // The command killed the wrapper that watched it; the daemon still knows how the
                // wrapper ended.
                let inspected = self.backend.daemon.client.inspect_exec(exec_id).await;
                output.exit_code = inspected.ok().and_then(|i| i.exit_code).map(|c| c as i32);
                notices.push(
                    "drydock: the command's supervisor was killed; its processes were ended".into(),
                );
            }
            Ending::ContainerGone => return Err(exec_error(self.container_gone_message())),
        }
        if let Some(kills) = self.oom_kills_since_last().await {
            notices.push(format!(
                "drydock: {kills} process(es) killed by the session's memory limit ({} MiB)",
                self.memory_mb
            ));
        }
        for notice in notices {
            let target = if merge_stderr {
                &mut output.stdout
            } else {
                &mut output.stderr
            };
            append_notice(target, &notice);
        }
        Ok(output)
    }

    /// OOM kills since the previous command, from the count the init reads in its cgroup.
    async fn oom_kills_since_last(&self) -> Option<u64> {
        let now = self.hub.last_oom_kills()?;
        let mut last = self
            .oom_kills
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = last.replace(now)?;
        (now > before).then(|| now - before)
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

async fn feed_stdin(mut input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>, data: Option<Vec<u8>>) {
    let Some(data) = data else {
        return;
    };
    // A command that exits without reading closes its stdin: that is its choice.
    let _ = input.write_all(&data).await;
    // Half-closing tells the daemon to close the command's stdin.
    let _ = input.shutdown().await;
}

/// Demultiplexes the exec's output into two bounded captures, forwarding chunks to `sink`.
async fn collect_output(
    mut output: OutputStreamBox,
    limit: usize,
    sink: Option<OutputSink>,
) -> (CapturedOutput, CapturedOutput) {
    let mut stdout = OutputCapture::new(limit);
    let mut stderr = OutputCapture::new(limit);
    let mut sink = sink;
    while let Some(item) = output.next().await {
        let (stream, data) = match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                (OutputStream::Stdout, message)
            }
            Ok(LogOutput::StdErr { message }) => (OutputStream::Stderr, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(err) => {
                tracing::debug!(%err, "reading command output failed");
                break;
            }
        };
        match stream {
            OutputStream::Stdout => stdout.push(&data),
            OutputStream::Stderr => stderr.push(&data),
        }
        if let Some(tx) = &sink {
            let chunk = OutputChunk {
                stream,
                data: data.to_vec(),
            };
            if tx.send(chunk).await.is_err() {
                sink = None;
            }
        }
    }
    (stdout.finish(), stderr.finish())
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[tokio::test]
    async fn output_is_demultiplexed_bounded_and_forwarded() {
        let items: Vec<Result<LogOutput, bollard::errors::Error>> = vec![
            Ok(LogOutput::StdOut {
                message: "abc".into(),
            }),
            Ok(LogOutput::StdErr {
                message: "err".into(),
            }),
            Ok(LogOutput::Console {
                message: "defghij".into(),
            }),
            Ok(LogOutput::StdIn {
                message: "ignored".into(),
            }),
        ];
        let (sink, mut chunks) = crate::capture::output_channel(16);
        let stream: OutputStreamBox = Box::pin(futures::stream::iter(items));
        let (out, err) = collect_output(stream, 6, Some(sink)).await;
        assert_eq!(
            out,
            CapturedOutput {
                head: b"abc".to_vec(),
                tail: b"hij".to_vec(),
                total_bytes: 10
            }
        );
        assert_eq!(err.head, b"err");
        let mut forwarded = Vec::new();
        while let Ok(chunk) = chunks.try_recv() {
            forwarded.push((chunk.stream, chunk.data));
        }
        assert_eq!(forwarded.len(), 3);
        assert_eq!(forwarded[2], (OutputStream::Stdout, b"defghij".to_vec()));
    }

    #[test]
    fn notices_go_after_the_kept_output() {
        let mut out = CapturedOutput {
            head: b"a".to_vec(),
            tail: Vec::new(),
            total_bytes: 1,
        };
        append_notice(&mut out, "n");
        assert_eq!(out.head, b"a\n[n]\n");
        assert_eq!(out.total_bytes, 6);
    }
}
