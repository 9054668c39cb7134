//! One generation run: the state machine
//! `designing_phase → implementing_phase → installing_deps → starting_server
//! → (next phase | complete)`, plus `cancelled` and `failed`.
//!
//! Each step is persisted when it finishes (`store::Step`), so a run
//! interrupted by a restart continues after its last finished step: a phase
//! that was being implemented is implemented again from the start (files
//! are only stored once complete, so nothing half-written or duplicated
//! remains), and an install or start is simply redone.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::StreamExt;
use minicode::protocol::{AgentState, Phase, PlannedFile, ServerEvent};
use minicode::{ErrorCode, Usage};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::prompts;
use super::store::{self, RunRecord, Step};
use crate::error::{AppError, retry_busy};

/// How long a generation waits out a database lock before it fails.
const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);
use crate::files::{self, Source};
use crate::llm::models::ResolvedModel;
use crate::llm::{ChatRequest, FinishReason, LlmError, LlmMessage, Purpose, StreamEvent};
use crate::scof::{ScofEvent, ScofParser, apply_patch};
use crate::state::AppState;
use crate::workspace::RelPath;

/// Everything a run needs.
pub struct RunContext {
    pub state: AppState,
    pub project: Uuid,
    pub run: Uuid,
    pub description: String,
    pub model: ResolvedModel,
    pub cancel: CancellationToken,
    /// Images the user attached to the prompt: every phase's designer and
    /// implementer sees them with its first message.
    pub images: Vec<crate::llm::LlmImage>,
}

/// Why a run stopped before completing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cancelled")]
    Cancelled,
    #[error("{message}")]
    Failed { message: String, code: &'static str },
}

impl RunError {
    fn failed(code: &'static str, message: impl Into<String>) -> Self {
        RunError::Failed {
            message: message.into(),
            code,
        }
    }
}

impl From<crate::error::AppError> for RunError {
    fn from(e: crate::error::AppError) -> Self {
        let api = minicode::ApiError::from(e);
        let code = match api.code {
            code @ (minicode::ErrorCode::QuotaExceeded | minicode::ErrorCode::BudgetExceeded) => {
                code.as_str()
            }
            _ => "INTERNAL",
        };
        RunError::failed(code, api.error)
    }
}

impl From<LlmError> for RunError {
    fn from(e: LlmError) -> Self {
        match e {
            LlmError::Cancelled => RunError::Cancelled,
            other => RunError::failed("MODEL_ERROR", other.to_string()),
        }
    }
}

impl From<crate::sandbox::SandboxError> for RunError {
    fn from(e: crate::sandbox::SandboxError) -> Self {
        match e {
            crate::sandbox::SandboxError::Cancelled => RunError::Cancelled,
            other => RunError::failed("SANDBOX_ERROR", other.to_string()),
        }
    }
}

/// The next thing to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Design(u32),
    Implement(u32),
    Install(u32),
    Start(u32),
    Complete(u32),
}

/// Where a run picks up after `step`.
fn next_after(step: Option<Step>, phases: &[Phase], max_phases: u32) -> Next {
    let is_last = |n: u32| phases.iter().any(|p| p.number == n && p.last_phase) || n >= max_phases;
    match step {
        None => Next::Design(1),
        Some(Step::Designed(n)) => Next::Implement(n),
        Some(Step::Implemented(n)) => Next::Install(n),
        Some(Step::Installed(n)) => Next::Start(n),
        Some(Step::Served(n)) if is_last(n) => Next::Complete(n),
        Some(Step::Served(n)) => Next::Design(n + 1),
    }
}

/// Runs (or resumes) a generation to its end and records how it ended.
pub async fn drive(ctx: RunContext, resume: Option<Step>, mut phases: Vec<Phase>) {
    let outcome = steps(&ctx, resume, &mut phases).await;
    let state = &ctx.state;
    match outcome {
        Ok(()) => {}
        Err(RunError::Cancelled) if !state.agents.cancelled_by_user(ctx.project, ctx.run) => {
            // Not the user's doing (shutdown, or the lease went to another
            // instance): leave the run as it is; whoever holds it next resumes it.
            tracing::info!(run_id = %ctx.run, "run paused (shutdown or hand-over)");
        }
        Err(RunError::Cancelled) => {
            tracing::info!(run_id = %ctx.run, "run cancelled");
            let _ = store::set_state(state, ctx.run, AgentState::Cancelled, None).await;
            state
                .events
                .emit(
                    ctx.project,
                    ServerEvent::StateChange {
                        state: AgentState::Cancelled,
                    },
                )
                .await;
        }
        Err(RunError::Failed { message, code }) => {
            tracing::warn!(run_id = %ctx.run, error = %message, "run failed");
            let _ = store::set_error(state, ctx.run, &message).await;
            let _ = store::set_state(state, ctx.run, AgentState::Failed, None).await;
            let log_tail =
                (code == "SANDBOX_ERROR").then(|| state.sandboxes.log_tail(ctx.project, 30));
            state
                .events
                .emit(
                    ctx.project,
                    ServerEvent::Error {
                        message: message.clone(),
                        code: code.into(),
                        log_tail,
                    },
                )
                .await;
            state
                .events
                .emit(
                    ctx.project,
                    ServerEvent::StateChange {
                        state: AgentState::Failed,
                    },
                )
                .await;
        }
    }
}

/// Marks a stored run that cannot continue as failed, telling clients why.
pub async fn fail_stored(state: &AppState, record: &RunRecord, reason: &str) {
    let _ = store::set_error(state, record.id, reason).await;
    let _ = store::set_state(state, record.id, AgentState::Failed, None).await;
    state
        .events
        .emit(record.project_id, ServerEvent::error("RUN_FAILED", reason))
        .await;
    state
        .events
        .emit(
            record.project_id,
            ServerEvent::StateChange {
                state: AgentState::Failed,
            },
        )
        .await;
}

async fn steps(
    ctx: &RunContext,
    resume: Option<Step>,
    phases: &mut Vec<Phase>,
) -> Result<(), RunError> {
    let max_phases = ctx.state.config.agent.max_phases.max(1);
    let mut next = next_after(resume, phases, max_phases);
    loop {
        if ctx.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        next = match next {
            Next::Design(n) => {
                enter(ctx, AgentState::DesigningPhase, n).await?;
                ctx.state
                    .events
                    .emit(ctx.project, ServerEvent::PhaseDesigning { phase_number: n })
                    .await;
                let (phase, usage) = design(ctx, n, phases).await?;
                store::save_phase(&ctx.state, ctx.run, &phase).await?;
                store::add_usage(
                    &ctx.state,
                    ctx.project,
                    ctx.run,
                    &ctx.model.id,
                    Some(n),
                    usage,
                )
                .await?;
                store::set_step(&ctx.state, ctx.run, Step::Designed(n)).await?;
                phases.retain(|p| p.number != n);
                phases.push(phase.clone());
                ctx.state
                    .events
                    .emit(ctx.project, ServerEvent::PhaseDesigned { phase })
                    .await;
                Next::Implement(n)
            }
            Next::Implement(n) => {
                enter(ctx, AgentState::ImplementingPhase, n).await?;
                let phase = phases
                    .iter()
                    .find(|p| p.number == n)
                    .cloned()
                    .ok_or_else(|| {
                        RunError::failed("INTERNAL", format!("phase {n} was never designed"))
                    })?;
                let written = implement(ctx, &phase).await?;
                store::mark_implemented(&ctx.state, ctx.run, n).await?;
                store::set_step(&ctx.state, ctx.run, Step::Implemented(n)).await?;
                ctx.state
                    .events
                    .emit(ctx.project, ServerEvent::FilesWritten { count: written })
                    .await;
                Next::Install(n)
            }
            Next::Install(n) => {
                enter(ctx, AgentState::InstallingDeps, n).await?;
                ensure_workspace(ctx).await?;
                crate::quota::make_room_for_preview(&ctx.state, ctx.project).await?;
                // Previews that land on another instance come here from now on.
                crate::cluster::hosts::host_sandbox(&ctx.state, ctx.project).await;
                ctx.state
                    .sandboxes
                    .install(ctx.project, &ctx.cancel)
                    .await?;
                pin_installed(ctx).await?;
                store::set_step(&ctx.state, ctx.run, Step::Installed(n)).await?;
                Next::Start(n)
            }
            Next::Start(n) => {
                enter(ctx, AgentState::StartingServer, n).await?;
                crate::cluster::hosts::host_sandbox(&ctx.state, ctx.project).await;
                ctx.state.sandboxes.start(ctx.project, &ctx.cancel).await?;
                store::set_step(&ctx.state, ctx.run, Step::Served(n)).await?;
                crate::checkpoints::after_phase(
                    &ctx.state,
                    ctx.project,
                    n,
                    phases.iter().find(|p| p.number == n),
                    &ctx.model.id,
                )
                .await;
                next_after(Some(Step::Served(n)), phases, max_phases)
            }
            Next::Complete(n) => {
                store::set_state(&ctx.state, ctx.run, AgentState::Complete, Some(n)).await?;
                let files: Vec<String> = files::list_latest(&ctx.state, ctx.project)
                    .await?
                    .into_iter()
                    .map(|f| f.path)
                    .collect();
                ctx.state
                    .events
                    .emit(
                        ctx.project,
                        ServerEvent::StateChange {
                            state: AgentState::Complete,
                        },
                    )
                    .await;
                ctx.state
                    .events
                    .emit(
                        ctx.project,
                        ServerEvent::GenerationComplete { files, phases: n },
                    )
                    .await;
                tracing::info!(run_id = %ctx.run, phases = n, "generation complete");
                return Ok(());
            }
        };
    }
}

/// Persists and announces a state change.
async fn enter(ctx: &RunContext, state: AgentState, phase: u32) -> Result<(), RunError> {
    store::set_state(&ctx.state, ctx.run, state, Some(phase)).await?;
    ctx.state
        .events
        .emit(ctx.project, ServerEvent::StateChange { state })
        .await;
    Ok(())
}

/// A workspace removed while the server was down comes back from the database.
async fn ensure_workspace(ctx: &RunContext) -> Result<(), RunError> {
    files::ensure_workspace(&ctx.state, ctx.project).await?;
    Ok(())
}

/// Asks the model for phase `n`'s design; up to [`DESIGN_REPAIRS`] repair
/// rounds, each showing the model its answer and what was wrong with it.
async fn design(ctx: &RunContext, n: u32, previous: &[Phase]) -> Result<(Phase, Usage), RunError> {
    let files: Vec<String> = files::list_latest(&ctx.state, ctx.project)
        .await?
        .into_iter()
        .map(|f| f.path)
        .collect();
    let previous: Vec<Phase> = previous.iter().filter(|p| p.number < n).cloned().collect();
    let purpose = Purpose::DesignPhase {
        description: ctx.description.clone(),
        phase_number: n,
        previous: previous.clone(),
        files: files.clone(),
    };
    let system = prompts::phase_designer(&ctx.description, n, &previous, &files);
    let mut messages = vec![LlmMessage::User {
        images: ctx.images.clone(),
        content: format!("Design phase {n} of the app now. Answer with the JSON object only."),
    }];
    let mut usage = Usage::default();
    for attempt in 0..=DESIGN_REPAIRS {
        let request = ChatRequest {
            model: ctx.model.name.clone(),
            system: system.clone(),
            messages: messages.clone(),
            tools: Vec::new(),
            max_tokens: 4096,
            temperature: Some(0.2),
            purpose: purpose.clone(),
        };
        let (answer, used) = collect_text(ctx, request).await?;
        usage.add(used);
        match super::design::parse(&answer, n) {
            Ok(phase) => return Ok((phase, usage)),
            Err(problem) if attempt < DESIGN_REPAIRS => {
                tracing::info!(
                    problem,
                    attempt,
                    "phase design was not a valid plan; asking again"
                );
                messages.push(LlmMessage::Assistant {
                    content: answer.clone(),
                    tool_calls: Vec::new(),
                });
                messages.push(LlmMessage::User {
                    images: Vec::new(),
                    content: prompts::repair_json(&problem, &answer),
                });
            }
            Err(problem) => {
                return Err(RunError::failed(
                    "MODEL_ERROR",
                    format!(
                        "the model's plan for phase {n} was not valid after {} tries: {problem}",
                        DESIGN_REPAIRS + 1
                    ),
                ));
            }
        }
    }
    Err(RunError::failed("MODEL_ERROR", "no phase design"))
}

/// Streams a call to its end and returns the text and usage.
async fn collect_text(ctx: &RunContext, request: ChatRequest) -> Result<(String, Usage), RunError> {
    let mut stream = ctx.model.provider.stream(request, ctx.cancel.clone());
    let mut text = String::new();
    let mut usage = Usage::default();
    while let Some(event) = tokio::select! {
        e = stream.next() => e,
        () = ctx.cancel.cancelled() => return Err(RunError::Cancelled),
    } {
        match event? {
            StreamEvent::Text(t) => text.push_str(&t),
            StreamEvent::Finish { usage: u, .. } => usage = u,
            StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallArgs { .. } => {}
        }
    }
    Ok((text, usage))
}

/// Repair rounds after an invalid phase design.
const DESIGN_REPAIRS: u32 = 2;

/// Up to this much of the existing code goes into the implementer's prompt.
const CONTEXT_BYTES: usize = 120_000;

/// Continuations asked for after an answer hit `max_tokens`, per call.
const MAX_CONTINUATIONS: u32 = 3;
/// Times the model is asked again for files of the plan it did not deliver.
const MAX_FILE_RETRIES: u32 = 2;

/// Streams the implementation of a phase: files appear in the editor as they
/// are written, and each complete file is stored and written to the
/// workspace at once. Returns how many files were written.
///
/// The phase is checked against its plan, not taken on the model's word:
/// an answer cut off by `max_tokens` is continued from where it stopped
/// (the parser keeps its place, so a file split across the two answers is
/// one file); then every planned file must exist and none may have been cut
/// off or failed to patch. What is missing is asked for again, by name and
/// with the reason, and only then does the phase fail, with an error that
/// names the files. Files already stored stay.
async fn implement(ctx: &RunContext, phase: &Phase) -> Result<u32, RunError> {
    let existing = files::snapshot(&ctx.state, ctx.project).await?;
    let mut context = String::new();
    for (path, _, bytes) in &existing {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        if context.len() + text.len() > CONTEXT_BYTES {
            context.push_str(&format!("\n(file {path} omitted: context budget)\n"));
            continue;
        }
        context.push_str(&format!("\n=== {path} ===\n{text}\n"));
    }
    let paths: Vec<String> = existing.iter().map(|(p, _, _)| p.clone()).collect();
    let system = prompts::implementer(&ctx.description, phase, &paths);
    let first = LlmMessage::User {
        images: ctx.images.clone(),
        content: format!(
            "Implement phase {} ({}) now. Current files:{}",
            phase.number,
            phase.name,
            if context.is_empty() {
                " none yet.".to_string()
            } else {
                context
            }
        ),
    };

    let mut writer = PhaseWriter {
        ctx,
        written: BTreeSet::new(),
        refused: HashSet::new(),
        failed: BTreeMap::new(),
        packages: Vec::new(),
        open: None,
    };
    let mut usage = Usage::default();
    let mut messages = vec![first.clone()];
    // What this call must deliver: the whole plan, then what is missing.
    let mut wanted = phase.clone();
    let mut retries = 0;
    let result: Result<(), RunError> = async {
        loop {
            let mut parser = ScofParser::new();
            let mut continuations = 0;
            loop {
                let request = ChatRequest {
                    model: ctx.model.name.clone(),
                    system: system.clone(),
                    messages: messages.clone(),
                    tools: Vec::new(),
                    max_tokens: 32_000,
                    temperature: Some(0.2),
                    purpose: Purpose::Implement {
                        description: ctx.description.clone(),
                        phase: wanted.clone(),
                        files: paths.clone(),
                    },
                };
                let (answer, finish) =
                    stream_files(ctx, request, &mut parser, &mut writer, &mut usage).await?;
                if finish != FinishReason::Length || continuations == MAX_CONTINUATIONS {
                    if finish == FinishReason::Length {
                        tracing::warn!(
                            continuations,
                            "the answer was still cut off after the continuations"
                        );
                    }
                    break;
                }
                continuations += 1;
                tracing::info!(
                    continuations,
                    "the answer hit the token limit; asking the model to continue"
                );
                messages.push(LlmMessage::Assistant {
                    content: answer,
                    tool_calls: Vec::new(),
                });
                messages.push(LlmMessage::User {
                    images: Vec::new(),
                    content: prompts::continue_answer(),
                });
            }
            // The answer is over: an unclosed file ends incomplete here.
            let mut events = Vec::new();
            parser.finish(&mut events);
            writer.handle(events).await?;

            let missing = writer.missing(phase).await?;
            if missing.is_empty() {
                return Ok(());
            }
            if retries == MAX_FILE_RETRIES {
                let list = missing
                    .iter()
                    .map(|(path, why)| format!("{path} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(RunError::failed(
                    "INCOMPLETE_PHASE",
                    format!(
                        "phase {} is missing files of its plan after {} requests: {list}",
                        phase.number,
                        MAX_FILE_RETRIES + 1
                    ),
                ));
            }
            retries += 1;
            tracing::info!(
                retries,
                missing = missing.len(),
                "asking the model again for files of the plan"
            );
            // Exactly the missing files, each with its purpose from the plan.
            wanted.files = missing
                .iter()
                .map(|(path, _)| PlannedFile {
                    path: path.clone(),
                    purpose: phase
                        .files
                        .iter()
                        .find(|f| {
                            RelPath::parse_writable(&f.path).is_ok_and(|p| p.as_str() == path)
                        })
                        .map(|f| f.purpose.clone())
                        .unwrap_or_default(),
                })
                .collect();
            messages = vec![
                first.clone(),
                LlmMessage::User {
                    images: Vec::new(),
                    content: prompts::missing_files(&missing),
                },
            ];
        }
    }
    .await;
    if result.is_err() {
        // Cancelled or failed while a file was being written: it is not
        // stored, and clients that saw it begin must not keep half of it.
        writer.abandon().await;
    }
    store::add_usage(
        &ctx.state,
        ctx.project,
        ctx.run,
        &ctx.model.id,
        Some(phase.number),
        usage,
    )
    .await?;
    result?;
    if !writer.packages.is_empty() {
        writer.add_packages().await?;
    }
    if writer.written.is_empty() {
        return Err(RunError::failed(
            "MODEL_ERROR",
            format!("the model wrote no file for phase {}", phase.number),
        ));
    }
    Ok(writer.written.len() as u32)
}

/// Streams one call's answer through the reasoning filter and the parser
/// into `writer`; returns the answer's text and why it ended.
async fn stream_files(
    ctx: &RunContext,
    request: ChatRequest,
    parser: &mut ScofParser,
    writer: &mut PhaseWriter<'_>,
    usage: &mut Usage,
) -> Result<(String, FinishReason), RunError> {
    let mut stream = ctx.model.provider.stream(request, ctx.cancel.clone());
    let mut thinking = crate::llm::reasoning::Filter::default();
    let mut carried_cr = String::new();
    let mut answer = String::new();
    let mut finish = FinishReason::Stop;
    let mut events = Vec::new();
    while let Some(event) = tokio::select! {
        e = stream.next() => e,
        () = ctx.cancel.cancelled() => return Err(RunError::Cancelled),
    } {
        match event? {
            StreamEvent::Text(text) => {
                answer.push_str(&text);
                // CRLF answers (some Windows-hosted servers) are read as LF,
                // so files and markers are the same either way; a `\r` at
                // the end of a chunk waits for the next one.
                let mut text = std::mem::take(&mut carried_cr) + &text;
                if text.ends_with('\r') {
                    text.pop();
                    carried_cr.push('\r');
                }
                let text = text.replace("\r\n", "\n");
                // Reasoning blocks never reach the parser.
                parser.push(&thinking.push(&text), &mut events);
                writer.handle(std::mem::take(&mut events)).await?;
            }
            StreamEvent::Finish { usage: u, reason } => {
                usage.add(u);
                finish = reason;
            }
            StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallArgs { .. } => {}
        }
    }
    let rest = thinking.push(&carried_cr) + &thinking.finish();
    parser.push(&rest, &mut events);
    writer.handle(events).await?;
    Ok((answer, finish))
}

/// Turns parser events into events for clients and stored files.
struct PhaseWriter<'a> {
    ctx: &'a RunContext,
    written: BTreeSet<String>,
    /// Paths refused (outside the workspace…): their chunks are dropped.
    refused: HashSet<String>,
    /// Files the model began but did not deliver, with why (cut off, a
    /// patch that did not apply); cleared when a later version is stored.
    failed: BTreeMap<String, String>,
    packages: Vec<(String, bool)>,
    /// The file clients saw begin and not yet end (stored or announced
    /// incomplete).
    open: Option<String>,
}

impl PhaseWriter<'_> {
    /// After a cancel or a failure: the file clients saw begin and not end
    /// is announced incomplete (they put back what was there before).
    async fn abandon(&mut self) {
        if let Some(path) = self.open.take() {
            self.incomplete(path, String::new()).await;
        }
    }

    /// `file_end` with `incomplete`: the file was not stored.
    async fn incomplete(&self, path: String, content: String) {
        self.ctx
            .state
            .events
            .emit(
                self.ctx.project,
                ServerEvent::FileEnd {
                    path,
                    content,
                    incomplete: true,
                },
            )
            .await;
    }

    async fn handle(&mut self, events: Vec<ScofEvent>) -> Result<(), RunError> {
        let (state, project) = (&self.ctx.state, self.ctx.project);
        for event in events {
            if self.ctx.cancel.is_cancelled() {
                return Err(RunError::Cancelled);
            }
            match event {
                ScofEvent::FileStart { path } => match RelPath::parse_writable(&path) {
                    Ok(p) => {
                        self.open = Some(p.to_string());
                        state
                            .events
                            .emit(
                                project,
                                ServerEvent::FileStart {
                                    path: p.to_string(),
                                },
                            )
                            .await
                    }
                    Err(e) => {
                        tracing::warn!(path, error = %e, "model wrote to a refused path");
                        state
                            .events
                            .emit(
                                project,
                                ServerEvent::error(
                                    "REFUSED_PATH",
                                    format!("skipped `{path}`: {e}"),
                                ),
                            )
                            .await;
                        self.refused.insert(path);
                    }
                },
                ScofEvent::FileChunk { path, chunk } => {
                    if !self.refused.contains(&path)
                        && let Ok(p) = RelPath::parse_writable(&path)
                    {
                        state
                            .events
                            .emit(
                                project,
                                ServerEvent::FileChunk {
                                    path: p.to_string(),
                                    chunk,
                                },
                            )
                            .await;
                    }
                }
                ScofEvent::FileEnd {
                    path,
                    content,
                    complete,
                } => {
                    let Ok(p) = RelPath::parse_writable(&path) else {
                        continue;
                    };
                    if complete {
                        self.store(p, content).await?;
                    } else {
                        // The stream broke off inside this file: never store half a file.
                        self.failed
                            .insert(p.to_string(), "cut off before its end".into());
                        self.incomplete(p.to_string(), content).await;
                    }
                    self.open = None;
                }
                ScofEvent::Patch {
                    path,
                    diff,
                    complete,
                } => {
                    let Ok(p) = RelPath::parse_writable(&path) else {
                        state
                            .events
                            .emit(
                                project,
                                ServerEvent::error(
                                    "REFUSED_PATH",
                                    format!("skipped a patch of `{path}`"),
                                ),
                            )
                            .await;
                        continue;
                    };
                    if !complete {
                        self.failed
                            .insert(p.to_string(), "its patch broke off".into());
                        state
                            .events
                            .emit(
                                project,
                                ServerEvent::error(
                                    "PATCH_FAILED",
                                    format!("the patch of `{p}` broke off; the file is unchanged"),
                                ),
                            )
                            .await;
                        continue;
                    }
                    let old = match files::read(state, project, &p).await {
                        Ok(current) => current.content,
                        Err(_) => String::new(),
                    };
                    match apply_patch(&old, &diff) {
                        Ok(new) => {
                            state
                                .events
                                .emit(
                                    project,
                                    ServerEvent::FileStart {
                                        path: p.to_string(),
                                    },
                                )
                                .await;
                            self.store(p, new).await?;
                        }
                        Err(e) => {
                            self.failed
                                .insert(p.to_string(), format!("its patch did not apply: {e}"));
                            state
                                .events
                                .emit(
                                    project,
                                    ServerEvent::error(
                                        "PATCH_FAILED",
                                        format!(
                                            "could not patch `{p}`: {e}; the file is unchanged"
                                        ),
                                    ),
                                )
                                .await;
                        }
                    }
                }
                ScofEvent::Install { packages, dev } => {
                    self.packages.extend(packages.into_iter().map(|p| (p, dev)));
                }
            }
        }
        Ok(())
    }

    /// Stores a complete file. One the model put where a file of the
    /// project is a folder (or inside a file) is skipped like a refused
    /// path: nothing is stored, clients drop it, and the run goes on.
    async fn store(&mut self, path: RelPath, content: String) -> Result<(), RunError> {
        let (state, project) = (&self.ctx.state, self.ctx.project);
        // A lock held elsewhere pauses the run rather than failing it.
        let run = self.ctx.run;
        let saved = retry_busy(BUSY_PATIENCE, || {
            files::save(
                state,
                project,
                vec![(path.clone(), content.clone().into_bytes())],
                Source::Generation,
                Some(run),
            )
        })
        .await;
        if let Err(AppError::Api(e)) = &saved
            && e.code == ErrorCode::Conflict
        {
            tracing::warn!(%path, error = %e.error, "model wrote a file where a folder is");
            // Refused by us, and reported: not something to ask for again.
            self.refused.insert(path.to_string());
            state
                .events
                .emit(
                    project,
                    ServerEvent::error("REFUSED_PATH", format!("skipped `{path}`: {}", e.error)),
                )
                .await;
            self.incomplete(path.to_string(), String::new()).await;
            return Ok(());
        }
        // Stored and announced (`file_end`) by the files service.
        saved?;
        self.failed.remove(path.as_str());
        self.written.insert(path.to_string());
        Ok(())
    }

    /// The files of `phase`'s plan the project does not have after this
    /// phase, and those the model began and did not deliver, with why.
    async fn missing(&self, phase: &Phase) -> Result<Vec<(String, String)>, RunError> {
        let live: BTreeSet<String> = files::list_latest(&self.ctx.state, self.ctx.project)
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect();
        let mut missing: BTreeMap<String, String> = self.failed.clone();
        for file in &phase.files {
            let Ok(path) = RelPath::parse_writable(&file.path) else {
                continue;
            };
            if !live.contains(path.as_str()) && !self.refused.contains(path.as_str()) {
                missing
                    .entry(path.to_string())
                    .or_insert_with(|| "never written".into());
            }
        }
        Ok(missing.into_iter().collect())
    }

    /// `npm install` lines become package.json entries (the install step then installs them).
    async fn add_packages(&mut self) -> Result<(), RunError> {
        let (state, project) = (&self.ctx.state, self.ctx.project);
        let path = RelPath::parse("package.json")
            .map_err(|e| RunError::failed("INTERNAL", e.to_string()))?;
        let current = files::read(state, project, &path)
            .await
            .map(|f| f.content)
            .unwrap_or_else(|_| "{}".into());
        let packages = std::mem::take(&mut self.packages);
        let Some(text) =
            merge_packages(&current, &packages).map_err(|e| RunError::failed("MODEL_ERROR", e))?
        else {
            // Every package is already there: package.json stays as written.
            return Ok(());
        };
        self.store(path, text).await
    }
}

/// Stores package.json with its `latest` dependencies pinned to a caret
/// range of what was just installed (`npm install zod` → `"zod": "^3.25.76"`,
/// not `"latest"`), so the app installs the same major version later.
async fn pin_installed(ctx: &RunContext) -> Result<(), RunError> {
    let Some(pinned) = ctx.state.sandboxes.pin_installed(ctx.project).await? else {
        return Ok(());
    };
    let path =
        RelPath::parse("package.json").map_err(|e| RunError::failed("INTERNAL", e.to_string()))?;
    let run = ctx.run;
    retry_busy(BUSY_PATIENCE, || {
        files::save(
            &ctx.state,
            ctx.project,
            vec![(path.clone(), pinned.clone().into_bytes())],
            Source::Generation,
            Some(run),
        )
    })
    .await?;
    Ok(())
}

/// `package.json` with the `(spec, dev)` packages added where missing, or
/// `None` if none was. The file's own key order and every entry it has are
/// kept (serde_json's `preserve_order`): only the new names are appended.
fn merge_packages(current: &str, packages: &[(String, bool)]) -> Result<Option<String>, String> {
    let mut manifest: serde_json::Value = serde_json::from_str(current)
        .map_err(|e| format!("package.json is not valid JSON: {e}"))?;
    let Some(object) = manifest.as_object_mut() else {
        return Err("package.json is not a JSON object".into());
    };
    let mut added = false;
    for (package, dev) in packages {
        let (name, version) = split_spec(package);
        let section = if *dev {
            "devDependencies"
        } else {
            "dependencies"
        };
        // Already a dependency of either kind: the model's line adds nothing.
        let present = ["dependencies", "devDependencies"].iter().any(|s| {
            object
                .get(*s)
                .and_then(|d| d.as_object())
                .is_some_and(|d| d.contains_key(name))
        });
        if present {
            continue;
        }
        let entry = object
            .entry(section)
            .or_insert_with(|| serde_json::json!({}));
        let serde_json::Value::Object(deps) = entry else {
            return Err(format!("`{section}` in package.json is not an object"));
        };
        deps.insert(
            name.to_string(),
            serde_json::Value::String(version.to_string()),
        );
        added = true;
    }
    if !added {
        return Ok(None);
    }
    serde_json::to_string_pretty(&manifest)
        .map(|text| Some(text + "\n"))
        .map_err(|e| e.to_string())
}

/// `zod@^3` → (`zod`, `^3`); `@scope/pkg` → (`@scope/pkg`, `latest`).
fn split_spec(spec: &str) -> (&str, &str) {
    let at = if let Some(rest) = spec.strip_prefix('@') {
        rest.find('@').map(|i| i + 1)
    } else {
        spec.find('@')
    };
    match at {
        Some(i) if i + 1 < spec.len() => (&spec[..i], &spec[i + 1..]),
        Some(i) => (&spec[..i], "latest"),
        None => (spec, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_points() {
        let phases = vec![
            Phase {
                number: 1,
                name: "a".into(),
                goal: String::new(),
                files: vec![],
                last_phase: false,
            },
            Phase {
                number: 2,
                name: "b".into(),
                goal: String::new(),
                files: vec![],
                last_phase: true,
            },
        ];
        assert_eq!(next_after(None, &phases, 6), Next::Design(1));
        assert_eq!(
            next_after(Some(Step::Designed(1)), &phases, 6),
            Next::Implement(1)
        );
        assert_eq!(
            next_after(Some(Step::Implemented(1)), &phases, 6),
            Next::Install(1)
        );
        assert_eq!(
            next_after(Some(Step::Installed(1)), &phases, 6),
            Next::Start(1)
        );
        assert_eq!(
            next_after(Some(Step::Served(1)), &phases, 6),
            Next::Design(2)
        );
        assert_eq!(
            next_after(Some(Step::Served(2)), &phases, 6),
            Next::Complete(2)
        );
        assert_eq!(
            next_after(Some(Step::Served(1)), &phases, 1),
            Next::Complete(1),
            "phase cap"
        );
    }

    #[test]
    fn package_specs() {
        assert_eq!(split_spec("zod"), ("zod", "latest"));
        // package.json keeps its key order and entries; only new names are added.
        let manifest = "{\n  \"name\": \"app\",\n  \"scripts\": {\"dev\": \"vite\"},\n  \"dependencies\": {\"react\": \"^19\", \"a\": \"1\"}\n}\n";
        let merged = merge_packages(
            manifest,
            &[
                ("zod@^3".into(), false),
                ("react".into(), false),
                ("vitest".into(), true),
            ],
        )
        .unwrap()
        .unwrap();
        let keys: Vec<&str> = [
            "\"name\"",
            "\"scripts\"",
            "\"dependencies\"",
            "\"react\"",
            "\"a\"",
            "\"zod\"",
            "\"devDependencies\"",
            "\"vitest\"",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys.iter().map(|k| merged.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{merged}");
        assert!(
            merged.contains("\"react\": \"^19\""),
            "an existing entry is kept"
        );
        assert_eq!(
            merge_packages(manifest, &[("react".into(), false)]).unwrap(),
            None
        );
        assert!(merge_packages("[1]", &[("zod".into(), false)]).is_err());
        assert_eq!(split_spec("zod@^3.22"), ("zod", "^3.22"));
        assert_eq!(
            split_spec("@tanstack/react-query"),
            ("@tanstack/react-query", "latest")
        );
        assert_eq!(
            split_spec("@tanstack/react-query@5"),
            ("@tanstack/react-query", "5")
        );
    }
}
