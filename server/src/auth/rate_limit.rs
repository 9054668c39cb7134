//! In-memory token buckets for the endpoints worth guessing against (login, register).
//!
//! Per process: behind a load balancer each instance limits on its own, which
//! still bounds guessing to N × the configured rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::AppError;

pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
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
        }
    }

    /// Takes one attempt from `key`'s bucket, or says how long to wait.
    pub fn check(&self, key: &str) -> Result<(), AppError> {
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
            limiter.check("ip:1").unwrap();
        }
        let err = limiter.check("ip:1").unwrap_err();
        assert!(
            matches!(err, AppError::RateLimited { retry_after_secs } if (1..=20).contains(&retry_after_secs))
        );
        // Another key has its own bucket.
        limiter.check("ip:2").unwrap();
    }
}
