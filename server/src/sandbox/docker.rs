//! The `docker` backend: each project gets one container, and the app's
//! commands run in it through the Docker Engine API (`bollard`), on the local
//! socket or on the engine `DOCKER_HOST` points at.
//!
//! The container is created from the configured image
//! (`MINICODE_DOCKER_IMAGE`, see `sandbox/build-image.sh`) with:
//! - the project's workspace bind-mounted at `/workspace`, its installed
//!   modules (a store entry, see `deps.rs`) read-only at
//!   `/workspace/node_modules` with a per-project Vite cache over
//!   `node_modules/.vite`, the bridge's socket folder at `/run/minicode` and
//!   minicode's tools read-only at `/opt/minicode` (nothing else of the host
//!   is visible, not the npm cache);
//! - no network at all (`network_mode: none`): the dev server is reached
//!   through the bridge's Unix socket (see `bridge.rs`), so no project can
//!   reach another's container, minicode's port or anything else;
//! - memory (no swap on top), CPU and pids limits; not privileged, every
//!   capability dropped, `no-new-privileges`, a read-only root file system
//!   with a tmpfs on `/tmp`, and `docker-init` as pid 1 to reap zombies;
//! - an unprivileged user: the server's own uid:gid, so files the app writes
//!   in the workspace stay the server's; when the server runs as root, uid
//!   and gid [`SANDBOX_UID`] instead, and the workspace folder (not its
//!   contents, which the app may have swapped for symlinks) is handed over
//!   to that user before each command (root can still write everything);
//! - a clean environment: only what minicode sets (no server secret).
//!
//! The container's main process only sleeps; `npm install` and the dev server
//! run as `exec` processes. Why not run the dev server as the main process:
//! the install and the server then share one container (created once, with
//! the port already published), a dev server restart does not recreate the
//! container, and the same code path streams, times out and kills both kinds
//! of command. Every exec'd process leads its own process group; its pid is
//! written to a file in the container's `/tmp`, so a timeout or a cancel kills
//! the command's whole tree from inside the container, which also works
//! against a remote engine.
//!
//! Store entries are built in a container of their own
//! (`minicode-<instance>-store-<project>`) that sees only the staging folder
//! and the npm cache: the download runs with the network on and scripts off,
//! then the container is disconnected from every network and the packages'
//! install scripts run.
//!
//! `stop` removes the container: it holds no state (everything lives in the
//! bind mounts), a stopped project costs nothing, and the next step creates
//! a fresh one. Containers carry the labels `minicode.project=<uuid>` and
//! `minicode.instance=<id of this minicode's data folder>`; at startup the
//! ones of this instance a crash left behind are removed, without touching
//! the containers of another minicode on the same engine.
//!
//! With a remote engine, bind mounts refer to the engine's host: the data
//! folder must exist there at the same path (a shared file system) so the
//! bridge's socket is reachable by minicode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::StreamExt;
use minicode::protocol::LogStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::SandboxError;
use super::backend::SandboxKind;
pub use super::backend::instance_id;
use super::backend::{
    Backend, BoxFuture, CommandSpec, ProjectEnv, Running, hand_over_tree, npm_command,
};
use super::bridge;
use super::logs::LogSink;

/// The uid and gid sandboxes run as when the server itself runs as root.
pub const SANDBOX_UID: u32 = 1000;
/// Where the workspace is mounted in the container.
pub const WORKSPACE: &str = "/workspace";
/// Where the shared npm cache is mounted in the container.
pub const NPM_CACHE: &str = "/npm-cache";
/// Label holding the project id.
pub const LABEL_PROJECT: &str = "minicode.project";
/// Label holding the instance (which minicode created the container).
pub const LABEL_INSTANCE: &str = "minicode.instance";
/// How long a command gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Resource limits of every container.
#[derive(Clone, Debug)]
pub struct DockerLimits {
    pub memory_mb: i64,
    pub cpus: f64,
    pub pids: i64,
    /// V8 heap cap of node processes, a little under the memory limit.
    pub node_heap_mb: u64,
}

/// What a container was created for.
#[derive(Clone, Debug)]
struct ContainerInfo {
    name: String,
    modules: Option<PathBuf>,
}

pub struct DockerBackend {
    docker: Docker,
    image: String,
    instance: String,
    /// On the host (the engine's host, with a remote engine).
    npm_cache: PathBuf,
    uid: u32,
    gid: u32,
    /// True when the server is root and hands the workspace over to [`SANDBOX_UID`].
    hand_over: bool,
    /// Per-project folders (`vite/<id>`, `sock/<id>`) and `tools/`, shared
    /// with the process backend's layout.
    state_dir: PathBuf,
    /// The host side of each running dev server's bridge.
    forwarders: bridge::Forwarders,
    pass_env: Vec<(String, String)>,
    limits: DockerLimits,
    /// Containers this minicode created, by project. Creation is serialized.
    containers: tokio::sync::Mutex<HashMap<Uuid, ContainerInfo>>,
    /// Numbers the pid files of exec'd commands.
    exec_seq: AtomicU64,
}

fn docker_error(e: bollard::errors::Error) -> SandboxError {
    SandboxError::Docker(e.to_string())
}

fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

impl DockerBackend {
    /// Connects to the engine (`DOCKER_HOST` or the local socket), agrees on
    /// an API version and checks that the image exists, so a misconfigured
    /// server fails at startup rather than at the first preview.
    pub async fn connect(
        image: &str,
        instance: String,
        state_dir: &Path,
        npm_cache: &Path,
        limits: DockerLimits,
        pass_env: Vec<(String, String)>,
    ) -> Result<Self, SandboxError> {
        let docker = Docker::connect_with_defaults()
            .map_err(docker_error)?
            .negotiate_version()
            .await
            .map_err(|e| SandboxError::Docker(format!("the engine does not answer: {e}")))?;
        docker.inspect_image(image).await.map_err(|e| {
            SandboxError::Docker(format!(
                "image `{image}` is not available ({e}): build it with sandbox/build-image.sh"
            ))
        })?;
        let io = |e: std::io::Error| SandboxError::Io(e.to_string());
        std::fs::create_dir_all(npm_cache).map_err(io)?;
        let tools = state_dir.join("tools");
        std::fs::create_dir_all(&tools).map_err(io)?;
        std::fs::write(tools.join(bridge::SCRIPT_NAME), bridge::SCRIPT).map_err(io)?;
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let hand_over = uid == 0;
        let (uid, gid) = if hand_over {
            (SANDBOX_UID, SANDBOX_UID)
        } else {
            (uid, gid)
        };
        if hand_over {
            let cache = npm_cache.to_path_buf();
            tokio::task::spawn_blocking(move || hand_over_tree(&cache, uid, gid))
                .await
                .map_err(|e| SandboxError::Io(e.to_string()))?
                .map_err(|e| SandboxError::Io(format!("npm cache: {e}")))?;
        }
        tracing::info!(%image, %instance, uid, gid, "docker sandbox ready");
        Ok(Self {
            docker,
            image: image.to_string(),
            instance,
            npm_cache: npm_cache.to_path_buf(),
            uid,
            gid,
            hand_over,
            state_dir: state_dir.to_path_buf(),
            forwarders: bridge::Forwarders::default(),
            pass_env,
            limits,
            containers: tokio::sync::Mutex::default(),
            exec_seq: AtomicU64::new(0),
        })
    }

    /// The container name of a project: stable, so a leftover one is found.
    pub fn container_name(&self, project: Uuid) -> String {
        format!("minicode-{}-{project}", self.instance)
    }

    /// The user commands run as, `uid:gid`.
    pub fn user(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    /// The environment of every command: nothing from the server's own.
    fn base_env(&self, project: Uuid) -> Vec<String> {
        let mut env = vec![
            "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
            "HOME=/tmp".into(),
            "LANG=C.UTF-8".into(),
            "NO_COLOR=1".into(),
            "FORCE_COLOR=0".into(),
            "BROWSER=none".into(),
            format!("npm_config_cache={NPM_CACHE}"),
            "npm_config_update_notifier=false".into(),
            "npm_config_fund=false".into(),
            "npm_config_audit=false".into(),
            format!(
                "NODE_OPTIONS=--max-old-space-size={}",
                self.limits.node_heap_mb
            ),
            format!("MINICODE_SANDBOX_PROJECT={project}"),
        ];
        env.extend(self.pass_env.iter().map(|(k, v)| format!("{k}={v}")));
        env
    }

    /// The project's running container, created (and started) if needed.
    async fn ensure_container(&self, project: &ProjectEnv) -> Result<String, SandboxError> {
        let mut containers = self.containers.lock().await;
        if let Some(info) = containers.get(&project.id) {
            if info.modules == project.modules {
                return Ok(info.name.clone());
            }
            // Other modules: the mounts are fixed at creation.
            self.remove(&info.name).await;
            containers.remove(&project.id);
        }
        let name = self.container_name(project.id);
        let body = self.container_body(project);
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Err(e) if is_status(&e, 409) => {
                // A leftover of ours with the same name (a crash): replace it.
                tracing::info!(container = %name, "replacing a leftover container");
                self.remove(&name).await;
                self.docker.create_container(Some(options), body).await
            }
            other => other,
        };
        created.map_err(docker_error)?;
        if let Err(e) = self.docker.start_container(&name, None).await {
            self.remove(&name).await;
            return Err(SandboxError::Docker(e.to_string()));
        }
        tracing::info!(container = %name, "container started");
        containers.insert(
            project.id,
            ContainerInfo {
                name: name.clone(),
                modules: project.modules.clone(),
            },
        );
        Ok(name)
    }

    fn project_dir(&self, what: &str, project: Uuid) -> PathBuf {
        self.state_dir.join(what).join(project.to_string())
    }

    /// The project's own container: no network, its workspace, its modules
    /// read-only.
    fn container_body(&self, project: &ProjectEnv) -> ContainerCreateBody {
        let mut binds = vec![
            format!("{}:{WORKSPACE}", project.workspace.display()),
            format!(
                "{}:{}",
                self.project_dir("sock", project.id).display(),
                super::layout::RUN_DIR
            ),
            format!(
                "{}:{}:ro",
                self.state_dir.join("tools").display(),
                super::layout::TOOLS_DIR
            ),
        ];
        if let Some(modules) = &project.modules {
            binds.push(format!("{}:{WORKSPACE}/node_modules:ro", modules.display()));
            for dir in super::deps::WRITABLE_IN_MODULES {
                binds.push(format!(
                    "{}:{WORKSPACE}/node_modules/{dir}",
                    self.project_dir("vite", project.id).join(dir).display()
                ));
            }
        }
        self.body(project.id, binds, false)
    }

    /// A container with `binds`, the limits and the hardening; on the
    /// default network only when `network` (the store's download step).
    fn body(&self, project: Uuid, binds: Vec<String>, network: bool) -> ContainerCreateBody {
        let mut labels = HashMap::new();
        labels.insert(LABEL_PROJECT.to_string(), project.to_string());
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        let mut tmpfs = HashMap::new();
        tmpfs.insert(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=256m,mode=1777".to_string(),
        );
        let memory = self.limits.memory_mb * 1024 * 1024;
        ContainerCreateBody {
            image: Some(self.image.clone()),
            user: Some(self.user()),
            env: Some(self.base_env(project)),
            // Only keeps the container alive; commands are exec'd.
            entrypoint: Some(vec!["sleep".into()]),
            cmd: Some(vec!["infinity".into()]),
            working_dir: Some(WORKSPACE.into()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(if network { "bridge" } else { "none" }.into()),
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some((self.limits.cpus * 1e9) as i64),
                pids_limit: Some(self.limits.pids),
                privileged: Some(false),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(tmpfs),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Force-removes a container (killing everything in it). Quiet if gone.
    async fn remove(&self, name: &str) {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => tracing::debug!(container = %name, "container removed"),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => tracing::warn!(container = %name, error = %e, "could not remove a container"),
        }
    }

    /// Gives the workspace to the sandbox user when the server runs as root.
    async fn prepare_workspace(&self, project: &ProjectEnv) -> Result<(), SandboxError> {
        // The engine would create a missing bind-mount source as root.
        let vite = self.project_dir("vite", project.id);
        let dirs = [
            project.workspace.clone(),
            vite.join(".vite"),
            vite.join(".vite-temp"),
            vite,
            self.project_dir("sock", project.id),
        ];
        for dir in &dirs {
            std::fs::create_dir_all(dir).map_err(|e| SandboxError::Io(e.to_string()))?;
        }
        if !self.hand_over {
            return Ok(());
        }
        // The folders only, never their contents: the app can swap anything
        // inside its workspace for a symlink at any moment, and a recursive
        // walk as root would follow it out. lchown never follows one.
        for dir in &dirs {
            std::os::unix::fs::lchown(dir, Some(self.uid), Some(self.gid))
                .map_err(|e| SandboxError::Io(format!("could not hand the workspace over: {e}")))?;
        }
        Ok(())
    }

    /// Starts `command` in the container; returns the exec id, its pid file
    /// and the task copying its output into the log (which ends with it).
    async fn start_exec(
        &self,
        container: &str,
        command: &CommandSpec,
        logs: &LogSink,
    ) -> Result<Exec, Launch> {
        let pid_file = format!(
            "/tmp/minicode-exec-{}.pid",
            self.exec_seq.fetch_add(1, Ordering::Relaxed)
        );
        // The exec'd process leads its own process group (runc makes it a
        // session leader); recording its pid lets a kill reach the whole tree.
        let mut cmd = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            format!("echo $$ > {pid_file} && exec \"$0\" \"$@\""),
            command.program.clone(),
        ];
        cmd.extend(command.args.iter().cloned());
        let env: Vec<String> = command
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd),
                    env: Some(env),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    attach_stdin: Some(false),
                    tty: Some(false),
                    user: Some(self.user()),
                    working_dir: Some(WORKSPACE.to_string()),
                    ..Default::default()
                },
            )
            .await
            .map_err(Launch::Create)?;
        logs.system(format!("$ {}", command.label));
        let started = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(Launch::Start)?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(Launch::Detached);
        };
        let sink = logs.clone();
        let pump = tokio::spawn(async move {
            // Keep the write half open for as long as we read.
            let _input = input;
            pump(output, sink).await;
        });
        Ok(Exec {
            id: exec.id,
            pid_file,
            pump,
        })
    }

    /// Runs `command` in the project's container, creating the container if
    /// needed. If the container vanished behind minicode's back (removed by
    /// hand, killed by the engine), a new one is made once.
    async fn launch(
        &self,
        project: &ProjectEnv,
        command: &CommandSpec,
        logs: &LogSink,
    ) -> Result<(String, Exec), SandboxError> {
        self.prepare_workspace(project).await?;
        let mut retried = false;
        loop {
            let container = self.ensure_container(project).await?;
            match self.start_exec(&container, command, logs).await {
                Ok(exec) => return Ok((container, exec)),
                Err(Launch::Create(e))
                    if !retried && (is_status(&e, 404) || is_status(&e, 409)) =>
                {
                    tracing::warn!(container = %container, error = %e, "the container is gone: recreating it");
                    self.stop_project(project.id).await;
                    retried = true;
                }
                Err(e) => {
                    return Err(SandboxError::Spawn {
                        program: command.program.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// Runs one command in a container of its own with `binds`, then removes
    /// the container (the store's install steps).
    #[allow(clippy::too_many_arguments)]
    async fn one_off(
        &self,
        project: Uuid,
        job: &str,
        binds: Vec<String>,
        network: bool,
        command: &CommandSpec,
        logs: &LogSink,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<(), SandboxError> {
        let name = format!("minicode-{}-{job}-{project}", self.instance);
        self.remove(&name).await;
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.docker
            .create_container(Some(options), self.body(project, binds, network))
            .await
            .map_err(docker_error)?;
        let result = async {
            self.docker
                .start_container(&name, None)
                .await
                .map_err(docker_error)?;
            let exec = self.exec_in(&name, command, logs).await?;
            self.finish(project, &name, exec, command, timeout, cancel.clone())
                .await
        }
        .await;
        self.remove(&name).await;
        result
    }

    /// Starts `command` in a container minicode made for a one-off job.
    async fn exec_in(
        &self,
        container: &str,
        command: &CommandSpec,
        logs: &LogSink,
    ) -> Result<Exec, SandboxError> {
        self.start_exec(container, command, logs)
            .await
            .map_err(|e| SandboxError::Spawn {
                program: command.program.clone(),
                message: e.to_string(),
            })
    }

    /// Waits for an exec to end, within `timeout` and unless cancelled; a
    /// command that runs over is killed with its whole tree.
    async fn finish(
        &self,
        project: Uuid,
        container: &str,
        mut exec: Exec,
        command: &CommandSpec,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<(), SandboxError> {
        let outcome = tokio::select! {
            _ = &mut exec.pump => match self.exit_code(&exec.id).await {
                0 => Ok(()),
                code => Err(SandboxError::CommandFailed { label: command.label.clone(), code, log_tail: Vec::new() }),
            },
            () = tokio::time::sleep(timeout) => Err(SandboxError::Timeout { label: command.label.clone(), secs: timeout.as_secs(), log_tail: Vec::new() }),
            () = cancel.cancelled() => Err(SandboxError::Cancelled),
        };
        if outcome.is_err() && !exec.pump.is_finished() {
            self.kill(project, container, &exec).await;
            // Let the last lines reach the log before anyone quotes it.
            let _ = tokio::time::timeout(TERM_GRACE, &mut exec.pump).await;
            exec.pump.abort();
        }
        outcome
    }

    /// The exit code of a finished exec (`-1` if it cannot be known).
    async fn exit_code(&self, exec_id: &str) -> i32 {
        // The output may close a moment before the engine records the exit.
        for _ in 0..40 {
            match self.docker.inspect_exec(exec_id).await {
                Ok(state) if state.running != Some(true) => {
                    return state.exit_code.map(|c| c as i32).unwrap_or(-1);
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => return -1,
            }
        }
        -1
    }

    async fn exec_running(&self, exec_id: &str) -> bool {
        matches!(self.docker.inspect_exec(exec_id).await, Ok(s) if s.running == Some(true))
    }

    /// Sends `signal` to the command's process group, from inside the container.
    async fn signal(&self, container: &str, pid_file: &str, signal: &str) {
        // dash takes a negative pid (a process group) right after the signal, without `--`.
        let script = format!("kill -{signal} -$(cat {pid_file}) 2>/dev/null; exit 0");
        let Ok(exec) = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(vec!["/bin/sh".to_string(), "-c".into(), script]),
                    user: Some(self.user()),
                    ..Default::default()
                },
            )
            .await
        else {
            return;
        };
        let _ = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: true,
                    ..Default::default()
                }),
            )
            .await;
        // Detached: wait for the kill itself to have run.
        for _ in 0..20 {
            if !self.exec_running(&exec.id).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM to the command's group, SIGKILL after a grace period, and as a
    /// last resort the whole container goes.
    async fn kill(&self, project: Uuid, container: &str, exec: &Exec) {
        self.signal(container, &exec.pid_file, "TERM").await;
        if self.gone_within(&exec.id, TERM_GRACE).await {
            return;
        }
        self.signal(container, &exec.pid_file, "KILL").await;
        if self.gone_within(&exec.id, Duration::from_secs(1)).await {
            return;
        }
        tracing::warn!(%project, "a command survived SIGKILL: removing its container");
        self.stop_project(project).await;
    }

    async fn gone_within(&self, exec_id: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if !self.exec_running(exec_id).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    async fn stop_project(&self, project: Uuid) {
        let known = self.containers.lock().await.remove(&project);
        // Remove by name even if unknown: a step may have been cut short mid-creation.
        let name = known.map_or_else(|| self.container_name(project), |c| c.name);
        self.remove(&name).await;
    }

    /// The containers of this instance, as `(id, project label)`.
    pub async fn list_own(&self) -> Result<Vec<(String, String)>, SandboxError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_string(),
            vec![format!("{LABEL_INSTANCE}={}", self.instance)],
        );
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(docker_error)?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let project = c.labels.as_ref()?.get(LABEL_PROJECT)?.clone();
                Some((c.id?, project))
            })
            .collect())
    }
}

/// Why an exec could not start.
#[derive(Debug, thiserror::Error)]
enum Launch {
    #[error("{0}")]
    Create(bollard::errors::Error),
    #[error("{0}")]
    Start(bollard::errors::Error),
    #[error("the exec started detached")]
    Detached,
}

/// A running exec.
struct Exec {
    id: String,
    pid_file: String,
    pump: tokio::task::JoinHandle<()>,
}

/// Copies an exec's output into the log, line by line (the engine's frames
/// can hold part of a line or several lines).
async fn pump(
    mut output: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    logs: LogSink,
) {
    let mut partial: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let emit = |buf: &mut Vec<u8>, kind: LogStream, all: bool| {
        while let Some(end) = memchr::memchr(b'\n', buf) {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            logs.line(kind, text.trim_end_matches('\r'));
        }
        if all && !buf.is_empty() {
            logs.line(kind, &String::from_utf8_lossy(buf));
            buf.clear();
        }
    };
    while let Some(Ok(frame)) = output.next().await {
        let (index, kind, bytes) = match frame {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (0, LogStream::Stdout, message)
            }
            LogOutput::StdErr { message } => (1, LogStream::Stderr, message),
            LogOutput::StdIn { .. } => continue,
        };
        partial[index].extend_from_slice(&bytes);
        emit(&mut partial[index], kind, false);
    }
    let [out, err] = &mut partial;
    emit(out, LogStream::Stdout, true);
    emit(err, LogStream::Stderr, true);
}

impl Backend for DockerBackend {
    fn kind(&self) -> SandboxKind {
        SandboxKind::Docker
    }

    fn run<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        let span =
            tracing::info_span!("docker.run", project_id = %project.id, command = %command.label);
        Box::pin(
            async move {
                let (container, exec) = self.launch(project, &command, &logs).await?;
                self.finish(project.id, &container, exec, &command, timeout, cancel)
                    .await
            }
            .instrument(span),
        )
    }

    fn install_modules<'a>(
        &'a self,
        project: &'a ProjectEnv,
        staging: &'a Path,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        let span = tracing::info_span!("docker.install_modules", project_id = %project.id);
        Box::pin(
            async move {
                if self.hand_over {
                    // Only the folder: what is in it is minicode's own.
                    std::os::unix::fs::lchown(staging, Some(self.uid), Some(self.gid))
                        .map_err(|e| SandboxError::Io(e.to_string()))?;
                }
                let started = tokio::time::Instant::now();
                // 1. Download, scripts off: the network and the npm cache.
                let fetch = npm_command(
                    "npm install",
                    &["install", "--ignore-scripts", "--prefer-offline"],
                );
                let binds = vec![
                    format!("{}:{WORKSPACE}", staging.display()),
                    format!("{}:{NPM_CACHE}", self.npm_cache.display()),
                ];
                self.one_off(
                    project.id, "fetch", binds, true, &fetch, &logs, timeout, &cancel,
                )
                .await?;
                // 2. The packages' install scripts: no network, no npm cache
                //    (a script could otherwise plant entries for everyone).
                let rebuild = npm_command("npm rebuild", &["rebuild"]);
                let binds = vec![format!("{}:{WORKSPACE}", staging.display())];
                let left = timeout
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_secs(1));
                self.one_off(
                    project.id, "scripts", binds, false, &rebuild, &logs, left, &cancel,
                )
                .await
            }
            .instrument(span),
        )
    }

    fn attach_modules<'a>(
        &'a self,
        _project: &'a ProjectEnv,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        // Mounted when the container is (re)created with the new entry.
        Box::pin(async { Ok(()) })
    }

    fn spawn_server<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
    ) -> BoxFuture<'a, Result<Running, SandboxError>> {
        let span = tracing::info_span!("docker.spawn_server", project_id = %project.id, port = project.port);
        Box::pin(
            async move {
                // The container has no network: minicode reaches the dev
                // server through the bridge's socket.
                self.prepare_workspace(project).await?;
                let (command, address) = self
                    .forwarders
                    .serve(project, &self.project_dir("sock", project.id), command)
                    .await?;
                let (_, exec) = self.launch(project, &command, &logs).await?;
                let (tx, rx) = watch::channel(None);
                let docker = self.docker.clone();
                tokio::spawn(
                    async move {
                        let _ = exec.pump.await;
                        // Same wait as `exit_code`, without borrowing the backend.
                        let mut code = -1;
                        for _ in 0..40 {
                            match docker.inspect_exec(&exec.id).await {
                                Ok(s) if s.running != Some(true) => {
                                    code = s.exit_code.map_or(-1, |c| c as i32);
                                    break;
                                }
                                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                                Err(_) => break,
                            }
                        }
                        logs.system(format!("dev server exited with code {code}"));
                        let _ = tx.send(Some(code));
                    }
                    .in_current_span(),
                );
                Ok(Running {
                    exited: rx,
                    address,
                })
            }
            .instrument(span),
        )
    }

    fn stop<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        Box::pin(
            self.stop_project(project)
                .instrument(tracing::info_span!("docker.stop", project_id = %project)),
        )
    }

    fn destroy<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.stop(project).await;
            self.forwarders.remove(project);
            for what in ["vite", "sock"] {
                let _ = std::fs::remove_dir_all(self.project_dir(what, project));
            }
        })
    }

    fn reap_orphans(&self) -> BoxFuture<'_, usize> {
        Box::pin(
            async move {
                let own = match self.list_own().await {
                    Ok(own) => own,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not list leftover containers");
                        return 0;
                    }
                };
                for (id, project) in &own {
                    tracing::info!(container = %id, %project, "removing a leftover container");
                    self.remove(id).await;
                }
                own.len()
            }
            .instrument(tracing::info_span!("docker.reap_orphans", instance = %self.instance)),
        )
    }

    fn listen_host(&self) -> &'static str {
        "127.0.0.1"
    }
}
