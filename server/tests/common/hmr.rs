//! Vite's hot-reload socket, opened through a preview host the way a
//! browser does (sandbox and cluster tests).

use std::time::Duration;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::Client;

pub type HmrSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The request for the project's HMR socket on `owner`'s preview host:
/// Vite's token (from `@vite/client`), the `vite-hmr` protocol, and the
/// owner's pass cookie when `with_pass`.
pub async fn request(
    owner: &Client,
    pid: &str,
    with_pass: bool,
) -> tungstenite::handshake::client::Request {
    let client_js = owner
        .preview(&format!("/preview/{pid}/@vite/client"))
        .await
        .text()
        .await
        .unwrap();
    let token = client_js
        .split("wsToken = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .or_else(|| {
            client_js
                .split("const wsToken = ")
                .nth(1)
                .and_then(|r| r.split(['"', '\'']).nth(1))
        })
        .expect("Vite's ws token")
        .to_string();
    let origin = owner.preview_origin(pid);
    let mut request = format!("{}/?token={token}", origin.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
    if with_pass {
        let pass = owner
            .cookies_for(&origin)
            .expect("the preview host's cookie");
        request
            .headers_mut()
            .insert("cookie", pass.parse().unwrap());
    }
    request
}

/// Connects `request` to minicode at `addr` (the preview host's name stays
/// in the request, as a browser's would).
pub async fn connect(
    addr: std::net::SocketAddr,
    request: tungstenite::handshake::client::Request,
) -> Result<(HmrSocket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(request, tcp).await
}

/// Opens the owner's HMR socket through minicode at `addr` and reads Vite's
/// `connected` greeting.
pub async fn open(owner: &Client, pid: &str, addr: std::net::SocketAddr) -> HmrSocket {
    let (mut socket, response) = connect(addr, request(owner, pid, true).await)
        .await
        .expect("HMR socket through the proxy");
    assert_eq!(response.headers()["sec-websocket-protocol"], "vite-hmr");
    let first = next_text(&mut socket).await;
    assert!(first.contains("\"connected\""), "{first}");
    socket
}

pub async fn next_text(socket: &mut HmrSocket) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(tungstenite::Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// Waits for Vite's reaction to an edit of `file`: an `update` naming it,
/// or a `full-reload`.
pub async fn expect_update(socket: &mut HmrSocket, file: &str) {
    let update = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let text = next_text(socket).await;
            if text.contains("update") || text.contains("full-reload") {
                return text;
            }
        }
    })
    .await
    .expect("an HMR message after the edit");
    assert!(
        update.contains(file) || update.contains("full-reload"),
        "{update}"
    );
}
