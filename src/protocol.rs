//! The project WebSocket protocol (`/ws/:projectId`), see `docs/protocol.md`.
//!
//! Every frame is an envelope `{type, payload, timestamp, seq?, correlationId?}`.
//! Server events carry a per-project `seq`, so a client that reconnects can
//! send `resume {lastSeq}` and receive exactly what it missed.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Message, Usage};

/// Where a generation run is. Persisted with the run; see `docs/architecture.md`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    #[default]
    Idle,
    DesigningPhase,
    ImplementingPhase,
    InstallingDeps,
    StartingServer,
    Complete,
    Cancelled,
    Failed,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Idle => "idle",
            AgentState::DesigningPhase => "designing_phase",
            AgentState::ImplementingPhase => "implementing_phase",
            AgentState::InstallingDeps => "installing_deps",
            AgentState::StartingServer => "starting_server",
            AgentState::Complete => "complete",
            AgentState::Cancelled => "cancelled",
            AgentState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "idle" => AgentState::Idle,
            "designing_phase" => AgentState::DesigningPhase,
            "implementing_phase" => AgentState::ImplementingPhase,
            "installing_deps" => AgentState::InstallingDeps,
            "starting_server" => AgentState::StartingServer,
            "complete" => AgentState::Complete,
            "cancelled" => AgentState::Cancelled,
            "failed" => AgentState::Failed,
            _ => return None,
        })
    }

    /// True while a run is in progress (it can be cancelled).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AgentState::DesigningPhase
                | AgentState::ImplementingPhase
                | AgentState::InstallingDeps
                | AgentState::StartingServer
        )
    }
}

/// A file the phase designer plans to write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    pub path: String,
    pub purpose: String,
}

/// One phase of the plan, as designed by the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    pub number: u32,
    pub name: String,
    pub goal: String,
    pub files: Vec<PlannedFile>,
    /// True when the designer says this is the last phase.
    #[serde(default)]
    pub last_phase: bool,
}

/// A snapshot of the project's agent, sent on connect and on `get_state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSnapshot {
    pub run_id: Option<Uuid>,
    pub state: AgentState,
    pub phases: Vec<Phase>,
    pub current_phase: Option<u32>,
    pub preview_url: Option<String>,
    pub error: Option<String>,
    pub usage: Usage,
    /// The newest event seq of the project: resume from here.
    pub last_seq: u64,
    /// The project's seq when the current (or last) run started: a page
    /// opened mid-run sends `resume` from here to replay the run so far.
    #[serde(default)]
    pub run_start_seq: u64,
    /// True while a chat turn is running.
    #[serde(default)]
    pub chat_busy: bool,
}

fn yes() -> bool {
    true
}

/// Which output stream a sandbox log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// minicode's own notes about the sandbox (commands it runs, exits).
    System,
}

/// Server → client events. `type` is the variant in snake_case, `payload` its fields in camelCase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "payload",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ServerEvent {
    ConnectionEstablished {
        project_id: Uuid,
        snapshot: RunSnapshot,
    },
    /// The answer to `get_state`.
    State {
        snapshot: RunSnapshot,
    },
    /// A build was asked for: its prompt and images, so every page shows
    /// what was asked where the build starts (also after a reload).
    RunStarted {
        run_id: Uuid,
        description: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<crate::ImageRef>,
    },
    StateChange {
        state: AgentState,
    },
    PhaseDesigning {
        phase_number: u32,
    },
    PhaseDesigned {
        phase: Phase,
    },
    FileStart {
        path: String,
    },
    FileChunk {
        path: String,
        chunk: String,
    },
    /// A file is complete (generated, edited by the agent, saved by a user or restored).
    FileEnd {
        path: String,
        content: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        incomplete: bool,
    },
    FileDeleted {
        path: String,
    },
    FilesWritten {
        count: u32,
    },
    /// The dependencies are ready. `changed` is false when they were already
    /// up to date (a later phase or a chat edit re-checks them): a client
    /// shows "installed" only once per actual install.
    DepsInstalled {
        #[serde(default = "yes")]
        changed: bool,
    },
    ServerStarted {
        url: String,
    },
    SandboxLog {
        stream: LogStream,
        line: String,
    },
    GenerationComplete {
        files: Vec<String>,
        phases: u32,
    },
    Error {
        message: String,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_tail: Option<Vec<String>>,
    },
    Pong {},
    MessageStart {
        message_id: Uuid,
        chat_id: Uuid,
    },
    MessageDelta {
        message_id: Uuid,
        delta: String,
    },
    ToolUse {
        message_id: Uuid,
        tool_call_id: String,
        tool_name: String,
        tool_input: serde_json::Value,
    },
    ToolResult {
        message_id: Uuid,
        tool_call_id: String,
        tool_name: String,
        ok: bool,
        summary: String,
    },
    Status {
        status: String,
    },
    MessageComplete {
        message: Message,
    },
    CheckpointCreated {
        id: Uuid,
        message: String,
    },
    /// The client fell too far behind; it should send `resume` with its last seq.
    Resync {
        last_seq: u64,
    },
    /// Replay finished: everything after `lastSeq` up to `upToSeq` was sent.
    Resumed {
        up_to_seq: u64,
    },
}

/// Every event's wire name, as [`ServerEvent::kind`] gives it: the server
/// maps a stored kind back to its `&'static str` through this list. Keep
/// the two in step (a new variant goes in both).
pub const EVENT_KINDS: [&str; 26] = [
    "connection_established",
    "state",
    "run_started",
    "state_change",
    "phase_designing",
    "phase_designed",
    "file_start",
    "file_chunk",
    "file_end",
    "file_deleted",
    "files_written",
    "deps_installed",
    "server_started",
    "sandbox_log",
    "generation_complete",
    "error",
    "pong",
    "message_start",
    "message_delta",
    "tool_use",
    "tool_result",
    "status",
    "message_complete",
    "checkpoint_created",
    "resync",
    "resumed",
];

impl ServerEvent {
    /// The wire name of this event (`type`); one of [`EVENT_KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            ServerEvent::ConnectionEstablished { .. } => "connection_established",
            ServerEvent::State { .. } => "state",
            ServerEvent::RunStarted { .. } => "run_started",
            ServerEvent::StateChange { .. } => "state_change",
            ServerEvent::PhaseDesigning { .. } => "phase_designing",
            ServerEvent::PhaseDesigned { .. } => "phase_designed",
            ServerEvent::FileStart { .. } => "file_start",
            ServerEvent::FileChunk { .. } => "file_chunk",
            ServerEvent::FileEnd { .. } => "file_end",
            ServerEvent::FileDeleted { .. } => "file_deleted",
            ServerEvent::FilesWritten { .. } => "files_written",
            ServerEvent::DepsInstalled { .. } => "deps_installed",
            ServerEvent::ServerStarted { .. } => "server_started",
            ServerEvent::SandboxLog { .. } => "sandbox_log",
            ServerEvent::GenerationComplete { .. } => "generation_complete",
            ServerEvent::Error { .. } => "error",
            ServerEvent::Pong {} => "pong",
            ServerEvent::MessageStart { .. } => "message_start",
            ServerEvent::MessageDelta { .. } => "message_delta",
            ServerEvent::ToolUse { .. } => "tool_use",
            ServerEvent::ToolResult { .. } => "tool_result",
            ServerEvent::Status { .. } => "status",
            ServerEvent::MessageComplete { .. } => "message_complete",
            ServerEvent::CheckpointCreated { .. } => "checkpoint_created",
            ServerEvent::Resync { .. } => "resync",
            ServerEvent::Resumed { .. } => "resumed",
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerEvent::Error {
            message: message.into(),
            code: code.to_string(),
            log_tail: None,
        }
    }
}

/// A server frame: an event plus its envelope fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFrame {
    #[serde(flatten)]
    pub event: ServerEvent,
    /// Milliseconds since the Unix epoch when the event was created.
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// Client → server messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "payload",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    Generate {
        description: String,
        /// Images uploaded to the project first; see [`crate::ImageRef`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<Uuid>,
    },
    Cancel {},
    GetState {},
    SendMessage {
        chat_id: Uuid,
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<Uuid>,
    },
    /// Ask the chat agent to fix the latest sandbox error, with the log tail attached.
    FixError {
        chat_id: Uuid,
    },
    Resume {
        last_seq: u64,
    },
    Ping {},
}

/// A client frame as read off the socket, before its `type` is known to be valid.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawClientFrame {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl RawClientFrame {
    /// Turns the raw frame into a typed message; the error is a sentence for the client.
    pub fn message(&self) -> Result<ClientMessage, String> {
        const KNOWN: [&str; 7] = [
            "generate",
            "cancel",
            "get_state",
            "send_message",
            "fix_error",
            "resume",
            "ping",
        ];
        if !KNOWN.contains(&self.kind.as_str()) {
            return Err(format!("unknown message type `{}`", self.kind));
        }
        let payload = match &self.payload {
            serde_json::Value::Null => serde_json::json!({}),
            other => other.clone(),
        };
        serde_json::from_value(serde_json::json!({"type": self.kind, "payload": payload}))
            .map_err(|e| format!("invalid `{}` payload: {e}", self.kind))
    }
}

/// A client frame as the browser sends it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFrame {
    #[serde(flatten)]
    pub message: ClientMessage,
    pub timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frame_wire_shape() {
        let frame = ServerFrame {
            event: ServerEvent::PhaseDesigning { phase_number: 2 },
            timestamp: 5,
            seq: Some(9),
            correlation_id: None,
        };
        let v = serde_json::to_value(&frame).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "phase_designing", "payload": {"phaseNumber": 2}, "timestamp": 5, "seq": 9})
        );
        let back: ServerFrame = serde_json::from_value(v).unwrap();
        assert_eq!(back, frame);
    }

    /// Each arm of `kind` names a listed kind, and the list has no extra:
    /// read from this file's own source, so a new variant cannot be missed.
    #[test]
    fn every_kind_is_listed() {
        let source = include_str!("protocol.rs");
        let body = source
            .split("pub fn kind(&self) -> &'static str {")
            .nth(1)
            .and_then(|rest| rest.split("\n    }\n").next())
            .unwrap();
        let named: Vec<&str> = body
            .lines()
            .filter_map(|l| l.split("=> \"").nth(1))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(named.len(), EVENT_KINDS.len(), "{named:?}");
        for kind in named {
            assert!(EVENT_KINDS.contains(&kind), "{kind} is not in EVENT_KINDS");
        }
    }

    #[test]
    fn kind_matches_serialised_type() {
        let events = [
            ServerEvent::DepsInstalled { changed: true },
            ServerEvent::Pong {},
            ServerEvent::error("X", "y"),
            ServerEvent::Resync { last_seq: 1 },
        ];
        for e in events {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.kind());
        }
    }

    #[test]
    fn raw_client_frames_parse_or_explain() {
        let raw: RawClientFrame = serde_json::from_str(
            r#"{"type":"resume","payload":{"lastSeq":4},"correlationId":"c1"}"#,
        )
        .unwrap();
        assert_eq!(
            raw.message().unwrap(),
            ClientMessage::Resume { last_seq: 4 }
        );
        assert_eq!(raw.correlation_id.as_deref(), Some("c1"));

        let ping: RawClientFrame = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping.message().unwrap(), ClientMessage::Ping {});

        let unknown: RawClientFrame = serde_json::from_str(r#"{"type":"explode"}"#).unwrap();
        assert!(
            unknown
                .message()
                .unwrap_err()
                .contains("unknown message type")
        );

        let bad: RawClientFrame =
            serde_json::from_str(r#"{"type":"generate","payload":{"description":5}}"#).unwrap();
        assert!(
            bad.message()
                .unwrap_err()
                .contains("invalid `generate` payload")
        );
    }
}
