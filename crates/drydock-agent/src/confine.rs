//! Confinement of the model's paths to the workspace.
//!
//! The file tools run on the host, so a path the model gives must never reach outside the
//! workspace: `..` components and absolute paths (other than the sandbox's own `/workspace/...`
//! spelling) are refused, and every existing component is checked so a symlink cannot lead out.
//! Commands run one at a time and leave no process behind, so nothing in the sandbox can swap a
//! component between this check and the tool's use of the path.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

use drydock_sandbox::WORKSPACE_MOUNT;

/// What a tool means to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read a file or list a directory.
    Read,
    /// Create, replace or edit a file.
    Write,
}

/// A path the model gave that is not allowed; the message tells the model what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty path for an operation that needs a file.
    #[error("the path is empty; give a path relative to the workspace root, e.g. src/main.rs")]
    Empty,
    /// A NUL byte.
    #[error("the path contains a NUL byte")]
    Nul,
    /// An absolute path outside `/workspace`.
    #[error(
        "{0:?} is an absolute path outside the workspace; give a path relative to the workspace root (or under /workspace)"
    )]
    Absolute(String),
    /// A `..` component.
    #[error(
        "{0:?} contains '..'; paths must stay inside the workspace, give them relative to its root"
    )]
    ParentComponent(String),
    /// A symlink on the way resolves outside the workspace (or nowhere).
    #[error("{path:?} goes through a symlink that leads outside the workspace ({target})")]
    Escapes {
        /// The path as given.
        path: String,
        /// Where it leads.
        target: String,
    },
    /// A write into `.git`.
    #[error("{0:?} is inside .git; the repository's metadata is read-only for the agent")]
    GitDir(String),
    /// The filesystem refused a check.
    #[error("cannot check {path:?}: {message}")]
    Io {
        /// The path as given.
        path: String,
        /// What failed.
        message: String,
    },
}

/// The canonical root of a task's workspace on the host.
#[derive(Debug, Clone)]
pub struct WorkspaceRoot {
    root: PathBuf,
}

/// A path checked to lie inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedPath {
    /// Absolute host path.
    pub abs: PathBuf,
    /// Path relative to the workspace root; empty for the root itself.
    pub rel: PathBuf,
}

impl ConfinedPath {
    /// The relative path for messages and policies (`.` for the root).
    pub fn display_rel(&self) -> String {
        if self.rel.as_os_str().is_empty() {
            ".".to_string()
        } else {
            self.rel.to_string_lossy().into_owned()
        }
    }
}

impl fmt::Display for ConfinedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_rel())
    }
}

impl WorkspaceRoot {
    /// The workspace at `path` (which must exist).
    pub fn new(path: &Path) -> io::Result<Self> {
        Ok(Self {
            root: path.canonicalize()?,
        })
    }

    /// The canonical host path of the workspace.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Checks a path the model gave and returns where it is on the host.
    pub fn resolve(&self, requested: &str, access: Access) -> Result<ConfinedPath, PathError> {
        if requested.contains('\0') {
            return Err(PathError::Nul);
        }
        let rel = lexical_relative(requested)?;
        let abs = self.root.join(&rel);
        self.check_symlinks(requested, &rel)?;
        if access == Access::Write {
            let inside_git = rel
                .components()
                .next()
                .is_some_and(|c| c.as_os_str() == ".git");
            if inside_git || self.canonical_is_in_git(&abs) {
                return Err(PathError::GitDir(requested.to_string()));
            }
        }
        Ok(ConfinedPath { abs, rel })
    }

    /// Follows every existing component; each symlink met must resolve inside the root.
    fn check_symlinks(&self, requested: &str, rel: &Path) -> Result<(), PathError> {
        let mut prefix = self.root.clone();
        for component in rel.components() {
            prefix.push(component);
            let meta = match std::fs::symlink_metadata(&prefix) {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(err) => {
                    return Err(PathError::Io {
                        path: requested.to_string(),
                        message: err.to_string(),
                    });
                }
            };
            if meta.file_type().is_symlink() {
                match prefix.canonicalize() {
                    Ok(target) if target.starts_with(&self.root) => {}
                    Ok(target) => {
                        return Err(PathError::Escapes {
                            path: requested.to_string(),
                            target: target.display().to_string(),
                        });
                    }
                    Err(_) => {
                        let target = std::fs::read_link(&prefix)
                            .map(|t| t.display().to_string())
                            .unwrap_or_default();
                        return Err(PathError::Escapes {
                            path: requested.to_string(),
                            target: format!("dangling link to {target:?}"),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn canonical_is_in_git(&self, abs: &Path) -> bool {
        // The longest existing ancestor decides where a new file would land.
        let existing = abs.ancestors().find(|p| p.exists());
        existing
            .and_then(|p| p.canonicalize().ok())
            .and_then(|canonical| {
                canonical
                    .strip_prefix(&self.root)
                    .ok()
                    .map(|r| r.starts_with(".git"))
            })
            .unwrap_or(false)
    }
}

/// Turns the model's spelling into a clean relative path, refusing `..` and foreign absolutes.
fn lexical_relative(requested: &str) -> Result<PathBuf, PathError> {
    let path = Path::new(requested);
    let inside = if path.is_absolute() {
        path.strip_prefix(WORKSPACE_MOUNT)
            .map_err(|_| PathError::Absolute(requested.to_string()))?
    } else {
        path
    };
    let mut rel = PathBuf::new();
    for component in inside.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentComponent(requested.to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Absolute(requested.to_string()));
            }
        }
    }
    Ok(rel)
}

#[cfg(test)]
#[path = "confine_tests.rs"]
mod tests;
