//! Nothing lost under contention: another connection holds the database's
//! write lock for longer than minicode waits for it. A save is refused
//! whole with 503 and `Retry-After` (never a 500 with the edit half-kept);
//! a generation pauses and finishes once the lock is released; the event
//! log keeps every seq. On SQLite and, in CI, on PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, backend_name, error_code, spawn_with};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor};

/// A second connection that takes the write lock minicode needs.
struct Locker(AnyConnection);

impl Locker {
    async fn hold(app: &TestApp) -> Locker {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&app.database_url()).await.unwrap();
        if backend_name() == "sqlite" {
            // Takes SQLite's one write lock; readers carry on (WAL).
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
        } else {
            // SHARE mode lets others read but not insert or update.
            conn.execute("BEGIN").await.unwrap();
            conn.execute("LOCK TABLE projects, events, generated_files IN SHARE MODE")
                .await
                .unwrap();
        }
        Locker(conn)
    }

    async fn release(mut self) {
        self.0.execute("COMMIT").await.unwrap();
    }
}

/// `n` users named `<prefix><i>`, each with a project: their clients and
/// project ids.
async fn owners(app: &TestApp, prefix: &str, n: usize) -> Vec<(common::Client, String)> {
    let mut owners = Vec::new();
    for i in 0..n {
        let client = app.user(&format!("{prefix}{i}")).await;
        let pid = client.project("Busy").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        owners.push((client, pid));
    }
    owners
}

#[tokio::test]
async fn a_save_that_cannot_get_the_lock_is_refused_whole_with_503() {
    let app = spawn_with(&["--db-lock-wait-ms", "200"]).await;
    let client = app.user("contended").await;
    let pid = client.project("Busy").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/projects/{pid}/files/src/main.ts");

    let lock = Locker::hold(&app).await;
    let res = client.put(&path, &json!({"content": "export {}"})).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(error_code(res, 503).await, "UNAVAILABLE");
    lock.release().await;

    // Nothing of the refused save was kept; the retry goes through.
    assert_eq!(client.get(&path).await.status(), 404);
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["data"], json!([]));
    assert_eq!(
        client
            .put(&path, &json!({"content": "export {}"}))
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn a_generation_waits_out_a_held_lock_and_the_log_keeps_every_event() {
    let app = spawn_with(&[
        "--db-lock-wait-ms",
        "200",
        "--offline-chars-per-sec",
        "4000",
    ])
    .await;
    let client = app.user("patient").await;
    let pid = client.project("Patient").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let project: uuid::Uuid = pid.parse().unwrap();
    let (mut live, _) = app.server.state.events.watch(project).await.unwrap();
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "A todo list app called Taskly"}),
        )
        .await;
    assert!(res.status().is_success(), "generate: {}", res.status());

    // Mid-run (files are streaming), the database is locked for well over
    // the lock wait: the event writer and the run's saves fail and retry.
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.server.state.events.last_seq(project).await.unwrap() < 5 {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lock = Locker::hold(&app).await;
    let mut saw_refusal = false;
    let held = Instant::now();
    while held.elapsed() < Duration::from_millis(1500) {
        saw_refusal |= !app.server.state.events.storing();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_refusal, "the lock made the writer retry");
    lock.release().await;

    // The run finishes.
    let deadline = Instant::now() + Duration::from_secs(240);
    let snap = loop {
        let snap: Value = client
            .get(&format!("/api/projects/{pid}/state"))
            .await
            .json()
            .await
            .unwrap();
        let state = snap["data"]["state"].as_str().unwrap_or("").to_string();
        if ["complete", "failed", "cancelled"].contains(&state.as_str()) {
            break snap;
        }
        assert!(Instant::now() < deadline, "run never ended: {snap}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(snap["data"]["state"], "complete", "{snap}");

    // Every seq from the first to the last is stored: none was dropped.
    app.server.state.events.flush().await;
    let last = app.server.state.events.last_seq(project).await.unwrap();
    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM events WHERE project_id = $1 ORDER BY seq")
            .bind(&pid)
            .fetch_all(app.server.state.db.pool())
            .await
            .unwrap();
    assert_eq!(stored.len() as u64, last, "a gap in the stored log");
    assert!(stored.iter().enumerate().all(|(i, s)| *s == i as i64 + 1));
    // And everything a live subscriber saw, in order, is among them.
    let mut seen = Vec::new();
    while let Some(frame) = live.try_recv() {
        seen.push(frame.seq);
    }
    assert!(!seen.is_empty());
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "live frames in order, none skipped"
    );
    assert!(seen.iter().all(|s| *s as i64 <= *stored.last().unwrap()));
    app.server.state.sandboxes.stop(project).await;
    app.stop().await;
}

/// Issue 20 (2): a burst of saves — from four users at once, while the
/// server's runtime is kept busy by CPU-bound tasks — all succeed: writes
/// queue for the database's one writer (SQLite) instead of failing in the
/// busy handler, none answers 500, every save is stored whole and announced
/// once, and each project's event log stays dense.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_saves_on_a_saturated_runtime_is_stored_whole() {
    const USERS: usize = 4;
    const SAVES: usize = 60;
    let app = spawn_with(&["--db-lock-wait-ms", "10000"]).await;
    let owners = owners(&app, "burst", USERS).await;
    // CPU-bound work on the same runtime: every request waits its turn.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_millis(3) {
                        std::hint::spin_loop();
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let saves = owners.iter().flat_map(|(client, pid)| {
        (0..SAVES).map(move |i| async move {
            let content = format!("export const n{i} = {i};\n{}", "x".repeat(2048));
            let res = client
                .put(
                    &format!("/api/projects/{pid}/files/src/f{i}.ts"),
                    &json!({ "content": content }),
                )
                .await;
            (pid.clone(), i, res.status().as_u16())
        })
    });
    let started = Instant::now();
    let results = futures::future::join_all(saves).await;
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        spinner.await.unwrap();
    }
    let failed: Vec<_> = results.iter().filter(|r| r.2 != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} saves failed in {took:?}: {failed:?}",
        failed.len(),
        results.len()
    );

    app.server.state.events.flush().await;
    for (client, pid) in &owners {
        let listed: Value = client
            .get(&format!("/api/projects/{pid}/files"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(listed["data"].as_array().unwrap().len(), SAVES, "{pid}");
        let file: Value = client
            .get(&format!("/api/projects/{pid}/files/src/f7.ts"))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            file["data"]["content"]
                .as_str()
                .unwrap()
                .starts_with("export const n7 = 7;\n")
        );
        let project: uuid::Uuid = pid.parse().unwrap();
        let frames = app.logged_events(project).await;
        let announced = frames.iter().filter(|f| f.kind == "file_end").count();
        assert_eq!(announced, SAVES, "one file_end per save");
        assert!(
            frames
                .iter()
                .enumerate()
                .all(|(i, f)| f.seq == i as u64 + 1),
            "the log is dense"
        );
    }
    app.stop().await;
}

/// Issue 20 (2): sixteen users saving as fast as they can for three seconds,
/// with a lock wait of one second: no save is refused. Before the single
/// writer, SQLite's busy handler let some writers sleep through their whole
/// wait while others took the lock (6 to 66 of about 2,000 saves answered
/// 503 in the runs that found it); queued for one connection, each waits
/// only for the saves ahead of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_are_queued_not_refused() {
    const WRITERS: usize = 16;
    let app = spawn_with(&["--db-lock-wait-ms", "1000"]).await;
    let owners = owners(&app, "writer", WRITERS).await;
    let started = Instant::now();
    let writers = owners.iter().map(|(client, pid)| async move {
        let mut statuses = Vec::new();
        let mut i = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let res = client
                .put(
                    &format!("/api/projects/{pid}/files/src/f{}.ts", i % 20),
                    &json!({ "content": format!("export const x = {i};\n") }),
                )
                .await;
            statuses.push(res.status().as_u16());
            i += 1;
        }
        statuses
    });
    let statuses: Vec<u16> = futures::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let refused = statuses.iter().filter(|s| **s != 200).count();
    println!(
        "{WRITERS} writers: {} saves in 3 s, {refused} refused",
        statuses.len()
    );
    assert!(statuses.len() > WRITERS * 10, "{} saves", statuses.len());
    assert_eq!(
        refused,
        0,
        "{refused} of {} saves were refused",
        statuses.len()
    );
    app.stop().await;
}
