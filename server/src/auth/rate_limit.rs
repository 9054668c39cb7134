//! Limits on the endpoints worth guessing against (login, register,
//! password confirmation).
//!
//! One instance (SQLite): in-memory token buckets. Several instances
//! (PostgreSQL): a count per key and minute in the database (`rate_hits`),
//! so the limit holds across instances instead of multiplying by their
//! number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::db::{Backend, Db, now_ms};
use crate::error::AppError;

/// The window of the shared count.
const WINDOW_MS: i64 = 60_000;

pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Set on PostgreSQL: counts are kept there, shared by every instance.
    shared: Option<Db>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets kept before full (idle) ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    /// Allows `per_minute` attempts in a burst, refilled evenly over a minute.
    pub fn per_minute(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            buckets: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Like [`per_minute`](Self::per_minute); on PostgreSQL the counts are
    /// shared by every instance on the database.
    pub fn per_minute_on(per_minute: u32, db: &Db) -> Self {
        let mut limiter = Self::per_minute(per_minute);
        if db.backend() == Backend::Postgres {
            limiter.shared = Some(db.clone());
        }
        limiter
    }

    /// Takes one attempt for `key`, or says how long to wait.
    pub async fn check(&self, key: &str) -> Result<(), AppError> {
        match &self.shared {
            None => self.check_here(key),
            Some(db) => self.check_shared(db, key).await,
        }
    }

    /// At most `per_minute` attempts per key in each minute, counted in the
    /// database. Old windows are removed by the same statement's neighbours
    /// now and then.
    async fn check_shared(&self, db: &Db, key: &str) -> Result<(), AppError> {
        let now = now_ms();
        let window = now - now.rem_euclid(WINDOW_MS);
        let hits: i64 = sqlx::query_scalar(
            "INSERT INTO rate_hits (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_hits.hits + 1 \
             RETURNING hits",
        )
        .bind(key)
        .bind(window)
        .fetch_one(db.writer())
        .await?;
        if hits == 1 && rand::random::<u8>() < 8 {
            // About one new window in 32 sweeps the finished ones.
            let _ = sqlx::query("DELETE FROM rate_hits WHERE window_start < $1")
                .bind(window)
                .execute(db.writer())
                .await;
        }
        if hits as f64 <= self.capacity {
            return Ok(());
        }
        let wait_ms = window + WINDOW_MS - now;
        Err(AppError::RateLimited {
            retry_after_secs: (wait_ms as u64).div_ceil(1000).max(1),
        })
    }

    /// Takes one attempt from `key`'s bucket, or says how long to wait.
    fn check_here(&self, key: &str) -> Result<(), AppError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let (capacity, rate) = (self.capacity, self.per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0);
            Err(AppError::RateLimited {
                retry_after_secs: wait as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses() {
        let limiter = RateLimiter::per_minute(3);
        for _ in 0..3 {
            limiter.check_here("ip:1").unwrap();
        }
        let err = limiter.check_here("ip:1").unwrap_err();
        assert!(
            matches!(err, AppError::RateLimited { retry_after_secs } if (1..=20).contains(&retry_after_secs))
        );
        // Another key has its own bucket.
        limiter.check_here("ip:2").unwrap();
    }
}
