//! The database: SQLite by default, PostgreSQL when `DATABASE_URL=postgres://…`.
//!
//! Both backends run the same SQL through sqlx's `Any` driver, so every query
//! is written once. To keep that possible the schema sticks to types both
//! understand: UUIDs as TEXT, timestamps as BIGINT milliseconds, flags as
//! BIGINT 0/1, and placeholders are always `$1, $2, …` (SQLite accepts them).
//! Each backend has its own migrations folder (`migrations/sqlite`,
//! `migrations/postgres`), applied at start-up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use minicode::{MAX_PAGE_LIMIT, PageQuery};

use crate::config::secret::Secret;
use crate::error::{AppError, AppResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL: it must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("could not create the database folder {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("could not connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: sqlx::Error,
    },
    #[error("could not apply the {backend} migrations: {source}")]
    Migrate {
        backend: &'static str,
        source: sqlx::migrate::MigrateError,
    },
}

/// The connection pools and the backend behind them. Cheap to clone.
///
/// Reads use [`Db::pool`]; every write (a statement that changes rows, and
/// every transaction) uses [`Db::writer`]. On SQLite the writer is a single
/// connection: writes queue in its pool, first come first served, instead
/// of racing each other into SQLite's busy handler (which sleeps and, past
/// the lock wait, fails with "database is locked"); readers stay
/// concurrent (WAL). The queue is bounded in time: a write that waits for
/// the connection longer than the lock wait fails as contention, which the
/// API answers with 503 and `Retry-After`, having changed nothing. On
/// PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    writer: AnyPool,
    backend: Backend,
    /// PostgreSQL's URL, for the `LISTEN` connection (see [`Db::listener`]).
    listen_url: Option<Secret>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// Connects, applies pending migrations, and returns the pool.
    #[tracing::instrument(name = "db.connect", skip_all)]
    /// `lock_wait` is how long a statement waits for a lock another
    /// connection holds (SQLite's `busy_timeout`, PostgreSQL's
    /// `lock_timeout`) before it fails; the API turns that failure into 503.
    pub async fn connect(
        url: &Secret,
        max_connections: Option<u32>,
        lock_wait: Duration,
    ) -> Result<Db, DbError> {
        install_default_drivers();
        let raw = url.expose();
        let backend = if raw.starts_with("sqlite:") {
            Backend::Sqlite
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };

        if backend == Backend::Sqlite {
            ensure_sqlite_dir(raw)?;
        }

        let max_connections = max_connections.unwrap_or_else(|| default_pool_size(backend));
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        let lock_ms = lock_wait.as_millis().max(1);
        if backend == Backend::Sqlite {
            options = options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers proceed while one writer writes; foreign keys
                    // are off by default in SQLite and our cascades depend on them.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // SQLite retries a locked write itself until this runs out.
                    conn.execute(format!("PRAGMA busy_timeout = {lock_ms}").as_str())
                        .await?;
                    Ok(())
                })
            });
        } else {
            options = options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    conn.execute(format!("SET lock_timeout = {lock_ms}").as_str())
                        .await?;
                    Ok(())
                })
            });
        }
        let connect_error = |source| DbError::Connect {
            backend: backend.as_str(),
            source,
        };
        let writer_options = options
            .clone()
            .max_connections(1)
            .acquire_timeout(lock_wait.max(Duration::from_millis(1)));
        let pool = options.connect(raw).await.map_err(connect_error)?;
        // An in-memory SQLite database exists once per connection: a second
        // pool would write to another one.
        let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
        let writer = match backend {
            Backend::Sqlite if !in_memory => {
                writer_options.connect(raw).await.map_err(connect_error)?
            }
            _ => pool.clone(),
        };

        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&writer)
            .await
            .map_err(|source| DbError::Migrate {
                backend: backend.as_str(),
                source,
            })?;
        tracing::info!(backend = backend.as_str(), "database ready");
        Ok(Db {
            pool,
            writer,
            backend,
            listen_url: (backend == Backend::Postgres).then(|| url.clone()),
        })
    }

    /// For reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For writes and transactions (see [`Db`]).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection of its own that receives PostgreSQL notifications
    /// (`LISTEN`); `None` on SQLite, which has none (one instance only).
    pub async fn listener(&self) -> Option<Result<sqlx::postgres::PgListener, sqlx::Error>> {
        let url = self.listen_url.as_ref()?;
        Some(sqlx::postgres::PgListener::connect(url.expose()).await)
    }

    /// Sends a PostgreSQL notification to every instance listening on
    /// `channel` (nothing on SQLite: there is only one instance). Best
    /// effort: whoever acts on it also polls.
    pub async fn notify(&self, channel: &str, payload: &str) {
        if self.backend != Backend::Postgres {
            return;
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(channel, error = %e, "could not send a notification");
        }
    }

    /// True when the database answers a trivial query.
    pub async fn is_healthy(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// SQLite creates the file but not its folder.
fn ensure_sqlite_dir(url: &str) -> Result<(), DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch: the unit of every timestamp column.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A timestamp column as the RFC 3339 string the API returns.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An optional float to bind (costs, dollar limits); bind this, never an
/// `Option<f64>`. sqlx 0.8.6's Any driver sends a NULL `f64` to PostgreSQL
/// as FLOAT4 (its Real/Double null mapping is swapped), and a statement
/// first prepared with a NULL there then refuses every real value on that
/// connection ("incorrect binary data format in bind parameter"): an
/// assistant message with a cost was lost that way. This sends NULL as the
/// FLOAT8 the columns are.
#[derive(Clone, Copy, Debug)]
pub struct OptF64(pub Option<f64>);

impl sqlx::Type<sqlx::Any> for OptF64 {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for OptF64 {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(value) => <f64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&value, buf),
            // Any's NULL of f32 ("Real") is the one PostgreSQL gets as FLOAT8.
            None => <Option<f32> as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// Parses a UUID stored as TEXT. Rows are written by us, so a bad one is a bug.
pub fn uuid(text: &str) -> uuid::Uuid {
    uuid::Uuid::from_str(text).unwrap_or_else(|_| {
        tracing::error!(value = text, "malformed uuid in the database");
        uuid::Uuid::nil()
    })
}

/// Checks a page request's `limit`/`offset` and converts them for SQL:
/// every paginated list (projects, users, invitations, tokens) goes through it.
pub fn page_bounds(page: PageQuery) -> AppResult<(i64, i64)> {
    if !(1..=i64::from(MAX_PAGE_LIMIT)).contains(&page.limit) {
        return Err(AppError::validation(format!(
            "limit must be between 1 and {MAX_PAGE_LIMIT}"
        )));
    }
    if page.offset < 0 {
        return Err(AppError::validation("offset must be 0 or more"));
    }
    Ok((page.limit, page.offset))
}

/// The pool's size when `MINICODE_DB_MAX_CONNECTIONS` is not set. Each
/// SQLite connection is a thread of its own, with its own page cache and
/// its own allocator heap (measured: 16 connections instead of 2 cost
/// 13.5 MiB, about 1 MiB each), and SQLite reads run on those threads:
/// more readers than cores only queue. A PostgreSQL connection's work is
/// done by the database server.
fn default_pool_size(backend: Backend) -> u32 {
    match backend {
        Backend::Sqlite => {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
            (2 * cores).clamp(2, 16)
        }
        Backend::Postgres => 16,
    }
}

/// The database: `DATABASE_URL` and the pool. Read by [`Db::connect`]
/// (through `Config::database_url`, which supplies the SQLite default).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Database")]
pub struct DbConfig {
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data-dir>/minicode.db`.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub url: Option<Secret>,

    /// Most database connections in the pool (default: 16 on PostgreSQL;
    /// on SQLite twice the cores, 2 to 16).
    #[arg(long = "db-max-connections", env = "MINICODE_DB_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,

    /// How long a write waits for a lock another connection holds before
    /// the request is answered 503 with `Retry-After`, in milliseconds.
    #[arg(
        long = "db-lock-wait-ms",
        env = "MINICODE_DB_LOCK_WAIT_MS",
        default_value_t = 10_000
    )]
    pub lock_wait_ms: u64,
}

impl DbConfig {
    /// `MINICODE_DB_LOCK_WAIT_MS` as a duration (at least 1 ms).
    pub fn lock_wait(&self) -> Duration {
        Duration::from_millis(self.lock_wait_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use minicode::{MAX_PAGE_LIMIT, PageQuery};

    #[test]
    fn page_bounds_refuse_nonsense() {
        assert!(
            page_bounds(PageQuery {
                limit: 0,
                offset: 0
            })
            .is_err()
        );
        assert!(
            page_bounds(PageQuery {
                limit: i64::from(MAX_PAGE_LIMIT) + 1,
                offset: 0
            })
            .is_err()
        );
        for (limit, offset) in [(-1, 0), (1, -1), (i64::MIN, i64::MIN)] {
            assert!(page_bounds(PageQuery { limit, offset }).is_err());
        }
        assert_eq!(
            page_bounds(PageQuery {
                limit: 10,
                offset: 20
            })
            .unwrap(),
            (10, 20)
        );
    }

    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[tokio::test]
    async fn rejects_unknown_schemes() {
        let err = Db::connect(&Secret::new("mysql://x"), Some(1), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::UnsupportedUrl));
    }
}
