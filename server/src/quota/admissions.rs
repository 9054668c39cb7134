//! The lock that makes "check a limit, then record what it admitted" one
//! step: two requests of one user cannot both pass a check that only one of
//! them fits. Held by `AppState`, so it sits below it.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

/// Serialises admissions: a check and the row that records what it admitted.
#[derive(Clone, Default)]
pub struct Admissions(Arc<Mutex<()>>);

/// Held from a check until the admitted thing is stored (a project row).
pub struct Admission(#[allow(dead_code)] OwnedMutexGuard<()>);

impl Admissions {
    pub(crate) async fn enter(&self) -> Admission {
        Admission(self.0.clone().lock_owned().await)
    }
}
