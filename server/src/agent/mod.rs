//! The agent: generation runs (design → implement → install → serve, phase
//! by phase, in `run.rs`) and chat turns (a tool-using loop, in `chat/`), at
//! most one at a time per project.
//!
//! Both claim the project in the [`registry`] (which sits below `AppState`),
//! persist every state change as it happens (`store.rs`, the chat tables) and
//! publish it on the project's event log, so a client that reconnects, or a
//! server that restarts, picks up where things were: interrupted runs are
//! resumed from their last finished step at start-up, or by another
//! instance when theirs died (see [`take_over`]).

pub mod chat;
pub(crate) mod config;
pub(crate) mod design;
pub(crate) mod prompts;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod run;
pub(crate) mod store;

pub use registry::{Agents, Work};

use minicode::protocol::{AgentState, RunSnapshot};
use minicode::{ApiError, MAX_DESCRIPTION_CHARS, Project};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Starts generating the project's app from a description.
#[tracing::instrument(name = "agent.generate", skip_all, fields(project_id = %project.id))]
pub async fn generate(
    state: &AppState,
    project: &Project,
    description: String,
    images: Vec<Uuid>,
) -> AppResult<Uuid> {
    let description = description.trim().to_string();
    if description.is_empty() {
        return Err(AppError::validation("describe the app you want"));
    }
    AppError::check_length(&description, MAX_DESCRIPTION_CHARS, "description")?;
    let model = state.models.resolve(project.model.as_deref())?;
    crate::images::ensure_model_sees(state, &model, &images)?;
    crate::images::check_sendable(state, project.id, &images).await?;
    // Claimed before anything is stored: a refused request (BUSY, or
    // over a quota) leaves no run behind to become the project's state,
    // and releases the claim.
    let run = Uuid::new_v4();
    let cancel = state
        .agents
        .claim(project.id, Work::Generation, run, None)
        .await?;
    let owner = match crate::projects::owner_of(state, project.id).await {
        Ok(owner) => owner,
        Err(e) => {
            state.agents.release(project.id, run).await;
            return Err(e);
        }
    };
    if let Err(e) =
        crate::quota::admit_work(state, owner, project.id, Work::Generation, run, &model.id).await
    {
        state.agents.release(project.id, run).await;
        return Err(e);
    }
    let stored = async {
        let start_seq = state.events.last_seq(project.id).await?;
        store::create(state, run, project.id, &description, &model.id, start_seq).await?;
        crate::images::attach(state, &images, crate::images::Owner::Run(run)).await?;
        let refs = crate::images::of_run(state, run).await?;
        let data = crate::images::for_model(state, crate::images::Owner::Run(run)).await?;
        Ok::<_, AppError>((refs, data))
    }
    .await;
    let (refs, images) = match stored {
        Ok(stored) => stored,
        Err(e) => {
            crate::quota::ledger::forget_start(state, run).await;
            // A run row stored before the failure must not look unfinished:
            // another instance (or the next start) would resume it.
            let _ = store::set_state(state, run, AgentState::Failed, None).await;
            state.agents.release(project.id, run).await;
            return Err(e);
        }
    };
    // Keep the description as the project's, so the dashboard shows it.
    if project.description.is_empty() {
        crate::projects::describe(state, project.id, &description).await;
    }
    // The user's waiting saves are committed before the agent's changes.
    crate::git::flush(state, project.id).await;
    tracing::info!(run_id = %run, model = %model.id, "generation started");
    state
        .events
        .emit(
            project.id,
            minicode::protocol::ServerEvent::RunStarted {
                run_id: run,
                description: description.clone(),
                images: refs,
            },
        )
        .await;
    let context = run::RunContext {
        state: state.clone(),
        project: project.id,
        run,
        description,
        model,
        cancel,
        images,
    };
    spawn_run(state, context, None, Vec::new());
    Ok(run)
}

fn spawn_run(
    state: &AppState,
    context: run::RunContext,
    resume: Option<store::Step>,
    phases: Vec<minicode::protocol::Phase>,
) {
    let agents = state.agents.clone();
    let (project, id) = (context.project, context.run);
    tokio::spawn(async move {
        run::drive(context, resume, phases).await;
        agents.release(project, id).await;
    });
}

/// The project's agent as clients see it.
pub async fn snapshot(state: &AppState, project: Uuid) -> AppResult<RunSnapshot> {
    let last_seq = state.events.last_seq(project).await?;
    let sandbox = state.sandboxes.status(project);
    let mut snapshot = RunSnapshot {
        last_seq,
        preview_url: sandbox.url,
        chat_busy: state.agents.busy_anywhere(project).await? == Some(Work::Chat),
        ..RunSnapshot::default()
    };
    if let Some(run) = store::latest(state, project).await? {
        snapshot.run_id = Some(run.id);
        snapshot.state = run.state;
        snapshot.phases = store::phases(state, run.id).await?;
        snapshot.current_phase = run.current_phase;
        snapshot.error = run.error;
        snapshot.usage = run.usage;
        snapshot.run_start_seq = run.start_seq;
    }
    Ok(snapshot)
}

/// Takes over the work no live instance holds: generation runs a stopped
/// or dead instance left in progress are resumed here, each from its last
/// finished step, and chat replies it was writing are closed with a note.
/// Called at start-up and, with several instances, at every heartbeat. A
/// run that cannot resume (its model is no longer configured, say) ends as
/// failed with the reason. Returns how many runs were resumed.
pub async fn take_over(state: &AppState) -> AppResult<usize> {
    if state.agents.shutting_down() {
        return Ok(0);
    }
    for (project, chat) in crate::chats::close_interrupted(state).await? {
        tracing::info!(project_id = %project, chat_id = %chat, "closed a chat reply whose instance stopped");
        state
            .events
            .emit_for_chat(
                project,
                chat,
                minicode::protocol::ServerEvent::Status {
                    status: "idle".into(),
                },
            )
            .await;
    }
    let mut resumed = 0;
    for record in store::interrupted(state).await? {
        let model = match state.models.resolve(Some(&record.model)) {
            Ok(m) => m,
            Err(e) => {
                let reason = format!(
                    "could not resume after a restart: {}",
                    ApiError::from(e).error
                );
                run::fail_stored(state, &record, &reason).await;
                continue;
            }
        };
        // Another instance may be taking it over right now: one claim wins.
        let cancel = match state
            .agents
            .claim(record.project_id, Work::Generation, record.id, None)
            .await
        {
            Ok(c) => c,
            Err(_) => continue,
        };
        let prepared = async {
            let phases = store::phases(state, record.id).await?;
            let images =
                crate::images::for_model(state, crate::images::Owner::Run(record.id)).await?;
            Ok::<_, AppError>((phases, images))
        }
        .await;
        let (phases, images) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                state.agents.release(record.project_id, record.id).await;
                return Err(e);
            }
        };
        tracing::info!(run_id = %record.id, project_id = %record.project_id, step = ?record.last_step, "resuming an interrupted run");
        let context = run::RunContext {
            state: state.clone(),
            project: record.project_id,
            run: record.id,
            description: record.description.clone(),
            model,
            cancel,
            images,
        };
        spawn_run(state, context, record.last_step, phases);
        resumed += 1;
    }
    Ok(resumed)
}
