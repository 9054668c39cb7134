//! What the workspace sends: the chat history and the chat over REST, saves
//! through the files API, and messages on the project's socket. Each one
//! calls the server and hands what comes back to the model (`reducer.rs`).

use leptos::prelude::*;
use minicode::protocol::ClientMessage;
use minicode::{ApiError, Encoding, FileWrite, ImageRef, NewChat, PageQuery};
use uuid::Uuid;

use super::Workspace;
use super::reducer::Prompt;
use crate::client;
use crate::components::{editor, ws};

/// Messages of the chat history read at once.
const HISTORY: i64 = 100;

impl Workspace {
    /// Loads the project's newest chat and remembers its user messages, which
    /// the event log does not carry, so the replay can put them back in place.
    pub async fn load_history(self) {
        let Ok(chats) = client::project_chats(self.project, 1).await else {
            return;
        };
        let Some(chat) = chats.data.first() else {
            return;
        };
        self.update(|m, _| m.chat_id = Some(chat.id));
        let first = PageQuery {
            limit: HISTORY,
            offset: 0,
        };
        let Ok(mut page) = client::chat_messages(chat.id, first).await else {
            return;
        };
        let total = i64::try_from(page.total).unwrap_or(i64::MAX);
        if total > HISTORY {
            let newest = PageQuery {
                limit: HISTORY,
                offset: total - HISTORY,
            };
            if let Ok(newest) = client::chat_messages(chat.id, newest).await {
                page = newest;
            }
        }
        self.update(|m, _| m.set_history(page.data));
    }

    /// Reads the server's models (which accept images, which is the default).
    pub async fn load_models(self) {
        let models = client::models().await;
        self.models.try_set(Some(models));
    }

    /// Saves the open file through the files API.
    pub fn save(&self) {
        if let Some(path) = self.read(|m| m.selected.clone()).flatten() {
            self.save_file(path);
        }
    }

    /// Saves `path` with the editor's text as it is now.
    pub(super) fn save_file(&self, path: String) {
        let Some(content) = editor::get_value() else {
            return;
        };
        let Some(edits) = self.read(|m| m.edits) else {
            return;
        };
        let ws = *self;
        self.saving.set(true);
        self.update(|m, _| m.save_sent(&path, &content));
        leptos::task::spawn_local(async move {
            let body = FileWrite {
                content,
                encoding: Encoding::Utf8,
            };
            let result = client::write_file(ws.project, &path, &body).await;
            ws.saving.set(false);
            ws.update(|m, _| match result {
                Ok(_) => m.save_stored(&path, edits),
                Err(e) => m.save_refused(&path, &body.content, e.error),
            });
        });
    }

    /// The project's chat, created on first use.
    pub async fn ensure_chat(self) -> Result<Uuid, ApiError> {
        if let Some(id) = self.read(|m| m.chat_id).flatten() {
            return Ok(id);
        }
        let new = NewChat {
            title: Some("Workspace chat".into()),
            project_id: None,
        };
        let chat = client::create_chat(self.project, &new).await?;
        self.update(|m, _| m.chat_id = Some(chat.id));
        Ok(chat.id)
    }

    /// Starts a build with `description` and the images uploaded for it.
    pub fn generate(&self, description: String, images: Vec<ImageRef>) {
        let prompt = Prompt {
            text: description,
            images,
        };
        self.update(|m, fx| m.generate(prompt, fx));
    }

    /// Sends a chat message with the images uploaded for it (creating the
    /// chat if needed).
    pub fn send_message(&self, content: String, images: Vec<ImageRef>) {
        let ids = images.iter().map(|image| image.id).collect();
        self.update(|m, _| {
            m.push_user(Prompt {
                text: content.clone(),
                images,
            })
        });
        self.in_chat(move |chat_id| ClientMessage::SendMessage {
            chat_id,
            content,
            images: ids,
        });
    }

    /// "Fix this error": the server attaches the latest error and its log tail.
    pub fn fix_error(&self, message: &str) {
        self.update(|m, _| {
            m.push_user(Prompt {
                text: format!("Fix this error: {message}"),
                images: Vec::new(),
            })
        });
        self.in_chat(|chat_id| ClientMessage::FixError { chat_id });
    }

    /// Sends `message` for the project's chat once there is one.
    fn in_chat(&self, message: impl FnOnce(Uuid) -> ClientMessage + 'static) {
        let ws = *self;
        leptos::task::spawn_local(async move {
            match ws.ensure_chat().await {
                Ok(chat_id) => ws::send(message(chat_id)),
                Err(e) => {
                    ws.update(|m, _| m.push_error(format!("could not open the chat: {e}"), "CHAT"));
                }
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
