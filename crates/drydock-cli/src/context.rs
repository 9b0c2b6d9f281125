//! What commands share: the data directory, the configuration, the store, the sandbox backends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drydock_orchestrator::{BackendProvider, Config, Platform};
use drydock_sandbox::{
    Backend, BackendKind, DockerBackend, DockerOptions, LocalBackend, LocalOptions, SandboxError,
};
use drydock_store::{SqliteStore, Store};

use crate::cli::GlobalArgs;
use crate::output::CliError;

/// The data directory: `--data-dir`, else `$XDG_DATA_HOME/drydock` (`~/.local/share/drydock`).
pub fn data_dir(global: &GlobalArgs) -> Result<PathBuf, CliError> {
    if let Some(dir) = &global.data_dir {
        return Ok(dir.clone());
    }
    dirs::data_dir().map(|d| d.join("drydock")).ok_or_else(|| {
        CliError::input("cannot find a data directory: set --data-dir or DRYDOCK_DATA_DIR")
    })
}

/// The configuration and the directory its relative paths are resolved against.
pub fn config(global: &GlobalArgs) -> Result<(Config, PathBuf), CliError> {
    let explicit = global.config.clone();
    let path = explicit.clone().or_else(|| {
        dirs::config_dir()
            .map(|d| d.join("drydock").join("drydock.toml"))
            .filter(|p| p.is_file())
    });
    match path {
        Some(path) => {
            let config = Config::load(&path).map_err(|err| CliError::input(err.to_string()))?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok((config, dir))
        }
        None => Ok((
            Config::default(),
            std::env::current_dir().unwrap_or_default(),
        )),
    }
}

/// Opens the store in the data directory.
pub async fn store(global: &GlobalArgs) -> Result<Arc<dyn Store>, CliError> {
    let dir = data_dir(global)?;
    let path = dir.join("drydock.db");
    let store = SqliteStore::open(&path)
        .await
        .map_err(|err| CliError::internal(format!("opening {}: {err}", path.display())))?;
    Ok(Arc::new(store))
}

/// Opens the store only if the data directory already holds one (read-only commands on a fresh
/// machine should say "no tasks", not create files).
pub async fn existing_store(global: &GlobalArgs) -> Result<Option<Arc<dyn Store>>, CliError> {
    let path = data_dir(global)?.join("drydock.db");
    if !path.exists() {
        return Ok(None);
    }
    store(global).await.map(Some)
}

/// The sandbox backends of this machine; the local one re-executes this binary as its inner stage.
#[derive(Debug)]
pub struct Backends {
    runtime_dir: PathBuf,
}

impl Backends {
    /// Backends keeping their session state under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            runtime_dir: data_dir.join("sandbox"),
        }
    }

    /// The local backend.
    pub fn local(&self) -> Result<LocalBackend, SandboxError> {
        let mut options = LocalOptions::new(own_executable("local")?);
        options.runtime_dir = Some(self.runtime_dir.clone());
        LocalBackend::new(options)
    }

    /// The docker backend: connects to the daemon (`DOCKER_HOST` or `/var/run/docker.sock`; a
    /// Podman API socket works the same) and removes containers a dead drydock left behind.
    pub async fn docker(&self) -> Result<DockerBackend, SandboxError> {
        DockerBackend::connect(DockerOptions::new(own_executable("docker")?)).await
    }
}

/// This executable: the sandboxes run it as their inner stage.
fn own_executable(backend: &str) -> Result<PathBuf, SandboxError> {
    std::env::current_exe().map_err(|err| SandboxError::Setup {
        backend: backend.into(),
        message: format!("cannot find drydock's own executable: {err}"),
    })
}

#[async_trait::async_trait]
impl BackendProvider for Backends {
    async fn backend(&self, kind: BackendKind) -> Result<Arc<dyn Backend>, SandboxError> {
        match kind {
            BackendKind::Local => Ok(Arc::new(self.local()?)),
            BackendKind::Docker => Ok(Arc::new(self.docker().await?)),
        }
    }
}

/// Everything a task-running command needs.
pub async fn platform(global: &GlobalArgs) -> Result<Platform, CliError> {
    let (config, config_dir) = config(global)?;
    let data_dir = data_dir(global)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|err| CliError::internal(format!("creating {}: {err}", data_dir.display())))?;
    Ok(Platform {
        store: store(global).await?,
        config,
        config_dir,
        backends: Arc::new(Backends::new(&data_dir)),
        data_dir,
        env: Arc::new(|name: &str| std::env::var(name).ok()),
    })
}
