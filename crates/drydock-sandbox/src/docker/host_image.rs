//! Images made from this host's own programs, for machines without a registry.
//!
//! A [`HostImage`] names programs, directory trees and files of the host. [`HostImage::ensure`]
//! assembles them into a root file system (each program's and library's dependencies resolved
//! with `ldd`, symlinks kept as symlinks), `docker import`s it, and tags it
//! `<repository>:<hash>`, the hash covering the recipe and every file's path, mode, size and
//! modification time. An image with that tag already in the daemon is reused, so it is built
//! once per content, and earlier builds of the same recipe are removed. Concurrent builders
//! (parallel test processes) wait for each other on a lock file.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DockerBackend;
use archive::{TempFile, import, lock_file, write_archive};

#[path = "host_image_archive.rs"]
mod archive;

/// Bumped when the way images are assembled changes (so old tags are not reused).
const FORMAT: &str = "drydock-host-image-v1";
/// Directories searched for programs, in order.
const PROGRAM_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/sbin", "/sbin"];
/// Files given to `ldd` at once.
const LDD_BATCH: usize = 64;

/// An image could not be assembled or imported.
#[derive(Debug, thiserror::Error)]
pub enum HostImageError {
    /// A host file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `ldd` failed.
    #[error("resolving libraries with ldd: {0}")]
    Ldd(String),
    /// Writing the root file system archive failed.
    #[error("writing the image archive {path}: {source}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The daemon refused the import.
    #[error("importing {reference} into the docker daemon: {message}")]
    Import {
        /// The tag being created.
        reference: String,
        /// What the daemon said.
        message: String,
    },
}

/// A recipe for an image made of host files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostImage {
    /// The repository of the tag; the tag itself is the content hash.
    pub repository: String,
    /// Programs by name, looked up in `/usr/bin`, `/bin`, `/usr/sbin`, `/sbin` (missing ones
    /// are left out and listed in the [`Manifest`]).
    pub programs: Vec<String>,
    /// Directories copied whole (symlinks inside are kept, not followed).
    pub trees: Vec<PathBuf>,
    /// Single files (with the symlinks leading to them).
    pub files: Vec<PathBuf>,
    /// `ENV` of the image.
    pub env: Vec<(String, String)>,
}

/// One entry of the root file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with this mode.
    Dir(u32),
    /// A copy of a host file.
    File(PathBuf),
    /// A symlink to this target.
    Symlink(PathBuf),
    /// A file with this content and mode.
    Content(Vec<u8>, u32),
}

/// What an image will hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Every entry by absolute path (parents before children).
    pub entries: BTreeMap<PathBuf, Entry>,
    /// Programs of the recipe that this host does not have.
    pub missing: Vec<String>,
}

impl HostImage {
    /// A shell and the usual command-line tools (coreutils, grep, sed, find, procps, ...).
    pub fn shell_tools() -> Self {
        let programs = [
            "bash",
            "sh",
            "dash",
            "env",
            "cat",
            "ls",
            "echo",
            "true",
            "false",
            "sleep",
            "mkdir",
            "rm",
            "rmdir",
            "touch",
            "cp",
            "mv",
            "ln",
            "chmod",
            "chown",
            "id",
            "whoami",
            "head",
            "tail",
            "wc",
            "sort",
            "uniq",
            "tr",
            "cut",
            "grep",
            "sed",
            "awk",
            "find",
            "xargs",
            "dd",
            "seq",
            "printf",
            "test",
            "expr",
            "stat",
            "df",
            "du",
            "date",
            "uname",
            "hostname",
            "nproc",
            "timeout",
            "nohup",
            "setsid",
            "ps",
            "kill",
            "pgrep",
            "getent",
            "tee",
            "basename",
            "dirname",
            "readlink",
            "realpath",
            "mktemp",
            "diff",
            "cmp",
            "tar",
            "gzip",
            "which",
            "pwd",
            "yes",
            "sync",
            "mkfifo",
            "nice",
            "chgrp",
            "install",
            "md5sum",
            "sha256sum",
            "base64",
            "od",
            "fold",
            "comm",
            "join",
            "paste",
            "split",
            "truncate",
            "mount",
            "umount",
            "chroot",
            "unshare",
            "nsenter",
        ];
        Self {
            repository: "drydock-host-shell".into(),
            programs: programs.iter().map(|p| p.to_string()).collect(),
            trees: Vec::new(),
            files: Vec::new(),
            env: vec![
                (
                    "PATH".into(),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ),
                ("LANG".into(), "C.UTF-8".into()),
            ],
        }
    }

    /// [`HostImage::shell_tools`] plus the system Python with its standard library and
    /// packages (pip, pytest when installed), curl and the CA certificates.
    pub fn python_tools() -> Self {
        let mut image = Self::shell_tools();
        image.repository = "drydock-host-python".into();
        image.programs.extend(["python3", "curl"].map(String::from));
        let python = std::fs::read_link("/usr/bin/python3")
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "python3".into());
        image.trees.extend(
            [
                format!("/usr/lib/{python}"),
                "/usr/lib/python3/dist-packages".into(),
                "/etc/ssl".into(),
                "/usr/lib/ssl".into(),
                "/usr/share/ca-certificates".into(),
                "/usr/local/share/ca-certificates".into(),
            ]
            .into_iter()
            .map(PathBuf::from)
            .filter(|p| p.is_dir()),
        );
        image
    }

    /// Resolves the recipe against this host.
    pub fn manifest(&self) -> Result<Manifest, HostImageError> {
        let mut manifest = Manifest::default();
        for (dir, mode) in [
            ("/", 0o755),
            ("/tmp", 0o1777),
            ("/workspace", 0o755),
            ("/proc", 0o555),
            ("/sys", 0o555),
            ("/dev", 0o755),
            ("/run", 0o755),
            ("/etc", 0o755),
            ("/root", 0o700),
        ] {
            manifest
                .entries
                .insert(PathBuf::from(dir), Entry::Dir(mode));
        }
        manifest.entries.insert(
            "/etc/passwd".into(),
            Entry::Content(
                b"root:x:0:0:root:/root:/bin/bash\nsandbox:x:1000:1000:sandbox:/tmp/home:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".to_vec(),
                0o644,
            ),
        );
        manifest.entries.insert(
            "/etc/group".into(),
            Entry::Content(
                b"root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n".to_vec(),
                0o644,
            ),
        );
        for program in &self.programs {
            let found = PROGRAM_DIRS
                .iter()
                .map(|dir| Path::new(dir).join(program))
                .find(|p| std::fs::symlink_metadata(p).is_ok());
            match found {
                Some(path) => add_path(&mut manifest, &path, 0)?,
                None => manifest.missing.push(program.clone()),
            }
        }
        for tree in &self.trees {
            add_path(&mut manifest, tree, 0)?;
            for entry in walkdir::WalkDir::new(tree).min_depth(1).follow_links(false) {
                let entry = entry.map_err(|err| HostImageError::Read {
                    path: tree.clone(),
                    source: std::io::Error::other(err),
                })?;
                let meta = entry.metadata().map_err(|err| HostImageError::Read {
                    path: entry.path().to_path_buf(),
                    source: std::io::Error::other(err),
                })?;
                let kind = if meta.is_dir() {
                    Entry::Dir(meta.mode() & 0o7777)
                } else if meta.file_type().is_symlink() {
                    let target =
                        std::fs::read_link(entry.path()).map_err(read_error(entry.path()))?;
                    Entry::Symlink(target)
                } else if meta.is_file() {
                    Entry::File(entry.path().to_path_buf())
                } else {
                    continue;
                };
                manifest.entries.insert(entry.path().to_path_buf(), kind);
            }
        }
        for file in &self.files {
            add_path(&mut manifest, file, 0)?;
        }
        let elves: Vec<PathBuf> = manifest
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::File(path) if is_elf(path) => Some(path.clone()),
                _ => None,
            })
            .collect();
        for batch in elves.chunks(LDD_BATCH) {
            for library in ldd(batch)? {
                add_path(&mut manifest, &library, 0)?;
            }
        }
        Ok(manifest)
    }

    /// The tag an image of `manifest` gets: `<repository>:<hash of recipe and files>`.
    pub fn reference(&self, manifest: &Manifest) -> Result<String, HostImageError> {
        let mut hash = Sha256::new();
        hash.update(FORMAT.as_bytes());
        for (key, value) in &self.env {
            hash.update(format!("env {key}={value}\n").as_bytes());
        }
        for (path, entry) in &manifest.entries {
            hash.update(path.as_os_str().as_encoded_bytes());
            match entry {
                Entry::Dir(mode) => hash.update(format!(" dir {mode:o}\n").as_bytes()),
                Entry::Symlink(target) => {
                    hash.update(b" link ");
                    hash.update(target.as_os_str().as_encoded_bytes());
                    hash.update(b"\n");
                }
                Entry::Content(content, mode) => {
                    hash.update(format!(" content {mode:o} ").as_bytes());
                    hash.update(Sha256::digest(content));
                }
                Entry::File(host) => {
                    let meta = std::fs::metadata(host).map_err(read_error(host))?;
                    hash.update(
                        format!(
                            " file {} {:o} {} {}.{}\n",
                            host.display(),
                            meta.mode(),
                            meta.len(),
                            meta.mtime(),
                            meta.mtime_nsec()
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        let digest = hex::encode(hash.finalize());
        Ok(format!("{}:{}", self.repository, &digest[..16]))
    }

    /// Builds and imports the image unless the daemon already has it; returns its reference.
    pub async fn ensure(&self, backend: &DockerBackend) -> Result<String, HostImageError> {
        let recipe = self.clone();
        let (manifest, reference) = tokio::task::spawn_blocking(move || {
            let manifest = recipe.manifest()?;
            let reference = recipe.reference(&manifest)?;
            Ok::<_, HostImageError>((manifest, reference))
        })
        .await
        .map_err(|err| HostImageError::Ldd(format!("the manifest task failed: {err}")))??;
        let client = backend.client();
        if client.inspect_image(&reference).await.is_ok() {
            return Ok(reference);
        }
        // One lock for every build on this machine: builds are rare, and one file is all that
        // is ever left behind.
        let lock_path = std::env::temp_dir().join("drydock-host-image.lock");
        let lock = tokio::task::spawn_blocking(move || lock_file(&lock_path))
            .await
            .map_err(|err| HostImageError::Ldd(format!("the lock task failed: {err}")))??;
        // Someone else may have built it while we waited for the lock.
        if client.inspect_image(&reference).await.is_ok() {
            drop(lock);
            return Ok(reference);
        }
        let archive = TempFile(
            std::env::temp_dir().join(format!("drydock-host-image-{}.tar", ulid::Ulid::generate())),
        );
        let archive_path = archive.0.clone();
        tokio::task::spawn_blocking(move || write_archive(&manifest, &archive_path))
            .await
            .map_err(|err| HostImageError::Ldd(format!("the archive task failed: {err}")))??;
        let result = import(client, &archive.0, &reference, &self.env).await;
        drop(archive);
        drop(lock);
        result?;
        self.prune_other_tags(backend, &reference).await;
        Ok(reference)
    }

    /// Removes earlier builds of this recipe (other tags of the repository), best effort: an
    /// image still used by a container stays.
    async fn prune_other_tags(&self, backend: &DockerBackend, keep: &str) {
        let client = backend.client();
        let options = bollard::query_parameters::ListImagesOptions {
            filters: Some(std::collections::HashMap::from([(
                "reference".to_string(),
                vec![self.repository.clone()],
            )])),
            ..Default::default()
        };
        let Ok(images) = client.list_images(Some(options)).await else {
            return;
        };
        let keep_tag = keep.rsplit_once(':').map_or("", |(_, tag)| tag);
        // Podman names an imported `repo:tag` `docker.io/library/repo:tag`.
        let ours = |repo: &str| {
            repo == self.repository || repo.ends_with(&format!("/{}", self.repository))
        };
        let stale: Vec<String> = images
            .into_iter()
            .flat_map(|image| image.repo_tags)
            .filter(|name| {
                name.rsplit_once(':')
                    .is_some_and(|(repo, tag)| ours(repo) && tag != keep_tag)
            })
            .collect();
        for tag in stale {
            let options = bollard::query_parameters::RemoveImageOptions {
                force: false,
                noprune: false,
                ..Default::default()
            };
            match client.remove_image(&tag, Some(options), None).await {
                Ok(_) => tracing::debug!(%tag, "removed an earlier host image"),
                Err(err) => tracing::debug!(%tag, %err, "keeping an earlier host image"),
            }
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> HostImageError {
    let path = path.to_path_buf();
    move |source| HostImageError::Read { path, source }
}

/// Adds `path` as the host has it: every directory above it, and each symlink on the way as a
/// symlink plus whatever it points to.
fn add_path(manifest: &mut Manifest, path: &Path, depth: usize) -> Result<(), HostImageError> {
    if depth > 40 {
        return Err(HostImageError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other("too many levels of symbolic links"),
        });
    }
    let mut prefix = PathBuf::from("/");
    let components: Vec<Component<'_>> = path.components().collect();
    for (index, component) in components.iter().enumerate() {
        let Component::Normal(name) = component else {
            continue;
        };
        prefix.push(name);
        let meta = std::fs::symlink_metadata(&prefix).map_err(read_error(&prefix))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&prefix).map_err(read_error(&prefix))?;
            manifest
                .entries
                .insert(prefix.clone(), Entry::Symlink(target.clone()));
            let base = prefix.parent().unwrap_or(Path::new("/"));
            let mut resolved = normalize(&base.join(&target));
            for rest in &components[index + 1..] {
                resolved.push(rest);
            }
            return add_path(manifest, &resolved, depth + 1);
        }
        if meta.is_dir() {
            manifest
                .entries
                .entry(prefix.clone())
                .or_insert(Entry::Dir(meta.mode() & 0o7777));
        } else if meta.is_file() && index + 1 == components.len() {
            manifest
                .entries
                .insert(prefix.clone(), Entry::File(prefix.clone()));
        }
    }
    Ok(())
}

/// Removes `.` and `..` lexically (the prefix it is applied to holds no symlinks).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\x7fELF"
}

/// Libraries (and loaders) the given ELF files need, as resolved on this host.
fn ldd(files: &[PathBuf]) -> Result<Vec<PathBuf>, HostImageError> {
    let output = std::process::Command::new("ldd")
        .args(files)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C")
        .output()
        .map_err(|err| HostImageError::Ldd(format!("running ldd: {err}")))?;
    // ldd fails when one of many files is not dynamic; what it printed is still right.
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_ldd(&text))
}

/// Every absolute path in `ldd` output (`name => /path (addr)` and `/loader (addr)` lines).
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim) {
        let candidate = match line.split_once(" => ") {
            Some((_, rest)) => rest,
            None => line,
        };
        let path = candidate.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/')
            && !path.ends_with(':')
            && !paths.iter().any(|p: &PathBuf| p == Path::new(path))
        {
            paths.push(PathBuf::from(path));
        }
    }
    paths
}

#[cfg(test)]
#[path = "host_image_tests.rs"]
mod tests;
