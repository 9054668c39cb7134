//! The agent: generation runs (design → implement → install → serve, phase
//! by phase) and chat turns (a tool-using loop), at most one at a time per
//! project.
//!
//! [`Agents`] owns the running tasks. Every state change is persisted as it
//! happens (`store.rs`) and published on the project's event log, so a
//! client that reconnects, or a server that restarts, picks up where things
//! were: interrupted runs are resumed from their last finished step at
//! start-up (see [`Agents::resume_interrupted`]).

pub mod prompts;
pub mod routes;
pub mod run;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minicode::protocol::{RunSnapshot, ServerEvent};
use minicode::{ApiError, ErrorCode, MAX_DESCRIPTION_CHARS, Project};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What a project is busy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Generation,
    Chat,
}

struct Active {
    work: Work,
    id: Uuid,
    /// The chat of a chat turn (its socket may cancel it).
    chat: Option<Uuid>,
    /// Cancelled by the user: the run ends as `cancelled`.
    cancel: CancellationToken,
}

/// The running agent work of every project. Cheap to clone.
#[derive(Clone)]
pub struct Agents {
    active: Arc<Mutex<HashMap<Uuid, Active>>>,
    /// Cancelled at server shutdown: tasks stop without changing their stored
    /// state, so the next start resumes them.
    shutdown: CancellationToken,
}

impl Default for Agents {
    fn default() -> Self {
        Self::new()
    }
}

impl Agents {
    /// Per-user limits on generations and chat turns are the quota
    /// module's (`quota::admit_work`), checked once the project is claimed.
    pub fn new() -> Self {
        Self {
            active: Arc::default(),
            shutdown: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the project for `work`, or says what it is busy with.
    fn claim(
        &self,
        project: Uuid,
        work: Work,
        id: Uuid,
        chat: Option<Uuid>,
    ) -> AppResult<CancellationToken> {
        let mut active = self.lock();
        if let Some(current) = active.get(&project) {
            let what = match current.work {
                Work::Generation => "the app is being generated",
                Work::Chat => "a chat reply is in progress",
            };
            return Err(AppError::Api(ApiError::new(
                ErrorCode::Busy,
                format!("{what}; wait for it to finish or cancel it"),
            )));
        }
        let cancel = self.shutdown.child_token();
        active.insert(
            project,
            Active {
                work,
                id,
                chat,
                cancel: cancel.clone(),
            },
        );
        Ok(cancel)
    }

    fn release(&self, project: Uuid, id: Uuid) {
        let mut active = self.lock();
        if active.get(&project).is_some_and(|a| a.id == id) {
            active.remove(&project);
        }
    }

    /// What the project is busy with right now, if anything.
    pub fn busy(&self, project: Uuid) -> Option<Work> {
        self.lock().get(&project).map(|a| a.work)
    }

    /// Starts generating the project's app from a description.
    #[tracing::instrument(name = "agent.generate", skip_all, fields(project_id = %project.id))]
    pub async fn generate(
        &self,
        state: &AppState,
        project: &Project,
        description: String,
    ) -> AppResult<Uuid> {
        let description = description.trim().to_string();
        if description.is_empty() {
            return Err(AppError::validation("describe the app you want"));
        }
        AppError::check_length(&description, MAX_DESCRIPTION_CHARS, "description")?;
        let model = state.models.resolve(project.model.as_deref())?;
        // Claimed before anything is stored: a refused request (BUSY, or
        // over a quota) leaves no run behind to become the project's state,
        // and releases the claim.
        let run = Uuid::new_v4();
        let cancel = self.claim(project.id, Work::Generation, run, None)?;
        let owner = match owner_of(state, project.id).await {
            Ok(owner) => owner,
            Err(e) => {
                self.release(project.id, run);
                return Err(e);
            }
        };
        if let Err(e) =
            crate::quota::admit_work(state, owner, project.id, Work::Generation, run, &model.id)
                .await
        {
            self.release(project.id, run);
            return Err(e);
        }
        let stored = async {
            let start_seq = state.events.last_seq(project.id).await?;
            store::create(state, run, project.id, &description, &model.id, start_seq).await
        }
        .await;
        if let Err(e) = stored {
            crate::quota::ledger::forget_start(state, run).await;
            self.release(project.id, run);
            return Err(e);
        }
        // Keep the description as the project's, so the dashboard shows it.
        if project.description.is_empty() {
            let _ = sqlx::query("UPDATE projects SET description = $1 WHERE id = $2")
                .bind(&description)
                .bind(project.id.to_string())
                .execute(state.db.pool())
                .await;
        }
        tracing::info!(run_id = %run, model = %model.id, "generation started");
        let context = run::RunContext {
            state: state.clone(),
            project: project.id,
            run,
            description,
            model,
            cancel,
        };
        self.spawn_run(context, None, Vec::new());
        Ok(run)
    }

    fn spawn_run(
        &self,
        context: run::RunContext,
        resume: Option<store::Step>,
        phases: Vec<minicode::protocol::Phase>,
    ) {
        let agents = self.clone();
        let (project, id) = (context.project, context.run);
        tokio::spawn(async move {
            run::drive(context, resume, phases).await;
            agents.release(project, id);
        });
    }

    /// Cancels the project's run or chat turn. True if there was one.
    pub async fn cancel(&self, _state: &AppState, project: Uuid) -> bool {
        let token = self.lock().get(&project).map(|a| a.cancel.clone());
        match token {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels the project's chat turn if it is one of `chat`'s (a chat's
    /// socket cancels its own turn, never a generation or another chat's).
    /// True if there was one.
    pub fn cancel_chat(&self, project: Uuid, chat: Uuid) -> bool {
        let token = self
            .lock()
            .get(&project)
            .filter(|a| a.work == Work::Chat && a.chat == Some(chat))
            .map(|a| a.cancel.clone());
        match token {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The project's agent as clients see it.
    pub async fn snapshot(&self, state: &AppState, project: Uuid) -> AppResult<RunSnapshot> {
        let last_seq = state.events.last_seq(project).await?;
        let sandbox = state.sandboxes.status(project);
        let mut snapshot = RunSnapshot {
            last_seq,
            preview_url: sandbox.url,
            chat_busy: self.busy(project) == Some(Work::Chat),
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

    /// Resumes the runs a previous server left in progress, each from its
    /// last finished step. A run that cannot resume (its model is no longer
    /// configured, say) ends as failed with the reason.
    pub async fn resume_interrupted(&self, state: &AppState) -> AppResult<usize> {
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
            let cancel = match self.claim(record.project_id, Work::Generation, record.id, None) {
                Ok(c) => c,
                Err(_) => continue,
            };
            let phases = store::phases(state, record.id).await?;
            tracing::info!(run_id = %record.id, project_id = %record.project_id, step = ?record.last_step, "resuming an interrupted run");
            let context = run::RunContext {
                state: state.clone(),
                project: record.project_id,
                run: record.id,
                description: record.description.clone(),
                model,
                cancel,
            };
            self.spawn_run(context, record.last_step, phases);
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Stops every task without marking it cancelled (they resume at the next start).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits (at most `limit`) until every task has ended.
    pub async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True once the server is shutting down.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Starts a chat turn (issue: chat); `fix_error` attaches the latest sandbox error.
    pub async fn send_message(
        &self,
        state: &AppState,
        caller: &Caller,
        project: Uuid,
        chat: Uuid,
        content: String,
        fix_error: bool,
    ) -> AppResult<Uuid> {
        crate::chat::start_turn(self, state, caller, project, chat, content, fix_error).await
    }

    /// For the chat module: claim the project for a turn.
    pub(crate) fn claim_chat(
        &self,
        project: Uuid,
        chat: Uuid,
        turn: Uuid,
    ) -> AppResult<CancellationToken> {
        self.claim(project, Work::Chat, turn, Some(chat))
    }

    pub(crate) fn release_chat(&self, project: Uuid, turn: Uuid) {
        self.release(project, turn);
    }
}

/// The user a project belongs to.
async fn owner_of(state: &AppState, project: Uuid) -> AppResult<Uuid> {
    let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM projects WHERE id = $1")
        .bind(project.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    owner
        .map(|o| crate::db::uuid(&o))
        .ok_or_else(|| AppError::not_found("project"))
}

/// Publishes an event, logging (not failing) if the log is unavailable.
pub async fn publish(state: &AppState, project: Uuid, event: ServerEvent) {
    if let Err(e) = state.events.publish(project, event).await {
        tracing::warn!(error = %e, "could not publish an agent event");
    }
}
