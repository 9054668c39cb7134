//! The live channel's own WebSocket layer (`server/src/ws/handshake.rs`,
//! `frame.rs`, `socket.rs`) over real TCP connections: the handshake's
//! refusals, a client's bytes as hostile input, and a client that stops
//! reading while events keep coming.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::scripted::{connect, next_frame, send, token};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens `/ws/:project` by hand: the request line and headers are ours.
async fn raw_handshake(
    app: &common::TestApp,
    project: &str,
    token: &str,
    extra: &str,
) -> (TcpStream, String) {
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request =
        format!("GET /ws/{project}?token={token} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("an answer to the handshake")
            .unwrap();
        assert_eq!(n, 1, "the server closed during the handshake");
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// Reads server frames until a close; returns its code.
async fn close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let mut header = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
            .await
            .expect("a frame")
            .expect("the connection stays open until the close frame");
        assert_eq!(header[1] & 0x80, 0, "server frames are not masked");
        let len = match header[1] & 0x7F {
            126 => stream.read_u16().await.unwrap() as usize,
            127 => stream.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        if header[0] & 0x0F == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn handshakes_that_are_not_websocket_13_are_refused_with_their_reason() {
    let app = common::spawn().await;
    let (client, pid) = app.user_with_project("shaker", "Shakes").await;
    let token = token(&client).await;

    let (_, head) = raw_handshake(&app, &pid, &token, UPGRADE).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "RFC 6455's example key gets its example answer: {head}"
    );

    let old = UPGRADE.replace("Version: 13", "Version: 8");
    let (_, head) = raw_handshake(&app, &pid, &token, &old).await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );

    let keyless = UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let (_, head) = raw_handshake(&app, &pid, &token, &keyless).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    let plain = UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive");
    let (_, head) = raw_handshake(&app, &pid, &token, &plain).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    app.stop().await;
}

#[tokio::test]
async fn a_clients_bad_frames_close_the_socket_with_their_code() {
    let app = common::spawn().await;
    let (client, pid) = app.user_with_project("framer", "Frames").await;
    let token = token(&client).await;

    // Unmasked: a protocol error (1002).
    let (mut stream, _) = raw_handshake(&app, &pid, &token, UPGRADE).await;
    stream.write_all(b"\x81\x04ping").await.unwrap();
    assert_eq!(close_code(&mut stream).await, 1002);

    // A header announcing 1 GiB: refused (1009) before any payload is sent,
    // so nothing of that size is ever buffered.
    let (mut stream, _) = raw_handshake(&app, &pid, &token, UPGRADE).await;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    stream.write_all(&header).await.unwrap();
    assert_eq!(close_code(&mut stream).await, 1009);

    // A text message that is not UTF-8 (1007).
    let (mut stream, _) = raw_handshake(&app, &pid, &token, UPGRADE).await;
    let mask = [9u8, 8, 7, 6];
    let mut frame = vec![0x81, 0x82];
    frame.extend_from_slice(&mask);
    frame.extend([0xffu8 ^ mask[0], 0xfe ^ mask[1]]);
    stream.write_all(&frame).await.unwrap();
    assert_eq!(close_code(&mut stream).await, 1007);

    // The server still serves everyone else.
    let mut socket = connect(&app, &pid, &token).await;
    let hello = next_frame(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(hello["type"], "connection_established");
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_told_to_resync_and_loses_nothing() {
    let app = common::spawn().await;
    let (client, pid) = app.user_with_project("sleeper", "Sleepy").await;
    let token = token(&client).await;
    let project: uuid::Uuid = pid.parse().unwrap();

    let mut slow = connect(&app, &pid, &token).await;
    let mut fast = connect(&app, &pid, &token).await;
    for socket in [&mut slow, &mut fast] {
        let hello = next_frame(socket, Duration::from_secs(5)).await.unwrap();
        assert_eq!(hello["type"], "connection_established");
    }
    let first = app.server.state.events.last_seq(project).await.unwrap() + 1;

    // More than the kernel's buffers (a few MiB: a receive buffer only
    // grows while its reader reads) and the socket's queue (8,192 frames)
    // hold, while `slow` reads nothing.
    const EVENTS: u64 = 20_000;
    let pad = "x".repeat(2048);
    for chunk in 0..EVENTS / 1000 {
        let events = (0..1000)
            .map(|i| minicode::protocol::ServerEvent::Status {
                status: format!("{} {pad}", chunk * 1000 + i),
            })
            .collect();
        app.server
            .state
            .events
            .publish_many(project, events)
            .await
            .unwrap();
    }
    let last = first + EVENTS - 1;

    // A client that reads keeps up and gets every one, in order.
    let mut seen = first - 1;
    while seen < last {
        let frame = next_frame(&mut fast, Duration::from_secs(30))
            .await
            .expect("the reading client gets every event");
        if let Some(seq) = frame["seq"].as_u64() {
            assert_eq!(seq, seen + 1, "in order, none skipped");
            seen = seq;
        }
    }

    // The sleeper wakes: some frames, then a resync naming the last one it
    // has whole, then the live stream goes on.
    let mut got = BTreeSet::new();
    let mut resync = None;
    while got.last().copied() != Some(last) {
        let frame = next_frame(&mut slow, Duration::from_secs(30))
            .await
            .expect("the slow client's frames");
        match (frame["type"].as_str(), frame["seq"].as_u64()) {
            (Some("resync"), _) => resync = frame["payload"]["lastSeq"].as_u64(),
            (_, Some(seq)) => {
                got.insert(seq);
            }
            _ => {}
        }
    }
    let resync = resync.expect("the slow client was told to resync");
    assert!(
        got.range(..=resync).next_back() == Some(&resync),
        "resync names a frame it was sent whole ({resync})"
    );
    assert!(
        (got.len() as u64) < EVENTS,
        "frames past the queue's limit were dropped for it, not held"
    );

    // It resumes from there and then has every seq.
    send(
        &mut slow,
        json!({"type": "resume", "payload": {"lastSeq": resync}, "correlationId": "r"}),
    )
    .await;
    loop {
        let frame: Value = next_frame(&mut slow, Duration::from_secs(30))
            .await
            .expect("the replay");
        if frame["type"] == "resumed" {
            break;
        }
        if let Some(seq) = frame["seq"].as_u64() {
            got.insert(seq);
        }
    }
    let missing: Vec<u64> = (first..=last).filter(|s| !got.contains(s)).collect();
    assert!(
        missing.is_empty(),
        "{} seqs never reached it",
        missing.len()
    );
    app.stop().await;
}
