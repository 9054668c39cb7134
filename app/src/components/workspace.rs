//! The workspace's state: everything the three panes show, and how each
//! server event changes it.
//!
//! One `Workspace` (a bundle of signals, `Copy`) is provided as context by
//! the project page. The socket feeds [`Workspace::on_ws`]; the panes read
//! the signals and write through the methods here, so the rules (which file
//! the editor shows, when an agent edit conflicts with the user's) live in one
//! place.

use std::collections::{BTreeMap, HashMap, VecDeque};

use leptos::prelude::*;
use minicode::protocol::{
    AgentState, ClientMessage, LogStream, Phase, RunSnapshot, ServerEvent, ServerFrame,
};
use minicode::{ApiError, PageQuery, Role, Usage};
use uuid::Uuid;

use super::editor;
use super::ws::{self, ConnStatus, WsEvent};
use crate::client;

/// Log lines kept for the console; older ones scroll away.
const MAX_LOG_LINES: usize = 2_000;

/// How far a phase has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseStatus {
    Implementing,
    Done,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PhaseRow {
    pub phase: Phase,
    pub status: PhaseStatus,
}

/// A file in the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// The agent is writing it right now.
    pub streaming: bool,
    pub size: usize,
}

/// One row of tool activity under an assistant message.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRow {
    pub call_id: String,
    pub tool: String,
    /// The file or pattern the tool worked on.
    pub target: String,
    /// `None` while running.
    pub ok: Option<bool>,
    pub summary: String,
}

/// An assistant reply; its parts are signals so streaming re-renders only it.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub id: Uuid,
    pub text: RwSignal<String>,
    pub tools: RwSignal<Vec<ToolRow>>,
    pub usage: RwSignal<Option<Usage>>,
    pub done: RwSignal<bool>,
}

#[derive(Clone, Debug)]
pub enum ItemKind {
    User(String),
    Reply(Reply),
    Error {
        message: String,
        code: String,
        log_tail: Option<Vec<String>>,
    },
    /// A milestone: build started, dependencies installed, build complete.
    Note(String),
}

#[derive(Clone, Debug)]
pub struct ChatItem {
    pub key: u64,
    pub kind: ItemKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub key: u64,
    pub stream: LogStream,
    pub text: String,
}

/// The open file changed on the server (the agent, another tab, an API
/// client) while the user had unsaved edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub path: String,
    pub theirs: String,
}

#[derive(Clone, Copy)]
pub struct Workspace {
    pub project: Uuid,
    pub conn: RwSignal<ConnStatus>,
    pub state: RwSignal<AgentState>,
    pub phases: RwSignal<Vec<PhaseRow>>,
    /// The phase being designed, if any.
    pub designing: RwSignal<Option<u32>>,
    pub run_usage: RwSignal<Usage>,
    pub chat_usage: RwSignal<Usage>,
    pub chat_busy: RwSignal<bool>,
    /// The latest `status` line (thinking, running a tool…).
    pub status: RwSignal<String>,
    pub items: RwSignal<Vec<ChatItem>>,
    pub files: RwSignal<BTreeMap<String, FileMeta>>,
    /// The server's content of every file, as streamed.
    contents: StoredValue<HashMap<String, String>>,
    /// What this page saved per path whose `file_end` echo has not come back
    /// yet, oldest first: its own echo is no conflict. Each is forgotten once
    /// its echo arrives, so the same text written later by someone else (a
    /// restored checkpoint, another tab) is shown like any other change.
    saved: StoredValue<HashMap<String, Vec<String>>>,
    /// A file's content before the agent started rewriting it (`None`: it is
    /// new), put back when the write breaks off (`file_end {incomplete}`).
    before: StoredValue<HashMap<String, Option<String>>>,
    pub selected: RwSignal<Option<String>>,
    /// The editor shows the file the agent is writing until the user picks one.
    pub follow: RwSignal<bool>,
    pub dirty: RwSignal<bool>,
    pub saving: RwSignal<bool>,
    pub save_error: RwSignal<Option<String>>,
    /// Bumped on every user edit; autosave fires only if it did not move.
    pub edits: RwSignal<u64>,
    pub conflict: RwSignal<Option<Conflict>>,
    pub editor_ready: RwSignal<bool>,
    pub logs: RwSignal<VecDeque<LogLine>>,
    pub server_running: RwSignal<bool>,
    /// Bumped to reload the preview.
    pub preview_reload: RwSignal<u64>,
    pub checkpoints_changed: RwSignal<u64>,
    pub chat_id: RwSignal<Option<Uuid>>,
    /// A generation has run (or is running) in this project.
    pub has_run: RwSignal<bool>,
    /// Replaying the whole log after a fresh load: no editor streaming.
    pub replaying: RwSignal<bool>,
    next_key: StoredValue<u64>,
    /// User messages from the REST history, keyed by the reply that follows.
    history: StoredValue<HashMap<Uuid, String>>,
}

impl Workspace {
    pub fn new(project: Uuid) -> Self {
        Self {
            project,
            conn: RwSignal::new(ConnStatus::Connecting),
            state: RwSignal::new(AgentState::Idle),
            phases: RwSignal::new(Vec::new()),
            designing: RwSignal::new(None),
            run_usage: RwSignal::new(Usage::default()),
            chat_usage: RwSignal::new(Usage::default()),
            chat_busy: RwSignal::new(false),
            status: RwSignal::new(String::new()),
            items: RwSignal::new(Vec::new()),
            files: RwSignal::new(BTreeMap::new()),
            contents: StoredValue::new(HashMap::new()),
            saved: StoredValue::new(HashMap::new()),
            before: StoredValue::new(HashMap::new()),
            selected: RwSignal::new(None),
            follow: RwSignal::new(true),
            dirty: RwSignal::new(false),
            saving: RwSignal::new(false),
            save_error: RwSignal::new(None),
            edits: RwSignal::new(0),
            conflict: RwSignal::new(None),
            editor_ready: RwSignal::new(false),
            logs: RwSignal::new(VecDeque::new()),
            server_running: RwSignal::new(false),
            preview_reload: RwSignal::new(0),
            checkpoints_changed: RwSignal::new(0),
            chat_id: RwSignal::new(None),
            has_run: RwSignal::new(false),
            replaying: RwSignal::new(false),
            next_key: StoredValue::new(0),
            history: StoredValue::new(HashMap::new()),
        }
    }

    /// A run or a chat turn is in progress: Cancel is offered.
    pub fn busy(&self) -> bool {
        self.state.get().is_active() || self.chat_busy.get()
    }

    fn key(&self) -> u64 {
        self.next_key.update_value(|k| *k += 1);
        self.next_key.get_value()
    }

    fn push(&self, kind: ItemKind) {
        let item = ChatItem {
            key: self.key(),
            kind,
        };
        self.items.update(|items| items.push(item));
    }

    fn reply(&self, id: Uuid) -> Option<Reply> {
        self.items.with_untracked(|items| {
            items.iter().rev().find_map(|i| match &i.kind {
                ItemKind::Reply(r) if r.id == id => Some(*r),
                _ => None,
            })
        })
    }

    /// Loads the project's newest chat and remembers its user messages, which
    /// the event log does not carry, so the replay can put them back in place.
    pub async fn load_history(self) {
        let Ok(chats) = client::project_chats(self.project, 1).await else {
            return;
        };
        let Some(chat) = chats.data.first() else {
            return;
        };
        self.chat_id.set(Some(chat.id));
        let first = PageQuery {
            limit: 100,
            offset: 0,
        };
        let Ok(mut page) = client::chat_messages(chat.id, first).await else {
            return;
        };
        if page.total > 100 {
            let newest = PageQuery {
                limit: 100,
                offset: i64::try_from(page.total - 100).unwrap_or(i64::MAX),
            };
            if let Ok(newest) = client::chat_messages(chat.id, newest).await {
                page = newest;
            }
        }
        let mut map = HashMap::new();
        let mut waiting: Option<String> = None;
        for message in page.data {
            match message.role {
                Role::User => waiting = Some(message.content),
                Role::Assistant => {
                    if let Some(text) = waiting.take() {
                        map.insert(message.id, text);
                    }
                }
            }
        }
        if let Some(text) = waiting {
            // Asked, not yet answered: shown after the replay.
            map.insert(Uuid::nil(), text);
        }
        self.history.set_value(map);
    }

    /// Resets everything the event log rebuilds (a replay from seq 0).
    fn clear(&self) {
        self.state.set(AgentState::Idle);
        self.chat_busy.set(false);
        self.phases.set(Vec::new());
        self.designing.set(None);
        self.items.set(Vec::new());
        self.files.set(BTreeMap::new());
        self.contents.set_value(HashMap::new());
        self.logs.set(VecDeque::new());
        self.has_run.set(false);
        self.server_running.set(false);
        self.chat_usage.set(Usage::default());
    }

    pub fn on_ws(&self, event: WsEvent) {
        match event {
            WsEvent::Status(status) => self.conn.set(status),
            WsEvent::Resuming { from } => {
                if from == 0 {
                    self.clear();
                    self.replaying.set(true);
                }
            }
            WsEvent::Frame(frame) => self.apply(frame),
        }
    }

    fn apply_snapshot(&self, snapshot: &RunSnapshot) {
        self.state.set(snapshot.state);
        self.run_usage.set(snapshot.usage);
        self.chat_busy.set(snapshot.chat_busy);
        if snapshot.run_id.is_some() {
            self.has_run.set(true);
        }
        if snapshot.preview_url.is_some() {
            self.server_running.set(true);
        }
        let current = snapshot.current_phase.unwrap_or(0);
        let finished = !snapshot.state.is_active();
        self.phases.set(
            snapshot
                .phases
                .iter()
                .map(|p| PhaseRow {
                    phase: p.clone(),
                    status: if finished || p.number < current {
                        PhaseStatus::Done
                    } else {
                        PhaseStatus::Implementing
                    },
                })
                .collect(),
        );
    }

    /// Applies one server event.
    pub fn apply(&self, frame: ServerFrame) {
        let live = !self.replaying.get_untracked();
        let (timestamp, seq) = (frame.timestamp, frame.seq);
        match frame.event {
            // A page rebuilt from seq 0 takes the snapshot after the replay
            // (`finish_replay` asks for it): taken before, it would hide where
            // the replayed run started.
            ServerEvent::ConnectionEstablished { .. } if !live => {}
            ServerEvent::ConnectionEstablished { snapshot, .. }
            | ServerEvent::State { snapshot } => self.apply_snapshot(&snapshot),
            ServerEvent::StateChange { state } => {
                let was = self.state.get_untracked();
                self.state.set(state);
                match state {
                    AgentState::DesigningPhase if !was.is_active() => {
                        self.has_run.set(true);
                        self.push(ItemKind::Note("Build started".into()));
                    }
                    AgentState::InstallingDeps => self.mark_phases_done(),
                    AgentState::Cancelled => self.push(ItemKind::Note("Build cancelled".into())),
                    _ => {}
                }
            }
            ServerEvent::PhaseDesigning { phase_number } => {
                if phase_number <= 1 {
                    self.phases.set(Vec::new());
                }
                self.mark_phases_done();
                self.designing.set(Some(phase_number));
            }
            ServerEvent::PhaseDesigned { phase } => {
                self.designing.set(None);
                self.phases.update(|rows| {
                    rows.retain(|r| r.phase.number != phase.number);
                    rows.push(PhaseRow {
                        phase,
                        status: PhaseStatus::Implementing,
                    });
                });
            }
            ServerEvent::FilesWritten { .. } => self.mark_phases_done(),
            ServerEvent::FileStart { path } => self.file_start(path, live),
            ServerEvent::FileChunk { path, chunk } => self.file_chunk(&path, &chunk, live),
            ServerEvent::FileEnd {
                path,
                content,
                incomplete,
            } => {
                let previous = self.before.try_update_value(|b| b.remove(&path)).flatten();
                if incomplete {
                    // Not stored: the file is what it was before.
                    match previous {
                        Some(Some(old)) => self.file_end(path, old, live),
                        _ => self.apply(ServerFrame {
                            event: ServerEvent::FileDeleted { path },
                            timestamp,
                            seq,
                            correlation_id: None,
                        }),
                    }
                } else {
                    self.file_end(path, content, live)
                }
            }
            ServerEvent::FileDeleted { path } => {
                self.files.update(|f| {
                    f.remove(&path);
                });
                self.contents.update_value(|c| {
                    c.remove(&path);
                });
                if self.selected.get_untracked().as_deref() == Some(path.as_str()) {
                    self.selected.set(None);
                    self.dirty.set(false);
                    self.conflict.set(None);
                    editor::set_value("");
                }
            }
            // Every phase and chat edit re-checks the dependencies; only an
            // actual install during a build is a milestone.
            ServerEvent::DepsInstalled { changed: true }
                if self.state.get_untracked().is_active() =>
            {
                self.push(ItemKind::Note("Dependencies installed".into()))
            }
            ServerEvent::DepsInstalled { .. } => {}
            ServerEvent::ServerStarted { .. } => {
                self.server_running.set(true);
                if live {
                    self.preview_reload.update(|n| *n += 1);
                }
            }
            ServerEvent::SandboxLog { stream, line } => {
                let key = self.key();
                self.logs.update(|logs| {
                    if logs.len() >= MAX_LOG_LINES {
                        logs.pop_front();
                    }
                    logs.push_back(LogLine {
                        key,
                        stream,
                        text: line,
                    });
                });
            }
            ServerEvent::GenerationComplete { files, phases } => {
                self.mark_phases_done();
                self.push(ItemKind::Note(format!(
                    "Build complete: {} files in {phases} phase{}",
                    files.len(),
                    if phases == 1 { "" } else { "s" }
                )));
                if live {
                    ws::send(ClientMessage::GetState {});
                }
            }
            ServerEvent::Error {
                message,
                code,
                log_tail,
            } => self.push(ItemKind::Error {
                message,
                code,
                log_tail,
            }),
            ServerEvent::MessageStart {
                message_id,
                chat_id,
            } => {
                if self.chat_id.get_untracked().is_none() {
                    self.chat_id.set(Some(chat_id));
                }
                if let Some(text) = self
                    .history
                    .try_update_value(|h| h.remove(&message_id))
                    .flatten()
                {
                    self.push(ItemKind::User(text));
                }
                self.chat_busy.set(true);
                self.push(ItemKind::Reply(Reply {
                    id: message_id,
                    text: RwSignal::new(String::new()),
                    tools: RwSignal::new(Vec::new()),
                    usage: RwSignal::new(None),
                    done: RwSignal::new(false),
                }));
            }
            ServerEvent::MessageDelta { message_id, delta } => {
                if let Some(reply) = self.reply(message_id) {
                    reply.text.update(|t| t.push_str(&delta));
                }
            }
            ServerEvent::ToolUse {
                message_id,
                tool_call_id,
                tool_name,
                tool_input,
            } => {
                if let Some(reply) = self.reply(message_id) {
                    let target = ["path", "file_path", "pattern", "glob"]
                        .iter()
                        .find_map(|k| tool_input.get(*k).and_then(|v| v.as_str()))
                        .unwrap_or_default()
                        .to_string();
                    reply.tools.update(|tools| {
                        tools.push(ToolRow {
                            call_id: tool_call_id,
                            tool: tool_name,
                            target,
                            ok: None,
                            summary: String::new(),
                        })
                    });
                }
            }
            ServerEvent::ToolResult {
                message_id,
                tool_call_id,
                tool_name,
                ok,
                summary,
            } => {
                if let Some(reply) = self.reply(message_id) {
                    reply.tools.update(|tools| {
                        match tools.iter_mut().find(|t| t.call_id == tool_call_id) {
                            Some(row) => {
                                row.ok = Some(ok);
                                row.summary = summary;
                            }
                            None => tools.push(ToolRow {
                                call_id: tool_call_id,
                                tool: tool_name,
                                target: String::new(),
                                ok: Some(ok),
                                summary,
                            }),
                        }
                    });
                }
            }
            ServerEvent::Status { status } => {
                if status == "idle" && seq.is_some() {
                    self.chat_busy.set(false);
                }
                self.status.set(status);
            }
            ServerEvent::MessageComplete { message } => {
                if let Some(reply) = self.reply(message.id) {
                    reply.text.set(message.content.clone());
                    reply.tools.set(
                        message
                            .tool_calls
                            .iter()
                            .map(|c| ToolRow {
                                call_id: c.id.clone(),
                                tool: c.tool_name.clone(),
                                target: ["path", "file_path", "pattern", "glob"]
                                    .iter()
                                    .find_map(|k| c.tool_input.get(*k).and_then(|v| v.as_str()))
                                    .unwrap_or_default()
                                    .to_string(),
                                ok: Some(c.ok),
                                summary: c.summary.clone(),
                            })
                            .collect(),
                    );
                    reply.usage.set(message.usage);
                    reply.done.set(true);
                }
                if let Some(usage) = message.usage {
                    self.chat_usage.update(|u| u.add(usage));
                }
                self.chat_busy.set(false);
            }
            ServerEvent::CheckpointCreated { .. } => self.checkpoints_changed.update(|n| *n += 1),
            ServerEvent::Resumed { .. } => {
                if self.replaying.get_untracked() {
                    self.finish_replay();
                }
            }
            ServerEvent::Pong {} | ServerEvent::Resync { .. } => {}
        }
    }

    fn mark_phases_done(&self) {
        self.phases.update(|rows| {
            for row in rows.iter_mut() {
                row.status = PhaseStatus::Done;
            }
        });
    }

    /// After a full replay: the unanswered question, a file in the editor,
    /// and a fresh snapshot (the replay ends where the log ends, but a
    /// restart may have changed the agent's state since).
    fn finish_replay(&self) {
        self.replaying.set(false);
        if let Some(text) = self
            .history
            .try_update_value(|h| h.remove(&Uuid::nil()))
            .flatten()
        {
            self.push(ItemKind::User(text));
        }
        let keep = self
            .selected
            .get_untracked()
            .filter(|p| self.files.with_untracked(|f| f.contains_key(p)));
        let pick = keep.or_else(|| {
            self.files.with_untracked(|files| {
                ["src/App.tsx", "src/App.jsx", "index.html"]
                    .iter()
                    .map(|p| p.to_string())
                    .find(|p| files.contains_key(p))
                    .or_else(|| files.keys().next().cloned())
            })
        });
        match pick {
            Some(path) => self.show(path),
            None => editor::set_value(""),
        }
        ws::send(ClientMessage::GetState {});
    }

    fn file_start(&self, path: String, live: bool) {
        let previous = self.content(&path);
        self.before.update_value(|b| {
            b.insert(path.clone(), previous);
        });
        self.files.update(|f| {
            f.insert(
                path.clone(),
                FileMeta {
                    streaming: true,
                    size: 0,
                },
            );
        });
        self.contents.update_value(|c| {
            c.insert(path.clone(), String::new());
        });
        if !live {
            return;
        }
        let selected = self.selected.get_untracked();
        if selected.as_deref() == Some(path.as_str()) {
            if !self.dirty.get_untracked() {
                editor::set_value("");
            }
        } else if self.follow.get_untracked() && !self.dirty.get_untracked() {
            self.show(path);
        }
    }

    fn file_chunk(&self, path: &str, chunk: &str, live: bool) {
        self.contents.update_value(|c| {
            c.entry(path.to_string()).or_default().push_str(chunk);
        });
        if live
            && !self.dirty.get_untracked()
            && self.selected.get_untracked().as_deref() == Some(path)
        {
            editor::append_value(chunk);
        }
    }

    fn file_end(&self, path: String, content: String, live: bool) {
        let size = content.len();
        self.files.update(|f| {
            f.insert(
                path.clone(),
                FileMeta {
                    streaming: false,
                    size,
                },
            );
        });
        // Checked for every file, open or not, so no echo stays expected.
        let ours = self.own_echo(&path, &content);
        let open = self.selected.get_untracked().as_deref() == Some(path.as_str());
        if open && live {
            if self.dirty.get_untracked() {
                let mine = editor::get_value().unwrap_or_default();
                if !ours && mine != content {
                    self.conflict.set(Some(Conflict {
                        path: path.clone(),
                        theirs: content.clone(),
                    }));
                }
            } else if !ours {
                editor::set_value(&content);
            }
        }
        self.contents.update_value(|c| {
            c.insert(path, content);
        });
    }

    /// Whether `content` is this page's own save of `path` coming back; it is
    /// then no longer expected. Older saves of that path are forgotten too:
    /// if one of them still comes back, the server stored it last, and the
    /// editor should show it like any other change.
    fn own_echo(&self, path: &str, content: &str) -> bool {
        self.saved
            .try_update_value(|s| {
                let pending = s.get_mut(path)?;
                let at = pending.iter().position(|c| c == content)?;
                pending.drain(..=at);
                if pending.is_empty() {
                    s.remove(path);
                }
                Some(())
            })
            .flatten()
            .is_some()
    }

    /// The server's content of a file, as far as it has streamed.
    pub fn content(&self, path: &str) -> Option<String> {
        self.contents.with_value(|c| c.get(path).cloned())
    }

    /// Opens a file in the editor (the user's choice stops following the agent).
    pub fn open(&self, path: String) {
        self.follow.set(false);
        if self.selected.get_untracked().as_deref() == Some(path.as_str()) {
            return;
        }
        if self.conflict.with_untracked(Option::is_some) {
            // Leaving now would pick a side silently (the save below would
            // overwrite the other version): the user chooses first.
            self.save_error.set(Some(
                "choose \u{201c}Keep mine\u{201d} or \u{201c}Take theirs\u{201d} before opening another file"
                    .into(),
            ));
            return;
        }
        if self.dirty.get_untracked() {
            // Leaving a file with edits: keep them on the server first.
            self.save();
        }
        self.show(path);
    }

    fn show(&self, path: String) {
        self.conflict.set(None);
        self.dirty.set(false);
        self.save_error.set(None);
        editor::set_language(editor::language_for(&path));
        editor::set_value(&self.content(&path).unwrap_or_default());
        self.selected.set(Some(path));
    }

    /// The editor reported a user edit.
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "only Monaco reports edits")
    )]
    pub fn edited(&self) {
        if self.selected.get_untracked().is_some() {
            self.dirty.set(true);
            self.edits.update(|n| *n += 1);
        }
    }

    /// Saves the open file through the files API.
    pub fn save(&self) {
        let Some(path) = self.selected.get_untracked() else {
            return;
        };
        let Some(content) = editor::get_value() else {
            return;
        };
        let ws = *self;
        let edits = self.edits.get_untracked();
        self.saving.set(true);
        self.saved.update_value(|s| {
            s.entry(path.clone()).or_default().push(content.clone());
        });
        leptos::task::spawn_local(async move {
            let body = minicode::FileWrite {
                content,
                encoding: minicode::Encoding::Utf8,
            };
            let result = client::write_file(ws.project, &path, &body).await;
            ws.saving.set(false);
            match result {
                Ok(_) => {
                    ws.save_error.set(None);
                    // Edits made while saving stay unsaved.
                    if ws.edits.get_untracked() == edits
                        && ws.selected.get_untracked().as_deref() == Some(path.as_str())
                    {
                        ws.dirty.set(false);
                        ws.conflict.set(None);
                    }
                }
                Err(e) => {
                    // Not stored: no echo will come for it.
                    ws.saved.update_value(|s| {
                        if let Some(pending) = s.get_mut(&path)
                            && let Some(at) = pending.iter().rposition(|c| *c == body.content)
                        {
                            pending.remove(at);
                        }
                    });
                    ws.save_error.set(Some(e.error));
                }
            }
        });
    }

    /// Resolves a conflict: `keep_mine` saves the editor's text over the agent's.
    pub fn resolve(&self, keep_mine: bool) {
        let Some(conflict) = self.conflict.get_untracked() else {
            return;
        };
        self.conflict.set(None);
        self.save_error.set(None);
        if keep_mine {
            self.save();
        } else {
            self.dirty.set(false);
            editor::set_value(&conflict.theirs);
        }
    }

    /// The project's chat, created on first use.
    pub async fn ensure_chat(self) -> Result<Uuid, ApiError> {
        if let Some(id) = self.chat_id.get_untracked() {
            return Ok(id);
        }
        let new = minicode::NewChat {
            title: Some("Workspace chat".into()),
            project_id: None,
        };
        let chat = client::create_chat(self.project, &new).await?;
        self.chat_id.set(Some(chat.id));
        Ok(chat.id)
    }

    /// Starts a build with `description`.
    pub fn generate(&self, description: String) {
        self.push(ItemKind::User(description.clone()));
        self.follow.set(true);
        ws::send(ClientMessage::Generate { description });
    }

    /// Sends a chat message (creating the chat if needed).
    pub fn send_message(&self, content: String) {
        self.push(ItemKind::User(content.clone()));
        let ws = *self;
        leptos::task::spawn_local(async move {
            match ws.ensure_chat().await {
                Ok(chat_id) => ws::send(ClientMessage::SendMessage { chat_id, content }),
                Err(e) => ws.push(ItemKind::Error {
                    message: format!("could not open the chat: {e}"),
                    code: "CHAT".into(),
                    log_tail: None,
                }),
            }
        });
    }

    /// "Fix this error": the server attaches the latest error and its log tail.
    pub fn fix_error(&self, message: &str) {
        self.push(ItemKind::User(format!("Fix this error: {message}")));
        let ws = *self;
        leptos::task::spawn_local(async move {
            match ws.ensure_chat().await {
                Ok(chat_id) => ws::send(ClientMessage::FixError { chat_id }),
                Err(e) => ws.push(ItemKind::Error {
                    message: format!("could not open the chat: {e}"),
                    code: "CHAT".into(),
                    log_tail: None,
                }),
            }
        });
    }

    pub fn cancel(&self) {
        ws::send(ClientMessage::Cancel {});
    }

    /// Opens the socket; the page calls it once hydrated, with its owner.
    pub fn connect(&self, owner: Option<Owner>) {
        let ws = *self;
        ws::connect(self.project, move |event| match &owner {
            // Signals made for new replies belong to the page and go with it.
            Some(owner) => owner.with(|| ws.on_ws(event)),
            None => ws.on_ws(event),
        });
    }
}
