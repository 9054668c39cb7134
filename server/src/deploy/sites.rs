//! Where published sites live: their hosts and the deployments' folder.
//! A leaf of `deploy` (it is part of the server's state, which the rest of
//! `deploy` uses).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::preview::origin::HostPattern;

/// The default site hosts' suffix.
const LOCAL_SUFFIX: &str = ".apps.localhost";

/// Where sites live, and one publish at a time per project.
pub struct Sites {
    pub hosts: HostPattern,
    pub(super) root: PathBuf,
    running: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl Sites {
    /// Reads `MINICODE_APPS_URL`; deployments are kept under `data_dir/sites`.
    pub fn new(apps_url: Option<&str>, data_dir: &Path) -> Result<Self, String> {
        Ok(Self {
            hosts: HostPattern::new("MINICODE_APPS_URL", "{site}", LOCAL_SUFFIX, apps_url)?,
            root: data_dir.join("sites"),
            running: Mutex::default(),
        })
    }

    /// The folder of a deployment's files.
    pub fn folder(&self, deployment: Uuid) -> PathBuf {
        self.root.join(deployment.to_string())
    }

    pub(super) fn lock_for(&self, project: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(project)
            .or_default()
            .clone()
    }
}

impl std::fmt::Debug for Sites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sites").field("root", &self.root).finish()
    }
}
