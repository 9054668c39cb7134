//! The lock that makes "check a limit, then record what it admitted" one
//! step: two requests of one user cannot both pass a check that only one of
//! them fits. Held by `AppState`, so it sits below it.
//!
//! Within an instance it is a mutex. With several instances (PostgreSQL) an
//! admission also holds a transaction-level advisory lock, so the step is
//! one across instances too; it is released when the admission is dropped
//! (the transaction rolls back: it changed nothing).

use std::sync::Arc;

use sqlx::Any;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::db::{Backend, Db};
use crate::error::AppResult;

/// The advisory lock's key ("mcad" in ASCII): one for all admissions.
const ADVISORY_KEY: i64 = 0x6d63_6164;

/// Serialises admissions: a check and the row that records what it admitted.
#[derive(Clone, Default)]
pub struct Admissions(Arc<Mutex<()>>);

/// Held from a check until the admitted thing is stored (a project row).
pub struct Admission {
    _here: OwnedMutexGuard<()>,
    _everywhere: Option<sqlx::Transaction<'static, Any>>,
}

impl Admissions {
    pub(crate) async fn enter(&self, db: &Db) -> AppResult<Admission> {
        let here = self.0.clone().lock_owned().await;
        let everywhere = match db.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let mut tx = db.writer().begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(ADVISORY_KEY)
                    .execute(&mut *tx)
                    .await?;
                Some(tx)
            }
        };
        Ok(Admission {
            _here: here,
            _everywhere: everywhere,
        })
    }
}
