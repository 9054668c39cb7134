//! The chat agent end to end: a real server, a local model server speaking
//! the OpenAI or Anthropic streaming tool-call format, real files.

mod common;

use std::time::Duration;

use common::fake_llm::{FakeLlm, Reply, anthropic_sse, openai_sse};
use common::{Client, TestApp, spawn_with};
use serde_json::{Value, json};

const APP: &str = "export default function App() {\n  return <h1>Old Title</h1>;\n}\n";

async fn app_with(fake: &FakeLlm, provider: &str) -> TestApp {
    match provider {
        "anthropic" => {
            spawn_with(&[
                "--anthropic-api-key",
                "test-key",
                "--anthropic-base-url",
                &fake.url,
                "--model",
                "anthropic:claude-test",
                "--llm-max-retries",
                "0",
            ])
            .await
        }
        _ => {
            spawn_with(&[
                "--openrouter-api-key",
                "test-key",
                "--openrouter-base-url",
                &format!("{}/v1", fake.url),
                "--model",
                "openrouter:test/model",
                "--llm-max-retries",
                "0",
                "--chat-max-idle-steps",
                "4",
            ])
            .await
        }
    }
}

/// A project with src/App.tsx and a chat; returns (project id, chat id).
async fn project_with_chat(client: &Client) -> (String, String) {
    let project = client.project("Agent").await;
    let pid = project["id"].as_str().unwrap().to_string();
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx"),
            &json!({"content": APP}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let chat: Value = client
        .post(&format!("/api/projects/{pid}/chats"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    (pid, chat["data"]["id"].as_str().unwrap().to_string())
}

async fn send(client: &Client, chat: &str, content: &str) -> reqwest::Response {
    client
        .post(
            &format!("/api/chats/{chat}/messages"),
            &json!({"content": content}),
        )
        .await
}

/// Waits for the assistant's reply and returns every message of the chat.
async fn wait_for_reply(client: &Client, chat: &str, assistants: usize) -> Vec<Value> {
    let url = format!("/api/chats/{chat}/messages?limit=100");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body: Value = client.get(&url).await.json().await.unwrap();
        let messages = body["data"].as_array().cloned().unwrap_or_default();
        let complete = messages
            .iter()
            .filter(|m| m["role"] == "assistant" && m["pending"] == false)
            .count();
        if complete >= assistants {
            return messages;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no assistant reply; messages: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn file(client: &Client, pid: &str, path: &str) -> String {
    let body: Value = client
        .get(&format!("/api/projects/{pid}/files/{path}"))
        .await
        .json()
        .await
        .unwrap();
    body["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn tool_call_chunks(index: u64, id: &str, name: &str, args: &Value) -> Vec<Value> {
    let raw = args.to_string();
    let (a, b) = raw.split_at(raw.len() / 2);
    vec![
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": a}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": b}}]}}]}),
    ]
}

fn openai_tool_reply(id: &str, name: &str, args: Value) -> Reply {
    let mut chunks = tool_call_chunks(0, id, name, &args);
    chunks.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
    chunks.push(json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 10}}));
    Reply::sse(&openai_sse(&chunks), 11)
}

fn openai_text_reply(text: &str) -> Reply {
    Reply::sse(
        &openai_sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": text}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 8}}),
        ]),
        11,
    )
}

#[tokio::test]
async fn the_agent_reads_and_edits_through_openai_tool_calls_and_undo_restores_the_bytes() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("ada").await;
    let (pid, chat) = project_with_chat(&client).await;

    fake.push(openai_tool_reply(
        "call_1",
        "Read",
        json!({"path": "src/App.tsx"}),
    ));
    fake.push(openai_tool_reply(
        "call_2",
        "Edit",
        json!({"path": "src/App.tsx", "old_string": "Old Title", "new_string": "New Title"}),
    ));
    fake.push(openai_text_reply("I changed the title in src/App.tsx."));

    let res = send(&client, &chat, "change the title to New Title").await;
    assert_eq!(res.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;

    // The user's message first, then the reply with its tool calls and usage.
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "change the title to New Title");
    let reply = &messages[1];
    assert_eq!(reply["content"], "I changed the title in src/App.tsx.");
    let tools: Vec<&str> = reply["toolCalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["toolName"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["Read", "Edit"]);
    assert!(
        reply["toolCalls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["ok"] == true)
    );
    assert_eq!(reply["usage"]["inputTokens"], 320);
    assert_eq!(reply["usage"]["outputTokens"], 28);

    let edited = file(&client, &pid, "src/App.tsx").await;
    assert_eq!(edited, APP.replace("Old Title", "New Title"));

    // The model saw the numbered file and then the Edit's success.
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let second = requests[1].body["messages"].as_array().unwrap();
    let read_result = second.iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(read_result["tool_call_id"], "call_1");
    assert!(
        read_result["content"]
            .as_str()
            .unwrap()
            .contains("     2\t  return <h1>Old Title</h1>;")
    );
    assert!(requests[0].body["tools"].as_array().unwrap().len() == 5);

    // Undo: the checkpoint taken before the turn brings back the exact bytes.
    let list: Value = client
        .get(&format!("/api/projects/{pid}/checkpoints"))
        .await
        .json()
        .await
        .unwrap();
    let before = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("Before: change the title")
        })
        .expect("a checkpoint before the turn")
        .clone();
    let restored: Value = client
        .post(
            &format!(
                "/api/projects/{pid}/checkpoints/{}/restore",
                before["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(file(&client, &pid, "src/App.tsx").await, APP);
    // The restore itself can be undone.
    let undo = restored["data"]["undoCheckpointId"].as_str().unwrap();
    let diff: Value = client
        .get(&format!("/api/projects/{pid}/checkpoints/{undo}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(diff["data"]["checkpoint"]["kind"], "before_restore");
    let res = client
        .post(
            &format!("/api/projects/{pid}/checkpoints/{undo}/restore"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        file(&client, &pid, "src/App.tsx").await,
        APP.replace("Old Title", "New Title")
    );
    app.stop().await;
}

/// The undo list reads as a history: a turn that changed files has a
/// "Before: …" point that shows what the turn changed and undoes it; a turn
/// that changed nothing leaves no point; restoring a point the files
/// already match says so and records nothing.
#[tokio::test]
async fn each_turn_that_changes_files_has_an_undo_point_named_after_it() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("historian").await;
    let (pid, chat) = project_with_chat(&client).await;
    let points = |client: &Client| {
        let url = format!("/api/projects/{pid}/checkpoints");
        let client = Client {
            http: client.http.clone(),
            base: client.base.clone(),
            jar: None,
        };
        async move {
            let list: Value = client.get(&url).await.json().await.unwrap();
            list["data"].as_array().unwrap().clone()
        }
    };

    // A turn that only reads leaves no point.
    fake.push(openai_tool_reply(
        "call_1",
        "Read",
        json!({"path": "src/App.tsx"}),
    ));
    fake.push(openai_text_reply("It says Old Title."));
    assert_eq!(
        send(&client, &chat, "what does it say?").await.status(),
        202
    );
    wait_for_reply(&client, &chat, 1).await;
    assert!(points(&client).await.is_empty(), "nothing to undo");

    // A turn that edits has its point, named after what it undoes.
    fake.push(openai_tool_reply(
        "call_2",
        "Edit",
        json!({"path": "src/App.tsx", "old_string": "Old Title", "new_string": "New Title"}),
    ));
    fake.push(openai_text_reply("Done."));
    assert_eq!(
        send(&client, &chat, "\n  make the title New\nplease")
            .await
            .status(),
        202
    );
    wait_for_reply(&client, &chat, 2).await;
    let list = points(&client).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "chat");
    assert_eq!(list[0]["message"], "Before: make the title New");
    assert_eq!(list[0]["changedFiles"], json!(["src/App.tsx"]));
    let id = list[0]["id"].as_str().unwrap().to_string();
    let diff: Value = client
        .get(&format!("/api/projects/{pid}/checkpoints/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let patch = diff["data"]["files"][0]["diff"].as_str().unwrap();
    assert!(
        patch.contains("-  return <h1>Old Title</h1>;")
            && patch.contains("+  return <h1>New Title</h1>;"),
        "the point shows what the turn changed: {patch}"
    );

    // Restoring it undoes the turn, between two named points.
    let url = format!("/api/projects/{pid}/checkpoints/{id}/restore");
    let restored: Value = client.post(&url, &json!({})).await.json().await.unwrap();
    assert_eq!(restored["data"]["changedFiles"], json!(["src/App.tsx"]));
    assert_eq!(file(&client, &pid, "src/App.tsx").await, APP);
    let messages: Vec<String> = points(&client)
        .await
        .iter()
        .map(|c| c["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        messages,
        [
            "Restored to: Before: make the title New",
            "Before restoring to: Before: make the title New",
            "Before: make the title New",
        ]
    );

    // Again: the files already match, so nothing is written or recorded.
    let again: Value = client.post(&url, &json!({})).await.json().await.unwrap();
    assert_eq!(again["data"]["changedFiles"], json!([]), "{again}");
    assert_eq!(again["data"]["checkpointId"], id.as_str());
    assert_eq!(points(&client).await.len(), 3);
    app.stop().await;
}

/// Words the model writes before a tool call and after it read as two
/// paragraphs, not one run-on sentence ("…first.I changed…").
#[tokio::test]
async fn each_steps_words_start_a_paragraph_of_their_own() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("para").await;
    let (_pid, chat) = project_with_chat(&client).await;
    let mut chunks = vec![
        json!({"choices": [{"index": 0, "delta": {"content": "Let me look at the app first."}}]}),
    ];
    chunks.extend(tool_call_chunks(
        0,
        "call_1",
        "Read",
        &json!({"path": "src/App.tsx"}),
    ));
    chunks.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
    fake.push(Reply::sse(&openai_sse(&chunks), 11));
    fake.push(openai_text_reply("It already says Old Title."));

    assert_eq!(
        send(&client, &chat, "what does it say?").await.status(),
        202
    );
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert_eq!(
        messages[1]["content"],
        "Let me look at the app first.\n\nIt already says Old Title."
    );
    app.stop().await;
}

#[tokio::test]
async fn the_agent_works_through_anthropic_tool_use() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "anthropic").await;
    let client = app.user("bea").await;
    let (pid, chat) = project_with_chat(&client).await;

    let tool_use = |id: &str, name: &str, args: &Value| {
        let raw = args.to_string();
        let (a, b) = raw.split_at(raw.len() / 3);
        Reply::sse(
            &anthropic_sse(&[
                json!({"type": "message_start", "message": {"usage": {"input_tokens": 50, "output_tokens": 1}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": a}}),
                json!({"type": "ping"}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": b}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}}),
                json!({"type": "message_stop"}),
            ]),
            7,
        )
    };
    fake.push(tool_use(
        "toolu_1",
        "Write",
        &json!({"path": "src/Footer.tsx", "content": "export const Footer = () => <footer>Made with care</footer>;\n"}),
    ));
    fake.push(Reply::sse(
        &anthropic_sse(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 80, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Added a footer."}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
            json!({"type": "message_stop"}),
        ]),
        9,
    ));
    assert_eq!(
        send(&client, &chat, "add a footer saying Made with care")
            .await
            .status(),
        202
    );
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert_eq!(messages[1]["content"], "Added a footer.");
    assert_eq!(
        file(&client, &pid, "src/Footer.tsx").await,
        "export const Footer = () => <footer>Made with care</footer>;\n"
    );
    let second = &fake.requests()[1].body;
    let last = second["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
    app.stop().await;
}

#[tokio::test]
async fn tool_errors_reach_the_model_and_hostile_paths_change_nothing() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("cyd").await;
    let (pid, chat) = project_with_chat(&client).await;

    fake.push(openai_tool_reply(
        "c1",
        "Edit",
        json!({"path": "src/App.tsx", "old_string": "Nowhere", "new_string": "x"}),
    ));
    fake.push(openai_tool_reply(
        "c2",
        "Write",
        json!({"path": "../../escape.txt", "content": "pwned"}),
    ));
    fake.push(openai_tool_reply(
        "c3",
        "Read",
        json!({"path": "/etc/passwd"}),
    ));
    fake.push(openai_text_reply("I could not do it."));
    assert_eq!(send(&client, &chat, "break things").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    let calls = messages[1]["toolCalls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["ok"] == false), "{calls:?}");

    let requests = fake.requests();
    let result_of = |n: usize| {
        requests[n].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["role"] == "tool")
            .unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(result_of(1).starts_with("Error:"), "{}", result_of(1));
    assert!(
        result_of(1).contains("not found") || result_of(1).contains("no match"),
        "{}",
        result_of(1)
    );
    assert!(result_of(2).contains("not allowed"), "{}", result_of(2));
    assert!(result_of(3).contains("not allowed"), "{}", result_of(3));
    assert!(!result_of(3).contains("root:"));
    assert!(!app.dir.path().join("escape.txt").exists());
    assert!(!app.dir.path().join("data/escape.txt").exists());
    assert_eq!(file(&client, &pid, "src/App.tsx").await, APP);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_that_breaks_mid_call_ends_the_turn_cleanly() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("dee").await;
    let (pid, chat) = project_with_chat(&client).await;

    let broken = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Working\"}}]}\n\n\
                  data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"Write\",\"arguments\":\"{\\\"path\\\": \\\"src/App.tsx\\\", \\\"con\"}}]}}]}\n\n";
    fake.push(Reply::sse(broken, 13));
    assert_eq!(send(&client, &chat, "rewrite it").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    let content = messages[1]["content"].as_str().unwrap();
    assert!(content.starts_with("Working"), "{content}");
    assert!(content.contains("The model failed"), "{content}");
    assert!(messages[1]["toolCalls"].as_array().unwrap().is_empty());
    assert_eq!(
        file(&client, &pid, "src/App.tsx").await,
        APP,
        "no half-written file"
    );

    // The project is free again: the next message is accepted and answered.
    fake.push(openai_text_reply("Fine now."));
    assert_eq!(send(&client, &chat, "try again").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 2).await;
    assert_eq!(messages[3]["content"], "Fine now.");
    app.stop().await;
}

#[tokio::test]
async fn the_loop_guard_stops_a_model_that_repeats_itself() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("eve").await;
    let (_pid, chat) = project_with_chat(&client).await;
    for n in 0..10 {
        fake.push(openai_tool_reply(
            &format!("c{n}"),
            "Read",
            json!({"path": "src/App.tsx"}),
        ));
    }
    assert_eq!(send(&client, &chat, "loop forever").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    let content = messages[1]["content"].as_str().unwrap();
    assert!(content.contains("Stopped"), "{content}");
    assert!(
        fake.requests().len() < 10,
        "stopped after {} calls",
        fake.requests().len()
    );
    app.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_turn_within_a_second_and_busy_is_reported_meanwhile() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("fay").await;
    let (pid, chat) = project_with_chat(&client).await;
    fake.push(
        Reply::sse(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Thinking…\"}}]}\n\n",
            64,
        )
        .then_hang(),
    );
    assert_eq!(send(&client, &chat, "take your time").await.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One turn at a time per project.
    let busy = send(&client, &chat, "another").await;
    assert_eq!(common::error_code(busy, 409).await, "BUSY");

    let started = std::time::Instant::now();
    let res = client
        .post(&format!("/api/projects/{pid}/stop"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("Cancelled")
    );
    app.stop().await;
}

#[tokio::test]
async fn the_conversation_continues_after_a_server_restart() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("gus").await;
    let (_pid, chat) = project_with_chat(&client).await;
    fake.push(openai_text_reply("The title is Old Title."));
    assert_eq!(
        send(&client, &chat, "what is the title?").await.status(),
        202
    );
    wait_for_reply(&client, &chat, 1).await;

    let app = app.restart().await;
    fake.push(openai_text_reply("Still Old Title."));
    assert_eq!(send(&client, &chat, "and now?").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 2).await;
    assert_eq!(messages.len(), 4);
    // The model got the whole conversation, rebuilt from the database.
    let last = fake.requests().last().unwrap().body.clone();
    let sent: Vec<(String, String)> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("user".to_string(), "what is the title?".to_string()),
            (
                "assistant".to_string(),
                "The title is Old Title.".to_string()
            ),
            ("user".to_string(), "and now?".to_string()),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_messages_get_clear_errors_and_lose_nothing() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("hal").await;
    let (_pid, chat) = project_with_chat(&client).await;
    assert_eq!(
        common::error_code(send(&client, &chat, "   ").await, 422).await,
        "VALIDATION_FAILED"
    );
    let long = "x".repeat(minicode::MAX_MESSAGE_CHARS + 1);
    assert_eq!(
        common::error_code(send(&client, &chat, &long).await, 422).await,
        "VALIDATION_FAILED"
    );
    let other = app.user("ivy").await;
    assert_eq!(
        common::error_code(send(&other, &chat, "hi").await, 404).await,
        "NOT_FOUND"
    );
    let body: Value = client
        .get(&format!("/api/chats/{chat}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 0);
    assert!(fake.requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_reply_cut_by_a_restart_keeps_its_steps_and_says_so() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("ivan").await;
    let (_pid, chat) = project_with_chat(&client).await;
    fake.push(openai_tool_reply(
        "c1",
        "Read",
        json!({"path": "src/App.tsx"}),
    ));
    fake.push(
        Reply::sse(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Now\"}}]}\n\n",
            64,
        )
        .then_hang(),
    );
    assert_eq!(send(&client, &chat, "slow change").await.status(), 202);
    // The first step is saved while the second is still streaming.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body: Value = client
            .get(&format!("/api/chats/{chat}/messages"))
            .await
            .json()
            .await
            .unwrap();
        let saved = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "assistant")
            .cloned();
        if let Some(m) = saved {
            assert_eq!(m["pending"], true);
            assert_eq!(m["toolCalls"][0]["toolName"], "Read");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first step was not saved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = app.restart().await;
    let messages = wait_for_reply(&client, &chat, 1).await;
    let reply = &messages[1];
    assert_eq!(reply["toolCalls"][0]["toolName"], "Read");
    assert!(
        reply["content"].as_str().unwrap().contains("Interrupted"),
        "{reply}"
    );
    // And the chat goes on.
    fake.push(openai_text_reply("Back."));
    assert_eq!(send(&client, &chat, "continue").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 2).await;
    assert_eq!(messages[3]["content"], "Back.");
    app.stop().await;
}

#[tokio::test]
async fn a_reply_left_pending_by_a_crash_is_closed_at_start_up() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("jade").await;
    let (_pid, chat) = project_with_chat(&client).await;
    // What a process killed mid-reply leaves behind.
    minicode_server::chats::save_message(
        &app.server.state,
        chat.parse().unwrap(),
        uuid::Uuid::new_v4(),
        minicode::Role::Assistant,
        "Half a thought",
        &[],
        None,
        true,
    )
    .await
    .unwrap();
    let app = app.restart().await;
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert_eq!(messages[0]["pending"], false);
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("Half a thought\n\n_Interrupted")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_write_where_a_file_is_tells_the_model_and_a_restore_swaps_file_and_folder() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("clash").await;
    let (pid, chat) = project_with_chat(&client).await;

    fake.push(openai_tool_reply(
        "call_1",
        "Write",
        json!({"path": "src/App.tsx/Header.tsx", "content": "export {}\n"}),
    ));
    fake.push(openai_tool_reply(
        "call_2",
        "Write",
        json!({"path": "src/Header.tsx", "content": "export {}\n"}),
    ));
    fake.push(openai_text_reply(
        "That path was taken; I used src/Header.tsx.",
    ));
    assert_eq!(send(&client, &chat, "add a header").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    let call = &messages[1]["toolCalls"][0];
    assert_eq!(call["ok"], false, "{call}");
    // The model is told the clash, so it can choose another path.
    let requests = fake.requests();
    let result = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        result.contains("src/App.tsx is a file, so it cannot hold src/App.tsx/Header.tsx")
            && result.contains("choose another path"),
        "{result}"
    );
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tree["data"],
        json!([
            {"path": "src/App.tsx", "size": APP.len()},
            {"path": "src/Header.tsx", "size": 10}
        ])
    );
    assert_eq!(file(&client, &pid, "src/App.tsx").await, APP);

    // Now src/App.tsx becomes a folder; restoring the checkpoint from
    // before the turn turns it back into the file in one change (and takes
    // the turn's src/Header.tsx away).
    let list: Value = client
        .get(&format!("/api/projects/{pid}/checkpoints"))
        .await
        .json()
        .await
        .unwrap();
    let before = list["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        client
            .delete(&format!("/api/projects/{pid}/files/src/App.tsx"))
            .await
            .status(),
        204
    );
    let res = client
        .put(
            &format!("/api/projects/{pid}/files/src/App.tsx/inner.ts"),
            &json!({"content": "inner"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = client
        .post(
            &format!("/api/projects/{pid}/checkpoints/{before}/restore"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tree["data"],
        json!([{"path": "src/App.tsx", "size": APP.len()}])
    );
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let on_disk =
        std::fs::read_to_string(app.server.state.workspaces.dir(id).join("src/App.tsx")).unwrap();
    assert_eq!(on_disk, APP);
    app.stop().await;
}

#[tokio::test]
async fn an_over_long_message_is_refused_whole_over_rest_and_websocket() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("long").await;
    let (_pid, chat) = project_with_chat(&client).await;
    let long = "x".repeat(minicode::MAX_MESSAGE_CHARS + 1);

    let res = send(&client, &chat, &long).await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "VALIDATION_FAILED");
    assert_eq!(
        body["error"],
        "Your message is 32,001 characters; the limit is 32,000."
    );
    // Exactly at the limit is accepted.
    fake.push(openai_text_reply("ok"));
    let res = send(&client, &chat, &"y".repeat(minicode::MAX_MESSAGE_CHARS)).await;
    assert_eq!(res.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert_eq!(messages.len(), 2, "only the accepted message is stored");
    assert_eq!(
        messages[0]["content"].as_str().unwrap().chars().count(),
        minicode::MAX_MESSAGE_CHARS,
        "and it is stored whole"
    );
    assert_eq!(fake.requests().len(), 1, "the refused one reached no model");
    app.stop().await;
}

/// Issue 17: an open model served without tool-call parsing writes its call
/// as text (`<tool_call>{…}</tool_call>`, Hermes/Qwen style). The call runs,
/// and the reply keeps only the model's words, not the JSON.
#[tokio::test]
async fn tool_calls_written_as_text_are_run_and_left_out_of_the_reply() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("textcalls").await;
    let (pid, chat) = project_with_chat(&client).await;
    let new_app = "export default function App() {\n  return <h1>New Title</h1>;\n}\n";
    fake.push(openai_text_reply(&format!(
        "I will change the title.\n<tool_call>\n{}\n</tool_call>",
        json!({"name": "Write", "arguments": {"path": "src/App.tsx", "content": new_app}})
    )));
    fake.push(openai_text_reply("Done: the title is New Title."));
    assert_eq!(send(&client, &chat, "rename the title").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    assert_eq!(file(&client, &pid, "src/App.tsx").await, new_app);
    let reply = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    let content = reply["content"].as_str().unwrap();
    assert!(
        content.contains("I will change the title.")
            && content.contains("Done: the title is New Title."),
        "{content}"
    );
    assert!(
        !content.contains("tool_call") && !content.contains("\"arguments\""),
        "{content}"
    );
    assert_eq!(reply["toolCalls"][0]["toolName"], "Write", "{reply}");
    app.stop().await;
}

/// Issue 17: an empty reply, or one cut off by the length limit, is never
/// shown as a finished answer.
#[tokio::test]
async fn an_empty_or_cut_off_reply_says_so() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, "openai").await;
    let client = app.user("emptyreply").await;
    let (_pid, chat) = project_with_chat(&client).await;
    fake.push(openai_text_reply(""));
    assert_eq!(send(&client, &chat, "hello").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 1).await;
    let reply = messages.iter().rfind(|m| m["role"] == "assistant").unwrap();
    assert!(
        reply["content"].as_str().unwrap().contains("empty reply"),
        "{reply}"
    );

    let cut = openai_sse(&[
        json!({"choices": [{"index": 0, "delta": {"content": "Here is a long expla"}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
    ]);
    fake.push(Reply::sse(&cut, 16));
    assert_eq!(send(&client, &chat, "explain").await.status(), 202);
    let messages = wait_for_reply(&client, &chat, 2).await;
    let reply = messages.iter().rfind(|m| m["role"] == "assistant").unwrap();
    let content = reply["content"].as_str().unwrap();
    assert!(
        content.starts_with("Here is a long expla")
            && content.contains("cut off by its length limit"),
        "{content}"
    );
    app.stop().await;
}
