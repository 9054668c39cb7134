//! Persistence of generation runs: the run row moves with the state machine,
//! each designed phase is a row, and `last_step` records the last step that
//! finished so a restarted server knows where to pick the run up.

use minicode::Usage;
use minicode::protocol::{AgentState, Phase};
use sqlx::Row;
use uuid::Uuid;

use crate::db::{self, now_ms};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The last finished step of a run, as stored in `agent_runs.last_step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Phase n is designed (its row exists).
    Designed(u32),
    /// Phase n's files are written.
    Implemented(u32),
    /// Phase n's dependencies are installed.
    Installed(u32),
    /// Phase n's app runs: the phase is done.
    Served(u32),
}

impl Step {
    pub fn encode(self) -> String {
        match self {
            Step::Designed(n) => format!("designed:{n}"),
            Step::Implemented(n) => format!("implemented:{n}"),
            Step::Installed(n) => format!("installed:{n}"),
            Step::Served(n) => format!("served:{n}"),
        }
    }

    pub fn decode(text: &str) -> Option<Step> {
        let (kind, n) = text.split_once(':')?;
        let n = n.parse().ok()?;
        Some(match kind {
            "designed" => Step::Designed(n),
            "implemented" => Step::Implemented(n),
            "installed" => Step::Installed(n),
            "served" => Step::Served(n),
            _ => return None,
        })
    }
}

/// A run as stored.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub id: Uuid,
    pub project_id: Uuid,
    pub description: String,
    pub state: AgentState,
    pub current_phase: Option<u32>,
    pub last_step: Option<Step>,
    pub error: Option<String>,
    pub model: String,
    pub usage: Usage,
    /// The project's newest event seq when the run started: a page opened
    /// mid-run replays from here.
    pub start_seq: u64,
}

pub async fn create(
    state: &AppState,
    id: Uuid,
    project: Uuid,
    description: &str,
    model: &str,
    start_seq: u64,
) -> AppResult<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO agent_runs (id, project_id, description, state, current_phase, last_step, error, model, \
         input_tokens, output_tokens, cost_usd, created_at, updated_at, finished_at, start_seq) \
         VALUES ($1, $2, $3, $4, NULL, NULL, NULL, $5, 0, 0, NULL, $6, $6, NULL, $7)",
    )
    .bind(id.to_string())
    .bind(project.to_string())
    .bind(description)
    .bind(AgentState::Idle.as_str())
    .bind(model)
    .bind(now)
    .bind(start_seq as i64)
    .execute(state.db.writer())
    .await?;
    Ok(())
}

pub async fn set_state(
    state: &AppState,
    run: Uuid,
    agent_state: AgentState,
    phase: Option<u32>,
) -> AppResult<()> {
    let finished = (!agent_state.is_active() && agent_state != AgentState::Idle).then(now_ms);
    sqlx::query(
        "UPDATE agent_runs SET state = $1, current_phase = COALESCE($2, current_phase), updated_at = $3, \
         finished_at = COALESCE($4, finished_at) WHERE id = $5",
    )
    .bind(agent_state.as_str())
    .bind(phase.map(i64::from))
    .bind(now_ms())
    .bind(finished)
    .bind(run.to_string())
    .execute(state.db.writer())
    .await?;
    Ok(())
}

pub async fn set_step(state: &AppState, run: Uuid, step: Step) -> AppResult<()> {
    sqlx::query("UPDATE agent_runs SET last_step = $1, updated_at = $2 WHERE id = $3")
        .bind(step.encode())
        .bind(now_ms())
        .bind(run.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

pub async fn set_error(state: &AppState, run: Uuid, message: &str) -> AppResult<()> {
    sqlx::query("UPDATE agent_runs SET error = $1, updated_at = $2 WHERE id = $3")
        .bind(message)
        .bind(now_ms())
        .bind(run.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

/// Adds a model call's usage to the run and, if given, to its phase, and
/// to the project owner's usage ledger (what quotas count).
pub async fn add_usage(
    state: &AppState,
    project: Uuid,
    run: Uuid,
    model: &str,
    phase: Option<u32>,
    usage: Usage,
) -> AppResult<()> {
    crate::quota::ledger::record_model_call(
        state,
        project,
        super::Work::Generation,
        run,
        model,
        usage,
    )
    .await?;
    sqlx::query(
        "UPDATE agent_runs SET input_tokens = input_tokens + $1, output_tokens = output_tokens + $2, \
         cost_usd = CASE WHEN $3 IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + $3 END WHERE id = $4",
    )
    .bind(usage.input_tokens as i64)
    .bind(usage.output_tokens as i64)
    .bind(db::OptF64(usage.cost_usd))
    .bind(run.to_string())
    .execute(state.db.writer())
    .await?;
    if let Some(phase) = phase {
        sqlx::query(
            "UPDATE agent_phases SET input_tokens = input_tokens + $1, output_tokens = output_tokens + $2, \
             cost_usd = CASE WHEN $3 IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + $3 END \
             WHERE run_id = $4 AND number = $5",
        )
        .bind(usage.input_tokens as i64)
        .bind(usage.output_tokens as i64)
        .bind(db::OptF64(usage.cost_usd))
        .bind(run.to_string())
        .bind(i64::from(phase))
        .execute(state.db.writer())
        .await?;
    }
    Ok(())
}

pub async fn save_phase(state: &AppState, run: Uuid, phase: &Phase) -> AppResult<()> {
    let json = serde_json::to_string(phase).map_err(|e| AppError::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO agent_phases (run_id, number, phase_json, implemented, input_tokens, output_tokens, cost_usd, created_at) \
         VALUES ($1, $2, $3, 0, 0, 0, NULL, $4) \
         ON CONFLICT (run_id, number) DO UPDATE SET phase_json = $3",
    )
    .bind(run.to_string())
    .bind(i64::from(phase.number))
    .bind(json)
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    Ok(())
}

pub async fn mark_implemented(state: &AppState, run: Uuid, number: u32) -> AppResult<()> {
    sqlx::query("UPDATE agent_phases SET implemented = 1 WHERE run_id = $1 AND number = $2")
        .bind(run.to_string())
        .bind(i64::from(number))
        .execute(state.db.writer())
        .await?;
    Ok(())
}

pub async fn phases(state: &AppState, run: Uuid) -> AppResult<Vec<Phase>> {
    let rows = sqlx::query("SELECT phase_json FROM agent_phases WHERE run_id = $1 ORDER BY number")
        .bind(run.to_string())
        .fetch_all(state.db.pool())
        .await?;
    rows.iter()
        .map(|row| {
            let json: String = row.try_get("phase_json")?;
            serde_json::from_str(&json)
                .map_err(|e| AppError::internal(format!("stored phase unreadable: {e}")))
        })
        .collect()
}

const RUN_COLUMNS: &str = "id, project_id, description, state, current_phase, last_step, error, model, \
    input_tokens, output_tokens, cost_usd, start_seq";

fn run_from_row(row: &sqlx::any::AnyRow) -> AppResult<RunRecord> {
    Ok(RunRecord {
        id: db::uuid(&row.try_get::<String, _>("id")?),
        project_id: db::uuid(&row.try_get::<String, _>("project_id")?),
        description: row.try_get("description")?,
        state: AgentState::parse(&row.try_get::<String, _>("state")?).unwrap_or(AgentState::Failed),
        current_phase: row
            .try_get::<Option<i64>, _>("current_phase")?
            .map(|p| p.max(0) as u32),
        last_step: row
            .try_get::<Option<String>, _>("last_step")?
            .as_deref()
            .and_then(Step::decode),
        error: row.try_get("error")?,
        model: row.try_get("model")?,
        usage: Usage {
            input_tokens: row.try_get::<i64, _>("input_tokens")?.max(0) as u64,
            output_tokens: row.try_get::<i64, _>("output_tokens")?.max(0) as u64,
            cost_usd: row.try_get("cost_usd")?,
        },
        start_seq: row.try_get::<i64, _>("start_seq")?.max(0) as u64,
    })
}

/// The project's newest run.
pub async fn latest(state: &AppState, project: Uuid) -> AppResult<Option<RunRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM agent_runs WHERE project_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(project.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// Runs in progress that no live instance holds a lease on: their
/// instance stopped (or died) before they ended.
pub async fn interrupted(state: &AppState) -> AppResult<Vec<RunRecord>> {
    // The states are written out (not bound) so the partial index
    // `agent_runs_active` serves this query: it runs at every heartbeat.
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM agent_runs WHERE state IN ({ACTIVE_STATES}) \
         AND NOT EXISTS (SELECT 1 FROM work_leases l WHERE l.project_id = agent_runs.project_id \
             AND l.expires_at > $1) \
         ORDER BY created_at"
    ))
    .bind(crate::db::now_ms())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter().map(run_from_row).collect()
}

/// The states of a run in progress, as SQL (also the predicate of the
/// partial index `agent_runs_active`, migration 0011).
const ACTIVE_STATES: &str =
    "'idle', 'designing_phase', 'implementing_phase', 'installing_deps', 'starting_server'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_states_are_the_runs_in_progress() {
        let listed: Vec<&str> = ACTIVE_STATES
            .split(',')
            .map(|s| s.trim().trim_matches('\''))
            .collect();
        for state in [
            AgentState::Idle,
            AgentState::DesigningPhase,
            AgentState::ImplementingPhase,
            AgentState::InstallingDeps,
            AgentState::StartingServer,
        ] {
            assert!(listed.contains(&state.as_str()), "{state:?}");
        }
        assert_eq!(listed.len(), 5);
    }

    #[test]
    fn steps_roundtrip() {
        for step in [
            Step::Designed(1),
            Step::Implemented(2),
            Step::Installed(3),
            Step::Served(40),
        ] {
            assert_eq!(Step::decode(&step.encode()), Some(step));
        }
        assert_eq!(Step::decode("nonsense"), None);
        assert_eq!(Step::decode("served:x"), None);
    }
}
