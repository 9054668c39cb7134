//! What one save costs as a project's history grows: an editor save of one
//! 2 KB file (`files::save`, the funnel every writer goes through: lock,
//! live-file check, insert, workspace write, commit) and the tree listing
//! (`files::list_latest`), in a project of 50 files with 0 (a new project:
//! the first 50 timed saves create the files), 1,000 and 10,000 versions
//! already stored. The history is filled with saves of all 50 files at
//! once; then 300 single-file saves and 300 listings are timed.
//! Wall time is the median; CPU time is this process's user + system time
//! (`getrusage`, every thread: the server's and, on SQLite, the database's)
//! divided by the saves. On PostgreSQL the database's own CPU is in its
//! server process and not counted.
//!
//! Run with `cargo bench -p minicode-server --bench save_cost` (SQLite);
//! with `MINICODE_TEST_DATABASE_URL=$(scripts/pg-start)` it runs on
//! PostgreSQL instead.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use minicode_server::files::{self, Source};
use minicode_server::workspace::RelPath;
use nix::sys::resource::{UsageWho, getrusage};
use uuid::Uuid;

const FILES: usize = 50;
const SAMPLES: usize = 300;
const HISTORIES: [usize; 3] = [0, 1_000, 10_000];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The harness picks the database: a PostgreSQL server when
    // MINICODE_TEST_DATABASE_URL is set, otherwise a SQLite file.
    let backend = common::backend_name();
    println!(
        "| backend | stored versions | save, wall (median) | save, CPU (mean) | listing, wall (median) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for row in runtime.block_on(measure()) {
        println!(
            "| {backend} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            row.versions, row.save_wall_ms, row.save_cpu_ms, row.list_wall_ms
        );
    }
}

struct Row {
    versions: i64,
    save_wall_ms: f64,
    save_cpu_ms: f64,
    list_wall_ms: f64,
}

fn cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let to = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    to(usage.user_time()) + to(usage.system_time())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// A 2 KB source file that differs per version.
fn body(path: &str, n: usize) -> Vec<u8> {
    let mut text = format!("// {path} version {n}\n");
    while text.len() < 2048 {
        text.push_str("export const value = compute(input, options);\n");
    }
    text.into_bytes()
}

async fn measure() -> Vec<Row> {
    let app = common::spawn().await;
    let client = app.user("bencher").await;
    let pid = client.project("history").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let project = Uuid::parse_str(&pid).unwrap();
    let state = &app.server.state;
    let paths: Vec<RelPath> = (0..FILES)
        .map(|i| RelPath::parse(&format!("src/part{i:02}.ts")).unwrap())
        .collect();
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM generated_files WHERE project_id = $1")
            .bind(project.to_string())
            .fetch_one(state.db.pool())
            .await
            .unwrap()
    };

    let mut rows = Vec::new();
    let mut round = 0;
    for target in HISTORIES {
        // Fill up to `target` versions; at 0 the timed saves create the files.
        while (stored().await as usize) + FILES <= target {
            round += 1;
            let writes = paths.iter().map(|p| (p.clone(), body(p.as_str(), round)));
            files::save(state, project, writes.collect(), Source::Generation, None)
                .await
                .unwrap();
        }
        let versions = stored().await;
        let mut walls = Vec::with_capacity(SAMPLES);
        let cpu_before = cpu();
        for i in 0..SAMPLES {
            let path = &paths[i % FILES];
            let content = body(path.as_str(), 1_000_000 + i);
            let started = Instant::now();
            files::save(
                state,
                project,
                vec![(path.clone(), content)],
                Source::User,
                None,
            )
            .await
            .unwrap();
            walls.push(started.elapsed());
        }
        let save_cpu = (cpu() - cpu_before).as_secs_f64() * 1000.0 / SAMPLES as f64;
        let mut lists = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let started = Instant::now();
            let listed = files::list_latest(state, project).await.unwrap();
            lists.push(started.elapsed());
            assert_eq!(listed.len(), FILES);
        }
        eprintln!("{versions} versions measured");
        rows.push(Row {
            versions,
            save_wall_ms: median_ms(walls),
            save_cpu_ms: save_cpu,
            list_wall_ms: median_ms(lists),
        });
    }
    app.stop().await;
    rows
}
