//! The workspace's state as plain data, and how each server event and each
//! user action changes it: no signals, no editor, no socket, no fetch.
//!
//! [`Model::apply`] takes one server frame; what it cannot do itself (show
//! text in the editor, send on the socket, save a file) it returns as an
//! [`Effect`] for the page to carry out, in order. The one thing it reads
//! from outside is the editor's text, passed in as a function: the user's
//! unsaved edits decide whether an agent's write is a conflict. The page
//! (`mod.rs`) copies the model into the signals the panes read; the rules
//! (which file the editor shows, when an agent edit conflicts with the
//! user's, what a replay rebuilds) live here, unit-tested.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Deref;

use minicode::protocol::{
    AgentState, ClientMessage, LogStream, Phase, RunSnapshot, ServerEvent, ServerFrame,
};
use minicode::{ImageRef, Message, Role, Usage};
use uuid::Uuid;

/// Log lines kept for the console; older ones scroll away.
pub const MAX_LOG_LINES: usize = 2_000;

/// The files the editor opens after a replay, the first one there is.
const ENTRY_FILES: [&str; 3] = ["src/App.tsx", "src/App.jsx", "index.html"];

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

/// An assistant reply as it streams in; `rev` grows with every change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplyData {
    pub text: String,
    pub tools: Vec<ToolRow>,
    pub usage: Option<Usage>,
    pub done: bool,
    pub rev: u64,
}

/// A production build (publish) that failed while the page was open: the
/// console lists it with the app's runtime errors, so "Fix this error" and
/// "Fix automatically" treat both alike.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildFailure {
    /// Counts failures, so the same failure twice is two reports.
    pub n: u64,
    pub message: String,
    pub log_tail: Vec<String>,
}

/// What the user sent: the text and the images attached to it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    pub text: String,
    pub images: Vec<ImageRef>,
}

impl From<Message> for Prompt {
    fn from(message: Message) -> Self {
        Self {
            text: message.content,
            images: message.images,
        }
    }
}

/// One entry of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    User(Prompt),
    /// An assistant reply, in [`Model::replies`].
    Reply(Uuid),
    Error {
        message: String,
        code: String,
        log_tail: Option<Vec<String>>,
    },
    /// A milestone: build started, dependencies installed, build complete.
    Note(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Unique in the page, for keyed lists.
    pub key: u64,
    pub item: Item,
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

/// A collection with a revision that grows with every change, so the page
/// copies it into its signal only when it changed.
#[derive(Clone, Debug, Default)]
pub struct Tracked<T> {
    value: T,
    rev: u64,
}

impl<T> Tracked<T> {
    pub fn rev(&self) -> u64 {
        self.rev
    }

    fn update<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        self.rev += 1;
        f(&mut self.value)
    }

    fn set(&mut self, value: T) {
        self.rev += 1;
        self.value = value;
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// What the page does for the model, in this order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Replace the editor's text.
    SetEditor(String),
    /// Append a streamed chunk to the editor's text.
    AppendEditor(String),
    /// Show this file in the editor (its own model); `SetEditor` follows.
    ShowFile(String),
    /// A file's stored text, for the editor's type checker (imports of it
    /// resolve even when it is not shown).
    SyncFile { path: String, content: String },
    /// A file is gone: the checker forgets it.
    DropFile(String),
    /// The dependencies changed: the checker loads their declarations again.
    ReloadTypes,
    /// Save `path` with the editor's text as it is now.
    Save { path: String },
    /// Send on the project's socket.
    Send(ClientMessage),
}

/// Everything the three panes show, and what the rules need to remember.
#[derive(Clone, Debug)]
pub struct Model {
    pub state: AgentState,
    pub phases: Tracked<Vec<PhaseRow>>,
    /// The phase being designed, if any.
    pub designing: Option<u32>,
    pub run_usage: Usage,
    pub chat_usage: Usage,
    pub chat_busy: bool,
    /// The latest `status` line (thinking, running a tool…).
    pub status: String,
    pub items: Tracked<Vec<Entry>>,
    pub replies: HashMap<Uuid, ReplyData>,
    pub files: Tracked<BTreeMap<String, FileMeta>>,
    /// The server's content of every file, as streamed.
    contents: HashMap<String, String>,
    /// What this page saved per path whose `file_end` echo has not come back
    /// yet, oldest first: its own echo is no conflict. Each is forgotten once
    /// its echo arrives, so the same text written later by someone else (a
    /// restored checkpoint, another tab) is shown like any other change.
    saved: HashMap<String, Vec<String>>,
    /// A file's content before the agent started rewriting it (`None`: it is
    /// new), put back when the write breaks off (`file_end {incomplete}`).
    before: HashMap<String, Option<String>>,
    pub selected: Option<String>,
    /// The editor shows the file the agent is writing until the user picks one.
    pub follow: bool,
    pub dirty: bool,
    pub save_error: Option<String>,
    /// Grows with every user edit; autosave fires only if it did not move.
    pub edits: u64,
    pub conflict: Option<Conflict>,
    pub logs: VecDeque<LogLine>,
    pub server_running: bool,
    pub build_failure: Option<BuildFailure>,
    /// Grows to reload the preview.
    pub preview_reload: u64,
    pub checkpoints_changed: u64,
    pub chat_id: Option<Uuid>,
    /// A generation has run (or is running) in this project.
    pub has_run: bool,
    /// Replaying the whole log after a fresh load: no editor streaming.
    pub replaying: bool,
    next_key: u64,
    /// User messages from the REST history, keyed by the reply that follows
    /// (`Uuid::nil()`: asked, not answered yet).
    history: HashMap<Uuid, Prompt>,
    /// This page asked for a build and shows its prompt already: the
    /// `run_started` that echoes it is not shown twice.
    sent_build: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            state: AgentState::Idle,
            phases: Tracked::default(),
            designing: None,
            run_usage: Usage::default(),
            chat_usage: Usage::default(),
            chat_busy: false,
            status: String::new(),
            items: Tracked::default(),
            replies: HashMap::new(),
            files: Tracked::default(),
            contents: HashMap::new(),
            saved: HashMap::new(),
            before: HashMap::new(),
            selected: None,
            follow: true,
            dirty: false,
            save_error: None,
            edits: 0,
            conflict: None,
            logs: VecDeque::new(),
            server_running: false,
            build_failure: None,
            preview_reload: 0,
            checkpoints_changed: 0,
            chat_id: None,
            has_run: false,
            replaying: false,
            next_key: 0,
            history: HashMap::new(),
            sent_build: false,
        }
    }
}

/// The file or pattern a tool call worked on.
fn target_of(input: &serde_json::Value) -> String {
    ["path", "file_path", "pattern", "glob"]
        .iter()
        .find_map(|k| input.get(*k).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_string()
}

impl Model {
    /// The server's content of a file, as far as it has streamed.
    pub fn content(&self, path: &str) -> Option<&String> {
        self.contents.get(path)
    }

    /// Every file's content, as far as it has streamed.
    pub fn contents(&self) -> impl Iterator<Item = (&String, &String)> {
        self.contents.iter()
    }

    fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    fn push(&mut self, item: Item) {
        let key = self.key();
        self.items.update(|items| items.push(Entry { key, item }));
    }

    pub fn push_user(&mut self, prompt: Prompt) {
        self.push(Item::User(prompt));
    }

    pub fn push_error(&mut self, message: String, code: &str) {
        self.push(Item::Error {
            message,
            code: code.to_string(),
            log_tail: None,
        });
    }

    fn reply_mut(&mut self, id: Uuid) -> Option<&mut ReplyData> {
        let reply = self.replies.get_mut(&id)?;
        reply.rev += 1;
        Some(reply)
    }

    /// Remembers the chat's user messages, which the event log does not
    /// carry, so the replay can put them back before their replies.
    pub fn set_history(&mut self, messages: Vec<Message>) {
        let mut map = HashMap::new();
        let mut waiting: Option<Prompt> = None;
        for message in messages {
            match message.role {
                Role::User => waiting = Some(message.into()),
                Role::Assistant => {
                    if let Some(prompt) = waiting.take() {
                        map.insert(message.id, prompt);
                    }
                }
            }
        }
        if let Some(prompt) = waiting {
            // Asked, not yet answered: shown after the replay.
            map.insert(Uuid::nil(), prompt);
        }
        self.history = map;
    }

    /// `resume` was sent from `from`; from 0 the replay rebuilds the page.
    pub fn resuming(&mut self, from: u64) {
        if from == 0 {
            self.clear();
            self.replaying = true;
        }
    }

    /// Resets everything the event log rebuilds (a replay from seq 0).
    fn clear(&mut self) {
        self.state = AgentState::Idle;
        self.chat_busy = false;
        self.phases.set(Vec::new());
        self.designing = None;
        self.items.set(Vec::new());
        self.replies.clear();
        self.files.set(BTreeMap::new());
        self.contents.clear();
        self.logs.clear();
        self.has_run = false;
        self.server_running = false;
        self.chat_usage = Usage::default();
    }

    fn apply_snapshot(&mut self, snapshot: &RunSnapshot) {
        self.state = snapshot.state;
        self.run_usage = snapshot.usage;
        self.chat_busy = snapshot.chat_busy;
        if snapshot.run_id.is_some() {
            self.has_run = true;
        }
        if snapshot.preview_url.is_some() {
            self.server_running = true;
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

    fn mark_phases_done(&mut self) {
        self.phases.update(|rows| {
            for row in rows.iter_mut() {
                row.status = PhaseStatus::Done;
            }
        });
    }

    /// Applies one server event. `editor` reads the editor's text (`None`
    /// before it is ready).
    pub fn apply(
        &mut self,
        frame: ServerFrame,
        editor: &dyn Fn() -> Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let live = !self.replaying;
        let (timestamp, seq) = (frame.timestamp, frame.seq);
        match frame.event {
            // A page rebuilt from seq 0 takes the snapshot after the replay
            // (`finish_replay` asks for it): taken before, it would hide where
            // the replayed run started.
            ServerEvent::ConnectionEstablished { .. } if !live => {}
            ServerEvent::ConnectionEstablished { snapshot, .. }
            | ServerEvent::State { snapshot } => self.apply_snapshot(&snapshot),
            // What was asked, where the build starts: from another page (the
            // dashboard, another tab) or replayed after a reload.
            ServerEvent::RunStarted {
                description,
                images,
                ..
            } => {
                if live && std::mem::take(&mut self.sent_build) {
                    return;
                }
                self.push(Item::User(Prompt {
                    text: description,
                    images,
                }));
            }
            ServerEvent::StateChange { state } => {
                let was = self.state;
                self.state = state;
                match state {
                    AgentState::DesigningPhase if !was.is_active() => {
                        self.has_run = true;
                        self.push(Item::Note("Build started".into()));
                    }
                    AgentState::InstallingDeps => self.mark_phases_done(),
                    AgentState::Cancelled => self.push(Item::Note("Build cancelled".into())),
                    _ => {}
                }
            }
            ServerEvent::PhaseDesigning { phase_number } => {
                if phase_number <= 1 {
                    self.phases.set(Vec::new());
                }
                self.mark_phases_done();
                self.designing = Some(phase_number);
            }
            ServerEvent::PhaseDesigned { phase } => {
                self.designing = None;
                self.phases.update(|rows| {
                    rows.retain(|r| r.phase.number != phase.number);
                    rows.push(PhaseRow {
                        phase,
                        status: PhaseStatus::Implementing,
                    });
                });
            }
            ServerEvent::FilesWritten { .. } => self.mark_phases_done(),
            ServerEvent::FileStart { path } => self.file_start(path, live, fx),
            ServerEvent::FileChunk { path, chunk } => self.file_chunk(path, chunk, live, fx),
            ServerEvent::FileEnd {
                path,
                content,
                incomplete,
            } => {
                let previous = self.before.remove(&path);
                if incomplete {
                    // Not stored: the file is what it was before.
                    match previous {
                        Some(Some(old)) => self.file_end(path, old, live, editor, fx),
                        _ => self.apply(
                            ServerFrame {
                                event: ServerEvent::FileDeleted { path },
                                timestamp,
                                seq,
                                correlation_id: None,
                            },
                            editor,
                            fx,
                        ),
                    }
                } else {
                    self.file_end(path, content, live, editor, fx)
                }
            }
            ServerEvent::FileDeleted { path } => {
                self.files.update(|f| f.remove(&path));
                self.contents.remove(&path);
                fx.push(Effect::DropFile(path.clone()));
                if self.selected.as_deref() == Some(path.as_str()) {
                    self.selected = None;
                    self.dirty = false;
                    self.conflict = None;
                    fx.push(Effect::SetEditor(String::new()));
                }
            }
            // Every phase and chat edit re-checks the dependencies; only an
            // actual install during a build is a milestone.
            ServerEvent::DepsInstalled { changed } => {
                if changed && self.state.is_active() {
                    self.push(Item::Note("Dependencies installed".into()));
                }
                if changed && live {
                    fx.push(Effect::ReloadTypes);
                }
            }
            ServerEvent::ServerStarted { .. } => {
                self.server_running = true;
                if live {
                    self.preview_reload += 1;
                }
            }
            ServerEvent::SandboxLog { stream, line } => {
                let key = self.key();
                if self.logs.len() >= MAX_LOG_LINES {
                    self.logs.pop_front();
                }
                self.logs.push_back(LogLine {
                    key,
                    stream,
                    text: line,
                });
            }
            ServerEvent::GenerationComplete { files, phases } => {
                self.mark_phases_done();
                self.push(Item::Note(format!(
                    "Build complete: {} files in {phases} phase{}",
                    files.len(),
                    if phases == 1 { "" } else { "s" }
                )));
                if live {
                    fx.push(Effect::Send(ClientMessage::GetState {}));
                }
            }
            ServerEvent::Error {
                message,
                code,
                log_tail,
            } => {
                // A refused build sends no `run_started`.
                self.sent_build = false;
                if live && code == "BUILD_FAILED" {
                    self.build_failure = Some(BuildFailure {
                        n: self.build_failure.as_ref().map_or(1, |f| f.n + 1),
                        message: message.clone(),
                        log_tail: log_tail.clone().unwrap_or_default(),
                    });
                }
                self.push(Item::Error {
                    message,
                    code,
                    log_tail,
                });
            }
            ServerEvent::MessageStart {
                message_id,
                chat_id,
            } => {
                if self.chat_id.is_none() {
                    self.chat_id = Some(chat_id);
                }
                if let Some(prompt) = self.history.remove(&message_id) {
                    self.push(Item::User(prompt));
                }
                self.chat_busy = true;
                self.replies.insert(message_id, ReplyData::default());
                self.push(Item::Reply(message_id));
            }
            ServerEvent::MessageDelta { message_id, delta } => {
                if let Some(reply) = self.reply_mut(message_id) {
                    reply.text.push_str(&delta);
                }
            }
            ServerEvent::ToolUse {
                message_id,
                tool_call_id,
                tool_name,
                tool_input,
            } => {
                if let Some(reply) = self.reply_mut(message_id) {
                    reply.tools.push(ToolRow {
                        call_id: tool_call_id,
                        tool: tool_name,
                        target: target_of(&tool_input),
                        ok: None,
                        summary: String::new(),
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
                if let Some(reply) = self.reply_mut(message_id) {
                    match reply.tools.iter_mut().find(|t| t.call_id == tool_call_id) {
                        Some(row) => {
                            row.ok = Some(ok);
                            row.summary = summary;
                        }
                        None => reply.tools.push(ToolRow {
                            call_id: tool_call_id,
                            tool: tool_name,
                            target: String::new(),
                            ok: Some(ok),
                            summary,
                        }),
                    }
                }
            }
            ServerEvent::Status { status } => {
                if status == "idle" && seq.is_some() {
                    self.chat_busy = false;
                }
                self.status = status;
            }
            ServerEvent::MessageComplete { message } => {
                if let Some(reply) = self.reply_mut(message.id) {
                    reply.text.clone_from(&message.content);
                    reply.tools = message
                        .tool_calls
                        .iter()
                        .map(|c| ToolRow {
                            call_id: c.id.clone(),
                            tool: c.tool_name.clone(),
                            target: target_of(&c.tool_input),
                            ok: Some(c.ok),
                            summary: c.summary.clone(),
                        })
                        .collect();
                    reply.usage = message.usage;
                    reply.done = true;
                }
                if let Some(usage) = message.usage {
                    self.chat_usage.add(usage);
                }
                self.chat_busy = false;
            }
            ServerEvent::CheckpointCreated { .. } => self.checkpoints_changed += 1,
            ServerEvent::Resumed { .. } => {
                if self.replaying {
                    self.finish_replay(fx);
                }
            }
            ServerEvent::Pong {} | ServerEvent::Resync { .. } => {}
        }
    }

    /// After a full replay: the unanswered question, a file in the editor,
    /// and a fresh snapshot (the replay ends where the log ends, but a
    /// restart may have changed the agent's state since).
    fn finish_replay(&mut self, fx: &mut Vec<Effect>) {
        self.replaying = false;
        if let Some(prompt) = self.history.remove(&Uuid::nil()) {
            self.push(Item::User(prompt));
        }
        let keep = self.selected.clone().filter(|p| self.files.contains_key(p));
        let pick = keep.or_else(|| {
            ENTRY_FILES
                .iter()
                .map(|p| p.to_string())
                .find(|p| self.files.contains_key(p))
                .or_else(|| self.files.keys().next().cloned())
        });
        match pick {
            Some(path) => self.show(path, fx),
            None => fx.push(Effect::SetEditor(String::new())),
        }
        fx.push(Effect::Send(ClientMessage::GetState {}));
    }

    fn file_start(&mut self, path: String, live: bool, fx: &mut Vec<Effect>) {
        let previous = self.contents.get(&path).cloned();
        self.before.insert(path.clone(), previous);
        self.files.update(|f| {
            f.insert(
                path.clone(),
                FileMeta {
                    streaming: true,
                    size: 0,
                },
            )
        });
        self.contents.insert(path.clone(), String::new());
        if !live {
            return;
        }
        if self.selected.as_deref() == Some(path.as_str()) {
            if !self.dirty {
                fx.push(Effect::SetEditor(String::new()));
            }
        } else if self.follow && !self.dirty {
            self.show(path, fx);
        }
    }

    fn file_chunk(&mut self, path: String, chunk: String, live: bool, fx: &mut Vec<Effect>) {
        let open = live && !self.dirty && self.selected.as_deref() == Some(path.as_str());
        self.contents.entry(path).or_default().push_str(&chunk);
        if open {
            fx.push(Effect::AppendEditor(chunk));
        }
    }

    fn file_end(
        &mut self,
        path: String,
        content: String,
        live: bool,
        editor: &dyn Fn() -> Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let size = content.len();
        self.files.update(|f| {
            f.insert(
                path.clone(),
                FileMeta {
                    streaming: false,
                    size,
                },
            )
        });
        // Checked for every file, open or not, so no echo stays expected.
        let ours = self.own_echo(&path, &content);
        let open = self.selected.as_deref() == Some(path.as_str());
        if open && live {
            if self.dirty {
                let mine = editor().unwrap_or_default();
                if !ours && mine != content {
                    self.conflict = Some(Conflict {
                        path: path.clone(),
                        theirs: content.clone(),
                    });
                }
            } else if !ours {
                fx.push(Effect::SetEditor(content.clone()));
            }
        }
        fx.push(Effect::SyncFile {
            path: path.clone(),
            content: content.clone(),
        });
        self.contents.insert(path, content);
    }

    /// Whether `content` is this page's own save of `path` coming back; it is
    /// then no longer expected. Older saves of that path are forgotten too:
    /// if one of them still comes back, the server stored it last, and the
    /// editor should show it like any other change.
    fn own_echo(&mut self, path: &str, content: &str) -> bool {
        let Some(pending) = self.saved.get_mut(path) else {
            return false;
        };
        let Some(at) = pending.iter().position(|c| c == content) else {
            return false;
        };
        pending.drain(..=at);
        if pending.is_empty() {
            self.saved.remove(path);
        }
        true
    }

    /// Shows a file in the editor.
    fn show(&mut self, path: String, fx: &mut Vec<Effect>) {
        self.conflict = None;
        self.dirty = false;
        self.save_error = None;
        fx.push(Effect::ShowFile(path.clone()));
        fx.push(Effect::SetEditor(
            self.contents.get(&path).cloned().unwrap_or_default(),
        ));
        self.selected = Some(path);
    }

    /// The user opens a file (and stops following the agent).
    pub fn open(&mut self, path: String, fx: &mut Vec<Effect>) {
        self.follow = false;
        if self.selected.as_deref() == Some(path.as_str()) {
            return;
        }
        if self.conflict.is_some() {
            // Leaving now would pick a side silently (the save below would
            // overwrite the other version): the user chooses first.
            self.save_error = Some(
                "choose \u{201c}Keep mine\u{201d} or \u{201c}Take theirs\u{201d} before opening another file"
                    .into(),
            );
            return;
        }
        if self.dirty
            && let Some(current) = self.selected.clone()
        {
            // Leaving a file with edits: keep them on the server first.
            fx.push(Effect::Save { path: current });
        }
        self.show(path, fx);
    }

    /// The editor reported a user edit.
    pub fn edited(&mut self) {
        if self.selected.is_some() {
            self.dirty = true;
            self.edits += 1;
        }
    }

    /// A save of `content` to `path` was sent: its echo is expected.
    pub fn save_sent(&mut self, path: &str, content: &str) {
        self.saved
            .entry(path.to_string())
            .or_default()
            .push(content.to_string());
    }

    /// The save sent when the edit counter was at `edits` was stored.
    pub fn save_stored(&mut self, path: &str, edits: u64) {
        self.save_error = None;
        // Edits made while saving stay unsaved.
        if self.edits == edits && self.selected.as_deref() == Some(path) {
            self.dirty = false;
            self.conflict = None;
        }
    }

    /// The save of `content` to `path` was refused: no echo will come for it.
    pub fn save_refused(&mut self, path: &str, content: &str, error: String) {
        if let Some(pending) = self.saved.get_mut(path)
            && let Some(at) = pending.iter().rposition(|c| c == content)
        {
            pending.remove(at);
        }
        self.save_error = Some(error);
    }

    /// Resolves a conflict: `keep_mine` saves the editor's text over theirs.
    pub fn resolve(&mut self, keep_mine: bool, fx: &mut Vec<Effect>) {
        let Some(conflict) = self.conflict.take() else {
            return;
        };
        self.save_error = None;
        if keep_mine {
            if let Some(path) = self.selected.clone() {
                fx.push(Effect::Save { path });
            }
        } else {
            self.dirty = false;
            fx.push(Effect::SetEditor(conflict.theirs));
        }
    }

    /// A new build from `prompt`: the editor follows the agent again.
    pub fn generate(&mut self, prompt: Prompt, fx: &mut Vec<Effect>) {
        let images = prompt.images.iter().map(|image| image.id).collect();
        fx.push(Effect::Send(ClientMessage::Generate {
            description: prompt.text.clone(),
            images,
        }));
        self.push(Item::User(prompt));
        self.sent_build = true;
        self.follow = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicode::ToolCallRecord;
    use minicode::protocol::PlannedFile;

    fn frame(event: ServerEvent) -> ServerFrame {
        ServerFrame {
            event,
            timestamp: 0,
            seq: Some(1),
            correlation_id: None,
        }
    }

    /// Applies events with an editor that holds `editor_text`; the effects
    /// on what the editor shows and sends (the type checker's are left out,
    /// see [`run_all`]).
    fn run_with(model: &mut Model, editor_text: &str, events: Vec<ServerEvent>) -> Vec<Effect> {
        run_all(model, editor_text, events)
            .into_iter()
            .filter(|e| {
                !matches!(
                    e,
                    Effect::SyncFile { .. } | Effect::DropFile(_) | Effect::ReloadTypes
                )
            })
            .collect()
    }

    /// Every effect of applying the events.
    fn run_all(model: &mut Model, editor_text: &str, events: Vec<ServerEvent>) -> Vec<Effect> {
        let text = editor_text.to_string();
        let editor = move || Some(text.clone());
        let mut fx = Vec::new();
        for event in events {
            model.apply(frame(event), &editor, &mut fx);
        }
        fx
    }

    /// Issue 18 (7): the editor's type checker hears of every stored file
    /// (shown or not, live or replayed), of deletions, and of new
    /// dependencies, so its diagnostics are about the real project.
    #[test]
    fn the_type_checker_follows_the_files_and_the_dependencies() {
        let mut m = Model::default();
        let fx = run_all(
            &mut m,
            "",
            vec![
                start("src/App.tsx"),
                chunk("src/App.tsx", "export"),
                end("src/App.tsx", "export default 1;"),
                start("src/util.ts"),
                end("src/util.ts", "export const u = 1;"),
            ],
        );
        let synced: Vec<(&str, &str)> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::SyncFile { path, content } => Some((path.as_str(), content.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            synced,
            [
                ("src/App.tsx", "export default 1;"),
                ("src/util.ts", "export const u = 1;")
            ],
            "complete files only, not the streamed pieces"
        );
        // A broken-off write syncs the file as it was, not the half.
        let fx = run_all(
            &mut m,
            "",
            vec![
                start("src/util.ts"),
                ServerEvent::FileEnd {
                    path: "src/util.ts".into(),
                    content: "export co".into(),
                    incomplete: true,
                },
            ],
        );
        assert!(fx.contains(&Effect::SyncFile {
            path: "src/util.ts".into(),
            content: "export const u = 1;".into()
        }));
        let fx = run_all(
            &mut m,
            "",
            vec![ServerEvent::FileDeleted {
                path: "src/util.ts".into(),
            }],
        );
        assert_eq!(fx.first(), Some(&Effect::DropFile("src/util.ts".into())));
        let fx = run_all(
            &mut m,
            "",
            vec![
                ServerEvent::DepsInstalled { changed: false },
                ServerEvent::DepsInstalled { changed: true },
            ],
        );
        assert_eq!(fx, vec![Effect::ReloadTypes], "only when they changed");
        // A replay loads them once the editor is ready, not per event.
        m.resuming(0);
        let fx = run_all(
            &mut m,
            "",
            vec![ServerEvent::DepsInstalled { changed: true }],
        );
        assert!(!fx.contains(&Effect::ReloadTypes));
    }

    fn run(model: &mut Model, events: Vec<ServerEvent>) -> Vec<Effect> {
        run_with(model, "", events)
    }

    fn start(path: &str) -> ServerEvent {
        ServerEvent::FileStart { path: path.into() }
    }

    fn chunk(path: &str, text: &str) -> ServerEvent {
        ServerEvent::FileChunk {
            path: path.into(),
            chunk: text.into(),
        }
    }

    fn end(path: &str, content: &str) -> ServerEvent {
        ServerEvent::FileEnd {
            path: path.into(),
            content: content.into(),
            incomplete: false,
        }
    }

    fn phase(number: u32) -> Phase {
        Phase {
            number,
            name: format!("Phase {number}"),
            goal: "goal".into(),
            files: vec![PlannedFile {
                path: "src/App.tsx".into(),
                purpose: "the app".into(),
            }],
            last_phase: false,
        }
    }

    fn notes(model: &Model) -> Vec<String> {
        model
            .items
            .iter()
            .filter_map(|e| match &e.item {
                Item::Note(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    fn set(text: &str) -> Effect {
        Effect::SetEditor(text.into())
    }

    #[test]
    fn a_streamed_file_is_followed_into_the_editor() {
        let mut m = Model::default();
        let fx = run(
            &mut m,
            vec![
                start("src/App.tsx"),
                chunk("src/App.tsx", "a"),
                chunk("src/App.tsx", "b"),
            ],
        );
        assert_eq!(
            fx,
            vec![
                Effect::ShowFile("src/App.tsx".into()),
                set(""),
                Effect::AppendEditor("a".into()),
                Effect::AppendEditor("b".into()),
            ]
        );
        assert_eq!(m.selected.as_deref(), Some("src/App.tsx"));
        assert!(m.files["src/App.tsx"].streaming);
        assert_eq!(m.content("src/App.tsx").map(String::as_str), Some("ab"));

        let fx = run(&mut m, vec![end("src/App.tsx", "abc")]);
        assert_eq!(
            fx,
            vec![set("abc")],
            "the final text replaces the streamed one"
        );
        assert_eq!(
            m.files["src/App.tsx"],
            FileMeta {
                streaming: false,
                size: 3
            }
        );
        // A second file takes the editor along while the user has not chosen one.
        let fx = run(&mut m, vec![start("src/main.tsx")]);
        assert_eq!(m.selected.as_deref(), Some("src/main.tsx"));
        assert_eq!(fx.last(), Some(&set("")));
    }

    #[test]
    fn a_file_the_user_opened_stays_while_the_agent_writes_others() {
        let mut m = Model::default();
        run(&mut m, vec![start("a.txt"), end("a.txt", "A")]);
        let mut fx = Vec::new();
        m.open("a.txt".into(), &mut fx);
        assert!(!m.follow);
        let fx = run(
            &mut m,
            vec![start("b.txt"), chunk("b.txt", "B"), end("b.txt", "B")],
        );
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(m.selected.as_deref(), Some("a.txt"));
        // A new build follows the agent again.
        let mut fx = Vec::new();
        m.generate(
            Prompt {
                text: "again".into(),
                images: Vec::new(),
            },
            &mut fx,
        );
        assert!(m.follow);
        assert_eq!(
            fx,
            vec![Effect::Send(ClientMessage::Generate {
                description: "again".into(),
                images: Vec::new(),
            })]
        );
    }

    #[test]
    fn a_broken_off_write_puts_the_file_back() {
        let mut m = Model::default();
        run(&mut m, vec![start("a.txt"), end("a.txt", "old")]);
        run(
            &mut m,
            vec![
                start("a.txt"),
                chunk("a.txt", "half"),
                ServerEvent::FileEnd {
                    path: "a.txt".into(),
                    content: "half".into(),
                    incomplete: true,
                },
            ],
        );
        assert_eq!(m.content("a.txt").map(String::as_str), Some("old"));
        assert!(!m.files["a.txt"].streaming);
        // A new file that breaks off is gone, and so is the editor's text.
        let fx = run(
            &mut m,
            vec![
                start("new.txt"),
                ServerEvent::FileEnd {
                    path: "new.txt".into(),
                    content: String::new(),
                    incomplete: true,
                },
            ],
        );
        assert!(!m.files.contains_key("new.txt"));
        assert_eq!(m.selected, None);
        assert_eq!(fx.last(), Some(&set("")));
    }

    #[test]
    fn an_agent_write_over_unsaved_edits_is_a_conflict_unless_it_is_our_own_save() {
        let mut m = Model::default();
        run(&mut m, vec![start("a.txt"), end("a.txt", "v1")]);
        m.edited();
        assert!(m.dirty);
        // Our own save coming back is no conflict, and shown as nothing new.
        m.save_sent("a.txt", "mine");
        let fx = run_with(&mut m, "mine", vec![end("a.txt", "mine")]);
        assert!(fx.is_empty() && m.conflict.is_none(), "{fx:?}");
        // The same text again is someone else's write now: the echo was used up.
        m.save_stored("a.txt", m.edits);
        assert!(!m.dirty);
        m.edited();
        let fx = run_with(&mut m, "mine, edited", vec![end("a.txt", "mine")]);
        assert!(fx.is_empty());
        assert_eq!(
            m.conflict,
            Some(Conflict {
                path: "a.txt".into(),
                theirs: "mine".into()
            })
        );
        // Opening another file now is refused until the user chooses.
        let mut fx = Vec::new();
        m.open("b.txt".into(), &mut fx);
        assert!(fx.is_empty());
        assert_eq!(m.selected.as_deref(), Some("a.txt"));
        assert!(m.save_error.is_some());
        // Take theirs: the editor shows their text, nothing is unsaved.
        m.resolve(false, &mut fx);
        assert_eq!(fx, vec![set("mine")]);
        assert!(!m.dirty && m.conflict.is_none() && m.save_error.is_none());
    }

    #[test]
    fn keep_mine_saves_and_a_refused_save_expects_no_echo() {
        let mut m = Model::default();
        run(&mut m, vec![start("a.txt"), end("a.txt", "v1")]);
        m.edited();
        run_with(&mut m, "mine", vec![end("a.txt", "theirs")]);
        let mut fx = Vec::new();
        m.resolve(true, &mut fx);
        assert_eq!(
            fx,
            vec![Effect::Save {
                path: "a.txt".into()
            }]
        );
        m.save_sent("a.txt", "mine");
        m.save_refused("a.txt", "mine", "too large".into());
        assert_eq!(m.save_error.as_deref(), Some("too large"));
        assert!(m.dirty, "still unsaved");
        // Not expected any more: the same text from elsewhere is a change.
        m.edited();
        run_with(&mut m, "mine, more", vec![end("a.txt", "mine")]);
        assert!(m.conflict.is_some());
    }

    #[test]
    fn leaving_a_file_with_edits_saves_it_first() {
        let mut m = Model::default();
        run(
            &mut m,
            vec![
                start("a.txt"),
                end("a.txt", "A"),
                start("b.txt"),
                end("b.txt", "B"),
            ],
        );
        let mut fx = Vec::new();
        m.open("a.txt".into(), &mut fx);
        m.edited();
        let edits = m.edits;
        fx.clear();
        m.open("b.txt".into(), &mut fx);
        assert_eq!(
            fx,
            vec![
                Effect::Save {
                    path: "a.txt".into()
                },
                Effect::ShowFile("b.txt".into()),
                set("B"),
            ]
        );
        assert!(!m.dirty);
        // The save of a.txt completes after b.txt is open: b.txt is untouched.
        m.save_stored("a.txt", edits);
        assert_eq!(m.selected.as_deref(), Some("b.txt"));
    }

    #[test]
    fn phases_and_run_states_make_the_timeline() {
        let mut m = Model::default();
        let fx = run(
            &mut m,
            vec![
                ServerEvent::StateChange {
                    state: AgentState::DesigningPhase,
                },
                ServerEvent::PhaseDesigning { phase_number: 1 },
            ],
        );
        assert!(fx.is_empty());
        assert!(m.has_run);
        assert_eq!(m.designing, Some(1));
        assert_eq!(notes(&m), ["Build started"]);
        run(
            &mut m,
            vec![
                ServerEvent::PhaseDesigned { phase: phase(1) },
                ServerEvent::StateChange {
                    state: AgentState::ImplementingPhase,
                },
            ],
        );
        assert_eq!(m.designing, None);
        assert_eq!(m.phases[0].status, PhaseStatus::Implementing);
        run(
            &mut m,
            vec![
                ServerEvent::FilesWritten { count: 1 },
                ServerEvent::StateChange {
                    state: AgentState::InstallingDeps,
                },
                ServerEvent::DepsInstalled { changed: true },
                ServerEvent::PhaseDesigning { phase_number: 2 },
                ServerEvent::PhaseDesigned { phase: phase(2) },
                // Designed again (a retry): replaced, not added.
                ServerEvent::PhaseDesigned { phase: phase(2) },
            ],
        );
        let statuses: Vec<_> = m.phases.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [PhaseStatus::Done, PhaseStatus::Implementing]);
        let fx = run(
            &mut m,
            vec![
                ServerEvent::ServerStarted {
                    url: "/preview/x/".into(),
                },
                ServerEvent::GenerationComplete {
                    files: vec!["src/App.tsx".into()],
                    phases: 2,
                },
                ServerEvent::StateChange {
                    state: AgentState::Complete,
                },
                // Up to date already (a chat edit re-checks): no milestone.
                ServerEvent::DepsInstalled { changed: false },
            ],
        );
        assert!(m.server_running);
        assert_eq!(m.preview_reload, 1);
        assert!(m.phases.iter().all(|r| r.status == PhaseStatus::Done));
        assert_eq!(fx, vec![Effect::Send(ClientMessage::GetState {})]);
        assert_eq!(
            notes(&m),
            [
                "Build started",
                "Dependencies installed",
                "Build complete: 1 files in 2 phases"
            ]
        );
        // A new build resets the plan; a cancel says so.
        run(
            &mut m,
            vec![
                ServerEvent::StateChange {
                    state: AgentState::DesigningPhase,
                },
                ServerEvent::PhaseDesigning { phase_number: 1 },
                ServerEvent::StateChange {
                    state: AgentState::Cancelled,
                },
            ],
        );
        assert!(m.phases.is_empty());
        assert_eq!(
            notes(&m).last().map(String::as_str),
            Some("Build cancelled")
        );
    }

    #[test]
    fn a_snapshot_sets_the_run_and_which_phases_are_done() {
        let mut m = Model::default();
        let snapshot = RunSnapshot {
            run_id: Some(Uuid::from_u128(1)),
            state: AgentState::ImplementingPhase,
            phases: vec![phase(1), phase(2)],
            current_phase: Some(2),
            preview_url: Some("/preview/x/".into()),
            chat_busy: true,
            ..Default::default()
        };
        run(
            &mut m,
            vec![ServerEvent::ConnectionEstablished {
                project_id: Uuid::nil(),
                snapshot: snapshot.clone(),
            }],
        );
        assert_eq!(m.state, AgentState::ImplementingPhase);
        assert!(m.has_run && m.server_running && m.chat_busy);
        let statuses: Vec<_> = m.phases.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [PhaseStatus::Done, PhaseStatus::Implementing]);
        // While a replay rebuilds the page the greeting's snapshot waits.
        let mut m = Model::default();
        m.resuming(0);
        run(
            &mut m,
            vec![ServerEvent::ConnectionEstablished {
                project_id: Uuid::nil(),
                snapshot,
            }],
        );
        assert_eq!(m.state, AgentState::Idle);
    }

    #[test]
    fn errors_and_logs() {
        let mut m = Model::default();
        run(
            &mut m,
            vec![ServerEvent::Error {
                message: "npm failed".into(),
                code: "SANDBOX_ERROR".into(),
                log_tail: Some(vec!["ERR!".into()]),
            }],
        );
        assert!(matches!(
            &m.items[0].item,
            Item::Error { code, log_tail: Some(_), .. } if code == "SANDBOX_ERROR"
        ));
        let lines = (0..MAX_LOG_LINES + 5).map(|i| ServerEvent::SandboxLog {
            stream: LogStream::Stdout,
            line: format!("line {i}"),
        });
        run(&mut m, lines.collect());
        assert_eq!(m.logs.len(), MAX_LOG_LINES);
        assert_eq!(m.logs.front().map(|l| l.text.as_str()), Some("line 5"));
    }

    #[test]
    fn a_chat_turn_streams_into_its_reply() {
        let mut m = Model::default();
        let id = Uuid::from_u128(7);
        let chat = Uuid::from_u128(9);
        let fx = run(
            &mut m,
            vec![
                ServerEvent::MessageStart {
                    message_id: id,
                    chat_id: chat,
                },
                ServerEvent::Status {
                    status: "thinking".into(),
                },
                ServerEvent::MessageDelta {
                    message_id: id,
                    delta: "Hel".into(),
                },
                ServerEvent::MessageDelta {
                    message_id: id,
                    delta: "lo".into(),
                },
                ServerEvent::ToolUse {
                    message_id: id,
                    tool_call_id: "t1".into(),
                    tool_name: "Edit".into(),
                    tool_input: serde_json::json!({"path": "src/App.tsx"}),
                },
            ],
        );
        assert!(fx.is_empty());
        assert_eq!(m.chat_id, Some(chat));
        assert!(m.chat_busy);
        assert_eq!(m.status, "thinking");
        let reply = &m.replies[&id];
        assert_eq!(reply.text, "Hello");
        assert_eq!(reply.tools[0].target, "src/App.tsx");
        assert_eq!(reply.tools[0].ok, None);
        let rev = reply.rev;
        run(
            &mut m,
            vec![ServerEvent::ToolResult {
                message_id: id,
                tool_call_id: "t1".into(),
                tool_name: "Edit".into(),
                ok: true,
                summary: "edited".into(),
            }],
        );
        assert_eq!(m.replies[&id].tools[0].ok, Some(true));
        assert!(m.replies[&id].rev > rev, "a change the page copies");
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: None,
        };
        run(
            &mut m,
            vec![ServerEvent::MessageComplete {
                message: Message {
                    id,
                    chat_id: chat,
                    role: Role::Assistant,
                    content: "Hello, done.".into(),
                    tool_calls: vec![ToolCallRecord {
                        id: "t1".into(),
                        tool_name: "Edit".into(),
                        tool_input: serde_json::json!({"file_path": "src/x.ts"}),
                        ok: true,
                        summary: "edited".into(),
                    }],
                    usage: Some(usage),
                    created_at: String::new(),
                    images: Vec::new(),
                    pending: false,
                },
            }],
        );
        let reply = &m.replies[&id];
        assert!(reply.done);
        assert_eq!(reply.text, "Hello, done.");
        assert_eq!(reply.tools[0].target, "src/x.ts");
        assert_eq!(m.chat_usage.total_tokens(), 15);
        assert!(!m.chat_busy);
        // An idle status from the log ends a turn whose reply never completed.
        m.chat_busy = true;
        run(
            &mut m,
            vec![ServerEvent::Status {
                status: "idle".into(),
            }],
        );
        assert!(!m.chat_busy);
    }

    fn message(id: u128, role: Role, content: &str) -> Message {
        Message {
            id: Uuid::from_u128(id),
            chat_id: Uuid::nil(),
            role,
            content: content.into(),
            tool_calls: vec![],
            usage: None,
            created_at: String::new(),
            images: Vec::new(),
            pending: false,
        }
    }

    /// A whole project's log, as a replay from seq 0 brings it.
    fn log() -> Vec<ServerEvent> {
        vec![
            ServerEvent::StateChange {
                state: AgentState::DesigningPhase,
            },
            ServerEvent::PhaseDesigning { phase_number: 1 },
            ServerEvent::PhaseDesigned { phase: phase(1) },
            start("index.html"),
            end("index.html", "<html>"),
            start("src/App.tsx"),
            chunk("src/App.tsx", "export"),
            end("src/App.tsx", "export default 1"),
            ServerEvent::GenerationComplete {
                files: vec!["index.html".into(), "src/App.tsx".into()],
                phases: 1,
            },
            ServerEvent::StateChange {
                state: AgentState::Complete,
            },
            ServerEvent::MessageStart {
                message_id: Uuid::from_u128(2),
                chat_id: Uuid::from_u128(9),
            },
            ServerEvent::MessageComplete {
                message: message(2, Role::Assistant, "Done."),
            },
            ServerEvent::SandboxLog {
                stream: LogStream::Stderr,
                line: "warn".into(),
            },
            ServerEvent::Resumed { up_to_seq: 13 },
        ]
    }

    /// What the page shows, without keys and revisions.
    fn shown(m: &Model) -> impl PartialEq + std::fmt::Debug + use<> {
        let items: Vec<_> = m
            .items
            .iter()
            .map(|e| match &e.item {
                Item::Reply(id) => format!("reply: {}", m.replies[id].text),
                other => format!("{other:?}"),
            })
            .collect();
        let logs: Vec<_> = m.logs.iter().map(|l| l.text.clone()).collect();
        (
            items,
            (*m.files).clone(),
            (*m.phases).clone(),
            m.selected.clone(),
            m.state,
            logs,
            m.has_run,
        )
    }

    #[test]
    fn a_replay_rebuilds_the_page_quietly_and_the_same_every_time() {
        let mut m = Model::default();
        m.set_history(vec![
            message(1, Role::User, "make it blue"),
            message(2, Role::Assistant, "Done."),
            message(3, Role::User, "and bigger?"),
        ]);
        m.resuming(0);
        assert!(m.replaying);
        let fx = run(&mut m, log());
        // Nothing streams into the editor during the replay; at its end the
        // app's entry file opens and the current state is asked for.
        assert_eq!(
            fx,
            vec![
                Effect::ShowFile("src/App.tsx".into()),
                set("export default 1"),
                Effect::Send(ClientMessage::GetState {}),
            ]
        );
        assert!(!m.replaying);
        assert!(!m.server_running);
        let users: Vec<_> = m
            .items
            .iter()
            .filter_map(|e| match &e.item {
                Item::User(p) => Some(p.text.as_str()),
                _ => None,
            })
            .collect();
        // The answered question before its reply, the open one at the end.
        assert_eq!(users, ["make it blue", "and bigger?"]);
        assert!(matches!(
            m.items.last().map(|e| &e.item),
            Some(Item::User(_))
        ));
        let first = shown(&m);

        // A second replay from 0 (a server restored from a backup) shows the
        // same page, not the events twice; the file the user had open stays.
        let mut fx = Vec::new();
        m.open("index.html".into(), &mut fx);
        m.set_history(vec![
            message(1, Role::User, "make it blue"),
            message(2, Role::Assistant, "Done."),
            message(3, Role::User, "and bigger?"),
        ]);
        m.resuming(0);
        let fx = run(&mut m, log());
        assert_eq!(fx[1], set("<html>"));
        m.open("src/App.tsx".into(), &mut Vec::new());
        assert_eq!(shown(&m), first);

        // A resume from a later seq (a dropped socket) keeps what is there.
        m.resuming(13);
        assert!(!m.replaying);
        assert_eq!(shown(&m), first);
    }

    #[test]
    fn history_pairs_questions_with_the_replies_that_follow() {
        let mut m = Model::default();
        m.set_history(vec![
            message(1, Role::User, "first"),
            message(2, Role::Assistant, "a"),
            message(3, Role::Assistant, "b, unprompted"),
            message(4, Role::User, "second"),
        ]);
        assert_eq!(
            m.history.get(&Uuid::from_u128(2)).map(|p| p.text.as_str()),
            Some("first")
        );
        assert!(!m.history.contains_key(&Uuid::from_u128(3)));
        assert_eq!(
            m.history.get(&Uuid::nil()).map(|p| p.text.as_str()),
            Some("second")
        );
    }

    fn image(id: u128) -> ImageRef {
        ImageRef {
            id: Uuid::from_u128(id),
            media_type: "image/png".into(),
            width: 48,
            height: 48,
            size: 120,
        }
    }

    #[test]
    fn a_builds_prompt_is_shown_where_it_starts_once() {
        let prompt = Prompt {
            text: "like this mock-up".into(),
            images: vec![image(8)],
        };
        let started = ServerEvent::RunStarted {
            run_id: Uuid::from_u128(9),
            description: prompt.text.clone(),
            images: prompt.images.clone(),
        };
        // Replayed (a reload, or a build the dashboard started).
        let mut m = Model::default();
        m.resuming(0);
        let mut events = vec![started.clone()];
        events.extend(log());
        run(&mut m, events);
        assert_eq!(m.items[0].item, Item::User(prompt.clone()));
        assert_eq!(m.items[1].item, Item::Note("Build started".into()));
        // Asked on this page: shown at once, and the echo is not shown again.
        let mut m = Model::default();
        let mut fx = Vec::new();
        m.generate(prompt.clone(), &mut fx);
        run(&mut m, vec![started.clone()]);
        let users = m
            .items
            .iter()
            .filter(|i| matches!(i.item, Item::User(_)))
            .count();
        assert_eq!(users, 1);
        // A later build from another tab is shown.
        run(&mut m, vec![started]);
        let users = m
            .items
            .iter()
            .filter(|i| matches!(i.item, Item::User(_)))
            .count();
        assert_eq!(users, 2);
    }

    #[test]
    fn images_in_the_history_come_back_with_their_message() {
        let mut m = Model::default();
        let mut asked = message(1, Role::User, "make it look like this");
        asked.images = vec![image(10), image(11)];
        let mut open = message(3, Role::User, "and this one?");
        open.images = vec![image(12)];
        m.set_history(vec![asked, message(2, Role::Assistant, "Done."), open]);
        m.resuming(0);
        run(&mut m, log());
        let users: Vec<_> = m
            .items
            .iter()
            .filter_map(|e| match &e.item {
                Item::User(p) => Some((p.text.as_str(), p.images.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            users,
            [
                ("make it look like this", vec![image(10), image(11)]),
                ("and this one?", vec![image(12)]),
            ]
        );
    }

    #[test]
    fn a_build_sends_its_images_ids_and_shows_them() {
        let mut m = Model::default();
        let mut fx = Vec::new();
        let prompt = Prompt {
            text: "a landing page like this".into(),
            images: vec![image(5)],
        };
        m.generate(prompt.clone(), &mut fx);
        assert_eq!(
            fx,
            vec![Effect::Send(ClientMessage::Generate {
                description: "a landing page like this".into(),
                images: vec![Uuid::from_u128(5)],
            })]
        );
        assert_eq!(m.items.last().map(|e| &e.item), Some(&Item::User(prompt)));
    }

    #[test]
    fn deleting_the_open_file_closes_it() {
        let mut m = Model::default();
        run(&mut m, vec![start("a.txt"), end("a.txt", "A")]);
        m.edited();
        let fx = run(
            &mut m,
            vec![ServerEvent::FileDeleted {
                path: "a.txt".into(),
            }],
        );
        assert_eq!(fx, vec![set("")]);
        assert_eq!(m.selected, None);
        assert!(!m.dirty && m.files.is_empty() && m.content("a.txt").is_none());
        // Edits with no file open are not edits.
        m.edited();
        assert!(!m.dirty);
    }
}
