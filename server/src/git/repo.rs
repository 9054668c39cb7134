//! The bare repositories under `<data dir>/git/`, one per project, and the
//! `git` processes that read and write them.
//!
//! Why the git CLI and not a Rust implementation (gix): a commit is three
//! short processes (a `rev-parse`, an `ls-tree`, one `fast-import` with only
//! the changed files), a few milliseconds each (docs/benchmarks.md), and
//! serving `git clone` needs `git upload-pack` anyway; gix would add a long
//! compile on a 2-core machine for no gain. Debian's `git` is installed by
//! `scripts/setup`.
//!
//! Every process runs with a clean environment: no system or global config,
//! `HOME` an empty folder of ours, no hooks, no prompts. Nothing here reads
//! a workspace: file contents come from the caller (the database).
//!
//! This file holds no `AppState`: it sits in the state every handler
//! reaches, and `git/mod.rs` does the work that needs the database.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The branch every project's history is on.
pub const BRANCH: &str = "refs/heads/main";

/// The longest a plumbing command may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// What went wrong talking to git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("could not run {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("git {command} failed ({status}): {stderr}")]
    Failed {
        command: &'static str,
        status: String,
        stderr: String,
    },
    #[error("git {0} did not finish in time")]
    Timeout(&'static str),
    #[error("git {0} answered something unreadable")]
    Unreadable(&'static str),
    #[error("the repository folder: {0}")]
    Io(#[from] std::io::Error),
}

/// Who a commit is by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

/// What a commit changes compared with its parent, each list sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.deleted.is_empty()
    }

    /// Every path touched, sorted.
    pub fn paths(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .added
            .iter()
            .chain(&self.modified)
            .chain(&self.deleted)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all
    }
}

/// One commit as `git log` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub sha: String,
    pub author: String,
    /// Seconds since the epoch (author date).
    pub time: i64,
    pub message: String,
    pub changed_files: Vec<String>,
}

/// One file of a tree, as `ls-tree -l` tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// `100644`, `100755` (files), `120000` (links), `160000` (submodules).
    pub mode: String,
    pub id: String,
    pub size: usize,
    pub path: String,
}

/// User saves waiting for their quiet period to end (see `git/mod.rs`).
#[derive(Clone, Debug)]
pub(super) struct Batch {
    pub author: String,
    pub due: tokio::time::Instant,
}

/// The projects' repositories: where they are, how git is run, one lock
/// per project (so two commits never race for the branch), and the user
/// saves not committed yet.
pub struct Repos {
    root: PathBuf,
    home: PathBuf,
    bin: String,
    path_var: String,
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) pending: Mutex<HashMap<Uuid, Batch>>,
    /// Cancelled at shutdown: waiting batches stop waiting.
    pub(super) stopping: CancellationToken,
}

impl Repos {
    /// Repositories under `<data_dir>/git/`, run with `bin`.
    pub fn new(data_dir: &Path, bin: &str) -> Repos {
        let root = data_dir.join("git");
        Repos {
            home: root.join(".home"),
            root,
            bin: bin.to_string(),
            path_var: std::env::var("PATH")
                .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string()),
            locks: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            stopping: CancellationToken::new(),
        }
    }

    /// `<data dir>/git/<project id>.git`.
    pub fn path(&self, project: Uuid) -> PathBuf {
        self.root.join(format!("{project}.git"))
    }

    /// Waits for the project's turn: whoever holds the guard is the only one
    /// reading or moving its branch.
    pub async fn lock(&self, project: Uuid) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped as we go.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(project).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// A `git` command with a clean environment and safe settings; `dir`
    /// is the repository, when the command works on one.
    pub fn command(&self, dir: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .args([
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "safe.directory=*",
                "-c",
                "gc.autoDetach=false",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = dir {
            cmd.arg("--git-dir").arg(dir);
        }
        cmd
    }

    /// Runs `args` on the project's repository, feeding `stdin`; fails
    /// unless git exits 0 (or 1, when `one_is_no` says 1 means "no").
    async fn run(
        &self,
        dir: Option<&Path>,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        what: &'static str,
        one_is_no: bool,
    ) -> Result<Option<Output>, GitError> {
        let mut cmd = self.command(dir);
        cmd.args(args);
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|source| GitError::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        // Written while the output is read, so neither pipe can fill up.
        let feeder = match (stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => Some(tokio::spawn(async move {
                let written = pipe.write_all(&bytes).await;
                drop(pipe);
                written
            })),
            _ => None,
        };
        let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| GitError::Timeout(what))??;
        if let Some(feeder) = feeder {
            // A write error shows as git's own failure below; a broken pipe
            // after git has read all it wants is not one.
            let _ = feeder.await;
        }
        match output.status.code() {
            Some(0) => Ok(Some(output)),
            Some(1) if one_is_no => Ok(None),
            _ => Err(GitError::Failed {
                command: what,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .chars()
                    .take(2000)
                    .collect(),
            }),
        }
    }

    /// Creates the project's bare repository if it is not there yet (built
    /// beside it and renamed into place, so it never exists half made).
    pub async fn init(&self, project: Uuid) -> Result<PathBuf, GitError> {
        let dir = self.path(project);
        if tokio::fs::try_exists(dir.join("HEAD")).await? {
            return Ok(dir);
        }
        tokio::fs::create_dir_all(&self.home).await?;
        let fresh = self.root.join(format!(".new-{project}-{}", Uuid::new_v4()));
        let fresh_arg = fresh.to_string_lossy().to_string();
        self.run(
            None,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &fresh_arg,
            ],
            None,
            "init",
            false,
        )
        .await?;
        // A leftover folder without HEAD (a crash) is replaced.
        if tokio::fs::try_exists(&dir).await? {
            tokio::fs::remove_dir_all(&dir).await?;
        }
        tokio::fs::rename(&fresh, &dir).await?;
        Ok(dir)
    }

    /// The branch's newest commit, if the repository has one.
    pub async fn head(&self, project: Uuid) -> Result<Option<String>, GitError> {
        let dir = self.path(project);
        if !tokio::fs::try_exists(dir.join("HEAD")).await? {
            return Ok(None);
        }
        let out = self
            .run(
                Some(&dir),
                &[
                    "rev-parse",
                    "--quiet",
                    "--verify",
                    &format!("{BRANCH}^{{commit}}"),
                ],
                None,
                "rev-parse",
                true,
            )
            .await?;
        Ok(out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()))
    }

    /// `{path: blob id}` of a commit's files.
    async fn tree(&self, dir: &Path, commit: &str) -> Result<BTreeMap<String, String>, GitError> {
        let out = self
            .run(
                Some(dir),
                &["ls-tree", "-r", "-z", "--full-tree", commit],
                None,
                "ls-tree",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("ls-tree"))?;
        let mut files = BTreeMap::new();
        for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            // `<mode> SP <type> SP <id> TAB <path>`
            let text = String::from_utf8_lossy(entry);
            let (meta, path) = text
                .split_once('\t')
                .ok_or(GitError::Unreadable("ls-tree"))?;
            let id = meta
                .rsplit(' ')
                .next()
                .ok_or(GitError::Unreadable("ls-tree"))?;
            files.insert(path.to_string(), id.to_string());
        }
        Ok(files)
    }

    /// Commits `files` (every live file, `(path, bytes)`) on the project's
    /// branch after its newest commit, creating the repository first if
    /// needed. Nothing is committed when the files are those of the newest
    /// commit (`Ok(None)`); otherwise the new commit's id. The caller holds
    /// [`Repos::lock`]. `message` is given what changed.
    pub async fn commit(
        &self,
        project: Uuid,
        files: &[(String, Vec<u8>)],
        author: &Signature,
        when_secs: i64,
        message: impl FnOnce(&Changes) -> String,
    ) -> Result<Option<String>, GitError> {
        let parent = self.head(project).await?;
        if parent.is_none() && files.is_empty() {
            return Ok(None);
        }
        let dir = self.init(project).await?;
        let before = match &parent {
            Some(commit) => self.tree(&dir, commit).await?,
            None => BTreeMap::new(),
        };
        let mut changes = Changes::default();
        let mut writes: Vec<&(String, Vec<u8>)> = Vec::new();
        for file in files {
            match before.get(&file.0) {
                None => changes.added.push(file.0.clone()),
                Some(id) if *id != blob_id(&file.1) => changes.modified.push(file.0.clone()),
                Some(_) => continue,
            }
            writes.push(file);
        }
        let live: std::collections::BTreeSet<&str> = files.iter().map(|f| f.0.as_str()).collect();
        changes.deleted = before
            .keys()
            .filter(|p| !live.contains(p.as_str()))
            .cloned()
            .collect();
        if changes.is_empty() {
            return Ok(None);
        }
        let message = clean_message(&message(&changes));
        let stream = fast_import_stream(
            author,
            when_secs,
            &message,
            parent.as_deref(),
            &changes.deleted,
            &writes,
        );
        let out = self
            .run(
                Some(&dir),
                &["fast-import", "--quiet", "--done"],
                Some(stream),
                "fast-import",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("fast-import"))?;
        let new = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if new.len() != 40 {
            return Err(GitError::Unreadable("fast-import"));
        }
        // Packs loose objects once there are many. Asked after about one
        // commit in 16: asking is a process, and the answer is nearly
        // always "not yet" (6,700 loose objects).
        if rand::random_ratio(1, 16) {
            self.run(Some(&dir), &["gc", "--auto", "--quiet"], None, "gc", false)
                .await?;
        }
        Ok(Some(new))
    }

    /// Commits newest first, `offset` skipped, at most `limit`, with the
    /// branch's length; an empty list when there is no repository yet.
    pub async fn log(
        &self,
        project: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<LogEntry>, u64), GitError> {
        let Some(head) = self.head(project).await? else {
            return Ok((Vec::new(), 0));
        };
        let dir = self.path(project);
        let count = self
            .run(
                Some(&dir),
                &["rev-list", "--count", &head],
                None,
                "rev-list",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("rev-list"))?;
        let total: u64 = String::from_utf8_lossy(&count.stdout)
            .trim()
            .parse()
            .map_err(|_| GitError::Unreadable("rev-list"))?;
        let out = self
            .run(
                Some(&dir),
                &[
                    "log",
                    "--no-renames",
                    "--name-only",
                    "-z",
                    "--format=%x1e%H%x1f%an%x1f%at%x1f%B%x1f",
                    &format!("--skip={}", offset.max(0)),
                    &format!("--max-count={}", limit.max(0)),
                    &head,
                ],
                None,
                "log",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("log"))?;
        Ok((parse_log(&out.stdout)?, total))
    }

    /// A path for a temporary repository under the repositories' folder
    /// (not created: `git clone` makes it).
    pub async fn scratch(&self, name: &str) -> Result<PathBuf, GitError> {
        tokio::fs::create_dir_all(&self.home).await?;
        Ok(self.root.join(name))
    }

    /// Whether commit `a` is an ancestor of (or is) commit `b`.
    pub async fn is_ancestor(&self, dir: &Path, a: &str, b: &str) -> Result<bool, GitError> {
        Ok(self
            .run(
                Some(dir),
                &["merge-base", "--is-ancestor", a, b],
                None,
                "merge-base",
                true,
            )
            .await?
            .is_some())
    }

    /// Removes ref `name` of repository `dir` if it is there.
    pub async fn delete_ref(&self, dir: &Path, name: &str) -> Result<(), GitError> {
        self.run(
            Some(dir),
            &["update-ref", "-d", name],
            None,
            "update-ref",
            false,
        )
        .await
        .map(drop)
    }

    /// The `GIT_ASKPASS` program: it answers git's user name prompt with
    /// `$MINICODE_GIT_USER` and the password prompt with
    /// `$MINICODE_GIT_TOKEN`, so a credential never is in argv or a file.
    pub async fn askpass(&self) -> Result<PathBuf, GitError> {
        use std::os::unix::fs::PermissionsExt;
        const SCRIPT: &str = "#!/bin/sh\ncase \"$1\" in\n  Username*) printf '%s\\n' \"$MINICODE_GIT_USER\" ;;\n  *) printf '%s\\n' \"$MINICODE_GIT_TOKEN\" ;;\nesac\n";
        let path = self.home.join("askpass.sh");
        if tokio::fs::read_to_string(&path).await.ok().as_deref() != Some(SCRIPT) {
            tokio::fs::create_dir_all(&self.home).await?;
            let staged = self.home.join(format!(".askpass-{}", Uuid::new_v4()));
            tokio::fs::write(&staged, SCRIPT).await?;
            tokio::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o700)).await?;
            tokio::fs::rename(&staged, &path).await?;
        }
        Ok(path)
    }

    /// The commit `rev` names in repository `dir`, if any.
    pub async fn resolve(&self, dir: &Path, rev: &str) -> Result<Option<String>, GitError> {
        let out = self
            .run(
                Some(dir),
                &[
                    "rev-parse",
                    "--quiet",
                    "--verify",
                    &format!("{rev}^{{commit}}"),
                ],
                None,
                "rev-parse",
                true,
            )
            .await?;
        Ok(out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()))
    }

    /// Every entry of a commit's tree with its mode and size (`ls-tree -l`).
    pub async fn list_tree(&self, dir: &Path, commit: &str) -> Result<Vec<TreeEntry>, GitError> {
        let out = self
            .run(
                Some(dir),
                &["ls-tree", "-r", "-l", "-z", "--full-tree", commit],
                None,
                "ls-tree",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("ls-tree"))?;
        out.stdout
            .split(|b| *b == 0)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                // `<mode> SP <type> SP <id> SP+ <size or -> TAB <path>`
                let tab = entry
                    .iter()
                    .position(|b| *b == b'\t')
                    .ok_or(GitError::Unreadable("ls-tree"))?;
                let meta = String::from_utf8_lossy(&entry[..tab]);
                let path = String::from_utf8(entry[tab + 1..].to_vec())
                    .map_err(|_| GitError::Unreadable("ls-tree (a path that is not UTF-8)"))?;
                let mut parts = meta.split_whitespace();
                let mode = parts.next().ok_or(GitError::Unreadable("ls-tree"))?;
                let _kind = parts.next();
                let id = parts.next().ok_or(GitError::Unreadable("ls-tree"))?;
                let size = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
                Ok(TreeEntry {
                    mode: mode.to_string(),
                    id: id.to_string(),
                    size,
                    path,
                })
            })
            .collect()
    }

    /// The contents of blobs `ids`, in order (`cat-file --batch`).
    pub async fn read_blobs(&self, dir: &Path, ids: &[&str]) -> Result<Vec<Vec<u8>>, GitError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::with_capacity(ids.len() * 41);
        for id in ids {
            input.extend_from_slice(id.as_bytes());
            input.push(b'\n');
        }
        let out = self
            .run(
                Some(dir),
                &["cat-file", "--batch"],
                Some(input),
                "cat-file",
                false,
            )
            .await?
            .ok_or(GitError::Unreadable("cat-file"))?;
        let mut rest: &[u8] = &out.stdout;
        let mut blobs = Vec::with_capacity(ids.len());
        for _ in ids {
            // `<id> blob <size> LF <content> LF`
            let eol = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or(GitError::Unreadable("cat-file"))?;
            let header = String::from_utf8_lossy(&rest[..eol]);
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|_| header.contains(" blob "))
                .ok_or(GitError::Unreadable("cat-file"))?;
            let start = eol + 1;
            let content = rest
                .get(start..start + size)
                .ok_or(GitError::Unreadable("cat-file"))?;
            blobs.push(content.to_vec());
            rest = rest.get(start + size + 1..).unwrap_or_default();
        }
        Ok(blobs)
    }

    /// Removes the project's repository (the project is gone), with its
    /// waiting saves; in its turn, so no commit recreates it half way.
    pub async fn remove(&self, project: Uuid) -> std::io::Result<()> {
        let _turn = self.lock(project).await;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&project);
        match tokio::fs::remove_dir_all(self.path(project)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Git's id of a blob holding `bytes`.
pub fn blob_id(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hex::encode(hasher.finalize())
}

/// Control characters other than line breaks and tabs are dropped: they
/// mean nothing in a message and `git log`'s output is split on two of them.
fn clean_message(message: &str) -> String {
    let mut out: String = message
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    out = out.trim().to_string();
    if out.is_empty() {
        out = "Update files".to_string();
    }
    out.push('\n');
    out
}

/// A name or address as git's ident line allows it (no `<`, `>` or line break).
fn ident_part(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '<' | '>') && !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// A path in fast-import's C-style quotes (always quoted, so any name is safe).
fn quote(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for c in path.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `fast-import` commit: deletions first (so a file may become a
/// folder), then the new contents inline; fast-import then prints the
/// commit's id and moves the branch (only forward from `parent`).
fn fast_import_stream(
    author: &Signature,
    when_secs: i64,
    message: &str,
    parent: Option<&str>,
    deleted: &[String],
    writes: &[&(String, Vec<u8>)],
) -> Vec<u8> {
    let size: usize = writes.iter().map(|w| w.1.len() + w.0.len() + 40).sum();
    let mut out = Vec::with_capacity(size + message.len() + 256);
    let ident = |s: &Signature| {
        format!(
            "{} <{}> {when_secs} +0000",
            ident_part(&s.name),
            ident_part(&s.email)
        )
    };
    out.extend_from_slice(format!("commit {BRANCH}\nmark :1\n").as_bytes());
    out.extend_from_slice(format!("author {}\n", ident(author)).as_bytes());
    let committer = Signature {
        name: "minicode".into(),
        email: "git@minicode".into(),
    };
    out.extend_from_slice(format!("committer {}\n", ident(&committer)).as_bytes());
    out.extend_from_slice(format!("data {}\n", message.len()).as_bytes());
    out.extend_from_slice(message.as_bytes());
    if let Some(parent) = parent {
        out.extend_from_slice(format!("from {parent}\n").as_bytes());
    }
    for path in deleted {
        out.extend_from_slice(format!("D {}\n", quote(path)).as_bytes());
    }
    for (path, bytes) in writes {
        out.extend_from_slice(format!("M 100644 inline {}\n", quote(path)).as_bytes());
        out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    // The new commit's id, on standard output.
    out.extend_from_slice(b"\nget-mark :1\ndone\n");
    out
}

/// Reads `git log -z --name-only --format=%x1e%H%x1f%an%x1f%at%x1f%B%x1f`.
fn parse_log(raw: &[u8]) -> Result<Vec<LogEntry>, GitError> {
    let text = String::from_utf8_lossy(raw);
    let mut entries = Vec::new();
    for record in text.split('\u{1e}').filter(|r| !r.is_empty()) {
        let mut fields = record.splitn(5, '\u{1f}');
        let mut next = || fields.next().ok_or(GitError::Unreadable("log"));
        let sha = next()?.to_string();
        let author = next()?.to_string();
        let time: i64 = next()?.parse().map_err(|_| GitError::Unreadable("log"))?;
        let message = next()?.trim_end().to_string();
        let mut changed_files: Vec<String> = next()?
            .split('\0')
            .map(|p| p.strip_prefix('\n').unwrap_or(p))
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        changed_files.sort();
        entries.push(LogEntry {
            sha,
            author,
            time,
            message,
            changed_files,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn paths_are_quoted_for_fast_import() {
        assert_eq!(quote("src/App.tsx"), "\"src/App.tsx\"");
        assert_eq!(quote("a \"b\"\\c"), "\"a \\\"b\\\"\\\\c\"");
        assert_eq!(quote("x\ny\u{1}"), "\"x\\ny\\001\"");
    }

    #[test]
    fn messages_and_idents_lose_what_git_cannot_take() {
        assert_eq!(
            clean_message("  Chat: hi\u{1e}\u{1f} there \n"),
            "Chat: hi there\n"
        );
        assert_eq!(clean_message("\u{7}"), "Update files\n");
        assert_eq!(
            ident_part("minicode agent (a<b>c)\n"),
            "minicode agent (abc)"
        );
    }

    #[test]
    fn the_log_is_read_with_its_files() {
        let raw = b"\x1eaaa\x1fana\x1f1700000100\x1fsecond\n\nbody\n\x1f\0\nnew file.txt\0src/f1.ts\0\x1ebbb\x1fbob\x1f1700000000\x1fabc\n\x1f\0\nsrc/f0.ts\0";
        let log = parse_log(raw).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].sha, "aaa");
        assert_eq!(log[0].author, "ana");
        assert_eq!(log[0].time, 1_700_000_100);
        assert_eq!(log[0].message, "second\n\nbody");
        assert_eq!(log[0].changed_files, ["new file.txt", "src/f1.ts"]);
        assert_eq!(log[1].changed_files, ["src/f0.ts"]);
    }
}
