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
    not(feature = "hydrate"),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
pub fn backoff_ms(attempt: u32) -> u32 {
    let exp = attempt.saturating_sub(1).min(5);
    (500u32 << exp).min(15_000)
}

/// Orders buffered frames by seq and drops those at or below `last_applied`
/// and duplicates; returns what to apply and the new last seq.
#[cfg_attr(
    not(feature = "hydrate"),
    expect(dead_code, reason = "the socket exists only in the browser")
)]
pub fn ordered_after(mut frames: Vec<ServerFrame>, last_applied: u64) -> (Vec<ServerFrame>, u64) {
    frames.sort_by_key(|f| f.seq.unwrap_or(0));
    let mut last = last_applied;
    let mut out = Vec::with_capacity(frames.len());
    for frame in frames {
        let seq = frame.seq.unwrap_or(0);
        if seq > last {
            last = seq;
            out.push(frame);
        }
    }
    (out, last)
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

    use super::{ConnStatus, WsEvent, backoff_ms, ordered_after};

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
        /// Seq of the last event handed to the workspace.
        last_applied: Cell<u64>,
        /// Between sending `resume` and receiving `resumed`.
        resuming: Cell<bool>,
        buffer: RefCell<Vec<ServerFrame>>,
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
            last_applied: Cell::new(0),
            resuming: Cell::new(false),
            buffer: RefCell::new(Vec::new()),
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
        client.resuming.set(false);
        client.buffer.borrow_mut().clear();
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

    fn resume(client: &Client) {
        client.resuming.set(true);
        client.buffer.borrow_mut().clear();
        let from = client.last_applied.get();
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
                if snapshot.last_seq < client.last_applied.get() {
                    client.last_applied.set(0);
                }
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
                client.resuming.set(false);
                let buffered = std::mem::take(&mut *client.buffer.borrow_mut());
                let (frames, last) = ordered_after(buffered, client.last_applied.get());
                client.last_applied.set(last);
                for f in frames {
                    (client.handler)(WsEvent::Frame(f));
                }
                (client.handler)(WsEvent::Frame(frame));
                return;
            }
            _ => {}
        }
        match frame.seq {
            Some(_) if client.resuming.get() => client.buffer.borrow_mut().push(frame),
            Some(seq) => {
                if seq > client.last_applied.get() {
                    client.last_applied.set(seq);
                    (client.handler)(WsEvent::Frame(frame));
                }
            }
            // Replies to our own messages are not part of the log.
            None => (client.handler)(WsEvent::Frame(frame)),
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

    #[test]
    fn buffered_frames_apply_once_in_order() {
        let (out, last) = ordered_after(vec![frame(7), frame(5), frame(6), frame(7), frame(3)], 4);
        let seqs: Vec<u64> = out.iter().filter_map(|f| f.seq).collect();
        assert_eq!(seqs, vec![5, 6, 7]);
        assert_eq!(last, 7);
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 500);
        assert_eq!(backoff_ms(2), 1000);
        assert_eq!(backoff_ms(20), 15_000);
    }
}
