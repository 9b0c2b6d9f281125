//! The sandbox's `/etc`: a filtered snapshot of the host's, built once per host state.
//!
//! Only an allowlist of host entries is copied (loader cache, certificates, time zone,
//! `alternatives`, language runtime configuration, ...), plus generated `passwd`, `group`,
//! `hosts` and `hostname` naming only the sandbox user. `shadow`, `sudoers`, `ssh`, proxy and
//! package manager credentials (`pip.conf`, `npmrc`, ...) never appear. The snapshot is one
//! directory bind-mounted read-only at `/etc`: one mount instead of one per entry keeps session
//! start-up fast. It is rebuilt when an allowlisted entry changes on the host (compared by
//! modification time, size and inode of the top-level entries).
//!
//! Snapshots are shared by every drydock process using the same runtime directory: each lives in
//! `etc-snapshots/<hash of the entries' fingerprint>/`, built under a temporary name and renamed
//! into place when complete, so a `drydock run` or `sandbox exec` on an unchanged host reuses the
//! last one instead of copying `/etc` again (hundreds of milliseconds). A snapshot is never
//! removed while it may still be mounted: superseded ones are collected once unused for
//! [`KEEP_SUPERSEDED`], far longer than any session lives.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::view::{SANDBOX_HOME, SANDBOX_HOSTNAME, SANDBOX_UID, SANDBOX_USER};

/// Host `/etc` entries copied into the sandbox's `/etc`. Anything not listed is absent.
pub(crate) const ETC_ALLOWLIST: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "crypto-policies",
    "debian_version",
    "fonts",
    "gai.conf",
    "host.conf",
    "inputrc",
    "java-17-openjdk",
    "java-21-openjdk",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "locale.conf",
    "localtime",
    "lsb-release",
    "magic",
    "magic.mime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "perl",
    "pki/ca-trust",
    "pki/tls/certs",
    "profile",
    "profile.d",
    "protocols",
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
    "redhat-release",
    "rpc",
    "services",
    "shells",
    "ssl/certs",
    "ssl/openssl.cnf",
    "system-release",
    "terminfo",
    "timezone",
    "vim",
    "zsh",
];

/// The most entries and bytes copied per snapshot (a safety net against huge directories).
const MAX_ENTRIES: usize = 20_000;
const MAX_BYTES: u64 = 64 << 20;

/// What an allowlisted entry looked like when the snapshot was taken.
type Fingerprint = BTreeMap<String, Option<(i64, i64, u64, u64)>>;

/// The directory under the runtime directory holding the shared snapshots (the session reaper
/// leaves it alone).
pub(crate) const SNAPSHOTS_DIR: &str = "etc-snapshots";

/// The file written last into a complete snapshot; its modification time is the last use.
const READY_MARKER: &str = "ready";

/// How long a superseded or unused snapshot is kept before it is removed.
const KEEP_SUPERSEDED: Duration = Duration::from_secs(7 * 24 * 3600);

/// How old an abandoned build (a crashed process) must be before it is removed.
const KEEP_ABANDONED_BUILD: Duration = Duration::from_secs(3600);

/// The snapshot a backend mounts, rebuilt when the host changes.
#[derive(Debug)]
pub(crate) struct EtcView {
    runtime_dir: PathBuf,
    entries: Vec<String>,
    current: Mutex<Option<(PathBuf, Fingerprint)>>,
}

impl EtcView {
    pub(crate) fn new(runtime_dir: &Path, extra: &[String]) -> Self {
        let mut entries: Vec<String> = ETC_ALLOWLIST.iter().map(|s| s.to_string()).collect();
        entries.extend(extra.iter().cloned());
        Self {
            runtime_dir: runtime_dir.to_path_buf(),
            entries,
            current: Mutex::new(None),
        }
    }

    /// The directory to mount at `/etc`, rebuilt first if the host's entries changed.
    pub(crate) fn current(&self) -> io::Result<PathBuf> {
        let fingerprint = self.fingerprint();
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((dir, seen)) = current.as_ref()
            && *seen == fingerprint
            && dir.join(READY_MARKER).exists()
        {
            // Every session start counts as a use, so collection never takes a snapshot that
            // a long-running process still hands out.
            mark_used(dir);
            return Ok(dir.join("etc"));
        }
        let snapshots = self.runtime_dir.join(SNAPSHOTS_DIR);
        let dir = snapshots.join(snapshot_name(&self.entries, &fingerprint));
        if dir.join(READY_MARKER).exists() {
            mark_used(&dir);
        } else {
            self.build_shared(&snapshots, &dir)?;
            collect_garbage(&snapshots, &dir);
        }
        *current = Some((dir.clone(), fingerprint));
        Ok(dir.join("etc"))
    }

    /// Builds the snapshot under a temporary name and renames it to `dir`; another process
    /// that finished the same snapshot first wins and ours is discarded.
    fn build_shared(&self, snapshots: &Path, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(snapshots)?;
        let staging = snapshots.join(format!(".build-{}", ulid::Ulid::generate()));
        let built = self
            .build(&staging)
            .and_then(|()| std::fs::write(staging.join(READY_MARKER), b""));
        if let Err(err) = built {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
        match std::fs::rename(&staging, dir) {
            Ok(()) => Ok(()),
            Err(_) if dir.join(READY_MARKER).exists() => {
                let _ = std::fs::remove_dir_all(&staging);
                Ok(())
            }
            Err(err) => {
                let _ = std::fs::remove_dir_all(&staging);
                Err(err)
            }
        }
    }

    fn fingerprint(&self) -> Fingerprint {
        self.entries
            .iter()
            .map(|entry| {
                let meta = std::fs::symlink_metadata(Path::new("/etc").join(entry)).ok();
                (
                    entry.clone(),
                    meta.map(|m| (m.mtime(), m.mtime_nsec(), m.size(), m.ino())),
                )
            })
            .collect()
    }

    fn build(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir.join("etc"))?;
        let etc = dir.join("etc");
        let mut budget = Budget {
            entries: MAX_ENTRIES,
            bytes: MAX_BYTES,
        };
        for entry in &self.entries {
            let source = Path::new("/etc").join(entry);
            if std::fs::symlink_metadata(&source).is_err() {
                continue;
            }
            let target = etc.join(entry);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            copy_tree(&source, &target, &mut budget)?;
        }
        write_identity_files(&etc)?;
        // Directories and files readable by the sandbox user whatever the host's umask.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        Ok(())
    }
}

/// The shared snapshot's directory name: a hash of what it was built from (and for whom).
fn snapshot_name(entries: &[String], fingerprint: &Fingerprint) -> String {
    let mut hasher = Sha256::new();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    hasher.update(format!("v1 uid={uid} entries={entries:?} {fingerprint:?}"));
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Records that a snapshot is in use (its marker's time), so collection keeps it.
fn mark_used(dir: &Path) {
    if let Ok(marker) = std::fs::File::options()
        .write(true)
        .open(dir.join(READY_MARKER))
    {
        let _ = marker.set_modified(SystemTime::now());
    }
}

/// Removes snapshots unused for [`KEEP_SUPERSEDED`] and builds abandoned for
/// [`KEEP_ABANDONED_BUILD`]; `keep` always stays. Best effort: a failure leaves garbage, not
/// an error.
fn collect_garbage(snapshots: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(snapshots) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let is_build = entry.file_name().to_string_lossy().starts_with(".build-");
        let (stamp, limit) = if is_build {
            (path.clone(), KEEP_ABANDONED_BUILD)
        } else {
            (path.join(READY_MARKER), KEEP_SUPERSEDED)
        };
        let age = std::fs::symlink_metadata(&stamp)
            .or_else(|_| std::fs::symlink_metadata(&path))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > limit) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

struct Budget {
    entries: usize,
    bytes: u64,
}

/// Copies a file, symlink or directory tree (symlinks stay symlinks; other file types and
/// unreadable entries are skipped).
fn copy_tree(source: &Path, target: &Path, budget: &mut Budget) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(source).follow_links(false) {
        let Ok(entry) = entry else { continue };
        if budget.entries == 0 {
            tracing::warn!(path = %source.display(), "the /etc snapshot is too large; the rest is left out");
            return Ok(());
        }
        budget.entries -= 1;
        let relative = entry.path().strip_prefix(source).unwrap_or(Path::new(""));
        let dest = if relative.as_os_str().is_empty() {
            target.to_path_buf()
        } else {
            target.join(relative)
        };
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if kind.is_symlink() {
            if let Ok(link) = std::fs::read_link(entry.path()) {
                std::os::unix::fs::symlink(link, &dest)?;
            }
        } else if kind.is_file() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.len() > budget.bytes {
                continue;
            }
            match std::fs::copy(entry.path(), &dest) {
                Ok(copied) => budget.bytes -= copied.min(budget.bytes),
                Err(err) if err.kind() == io::ErrorKind::PermissionDenied => continue,
                Err(err) => return Err(err),
            }
            let mode = meta.mode() & 0o755 | 0o444;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Writes `passwd`, `group`, `hosts` and `hostname` naming only the sandbox's users.
fn write_identity_files(etc: &Path) -> io::Result<()> {
    let uid = SANDBOX_UID;
    let user = SANDBOX_USER;
    std::fs::write(
        etc.join("passwd"),
        format!(
            "root:x:0:0:root:/root:/usr/sbin/nologin\n{user}:x:{uid}:{uid}:drydock sandbox:{SANDBOX_HOME}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
    )?;
    std::fs::write(
        etc.join("group"),
        format!("root:x:0:\n{user}:x:{uid}:\nnogroup:x:65534:\n"),
    )?;
    std::fs::write(
        etc.join("hosts"),
        format!(
            "127.0.0.1\tlocalhost {SANDBOX_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
    )?;
    std::fs::write(etc.join("hostname"), format!("{SANDBOX_HOSTNAME}\n"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_holds_the_allowlist_and_no_secrets() {
        let runtime = tempfile::tempdir().unwrap();
        let view = EtcView::new(runtime.path(), &[]);
        let etc = view.current().unwrap();
        for secret in [
            "shadow",
            "gshadow",
            "sudoers",
            "ssh",
            "pip.conf",
            "npmrc",
            "ssl/private",
            "environment",
            "resolv.conf",
        ] {
            assert!(!etc.join(secret).exists(), "{secret} is in the snapshot");
        }
        if Path::new("/etc/ld.so.cache").exists() {
            assert_eq!(
                std::fs::read(etc.join("ld.so.cache")).unwrap(),
                std::fs::read("/etc/ld.so.cache").unwrap()
            );
        }
        let passwd = std::fs::read_to_string(etc.join("passwd")).unwrap();
        assert!(passwd.contains("drydock:x:1000:1000"));
        assert_eq!(passwd.lines().count(), 3);
        if let Ok(link) = std::fs::read_link("/etc/localtime") {
            assert_eq!(std::fs::read_link(etc.join("localtime")).unwrap(), link);
        }
    }

    #[test]
    fn an_unchanged_host_reuses_the_snapshot_and_a_change_rebuilds_it() {
        let runtime = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir_in("/etc").ok();
        let Some(host) = host else {
            // Not allowed to write /etc (unprivileged): the reuse half still holds.
            let view = EtcView::new(runtime.path(), &[]);
            assert_eq!(view.current().unwrap(), view.current().unwrap());
            return;
        };
        let name = host
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::write(host.path().join("conf"), "one").unwrap();
        let view = EtcView::new(runtime.path(), std::slice::from_ref(&name));
        let first = view.current().unwrap();
        assert_eq!(view.current().unwrap(), first);
        assert_eq!(
            std::fs::read_to_string(first.join(&name).join("conf")).unwrap(),
            "one"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(host.path().join("new"), "two").unwrap();
        let second = view.current().unwrap();
        assert_ne!(second, first);
        // Sessions started earlier may still have the old snapshot mounted: it stays.
        assert!(first.join(&name).join("conf").exists());
        assert_eq!(
            std::fs::read_to_string(second.join(&name).join("new")).unwrap(),
            "two"
        );
    }

    #[test]
    fn processes_share_a_snapshot_and_old_ones_are_collected_when_long_unused() {
        let runtime = tempfile::tempdir().unwrap();
        // Two backends (as in two drydock processes) on an unchanged host: one snapshot.
        let first = EtcView::new(runtime.path(), &[]).current().unwrap();
        let second = EtcView::new(runtime.path(), &[]).current().unwrap();
        assert_eq!(first, second);
        let snapshots = runtime.path().join(SNAPSHOTS_DIR);
        assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 1);

        // A snapshot of another host state, long unused, and an abandoned build go when a new
        // snapshot is built; a recently used one stays.
        let old = snapshots.join("0123456789abcdef0123456789abcdef");
        let recent = snapshots.join("fedcba9876543210fedcba9876543210");
        let abandoned = snapshots.join(".build-01ABANDONED");
        for dir in [&old, &recent, &abandoned] {
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            std::fs::write(dir.join(READY_MARKER), b"").unwrap();
        }
        let long_ago = SystemTime::now() - KEEP_SUPERSEDED - Duration::from_secs(60);
        for stamp in [old.join(READY_MARKER), abandoned.clone()] {
            std::fs::File::open(&stamp)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let other = EtcView::new(runtime.path(), &["hostname-does-not-matter".into()])
            .current()
            .unwrap();
        assert_ne!(other, first);
        assert!(!old.exists(), "a long-unused snapshot was kept");
        assert!(!abandoned.exists(), "an abandoned build was kept");
        assert!(recent.exists(), "a recently used snapshot was removed");
        assert!(first.exists(), "the snapshot in use was removed");
    }
}
