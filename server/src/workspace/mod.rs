//! Project workspaces: one folder per project under `<data dir>/workspaces/`,
//! holding the newest version of each file (the database keeps every
//! version). The sandbox runs the app from here, the agent's tools read it.

pub mod paths;

use std::io;
use std::path::{Path, PathBuf};

use minicode::FileEntry;
use uuid::Uuid;

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
    #[error("file system error on {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.display().to_string(),
        source,
    }
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

    /// The project's folder (it may not exist yet).
    pub fn dir(&self, project: Uuid) -> PathBuf {
        self.root.join(project.to_string())
    }

    /// Creates the project's folder if needed and returns it.
    pub async fn ensure(&self, project: Uuid) -> Result<PathBuf, WorkspaceError> {
        let dir = self.dir(project);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_err(&dir))?;
        Ok(dir)
    }

    pub fn exists(&self, project: Uuid) -> bool {
        self.dir(project).is_dir()
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
        let root = self.ensure(project).await?;
        tokio::task::spawn_blocking(move || write_many_blocking(&root, files))
            .await
            .map_err(|e| WorkspaceError::Io {
                path: "workspace".into(),
                source: io::Error::other(e),
            })?
    }

    pub async fn read(&self, project: Uuid, path: &RelPath) -> Result<Vec<u8>, WorkspaceError> {
        let root = self.ensure(project).await?;
        let full = paths::resolve(&root, path)?;
        match tokio::fs::read(&full).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(WorkspaceError::NotFound(path.to_string()))
            }
            Err(e) if full.is_dir() => {
                let _ = e;
                Err(WorkspaceError::IsDirectory(path.to_string()))
            }
            Err(e) => Err(io_err(&full)(e)),
        }
    }

    /// Deletes a file, and the folders it leaves empty.
    pub async fn delete(&self, project: Uuid, path: &RelPath) -> Result<(), WorkspaceError> {
        let root = self.ensure(project).await?;
        let full = paths::resolve(&root, path)?;
        match tokio::fs::remove_file(&full).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(WorkspaceError::NotFound(path.to_string()));
            }
            Err(e) => return Err(io_err(&full)(e)),
        }
        let mut dir = full.parent();
        while let Some(d) = dir {
            if d == root || tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Every file of the workspace (not installed packages or build output), sorted.
    pub async fn list(&self, project: Uuid) -> Result<Vec<FileEntry>, WorkspaceError> {
        let root = self.dir(project);
        if !root.is_dir() {
            return Ok(Vec::new());
        }
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            list_blocking(&root, &root, &mut out)?;
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
        .await
        .map_err(|e| WorkspaceError::Io {
            path: "workspace".into(),
            source: io::Error::other(e),
        })?
    }

    /// Removes the whole workspace (its files stay in the database).
    pub async fn remove(&self, project: Uuid) -> Result<(), WorkspaceError> {
        let dir = self.dir(project);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir)(e)),
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
}

fn write_many_blocking(root: &Path, files: Vec<(RelPath, Vec<u8>)>) -> Result<(), WorkspaceError> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
    let result = (|| {
        for (path, content) in &files {
            let full = paths::resolve(root, path)?;
            if full.is_dir() {
                return Err(WorkspaceError::IsDirectory(path.to_string()));
            }
            let parent = full.parent().unwrap_or(root);
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            // The folders just created must not have let the path escape either.
            paths::resolve(root, path)?;
            let temp = parent.join(format!(
                ".{}.minicode-tmp-{}",
                path.file_name(),
                Uuid::new_v4().simple()
            ));
            std::fs::write(&temp, content).map_err(io_err(&temp))?;
            staged.push((temp, full));
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _) in &staged {
            let _ = std::fs::remove_file(temp);
        }
        return Err(e);
    }
    for (temp, full) in &staged {
        std::fs::rename(temp, full).map_err(io_err(full))?;
    }
    Ok(())
}

fn list_blocking(root: &Path, dir: &Path, out: &mut Vec<FileEntry>) -> Result<(), WorkspaceError> {
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let file_type = entry.file_type().map_err(io_err(&entry.path()))?;
        if file_type.is_dir() {
            if !SKIPPED_DIRS.contains(&name) {
                list_blocking(root, &entry.path(), out)?;
            }
        } else if file_type.is_file() && !name.contains(".minicode-tmp-") {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(FileEntry { path: rel, size });
        }
    }
    Ok(())
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
        assert!(matches!(err, WorkspaceError::Io { .. }), "{err}");
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
