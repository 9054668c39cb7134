//! Logging: human-readable lines by default, JSON lines for log shippers.
//! Request spans (with their request id) are opened in `api::router`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.server.log).unwrap_or_else(|e| {
        eprintln!("minicode: invalid MINICODE_LOG filter ({e}); using `info`");
        EnvFilter::new("info")
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.server.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(false))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("minicode: logging already initialised: {e}");
    }
}
