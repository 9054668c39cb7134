//! Time from a prompt to a live preview and to a finished app, with the
//! built-in offline generator writing as fast as it can (no model time), so
//! what is measured is minicode's own path: design, streaming files into the
//! workspace, install, dev server start, the second phase and checkpoints.
//!
//! One real server in this process with a fresh sandbox cache folder (the
//! first run downloads every npm package; the others reuse the module store's
//! entry). For each prompt the clock starts at
//! `POST /api/projects/:id/generate` and the project's live events are read
//! in-process: `first file` is the first `file_start`, `preview live` the
//! first `server_started`, `complete` is `generation_complete`. It also counts
//! dev-server starts and `SANDBOX_CRASHED` events per run (1 and 0 expected).
//!
//! Run with `cargo bench -p minicode-server --bench prompt_to_preview`;
//! `BENCH_SANDBOX=process-unsafe` measures the unisolated sandbox instead of
//! the default (bubblewrap), to see what isolation costs.

// The test suite's server and client helpers.
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

const LIMIT: Duration = Duration::from_secs(600);

const PROMPTS: [&str; 4] = [
    "A todo list with notes",
    "A pomodoro timer with a counter",
    "A photo gallery with a pricing table",
    "A weather dashboard with a contact form",
];

struct Run {
    first_file: Duration,
    preview_live: Duration,
    complete: Duration,
    starts: usize,
    crashes: usize,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sandbox = std::env::var("BENCH_SANDBOX").unwrap_or_else(|_| "process".into());
    let runs = runtime.block_on(measure(&sandbox));
    println!("sandbox: {sandbox}");
    println!(
        "| run | npm | first file | preview live | complete | dev-server starts | crash events |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (i, run) in runs.iter().enumerate() {
        println!(
            "| {} {:?} | {} | {} ms | {} ms | {} ms | {} | {} |",
            i + 1,
            PROMPTS[i],
            if i == 0 { "cold cache" } else { "module store" },
            run.first_file.as_millis(),
            run.preview_live.as_millis(),
            run.complete.as_millis(),
            run.starts,
            run.crashes,
        );
    }
}

async fn measure(sandbox: &str) -> Vec<Run> {
    let cache = tempfile::tempdir().unwrap();
    let app = common::spawn_with(&[
        "--sandbox",
        sandbox,
        "--offline-chars-per-sec",
        "0",
        "--sandbox-cache-dir",
        &cache.path().display().to_string(),
    ])
    .await;
    let client = app.user("promptbencher").await;
    let mut runs = Vec::new();
    for prompt in PROMPTS {
        let pid = client.project(prompt).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let id = Uuid::parse_str(&pid).unwrap();
        let (mut events, _) = app.server.state.events.watch(id).await.unwrap();
        let started = Instant::now();
        let res = client
            .post(
                &format!("/api/projects/{pid}/generate"),
                &json!({ "description": prompt }),
            )
            .await;
        assert_eq!(res.status(), 202, "generate {prompt}");
        let (mut first_file, mut preview_live) = (None, None);
        let (mut starts, mut crashes) = (0, 0);
        let complete = loop {
            let left = LIMIT.saturating_sub(started.elapsed());
            let frame = match tokio::time::timeout(left, events.recv()).await {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => {
                    panic!("{prompt}: no generation_complete after {LIMIT:?}")
                }
            };
            match frame.kind {
                "file_start" => {
                    first_file.get_or_insert(started.elapsed());
                }
                "server_started" => {
                    starts += 1;
                    preview_live.get_or_insert(started.elapsed());
                }
                "error" if frame.json().contains("SANDBOX_CRASHED") => crashes += 1,
                "error" => panic!("{prompt}: {}", frame.json()),
                "generation_complete" => break started.elapsed(),
                _ => {}
            }
        };
        let run = Run {
            first_file: first_file.expect("a file was written"),
            preview_live: preview_live.expect("the dev server started"),
            complete,
            starts,
            crashes,
        };
        eprintln!(
            "{prompt}: preview live {:.2} s, complete {:.2} s",
            run.preview_live.as_secs_f64(),
            run.complete.as_secs_f64()
        );
        runs.push(run);
        // One sandbox at a time, as a single user would have.
        app.server.state.sandboxes.stop(id).await;
    }
    app.stop().await;
    runs
}
