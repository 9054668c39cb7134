//! Side by side: minicode's WebSocket fan-out against a Node `ws` relay
//! (`bench/ws-relay/relay.mjs`, written from seed 004's handler), driven by
//! one load client.
//!
//! Each server under test runs as a child pinned to core 0 (`taskset -c 0`):
//! minicode is this binary started with `FANOUT_ROLE=server` (a real
//! `Server`: REST API, event bus, database writer, WebSocket route), the
//! relay is `node relay.mjs`. The load client re-executes itself under
//! `taskset -c 1`, so the two never share a core. A fresh child serves each
//! row, so its peak RSS (`VmHWM`) is that row's alone.
//!
//! Events are file saves: minicode gets `PUT /api/projects/:id/files/:path`
//! with an API token and fans out its `file_end`; the relay gets
//! `POST /save` and broadcasts the same `file_end {path, content}`. The
//! content starts with the saver's clock (`/*sent:<µs>*/`), so each client
//! reads the latency from the frame itself: from just before the save
//! request is sent to the frame's receipt.
//!
//! Run with `cargo bench -p minicode-server --bench fanout_compare`. Knobs:
//! `FANOUT_SIZES` (sockets, default `1000,10000`), `FANOUT_RATE` (saves per
//! second, default 10; `0`: as fast as `FANOUT_SAVERS` concurrent savers,
//! default 4, get answers), `FANOUT_SECS` (default 5), `FANOUT_TARGETS`
//! (default `minicode,relay`), `FANOUT_BYTES` (file size, default 2048).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures::StreamExt;
use minicode_server::config::Config;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

/// Handshakes in flight at once (`FANOUT_CONNECTING`): a burst of 10,000
/// SYNs overflows the listen backlog and turns into 1–3 s retransmits.
const CONNECTING: usize = 256;
/// How long delivery may lag behind the last save before the row ends.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
const MARK: &str = "/*sent:";
/// How long the sockets stay idle after connecting before the idle RSS is read.
const SETTLE: Duration = Duration::from_secs(5);

fn main() {
    if std::env::var("FANOUT_ROLE").as_deref() == Ok("server") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(serve());
        return;
    }
    if std::env::var_os("FANOUT_PINNED").is_none() {
        // The client gets the other core; exec keeps the pid and the output.
        let err = Command::new("taskset")
            .args(["-c", "1"])
            .arg(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("FANOUT_PINNED", "1")
            .exec();
        panic!("could not re-run under `taskset -c 1` (util-linux): {err}");
    }
    // One core: one thread for the clients and the savers.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(drive());
}

/// The minicode child: a real server until its stdin closes.
async fn serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let config = Config::parse_from([
        "minicode",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        &dir.path().join("data").display().to_string(),
        "--database-url",
        &db,
        "--site-root",
        &dir.path().join("site").display().to_string(),
        "--log",
        "error",
        "--auth-rate-per-minute",
        "100000",
    ]);
    let server = minicode_server::Server::start(config).await.unwrap();
    println!("URL {}", server.url());
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = String::new();
    while tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line)
        .await
        .is_ok_and(|n| n > 0)
    {
        line.clear();
    }
    server.stop().await;
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Minicode,
    Relay,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Minicode => "minicode",
            Target::Relay => "relay",
        }
    }
}

/// A server under test, pinned to core 0.
struct Child0 {
    child: Child,
    pid: u32,
    url: String,
}

impl Drop for Child0 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/ws-relay")
}

fn start(target: Target) -> Child0 {
    let mut command = Command::new("taskset");
    command.args(["-c", "0"]);
    match target {
        Target::Minicode => {
            command
                .arg(std::env::current_exe().unwrap())
                .env("FANOUT_ROLE", "server");
        }
        Target::Relay => {
            let dir = relay_dir();
            if !dir.join("node_modules/ws").exists() {
                let status = Command::new("npm")
                    .arg("ci")
                    .current_dir(&dir)
                    .status()
                    .expect("run npm ci in bench/ws-relay");
                assert!(status.success(), "npm ci failed in bench/ws-relay");
            }
            command.args(["node", "relay.mjs"]).current_dir(dir);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server under taskset");
    let pid = child.id();
    // Keep reading the child's output so it never blocks on a full pipe.
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("URL ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{} did not print its URL", target.name()));
    Child0 { child, pid, url }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// CPU time (user, system; all threads) a process has used, in seconds.
fn cpu_secs(pid: &str) -> (f64, f64) {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            // USER_HZ is 100 on Linux.
            Some((utime / 100.0, stime / 100.0))
        })
        .unwrap_or((0.0, 0.0))
}

/// Resets a process's `VmHWM` to its current RSS (Linux's `clear_refs` 5).
fn reset_peak_rss(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("could not reset the peak RSS of {pid} (the peak includes the set-up): {e}");
    }
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `RssAnon`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// A file of exactly `bytes` bytes that starts with the send time.
fn content(sent_us: u64, bytes: usize) -> String {
    const LINE: &str = "export const answer = 42; // padding\n";
    let mut text = format!("{MARK}{sent_us}*/\n");
    while text.len() < bytes {
        text.push_str(LINE);
    }
    text.truncate(bytes.max(text.find('\n').unwrap_or(0) + 1));
    text
}

/// The send time a `file_end` frame carries in its content.
fn sent_of(frame: &str) -> Option<u64> {
    let at = frame.find(MARK)? + MARK.len();
    let digits = &frame[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

/// Where and how to save and connect, per target.
struct Endpoint {
    target: Target,
    http: reqwest::Client,
    base: String,
    project: String,
    token: String,
    ws_url: String,
}

async fn endpoint(target: Target, url: &str, n: usize) -> Endpoint {
    let http = reqwest::Client::new();
    let ws_base = url.replace("http://", "ws://");
    match target {
        Target::Relay => {
            let project = format!("bench-{n}");
            Endpoint {
                target,
                http,
                base: url.to_string(),
                ws_url: format!("{ws_base}/ws?project={project}"),
                project,
                token: String::new(),
            }
        }
        Target::Minicode => {
            // Sign up like a browser (cookie and Origin), then act as a
            // program with an API token.
            let browser = reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap();
            let post = |path: &str, body: Value| {
                browser
                    .post(format!("{url}{path}"))
                    .header("origin", url)
                    .json(&body)
                    .send()
            };
            let registered = post(
                "/api/auth/register",
                json!({"username": "bench", "password": "password123"}),
            )
            .await
            .unwrap();
            assert!(registered.status().is_success(), "register");
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
            let project: Value = post("/api/projects", json!({"name": format!("fan-out {n}")}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let project = project["data"]["id"].as_str().unwrap().to_string();
            Endpoint {
                target,
                http,
                base: url.to_string(),
                ws_url: format!("{ws_base}/ws/{project}?token={token}"),
                project,
                token,
            }
        }
    }
}

impl Endpoint {
    /// One file save; its wall time in ms when it succeeded.
    async fn save(&self, file: usize, bytes: usize) -> Option<f64> {
        let path = format!("src/save{file}.ts");
        let sent = now_us();
        let body = content(sent, bytes);
        let request = match self.target {
            Target::Minicode => self
                .http
                .put(format!(
                    "{}/api/projects/{}/files/{path}",
                    self.base, self.project
                ))
                .bearer_auth(&self.token)
                .json(&json!({ "content": body })),
            Target::Relay => self
                .http
                .post(format!("{}/save", self.base))
                .json(&json!({ "project": self.project, "path": path, "content": body })),
        };
        let started = Instant::now();
        let response = request.send().await.ok()?;
        let ok = response.status().is_success();
        let _ = response.bytes().await;
        ok.then(|| started.elapsed().as_secs_f64() * 1000.0)
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    last_receipt_us: u64,
}

struct Row {
    target: Target,
    sockets: usize,
    connected: usize,
    rate: f64,
    published: u64,
    failed: u64,
    frames: u64,
    frames_per_sec: f64,
    p50: f64,
    p99: f64,
    max: f64,
    save_p50: f64,
    rss_idle_mib: f64,
    /// The anonymous part of `rss_idle_mib` (heap, stacks), without the
    /// executable's and libraries' pages.
    rss_anon_idle_mib: f64,
    rss_connect_peak_mib: f64,
    /// Sockets connected per second during the burst (welcome received).
    handshakes_per_sec: f64,
    rss_peak_mib: f64,
    server_cpu_us: f64,
    /// The kernel's share of the server's CPU time.
    server_sys_pct: f64,
    client_cpu_us: f64,
    load: String,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

async fn drive() {
    let sizes: Vec<usize> = std::env::var("FANOUT_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let targets: Vec<Target> = std::env::var("FANOUT_TARGETS")
        .unwrap_or_else(|_| "minicode,relay".into())
        .split(',')
        .filter_map(|s| match s.trim() {
            "minicode" => Some(Target::Minicode),
            "relay" => Some(Target::Relay),
            _ => None,
        })
        .collect();
    let rate: f64 = env_or("FANOUT_RATE", 10.0);
    let secs: f64 = env_or("FANOUT_SECS", 5.0);
    let savers: usize = env_or("FANOUT_SAVERS", 4usize).max(1);
    let bytes: usize = env_or("FANOUT_BYTES", 2048usize);
    println!(
        "{secs} s of saves per row, {bytes}-byte files, {}; server on core 0, client on core 1",
        if rate > 0.0 {
            format!("{rate} saves/s")
        } else {
            format!("saturation ({savers} concurrent savers)")
        }
    );
    raise_fd_limit();

    let mut rows = Vec::new();
    for &n in &sizes {
        for &target in &targets {
            let row = measure(target, n, rate, secs, savers, bytes).await;
            eprintln!(
                "done: {} × {n}: {:.0} frames/s, p99 {:.1} ms",
                target.name(),
                row.frames_per_sec,
                row.p99
            );
            rows.push(row);
        }
    }

    println!();
    println!(
        "| target | sockets | connected | saves/s | events | failed saves | frames delivered | frames/s | p50 ms | p99 ms | max ms | save p50 ms | server RSS idle MiB | of it anonymous MiB | server RSS peak connecting MiB | server RSS peak saving MiB | handshakes/s | server CPU µs/frame | server CPU in kernel | client CPU µs/frame | load avg |"
    );
    println!(
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.0} % | {:.2} | {} |",
            r.target.name(),
            r.sockets,
            r.connected,
            if r.rate > 0.0 {
                r.rate.to_string()
            } else {
                "max".into()
            },
            r.published,
            r.failed,
            r.frames,
            r.frames_per_sec,
            r.p50,
            r.p99,
            r.max,
            r.save_p50,
            r.rss_idle_mib,
            r.rss_anon_idle_mib,
            r.rss_connect_peak_mib,
            r.rss_peak_mib,
            r.handshakes_per_sec,
            r.server_cpu_us,
            r.server_sys_pct,
            r.client_cpu_us,
            r.load
        );
    }

    let pairs: Vec<(&Row, &Row)> = rows
        .iter()
        .filter(|r| r.target == Target::Minicode)
        .filter_map(|m| {
            rows.iter()
                .find(|r| r.target == Target::Relay && r.sockets == m.sockets)
                .map(|r| (m, r))
        })
        .collect();
    if !pairs.is_empty() {
        println!();
        println!(
            "| sockets | frames/s minicode/relay | p99 minicode/relay | RSS idle minicode/relay | anonymous RSS idle minicode/relay | RSS peak saving minicode/relay | CPU µs/frame minicode/relay |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for (m, r) in pairs {
            println!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                m.sockets,
                m.frames_per_sec / r.frames_per_sec,
                m.p99 / r.p99,
                m.rss_idle_mib / r.rss_idle_mib,
                m.rss_anon_idle_mib / r.rss_anon_idle_mib,
                m.rss_peak_mib / r.rss_peak_mib,
                m.server_cpu_us / r.server_cpu_us
            );
        }
    }
}

async fn measure(
    target: Target,
    n: usize,
    rate: f64,
    secs: f64,
    savers: usize,
    bytes: usize,
) -> Row {
    let server = start(target);
    let pid = server.pid;
    let endpoint = Arc::new(endpoint(target, &server.url, n).await);
    // The peak from here on is the sockets' and the load's, not the set-up's
    // (minicode's sign-up hashes a password with argon2: 19 MiB for a moment).
    reset_peak_rss(pid);

    let received = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let gate = Arc::new(Semaphore::new(
        env_or("FANOUT_CONNECTING", CONNECTING).max(1),
    ));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(n.max(1));
    let connecting_since = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (url, received, seen, stop, gate, ready) = (
            endpoint.ws_url.clone(),
            received.clone(),
            seen.clone(),
            stop.clone(),
            gate.clone(),
            ready_tx.clone(),
        );
        clients.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            // Small buffers: 10,000 clients share this process.
            let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
            let Ok(Ok((mut socket, _))) = tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async_with_config(url, Some(config), true),
            )
            .await
            else {
                let _ = ready.send(false).await;
                return;
            };
            let mut mine = Vec::new();
            let mut last = 0;
            let mut permit = Some(permit);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    frame = socket.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let now = now_us();
                            // The welcome (`connection_established` /
                            // `connection:established`) ends the handshake.
                            if permit.take().is_some() {
                                let _ = ready.send(true).await;
                                continue;
                            }
                            if let Some(sent) = sent_of(text.as_str()) {
                                mine.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                                last = now;
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            let mut seen = seen.lock().unwrap();
            seen.latencies_us.extend(mine);
            seen.last_receipt_us = seen.last_receipt_us.max(last);
        }));
    }
    drop(ready_tx);
    let mut connected = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..n {
        match tokio::time::timeout_at(deadline.into(), ready_rx.recv()).await {
            Ok(Some(true)) => connected += 1,
            Ok(Some(false)) => {}
            _ => break,
        }
    }
    let handshakes_per_sec = connected as f64 / connecting_since.elapsed().as_secs_f64();
    // Idle means settled: the memory of the connection burst (handshakes,
    // authentication) is given back within a few seconds, by both targets.
    tokio::time::sleep(SETTLE).await;
    let rss_idle = status_kib(pid, "VmRSS:");
    let rss_anon_idle = status_kib(pid, "RssAnon:");
    // The peak so far is the connection burst's; the next is the saves'.
    let rss_connect_peak = status_kib(pid, "VmHWM:");
    reset_peak_rss(pid);
    let load = load_average();
    let cpu_before = (cpu_secs(&pid.to_string()), cpu_secs("self"));
    // For attaching a profiler (`perf record -p`, `strace -c -p`) by hand.
    eprintln!(
        "{} pid {pid}: {connected} of {n} sockets connected, saving for {secs} s",
        target.name()
    );

    let start_us = now_us();
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(secs);
    let mut saves = Vec::new();
    if rate > 0.0 {
        // Open loop: a slow save does not delay the next one.
        for i in 0.. {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let endpoint = endpoint.clone();
            saves.push(tokio::spawn(async move {
                vec![endpoint.save(i % savers, bytes).await]
            }));
        }
    } else {
        for k in 0..savers {
            let endpoint = endpoint.clone();
            saves.push(tokio::spawn(async move {
                let mut done = Vec::new();
                while Instant::now() < end {
                    done.push(endpoint.save(k, bytes).await);
                }
                done
            }));
        }
    }
    let mut save_ms = Vec::new();
    let mut failed = 0;
    for task in saves {
        for save in task.await.unwrap() {
            match save {
                Some(ms) => save_ms.push(ms),
                None => failed += 1,
            }
        }
    }
    let published = save_ms.len() as u64;

    // Let the last frames arrive; stop early when delivery has stalled.
    let expected = published * connected as u64;
    let drain = Instant::now();
    let (mut last_count, mut last_change) = (0, Instant::now());
    while received.load(Ordering::Relaxed) < expected && drain.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let count = received.load(Ordering::Relaxed);
        if count != last_count {
            (last_count, last_change) = (count, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let server_after = cpu_secs(&pid.to_string());
    let (server_user, server_sys) = (
        server_after.0 - cpu_before.0.0,
        server_after.1 - cpu_before.0.1,
    );
    let server_cpu = server_user + server_sys;
    let client_after = cpu_secs("self");
    let client_cpu = client_after.0 + client_after.1 - cpu_before.1.0 - cpu_before.1.1;
    let rss_peak = status_kib(pid, "VmHWM:");
    drop(server);
    stop.cancel();
    for client in clients {
        let _ = client.await;
    }

    let Seen {
        mut latencies_us,
        last_receipt_us,
    } = std::mem::take(&mut *seen.lock().unwrap());
    latencies_us.sort_unstable();
    let pct = |p: f64| {
        if latencies_us.is_empty() {
            f64::NAN
        } else {
            latencies_us[((latencies_us.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    save_ms.sort_by(f64::total_cmp);
    let frames = latencies_us.len() as u64;
    let span = last_receipt_us.saturating_sub(start_us).max(1) as f64 / 1e6;
    Row {
        target,
        sockets: n,
        connected,
        rate,
        published,
        failed,
        frames,
        frames_per_sec: frames as f64 / span,
        p50: pct(0.50),
        p99: pct(0.99),
        max: pct(1.0),
        save_p50: save_ms.get(save_ms.len() / 2).copied().unwrap_or(f64::NAN),
        rss_idle_mib: rss_idle as f64 / 1024.0,
        rss_anon_idle_mib: rss_anon_idle as f64 / 1024.0,
        rss_connect_peak_mib: rss_connect_peak as f64 / 1024.0,
        handshakes_per_sec,
        rss_peak_mib: rss_peak as f64 / 1024.0,
        server_cpu_us: server_cpu * 1e6 / frames.max(1) as f64,
        server_sys_pct: 100.0 * server_sys / server_cpu.max(f64::MIN_POSITIVE),
        client_cpu_us: client_cpu * 1e6 / frames.max(1) as f64,
        load,
    }
}

/// 10,000 sockets need 10,000 descriptors on each side (the children
/// inherit the limit).
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
