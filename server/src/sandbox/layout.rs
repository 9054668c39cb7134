//! Where things appear inside every sandbox, whichever backend runs it
//! (bubblewrap or Docker): the app's folder, HOME, the npm cache, the
//! bridge's socket folder and minicode's helper scripts. Shared by the
//! backends and the bridge, so it depends on none of them.

/// Where the writable folder appears inside the sandbox.
pub const APP: &str = "/app";
/// HOME inside the sandbox (a private tmpfs).
pub const HOME: &str = "/home/sandbox";
/// Where the npm cache appears while packages are downloaded.
pub const NPM_CACHE: &str = "/npm-cache";
/// Where the per-project socket folder appears (the dev server's bridge).
pub const RUN_DIR: &str = "/run/minicode";
/// Where minicode's helper scripts appear (read-only).
pub const TOOLS_DIR: &str = "/opt/minicode";
