//! The `docker` backend: each project gets one container, and the app's
//! commands run in it through the Docker Engine API (`bollard`), on the local
//! socket or on the engine `DOCKER_HOST` points at.
//!
//! The container is created from the configured image
//! (`MINICODE_DOCKER_IMAGE`, see `sandbox/build-image.sh`) with:
//! - the project's workspace bind-mounted at `/workspace` and the shared npm
//!   cache at `/npm-cache` (nothing else of the host is visible);
//! - memory (no swap on top), CPU and pids limits; not privileged, every
//!   capability dropped, `no-new-privileges`, a read-only root file system
//!   with a tmpfs on `/tmp`, and `docker-init` as pid 1 to reap zombies;
//! - an unprivileged user: the server's own uid:gid, so files the app writes
//!   in the workspace stay the server's; when the server runs as root, uid
//!   and gid [`SANDBOX_UID`] instead, and the workspace is handed over to
//!   that user before each command (root can still write everything);
//! - the project's port published on 127.0.0.1 of the engine's host only;
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
//! `stop` removes the container: it holds no state (everything lives in the
//! bind mounts), a stopped project costs nothing, and the next step creates
//! a fresh one. Containers carry the labels `minicode.project=<uuid>` and
//! `minicode.instance=<id of this minicode's data folder>`; at startup the
//! ones of this instance a crash left behind are removed, without touching
//! the containers of another minicode on the same engine.
//!
//! With a remote engine, bind mounts and the published port refer to the
//! engine's host: the data folder must exist there at the same path and its
//! 127.0.0.1 must be minicode's (a socket forwarded over SSH, or a TCP engine
//! on the same machine).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::StreamExt;
use minicode::protocol::LogStream;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::SandboxError;
use super::backend::{Backend, BoxFuture, CommandSpec, ProjectEnv, Running};
use super::logs::LogSink;
use crate::config::SandboxKind;

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
    port: u16,
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
    pass_env: Vec<(String, String)>,
    limits: DockerLimits,
    /// Containers this minicode created, by project. Creation is serialized.
    containers: tokio::sync::Mutex<HashMap<Uuid, ContainerInfo>>,
    /// Numbers the pid files of exec'd commands.
    exec_seq: AtomicU64,
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
        std::fs::create_dir_all(npm_cache).map_err(|e| SandboxError::Io(e.to_string()))?;
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
            if info.port == project.port {
                return Ok(info.name.clone());
            }
            // The port changed (a conflict): the container must publish the new one.
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
            let message = e.to_string();
            if message.contains("already allocated") || message.contains("address already in use") {
                return Err(SandboxError::PortConflict {
                    port: project.port,
                    log_tail: vec![message],
                });
            }
            return Err(SandboxError::Docker(message));
        }
        tracing::info!(container = %name, port = project.port, "container started");
        containers.insert(
            project.id,
            ContainerInfo {
                name: name.clone(),
                port: project.port,
            },
        );
        Ok(name)
    }

    fn container_body(&self, project: &ProjectEnv) -> ContainerCreateBody {
        let port_key = format!("{}/tcp", project.port);
        let mut labels = HashMap::new();
        labels.insert(LABEL_PROJECT.to_string(), project.id.to_string());
        labels.insert(LABEL_INSTANCE.to_string(), self.instance.clone());
        let mut port_bindings = HashMap::new();
        port_bindings.insert(
            port_key.clone(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(project.port.to_string()),
            }]),
        );
        let mut tmpfs = HashMap::new();
        tmpfs.insert(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=256m,mode=1777".to_string(),
        );
        let memory = self.limits.memory_mb * 1024 * 1024;
        ContainerCreateBody {
            image: Some(self.image.clone()),
            user: Some(self.user()),
            env: Some(self.base_env(project.id)),
            // Only keeps the container alive; commands are exec'd.
            entrypoint: Some(vec!["sleep".into()]),
            cmd: Some(vec!["infinity".into()]),
            working_dir: Some(WORKSPACE.into()),
            labels: Some(labels),
            exposed_ports: Some(vec![port_key]),
            network_disabled: Some(false),
            host_config: Some(HostConfig {
                binds: Some(vec![
                    format!("{}:{WORKSPACE}", project.workspace.display()),
                    format!("{}:{NPM_CACHE}", self.npm_cache.display()),
                ]),
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
                port_bindings: Some(port_bindings),
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
        std::fs::create_dir_all(&project.workspace).map_err(|e| SandboxError::Io(e.to_string()))?;
        if !self.hand_over {
            return Ok(());
        }
        let (dir, uid, gid) = (project.workspace.clone(), self.uid, self.gid);
        tokio::task::spawn_blocking(move || hand_over_tree(&dir, uid, gid))
            .await
            .map_err(|e| SandboxError::Io(e.to_string()))?
            .map_err(|e| SandboxError::Io(format!("could not hand the workspace over: {e}")))
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

/// Makes `uid:gid` own every entry under `dir` (not following symlinks).
/// Entries already owned are only stat'ed, so repeated calls are cheap.
fn hand_over_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.uid() != uid || meta.gid() != gid {
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
                let (container, mut exec) = self.launch(project, &command, &logs).await?;
                let outcome = tokio::select! {
                    _ = &mut exec.pump => match self.exit_code(&exec.id).await {
                        0 => Ok(()),
                        code => Err(SandboxError::CommandFailed { label: command.label.clone(), code, log_tail: Vec::new() }),
                    },
                    () = tokio::time::sleep(timeout) => Err(SandboxError::Timeout { label: command.label.clone(), secs: timeout.as_secs(), log_tail: Vec::new() }),
                    () = cancel.cancelled() => Err(SandboxError::Cancelled),
                };
                if outcome.is_err() && !exec.pump.is_finished() {
                    self.kill(project.id, &container, &exec).await;
                    // Let the last lines reach the log before anyone quotes it.
                    let _ = tokio::time::timeout(TERM_GRACE, &mut exec.pump).await;
                    exec.pump.abort();
                }
                outcome
            }
            .instrument(span),
        )
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
                    address: SocketAddr::from(([127, 0, 0, 1], project.port)),
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
        self.stop(project)
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

    fn npm_cache(&self) -> String {
        NPM_CACHE.to_string()
    }

    fn listen_host(&self) -> &'static str {
        "0.0.0.0"
    }
}
