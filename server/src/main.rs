//! `minicode`: run the server. All configuration is in `config.rs`.

use minicode_server::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::load();
    minicode_server::telemetry::init(&config);
    tracing::debug!(?config, "configuration");
    match minicode_server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "minicode could not start");
            eprintln!("minicode: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
