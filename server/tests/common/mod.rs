//! Test harness: the real server on a free port of 127.0.0.1, with a fresh
//! SQLite file, or a fresh PostgreSQL database when
//! `MINICODE_TEST_DATABASE_URL` points at a PostgreSQL server (scripts/test
//! runs the suite once per backend).

#![allow(dead_code)]

pub mod fake_llm;
pub mod hmr;
pub mod scripted;

use clap::Parser;
use minicode_server::Server;
use minicode_server::config::Config;
use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};
use serde_json::{Value, json};
use sqlx::Connection;

pub struct TestApp {
    pub server: Server,
    pub url: String,
    pub dir: tempfile::TempDir,
    /// `(admin url, database)` of the PostgreSQL database made for this test.
    pg: Option<(String, String)>,
    /// The command line the server was started with (for `restart`).
    args: Vec<String>,
}

/// Which database the suite runs on, for messages.
pub fn backend_name() -> &'static str {
    if std::env::var("MINICODE_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A database URL for one test: a new SQLite file, or a new PostgreSQL
/// database (returned with the admin URL, to drop it afterwards).
pub async fn database_url(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("MINICODE_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("minicode_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to MINICODE_TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            let (base, query) = match admin.split_once('?') {
                Some((_, q)) => (
                    base.split('?').next().unwrap_or(base).to_string(),
                    format!("?{q}"),
                ),
                None => (base.to_string(), String::new()),
            };
            (format!("{base}/{name}{query}"), Some((admin, name)))
        }
        _ => (
            format!("sqlite://{}?mode=rwc", dir.join("minicode.db").display()),
            None,
        ),
    }
}

/// Drops a PostgreSQL database made by [`database_url`] (nothing for SQLite).
pub async fn drop_database(pg: Option<(String, String)>) {
    if let Some((admin, name)) = pg
        && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

/// Flags every test server gets; `extra` can override them (last one wins).
pub async fn spawn_with(extra: &[&str]) -> TestApp {
    spawn_prepared(extra, |_| async {}).await
}

/// Like [`spawn_with`], but `prepare` gets the test's new, empty database
/// URL first, to put data there before the server migrates it.
pub async fn spawn_prepared<F, Fut>(extra: &[&str], prepare: F) -> TestApp
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_url, pg) = database_url(dir.path()).await;
    prepare(db_url.clone()).await;
    let data_dir = dir.path().join("data");
    let site_root = dir.path().join("site");
    let mut args: Vec<String> = vec![
        "minicode".into(),
        "--addr".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--database-url".into(),
        db_url,
        "--site-root".into(),
        site_root.display().to_string(),
        "--auth-rate-per-minute".into(),
        "10000".into(),
        // Tests sign up many users; the invite flow has its own tests.
        "--registration".into(),
        "open".into(),
        "--log".into(),
        "warn".into(),
        // One npm cache for every test server, so only the first install downloads.
        "--sandbox-cache-dir".into(),
        shared_sandbox_cache().display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let config = Config::parse_from(args.clone());
    let server = Server::start(config).await.expect("server starts");
    let url = server.url();
    TestApp {
        server,
        url,
        dir,
        pg,
        args,
    }
}

/// The npm cache and module snapshots shared by all tests (kept between runs).
pub fn shared_sandbox_cache() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-sandbox-cache")
}

pub async fn spawn() -> TestApp {
    spawn_with(&[]).await
}

/// A browser-like client: keeps cookies and sends our Origin on every request.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    /// The browser's cookies (minicode's session, preview hosts' passes).
    pub jar: Option<std::sync::Arc<BrowserJar>>,
}

/// The cookie jar of a browser: `*.localhost` is a secure context there
/// (the preview hosts' `Secure` cookie is kept and sent over http), which
/// the plain jar only grants to `localhost` itself.
pub struct BrowserJar(reqwest::cookie::Jar);

impl BrowserJar {
    fn secure_view(url: &reqwest::Url) -> reqwest::Url {
        let mut url = url.clone();
        if url.scheme() == "http" && url.host_str().is_some_and(|h| h.ends_with(".localhost")) {
            let _ = url.set_scheme("https");
        }
        url
    }
}

impl reqwest::cookie::CookieStore for BrowserJar {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &reqwest::Url) {
        self.0.set_cookies(headers, &Self::secure_view(url));
    }

    fn cookies(&self, url: &reqwest::Url) -> Option<HeaderValue> {
        self.0.cookies(&Self::secure_view(url))
    }
}

/// Resolves every name to 127.0.0.1, as browsers do for `*.localhost`
/// (the preview hosts); the URL's port is kept.
struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(std::net::SocketAddr::from(
                ([127, 0, 0, 1], 0),
            )));
            Ok(addrs)
        })
    }
}

impl TestApp {
    pub fn client(&self) -> Client {
        Client::for_url(&self.url)
    }

    /// A client with no cookies and no Origin (curl-like).
    pub fn bare_client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(std::sync::Arc::new(Loopback))
                .build()
                .unwrap(),
            base: self.url.clone(),
            jar: None,
        }
    }

    /// A new user with a new project: the user's client and the project's id.
    pub async fn user_with_project(&self, user: &str, project: &str) -> (Client, String) {
        let client = self.user(user).await;
        let pid = client.project(project).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        (client, pid)
    }

    /// Registers `username` with a fixed password and returns its signed-in client.
    pub async fn user(&self, username: &str) -> Client {
        let client = self.client();
        let res = client
            .post(
                "/api/auth/register",
                &json!({"username": username, "password": "password123"}),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "register {username}: {}",
            res.text().await.unwrap()
        );
        client
    }

    /// Stops the server the way SIGTERM does and starts a new one on the same
    /// address, database and data directory (clients keep their cookies).
    pub async fn restart(self) -> TestApp {
        let addr = self.server.addr;
        self.server.stop().await;
        let mut args = self.args.clone();
        args.push("--addr".into());
        args.push(addr.to_string());
        let server = Server::start(Config::parse_from(args.clone()))
            .await
            .expect("server restarts");
        TestApp {
            url: server.url(),
            server,
            dir: self.dir,
            pg: self.pg,
            args: self.args,
        }
    }

    /// Another instance on this test's database, with its own data folder
    /// and port (`extra` flags last). Stop it before the test's app.
    pub async fn another_instance(&self, name: &str, extra: &[&str]) -> Server {
        let mut args = self.args.clone();
        args.push("--data-dir".into());
        args.push(
            self.dir
                .path()
                .join(format!("data-{name}"))
                .display()
                .to_string(),
        );
        args.push("--addr".into());
        args.push("127.0.0.1:0".into());
        args.push("--instance-id".into());
        args.push(name.into());
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start(Config::parse_from(args))
            .await
            .expect("another instance starts")
    }

    /// Every event in a project's log, oldest first.
    pub async fn logged_events(
        &self,
        project: uuid::Uuid,
    ) -> Vec<std::sync::Arc<minicode_server::events::Frame>> {
        // Events reach the log once stored: wait for what is queued.
        self.server.state.events.flush().await;
        self.server
            .state
            .events
            .replay(project, 0, u64::MAX)
            .await
            .expect("the event log")
    }

    /// The database URL the server was started with (its own database).
    pub fn database_url(&self) -> String {
        self.args
            .iter()
            .skip_while(|a| *a != "--database-url")
            .nth(1)
            .cloned()
            .expect("--database-url")
    }

    /// Stops the server and drops the test's PostgreSQL database.
    pub async fn stop(self) {
        self.server.stop().await;
        drop_database(self.pg).await;
    }
}

impl Client {
    /// A client of `base` signed in as `username` (password `password123`):
    /// the same account on another instance.
    pub async fn signed_in(base: &str, username: &str) -> Client {
        let client = Client::for_url(base);
        let res = client
            .post(
                "/api/auth/login",
                &json!({"username": username, "password": "password123"}),
            )
            .await;
        assert_eq!(res.status(), 200, "sign in {username} at {base}");
        client
    }

    /// A new API token of the signed-in user (`scope`: `read` or `full`),
    /// made with the test password; its secret.
    pub async fn api_token(&self, scope: &str) -> String {
        let res = self
            .post(
                "/api/auth/tokens",
                &json!({"name": format!("test-{scope}"), "password": "password123", "scope": scope}),
            )
            .await;
        assert_eq!(res.status(), 201, "a {scope} token");
        let created: Value = res.json().await.unwrap();
        created["data"]["secret"].as_str().unwrap().to_string()
    }

    /// A browser-like client of a server this test did not start itself.
    pub fn for_url(base: &str) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(base).unwrap());
        let jar = std::sync::Arc::new(BrowserJar(reqwest::cookie::Jar::default()));
        Client {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(std::sync::Arc::new(Loopback))
                .build()
                .unwrap(),
            base: base.to_string(),
            jar: Some(jar),
        }
    }

    /// GETs `path` on minicode (`/preview/<id>/…`) and follows the redirects
    /// a browser would: onto the project's preview host with a ticket, then
    /// to the page itself. Returns the last answer.
    pub async fn preview(&self, path: &str) -> reqwest::Response {
        let mut url = reqwest::Url::parse(&self.url(path)).unwrap();
        let mut res = self.http.get(url.clone()).send().await.unwrap();
        for _ in 0..4 {
            if !res.status().is_redirection() {
                break;
            }
            let location = res.headers()["location"].to_str().unwrap().to_string();
            url = url.join(&location).unwrap();
            res = self.http.get(url.clone()).send().await.unwrap();
        }
        res
    }

    /// The preview host of `project` as a URL (`http://<id>.preview.localhost:<port>`).
    pub fn preview_origin(&self, project: &str) -> String {
        let port = reqwest::Url::parse(&self.base).unwrap().port().unwrap();
        format!("http://{project}.preview.localhost:{port}")
    }

    /// The cookies this client would send to `url`.
    pub fn cookies_for(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let jar = self.jar.as_ref()?;
        jar.cookies(&reqwest::Url::parse(url).unwrap())
            .and_then(|v| v.to_str().ok().map(str::to_string))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Waits until the project's run has ended (complete, failed or
    /// cancelled) and returns its snapshot.
    pub async fn run_ended(&self, pid: &str, limit: std::time::Duration) -> Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let res = self.get(&format!("/api/projects/{pid}/state")).await;
            assert_eq!(res.status(), 200, "GET state");
            let snap = res.json::<Value>().await.unwrap()["data"].clone();
            if ["complete", "failed", "cancelled"].contains(&snap["state"].as_str().unwrap_or("")) {
                return snap;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run never ended: {snap}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Creates a project and returns its JSON.
    pub async fn project(&self, name: &str) -> Value {
        let res = self
            .post(
                "/api/projects",
                &json!({"name": name, "description": format!("{name} description")}),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json::<Value>().await.unwrap()["data"].clone()
    }
}

/// Asserts the `{error, code, status}` shape and returns the code.
/// Runs the real git CLI as `who` (`who@example.invalid`), with none of
/// this machine's configuration; asserts it worked and returns its output.
pub fn git(dir: &std::path::Path, who: &str, args: &[&str]) -> String {
    let email = format!("{who}@example.invalid");
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", who)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", who)
        .env("GIT_COMMITTER_EMAIL", &email)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub async fn error_code(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["code"].as_str().expect("code").to_string()
}

/// Polls `check` every 100 ms until it is true or `limit` passes.
pub async fn wait_until<F, Fut>(limit: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// Pids of live processes started by a project's sandbox: every sandboxed
/// process carries `MINICODE_SANDBOX_PROJECT=<id>` in its environment.
pub fn sandbox_pids(project: &str) -> Vec<i32> {
    let needle = format!("MINICODE_SANDBOX_PROJECT={project}");
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false);
        if !zombie
            && environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// The files of the small Vite + React fixture app, relative paths and contents.
pub fn fixture_app() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vite-app");
    let mut files = Vec::new();
    for rel in [
        "package.json",
        "index.html",
        "vite.config.ts",
        "tsconfig.json",
        "src/main.tsx",
        "src/App.tsx",
    ] {
        files.push((
            rel.to_string(),
            std::fs::read_to_string(root.join(rel)).unwrap(),
        ));
    }
    files
}

impl Client {
    /// Writes the fixture app into a project through the files API.
    pub async fn upload_fixture(&self, project: &str) {
        for (path, content) in fixture_app() {
            let res = self
                .put(
                    &format!("/api/projects/{project}/files/{path}"),
                    &json!({"content": content}),
                )
                .await;
            assert_eq!(res.status(), 200, "PUT {path}");
        }
    }
}

/// A project running the fixture app; returns its id.
pub async fn running_fixture(app: &TestApp, owner: &Client, name: &str) -> String {
    let pid = owner.project(name).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner.upload_fixture(&pid).await;
    app.server
        .state
        .sandboxes
        .ensure_running(
            uuid::Uuid::parse_str(&pid).unwrap(),
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .expect("the fixture app starts");
    pid
}

/// What a generation run's later phase does, on any sandbox backend:
/// install, then start. The dev server keeps running when the dependencies
/// did not change, and is stopped before they are installed again when they
/// did; a restart follows. None of it reports a crash or a port already in
/// use. `running(project)` names what the backend runs for the project
/// (process ids, container ids): all still there while the server is kept.
pub async fn later_phase_keeps_or_restarts(app: &TestApp, running: impl Fn(&str) -> Vec<String>) {
    use tokio_util::sync::CancellationToken;

    let owner = app.user("phaseowner").await;
    let project = owner.project("Two phases").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let sandboxes = &app.server.state.sandboxes;
    let cancel = CancellationToken::new();
    owner.upload_fixture(&pid).await;
    let url = sandboxes.ensure_running(id, &cancel).await.expect("starts");
    let first = running(&pid);
    assert!(!first.is_empty());
    let upstream = sandboxes.upstream(id).expect("running");

    // Same dependencies: the server is left alone and keeps serving.
    sandboxes.install(id, &cancel).await.expect("up to date");
    assert_eq!(sandboxes.upstream(id), Some(upstream), "still serving");
    sandboxes.start(id, &cancel).await.expect("already running");
    assert_eq!(sandboxes.upstream(id), Some(upstream));
    // Still running (Vite may have started helpers since, such as esbuild).
    let now = running(&pid);
    assert!(
        first.iter().all(|p| now.contains(p)),
        "the same dev server: {first:?} / {now:?}"
    );
    assert_eq!(owner.preview(&url).await.status(), 200);

    // Changed dependencies: stopped before npm touches node_modules.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vite-app/package.json"
    );
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    package["dependencies"]["react"] = json!(">=19.1.0 <20");
    let res = owner
        .put(
            &format!("/api/projects/{pid}/files/package.json"),
            &json!({"content": serde_json::to_string_pretty(&package).unwrap()}),
        )
        .await;
    assert_eq!(res.status(), 200);
    sandboxes.install(id, &cancel).await.expect("reinstalls");
    assert!(sandboxes.upstream(id).is_none(), "stopped for the install");
    let now = running(&pid);
    assert!(
        first.iter().all(|p| !now.contains(p)),
        "the old dev server is gone: {first:?} / {now:?}"
    );
    sandboxes.start(id, &cancel).await.expect("starts again");
    assert_eq!(owner.preview(&url).await.status(), 200);
    // A restart (the API's, or the user's) is not a crash either.
    sandboxes.restart(id, &cancel).await.expect("restarts");
    assert_eq!(owner.preview(&url).await.status(), 200);

    let frames = app.logged_events(id).await;
    for frame in &frames {
        assert!(
            !frame.json().contains("SANDBOX_CRASHED") && !frame.json().contains("already in use"),
            "{}",
            frame.json()
        );
    }
    let started = frames.iter().filter(|f| f.kind == "server_started").count();
    assert_eq!(started, 3, "one start per dev server");
}

/// A hostile app: its `vite.config.ts` (code that runs in the dev server)
/// tries every reach an attacker with an account would, against a victim
/// project running beside it. Every attempt fails; the victim, the database
/// and the shared modules are unchanged; a symlink it plants is never
/// followed by the server.
pub async fn hostile_app_reaches_nothing(app: &TestApp) {
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;
    use uuid::Uuid;

    let cancel = CancellationToken::new();
    let sandboxes = &app.server.state.sandboxes;

    let victim_owner = app.user("victim").await;
    let victim = victim_owner.project("Victim").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    victim_owner.upload_fixture(&victim).await;
    let victim_id = Uuid::parse_str(&victim).unwrap();
    sandboxes
        .ensure_running(victim_id, &cancel)
        .await
        .expect("the victim runs");
    let victim_port = sandboxes.upstream(victim_id).expect("running").port();

    let attacker = app.user("attacker").await;
    let evil = attacker.project("Evil").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let evil_id = Uuid::parse_str(&evil).unwrap();
    attacker.upload_fixture(&evil).await;
    // The attacker knows the host's paths (the worst case).
    let data_dir = app.dir.path().join("data");
    let db = app.dir.path().join("minicode.db");
    let victim_file = data_dir.join(format!("workspaces/{victim}/src/App.tsx"));
    let targets = json!({
        "db": db.display().to_string(),
        "dataDir": data_dir.display().to_string(),
        "victimFile": victim_file.display().to_string(),
        "serverPid": std::process::id(),
        "minicodePort": app.server.addr.port(),
        "victimPort": victim_port,
    });
    let hostile_config = r#"import { defineConfig } from 'vite';
import * as fs from 'node:fs';
import * as net from 'node:net';

const t = JSON.parse(fs.readFileSync('./targets.json', 'utf8'));
const report = {};
const attempt = (name, f) => {
  try { f(); report[name] = 'reached'; } catch { report[name] = 'blocked'; }
};
const connect = (name, port) => new Promise((done) => {
  const s = net.connect(port, '127.0.0.1');
  const end = (result) => { report[name] = result; s.destroy(); done(); };
  s.on('connect', () => end('reached'));
  s.on('error', () => end('blocked'));
  setTimeout(() => end('blocked'), 2000);
});

export default defineConfig(async () => {
  attempt('database', () => fs.readFileSync(t.db));
  attempt('data_dir', () => fs.readdirSync(t.dataDir));
  attempt('sibling_workspace', () => fs.readFileSync(t.victimFile));
  attempt('server_environ', () => fs.readFileSync(`/proc/${t.serverPid}/environ`));
  attempt('write_data_dir', () => fs.writeFileSync(`${t.dataDir}/pwned`, 'x'));
  attempt('write_system', () => fs.writeFileSync('/usr/pwned', 'x'));
  attempt('shared_module', () => fs.appendFileSync('node_modules/react/index.js', '//pwned'));
  attempt('replace_shared_module', () => fs.rmSync('node_modules/react', { recursive: true }));
  await connect('minicode_port', t.minicodePort);
  await connect('victim_dev_server', t.victimPort);
  // Links the server might follow later: planting them is allowed.
  fs.symlinkSync(t.db, 'db-link.txt');
  fs.rmSync('package.json');
  fs.symlinkSync(t.db, 'package.json');
  fs.writeFileSync('attack-report.json', JSON.stringify(report));
  return { esbuild: { jsx: 'automatic' } };
});
"#;
    // Its own install script, and a dependency no other project has, so the
    // install really runs: the project's scripts must never run.
    let fixture = fixture_app();
    let mut package: Value =
        serde_json::from_str(&fixture.iter().find(|(p, _)| p == "package.json").unwrap().1)
            .unwrap();
    package["scripts"]["postinstall"] =
        json!("node -e \"require('fs').writeFileSync('postinstall-ran', 'x')\"");
    package["scripts"]["preinstall"] = json!("touch preinstall-ran");
    package["dependencies"]["is-number"] = json!("^7.0.0");
    for (path, content) in [
        ("targets.json", targets.to_string()),
        ("vite.config.ts", hostile_config.to_string()),
        (
            "package.json",
            serde_json::to_string_pretty(&package).unwrap(),
        ),
    ] {
        let res = attacker
            .put(
                &format!("/api/projects/{evil}/files/{path}"),
                &json!({"content": content}),
            )
            .await;
        assert_eq!(res.status(), 200, "PUT {path}");
    }
    sandboxes
        .ensure_running(evil_id, &cancel)
        .await
        .expect("the hostile app starts");

    let report_path = app
        .server
        .state
        .workspaces
        .dir(evil_id)
        .join("attack-report.json");
    assert!(
        wait_until(Duration::from_secs(30), || async { report_path.is_file() }).await,
        "the hostile config never ran"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).expect("the report");
    let attempts = report.as_object().unwrap();
    assert_eq!(attempts.len(), 10, "{report}");
    for (name, result) in attempts {
        assert_eq!(result, "blocked", "{name} was reached: {report}");
    }

    let workspace = app.server.state.workspaces.dir(evil_id);
    for marker in ["postinstall-ran", "preinstall-ran"] {
        assert!(!workspace.join(marker).exists(), "the project's {marker}");
    }

    // Nothing changed outside the attacker's workspace.
    assert!(!data_dir.join("pwned").exists());
    let victim_app = victim_owner
        .get(&format!("/api/projects/{victim}/files/src/App.tsx"))
        .await;
    assert_eq!(victim_app.status(), 200);
    let fixture_app = fixture_app()
        .into_iter()
        .find(|(p, _)| p == "src/App.tsx")
        .unwrap()
        .1;
    let victim_body: Value = victim_app.json().await.unwrap();
    assert_eq!(victim_body["data"]["content"], fixture_app.as_str());
    assert_eq!(
        victim_owner
            .preview(&format!("/preview/{victim}/"))
            .await
            .status(),
        200,
        "the victim still runs on its own modules"
    );

    // The planted links are never followed by the server: not to read, not
    // to write, not for the install's package.json.
    let res = attacker
        .get(&format!("/api/projects/{evil}/files/db-link.txt"))
        .await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("SQLite format"),
        "{status}: the database leaked"
    );
    let res = attacker
        .put(
            &format!("/api/projects/{evil}/files/db-link.txt"),
            &json!({"content": "overwritten"}),
        )
        .await;
    assert_eq!(res.status(), 422, "a write through the planted link");
    sandboxes.stop(evil_id).await;
    let err = sandboxes
        .install(evil_id, &cancel)
        .await
        .expect_err("package.json is a link now");
    assert!(
        matches!(err, minicode_server::sandbox::SandboxError::NoPackageJson),
        "{err}"
    );
    if db.exists() {
        let head = std::fs::read(&db).unwrap();
        assert!(
            head.starts_with(b"SQLite format 3"),
            "the database is intact"
        );
    }
    // The server itself is fine: its database answers.
    assert_eq!(victim_owner.get("/api/projects").await.status(), 200);
    sandboxes.stop(victim_id).await;
}
