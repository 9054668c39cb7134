//! What a sandbox backend does. The orchestration (installing, starting the
//! dev server, readiness, restarts, logs) is shared in `sandbox/mod.rs`; a
//! backend only knows how to run commands in a project's isolated
//! environment: child processes (`process.rs`) or a container (`docker.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sha2::{Digest, Sha256};

use super::SandboxError;
use super::logs::LogSink;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One project as a backend sees it.
#[derive(Clone, Debug)]
pub struct ProjectEnv {
    pub id: Uuid,
    /// The workspace folder on the host.
    pub workspace: PathBuf,
    /// The port allocated to the project's dev server on 127.0.0.1. Known
    /// before the first step, so a container can publish it when created.
    pub port: u16,
    /// The store entry's `node_modules` the project uses (see `deps.rs`),
    /// given to the app read-only; `None` before the first install.
    pub modules: Option<PathBuf>,
}

/// A command to run in the project's environment, from its workspace folder.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    /// Shown in the log: what minicode ran.
    pub label: String,
    pub program: String,
    pub args: Vec<String>,
    /// Added to the sandbox's clean environment.
    pub env: Vec<(String, String)>,
}

/// An npm command with minicode's usual flags (quiet, no audit, no fund).
pub fn npm_command(label: &str, args: &[&str]) -> CommandSpec {
    CommandSpec {
        label: label.into(),
        program: "npm".into(),
        args: args
            .iter()
            .chain(&[
                "--no-audit",
                "--no-fund",
                "--no-progress",
                "--loglevel=warn",
            ])
            .map(|s| s.to_string())
            .collect(),
        env: Vec::new(),
    }
}

/// Makes `uid:gid` own every entry under `dir` (not following symlinks).
/// Only for folders no sandbox can write while it runs (the npm cache):
/// between the check and the walk, a writer could swap a folder for a
/// symlink and send the walk out.
/// Entries already owned are only stat'ed, so repeated calls are cheap.
pub fn hand_over_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if std::os::unix::fs::MetadataExt::uid(&meta) != uid
            || std::os::unix::fs::MetadataExt::gid(&meta) != gid
        {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// A long-running command (the dev server).
pub struct Running {
    /// Becomes `Some(exit code)` when the process ends (`-1` if killed by a signal).
    pub exited: watch::Receiver<Option<i32>>,
    /// Where minicode reaches the server on 127.0.0.1.
    pub address: SocketAddr,
}

pub trait Backend: Send + Sync + 'static {
    fn kind(&self) -> SandboxKind;

    /// Runs a command to completion, streaming its output into `logs`.
    /// Non-zero exit, timeout and cancellation are errors; on timeout or
    /// cancellation the command and all its children are killed.
    fn run<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>>;

    /// Installs the packages of `staging/package.json` (a manifest minicode
    /// wrote: dependency sections only) into `staging/node_modules`: first
    /// the download with scripts off (the only step with network), then the
    /// packages' install scripts with no network. Only `staging` is writable.
    fn install_modules<'a>(
        &'a self,
        project: &'a ProjectEnv,
        staging: &'a Path,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>>;

    /// Makes `project.modules` the app's `node_modules` (mounting backends
    /// do it when each command starts; the unsafe one copies, unless its
    /// copy of that entry is still there). Called on every install step, so
    /// it must be cheap when nothing changed.
    fn attach_modules<'a>(
        &'a self,
        project: &'a ProjectEnv,
    ) -> BoxFuture<'a, Result<(), SandboxError>>;

    /// Starts the dev server, which listens on `project.port` inside the
    /// sandbox; the backend makes it reachable on 127.0.0.1:`project.port`.
    fn spawn_server<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
    ) -> BoxFuture<'a, Result<Running, SandboxError>>;

    /// Kills everything the project runs (the dev server, a running install).
    fn stop<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()>;

    /// Stops and removes the project's environment (its container, if any).
    fn destroy<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()>;

    /// Removes what a previous minicode left running (after a crash).
    fn reap_orphans(&self) -> BoxFuture<'_, usize>;

    /// The address the dev server must listen on inside the sandbox.
    fn listen_host(&self) -> &'static str;
}

/// Finds `program` on `PATH` (bubblewrap, node), as a shell would.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The instance label of a minicode: derived from its data folder, so a
/// restart with the same folder finds its orphans and two servers with
/// different folders never reap each other's containers.
pub fn instance_id(data_dir: &Path) -> String {
    let path = data_dir
        .canonicalize()
        .unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(path.display().to_string().as_bytes());
    hex::encode(&digest[..6])
}

/// Which sandbox runs the generated apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxKind {
    /// Child processes of minicode, each isolated by bubblewrap (namespaces,
    /// a read-only system, no network but the install's, an unprivileged
    /// uid, cgroup limits). No daemon needed.
    Process,
    /// One Docker container per project.
    Docker,
    /// Child processes of minicode with no isolation at all: generated code
    /// can read the database and every workspace. Only for a machine where
    /// the one account is its owner; registration closes after it.
    ProcessUnsafe,
}

impl SandboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxKind::Process => "process",
            SandboxKind::Docker => "docker",
            SandboxKind::ProcessUnsafe => "process-unsafe",
        }
    }
}
