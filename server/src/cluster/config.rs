//! Settings of several instances sharing one PostgreSQL database.

use std::time::Duration;

/// Read by `cluster/` (instance id, leases, heartbeats).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Several instances")]
pub struct ClusterConfig {
    /// This instance's name in `/health`, the logs and the leases it holds
    /// (letters, digits, `-`, `_`, `.`). Default: a random one per start.
    /// Give each instance its own; reusing the name of a dead instance lets
    /// the new one take its work back at once instead of after the lease time.
    #[arg(long = "instance-id", env = "MINICODE_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Seconds a lease on running work lasts without being renewed. The owner
    /// renews every third of it; when an instance dies, another takes its
    /// generations over after at most this long.
    #[arg(long = "lease-secs", env = "MINICODE_LEASE_SECS", default_value_t = 15)]
    pub lease_secs: u64,
}

impl ClusterConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(2))
    }

    /// How often leases and the heartbeat are renewed.
    pub fn heartbeat(&self) -> Duration {
        self.lease() / 3
    }
}
