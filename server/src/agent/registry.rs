//! Which project is busy with what: the registry of running agent work.
//!
//! It sits below [`crate::state::AppState`] and knows nothing of how work is
//! done: generation (`agent::generate`) and chat turns (`agent::chat`) claim
//! a project here, get a cancellation token, and release the claim when
//! they end. One claim per project at a time is what `BUSY` means, and the
//! database decides it: a claim is a lease in `work_leases`
//! ([`crate::cluster::leases`]), so it holds across every instance sharing
//! the database. The registry keeps, for the work running *here*, the token
//! that stops it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use minicode::{ApiError, ErrorCode};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cluster::leases::{Lease, Leases};
use crate::error::{AppError, AppResult};

/// What a project is busy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    Generation,
    Chat,
}

impl Work {
    pub fn as_str(self) -> &'static str {
        match self {
            Work::Generation => "generation",
            Work::Chat => "chat",
        }
    }

    fn parse(text: &str) -> Work {
        match text {
            "chat" => Work::Chat,
            _ => Work::Generation,
        }
    }
}

struct Active {
    work: Work,
    id: Uuid,
    /// The chat of a chat turn (its socket may cancel it).
    chat: Option<Uuid>,
    /// Stops the work: at the user's request, at shutdown, or when the
    /// lease was lost to another instance.
    cancel: CancellationToken,
    /// True when the user asked: the work ends as `cancelled`. Otherwise it
    /// stops where it is, and whoever holds the lease next resumes it.
    by_user: Arc<AtomicBool>,
    claimed: Instant,
}

/// The running agent work of every project. Cheap to clone.
#[derive(Clone)]
pub struct Agents {
    active: Arc<Mutex<HashMap<Uuid, Active>>>,
    /// Cancelled at server shutdown: tasks stop without changing their stored
    /// state, so the next start (or another instance) resumes them.
    shutdown: CancellationToken,
    leases: Leases,
}

fn busy_error(work: Work) -> AppError {
    let what = match work {
        Work::Generation => "the app is being generated",
        Work::Chat => "a chat reply is in progress",
    };
    AppError::Api(ApiError::new(
        ErrorCode::Busy,
        format!("{what}; wait for it to finish or cancel it"),
    ))
}

impl Agents {
    /// Per-user limits on generations and chat turns are the quota
    /// module's (`quota::admit_work`), checked once the project is claimed.
    pub fn new(leases: Leases) -> Self {
        Self {
            active: Arc::default(),
            shutdown: CancellationToken::new(),
            leases,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease table this registry claims in.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// Claims the project for `work`, or says what it is busy with (here or
    /// on another instance). The returned token is cancelled by
    /// [`cancel`](Self::cancel), at shutdown, and if the lease is lost.
    pub(crate) async fn claim(
        &self,
        project: Uuid,
        work: Work,
        id: Uuid,
        chat: Option<Uuid>,
    ) -> AppResult<CancellationToken> {
        if self.shutting_down() {
            return Err(AppError::unavailable(
                "this server is shutting down; try again in a moment",
            ));
        }
        if let Some(current) = self.busy(project) {
            return Err(busy_error(current));
        }
        if let Some(holder) = self.leases.claim(project, work.as_str(), id, chat).await? {
            return Err(busy_error(Work::parse(&holder)));
        }
        let cancel = self.shutdown.child_token();
        let mut active = self.lock();
        active.insert(
            project,
            Active {
                work,
                id,
                chat,
                cancel: cancel.clone(),
                by_user: Arc::default(),
                claimed: Instant::now(),
            },
        );
        Ok(cancel)
    }

    /// Frees the project, if `id` still holds it.
    pub(crate) async fn release(&self, project: Uuid, id: Uuid) {
        {
            let mut active = self.lock();
            if active.get(&project).is_some_and(|a| a.id == id) {
                active.remove(&project);
            }
        }
        if let Err(e) = self.leases.release(project, id).await {
            // It expires on its own; until then the project reads as busy.
            tracing::warn!(project_id = %project, error = %e, "could not release a lease");
        }
    }

    /// What the project is busy with on this instance.
    pub fn busy(&self, project: Uuid) -> Option<Work> {
        self.lock().get(&project).map(|a| a.work)
    }

    /// What the project is busy with on any instance (the database's answer).
    pub async fn busy_anywhere(&self, project: Uuid) -> AppResult<Option<Work>> {
        if let Some(work) = self.busy(project) {
            return Ok(Some(work));
        }
        Ok(self
            .leases
            .live(project)
            .await?
            .map(|lease| Work::parse(&lease.work)))
    }

    /// True when the user cancelled this work (rather than a shutdown or a
    /// lost lease stopping it).
    pub fn cancelled_by_user(&self, project: Uuid, id: Uuid) -> bool {
        self.lock()
            .get(&project)
            .is_some_and(|a| a.id == id && a.by_user.load(Ordering::Acquire))
    }

    /// Cancels the project's run or chat turn wherever it runs. True if
    /// there was one.
    pub async fn cancel(&self, project: Uuid) -> bool {
        self.cancel_where(project, None).await
    }

    /// Cancels the project's chat turn if it is one of `chat`'s (a chat's
    /// socket cancels its own turn, never a generation or another chat's).
    /// True if there was one.
    pub async fn cancel_chat(&self, project: Uuid, chat: Uuid) -> bool {
        self.cancel_where(project, Some(chat)).await
    }

    async fn cancel_where(&self, project: Uuid, chat: Option<Uuid>) -> bool {
        if self.cancel_here(project, chat) {
            return true;
        }
        // Running on another instance: the request goes through its lease,
        // and a notification wakes the owner at once.
        match self.leases.request_cancel(project, chat).await {
            Ok(true) => {
                self.leases.announce_cancel(project).await;
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(project_id = %project, error = %e, "could not ask for a cancel");
                false
            }
        }
    }

    /// Cancels local work of the project (of `chat`, if given) as the user's doing.
    pub fn cancel_here(&self, project: Uuid, chat: Option<Uuid>) -> bool {
        let active = self.lock();
        let Some(a) = active.get(&project) else {
            return false;
        };
        if chat.is_some() && (a.work != Work::Chat || a.chat != chat) {
            return false;
        }
        a.by_user.store(true, Ordering::Release);
        a.cancel.cancel();
        true
    }

    /// Renews this instance's leases, then acts on what they say: a cancel
    /// requested through another instance is carried out, and work whose
    /// lease another instance took is stopped (it resumes there).
    pub async fn heartbeat(&self) -> AppResult<()> {
        let started = Instant::now();
        let held = self.leases.renew().await?;
        self.reconcile(&held, started);
        Ok(())
    }

    fn reconcile(&self, held: &[Lease], renewed_at: Instant) {
        let active = self.lock();
        for (project, a) in active.iter() {
            // Claimed after the renewal read the table: not in `held` yet.
            if a.claimed >= renewed_at {
                continue;
            }
            match held
                .iter()
                .find(|l| l.project == *project && l.work_id == a.id)
            {
                Some(lease) if lease.cancel_requested && !a.cancel.is_cancelled() => {
                    tracing::info!(project_id = %project, "cancel requested through another instance");
                    a.by_user.store(true, Ordering::Release);
                    a.cancel.cancel();
                }
                Some(_) => {}
                None if !a.cancel.is_cancelled() => {
                    tracing::warn!(project_id = %project, work_id = %a.id, "lease lost to another instance; stopping here");
                    a.cancel.cancel();
                }
                None => {}
            }
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
