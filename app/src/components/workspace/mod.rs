//! The workspace page's state: everything the three panes show.
//!
//! Three parts:
//! - [`reducer`]: the state as plain data ([`reducer::Model`]) and how each
//!   server event and user action changes it; pure and unit-tested.
//! - this module: [`Workspace`], the handle the project page provides as
//!   context (`Copy`). It holds the model and mirrors it into the signals the
//!   panes read, and carries out the reducer's effects (the editor, the
//!   socket, a save).
//! - [`actions`]: what reaches the server: the chat history and chat over
//!   REST, saves, and the socket's messages.
//!
//! The socket feeds [`Workspace::on_ws`]; the panes read the signals and act
//! through the methods here and in `actions`.

mod actions;
pub mod reducer;

use std::collections::{BTreeMap, HashMap, VecDeque};

use leptos::prelude::*;
use minicode::protocol::AgentState;
use minicode::{ApiError, ModelInfo, Usage};
use uuid::Uuid;

pub use self::reducer::{
    BuildFailure, Conflict, FileMeta, LogLine, PhaseRow, PhaseStatus, Prompt, ToolRow,
};
use self::reducer::{Effect, Item, Model};
use super::editor;
use super::ws::{self, ConnStatus, WsEvent};

/// An assistant reply; its parts are signals so streaming re-renders only it.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub text: RwSignal<String>,
    pub tools: RwSignal<Vec<ToolRow>>,
    pub usage: RwSignal<Option<Usage>>,
    pub done: RwSignal<bool>,
}

#[derive(Clone, Debug)]
pub enum ItemKind {
    User(Prompt),
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

/// The model's revisions last copied into the signals.
#[derive(Default)]
struct Synced {
    items: u64,
    files: u64,
    phases: u64,
    /// Each reply's signals and the revision they show.
    replies: HashMap<Uuid, (Reply, u64)>,
}

#[derive(Clone, Copy)]
pub struct Workspace {
    pub project: Uuid,
    model: StoredValue<Model>,
    synced: StoredValue<Synced>,
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
    pub selected: RwSignal<Option<String>>,
    pub dirty: RwSignal<bool>,
    pub saving: RwSignal<bool>,
    pub save_error: RwSignal<Option<String>>,
    /// Bumped on every user edit; autosave fires only if it did not move.
    pub edits: RwSignal<u64>,
    pub conflict: RwSignal<Option<Conflict>>,
    pub editor_ready: RwSignal<bool>,
    pub logs: RwSignal<VecDeque<LogLine>>,
    pub server_running: RwSignal<bool>,
    /// The newest production build (publish) that failed while this page
    /// was open: its number, message and output.
    pub build_failure: RwSignal<Option<BuildFailure>>,
    /// Bumped to reload the preview.
    pub preview_reload: RwSignal<u64>,
    pub checkpoints_changed: RwSignal<u64>,
    /// A generation has run (or is running) in this project.
    pub has_run: RwSignal<bool>,
    /// Text for the chat's prompt box, and a counter that moves each time
    /// (the chat tab opens and the prompt takes it): "Ask in chat".
    pub chat_draft: RwSignal<(u64, String)>,
    /// The model the project chose (`None`: the server's default), kept in
    /// step with the picker: the prompt box says up front when it cannot
    /// take images.
    pub project_model: RwSignal<Option<String>>,
    /// The server's models, once read (or why they could not be).
    pub models: RwSignal<Option<Result<Vec<ModelInfo>, ApiError>>>,
}

/// Sets `signal` to `value` if it differs (no needless re-render).
fn put<T>(signal: RwSignal<T>, value: &T)
where
    T: PartialEq + Clone + Send + Sync + 'static,
{
    if signal.with_untracked(|v| v != value) {
        signal.set(value.clone());
    }
}

impl Workspace {
    pub fn new(project: Uuid, model: Option<String>) -> Self {
        Self {
            project,
            model: StoredValue::new(Model::default()),
            synced: StoredValue::new(Synced::default()),
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
            selected: RwSignal::new(None),
            dirty: RwSignal::new(false),
            saving: RwSignal::new(false),
            save_error: RwSignal::new(None),
            edits: RwSignal::new(0),
            conflict: RwSignal::new(None),
            editor_ready: RwSignal::new(false),
            logs: RwSignal::new(VecDeque::new()),
            server_running: RwSignal::new(false),
            build_failure: RwSignal::new(None),
            preview_reload: RwSignal::new(0),
            checkpoints_changed: RwSignal::new(0),
            has_run: RwSignal::new(false),
            chat_draft: RwSignal::new((0, String::new())),
            project_model: RwSignal::new(model),
            models: RwSignal::new(None),
        }
    }

    /// A run or a chat turn is in progress: Cancel is offered.
    pub fn busy(&self) -> bool {
        self.state.get().is_active() || self.chat_busy.get()
    }

    /// The server's content of a file, as far as it has streamed.
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "only Monaco asks, once loaded")
    )]
    pub fn content(&self, path: &str) -> Option<String> {
        self.model
            .try_with_value(|m| m.content(path).cloned())
            .flatten()
    }

    /// Gives the editor's type checker every file the page knows and the
    /// dependencies' declarations: called once Monaco is ready.
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "only Monaco asks, once loaded")
    )]
    pub fn sync_editor(&self) {
        self.model.with_value(|m| {
            for (path, content) in m.contents() {
                let streaming = m.files.get(path).is_some_and(|f| f.streaming);
                if !streaming {
                    editor::sync_file(path, content);
                }
            }
        });
        editor::load_types(self.project);
    }

    /// Reads the model (`None` once the page is gone).
    fn read<R>(&self, f: impl FnOnce(&Model) -> R) -> Option<R> {
        self.model.try_with_value(f)
    }

    /// Changes the model, mirrors it into the signals, then carries out the
    /// effects in order.
    fn update<R>(&self, f: impl FnOnce(&mut Model, &mut Vec<Effect>) -> R) -> Option<R> {
        let mut effects = Vec::new();
        let result = self.model.try_update_value(|m| f(m, &mut effects))?;
        self.sync();
        for effect in effects {
            match effect {
                Effect::SetEditor(text) => editor::set_value(&text),
                Effect::AppendEditor(chunk) => editor::append_value(&chunk),
                Effect::ShowFile(path) => editor::show(&path),
                Effect::SyncFile { path, content } => editor::sync_file(&path, &content),
                Effect::DropFile(path) => editor::drop_file(&path),
                Effect::ReloadTypes => editor::load_types(self.project),
                Effect::Save { path } => self.save_file(path),
                Effect::Send(message) => ws::send(message),
            }
        }
        Some(result)
    }

    pub fn on_ws(&self, event: WsEvent) {
        match event {
            WsEvent::Status(status) => self.conn.set(status),
            WsEvent::Resuming { from } => {
                self.update(|m, _| m.resuming(from));
            }
            WsEvent::Frame(frame) => {
                self.update(|m, fx| m.apply(frame, &editor::get_value, fx));
            }
        }
    }

    /// Puts `text` in the chat's prompt box (and shows the chat).
    pub fn draft(&self, text: String) {
        self.chat_draft.update(|(n, draft)| {
            *n += 1;
            *draft = text;
        });
    }

    /// Opens a file in the editor (the user's choice stops following the agent).
    pub fn open(&self, path: String) {
        self.update(|m, fx| m.open(path, fx));
    }

    /// The editor reported a user edit.
    #[cfg_attr(
        not(feature = "hydrate"),
        expect(dead_code, reason = "only Monaco reports edits")
    )]
    pub fn edited(&self) {
        self.update(|m, _| m.edited());
    }

    /// Resolves a conflict: `keep_mine` saves the editor's text over the agent's.
    pub fn resolve(&self, keep_mine: bool) {
        self.update(|m, fx| m.resolve(keep_mine, fx));
    }

    /// Copies what changed in the model into the signals.
    fn sync(&self) {
        self.model.with_value(|m| {
            put(self.state, &m.state);
            put(self.designing, &m.designing);
            put(self.run_usage, &m.run_usage);
            put(self.chat_usage, &m.chat_usage);
            put(self.chat_busy, &m.chat_busy);
            put(self.status, &m.status);
            put(self.selected, &m.selected);
            put(self.dirty, &m.dirty);
            put(self.save_error, &m.save_error);
            put(self.edits, &m.edits);
            put(self.conflict, &m.conflict);
            put(self.server_running, &m.server_running);
            put(self.build_failure, &m.build_failure);
            put(self.preview_reload, &m.preview_reload);
            put(self.checkpoints_changed, &m.checkpoints_changed);
            put(self.has_run, &m.has_run);
            self.sync_logs(&m.logs);
            self.synced.update_value(|synced| {
                if synced.phases != m.phases.rev() {
                    synced.phases = m.phases.rev();
                    self.phases.set((*m.phases).clone());
                }
                if synced.files != m.files.rev() {
                    synced.files = m.files.rev();
                    self.files.set((*m.files).clone());
                }
                self.sync_replies(m, synced);
                if synced.items != m.items.rev() {
                    synced.items = m.items.rev();
                    self.items.set(
                        m.items
                            .iter()
                            .filter_map(|entry| {
                                let kind = match &entry.item {
                                    Item::User(prompt) => ItemKind::User(prompt.clone()),
                                    Item::Reply(id) => ItemKind::Reply(synced.replies.get(id)?.0),
                                    Item::Error {
                                        message,
                                        code,
                                        log_tail,
                                    } => ItemKind::Error {
                                        message: message.clone(),
                                        code: code.clone(),
                                        log_tail: log_tail.clone(),
                                    },
                                    Item::Note(text) => ItemKind::Note(text.clone()),
                                };
                                Some(ChatItem {
                                    key: entry.key,
                                    kind,
                                })
                            })
                            .collect(),
                    );
                }
            });
        });
    }

    /// Each reply's signals, made for new replies and set for changed ones.
    fn sync_replies(&self, m: &Model, synced: &mut Synced) {
        synced.replies.retain(|id, _| m.replies.contains_key(id));
        for (id, data) in &m.replies {
            let (reply, rev) = synced.replies.entry(*id).or_insert_with(|| {
                let reply = Reply {
                    text: RwSignal::new(data.text.clone()),
                    tools: RwSignal::new(data.tools.clone()),
                    usage: RwSignal::new(data.usage),
                    done: RwSignal::new(data.done),
                };
                (reply, data.rev)
            });
            if *rev != data.rev {
                *rev = data.rev;
                put(reply.text, &data.text);
                put(reply.tools, &data.tools);
                put(reply.usage, &data.usage);
                put(reply.done, &data.done);
            }
        }
    }

    /// The console's lines: the model only drops old lines from the front
    /// (or all of them) and adds new ones at the back, with growing keys, so
    /// the signal is brought level without copying the whole log.
    fn sync_logs(&self, logs: &VecDeque<LogLine>) {
        let last = |l: &VecDeque<LogLine>| l.back().map(|line| line.key);
        let first = |l: &VecDeque<LogLine>| l.front().map(|line| line.key);
        let same = self
            .logs
            .with_untracked(|view| first(view) == first(logs) && last(view) == last(logs));
        if same {
            return;
        }
        self.logs.update(|view| {
            let keep_from = first(logs).unwrap_or(u64::MAX);
            while view.front().is_some_and(|line| line.key < keep_from) {
                view.pop_front();
            }
            let shown = last(view).unwrap_or(0);
            view.extend(logs.iter().filter(|line| line.key > shown).cloned());
        });
    }
}
