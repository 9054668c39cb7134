//! A chat's own WebSocket, `/api/chats/:id/ws` (seed 003's socket), end to
//! end: a real server, a local model server speaking OpenAI's SSE format,
//! and real WebSocket clients on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::fake_llm::{FakeLlm, Reply, openai_sse};
use common::scripted::{Socket, next_frame};
use common::{Client, TestApp, spawn_with};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The events a chat's socket may carry from the log.
const CHAT_EVENTS: [&str; 7] = [
    "message_start",
    "message_delta",
    "tool_use",
    "tool_result",
    "status",
    "message_complete",
    "error",
];

async fn app_with(fake: &FakeLlm, extra: &[&str]) -> TestApp {
    let base = format!("{}/v1", fake.url);
    let mut args = vec![
        "--openrouter-api-key",
        "test-key",
        "--openrouter-base-url",
        &base,
        "--model",
        "openrouter:test/model",
        "--llm-max-retries",
        "0",
    ];
    args.extend_from_slice(extra);
    spawn_with(&args).await
}

fn text_reply(text: &str) -> Reply {
    // Two deltas, so the reply streams in pieces.
    let (a, b) = text.split_at(text.len() / 2);
    Reply::sse(
        &openai_sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": a}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": b}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 8}}),
        ]),
        13,
    )
}

fn read_call(id: &str, path: &str) -> Reply {
    let args = json!({"path": path}).to_string();
    Reply::sse(
        &openai_sse(&[
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": "Read", "arguments": args}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 90, "completion_tokens": 5}}),
        ]),
        17,
    )
}

/// A project with a file and two chats; returns (project id, chat a, chat b).
async fn project_with_chats(client: &Client) -> (String, String, String) {
    let pid = client.project("Chatty").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": "export default function App() { return null; }\n"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut chats = Vec::new();
    for title in ["A", "B"] {
        let chat: Value = client
            .post(
                &format!("/api/projects/{pid}/chats"),
                &json!({"title": title}),
            )
            .await
            .json()
            .await
            .unwrap();
        chats.push(chat["data"]["id"].as_str().unwrap().to_string());
    }
    (pid, chats[0].clone(), chats[1].clone())
}

async fn token(client: &Client, scope: &str) -> String {
    client.api_token(scope).await
}

fn socket_url(app: &TestApp, chat: &str) -> String {
    format!(
        "{}/api/chats/{chat}/ws",
        app.url.replace("http://", "ws://")
    )
}

async fn connect(app: &TestApp, chat: &str, token: &str) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", socket_url(app, chat)))
            .await
            .expect("ws connects");
    socket
}

/// Connects and reads the greeting, which must be `connection_established`.
async fn open(app: &TestApp, chat: &str, token: &str) -> Socket {
    let mut socket = connect(app, chat, token).await;
    let hello = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("a greeting");
    assert_eq!(hello["type"], "connection_established", "{hello}");
    socket
}

/// Reads frames until `done` holds for one, returning every frame read.
async fn until(socket: &mut Socket, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(frame) = next_frame(socket, deadline - Instant::now()).await {
        let last = done(&frame);
        seen.push(frame);
        if last {
            return seen;
        }
    }
    panic!(
        "the awaited frame never came; saw {:?}",
        seen.iter()
            .map(|f| format!("{} {}", f["type"], f["payload"]))
            .collect::<Vec<_>>()
    );
}

fn is_idle(frame: &Value) -> bool {
    frame["type"] == "status" && frame["payload"]["status"] == "idle" && frame["seq"].is_u64()
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

async fn close_code(mut socket: Socket) -> u64 {
    let frame = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert_eq!(frame["type"], "__closed", "{frame}");
    frame["code"].as_u64().unwrap()
}

/// Waits until the chat has `assistants` finished replies; returns its messages.
async fn wait_for_replies(client: &Client, chat: &str, assistants: usize) -> Vec<Value> {
    let url = format!("/api/chats/{chat}/messages?limit=100");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: Value = client.get(&url).await.json().await.unwrap();
        let messages = body["data"].as_array().cloned().unwrap_or_default();
        let done = messages
            .iter()
            .filter(|m| m["role"] == "assistant" && m["pending"] == false)
            .count();
        if done >= assistants {
            return messages;
        }
        assert!(Instant::now() < deadline, "no reply: {messages:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the project has no turn in progress (`status idle` published).
async fn wait_idle(client: &Client, pid: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body: Value = client
            .get(&format!("/api/projects/{pid}/state"))
            .await
            .json()
            .await
            .unwrap();
        if body["data"]["chatBusy"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "the turn never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `seq` of every log frame, asserting they only grow.
fn seqs(frames: &[Value]) -> Vec<u64> {
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs out of order: {seqs:?}"
    );
    seqs
}

/// Every message id the frames mention (the reply's id).
fn message_ids(frames: &[Value]) -> HashSet<String> {
    frames
        .iter()
        .filter_map(|f| {
            f["payload"]["messageId"]
                .as_str()
                .or(f["payload"]["message"]["id"].as_str())
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn a_turn_streams_over_the_chat_socket_and_another_chats_turn_is_not_seen() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let owner = app.user("chat_owner").await;
    let (pid, chat_a, chat_b) = project_with_chats(&owner).await;
    let secret = token(&owner, "full").await;
    let mut socket = open(&app, &chat_a, &secret).await;

    fake.push(read_call("call_1", "src/App.tsx"));
    fake.push(text_reply("The app renders nothing yet."));
    send(
        &mut socket,
        json!({"type": "send_message", "payload": {"content": "what does App do?"}, "correlationId": "m1"}),
    )
    .await;
    let frames = until(&mut socket, is_idle).await;

    // The acknowledgement is a direct reply: no seq, the correlation id.
    let ack = frames
        .iter()
        .find(|f| f["correlationId"] == "m1")
        .expect("an acknowledgement");
    assert_eq!(ack["type"], "status", "{ack}");
    assert_eq!(ack["payload"]["status"], "message received");
    assert!(ack.get("seq").is_none(), "{ack}");

    // Everything else is the turn, in the project's envelope, in seq order.
    let turn: Vec<Value> = frames
        .iter()
        .filter(|f| f["seq"].is_u64())
        .cloned()
        .collect();
    seqs(&turn);
    for frame in &turn {
        assert!(
            CHAT_EVENTS.contains(&frame["type"].as_str().unwrap()),
            "not a chat event: {frame}"
        );
        assert!(frame["timestamp"].is_i64(), "{frame}");
        assert!(frame["payload"].is_object(), "{frame}");
    }
    let kinds: Vec<&str> = turn.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{kinds:?}");
    assert_eq!(turn[0]["payload"]["chatId"], chat_a.as_str());
    let reply_id = turn[0]["payload"]["messageId"]
        .as_str()
        .unwrap()
        .to_string();
    for kind in [
        "tool_use",
        "tool_result",
        "message_delta",
        "message_complete",
    ] {
        assert!(kinds.contains(&kind), "no {kind}: {kinds:?}");
    }
    let tool_use = turn.iter().find(|f| f["type"] == "tool_use").unwrap();
    assert_eq!(tool_use["payload"]["toolName"], "Read");
    assert_eq!(tool_use["payload"]["toolInput"]["path"], "src/App.tsx");
    let streamed: String = turn
        .iter()
        .filter(|f| f["type"] == "message_delta")
        .map(|f| f["payload"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "The app renders nothing yet.");
    let complete = turn
        .iter()
        .find(|f| f["type"] == "message_complete")
        .unwrap();
    assert_eq!(
        complete["payload"]["message"]["content"],
        "The app renders nothing yet."
    );
    assert_eq!(complete["payload"]["message"]["chatId"], chat_a.as_str());
    assert_eq!(message_ids(&turn), HashSet::from([reply_id.clone()]));
    let statuses: Vec<&str> = turn
        .iter()
        .filter(|f| f["type"] == "status")
        .map(|f| f["payload"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["thinking", "running Read", "thinking", "idle"]);

    // The project's log holds more than the chat's socket sent (the user's
    // file write): the socket filtered.
    let logged = app.logged_events(pid.parse().unwrap()).await;
    assert!(logged.iter().any(|f| f.kind == "file_end"));
    assert!(!kinds.contains(&"file_end"));

    // A turn in chat B, started over REST, is not seen on chat A's socket.
    fake.push(text_reply("Chat B's answer."));
    let res = owner
        .post(
            &format!("/api/chats/{chat_b}/messages"),
            &json!({"content": "hello from B"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    wait_for_replies(&owner, &chat_b, 1).await;
    wait_idle(&owner, &pid).await;
    let b_events = app
        .logged_events(pid.parse().unwrap())
        .await
        .into_iter()
        .filter(|f| f.chat.map(|c| c.to_string()) == Some(chat_b.clone()))
        .count();
    assert!(b_events >= 4, "chat B's turn published {b_events} events");
    let leaked = next_frame(&mut socket, Duration::from_millis(800)).await;
    assert!(leaked.is_none(), "chat A's socket got {leaked:?}");

    // A client written to seed 003 sends its fields beside `type`.
    fake.push(text_reply("Flat frames work too."));
    send(
        &mut socket,
        json!({"type": "send_message", "content": "and now?"}),
    )
    .await;
    let frames = until(&mut socket, is_idle).await;
    let complete = frames
        .iter()
        .find(|f| f["type"] == "message_complete")
        .expect("the second turn completes");
    assert_eq!(
        complete["payload"]["message"]["content"],
        "Flat frames work too."
    );
    let messages = wait_for_replies(&owner, &chat_a, 2).await;
    let users: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["what does App do?", "and now?"]);
    app.stop().await;
}

#[tokio::test]
async fn the_chat_socket_authenticates_like_the_project_socket() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let owner = app.user("chat_auth_owner").await;
    let other = app.user("chat_auth_other").await;
    let (_pid, chat, _) = project_with_chats(&owner).await;
    let (_, others_chat, _) = project_with_chats(&other).await;
    let owner_token = token(&owner, "full").await;
    let other_token = token(&other, "full").await;

    assert_eq!(
        close_code(connect(&app, &chat, "mc_not_a_token").await).await,
        4401
    );
    let (anonymous, _) = tokio_tungstenite::connect_async(socket_url(&app, &chat))
        .await
        .unwrap();
    assert_eq!(close_code(anonymous).await, 4401);
    // Another user's chat, an unknown chat, a malformed id: all 4404.
    assert_eq!(
        close_code(connect(&app, &chat, &other_token).await).await,
        4404
    );
    assert_eq!(
        close_code(connect(&app, &others_chat, &owner_token).await).await,
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

    // The session cookie, from minicode's own origin: admitted.
    let cookies = owner.cookies_for(&app.url).expect("a session cookie");
    let with_cookie = |origin: &str| {
        let mut request = socket_url(&app, &chat).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", cookies.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        request
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(with_cookie(&app.url))
        .await
        .unwrap();
    let hello = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["type"], "connection_established", "{hello}");
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
    // The same cookie from another site's page: refused.
    let (foreign, _) = tokio_tungstenite::connect_async(with_cookie("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(close_code(foreign).await, 4403);
    // The cookie of another user on the owner's chat: 4404.
    let others_cookies = other.cookies_for(&app.url).unwrap();
    let mut request = socket_url(&app, &chat).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", others_cookies.parse().unwrap());
    let (stranger, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(close_code(stranger).await, 4404);

    // Only the chat's commands: the project socket's others are unknown here,
    // and a message for another chat is refused; the socket stays open.
    for (bad, why) in [
        (json!({"type": "get_state", "payload": {}}), "unknown"),
        (
            json!({"type": "generate", "payload": {"description": "x"}}),
            "unknown",
        ),
        (
            json!({"type": "send_message", "payload": {"content": "hi", "chatId": uuid::Uuid::new_v4()}}),
            "socket is chat",
        ),
        (json!({"type": "send_message", "payload": {}}), "content"),
    ] {
        send(
            &mut socket,
            json!({"correlationId": "bad", "type": bad["type"], "payload": bad["payload"]}),
        )
        .await;
        let reply = next_frame(&mut socket, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply["type"], "error", "{bad}: {reply}");
        assert_eq!(reply["payload"]["code"], "BAD_REQUEST", "{reply}");
        assert_eq!(reply["correlationId"], "bad");
        assert!(
            reply["payload"]["message"].as_str().unwrap().contains(why),
            "{reply}"
        );
    }
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    let reply = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply["payload"]["code"], "BAD_REQUEST");
    assert!(fake.requests().is_empty(), "no turn was started");
    app.stop().await;
}

#[tokio::test]
async fn a_read_only_token_watches_the_chat_but_cannot_command_it() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let owner = app.user("chat_reader").await;
    let (_pid, chat, _) = project_with_chats(&owner).await;
    let read = token(&owner, "read").await;
    let mut socket = open(&app, &chat, &read).await;

    for command in [
        json!({"type": "send_message", "payload": {"content": "do it"}, "correlationId": "s"}),
        json!({"type": "cancel", "payload": {}, "correlationId": "s"}),
    ] {
        send(&mut socket, command.clone()).await;
        let reply = next_frame(&mut socket, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply["type"], "error", "{command}: {reply}");
        assert_eq!(reply["payload"]["code"], "FORBIDDEN", "{reply}");
        assert_eq!(reply["correlationId"], "s");
    }
    let body: Value = owner
        .get(&format!("/api/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 0, "the read-only token stored nothing");
    assert!(fake.requests().is_empty());

    // It still watches: a turn the owner starts streams to it.
    fake.push(text_reply("Watched reply."));
    let res = owner
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": "hello"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let frames = until(&mut socket, is_idle).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{kinds:?}");
    assert!(kinds.contains(&"message_complete"), "{kinds:?}");
    app.stop().await;
}

#[tokio::test]
async fn resume_replays_what_was_missed_of_this_chat_and_nothing_twice() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let owner = app.user("chat_resumer").await;
    let (pid, chat_a, chat_b) = project_with_chats(&owner).await;
    let secret = token(&owner, "full").await;

    // Turn 1 in A, watched live.
    let mut socket = open(&app, &chat_a, &secret).await;
    fake.push(text_reply("First answer."));
    send(
        &mut socket,
        json!({"type": "send_message", "payload": {"content": "first"}}),
    )
    .await;
    let first = until(&mut socket, is_idle).await;
    let first_seqs = seqs(&first);
    let last_seen = *first_seqs.last().unwrap();
    let first_ids = message_ids(&first);
    drop(socket);

    // While disconnected: a turn in B, then turn 2 in A.
    for (chat, answer) in [(&chat_b, "B's answer."), (&chat_a, "Second answer.")] {
        fake.push(text_reply(answer));
        let res = owner
            .post(
                &format!("/api/chats/{chat}/messages"),
                &json!({"content": "next"}),
            )
            .await;
        assert_eq!(res.status(), 202);
        wait_idle(&owner, &pid).await;
    }
    let b_reply = wait_for_replies(&owner, &chat_b, 1).await[1]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Reconnect and resume from the last seq seen.
    let mut socket = open(&app, &chat_a, &secret).await;
    send(
        &mut socket,
        json!({"type": "resume", "payload": {"lastSeq": last_seen}, "correlationId": "r"}),
    )
    .await;
    let replay = until(&mut socket, |f| f["type"] == "resumed").await;
    let resumed = replay.last().unwrap();
    assert_eq!(resumed["correlationId"], "r");
    let up_to = resumed["payload"]["upToSeq"].as_u64().unwrap();
    let missed: Vec<Value> = replay[..replay.len() - 1].to_vec();
    let missed_seqs = seqs(&missed);
    assert_eq!(missed_seqs.len(), missed.len(), "only log frames replayed");
    assert!(missed_seqs.iter().all(|s| *s > last_seen && *s <= up_to));
    let kinds: Vec<&str> = missed.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"status"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "message_start").count(),
        1,
        "only turn 2: {kinds:?}"
    );
    assert_eq!(missed[0]["payload"]["chatId"], chat_a.as_str());
    let missed_ids = message_ids(&missed);
    assert_eq!(missed_ids.len(), 1, "{missed_ids:?}");
    assert!(missed_ids.is_disjoint(&first_ids), "turn 1 replayed again");
    assert!(!missed_ids.contains(&b_reply), "chat B's turn replayed");
    let complete = missed
        .iter()
        .find(|f| f["type"] == "message_complete")
        .unwrap();
    assert_eq!(complete["payload"]["message"]["content"], "Second answer.");
    // Nothing else follows: the replay did not come again live.
    assert!(
        next_frame(&mut socket, Duration::from_millis(500))
            .await
            .is_none()
    );

    // From 0: both of A's turns, none of B's; the same frames byte for byte
    // after a restart, when they come from the database instead of memory.
    send(
        &mut socket,
        json!({"type": "resume", "payload": {"lastSeq": 0}}),
    )
    .await;
    let everything = until(&mut socket, |f| f["type"] == "resumed").await;
    let everything = &everything[..everything.len() - 1];
    let all_ids = message_ids(everything);
    assert_eq!(
        all_ids,
        first_ids
            .union(&missed_ids)
            .cloned()
            .collect::<HashSet<_>>()
    );
    let all_seqs = seqs(everything);
    assert!(first_seqs.iter().all(|s| all_seqs.contains(s)));
    assert!(missed_seqs.iter().all(|s| all_seqs.contains(s)));
    assert_eq!(all_seqs.len(), first_seqs.len() + missed_seqs.len());
    drop(socket);

    let app = app.restart().await;
    let mut socket = open(&app, &chat_a, &secret).await;
    send(
        &mut socket,
        json!({"type": "resume", "payload": {"lastSeq": 0}}),
    )
    .await;
    let stored = until(&mut socket, |f| f["type"] == "resumed").await;
    assert_eq!(
        &stored[..stored.len() - 1],
        everything,
        "replayed from the database"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_tokens_chat_socket_cannot_send() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let owner = app.user("chat_revoker").await;
    let (_pid, chat, _) = project_with_chats(&owner).await;
    let secret = token(&owner, "full").await;
    let mut socket = open(&app, &chat, &secret).await;

    let listed: Value = owner.get("/api/auth/tokens").await.json().await.unwrap();
    let id = listed["data"][0]["id"].as_str().unwrap();
    assert_eq!(
        owner
            .delete(&format!("/api/auth/tokens/{id}"))
            .await
            .status(),
        204
    );
    send(
        &mut socket,
        json!({"type": "send_message", "payload": {"content": "still here?"}, "correlationId": "x"}),
    )
    .await;
    let reply = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["payload"]["code"], "UNAUTHORIZED", "{reply}");
    assert_eq!(reply["correlationId"], "x");
    let body: Value = owner
        .get(&format!("/api/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 0, "the revoked token started nothing");
    assert!(fake.requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn refused_turns_are_error_events_and_cancel_stops_only_this_chats_turn() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &["--quota-chat-turns-per-hour", "2"]).await;
    let owner = app.user("chat_limits").await;
    let (_pid, chat_a, chat_b) = project_with_chats(&owner).await;
    let secret = token(&owner, "full").await;
    let mut a = open(&app, &chat_a, &secret).await;
    let mut b = open(&app, &chat_b, &secret).await;

    // Turn 1 hangs mid-answer.
    fake.push(
        Reply::sse(
            &openai_sse(&[json!({"choices": [{"index": 0, "delta": {"content": "Working on"}}]})])
                .replace("data: [DONE]\n\n", ""),
            64,
        )
        .then_hang(),
    );
    send(
        &mut a,
        json!({"type": "send_message", "payload": {"content": "long job"}}),
    )
    .await;
    until(&mut a, |f| f["type"] == "message_delta").await;

    // The project is busy: a message on B is refused with BUSY.
    send(
        &mut b,
        json!({"type": "send_message", "payload": {"content": "me too"}, "correlationId": "busy"}),
    )
    .await;
    let reply = next_frame(&mut b, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["payload"]["code"], "BUSY", "{reply}");
    assert_eq!(reply["correlationId"], "busy");
    assert!(!reply["payload"]["message"].as_str().unwrap().is_empty());

    // B's socket cannot cancel A's turn; A's can.
    send(&mut b, json!({"type": "cancel", "correlationId": "cb"})).await;
    let reply = next_frame(&mut b, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply["payload"]["status"], "nothing to cancel", "{reply}");
    send(
        &mut a,
        json!({"type": "cancel", "payload": {}, "correlationId": "ca"}),
    )
    .await;
    let frames = until(&mut a, is_idle).await;
    let ack = frames.iter().find(|f| f["correlationId"] == "ca").unwrap();
    assert_eq!(ack["payload"]["status"], "cancelling");
    let complete = frames
        .iter()
        .find(|f| f["type"] == "message_complete")
        .expect("the cancelled reply is stored");
    assert!(
        complete["payload"]["message"]["content"]
            .as_str()
            .unwrap()
            .ends_with("_Cancelled._"),
        "{complete}"
    );
    // None of that reached B.
    assert!(
        next_frame(&mut b, Duration::from_millis(300))
            .await
            .is_none()
    );

    // Turn 2 is allowed, turn 3 is over the hourly quota.
    fake.push(text_reply("Second."));
    send(
        &mut b,
        json!({"type": "send_message", "payload": {"content": "two"}}),
    )
    .await;
    until(&mut b, is_idle).await;
    send(
        &mut b,
        json!({"type": "send_message", "payload": {"content": "three"}, "correlationId": "q"}),
    )
    .await;
    let reply = next_frame(&mut b, Duration::from_secs(5)).await.unwrap();
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["payload"]["code"], "QUOTA_EXCEEDED", "{reply}");
    assert_eq!(reply["correlationId"], "q");
    assert!(
        reply["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("chat turns"),
        "{reply}"
    );
    let body: Value = owner
        .get(&format!("/api/chats/{chat_b}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 2, "the refused message was not stored");
    app.stop().await;
}
