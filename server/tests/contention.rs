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
    let (mut live, _) = app.server.state.events.subscribe(project).await.unwrap();
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
    while let Ok(frame) = live.try_recv() {
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
