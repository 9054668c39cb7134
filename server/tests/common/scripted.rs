//! A scripted generation and a project socket's client: the model's
//! answers for a two-phase build of the fixture app, and helpers to read
//! the socket (engine and cluster tests).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::fake_llm::{FakeLlm, Reply, openai_text};
use super::{Client, TestApp};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn text_reply(text: &str) -> Reply {
    // Several content deltas, so files stream in pieces.
    openai_text(text, "stop")
}

pub fn design(name: &str, files: &[&str], last: bool) -> Reply {
    let files: Vec<Value> = files
        .iter()
        .map(|f| json!({"path": f, "purpose": "part of the app"}))
        .collect();
    text_reply(&format!(
        "Here is the plan:\n```json\n{}\n```",
        json!({"name": name, "goal": format!("{name} goal"), "files": files, "lastPhase": last})
    ))
}

pub fn heredocs(files: &[(String, String)]) -> String {
    let mut out = String::from("Writing the files.\n\n");
    for (n, (path, content)) in files.iter().enumerate() {
        out.push_str(&format!("cat > {path} << 'EOF_{n}'\n{content}"));
        if !content.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("EOF_{n}\n\n"));
    }
    out
}

pub const PHASE_TWO_APP: &str =
    "export default function App() {\n  return <h1>Hello from phase two</h1>;\n}\n";

/// An answer that starts with `start`, then never ends (the model hangs):
/// work is caught in the middle.
pub fn hanging_text(start: &str) -> Reply {
    Reply::sse(
        &format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": start}}]})
        ),
        64,
    )
    .then_hang()
}

/// Scripts phase 1 of the fixture app; phase 2's design then hangs.
pub fn script_phase_one_then_hang(fake: &FakeLlm) {
    let fixture = super::fixture_app();
    let paths: Vec<&str> = fixture.iter().map(|(p, _)| p.as_str()).collect();
    fake.push(design("Scaffold", &paths, false));
    fake.push(text_reply(&heredocs(&fixture)));
    fake.push(hanging_text("{\"na"));
}

/// Scripts phase 2 after [`script_phase_one_then_hang`]: a last phase that
/// rewrites `src/App.tsx` to [`PHASE_TWO_APP`].
pub fn script_phase_two(fake: &FakeLlm) {
    fake.push(design("Features", &["src/App.tsx"], true));
    fake.push(text_reply(&heredocs(&[(
        "src/App.tsx".into(),
        PHASE_TWO_APP.into(),
    )])));
}

/// Opens a socket at `ws_url` (with its token), asks for the whole log
/// (`resume {lastSeq: 0}`) and returns the replayed seqs.
pub async fn replayed_seqs(ws_url: &str) -> Vec<u64> {
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("ws connects");
    next_frame(&mut socket, Duration::from_secs(5))
        .await
        .expect("a greeting");
    send(
        &mut socket,
        json!({"type": "resume", "payload": {"lastSeq": 0}}),
    )
    .await;
    until(&mut socket, "resumed", Duration::from_secs(30))
        .await
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .collect()
}

/// Scripts a whole two-phase generation of the fixture app.
pub fn script_generation(fake: &FakeLlm) {
    let fixture = super::fixture_app();
    let paths: Vec<&str> = fixture.iter().map(|(p, _)| p.as_str()).collect();
    fake.push(design("Scaffold", &paths, false));
    fake.push(text_reply(&heredocs(&fixture)));
    fake.push(design("Features", &["src/App.tsx"], true));
    fake.push(text_reply(&heredocs(&[(
        "src/App.tsx".into(),
        PHASE_TWO_APP.into(),
    )])));
}

pub async fn token(client: &Client) -> String {
    client.api_token("full").await
}

pub async fn connect(app: &TestApp, project: &str, token: &str) -> Socket {
    let url = format!(
        "{}/ws/{project}?token={token}",
        app.url.replace("http://", "ws://")
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    socket
}

/// The next JSON text frame (pings are answered by the library); a close is
/// `{type: "__closed", code}`.
pub async fn next_frame(socket: &mut Socket, limit: Duration) -> Option<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(t.as_str()).unwrap());
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some(json!({"type": "__closed", "code": frame.map(|f| u16::from(f.code))}));
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Reads frames until one has `type`, returning every frame read.
pub async fn until(socket: &mut Socket, kind: &str, limit: Duration) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let Some(frame) = next_frame(socket, deadline - Instant::now()).await else {
            break;
        };
        let done = frame["type"] == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
    panic!(
        "no `{kind}` within {limit:?}; saw {:?}",
        seen.iter().map(|f| f["type"].clone()).collect::<Vec<_>>()
    );
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

pub async fn snapshot(client: &Client, pid: &str) -> Value {
    let body: Value = client
        .get(&format!("/api/projects/{pid}/state"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].clone()
}

pub async fn wait_state(client: &Client, pid: &str, states: &[&str], limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let snap = snapshot(client, pid).await;
        if states.iter().any(|s| snap["state"] == *s) {
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "state never became {states:?}: {snap}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
