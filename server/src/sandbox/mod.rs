//! Sandboxes: each project's app runs in isolation, and minicode drives it
//! through a few steps: install dependencies, start the dev server, watch it,
//! restart it, stop it. The steps are the same for every backend; what runs
//! the commands is the [`Backend`] chosen by configuration (`process` or
//! `docker`).
//!
//! Every step reports through the project's event log: `sandbox_log` lines
//! (batched), `deps_installed`, `server_started {url}`, and `error` with the
//! last lines of the log when something fails.

pub mod backend;
pub(crate) mod bridge;
pub(crate) mod bwrap;
pub(crate) mod cgroup;
pub mod config;
pub(crate) mod deps;
pub mod docker;
pub(crate) mod layout;
pub mod logs;
pub(crate) mod ports;
pub(crate) mod process;
pub(crate) mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minicode::protocol::ServerEvent;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use backend::{Backend, SandboxKind};
use backend::{CommandSpec, ProjectEnv};
use logs::{LogBuffer, LogSink};
use ports::Ports;

use crate::events::EventBus;
use crate::workspace::Workspaces;

/// Log lines attached to errors.
pub const ERROR_TAIL_LINES: usize = 30;
/// Attempts at finding a port nobody else grabs first.
const PORT_ATTEMPTS: usize = 3;

#[derive(Clone, Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not start `{program}`: {message}")]
    Spawn { program: String, message: String },
    #[error("`{label}` failed with exit code {code}")]
    CommandFailed {
        label: String,
        code: i32,
        log_tail: Vec<String>,
    },
    #[error("`{label}` did not finish within {secs} s")]
    Timeout {
        label: String,
        secs: u64,
        log_tail: Vec<String>,
    },
    #[error("the step was cancelled")]
    Cancelled,
    #[error("the project has no package.json yet")]
    NoPackageJson,
    #[error("{0}")]
    InvalidPackageJson(String),
    #[error("vite is not installed: add it to package.json's devDependencies")]
    NoVite,
    #[error("port {port} is already in use")]
    PortConflict { port: u16, log_tail: Vec<String> },
    #[error("the dev server exited with code {code} before it was ready")]
    ServerExited { code: i32, log_tail: Vec<String> },
    #[error("the dev server was not ready after {secs} s")]
    NotReady { secs: u64, log_tail: Vec<String> },
    #[error("docker: {0}")]
    Docker(String),
    #[error("{0}")]
    Io(String),
}

impl SandboxError {
    /// The log lines explaining the failure, if it carries them.
    pub fn log_tail(&self) -> &[String] {
        match self {
            SandboxError::CommandFailed { log_tail, .. }
            | SandboxError::Timeout { log_tail, .. }
            | SandboxError::PortConflict { log_tail, .. }
            | SandboxError::ServerExited { log_tail, .. }
            | SandboxError::NotReady { log_tail, .. } => log_tail,
            _ => &[],
        }
    }

    fn with_tail(mut self, tail: Vec<String>) -> Self {
        match &mut self {
            SandboxError::CommandFailed { log_tail, .. }
            | SandboxError::Timeout { log_tail, .. }
            | SandboxError::PortConflict { log_tail, .. }
            | SandboxError::ServerExited { log_tail, .. }
            | SandboxError::NotReady { log_tail, .. } => *log_tail = tail,
            _ => {}
        }
        self
    }

    /// The `error` event clients see.
    pub fn to_event(&self) -> ServerEvent {
        ServerEvent::Error {
            message: self.to_string(),
            code: "SANDBOX_ERROR".into(),
            log_tail: Some(self.log_tail().to_vec()).filter(|t| !t.is_empty()),
        }
    }
}

/// Timeouts and folders, from the configuration.
#[derive(Clone, Debug)]
pub struct ManagerSettings {
    pub install_timeout: Duration,
    pub start_timeout: Duration,
    /// The store of installed modules lives here (see `deps.rs`).
    pub cache_dir: PathBuf,
    /// minicode's own records (which store entry each project uses).
    pub state_dir: PathBuf,
}

/// Where a project's sandbox is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Stopped,
    Installing,
    Starting,
    Running,
    /// The dev server exited on its own; the next preview request restarts it.
    Crashed,
    /// The last step failed (see `error`).
    Failed,
}

/// A project's sandbox as the API reports it.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub phase: Phase,
    pub url: Option<String>,
    pub error: Option<String>,
    pub log_tail: Vec<String>,
}

/// The type declarations of a project's installed dependencies, for the
/// editor's type checker (see [`deps::type_files`]).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Types {
    /// Whether the project's dependencies are installed; if not, `files` is
    /// empty and the editor asks again after `deps_installed`.
    pub installed: bool,
    /// Whether the size caps left files out.
    pub truncated: bool,
    pub files: Vec<deps::TypeFile>,
    /// Names the installed modules: equal tags, equal files.
    #[serde(skip)]
    pub tag: Option<String>,
}

/// A sandbox that holds resources, as [`Sandboxes::active`] lists it.
#[derive(Clone, Copy, Debug)]
pub struct ActiveSandbox {
    pub project: Uuid,
    pub phase: Phase,
    /// Since the preview was last served or a step last began.
    pub unused_for: Duration,
}

struct Slot {
    /// One lifecycle step at a time per project.
    step: tokio::sync::Mutex<()>,
    logs: LogBuffer,
    sink: LogSink,
    state: Mutex<SlotState>,
}

struct SlotState {
    phase: Phase,
    port: Option<u16>,
    address: Option<SocketAddr>,
    error: Option<String>,
    last_used: Instant,
    /// Bumped on every start and every stop on purpose, so a crash watcher
    /// of a server that is no longer current stays quiet.
    generation: u64,
    /// Cancels the step in progress (install or start).
    cancel: CancellationToken,
}

impl SlotState {
    /// Forgets the running dev server before it is killed, so the exit its
    /// crash watcher is about to see does not count as a crash.
    fn retire_server(&mut self, next: Phase) {
        self.phase = next;
        self.address = None;
        self.generation += 1;
    }
}

/// Every project's sandbox. Shared by the whole server.
#[derive(Clone)]
pub struct Sandboxes {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    events: EventBus,
    workspaces: Workspaces,
    config: ManagerSettings,
    ports: Ports,
    http: reqwest::Client,
    slots: Mutex<HashMap<Uuid, Arc<Slot>>>,
    store: deps::Store,
    attached: deps::Attached,
    /// One build per store entry at a time: projects with the same
    /// dependencies wait for the first one instead of installing twice.
    building: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The preview URL of a project, relative to minicode's origin.
pub fn preview_path(project: Uuid) -> String {
    format!("/preview/{project}/")
}

impl Sandboxes {
    pub fn new(
        backend: Arc<dyn Backend>,
        events: EventBus,
        workspaces: Workspaces,
        config: ManagerSettings,
    ) -> std::io::Result<Self> {
        let store = deps::Store::new(&config.cache_dir);
        let attached = deps::Attached::new(&config.state_dir)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                events,
                workspaces,
                config,
                ports: Ports::default(),
                http,
                slots: Mutex::default(),
                store,
                attached,
                building: tokio::sync::Mutex::default(),
            }),
        })
    }

    pub fn kind(&self) -> SandboxKind {
        self.inner.backend.kind()
    }

    fn slot(&self, project: Uuid) -> Arc<Slot> {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry(project)
            .or_insert_with(|| {
                let logs = LogBuffer::default();
                Arc::new(Slot {
                    step: tokio::sync::Mutex::new(()),
                    sink: LogSink::spawn(project, logs.clone(), self.inner.events.clone()),
                    logs,
                    state: Mutex::new(SlotState {
                        phase: Phase::Stopped,
                        port: None,
                        address: None,
                        error: None,
                        last_used: Instant::now(),
                        generation: 0,
                        cancel: CancellationToken::new(),
                    }),
                })
            })
            .clone()
    }

    fn env(&self, project: Uuid, slot: &Slot) -> Result<ProjectEnv, SandboxError> {
        Ok(ProjectEnv {
            id: project,
            workspace: self.inner.workspaces.dir(project),
            port: self.port_for(slot)?,
            modules: self
                .inner
                .attached
                .get(project)
                .and_then(|hash| self.inner.store.modules(&hash)),
        })
    }

    async fn publish(&self, project: Uuid, event: ServerEvent) {
        self.inner.events.emit(project, event).await;
    }

    /// Records a failure: the slot's state, the log, and an `error` event.
    async fn fail(&self, project: Uuid, slot: &Slot, error: SandboxError) -> SandboxError {
        let error = match error.log_tail().is_empty() {
            true => {
                let tail = slot.logs.tail(ERROR_TAIL_LINES);
                error.with_tail(tail)
            }
            false => error,
        };
        if !matches!(error, SandboxError::Cancelled) {
            slot.sink.system(format!("error: {error}"));
            tracing::warn!(project_id = %project, error = %error, "sandbox step failed");
            self.publish(project, error.to_event()).await;
        }
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        state.phase = if matches!(error, SandboxError::Cancelled) {
            Phase::Stopped
        } else {
            Phase::Failed
        };
        state.error = Some(error.to_string());
        error
    }

    /// A fresh cancellation token for the next step, linked to the caller's.
    fn begin_step(slot: &Slot, phase: Phase, caller: &CancellationToken) -> CancellationToken {
        let token = caller.child_token();
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        state.phase = phase;
        state.error = None;
        state.cancel = token.clone();
        state.last_used = Instant::now();
        token
    }

    /// Installs the project's dependencies unless they are up to date.
    #[tracing::instrument(name = "sandbox.install", skip_all, fields(project_id = %project))]
    pub async fn install(
        &self,
        project: Uuid,
        cancel: &CancellationToken,
    ) -> Result<(), SandboxError> {
        let slot = self.slot(project);
        let _step = slot.step.lock().await;
        // A running dev server keeps serving while the dependencies are
        // checked (a later phase's new files reach it by Vite's own reload);
        // it is stopped only if they must be installed again.
        let phase = if self.is_running(&slot) {
            Phase::Running
        } else {
            Phase::Installing
        };
        let token = Self::begin_step(&slot, phase, cancel);
        match self.install_locked(project, &slot, &token).await {
            Ok((changed, how)) => {
                slot.sink.system(how);
                {
                    let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                    if state.phase != Phase::Running {
                        state.phase = Phase::Stopped;
                    }
                }
                self.publish(project, ServerEvent::DepsInstalled { changed })
                    .await;
                Ok(())
            }
            Err(e) => {
                // Never leave a server running that the state calls failed:
                // the next start would find its port taken.
                self.stop_dev_server(project, &slot, "the dependencies could not be installed")
                    .await;
                Err(self.fail(project, &slot, e).await)
            }
        }
    }

    /// Pins the dependencies the project asks for as `latest` to a caret
    /// range of the version installed (`deps::pin_latest`) and returns the
    /// new package.json for the caller to store, or `None` if there was
    /// nothing to pin. The pinned file names the same module store entry, so
    /// it is not installed again. Called right after [`Sandboxes::install`].
    #[tracing::instrument(name = "sandbox.pin_installed", skip_all, fields(project_id = %project))]
    pub async fn pin_installed(&self, project: Uuid) -> Result<Option<String>, SandboxError> {
        let slot = self.slot(project);
        let _step = slot.step.lock().await;
        let package_json = self.package_json(project).await?;
        let flavour = self.inner.backend.kind().as_str();
        let wanted =
            deps::read(&package_json, flavour).map_err(SandboxError::InvalidPackageJson)?;
        let Some(attached) = self.inner.attached.get(project) else {
            return Ok(None);
        };
        // Only what this package.json installed can pin it.
        let Some(modules) = self.inner.store.modules(&attached) else {
            return Ok(None);
        };
        if self.inner.store.modules(&wanted.hash).as_ref() != Some(&modules) {
            return Ok(None);
        }
        let Some(pinned) =
            deps::pin_latest(&package_json, &modules).map_err(SandboxError::InvalidPackageJson)?
        else {
            return Ok(None);
        };
        let renamed =
            deps::read(pinned.as_bytes(), flavour).map_err(SandboxError::InvalidPackageJson)?;
        let io = |e: std::io::Error| SandboxError::Io(e.to_string());
        self.inner
            .store
            .alias(&renamed.hash, &attached)
            .map_err(io)?;
        self.inner
            .attached
            .set(project, &renamed.hash)
            .map_err(io)?;
        Ok(Some(pinned))
    }

    /// The workspace's package.json.
    async fn package_json(&self, project: Uuid) -> Result<Vec<u8>, SandboxError> {
        let path = crate::workspace::RelPath::parse("package.json")
            .map_err(|_| SandboxError::NoPackageJson)?;
        self.inner
            .workspaces
            .read(project, &path)
            .await
            .map_err(|_| SandboxError::NoPackageJson)
    }

    /// Stops the dev server if it runs (the caller holds the step lock).
    async fn stop_dev_server(&self, project: Uuid, slot: &Slot, why: &str) {
        {
            let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.phase != Phase::Running {
                return;
            }
            state.retire_server(Phase::Installing);
        }
        slot.sink.system(format!("stopping the dev server: {why}"));
        self.inner.backend.stop(project).await;
    }

    async fn install_locked(
        &self,
        project: Uuid,
        slot: &Slot,
        cancel: &CancellationToken,
    ) -> Result<(bool, &'static str), SandboxError> {
        let mut env = self.env(project, slot)?;
        let package_json = self.package_json(project).await?;
        let flavour = self.inner.backend.kind().as_str();
        let wanted =
            deps::read(&package_json, flavour).map_err(SandboxError::InvalidPackageJson)?;
        let current = self.inner.attached.get(project);
        // The same hash, or another name of the same entry (a pinned
        // package.json, see `pin_installed`).
        let same_entry = current.as_deref() == Some(wanted.hash.as_str())
            || current
                .as_deref()
                .and_then(|c| self.inner.store.modules(c))
                .is_some_and(|m| self.inner.store.modules(&wanted.hash).as_ref() == Some(&m));
        if same_entry && env.modules.is_some() {
            // Cheap when nothing changed (a copying backend re-copies only
            // what the idle clean-up removed).
            self.inner.backend.attach_modules(&env).await?;
            return Ok((false, "dependencies are up to date"));
        }
        // node_modules is about to change under it.
        self.stop_dev_server(project, slot, "the dependencies changed")
            .await;
        let (modules, how) = self.store_entry(&env, &wanted, slot, cancel).await?;
        env.modules = Some(modules);
        self.inner.backend.attach_modules(&env).await?;
        self.inner
            .attached
            .set(project, &wanted.hash)
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        Ok((true, how))
    }

    /// The store entry for `wanted`, installed first if there is none.
    async fn store_entry(
        &self,
        env: &ProjectEnv,
        wanted: &deps::Dependencies,
        slot: &Slot,
        cancel: &CancellationToken,
    ) -> Result<(PathBuf, &'static str), SandboxError> {
        let io = |e: std::io::Error| SandboxError::Io(e.to_string());
        let lock = self
            .inner
            .building
            .lock()
            .await
            .entry(wanted.hash.clone())
            .or_default()
            .clone();
        let _building = lock.lock().await;
        if let Some(modules) = self.inner.store.modules(&wanted.hash) {
            return Ok((modules, "dependencies taken from the module store"));
        }
        let staging = self.inner.store.stage(wanted).map_err(io)?;
        let installed = self
            .inner
            .backend
            .install_modules(
                env,
                &staging,
                slot.sink.clone(),
                self.inner.config.install_timeout,
                cancel.clone(),
            )
            .await;
        if let Err(e) = installed {
            self.inner.store.discard(&staging);
            return Err(e);
        }
        let store = self.inner.store.clone();
        let hash = wanted.hash.clone();
        let modules = tokio::task::spawn_blocking(move || store.commit(&staging, &hash))
            .await
            .map_err(|e| SandboxError::Io(e.to_string()))?
            .map_err(io)?;
        Ok((modules, "dependencies installed"))
    }

    /// Runs the app's production build (`vite build`, base `/`) into `out`, a
    /// folder of the workspace, with the same isolation as the dev server
    /// (which keeps running). The output is the sandbox's: the caller reads
    /// it as hostile (`WorkspaceDir::walk_in`). A failure is written to the
    /// console but not announced as the sandbox's error: publishing reports
    /// a failed build its own way and keeps the preview as it was.
    #[tracing::instrument(name = "sandbox.build", skip_all, fields(project_id = %project))]
    pub async fn build(
        &self,
        project: Uuid,
        out: &str,
        cancel: &CancellationToken,
    ) -> Result<(), SandboxError> {
        let slot = self.slot(project);
        let _step = slot.step.lock().await;
        let env = self.env(project, &slot)?;
        if !env
            .modules
            .as_ref()
            .is_some_and(|m| m.join("vite/bin/vite.js").is_file())
        {
            return Err(SandboxError::NoVite);
        }
        let command = CommandSpec {
            label: "vite build".into(),
            program: "node".into(),
            args: [
                "node_modules/vite/bin/vite.js",
                "build",
                "--outDir",
                out,
                "--emptyOutDir",
                "--base",
                "/",
                "--logLevel",
                "info",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            env: vec![("NODE_ENV".into(), "production".into())],
        };
        slot.sink
            .system("building the app for publishing (vite build)");
        let result = self
            .inner
            .backend
            .run(
                &env,
                command,
                slot.sink.clone(),
                self.inner.config.install_timeout,
                cancel.child_token(),
            )
            .await;
        match result {
            Err(e) if e.log_tail().is_empty() && !matches!(e, SandboxError::Cancelled) => {
                slot.sink.system(format!("error: {e}"));
                Err(e.with_tail(slot.logs.tail(ERROR_TAIL_LINES)))
            }
            Err(e) => {
                slot.sink.system(format!("error: {e}"));
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    /// Starts the dev server (if it is not running) and waits until it answers.
    /// Returns the preview URL.
    #[tracing::instrument(name = "sandbox.start", skip_all, fields(project_id = %project))]
    pub async fn start(
        &self,
        project: Uuid,
        cancel: &CancellationToken,
    ) -> Result<String, SandboxError> {
        let slot = self.slot(project);
        let _step = slot.step.lock().await;
        if self.is_running(&slot) {
            return Ok(preview_path(project));
        }
        let token = Self::begin_step(&slot, Phase::Starting, cancel);
        let started = Instant::now();
        match self.start_locked(project, &slot, &token).await {
            Ok(()) => {
                let url = preview_path(project);
                slot.sink.system(format!(
                    "dev server ready in {} ms",
                    started.elapsed().as_millis()
                ));
                self.publish(project, ServerEvent::ServerStarted { url: url.clone() })
                    .await;
                Ok(url)
            }
            Err(e) => {
                self.inner.backend.stop(project).await;
                Err(self.fail(project, &slot, e).await)
            }
        }
    }

    fn is_running(&self, slot: &Slot) -> bool {
        let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        state.phase == Phase::Running
    }

    async fn start_locked(
        &self,
        project: Uuid,
        slot: &Arc<Slot>,
        cancel: &CancellationToken,
    ) -> Result<(), SandboxError> {
        let modules = self.env(project, slot)?.modules;
        if !modules.is_some_and(|m| m.join("vite/bin/vite.js").is_file()) {
            return Err(SandboxError::NoVite);
        }
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let env = self.env(project, slot)?;
            let port = env.port;
            let command = CommandSpec {
                label: format!("vite --port {port}"),
                program: "node".into(),
                args: vec![
                    "node_modules/vite/bin/vite.js".into(),
                    "--host".into(),
                    self.inner.backend.listen_host().into(),
                    "--port".into(),
                    port.to_string(),
                    "--strictPort".into(),
                    // Served at the root of its own preview host.
                    "--base".into(),
                    "/".into(),
                    "--clearScreen".into(),
                    "false".into(),
                ],
                env: vec![("PORT".into(), port.to_string())],
            };
            let running = self
                .inner
                .backend
                .spawn_server(&env, command, slot.sink.clone())
                .await?;
            match self
                .wait_ready(slot, running.address, running.exited.clone(), cancel)
                .await
            {
                Ok(()) => {
                    let generation = {
                        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                        state.phase = Phase::Running;
                        state.address = Some(running.address);
                        state.generation += 1;
                        state.generation
                    };
                    self.watch_for_crash(project, slot.clone(), running.exited, generation);
                    return Ok(());
                }
                Err(SandboxError::PortConflict { port, .. }) => {
                    // Someone took the port between our check and Vite's bind: try another.
                    self.inner.backend.stop(project).await;
                    slot.state.lock().unwrap_or_else(|p| p.into_inner()).port = None;
                    self.inner.ports.release(port);
                    last_error = Some(SandboxError::PortConflict {
                        port,
                        log_tail: slot.logs.tail(ERROR_TAIL_LINES),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(SandboxError::Io("no port".into())))
    }

    fn port_for(&self, slot: &Slot) -> Result<u16, SandboxError> {
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(port) = state.port {
            return Ok(port);
        }
        let port = self
            .inner
            .ports
            .allocate()
            .map_err(|e| SandboxError::Io(e.to_string()))?;
        state.port = Some(port);
        Ok(port)
    }

    /// Polls the dev server over HTTP until it answers (never a fixed sleep).
    async fn wait_ready(
        &self,
        slot: &Slot,
        address: SocketAddr,
        mut exited: watch::Receiver<Option<i32>>,
        cancel: &CancellationToken,
    ) -> Result<(), SandboxError> {
        let url = format!("http://{address}/");
        let deadline = Instant::now() + self.inner.config.start_timeout;
        loop {
            if let Some(code) = *exited.borrow() {
                let tail = slot.logs.tail(ERROR_TAIL_LINES);
                if tail
                    .iter()
                    .any(|l| l.contains("already in use") || l.contains("EADDRINUSE"))
                {
                    return Err(SandboxError::PortConflict {
                        port: address.port(),
                        log_tail: tail,
                    });
                }
                return Err(SandboxError::ServerExited {
                    code,
                    log_tail: tail,
                });
            }
            if let Ok(response) = self.inner.http.get(&url).send().await
                && response.status().as_u16() < 500
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(SandboxError::NotReady {
                    secs: self.inner.config.start_timeout.as_secs(),
                    log_tail: Vec::new(),
                });
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(SandboxError::Cancelled),
                _ = exited.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// When a running dev server exits on its own, the project is marked
    /// crashed and clients get an `error` with the log tail.
    fn watch_for_crash(
        &self,
        project: Uuid,
        slot: Arc<Slot>,
        mut exited: watch::Receiver<Option<i32>>,
        generation: u64,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(code) = exited
                .wait_for(Option::is_some)
                .await
                .map(|c| c.unwrap_or(-1))
            else {
                return;
            };
            let crashed = {
                let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                let crashed = state.phase == Phase::Running && state.generation == generation;
                if crashed {
                    state.phase = Phase::Crashed;
                    state.address = None;
                    state.error = Some(format!("the dev server exited with code {code}"));
                }
                crashed
            };
            if crashed {
                let tail = slot.logs.tail(ERROR_TAIL_LINES);
                tracing::warn!(project_id = %project, code, "dev server crashed");
                this.publish(
                    project,
                    ServerEvent::Error {
                        message: format!("the dev server stopped (exit code {code}); it restarts on the next preview request"),
                        code: "SANDBOX_CRASHED".into(),
                        log_tail: Some(tail),
                    },
                )
                .await;
            }
        });
    }

    /// Installs if needed and starts if needed: what a preview request or a
    /// restart wants. Returns the preview URL.
    pub async fn ensure_running(
        &self,
        project: Uuid,
        cancel: &CancellationToken,
    ) -> Result<String, SandboxError> {
        if self.is_running(&self.slot(project)) {
            return Ok(preview_path(project));
        }
        self.install(project, cancel).await?;
        self.start(project, cancel).await
    }

    /// Stops the dev server (and any step in progress) and starts it again.
    pub async fn restart(
        &self,
        project: Uuid,
        cancel: &CancellationToken,
    ) -> Result<String, SandboxError> {
        self.stop(project).await;
        self.ensure_running(project, cancel).await
    }

    /// Stops everything the project runs. Its files stay.
    #[tracing::instrument(name = "sandbox.stop", skip_all, fields(project_id = %project))]
    pub async fn stop(&self, project: Uuid) {
        let slot = self.slot(project);
        let cancel = slot
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cancel
            .clone();
        cancel.cancel();
        let _step = slot.step.lock().await;
        slot.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retire_server(Phase::Stopped);
        self.inner.backend.stop(project).await;
    }

    /// Stops and removes the project's sandbox entirely (the project is being deleted).
    pub async fn destroy(&self, project: Uuid) {
        self.stop(project).await;
        self.inner.backend.destroy(project).await;
        self.inner.attached.clear(project);
        let slot = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&project);
        if let Some(port) =
            slot.and_then(|s| s.state.lock().unwrap_or_else(|p| p.into_inner()).port)
        {
            self.inner.ports.release(port);
        }
    }

    /// Where the preview proxy sends requests, if the dev server runs.
    pub fn upstream(&self, project: Uuid) -> Option<SocketAddr> {
        let slot = self.slot(project);
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        state.last_used = Instant::now();
        (state.phase == Phase::Running)
            .then_some(state.address)
            .flatten()
    }

    /// The declarations of the dependencies `package.json` names, from the
    /// module store entry the project uses (none before its first install).
    pub async fn types(&self, project: Uuid) -> Result<Types, SandboxError> {
        let none = Types {
            installed: false,
            truncated: false,
            files: Vec::new(),
            tag: None,
        };
        let Some(hash) = self.inner.attached.get(project) else {
            return Ok(none);
        };
        let Some(modules) = self.inner.store.modules(&hash) else {
            return Ok(none);
        };
        // A package.json being rewritten (or gone) names no dependencies.
        let Ok(manifest) = self.package_json(project).await.and_then(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| SandboxError::InvalidPackageJson(e.to_string()))
        }) else {
            return Ok(none);
        };
        let roots: Vec<String> = ["dependencies", "devDependencies"]
            .iter()
            .filter_map(|section| manifest.get(section)?.as_object())
            .flat_map(|deps| deps.keys().cloned())
            .collect();
        let tag = format!("{hash}-{}", hex::encode(Sha256::digest(roots.join("\n"))));
        let (files, truncated) =
            tokio::task::spawn_blocking(move || deps::type_files(&modules, &roots))
                .await
                .map_err(|e| SandboxError::Io(e.to_string()))?;
        Ok(Types {
            installed: true,
            truncated,
            files,
            tag: Some(tag),
        })
    }

    pub fn status(&self, project: Uuid) -> Status {
        let slot = self.slot(project);
        let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        Status {
            phase: state.phase,
            url: (state.phase == Phase::Running).then(|| preview_path(project)),
            error: state.error.clone(),
            log_tail: slot.logs.tail(ERROR_TAIL_LINES),
        }
    }

    /// The last `n` log lines of a project's sandbox.
    pub fn log_tail(&self, project: Uuid, n: usize) -> Vec<String> {
        self.slot(project).logs.tail(n)
    }

    /// Stops the sandboxes nobody used for `idle`; returns their projects.
    pub async fn stop_idle(&self, idle: Duration) -> Vec<Uuid> {
        let idle_projects: Vec<Uuid> = {
            let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .iter()
                .filter(|(_, slot)| {
                    let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                    state.phase != Phase::Stopped && state.last_used.elapsed() >= idle
                })
                .map(|(id, _)| *id)
                .collect()
        };
        for project in &idle_projects {
            self.stop(*project).await;
        }
        idle_projects
    }

    /// The sandboxes that hold resources now (installing, starting or
    /// running), with how long each has gone unused; for the per-user quota.
    pub fn active(&self) -> Vec<ActiveSandbox> {
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .filter_map(|(id, slot)| {
                let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                matches!(
                    state.phase,
                    Phase::Installing | Phase::Starting | Phase::Running
                )
                .then(|| ActiveSandbox {
                    project: *id,
                    phase: state.phase,
                    unused_for: state.last_used.elapsed(),
                })
            })
            .collect()
    }

    /// Stops a project's sandbox and says why in its log (which its page shows).
    pub async fn stop_with_note(&self, project: Uuid, note: &str) {
        self.slot(project).sink.system(note);
        self.stop(project).await;
    }

    /// Adds a line to a project's sandbox log (shown on its page).
    pub fn note(&self, project: Uuid, note: &str) {
        self.slot(project).sink.system(note);
    }

    /// True if the project's sandbox did anything within `window`.
    pub fn used_within(&self, project: Uuid, window: Duration) -> bool {
        let slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(&project).is_some_and(|slot| {
            let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
            state.phase != Phase::Stopped || state.last_used.elapsed() < window
        })
    }

    /// Stops every sandbox: nothing minicode started outlives it.
    pub async fn shutdown(&self) {
        let projects: Vec<Uuid> = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        futures::future::join_all(projects.into_iter().map(|p| self.stop(p))).await;
    }

    /// Cleans up after a previous minicode that did not shut down cleanly.
    pub async fn reap_orphans(&self) -> usize {
        self.inner.backend.reap_orphans().await
    }
}
