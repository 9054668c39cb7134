//! Project workspaces: one folder per project under `<data dir>/workspaces/`,
//! holding the newest version of each file (the database keeps every
//! version). The sandbox runs the app from here, the agent's tools read it.
//!
//! The project's own code runs in that folder too, so the server treats its
//! content as hostile: every read, write, listing and deletion goes through
//! [`WorkspaceDir`], which opens files relative to the folder's descriptor,
//! never follows a symbolic link and reads at most the file size limit.

pub mod dir;
pub mod paths;

use std::io;
use std::path::{Path, PathBuf};

use minicode::FileEntry;
use uuid::Uuid;

pub use dir::{FileInfo, WorkspaceDir};
pub use paths::{PathError, RelPath};

/// Folders never listed: installed packages, VCS data, build output, caches.
const SKIPPED_DIRS: [&str; 6] = [
    "node_modules",
    ".git",
    "dist",
    "build",
    ".vite",
    ".minicode",
];

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{path} is {size} bytes; the largest file allowed is {limit} bytes")]
    FileTooLarge {
        path: String,
        size: usize,
        limit: usize,
    },
    #[error("a project may hold at most {limit} files")]
    TooManyFiles { limit: usize },
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is a folder")]
    IsDirectory(String),
    /// A file stands where `path` needs a folder.
    #[error("{file} is a file, so it cannot hold {path}")]
    NotAFolder { file: String, path: String },
    #[error("{0} is not a regular file (a device, a FIFO or a socket)")]
    NotARegularFile(String),
    #[error("file system error on {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Size limits, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_file_bytes: usize,
    pub max_files: usize,
}

/// Where the workspaces live, and their limits.
#[derive(Clone, Debug)]
pub struct Workspaces {
    root: PathBuf,
    pub limits: Limits,
}

impl Workspaces {
    pub fn new(data_dir: &Path, limits: Limits) -> Self {
        Self {
            root: data_dir.join("workspaces"),
            limits,
        }
    }

    /// The project's folder (it may not exist yet). For the sandbox, which
    /// runs the app there; the server's own file access goes through
    /// [`open`](Self::open) or [`ensure`](Self::ensure).
    pub fn dir(&self, project: Uuid) -> PathBuf {
        self.root.join(project.to_string())
    }

    /// Opens the project's folder as a capability (blocking: one `open`).
    pub fn open(&self, project: Uuid) -> Result<WorkspaceDir, WorkspaceError> {
        WorkspaceDir::open(&self.dir(project))
    }

    /// Creates the project's folder if needed and opens it.
    pub fn ensure(&self, project: Uuid) -> Result<WorkspaceDir, WorkspaceError> {
        let dir = self.dir(project);
        std::fs::create_dir_all(&dir).map_err(|source| WorkspaceError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        WorkspaceDir::open(&dir)
    }

    /// Whether the project has a folder (a link there does not count).
    pub fn exists(&self, project: Uuid) -> bool {
        self.dir(project)
            .symlink_metadata()
            .is_ok_and(|m| m.is_dir())
    }

    /// Whether the project's folder has an entry `name` (not followed if it
    /// is a link): used to tell whether a workspace needs restoring.
    pub fn has_entry(&self, project: Uuid, name: &str) -> bool {
        self.dir(project).join(name).symlink_metadata().is_ok()
    }

    /// Checks sizes and writes every file: all contents go to temporary files
    /// first, and only when all are written are they renamed into place, so
    /// a failure leaves the workspace as it was and readers never see a
    /// half-written file.
    pub async fn write_many(
        &self,
        project: Uuid,
        files: Vec<(RelPath, Vec<u8>)>,
    ) -> Result<(), WorkspaceError> {
        for (path, content) in &files {
            if content.len() > self.limits.max_file_bytes {
                return Err(WorkspaceError::FileTooLarge {
                    path: path.to_string(),
                    size: content.len(),
                    limit: self.limits.max_file_bytes,
                });
            }
        }
        let this = self.clone();
        blocking(move || write_many_blocking(&this.ensure(project)?, &files)).await
    }

    /// Deletes `deletes` (a missing one is fine), then writes `writes`,
    /// staged first as in [`write_many`](Self::write_many). On failure, says
    /// which paths it had already changed, for the caller to put back (see
    /// [`put_back`](Self::put_back)); what it never touched stays as it is.
    pub async fn apply(
        &self,
        project: Uuid,
        deletes: Vec<RelPath>,
        writes: Vec<(RelPath, Vec<u8>)>,
    ) -> Result<(), (WorkspaceError, Vec<RelPath>)> {
        let this = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut changed = Vec::new();
            let dir = this.ensure(project).map_err(|e| (e, Vec::new()))?;
            for path in deletes {
                match dir.remove_file(&path) {
                    Ok(()) => changed.push(path),
                    Err(WorkspaceError::NotFound(_)) => {}
                    Err(e) => return Err((e, changed)),
                }
            }
            let mut staged = Vec::with_capacity(writes.len());
            for (path, content) in &writes {
                match dir.stage(path, content) {
                    Ok(file) => staged.push((path.clone(), file)),
                    Err(e) => return Err((e, changed)),
                }
            }
            for (path, file) in staged {
                changed.push(path);
                if let Err(e) = file.commit() {
                    return Err((e, changed));
                }
            }
            Ok(())
        })
        .await;
        result.unwrap_or_else(|e| {
            Err((
                WorkspaceError::Io {
                    path: "workspace".into(),
                    source: io::Error::other(e),
                },
                Vec::new(),
            ))
        })
    }

    /// Best effort: makes each path hold the given content again, or
    /// nothing (`None`). New files go first, so folders they made are gone
    /// before a file of the same name comes back. Errors are logged.
    pub async fn put_back(&self, project: Uuid, files: Vec<(RelPath, Option<Vec<u8>>)>) {
        let this = self.clone();
        let done = blocking(move || {
            let dir = this.ensure(project)?;
            for (path, _) in files.iter().filter(|(_, c)| c.is_none()) {
                if let Err(e) = dir.remove_file(path)
                    && !matches!(e, WorkspaceError::NotFound(_))
                {
                    tracing::warn!(%path, error = %e, "could not remove a file while undoing a write");
                }
            }
            for (path, content) in &files {
                if let Some(content) = content
                    && let Err(e) = dir.write_atomic(path, content)
                {
                    tracing::warn!(%path, error = %e, "could not put a file back while undoing a write");
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not undo a workspace write");
        }
    }

    /// One file's content, at most the file size limit.
    pub async fn read(&self, project: Uuid, path: &RelPath) -> Result<Vec<u8>, WorkspaceError> {
        let this = self.clone();
        let path = path.clone();
        blocking(move || {
            this.open_or_not_found(project, &path)?
                .read_bounded(&path, this.limits.max_file_bytes)
        })
        .await
    }

    /// Deletes a file, and the folders it leaves empty.
    pub async fn delete(&self, project: Uuid, path: &RelPath) -> Result<(), WorkspaceError> {
        let this = self.clone();
        let path = path.clone();
        blocking(move || this.open_or_not_found(project, &path)?.remove_file(&path)).await
    }

    /// Every file of the workspace (not installed packages or build output), sorted.
    pub async fn list(&self, project: Uuid) -> Result<Vec<FileEntry>, WorkspaceError> {
        let this = self.clone();
        blocking(move || {
            let dir = match this.open(project) {
                Ok(dir) => dir,
                Err(WorkspaceError::NotFound(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            Ok(dir
                .walk()?
                .into_iter()
                .map(|f| FileEntry {
                    path: f.path.to_string(),
                    size: f.size,
                })
                .collect())
        })
        .await
    }

    /// Removes the whole workspace (its files stay in the database).
    /// `remove_dir_all` works from directory descriptors and never follows
    /// a link inside the folder (std's fix for CVE-2022-21658).
    pub async fn remove(&self, project: Uuid) -> Result<(), WorkspaceError> {
        let dir = self.dir(project);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(WorkspaceError::Io {
                path: dir.display().to_string(),
                source,
            }),
        }
    }

    /// Project ids that have a workspace folder.
    pub async fn all(&self) -> Vec<Uuid> {
        let mut ids = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(&self.root).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                if let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| Uuid::parse_str(n).ok())
                {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// The project's folder; a missing one means `path` does not exist.
    fn open_or_not_found(
        &self,
        project: Uuid,
        path: &RelPath,
    ) -> Result<WorkspaceDir, WorkspaceError> {
        self.open(project).map_err(|e| match e {
            WorkspaceError::NotFound(_) => WorkspaceError::NotFound(path.to_string()),
            e => e,
        })
    }
}

/// Runs file system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, WorkspaceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| WorkspaceError::Io {
            path: "workspace".into(),
            source: io::Error::other(e),
        })?
}

/// All or nothing: every file is staged (written under a temporary name in
/// its folder) before any is renamed into place; a failure drops the staged
/// files, which removes them.
fn write_many_blocking(
    dir: &WorkspaceDir,
    files: &[(RelPath, Vec<u8>)],
) -> Result<(), WorkspaceError> {
    let staged = files
        .iter()
        .map(|(path, content)| dir.stage(path, content))
        .collect::<Result<Vec<_>, _>>()?;
    for file in staged {
        file.commit()?;
    }
    Ok(())
}

/// Limits on a project's files and how long an idle workspace stays on
/// disk. Read by [`Workspaces`], the file routes and `maintenance`.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Project files")]
pub struct WorkspaceConfig {
    /// Largest file a project may hold, in bytes.
    #[arg(long, env = "MINICODE_MAX_FILE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_file_bytes: usize,

    /// Most files a project may hold.
    #[arg(long, env = "MINICODE_MAX_FILES", default_value_t = 2000)]
    pub max_files: usize,

    /// Largest upload request (multipart), in bytes.
    #[arg(long, env = "MINICODE_UPLOAD_LIMIT", default_value_t = 20 * 1024 * 1024)]
    pub upload_limit: usize,

    /// Most bytes, all files together, a project imported from a zip or a
    /// git repository may hold (each file is also held to
    /// `MINICODE_MAX_FILE_BYTES`, their number to `MINICODE_MAX_FILES`).
    /// Counted as the files are unpacked, so a zip bomb stops here.
    #[arg(long, env = "MINICODE_IMPORT_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub import_max_bytes: usize,

    /// Workspaces of projects idle for this many hours are removed from disk
    /// (their files stay in the database and come back on the next use).
    #[arg(
        long = "workspace-idle-hours",
        env = "MINICODE_WORKSPACE_IDLE_HOURS",
        default_value_t = 72
    )]
    pub idle_hours: u64,
}

impl WorkspaceConfig {
    /// The limits every write is checked against.
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_files: self.max_files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspaces(dir: &Path) -> Workspaces {
        Workspaces::new(
            dir,
            Limits {
                max_file_bytes: 1024,
                max_files: 100,
            },
        )
    }

    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    #[tokio::test]
    async fn writes_lists_reads_and_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = workspaces(tmp.path());
        let id = Uuid::new_v4();
        ws.write_many(
            id,
            vec![
                (p("src/App.tsx"), b"app\n\n".to_vec()),
                (p("index.html"), b"<html>".to_vec()),
            ],
        )
        .await
        .unwrap();
        // Installed packages and build output are not part of the tree.
        std::fs::create_dir_all(ws.dir(id).join("node_modules/react")).unwrap();
        std::fs::write(ws.dir(id).join("node_modules/react/index.js"), "x").unwrap();
        std::fs::create_dir_all(ws.dir(id).join("dist")).unwrap();
        std::fs::write(ws.dir(id).join("dist/out.js"), "x").unwrap();

        let list = ws.list(id).await.unwrap();
        let names: Vec<&str> = list.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["index.html", "src/App.tsx"]);
        assert_eq!(list[1].size, 5);
        assert_eq!(ws.read(id, &p("src/App.tsx")).await.unwrap(), b"app\n\n");

        ws.delete(id, &p("src/App.tsx")).await.unwrap();
        assert!(!ws.dir(id).join("src").exists(), "empty folders go too");
        assert!(matches!(
            ws.read(id, &p("src/App.tsx")).await,
            Err(WorkspaceError::NotFound(_))
        ));
        assert!(matches!(
            ws.delete(id, &p("nope")).await,
            Err(WorkspaceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_batch_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = workspaces(tmp.path());
        let id = Uuid::new_v4();
        ws.write_many(id, vec![(p("a.txt"), b"old".to_vec())])
            .await
            .unwrap();
        let err = ws
            .write_many(
                id,
                vec![
                    (p("a.txt"), b"new".to_vec()),
                    (p("big.txt"), vec![b'x'; 2048]),
                ],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, WorkspaceError::FileTooLarge { .. }));
        // A file blocking a folder: fails after staging; nothing is renamed.
        ws.write_many(id, vec![(p("blocker"), b"f".to_vec())])
            .await
            .unwrap();
        let err = ws
            .write_many(
                id,
                vec![
                    (p("a.txt"), b"new".to_vec()),
                    (p("blocker/inner.txt"), b"x".to_vec()),
                ],
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "blocker is a file, so it cannot hold blocker/inner.txt"
        );
        assert_eq!(ws.read(id, &p("a.txt")).await.unwrap(), b"old");
        let names: Vec<String> = ws
            .list(id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            names,
            ["a.txt", "blocker"],
            "no temporary files are left behind"
        );
    }
}
