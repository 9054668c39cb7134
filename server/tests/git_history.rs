//! Each project's git history, end to end: the offline generator's phases,
//! chat turns, the user's saves and a restore become the expected commits
//! (`GET /api/projects/:id/history`), and the real `git` CLI clones the
//! project over smart HTTP with an API token and gets exactly its live
//! files; wrong or foreign tokens and pushes are refused.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, TestApp, spawn_with};
use serde_json::{Value, json};
use uuid::Uuid;

const AGENT: &str = "minicode agent (offline:builtin)";

async fn get_json(client: &Client, path: &str) -> Value {
    let res = client.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// The whole history, newest first, checked against its `total`.
async fn history(client: &Client, pid: &str) -> Vec<Value> {
    let body = get_json(client, &format!("/api/projects/{pid}/history?limit=100")).await;
    let commits = body["data"].as_array().unwrap().clone();
    assert_eq!(
        body["total"].as_u64().unwrap() as usize,
        commits.len(),
        "{body}"
    );
    commits
}

fn subject(commit: &Value) -> &str {
    commit["message"].as_str().unwrap().lines().next().unwrap()
}

async fn wait_complete(client: &Client, pid: &str) -> Value {
    let snap = client.run_ended(pid, Duration::from_secs(300)).await;
    assert_eq!(snap["state"], "complete", "{snap}");
    snap
}

async fn chat_turn(client: &Client, chat: &str, content: &str, replies: usize) {
    let res = client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": content}),
        )
        .await;
    assert!(res.status().is_success(), "send: {}", res.status());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = get_json(client, &format!("/api/chats/{chat}/messages?limit=100")).await;
        let done = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant" && m["pending"] == false)
            .count();
        if done >= replies {
            return;
        }
        assert!(Instant::now() < deadline, "no reply: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn put_file(client: &Client, pid: &str, path: &str, content: &str) {
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/{path}"),
            &json!({"content": content}),
        )
        .await;
    assert_eq!(res.status(), 200, "save {path}");
}

/// Waits until the history has `count` commits (a batch of saves lands
/// after its quiet period).
async fn wait_for_commits(client: &Client, pid: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let commits = history(client, pid).await;
        if commits.len() >= count {
            return commits;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} commits: {commits:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn phases_chat_turns_saves_and_restores_become_commits() {
    let app = spawn_with(&["--offline-chars-per-sec", "0", "--git-quiet-ms", "1500"]).await;
    let client = app.user("historian").await;
    let pid = client.project("Taskly").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "A todo list app called Taskly with a timer"}),
        )
        .await;
    assert!(res.status().is_success(), "generate: {}", res.status());
    let snap = wait_complete(&client, &pid).await;

    // One commit per phase, by the agent, named after the phase.
    let phases = snap["phases"].as_array().unwrap();
    assert!(phases.len() >= 2, "{snap}");
    let commits = history(&client, &pid).await;
    let mut expected: Vec<String> = phases
        .iter()
        .map(|p| format!("Phase {}: {}", p["number"], p["name"].as_str().unwrap()))
        .collect();
    expected.reverse();
    let subjects: Vec<&str> = commits.iter().map(subject).collect();
    assert_eq!(subjects, expected, "{commits:#?}");
    for commit in &commits {
        assert_eq!(commit["author"], AGENT, "{commit}");
        assert_eq!(commit["sha"].as_str().unwrap().len(), 40);
        assert!(!commit["changedFiles"].as_array().unwrap().is_empty());
    }
    let first = commits.last().unwrap();
    assert!(
        first["changedFiles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "package.json"),
        "the first phase adds the scaffold: {first}"
    );

    // A chat turn that changes a file: one commit with the user's words.
    let chat = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    chat_turn(&client, &chat, "Change the title to Hello Git", 1).await;
    let after_chat = history(&client, &pid).await;
    assert_eq!(after_chat.len(), commits.len() + 1, "{after_chat:#?}");
    let turn = &after_chat[0];
    assert_eq!(subject(turn), "Chat: Change the title to Hello Git");
    assert_eq!(turn["author"], AGENT);
    assert_eq!(turn["changedFiles"], json!(["src/App.tsx"]));

    // A turn that changes nothing makes no commit.
    chat_turn(&client, &chat, "Rewrite it in Haskell", 2).await;
    assert_eq!(history(&client, &pid).await.len(), after_chat.len());

    // The user's saves within the quiet period: one commit, by the user,
    // and only once the project has been quiet.
    put_file(
        &client,
        &pid,
        "src/App.tsx",
        "export default () => 'one';\n",
    )
    .await;
    put_file(&client, &pid, "notes.md", "# Notes\n").await;
    put_file(
        &client,
        &pid,
        "src/App.tsx",
        "export default () => 'two';\n",
    )
    .await;
    assert_eq!(
        history(&client, &pid).await.len(),
        after_chat.len(),
        "nothing is committed before the quiet period ends"
    );
    let after_saves = wait_for_commits(&client, &pid, after_chat.len() + 1).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after_saves_later = history(&client, &pid).await;
    assert_eq!(after_saves_later.len(), after_saves.len(), "one commit");
    let saves = &after_saves[0];
    assert_eq!(subject(saves), "Edit notes.md and 1 more file", "{saves}");
    assert_eq!(saves["author"], "historian");
    assert_eq!(saves["changedFiles"], json!(["notes.md", "src/App.tsx"]));

    // A restore is a new commit by the user: history only grows.
    let list = get_json(
        &client,
        &format!("/api/projects/{pid}/checkpoints?limit=100"),
    )
    .await;
    let phase_point = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "phase")
        .unwrap_or_else(|| panic!("a phase checkpoint: {list}"))
        .clone();
    let res = client
        .post(
            &format!(
                "/api/projects/{pid}/checkpoints/{}/restore",
                phase_point["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let after_restore = history(&client, &pid).await;
    assert_eq!(after_restore.len(), after_saves.len() + 1);
    let restore = &after_restore[0];
    assert_eq!(
        subject(restore),
        format!("Restore: {}", phase_point["message"].as_str().unwrap())
    );
    assert_eq!(restore["author"], "historian");
    assert_eq!(
        restore["changedFiles"],
        json!(["notes.md", "src/App.tsx"]),
        "the saves and the turn are undone"
    );
    assert_eq!(
        &after_restore[1..],
        &after_saves[..],
        "nothing is rewritten"
    );

    // Pages, and nobody else's history.
    let page = get_json(
        &client,
        &format!("/api/projects/{pid}/history?limit=2&offset=1"),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["sha"], after_restore[1]["sha"]);
    let stranger = app.user("stranger").await;
    let res = stranger.get(&format!("/api/projects/{pid}/history")).await;
    assert_eq!(res.status(), 404);

    // A save still waiting when a chat turn starts is committed first, by
    // the user, so the turn's commit holds only the turn's change.
    put_file(&client, &pid, "notes.md", "# Before the turn\n").await;
    chat_turn(&client, &chat, "Change the title to After Saves", 3).await;
    let commits = history(&client, &pid).await;
    assert_eq!(commits.len(), after_restore.len() + 2, "{commits:#?}");
    assert_eq!(subject(&commits[1]), "Add notes.md");
    assert_eq!(commits[1]["author"], "historian");
    assert_eq!(
        subject(&commits[0]),
        "Chat: Change the title to After Saves"
    );
    assert_eq!(commits[0]["changedFiles"], json!(["src/App.tsx"]));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(history(&client, &pid).await.len(), commits.len());

    // A save waiting at shutdown is committed then.
    put_file(&client, &pid, "late.md", "late\n").await;
    let app = app.restart().await;
    let client = client_for(&app, "historian").await;
    let commits = history(&client, &pid).await;
    assert_eq!(subject(&commits[0]), "Add late.md", "{:#?}", commits[0]);
    app.stop().await;
}

/// Signs `username` in again on a restarted server.
async fn client_for(app: &TestApp, username: &str) -> Client {
    let client = app.client();
    let res = client
        .post(
            "/api/auth/login",
            &json!({"username": username, "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    client
}

async fn token(client: &Client, scope: &str) -> String {
    let res = client
        .post(
            "/api/auth/tokens",
            &json!({"name": "git", "scope": scope, "password": "password123"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    body["data"]["secret"].as_str().unwrap().to_string()
}

/// Runs the real git CLI with no configuration of this machine's; the
/// server runs on this runtime, so the process is awaited, not blocked on.
async fn git(home: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.invalid")
        .env("GIT_COMMITTER_NAME", "tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.invalid")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("git runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Every file of a checkout, `.git` aside.
fn checkout_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The project's live files as the database has them.
async fn live_files(app: &TestApp, pid: &str) -> BTreeMap<String, Vec<u8>> {
    minicode_server::files::snapshot(&app.server.state, pid.parse::<Uuid>().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|(path, _, bytes)| (path, bytes))
        .collect()
}

#[tokio::test]
async fn git_clone_with_a_token_gets_exactly_the_live_files() {
    let app = spawn_with(&["--git-quiet-ms", "500"]).await;
    let owner = app.user("cloner").await;
    let pid = owner.project("Cloned").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_file(&owner, &pid, "src/App.tsx", "export default () => 'hi';\n").await;
    put_file(&owner, &pid, "docs/read me.md", "# spaces \"and\" quotes\n").await;
    put_file(&owner, &pid, "old.txt", "going\n").await;
    let png: Vec<u8> = (0u8..=255).chain([0, 0, 13, 10]).collect();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png.clone()).file_name("logo.bin"),
    );
    let res = owner
        .http
        .post(owner.url(&format!("/api/projects/{pid}/files")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let secret = token(&owner, "read").await;
    let addr = app.server.addr;
    let url = |password: &str| format!("http://anyone:{password}@{addr}/git/{pid}.git");

    // Cloned before the saves' batch is committed: the repository starts
    // from the files as they are.
    let (ok, out) = git(
        &home,
        work.path(),
        &["clone", "-q", &url(&secret), "v2"],
        &[],
    )
    .await;
    assert!(ok, "clone: {out}");
    let live = live_files(&app, &pid).await;
    assert_eq!(live.get("public/logo.bin"), Some(&png));
    assert_eq!(checkout_files(&work.path().join("v2")), live);

    // After more changes (a delete among them) are committed, protocol v0
    // gets them too.
    let res = owner
        .delete(&format!("/api/projects/{pid}/files/old.txt"))
        .await;
    assert_eq!(res.status(), 204);
    put_file(&owner, &pid, "src/App.tsx", "export default () => 'bye';\n").await;
    let commits = wait_for_commits(&owner, &pid, 2).await;
    assert_eq!(subject(&commits[0]), "Edit old.txt and 1 more file");
    let (ok, out) = git(
        &home,
        work.path(),
        &[
            "-c",
            "protocol.version=0",
            "clone",
            "-q",
            &url(&secret),
            "v0",
        ],
        &[],
    )
    .await;
    assert!(ok, "v0 clone: {out}");
    let live = live_files(&app, &pid).await;
    assert!(!live.contains_key("old.txt"));
    assert_eq!(checkout_files(&work.path().join("v0")), live);

    // A fetch with many commits of its own negotiates with more than 1 KB,
    // which git gzips.
    let v2 = work.path().join("v2");
    for n in 0..48 {
        let (ok, out) = git(
            &home,
            &v2,
            &["commit", "-q", "--allow-empty", "-m", &format!("local {n}")],
            &[],
        )
        .await;
        assert!(ok, "{out}");
    }
    let (ok, out) = git(&home, &v2, &["fetch", "origin"], &[("GIT_TRACE_CURL", "1")]).await;
    assert!(ok, "fetch: {out}");
    assert!(
        out.to_ascii_lowercase().contains("content-encoding: gzip"),
        "the negotiation went gzipped"
    );
    let (ok, out) = git(&home, &v2, &["show", "origin/main:src/App.tsx"], &[]).await;
    assert!(ok && out.contains("bye"), "{out}");

    // A wrong token, no token, someone else's token: refused.
    let (ok, out) = git(
        &home,
        work.path(),
        &["clone", "-q", &url("mc_wrong"), "wrong"],
        &[],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("Authentication failed"), "{out}");
    let bare = app.client();
    let res = bare
        .get(&format!("/git/{pid}.git/info/refs?service=git-upload-pack"))
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Basic realm=\"minicode\""
    );
    let stranger = app.user("outsider").await;
    let foreign = token(&stranger, "full").await;
    let (ok, out) = git(
        &home,
        work.path(),
        &["clone", "-q", &url(&foreign), "foreign"],
        &[],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("not found"), "{out}");
    assert!(!work.path().join("foreign").exists());

    // Pushing is refused, and the history stays as it was.
    let before = history(&owner, &pid).await;
    std::fs::write(v2.join("pushed.txt"), "from outside\n").unwrap();
    let (ok, out) = git(&home, &v2, &["add", "pushed.txt"], &[]).await;
    assert!(ok, "{out}");
    let (ok, out) = git(&home, &v2, &["commit", "-q", "-m", "outside"], &[]).await;
    assert!(ok, "{out}");
    let (ok, out) = git(&home, &v2, &["push", "origin", "HEAD:main"], &[]).await;
    assert!(!ok, "push: {out}");
    assert!(out.contains("403") || out.contains("read-only"), "{out}");
    assert_eq!(history(&owner, &pid).await, before);
    assert!(!live_files(&app, &pid).await.contains_key("pushed.txt"));
    app.stop().await;
}
