//! Locks that hold across instances: a PostgreSQL advisory lock, taken in a
//! transaction that is kept open while the lock is needed and rolled back
//! (changing nothing) when the guard is dropped. On SQLite (one instance)
//! the process's own locks are enough and these are no-ops.

use sqlx::Any;
use uuid::Uuid;

use crate::db::{Backend, Db};
use crate::error::AppResult;

/// What a project lock is for (each has its own key space).
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Publish,
}

/// Held while the work it guards runs.
pub struct ProjectLock {
    _tx: Option<sqlx::Transaction<'static, Any>>,
}

/// Takes `purpose`'s lock on `project` if no instance holds it; `None` when
/// another one does.
pub async fn try_project_lock(
    db: &Db,
    purpose: Purpose,
    project: Uuid,
) -> AppResult<Option<ProjectLock>> {
    if db.backend() != Backend::Postgres {
        return Ok(Some(ProjectLock { _tx: None }));
    }
    let mut tx = db.writer().begin().await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key(purpose, project))
        .fetch_one(&mut *tx)
        .await?;
    Ok(taken.then_some(ProjectLock { _tx: Some(tx) }))
}

/// The project's 64 first bits, with the purpose in the top byte.
fn key(purpose: Purpose, project: Uuid) -> i64 {
    let bytes = project.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    first[0] = match purpose {
        Purpose::Publish => 0x70,
    };
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_project_and_carry_the_purpose() {
        let a = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        let b = Uuid::from_u128(0x0011_2233_4455_6678_8899_aabb_ccdd_eeff);
        assert_ne!(key(Purpose::Publish, a), key(Purpose::Publish, b));
        assert_eq!(key(Purpose::Publish, a).to_be_bytes()[0], 0x70);
    }
}
