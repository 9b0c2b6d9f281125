//! Session-wide memory and process limits with cgroups, when we may create them.
//!
//! As root, a session gets its own cgroup (v1: one under the `memory` and one under the `pids`
//! hierarchy; v2: one under `/sys/fs/cgroup/drydock`) and every process of the session starts
//! inside it (see `launcher`: on v1 the launcher thread joins it ahead of time, on v2 bubblewrap
//! joins between fork and exec). `memory.limit_in_bytes`/`memory.max` caps the session's memory
//! (tmpfs pages included; memory+swap too when swap is accounted) and `pids.max` its processes
//! and threads. Unprivileged users usually cannot create cgroups (v1 has no delegation); the
//! session then relies on the per-process rlimits set by the stage, and says so in its
//! isolation report. cgroup v2 support follows the kernel documentation but is not exercised on
//! the v1 machine this was developed on.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
const GROUP: &str = "drydock";

/// Which cgroup layout the machine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    /// Separate hierarchies per controller.
    V1,
    /// The unified hierarchy.
    V2,
}

/// Detects the layout; `None` when neither the v2 root nor v1 `memory` and `pids` are mounted.
pub(crate) fn detect_version() -> Option<CgroupVersion> {
    let root = Path::new(ROOT);
    if root.join("cgroup.controllers").exists() {
        Some(CgroupVersion::V2)
    } else if root.join("memory").is_dir() && root.join("pids").is_dir() {
        Some(CgroupVersion::V1)
    } else {
        None
    }
}

/// The cgroup(s) of one session.
#[derive(Debug)]
pub(crate) struct SessionCgroup {
    version: CgroupVersion,
    dirs: Vec<PathBuf>,
    procs: Vec<File>,
    memory_bytes: u64,
    max_processes: u64,
}

/// Extra tasks a session's pids cgroup holds besides the sandbox: the v1 launcher thread.
pub(crate) const LAUNCHER_TASKS: u64 = 1;

impl SessionCgroup {
    /// Creates a session cgroup, without limits yet. `Err` explains why cgroups are not used.
    pub(crate) fn create(name: &str) -> Result<Self, String> {
        let version = detect_version().ok_or("no cgroup memory and pids controllers mounted")?;
        let mut cgroup = Self {
            version,
            dirs: Vec::new(),
            procs: Vec::new(),
            memory_bytes: 0,
            max_processes: 0,
        };
        let result = match version {
            CgroupVersion::V1 => cgroup.create_v1(name),
            CgroupVersion::V2 => cgroup.create_v2(name),
        };
        if let Err(err) = result {
            cgroup.remove();
            return Err(err);
        }
        Ok(cgroup)
    }

    fn create_v1(&mut self, name: &str) -> Result<(), String> {
        let memory = Path::new(ROOT).join("memory").join(GROUP).join(name);
        let pids = Path::new(ROOT).join("pids").join(GROUP).join(name);
        for dir in [&memory, &pids] {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            self.dirs.push(dir.clone());
        }
        for dir in [&memory, &pids] {
            self.procs.push(open_procs(dir)?);
        }
        Ok(())
    }

    /// Sets the session's limits (before any sandbox process exists).
    pub(crate) fn set_limits(
        &mut self,
        memory_bytes: u64,
        max_processes: u64,
    ) -> Result<(), String> {
        self.memory_bytes = memory_bytes;
        self.max_processes = max_processes;
        let pids_max = max_processes
            + if self.version == CgroupVersion::V1 {
                LAUNCHER_TASKS
            } else {
                0
            };
        for dir in &self.dirs {
            let memory_limit = match self.version {
                CgroupVersion::V1 => dir.join("memory.limit_in_bytes"),
                CgroupVersion::V2 => dir.join("memory.max"),
            };
            if memory_limit.exists() {
                write(&memory_limit, &memory_bytes.to_string())?;
            }
            // With swap accounting, memory+swap gets the same cap (no swapping past the limit).
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write(&memsw, &memory_bytes.to_string())?;
            }
            let swap = dir.join("memory.swap.max");
            if swap.exists() {
                write(&swap, "0")?;
            }
            let pids = dir.join("pids.max");
            if pids.exists() {
                write(&pids, &pids_max.to_string())?;
            }
        }
        Ok(())
    }

    /// The layout.
    pub(crate) fn version(&self) -> CgroupVersion {
        self.version
    }

    /// v1: the `tasks` files; writing a thread id moves just that thread, and every process it
    /// forks afterwards starts inside.
    pub(crate) fn task_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("tasks")).collect()
    }

    fn create_v2(&mut self, name: &str) -> Result<(), String> {
        let parent = Path::new(ROOT).join(GROUP);
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        // Controllers must be enabled from the root down; already enabled is fine.
        let _ = std::fs::write(
            Path::new(ROOT).join("cgroup.subtree_control"),
            "+memory +pids",
        );
        write(&parent.join("cgroup.subtree_control"), "+memory +pids")?;
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        self.dirs.push(dir.clone());
        self.procs.push(open_procs(&dir)?);
        Ok(())
    }

    /// Descriptors of the `cgroup.procs` files; writing `0` to each moves the writer in. Used
    /// between fork and exec of bubblewrap on cgroup v2 (where single threads cannot move).
    pub(crate) fn join_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// The directories (recorded for the reaper).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Isolation items for the session info.
    pub(crate) fn describe(&self) -> Vec<String> {
        let v = match self.version {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        };
        vec![
            format!("cgroup {v} memory limit {} MiB", self.memory_bytes >> 20),
            format!("cgroup {v} pids limit {}", self.max_processes),
        ]
    }

    /// How many times the memory limit made the kernel kill a process in this cgroup.
    pub(crate) fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            CgroupVersion::V1 => ("memory.oom_control", "oom_kill"),
            CgroupVersion::V2 => ("memory.events", "oom_kill"),
        };
        self.dirs
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    /// Kills every process in the cgroup and removes it (waiting briefly for exits to finish).
    pub(crate) fn kill_and_remove(&mut self) {
        self.procs.clear();
        kill_and_remove_dirs(&self.dirs);
        self.dirs.clear();
    }

    fn remove(&mut self) {
        self.procs.clear();
        for dir in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

impl Drop for SessionCgroup {
    fn drop(&mut self) {
        if !self.dirs.is_empty() {
            self.kill_and_remove();
        }
    }
}

/// Removes empty leftover session cgroups (from a crash before a session recorded them).
pub(crate) fn remove_empty_leftovers() {
    let parents = [
        Path::new(ROOT).join("memory").join(GROUP),
        Path::new(ROOT).join("pids").join(GROUP),
        Path::new(ROOT).join(GROUP),
    ];
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let young = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < Duration::from_secs(60));
            if young {
                continue;
            }
            let empty = std::fs::read_to_string(path.join("cgroup.procs"))
                .is_ok_and(|t| t.trim().is_empty());
            if empty {
                // A concurrent drydock may have just created it; rmdir fails once it is in use.
                let _ = std::fs::remove_dir(&path);
            }
        }
    }
}

/// Moves the calling thread into each `tasks` file (v1).
pub(crate) fn enter_thread(task_files: &[PathBuf]) -> Result<(), String> {
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    for file in task_files {
        write(file, &tid.to_string())?;
    }
    Ok(())
}

/// Moves the calling thread back to the root of each hierarchy (v1).
pub(crate) fn leave_thread(task_files: &[PathBuf]) {
    // SAFETY: gettid cannot fail.
    let tid = unsafe { libc::gettid() };
    for file in task_files {
        // <root>/<controller>/drydock/<name>/tasks -> <root>/<controller>/tasks
        if let Some(root) = file.parent().and_then(Path::parent).and_then(Path::parent) {
            let _ = std::fs::write(root.join("tasks"), tid.to_string());
        }
    }
}

/// Kills the processes of these cgroup directories and removes them; used by the reaper too.
///
/// Our own process is never signalled: on v1 a launcher thread of ours sits in the session's
/// cgroup until bubblewrap is reaped, so our pid shows up in `cgroup.procs` for a moment.
pub(crate) fn kill_and_remove_dirs(dirs: &[PathBuf]) {
    let me = std::process::id() as libc::pid_t;
    for attempt in 0..100 {
        let mut remaining = false;
        for dir in dirs {
            if !dir.exists() {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in text
                    .lines()
                    .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
                    .filter(|pid| *pid != me)
                {
                    // SAFETY: sending a signal to a pid listed in the session's own cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if std::fs::remove_dir(dir).is_err() {
                remaining = true;
            }
        }
        if !remaining {
            return;
        }
        std::thread::sleep(Duration::from_millis(if attempt < 10 { 2 } else { 20 }));
    }
    tracing::warn!(
        ?dirs,
        "could not remove the session's cgroups; the reaper will retry"
    );
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("writing {value} to {}: {e}", path.display()))
}

fn open_procs(dir: &Path) -> Result<File, String> {
    let path = dir.join("cgroup.procs");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}
