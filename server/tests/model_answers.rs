//! The corpus of messy model answers (issue 17), run through the real
//! engine: a real server, a local model server speaking OpenAI's or
//! Anthropic's streaming format, the process sandbox.
//!
//! Each case in `tests/model_answers/*.txt` is an answer (or a conversation
//! of answers) as real models write them — reasoning blocks, fences, prose
//! with braces, loose heredoc markers, tool calls as text, answers cut off —
//! and the files a human reading it would say it meant. The case passes when
//! exactly those files are stored (and nothing else the answer mentions).
//! The recovery rate (passing cases / cases whose intent a human can read)
//! must stay at or above 95 %; it is printed, and recorded in
//! docs/benchmarks.md.
//!
//! The format of a case file:
//!
//! ```text
//! title: what the case is            (the generation's description)
//! source: where answers like it were seen
//! provider: openai | anthropic        (default openai)
//! kind: generate | chat               (default generate)
//! outcome: files | failed             (failed: the run must fail, naming the problem)
//! last_phase: true | false            (checked when given)
//! readable: yes | no                  (no: no intent to recover; not counted)
//! contains: text                      (chat: the reply must contain it; repeatable)
//! excludes: text                      (chat: the reply must not contain it; repeatable)
//! %%%% seed <path>                     (a file the project has before)
//! %%%% reply [finish=length]           (the next answer the model gives)
//! %%%% message                         (chat: what the user sends)
//! %%%% file <path>                     (a file that must be stored, exactly)
//! %%%% absent <path>                   (a file that must not exist)
//! %%%% end
//! ```
//!
//! A section's text runs to the next `%%%% ` line (a marker no answer or
//! diff uses); its last newline belongs to it, except in a cut reply
//! (`finish=length`), which stops where it was cut.

mod common;

use std::time::{Duration, Instant};

use common::fake_llm::{FakeLlm, Reply, anthropic_sse, openai_sse, pieces};
use common::{Client, TestApp, spawn_with};
use serde_json::{Value, json};

#[derive(Debug, Default)]
struct Case {
    name: String,
    title: String,
    provider: String,
    kind: String,
    outcome: String,
    last_phase: Option<bool>,
    readable: bool,
    contains: Vec<String>,
    excludes: Vec<String>,
    seeds: Vec<(String, String)>,
    replies: Vec<(String, bool)>,
    message: String,
    files: Vec<(String, String)>,
    absent: Vec<String>,
}

fn parse_case(name: &str, text: &str) -> Case {
    let mut case = Case {
        name: name.to_string(),
        provider: "openai".into(),
        kind: "generate".into(),
        outcome: "files".into(),
        readable: true,
        ..Case::default()
    };
    let (head, body) = text.split_once("\n%%%% ").unwrap_or((text, ""));
    for line in head.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "title" => case.title = value,
            "source" => {}
            "provider" => case.provider = value,
            "kind" => case.kind = value,
            "outcome" => case.outcome = value,
            "last_phase" => case.last_phase = Some(value == "true"),
            "readable" => case.readable = value != "no",
            "contains" => case.contains.push(value),
            "excludes" => case.excludes.push(value),
            other => panic!("{name}: unknown header `{other}`"),
        }
    }
    let body = format!("%%%% {body}");
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in body.split_inclusive('\n') {
        if let Some(header) = line.strip_prefix("%%%% ") {
            sections.push((header.trim().to_string(), String::new()));
        } else if let Some(last) = sections.last_mut() {
            last.1.push_str(line);
        }
    }
    let mut ended = false;
    for (header, content) in sections {
        let (what, arg) = header.split_once(' ').unwrap_or((header.as_str(), ""));
        let arg = arg.trim().to_string();
        match what {
            "seed" => case.seeds.push((arg, content)),
            // A cut answer ends where it was cut: its file's last newline
            // only ends the section.
            "reply" if arg == "finish=length" => case.replies.push((
                content.strip_suffix('\n').unwrap_or(&content).to_string(),
                true,
            )),
            "reply" => case.replies.push((content, false)),
            "message" => case.message = content.trim().to_string(),
            "file" => case.files.push((arg, content)),
            "absent" => case.absent.push(arg),
            "end" => ended = true,
            other => panic!("{name}: unknown section `{other}`"),
        }
    }
    assert!(ended, "{name}: no `%%%% end`");
    assert!(!case.replies.is_empty(), "{name}: no reply");
    case
}

fn cases() -> Vec<Case> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/model_answers");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            parse_case(&name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

/// An answer as the provider streams it, in pieces of about 37 bytes.
fn reply(provider: &str, text: &str, cut: bool) -> Reply {
    let pieces = pieces(text, 37);
    if provider == "anthropic" {
        let mut events = vec![
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 100, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ];
        events.extend(pieces.iter().map(|p| {
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})
        }));
        events.push(json!({"type": "content_block_stop", "index": 0}));
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": if cut { "max_tokens" } else { "end_turn" }}, "usage": {"output_tokens": 50}}));
        events.push(json!({"type": "message_stop"}));
        Reply::sse(&anthropic_sse(&events), 211)
    } else {
        let mut chunks: Vec<Value> = pieces
            .iter()
            .map(|p| json!({"choices": [{"index": 0, "delta": {"content": p}}]}))
            .collect();
        chunks.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": if cut { "length" } else { "stop" }}]}));
        Reply::sse(&openai_sse(&chunks), 211)
    }
}

async fn app_for(fake: &FakeLlm, provider: &str) -> TestApp {
    let url = format!("{}/v1", fake.url);
    let args: Vec<&str> = if provider == "anthropic" {
        vec![
            "--anthropic-api-key",
            "test-key",
            "--anthropic-base-url",
            &fake.url,
            "--model",
            "anthropic:claude-test",
        ]
    } else {
        vec![
            "--openrouter-api-key",
            "test-key",
            "--openrouter-base-url",
            &url,
            "--model",
            "openrouter:test/model",
        ]
    };
    let mut all = args;
    all.extend(["--llm-max-retries", "0", "--max-phases", "1"]);
    spawn_with(&all).await
}

async fn state_of(client: &Client, pid: &str) -> Value {
    let body: Value = client
        .get(&format!("/api/projects/{pid}/state"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].clone()
}

async fn stored_files(client: &Client, pid: &str) -> Vec<(String, String)> {
    let tree: Value = client
        .get(&format!("/api/projects/{pid}/files"))
        .await
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for entry in tree["data"].as_array().cloned().unwrap_or_default() {
        let path = entry["path"].as_str().unwrap().to_string();
        let file: Value = client
            .get(&format!("/api/projects/{pid}/files/{path}"))
            .await
            .json()
            .await
            .unwrap();
        out.push((
            path,
            file["data"]["content"].as_str().unwrap_or("").to_string(),
        ));
    }
    out
}

/// Runs one case; `Err` says how it went wrong.
async fn run(case: &Case, app: &TestApp, fake: &FakeLlm, n: usize) -> Result<(), String> {
    let client = app.user(&format!("corpus{n}")).await;
    let pid = client.project(&format!("Case {n}")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, content) in &case.seeds {
        let res = client
            .put(
                &format!("/api/projects/{pid}/files/{path}"),
                &json!({"content": content}),
            )
            .await;
        assert_eq!(res.status(), 200, "{}: seed {path}", case.name);
    }
    fake.clear();
    for (text, cut) in &case.replies {
        fake.push(reply(&case.provider, text, *cut));
    }
    let asked_before = fake.requests().len();
    let mut reply_text = String::new();
    if case.kind == "chat" {
        let chat: Value = client
            .post(&format!("/api/projects/{pid}/chats"), &json!({}))
            .await
            .json()
            .await
            .unwrap();
        let chat = chat["data"]["id"].as_str().unwrap().to_string();
        let res = client
            .post(
                &format!("/api/chats/{chat}/messages"),
                &json!({"content": case.message}),
            )
            .await;
        assert_eq!(res.status(), 202, "{}", case.name);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body: Value = client
                .get(&format!("/api/chats/{chat}/messages?limit=100"))
                .await
                .json()
                .await
                .unwrap();
            if let Some(done) = body["data"].as_array().and_then(|m| {
                m.iter()
                    .find(|m| m["role"] == "assistant" && m["pending"] == false)
            }) {
                reply_text = done["content"].as_str().unwrap_or("").to_string();
                break;
            }
            if Instant::now() > deadline {
                return Err("no reply within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    } else {
        let res = client
            .post(
                &format!("/api/projects/{pid}/generate"),
                &json!({"description": case.title}),
            )
            .await;
        assert_eq!(res.status(), 202, "{}", case.name);
        let deadline = Instant::now() + Duration::from_secs(60);
        let snap = loop {
            let snap = state_of(&client, &pid).await;
            if snap["state"] == "failed" || snap["state"] == "complete" {
                break snap;
            }
            if Instant::now() > deadline {
                return Err(format!("the run did not end: {snap}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let events = app.logged_events(pid.parse().unwrap()).await;
        let written = events.iter().any(|f| f.kind == "files_written");
        let error = snap["error"].as_str().unwrap_or("").to_string();
        match case.outcome.as_str() {
            "failed" => {
                if written {
                    return Err(format!("the phase passed as written; error: {error}"));
                }
                if !events.iter().any(|f| f.kind == "error") {
                    return Err("no error event".into());
                }
            }
            _ => {
                if !written {
                    return Err(format!("the phase was not written: {error}"));
                }
            }
        }
        if let Some(last) = case.last_phase
            && snap["phases"][0]["lastPhase"] != last
        {
            return Err(format!("lastPhase is {}", snap["phases"][0]["lastPhase"]));
        }
    }
    let asked = fake.requests().len() - asked_before;
    let unused = fake.clear();
    let files = stored_files(&client, &pid).await;
    for (path, want) in &case.files {
        match files.iter().find(|(p, _)| p == path) {
            None => return Err(format!("{path} was not stored")),
            Some((_, got)) if got != want => {
                return Err(format!(
                    "{path} differs:\n--- want\n{want}--- got\n{got}---"
                ));
            }
            Some(_) => {}
        }
    }
    for path in &case.absent {
        if files.iter().any(|(p, _)| p == path) {
            return Err(format!("{path} was stored"));
        }
    }
    let expected: Vec<&str> = case
        .files
        .iter()
        .map(|(p, _)| p.as_str())
        .chain(case.seeds.iter().map(|(p, _)| p.as_str()))
        .collect();
    if let Some((extra, _)) = files.iter().find(|(p, _)| !expected.contains(&p.as_str())) {
        return Err(format!("an unexpected file was stored: {extra}"));
    }
    for text in &case.contains {
        if !reply_text.contains(text.as_str()) {
            return Err(format!("the reply lacks `{text}`: {reply_text}"));
        }
    }
    for text in &case.excludes {
        if reply_text.contains(text.as_str()) {
            return Err(format!("the reply shows `{text}`: {reply_text}"));
        }
    }
    if unused > 0 {
        return Err(format!(
            "{unused} scripted answers were never asked for ({asked} were)"
        ));
    }
    Ok(())
}

#[tokio::test]
async fn the_corpus_of_messy_answers_is_recovered() {
    let cases = cases();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut results: Vec<(String, bool, Result<(), String>)> = Vec::new();
    for provider in ["openai", "anthropic"] {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.provider == provider).collect();
        if mine.is_empty() {
            continue;
        }
        let fake = FakeLlm::start().await;
        let app = app_for(&fake, provider).await;
        for (n, case) in mine.into_iter().enumerate() {
            let outcome = run(case, &app, &fake, results.len() + n).await;
            results.push((case.name.clone(), case.readable, outcome));
        }
        app.stop().await;
    }
    let readable: Vec<&(String, bool, Result<(), String>)> =
        results.iter().filter(|r| r.1).collect();
    let recovered = readable.iter().filter(|r| r.2.is_ok()).count();
    let rate = recovered as f64 * 100.0 / readable.len() as f64;
    println!("\n| case | result |\n| --- | --- |");
    for (name, readable, outcome) in &results {
        let what = match outcome {
            Ok(()) => "recovered".to_string(),
            Err(e) => format!("NOT recovered: {}", e.replace('\n', " ⏎ ")),
        };
        println!(
            "| {name}{} | {what} |",
            if *readable { "" } else { " (unreadable)" }
        );
    }
    println!(
        "\nrecovery rate: {recovered} / {} = {rate:.1} % ({} cases in all)",
        readable.len(),
        results.len()
    );
    let failures: Vec<String> = readable
        .iter()
        .filter_map(|(name, _, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(
        rate >= 95.0,
        "recovery rate {rate:.1} % < 95 %:\n{}",
        failures.join("\n\n")
    );
}
