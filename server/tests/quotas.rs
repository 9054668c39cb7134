//! Quotas and budgets per user, end to end: a real server, a local model
//! server that reports usage (and, like OpenRouter, a price), and the error
//! shapes a refused request gets.

mod common;

use std::time::Duration;

use common::fake_llm::{FakeLlm, Reply, openai_sse};
use common::{Client, TestApp, spawn_with};
use minicode::usage::QuotaOverrides;
use minicode_server::db::{now_ms, rfc3339};
use serde_json::{Value, json};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A server whose default model is the fake (OpenRouter flavour, which reports cost).
async fn app_with(fake: &FakeLlm, extra: &[&str]) -> TestApp {
    let base = format!("{}/v1", fake.url);
    let mut args = vec![
        "--openrouter-api-key",
        "test-key",
        "--openrouter-base-url",
        &base,
        "--model",
        "openrouter:test/model",
        "--llm-max-retries",
        "0",
    ];
    args.extend_from_slice(extra);
    spawn_with(&args).await
}

/// A text answer reporting `input`/`output` tokens and, if given, a cost.
fn text_reply(text: &str, input: u64, output: u64, cost: Option<f64>) -> Reply {
    let mut usage = json!({"prompt_tokens": input, "completion_tokens": output});
    if let Some(cost) = cost {
        usage["cost"] = json!(cost);
    }
    Reply::sse(
        &openai_sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": text}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": usage}),
        ]),
        64,
    )
}

/// A Glob tool call reporting `input`/`output` tokens.
fn tool_reply(input: u64, output: u64) -> Reply {
    Reply::sse(
        &openai_sse(&[
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Glob", "arguments": "{\"pattern\":\"**/*\"}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": input, "completion_tokens": output}}),
        ]),
        64,
    )
}

/// A project with a chat; returns (project id, chat id).
async fn project_with_chat(client: &Client, name: &str) -> (String, String) {
    let pid = client.project(name).await["id"]
        .as_str()
        .unwrap()
        .to_string();
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

async fn messages(client: &Client, chat: &str) -> Vec<Value> {
    let body: Value = client
        .get(&format!("/api/chats/{chat}/messages?limit=100"))
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().cloned().unwrap_or_default()
}

/// Sends a message and waits until the project is free again (the reply is stored).
async fn turn(app: &TestApp, client: &Client, pid: &str, chat: &str, content: &str) {
    let res = send(client, chat, content).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    wait_idle(app, pid).await;
}

async fn wait_idle(app: &TestApp, pid: &str) {
    let id = uuid::Uuid::parse_str(pid).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(20), || async {
            app.server.state.agents.busy(id).is_none()
        })
        .await,
        "the project stayed busy"
    );
}

/// Checks a refusal: status, code, the `limit` body, and `Retry-After` when
/// the limit resets (`window` ms: an hour, a day), which must be the next
/// boundary of that window.
async fn refusal(res: reqwest::Response, status: u16, code: &str, window: Option<i64>) -> Value {
    let before = now_ms();
    assert_eq!(res.status().as_u16(), status);
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<i64>().expect("seconds"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.ends_with('.') && message.len() > 30, "{message}");
    let limit = &body["limit"];
    assert!(limit["used"].as_u64().is_some(), "{body}");
    assert!(limit["allowed"].as_u64().is_some(), "{body}");
    match window {
        Some(window) => {
            // The boundary after now (or the next one, if the clock just crossed it).
            let next = before - before.rem_euclid(window) + window;
            let expected = [rfc3339(next), rfc3339(next + window)];
            let resets_at = limit["resetsAt"].as_str().expect("resetsAt");
            assert!(expected.contains(&resets_at.to_string()), "{resets_at}");
            // The sentence says when, as a clock time.
            let clock = &resets_at[11..16];
            assert!(message.contains(&format!("{clock} UTC")), "{message}");
            let retry_after = retry_after.expect("Retry-After");
            let seconds_left = (next - before) / 1000;
            assert!(
                (seconds_left - 2..=seconds_left + window / 1000 + 2).contains(&retry_after),
                "Retry-After {retry_after}, {seconds_left} s to the reset"
            );
        }
        None => {
            assert!(limit.get("resetsAt").is_none(), "{body}");
            assert!(retry_after.is_none());
        }
    }
    body
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind.to_string())
        .fetch_one(app.server.state.db.pool())
        .await
        .unwrap()
}

async fn user_id(client: &Client) -> uuid::Uuid {
    let me: Value = client.get("/api/auth/me").await.json().await.unwrap();
    let id = me["data"]["id"].as_str().or(me["id"].as_str()).unwrap();
    uuid::Uuid::parse_str(id).unwrap()
}

#[tokio::test]
async fn the_project_quota_refuses_the_next_create_and_stores_nothing() {
    let app = spawn_with(&["--quota-projects", "2"]).await;
    let alice = app.user("alice").await;
    alice.project("One").await;
    alice.project("Two").await;
    let res = alice
        .post(
            "/api/projects",
            &json!({"name": "Three", "description": ""}),
        )
        .await;
    let body = refusal(res, 429, "QUOTA_EXCEEDED", None).await;
    assert_eq!(
        body["limit"],
        json!({"name": "projects", "unit": "count", "used": 2, "allowed": 2})
    );
    assert!(
        body["error"].as_str().unwrap().contains("delete one"),
        "{body}"
    );
    let list: Value = alice.get("/api/projects").await.json().await.unwrap();
    assert_eq!(list["total"], 2, "no third project row");
    let id = user_id(&alice).await.to_string();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM projects WHERE user_id = $1",
            &id
        )
        .await,
        2
    );
    // The quota is per user.
    let bob = app.user("bobby").await;
    bob.project("Bob's").await;
    // Deleting one makes room again.
    let first = list["data"][0]["id"].as_str().unwrap();
    assert_eq!(
        alice
            .delete(&format!("/api/projects/{first}"))
            .await
            .status(),
        204
    );
    alice.project("Three").await;
    app.stop().await;
}

#[tokio::test]
async fn chat_turns_per_hour_refuse_the_next_turn_with_when_it_resets() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &["--quota-chat-turns-per-hour", "2"]).await;
    let alice = app.user("alice").await;
    let (pid, chat) = project_with_chat(&alice, "Chatty").await;
    for i in 0..2 {
        fake.push(text_reply("Done.", 10, 2, None));
        turn(&app, &alice, &pid, &chat, &format!("change {i}")).await;
    }
    let stored = messages(&alice, &chat).await.len();
    assert_eq!(stored, 4);
    let id = uuid::Uuid::parse_str(&pid).unwrap();
    let events = app.logged_events(id).await.len();

    let res = send(&alice, &chat, "one more").await;
    let body = refusal(res, 429, "QUOTA_EXCEEDED", Some(HOUR_MS)).await;
    assert_eq!(body["limit"]["name"], "chat_turns_per_hour");
    assert_eq!(body["limit"]["unit"], "count");
    assert_eq!(
        (
            body["limit"]["used"].as_u64(),
            body["limit"]["allowed"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("You have used your 2 chat turns for this hour; more at "),
        "{body}"
    );
    // Nothing half-done: no message, no event, no model call, no claim.
    assert_eq!(messages(&alice, &chat).await.len(), stored);
    assert_eq!(app.logged_events(id).await.len(), events);
    assert_eq!(fake.requests().len(), 2);
    assert!(app.server.state.agents.busy(id).is_none());
    app.stop().await;
}

#[tokio::test]
async fn generations_per_hour_are_per_user_and_a_refusal_leaves_the_project_free() {
    let app = spawn_with(&[
        "--quota-generations-per-hour",
        "1",
        "--offline-chars-per-sec",
        "200",
    ])
    .await;
    let alice = app.user("alice").await;
    let first = alice.project("First").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = alice.project("Second").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = alice
        .post(
            &format!("/api/projects/{first}/generate"),
            &json!({"description": "a todo list"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    // Stopped before it gets far: it still counts.
    alice
        .post(&format!("/api/projects/{first}/stop"), &json!({}))
        .await;
    wait_idle(&app, &first).await;

    // Another project of the same user: the limit is the user's.
    let res = alice
        .post(
            &format!("/api/projects/{second}/generate"),
            &json!({"description": "a timer"}),
        )
        .await;
    let body = refusal(res, 429, "QUOTA_EXCEEDED", Some(HOUR_MS)).await;
    assert_eq!(body["limit"]["name"], "generations_per_hour");
    assert_eq!(body["limit"]["used"], 1);
    let second_id = uuid::Uuid::parse_str(&second).unwrap();
    assert!(
        app.server.state.agents.busy(second_id).is_none(),
        "a refused request must not leave the project claimed"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM agent_runs WHERE project_id = $1",
            &second
        )
        .await,
        0
    );
    assert_eq!(
        app.server.state.events.last_seq(second_id).await.unwrap(),
        0,
        "no event"
    );
    let project: Value = alice
        .get(&format!("/api/projects/{second}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(project["data"]["description"], "Second description");

    // Someone else is not affected.
    let bob = app.user("bobby").await;
    let bobs = bob.project("Bob's").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = bob
        .post(
            &format!("/api/projects/{bobs}/generate"),
            &json!({"description": "a clock"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    bob.post(&format!("/api/projects/{bobs}/stop"), &json!({}))
        .await;
    wait_idle(&app, &bobs).await;
    app.stop().await;
}

#[tokio::test]
async fn the_token_budget_lets_the_crossing_turn_finish_then_refuses_with_402_until_midnight() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &["--quota-tokens-per-day", "150"]).await;
    let alice = app.user("alice").await;
    let (pid, chat) = project_with_chat(&alice, "Budget").await;
    // One turn, two model calls: 110 tokens, then 128. It crosses 150 in
    // the middle and still finishes.
    fake.push(tool_reply(100, 10));
    fake.push(text_reply("All done.", 120, 8, None));
    turn(&app, &alice, &pid, &chat, "look around").await;
    let stored = messages(&alice, &chat).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["content"], "All done.");
    assert_eq!(fake.requests().len(), 2);

    let res = send(&alice, &chat, "and now?").await;
    let body = refusal(res, 402, "BUDGET_EXCEEDED", Some(DAY_MS)).await;
    assert_eq!(
        (
            &body["limit"]["name"],
            &body["limit"]["unit"],
            &body["limit"]["used"],
            &body["limit"]["allowed"]
        ),
        (
            &json!("tokens_per_day"),
            &json!("tokens"),
            &json!(238),
            &json!(150)
        )
    );
    assert!(
        body["limit"]["resetsAt"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z"),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("00:00 UTC"),
        "{body}"
    );
    assert_eq!(messages(&alice, &chat).await.len(), 2, "no message stored");
    assert_eq!(fake.requests().len(), 2);
    // A generation is refused the same way.
    let res = alice
        .post(
            &format!("/api/projects/{pid}/generate"),
            &json!({"description": "anything"}),
        )
        .await;
    refusal(res, 402, "BUDGET_EXCEEDED", Some(DAY_MS)).await;
    app.stop().await;
}

#[tokio::test]
async fn the_money_budget_counts_what_priced_models_cost() {
    let fake = FakeLlm::start().await;
    let app = app_with(
        &fake,
        &["--quota-usd-per-day", "1", "--quota-tokens-per-day", "0"],
    )
    .await;
    let alice = app.user("alice").await;
    let (pid, chat) = project_with_chat(&alice, "Pricey").await;
    for _ in 0..2 {
        fake.push(text_reply("Sure.", 1000, 100, Some(0.6)));
        turn(&app, &alice, &pid, &chat, "do it").await;
    }
    let res = send(&alice, &chat, "again").await;
    let body = refusal(res, 402, "BUDGET_EXCEEDED", Some(DAY_MS)).await;
    assert_eq!(
        body["limit"],
        json!({"name": "usd_per_day", "unit": "micro_usd", "used": 1_200_000,
               "allowed": 1_000_000, "resetsAt": body["limit"]["resetsAt"].clone()})
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("spent $1.20 of your $1.00"),
        "{body}"
    );
    // Both replies are stored with their cost (on PostgreSQL too: a NULL
    // cost bound first must not break the next real one).
    let all = messages(&alice, &chat).await;
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[3]["usage"]["costUsd"], 0.6, "{all:#?}");
    let usage: Value = alice.get("/api/usage").await.json().await.unwrap();
    let cost = usage["data"]["today"]["costUsd"].as_f64().unwrap();
    assert!((cost - 1.2).abs() < 1e-9, "{usage}");
    app.stop().await;
}

#[tokio::test]
async fn a_per_user_override_beats_the_default_and_bad_overrides_are_refused() {
    let app = spawn_with(&["--quota-projects", "1"]).await;
    let state = &app.server.state;
    let alice = app.user("alice").await;
    let bob = app.user("bobby").await;
    let bob_id = user_id(&bob).await;
    let limits = minicode_server::quota::set_limits(
        state,
        bob_id,
        QuotaOverrides {
            projects: Some(3),
            ..QuotaOverrides::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(limits.projects, 3);
    for name in ["A", "B", "C"] {
        bob.project(name).await;
    }
    let res = bob
        .post("/api/projects", &json!({"name": "D", "description": ""}))
        .await;
    assert_eq!(
        refusal(res, 429, "QUOTA_EXCEEDED", None).await["limit"]["allowed"],
        3
    );
    alice.project("Only").await;
    let res = alice
        .post(
            "/api/projects",
            &json!({"name": "Second", "description": ""}),
        )
        .await;
    assert_eq!(
        refusal(res, 429, "QUOTA_EXCEEDED", None).await["limit"]["allowed"],
        1
    );

    // 0 is unlimited for this user.
    let alice_id = user_id(&alice).await;
    minicode_server::quota::set_limits(
        state,
        alice_id,
        QuotaOverrides {
            projects: Some(0),
            ..QuotaOverrides::default()
        },
    )
    .await
    .unwrap();
    alice.project("Second").await;
    let overview = minicode_server::quota::usage_by_user(state).await.unwrap();
    let line = overview.iter().find(|u| u.user_id == alice_id).unwrap();
    assert_eq!(line.overrides.projects, Some(0));
    assert_eq!(line.limits.projects, 0);
    let usage: Value = alice.get("/api/usage").await.json().await.unwrap();
    let projects = usage["data"]["status"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "projects")
        .unwrap()
        .clone();
    assert_eq!(projects["used"], 2);
    assert!(projects["allowed"].is_null() && projects["remaining"].is_null());

    // Negative numbers are a clear validation error naming the field.
    let err = minicode_server::quota::set_limits(
        state,
        alice_id,
        QuotaOverrides {
            tokens_per_day: Some(-5),
            ..QuotaOverrides::default()
        },
    )
    .await
    .unwrap_err();
    let api = minicode::ApiError::from(err);
    assert_eq!(api.code, minicode::ErrorCode::ValidationFailed);
    assert_eq!(api.error, "tokensPerDay must be 0 (unlimited) or more");
    let err = minicode_server::quota::set_limits(
        state,
        alice_id,
        QuotaOverrides {
            usd_per_day: Some(-0.5),
            ..QuotaOverrides::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        minicode::ApiError::from(err).code,
        minicode::ErrorCode::ValidationFailed
    );
    // The refused change changed nothing.
    let limits = minicode_server::quota::limits_for(state, alice_id)
        .await
        .unwrap();
    assert_eq!(limits.projects, 0);
    // An unknown user is "not found".
    let err =
        minicode_server::quota::set_limits(state, uuid::Uuid::new_v4(), QuotaOverrides::default())
            .await
            .unwrap_err();
    assert_eq!(
        minicode::ApiError::from(err).code,
        minicode::ErrorCode::NotFound
    );
    app.stop().await;
}

#[tokio::test]
async fn usage_shows_today_this_month_and_per_project_and_survives_deletion() {
    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &[]).await;
    let alice = app.user("alice").await;
    let (first, chat1) = project_with_chat(&alice, "First").await;
    let (second, chat2) = project_with_chat(&alice, "Second").await;
    fake.push(tool_reply(100, 10));
    fake.push(text_reply("One.", 120, 8, Some(0.25)));
    turn(&app, &alice, &first, &chat1, "first").await;
    fake.push(text_reply("Two.", 50, 5, None));
    turn(&app, &alice, &second, &chat2, "second").await;
    // Someone else's usage is not mixed in.
    let bob = app.user("bobby").await;
    let (bobs, bob_chat) = project_with_chat(&bob, "Bob's").await;
    fake.push(text_reply("Bob.", 1000, 1000, None));
    turn(&app, &bob, &bobs, &bob_chat, "hi").await;

    let usage: Value = alice.get("/api/usage").await.json().await.unwrap();
    let data = &usage["data"];
    let totals = json!({"inputTokens": 270, "outputTokens": 23, "costUsd": 0.25,
                        "chatTurns": 2, "generations": 0});
    assert_eq!(data["today"], totals, "{usage}");
    assert_eq!(data["thisMonth"], totals, "{usage}");
    let projects = data["projects"].as_array().unwrap();
    assert_eq!(projects.len(), 2, "{usage}");
    assert_eq!(projects[0]["projectId"], first.as_str());
    assert_eq!(projects[0]["name"], "First");
    assert_eq!(
        projects[0]["usage"],
        json!({"inputTokens": 220, "outputTokens": 18, "costUsd": 0.25, "chatTurns": 1, "generations": 0})
    );
    assert_eq!(projects[1]["projectId"], second.as_str());
    assert_eq!(projects[1]["usage"]["inputTokens"], 50);
    let status = data["status"].as_array().unwrap();
    let turns = status
        .iter()
        .find(|s| s["name"] == "chat_turns_per_hour")
        .unwrap();
    assert_eq!(
        (&turns["used"], &turns["allowed"], &turns["remaining"]),
        (&json!(2), &json!(60), &json!(58))
    );
    let tokens = status
        .iter()
        .find(|s| s["name"] == "tokens_per_day")
        .unwrap();
    assert_eq!(tokens["used"], 293);
    assert_eq!(data["limits"]["chatTurnsPerHour"], 60);

    // Deleting a project keeps its usage in the user's totals.
    assert_eq!(
        alice
            .delete(&format!("/api/projects/{second}"))
            .await
            .status(),
        204
    );
    let after: Value = alice.get("/api/usage").await.json().await.unwrap();
    assert_eq!(after["data"]["today"], totals);
    let gone = after["data"]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["projectId"] == second.as_str())
        .expect("the deleted project's usage")
        .clone();
    assert!(gone["name"].is_null());
    assert_eq!(gone["usage"]["inputTokens"], 50);

    // Signed-out callers get 401.
    assert_eq!(app.bare_client().get("/api/usage").await.status(), 401);
    app.stop().await;
}

/// Previews at once (the process sandbox, the fixture app): at the limit the
/// least recently used idle preview makes room, and says so in its log; when
/// every preview is busy with agent work, the next one is refused.
#[tokio::test]
async fn running_previews_make_room_by_stopping_the_oldest_idle_one_or_are_refused() {
    use minicode_server::sandbox::Phase;

    let fake = FakeLlm::start().await;
    let app = app_with(&fake, &["--quota-sandboxes", "2"]).await;
    let sandboxes = app.server.state.sandboxes.clone();
    let alice = app.user("alice").await;
    let one = common::running_fixture(&app, &alice, "One").await;
    let two = common::running_fixture(&app, &alice, "Two").await;
    let [one_id, two_id] = [&one, &two].map(|p| uuid::Uuid::parse_str(p).unwrap());
    // Someone else's preview does not count against alice.
    let bob = app.user("bobby").await;
    let bobs = common::running_fixture(&app, &bob, "Bob's").await;
    let bobs_id = uuid::Uuid::parse_str(&bobs).unwrap();
    // "Two" was used last, so "One" is the least recently used.
    assert_eq!(
        alice.preview(&format!("/preview/{two}/")).await.status(),
        200
    );

    let (three, chat3) = project_with_chat(&alice, "Three").await;
    let three_id = uuid::Uuid::parse_str(&three).unwrap();
    alice.upload_fixture(&three).await;
    let res = alice.preview(&format!("/preview/{three}/")).await;
    assert_eq!(res.status(), 503, "starting");
    assert_eq!(sandboxes.status(one_id).phase, Phase::Stopped, "made room");
    assert_eq!(sandboxes.status(two_id).phase, Phase::Running);
    assert_eq!(sandboxes.status(bobs_id).phase, Phase::Running);
    assert!(
        sandboxes
            .log_tail(one_id, 20)
            .iter()
            .any(|l| l.contains("stopped this preview to make room")),
        "{:?}",
        sandboxes.log_tail(one_id, 20)
    );
    assert!(
        common::wait_until(Duration::from_secs(90), || async {
            sandboxes.status(three_id).phase == Phase::Running
        })
        .await,
        "{:?}",
        sandboxes.status(three_id)
    );

    // Both running previews busy with a chat reply: none can be stopped.
    let chat2: Value = alice
        .post(&format!("/api/projects/{two}/chats"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let chat2 = chat2["data"]["id"].as_str().unwrap().to_string();
    for chat in [&chat2, &chat3] {
        fake.push(
            Reply::sse(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Thinking\"}}]}\n\n",
                64,
            )
            .then_hang(),
        );
        assert_eq!(send(&alice, chat, "work").await.status(), 202);
    }
    assert!(app.server.state.agents.busy(two_id).is_some());
    assert!(app.server.state.agents.busy(three_id).is_some());
    let res = alice
        .post(&format!("/api/projects/{one}/sandbox/restart"), &json!({}))
        .await;
    let body = refusal(res, 429, "QUOTA_EXCEEDED", None).await;
    assert_eq!(
        body["limit"],
        json!({"name": "sandboxes", "unit": "count", "used": 2, "allowed": 2})
    );
    let res = alice.preview(&format!("/preview/{one}/")).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("none of them"));
    assert_eq!(sandboxes.status(one_id).phase, Phase::Stopped);
    assert_eq!(sandboxes.status(two_id).phase, Phase::Running);
    assert_eq!(sandboxes.status(three_id).phase, Phase::Running);

    for pid in [&two, &three] {
        alice
            .post(&format!("/api/projects/{pid}/stop"), &json!({}))
            .await;
        wait_idle(&app, pid).await;
    }
    for id in [two_id, three_id, bobs_id] {
        sandboxes.stop(id).await;
    }
    app.stop().await;
}
