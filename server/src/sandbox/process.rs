//! The `process` backend: the app's commands run as child processes of
//! minicode, needing nothing but Node.js and bubblewrap.
//!
//! `process` (the default) runs every command under bubblewrap (see
//! [`super::bwrap`] for what the sandbox sees): its own namespaces, a
//! read-only system, only its workspace writable, no network but the
//! download step's, an unprivileged uid, and cgroup limits on processes,
//! memory and CPU where the kernel lets minicode create groups (see
//! [`super::cgroup`]). `process-unsafe` runs the same commands directly, as
//! minicode's own user: only a scrubbed environment and rlimits, so the app
//! can read everything minicode can. It exists for machines without
//! bubblewrap, where the one account is the machine's owner.
//!
//! Both modes: a scrubbed environment (no server secrets), a process group
//! per command (so the whole tree is killed together), rlimits (open files,
//! file size, no core dumps, a V8 heap cap), per-step timeouts, a port
//! allocated by minicode. No process outlives a stop or a shutdown: every
//! process group is recorded in memory and in a pid file, killed on stop,
//! and pid files left by a crashed minicode are reaped at the next start;
//! bubblewrap's `--die-with-parent` takes the sandbox down with minicode
//! even on `kill -9`.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use minicode::protocol::LogStream;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::SandboxError;
use super::backend::SandboxKind;
use super::backend::{
    Backend, BoxFuture, CommandSpec, ProjectEnv, Running, hand_over_tree, npm_command, which,
};
use super::bridge;
use super::bwrap::{self, Bubblewrap, View};
use super::cgroup::{self, Cgroups};
use super::logs::LogSink;

/// How long a process group gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// Limits applied to every child process.
#[derive(Clone, Debug)]
pub struct ProcessLimits {
    pub open_files: u64,
    pub max_file_bytes: u64,
    pub node_heap_mb: u64,
    /// Processes per sandbox (cgroup), or, without cgroups, per uid (rlimit).
    pub pids: i64,
    pub memory_mb: i64,
    pub cpus: f64,
}

/// How `process` confines its commands.
struct Isolation {
    bwrap: Bubblewrap,
    /// The uid and gid outside the sandbox when minicode runs as root.
    run_as: Option<(u32, u32)>,
    cgroups: Option<Cgroups>,
}

pub struct ProcessBackend {
    /// Pid files of running process groups.
    run_dir: PathBuf,
    /// HOME of unsandboxed commands (npm keeps its config and logs there).
    home: PathBuf,
    /// Per-project folders: `vite/<id>` (Vite's cache), `sock/<id>` (the
    /// bridge's socket).
    state_dir: PathBuf,
    /// minicode's helper scripts (the bridge), mounted read-only.
    tools_dir: PathBuf,
    npm_cache: PathBuf,
    path_var: String,
    pass_env: Vec<(String, String)>,
    limits: ProcessLimits,
    isolation: Option<Isolation>,
    groups: Mutex<HashMap<Uuid, Vec<i32>>>,
    /// The host side of each running dev server's bridge.
    forwarders: bridge::Forwarders,
    /// process-unsafe: the store entry last copied into each workspace.
    copied: Mutex<HashMap<Uuid, PathBuf>>,
}

impl ProcessBackend {
    /// `state_dir` holds pid files and per-project folders; `npm_cache` is
    /// the download cache (written only by the download step). `kind` is
    /// `Process` (bubblewrap) or `ProcessUnsafe`.
    pub fn new(
        kind: SandboxKind,
        state_dir: &Path,
        npm_cache: &Path,
        limits: ProcessLimits,
        sandbox_uid: u32,
        pass_env: Vec<(String, String)>,
    ) -> Result<Self, String> {
        let io = |e: std::io::Error| e.to_string();
        let run_dir = state_dir.join("run");
        let home = state_dir.join("home");
        let tools_dir = state_dir.join("tools");
        for dir in [&run_dir, &home, &tools_dir, npm_cache] {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(tools_dir.join(bridge::SCRIPT_NAME), bridge::SCRIPT).map_err(io)?;
        // Children see only the system folders and the one holding `node`.
        let node_dir = which("node").and_then(|p| p.parent().map(Path::to_path_buf));
        let mut path_var = String::new();
        if let Some(node_dir) = &node_dir {
            path_var.push_str(&node_dir.display().to_string());
            path_var.push(':');
        }
        path_var.push_str("/usr/local/bin:/usr/bin:/bin");
        let isolation = match kind {
            SandboxKind::ProcessUnsafe => None,
            _ => {
                let bwrap = Bubblewrap::detect(node_dir.as_deref())?;
                let run_as = Uid::effective()
                    .is_root()
                    .then_some((sandbox_uid, sandbox_uid));
                let instance = super::backend::instance_id(state_dir);
                let cgroups = match Cgroups::detect(
                    &instance,
                    cgroup::Limits {
                        pids: limits.pids,
                        memory_mb: limits.memory_mb,
                        cpus: limits.cpus,
                    },
                ) {
                    Ok(c) => {
                        tracing::info!(limits = %c.describe(), "process sandbox limits");
                        Some(c)
                    }
                    Err(why) => {
                        tracing::warn!(
                            reason = %why,
                            pids_per_uid = limits.pids,
                            "control groups unavailable: memory and CPU of process sandboxes \
                             are not limited (only the V8 heap cap), processes only per uid"
                        );
                        None
                    }
                };
                if let Some((uid, gid)) = run_as {
                    // The download step writes the cache as the sandbox user.
                    hand_over_tree(npm_cache, uid, gid).map_err(io)?;
                }
                Some(Isolation {
                    bwrap,
                    run_as,
                    cgroups,
                })
            }
        };
        let backend = Self {
            run_dir,
            home,
            state_dir: state_dir.to_path_buf(),
            tools_dir,
            npm_cache: npm_cache.to_path_buf(),
            path_var,
            pass_env,
            limits,
            isolation,
            groups: Mutex::default(),
            forwarders: bridge::Forwarders::default(),
            copied: Mutex::default(),
        };
        if backend.isolation.is_some() {
            backend.probe()?;
        }
        Ok(backend)
    }

    /// Runs `true` in an empty sandbox, so a machine where bubblewrap cannot
    /// create namespaces fails at start-up with bwrap's own words.
    fn probe(&self) -> Result<(), String> {
        let Some(iso) = &self.isolation else {
            return Ok(());
        };
        let empty = self.state_dir.join("probe");
        std::fs::create_dir_all(&empty).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = iso.run_as {
            let _ = std::os::unix::fs::lchown(&empty, Some(uid), Some(gid));
        }
        let view = View {
            app: empty,
            ..View::default()
        };
        let mut cmd = iso.bwrap.command(&view, "true", &[]);
        cmd.env_clear().env("PATH", &self.path_var);
        if let Some((uid, gid)) = iso.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let out = cmd
            .output()
            .map_err(|e| format!("could not run bwrap: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "bubblewrap cannot create a sandbox here: {} (set MINICODE_SANDBOX=process-unsafe \
                 only on a machine you alone use)",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// True when commands run under bubblewrap.
    pub fn isolated(&self) -> bool {
        self.isolation.is_some()
    }

    fn project_dir(&self, what: &str, project: Uuid) -> PathBuf {
        self.state_dir.join(what).join(project.to_string())
    }

    /// What a project's own commands see: the workspace, its modules
    /// read-only, its Vite cache, minicode's tools; no network.
    fn project_view(&self, project: &ProjectEnv, with_socket: bool) -> View {
        View {
            app: project.workspace.clone(),
            modules: project.modules.clone(),
            vite_cache: project
                .modules
                .as_ref()
                .map(|_| self.project_dir("vite", project.id)),
            npm_cache: None,
            run_dir: with_socket.then(|| self.project_dir("sock", project.id)),
            tools: Some(self.tools_dir.clone()),
            network: false,
        }
    }

    /// Creates the view's writable folders and, when minicode is root, hands
    /// them (not their contents) to the sandbox user.
    fn prepare(&self, view: &View) -> Result<(), SandboxError> {
        let io = |e: std::io::Error| SandboxError::Io(e.to_string());
        let mut writable = vec![view.app.clone()];
        writable.extend(view.run_dir.clone());
        if let Some(cache) = &view.vite_cache {
            writable.push(cache.clone());
            writable.extend(
                super::deps::WRITABLE_IN_MODULES
                    .iter()
                    .map(|d| cache.join(d)),
            );
        }
        for dir in &writable {
            std::fs::create_dir_all(dir).map_err(io)?;
            if let Some((uid, gid)) = self.isolation.as_ref().and_then(|i| i.run_as) {
                // lchown: never follow a link, whoever planted it.
                std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
                    .map_err(|e| SandboxError::Io(format!("{}: {e}", dir.display())))?;
            }
        }
        Ok(())
    }

    /// Starts `command` in `view`, in its own process group with a clean
    /// environment. Returns the child and the tasks copying its output into
    /// the log.
    fn start(
        &self,
        project: Uuid,
        view: &View,
        command: &CommandSpec,
        logs: &LogSink,
    ) -> Result<(Child, Vec<JoinHandle<()>>), SandboxError> {
        self.prepare(view)?;
        let (mut cmd, home, cache) = match &self.isolation {
            Some(iso) => (
                Command::from(iso.bwrap.command(view, &command.program, &command.args)),
                PathBuf::from(bwrap::HOME),
                PathBuf::from(bwrap::NPM_CACHE),
            ),
            None => {
                let mut cmd = Command::new(&command.program);
                cmd.args(&command.args).current_dir(&view.app);
                (cmd, self.home.clone(), self.npm_cache.clone())
            }
        };
        cmd.env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .env("BROWSER", "none")
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .env(
                "NODE_OPTIONS",
                format!("--max-old-space-size={}", self.limits.node_heap_mb),
            )
            .env("MINICODE_SANDBOX_PROJECT", project.to_string())
            .envs(self.pass_env.iter().map(|(k, v)| (k, v)))
            .envs(command.env.iter().map(|(k, v)| (k, v)));
        if view.npm_cache.is_some() || self.isolation.is_none() {
            cmd.env("npm_config_cache", cache);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        let limits = self.limits.clone();
        let (cgroup_fds, run_as, nproc) = match &self.isolation {
            Some(iso) => {
                let fds: Vec<OwnedFd> = match &iso.cgroups {
                    Some(c) => c.join_handles(project).map_err(|e| {
                        SandboxError::Io(format!("could not set the sandbox's limits: {e}"))
                    })?,
                    None => Vec::new(),
                };
                // Without cgroups, RLIMIT_NPROC is the fork-bomb fence.
                let nproc = iso.cgroups.is_none().then_some(limits.pids as u64);
                (fds, iso.run_as, nproc)
            }
            None => (Vec::new(), None, None),
        };
        // SAFETY: the closure runs in the forked child before exec and only
        // makes system calls (setrlimit, write to pre-opened cgroup files,
        // setgroups/setgid/setuid); it allocates nothing.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                apply_limits(&limits, nproc)?;
                cgroup::join(&cgroup_fds)?;
                if let Some((uid, gid)) = run_as {
                    nix::unistd::setgroups(&[]).map_err(std::io::Error::from)?;
                    nix::unistd::setgid(Gid::from_raw(gid)).map_err(std::io::Error::from)?;
                    nix::unistd::setuid(Uid::from_raw(uid)).map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        logs.system(format!("$ {}", command.label));
        let mut child = cmd.spawn().map_err(|e| SandboxError::Spawn {
            program: command.program.clone(),
            message: e.to_string(),
        })?;
        if let Some(pid) = child.id() {
            self.remember(project, pid as i32);
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

    /// Runs a command to completion in `view`.
    async fn run_in(
        &self,
        project: Uuid,
        view: &View,
        command: CommandSpec,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<(), SandboxError> {
        let (mut child, pumps) = self.start(project, view, &command, &logs)?;
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
            let graceful = self.isolation.is_none();
            let (_, _) = tokio::join!(kill_group(pgid, graceful), child.wait());
        } else if group_alive(pgid) {
            // The command exited but left children behind: they go too.
            kill_group(pgid, self.isolation.is_none()).await;
        }
        // The cgroup also holds the project's dev server while it runs (a
        // publish builds next to it): then what escaped the command's group
        // is swept when the server stops, not now with the server.
        let others_alive = self
            .groups_of(project)
            .into_iter()
            .any(|g| g != pgid && group_alive(g));
        if !others_alive {
            self.kill_cgroup(project);
        }
        // Let the last lines reach the log before anyone quotes it.
        let _ = tokio::time::timeout(TERM_GRACE, futures::future::join_all(pumps)).await;
        self.forget(project, pgid);
        outcome
    }

    /// Kills whatever is left in the project's cgroup (a process that left
    /// the process group on purpose).
    fn kill_cgroup(&self, project: Uuid) {
        if let Some(c) = self.isolation.as_ref().and_then(|i| i.cgroups.as_ref()) {
            c.kill_all(project);
        }
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

    /// How many of the project's processes the kernel killed for going over
    /// its memory limit (cgroups only). Read by the memory-limit tests.
    #[cfg(test)]
    pub fn memory_limit_hits(&self, project: Uuid) -> Option<u64> {
        self.isolation
            .as_ref()
            .and_then(|i| i.cgroups.as_ref())
            .and_then(|c| c.oom_kills(project))
    }
}

fn apply_limits(limits: &ProcessLimits, nproc: Option<u64>) -> std::io::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    let set =
        |resource, value: u64| setrlimit(resource, value, value).map_err(std::io::Error::from);
    set(Resource::RLIMIT_NOFILE, limits.open_files)?;
    set(Resource::RLIMIT_FSIZE, limits.max_file_bytes)?;
    set(Resource::RLIMIT_CORE, 0)?;
    if let Some(n) = nproc {
        set(Resource::RLIMIT_NPROC, n)?;
    }
    Ok(())
}

async fn pump(stream: impl AsyncRead + Unpin, kind: LogStream, logs: LogSink) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        logs.line(kind, &line);
    }
}

/// Ends a process group: SIGTERM, then SIGKILL after a grace period, and
/// waits (briefly) until it is gone. A sandboxed group goes straight to
/// SIGKILL: the init process of its pid namespace ignores SIGTERM, and the
/// app keeps nothing a clean exit would save (its files are minicode's).
async fn kill_group(pgid: i32, graceful: bool) {
    let group = Pid::from_raw(pgid);
    if graceful {
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
    }
    if killpg(group, Signal::SIGKILL).is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + TERM_GRACE;
    while group_alive(pgid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// True while any process of the group runs. Zombies do not count: a
/// sandbox's processes that outlive bubblewrap are reparented to the host's
/// init, which may take seconds to reap them, and waiting for that made
/// every sandboxed command about 2 s slower.
pub fn group_alive(pgid: i32) -> bool {
    // Signal 0 checks for existence without sending anything.
    if killpg(Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok());
        is_pid
            && std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
                // After the command name: state, ppid, pgrp, …
                let Some((_, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let mut fields = rest.split_whitespace();
                let state = fields.next();
                let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
                pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
            })
    })
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

impl Backend for ProcessBackend {
    fn kind(&self) -> SandboxKind {
        if self.isolated() {
            SandboxKind::Process
        } else {
            SandboxKind::ProcessUnsafe
        }
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
            let view = self.project_view(project, false);
            self.run_in(project.id, &view, command, logs, timeout, cancel)
                .await
        })
    }

    fn install_modules<'a>(
        &'a self,
        project: &'a ProjectEnv,
        staging: &'a Path,
        logs: LogSink,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            // 1. Download, no scripts: only npm's own code runs with the network.
            let fetch = View {
                app: staging.to_path_buf(),
                npm_cache: Some(self.npm_cache.clone()),
                network: true,
                ..View::default()
            };
            self.run_in(
                project.id,
                &fetch,
                npm_command(
                    "npm install",
                    &["install", "--ignore-scripts", "--prefer-offline"],
                ),
                logs.clone(),
                timeout,
                cancel.clone(),
            )
            .await?;
            // 2. The packages' install scripts, with no network and nothing
            //    of the host writable but the staging folder.
            let offline = View {
                app: staging.to_path_buf(),
                ..View::default()
            };
            let left = timeout.saturating_sub(started.elapsed());
            self.run_in(
                project.id,
                &offline,
                npm_command("npm rebuild", &["rebuild"]),
                logs,
                left.max(Duration::from_secs(1)),
                cancel,
            )
            .await
        })
    }

    fn attach_modules<'a>(
        &'a self,
        project: &'a ProjectEnv,
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            if self.isolated() {
                // Mounted read-only when each command starts.
                return Ok(());
            }
            let (Some(modules), workspace) = (project.modules.clone(), project.workspace.clone())
            else {
                return Ok(());
            };
            let current = self
                .copied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&project.id)
                .is_some_and(|m| *m == modules);
            if current && workspace.join("node_modules").is_dir() {
                return Ok(());
            }
            let source = modules.clone();
            tokio::task::spawn_blocking(move || super::deps::copy_into(&source, &workspace))
                .await
                .map_err(|e| SandboxError::Io(e.to_string()))?
                .map_err(|e| {
                    SandboxError::Io(format!("could not copy the installed modules: {e}"))
                })?;
            self.copied
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(project.id, modules);
            Ok(())
        })
    }

    fn spawn_server<'a>(
        &'a self,
        project: &'a ProjectEnv,
        command: CommandSpec,
        logs: LogSink,
    ) -> BoxFuture<'a, Result<Running, SandboxError>> {
        Box::pin(async move {
            let isolated = self.isolated();
            let view = self.project_view(project, isolated);
            // Isolated: the dev server has no network; minicode reaches it
            // through the bridge's socket.
            let (command, address) = if isolated {
                self.forwarders
                    .serve(project, &self.project_dir("sock", project.id), command)
                    .await?
            } else {
                (command, ([127, 0, 0, 1], project.port).into())
            };
            let (mut child, pumps) = self.start(project.id, &view, &command, &logs)?;
            let pgid = child.id().map(|p| p as i32).unwrap_or_default();
            let (tx, rx) = watch::channel(None);
            let project_id = project.id;
            let run_dir = self.run_dir.clone();
            let graceful = !isolated;
            tokio::spawn(async move {
                let code = child.wait().await.map(exit_code).unwrap_or(-1);
                // Whatever the server left in its group goes with it.
                if group_alive(pgid) {
                    kill_group(pgid, graceful).await;
                }
                let _ = tokio::time::timeout(TERM_GRACE, futures::future::join_all(pumps)).await;
                let _ = std::fs::remove_file(run_dir.join(format!("{project_id}.{pgid}")));
                logs.system(format!("dev server exited with code {code}"));
                let _ = tx.send(Some(code));
            });
            Ok(Running {
                exited: rx,
                address,
            })
        })
    }

    fn stop<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let groups = self.groups_of(project);
            let graceful = self.isolation.is_none();
            futures::future::join_all(groups.iter().map(|g| kill_group(*g, graceful))).await;
            for pgid in groups {
                self.forget(project, pgid);
            }
            self.kill_cgroup(project);
        })
    }

    fn destroy<'a>(&'a self, project: Uuid) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.stop(project).await;
            self.forwarders.remove(project);
            if let Some(c) = self.isolation.as_ref().and_then(|i| i.cgroups.as_ref()) {
                c.remove(project);
            }
            for what in ["vite", "sock"] {
                let _ = std::fs::remove_dir_all(self.project_dir(what, project));
            }
        })
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
            &crate::config::secret::Secret::new(format!(
                "sqlite://{}/t.db?mode=rwc",
                dir.display()
            )),
            Some(2),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
        let buffer = LogBuffer::default();
        let sink = LogSink::spawn(Uuid::new_v4(), buffer.clone(), EventBus::new(db));
        let limits = ProcessLimits {
            open_files: 1024,
            max_file_bytes: 1 << 30,
            node_heap_mb: 256,
            pids: 256,
            memory_mb: 256,
            cpus: 1.0,
        };
        (
            ProcessBackend::new(
                SandboxKind::Process,
                &dir.join("state"),
                &dir.join("npm"),
                limits,
                100_000,
                Vec::new(),
            )
            .unwrap(),
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

    /// A project whose workspace is `dir/ws`, beside the backend's state.
    fn project_in(dir: &Path) -> ProjectEnv {
        let workspace = dir.join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        ProjectEnv {
            id: Uuid::new_v4(),
            workspace,
            port: 1,
            modules: None,
        }
    }

    /// Host pids of the live processes a project's sandbox runs.
    fn sandbox_processes(project: Uuid) -> Vec<i32> {
        let needle = format!("MINICODE_SANDBOX_PROJECT={project}");
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let zombie = stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
                !zombie
                    && std::fs::read(format!("/proc/{pid}/environ"))
                        .unwrap_or_default()
                        .split(|b| *b == 0)
                        .any(|v| v == needle.as_bytes())
            })
            .collect()
    }

    async fn run_sh(
        backend: &ProcessBackend,
        project: &ProjectEnv,
        sink: &LogSink,
        script: &str,
        timeout: Duration,
    ) -> Result<(), SandboxError> {
        backend
            .run(
                project,
                sh(script),
                sink.clone(),
                timeout,
                CancellationToken::new(),
            )
            .await
    }

    #[tokio::test]
    async fn environment_is_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, buffer) = backend(dir.path()).await;
        let project = project_in(dir.path());
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
        assert!(out.contains("HOME=/home/sandbox"), "{out}");
        assert!(
            !out.contains("npm_config_cache="),
            "the app's own commands do not get the npm cache: {out}"
        );
        assert!(
            !out.contains("CARGO"),
            "the server's environment leaked: {out}"
        );
        assert!(!out.contains("RUST_BACKTRACE"), "{out}");
    }

    /// Everything an app could try from inside: each attempt must fail.
    #[tokio::test]
    async fn the_sandbox_reaches_nothing_of_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, buffer) = backend(dir.path()).await;
        let project = project_in(dir.path());
        // A secret beside the workspace (as the database is), and a listener
        // on the host's loopback (as minicode's own port is).
        std::fs::write(dir.path().join("minicode.db"), "secret-db").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server_pid = std::process::id();
        let script = format!(
            "echo uid=$(id -u); \
             cat /app/../minicode.db {db} 2>/dev/null && echo LEAK-db; \
             cat /proc/{server_pid}/environ 2>/dev/null && echo LEAK-environ; \
             ls /proc | grep -qx {server_pid} && echo LEAK-pid; \
             echo x > /usr/pwned 2>/dev/null && echo LEAK-usr; \
             node -e \"require('net').connect({port},'127.0.0.1').on('connect',()=>{{console.log('LEAK-port');process.exit(0)}}).on('error',()=>process.exit(0))\"; \
             echo pids=$(ls /proc | grep -c '^[0-9]'); echo done",
            db = dir.path().join("minicode.db").display(),
        );
        run_sh(&backend, &project, &sink, &script, Duration::from_secs(20))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let out = buffer.tail(200).join("\n");
        assert!(out.contains("done"), "{out}");
        // (The first line is the command itself, which names each attempt.)
        assert!(!out.lines().skip(1).any(|l| l.contains("LEAK")), "{out}");
        assert!(!out.contains("secret-db"), "{out}");
        assert!(out.contains("uid=1000"), "{out}");
        let pids: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("pids="))
            .and_then(|n| n.trim().parse().ok())
            .expect("pid count");
        assert!(pids <= 5, "the sandbox sees only its own processes: {pids}");
        drop(listener);
    }

    #[tokio::test]
    async fn a_fork_bomb_is_capped_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, buffer) = backend(dir.path()).await;
        let project = project_in(dir.path());
        let id = project.id;
        let counter = tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                most = most.max(sandbox_processes(id).len());
            }
            most
        });
        let bomb = "i=0; while [ $i -lt 2000 ]; do sleep 60 & i=$((i+1)); done; wait";
        // The shell gives up when it cannot fork any more (or the step times out).
        let err = run_sh(&backend, &project, &sink, bomb, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SandboxError::CommandFailed { .. } | SandboxError::Timeout { .. }
            ),
            "{err}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = buffer.tail(50).join("\n").to_lowercase();
        assert!(log.contains("fork"), "the limit stopped it: {log}");
        let most = counter.await.unwrap();
        // The limit is 256 processes (tests' ProcessLimits); bwrap adds two.
        assert!(most <= 260, "{most} processes: the limit did not hold");
        assert!(
            sandbox_processes(id).is_empty(),
            "the bomb outlived its step"
        );
        // The host is fine: it can still start processes.
        assert!(
            std::process::Command::new("true")
                .status()
                .unwrap()
                .success()
        );
    }

    #[tokio::test]
    async fn a_memory_hog_is_killed_inside_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, buffer) = backend(dir.path()).await;
        let project = project_in(dir.path());
        if backend.memory_limit_hits(project.id).is_none()
            && backend
                .isolation
                .as_ref()
                .is_some_and(|i| i.cgroups.is_none())
        {
            eprintln!("control groups unavailable here: memory is not limited, nothing to test");
            return;
        }
        // Buffers live outside V8's heap: only the cgroup limit stops them.
        let hog = "node -e 'const a=[]; for(;;) a.push(Buffer.alloc(1<<20, 1))'";
        let err = run_sh(&backend, &project, &sink, hog, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SandboxError::CommandFailed { .. }),
            "killed, not timed out: {err}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            backend.memory_limit_hits(project.id).unwrap_or(0) > 0,
            "{:?} {}",
            backend.memory_limit_hits(project.id),
            buffer.tail(30).join("\n")
        );
        assert!(sandbox_processes(project.id).is_empty());
    }

    #[tokio::test]
    async fn failures_and_timeouts_kill_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, _) = backend(dir.path()).await;
        let project = project_in(dir.path());
        let err = run_sh(&backend, &project, &sink, "exit 3", Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SandboxError::CommandFailed { code: 3, .. }),
            "{err}"
        );

        // A child that forks a grandchild (in a session of its own) and
        // hangs: the timeout kills both.
        let started = std::time::Instant::now();
        let err = run_sh(
            &backend,
            &project,
            &sink,
            "setsid sleep 300 & sleep 300",
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SandboxError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
        assert!(
            sandbox_processes(project.id).is_empty(),
            "a process survived: {:?}",
            sandbox_processes(project.id)
        );
        assert!(backend.groups_of(project.id).is_empty());
    }

    #[tokio::test]
    async fn stop_kills_a_server_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let (backend, sink, _) = backend(dir.path()).await;
        let project = project_in(dir.path());
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
        let project = project_in(dir.path());
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
