//! Session directories and the reaper for sessions a crashed drydock left behind.
//!
//! Each session owns `<runtime dir>/<label>-<ulid>/` holding the proxy socket, the generated
//! `/etc` files and small records: `owner` (pid and start time of the drydock process),
//! `bwrap` and `supervisor` (pid and start time), `cgroups` (one directory per line). Processes
//! die with drydock on their own (`--die-with-parent`, and the supervisor is pid 1 of the
//! session); the reaper catches what a crash in the middle of a start-up could leave: it kills
//! recorded processes still alive (checking start times, so a reused pid is never hit), kills
//! and removes recorded cgroups, and deletes the directory.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::sys::{process_start_time, same_process_alive};

/// The default runtime directory: `/run/drydock/sandbox` for root, else
/// `$XDG_RUNTIME_DIR/drydock/sandbox`, else `<tmp>/drydock-sandbox-<uid>`.
pub(crate) fn default_runtime_dir() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/drydock/sandbox");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => Path::new(&dir).join("drydock/sandbox"),
        _ => std::env::temp_dir().join(format!("drydock-sandbox-{uid}")),
    }
}

/// Creates the runtime directory (mode 0700) and checks nobody else controls it.
pub(crate) fn prepare_runtime_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory owned by uid {uid}; refusing to keep sandbox sessions there",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Keeps `[A-Za-z0-9_.-]` of a label, at most 40 characters.
pub(crate) fn sanitize_label(label: &str) -> String {
    let clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        "session".into()
    } else {
        clean.into()
    }
}

/// Records `pid` with its start time in `<dir>/<name>`.
pub(crate) fn record_process(dir: &Path, name: &str, pid: libc::pid_t) -> io::Result<()> {
    let start = process_start_time(pid).unwrap_or(0);
    std::fs::write(dir.join(name), format!("{pid} {start}\n"))
}

fn read_process(dir: &Path, name: &str) -> Option<(libc::pid_t, u64)> {
    let text = std::fs::read_to_string(dir.join(name)).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Records the session's cgroup directories.
pub(crate) fn record_cgroups(dir: &Path, cgroups: &[PathBuf]) -> io::Result<()> {
    let text: String = cgroups
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    std::fs::write(dir.join("cgroups"), text)
}

/// Reaps sessions in `runtime_dir` whose owner is no longer running. Returns how many.
pub fn reap_stale_sessions(runtime_dir: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(runtime_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut reaped = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir())
            || entry.file_name() == super::etc::SNAPSHOTS_DIR
        {
            continue;
        }
        match read_process(&dir, "owner") {
            Some((pid, start)) if same_process_alive(pid, start) => continue,
            // A session being created right now has no owner record yet: leave fresh ones alone.
            None if is_fresh(&dir) => continue,
            _ => {}
        }
        for name in ["supervisor", "bwrap"] {
            if let Some((pid, start)) = read_process(&dir, name)
                && same_process_alive(pid, start)
            {
                // SAFETY: the pid was checked to be the recorded process (same start time).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroups")) {
            let cgroups: Vec<PathBuf> = text
                .lines()
                .filter(|l| l.starts_with("/sys/fs/cgroup/"))
                .map(PathBuf::from)
                .collect();
            super::cgroup::kill_and_remove_dirs(&cgroups);
        }
        std::fs::remove_dir_all(&dir)?;
        reaped += 1;
    }
    Ok(reaped)
}

fn is_fresh(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_made_safe_for_paths() {
        assert_eq!(sanitize_label("task-01HX/../../etc"), "task-01HX_.._.._etc");
        assert_eq!(sanitize_label("..hidden"), "hidden");
        assert_eq!(sanitize_label(""), "session");
        assert_eq!(sanitize_label(&"x".repeat(100)).len(), 40);
    }

    #[test]
    fn the_reaper_kills_recorded_processes_of_a_dead_owner_and_spares_live_ones() {
        let runtime = tempfile::tempdir().unwrap();
        let stale = runtime.path().join("stale");
        let live = runtime.path().join("live");
        std::fs::create_dir(&stale).unwrap();
        std::fs::create_dir(&live).unwrap();
        let mut orphan = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        // A dead owner: a process that already exited.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id() as libc::pid_t;
        let gone_start = process_start_time(gone_pid).unwrap_or(1);
        gone.wait().unwrap();
        std::fs::write(stale.join("owner"), format!("{gone_pid} {gone_start}\n")).unwrap();
        record_process(&stale, "supervisor", orphan.id() as libc::pid_t).unwrap();
        record_process(&live, "owner", std::process::id() as libc::pid_t).unwrap();
        assert_eq!(reap_stale_sessions(runtime.path()).unwrap(), 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(orphan.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!stale.exists());
        assert!(live.exists());
    }

    #[test]
    fn a_reused_pid_is_not_killed() {
        let runtime = tempfile::tempdir().unwrap();
        let stale = runtime.path().join("stale");
        std::fs::create_dir(&stale).unwrap();
        let mut bystander = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        std::fs::write(stale.join("owner"), "0 0\n").unwrap();
        // The recorded start time does not match the bystander's: it is someone else now.
        std::fs::write(stale.join("supervisor"), format!("{} 1\n", bystander.id())).unwrap();
        reap_stale_sessions(runtime.path()).unwrap();
        assert!(bystander.try_wait().unwrap().is_none());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }
}
