//! A project's workspace as a directory capability.
//!
//! The sandbox runs the project's own code (npm scripts, postinstall hooks)
//! with write access to the workspace, so any name in it may become a
//! symbolic link, a FIFO or a huge file at any moment, also between a check
//! and a use. So the server never opens a workspace file by its joined path.
//! [`WorkspaceDir`] holds the workspace folder open, and every operation
//! reaches its file one name at a time from that descriptor (`openat` with
//! `O_NOFOLLOW`, `mkdirat`, `renameat`, `unlinkat`):
//!
//! - a symbolic link is refused wherever it appears, even one that stays
//!   inside, and a folder swapped for a link after a step was taken cannot
//!   redirect it, because the next step starts from the folder already open;
//! - [`RelPath`] has no `..` and no `/` inside a name, so each step goes one
//!   folder down and nothing can climb out;
//! - reads check through the opened descriptor that the file is a regular
//!   file and never take more than the size limit plus one byte.
//!
//! This gives what `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` would,
//! with plain `openat`, which container seccomp profiles do not block and
//! which every Unix has.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use uuid::Uuid;

use super::{PathError, RelPath, SKIPPED_DIRS, WorkspaceError};

/// Part of the name of a file being written, before it is renamed into place.
const TEMP_MARKER: &str = ".minicode-tmp-";

/// Flags for opening a folder on the way to a file: never through a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The open workspace folder; every file operation starts from it.
#[derive(Debug)]
pub struct WorkspaceDir {
    root: OwnedFd,
}

/// A file of the workspace, as [`WorkspaceDir::walk`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub path: RelPath,
    pub size: u64,
}

/// New content written under a temporary name next to its destination.
/// [`commit`](Staged::commit) renames it into place; dropped uncommitted, the
/// temporary file is removed.
#[derive(Debug)]
pub struct Staged {
    dir: OwnedFd,
    temp: String,
    name: String,
    path: RelPath,
    committed: bool,
}

impl WorkspaceDir {
    /// Opens the workspace folder itself (it must not be a link).
    pub fn open(folder: &Path) -> Result<Self, WorkspaceError> {
        match rfs::open(folder, DIR_FLAGS, Mode::empty()) {
            Ok(root) => Ok(Self { root }),
            Err(Errno::NOENT) => Err(WorkspaceError::NotFound("the project's folder".into())),
            Err(Errno::LOOP | Errno::NOTDIR) if is_symlink(folder) => {
                Err(PathError::SymbolicLink.into())
            }
            Err(e) => Err(WorkspaceError::Io {
                path: folder.display().to_string(),
                source: e.into(),
            }),
        }
    }

    /// The whole content of a regular file, refused if it holds more than
    /// `max` bytes. FIFOs, devices, sockets and folders are refused before
    /// anything is read, and at most `max + 1` bytes are ever read.
    pub fn read_bounded(&self, path: &RelPath, max: usize) -> Result<Vec<u8>, WorkspaceError> {
        let (folders, name) = split(path);
        let chain = self.descend(&folders, false, path)?;
        let dir = self.last(&chain);
        // A first look by name, so that a device or a FIFO is not even opened…
        let seen = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| refusal(dir, name, e, path))?;
        must_be_regular(&seen, path)?;
        // …and the decisive one through the descriptor: the name may have
        // changed since. O_NONBLOCK: opening a FIFO put there meanwhile
        // returns at once instead of waiting for a writer.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rfs::openat(dir, name, flags, Mode::empty())
            .map_err(|e| refusal(dir, name, e, path))?;
        let stat = rfs::fstat(&fd).map_err(|e| io_error(path, e))?;
        must_be_regular(&stat, path)?;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let too_large = |size: u64| WorkspaceError::FileTooLarge {
            path: path.to_string(),
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: max,
        };
        if size > max as u64 {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        File::from(fd)
            .take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| WorkspaceError::Io {
                path: path.to_string(),
                source,
            })?;
        if bytes.len() > max {
            // It grew while being read.
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// Writes `content` under a temporary name in the file's folder (made if
    /// missing, one folder at a time), to be renamed into place by
    /// [`Staged::commit`]. A link or a folder where the file goes is refused.
    pub fn stage(&self, path: &RelPath, content: &[u8]) -> Result<Staged, WorkspaceError> {
        let (folders, name) = split(path);
        let mut chain = self.descend(&folders, true, path)?;
        let dir = match chain.pop() {
            Some(fd) => fd,
            None => self.root.try_clone().map_err(|source| WorkspaceError::Io {
                path: path.to_string(),
                source,
            })?,
        };
        match rfs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => return Err(WorkspaceError::IsDirectory(path.to_string())),
                FileType::Symlink => return Err(PathError::SymbolicLink.into()),
                // Anything else is replaced by the rename, never opened.
                _ => {}
            },
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io_error(path, e)),
        }
        let temp = format!(".{name}{TEMP_MARKER}{}", Uuid::new_v4().simple());
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rfs::openat(&dir, temp.as_str(), flags, Mode::from_raw_mode(0o666))
            .map_err(|e| io_error(path, e))?;
        let staged = Staged {
            dir,
            temp,
            name: name.to_string(),
            path: path.clone(),
            committed: false,
        };
        // On failure, dropping `staged` removes the partial temporary file.
        File::from(fd)
            .write_all(content)
            .map_err(|source| WorkspaceError::Io {
                path: path.to_string(),
                source,
            })?;
        Ok(staged)
    }

    /// Writes one file so that readers see the old content or the new, never half.
    pub fn write_atomic(&self, path: &RelPath, content: &[u8]) -> Result<(), WorkspaceError> {
        self.stage(path, content)?.commit()
    }

    /// Deletes a file, then the folders it leaves empty. A link there is
    /// removed itself; what it points to is not touched.
    pub fn remove_file(&self, path: &RelPath) -> Result<(), WorkspaceError> {
        let (folders, name) = split(path);
        let chain = self.descend(&folders, false, path)?;
        let dir = self.last(&chain);
        match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Err(WorkspaceError::NotFound(path.to_string())),
            Err(Errno::ISDIR | Errno::PERM) if is_dir_at(dir, name) => {
                return Err(WorkspaceError::IsDirectory(path.to_string()));
            }
            Err(e) => return Err(io_error(path, e)),
        }
        self.remove_empty_parents(&chain, &folders);
        Ok(())
    }

    /// Removes the folders of `chain` (opened along `folders`) from the
    /// deepest up, stopping at the first that is not empty.
    fn remove_empty_parents(&self, chain: &[OwnedFd], folders: &[&str]) {
        for depth in (0..chain.len()).rev() {
            let parent = self.last(&chain[..depth]);
            if rfs::unlinkat(parent, folders[depth], AtFlags::REMOVEDIR).is_err() {
                break;
            }
        }
    }

    /// Whether something is at `path` (a file or a folder); an error if the
    /// way there goes through a link.
    pub fn contains(&self, path: &RelPath) -> Result<bool, WorkspaceError> {
        let (folders, name) = split(path);
        let chain = match self.descend(&folders, false, path) {
            Ok(chain) => chain,
            Err(WorkspaceError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let dir = self.last(&chain);
        match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
                Err(PathError::SymbolicLink.into())
            }
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Every regular file of the workspace, sorted. Links are not followed
    /// (nor listed), installed packages, VCS data and build output
    /// ([`SKIPPED_DIRS`]) are left out, and so are names no [`RelPath`] can
    /// express (which also bounds the depth).
    pub fn walk(&self) -> Result<Vec<FileInfo>, WorkspaceError> {
        let mut out = Vec::new();
        walk_folder(self.root.as_fd(), None, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Every regular file under `folder` (a build's output), found as
    /// [`walk`](Self::walk) finds them: `folder` and everything in it are
    /// opened without following a link, so output that points elsewhere
    /// (the sandbox wrote it) is refused or skipped, never read through.
    pub fn walk_in(&self, folder: &RelPath) -> Result<Vec<FileInfo>, WorkspaceError> {
        let parts: Vec<&str> = folder.as_str().split('/').collect();
        let chain = self.descend(&parts, false, folder)?;
        let mut out = Vec::new();
        walk_folder(self.last(&chain), Some(folder), &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Opens `folders` one by one from the root, never following a link;
    /// with `create`, a missing folder is made. Returns the opened folders.
    fn descend(
        &self,
        folders: &[&str],
        create: bool,
        path: &RelPath,
    ) -> Result<Vec<OwnedFd>, WorkspaceError> {
        let mut chain: Vec<OwnedFd> = Vec::with_capacity(folders.len());
        for (depth, name) in folders.iter().enumerate() {
            let parent = self.last(&chain);
            let opened = match rfs::openat(parent, *name, DIR_FLAGS, Mode::empty()) {
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(parent, *name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io_error(path, e)),
                    }
                    rfs::openat(parent, *name, DIR_FLAGS, Mode::empty())
                }
                other => other,
            };
            let opened = opened.map_err(|e| match refusal(parent, name, e, path) {
                // A file where a folder must be (not a link): a clash of names.
                WorkspaceError::Io { source, .. }
                    if source.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) =>
                {
                    WorkspaceError::NotAFolder {
                        file: folders[..=depth].join("/"),
                        path: path.to_string(),
                    }
                }
                other => other,
            })?;
            chain.push(opened);
        }
        Ok(chain)
    }

    /// The deepest folder of `chain`, or the root.
    fn last<'a>(&'a self, chain: &'a [OwnedFd]) -> BorrowedFd<'a> {
        chain.last().unwrap_or(&self.root).as_fd()
    }
}

impl Staged {
    /// Renames the temporary file over the destination, in the folder
    /// opened when it was staged.
    pub fn commit(mut self) -> Result<(), WorkspaceError> {
        rfs::renameat(&self.dir, self.temp.as_str(), &self.dir, self.name.as_str())
            .map_err(|e| io_error(&self.path, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = rfs::unlinkat(&self.dir, self.temp.as_str(), AtFlags::empty());
        }
    }
}

fn walk_folder(
    dir: BorrowedFd<'_>,
    prefix: Option<&RelPath>,
    out: &mut Vec<FileInfo>,
) -> Result<(), WorkspaceError> {
    let where_ = || prefix.map_or_else(|| "the project's folder".to_string(), RelPath::to_string);
    let entries = rfs::Dir::read_from(dir).map_err(|e| WorkspaceError::Io {
        path: where_(),
        source: e.into(),
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| WorkspaceError::Io {
            path: where_(),
            source: e.into(),
        })?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let raw = match prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.to_string(),
        };
        let Ok(path) = RelPath::parse(&raw) else {
            continue;
        };
        let stat = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => continue, // gone meanwhile
            Err(e) => return Err(io_error(&path, e)),
        };
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Directory if !SKIPPED_DIRS.contains(&name) => {
                // Opened with O_NOFOLLOW: swapped for a link since the look, it is skipped.
                match rfs::openat(dir, name, DIR_FLAGS, Mode::empty()) {
                    Ok(sub) => walk_folder(sub.as_fd(), Some(&path), out)?,
                    Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                    Err(e) => return Err(io_error(&path, e)),
                }
            }
            FileType::RegularFile if !name.contains(TEMP_MARKER) => out.push(FileInfo {
                path,
                size: u64::try_from(stat.st_size).unwrap_or(0),
            }),
            // Links, FIFOs, devices and sockets are not project files.
            _ => {}
        }
    }
    Ok(())
}

/// `src/a/App.tsx` → (`["src", "a"]`, `App.tsx`).
fn split(path: &RelPath) -> (Vec<&str>, &str) {
    match path.as_str().rsplit_once('/') {
        Some((folders, name)) => (folders.split('/').collect(), name),
        None => (Vec::new(), path.as_str()),
    }
}

fn must_be_regular(stat: &Stat, path: &RelPath) -> Result<(), WorkspaceError> {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Ok(()),
        FileType::Directory => Err(WorkspaceError::IsDirectory(path.to_string())),
        FileType::Symlink => Err(PathError::SymbolicLink.into()),
        _ => Err(WorkspaceError::NotARegularFile(path.to_string())),
    }
}

/// Why opening `name` in `dir` failed: a link on the way (`O_NOFOLLOW` says
/// ELOOP, or ENOTDIR with `O_DIRECTORY`), a missing name, or an I/O error.
fn refusal(dir: BorrowedFd<'_>, name: &str, e: Errno, path: &RelPath) -> WorkspaceError {
    if e == Errno::NOENT {
        return WorkspaceError::NotFound(path.to_string());
    }
    let is_link = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
    if is_link || e == Errno::LOOP {
        return PathError::SymbolicLink.into();
    }
    io_error(path, e)
}

fn is_dir_at(dir: BorrowedFd<'_>, name: &str) -> bool {
    rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
}

fn is_symlink(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

fn io_error(path: &RelPath, e: Errno) -> WorkspaceError {
    WorkspaceError::Io {
        path: path.to_string(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    /// A workspace with `src/App.tsx`, and a folder outside it holding `secret`.
    fn setup() -> (tempfile::TempDir, tempfile::TempDir, WorkspaceDir) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("src")).unwrap();
        std::fs::write(root.path().join("src/App.tsx"), "app").unwrap();
        let dir = WorkspaceDir::open(root.path()).unwrap();
        (root, outside, dir)
    }

    fn is_symlink_refusal<T: std::fmt::Debug>(result: &Result<T, WorkspaceError>) -> bool {
        matches!(result, Err(WorkspaceError::Path(PathError::SymbolicLink)))
    }

    /// Runs `work` on another thread and fails the test if it takes longer than 5 s.
    fn within_5s<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(work());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the call hung instead of refusing")
    }

    #[test]
    fn reads_writes_and_removes_ordinary_files() {
        let (root, _outside, dir) = setup();
        assert_eq!(dir.read_bounded(&p("src/App.tsx"), 3).unwrap(), b"app");
        dir.write_atomic(&p("src/components/deep/Button.tsx"), b"button")
            .unwrap();
        dir.write_atomic(&p("src/App.tsx"), b"app 2").unwrap();
        assert_eq!(dir.read_bounded(&p("src/App.tsx"), 100).unwrap(), b"app 2");
        assert!(dir.contains(&p("src/components")).unwrap());
        assert!(!dir.contains(&p("src/nope/x")).unwrap());

        dir.remove_file(&p("src/components/deep/Button.tsx"))
            .unwrap();
        assert!(
            !root.path().join("src/components").exists(),
            "empty folders go too"
        );
        assert!(
            root.path().join("src").is_dir(),
            "a folder still in use stays"
        );
        assert!(matches!(
            dir.remove_file(&p("src/nope.ts")),
            Err(WorkspaceError::NotFound(_))
        ));
        assert!(matches!(
            dir.read_bounded(&p("src"), 100),
            Err(WorkspaceError::IsDirectory(_))
        ));
        assert!(matches!(
            dir.write_atomic(&p("src"), b"x"),
            Err(WorkspaceError::IsDirectory(_))
        ));
    }

    #[test]
    fn a_link_as_the_last_part_is_refused_and_its_target_left_alone() {
        let (root, outside, dir) = setup();
        symlink(
            outside.path().join("secret"),
            root.path().join("src/leak.txt"),
        )
        .unwrap();
        symlink("/dev/zero", root.path().join("src/zero")).unwrap();
        // What a postinstall script can do to the server's own files.
        symlink(
            outside.path().join("secret"),
            root.path().join("package.json"),
        )
        .unwrap();

        for raw in ["src/leak.txt", "src/zero", "package.json"] {
            let path = p(raw);
            let read = within_5s({
                let dir = WorkspaceDir::open(root.path()).unwrap();
                move || dir.read_bounded(&path, 1 << 20)
            });
            assert!(is_symlink_refusal(&read), "read {raw}: {read:?}");
            let write = dir.write_atomic(&p(raw), b"");
            assert!(is_symlink_refusal(&write), "write {raw}: {write:?}");
        }
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"secret"
        );
        assert!(
            root.path()
                .join("src/leak.txt")
                .symlink_metadata()
                .unwrap()
                .is_symlink()
        );
        // Deleting the link removes the link, not what it points to.
        dir.remove_file(&p("src/leak.txt")).unwrap();
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"secret"
        );
    }

    #[test]
    fn a_linked_folder_on_the_way_is_refused() {
        let (root, outside, dir) = setup();
        symlink(outside.path(), root.path().join("lib")).unwrap();
        std::fs::create_dir(root.path().join("src/real")).unwrap();
        // Even a link that stays inside the workspace.
        symlink(root.path().join("src/real"), root.path().join("src/inside")).unwrap();

        for raw in [
            "lib/secret",
            "lib/new.txt",
            "lib/a/b/c.txt",
            "src/inside/x.ts",
        ] {
            assert!(
                is_symlink_refusal(&dir.read_bounded(&p(raw), 100)),
                "read {raw}"
            );
            assert!(
                is_symlink_refusal(&dir.write_atomic(&p(raw), b"pwned")),
                "write {raw}"
            );
            assert!(
                is_symlink_refusal(&dir.remove_file(&p(raw))),
                "remove {raw}"
            );
            assert!(is_symlink_refusal(&dir.contains(&p(raw))), "contains {raw}");
        }
        let outside_names: Vec<_> = std::fs::read_dir(outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(outside_names, ["secret"]);
        assert_eq!(
            std::fs::read(outside.path().join("secret")).unwrap(),
            b"secret"
        );
        assert_eq!(
            std::fs::read_dir(root.path().join("src/real"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let (root, _outside, dir) = setup();
        rfs::mknodat(
            &dir.root,
            "pipe",
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let read = within_5s(move || dir.read_bounded(&p("pipe"), 100));
        assert!(
            matches!(read, Err(WorkspaceError::NotARegularFile(_))),
            "{read:?}"
        );
        // Not listed either: only regular files are project files.
        let dir = WorkspaceDir::open(root.path()).unwrap();
        let listed: Vec<String> = dir
            .walk()
            .unwrap()
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(listed, ["src/App.tsx"]);
    }

    #[test]
    fn a_device_node_is_refused_without_reading_it() {
        let (_root, _outside, dir) = setup();
        // /dev/zero's numbers (1, 5); only a privileged user may make one.
        let dev = rustix::fs::makedev(1, 5);
        match rfs::mknodat(
            &dir.root,
            "zero",
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o644),
            dev,
        ) {
            Ok(()) => {}
            Err(Errno::PERM | Errno::ACCESS) => return,
            Err(e) => panic!("mknod: {e}"),
        }
        let read = within_5s(move || dir.read_bounded(&p("zero"), 100));
        assert!(
            matches!(read, Err(WorkspaceError::NotARegularFile(_))),
            "{read:?}"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_it() {
        let (root, _outside, dir) = setup();
        std::fs::write(root.path().join("limit.txt"), [b'x'; 100]).unwrap();
        assert_eq!(dir.read_bounded(&p("limit.txt"), 100).unwrap().len(), 100);
        assert!(matches!(
            dir.read_bounded(&p("limit.txt"), 99),
            Err(WorkspaceError::FileTooLarge {
                size: 100,
                limit: 99,
                ..
            })
        ));
        // 64 GiB, sparse: reading it would take minutes and all the memory.
        let huge = std::fs::File::create(root.path().join("huge.bin")).unwrap();
        huge.set_len(64 << 30).unwrap();
        let started = Instant::now();
        let read = dir.read_bounded(&p("huge.bin"), 1 << 20);
        assert!(
            matches!(read, Err(WorkspaceError::FileTooLarge { .. })),
            "{read:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn parent_folders_cannot_be_named() {
        for raw in ["..", "../x", "src/../../x", "src/.."] {
            assert_eq!(RelPath::parse(raw), Err(PathError::ParentDir), "{raw}");
        }
        // The only way in is a RelPath, made of plain names.
        assert_eq!(split(&p("a/b/c.txt")), (vec!["a", "b"], "c.txt"));
        assert_eq!(split(&p("c.txt")), (vec![], "c.txt"));
    }

    #[test]
    fn the_walk_lists_regular_files_and_follows_no_link() {
        let (root, outside, dir) = setup();
        std::fs::create_dir_all(root.path().join("node_modules/react")).unwrap();
        std::fs::write(root.path().join("node_modules/react/index.js"), "x").unwrap();
        std::fs::create_dir_all(root.path().join("src/dist")).unwrap();
        std::fs::write(root.path().join("src/dist/out.js"), "x").unwrap();
        std::fs::write(root.path().join(".src.minicode-tmp-1"), "x").unwrap();
        std::fs::write(root.path().join(".env"), "A=1").unwrap();
        symlink(outside.path(), root.path().join("linked")).unwrap();
        symlink(
            outside.path().join("secret"),
            root.path().join("secret.txt"),
        )
        .unwrap();

        let files = dir.walk().unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, [".env", "src/App.tsx"]);
        assert_eq!(files[1].size, 3);
    }

    #[test]
    fn a_failed_stage_leaves_nothing_behind() {
        let (root, _outside, dir) = setup();
        let staged = dir.stage(&p("src/App.tsx"), b"new").unwrap();
        drop(staged);
        assert_eq!(
            std::fs::read(root.path().join("src/App.tsx")).unwrap(),
            b"app"
        );
        assert_eq!(
            std::fs::read_dir(root.path().join("src")).unwrap().count(),
            1,
            "the temporary file is gone"
        );
    }

    /// A thread swaps the workspace's `src` between a real folder and a link
    /// to a folder outside, as fast as it can, while the server's write and
    /// read paths run: not a byte may land outside, nor be read from there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folder_swapped_for_a_link_never_redirects_a_write_or_a_read() {
        let data = tempfile::tempdir().unwrap();
        let workspaces = super::super::Workspaces::new(
            data.path(),
            super::super::Limits {
                max_file_bytes: 1 << 20,
                max_files: 1000,
            },
        );
        let project = Uuid::new_v4();
        let ws = workspaces.ensure(project).unwrap();
        ws.write_atomic(&p("src/x.txt"), b"inside").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.txt"), "secret").unwrap();
        let root = workspaces.dir(project);
        symlink(outside.path(), root.join("src_alt")).unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicUsize::new(0));
        let swapper = std::thread::spawn({
            let (stop, swaps) = (stop.clone(), swaps.clone());
            let root = WorkspaceDir::open(&root).unwrap();
            move || {
                while !stop.load(Ordering::Relaxed) && swaps.load(Ordering::Relaxed) < 5_000_000 {
                    // `src` is briefly missing when a removal takes its
                    // last file and the emptied folder with it.
                    if rfs::renameat_with(
                        &root.root,
                        "src",
                        &root.root,
                        "src_alt",
                        rfs::RenameFlags::EXCHANGE,
                    )
                    .is_ok()
                    {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        });

        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut rounds = 0;
        while Instant::now() < deadline && rounds < 100_000 {
            rounds += 1;
            let _ = workspaces
                .write_many(
                    project,
                    vec![
                        (p("src/x.txt"), b"written".to_vec()),
                        (p("src/new/y.txt"), b"written".to_vec()),
                    ],
                )
                .await;
            if let Ok(bytes) = workspaces.read(project, &p("src/x.txt")).await {
                assert_ne!(bytes, b"secret", "read through the link");
            }
            let _ = ws.write_atomic(&p("src/z.txt"), b"written");
            if let Ok(bytes) = ws.read_bounded(&p("src/x.txt"), 100) {
                assert_ne!(bytes, b"secret", "read through the link");
            }
            let _ = ws.remove_file(&p("src/x.txt"));
            let _ = workspaces.list(project).await.unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();

        let mut outside_names: Vec<String> = std::fs::read_dir(outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        outside_names.sort();
        assert_eq!(outside_names, ["x.txt"], "after {rounds} rounds");
        assert_eq!(
            std::fs::read(outside.path().join("x.txt")).unwrap(),
            b"secret"
        );
        assert!(
            swaps.load(Ordering::Relaxed) > 100,
            "the swap ran ({} swaps)",
            swaps.load(Ordering::Relaxed)
        );
    }
}
