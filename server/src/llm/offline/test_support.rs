//! Test helpers the offline generator's unit tests share: calling the
//! provider the way the agent does, and reading its designs and files back
//! with the same parsers the server uses. Compiled for tests only.

use futures::StreamExt;
use minicode::Usage;
use minicode::protocol::{Phase, PlannedFile};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::Offline;
use crate::llm::{
    ChatRequest, FinishReason, LlmMessage, Provider, Purpose, StreamEvent, ToolCall,
    ToolCallAssembler,
};
use crate::scof::{ScofEvent, ScofParser};

/// The designer's answer, as `agent::run` reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Design {
    pub(super) name: String,
    pub(super) goal: String,
    pub(super) files: Vec<PlannedFile>,
    #[serde(default)]
    pub(super) last_phase: bool,
}

pub(super) fn request(purpose: Purpose, messages: Vec<LlmMessage>) -> ChatRequest {
    ChatRequest {
        model: "builtin".into(),
        system: "You are a test.".into(),
        messages,
        tools: crate::agent::chat::tools::specs(),
        max_tokens: 4096,
        temperature: None,
        purpose,
    }
}

/// Streams a call to its end: (text, tool calls, finish reason, usage, events).
pub(super) async fn run(
    offline: &Offline,
    request: ChatRequest,
) -> (String, Vec<ToolCall>, FinishReason, Usage, usize) {
    let mut stream = offline.stream(request, CancellationToken::new());
    let mut assembler = ToolCallAssembler::default();
    let mut finish = None;
    let mut count = 0;
    while let Some(event) = stream.next().await {
        let event = event.expect("no error");
        count += 1;
        assert!(finish.is_none(), "nothing after Finish");
        if let StreamEvent::Finish { reason, usage } = &event {
            finish = Some((reason.clone(), *usage));
        }
        assembler.push(&event);
    }
    let (text, calls) = assembler.finish().expect("well-formed calls");
    let (reason, usage) = finish.expect("a Finish event");
    (text, calls, reason, usage, count)
}

pub(super) async fn design(description: &str, n: u32) -> Design {
    let purpose = Purpose::DesignPhase {
        description: description.into(),
        phase_number: n,
        previous: Vec::new(),
        files: Vec::new(),
    };
    let (text, calls, reason, _, _) = run(&Offline::new(0), request(purpose, vec![])).await;
    assert!(calls.is_empty());
    assert_eq!(reason, FinishReason::Stop);
    serde_json::from_str(&text).expect("design JSON")
}

pub(super) fn phase_of(design: Design, number: u32) -> Phase {
    Phase {
        number,
        name: design.name,
        goal: design.goal,
        files: design.files,
        last_phase: design.last_phase,
    }
}

/// Implements a phase and returns the complete files the parser found.
pub(super) async fn implement_files(
    description: &str,
    phase: &Phase,
    existing: &[String],
) -> Vec<(String, String)> {
    let purpose = Purpose::Implement {
        description: description.into(),
        phase: phase.clone(),
        files: existing.to_vec(),
    };
    let mut stream = Offline::new(0).stream(request(purpose, vec![]), CancellationToken::new());
    let mut parser = ScofParser::new();
    let mut events = Vec::new();
    let mut chunks = 0;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Text(t) = event.expect("no error") {
            chunks += 1;
            parser.push(&t, &mut events);
        }
    }
    parser.finish(&mut events);
    assert!(chunks > 5, "the answer streams in pieces");
    events
        .into_iter()
        .filter_map(|e| match e {
            ScofEvent::FileEnd {
                path,
                content,
                complete,
            } => {
                assert!(complete, "{path} is complete");
                Some((path, content))
            }
            ScofEvent::Patch { .. } | ScofEvent::Install { .. } => {
                panic!("unexpected {e:?}")
            }
            _ => None,
        })
        .collect()
}

pub(super) const TODO_CLUB: &str = "a todo app for my book club";
