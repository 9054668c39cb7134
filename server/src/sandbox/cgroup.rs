//! CPU, memory and process limits for process sandboxes, through the
//! kernel's control groups where minicode may create them.
//!
//! Each project gets its own group (`minicode-<instance>/<project>`) in the
//! `pids`, `memory` and `cpu` hierarchies (cgroup v1), or one group with those
//! controllers (cgroup v2). A command joins its project's group before it
//! execs bwrap, so every process the app starts is counted: a fork bomb hits
//! `pids.max`, a memory hog is killed by the kernel's OOM killer inside its
//! group, and CPU is capped by CFS quota. Where the groups cannot be created
//! (not root, a read-only `/sys/fs/cgroup`), [`Cgroups::detect`] says which
//! limits are not enforced and the backend falls back to `RLIMIT_NPROC`.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Limits of one project's group.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub pids: i64,
    pub memory_mb: i64,
    pub cpus: f64,
}

/// CFS period; the quota is `cpus` times this.
const CPU_PERIOD_US: i64 = 100_000;

#[derive(Clone, Debug)]
enum Layout {
    /// One folder per controller: `/sys/fs/cgroup/<controller>/…`.
    V1 {
        pids: PathBuf,
        memory: PathBuf,
        cpu: Option<PathBuf>,
    },
    /// One unified folder.
    V2 { root: PathBuf },
}

/// The parent groups of this minicode, one per hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroups {
    layout: Layout,
    limits: Limits,
}

impl Cgroups {
    /// Creates this instance's parent groups. `Err` says why limits cannot be
    /// enforced (the server starts anyway, with the rlimit fallback).
    pub fn detect(instance: &str, limits: Limits) -> Result<Self, String> {
        let base = Path::new("/sys/fs/cgroup");
        let name = format!("minicode-{instance}");
        let layout = if base.join("cgroup.controllers").is_file() {
            let root = base.join(&name);
            std::fs::create_dir_all(&root)
                .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
            // Children of this group get the three controllers (the parent
            // must have them enabled for us too).
            let _ = std::fs::write(base.join("cgroup.subtree_control"), "+pids +memory +cpu");
            std::fs::write(root.join("cgroup.subtree_control"), "+pids +memory +cpu")
                .map_err(|e| format!("cannot enable the pids/memory/cpu controllers: {e}"))?;
            Layout::V2 { root }
        } else {
            let make = |controller: &str| -> Result<PathBuf, String> {
                let dir = base.join(controller).join(&name);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(dir)
            };
            Layout::V1 {
                pids: make("pids")?,
                memory: make("memory")?,
                cpu: make("cpu").ok(),
            }
        };
        Ok(Self { layout, limits })
    }

    /// What is enforced, for the start-up log.
    pub fn describe(&self) -> String {
        let cpu = match &self.layout {
            Layout::V1 { cpu: None, .. } => "cpu not limited".to_string(),
            _ => format!("{} CPU", self.limits.cpus),
        };
        let version = match self.layout {
            Layout::V1 { .. } => "cgroup v1",
            Layout::V2 { .. } => "cgroup v2",
        };
        format!(
            "{} processes, {} MiB memory, {cpu} per sandbox ({version})",
            self.limits.pids, self.limits.memory_mb
        )
    }

    fn dirs(&self, project: Uuid) -> Vec<PathBuf> {
        let name = project.to_string();
        match &self.layout {
            Layout::V1 { pids, memory, cpu } => {
                let mut dirs = vec![pids.join(&name), memory.join(&name)];
                dirs.extend(cpu.iter().map(|c| c.join(&name)));
                dirs
            }
            Layout::V2 { root } => vec![root.join(&name)],
        }
    }

    /// Creates (or refreshes) the project's group with its limits and
    /// returns open handles on its `cgroup.procs` files: a child writes `0`
    /// to each before it execs, which moves it in.
    pub fn join_handles(&self, project: Uuid) -> io::Result<Vec<OwnedFd>> {
        let memory = self.limits.memory_mb.max(16) * 1024 * 1024;
        let quota = ((self.limits.cpus * CPU_PERIOD_US as f64) as i64).max(1000);
        let name = project.to_string();
        match &self.layout {
            Layout::V1 {
                pids,
                memory: mem,
                cpu,
            } => {
                let p = pids.join(&name);
                std::fs::create_dir_all(&p)?;
                std::fs::write(p.join("pids.max"), self.limits.pids.to_string())?;
                let m = mem.join(&name);
                std::fs::create_dir_all(&m)?;
                std::fs::write(m.join("memory.limit_in_bytes"), memory.to_string())?;
                // No swap on top, where the kernel accounts it.
                let _ = std::fs::write(m.join("memory.memsw.limit_in_bytes"), memory.to_string());
                if let Some(cpu) = cpu {
                    let c = cpu.join(&name);
                    std::fs::create_dir_all(&c)?;
                    let _ = std::fs::write(c.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string());
                    std::fs::write(c.join("cpu.cfs_quota_us"), quota.to_string())?;
                }
            }
            Layout::V2 { root } => {
                let g = root.join(&name);
                std::fs::create_dir_all(&g)?;
                std::fs::write(g.join("pids.max"), self.limits.pids.to_string())?;
                std::fs::write(g.join("memory.max"), memory.to_string())?;
                let _ = std::fs::write(g.join("memory.swap.max"), "0");
                std::fs::write(g.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))?;
            }
        }
        self.dirs(project)
            .iter()
            .map(|d| {
                OpenOptions::new()
                    .write(true)
                    .open(d.join("cgroup.procs"))
                    .map(OwnedFd::from)
            })
            .collect()
    }

    /// Kills every process left in the project's group (one that left
    /// minicode's process group on purpose included). A few passes without
    /// waiting catch children forked while the list was read; this runs on
    /// the async runtime, so it never sleeps.
    pub fn kill_all(&self, project: Uuid) {
        let Some(dir) = self.dirs(project).into_iter().next() else {
            return;
        };
        for _ in 0..3 {
            let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                return;
            };
            let pids: Vec<i32> = procs
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// Removes the project's (empty) groups.
    pub fn remove(&self, project: Uuid) {
        for dir in self.dirs(project) {
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// How many processes the kernel killed for going over the project's
    /// memory limit. Read by the memory-limit tests.
    #[cfg(test)]
    pub fn oom_kills(&self, project: Uuid) -> Option<u64> {
        let (file, dir) = match &self.layout {
            Layout::V1 { memory, .. } => ("memory.oom_control", memory),
            Layout::V2 { root } => ("memory.events", root),
        };
        std::fs::read_to_string(dir.join(project.to_string()).join(file))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
    }
}

/// Moves the calling process into the groups whose `cgroup.procs` handles
/// are given. Runs in the forked child before exec: only `write(2)`.
pub fn join(handles: &[OwnedFd]) -> io::Result<()> {
    for fd in handles {
        nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
    }
    Ok(())
}
