//! Installed modules: a read-only store shared by projects, never a shared
//! writable file.
//!
//! A project's `node_modules` comes from the store entry for the hash of its
//! dependency sections (`<cache>/modules/<hash>/node_modules`). An entry is
//! built once, in a staging folder that holds nothing but a `package.json`
//! minicode wrote itself (the dependency sections, no scripts, no lockfile,
//! no `.npmrc`): packages are downloaded with their scripts off, then their
//! install scripts run in a sandbox without network, and the folder is
//! renamed into place. No project's own code ever runs in it, so an entry
//! holds only what those exact dependencies install. Projects then get it
//! read-only: mounted (process sandbox, docker) or copied (process-unsafe).
//! Which entry a project uses is recorded in minicode's state folder, not in
//! the workspace, where the app could forge it.
//!
//! Only registry packages are accepted as dependencies (semver ranges, tags,
//! `npm:` aliases): a `file:`, `git+…`, `http…` or `user/repo` spec would let
//! a package.json reach the host's files or network during the download.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The dependency sections of package.json that decide what is installed.
const SECTIONS: [&str; 4] = [
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
];
/// Written into a store entry once it is complete.
const COMPLETE: &str = "complete";
/// The store's layout; a new one starts a new folder rather than trusting
/// entries made for the old one.
const LAYOUT: &str = "v2";
/// Folders Vite writes inside `node_modules`: each is a mount point for a
/// per-project writable folder over the read-only entry.
pub const WRITABLE_IN_MODULES: [&str; 2] = [".vite", ".vite-temp"];

/// What a package.json asks to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependencies {
    /// Identifies the store entry (the backend's flavour is part of it).
    pub hash: String,
    /// The package.json the store entry is installed from.
    pub manifest: Vec<u8>,
}

/// Reads and checks the dependency sections of a project's package.json.
pub fn read(package_json: &[u8], flavour: &str) -> Result<Dependencies, String> {
    let value: Value = serde_json::from_slice(package_json)
        .map_err(|e| format!("package.json is not valid JSON: {e}"))?;
    let Value::Object(root) = value else {
        return Err("package.json must be a JSON object".into());
    };
    let mut manifest = Map::new();
    manifest.insert("name".into(), Value::String("minicode-modules".into()));
    manifest.insert("private".into(), Value::Bool(true));
    let mut hasher = Sha256::new();
    hasher.update(flavour.as_bytes());
    for section in SECTIONS {
        hasher.update(section.as_bytes());
        let Some(deps) = root.get(section) else {
            continue;
        };
        let Value::Object(deps) = deps else {
            return Err(format!("package.json: `{section}` must be an object"));
        };
        for (name, spec) in deps {
            let Value::String(spec) = spec else {
                return Err(format!(
                    "package.json: the version of `{name}` must be a string"
                ));
            };
            check_name(name).map_err(|why| format!("package.json: `{name}` {why}"))?;
            check_spec(spec).map_err(|why| {
                format!("package.json: `{name}`: `{spec}` {why}; only npm registry packages can be installed")
            })?;
        }
        // Sorted by name, so equal sections hash equally whatever order the
        // file lists them in (serde_json keeps the file's order).
        let sorted: Map<String, Value> = deps
            .iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let text = Value::Object(sorted.clone()).to_string();
        hasher.update(text.as_bytes());
        manifest.insert(section.into(), Value::Object(sorted));
    }
    Ok(Dependencies {
        hash: hex::encode(hasher.finalize()),
        manifest: serde_json::to_vec_pretty(&Value::Object(manifest)).unwrap_or_default(),
    })
}

/// The dist-tag minicode writes for a package installed without a version
/// (`npm install zod`), and that models write too.
const LATEST: &str = "latest";

/// `package.json` with every dependency asked for as `latest` pinned to a
/// caret range of the version that `modules` holds (`"zod": "latest"` →
/// `"zod": "^3.25.76"`), so the app gets the same major version when it is
/// installed again next year. `None` if nothing was pinned. The file's key
/// order and formatting of everything else are kept (serde_json's
/// `preserve_order`); a package whose installed version cannot be read, or
/// is not a plain semver version, keeps `latest`.
pub fn pin_latest(package_json: &[u8], modules: &Path) -> Result<Option<String>, String> {
    let mut value: Value = serde_json::from_slice(package_json)
        .map_err(|e| format!("package.json is not valid JSON: {e}"))?;
    let Value::Object(root) = &mut value else {
        return Err("package.json must be a JSON object".into());
    };
    let mut pinned = false;
    for section in SECTIONS {
        let Some(Value::Object(deps)) = root.get_mut(section) else {
            continue;
        };
        for (name, spec) in deps.iter_mut() {
            if spec.as_str().map(str::trim) != Some(LATEST) || check_name(name).is_err() {
                continue;
            }
            if let Some(version) = installed_version(modules, name) {
                *spec = Value::String(format!("^{version}"));
                pinned = true;
            }
        }
    }
    if !pinned {
        return Ok(None);
    }
    serde_json::to_string_pretty(&value)
        .map(|text| Some(text + "\n"))
        .map_err(|e| e.to_string())
}

/// The `version` of `modules/<name>/package.json`, if it is a plain semver
/// version (`1.2.3`, `1.2.3-beta.1`): the file comes from the registry and
/// is not trusted to hold anything else. `name` was checked by
/// [`check_name`], so the path stays inside `modules`.
fn installed_version(modules: &Path, name: &str) -> Option<String> {
    let text = std::fs::read(modules.join(name).join("package.json")).ok()?;
    let manifest: Value = serde_json::from_slice(&text).ok()?;
    let version = manifest.get("version")?.as_str()?;
    let (core, pre) = version.split_once('-').unwrap_or((version, ""));
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit());
    let pre_ok = pre
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (parts.len() == 3 && parts.iter().all(numeric) && pre_ok && version.len() <= 64)
        .then(|| version.to_string())
}

/// What [`type_files`] sends at most: the editor's type checker needs the
/// declarations of the app's dependencies, not whole packages.
pub const TYPES_MAX_BYTES: usize = 16 << 20;
/// The most files [`type_files`] sends.
pub const TYPES_MAX_FILES: usize = 4000;
/// Packages never sent: TypeScript's own library files are in the editor.
const TYPES_SKIPPED: [&str; 1] = ["typescript"];

/// One file of the declarations the editor loads.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct TypeFile {
    /// `node_modules/<package>/…`, where the editor's type checker looks.
    pub path: String,
    pub content: String,
}

/// The type declarations of `roots` (the app's dependency names) and of
/// the packages they depend on, from an installed `modules` folder: each
/// package's `package.json` (for its `types` and `exports`) and its
/// `.d.ts` / `.d.mts` / `.d.cts` files, plus `@types/<name>` where
/// installed. Breadth first, so the app's own dependencies come first when
/// the caps ([`TYPES_MAX_BYTES`], [`TYPES_MAX_FILES`]) cut the list; the
/// flag says whether they did. Registry packages are hostile input: names
/// are checked, links and nested `node_modules` are not followed, and every
/// file read is a regular file under `modules`.
pub fn type_files(modules: &Path, roots: &[String]) -> (Vec<TypeFile>, bool) {
    type_files_within(modules, roots, TYPES_MAX_BYTES, TYPES_MAX_FILES)
}

fn type_files_within(
    modules: &Path,
    roots: &[String],
    max_bytes: usize,
    max_files: usize,
) -> (Vec<TypeFile>, bool) {
    let mut queue: std::collections::VecDeque<String> = roots.iter().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut cut = false;
    while let Some(name) = queue.pop_front() {
        if TYPES_SKIPPED.contains(&name.as_str()) || check_name(&name).is_err() {
            continue;
        }
        if !seen.insert(name.clone()) {
            continue;
        }
        let dir = modules.join(&name);
        // Neither the package nor its scope's folder may be a link (out of
        // the store, say to the host's files).
        let inside = std::fs::canonicalize(&dir).is_ok_and(|real| real == dir);
        if !inside || !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        // `@types/react` for `react`; `@types/scope__pkg` for `@scope/pkg`.
        if !name.starts_with("@types/") {
            let mangled = name.trim_start_matches('@').replace('/', "__");
            queue.push_back(format!("@types/{mangled}"));
        }
        let mut files = Vec::new();
        collect_declarations(&dir, 0, &mut files);
        files.sort();
        // The package.json goes first, read once: its dependencies are
        // queued and its text is sent.
        let manifest = dir.join("package.json");
        let mut texts: Vec<(PathBuf, String)> = Vec::with_capacity(files.len() + 1);
        if let Ok(text) = read_regular(&manifest) {
            if let Ok(Value::Object(pkg)) = serde_json::from_str::<Value>(&text)
                && let Some(Value::Object(deps)) = pkg.get("dependencies")
            {
                queue.extend(deps.keys().cloned());
            }
            texts.push((manifest, text));
        }
        let declarations = files
            .into_iter()
            .filter_map(|file| read_regular(&file).ok().map(|text| (file, text)));
        for (file, content) in texts.into_iter().chain(declarations) {
            if out.len() >= max_files || bytes + content.len() > max_bytes {
                cut = true;
                continue;
            }
            let Ok(relative) = file.strip_prefix(modules) else {
                continue;
            };
            bytes += content.len();
            out.push(TypeFile {
                path: format!("node_modules/{}", relative.to_string_lossy()),
                content,
            });
        }
    }
    (out, cut)
}

/// The declaration files under `dir` (a package), depth first, without
/// following links or entering nested `node_modules`.
fn collect_declarations(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 12 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if kind.is_dir() {
            if name != "node_modules" && !name.starts_with('.') {
                collect_declarations(&entry.path(), depth + 1, out);
            }
        } else if kind.is_file()
            && [".d.ts", ".d.mts", ".d.cts"]
                .iter()
                .any(|ext| name.ends_with(ext))
        {
            out.push(entry.path());
        }
    }
}

/// A regular file's text (not a link, at most 4 MiB, UTF-8).
fn read_regular(path: &Path) -> io::Result<String> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.len() > 4 << 20 {
        return Err(io::Error::other("not a small regular file"));
    }
    String::from_utf8(std::fs::read(path)?).map_err(io::Error::other)
}

/// npm's rules for a package name, as far as they matter for safety: lower
/// case, URL-safe, optionally `@scope/name`.
fn check_name(name: &str) -> Result<(), &'static str> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._~".contains(&b))
    };
    let valid = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, pkg)| ok_part(scope) && ok_part(pkg)),
        None => ok_part(name),
    };
    if valid && name.len() <= 214 {
        Ok(())
    } else {
        Err("is not a valid npm package name")
    }
}

/// A registry version spec: a version, a range, a dist-tag, or an `npm:`
/// alias of one. Everything that names a place (a path, a URL, a git
/// repository) is refused.
fn check_spec(spec: &str) -> Result<(), &'static str> {
    let spec = spec.trim();
    if let Some(alias) = spec.strip_prefix("npm:") {
        let (name, range) = match alias.strip_prefix('@') {
            Some(rest) => match rest.split_once('@') {
                Some((n, r)) => (format!("@{n}"), r),
                None => (alias.to_string(), ""),
            },
            None => match alias.split_once('@') {
                Some((n, r)) => (n.to_string(), r),
                None => (alias.to_string(), ""),
            },
        };
        check_name(&name).map_err(|_| "is not a registry package")?;
        return if range.is_empty() {
            Ok(())
        } else {
            check_spec(range)
        };
    }
    if spec.len() > 256 {
        return Err("is too long");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " .-+^~<>=|*xX".contains(c);
    if spec.chars().all(allowed) && !spec.contains(':') {
        Ok(())
    } else {
        Err("is not a registry version")
    }
}

/// The store of installed modules.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// `cache/modules/<layout>` holds the entries.
    pub fn new(cache: &Path) -> Self {
        Self {
            root: cache.join("modules").join(LAYOUT),
        }
    }

    /// The complete entry's `node_modules` for `hash`, if there is one, as
    /// a canonical path: an alias (see [`Store::alias`]) gives its entry's
    /// own folder, so two hashes of one entry give equal paths, and a mount
    /// never goes through a link.
    pub fn modules(&self, hash: &str) -> Option<PathBuf> {
        let dir = std::fs::canonicalize(self.root.join(hash)).ok()?;
        dir.join(COMPLETE)
            .is_file()
            .then(|| dir.join("node_modules"))
    }

    /// Makes `alias` name the complete entry of `hash`: a package.json whose
    /// `latest` was pinned to what that entry installed (see [`pin_latest`])
    /// asks for exactly what it holds, so it is not installed again. An
    /// `alias` that already names an entry is left as it is.
    pub fn alias(&self, alias: &str, hash: &str) -> io::Result<()> {
        if alias == hash || self.modules(alias).is_some() {
            return Ok(());
        }
        if self.modules(hash).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no module store entry {hash}"),
            ));
        }
        // A relative link, so the store can be moved as a whole.
        let link = self.root.join(alias);
        let _ = std::fs::remove_file(&link);
        match std::os::unix::fs::symlink(hash, &link) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// A new, empty staging folder holding only `manifest` as package.json.
    pub fn stage(&self, deps: &Dependencies) -> io::Result<PathBuf> {
        let dir = self.root.join(format!(
            ".staging-{}-{}",
            deps.hash,
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("package.json"), &deps.manifest)?;
        Ok(dir)
    }

    /// Turns an installed staging folder into the entry for `hash` and returns
    /// its `node_modules`. If another install finished first, theirs is kept.
    pub fn commit(&self, staging: &Path, hash: &str) -> io::Result<PathBuf> {
        let modules = staging.join("node_modules");
        std::fs::create_dir_all(&modules)?;
        // Mount points of each project's own Vite folders.
        for dir in WRITABLE_IN_MODULES {
            std::fs::create_dir_all(modules.join(dir))?;
        }
        std::fs::write(staging.join(COMPLETE), hash)?;
        let dir = self.root.join(hash);
        // An alias whose entry is gone names nothing: this entry replaces it.
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_symlink()) {
            let _ = std::fs::remove_file(&dir);
        }
        if let Err(e) = std::fs::rename(staging, &dir) {
            let _ = std::fs::remove_dir_all(staging);
            if self.modules(hash).is_none() {
                return Err(e);
            }
        }
        self.modules(hash).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no module store entry {hash}"),
            )
        })
    }

    /// Removes a staging folder after a failed install.
    pub fn discard(&self, staging: &Path) {
        let _ = std::fs::remove_dir_all(staging);
    }
}

/// Which store entry each project uses, kept outside the workspaces.
#[derive(Clone, Debug)]
pub struct Attached {
    dir: PathBuf,
}

impl Attached {
    pub fn new(state_dir: &Path) -> io::Result<Self> {
        let dir = state_dir.join("deps");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn get(&self, project: uuid::Uuid) -> Option<String> {
        std::fs::read_to_string(self.dir.join(project.to_string()))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn set(&self, project: uuid::Uuid, hash: &str) -> io::Result<()> {
        std::fs::write(self.dir.join(project.to_string()), hash)
    }

    pub fn clear(&self, project: uuid::Uuid) {
        let _ = std::fs::remove_file(self.dir.join(project.to_string()));
    }
}

/// Copies a store entry into a workspace as its own `node_modules` (the
/// process-unsafe backend, which cannot mount): files are copied (`std::fs::
/// copy` clones extents where the file system can), never hard-linked, so
/// no inode is shared. Vite's cache folder is left out.
pub fn copy_into(modules: &Path, workspace: &Path) -> io::Result<()> {
    let target = workspace.join("node_modules");
    let staging = workspace.join(".node_modules.minicode-tmp");
    for old in [&staging, &target] {
        match std::fs::symlink_metadata(old) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(old)?,
            Ok(_) => std::fs::remove_file(old)?,
            Err(_) => {}
        }
    }
    copy_tree(modules, &staging)?;
    std::fs::rename(&staging, &target)
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if WRITABLE_IN_MODULES.iter().any(|w| name == *w) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_hash_follows_dependencies_only() {
        let a =
            br#"{"name":"a","scripts":{"dev":"vite"},"dependencies":{"react":"^19","vite":"^7"}}"#;
        let b = br#"{"name":"b","dependencies":{"vite":"^7","react":"^19"}}"#;
        let c = br#"{"name":"a","dependencies":{"react":"^18"}}"#;
        let hash = |j: &[u8], f| read(j, f).unwrap().hash;
        assert_eq!(hash(a, "process"), hash(b, "process"));
        assert_ne!(hash(a, "process"), hash(c, "process"));
        assert_ne!(hash(a, "process"), hash(a, "docker"));
        assert!(
            read(b"{nope", "process")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn the_store_manifest_has_no_scripts_and_no_name_of_the_app() {
        let deps = read(
            br#"{"name":"evil","scripts":{"postinstall":"curl x"},"dependencies":{"react":"^19"},"devDependencies":{"vite":"7.1.0"}}"#,
            "process",
        )
        .unwrap();
        let manifest: Value = serde_json::from_slice(&deps.manifest).unwrap();
        assert!(manifest.get("scripts").is_none());
        assert_eq!(manifest["name"], "minicode-modules");
        assert_eq!(manifest["dependencies"]["react"], "^19");
        assert_eq!(manifest["devDependencies"]["vite"], "7.1.0");
    }

    #[test]
    fn only_registry_packages_are_accepted() {
        for spec in [
            "^19.0.0",
            "~1.2.3",
            ">=1 <2",
            "1.x || 2.x",
            "latest",
            "next",
            "*",
            "",
            "7.0.0-beta.1",
            "npm:react@^19",
            "npm:@scope/pkg@1.0.0",
        ] {
            let json = serde_json::json!({"dependencies": {"a": spec}}).to_string();
            assert!(read(json.as_bytes(), "p").is_ok(), "{spec} refused");
        }
        for spec in [
            "file:../../minicode.db",
            "link:/etc",
            "git+https://example.com/x.git",
            "git://example.com/x",
            "http://127.0.0.1:3000/evil.tgz",
            "https://example.com/x.tgz",
            "user/repo",
            "github:user/repo",
            "workspace:*",
            "../sibling",
            "/abs/path",
            "npm:evil@file:../x",
        ] {
            let json = serde_json::json!({"dependencies": {"a": spec}}).to_string();
            let err = read(json.as_bytes(), "p").unwrap_err();
            assert!(err.contains("only npm registry packages"), "{spec}: {err}");
        }
        for name in ["../x", "UPPER", "a b", "@scope", ".hidden", "@/x"] {
            let json = serde_json::json!({"dependencies": {name: "1.0.0"}}).to_string();
            assert!(read(json.as_bytes(), "p").is_err(), "{name} accepted");
        }
        let json = serde_json::json!({"dependencies": {"a": 1}}).to_string();
        assert!(
            read(json.as_bytes(), "p")
                .unwrap_err()
                .contains("must be a string")
        );
    }

    #[test]
    fn entries_are_complete_or_absent_and_copies_share_no_inode() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let deps = read(br#"{"dependencies":{"react":"^19"}}"#, "p").unwrap();
        assert!(store.modules(&deps.hash).is_none());
        let staging = store.stage(&deps).unwrap();
        let nm = staging.join("node_modules");
        std::fs::create_dir_all(nm.join("react/cjs")).unwrap();
        std::fs::write(nm.join("react/index.js"), "module.exports = 1").unwrap();
        std::fs::create_dir_all(nm.join(".bin")).unwrap();
        std::os::unix::fs::symlink("../react/index.js", nm.join(".bin/react")).unwrap();
        assert!(store.modules(&deps.hash).is_none(), "not before commit");
        let modules = store.commit(&staging, &deps.hash).unwrap();
        assert_eq!(store.modules(&deps.hash), Some(modules.clone()));
        assert!(
            modules.join(".vite").is_dir(),
            "mount point for Vite's cache"
        );

        let ws = tempfile::tempdir().unwrap();
        copy_into(&modules, ws.path()).unwrap();
        let copied = ws.path().join("node_modules/react/index.js");
        assert_eq!(
            std::fs::read_to_string(&copied).unwrap(),
            "module.exports = 1"
        );
        assert_ne!(
            std::fs::metadata(&copied).unwrap().ino(),
            std::fs::metadata(modules.join("react/index.js"))
                .unwrap()
                .ino(),
            "a copy, not a hard link"
        );
        assert_eq!(
            std::fs::read_link(ws.path().join("node_modules/.bin/react")).unwrap(),
            Path::new("../react/index.js")
        );
        // Writing through the copy leaves the store alone.
        std::fs::write(&copied, "tampered").unwrap();
        assert_eq!(
            std::fs::read_to_string(modules.join("react/index.js")).unwrap(),
            "module.exports = 1"
        );
    }

    #[test]
    fn the_attached_entry_is_recorded_outside_the_workspace() {
        let state = tempfile::tempdir().unwrap();
        let attached = Attached::new(state.path()).unwrap();
        let project = uuid::Uuid::new_v4();
        assert_eq!(attached.get(project), None);
        attached.set(project, "h1").unwrap();
        assert_eq!(attached.get(project).as_deref(), Some("h1"));
        attached.clear(project);
        assert_eq!(attached.get(project), None);
    }

    /// A store entry for `json` with the given installed `(name, version)`s.
    fn installed(store: &Store, json: &str, packages: &[(&str, &str)]) -> (String, PathBuf) {
        let deps = read(json.as_bytes(), "p").unwrap();
        let staging = store.stage(&deps).unwrap();
        for (name, version) in packages {
            let dir = staging.join("node_modules").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("package.json"),
                serde_json::json!({"name": name, "version": version}).to_string(),
            )
            .unwrap();
        }
        let modules = store.commit(&staging, &deps.hash).unwrap();
        (deps.hash, modules)
    }

    #[test]
    fn latest_is_pinned_to_a_caret_range_of_the_installed_version() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let json = r#"{"name":"app","scripts":{"dev":"vite"},"dependencies":{"zod":"latest","react":"^19.1.0","@tanstack/react-query":"latest","weird":"latest","gone":"latest"},"devDependencies":{"vite":" latest "}}"#;
        let (_, modules) = installed(
            &store,
            json,
            &[
                ("zod", "3.25.76"),
                ("react", "19.1.1"),
                ("@tanstack/react-query", "5.90.2-beta.1"),
                ("weird", "1.0.0\",\"evil\":\"x"),
                ("vite", "7.1.5"),
            ],
        );
        let pinned = pin_latest(json.as_bytes(), &modules).unwrap().unwrap();
        let value: Value = serde_json::from_str(&pinned).unwrap();
        assert_eq!(value["dependencies"]["zod"], "^3.25.76");
        assert_eq!(value["dependencies"]["react"], "^19.1.0", "a range stays");
        assert_eq!(
            value["dependencies"]["@tanstack/react-query"],
            "^5.90.2-beta.1"
        );
        assert_eq!(
            value["dependencies"]["weird"], "latest",
            "a version that is not semver is not copied"
        );
        assert_eq!(
            value["dependencies"]["gone"], "latest",
            "not installed: kept"
        );
        assert_eq!(value["devDependencies"]["vite"], "^7.1.5");
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["name", "scripts", "dependencies", "devDependencies"],
            "the file's key order"
        );
        let deps: Vec<&String> = value["dependencies"].as_object().unwrap().keys().collect();
        assert_eq!(
            deps,
            ["zod", "react", "@tanstack/react-query", "weird", "gone"]
        );
        assert!(pinned.ends_with("}\n"));
        // Nothing to pin: nothing to write.
        assert_eq!(pin_latest(pinned.as_bytes(), &modules).unwrap(), None);
        assert!(pin_latest(b"[1]", &modules).is_err());
    }

    #[test]
    fn an_alias_names_the_same_entry_and_a_stale_one_is_replaced() {
        let cache = tempfile::tempdir().unwrap();
        let store = Store::new(cache.path());
        let json = r#"{"dependencies":{"zod":"latest"}}"#;
        let (hash, modules) = installed(&store, json, &[("zod", "3.25.76")]);
        let pinned = pin_latest(json.as_bytes(), &modules).unwrap().unwrap();
        let alias = read(pinned.as_bytes(), "p").unwrap().hash;
        assert_ne!(alias, hash);
        assert_eq!(store.modules(&alias), None);
        store.alias(&alias, &hash).unwrap();
        assert_eq!(store.modules(&alias), Some(modules.clone()));
        store.alias(&alias, &hash).unwrap();
        assert!(store.alias("other", "missing").is_err());

        // The entry is gone (an operator cleaned the store): installing the
        // pinned file again puts a real entry where the alias was.
        std::fs::remove_dir_all(modules.parent().unwrap()).unwrap();
        assert_eq!(store.modules(&alias), None);
        let deps = read(pinned.as_bytes(), "p").unwrap();
        let staging = store.stage(&deps).unwrap();
        let again = store.commit(&staging, &deps.hash).unwrap();
        assert_eq!(store.modules(&alias), Some(again));
    }

    #[test]
    fn type_files_are_declarations_of_the_dependencies_and_nothing_outside() {
        let root = tempfile::tempdir().unwrap();
        let modules = std::fs::canonicalize(root.path())
            .unwrap()
            .join("node_modules");
        let outside = root.path().join("outside");
        let write = |path: &str, text: &str| {
            let file = modules.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        write(
            "react/package.json",
            r#"{"name":"react","version":"19.1.1"}"#,
        );
        write("react/index.js", "module.exports = {}");
        write(
            "@types/react/package.json",
            r#"{"name":"@types/react","dependencies":{"csstype":"^3"}}"#,
        );
        write("@types/react/index.d.ts", "export = React;");
        write("@types/react/jsx-runtime.d.ts", "export {};");
        write("@types/react/ts5.0/index.d.ts", "export {};");
        write("csstype/package.json", r#"{"name":"csstype"}"#);
        write("csstype/index.d.ts", "export interface Properties {}");
        write("csstype/node_modules/nested/index.d.ts", "nested");
        write(
            "zod/package.json",
            r#"{"name":"zod","types":"./index.d.cts"}"#,
        );
        write("zod/index.d.cts", "export {};");
        write("zod/lib/types.d.mts", "export {};");
        write("typescript/lib/lib.d.ts", "huge");
        write("unused/index.d.ts", "not a dependency");
        std::fs::create_dir_all(outside.join("pkg")).unwrap();
        std::fs::write(outside.join("pkg/index.d.ts"), "secret").unwrap();
        std::fs::write(outside.join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(&outside, modules.join("@evil")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), modules.join("zod/leak.d.ts"))
            .unwrap();
        std::os::unix::fs::symlink(&outside, modules.join("linked")).unwrap();

        let roots: Vec<String> = ["react", "zod", "typescript", "@evil/pkg", "linked", "../x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (files, cut) = type_files(&modules, &roots);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "node_modules/react/package.json",
                "node_modules/zod/package.json",
                "node_modules/zod/index.d.cts",
                "node_modules/zod/lib/types.d.mts",
                "node_modules/@types/react/package.json",
                "node_modules/@types/react/index.d.ts",
                "node_modules/@types/react/jsx-runtime.d.ts",
                "node_modules/@types/react/ts5.0/index.d.ts",
                "node_modules/csstype/package.json",
                "node_modules/csstype/index.d.ts",
            ]
        );
        assert!(!cut);
        assert!(files.iter().all(|f| f.content != "secret"));
        assert_eq!(files[5].content, "export = React;");

        // The caps keep the first files and say so.
        let (files, cut) = type_files_within(&modules, &roots, 1 << 20, 3);
        assert_eq!(files.len(), 3);
        assert!(cut);
    }
}
