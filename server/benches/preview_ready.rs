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
//! - **module store**: the previous project's store entry is mounted.
//!
//! Then, with the last app running, the cost of entering the preview host:
//! the owner's way in (`/preview/:id/` on minicode → the preview host with a
//! ticket → the page, three requests) against a request straight to the
//! preview host with its cookie, median of 50 each.
//!
//! Run with `cargo bench -p minicode-server --bench preview_ready`
//! (`MINICODE_TEST_DOCKER=1` to include docker).

// The test suite's server and client helpers: the same flags, sign-up and
// fixture upload as the sandbox tests.
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use uuid::Uuid;

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
    let mut rows = Vec::new();
    for backend in backends {
        rows.push((backend, runtime.block_on(measure(backend))));
    }
    println!("| backend | cold | warm npm cache | module store |");
    println!("| --- | --- | --- | --- |");
    for (backend, (times, _)) in &rows {
        let cells: Vec<String> = times
            .iter()
            .map(|t| format!("{:.1} s", t.as_secs_f64()))
            .collect();
        println!("| {backend} | {} |", cells.join(" | "));
    }
    println!();
    println!(
        "| backend | enter with a ticket (3 requests) | with the cookie (1 request) | the hop costs |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for (backend, (_, (entered, direct))) in &rows {
        println!(
            "| {backend} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(*entered),
            ms(*direct),
            ms(entered.saturating_sub(*direct))
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn measure(backend: &str) -> (Vec<Duration>, (Duration, Duration)) {
    let cache = tempfile::tempdir().unwrap();
    let app = common::spawn_with(&[
        "--sandbox",
        backend,
        "--sandbox-cache-dir",
        &cache.path().display().to_string(),
    ])
    .await;
    let client = app.user("bencher").await;

    let mut times = Vec::new();
    let mut hop = None;
    for case in ["cold", "warm", "snapshot"] {
        if case == "warm" {
            // Keep the npm cache, forget the installed trees.
            let _ = std::fs::remove_dir_all(cache.path().join("modules"));
        }
        let pid = client.project(&format!("bench {case}")).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let id = Uuid::parse_str(&pid).unwrap();
        client.upload_fixture(&pid).await;
        let started = Instant::now();
        while client.preview(&format!("/preview/{pid}/")).await.status() != 200 {
            assert!(
                started.elapsed() < LIMIT,
                "{backend} {case}: no preview after {LIMIT:?}: {:?}",
                app.server.state.sandboxes.status(id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let elapsed = started.elapsed();
        eprintln!("{backend} {case}: {:.1} s", elapsed.as_secs_f64());
        times.push(elapsed);
        if case == "snapshot" {
            hop = Some(ticket_hop(&client, &pid).await);
        }
        // One sandbox at a time: stop this one before the next case.
        app.server.state.sandboxes.stop(id).await;
    }
    app.stop().await;
    (times, hop.expect("measured"))
}

/// Median time to the page through minicode's redirect with a ticket, and
/// straight from the preview host with the pass cookie.
async fn ticket_hop(client: &common::Client, pid: &str) -> (Duration, Duration) {
    let origin = client.preview_origin(pid);
    let (mut entered, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let started = Instant::now();
        let res = client.preview(&format!("/preview/{pid}/")).await;
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        entered.push(started.elapsed());
        let started = Instant::now();
        let res = client.http.get(format!("{origin}/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        direct.push(started.elapsed());
    }
    (median(entered), median(direct))
}
