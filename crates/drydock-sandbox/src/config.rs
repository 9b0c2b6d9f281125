use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which backend runs a task's commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// bubblewrap namespaces plus seccomp and Landlock, started in milliseconds.
    #[default]
    Local,
    /// One container per task session, through the Docker (or Podman) API.
    Docker,
}

/// `[sandbox]`: the backend and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The backend.
    pub backend: BackendKind,
    /// Memory per session in MiB.
    pub memory_mb: u64,
    /// Processes (and threads) per session.
    pub max_processes: u64,
    /// Disk the workspace may grow by, in MiB.
    pub disk_mb: u64,
    /// Docker: the image to run commands in.
    pub image: Option<String>,
    /// Docker: the OCI runtime (`runsc` for gVisor); `None` for the daemon's default.
    pub runtime: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            backend: BackendKind::Local,
            memory_mb: 4096,
            max_processes: 512,
            disk_mb: 4096,
            image: None,
            runtime: None,
        }
    }
}

/// `[network]`: where commands in the sandbox may connect, through the egress proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Host globs allowed (`crates.io`, `*.pythonhosted.org`); `[]` means offline.
    pub allow: Vec<String>,
    /// Host globs refused even when allowed; deny wins.
    pub deny: Vec<String>,
    /// Private, loopback and link-local destinations allowed explicitly (host globs or CIDRs).
    pub allow_private: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            allow: DEFAULT_REGISTRIES.iter().map(|h| h.to_string()).collect(),
            deny: Vec::new(),
            allow_private: Vec::new(),
        }
    }
}

/// The package registries a task may reach by default.
pub const DEFAULT_REGISTRIES: &[&str] = &[
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "proxy.golang.org",
    "sum.golang.org",
    "repo.maven.apache.org",
    "rubygems.org",
];
