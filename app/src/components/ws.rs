//! The project's live channel (`/ws/:projectId`) as the browser sees it.
//!
//! One socket per open workspace. The client remembers the seq of the last
//! event it applied; on every (re)connect it sends `resume {lastSeq}` and
//! buffers what arrives until the server says `resumed`, then applies the
//! buffer in seq order without duplicates. A fresh page starts from seq 0, so
//! the replay rebuilds the whole picture (files, phases, chat, log), and a
//! dropped connection or a `resync` loses nothing. Reconnects back off
//! exponentially; close codes that will not change on retry (signed out,
//! project gone) stop it.
//!
//! On the server this module does nothing: the page is rendered without a
//! socket and the browser opens one after hydration.

use minicode::protocol::{ClientMessage, ServerFrame};
use uuid::Uuid;

/// What the status pill shows.
#[cfg_attr(
    not(feature = "hydrate"),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnStatus {
    Connecting,
    Live,
    /// Waiting `in_ms` before attempt number `attempt`.
    Reconnecting {
        attempt: u32,
        in_ms: u32,
    },
    /// Given up: the reason is a sentence for people.
    Closed(String),
}

impl ConnStatus {
    pub fn label(&self) -> String {
        match self {
            ConnStatus::Connecting => "Connecting…".into(),
            ConnStatus::Live => "Live".into(),
            ConnStatus::Reconnecting { attempt, in_ms: 0 } => {
                format!("Reconnecting (attempt {attempt})…")
            }
            ConnStatus::Reconnecting { attempt, in_ms } => {
                format!(
                    "Reconnecting in {}s (attempt {attempt})",
                    in_ms.div_ceil(1000)
                )
            }
            ConnStatus::Closed(why) => format!("Disconnected: {why}"),
        }
    }

    /// A stable word for tests and CSS.
    pub fn key(&self) -> &'static str {
        match self {
            ConnStatus::Connecting => "connecting",
            ConnStatus::Live => "live",
            ConnStatus::Reconnecting { .. } => "reconnecting",
            ConnStatus::Closed(_) => "closed",
        }
    }
}

/// What the socket tells the workspace.
#[cfg_attr(
    not(feature = "hydrate"),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
#[derive(Clone, Debug)]
pub enum WsEvent {
    Status(ConnStatus),
    /// `resume` was sent from this seq; 0 means the page is rebuilt from scratch.
    Resuming {
        from: u64,
    },
    Frame(ServerFrame),
}

/// Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling to 15 s.
#[cfg_attr(
    not(any(feature = "hydrate", test)),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
pub fn backoff_ms(attempt: u32) -> u32 {
    let exp = attempt.saturating_sub(1).min(5);
    (500u32 << exp).min(15_000)
}

/// The client's view of the project's event log: the seq of the last frame
/// handed to the workspace and, while resumes are unanswered, the frames held
/// back. Kept apart from the socket so its ordering rules are unit-tested.
///
/// Until every `resume` sent is answered by `resumed`, nothing is applied, so
/// a `resync` (or a second resume) arriving mid-replay just asks again from
/// the same seq and the earlier replay's buffer can go.
#[derive(Default)]
pub struct Sequencer {
    last_applied: u64,
    resumes_pending: u32,
    buffer: Vec<ServerFrame>,
}

#[cfg_attr(
    not(any(feature = "hydrate", test)),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
impl Sequencer {
    /// The server's log ends before what we applied (a restored backup?):
    /// the next resume rebuilds from seq 0.
    pub fn server_behind(&mut self, server_last_seq: u64) {
        if server_last_seq < self.last_applied {
            self.last_applied = 0;
        }
    }

    /// The socket closed: its unanswered resumes will never be answered.
    pub fn connection_lost(&mut self) {
        self.resumes_pending = 0;
        self.buffer.clear();
    }

    /// A `resume` is about to be sent; returns the seq to resume after.
    pub fn resume_sent(&mut self) -> u64 {
        self.resumes_pending += 1;
        self.buffer.clear();
        self.last_applied
    }

    /// A frame with a seq: returns it if it is to be applied now (new, and no
    /// replay under way); otherwise it is held back or dropped as seen.
    pub fn logged(&mut self, frame: ServerFrame) -> Option<ServerFrame> {
        if self.resumes_pending > 0 {
            self.buffer.push(frame);
            return None;
        }
        let seq = frame.seq.unwrap_or(0);
        (seq > self.last_applied).then(|| {
            self.last_applied = seq;
            frame
        })
    }

    /// `resumed`: once no resume is outstanding, the held-back frames to
    /// apply, in seq order, without duplicates or frames already applied.
    pub fn resumed(&mut self) -> Vec<ServerFrame> {
        self.resumes_pending = self.resumes_pending.saturating_sub(1);
        if self.resumes_pending > 0 {
            return Vec::new();
        }
        let mut frames = std::mem::take(&mut self.buffer);
        frames.sort_by_key(|f| f.seq.unwrap_or(0));
        let mut out = Vec::with_capacity(frames.len());
        for frame in frames {
            let seq = frame.seq.unwrap_or(0);
            if seq > self.last_applied {
                self.last_applied = seq;
                out.push(frame);
            }
        }
        out
    }
}

/// Sends a message on the open socket; queued until the next connect otherwise.
pub fn send(message: ClientMessage) {
    #[cfg(feature = "hydrate")]
    client::send(message);
    #[cfg(not(feature = "hydrate"))]
    let _ = message;
}

/// Opens the project's socket; `on_event` gets every status change and frame.
pub fn connect(project: Uuid, on_event: impl Fn(WsEvent) + 'static) {
    #[cfg(feature = "hydrate")]
    client::connect(project, std::rc::Rc::new(on_event));
    #[cfg(not(feature = "hydrate"))]
    let _ = (project, on_event);
}

/// Closes the socket for good (leaving the page).
pub fn disconnect() {
    #[cfg(feature = "hydrate")]
    client::disconnect();
}

#[cfg(feature = "hydrate")]
mod client {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use minicode::protocol::{ClientFrame, ClientMessage, ServerEvent, ServerFrame};
    use uuid::Uuid;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{ConnStatus, Sequencer, WsEvent, backoff_ms};

    /// Close codes the server uses for refusals that retrying cannot fix.
    const FINAL_CLOSES: [(u16, &str); 3] = [
        (4401, "sign in again to continue"),
        (4403, "this page may not open minicode sockets"),
        (4404, "project not found"),
    ];

    type Handler = Rc<dyn Fn(WsEvent)>;

    struct Client {
        project: Uuid,
        handler: Handler,
        socket: RefCell<Option<WebSocket>>,
        log: RefCell<Sequencer>,
        /// Messages sent while no socket was open.
        outbox: RefCell<Vec<String>>,
        attempt: Cell<u32>,
        stopped: Cell<bool>,
        /// The current socket's callbacks, dropped with it.
        callbacks: RefCell<Vec<Box<dyn std::any::Any>>>,
    }

    thread_local! {
        static CURRENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
    }

    pub fn connect(project: Uuid, handler: Handler) {
        disconnect();
        let client = Rc::new(Client {
            project,
            handler,
            socket: RefCell::new(None),
            log: RefCell::new(Sequencer::default()),
            outbox: RefCell::new(Vec::new()),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
            callbacks: RefCell::new(Vec::new()),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(client.clone()));
        open(&client);
    }

    pub fn disconnect() {
        if let Some(client) = CURRENT.with(|c| c.borrow_mut().take()) {
            client.stopped.set(true);
            if let Some(socket) = client.socket.borrow_mut().take() {
                // Detach first: the callbacks are dropped below, before the close event.
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close();
            }
            client.callbacks.borrow_mut().clear();
        }
    }

    pub fn send(message: ClientMessage) {
        let frame = ClientFrame {
            message,
            timestamp: js_sys::Date::now() as i64,
            correlation_id: None,
        };
        let Ok(text) = serde_json::to_string(&frame) else {
            return;
        };
        let Some(client) = CURRENT.with(|c| c.borrow().clone()) else {
            return;
        };
        if !send_text(&client, &text) {
            client.outbox.borrow_mut().push(text);
        }
    }

    fn send_text(client: &Client, text: &str) -> bool {
        match client.socket.borrow().as_ref() {
            Some(s) if s.ready_state() == WebSocket::OPEN => s.send_with_str(text).is_ok(),
            _ => false,
        }
    }

    fn url(project: Uuid) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/ws/{project}", location.host().ok()?))
    }

    fn open(client: &Rc<Client>) {
        if client.stopped.get() {
            return;
        }
        (client.handler)(WsEvent::Status(if client.attempt.get() == 0 {
            ConnStatus::Connecting
        } else {
            ConnStatus::Reconnecting {
                attempt: client.attempt.get(),
                in_ms: 0,
            }
        }));
        let socket = match url(client.project).map(|u| WebSocket::new(&u)) {
            Some(Ok(s)) => s,
            _ => {
                schedule_reconnect(client);
                return;
            }
        };

        let weak = Rc::downgrade(client);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let (Some(client), Some(text)) = (weak.upgrade(), e.data().as_string()) {
                on_text(&client, &text);
            }
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        let weak = Rc::downgrade(client);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            if let Some(client) = weak.upgrade() {
                on_closed(&client, e.code());
            }
        });
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));

        let mut callbacks = client.callbacks.borrow_mut();
        callbacks.clear();
        callbacks.push(Box::new(on_message));
        callbacks.push(Box::new(on_close));
        drop(callbacks);
        *client.socket.borrow_mut() = Some(socket);
    }

    fn on_closed(client: &Rc<Client>, code: u16) {
        client.socket.borrow_mut().take();
        client.log.borrow_mut().connection_lost();
        if client.stopped.get() {
            return;
        }
        if let Some((_, why)) = FINAL_CLOSES.iter().find(|(c, _)| *c == code) {
            client.stopped.set(true);
            (client.handler)(WsEvent::Status(ConnStatus::Closed((*why).to_string())));
            return;
        }
        schedule_reconnect(client);
    }

    fn schedule_reconnect(client: &Rc<Client>) {
        let attempt = client.attempt.get() + 1;
        client.attempt.set(attempt);
        // Jitter spreads the reconnects of many tabs after a server restart.
        let delay = backoff_ms(attempt) + (js_sys::Math::random() * 250.0) as u32;
        (client.handler)(WsEvent::Status(ConnStatus::Reconnecting {
            attempt,
            in_ms: delay,
        }));
        let weak = Rc::downgrade(client);
        let retry = Closure::once_into_js(move || {
            if let Some(client) = weak.upgrade() {
                open(&client);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                retry.unchecked_ref(),
                delay as i32,
            );
        }
    }

    /// Asks for everything after the last applied seq (see [`Sequencer`]).
    fn resume(client: &Client) {
        let from = client.log.borrow_mut().resume_sent();
        (client.handler)(WsEvent::Resuming { from });
        let frame = ClientFrame {
            message: ClientMessage::Resume { last_seq: from },
            timestamp: js_sys::Date::now() as i64,
            correlation_id: None,
        };
        if let Ok(text) = serde_json::to_string(&frame) {
            send_text(client, &text);
        }
    }

    fn on_text(client: &Rc<Client>, text: &str) {
        let frame: ServerFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            // A newer server's event this page does not know: skip it.
            Err(_) => return,
        };
        match &frame.event {
            ServerEvent::ConnectionEstablished { snapshot, .. } => {
                client.attempt.set(0);
                (client.handler)(WsEvent::Status(ConnStatus::Live));
                // The server lost events we saw (a restored backup?): start over.
                client.log.borrow_mut().server_behind(snapshot.last_seq);
                // Resuming first: a rebuild from seq 0 clears the page, then the snapshot applies.
                resume(client);
                (client.handler)(WsEvent::Frame(frame));
                for text in client.outbox.borrow_mut().drain(..) {
                    send_text(client, &text);
                }
                return;
            }
            ServerEvent::Resync { .. } => {
                resume(client);
                return;
            }
            ServerEvent::Resumed { .. } => {
                let frames = client.log.borrow_mut().resumed();
                for f in frames {
                    (client.handler)(WsEvent::Frame(f));
                }
                (client.handler)(WsEvent::Frame(frame));
                return;
            }
            _ => {}
        }
        if frame.seq.is_none() {
            // Replies to our own messages are not part of the log.
            (client.handler)(WsEvent::Frame(frame));
            return;
        }
        let ready = client.log.borrow_mut().logged(frame);
        if let Some(frame) = ready {
            (client.handler)(WsEvent::Frame(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicode::protocol::ServerEvent;

    fn frame(seq: u64) -> ServerFrame {
        ServerFrame {
            event: ServerEvent::FilesWritten { count: seq as u32 },
            timestamp: 0,
            seq: Some(seq),
            correlation_id: None,
        }
    }

    fn seqs(frames: &[ServerFrame]) -> Vec<u64> {
        frames.iter().filter_map(|f| f.seq).collect()
    }

    #[test]
    fn buffered_frames_apply_once_in_order() {
        let mut log = Sequencer::default();
        assert_eq!(log.logged(frame(4)).and_then(|f| f.seq), Some(4));
        assert_eq!(log.resume_sent(), 4);
        for seq in [7, 5, 6, 7, 3] {
            assert!(
                log.logged(frame(seq)).is_none(),
                "held back during the replay"
            );
        }
        assert_eq!(seqs(&log.resumed()), vec![5, 6, 7]);
        // Live again: old and repeated frames are dropped, new ones pass.
        assert!(log.logged(frame(6)).is_none());
        assert_eq!(log.logged(frame(8)).and_then(|f| f.seq), Some(8));
    }

    #[test]
    fn a_resync_mid_replay_loses_nothing() {
        let mut log = Sequencer::default();
        log.logged(frame(2));
        assert_eq!(log.resume_sent(), 2);
        log.logged(frame(3));
        // The server overflowed and asked us to resume again, mid-replay.
        assert_eq!(log.resume_sent(), 2, "nothing was applied in between");
        // A live frame overtakes the rest of the first replay…
        log.logged(frame(9));
        // …the first replay ends: still waiting for the second.
        assert!(log.resumed().is_empty());
        for seq in [3, 4, 5, 6, 7, 8] {
            log.logged(frame(seq));
        }
        assert_eq!(seqs(&log.resumed()), vec![3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_closed_socket_forgets_its_replay() {
        let mut log = Sequencer::default();
        log.logged(frame(1));
        log.resume_sent();
        log.logged(frame(2));
        log.connection_lost();
        // Reconnected: resumes from what was applied, not from the lost buffer.
        assert_eq!(log.resume_sent(), 1);
        log.logged(frame(2));
        assert_eq!(seqs(&log.resumed()), vec![2]);
    }

    #[test]
    fn a_server_behind_us_means_rebuilding_from_zero() {
        let mut log = Sequencer::default();
        log.logged(frame(10));
        log.server_behind(12);
        assert_eq!(log.resume_sent(), 10);
        log.resumed();
        log.server_behind(3);
        assert_eq!(log.resume_sent(), 0);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 500);
        assert_eq!(backoff_ms(2), 1000);
        assert_eq!(backoff_ms(20), 15_000);
    }
}
