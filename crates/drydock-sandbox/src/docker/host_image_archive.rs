//! Writing a manifest as a root file system archive, and importing it into the daemon.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;

use super::{Entry, HostImageError, Manifest, read_error};

/// Takes an exclusive lock on `path` (blocking), released when the returned file is dropped.
pub(super) fn lock_file(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, HostImageError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(read_error(path))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
        HostImageError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::from(errno),
        }
    })
}

/// A file removed when dropped.
pub(super) struct TempFile(pub(super) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn write_archive(manifest: &Manifest, path: &Path) -> Result<(), HostImageError> {
    let archive_error = |source| HostImageError::Archive {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(archive_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(archive_error)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    builder.mode(tar::HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    for (absolute, entry) in &manifest.entries {
        let Ok(relative) = absolute.strip_prefix("/") else {
            continue;
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::Dir(mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder
                    .append_data(&mut header, relative, std::io::empty())
                    .map_err(archive_error)?;
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, relative, target)
                    .map_err(archive_error)?;
            }
            Entry::Content(content, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(content.len() as u64);
                builder
                    .append_data(&mut header, relative, &content[..])
                    .map_err(archive_error)?;
            }
            Entry::File(host) => {
                let mut file = std::fs::File::open(host).map_err(read_error(host))?;
                builder
                    .append_file(relative, &mut file)
                    .map_err(archive_error)?;
            }
        }
    }
    builder
        .into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(archive_error)?;
    Ok(())
}

pub(super) async fn import(
    client: &bollard::Docker,
    archive: &Path,
    reference: &str,
    env: &[(String, String)],
) -> Result<(), HostImageError> {
    let import_error = |message: String| HostImageError::Import {
        reference: reference.to_string(),
        message,
    };
    let file = tokio::fs::File::open(archive)
        .await
        .map_err(read_error(archive))?;
    let chunks = futures::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), file))
            }
            Err(err) => Some((Err(err), file)),
        }
    });
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        // The tag inside `repo` (the API allows it): Podman ignores a separate `tag`.
        repo: Some(reference.into()),
        changes: env.iter().map(|(k, v)| format!("ENV {k}={v}")).collect(),
        ..CreateImageOptions::default()
    };
    let mut progress =
        client.create_image(Some(options), Some(bollard::body_try_stream(chunks)), None);
    while let Some(item) = progress.next().await {
        item.map_err(|err| import_error(crate::docker::client::message_of(&err)))?;
    }
    client.inspect_image(reference).await.map_err(|err| {
        import_error(format!(
            "not found after the import: {}",
            crate::docker::client::message_of(&err)
        ))
    })?;
    Ok(())
}
