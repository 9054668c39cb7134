//! The listener's admission (`server/src/listener.rs`) over real TCP: with
//! one place for opening connections, a connection that has started its
//! request holds the others back until it is answered, a stalled one holds
//! them back at most `WAIT_LIMIT`, and connections that say nothing, or are
//! open WebSockets, hold no place at all.

mod common;

use std::time::{Duration, Instant};

use common::scripted::{connect, next_frame, token};
use minicode_server::listener::WAIT_LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: minicode\r\nConnection: close\r\n";

async fn one_place() -> common::TestApp {
    common::spawn_with(&["--opening-connections", "1"]).await
}

async fn open(app: &common::TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads the answer's status line, waiting at most `limit`.
async fn status_within(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 256];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    let text = String::from_utf8_lossy(&answer).to_string();
    Some(text.lines().next().unwrap_or_default().to_string())
}

/// A connection that has sent the start of a request (so it holds the one
/// place) and is waiting to finish it.
async fn started(app: &common::TestApp) -> TcpStream {
    let mut first = open(app).await;
    first.write_all(HEALTH.as_bytes()).await.unwrap();
    // Its task sees the bytes and takes the place.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first
}

/// A connection that has sent a whole request, and when it did.
async fn whole_request(app: &common::TestApp) -> (TcpStream, Instant) {
    let mut stream = open(app).await;
    stream
        .write_all(format!("{HEALTH}\r\n").as_bytes())
        .await
        .unwrap();
    (stream, Instant::now())
}

/// Whether the connection is answered `200 OK` within `limit`.
async fn ok_within(stream: &mut TcpStream, limit: Duration) -> bool {
    status_within(stream, limit).await.as_deref() == Some("HTTP/1.1 200 OK")
}

#[tokio::test]
async fn an_opening_connection_holds_the_others_back_until_it_is_answered() {
    let app = one_place().await;
    let mut first = started(&app).await;

    let (mut second, since) = whole_request(&app).await;
    assert_eq!(
        status_within(&mut second, Duration::from_millis(500)).await,
        None,
        "the second connection waits while the first holds the only place"
    );

    // The first finishes its request and is answered: its place is free.
    first.write_all(b"\r\n").await.unwrap();
    assert!(ok_within(&mut first, Duration::from_secs(5)).await);
    assert!(ok_within(&mut second, Duration::from_secs(5)).await);
    assert!(
        since.elapsed() < WAIT_LIMIT,
        "the second went in when the place was freed ({:?}), not after the wait limit",
        since.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_connection_holds_the_others_back_at_most_the_wait_limit() {
    let app = one_place().await;
    // Never finishes its request.
    let _stalled = started(&app).await;

    let (mut second, since) = whole_request(&app).await;
    assert!(
        ok_within(&mut second, WAIT_LIMIT + Duration::from_secs(10)).await,
        "a stalled connection cannot keep others out"
    );
    assert!(
        since.elapsed() >= WAIT_LIMIT - Duration::from_millis(100),
        "it waited for the place first ({:?})",
        since.elapsed()
    );
}

#[tokio::test]
async fn silent_connections_and_open_websockets_hold_no_place() {
    let app = one_place().await;
    let (client, project) = app.user_with_project("quiet", "Quiet").await;
    let token = token(&client).await;

    // Twenty connections that say nothing, and an open WebSocket.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(open(&app).await);
    }
    let mut socket = connect(&app, &project, &token).await;
    let hello = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["type"], "connection_established");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mut request, since) = whole_request(&app).await;
    assert!(ok_within(&mut request, Duration::from_secs(10)).await);
    assert!(
        since.elapsed() < WAIT_LIMIT,
        "answered without waiting for a place ({:?})",
        since.elapsed()
    );

    // The silent ones are still open, and may still speak.
    let mut late = silent.pop().unwrap();
    late.write_all(format!("{HEALTH}\r\n").as_bytes())
        .await
        .unwrap();
    assert!(ok_within(&mut late, Duration::from_secs(5)).await);
}
