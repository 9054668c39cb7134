//! `/ws/:projectId`: the project's live channel, and `/api/chats/:id/ws`:
//! one chat's.
//!
//! On connect the client gets `connection_established` with a snapshot of the
//! project's agent. From then on it receives every event of the project's log
//! (seq'd, see `events/`), and may send `generate`, `cancel`, `get_state`,
//! `send_message`, `fix_error`, `resume {lastSeq}` and `ping`. Replies carry
//! the request's `correlationId`. A client that reconnects sends `resume`
//! with the last seq it saw and receives everything after it, so a dropped
//! connection loses nothing. Live frames are never sent twice, but a
//! `resume` replays its whole range, which may overlap frames already
//! delivered live: clients apply each seq once and skip the ones they have.
//!
//! Robustness: invalid JSON or an unknown type gets an `error` and the
//! connection stays open; the server pings every 30 s and drops a client
//! that stops answering; a client that falls too far behind (its bounded
//! queue overflows) is told to `resync` instead of slowing anyone else.
//!
//! A chat's socket is the same connection narrowed to one chat: it is
//! authenticated the same way, forwards and replays only the events that
//! chat's turns published (tagged in the log, see `events::Frame::chat`),
//! and takes `send_message {content}` (the chat is implied), `cancel {}`
//! (that chat's turn only), `resume {lastSeq}` and `ping`. Seqs are the
//! project log's, so a chat's stream has gaps where other events were.

pub mod frame;
mod handshake;
pub mod heartbeat;
mod socket;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use minicode::paths;
use minicode::protocol::{ClientMessage, RawClientFrame, ServerEvent, ServerFrame};
use serde::Deserialize;
use tracing::Instrument;
use uuid::Uuid;

use self::frame::Incoming;
use self::handshake::{Pending, Upgrade};
use self::socket::{Received, Socket};

use crate::auth::service::{
    authenticate, bearer_from_headers, session_from_headers, user_for_session, user_for_token,
};
use crate::auth::{AuthMethod, Caller};
use crate::config::origin_of;
use crate::config::secret::Secret;
use crate::db::now_ms;
use crate::error::AppError;
use crate::state::AppState;

/// Largest message a client may send.
const MAX_MESSAGE: usize = 256 * 1024;

/// How a socket was authenticated: kept to check it again later.
enum Credential {
    Session(Secret),
    Token(Secret),
}

/// Close codes (4000–4999 are for applications).
pub mod close {
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN_ORIGIN: u16 = 4403;
    pub const NOT_FOUND: u16 = 4404;
    pub const STALE: u16 = 4408;
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_WS, get(upgrade))
        .route(paths::CHAT_WS, get(upgrade_chat))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// Why a socket is refused; sent as the close frame after the upgrade, so
/// browsers (which cannot read an HTTP error of a failed upgrade) see it.
struct Refusal {
    code: u16,
    reason: &'static str,
}

impl Refusal {
    fn not_found(what: &'static str) -> Self {
        Refusal {
            code: close::NOT_FOUND,
            reason: what,
        }
    }
}

/// An admitted socket: who, with what, and what it watches.
struct Admitted {
    caller: Caller,
    credential: Credential,
    project: Uuid,
    /// Set for a chat's socket: only this chat's events, its commands only.
    chat: Option<Uuid>,
}

async fn upgrade(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let verdict = admit_project(&state, &project, query.token.as_deref(), &headers).await;
    open(state, upgrade, verdict)
}

/// `/api/chats/:id/ws`: one chat's events and commands (seed 003's socket).
async fn upgrade_chat(
    State(state): State<AppState>,
    Path(chat): Path<String>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let verdict = admit_chat(&state, &chat, query.token.as_deref(), &headers).await;
    open(state, upgrade, verdict)
}

/// Upgrades, then runs the connection or closes it with the refusal.
///
/// The connection's task is [`Connection::run`] itself, with its span: it
/// stays in memory for as long as the socket is open, so nothing else is
/// wrapped around it (with 10,000 sockets every byte of it is 10 kB).
fn open(state: AppState, upgrade: Upgrade, verdict: Result<Admitted, Refusal>) -> Response {
    let (response, pending) = upgrade.accept();
    match verdict {
        Ok(admitted) => {
            let span = tracing::info_span!(
                "ws",
                project_id = %admitted.project,
                user_id = %admitted.caller.id(),
                chat_id = tracing::field::Empty
            );
            if let Some(chat) = admitted.chat {
                span.record("chat_id", tracing::field::display(chat));
            }
            let connection = Connection::new(state, admitted);
            tokio::spawn(connection.run(pending).instrument(span));
        }
        Err(refusal) => {
            tokio::spawn(async move {
                if let Some(socket) = pending.socket().await {
                    socket.close(refusal.code, refusal.reason).await;
                }
            });
        }
    }
    response
}

/// Admits a project's socket: an authenticated caller who owns the project.
async fn admit_project(
    state: &AppState,
    project: &str,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Admitted, Refusal> {
    let (caller, credential) = authenticate_socket(state, token, headers).await?;
    let project = Uuid::parse_str(project).map_err(|_| Refusal::not_found("project not found"))?;
    match crate::projects::owned_by(state, caller.id(), project).await {
        Ok(_) => Ok(Admitted {
            caller,
            credential,
            project,
            chat: None,
        }),
        Err(_) => Err(Refusal::not_found("project not found")),
    }
}

/// Admits a chat's socket: an authenticated caller whose project the chat is in.
async fn admit_chat(
    state: &AppState,
    chat: &str,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<Admitted, Refusal> {
    let (caller, credential) = authenticate_socket(state, token, headers).await?;
    let chat = Uuid::parse_str(chat).map_err(|_| Refusal::not_found("chat not found"))?;
    match crate::chats::owned_by(state, caller.id(), chat).await {
        Ok(found) => Ok(Admitted {
            caller,
            credential,
            project: found.project_id,
            chat: Some(chat),
        }),
        Err(_) => Err(Refusal::not_found("chat not found")),
    }
}

/// Authenticates a socket's handshake: an API token in `?token=` (nothing
/// else is considered then), else a bearer header or the session cookie,
/// the cookie only from our own pages' `Origin`.
async fn authenticate_socket(
    state: &AppState,
    token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(Caller, Credential), Refusal> {
    let credential = match (token, bearer_from_headers(headers)) {
        (Some(token), _) => Credential::Token(Secret::new(token)),
        (None, Some(bearer)) => Credential::Token(Secret::new(bearer)),
        (None, None) => Credential::Session(Secret::new(
            session_from_headers(headers, state.config.cookies_secure()).unwrap_or_default(),
        )),
    };
    let caller = match token {
        Some(token) => user_for_token(state, token)
            .await
            .ok()
            .flatten()
            .map(|(user, scope)| Caller {
                user,
                method: AuthMethod::Token(scope),
            }),
        None => {
            // Browsers send cookies with cross-site WebSocket handshakes too:
            // a cookie-authenticated socket must come from our own pages.
            if let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok())
                && !crate::auth::csrf::is_trusted_origin(state, headers, &origin_of(origin))
            {
                return Err(Refusal {
                    code: close::FORBIDDEN_ORIGIN,
                    reason: "this page may not open minicode sockets",
                });
            }
            authenticate(state, headers).await.ok().flatten()
        }
    };
    match caller {
        Some(caller) => Ok((caller, credential)),
        None => Err(Refusal {
            code: close::UNAUTHORIZED,
            reason: "sign in to continue",
        }),
    }
}

struct Connection {
    state: AppState,
    /// Who opened the socket, and how: a read-only token watches but may not
    /// send commands.
    caller: Caller,
    /// What the socket was opened with, checked again before every command
    /// and every other heartbeat: signing out everywhere, a password change,
    /// a revoked or expired token or a disabled account also ends sockets.
    credential: Credential,
    project: Uuid,
    /// A chat's socket: only frames of this chat's turns are sent, and the
    /// commands are that chat's.
    chat: Option<Uuid>,
}

impl Connection {
    fn new(state: AppState, admitted: Admitted) -> Self {
        Self {
            state,
            caller: admitted.caller,
            credential: admitted.credential,
            project: admitted.project,
            chat: admitted.chat,
        }
    }

    // Sized for the 10,000 tasks of as many open sockets. Not an `async
    // fn`: one keeps its arguments twice in the future (as arguments, then
    // as the locals they are moved into: rust-lang/rust#62958). The
    // connection is boxed: inline, its 160 bytes made every socket's task
    // (tokio rounds them to 128 bytes) 640 bytes instead of 384.
    fn run(self, pending: Pending) -> impl Future<Output = ()> + Send {
        let mut this = Box::new(self);
        async move {
            let Some(mut socket) = pending.socket().await else {
                return;
            };
            // Subscribe before taking the snapshot, so nothing falls in between:
            // live frames wait (held by the socket) until the greeting is sent.
            // The futures awaited once or rarely are boxed: an inline one would
            // be part of every open socket's task for as long as it stays open.
            let (subscription, last_seq) =
                match Box::pin(this.state.events.subscribe(this.project, socket.outbox())).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not subscribe");
                        return;
                    }
                };
            socket.start_after(last_seq, this.chat);
            let snapshot = Box::pin(crate::agent::snapshot(&this.state, this.project))
                .await
                .unwrap_or_default();
            let hello = ServerEvent::ConnectionEstablished {
                project_id: this.project,
                snapshot,
            };
            socket.send(reply(hello, None));
            socket.release();
            tracing::debug!("client connected");

            this.state.heartbeat.register(socket.outbox());
            // Heartbeats so far, and since the client last sent anything (a
            // count, not a time: 16 bytes less in every socket's task).
            let mut beats: u32 = 0;
            let mut quiet: u8 = 0;
            loop {
                // One task per socket; while it waits for the client it also
                // writes whatever the fan-out could not (see `socket.rs`).
                let message = match socket.recv(MAX_MESSAGE).await {
                    Received::Message(message) => message,
                    Received::Refused(refused) => {
                        // Over the size limit, not WebSocket, not UTF-8: say so
                        // with the standard code.
                        Box::pin(socket.close(refused.close_code(), &refused.to_string())).await;
                        break;
                    }
                    Received::Gone => break,
                    Received::Beat => {
                        beats = beats.wrapping_add(1);
                        if beats.is_multiple_of(2) && !Box::pin(this.still_signed_in()).await {
                            Box::pin(socket.close(close::UNAUTHORIZED, "sign in to continue"))
                                .await;
                            tracing::info!("closed a socket whose session or token ended");
                            break;
                        }
                        quiet = quiet.saturating_add(1);
                        // Silent since before the last two pings: more than
                        // two heartbeats (60 s), less than three.
                        if quiet > 2 {
                            Box::pin(socket.close(close::STALE, "no answer to pings")).await;
                            tracing::info!("dropped a stale connection");
                            break;
                        }
                        socket.send(frame::encode(frame::opcode::PING, &[]));
                        continue;
                    }
                };
                quiet = 0;
                match message {
                    // Boxed: requests are rare, and their futures (database,
                    // agent) would otherwise be part of every idle socket's task.
                    Incoming::Text(text) => Box::pin(this.handle_text(&socket, text)).await,
                    Incoming::Binary => socket.send(reply(
                        ServerEvent::error("BAD_REQUEST", "send JSON text frames"),
                        None,
                    )),
                    Incoming::Ping(payload) => {
                        socket.send(frame::encode(frame::opcode::PONG, &payload))
                    }
                    Incoming::Pong => {}
                    Incoming::Close(_) => {
                        Box::pin(socket.close(frame::code::NORMAL, "")).await;
                        break;
                    }
                }
                if socket.is_closed() {
                    break;
                }
            }
            drop(subscription);
            tracing::debug!("client disconnected");
        }
    }

    /// Answers one client frame.
    async fn handle_text(&mut self, socket: &Socket, text: String) {
        for answer in self.answer(socket, &text).await {
            socket.send(answer);
        }
        // Live frames held during a replay follow its answer.
        socket.release();
    }

    /// The frames that answer one client frame.
    async fn answer(&mut self, socket: &Socket, text: &str) -> Vec<Bytes> {
        let raw: RawClientFrame = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(_) => {
                return vec![reply(
                    ServerEvent::error(
                        "BAD_REQUEST",
                        "that frame is not valid JSON of the form {type, payload}",
                    ),
                    None,
                )];
            }
        };
        let correlation = raw.correlation_id.clone();
        let parsed = match self.chat {
            None => raw.message(),
            Some(chat) => chat_message(raw, text, chat),
        };
        let message = match parsed {
            Ok(m) => m,
            Err(problem) => {
                return vec![reply(
                    ServerEvent::error("BAD_REQUEST", problem),
                    correlation,
                )];
            }
        };
        match self.dispatch(socket, message, correlation.clone()).await {
            Ok(messages) => messages,
            Err(e) => {
                let api = minicode::ApiError::from(e);
                vec![reply(
                    ServerEvent::error(api.code.as_str(), api.error),
                    correlation,
                )]
            }
        }
    }

    async fn dispatch(
        &mut self,
        socket: &Socket,
        message: ClientMessage,
        correlation: Option<String>,
    ) -> Result<Vec<Bytes>, AppError> {
        let state = self.state.clone();
        let changes = match &message {
            ClientMessage::Ping {} | ClientMessage::GetState {} | ClientMessage::Resume { .. } => {
                false
            }
            ClientMessage::Generate { .. }
            | ClientMessage::Cancel {}
            | ClientMessage::SendMessage { .. }
            | ClientMessage::FixError { .. } => true,
        };
        if changes {
            self.caller.require_write()?;
            if !self.still_signed_in().await {
                return Err(AppError::unauthorized());
            }
        }
        let out = match message {
            ClientMessage::Ping {} => vec![reply(ServerEvent::Pong {}, correlation)],
            ClientMessage::GetState {} => {
                let snapshot = crate::agent::snapshot(&state, self.project).await?;
                vec![reply(ServerEvent::State { snapshot }, correlation)]
            }
            ClientMessage::Resume { last_seq } => {
                // Live frames wait until the replay and its answer are sent.
                socket.hold();
                let up_to = state.events.last_seq(self.project).await?;
                let from = if last_seq > up_to {
                    // The client knows seqs we never issued (another server's data?): start over.
                    0
                } else {
                    last_seq
                };
                let frames = match self.chat {
                    None => state.events.replay(self.project, from, up_to).await?,
                    Some(chat) => {
                        state
                            .events
                            .replay_chat(self.project, chat, from, up_to)
                            .await?
                    }
                };
                if socket.replay(&frames, up_to).await.is_err() {
                    // The client stopped reading: the connection ends.
                    return Ok(Vec::new());
                }
                vec![reply(
                    ServerEvent::Resumed { up_to_seq: up_to },
                    correlation,
                )]
            }
            ClientMessage::Generate {
                description,
                images,
            } => {
                let caller = self.caller();
                let project = crate::projects::owned(&state, &caller, self.project).await?;
                let run = crate::agent::generate(&state, &project, description, images).await?;
                tracing::info!(run_id = %run, "generation started over the socket");
                vec![reply(
                    ServerEvent::Status {
                        status: format!("generation started ({run})"),
                    },
                    correlation,
                )]
            }
            ClientMessage::Cancel {} => {
                let cancelled = match self.chat {
                    None => state.agents.cancel(self.project).await,
                    Some(chat) => state.agents.cancel_chat(self.project, chat).await,
                };
                let status = if cancelled {
                    "cancelling"
                } else {
                    "nothing to cancel"
                };
                vec![reply(
                    ServerEvent::Status {
                        status: status.into(),
                    },
                    correlation,
                )]
            }
            ClientMessage::SendMessage {
                chat_id,
                content,
                images,
            } => {
                let caller = self.caller();
                crate::agent::chat::start_turn(
                    &state,
                    &caller,
                    self.project,
                    chat_id,
                    content,
                    images,
                    false,
                )
                .await?;
                vec![reply(
                    ServerEvent::Status {
                        status: "message received".into(),
                    },
                    correlation,
                )]
            }
            ClientMessage::FixError { chat_id } => {
                let caller = self.caller();
                crate::agent::chat::start_turn(
                    &state,
                    &caller,
                    self.project,
                    chat_id,
                    String::new(),
                    Vec::new(),
                    true,
                )
                .await?;
                vec![reply(
                    ServerEvent::Status {
                        status: "fixing the latest error".into(),
                    },
                    correlation,
                )]
            }
        };
        Ok(out)
    }

    fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// Whether the session or token the socket was opened with still works
    /// (a database error counts as yes: a blip must not drop every socket).
    async fn still_signed_in(&self) -> bool {
        let state = &self.state;
        let user = match &self.credential {
            Credential::Session(secret) => user_for_session(state, secret.expose())
                .await
                .map(|u| u.map(|u| u.id)),
            Credential::Token(secret) => user_for_token(state, secret.expose())
                .await
                .map(|u| u.map(|(u, _)| u.id)),
        };
        match user {
            Ok(Some(id)) => id == self.caller.id(),
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// The client message of a chat's socket: `send_message {content}` (for
/// this chat), `cancel`, `resume` and `ping`; anything else is refused. A
/// frame without `payload` may carry its fields beside `type` (seed 003's
/// clients send `{type: "send_message", content}`).
fn chat_message(mut raw: RawClientFrame, text: &str, chat: Uuid) -> Result<ClientMessage, String> {
    if raw.payload.is_null()
        && let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(text)
    {
        for envelope in ["type", "payload", "timestamp", "seq", "correlationId"] {
            fields.remove(envelope);
        }
        raw.payload = serde_json::Value::Object(fields);
    }
    match raw.kind.as_str() {
        "send_message" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Send {
                content: String,
                #[serde(default)]
                chat_id: Option<Uuid>,
                #[serde(default)]
                images: Vec<Uuid>,
            }
            let send: Send = serde_json::from_value(raw.payload)
                .map_err(|e| format!("invalid `send_message` payload: {e}"))?;
            if send.chat_id.is_some_and(|other| other != chat) {
                return Err(format!(
                    "this socket is chat {chat}'s; send to another chat on its own socket"
                ));
            }
            Ok(ClientMessage::SendMessage {
                chat_id: chat,
                content: send.content,
                images: send.images,
            })
        }
        "cancel" | "resume" | "ping" => raw.message(),
        other => Err(format!(
            "unknown message type `{other}` (a chat's socket takes send_message, cancel, resume and ping)"
        )),
    }
}

/// A frame that is not part of the project's log: no seq.
fn reply(event: ServerEvent, correlation_id: Option<String>) -> Bytes {
    let frame = ServerFrame {
        event,
        timestamp: now_ms(),
        seq: None,
        correlation_id,
    };
    frame::text(&serde_json::to_string(&frame).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a two-argument function returns, without calling it.
    fn future_size<F, A, B, R>(_: F) -> usize
    where
        F: FnOnce(A, B) -> R,
    {
        std::mem::size_of::<R>()
    }

    /// The same for a three-argument function.
    fn future_size3<F, A, B, C, R>(_: F) -> usize
    where
        F: FnOnce(A, B, C) -> R,
    {
        std::mem::size_of::<R>()
    }

    /// Every socket's task holds `run`'s future for as long as it is open:
    /// what it awaits once or rarely is boxed outside it, and so is the
    /// connection. `run` is 240 bytes (tokio's task with it, 384) and
    /// `handle_text` about 4.1 KiB: any future awaited inline again (a
    /// query, a close with its timer) shows here.
    #[test]
    fn an_idle_socket_task_stays_small() {
        let run = future_size(Connection::run);
        let handle_text = future_size3(Connection::handle_text);
        eprintln!("Connection::run future: {run} bytes; handle_text (boxed): {handle_text} bytes");
        assert!(run <= 256, "Connection::run's future is {run} bytes");
    }
}
