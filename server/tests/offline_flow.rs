//! The whole product with no API key: the built-in offline generator designs
//! and writes a real Vite + React app, the process sandbox installs it with a
//! real `npm install` and serves it through the preview, then a chat request
//! edits it with real tool calls and a checkpoint restore undoes the edit.

mod common;

use std::time::{Duration, Instant};

use common::{Client, spawn_with};
use serde_json::{Value, json};

async fn get_json(client: &Client, path: &str) -> Value {
    let res = client.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

async fn file(client: &Client, pid: &str, path: &str) -> String {
    get_json(client, &format!("/api/projects/{pid}/files/{path}")).await["data"]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Paths of every file in the project (the tree is a flat list of entries).
async fn paths(client: &Client, pid: &str) -> Vec<String> {
    let body = get_json(client, &format!("/api/projects/{pid}/files")).await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["path"].as_str().unwrap().to_string())
        .collect()
}

/// Polls the preview's copy of a module until it contains `needle` (Vite
/// picks up changes on disk through its watcher).
async fn preview_shows(client: &Client, pid: &str, module: &str, needle: &str, yes: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = client.preview(&format!("/preview/{pid}/{module}")).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        if status == 200 && body.contains(needle) == yes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "preview of {module} (status {status}) {} contain {needle:?}:\n{body}",
            if yes { "does not" } else { "still does" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn chat_turn(client: &Client, chat: &str, content: &str, replies: usize) -> Value {
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
        let done: Vec<Value> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant" && m["pending"] == false)
            .cloned()
            .collect();
        if done.len() >= replies {
            return done.last().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "no reply: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_offline_generator_builds_a_working_app_and_chat_edits_it_with_undo() {
    // No keys: the offline generator is the default model. Full speed.
    let app = spawn_with(&["--offline-chars-per-sec", "0"]).await;
    let client = app.user("offline_flow").await;
    let models = get_json(&client, "/api/models").await;
    let default = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["default"] == true)
        .expect("a default model")
        .clone();
    assert_eq!(default["offline"], true, "{models}");

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

    let snap = client.run_ended(&pid, Duration::from_secs(300)).await;
    assert_eq!(snap["state"], "complete", "{snap}");
    assert!(snap["phases"].as_array().unwrap().len() >= 2, "{snap}");

    // The app follows the description and every module compiles in Vite.
    let files = paths(&client, &pid).await;
    for expected in ["package.json", "index.html", "src/main.tsx", "src/App.tsx"] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
    let app_tsx = file(&client, &pid, "src/App.tsx").await;
    assert!(app_tsx.contains("Taskly"), "{app_tsx}");
    assert!(
        files.iter().any(|f| f.contains("Todo")),
        "a todo component: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.contains("Timer")),
        "a timer component: {files:?}"
    );
    let page = client.preview(&format!("/preview/{pid}/")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"root\""));
    for module in files
        .iter()
        .filter(|f| f.starts_with("src/") && (f.ends_with(".tsx") || f.ends_with(".ts")))
    {
        let res = client.preview(&format!("/preview/{pid}/{module}")).await;
        assert_eq!(res.status(), 200, "Vite compiles {module}");
    }
    preview_shows(&client, &pid, "src/App.tsx", "Taskly", true).await;

    // Chat: a deterministic edit through Read and Edit tool calls.
    let chat = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = chat_turn(&client, &chat, "Change the title to Hello Offline", 1).await;
    let calls = reply["toolCalls"].to_string();
    assert!(calls.contains("Edit"), "edited with a tool: {reply}");
    assert!(
        file(&client, &pid, "src/App.tsx")
            .await
            .contains("Hello Offline")
    );
    preview_shows(&client, &pid, "src/App.tsx", "Hello Offline", true).await;

    // Something it cannot do gets an honest answer and changes nothing.
    let before = file(&client, &pid, "src/App.tsx").await;
    let reply = chat_turn(&client, &chat, "Rewrite it in Haskell", 2).await;
    assert!(
        reply["content"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("offline"),
        "{reply}"
    );
    assert_eq!(file(&client, &pid, "src/App.tsx").await, before);

    // Undo the title change by restoring the last phase's checkpoint (the
    // files as the build left them, before the turn).
    let list = get_json(&client, &format!("/api/projects/{pid}/checkpoints")).await;
    let cp = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "phase")
        .unwrap_or_else(|| panic!("the last phase's checkpoint: {list}"))
        .clone();
    let res = client
        .post(
            &format!(
                "/api/projects/{pid}/checkpoints/{}/restore",
                cp["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(file(&client, &pid, "src/App.tsx").await, app_tsx);
    preview_shows(&client, &pid, "src/App.tsx", "Hello Offline", false).await;

    app.server.state.sandboxes.stop(pid.parse().unwrap()).await;
    app.stop().await;
}
