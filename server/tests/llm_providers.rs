//! The hosted model providers against a local server that speaks their
//! exact streaming formats, including the ways real streams go wrong.

mod common;

use std::time::{Duration, Instant};

use common::fake_llm::{FakeLlm, Reply, anthropic_sse, openai_sse};
use futures::StreamExt;
use minicode_server::config::secret::Secret;
use minicode_server::llm::anthropic::Anthropic;
use minicode_server::llm::http::HttpSettings;
use minicode_server::llm::openai::OpenAiCompatible;
use minicode_server::llm::{
    ChatRequest, FinishReason, LlmError, LlmMessage, Provider, Purpose, StreamEvent, ToolCall,
    ToolCallAssembler, ToolSpec,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-test-secret-key-123";

fn settings() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(20),
        idle_timeout: Duration::from_secs(5),
        max_retries: 2,
        backoff: Duration::from_millis(50),
    }
}

fn openai(fake: &FakeLlm, settings: HttpSettings) -> OpenAiCompatible {
    OpenAiCompatible::new(
        "openrouter",
        &format!("{}/api/v1", fake.url),
        Some(Secret::new(KEY)),
        reqwest::Client::new(),
        settings,
    )
}

fn anthropic(fake: &FakeLlm) -> Anthropic {
    Anthropic::new(
        &fake.url,
        Secret::new(KEY),
        reqwest::Client::new(),
        settings(),
    )
}

fn request(tools: bool) -> ChatRequest {
    ChatRequest {
        model: "test/model".into(),
        system: "You are a test.".into(),
        messages: vec![
            LlmMessage::User {
                images: Vec::new(),
                content: "change the title".into(),
            },
            LlmMessage::Assistant {
                content: "Reading.".into(),
                tool_calls: vec![ToolCall {
                    id: "call_a".into(),
                    name: "Read".into(),
                    arguments: json!({"path": "src/App.tsx"}),
                }],
            },
            LlmMessage::ToolResult {
                tool_call_id: "call_a".into(),
                content: "     1\tconst x = 1;".into(),
                is_error: false,
            },
        ],
        tools: if tools {
            vec![ToolSpec {
                name: "Read".into(),
                description: "Read a file".into(),
                input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }]
        } else {
            Vec::new()
        },
        max_tokens: 1000,
        temperature: Some(0.2),
        purpose: Purpose::Chat,
    }
}

/// Everything a stream yields, the error (if any) last.
async fn collect(
    provider: &dyn Provider,
    request: ChatRequest,
) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut stream = provider.stream(request, CancellationToken::new());
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn openai_text_body() -> String {
    let mut body = String::from(": OPENROUTER PROCESSING\n\n");
    body.push_str(&openai_sse(&[
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": "lo, wörld"}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5, "cost": 0.0012}}),
    ]));
    body
}

#[tokio::test]
async fn openai_streams_text_across_any_split_with_usage_and_cost() {
    let fake = FakeLlm::start().await;
    for split in [1, 3, 7, 64, 4096] {
        fake.push(Reply::sse(&openai_text_body(), split));
        let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
        assert!(error.is_none(), "split {split}: {error:?}");
        assert_eq!(text_of(&events), "Hello, wörld", "split {split}");
        match events.last() {
            Some(StreamEvent::Finish { reason, usage }) => {
                assert_eq!(*reason, FinishReason::Stop);
                assert_eq!((usage.input_tokens, usage.output_tokens), (12, 5));
                assert_eq!(usage.cost_usd, Some(0.0012));
            }
            other => panic!("split {split}: last event {other:?}"),
        }
    }
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/api/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["model"], "test/model");
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert_eq!(
        sent.body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        r#"{"path":"src/App.tsx"}"#
    );
    assert_eq!(sent.body["messages"][3]["role"], "tool");
    assert_eq!(sent.body["messages"][3]["tool_call_id"], "call_a");
}

#[tokio::test]
async fn openai_tool_call_arguments_split_across_chunks_are_assembled() {
    let fake = FakeLlm::start().await;
    let body = openai_sse(&[
        json!({"choices": [{"index": 0, "delta": {"content": "Let me look."}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Read", "arguments": ""}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"pa"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "th\": \"src/App.tsx\"}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "Glob", "arguments": "{\"pattern\":"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": " \"src/**\"}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ]);
    fake.push(Reply::sse(&body, 5));
    let (events, error) = collect(&openai(&fake, settings()), request(true)).await;
    assert!(error.is_none(), "{error:?}");
    let mut assembler = ToolCallAssembler::default();
    for e in &events {
        assembler.push(e);
    }
    let (text, calls) = assembler.finish().unwrap();
    assert_eq!(text, "Let me look.");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].arguments, json!({"path": "src/App.tsx"}));
    assert_eq!(calls[1].name, "Glob");
    assert_eq!(calls[1].arguments, json!({"pattern": "src/**"}));
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            ..
        })
    ));
    assert_eq!(
        fake.requests()[0].body["tools"][0]["function"]["name"],
        "Read"
    );
}

/// Issue 17: parallel calls as Gemini's OpenAI endpoint and some
/// Ollama/LiteLLM versions send them — every call `index` 0 (or no index)
/// but its own `id`, arguments sometimes as an object — are two calls, not
/// one merged, invalid one.
#[tokio::test]
async fn parallel_tool_calls_sharing_an_index_or_without_one_stay_apart() {
    let fake = FakeLlm::start().await;
    let same_index = openai_sse(&[
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "g1", "type": "function", "function": {"name": "Read", "arguments": "{\"path\": \"a.ts\"}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "g2", "type": "function", "function": {"name": "Read", "arguments": "{\"path\": \"b.ts\"}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ]);
    let no_index = openai_sse(&[
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"id": "o1", "type": "function", "function": {"name": "Glob", "arguments": {"pattern": "src/**"}}},
            {"id": "o2", "type": "function", "function": {"name": "Read", "arguments": "{\"path\":"}}
        ]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": " \"c.ts\"}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ]);
    for (body, expected) in [
        (
            same_index,
            vec![
                ("g1", "Read", json!({"path": "a.ts"})),
                ("g2", "Read", json!({"path": "b.ts"})),
            ],
        ),
        (
            no_index,
            vec![
                ("o1", "Glob", json!({"pattern": "src/**"})),
                ("o2", "Read", json!({"path": "c.ts"})),
            ],
        ),
    ] {
        fake.push(Reply::sse(&body, 9));
        let (events, error) = collect(&openai(&fake, settings()), request(true)).await;
        assert!(error.is_none(), "{error:?}");
        let mut assembler = ToolCallAssembler::default();
        for e in &events {
            assembler.push(e);
        }
        let (_, calls) = assembler.finish().unwrap();
        let got: Vec<(&str, &str, serde_json::Value)> = calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.clone()))
            .collect();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait() {
    let fake = FakeLlm::start().await;
    fake.push(
        Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "1"),
    );
    fake.push(Reply::sse(&openai_text_body(), 16));
    let started = Instant::now();
    let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello, wörld");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn rate_limiting_that_does_not_end_is_reported_after_the_retries() {
    let fake = FakeLlm::start().await;
    for _ in 0..3 {
        fake.push(
            Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "0"),
        );
    }
    let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
    assert!(events.is_empty());
    assert!(
        matches!(error, Some(LlmError::RateLimited { .. })),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 3, "one call and two retries");
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::status(502, "bad gateway"));
    fake.push(Reply::status(503, r#"{"error":{"message":"overloaded"}}"#));
    fake.push(Reply::sse(&openai_text_body(), 64));
    let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello, wörld");
    assert_eq!(fake.requests().len(), 3);

    let fake = FakeLlm::start().await;
    fake.push(Reply::status(
        400,
        r#"{"error":{"message":"model test/model does not exist"}}"#,
    ));
    let (_, error) = collect(&openai(&fake, settings()), request(false)).await;
    match error {
        Some(LlmError::Http {
            status: 400,
            message,
        }) => assert!(message.contains("does not exist"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn a_rejected_key_is_reported_without_the_key() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::status(
        401,
        &format!(r#"{{"error":{{"message":"invalid key {KEY}"}}}}"#),
    ));
    let (_, error) = collect(&openai(&fake, settings()), request(false)).await;
    let error = error.expect("an error");
    assert!(matches!(error, LlmError::Auth { status: 401 }), "{error:?}");
    assert!(!error.to_string().contains(KEY));
    assert!(!format!("{error:?}").contains(KEY));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_that_breaks_mid_file_is_an_interruption_after_the_text_so_far() {
    let fake = FakeLlm::start().await;
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"cat > src/App.tsx << 'EOF'\\nexport def\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"del";
    fake.push(Reply::sse(body, 9));
    let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
    assert_eq!(text_of(&events), "cat > src/App.tsx << 'EOF'\nexport def");
    assert!(
        matches!(
            error,
            Some(LlmError::Interrupted(_)) | Some(LlmError::Protocol(_))
        ),
        "{error:?}"
    );
    assert_eq!(fake.requests().len(), 1, "no retry once text has arrived");
}

#[tokio::test]
async fn malformed_json_in_a_chunk_is_a_protocol_error() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::sse(
        "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {not json}\n\n",
        4,
    ));
    let (events, error) = collect(&openai(&fake, settings()), request(false)).await;
    assert_eq!(text_of(&events), "ok");
    match error {
        Some(LlmError::Protocol(m)) => assert!(m.contains("not JSON"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_object_mid_stream_is_reported() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::sse(
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"provider overloaded\",\"code\":502}}\n\n",
        8,
    ));
    let (_, error) = collect(&openai(&fake, settings()), request(false)).await;
    match error {
        Some(LlmError::Interrupted(m)) => assert!(m.contains("provider overloaded"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_silent_stream_hits_the_idle_timeout() {
    let fake = FakeLlm::start().await;
    fake.push(
        Reply::sse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
            64,
        )
        .then_hang(),
    );
    let mut s = settings();
    s.idle_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (events, error) = collect(&openai(&fake, s), request(false)).await;
    assert_eq!(text_of(&events), "a");
    assert!(matches!(error, Some(LlmError::Timeout(_))), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn cancelling_stops_a_stream_within_a_second() {
    let fake = FakeLlm::start().await;
    fake.push(
        Reply::sse(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
            64,
        )
        .then_hang(),
    );
    let provider = openai(&fake, settings());
    let cancel = CancellationToken::new();
    let mut stream = provider.stream(request(false), cancel.clone());
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamEvent::Text(_)))
    ));
    let started = Instant::now();
    cancel.cancel();
    let next = tokio::time::timeout(Duration::from_secs(1), stream.next())
        .await
        .expect("ends within 1 s");
    assert!(matches!(next, Some(Err(LlmError::Cancelled))), "{next:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let provider = OpenAiCompatible::new(
        "openai",
        &format!("http://127.0.0.1:{port}/v1"),
        None,
        reqwest::Client::new(),
        settings(),
    );
    let (_, error) = collect(&provider, request(false)).await;
    assert!(matches!(error, Some(LlmError::Connect(_))), "{error:?}");
}

fn anthropic_body() -> String {
    let mut body = anthropic_sse(&[
        json!({"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": [], "usage": {"input_tokens": 40, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I'll edit "}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "the title."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"path\": \"src/App.tsx\", \"old_"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "string\": \"Old\", \"new_string\": \"New\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 33}}),
    ]);
    body.push_str(": keep-alive\n\n");
    body.push_str(&anthropic_sse(&[json!({"type": "message_stop"})]));
    body
}

#[tokio::test]
async fn anthropic_streams_text_and_tool_use_across_any_split() {
    let fake = FakeLlm::start().await;
    for split in [1, 5, 13, 4096] {
        fake.push(Reply::sse(&anthropic_body(), split));
        let (events, error) = collect(&anthropic(&fake), request(true)).await;
        assert!(error.is_none(), "split {split}: {error:?}");
        let mut assembler = ToolCallAssembler::default();
        for e in &events {
            assembler.push(e);
        }
        let (text, calls) = assembler.finish().unwrap();
        assert_eq!(text, "I'll edit the title.");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "toolu_1");
        assert_eq!(
            calls[0].arguments,
            json!({"path": "src/App.tsx", "old_string": "Old", "new_string": "New"})
        );
        match events.last() {
            Some(StreamEvent::Finish { reason, usage }) => {
                assert_eq!(*reason, FinishReason::ToolCalls);
                assert_eq!((usage.input_tokens, usage.output_tokens), (40, 33));
            }
            other => panic!("{other:?}"),
        }
    }
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.body["system"], "You are a test.");
    // The tool result travels as a tool_result block of a user message.
    let messages = sent.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["content"][1]["type"], "tool_use");
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_a");
    assert_eq!(sent.body["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn anthropic_overload_mid_stream_and_a_cut_stream_are_errors() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::sse(
        &anthropic_sse(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "part"}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ]),
        7,
    ));
    let (events, error) = collect(&anthropic(&fake), request(false)).await;
    assert_eq!(text_of(&events), "part");
    match error {
        Some(LlmError::Interrupted(m)) => assert!(m.contains("Overloaded"), "{m}"),
        other => panic!("{other:?}"),
    }

    fake.push(Reply::sse(
        &anthropic_sse(&[json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "half"}})]),
        7,
    ));
    let (_, error) = collect(&anthropic(&fake), request(false)).await;
    assert!(matches!(error, Some(LlmError::Interrupted(_))), "{error:?}");
}

#[tokio::test]
async fn anthropic_529_overloaded_is_retried() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::status(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ));
    fake.push(Reply::sse(&anthropic_body(), 100));
    let (events, error) = collect(&anthropic(&fake), request(true)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "I'll edit the title.");
    assert_eq!(fake.requests().len(), 2);
}
