//! Events across instances: two minicode servers on one PostgreSQL
//! database; instance A publishes a project's events at a fixed rate and a
//! subscriber on instance B receives them (stored by A's writer, announced
//! with NOTIFY, read and delivered by B). A subscriber on A itself gives the
//! single-instance figure beside it.
//!
//! Reports, per rate: the time from publication on A to delivery on B (p50,
//! p99, max), the same on A, and what the database did per event (commits,
//! rows read, rows written, from `pg_stat_database`), once with B watching
//! the project and once without (the extra load a watching instance adds).
//!
//! Needs PostgreSQL: `bash scripts/pg-start` (or
//! `MINICODE_BENCH_DATABASE_URL=postgres://…/postgres`). Run with
//! `cargo bench -p minicode-server --bench cluster_events` (seconds per
//! rate: `CLUSTER_BENCH_SECS=10`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use minicode::protocol::ServerEvent;
use minicode_server::Server;
use minicode_server::config::Config;
use sqlx::Connection;
use uuid::Uuid;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn instance(name: &str, db: &str, dir: &std::path::Path) -> Server {
    let config = Config::parse_from([
        "minicode",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        &dir.join(format!("data-{name}")).display().to_string(),
        "--database-url",
        db,
        "--site-root",
        &dir.join("site").display().to_string(),
        "--instance-id",
        name,
        "--log",
        "error",
        "--auth-rate-per-minute",
        "100000",
    ]);
    Server::start(config).await.expect("an instance starts")
}

/// `(publish time µs, receipt time µs)` of each event received.
type Samples = Arc<Mutex<Vec<(u64, u64)>>>;

/// Collects the samples of the status events whose text is `t=<publish time>`.
fn watch(mut rx: minicode_server::events::Watch) -> (Samples, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    let task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            let now = now_us();
            let value: serde_json::Value = serde_json::from_str(frame.json()).unwrap_or_default();
            if let Some(sent) = value["payload"]["status"]
                .as_str()
                .and_then(|s| s.strip_prefix("t="))
                .and_then(|t| t.parse::<u64>().ok())
            {
                out.lock().unwrap().push((sent, now));
            }
        }
    });
    (seen, task)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn latencies_ms(samples: &[(u64, u64)]) -> Vec<f64> {
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|(sent, got)| got.saturating_sub(*sent) as f64 / 1000.0)
        .collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ms
}

#[derive(Clone, Copy, Default)]
struct Stats {
    commits: i64,
    read: i64,
    written: i64,
}

async fn stats(admin: &str, name: &str) -> Stats {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    // Backends report their counters when idle, at most every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT xact_commit, tup_returned, tup_fetched, tup_inserted + tup_updated + tup_deleted, 0::bigint \
         FROM pg_stat_database WHERE datname = $1",
    )
    .bind(name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    Stats {
        commits: row.0,
        read: row.1 + row.2,
        written: row.3,
    }
}

/// Publishes `rate` events a second for `secs` on A; returns how many.
async fn pump(a: &Server, project: Uuid, rate: f64, secs: f64) -> u64 {
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        a.state
            .events
            .publish(
                project,
                ServerEvent::Status {
                    status: format!("t={}", now_us()),
                },
            )
            .await
            .unwrap();
        sent += 1;
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }
    a.state.events.flush().await;
    sent
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("MINICODE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432/postgres".into());
    let secs: f64 = std::env::var("CLUSTER_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let name = format!("minicode_bench_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL (bash scripts/pg-start)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    let db = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let a = instance("a", &db, dir.path()).await;
    let b = instance("b", &db, dir.path()).await;

    // A user and two projects (one watched from B, one not), made on A.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = http
        .post(format!("{}/api/auth/register", a.url()))
        .header("origin", a.url())
        .json(&serde_json::json!({"username": "bench", "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut projects = Vec::new();
    for title in ["watched", "alone"] {
        let created: serde_json::Value = http
            .post(format!("{}/api/projects", a.url()))
            .header("origin", a.url())
            .json(&serde_json::json!({"name": title}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        projects.push(Uuid::parse_str(created["data"]["id"].as_str().unwrap()).unwrap());
    }
    let (watched, alone) = (projects[0], projects[1]);

    println!("cross-instance events: A publishes, B delivers (PostgreSQL, {secs} s per rate)\n");
    println!(
        "| events/s | events | B p50 ms | B p99 ms | B max ms | A p50 ms | A p99 ms | db commits/event | rows read/event | rows written/event |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for rate in [1.0, 100.0, 1000.0] {
        let run_secs = if rate < 10.0 { secs.max(15.0) } else { secs };
        let (on_b, b_task) = watch(b.state.events.watch(watched).await.unwrap().0);
        let (on_a, a_task) = watch(a.state.events.watch(watched).await.unwrap().0);
        let before = stats(&admin, &name).await;
        let sent = pump(&a, watched, rate, run_secs).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = stats(&admin, &name).await;
        b_task.abort();
        a_task.abort();
        let b_ms = latencies_ms(&on_b.lock().unwrap());
        let a_ms = latencies_ms(&on_a.lock().unwrap());
        assert_eq!(b_ms.len() as u64, sent, "B received every event");
        let per = |x: i64| x as f64 / sent as f64;
        println!(
            "| {rate} | {sent} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {:.2} | {:.2} |",
            percentile(&b_ms, 0.5),
            percentile(&b_ms, 0.99),
            b_ms.last().copied().unwrap_or(f64::NAN),
            percentile(&a_ms, 0.5),
            percentile(&a_ms, 0.99),
            per(after.commits - before.commits),
            per(after.read - before.read),
            per(after.written - before.written),
        );
    }

    // The same rate with nobody on B watching: the load B's reading adds.
    println!("\ndatabase work per event at 1000 events/s, with and without B watching\n");
    println!("| B watching | events | db commits/event | rows read/event | rows written/event |");
    println!("|---|---:|---:|---:|---:|");
    for (label, project) in [("yes", watched), ("no", alone)] {
        let (_seen, task) = watch(a.state.events.watch(project).await.unwrap().0);
        let before = stats(&admin, &name).await;
        let sent = pump(&a, project, 1000.0, secs).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = stats(&admin, &name).await;
        task.abort();
        let per = |x: i64| x as f64 / sent as f64;
        println!(
            "| {label} | {sent} | {:.3} | {:.2} | {:.2} |",
            per(after.commits - before.commits),
            per(after.read - before.read),
            per(after.written - before.written),
        );
    }

    b.stop().await;
    a.stop().await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await;
}
