//! Confining client- and model-supplied paths to a project's workspace.
//!
//! Every path that arrives from a browser, an API client or a model is a
//! *relative* path inside one project. [`RelPath::parse`] checks the text:
//! `..`, absolute paths, NUL bytes, backslashes and Windows drive prefixes
//! are refused, so a `RelPath` is a list of plain names. The file system side
//! (symbolic links, files swapped while in use) is not checked here but made
//! impossible by [`WorkspaceDir`](super::dir::WorkspaceDir), which opens
//! those names one at a time and never follows a link.

use std::fmt;
use std::path::{Component, Path};

/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 512;
/// Deepest accepted path, in components.
pub const MAX_DEPTH: usize = 24;

/// Folders that belong to tooling, not to the project's source: never listed,
/// never written through the API or the agent.
pub const RESERVED_DIRS: [&str; 2] = ["node_modules", ".git"];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path is too long (at most {MAX_PATH_BYTES} bytes)")]
    TooLong,
    #[error("the path is too deep (at most {MAX_DEPTH} folders)")]
    TooDeep,
    #[error("the path contains a NUL byte or a control character")]
    ControlChar,
    #[error("the path must be relative to the project (no leading `/` or drive letter)")]
    Absolute,
    #[error("the path must use `/` as separator, not `\\`")]
    Backslash,
    #[error("the path must not contain `..`")]
    ParentDir,
    #[error("`{0}` is managed by the sandbox and cannot be changed")]
    Reserved(String),
    #[error("the path goes through a symbolic link, which the server never follows")]
    SymbolicLink,
}

/// A checked, normalised relative path (`src/App.tsx`): no `.`/`..` parts, no
/// empty parts, `/`-separated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

impl RelPath {
    /// Checks a path's text. A leading `./` and repeated slashes are tolerated
    /// (models write them) and normalised away.
    pub fn parse(raw: &str) -> Result<RelPath, PathError> {
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(PathError::ControlChar);
        }
        if raw.contains('\\') {
            return Err(PathError::Backslash);
        }
        if raw.starts_with('/') || raw.starts_with('~') || has_drive_prefix(raw) {
            return Err(PathError::Absolute);
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(PathError::ParentDir),
                other => parts.push(other),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        // `./C:/x` must not become the drive path `C:/x` once normalised.
        if has_drive_prefix(parts[0]) || parts[0].starts_with('~') {
            return Err(PathError::Absolute);
        }
        if parts.len() > MAX_DEPTH {
            return Err(PathError::TooDeep);
        }
        // Belt and braces: what std makes of it must be plain names only.
        let joined = parts.join("/");
        if !Path::new(&joined)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(PathError::Absolute);
        }
        Ok(RelPath(joined))
    }

    /// Like [`parse`](Self::parse), and also refuses tooling folders (`node_modules`, `.git`).
    pub fn parse_writable(raw: &str) -> Result<RelPath, PathError> {
        let path = RelPath::parse(raw)?;
        if let Some(first) = path.0.split('/').next()
            && RESERVED_DIRS.contains(&first)
        {
            return Err(PathError::Reserved(first.to_string()));
        }
        Ok(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name (last part).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `C:`, `c:foo`, `C:\…`: drive-relative and absolute Windows paths.
fn has_drive_prefix(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_ordinary_paths() {
        assert_eq!(
            RelPath::parse("src/App.tsx").unwrap().as_str(),
            "src/App.tsx"
        );
        assert_eq!(
            RelPath::parse("./src//App.tsx").unwrap().as_str(),
            "src/App.tsx"
        );
        assert_eq!(RelPath::parse("a/./b/").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::parse(".env.local").unwrap().as_str(), ".env.local");
        assert_eq!(RelPath::parse("..foo").unwrap().as_str(), "..foo");
        assert_eq!(
            RelPath::parse("ünïcødé/файл.ts").unwrap().as_str(),
            "ünïcødé/файл.ts"
        );
    }

    #[test]
    fn refuses_hostile_paths() {
        let hostile = [
            ("", PathError::Empty),
            (".", PathError::Empty),
            ("./", PathError::Empty),
            ("../etc/passwd", PathError::ParentDir),
            ("src/../../etc/passwd", PathError::ParentDir),
            ("src/..", PathError::ParentDir),
            ("/etc/passwd", PathError::Absolute),
            ("//server/share", PathError::Absolute),
            ("~/x", PathError::Absolute),
            ("C:\\Windows", PathError::Backslash),
            ("C:/Windows", PathError::Absolute),
            ("c:foo", PathError::Absolute),
            ("src\\..\\x", PathError::Backslash),
            ("a\0b", PathError::ControlChar),
            ("a\nb", PathError::ControlChar),
        ];
        for (raw, expected) in hostile {
            assert_eq!(RelPath::parse(raw), Err(expected), "{raw:?}");
        }
        assert_eq!(
            RelPath::parse(&"a".repeat(MAX_PATH_BYTES + 1)),
            Err(PathError::TooLong)
        );
        assert_eq!(
            RelPath::parse(&"a/".repeat(MAX_DEPTH + 1)),
            Err(PathError::TooDeep)
        );
    }

    #[test]
    fn reserved_folders_are_not_writable() {
        assert!(matches!(
            RelPath::parse_writable("node_modules/x.js"),
            Err(PathError::Reserved(_))
        ));
        assert!(matches!(
            RelPath::parse_writable(".git/config"),
            Err(PathError::Reserved(_))
        ));
        assert!(RelPath::parse_writable("src/node_modules.ts").is_ok());
    }

    /// Symbolic links are refused wherever they are, even ones that stay
    /// inside: the server opens files through `WorkspaceDir`, never by a
    /// joined path.
    #[test]
    fn symlinks_are_refused_through_the_workspace_capability() {
        use super::super::WorkspaceError;
        use super::super::dir::WorkspaceDir;

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("file"))
            .unwrap();
        std::fs::create_dir(root.path().join("src")).unwrap();
        std::os::unix::fs::symlink(root.path().join("src"), root.path().join("inside")).unwrap();
        let dir = WorkspaceDir::open(root.path()).unwrap();

        for raw in [
            "link/secret",
            "link/new-file",
            "link",
            "file",
            "inside/x.ts",
        ] {
            let p = RelPath::parse(raw).unwrap();
            for result in [
                dir.read_bounded(&p, 1024).map(drop),
                dir.write_atomic(&p, b"pwned"),
            ] {
                assert!(
                    matches!(result, Err(WorkspaceError::Path(PathError::SymbolicLink))),
                    "{raw}: {result:?}"
                );
            }
        }
        assert_eq!(std::fs::read(outside.path().join("secret")).unwrap(), b"s");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
        assert_eq!(
            std::fs::read_dir(root.path().join("src")).unwrap().count(),
            0
        );
        // Paths that do not exist yet are fine, however deep.
        for raw in ["src/new/deep/file.ts", "brand-new.txt"] {
            let p = RelPath::parse(raw).unwrap();
            dir.write_atomic(&p, b"ok").unwrap();
            assert_eq!(dir.read_bounded(&p, 1024).unwrap(), b"ok", "{raw}");
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just("/".to_string()),
            Just("\\".to_string()),
            Just("C:".to_string()),
            Just("~".to_string()),
            Just("\0".to_string()),
            Just("%2e%2e".to_string()),
            Just("node_modules".to_string()),
            Just("\u{2215}".to_string()),
            "[a-zA-Z0-9_.-]{1,4}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever text arrives, an accepted path joined to a root stays
        /// under that root and contains no `..`: zero escapes.
        #[test]
        fn accepted_paths_never_escape(parts in prop::collection::vec(fragment(), 0..16)) {
            let raw = parts.concat();
            if let Ok(path) = RelPath::parse(&raw) {
                let root = Path::new("/srv/workspace");
                let joined = root.join(path.as_str());
                prop_assert!(joined.starts_with(root), "{raw:?} -> {joined:?}");
                prop_assert!(joined.components().skip(root.components().count()).all(|c| matches!(c, Component::Normal(_))));
                prop_assert!(!path.as_str().contains('\0') && !path.as_str().contains('\\'));
                // Normalised: parsing again is the identity.
                let again = RelPath::parse(path.as_str());
                prop_assert_eq!(again, Ok(path.clone()));
            }
        }
    }
}
