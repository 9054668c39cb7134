//! The generation engine and the project WebSocket, end to end: a real
//! server, a local model server speaking OpenAI's SSE format, the process
//! sandbox with a real `npm install`, and real WebSocket clients.

mod common;

use std::time::{Duration, Instant};

use common::fake_llm::{FakeLlm, openai_text};
use common::{Client, TestApp, spawn_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::scripted::*;

async fn app_with(fake: &FakeLlm) -> TestApp {
    spawn_with(&[
        "--openrouter-api-key",
        "test-key",
        "--openrouter-base-url",
        &format!("{}/v1", fake.url),
        "--model",
        "openrouter:test/model",
        "--llm-max-retries",
        "0",
    ])
    .await
}

/// The next JSON text frame (pings are answered by the library).
/// A socket on the project (past its greeting), then a generation of
/// `description` started over REST.
async fn generate_watched(
    app: &TestApp,
    client: &Client,
    pid: &str,
    token: &str,
    description: &str,
) -> Socket {
    let mut socket = connect(app, pid, token).await;
    next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({ "description": description }),
        )
        .await;
    assert_eq!(res.status(), 202);
    socket
}

#[tokio::test]
async fn a_generation_streams_over_the_socket_and_a_reconnecting_client_misses_nothing() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("gen_ws", "Generated").await;
    let token = token(&client).await;
    script_generation(&fake);

    // Two tabs on the same project.
    let mut first = connect(&app, &pid, &token).await;
    let mut second = connect(&app, &pid, &token).await;
    let hello = next_frame(&mut first, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["type"], "connection_established");
    assert_eq!(hello["payload"]["snapshot"]["state"], "idle");
    next_frame(&mut second, Duration::from_secs(5))
        .await
        .unwrap();

    send(&mut first, json!({"type": "generate", "payload": {"description": "a greeting app"}, "correlationId": "gen-1"})).await;
    // The first tab reads until the first file is complete, then drops.
    let early = until(&mut first, "file_end", Duration::from_secs(30)).await;
    let ack = early
        .iter()
        .find(|f| f["correlationId"] == "gen-1")
        .expect("the reply carries the correlation id");
    assert!(
        ack.get("seq").is_none_or(Value::is_null),
        "replies are not in the log"
    );
    let last_seq = early
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .max()
        .unwrap();
    drop(first);

    // The second tab sees the whole run live.
    let live = until(&mut second, "generation_complete", Duration::from_secs(240)).await;
    let kinds: Vec<&str> = live.iter().map(|f| f["type"].as_str().unwrap()).collect();
    for expected in [
        "state_change",
        "phase_designing",
        "phase_designed",
        "file_start",
        "file_chunk",
        "file_end",
        "deps_installed",
        "server_started",
        "checkpoint_created",
    ] {
        assert!(kinds.contains(&expected), "no {expected} in {kinds:?}");
    }
    // Phase 2 re-checks the dependencies it did not change: one install.
    let installs: Vec<&Value> = live
        .iter()
        .filter(|f| f["type"] == "deps_installed")
        .map(|f| &f["payload"]["changed"])
        .collect();
    assert_eq!(installs.len(), 2, "one check per phase: {installs:?}");
    assert_eq!(installs, [&json!(true), &json!(false)]);
    let seqs: Vec<u64> = live.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "seqs increase: {seqs:?}"
    );

    // The first tab comes back and resumes from where it was.
    let mut again = connect(&app, &pid, &token).await;
    next_frame(&mut again, Duration::from_secs(5))
        .await
        .unwrap();
    send(
        &mut again,
        json!({"type": "resume", "payload": {"lastSeq": last_seq}, "correlationId": "r1"}),
    )
    .await;
    let replay = until(&mut again, "resumed", Duration::from_secs(10)).await;
    let replayed: Vec<u64> = replay.iter().filter_map(|f| f["seq"].as_u64()).collect();
    let expected: Vec<u64> = seqs.iter().copied().filter(|s| *s > last_seq).collect();
    // Live frames (the dev server's log) may arrive before the replay; a
    // client applies each seq once. Nothing at or before lastSeq comes back.
    assert!(
        replayed.contains(&(last_seq + 1)),
        "the frame right after lastSeq is replayed: {replayed:?}"
    );
    assert!(
        replayed.iter().all(|s| *s > last_seq),
        "nothing up to lastSeq is sent again: {replayed:?}"
    );
    for s in &expected {
        assert!(replayed.contains(s), "seq {s} missing from the replay");
    }
    let resumed = replay.last().unwrap();
    assert_eq!(resumed["correlationId"], "r1");

    // Everything is stored: state, phases, files, usage; the preview serves the app.
    let snap = snapshot(&client, &pid).await;
    assert_eq!(snap["state"], "complete");
    assert_eq!(snap["phases"].as_array().unwrap().len(), 2);
    assert_eq!(snap["usage"]["inputTokens"], 4000);
    let app_file: Value = client
        .get(&format!("/api/projects/{pid}/files/src/App.tsx"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app_file["data"]["content"], PHASE_TWO_APP);
    let page = client.preview(&format!("/preview/{pid}/")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<div id=\"root\">"));
    let module = client
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Hello from phase two"), "{module}");
    // The prompts went to the model: the designer saw the description.
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests[0].body["messages"]
            .to_string()
            .contains("a greeting app")
    );
    app.server.state.sandboxes.stop(pid.parse().unwrap()).await;
    app.stop().await;
}

#[tokio::test]
async fn the_socket_refuses_strangers_and_survives_bad_frames() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let owner = app.user("ws_owner").await;
    let other = app.user("ws_other").await;
    let pid = owner.project("Mine").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_token = token(&owner).await;
    let other_token = token(&other).await;

    let close_code = |mut socket: Socket| async move {
        let frame = next_frame(&mut socket, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(frame["type"], "__closed", "{frame}");
        frame["code"].as_u64().unwrap()
    };
    assert_eq!(
        close_code(connect(&app, &pid, "mc_not_a_token").await).await,
        4401
    );
    assert_eq!(
        close_code(connect(&app, &pid, &other_token).await).await,
        4404
    );
    assert_eq!(
        close_code(connect(&app, &uuid::Uuid::new_v4().to_string(), &owner_token).await).await,
        4404
    );
    assert_eq!(
        close_code(connect(&app, "not-a-uuid", &owner_token).await).await,
        4404
    );

    // No token and no cookie.
    let url = format!("{}/ws/{pid}", app.url.replace("http://", "ws://"));
    let (anonymous, _) = tokio_tungstenite::connect_async(url.clone()).await.unwrap();
    assert_eq!(close_code(anonymous).await, 4401);
    // A cookie from another site's page.
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let (foreign, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(close_code(foreign).await, 4403);

    let mut socket = connect(&app, &pid, &owner_token).await;
    next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    for bad in [
        "{not json",
        "[1,2]",
        r#"{"type":"launch_rockets","payload":{}}"#,
        r#"{"type":"resume","payload":{"lastSeq":"x"}}"#,
    ] {
        socket.send(Message::Text(bad.into())).await.unwrap();
        let reply = next_frame(&mut socket, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply["type"], "error", "{bad}: {reply}");
        assert_eq!(reply["payload"]["code"], "BAD_REQUEST");
    }
    send(
        &mut socket,
        json!({"type": "generate", "payload": {"description": ""}, "correlationId": "g"}),
    )
    .await;
    let reply = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["correlationId"], "g");
    // Still open.
    send(
        &mut socket,
        json!({"type": "ping", "payload": {}, "correlationId": "p"}),
    )
    .await;
    let pong = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["correlationId"], "p");
    send(&mut socket, json!({"type": "get_state", "payload": {}})).await;
    let state = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(state["type"], "state");
    assert_eq!(state["payload"]["snapshot"]["state"], "idle");
    assert!(fake.requests().is_empty());

    // A frame over the size limit is refused with 1009 and a reason, not a
    // dropped connection.
    let huge = format!(
        r#"{{"type":"ping","payload":{{"pad":"{}"}}}}"#,
        "x".repeat(300 * 1024)
    );
    socket.send(Message::Text(huge.into())).await.unwrap();
    let closed = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(closed["type"], "__closed", "{closed}");
    assert_eq!(closed["code"], 1009, "{closed}");
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_plan_gets_two_repair_rounds_then_fails_clearly() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("repairs", "Plans").await;

    fake.push(text_reply("Sure! I think phase one should be great."));
    fake.push(text_reply("{\"name\": \"Still\", \"goal\": \"bad\"}"));
    fake.push(text_reply("{\"name\": \"Again\", \"files\": []}"));
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "a shop"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let snap = wait_state(&client, &pid, &["failed"], Duration::from_secs(20)).await;
    let error = snap["error"].as_str().unwrap();
    assert!(
        error.contains("not valid after 3 tries") && error.contains("`files` lists no file"),
        "{error}"
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "two repair rounds");
    assert!(
        requests[1].body["messages"]
            .to_string()
            .contains("could not be used")
    );
    // The second repair shows the model its own second answer and its fault.
    let second = requests[2].body["messages"].to_string();
    assert!(
        second.contains("Still") && second.contains("no `files` array"),
        "{second}"
    );

    // With a repairable answer the run goes on.
    fake.push(text_reply("no json here"));
    fake.push(design("Scaffold", &["src/App.tsx"], true));
    fake.push(text_reply(&heredocs(&[(
        "src/App.tsx".into(),
        PHASE_TWO_APP.into(),
    )])));
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "a shop"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    // No package.json: installing fails with the log, but the files are kept.
    let snap = wait_state(
        &client,
        &pid,
        &["failed", "complete"],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(snap["phases"][0]["name"], "Scaffold");
    let file: Value = client
        .get(&format!("/api/projects/{pid}/files/src/App.tsx"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(file["data"]["content"], PHASE_TWO_APP);
    app.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_run_within_a_second_and_one_run_per_project() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("canceller", "Stoppable").await;
    let fixture = common::fixture_app();
    let paths: Vec<&str> = fixture.iter().map(|(p, _)| p.as_str()).collect();
    fake.push(design("Scaffold", &paths, false));
    fake.push(hanging_text("cat > src/App.tsx << 'EOF'\nexport default"));
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "slow"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    wait_state(
        &client,
        &pid,
        &["implementing_phase"],
        Duration::from_secs(20),
    )
    .await;
    // Cancel once clients have seen the file begin (the state changes first).
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(20), || async {
            app.logged_events(id)
                .await
                .iter()
                .any(|f| f.kind == "file_start" && f.json().contains("src/App.tsx"))
        })
        .await,
        "the file never started"
    );
    let again = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "again"}),
        )
        .await;
    assert_eq!(common::error_code(again, 409).await, "BUSY");
    // The refusal leaves no trace: no second run, and the state is the
    // running one's (a phantom "cancelled" run used to take its place).
    let (runs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM agent_runs WHERE project_id = $1")
        .bind(&pid)
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap();
    assert_eq!(runs, 1);
    let snapshot: Value = client
        .get(&format!("/api/projects/{pid}/state"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(snapshot["data"]["state"], "cancelled", "{snapshot}");
    assert!(snapshot["data"]["error"].is_null(), "{snapshot}");

    let started = Instant::now();
    let res: Value = client
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(res["data"]["cancelled"], true);
    wait_state(&client, &pid, &["cancelled"], Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    // The half-written file was never saved…
    let res = client
        .get(&format!("/api/projects/{pid}/files/src/App.tsx"))
        .await;
    assert_eq!(res.status(), 404);
    // …and clients that saw it begin were told so, before the cancel.
    let frames = app.logged_events(id).await;
    let kinds: Vec<(&str, Value)> = frames
        .iter()
        .map(|f| (f.kind, serde_json::from_str(f.json()).unwrap()))
        .collect();
    let end = kinds
        .iter()
        .position(|(k, f)| *k == "file_end" && f["payload"]["path"] == "src/App.tsx")
        .expect("a file_end for the cut file");
    assert_eq!(kinds[end].1["payload"]["incomplete"], true);
    let cancelled = kinds
        .iter()
        .position(|(k, f)| *k == "state_change" && f["payload"]["state"] == "cancelled")
        .expect("the cancel");
    assert!(end < cancelled);
    app.stop().await;
}

#[tokio::test]
async fn a_run_resumes_after_a_restart_without_duplicating_files() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("restarter", "Durable").await;
    let fixture = common::fixture_app();
    let paths: Vec<&str> = fixture.iter().map(|(p, _)| p.as_str()).collect();
    fake.push(design("Scaffold", &paths, false));
    fake.push(text_reply(&heredocs(&fixture)));
    // Phase 2's design hangs: the server is stopped mid-run.
    fake.push(hanging_text("{\"name\""));
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "durable app"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(240);
    while fake.requests().len() < 3 {
        assert!(Instant::now() < deadline, "phase 2 never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();

    // After the restart the run designs phase 2 again and completes.
    fake.push(design("Features", &["src/App.tsx"], true));
    fake.push(text_reply(&heredocs(&[(
        "src/App.tsx".into(),
        PHASE_TWO_APP.into(),
    )])));
    let app = app.restart().await;
    let snap = wait_state(
        &client,
        &pid,
        &["complete", "failed"],
        Duration::from_secs(240),
    )
    .await;
    assert_eq!(snap["state"], "complete", "{snap}");
    assert_eq!(snap["phases"].as_array().unwrap().len(), 2);
    assert_eq!(fake.requests().len(), 5, "phase 1 was not generated again");
    let after: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        before["data"].as_array().unwrap().len(),
        after["data"].as_array().unwrap().len()
    );
    // package.json has one version: phase 1 was not written twice.
    let pkg: Value = client
        .get(&format!("/api/projects/{pid}/files/package.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pkg["data"]["version"], 1);
    app.server.state.sandboxes.stop(pid.parse().unwrap()).await;
    app.stop().await;
}

/// The real binary, killed with SIGKILL mid-run, then started again.
#[tokio::test]
async fn a_run_survives_a_hard_kill_and_no_sandbox_process_is_left() {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("minicode.db").display()
    );
    let cache = common::shared_sandbox_cache();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_minicode"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--data-dir", &dir.path().join("data").display().to_string()])
            .args(["--database-url", &db])
            .args([
                "--site-root",
                &dir.path().join("site").display().to_string(),
            ])
            .args(["--sandbox-cache-dir", &cache.display().to_string()])
            .args(["--openrouter-api-key", "test-key"])
            .args(["--openrouter-base-url", &format!("{}/v1", fake.url)])
            .args(["--model", "openrouter:test/model", "--llm-max-retries", "0"])
            .args(["--auth-rate-per-minute", "1000", "--log", "warn"])
            .env_remove("DATABASE_URL")
            .spawn()
            .expect("start the binary")
    };
    let wait_up = |url: String| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{url}/health")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut server = start();
    wait_up(url.clone()).await;

    let client = Client::for_url(&url);
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "crasher", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let pid = client.project("Crash").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    script_phase_one_then_hang(&fake);
    // A client watches live until the crash, noting every seq it is sent.
    let token = token(&client).await;
    let ws_url = format!("ws://127.0.0.1:{port}/ws/{pid}?token={token}");
    let (mut watcher, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("ws connects");
    let seen_live = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(Ok(message)) = watcher.next().await {
            if let Message::Text(text) = message
                && let Some(seq) =
                    serde_json::from_str::<Value>(text.as_str()).unwrap()["seq"].as_u64()
            {
                seqs.push(seq);
            }
        }
        seqs
    });
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "crash test"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(240);
    while fake.requests().len() < 3 {
        assert!(Instant::now() < deadline, "phase 2 never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Phase 1's dev server is running; the process dies without any cleanup.
    assert!(
        !common::sandbox_pids(&pid).is_empty(),
        "phase 1 started the dev server"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let seen_live = seen_live.await.unwrap();
    assert!(
        seen_live.len() > 10,
        "the watcher saw the run: {seen_live:?}"
    );
    // The sandbox dies with its server, before anything restarts it.
    assert!(
        common::wait_until(Duration::from_secs(5), || async {
            common::sandbox_pids(&pid).is_empty()
        })
        .await,
        "sandbox processes outlived a kill -9 of minicode: {:?}",
        common::sandbox_pids(&pid)
    );

    script_phase_two(&fake);
    let mut server = start();
    wait_up(url.clone()).await;
    // Every seq sent before the crash comes back on `resume {lastSeq: 0}`.
    let replayed: std::collections::HashSet<u64> =
        replayed_seqs(&ws_url).await.into_iter().collect();
    let lost: Vec<u64> = seen_live
        .iter()
        .copied()
        .filter(|s| !replayed.contains(s))
        .collect();
    assert!(lost.is_empty(), "seen live, gone after kill -9: {lost:?}");
    let snap = wait_state(
        &client,
        &pid,
        &["complete", "failed"],
        Duration::from_secs(240),
    )
    .await;
    assert_eq!(snap["state"], "complete", "{snap}");
    assert_eq!(fake.requests().len(), 5, "phase 1 was not generated again");
    let pkg: Value = client
        .get(&format!("/api/projects/{pid}/files/package.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pkg["data"]["version"], 1, "no duplicated file versions");
    let module = client
        .preview(&format!("/preview/{pid}/src/App.tsx"))
        .await
        .text()
        .await
        .unwrap();
    assert!(module.contains("Hello from phase two"), "{module}");

    // A graceful stop leaves no sandbox process behind.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    server.wait().unwrap();
    let gone = common::wait_until(Duration::from_secs(10), || async {
        common::sandbox_pids(&pid).is_empty()
    })
    .await;
    assert!(gone, "left running: {:?}", common::sandbox_pids(&pid));
}

/// A log longer than the in-memory ring replays whole: the older part
/// comes from the database with each frame's kind (server code looks frames
/// up by kind: the latest error, a build's prompt), the newer from memory.
#[tokio::test]
async fn a_log_longer_than_the_ring_replays_whole_with_its_kinds() {
    let app = common::spawn().await;
    let (_client, pid) = app.user_with_project("longlog", "Long log").await;
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let events = &app.server.state.events;
    events
        .publish(
            id,
            minicode::protocol::ServerEvent::RunStarted {
                run_id: uuid::Uuid::new_v4(),
                description: "a long story".into(),
                images: Vec::new(),
            },
        )
        .await
        .unwrap();
    let statuses: Vec<_> = (0..5000)
        .map(|n| minicode::protocol::ServerEvent::Status {
            status: format!("line {n}"),
        })
        .collect();
    events.publish_many(id, statuses).await.unwrap();
    let frames = app.logged_events(id).await;
    assert_eq!(frames.len(), 5001);
    assert_eq!(frames[0].seq, 1);
    assert_eq!(frames[0].kind, "run_started", "read back from the database");
    assert!(frames.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(frames[1..].iter().all(|f| f.kind == "status"));
    app.stop().await;
}

/// At shutdown the event log stores what is queued, then stops: an event
/// published after that is neither stored nor sent, since a client must
/// never hold a seq it cannot replay; nothing tries the closed database.
#[tokio::test]
async fn after_shutdown_an_event_is_neither_stored_nor_sent() {
    let app = common::spawn().await;
    let (_client, pid) = app.user_with_project("closer", "Closing").await;
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let events = &app.server.state.events;
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE project_id = $1")
            .bind(pid.clone())
            .fetch_one(app.server.state.db.pool())
            .await
            .unwrap()
    };
    let (mut live, _) = events.watch(id).await.unwrap();
    let initial = stored().await;
    events
        .publish(
            id,
            minicode::protocol::ServerEvent::FilesWritten { count: 1 },
        )
        .await
        .unwrap();
    events.close().await;
    assert_eq!(stored().await, initial + 1, "close() stores what is queued");
    let frame = tokio::time::timeout(Duration::from_secs(5), live.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(frame.json()).unwrap()["payload"]["count"],
        1,
        "the stored event was sent"
    );
    events
        .publish(
            id,
            minicode::protocol::ServerEvent::FilesWritten { count: 2 },
        )
        .await
        .expect("publishing after close is not an error");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), live.recv())
            .await
            .is_err(),
        "an event that cannot be stored is not sent"
    );
    assert_eq!(stored().await, initial + 1, "nothing stored after close");
    app.stop().await;
}

#[tokio::test]
async fn a_model_file_where_a_file_is_is_skipped_and_not_stored() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("clashing_model", "Clash").await;
    let token = token(&client).await;
    fake.push(design("Scaffold", &["notes", "notes/today.md"], true));
    fake.push(text_reply(&heredocs(&[
        ("notes".into(), "a file".into()),
        ("notes/today.md".into(), "inside a file".into()),
    ])));
    let mut socket = generate_watched(&app, &client, &pid, &token, "notes").await;
    let frames = until(&mut socket, "files_written", Duration::from_secs(30)).await;
    let refused = frames
        .iter()
        .find(|f| f["type"] == "error" && f["payload"]["code"] == "REFUSED_PATH")
        .expect("the clash is reported");
    assert_eq!(
        refused["payload"]["message"],
        "skipped `notes/today.md`: notes is a file, so it cannot hold notes/today.md"
    );
    let ended = frames
        .iter()
        .find(|f| f["type"] == "file_end" && f["payload"]["path"] == "notes/today.md")
        .expect("clients are told to drop the file");
    assert_eq!(ended["payload"]["incomplete"], true);
    assert_eq!(
        frames.last().unwrap()["payload"]["count"],
        1,
        "the run went on with the other file"
    );
    client
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await;
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["data"], json!([{"path": "notes", "size": 7}]));
    app.stop().await;
}

#[tokio::test]
async fn over_long_text_on_the_socket_is_refused_and_stores_nothing() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("ws_wordy", "Wordy").await;
    let chat: Value = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let chat = chat["data"]["id"].as_str().unwrap().to_string();
    let token = token(&client).await;
    let mut socket = connect(&app, &pid, &token).await;
    next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();

    let description = "d".repeat(minicode::MAX_DESCRIPTION_CHARS + 1);
    send(
        &mut socket,
        json!({"type": "generate", "payload": {"description": description}, "correlationId": "g"}),
    )
    .await;
    let reply = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["correlationId"], "g");
    assert_eq!(reply["payload"]["code"], "VALIDATION_FAILED");
    assert_eq!(
        reply["payload"]["message"],
        "Your description is 4,001 characters; the limit is 4,000."
    );

    let message = "m".repeat(minicode::MAX_MESSAGE_CHARS + 1_000);
    send(
        &mut socket,
        json!({"type": "send_message", "payload": {"chatId": chat, "content": message}, "correlationId": "m"}),
    )
    .await;
    let reply = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["correlationId"], "m");
    assert_eq!(reply["payload"]["code"], "VALIDATION_FAILED");
    assert_eq!(
        reply["payload"]["message"],
        "Your message is 33,000 characters; the limit is 32,000."
    );

    assert_eq!(snapshot(&client, &pid).await["runId"], Value::Null);
    let messages: Value = client
        .get(&format!("/api/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(messages["total"], 0);
    assert!(fake.requests().is_empty(), "no model was called");
    app.stop().await;
}

async fn file_content(client: &Client, pid: &str, path: &str) -> Option<String> {
    let res = client
        .get(&format!("/api/projects/{pid}/files/{path}"))
        .await;
    if res.status() != 200 {
        return None;
    }
    let body: Value = res.json().await.unwrap();
    body["data"]["content"].as_str().map(str::to_string)
}

/// Issue 17: a phase is checked against its plan. An answer cut off by the
/// token limit is continued where it stopped (one file across two answers),
/// and files of the plan the model did not write are asked for again, by
/// name, until they are all there.
#[tokio::test]
async fn a_cut_off_answer_is_continued_and_missing_files_are_asked_for_again() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("continues", "Continue").await;
    let token = token(&client).await;
    fake.push(design("Scaffold", &["a.txt", "b.txt", "c.txt"], true));
    fake.push(openai_text(
        "Writing.\n\ncat > a.txt << 'EOF'\nline one\nline t",
        "length",
    ));
    fake.push(text_reply("wo\nEOF\n"));
    fake.push(text_reply(&heredocs(&[("b.txt".into(), "bee\n".into())])));
    fake.push(text_reply(&heredocs(&[("c.txt".into(), "sea\n".into())])));
    let mut socket = generate_watched(&app, &client, &pid, &token, "three files").await;
    let frames = until(&mut socket, "files_written", Duration::from_secs(30)).await;
    assert_eq!(frames.last().unwrap()["payload"]["count"], 3, "{frames:?}");
    client
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await;
    assert_eq!(
        file_content(&client, &pid, "a.txt").await.as_deref(),
        Some("line one\nline two\n"),
        "one file across the cut"
    );
    assert_eq!(
        file_content(&client, &pid, "b.txt").await.as_deref(),
        Some("bee\n")
    );
    assert_eq!(
        file_content(&client, &pid, "c.txt").await.as_deref(),
        Some("sea\n")
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "design, answer, continuation, two asks");
    let continuation = requests[2].body["messages"].to_string();
    assert!(
        continuation.contains("cut off by the length limit"),
        "{continuation}"
    );
    assert!(
        continuation.contains("line t"),
        "the model sees where it stopped"
    );
    let first_ask = requests[3].body["messages"].to_string();
    assert!(
        first_ask.contains("`b.txt`: never written")
            && first_ask.contains("`c.txt`: never written"),
        "{first_ask}"
    );
    assert!(!first_ask.contains("`a.txt`"), "{first_ask}");
    let second_ask = requests[4].body["messages"].to_string();
    assert!(
        second_ask.contains("`c.txt`") && !second_ask.contains("`b.txt`"),
        "{second_ask}"
    );
    app.stop().await;
}

/// Issue 17: a phase whose plan is never delivered ends `failed` with an
/// error that names the missing file: never `complete`, and what was
/// written is kept.
#[tokio::test]
async fn a_phase_missing_files_of_its_plan_fails_naming_them_and_keeps_the_rest() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("incomplete", "Incomplete").await;
    fake.push(design("Scaffold", &["a.txt", "src/b.ts"], true));
    fake.push(text_reply(&heredocs(&[("a.txt".into(), "kept\n".into())])));
    fake.push(text_reply("I cannot write that file, sorry."));
    // Cut off inside the file, twice: never stored half.
    fake.push(text_reply("cat > src/b.ts << 'EOF'\nexport const b ="));
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "two files"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let snap = wait_state(
        &client,
        &pid,
        &["failed", "complete"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(snap["state"], "failed", "{snap}");
    let error = snap["error"].as_str().unwrap();
    assert!(
        error.contains("phase 1 is missing files of its plan")
            && error.contains("src/b.ts (cut off before its end)"),
        "{error}"
    );
    assert_eq!(
        file_content(&client, &pid, "a.txt").await.as_deref(),
        Some("kept\n")
    );
    assert_eq!(
        file_content(&client, &pid, "src/b.ts").await,
        None,
        "half a file is never stored"
    );
    let events = app.logged_events(pid.parse().unwrap()).await;
    assert!(
        events.iter().all(|f| f.kind != "generation_complete"),
        "a broken phase is never complete"
    );
    assert!(
        events
            .iter()
            .any(|f| f.kind == "error" && f.json().contains("INCOMPLETE_PHASE")),
        "the failure is an error event"
    );
    app.stop().await;
}

/// Issue 17: a reasoning model thinks out loud, with drafts of the plan and
/// of `cat >` lines, and spells `last_phase` its own way: the drafts are
/// never read, the plan is the real one, and the run stops after it.
#[tokio::test]
async fn reasoning_text_is_never_read_as_a_plan_or_a_file() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("thinker", "Thinking").await;
    let token = token(&client).await;
    fake.push(text_reply(
        "<think>\nMaybe {\"name\": \"Draft\", \"files\": [\"draft.txt\"]}? No.\n</think>\n\
         The plan: {\"name\": \"Only\", \"goal\": \"all\", \"files\": [{\"path\": \"a.txt\", \"purpose\": \"x\"}], \"last_phase\": true}",
    ));
    fake.push(text_reply(
        "<think>\nI could write:\ncat > wrong.txt << 'EOF'\nnope\nEOF\nBetter not.\n</think>\n\
         cat > a.txt << 'EOF'\nright\nEOF\n",
    ));
    let mut socket = generate_watched(&app, &client, &pid, &token, "one file").await;
    let frames = until(&mut socket, "files_written", Duration::from_secs(30)).await;
    assert!(
        frames.iter().all(|f| f["payload"]["path"] != "wrong.txt"),
        "a draft inside the reasoning never becomes a file"
    );
    client
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await;
    assert_eq!(
        file_content(&client, &pid, "a.txt").await.as_deref(),
        Some("right\n")
    );
    assert_eq!(file_content(&client, &pid, "wrong.txt").await, None);
    let snap = snapshot(&client, &pid).await;
    assert_eq!(snap["phases"][0]["name"], "Only");
    assert_eq!(
        snap["phases"][0]["lastPhase"], true,
        "snake_case last_phase counts"
    );
    assert_eq!(fake.requests().len(), 2, "no repair round was needed");
    app.stop().await;
}

/// Issue 17: `npm install nanoid` (no version) ends in package.json as a
/// caret range of the version that was installed, not `latest`, with the
/// file's own key order kept; the pinned file names the same installed
/// modules, so checking them again installs nothing.
#[tokio::test]
async fn a_package_installed_without_a_version_is_pinned_to_what_was_installed() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake).await;
    let (client, pid) = app.user_with_project("pinner", "Pinned").await;
    let token = token(&client).await;
    let fixture = common::fixture_app();
    let paths: Vec<&str> = fixture.iter().map(|(p, _)| p.as_str()).collect();
    fake.push(design("Scaffold", &paths, true));
    fake.push(text_reply(&format!(
        "{}Now the id helper:\n\n```bash\nnpm install nanoid\n```\n",
        heredocs(&fixture)
    )));
    let mut socket = generate_watched(&app, &client, &pid, &token, "an app with ids").await;
    let frames = until(&mut socket, "generation_complete", Duration::from_secs(240)).await;
    assert_eq!(
        frames.last().unwrap()["type"],
        "generation_complete",
        "{frames:?}"
    );

    let manifest = file_content(&client, &pid, "package.json").await.unwrap();
    let parsed: Value = serde_json::from_str(&manifest).unwrap();
    let nanoid = parsed["dependencies"]["nanoid"].as_str().unwrap();
    assert!(
        nanoid.starts_with('^') && nanoid[1..].split('.').count() == 3,
        "nanoid is pinned: {manifest}"
    );
    assert_eq!(parsed["dependencies"]["react"], "^19.1.0", "{manifest}");
    let order = |key: &str| manifest.find(&format!("\"{key}\"")).unwrap();
    assert!(
        order("name") < order("scripts") && order("scripts") < order("dependencies"),
        "the file's key order is kept: {manifest}"
    );

    // The pinned package.json asks for exactly what is installed.
    let id: uuid::Uuid = pid.parse().unwrap();
    app.server
        .state
        .sandboxes
        .install(id, &tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let events = app.logged_events(id).await;
    let installs: Vec<&str> = events
        .iter()
        .filter(|f| f.kind == "deps_installed")
        .map(|f| f.json())
        .collect();
    assert_eq!(installs.len(), 2, "{installs:?}");
    assert!(installs[0].contains("\"changed\":true"), "{installs:?}");
    assert!(
        installs[1].contains("\"changed\":false"),
        "the pinned file installs nothing: {installs:?}"
    );
    app.stop().await;
}
