//! bubblewrap: what a process sandbox sees.
//!
//! Every command of the `process` backend runs under `bwrap` with:
//! - its own user, pid, ipc, uts, cgroup and network namespaces, and no
//!   capabilities; inside it is uid 1000. Outside it is minicode's uid, or
//!   the configured sandbox uid when minicode runs as root;
//! - a read-only system (`/usr` and its usual links, the folder `node`
//!   lives in, a few files of `/etc` for DNS and TLS), a fresh `/proc` that
//!   shows only the sandbox's processes, a minimal `/dev`, a private `/tmp`
//!   and `HOME`;
//! - one writable folder, mounted at [`APP`]: the project's workspace (or,
//!   for building a module store, the store's staging folder);
//! - the installed modules mounted read-only at `/app/node_modules`, with a
//!   writable per-project folder over `node_modules/.vite` for Vite's cache;
//! - no network at all, except for the one step that downloads packages
//!   (`npm install --ignore-scripts` on a package.json minicode wrote itself:
//!   no code of the project or of its packages runs while the network is on).
//!   The dev server is reached through a Unix socket in a per-project folder
//!   (see [`super::bridge`]).
//!
//! Nothing else of the host is visible: not the data folder, the database,
//! another workspace, the npm cache (except while downloading), or minicode's
//! own process (`/proc/<pid>/environ` with its secrets).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use std::process::Command;

pub use super::layout::{APP, HOME, NPM_CACHE, RUN_DIR, TOOLS_DIR};

/// What one command gets to see and do.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Mounted read-write at [`APP`], the working directory.
    pub app: PathBuf,
    /// Installed modules, mounted read-only at `/app/node_modules`.
    pub modules: Option<PathBuf>,
    /// Holds the per-project folders mounted read-write over Vite's folders
    /// in `/app/node_modules` (`.vite`, `.vite-temp`).
    pub vite_cache: Option<PathBuf>,
    /// The npm cache, read-write at [`NPM_CACHE`] (the download step only).
    pub npm_cache: Option<PathBuf>,
    /// Mounted read-write at [`RUN_DIR`].
    pub run_dir: Option<PathBuf>,
    /// Mounted read-only at [`TOOLS_DIR`].
    pub tools: Option<PathBuf>,
    /// The host's network (the download step only).
    pub network: bool,
}

/// How to start `bwrap` on this machine.
#[derive(Clone, Debug)]
pub struct Bubblewrap {
    program: PathBuf,
    /// Host folders bound read-only at the same path.
    system: Vec<PathBuf>,
    /// Files of `/etc` bound read-only (name resolution, TLS roots).
    etc: Vec<PathBuf>,
    /// `--disable-userns` is understood (bubblewrap 0.8+).
    disable_userns: bool,
}

impl Bubblewrap {
    /// Finds `bwrap` and the folders a sandboxed `node` needs. `node_dir` is
    /// the folder holding the `node` binary, bound too when it is not under
    /// `/usr` (a Node.js installed in `/opt` or `/usr/local` elsewhere).
    pub fn detect(node_dir: Option<&Path>) -> Result<Self, String> {
        let program = super::backend::which("bwrap").ok_or_else(|| {
            "bubblewrap (`bwrap`) is not installed: install it (Debian: apt-get install \
             bubblewrap; scripts/setup does), or set MINICODE_SANDBOX=process-unsafe on a \
             machine only you use"
                .to_string()
        })?;
        let mut system: Vec<PathBuf> = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .collect();
        if let Some(dir) = node_dir {
            // The prefix (…/bin/node → …): npm lives in its lib/ folder.
            let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            let prefix = real.parent().map(Path::to_path_buf).unwrap_or(real);
            if !system.iter().any(|s| prefix.starts_with(s)) {
                system.push(prefix);
            }
        }
        let etc = [
            "/etc/resolv.conf",
            "/etc/hosts",
            "/etc/nsswitch.conf",
            "/etc/ssl",
            "/etc/ca-certificates",
            "/etc/pki",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
        let help = std::process::Command::new(&program)
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        Ok(Self {
            program,
            system,
            etc,
            disable_userns: help.contains("--disable-userns"),
        })
    }

    /// The `bwrap` command line that runs `program args…` in `view`. The
    /// caller adds the environment (bwrap passes its own on) and the
    /// credentials.
    pub fn command(&self, view: &View, program: &str, args: &[String]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.args(view)).arg("--").arg(program).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn args(&self, view: &View) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["--unshare-all", "--unshare-user"]);
        if view.network {
            push(&["--share-net"]);
        }
        // Inside: an ordinary user with no capabilities; the sandbox can
        // create no further user namespace (so no way to regain any).
        push(&["--uid", "1000", "--gid", "1000", "--cap-drop", "ALL"]);
        if self.disable_userns {
            push(&["--disable-userns"]);
        }
        // No `--new-session`: the sandbox has no terminal (stdin is
        // /dev/null, output goes to pipes), and staying in minicode's process
        // group for the command lets one killpg reach the whole tree.
        push(&["--die-with-parent"]);
        for dir in &self.system {
            let d = dir.display().to_string();
            push(&["--ro-bind", &d, &d]);
        }
        for file in &self.etc {
            let f = file.display().to_string();
            push(&["--ro-bind", &f, &f]);
        }
        push(&[
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", HOME,
        ]);
        let app = view.app.display().to_string();
        push(&["--bind", &app, APP]);
        if let Some(modules) = &view.modules {
            let m = modules.display().to_string();
            push(&["--ro-bind", &m, &format!("{APP}/node_modules")]);
            if let Some(cache) = &view.vite_cache {
                for dir in super::deps::WRITABLE_IN_MODULES {
                    let c = cache.join(dir).display().to_string();
                    push(&["--bind", &c, &format!("{APP}/node_modules/{dir}")]);
                }
            }
        }
        if let Some(cache) = &view.npm_cache {
            let c = cache.display().to_string();
            push(&["--bind", &c, NPM_CACHE]);
        }
        if let Some(run) = &view.run_dir {
            let r = run.display().to_string();
            push(&["--bind", &r, RUN_DIR]);
        }
        if let Some(tools) = &view.tools {
            let t = tools.display().to_string();
            push(&["--ro-bind", &t, TOOLS_DIR]);
        }
        push(&["--chdir", APP]);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bwrap() -> Bubblewrap {
        Bubblewrap {
            program: "bwrap".into(),
            system: vec!["/usr".into()],
            etc: vec!["/etc/resolv.conf".into()],
            disable_userns: true,
        }
    }

    #[test]
    fn the_network_is_off_unless_asked_for() {
        let view = View {
            app: "/data/ws/p".into(),
            ..View::default()
        };
        let args = bwrap().args(&view);
        assert!(args.contains(&"--unshare-all".to_string()));
        assert!(!args.contains(&"--share-net".to_string()));
        let online = bwrap().args(&View {
            network: true,
            ..view
        });
        assert!(online.contains(&"--share-net".to_string()));
    }

    #[test]
    fn modules_are_read_only_and_the_vite_cache_is_mounted_over_them() {
        let view = View {
            app: "/data/ws/p".into(),
            modules: Some("/cache/modules/h/node_modules".into()),
            vite_cache: Some("/state/vite/p".into()),
            ..View::default()
        };
        let args = bwrap().args(&view).join(" ");
        let modules = args
            .find("--ro-bind /cache/modules/h/node_modules /app/node_modules")
            .expect("modules read-only");
        let vite = args
            .find("--bind /state/vite/p/.vite /app/node_modules/.vite")
            .expect("vite cache");
        assert!(modules < vite, "later mounts go on top: {args}");
        assert!(args.contains("--bind /data/ws/p /app"));
        assert!(!args.contains("/npm-cache"), "no npm cache: {args}");
    }
}
