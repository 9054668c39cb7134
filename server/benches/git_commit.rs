//! What the git history costs for the offline generator's app: a real
//! server generates "A todo list app called Taskly with a timer" (the
//! process sandbox installs and starts it, as in `tests/offline_flow.rs`),
//! then the project's repository is measured (files, commits, size on disk)
//! and commits are timed through `git::commit` / `git::ensure_started`, the
//! calls the hooks make (the project's lock, the database snapshot, the git
//! processes):
//! - the whole app as a first commit (the repository removed before each:
//!   `git init` included);
//! - one file changed (an editor save of `src/App.tsx`, not timed, then
//!   the commit);
//! - nothing changed (the commit that is not made).
//!
//! Run with `cargo bench -p minicode-server --bench git_commit` (SQLite).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use minicode_server::files::{self, Source};
use minicode_server::git::{self, Author};
use minicode_server::workspace::RelPath;
use serde_json::{Value, json};
use uuid::Uuid;

const SAMPLES: usize = 30;

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Bytes of every file under `dir`.
fn size_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        size_on_disk(&path)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(measure());
}

async fn measure() {
    let app = common::spawn_with(&["--offline-chars-per-sec", "0"]).await;
    let client = app.user("bencher").await;
    let pid = client.project("Taskly").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "A todo list app called Taskly with a timer"}),
        )
        .await;
    assert!(res.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let snap: Value = client
            .get(&format!("/api/projects/{pid}/state"))
            .await
            .json()
            .await
            .unwrap();
        let state = snap["data"]["state"].as_str().unwrap_or("").to_string();
        if state == "complete" {
            break;
        }
        assert!(!["failed", "cancelled"].contains(&state.as_str()), "{snap}");
        assert!(Instant::now() < deadline, "the generation did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = &app.server.state;
    let project: Uuid = pid.parse().unwrap();
    let live = files::snapshot(state, project).await.unwrap();
    let bytes: usize = live.iter().map(|(_, _, b)| b.len()).sum();
    let history: Value = client
        .get(&format!("/api/projects/{pid}/history?limit=100"))
        .await
        .json()
        .await
        .unwrap();
    let repo = state.git.path(project);
    println!(
        "offline app: {} files, {:.1} KB; after the generation: {} commits, repository {:.1} KB on disk",
        live.len(),
        bytes as f64 / 1024.0,
        history["total"],
        size_on_disk(&repo) as f64 / 1024.0
    );

    let mut whole = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        std::fs::remove_dir_all(&repo).unwrap();
        let started = Instant::now();
        git::ensure_started(state, project).await.unwrap();
        whole.push(started.elapsed());
    }
    println!(
        "one repository holding the whole app: {:.1} KB on disk",
        size_on_disk(&repo) as f64 / 1024.0
    );

    let author = Author::User("bencher".into());
    let app_tsx = RelPath::parse("src/App.tsx").unwrap();
    let mut one = Vec::with_capacity(SAMPLES);
    let mut none = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES {
        let text = format!("export default function App() {{ return <h1>Version {n}</h1>; }}\n");
        files::save(
            state,
            project,
            vec![(app_tsx.clone(), text.into_bytes())],
            Source::User,
            None,
        )
        .await
        .unwrap();
        let started = Instant::now();
        git::commit(state, project, &author, "Edit src/App.tsx").await;
        one.push(started.elapsed());
        let started = Instant::now();
        git::commit(state, project, &author, "nothing").await;
        none.push(started.elapsed());
    }
    let (commits, _) = git::history(state, project, 1, 0).await.unwrap();
    assert_eq!(commits[0].changed_files, ["src/App.tsx"]);

    println!("| commit | wall (median of {SAMPLES}) |");
    println!("| --- | ---: |");
    println!(
        "| the whole app, first commit (`git init` included) | {:.1} ms |",
        median_ms(whole)
    );
    println!("| one file changed | {:.1} ms |", median_ms(one));
    println!(
        "| nothing changed (no commit) | {:.1} ms |",
        median_ms(none)
    );
    app.stop().await;
}
