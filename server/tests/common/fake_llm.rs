//! A local HTTP server that answers like a hosted model provider: scripted
//! replies written byte by byte as the test wants them (split SSE frames,
//! pauses, a connection cut mid-answer, error statuses with headers), and a
//! record of every request it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub enum Chunk {
    Bytes(Vec<u8>),
    Pause(Duration),
}

/// How a reply ends after its chunks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum End {
    /// Close the connection (the end of a close-delimited body).
    Close,
    /// Keep the connection open and silent (a stalled provider).
    Hang,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Chunk>,
    pub end: End,
}

impl Reply {
    /// A 200 SSE reply whose body is `body` cut into pieces of `split` bytes.
    pub fn sse(body: &str, split: usize) -> Self {
        let chunks = body
            .as_bytes()
            .chunks(split.max(1))
            .flat_map(|c| {
                [
                    Chunk::Bytes(c.to_vec()),
                    Chunk::Pause(Duration::from_millis(1)),
                ]
            })
            .collect();
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks,
            end: End::Close,
        }
    }

    /// An error status with a JSON body.
    pub fn status(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![Chunk::Bytes(body.as_bytes().to_vec())],
            end: End::Close,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn then_hang(mut self) -> Self {
        self.end = End::Hang;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
pub struct FakeLlm {
    pub url: String,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeLlm {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeLlm {
            url,
            replies: Arc::default(),
            requests: Arc::default(),
        };
        let served = fake.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let fake = served.clone();
                tokio::spawn(async move { fake.serve(socket).await });
            }
        });
        fake
    }

    /// Queues replies, answered in order, one per request.
    pub fn push(&self, reply: Reply) {
        self.replies.lock().unwrap().push_back(reply);
    }

    /// Drops replies no request took (so they cannot answer the next test).
    pub fn clear(&self) -> usize {
        let mut replies = self.replies.lock().unwrap();
        let left = replies.len();
        replies.clear();
        left
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    async fn serve(&self, mut socket: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let header_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            match socket.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let mut lines = head.lines();
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("")
            .to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[header_end + 4..].to_vec();
        while body.len() < length {
            match socket.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&tmp[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        self.requests.lock().unwrap().push(Recorded {
            path,
            headers,
            body,
        });
        let reply = self.replies.lock().unwrap().pop_front().unwrap_or_else(|| {
            Reply::status(
                500,
                r#"{"error":{"message":"the fake has no scripted reply left"}}"#,
            )
        });
        let mut head = format!("HTTP/1.1 {} Fake\r\nconnection: close\r\n", reply.status);
        for (n, v) in &reply.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for chunk in reply.chunks {
            match chunk {
                Chunk::Bytes(b) => {
                    if socket.write_all(&b).await.is_err() || socket.flush().await.is_err() {
                        return;
                    }
                }
                Chunk::Pause(d) => tokio::time::sleep(d).await,
            }
        }
        if reply.end == End::Hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let _ = socket.shutdown().await;
    }
}

/// `data: {json}` events followed by `data: [DONE]`, OpenAI style.
pub fn openai_sse(chunks: &[Value]) -> String {
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// `text` cut into pieces of about `size` bytes, never inside a character
/// (a model's deltas are whole strings; the transport may still split bytes).
pub fn pieces(text: &str, size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if current.len() + c.len_utf8() > size.max(4) {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// An OpenAI-style answer streaming `text` in 40-byte content deltas, then
/// `finish_reason` and a usage chunk.
pub fn openai_text(text: &str, finish_reason: &str) -> Reply {
    let mut chunks: Vec<Value> = pieces(text, 40)
        .into_iter()
        .map(|p| serde_json::json!({"choices": [{"index": 0, "delta": {"content": p}}]}))
        .collect();
    chunks.push(
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}),
    );
    chunks.push(serde_json::json!({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 200}}));
    Reply::sse(&openai_sse(&chunks), 97)
}

/// Typed events, Anthropic style.
pub fn anthropic_sse(events: &[Value]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap_or("")
        ));
    }
    out
}
