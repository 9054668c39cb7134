//! Which project is busy with what: the registry of running agent work.
//!
//! It sits below [`crate::state::AppState`] and knows nothing of how work is
//! done: generation (`agent::generate`) and chat turns (`agent::chat`) claim
//! a project here, get a cancellation token, and release the claim when
//! they end. One claim per project at a time is what `BUSY` means.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minicode::{ApiError, ErrorCode};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{AppError, AppResult};

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

    /// Claims the project for `work`, or says what it is busy with. The
    /// returned token is cancelled by [`cancel`](Self::cancel) and at shutdown.
    pub(crate) fn claim(
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

    /// Frees the project, if `id` still holds it.
    pub(crate) fn release(&self, project: Uuid, id: Uuid) {
        let mut active = self.lock();
        if active.get(&project).is_some_and(|a| a.id == id) {
            active.remove(&project);
        }
    }

    /// What the project is busy with right now, if anything.
    pub fn busy(&self, project: Uuid) -> Option<Work> {
        self.lock().get(&project).map(|a| a.work)
    }

    /// Cancels the project's run or chat turn. True if there was one.
    pub fn cancel(&self, project: Uuid) -> bool {
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
}
