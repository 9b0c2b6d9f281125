//! The workspace's disk budget (`SandboxConfig.disk_mb`).
//!
//! The workspace is a directory on the host's file system, shared with the host (which commits
//! from it), so it cannot sit on a size-capped file system of its own without copying. Two
//! mechanisms work together, for root and unprivileged users alike:
//!
//! 1. `RLIMIT_FSIZE` (set by the stage) stops any single file at the budget: the write fails with
//!    `EFBIG` (`SIGXFSZ` is ignored), cleanly and at once.
//! 2. A watcher bounds the total: while a command runs it samples the file system's used blocks
//!    (`statvfs`, cheap) every 100 ms, and walks the workspace to measure it exactly when the file
//!    system grew enough that the budget could be exceeded, or every few seconds otherwise. A
//!    command that takes the workspace past `baseline + disk_mb` is killed and the output says why.
//!
//! Limits: the total is enforced within one sampling interval (a command writing at 1 GB/s can
//! overshoot by ~100 MB before it is stopped), and the exact walk costs time proportional to the
//! number of files (it backs off on large trees). `/tmp` and `HOME` are a size-capped tmpfs and
//! fail with `ENOSPC` when full.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How often the file system is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Shortest time between two periodic exact walks.
const MIN_WALK_INTERVAL: Duration = Duration::from_secs(2);

/// Bytes the workspace occupies on disk (allocated blocks; hard links counted once; other file
/// systems mounted inside are not crossed). Unreadable entries are skipped.
pub(crate) fn workspace_usage(root: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for entry in walkdir::WalkDir::new(root)
        .same_file_system(true)
        .into_iter()
        .filter_map(Result::ok)
    {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        total = total.saturating_add(meta.blocks().saturating_mul(512));
    }
    total
}

/// Used bytes of the file system holding `path`.
fn filesystem_used(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let blocks = (stat.blocks() as u64).saturating_sub(stat.blocks_free() as u64);
    Some(blocks.saturating_mul(stat.fragment_size() as u64))
}

/// The budget of one session.
#[derive(Debug, Clone)]
pub(crate) struct DiskBudget {
    workspace: PathBuf,
    /// The most the workspace may occupy.
    pub limit_bytes: u64,
    /// What the workspace occupied when the session started.
    pub baseline_bytes: u64,
    /// The latest exact measurement, shared by the session's commands.
    last_usage: Arc<AtomicU64>,
}

/// A command took the workspace past its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DiskExceeded {
    /// Measured size of the workspace.
    pub usage_bytes: u64,
    /// The limit.
    pub limit_bytes: u64,
}

impl DiskBudget {
    /// Measures the workspace and sets the limit `disk_bytes` above it.
    pub(crate) async fn measure(workspace: PathBuf, disk_bytes: u64) -> Self {
        let root = workspace.clone();
        let baseline_bytes = tokio::task::spawn_blocking(move || workspace_usage(&root))
            .await
            .unwrap_or(0);
        Self {
            workspace,
            limit_bytes: baseline_bytes.saturating_add(disk_bytes),
            baseline_bytes,
            last_usage: Arc::new(AtomicU64::new(baseline_bytes)),
        }
    }

    async fn usage(&self) -> (u64, Duration) {
        let root = self.workspace.clone();
        let started = Instant::now();
        let usage = tokio::task::spawn_blocking(move || workspace_usage(&root))
            .await
            .unwrap_or(0);
        (usage, started.elapsed())
    }

    /// Measures the workspace now and makes that the reference for the next command: after a
    /// command was killed mid-write, the last measurement lags behind what it left.
    pub(crate) async fn refresh(&self) {
        let (usage, _) = self.usage().await;
        self.last_usage.store(usage, Ordering::Relaxed);
    }

    /// Watches while a command runs; returns when the budget is exceeded (never otherwise:
    /// cancel `stop` or drop the future).
    pub(crate) async fn watch(&self, stop: CancellationToken) -> DiskExceeded {
        let mut exact = None::<(u64, u64, Instant, Duration)>;
        // The reference for "did this command grow the workspace": the last size known before it.
        let mut reference = self.last_usage.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                () = stop.cancelled() => return std::future::pending().await,
                () = tokio::time::sleep(SAMPLE_EVERY) => {}
            }
            let fs_now = filesystem_used(&self.workspace).unwrap_or(0);
            let walk = match exact {
                None => true,
                Some((usage, fs_then, when, took)) => {
                    let grown = fs_now.saturating_sub(fs_then);
                    let headroom = self.limit_bytes.saturating_sub(usage);
                    grown >= headroom || when.elapsed() >= MIN_WALK_INTERVAL.max(took * 20)
                }
            };
            if !walk {
                continue;
            }
            let (usage, took) = self.usage().await;
            self.last_usage.store(usage, Ordering::Relaxed);
            exact = Some((usage, fs_now, Instant::now(), took));
            // Only a command that grows the workspace past the budget is stopped: one that
            // deletes files to get back under it must be able to finish.
            if usage > self.limit_bytes && usage > reference {
                return DiskExceeded {
                    usage_bytes: usage,
                    limit_bytes: self.limit_bytes,
                };
            }
            reference = usage;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_allocated_blocks_and_hard_links_once() {
        let dir = tempfile::tempdir().unwrap();
        let empty = workspace_usage(dir.path());
        let data = vec![7u8; 1 << 20];
        std::fs::write(dir.path().join("a"), &data).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
        let usage = workspace_usage(dir.path());
        assert!(usage >= empty + (1 << 20), "{usage}");
        assert!(
            usage < empty + (2 << 20),
            "hard link counted twice: {usage}"
        );
    }

    #[tokio::test]
    async fn the_watcher_fires_when_the_workspace_grows_past_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = DiskBudget::measure(dir.path().to_path_buf(), 1 << 20).await;
        let stop = CancellationToken::new();
        let watcher = budget.watch(stop.clone());
        let path = dir.path().to_path_buf();
        let writer = async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            for i in 0..4 {
                std::fs::write(path.join(format!("f{i}")), vec![1u8; 1 << 20]).unwrap();
            }
            std::future::pending::<()>().await
        };
        let exceeded = tokio::select! {
            e = watcher => e,
            () = writer => unreachable!(),
            () = tokio::time::sleep(Duration::from_secs(10)) => panic!("the watcher did not fire"),
        };
        assert!(exceeded.usage_bytes > exceeded.limit_bytes);
        assert_eq!(exceeded.limit_bytes, budget.limit_bytes);
    }

    #[tokio::test]
    async fn the_watcher_stays_quiet_under_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let budget = DiskBudget::measure(dir.path().to_path_buf(), 64 << 20).await;
        std::fs::write(dir.path().join("small"), vec![1u8; 4096]).unwrap();
        let quiet = tokio::time::timeout(
            Duration::from_millis(600),
            budget.watch(CancellationToken::new()),
        )
        .await;
        assert!(quiet.is_err());
    }
}
