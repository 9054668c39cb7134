//! The sandbox's settings (`MINICODE_SANDBOX*`, `MINICODE_DOCKER_IMAGE`,
//! `MINICODE_NPM_REGISTRY`) and the one place they become a running
//! [`Sandboxes`]: which backend, its limits, its folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::backend::SandboxKind;
use super::{Backend, ManagerSettings, Sandboxes, docker, process};
use crate::events::EventBus;
use crate::workspace::Workspaces;

/// Read here ([`SandboxConfig::build`]) and by `maintenance` (idle
/// previews).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Sandbox")]
pub struct SandboxConfig {
    /// Which sandbox runs generated apps.
    #[arg(long = "sandbox", env = "MINICODE_SANDBOX", value_enum, default_value_t = SandboxKind::Process)]
    pub kind: SandboxKind,

    /// Seconds `npm install` may take.
    #[arg(
        long,
        env = "MINICODE_SANDBOX_INSTALL_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub install_timeout_secs: u64,

    /// Seconds the dev server may take to answer after starting.
    #[arg(
        long,
        env = "MINICODE_SANDBOX_START_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub start_timeout_secs: u64,

    /// Dev servers nobody used for this many minutes are stopped.
    #[arg(
        long = "sandbox-idle-minutes",
        env = "MINICODE_SANDBOX_IDLE_MINUTES",
        default_value_t = 30
    )]
    pub idle_minutes: u64,

    /// V8 heap limit of sandboxed Node.js processes, in MiB.
    #[arg(long, env = "MINICODE_SANDBOX_NODE_HEAP_MB", default_value_t = 1024)]
    pub node_heap_mb: u64,

    /// Open files allowed per sandboxed process.
    #[arg(
        long = "sandbox-open-files",
        env = "MINICODE_SANDBOX_OPEN_FILES",
        default_value_t = 8192
    )]
    pub open_files: u64,

    /// The npm cache and installed-module snapshots shared by every project
    /// (default: `<data dir>/sandbox/cache`).
    #[arg(long = "sandbox-cache-dir", env = "MINICODE_SANDBOX_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// npm registry for sandboxes (default: npm's own).
    #[arg(long, env = "MINICODE_NPM_REGISTRY")]
    pub npm_registry: Option<String>,

    /// Image of the docker sandbox (see sandbox/build-image.sh).
    #[arg(
        long,
        env = "MINICODE_DOCKER_IMAGE",
        default_value = "minicode-sandbox:latest"
    )]
    pub docker_image: String,

    /// Memory limit of one sandbox (a container, or a process sandbox's
    /// cgroup), in MiB.
    #[arg(
        long = "sandbox-memory-mb",
        env = "MINICODE_SANDBOX_MEMORY_MB",
        default_value_t = 2048
    )]
    pub memory_mb: i64,

    /// CPUs one sandbox may use.
    #[arg(
        long = "sandbox-cpus",
        env = "MINICODE_SANDBOX_CPUS",
        default_value_t = 1.0
    )]
    pub cpus: f64,

    /// Most processes in one sandbox.
    #[arg(
        long = "sandbox-pids",
        env = "MINICODE_SANDBOX_PIDS",
        default_value_t = 512
    )]
    pub pids: i64,

    /// The uid (and gid) process sandboxes run as when minicode itself runs
    /// as root; otherwise they run as minicode's own uid.
    #[arg(
        long = "sandbox-uid",
        env = "MINICODE_SANDBOX_UID",
        default_value_t = 100_000
    )]
    pub uid: u32,
}

impl SandboxConfig {
    /// Builds the configured backend and the manager around it. `data_dir`
    /// holds the sandboxes' state (`<data dir>/sandbox`) and, unless
    /// `MINICODE_SANDBOX_CACHE_DIR` says otherwise, their shared caches.
    pub async fn build(
        &self,
        data_dir: &Path,
        events: EventBus,
        workspaces: Workspaces,
    ) -> Result<Sandboxes, String> {
        let state_dir = data_dir.join("sandbox");
        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| state_dir.join("cache"));
        let npm_cache = cache_dir.join("npm");
        let backend: Arc<dyn Backend> = match self.kind {
            kind @ (SandboxKind::Process | SandboxKind::ProcessUnsafe) => {
                let limits = process::ProcessLimits {
                    open_files: self.open_files,
                    max_file_bytes: 1 << 30,
                    node_heap_mb: self.node_heap_mb,
                    pids: self.pids,
                    memory_mb: self.memory_mb,
                    cpus: self.cpus,
                };
                if kind == SandboxKind::ProcessUnsafe {
                    tracing::warn!(
                        "MINICODE_SANDBOX=process-unsafe: generated apps run as minicode's own user \
                         and can read its database and every workspace; registration closes after \
                         the first account"
                    );
                }
                let backend = process::ProcessBackend::new(
                    kind,
                    &state_dir,
                    &npm_cache,
                    limits,
                    self.uid,
                    self.pass_env(),
                )?;
                Arc::new(backend)
            }
            SandboxKind::Docker => {
                let limits = docker::DockerLimits {
                    memory_mb: self.memory_mb,
                    cpus: self.cpus,
                    pids: self.pids,
                    node_heap_mb: self.node_heap_mb,
                };
                // A cache of its own: the container user may differ from the
                // server's, and a process sandbox must not fill it with files
                // that user cannot write.
                let backend = docker::DockerBackend::connect(
                    &self.docker_image,
                    super::backend::instance_id(data_dir),
                    &state_dir,
                    &cache_dir.join("npm-docker"),
                    limits,
                    self.pass_env(),
                )
                .await
                .map_err(|e| e.to_string())?;
                Arc::new(backend)
            }
        };
        Sandboxes::new(
            backend,
            events,
            workspaces,
            ManagerSettings {
                install_timeout: Duration::from_secs(self.install_timeout_secs),
                start_timeout: Duration::from_secs(self.start_timeout_secs),
                cache_dir,
                state_dir,
            },
        )
        .map_err(|e| e.to_string())
    }

    /// The only variables of minicode's own environment sandboxes get: proxy
    /// settings (npm needs them to reach the registry) and the registry itself.
    fn pass_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "no_proxy",
        ]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
        if let Some(registry) = &self.npm_registry {
            env.push(("npm_config_registry".into(), registry.clone()));
        }
        env
    }
}
