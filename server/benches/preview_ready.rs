//! Time from an app's files being written to its preview answering, per
//! sandbox backend: the process backend always, the docker backend when
//! `MINICODE_TEST_DOCKER=1` (it needs the engine and the image:
//! `scripts/docker-start`).
//!
//! For each backend a real server runs in this process with a fresh cache
//! folder, and the Vite + React test fixture is written into three new
//! projects in turn through the files API; the clock starts when the last
//! file is written and stops when `GET /preview/:id/` answers 200 (the first
//! request starts the sandbox; the bench polls every 50 ms):
//! - **cold**: empty npm cache, nothing installed yet (`npm install`
//!   downloads every package);
//! - **warm npm cache**: the module snapshots are deleted, so `npm install`
//!   runs again but finds every package in the shared npm cache;
//! - **snapshot**: the previous project's `node_modules` snapshot is linked in.
//!
//! Run with `cargo bench -p minicode-server --bench preview_ready`
//! (`MINICODE_TEST_DOCKER=1` to include docker).

use std::time::{Duration, Instant};

use clap::Parser;
use minicode_server::Server;
use minicode_server::config::Config;
use serde_json::{Value, json};

const FIXTURE: &[&str] = &[
    "package.json",
    "index.html",
    "vite.config.ts",
    "tsconfig.json",
    "src/main.tsx",
    "src/App.tsx",
];
const LIMIT: Duration = Duration::from_secs(600);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut backends = vec!["process"];
    if std::env::var("MINICODE_TEST_DOCKER").is_ok_and(|v| v == "1") {
        backends.push("docker");
    } else {
        eprintln!("docker skipped: set MINICODE_TEST_DOCKER=1 to include it");
    }
    println!("| backend | cold | warm npm cache | snapshot |");
    println!("| --- | --- | --- | --- |");
    for backend in backends {
        let times = runtime.block_on(measure(backend));
        let cells: Vec<String> = times
            .iter()
            .map(|t| format!("{:.1} s", t.as_secs_f64()))
            .collect();
        println!("| {backend} | {} |", cells.join(" | "));
    }
}

async fn measure(backend: &str) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let config = Config::parse_from([
        "minicode",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().join("data").display().to_string(),
        "--database-url",
        &format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        ),
        "--site-root",
        &dir.path().join("site").display().to_string(),
        "--auth-rate-per-minute",
        "10000",
        "--log",
        "warn",
        "--sandbox",
        backend,
        "--sandbox-cache-dir",
        &cache.display().to_string(),
    ]);
    let server = Server::start(config).await.expect("server starts");
    let base = server.url();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(
            [(
                reqwest::header::ORIGIN,
                reqwest::header::HeaderValue::from_str(&base).unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let res = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"username": "bencher", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let mut times = Vec::new();
    for case in ["cold", "warm", "snapshot"] {
        if case == "warm" {
            // Keep the npm cache, forget the installed trees.
            let _ = std::fs::remove_dir_all(cache.join("modules"));
        }
        let project: Value = http
            .post(format!("{base}/api/projects"))
            .json(&json!({"name": format!("bench {case}"), "description": "bench"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = project["data"]["id"].as_str().unwrap().to_string();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vite-app");
        for file in FIXTURE {
            let content = std::fs::read_to_string(root.join(file)).unwrap();
            let res = http
                .put(format!("{base}/api/projects/{id}/files/{file}"))
                .json(&json!({"content": content}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "PUT {file}");
        }
        let started = Instant::now();
        loop {
            let status = http
                .get(format!("{base}/preview/{id}/"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 200 {
                break;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{backend} {case}: no preview after {LIMIT:?}: {:?}",
                server
                    .state
                    .sandboxes
                    .status(uuid::Uuid::parse_str(&id).unwrap())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed();
        eprintln!("{backend} {case}: {:.1} s", elapsed.as_secs_f64());
        times.push(elapsed);
        // One sandbox at a time: stop this one before the next case.
        server
            .state
            .sandboxes
            .stop(uuid::Uuid::parse_str(&id).unwrap())
            .await;
    }
    server.stop().await;
    times
}
