//! WebSocket fan-out under load: N clients on one project of a running
//! minicode server while the offline generator streams at full speed.
//!
//! The bench runs the server as a child process (this same binary, started
//! with `MINICODE_BENCH_ROLE=server`) so the server's RSS is its own. On a
//! command from the parent the child streams the offline generator's answer
//! for an app phase and publishes every chunk as a `file_chunk` through the
//! event bus — the path a generation's events take (seq, log, database
//! writer, broadcast) — for a fixed time. The parent holds N WebSocket
//! clients on 127.0.0.1 and measures, per client, the time from an event's
//! creation (its `timestamp`, in ms) to its receipt; latencies therefore
//! carry up to 1 ms of rounding.
//!
//! Run with `cargo bench --bench ws_load` (sizes: `WS_LOAD_SIZES=100,1000`;
//! seconds of load per size: `WS_LOAD_SECS=5`; a cap on published events
//! per second: `WS_LOAD_RATE=200`, default none).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures::StreamExt;
use minicode::protocol::{Phase, PlannedFile, ServerEvent};
use minicode_server::config::Config;
use minicode_server::llm::offline::Offline;
use minicode_server::llm::{ChatRequest, Provider, Purpose, StreamEvent};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("MINICODE_BENCH_ROLE").as_deref() == Ok("server") {
        runtime.block_on(serve());
    } else {
        runtime.block_on(drive());
    }
}

/// The child: a real server, plus a pump that publishes events on demand.
async fn serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let config = Config::parse_from([
        "minicode",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        &data.display().to_string(),
        "--database-url",
        &db,
        "--site-root",
        &dir.path().join("site").display().to_string(),
        "--log",
        "error",
        "--auth-rate-per-minute",
        "100000",
        "--offline-chars-per-sec",
        "0",
    ]);
    let server = minicode_server::Server::start(config).await.unwrap();
    println!("URL {}", server.url());
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut lines = tokio::io::AsyncBufReadExt::lines(stdin);
    while let Ok(Some(line)) = lines.next_line().await {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let ["pump", project, secs, rate] = parts.as_slice() {
            let project: Uuid = project.parse().unwrap();
            let secs: f64 = secs.parse().unwrap();
            let rate: f64 = rate.parse().unwrap();
            let sent = pump(&server.state, project, Duration::from_secs_f64(secs), rate).await;
            println!("PUMPED {sent}");
        }
    }
    server.stop().await;
}

/// Streams offline answers and publishes their chunks for `length`, at most
/// `rate` events per second (0: as fast as the generator goes).
async fn pump(
    state: &minicode_server::state::AppState,
    project: Uuid,
    length: Duration,
    rate: f64,
) -> u64 {
    let offline = Offline::new(0);
    let files = [
        "package.json",
        "index.html",
        "vite.config.ts",
        "src/main.tsx",
        "src/App.tsx",
        "src/styles.css",
    ];
    let phase = Phase {
        number: 1,
        name: "Scaffold".into(),
        goal: "A runnable app".into(),
        files: files
            .iter()
            .map(|f| PlannedFile {
                path: (*f).into(),
                purpose: "part of the app".into(),
            })
            .collect(),
        last_phase: false,
    };
    let start = Instant::now();
    let end = start + length;
    let mut sent = 0;
    while Instant::now() < end {
        let request = ChatRequest {
            model: "builtin".into(),
            system: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            max_tokens: 32_000,
            temperature: None,
            purpose: Purpose::Implement {
                description: "a team dashboard with a task list and a pricing table".into(),
                phase: phase.clone(),
                files: Vec::new(),
            },
        };
        let mut stream = offline.stream(request, CancellationToken::new());
        while let Some(Ok(event)) = stream.next().await {
            if let StreamEvent::Text(chunk) = event {
                let event = ServerEvent::FileChunk {
                    path: "src/App.tsx".into(),
                    chunk,
                };
                if state.events.publish(project, event).await.is_ok() {
                    sent += 1;
                }
                if rate > 0.0 {
                    let due = start + Duration::from_secs_f64(sent as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            if Instant::now() >= end {
                break;
            }
        }
    }
    sent
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `"timestamp":123` without parsing the whole frame.
fn timestamp_of(frame: &str) -> Option<f64> {
    let at = frame.find("\"timestamp\":")? + "\"timestamp\":".len();
    let digits: String = frame[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

struct Row {
    clients: usize,
    connected: usize,
    events: u64,
    published: u64,
    secs: f64,
    p50: f64,
    p99: f64,
    max: f64,
    rss_idle_mib: f64,
    rss_peak_mib: f64,
    resyncs: u64,
}

async fn drive() {
    let sizes: Vec<usize> = std::env::var("WS_LOAD_SIZES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let secs: f64 = std::env::var("WS_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rate: f64 = std::env::var("WS_LOAD_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    println!(
        "{secs} s of load per size; publish rate: {}",
        if rate > 0.0 {
            format!("{rate} events/s")
        } else {
            "the offline generator at full speed".into()
        }
    );
    raise_fd_limit();

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("MINICODE_BENCH_ROLE", "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server child");
    let pid = child.id();
    let mut child_in = child.stdin.take().unwrap();
    let child_out = BufReader::new(child.stdout.take().unwrap());
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in child_out.lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = lines.recv().await.expect("the child prints its URL");
    let url = line
        .trim()
        .strip_prefix("URL ")
        .expect("the child prints its URL")
        .to_string();

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let post = |path: &str, body: Value| {
        http.post(format!("{url}{path}"))
            .header("origin", url.as_str())
            .json(&body)
            .send()
    };
    assert!(
        post(
            "/api/auth/register",
            json!({"username": "bench", "password": "password123"})
        )
        .await
        .unwrap()
        .status()
        .is_success()
    );
    let token: Value = post("/api/auth/tokens", json!({"name": "bench"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["data"]["secret"].as_str().unwrap().to_string();

    let mut rows = Vec::new();
    for &n in &sizes {
        let project: Value = post("/api/projects", json!({"name": format!("load {n}")}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let project = project["data"]["id"].as_str().unwrap().to_string();
        let ws_url = format!(
            "{}/ws/{project}?token={token}",
            url.replace("http://", "ws://")
        );

        let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::with_capacity(1 << 20)));
        let received = Arc::new(AtomicU64::new(0));
        let resyncs = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(n.max(1));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (ws_url, latencies, received, resyncs, stop, ready) = (
                ws_url.clone(),
                latencies.clone(),
                received.clone(),
                resyncs.clone(),
                stop.clone(),
                ready_tx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                // Spread the handshakes a little, as real clients would arrive.
                tokio::time::sleep(Duration::from_micros((i as u64 % 500) * 200)).await;
                let Ok(Ok((mut socket, _))) = tokio::time::timeout(
                    Duration::from_secs(30),
                    tokio_tungstenite::connect_async(&ws_url),
                )
                .await
                else {
                    let _ = ready.send(false).await;
                    return;
                };
                let mut first = true;
                let mut mine = Vec::new();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        frame = socket.next() => match frame {
                            Some(Ok(Message::Text(text))) => {
                                let now = now_ms();
                                if first {
                                    first = false;
                                    let _ = ready.send(true).await;
                                    continue;
                                }
                                if text.contains("\"type\":\"resync\"") {
                                    resyncs.fetch_add(1, Ordering::Relaxed);
                                }
                                if let Some(ts) = timestamp_of(text.as_str()) {
                                    mine.push((now - ts).max(0.0));
                                    received.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                    }
                }
                latencies.lock().unwrap().extend(mine);
            }));
        }
        drop(ready_tx);
        let mut connected = 0;
        let connect_deadline = Instant::now() + Duration::from_secs(120);
        for _ in 0..n {
            match tokio::time::timeout_at(connect_deadline.into(), ready_rx.recv()).await {
                Ok(Some(true)) => connected += 1,
                Ok(Some(false)) => {}
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle = rss_kib(pid);

        writeln!(child_in, "pump {project} {secs} {rate}").unwrap();
        child_in.flush().unwrap();
        let started = Instant::now();
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            while started.elapsed().as_secs_f64() < secs + 1.0 {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        let published = lines
            .recv()
            .await
            .and_then(|l| {
                l.trim()
                    .strip_prefix("PUMPED ")
                    .and_then(|s| s.parse::<u64>().ok())
            })
            .expect("the child reports what it published");
        let pumped_for = started.elapsed().as_secs_f64();
        // Let the last frames arrive.
        let drain = Instant::now();
        let expected = published * connected as u64;
        while received.load(Ordering::Relaxed) < expected
            && drain.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rss_peak = sampler.await.unwrap();
        stop.cancel();
        for t in tasks {
            let _ = t.await;
        }
        let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| {
            if lat.is_empty() {
                f64::NAN
            } else {
                lat[((lat.len() - 1) as f64 * p) as usize]
            }
        };
        rows.push(Row {
            clients: n,
            connected,
            events: received.load(Ordering::Relaxed),
            published,
            secs: pumped_for,
            p50: pct(0.50),
            p99: pct(0.99),
            max: lat.last().copied().unwrap_or(f64::NAN),
            rss_idle_mib: rss_idle as f64 / 1024.0,
            rss_peak_mib: rss_peak as f64 / 1024.0,
            resyncs: resyncs.load(Ordering::Relaxed),
        });
        eprintln!("done: {n} clients");
    }
    drop(child_in);
    let _ = child.kill();
    let _ = child.wait();

    println!();
    println!(
        "| clients | connected | events published | events delivered | delivered/s | p50 ms | p99 ms | max ms | server RSS idle MiB | server RSS peak MiB | resyncs |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
            r.clients,
            r.connected,
            r.published,
            r.events,
            r.events as f64 / r.secs,
            r.p50,
            r.p99,
            r.max,
            r.rss_idle_mib,
            r.rss_peak_mib,
            r.resyncs
        );
    }
}

/// 10,000 sockets need 10,000 descriptors on each side.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
