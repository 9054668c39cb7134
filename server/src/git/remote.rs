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
    #[error(transparent)]
    Git(#[from] GitError),
}

impl From<RemoteError> for AppError {
    fn from(e: RemoteError) -> Self {
        let code = match &e {
            RemoteError::Refused(_) => ErrorCode::ValidationFailed,
            RemoteError::Clone(_) => ErrorCode::BadRequest,
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
    bounds: FileBounds,
) -> Result<Vec<(String, Vec<u8>)>, RemoteError> {
    let dir = repos
        .scratch(&format!(".import-{}", Uuid::new_v4()))
        .await?;
    let result = clone_and_read(repos, url, allow_file, bounds, &dir).await;
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        tracing::warn!(error = %e, "could not remove an import's clone");
    }
    result
}

async fn clone_and_read(
    repos: &Repos,
    url: &str,
    allow_file: bool,
    bounds: FileBounds,
    dir: &std::path::Path,
) -> Result<Vec<(String, Vec<u8>)>, RemoteError> {
    let mut clone = repos.command(None);
    clone
        .args(remote_options(allow_file))
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
