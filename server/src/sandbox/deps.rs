//! Making `npm install` fast.
//!
//! Three layers, cheapest first:
//! 1. **Up to date**: the dependency sections of `package.json` hash to the
//!    value recorded in `node_modules/.minicode-deps` from the last install:
//!    nothing to do.
//! 2. **Module snapshot**: another project already installed exactly these
//!    dependencies; its `node_modules` was kept (hard links, so it costs no
//!    copy of the data) under `<cache>/modules/<hash>/`, and is linked into
//!    this workspace in a fraction of a second.
//! 3. **Shared npm cache**: `npm install --prefer-offline` with one cache
//!    folder for every project, so packages are downloaded once.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Recorded in `node_modules` after a successful install.
pub const MARKER: &str = ".minicode-deps";

/// A hash of what `npm install` depends on: the dependency sections of
/// package.json (not scripts, names or versions of the app itself).
pub fn deps_hash(package_json: &[u8], flavour: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(package_json)
        .map_err(|e| format!("package.json is not valid JSON: {e}"))?;
    let mut hasher = Sha256::new();
    hasher.update(flavour.as_bytes());
    for section in [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ] {
        hasher.update(section.as_bytes());
        // serde_json's Map keeps keys sorted, so equal sections hash equally.
        hasher.update(
            value
                .get(section)
                .map(|v| v.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    Ok(hex::encode(hasher.finalize()))
}

/// True when the workspace's installed modules match `hash`.
pub fn is_current(workspace: &Path, hash: &str) -> bool {
    std::fs::read_to_string(workspace.join("node_modules").join(MARKER))
        .is_ok_and(|m| m.trim() == hash)
}

/// Records that the workspace's modules match `hash`. A package.json with no
/// dependencies leaves no `node_modules` behind, so the folder is created.
pub fn mark_current(workspace: &Path, hash: &str) -> io::Result<()> {
    let modules = workspace.join("node_modules");
    std::fs::create_dir_all(&modules)?;
    std::fs::write(modules.join(MARKER), hash)
}

/// Where the module snapshot for `hash` lives.
pub fn snapshot_dir(cache: &Path, hash: &str) -> PathBuf {
    cache.join("modules").join(hash)
}

/// Links a snapshot's `node_modules` into the workspace, replacing what is
/// there. Returns false when there is no snapshot for this hash.
pub fn link_snapshot(cache: &Path, hash: &str, workspace: &Path) -> io::Result<bool> {
    let source = snapshot_dir(cache, hash).join("node_modules");
    if !source.join(MARKER).is_file() {
        return Ok(false);
    }
    let target = workspace.join("node_modules");
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    let staging = workspace.join(".node_modules.minicode-tmp");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    link_tree(&source, &staging)?;
    std::fs::rename(&staging, &target)?;
    mark_current(workspace, hash)?;
    Ok(true)
}

/// Keeps the workspace's freshly installed `node_modules` as the snapshot for
/// `hash` (if there is none yet). Written to a temporary folder and renamed,
/// so a half-made snapshot is never used.
pub fn save_snapshot(cache: &Path, hash: &str, workspace: &Path) -> io::Result<()> {
    let dir = snapshot_dir(cache, hash);
    if dir.join("node_modules").join(MARKER).is_file() {
        return Ok(());
    }
    let staging = cache
        .join("modules")
        .join(format!(".{hash}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&staging)?;
    let result = link_tree(
        &workspace.join("node_modules"),
        &staging.join("node_modules"),
    )
    .and_then(|()| std::fs::write(staging.join("node_modules").join(MARKER), hash))
    .and_then(|()| match std::fs::rename(&staging, &dir) {
        // Another project saved the same snapshot meanwhile: keep theirs.
        Err(_) if dir.exists() => std::fs::remove_dir_all(&staging),
        other => other,
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Recreates `from` at `to` with hard links for files, new folders, and
/// copied symlinks. Vite's per-project cache (`.vite`) is left out.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".vite" || name == MARKER {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let link = std::fs::read_link(&source)?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(link, &target)?;
            #[cfg(not(unix))]
            std::fs::copy(source.join(link), &target).map(|_| ())?;
        } else if kind.is_dir() {
            link_tree(&source, &target)?;
        } else if std::fs::hard_link(&source, &target).is_err() {
            // Different file systems: fall back to copying.
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_dependencies_only() {
        let a =
            br#"{"name":"a","scripts":{"dev":"vite"},"dependencies":{"react":"^19","vite":"^7"}}"#;
        let b = br#"{"name":"b","dependencies":{"vite":"^7","react":"^19"}}"#;
        let c = br#"{"name":"a","dependencies":{"react":"^18"}}"#;
        assert_eq!(
            deps_hash(a, "process").unwrap(),
            deps_hash(b, "process").unwrap()
        );
        assert_ne!(
            deps_hash(a, "process").unwrap(),
            deps_hash(c, "process").unwrap()
        );
        assert_ne!(
            deps_hash(a, "process").unwrap(),
            deps_hash(a, "docker").unwrap()
        );
        assert!(
            deps_hash(b"{nope", "process")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn a_workspace_without_node_modules_can_be_marked() {
        let ws = tempfile::tempdir().unwrap();
        assert!(!is_current(ws.path(), "h0"));
        mark_current(ws.path(), "h0").unwrap();
        assert!(is_current(ws.path(), "h0"));
        assert!(!is_current(ws.path(), "h1"));
    }

    #[test]
    fn snapshots_roundtrip_with_links() {
        let cache = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let nm = first.path().join("node_modules");
        std::fs::create_dir_all(nm.join("react/cjs")).unwrap();
        std::fs::write(nm.join("react/index.js"), "module.exports = 1").unwrap();
        std::fs::create_dir_all(nm.join(".bin")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../react/index.js", nm.join(".bin/react")).unwrap();
        std::fs::create_dir_all(nm.join(".vite/deps")).unwrap();
        mark_current(first.path(), "h1").unwrap();

        save_snapshot(cache.path(), "h1", first.path()).unwrap();
        let second = tempfile::tempdir().unwrap();
        assert!(!link_snapshot(cache.path(), "other", second.path()).unwrap());
        assert!(link_snapshot(cache.path(), "h1", second.path()).unwrap());
        let copied = second.path().join("node_modules");
        assert_eq!(
            std::fs::read_to_string(copied.join("react/index.js")).unwrap(),
            "module.exports = 1"
        );
        assert!(
            !copied.join(".vite").exists(),
            "Vite's cache is per project"
        );
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(copied.join(".bin/react")).unwrap(),
            Path::new("../react/index.js")
        );
        assert!(copied.join(MARKER).is_file());
        assert!(is_current(second.path(), "h1"));
        assert!(!is_current(second.path(), "h2"));
    }
}
