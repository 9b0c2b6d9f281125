//! The stage executable as the container sees it: the binary, the host's dynamic loader and the
//! libraries it needs, each bind-mounted read-only, so our init and exec wrapper run in any image
//! (glibc, musl or none at all).
//!
//! A dynamically linked executable is started as `<loader> --inhibit-cache --library-path <dir>
//! <exe>`: the loader named by the executable's `PT_INTERP`, and the libraries the host resolves
//! for it (`<loader> --list <exe>`, what `ldd` runs). A static executable is started directly.

use std::path::{Path, PathBuf};

/// Where the bundle appears inside containers.
pub(crate) const BUNDLE_MOUNT: &str = "/run/drydock-stage";

/// A bundle could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleError {
    /// The executable cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The executable is not an ELF file this module understands.
    #[error("{path} is not a 64-bit little-endian ELF executable ({reason})")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The loader could not list the libraries.
    #[error("listing the libraries of {path} with {loader} failed: {message}")]
    List {
        /// The executable.
        path: PathBuf,
        /// The loader.
        loader: PathBuf,
        /// What happened.
        message: String,
    },
}

/// One file shown inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BundleFile {
    /// On the host.
    pub host: PathBuf,
    /// Inside the container.
    pub target: String,
}

/// The stage executable with what it needs to run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageBundle {
    /// Files to bind-mount read-only.
    pub files: Vec<BundleFile>,
    /// The argv prefix that runs the stage inside the container.
    pub launcher: Vec<String>,
}

impl StageBundle {
    /// Prepares the bundle for `exe`.
    pub(crate) fn for_executable(exe: &Path) -> Result<Self, BundleError> {
        let read_err = |source| BundleError::Read {
            path: exe.to_path_buf(),
            source,
        };
        let exe = exe.canonicalize().map_err(read_err)?;
        let bytes = read_head(&exe).map_err(read_err)?;
        let stage_target = format!("{BUNDLE_MOUNT}/stage");
        let stage = BundleFile {
            host: exe.clone(),
            target: stage_target.clone(),
        };
        let interpreter = elf_interpreter(&bytes).map_err(|reason| BundleError::NotElf {
            path: exe.clone(),
            reason,
        })?;
        let Some(interpreter) = interpreter else {
            return Ok(Self {
                files: vec![stage],
                launcher: vec![stage_target],
            });
        };
        let loader = PathBuf::from(&interpreter);
        let output = std::process::Command::new(&loader)
            .arg("--list")
            .arg(&exe)
            .env_clear()
            .output()
            .map_err(|err| BundleError::List {
                path: exe.clone(),
                loader: loader.clone(),
                message: err.to_string(),
            })?;
        if !output.status.success() {
            return Err(BundleError::List {
                path: exe.clone(),
                loader,
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let listed =
            parse_loader_list(&String::from_utf8_lossy(&output.stdout)).map_err(|message| {
                BundleError::List {
                    path: exe.clone(),
                    loader: loader.clone(),
                    message,
                }
            })?;
        let lib_dir = format!("{BUNDLE_MOUNT}/lib");
        let loader_name = file_name(&loader);
        let mut files = vec![stage];
        let loader_host = loader.canonicalize().map_err(|source| BundleError::Read {
            path: loader.clone(),
            source,
        })?;
        files.push(BundleFile {
            host: loader_host,
            target: format!("{lib_dir}/{loader_name}"),
        });
        for (name, path) in listed {
            let host = path.canonicalize().map_err(|source| BundleError::Read {
                path: path.clone(),
                source,
            })?;
            let target = format!("{lib_dir}/{name}");
            if !files.iter().any(|f| f.target == target) {
                files.push(BundleFile { host, target });
            }
        }
        Ok(Self {
            files,
            launcher: vec![
                format!("{lib_dir}/{loader_name}"),
                "--inhibit-cache".into(),
                "--library-path".into(),
                lib_dir,
                stage_target,
            ],
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The ELF header and program headers fit in the first 64 KiB of any sane executable.
fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF image, `None` for a static one.
pub(crate) fn elf_interpreter(bytes: &[u8]) -> Result<Option<String>, String> {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err("no ELF header".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err("not 64-bit little-endian".into());
    }
    // Offsets come from the file: every addition is checked.
    let field = |at: usize, len: usize| bytes.get(at..at.checked_add(len)?);
    let u16_at =
        |at: usize| -> Option<u16> { Some(u16::from_le_bytes(field(at, 2)?.try_into().ok()?)) };
    let u32_at =
        |at: usize| -> Option<u32> { Some(u32::from_le_bytes(field(at, 4)?.try_into().ok()?)) };
    let u64_at =
        |at: usize| -> Option<u64> { Some(u64::from_le_bytes(field(at, 8)?.try_into().ok()?)) };
    let truncated = || "truncated program headers".to_string();
    let phoff = usize::try_from(u64_at(0x20).ok_or_else(truncated)?).map_err(|_| truncated())?;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(truncated)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(truncated)?);
    if phentsize < 56 {
        return Err("bad program header size".into());
    }
    for index in 0..phnum {
        let at = phoff
            .checked_add(index.checked_mul(phentsize).ok_or_else(truncated)?)
            .ok_or_else(truncated)?;
        if u32_at(at).ok_or_else(truncated)? != PT_INTERP {
            continue;
        }
        let offset = usize::try_from(u64_at(at.saturating_add(8)).ok_or_else(truncated)?)
            .map_err(|_| truncated())?;
        let size = usize::try_from(u64_at(at.saturating_add(32)).ok_or_else(truncated)?)
            .map_err(|_| truncated())?;
        let raw = bytes
            .get(offset..offset.checked_add(size).ok_or_else(truncated)?)
            .ok_or("the interpreter path lies outside the first 64 KiB")?;
        let path = raw.split(|b| *b == 0).next().unwrap_or_default();
        let path = std::str::from_utf8(path).map_err(|_| "non-UTF-8 interpreter path")?;
        if !path.starts_with('/') {
            return Err(format!("interpreter {path:?} is not an absolute path"));
        }
        return Ok(Some(path.to_string()));
    }
    Ok(None)
}

/// Parses `ld.so --list` output into (soname, resolved path) pairs, skipping the vDSO and the
/// loader's own line.
pub(crate) fn parse_loader_list(text: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, rest)) = line.split_once(" => ") else {
            // `linux-vdso.so.1 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`.
            continue;
        };
        let path = rest.split(" (").next().unwrap_or("").trim();
        if path == "not found" || path.is_empty() {
            return Err(format!("{name} not found"));
        }
        if !path.starts_with('/') || name.contains('/') {
            return Err(format!("unexpected line {line:?}"));
        }
        libraries.push((name.to_string(), PathBuf::from(path)));
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn the_loader_list_gives_sonames_and_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_loader_list(text).unwrap(),
            vec![
                (
                    "libgcc_s.so.1".to_string(),
                    PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1")
                ),
                (
                    "libc.so.6".to_string(),
                    PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6")
                ),
            ]
        );
        assert!(parse_loader_list("\tlibfoo.so => not found\n").is_err());
        assert!(parse_loader_list("\t../evil.so => /x (0x1)\n").is_err());
    }

    #[test]
    fn interpreters_are_read_from_real_binaries_and_garbage_is_refused() {
        let this = read_head(&std::env::current_exe().unwrap()).unwrap();
        let interp = elf_interpreter(&this).unwrap();
        // Test binaries are dynamically linked on glibc hosts; a musl static build has none.
        if let Some(interp) = interp {
            assert!(Path::new(&interp).exists(), "{interp}");
        }
        assert!(elf_interpreter(b"#!/bin/sh\necho hi\n").is_err());
        assert!(elf_interpreter(&[0x7f, b'E', b'L', b'F']).is_err());
        let mut truncated = this.clone();
        truncated.truncate(70);
        assert!(
            elf_interpreter(&truncated).is_err() || elf_interpreter(&truncated).unwrap().is_none()
        );
        // A header whose program headers point far away is an error, not a panic.
        let mut bogus = this[..64].to_vec();
        bogus[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        bogus[0x38..0x3a].copy_from_slice(&4u16.to_le_bytes());
        assert!(elf_interpreter(&bogus).is_err());
    }

    #[test]
    fn a_bundle_for_this_binary_mounts_the_loader_and_its_libraries() {
        let bundle = StageBundle::for_executable(&std::env::current_exe().unwrap()).unwrap();
        assert_eq!(bundle.files[0].target, "/run/drydock-stage/stage");
        assert_eq!(bundle.launcher.last().unwrap(), "/run/drydock-stage/stage");
        if bundle.launcher.len() > 1 {
            assert!(bundle.launcher[0].starts_with("/run/drydock-stage/lib/ld-"));
            assert!(
                bundle
                    .files
                    .iter()
                    .any(|f| f.target.ends_with("/libc.so.6")),
                "{bundle:?}"
            );
        }
        for file in &bundle.files {
            assert!(file.host.is_file(), "{file:?}");
        }
        assert!(StageBundle::for_executable(Path::new("/nonexistent/drydock")).is_err());
        let script = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(script.path(), "#!/bin/sh\n").unwrap();
        assert!(matches!(
            StageBundle::for_executable(script.path()),
            Err(BundleError::NotElf { .. })
        ));
    }
}
