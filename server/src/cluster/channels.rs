//! The PostgreSQL notification channels instances talk on (a leaf, so the
//! event writer and the lease table can name them).

/// Where the event writer announces stored batches: `"<project>:<last seq>"`.
pub const EVENTS: &str = "minicode_events";
/// Cancels and hand-overs between instances: `"cancel:<project>"`, `"takeover"`.
pub const CONTROL: &str = "minicode_control";
