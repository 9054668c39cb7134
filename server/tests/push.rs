//! Pushing a project to another repository: to a local bare repository
//! (file remotes allowed, as for tests), "in sync" after; a commit made in
//! another clone makes it "behind", a change here "diverged"; a push then
//! is refused (409, the remote unchanged) unless forced, and a forced push
//! leaves the remote at our head. Credentials: listed without their token,
//! stored encrypted, handed to git (a minicode clone URL over the loopback
//! answers only with them), and never in an answer.

mod common;

use common::{Client, spawn_with};
use serde_json::{Value, json};

async fn put_file(client: &Client, pid: &str, path: &str, content: &str) {
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/{path}"),
            &json!({"content": content}),
        )
        .await;
    assert_eq!(res.status(), 200, "save {path}");
}

async fn remote_state(client: &Client, pid: &str) -> Value {
    let res = client.get(&format!("/api/projects/{pid}/remote")).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn push(client: &Client, pid: &str, force: bool) -> (u16, Value) {
    let res = client
        .post(
            &format!("/api/projects/{pid}/remote/push"),
            &json!({"force": force}),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn push_to_a_bare_repository_and_refuse_divergence() {
    let app = spawn_with(&["--git-allow-file-remotes"]).await;
    let client = app.user("pusher").await;
    let pid = client.project("Pushy").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&client, &pid, "index.html", "<h1>one</h1>\n").await;
    let root = tempfile::tempdir().unwrap();
    common::git(
        root.path(),
        "other",
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "origin.git",
        ],
    );
    let bare = root.path().join("origin.git");
    let url = format!("file://{}", bare.display());

    // No remote yet.
    let res = client.get(&format!("/api/projects/{pid}/remote")).await;
    assert_eq!(res.status(), 404);
    let res = client
        .put(&format!("/api/projects/{pid}/remote"), &json!({"url": url}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(remote_state(&client, &pid).await["state"], "empty");

    let (status, pushed) = push(&client, &pid, false).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["data"]["state"], "in_sync", "{pushed}");
    let ours = pushed["data"]["localHead"].as_str().unwrap().to_string();
    assert_eq!(common::git(&bare, "other", &["rev-parse", "main"]), ours);
    assert_eq!(remote_state(&client, &pid).await["state"], "in_sync");

    // Someone else pushes on top: the remote is ahead of us.
    common::git(
        root.path(),
        "other",
        &["clone", "--quiet", "origin.git", "other"],
    );
    let other = root.path().join("other");
    std::fs::write(other.join("theirs.txt"), "theirs\n").unwrap();
    common::git(&other, "other", &["add", "-A"]);
    common::git(&other, "other", &["commit", "--quiet", "-m", "theirs"]);
    common::git(&other, "other", &["push", "--quiet", "origin", "HEAD:main"]);
    let theirs = common::git(&bare, "other", &["rev-parse", "main"]);
    let state = remote_state(&client, &pid).await;
    assert_eq!(state["state"], "behind", "{state}");
    assert_eq!(state["remoteHead"], theirs.as_str());

    // A change here too: diverged, and a plain push is refused.
    put_file(&client, &pid, "index.html", "<h1>two</h1>\n").await;
    assert_eq!(remote_state(&client, &pid).await["state"], "diverged");
    let (status, refused) = push(&client, &pid, false).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "CONFLICT");
    assert!(
        refused["error"].as_str().unwrap().contains("force"),
        "{refused}"
    );
    assert_eq!(
        common::git(&bare, "other", &["rev-parse", "main"]),
        theirs,
        "the remote is unchanged"
    );

    // Forced: the remote has our head.
    let (status, forced) = push(&client, &pid, true).await;
    assert_eq!(status, 200, "{forced}");
    assert_eq!(forced["data"]["state"], "in_sync");
    let ours = forced["data"]["localHead"].as_str().unwrap();
    assert_ne!(ours, theirs);
    assert_eq!(common::git(&bare, "other", &["rev-parse", "main"]), ours);
    assert_eq!(
        common::git(&bare, "other", &["show", "main:index.html"]),
        "<h1>two</h1>",
        "our files"
    );

    // Ahead after another change; a plain push fast-forwards.
    put_file(&client, &pid, "about.html", "about\n").await;
    assert_eq!(remote_state(&client, &pid).await["state"], "ahead");
    let (status, pushed) = push(&client, &pid, false).await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["data"]["state"], "in_sync");
    app.stop().await;
}

/// Security: without the operator's setting a remote cannot be a path of
/// the server's disk.
#[tokio::test]
async fn file_remotes_are_refused_by_default() {
    let app = spawn_with(&[]).await;
    let client = app.user("nofile").await;
    let pid = client.project("Local").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for url in [
        "file:///tmp/x.git",
        "/tmp/x.git",
        "http://127.0.0.1:1/x.git",
    ] {
        let res = client
            .put(&format!("/api/projects/{pid}/remote"), &json!({"url": url}))
            .await;
        assert_eq!(res.status(), 422, "{url}");
    }
    let res = client.get(&format!("/api/projects/{pid}/remote")).await;
    assert_eq!(res.status(), 404, "no remote was stored");
    app.stop().await;
}

#[tokio::test]
async fn credentials_are_used_and_never_shown() {
    let app = spawn_with(&["--git-allow-file-remotes"]).await;
    let client = app.user("keyholder").await;
    // A minicode API token is the password of minicode's own clone URL,
    // so a second project can use the first as its remote over the loopback.
    let token = client.api_token("read").await;
    let source = client.project("Source").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&client, &source, "a.txt", "a\n").await;
    let pid = client.project("Mirror").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&client, &pid, "b.txt", "b\n").await;
    let host = app.url.trim_start_matches("http://").to_string();
    let url = format!("{}/git/{source}.git", app.url);
    let res = client
        .put(&format!("/api/projects/{pid}/remote"), &json!({"url": url}))
        .await;
    assert_eq!(res.status(), 200);

    // Without a credential the remote does not answer.
    let res = client.get(&format!("/api/projects/{pid}/remote")).await;
    assert_eq!(res.status(), 400);

    let res = client
        .post(
            "/api/git/credentials",
            &json!({"host": host, "username": "me", "token": token}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created = res.text().await.unwrap();
    assert!(!created.contains(&token), "{created}");
    let listed = client
        .get("/api/git/credentials")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&token), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["data"][0]["host"], host.as_str());
    assert_eq!(listed["data"][0]["username"], "me");

    // With it, git reads the remote: two unrelated histories.
    let state = client
        .get(&format!("/api/projects/{pid}/remote"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!state.contains(&token));
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["data"]["state"], "diverged", "{state}");
    // minicode's clone URL takes no push: refused, the token not in the answer.
    let res = client
        .post(
            &format!("/api/projects/{pid}/remote/push"),
            &json!({"force": true}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let answer = res.text().await.unwrap();
    assert!(!answer.contains(&token), "{answer}");

    // At rest the token is sealed: not in the database file.
    let db = app.database_url();
    if let Some(path) = db
        .strip_prefix("sqlite://")
        .and_then(|p| p.split('?').next())
    {
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "{file} holds the token in clear"
                );
            }
        }
    }

    // An import of the (private) source uses the same credential.
    let res = client
        .post(
            "/api/projects/import/git",
            &json!({"url": url, "name": "Copy"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let answer = res.text().await.unwrap();
    assert!(!answer.contains(&token), "{answer}");
    let copy: Value = serde_json::from_str(&answer).unwrap();
    let copy = copy["data"]["id"].as_str().unwrap();
    let tree: Value = client
        .get(&format!("/api/projects/{copy}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["data"][0]["path"], "a.txt", "{tree}");

    // Deleted: gone from the list, and the remote stops answering.
    let id = listed["data"][0]["id"].as_str().unwrap();
    let res = client.delete(&format!("/api/git/credentials/{id}")).await;
    assert_eq!(res.status(), 204);
    let res = client.get(&format!("/api/projects/{pid}/remote")).await;
    assert_eq!(res.status(), 400);
    let res = client
        .post("/api/projects/import/git", &json!({"url": url}))
        .await;
    assert_eq!(res.status(), 400, "no credential, no import");
    app.stop().await;
}

/// The real binary at `--log trace`, its output captured: a credential
/// stored, used to read a remote (over the loopback, minicode's own clone
/// URL), used for a refused push and an import, appears in none of it.
#[tokio::test]
async fn the_credential_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("minicode.db").display()
    );
    let log = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_minicode"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--data-dir", &dir.path().join("data").display().to_string()])
        .args(["--database-url", &db])
        .args([
            "--site-root",
            &dir.path().join("site").display().to_string(),
        ])
        .args(["--registration", "open", "--auth-rate-per-minute", "1000"])
        .args(["--git-allow-file-remotes", "--log", "trace"])
        .env_remove("DATABASE_URL")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("start the binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reqwest::get(format!("{url}/health")).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let client = Client::for_url(&url);
    let res = client
        .post(
            "/api/auth/register",
            &json!({"username": "logged", "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let token = client.api_token("read").await;
    let source = client.project("Source").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&client, &source, "a.txt", "a\n").await;
    let pid = client.project("Mirror").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&client, &pid, "b.txt", "b\n").await;
    let remote = format!("{url}/git/{source}.git");
    let res = client
        .put(
            &format!("/api/projects/{pid}/remote"),
            &json!({"url": remote}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = client
        .post(
            "/api/git/credentials",
            &json!({"host": format!("127.0.0.1:{port}"), "username": "me", "token": token}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        remote_state(&client, &pid).await["state"],
        "diverged",
        "the credential was used"
    );
    let (status, _) = push(&client, &pid, true).await;
    assert_eq!(status, 400, "minicode's clone URL takes no push");
    let res = client
        .post("/api/projects/import/git", &json!({"url": remote}))
        .await;
    assert_eq!(res.status(), 201);

    server.kill().unwrap();
    server.wait().unwrap();
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(
        output.contains("minicode is listening"),
        "the log was captured"
    );
    assert!(output.contains("git credential stored"), "{output}");
    assert!(
        !output.contains(&token),
        "the token is in the server's output"
    );
}
