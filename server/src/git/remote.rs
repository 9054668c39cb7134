//! Other people's repositories: which URLs minicode may reach, and reading
//! the files of one (for an import).
//!
//! A remote URL is user input that the server's `git` acts on, so only
//! `https://` is accepted: `file://` (or a bare path) would read the
//! server's own folders, and `ssh://`, `ext::` and the like run programs.
//! `file://` is let through only when the operator sets
//! `MINICODE_GIT_ALLOW_FILE_REMOTES` (tests, single-user installs). A URL
//! may not carry a user, password, query or fragment: credentials never
//! travel in a URL, and a URL can then be logged and shown.
//!
//! The clone is `--bare --depth 1`: nothing is checked out, so no link in
//! the repository is ever followed; the files are read from git's objects
//! (`ls-tree`, then `cat-file --batch`), their sizes checked before any
//! content is read.

use std::time::Duration;

use minicode::{ApiError, ErrorCode};
use uuid::Uuid;

use super::repo::{GitError, Repos};
use crate::error::AppError;

/// The longest a clone may take.
const CLONE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a remote could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}")]
    Refused(String),
    #[error("could not clone the repository: {0}")]
    Clone(String),
    #[error("`{path}` is larger than the {limit}-byte file limit")]
    FileTooLarge { path: String, limit: usize },
    #[error("the repository holds more than {0} files")]
    TooManyFiles(usize),
    #[error("the repository's files add up to more than {0} bytes")]
    TooLarge(usize),
    #[error("the remote answered: {0}")]
    Remote(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Git(#[from] GitError),
}

impl From<RemoteError> for AppError {
    fn from(e: RemoteError) -> Self {
        let code = match &e {
            RemoteError::Refused(_) => ErrorCode::ValidationFailed,
            RemoteError::Clone(_) | RemoteError::Remote(_) => ErrorCode::BadRequest,
            RemoteError::Conflict(_) => ErrorCode::Conflict,
            RemoteError::FileTooLarge { .. } | RemoteError::TooLarge(_) => {
                ErrorCode::PayloadTooLarge
            }
            RemoteError::TooManyFiles(_) => ErrorCode::ValidationFailed,
            RemoteError::Git(inner) => return AppError::internal(inner.to_string()),
        };
        AppError::Api(ApiError::new(code, e.to_string()))
    }
}

/// The URL, trimmed, if minicode may use it as a remote.
pub fn check_url(raw: &str, allow_file: bool) -> Result<String, RemoteError> {
    let raw = raw.trim();
    let refuse = |why: &str| Err(RemoteError::Refused(why.to_string()));
    if raw.is_empty() || raw.len() > 2000 || raw.chars().any(|c| c.is_control() || c == ' ') {
        return refuse("the URL must be one line without spaces, at most 2000 characters");
    }
    let Ok(url) = reqwest::Url::parse(raw) else {
        return refuse("the URL must be an https:// address");
    };
    match url.scheme() {
        "https" => {}
        "file" if allow_file => return Ok(raw.to_string()),
        // Tests reach a minicode on the loopback over plain http.
        "http"
            if allow_file
                && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
        "file" => {
            return refuse("file:// URLs are turned off on this server; use an https:// address");
        }
        _ => return refuse("only https:// repository addresses are accepted"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("the URL has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("put no user name or password in the URL; store a git credential instead");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("the URL must not have a query (?…) or fragment (#…)");
    }
    Ok(raw.to_string())
}

/// The bounds on what [`read_files`] reads.
#[derive(Clone, Copy, Debug)]
pub struct FileBounds {
    pub max_file_bytes: usize,
    pub max_files: usize,
    pub max_total_bytes: usize,
}

/// The `git` options every command that talks to a remote gets: which
/// transports it may use (the URL was checked already; this also holds for
/// redirects and submodules), and objects checked as they arrive.
fn remote_options(allow_file: bool) -> Vec<String> {
    let mut options = vec![
        "protocol.allow=never",
        "protocol.https.allow=always",
        "transfer.fsckObjects=true",
        "credential.helper=",
    ];
    if allow_file {
        options.push("protocol.file.allow=always");
        options.push("protocol.http.allow=always");
    }
    options
        .into_iter()
        .flat_map(|o| ["-c".to_string(), o.to_string()])
        .collect()
}

/// The files of the newest commit of `url`'s default branch, `(path,
/// bytes)`, regular files only (links and submodules are left out).
#[tracing::instrument(name = "git.read_remote", skip_all)]
pub async fn read_files(
    repos: &Repos,
    url: &str,
    allow_file: bool,
    auth: Option<&Auth>,
    bounds: FileBounds,
) -> Result<Vec<(String, Vec<u8>)>, RemoteError> {
    let dir = repos
        .scratch(&format!(".import-{}", Uuid::new_v4()))
        .await?;
    let result = clone_and_read(repos, url, allow_file, auth, bounds, &dir).await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        tracing::warn!(error = %e, "could not remove an import's clone");
    }
    result
}

async fn clone_and_read(
    repos: &Repos,
    url: &str,
    allow_file: bool,
    auth: Option<&Auth>,
    bounds: FileBounds,
    dir: &std::path::Path,
) -> Result<Vec<(String, Vec<u8>)>, RemoteError> {
    let mut clone = remote_command(repos, None, allow_file, auth).await?;
    clone
        .args([
            "clone",
            "--quiet",
            "--bare",
            "--depth",
            "1",
            "--no-tags",
            "--single-branch",
            "--",
            url,
        ])
        .arg(dir);
    let output = tokio::time::timeout(CLONE_TIMEOUT, clone.output())
        .await
        .map_err(|_| RemoteError::Clone("it took too long".into()))?
        .map_err(GitError::Io)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("git failed")
            .trim()
            .chars()
            .take(300)
            .collect::<String>();
        return Err(RemoteError::Clone(why));
    }
    let Some(head) = repos.resolve(dir, "HEAD").await? else {
        // An empty repository: no files.
        return Ok(Vec::new());
    };
    let tree = repos.list_tree(dir, &head).await?;
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut total = 0usize;
    for entry in tree {
        // Regular files only: links (120000) and submodules (160000) are left out.
        if !matches!(entry.mode.as_str(), "100644" | "100755") {
            continue;
        }
        if entry.size > bounds.max_file_bytes {
            return Err(RemoteError::FileTooLarge {
                path: entry.path,
                limit: bounds.max_file_bytes,
            });
        }
        total += entry.size;
        if total > bounds.max_total_bytes {
            return Err(RemoteError::TooLarge(bounds.max_total_bytes));
        }
        if wanted.len() >= bounds.max_files {
            return Err(RemoteError::TooManyFiles(bounds.max_files));
        }
        wanted.push((entry.path, entry.id));
    }
    let ids: Vec<&str> = wanted.iter().map(|(_, id)| id.as_str()).collect();
    let contents = repos.read_blobs(dir, &ids).await?;
    Ok(wanted
        .into_iter()
        .map(|(path, _)| path)
        .zip(contents)
        .collect())
}

/// A user's credential for a remote's host, handed to git through
/// `GIT_ASKPASS` (environment, never argv, never logged).
pub struct Auth {
    pub username: String,
    pub token: crate::config::secret::Secret,
}

/// The host (and port) a credential is looked up by; `None` for `file://`.
pub fn host_of(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())?
        .to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// A `git` command that talks to a remote: [`remote_options`], and the
/// credential when there is one.
async fn remote_command(
    repos: &Repos,
    dir: Option<&std::path::Path>,
    allow_file: bool,
    auth: Option<&Auth>,
) -> Result<tokio::process::Command, RemoteError> {
    let mut cmd = repos.command(dir);
    cmd.args(remote_options(allow_file));
    if let Some(auth) = auth {
        cmd.env("GIT_ASKPASS", repos.askpass().await?)
            .env("MINICODE_GIT_USER", &auth.username)
            .env("MINICODE_GIT_TOKEN", auth.token.expose());
    }
    Ok(cmd)
}

/// Runs a remote command within [`CLONE_TIMEOUT`]; git's last line of
/// error output as the reason when it fails.
async fn run_remote(mut cmd: tokio::process::Command) -> Result<Vec<u8>, RemoteError> {
    let output = tokio::time::timeout(CLONE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| RemoteError::Remote("it took too long".into()))?
        .map_err(GitError::Io)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why: String = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(400)
        .collect();
    Err(RemoteError::Remote(if why.is_empty() {
        "git failed".into()
    } else {
        why
    }))
}

/// The commit the remote's `main` points at, if it has one.
pub async fn remote_head(
    repos: &Repos,
    url: &str,
    allow_file: bool,
    auth: Option<&Auth>,
) -> Result<Option<String>, RemoteError> {
    let mut cmd = remote_command(repos, None, allow_file, auth).await?;
    cmd.args(["ls-remote", "--", url, super::repo::BRANCH]);
    let out = run_remote(cmd).await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .find_map(|l| l.split_whitespace().next().map(str::to_string)))
}

/// Where a remote's `main` is fetched to, only while it is compared.
const REMOTE_REF: &str = "refs/minicode/remote";

/// How `remote` (the remote's head) stands against `local` (ours), in
/// repository `dir`; the remote's commits are fetched first when needed.
pub async fn compare(
    repos: &Repos,
    dir: &std::path::Path,
    url: &str,
    allow_file: bool,
    auth: Option<&Auth>,
    local: Option<&str>,
    remote: Option<&str>,
) -> Result<minicode::RemoteSync, RemoteError> {
    use minicode::RemoteSync;
    let (local, remote) = match (local, remote) {
        (_, None) => return Ok(RemoteSync::Empty),
        (None, Some(_)) => return Ok(RemoteSync::Behind),
        (Some(l), Some(r)) if l == r => return Ok(RemoteSync::InSync),
        (Some(l), Some(r)) => (l, r),
    };
    if repos.resolve(dir, remote).await.ok().flatten().is_none() {
        let mut cmd = remote_command(repos, Some(dir), allow_file, auth).await?;
        cmd.args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            url,
            &format!("+{}:{REMOTE_REF}", super::repo::BRANCH),
        ]);
        run_remote(cmd).await?;
    }
    let answer = if repos.is_ancestor(dir, remote, local).await? {
        RemoteSync::Ahead
    } else if repos.is_ancestor(dir, local, remote).await? {
        RemoteSync::Behind
    } else {
        RemoteSync::Diverged
    };
    // Only the objects stay (for the next comparison); no ref is advertised.
    repos.delete_ref(dir, REMOTE_REF).await?;
    Ok(answer)
}

/// Pushes our `main` to the remote's `main`. Without `force` git itself
/// refuses anything but a fast-forward; with it, the remote is replaced
/// only if it still is at `expected` (what the caller compared against).
pub async fn push(
    repos: &Repos,
    dir: &std::path::Path,
    url: &str,
    allow_file: bool,
    auth: Option<&Auth>,
    force: bool,
    expected: Option<&str>,
) -> Result<(), RemoteError> {
    let branch = super::repo::BRANCH;
    let mut cmd = remote_command(repos, Some(dir), allow_file, auth).await?;
    cmd.args(["push", "--quiet", "--no-verify", "--porcelain"]);
    if force {
        cmd.arg(format!(
            "--force-with-lease={branch}:{}",
            expected.unwrap_or_default()
        ));
    }
    cmd.args(["--", url, &format!("{branch}:{branch}")]);
    match run_remote(cmd).await {
        Err(RemoteError::Remote(why))
            if why.contains("rejected")
                || why.contains("stale info")
                || why.contains("fetch first") =>
        {
            Err(RemoteError::Conflict(
                "The remote changed or has commits this project does not have; nothing was pushed."
                    .into(),
            ))
        }
        other => other.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_pass_by_default() {
        assert!(check_url(" https://github.com/o/r.git ", false).is_ok());
        for bad in [
            "file:///srv/minicode/data/git/x.git",
            "/srv/minicode/data/git/x.git",
            "ssh://git@github.com/o/r.git",
            "git@github.com:o/r.git",
            "ext::sh -c touch% /tmp/pwned",
            "http://example.com/r.git",
            "git://example.com/r.git",
            "https://user:secret@github.com/o/r.git",
            "https://github.com/o/r.git?token=x",
            "https://github.com/o/r\n.git",
            "",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("file:///tmp/r.git", true).is_ok());
        assert!(check_url("ssh://git@github.com/o/r.git", true).is_err());
    }
}
