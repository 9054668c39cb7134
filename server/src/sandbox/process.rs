//! The `process` backend: the app's commands run as child processes of
//! minicode, in the project's workspace, needing nothing but Node.js.
//!
//! Isolation it provides: a scrubbed environment (no server secrets: only
//! PATH, HOME, npm's cache and a few harmless variables), a process group of
//! its own per command (so the whole tree is killed together), resource
//! limits (open files, file size, no core dumps, a V8 heap cap), per-step
//! timeouts, and a port allocated by minicode. It does not isolate the file
//! system or the network: use the `docker` backend for untrusted code.
//!
//! No process outlives a stop or a shutdown: every process group is recorded
//! in memory and in a pid file, killed on stop, and pid files left by a
//! crashed minicode are reaped at the next start.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use minicode::protocol::LogStream;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::SandboxError;
use super::backend::{Backend, BoxFuture, CommandSpec, ProjectEnv, Running};
use super::logs::LogSink;
use crate::config::SandboxKind;

/// How long a process group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Limits applied to every child process.
#[derive(Clone, Debug)]
pub struct ProcessLimits {
    pub open_files: u64,
    pub max_file_bytes: u64,
    pub node_heap_mb: u64,
}

pub struct ProcessBackend {
    /// Pid files of running process groups.
    run_dir: PathBuf,
    /// HOME of sandboxed commands (npm keeps its config and logs there).
    home: PathBuf,
    npm_cache: PathBuf,
    path_var: String,
    pass_env: Vec<(String, String)>,
    limits: ProcessLimits,
    groups: Mutex<HashMap<Uuid, Vec<i32>>>,
}

impl ProcessBackend {
    /// `state_dir` holds pid files and the sandbox HOME; `npm_cache` is shared by all projects.
    pub fn new(
        state_dir: &Path,
        npm_cache: &Path,
        limits: ProcessLimits,
        pass_env: Vec<(String, String)>,
    ) -> std::io::Result<Self> {
        let run_dir = state_dir.join("run");
        let home = state_dir.join("home");
        std::fs::create_dir_all(&run_dir)?;
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(npm_cache)?;
        // Children see only the system folders and the one holding `node`.
        let mut path_var = String::new();
        if let Some(node_dir) = which("node").and_then(|p| p.parent().map(Path::to_path_buf)) {
            path_var.push_str(&node_dir.display().to_string());
            path_var.push(':');
        }
        path_var.push_str("/usr/local/bin:/usr/bin:/bin");
        Ok(Self {
            run_dir,
            home,
            npm_cache: npm_cache.to_path_buf(),
            path_var,
            pass_env,
            limits,
            groups: Mutex::default(),
        })
    }

    /// Starts `command` in its own process group with a clean environment.
    /// Returns the child and the tasks copying its output into the log.
    fn start(
        &self,
        project: &ProjectEnv,
        command: &CommandSpec,
        logs: &LogSink,
    ) -> Result<(Child, Vec<JoinHandle<()>>), SandboxError> {
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args)
            .current_dir(&project.workspace)
            .env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .env("BROWSER", "none")
            .env("npm_config_cache", &self.npm_cache)
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .env(
                "NODE_OPTIONS",
                format!("--max-old-space-size={}", self.limits.node_heap_mb),
            )
            .env("MINICODE_SANDBOX_PROJECT", project.id.to_string())
            .envs(self.pass_env.iter().map(|(k, v)| (k, v)))
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let limits = self.limits.clone();
        // SAFETY: the closure runs in the forked child before exec and only
        // calls setrlimit, which is async-signal-safe; it allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || apply_limits(&limits));
        }
        logs.system(format!("$ {}", command.label));
        let mut child = cmd.spawn().map_err(|e| SandboxError::Spawn {
            program: command.program.clone(),
            message: e.to_string(),
        })?;
        if let Some(pid) = child.id() {
            self.remember(project.id, pid as i32);
        }
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, LogStream::Stdout, logs.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, LogStream::Stderr, logs.clone())));
        }
        Ok((child, pumps))
    }

    fn remember(&self, project: Uuid, pgid: i32) {
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(project)
            .or_default()
            .push(pgid);
        let start = process_start_time(pgid).unwrap_or_default();
        let _ = std::fs::write(
            self.run_dir.join(format!("{project}.{pgid}")),
            start.to_string(),
        );
    }

    fn forget(&self, project: Uuid, pgid: i32) {
        if let Some(groups) = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&project)
        {
            groups.retain(|g| *g != pgid);
        }
        let _ = std::fs::remove_file(self.run_dir.join(format!("{project}.{pgid}")));
    }

    /// Every process group of the project minicode knows about.
    pub fn groups_of(&self, project: Uuid) -> Vec<i32> {
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&project)
            .cloned()
            .unwrap_or_default()
    }
}

fn apply_limits(limits: &ProcessLimits) -> std::io::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    let set =
        |resource, value: u64| setrlimit(resource, value, value).map_err(std::io::Error::from);
    set(Resource::RLIMIT_NOFILE, limits.open_files)?;
    set(Resource::RLIMIT_FSIZE, limits.max_file_bytes)?;
    set(Resource::RLIMIT_CORE, 0)?;
    Ok(())
}

async fn pump(stream: impl AsyncRead + Unpin, kind: LogStream, logs: LogSink) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.line(kind, &line);
    }
}

/// SIGTERM to the whole group, then SIGKILL after a grace period.
async fn kill_group(pgid: i32) {
    let group = Pid::from_raw(pgid);
    if killpg(group, Signal::SIGTERM).is_err() {
        return; // already gone
    }
    let deadline = tokio::time::Instant::now() + TERM_GRACE;
    while tokio::time::Instant::now() < deadline {
        if !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// True while any process of the group exists.
pub fn group_alive(pgid: i32) -> bool {
    // Signal 0 checks for existence without sending anything.
    killpg(Pid::from_raw(pgid), None).is_ok()
}

/// The start time of a process (field 22 of /proc/pid/stat), to tell a live
/// process from a recycled pid.
fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(-1)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

impl Backend for ProcessBackend {
    fn kind(&self) -> SandboxKind {
        SandboxKind::Process
    }

    fn run<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let (mut child, pumps) = self.start(project, &command, &logs)?;
            let pgid = child.id().map(|p| p as i32).unwrap_or_default();
            let outcome = tokio::select! {
                status = child.wait() => match status {
                    Ok(s) if s.success() => Ok(()),
                    Ok(s) => Err(SandboxError::CommandFailed { label: command.label.clone(), code: exit_code(s), log_tail: Vec::new() }),
                    Err(e) => Err(SandboxError::Spawn { program: command.program.clone(), message: e.to_string() }),
                },
                () = tokio::time::sleep(timeout) => Err(SandboxError::Timeout { label: command.label.clone(), secs: timeout.as_secs(), log_tail: Vec::new() }),
                () = cancel.cancelled() => Err(SandboxError::Cancelled),
            };
            if outcome.is_err() {
                kill_group(pgid).await;
                let _ = child.wait().await;
            } else if group_alive(pgid) {
                // The command exited but left children behind: they go too.
                kill_group(pgid).await;
            }
            // Let the last lines reach the log before anyone quotes it.
            let _ = tokio::time::timeout(TERM_GRACE, futures::future::join_all(pumps)).await;
            self.forget(project.id, pgid);
            outcome
        })
    }

    fn spawn_server<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
    ) -> BoxFuture<'a, Result<Running, SandboxError>> {
        Box::pin(async move {
            let (mut child, pumps) = self.start(project, &command, &logs)?;
            let pgid = child.id().map(|p| p as i32).unwrap_or_default();
            let (tx, rx) = watch::channel(None);
            let project_id = project.id;
            let run_dir = self.run_dir.clone();
            tokio::spawn(async move {
                let code = child.wait().await.map(exit_code).unwrap_or(-1);
                // Whatever the server left in its group goes with it.
                if group_alive(pgid) {
                    kill_group(pgid).await;
                }
                let _ = tokio::time::timeout(TERM_GRACE, futures::future::join_all(pumps)).await;
                let _ = std::fs::remove_file(run_dir.join(format!("{project_id}.{pgid}")));
                logs.system(format!("dev server exited with code {code}"));
                let _ = tx.send(Some(code));
            });
            Ok(Running {
                exited: rx,
                address: SocketAddr::from(([127, 0, 0, 1], project.port)),
            })
        })
    }

    fn stop<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let groups = self.groups_of(project);
            futures::future::join_all(groups.iter().map(|g| kill_group(*g))).await;
            for pgid in groups {
                self.forget(project, pgid);
            }
        })
    }

    fn destroy<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        self.stop(project)
    }

    fn reap_orphans(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let mut reaped = 0;
            let Ok(entries) = std::fs::read_dir(&self.run_dir) else {
                return 0;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let Some(pgid) = name.rsplit('.').next().and_then(|p| p.parse::<i32>().ok()) else {
                    continue;
                };
                let recorded: Option<u64> = std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                // Only kill the group if its leader is the very process we started.
                if recorded.is_some() && recorded == process_start_time(pgid) && group_alive(pgid) {
                    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                    reaped += 1;
                }
                let _ = std::fs::remove_file(entry.path());
            }
            reaped
        })
    }

    fn npm_cache(&self) -> String {
        self.npm_cache.display().to_string()
    }

    fn listen_host(&self) -> &'static str {
        "127.0.0.1"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::sandbox::logs::LogBuffer;

    async fn backend(dir: &Path) -> (ProcessBackend, LogSink, LogBuffer) {
        let db = crate::db::Db::connect(
            &crate::config::Secret::new(format!("sqlite://{}/t.db?mode=rwc", dir.display())),
            2,
        )
        .await
        .unwrap();
        let buffer = LogBuffer::default();
        let sink = LogSink::spawn(Uuid::new_v4(), buffer.clone(), EventBus::new(db));
        let limits = ProcessLimits {
            open_files: 1024,
            max_file_bytes: 1 << 30,
            node_heap_mb: 256,
        };
        (
            ProcessBackend::new(&dir.join("state"), &dir.join("npm"), limits, Vec::new()).unwrap(),
            sink,
            buffer,
        )
    }

    /// Killed processes linger as zombies until reaped: poll briefly.
    async fn gone_within(pgid: i32, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if !group_alive(pgid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    fn sh(script: &str) -> CommandSpec {
        CommandSpec {
            label: script.into(),
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: Vec::new(),
        }
    }

    #[tokio::test]
    async fn environment_is_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, buffer) = backend(dir.path()).await;
        // SAFETY-free: tests set a variable the child must not see.
        let project = ProjectEnv {
            id: Uuid::new_v4(),
            workspace: dir.path().to_path_buf(),
            port: 1,
        };
        let mut command = sh("env; echo done");
        command.env.push(("APP_VAR".into(), "visible".into()));
        backend
            .run(
                &project,
                command,
                sink,
                Duration::from_secs(10),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let out = buffer.tail(200).join("\n");
        assert!(out.contains("APP_VAR=visible"), "{out}");
        assert!(out.contains("npm_config_cache="), "{out}");
        assert!(
            !out.contains("CARGO"),
            "the server's environment leaked: {out}"
        );
        assert!(!out.contains("RUST_BACKTRACE"), "{out}");
    }

    #[tokio::test]
    async fn failures_and_timeouts_kill_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, _) = backend(dir.path()).await;
        let project = ProjectEnv {
            id: Uuid::new_v4(),
            workspace: dir.path().to_path_buf(),
            port: 1,
        };
        let err = backend
            .run(
                &project,
                sh("exit 3"),
                sink.clone(),
                Duration::from_secs(5),
                CancellationToken::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, SandboxError::CommandFailed { code: 3, .. }),
            "{err}"
        );

        // A child that forks a grandchild and hangs: the timeout kills both.
        let marker = dir.path().join("grandchild.pid");
        let script = format!("sleep 300 & echo $! > {}; sleep 300", marker.display());
        let started = std::time::Instant::now();
        let err = backend
            .run(
                &project,
                sh(&script),
                sink,
                Duration::from_millis(500),
                CancellationToken::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, SandboxError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let grandchild: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            nix::sys::signal::kill(Pid::from_raw(grandchild), None).is_err(),
            "grandchild survived"
        );
        assert!(backend.groups_of(project.id).is_empty());
    }

    #[tokio::test]
    async fn stop_kills_a_server_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, _) = backend(dir.path()).await;
        let project = ProjectEnv {
            id: Uuid::new_v4(),
            workspace: dir.path().to_path_buf(),
            port: 1,
        };
        let mut running = backend
            .spawn_server(&project, sh("sleep 300 & sleep 300"), sink)
            .await
            .unwrap();
        let groups = backend.groups_of(project.id);
        assert_eq!(groups.len(), 1);
        assert!(group_alive(groups[0]));
        backend.stop(project.id).await;
        assert!(!group_alive(groups[0]));
        tokio::time::timeout(
            Duration::from_secs(5),
            running.exited.wait_for(Option::is_some),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            std::fs::read_dir(dir.path().join("state/run"))
                .unwrap()
                .next()
                .is_none(),
            "pid file removed"
        );
    }

    #[tokio::test]
    async fn orphans_of_a_crashed_server_are_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let (first, sink, _) = backend(dir.path()).await;
        let project = ProjectEnv {
            id: Uuid::new_v4(),
            workspace: dir.path().to_path_buf(),
            port: 1,
        };
        let _running = first
            .spawn_server(&project, sh("sleep 300"), sink)
            .await
            .unwrap();
        let pgid = first.groups_of(project.id)[0];
        // A new minicode (same state folder) finds and kills it.
        let (again, _, _) = backend(dir.path()).await;
        assert_eq!(again.reap_orphans().await, 1);
        assert!(
            gone_within(pgid, Duration::from_secs(3)).await,
            "the orphan survived"
        );
        assert_eq!(again.reap_orphans().await, 0, "pid files are cleared");
    }
}
