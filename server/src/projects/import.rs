//! New projects from outside: a zip upload (`POST /api/projects/import`,
//! the export's own format round-trips) or a git repository
//! (`POST /api/projects/import/git`, cloned by `git::remote`).
//!
//! Both hold the files to the rules of an upload: each path must be one the
//! user may write (`RelPath::parse_writable`: no absolute path, no `..`, no
//! `node_modules/` or `.git/`), each file at most `MINICODE_MAX_FILE_BYTES`,
//! at most `MINICODE_MAX_FILES` files and `MINICODE_IMPORT_MAX_BYTES` in all,
//! counted while unpacking (so a zip bomb stops at the bound, whatever its
//! headers claim). Everything is checked before the project exists: a
//! refused import creates nothing.

use std::collections::BTreeSet;
use std::io::Read;

use minicode::{ApiError, ErrorCode, NewProject, Project};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::files::Source;
use crate::state::AppState;
use crate::workspace::RelPath;

/// The bounds an import is held to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImportLimits {
    pub max_file_bytes: usize,
    pub max_files: usize,
    pub max_total_bytes: usize,
}

impl ImportLimits {
    pub fn of(state: &AppState) -> ImportLimits {
        ImportLimits {
            max_file_bytes: state.config.workspace.max_file_bytes,
            max_files: state.config.workspace.max_files,
            max_total_bytes: state.config.workspace.import_max_bytes,
        }
    }
}

/// Why an import was refused: the client's mistake, said plainly.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("the file is not a zip archive we can read: {0}")]
    NotAZip(String),
    #[error("`{path}` cannot be imported: {why}")]
    BadPath { path: String, why: String },
    #[error("`{0}` is a symbolic link; links are not imported")]
    Link(String),
    #[error("`{path}` is larger than the {limit}-byte file limit")]
    FileTooLarge { path: String, limit: usize },
    #[error("the import holds more than {0} files")]
    TooManyFiles(usize),
    #[error("the import's files add up to more than {0} bytes")]
    TooLarge(usize),
    #[error("`{0}` appears twice")]
    Duplicate(String),
    #[error("the import holds no file")]
    Empty,
}

impl From<ImportError> for AppError {
    fn from(e: ImportError) -> Self {
        let code = match e {
            ImportError::FileTooLarge { .. } | ImportError::TooLarge(_) => {
                ErrorCode::PayloadTooLarge
            }
            _ => ErrorCode::ValidationFailed,
        };
        AppError::Api(ApiError::new(code, e.to_string()))
    }
}

/// Files read from a zip, and the one folder they all sat in (the export's
/// layout: `<project slug>/<path>`), which is not part of their paths.
#[derive(Debug)]
pub(crate) struct Unpacked {
    pub folder: Option<String>,
    pub files: Vec<(RelPath, Vec<u8>)>,
}

/// Reads a zip within `limits`. Folder entries are skipped (folders follow
/// from the files); a link, an encrypted entry or a path that is not
/// writable refuses the whole zip.
pub(crate) fn unzip(bytes: &[u8], limits: ImportLimits) -> Result<Unpacked, ImportError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ImportError::NotAZip(e.to_string()))?;
    let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0usize;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| ImportError::NotAZip(e.to_string()))?;
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(ImportError::Link(name));
        }
        if entry.enclosed_name().is_none() || name.contains('\\') {
            return Err(ImportError::BadPath {
                path: name,
                why: "it leaves the project's folder".into(),
            });
        }
        if raw.len() >= limits.max_files {
            return Err(ImportError::TooManyFiles(limits.max_files));
        }
        // The header's size is a claim; the bound holds on what is read.
        let room = limits
            .max_file_bytes
            .min(limits.max_total_bytes.saturating_sub(total));
        let mut content = Vec::with_capacity((entry.size() as usize).min(room).min(1 << 20));
        (&mut entry)
            .take(room as u64 + 1)
            .read_to_end(&mut content)
            .map_err(|e| ImportError::NotAZip(format!("{name}: {e}")))?;
        if content.len() > room {
            return Err(if content.len() > limits.max_file_bytes {
                ImportError::FileTooLarge {
                    path: name,
                    limit: limits.max_file_bytes,
                }
            } else {
                ImportError::TooLarge(limits.max_total_bytes)
            });
        }
        total += content.len();
        raw.push((name, content));
    }
    let folder = common_folder(raw.iter().map(|(n, _)| n.as_str()));
    let files = raw
        .into_iter()
        .map(|(name, content)| {
            let path = match &folder {
                Some(f) => name[f.len() + 1..].to_string(),
                None => name,
            };
            Ok((writable(&path)?, content))
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    Ok(Unpacked { folder, files })
}

/// The first folder of every name, when they all share one.
fn common_folder<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<String> {
    let first = names.next()?.split_once('/')?.0.to_string();
    names
        .all(|n| n.split_once('/').is_some_and(|(top, _)| top == first))
        .then_some(first)
}

/// The path if the user may write it.
pub(crate) fn writable(path: &str) -> Result<RelPath, ImportError> {
    RelPath::parse_writable(path).map_err(|e| ImportError::BadPath {
        path: path.to_string(),
        why: e.to_string(),
    })
}

/// Checks the file set as a whole: not empty, no path twice, no file where
/// another needs a folder.
fn check_set(files: &[(RelPath, Vec<u8>)]) -> AppResult<()> {
    if files.is_empty() {
        return Err(ImportError::Empty.into());
    }
    let mut seen = BTreeSet::new();
    for (path, _) in files {
        if !seen.insert(path.as_str()) {
            return Err(ImportError::Duplicate(path.to_string()).into());
        }
    }
    if let Some(clash) = crate::files::find_clash(&BTreeSet::new(), files.iter().map(|(p, _)| p)) {
        return Err(AppError::validation(clash.to_string()));
    }
    Ok(())
}

/// Creates the caller's project `name` holding `files`, committed as its
/// first history entry ("Import from …"). All or nothing: if the files
/// cannot be stored, the project is deleted again.
#[tracing::instrument(name = "projects.import", skip_all, fields(user_id = %caller.id(), files = files.len()))]
pub(crate) async fn create_with_files(
    state: &AppState,
    caller: &Caller,
    name: &str,
    files: Vec<(RelPath, Vec<u8>)>,
    origin: &str,
) -> AppResult<Project> {
    check_set(&files)?;
    let project = super::create(
        state,
        caller,
        NewProject {
            name: name.to_string(),
            description: String::new(),
            model: None,
        },
    )
    .await?;
    if let Err(e) = crate::files::save(state, project.id, files, Source::Upload, None).await {
        if let Err(undo) = super::delete(state, caller, project.id).await {
            tracing::warn!(project_id = %project.id, error = %undo, "could not remove a failed import");
        }
        return Err(e);
    }
    crate::git::commit(
        state,
        project.id,
        &crate::git::Author::User(caller.user.username.clone()),
        &format!("Import from {origin}"),
    )
    .await;
    tracing::info!(project_id = %project.id, "project imported");
    Ok(project)
}

/// A project name from a file or folder name: `my-app.zip` → `my-app`.
pub(crate) fn name_from(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let base = base
        .strip_suffix(".zip")
        .or_else(|| base.strip_suffix(".git"))
        .unwrap_or(base);
    let name: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(minicode::MAX_NAME_CHARS)
        .collect();
    if name.trim().is_empty() {
        "Imported project".into()
    } else {
        name.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const LIMITS: ImportLimits = ImportLimits {
        max_file_bytes: 1000,
        max_files: 3,
        max_total_bytes: 1500,
    };

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn the_exports_folder_is_taken_off() {
        let got = unzip(
            &zip_of(&[("app/src/a.ts", b"a"), ("app/index.html", b"i")]),
            LIMITS,
        )
        .unwrap();
        assert_eq!(got.folder.as_deref(), Some("app"));
        let paths: Vec<&str> = got.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["src/a.ts", "index.html"]);
        // Files at the top: no folder to take off.
        let got = unzip(&zip_of(&[("a.txt", b"a"), ("src/b.ts", b"b")]), LIMITS).unwrap();
        assert_eq!(got.folder, None);
        assert_eq!(got.files[1].0.as_str(), "src/b.ts");
    }

    #[test]
    fn paths_outside_and_reserved_are_refused() {
        for bad in ["../evil.txt", "/etc/passwd", "node_modules/x.js", "a\\b"] {
            let e = unzip(&zip_of(&[(bad, b"x"), ("ok.txt", b"y")]), LIMITS).unwrap_err();
            assert!(matches!(e, ImportError::BadPath { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes_are_bounded_as_read() {
        let big = vec![0u8; 1001];
        assert!(matches!(
            unzip(&zip_of(&[("a", &big)]), LIMITS).unwrap_err(),
            ImportError::FileTooLarge { .. }
        ));
        let half = vec![0u8; 800];
        assert!(matches!(
            unzip(&zip_of(&[("a", &half), ("b", &half)]), LIMITS).unwrap_err(),
            ImportError::TooLarge(1500)
        ));
        let four: Vec<(&str, &[u8])> = vec![("a", b""), ("b", b""), ("c", b""), ("d", b"")];
        assert!(matches!(
            unzip(&zip_of(&four), LIMITS).unwrap_err(),
            ImportError::TooManyFiles(3)
        ));
        assert!(matches!(
            unzip(b"not a zip", LIMITS).unwrap_err(),
            ImportError::NotAZip(_)
        ));
    }

    #[test]
    fn links_are_refused() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.add_symlink(
            "app/link",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(matches!(
            unzip(&bytes, LIMITS).unwrap_err(),
            ImportError::Link(_)
        ));
    }

    #[test]
    fn names_come_from_files() {
        assert_eq!(name_from("my-app.zip"), "my-app");
        assert_eq!(name_from("https://h/o/repo.git"), "repo");
        assert_eq!(name_from(".zip"), "Imported project");
    }
}
