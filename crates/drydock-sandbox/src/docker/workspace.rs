//! Which user a container runs as, and giving it the workspace.
//!
//! Containers never run as root. Without a user namespace, a container's uid is the host's, so
//! the user is the workspace's owner: files the agent writes belong to whoever owns the clone.
//! When the workspace belongs to root (drydock running as root), the container runs as the
//! configured sandbox user instead, and the workspace is handed to it once per session: every
//! entry below the top directory (except `.git`, which stays as it is and is mounted read-only)
//! is chowned to that user, and the top directory stays root's but becomes group-writable for
//! the sandbox group (setgid), so git on the host still trusts it (`safe.directory` checks the
//! top directory's and `.git`'s owner).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::SandboxError;

/// The uid and gid commands run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SandboxUser {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// The workspace belongs to root and must be handed to this user.
    pub needs_handover: bool,
}

impl SandboxUser {
    /// `uid:gid`, as docker wants it.
    pub(crate) fn spec(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

/// Picks the user for a (validated) workspace.
pub(crate) fn choose_user(
    workspace: &Path,
    fallback: (u32, u32),
) -> Result<SandboxUser, SandboxError> {
    let meta = std::fs::metadata(workspace).map_err(|source| SandboxError::Io {
        context: format!("reading the owner of {}", workspace.display()),
        source,
    })?;
    if meta.uid() != 0 {
        return Ok(SandboxUser {
            uid: meta.uid(),
            gid: meta.gid(),
            needs_handover: false,
        });
    }
    let (uid, gid) = fallback;
    if uid == 0 || gid == 0 {
        return Err(SandboxError::InvalidRequest {
            message: "the docker sandbox user must not be root (uid and gid 0 are refused)".into(),
        });
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(SandboxError::InvalidRequest {
            message: format!(
                "the workspace {} belongs to root but drydock does not run as root, so it cannot hand it to the sandbox user {uid}:{gid}; clone workspaces as the user drydock runs as",
                workspace.display()
            ),
        });
    }
    Ok(SandboxUser {
        uid,
        gid,
        needs_handover: true,
    })
}

/// Hands a root-owned workspace to `user` (see the module docs). Returns the entries changed.
pub(crate) fn hand_over(workspace: &Path, user: SandboxUser) -> std::io::Result<usize> {
    let top = std::fs::symlink_metadata(workspace)?;
    std::os::unix::fs::lchown(workspace, None, Some(user.gid))?;
    // Group rwx plus setgid, so new top-level entries land in the sandbox group.
    let mode = (top.mode() & 0o7777) | 0o2070;
    std::fs::set_permissions(workspace, std::fs::Permissions::from_mode(mode))?;
    let mut changed = 0;
    let walker = walkdir::WalkDir::new(workspace)
        .min_depth(1)
        .same_file_system(true)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".git"));
    for entry in walker {
        let entry = entry.map_err(std::io::Error::other)?;
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        if meta.uid() == user.uid && meta.gid() == user.gid {
            continue;
        }
        // lchown: a symlink planted in the workspace is changed itself, never its target.
        std::os::unix::fs::lchown(entry.path(), Some(user.uid), Some(user.gid))?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn is_root() -> bool {
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn a_non_root_owner_is_used_as_is_and_root_is_never_the_sandbox_user() {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            std::os::unix::fs::chown(dir.path(), Some(4321), Some(4322)).unwrap();
            let user = choose_user(dir.path(), (1000, 1000)).unwrap();
            assert_eq!(
                user,
                SandboxUser {
                    uid: 4321,
                    gid: 4322,
                    needs_handover: false
                }
            );
            std::os::unix::fs::chown(dir.path(), Some(0), Some(0)).unwrap();
            let user = choose_user(dir.path(), (1000, 1001)).unwrap();
            assert_eq!(
                (user.uid, user.gid, user.needs_handover),
                (1000, 1001, true)
            );
            assert!(choose_user(dir.path(), (0, 1000)).is_err());
            assert!(choose_user(dir.path(), (1000, 0)).is_err());
        } else {
            let user = choose_user(dir.path(), (1000, 1000)).unwrap();
            // SAFETY: getuid cannot fail.
            assert_eq!(user.uid, unsafe { libc::getuid() });
            assert!(!user.needs_handover);
        }
        assert!(choose_user(Path::new("/nonexistent-drydock"), (1000, 1000)).is_err());
    }

    #[test]
    fn handing_over_changes_the_tree_but_not_git_links_or_the_top_owner() {
        if !is_root() {
            println!("SKIPPED: handing a workspace over needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join(".git/objects")).unwrap();
        std::fs::create_dir_all(ws.join("src/deep")).unwrap();
        std::fs::write(ws.join("src/deep/a.rs"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("link-out")).unwrap();
        let user = SandboxUser {
            uid: 1234,
            gid: 1235,
            needs_handover: true,
        };
        let changed = hand_over(ws, user).unwrap();
        assert_eq!(changed, 4, "src, src/deep, src/deep/a.rs, link-out");
        let owner = |p: &Path| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(owner(&ws.join("src/deep/a.rs")), (1234, 1235));
        assert_eq!(owner(&ws.join("link-out")), (1234, 1235));
        assert_eq!(
            owner(outside.path()),
            (0, 0),
            "a symlink target was changed"
        );
        assert_eq!(owner(&ws.join(".git")), (0, 0));
        assert_eq!(owner(&ws.join(".git/objects")), (0, 0));
        assert_eq!(owner(ws), (0, 1235));
        let mode = std::fs::metadata(ws).unwrap().mode();
        assert_eq!(mode & 0o2070, 0o2070, "{mode:o}");
        // Idempotent: nothing left to change.
        assert_eq!(hand_over(ws, user).unwrap(), 0);
    }
}
