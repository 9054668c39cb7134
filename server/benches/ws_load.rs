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
//! creation to its receipt: the pump reads the clock (µs) just before it
//! publishes each event and reports the times by seq after the run; each
//! client reads the same clock when a frame arrives.
//!
//! Both processes share the machine's cores: the figures are those of the
//! server and its N clients together. To tell them apart the bench reports
//! the CPU time each process spent per frame delivered (user + system, from
//! `/proc`; the kernel's loopback delivery to a client is mostly charged to
//! the server's write), and the load average when each size started.
//!
//! Run with `cargo bench --bench ws_load` (sizes: `WS_LOAD_SIZES=100,1000`;
//! seconds of load per size: `WS_LOAD_SECS=5`; a cap on published events
//! per second: `WS_LOAD_RATE=200`, default none; worker threads of the
//! clients' runtime: `WS_LOAD_CLIENT_THREADS=1`, default one per core).

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
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var("MINICODE_BENCH_ROLE").as_deref() == Ok("server") {
        builder.build().unwrap().block_on(serve());
    } else {
        if let Some(threads) = std::env::var("WS_LOAD_CLIENT_THREADS")
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            builder.worker_threads(threads.max(1));
        }
        builder.build().unwrap().block_on(drive());
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
            let times = pump(&server.state, project, Duration::from_secs_f64(secs), rate).await;
            let times: Vec<String> = times.iter().map(|(seq, t)| format!("{seq}:{t}")).collect();
            println!("PUMPED {}", times.join(","));
        }
    }
    server.stop().await;
}

/// Streams offline answers and publishes their chunks for `length`, at most
/// `rate` events per second (0: as fast as the generator goes). Returns each
/// published event's seq and the time (µs since the epoch) just before its
/// publication.
async fn pump(
    state: &minicode_server::state::AppState,
    project: Uuid,
    length: Duration,
    rate: f64,
) -> Vec<(u64, u64)> {
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
    let mut times = Vec::new();
    // The only publisher of this project: seqs are dense, so the n-th
    // event published gets `base + n`.
    let base = state.events.last_seq(project).await.unwrap_or(0);
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
                let created = now_us();
                if state.events.publish(project, event).await.is_ok() {
                    times.push((base + times.len() as u64 + 1, created));
                }
                if rate > 0.0 {
                    let due = start + Duration::from_secs_f64(times.len() as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            if Instant::now() >= end {
                break;
            }
        }
    }
    times
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// CPU time (user + system, all threads) a process has used, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            // USER_HZ is 100 on Linux.
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
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

/// The envelope's `"seq":123` without parsing the whole frame (it follows
/// the payload, where a quote inside a string is escaped).
fn seq_of(frame: &str) -> Option<u64> {
    let at = frame.rfind("\"seq\":")? + "\"seq\":".len();
    let digits = &frame[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
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
    server_cpu_us: f64,
    client_cpu_us: f64,
    load: String,
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
        "{secs} s of load per size; publish rate: {}; client worker threads: {}",
        if rate > 0.0 {
            format!("{rate} events/s")
        } else {
            "the offline generator at full speed".into()
        },
        std::env::var("WS_LOAD_CLIENT_THREADS").unwrap_or_else(|_| "one per core".into())
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
    let token: Value = post(
        "/api/auth/tokens",
        json!({"name": "bench", "password": "password123"}),
    )
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

        // (seq, receipt in µs) of every frame every client got.
        let receipts = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::with_capacity(
            1 << 20,
        )));
        let received = Arc::new(AtomicU64::new(0));
        let resyncs = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(n.max(1));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (ws_url, receipts, received, resyncs, stop, ready) = (
                ws_url.clone(),
                receipts.clone(),
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
                                let now = now_us();
                                if first {
                                    first = false;
                                    let _ = ready.send(true).await;
                                    continue;
                                }
                                if text.contains("\"type\":\"resync\"") {
                                    resyncs.fetch_add(1, Ordering::Relaxed);
                                }
                                if let Some(seq) = seq_of(text.as_str()) {
                                    mine.push((seq, now));
                                    received.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                    }
                }
                receipts.lock().unwrap().extend(mine);
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
        let load = load_average();
        let (server_cpu, client_cpu) = (cpu_secs(&pid.to_string()), cpu_secs("self"));

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
        let created: std::collections::HashMap<u64, u64> = lines
            .recv()
            .await
            .and_then(|l| {
                l.trim().strip_prefix("PUMPED").map(|list| {
                    list.split(',')
                        .filter_map(|pair| {
                            let (seq, t) = pair.trim().split_once(':')?;
                            Some((seq.parse().ok()?, t.parse().ok()?))
                        })
                        .collect()
                })
            })
            .expect("the child reports what it published");
        let published = created.len() as u64;
        // Let the last frames arrive.
        let drain = Instant::now();
        let expected = published * connected as u64;
        while received.load(Ordering::Relaxed) < expected
            && drain.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let delivered_for = started.elapsed().as_secs_f64();
        let server_cpu = cpu_secs(&pid.to_string()) - server_cpu;
        let client_cpu = cpu_secs("self") - client_cpu;
        let rss_peak = sampler.await.unwrap();
        stop.cancel();
        for t in tasks {
            let _ = t.await;
        }
        let receipts = std::mem::take(&mut *receipts.lock().unwrap());
        let mut lat: Vec<f64> = receipts
            .iter()
            .filter_map(|(seq, at)| {
                let created = created.get(seq)?;
                Some(at.saturating_sub(*created) as f64 / 1000.0)
            })
            .collect();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| {
            if lat.is_empty() {
                f64::NAN
            } else {
                lat[((lat.len() - 1) as f64 * p) as usize]
            }
        };
        let frames = received.load(Ordering::Relaxed);
        rows.push(Row {
            clients: n,
            connected,
            events: frames,
            published,
            secs: delivered_for,
            p50: pct(0.50),
            p99: pct(0.99),
            max: lat.last().copied().unwrap_or(f64::NAN),
            rss_idle_mib: rss_idle as f64 / 1024.0,
            rss_peak_mib: rss_peak as f64 / 1024.0,
            resyncs: resyncs.load(Ordering::Relaxed),
            server_cpu_us: server_cpu * 1e6 / frames.max(1) as f64,
            client_cpu_us: client_cpu * 1e6 / frames.max(1) as f64,
            load,
        });
        eprintln!("done: {n} clients");
    }
    drop(child_in);
    let _ = child.kill();
    let _ = child.wait();

    println!();
    println!(
        "| clients | connected | events published | frames delivered | frames/s | p50 ms | p99 ms | max ms | server RSS idle MiB | server RSS peak MiB | resyncs | server CPU µs/frame | clients CPU µs/frame | load avg |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {} |",
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
            r.resyncs,
            r.server_cpu_us,
            r.client_cpu_us,
            r.load
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
