//! Several minicode instances on one PostgreSQL database (issue 15): live
//! events across instances, `BUSY`, cancels and sign-in limits decided by
//! the database, and work that survives its instance (`kill -9`, SIGTERM).
//!
//! The PostgreSQL tests return at once on the SQLite pass (scripts/test runs
//! the suite on both); on SQLite a second instance is reported instead.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_llm::FakeLlm;
use common::scripted::*;
use common::{Client, spawn_with};
use futures::StreamExt;
use minicode::protocol::ServerEvent;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn on_postgres(test: &str) -> bool {
    let yes = common::backend_name() == "postgres";
    if !yes {
        eprintln!("{test}: PostgreSQL only (set MINICODE_TEST_DATABASE_URL)");
    }
    yes
}

fn model_flags(fake: &FakeLlm) -> Vec<String> {
    [
        "--openrouter-api-key",
        "test-key",
        "--openrouter-base-url",
        &format!("{}/v1", fake.url),
        "--model",
        "openrouter:test/model",
        "--llm-max-retries",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// An instance's `/health` answer.
async fn health_of(base: &str) -> Value {
    reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The ids of the live instances a `/health` answer lists, in order.
fn instance_ids(health: &Value) -> Vec<String> {
    health["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect()
}

fn seqs_of(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["seq"].as_u64()).collect()
}

/// Every seq from the first to the last, each once, in order.
fn assert_dense(seqs: &[u64], what: &str) {
    assert!(!seqs.is_empty(), "{what}: no events");
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "{what}: gap or duplicate between {} and {} in {seqs:?}",
            pair[0],
            pair[1]
        );
    }
}

/// A run on instance A is watched live from instance B: every event, in
/// order, no gap and no duplicate, while B itself writes events to the same
/// project (two writers, one dense sequence). A reconnect to either
/// instance replays the same log.
#[tokio::test]
async fn a_socket_on_b_sees_every_event_of_a_run_on_a_in_order() {
    if !on_postgres("a_socket_on_b_sees_every_event_of_a_run_on_a_in_order") {
        return;
    }
    let fake = FakeLlm::start().await;
    let flags = model_flags(&fake);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut a_flags = flags.clone();
    a_flags.extend(["--instance-id", "a"]);
    let a = spawn_with(&a_flags).await;
    let b = a.another_instance("b", &flags).await;
    let b_url = b.url();

    let client = a.user("watcher").await;
    let pid = client.project("Watched").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let token = token(&client).await;
    let (mut on_b, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/{pid}?token={token}",
        b_url.replace("http://", "ws://")
    ))
    .await
    .expect("ws on B");
    let hello = next_frame(&mut on_b, Duration::from_secs(5)).await.unwrap();
    assert_eq!(hello["type"], "connection_established", "{hello}");

    script_generation(&fake);
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "watched from another instance"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    // Meanwhile B's own writer stores events of the same project.
    let b_events = b.state.events.clone();
    let writer_b = tokio::spawn(async move {
        for n in 0..40 {
            b_events
                .publish(
                    id,
                    ServerEvent::Status {
                        status: format!("from b {n}"),
                    },
                )
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let live = until(&mut on_b, "generation_complete", Duration::from_secs(300)).await;
    writer_b.await.unwrap();
    let live_seqs = seqs_of(&live);
    assert_dense(&live_seqs, "seen live on B");
    let kinds: BTreeSet<&str> = live.iter().filter_map(|f| f["type"].as_str()).collect();
    for kind in [
        "run_started",
        "phase_designing",
        "file_chunk",
        "files_written",
        "server_started",
    ] {
        assert!(kinds.contains(kind), "B saw no {kind}: {kinds:?}");
    }
    let from_b = live
        .iter()
        .filter(|f| {
            f["type"] == "status"
                && f["payload"]["status"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("from b"))
        })
        .count();
    assert!(from_b > 0, "B's own events are in the sequence");

    // The stored log is the same sequence, replayed by either instance.
    for (name, url) in [("A", a.url.clone()), ("B", b_url.clone())] {
        let replayed_seqs = replayed_seqs(&format!(
            "{}/ws/{pid}?token={token}",
            url.replace("http://", "ws://")
        ))
        .await;
        assert_dense(&replayed_seqs, &format!("replayed by {name}"));
        assert_eq!(
            replayed_seqs.first(),
            Some(&1),
            "{name}: the log starts at 1"
        );
        for seq in &live_seqs {
            assert!(
                replayed_seqs.contains(seq),
                "{name}: seq {seq} seen live is not replayed"
            );
        }
    }
    b.stop().await;
    a.stop().await;
}

/// `BUSY` is the database's answer, whichever instance is asked; a cancel
/// sent to B stops the chat turn A is running; sign-in limits count the
/// attempts made on every instance; `/health` names the instances.
#[tokio::test]
async fn busy_cancel_and_sign_in_limits_hold_across_instances() {
    if !on_postgres("busy_cancel_and_sign_in_limits_hold_across_instances") {
        return;
    }
    let fake = FakeLlm::start().await;
    let flags = model_flags(&fake);
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    flags.extend(["--auth-rate-per-minute", "6", "--lease-secs", "3"]);
    let mut a_flags = flags.clone();
    a_flags.extend(["--instance-id", "a"]);
    let a = spawn_with(&a_flags).await;
    let b = a.another_instance("b", &flags).await;
    let b_url = b.url();

    let on_a = a.user("shared").await;
    let on_b = Client::signed_in(&b_url, "shared").await;
    let pid = on_a.project("Busy").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let chat: Value = on_a
        .post(
            &format!("/api/projects/{pid}/chats"),
            &json!({"title": "Talk"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let chat = chat["data"]["id"].as_str().unwrap().to_string();

    // A's turn starts streaming, then the model hangs.
    fake.push(hanging_text("Thinking"));
    let res = on_a
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "hello"}),
        )
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    assert!(
        common::wait_until(Duration::from_secs(10), || async {
            !fake.requests().is_empty()
        })
        .await,
        "the turn reached the model"
    );

    // B refuses new work on the project, and says what it is busy with.
    let res = on_b
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "x"}),
        )
        .await;
    assert_eq!(common::error_code(res, 409).await, "BUSY");
    let res = on_b
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "again"}),
        )
        .await;
    assert_eq!(common::error_code(res, 409).await, "BUSY");
    let state = snapshot(&on_b, &pid).await;
    assert_eq!(state["chatBusy"], true, "{state}");

    // /health on B: both instances alive; A holds the lease.
    let health = health_of(&b_url).await;
    assert_eq!(health["instance"], "b", "{health}");
    let ids = instance_ids(&health);
    assert_eq!(ids, ["a", "b"], "{health}");
    let health_a = health_of(&a.url).await;
    assert_eq!(health_a["leases"][0]["work"], "chat", "{health_a}");

    // Cancelled through B: A's turn stops, the project is free again.
    let started = Instant::now();
    let stopped: Value = on_b
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["data"]["cancelled"], true, "{stopped}");
    let freed = common::wait_until(Duration::from_secs(10), || async {
        snapshot(&on_b, &pid).await["chatBusy"] == false
    })
    .await;
    assert!(freed, "the turn on A did not stop");
    eprintln!(
        "cancel through B stopped A's turn in {:?}",
        started.elapsed()
    );
    let messages: Value = on_b
        .get(&format!("/api/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    let last = messages["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "assistant", "{messages}");
    assert!(
        last["content"].as_str().unwrap().ends_with("_Cancelled._"),
        "{last}"
    );
    assert_eq!(last["pending"], false, "{last}");

    // Sign-in attempts count on both: 6 a minute in all, not 6 each. The
    // counts are per minute: start early in one, so the loop stays in it.
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 45_000 {
        tokio::time::sleep(Duration::from_millis((60_100 - into_minute) as u64)).await;
    }
    let mut refused_at = None;
    for n in 0..8 {
        let base = if n % 2 == 0 {
            a.url.clone()
        } else {
            b_url.clone()
        };
        let res = Client::for_url(&base)
            .post(
                "/api/auth/login",
                &json!({"username": "shared", "password": "wrong-password"}),
            )
            .await;
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"));
            refused_at = Some(n);
            break;
        }
        assert_eq!(res.status(), 401);
    }
    // Six in all (the sign-in on B may count too): per instance, eight
    // alternating attempts would all have passed.
    assert!(
        refused_at.is_some_and(|n| n <= 6),
        "the limit did not hold across instances: {refused_at:?}"
    );
    b.stop().await;
    a.stop().await;
}

/// The real binary on a test's database: `name` is its instance id.
fn start_instance(
    name: &str,
    port: u16,
    db: &str,
    dir: &std::path::Path,
    fake: &FakeLlm,
    lease_secs: u64,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_minicode"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args([
            "--data-dir",
            &dir.join(format!("data-{name}")).display().to_string(),
        ])
        .args(["--database-url", db])
        .args(["--site-root", &dir.join("site").display().to_string()])
        .args([
            "--sandbox-cache-dir",
            &common::shared_sandbox_cache().display().to_string(),
        ])
        .args(model_flags(fake))
        .args([
            "--instance-id",
            name,
            "--lease-secs",
            &lease_secs.to_string(),
        ])
        .args([
            "--auth-rate-per-minute",
            "1000",
            "--log",
            &std::env::var("CLUSTER_LOG").unwrap_or("warn".into()),
        ])
        .env_remove("DATABASE_URL")
        // CLUSTER_LOG=info shows the instances' logs (they go to stdout).
        .stdout(match std::env::var_os("CLUSTER_LOG") {
            Some(_) => Stdio::inherit(),
            None => Stdio::null(),
        })
        .spawn()
        .expect("start the binary")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_up(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/health")).await.is_err() {
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How instance A stops in the middle of phase 2.
#[derive(Clone, Copy, Debug)]
enum Death {
    /// `kill -9`: its lease runs out, then B takes over.
    Kill,
    /// SIGTERM: A hands its lease over, and B takes over at once.
    Drain,
}

/// Two binaries on one database; A runs a generation and stops mid-run;
/// B completes it: no event lost, the run not stuck, the app up on B.
async fn another_instance_completes_the_run(death: Death, lease_secs: u64) -> Duration {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = common::database_url(dir.path()).await;
    let (port_a, port_b) = (free_port(), free_port());
    let (url_a, url_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let mut a = start_instance("a", port_a, &db, dir.path(), &fake, lease_secs);
    wait_up(&url_a).await;
    let mut b = start_instance("b", port_b, &db, dir.path(), &fake, lease_secs);
    wait_up(&url_b).await;

    let client = Client::for_url(&url_a);
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "survivor", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let on_b = Client::signed_in(&url_b, "survivor").await;
    let pid = client.project("Survives").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    script_phase_one_then_hang(&fake);
    // A client on B watches the whole run, across A's death.
    let token = token(&client).await;
    let ws_b = format!("ws://127.0.0.1:{port_b}/ws/{pid}?token={token}");
    let (mut watcher, _) = tokio_tungstenite::connect_async(ws_b.as_str())
        .await
        .unwrap();
    let seen_live = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_secs(300), watcher.next()).await
        {
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if let Some(seq) = frame["seq"].as_u64() {
                    seqs.push(seq);
                }
                if frame["type"] == "generation_complete" {
                    break;
                }
            }
        }
        seqs
    });
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "survive"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(240);
    while fake.requests().len() < 3 {
        assert!(Instant::now() < deadline, "phase 2 never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = health_of(&url_a).await;
    assert_eq!(
        health["leases"][0]["work"], "generation",
        "A holds the run: {health}"
    );

    script_phase_two(&fake);
    let died = Instant::now();
    match death {
        Death::Kill => a.kill().unwrap(),
        Death::Drain => nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(a.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap(),
    }
    a.wait().unwrap();
    // B asks the model for phase 2's design: it has taken the run over.
    while fake.requests().len() < 4 {
        assert!(
            died.elapsed() < Duration::from_secs(lease_secs + 30),
            "B did not take the run over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved_on = died.elapsed();
    let snap = wait_state(
        &on_b,
        &pid,
        &["complete", "failed"],
        Duration::from_secs(240),
    )
    .await;
    assert_eq!(snap["state"], "complete", "{snap}");
    assert_eq!(fake.requests().len(), 5, "phase 1 was not generated again");

    let seen_live = seen_live.await.unwrap();
    assert_dense(&seen_live, "seen live on B across A's death");
    let replayed = replayed_seqs(&ws_b).await;
    assert_dense(&replayed, "replayed by B");
    let lost: Vec<u64> = seen_live
        .iter()
        .copied()
        .filter(|s| !replayed.contains(s))
        .collect();
    assert!(lost.is_empty(), "seen live, not in the log: {lost:?}");

    // The app is up on B, with phase 2's code.
    let module = on_b
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Hello from phase two"), "{module}");
    // Nobody holds the finished run; A is no longer listed.
    let health = health_of(&url_b).await;
    assert_eq!(health["leases"], json!([]), "{health}");
    let ids = instance_ids(&health);
    // Drained: it left the list; killed: its heartbeat is older than the lease.
    assert_eq!(ids, ["b"], "{health}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(b.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    b.wait().unwrap();
    common::drop_database(pg).await;
    moved_on
}

#[tokio::test]
async fn kill_9_of_an_instance_mid_generation_another_completes_the_run() {
    if !on_postgres("kill_9_of_an_instance_mid_generation_another_completes_the_run") {
        return;
    }
    let moved_on = another_instance_completes_the_run(Death::Kill, 3).await;
    eprintln!("kill -9 → run moving on another instance: {moved_on:?}");
    assert!(
        moved_on >= Duration::from_secs(1),
        "not before the lease ran out"
    );
}

#[tokio::test]
async fn a_draining_instance_hands_its_run_over_at_once() {
    if !on_postgres("a_draining_instance_hands_its_run_over_at_once") {
        return;
    }
    // A lease of a minute: only the hand-over can make B start within it.
    let moved_on = another_instance_completes_the_run(Death::Drain, 60).await;
    eprintln!("SIGTERM → run moving on another instance: {moved_on:?}");
    assert!(moved_on < Duration::from_secs(20), "{moved_on:?}");
}

/// A binary on `db` whose log lines (stdout, at `info`) arrive on the
/// returned channel.
fn start_logged(
    name: &str,
    db: &str,
    dir: &std::path::Path,
) -> (Child, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minicode"))
        .args(["--addr", "127.0.0.1:0"])
        .args([
            "--data-dir",
            &dir.join(format!("data-{name}")).display().to_string(),
        ])
        .args(["--database-url", db])
        .args(["--site-root", &dir.join("site").display().to_string()])
        .args(["--instance-id", name, "--lease-secs", "3", "--log", "info"])
        .args(["--log-format", "json"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let log = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(log).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The lines `log` gives within `limit`, stopping early at one containing `until`.
async fn lines_within(
    log: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    limit: Duration,
    until: &str,
) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, log.recv()).await {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(until) {
            break;
        }
    }
    seen
}

/// SQLite is one instance: a second live process on the same file says so
/// (within a few heartbeats), naming the other; a process started right
/// after the others crashed does not (their heartbeats no longer move).
#[tokio::test]
async fn a_second_instance_on_one_sqlite_file_is_reported() {
    if common::backend_name() != "sqlite" {
        return;
    }
    const WARNING: &str = "SQLite supports one instance only";
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("minicode.db").display()
    );
    let (mut first, mut first_log) = start_logged("first", &db, dir.path());
    let up = lines_within(&mut first_log, Duration::from_secs(30), "is listening").await;
    assert!(up.contains("is listening"), "{up}");
    let (mut second, mut second_log) = start_logged("second", &db, dir.path());
    let seen = lines_within(&mut second_log, Duration::from_secs(20), WARNING).await;
    assert!(
        seen.contains(WARNING),
        "no warning about the second instance: {up}{seen}"
    );
    assert!(
        seen.contains("first"),
        "it names the other instance: {seen}"
    );
    let seen = lines_within(&mut first_log, Duration::from_secs(20), WARNING).await;
    assert!(
        seen.contains(WARNING) && seen.contains("second"),
        "the first says so too: {seen}"
    );

    // Both die; a new process at once is alone (no false alarm).
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (mut third, mut third_log) = start_logged("third", &db, dir.path());
    let seen = lines_within(&mut third_log, Duration::from_secs(6), WARNING).await;
    let _ = third.kill();
    let _ = third.wait();
    assert!(
        !seen.contains(WARNING),
        "crashed instances reported as live: {seen}"
    );
}

/// A preview asked of B, for a sandbox A runs: B forwards it to A (page,
/// modules, and Vite's hot-reload socket); a file saved through B reaches
/// A's dev server, whose hot reload tells the browser on B. B starts no
/// sandbox of its own.
#[tokio::test]
async fn a_preview_through_b_reaches_the_sandbox_on_a_with_hot_reload() {
    if !on_postgres("a_preview_through_b_reaches_the_sandbox_on_a_with_hot_reload") {
        return;
    }
    let limits = ["--lease-secs", "3", "--quota-sandboxes", "1"];
    let mut a_flags = limits.to_vec();
    a_flags.extend(["--instance-id", "a"]);
    let a = spawn_with(&a_flags).await;
    let b = a.another_instance("b", &limits).await;
    let b_url = b.url();
    let on_a = a.user("previewer").await;
    let pid = common::running_fixture(&a, &on_a, "Forwarded").await;
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let on_b = Client::signed_in(&b_url, "previewer").await;
    // Started behind the agent's back (not by a run or a preview): A's
    // heartbeat records it.
    let recorded = common::wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, String>(
            "SELECT instance_id FROM sandbox_hosts WHERE project_id = $1",
        )
        .bind(&pid)
        .fetch_optional(b.state.db.pool())
        .await
        .unwrap()
        .is_some_and(|i| i == "a")
    })
    .await;
    assert!(recorded, "A's sandbox is recorded");

    let page = on_b.preview(&format!("/preview/{pid}/")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<div id=\"root\">") || page.contains("id=\"root\""),
        "{page}"
    );
    let module = on_b
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Hello from the fixture app"), "{module}");
    assert!(
        b.state.sandboxes.upstream(id).is_none(),
        "B runs no sandbox"
    );
    assert!(
        b.state.sandboxes.active().is_empty(),
        "B started nothing: {:?}",
        b.state.sandboxes.active().len()
    );

    // Hot reload through B.
    let mut socket = common::hmr::open(&on_b, &pid, b.addr).await;
    let origin = on_b.preview_origin(&pid);

    // Saved through B; A's dev server sees it.
    let res = on_b
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": "export default function App() {\n  return <h1>Saved on B</h1>;\n}\n"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    common::hmr::expect_update(&mut socket, "App.tsx").await;
    let module = on_b
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Saved on B"), "{module}");
    assert!(b.state.sandboxes.active().is_empty(), "still nothing on B");

    // One preview at a time for this user: the one on A counts on B too
    // (and B cannot stop it to make room).
    let second = on_b.project("Second").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = on_b
        .post(
            &format!("/api/projects/{second}/generate"),
            &json!({"description": "a second app"}),
        )
        .await;
    assert_eq!(common::error_code(res, 429).await, "QUOTA_EXCEEDED");

    // A second copy of the app started on B (no work there) gives way to
    // A's at B's next heartbeat; A stays the recorded host.
    minicode_server::files::ensure_workspace(&b.state, id)
        .await
        .unwrap();
    b.state
        .sandboxes
        .ensure_running(id, &tokio_util::sync::CancellationToken::new())
        .await
        .expect("a copy starts on B");
    let gave_way = common::wait_until(Duration::from_secs(10), || async {
        b.state.sandboxes.active().is_empty()
    })
    .await;
    assert!(gave_way, "B's copy is stopped");
    let host: String =
        sqlx::query_scalar("SELECT instance_id FROM sandbox_hosts WHERE project_id = $1")
            .bind(&pid)
            .fetch_one(b.state.db.pool())
            .await
            .unwrap();
    assert_eq!(host, "a");
    assert!(
        a.server.state.sandboxes.upstream(id).is_some(),
        "A's app runs on"
    );

    // A forged forwarding mark changes nothing: a stranger still gets 404.
    let stranger = Client::for_url(&b_url);
    let res = stranger
        .http
        .get(format!("{origin}/src/App.tsx"))
        .header("x-minicode-forwarded", "f.forged.mark")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    b.stop().await;
    a.stop().await;
}

/// Publishing is one at a time per project on every instance: while A
/// builds, B answers BUSY; A's deployment goes live.
#[tokio::test]
async fn one_publish_at_a_time_across_instances() {
    if !on_postgres("one_publish_at_a_time_across_instances") {
        return;
    }
    let a = spawn_with(&["--instance-id", "a"]).await;
    let b = a.another_instance("b", &[]).await;
    let on_a = a.user("publisher").await;
    let on_b = Client::signed_in(&b.url(), "publisher").await;
    let pid = on_a.project("Published").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    on_a.upload_fixture(&pid).await;

    let first = {
        let pid = pid.clone();
        let base = a.url.clone();
        tokio::spawn(async move {
            let on_a = Client::signed_in(&base, "publisher").await;
            on_a.post(&format!("/api/projects/{pid}/deployments"), &json!({}))
                .await
        })
    };
    let building = common::wait_until(Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deployments WHERE project_id = $1 AND status = 'building'",
        )
        .bind(&pid)
        .fetch_one(b.state.db.pool())
        .await
        .unwrap()
            > 0
    })
    .await;
    assert!(building, "A started building");
    let res = on_b
        .post(&format!("/api/projects/{pid}/deployments"), &json!({}))
        .await;
    assert_eq!(common::error_code(res, 409).await, "BUSY");
    let res = first.await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["data"]["status"], "ready", "{done}");
    // Free again once A is done.
    let res = on_b
        .post(&format!("/api/projects/{pid}/deployments"), &json!({}))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    b.stop().await;
    a.stop().await;
}
