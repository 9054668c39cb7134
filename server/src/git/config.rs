//! Settings of the projects' git history: which `git` runs, and how long
//! the user's saves are gathered before they become one commit.

use std::time::Duration;

/// Read by `git/` (commits, history, clone).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Git history")]
pub struct GitConfig {
    /// The git program minicode runs (a name on `PATH` or a full path).
    #[arg(long = "git-bin", env = "MINICODE_GIT_BIN", default_value = "git")]
    pub bin: String,

    /// Quiet time, in milliseconds, after the user's last save (editor,
    /// upload, delete, visual edit) before those saves become one commit.
    #[arg(
        long = "git-quiet-ms",
        env = "MINICODE_GIT_QUIET_MS",
        default_value_t = 5000
    )]
    pub quiet_ms: u64,

    /// Lets imports (and pushes) use `file://` URLs, which reach the
    /// server's own folders: for tests and single-user installs only. Off,
    /// only `https://` remotes are accepted.
    #[arg(
        long = "git-allow-file-remotes",
        env = "MINICODE_GIT_ALLOW_FILE_REMOTES",
        default_value_t = false
    )]
    pub allow_file_remotes: bool,
}

impl GitConfig {
    pub fn quiet(&self) -> Duration {
        Duration::from_millis(self.quiet_ms.max(1))
    }
}
