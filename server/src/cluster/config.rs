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

    /// The URL the other instances reach this one at (`http://10.0.0.5:3000`),
    /// for previews of the sandboxes it runs. Default: `http://` and the
    /// listening address (`127.0.0.1` in place of an unspecified one). Keep
    /// it on a private network: it serves what the public address serves.
    #[arg(long = "internal-url", env = "MINICODE_INTERNAL_URL")]
    pub internal_url: Option<String>,
}

impl ClusterConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs.max(2))
    }

    /// Where the other instances reach this one, listening at `addr`.
    pub fn internal_url(&self, addr: std::net::SocketAddr) -> String {
        match self.internal_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
            _ => {
                let ip = match addr.ip() {
                    ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
                    ip if ip.is_unspecified() => "[::1]".to_string(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("http://{ip}:{}", addr.port())
            }
        }
    }

    /// How often leases and the heartbeat are renewed.
    pub fn heartbeat(&self) -> Duration {
        self.lease() / 3
    }
}
