//! The project's live channel (`/ws/:projectId`) as the browser sees it.
//!
//! One socket per open workspace. The client remembers the seq of the last
//! event it applied; on every (re)connect it sends `resume {lastSeq}` and
//! buffers what arrives until the server says `resumed`, then applies the
//! buffer in seq order without duplicates. A fresh page starts from seq 0, so
//! the replay rebuilds the whole picture (files, phases, chat, log), and a
//! dropped connection or a `resync` loses nothing. Reconnects back off
//! exponentially; close codes that will not change on retry (signed out,
//! project gone) stop it. The heartbeat is the server's: it pings every 30 s
//! and the browser answers by itself.
//!
//! The socket is `gloo-net`'s `websocket::futures::WebSocket`, as the
//! design card asks: one task per open workspace reads it as a stream and
//! writes what [`send`] queues through a channel; dropping it closes it. It
//! replaced a hand-rolled client over `web-sys` callbacks at a cost of 5.6 KB
//! of gzipped WASM (futures' split, select and channel, gloo's event
//! plumbing), measured in docs/benchmarks.md; kept for one socket API.
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

    use futures::channel::mpsc::{UnboundedSender, unbounded};
    use futures::future::{Either, select};
    use futures::{SinkExt, StreamExt, pin_mut};
    use gloo_net::websocket::futures::WebSocket;
    use gloo_net::websocket::{Message, WebSocketError};
    use minicode::paths;
    use minicode::protocol::{ClientFrame, ClientMessage, ServerEvent, ServerFrame};
    use uuid::Uuid;

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
        log: RefCell<Sequencer>,
        /// The open socket's writer; dropping it ends the connection.
        writer: RefCell<Option<UnboundedSender<String>>>,
        /// The server has greeted the open socket: messages go out now.
        live: Cell<bool>,
        /// Messages sent while no socket was live, sent after the next greeting.
        outbox: RefCell<Vec<String>>,
        attempt: Cell<u32>,
        stopped: Cell<bool>,
    }

    thread_local! {
        static CURRENT: RefCell<Option<Rc<Client>>> = const { RefCell::new(None) };
    }

    pub fn connect(project: Uuid, handler: Handler) {
        disconnect();
        let client = Rc::new(Client {
            project,
            handler,
            log: RefCell::new(Sequencer::default()),
            writer: RefCell::new(None),
            live: Cell::new(false),
            outbox: RefCell::new(Vec::new()),
            attempt: Cell::new(0),
            stopped: Cell::new(false),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(client.clone()));
        wasm_bindgen_futures::spawn_local(run(client));
    }

    pub fn disconnect() {
        if let Some(client) = CURRENT.with(|c| c.borrow_mut().take()) {
            // The connection task stops reading at once and closes the socket.
            client.stopped.set(true);
            client.writer.borrow_mut().take();
        }
    }

    fn frame(message: ClientMessage) -> Option<String> {
        serde_json::to_string(&ClientFrame {
            message,
            timestamp: js_sys::Date::now() as i64,
            correlation_id: None,
        })
        .ok()
    }

    pub fn send(message: ClientMessage) {
        let Some(text) = frame(message) else {
            return;
        };
        let Some(client) = CURRENT.with(|c| c.borrow().clone()) else {
            return;
        };
        if !client.live.get() || !send_text(&client, text.clone()) {
            client.outbox.borrow_mut().push(text);
        }
    }

    fn send_text(client: &Client, text: String) -> bool {
        client
            .writer
            .borrow()
            .as_ref()
            .is_some_and(|w| w.unbounded_send(text).is_ok())
    }

    /// `ws(s)://<this host>/ws/<project>`.
    fn url(project: Uuid) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}{}",
            location.host().ok()?,
            paths::project_ws(project)
        ))
    }

    /// Connects, and reconnects with backoff until stopped or refused for good.
    async fn run(client: Rc<Client>) {
        loop {
            (client.handler)(WsEvent::Status(match client.attempt.get() {
                0 => ConnStatus::Connecting,
                attempt => ConnStatus::Reconnecting { attempt, in_ms: 0 },
            }));
            let code = match url(client.project).map(|u| WebSocket::open(&u)) {
                Some(Ok(socket)) => connection(&client, socket).await,
                _ => None,
            };
            client.log.borrow_mut().connection_lost();
            if client.stopped.get() {
                return;
            }
            if let Some((_, why)) = FINAL_CLOSES.iter().find(|(c, _)| Some(*c) == code) {
                client.stopped.set(true);
                (client.handler)(WsEvent::Status(ConnStatus::Closed((*why).to_string())));
                return;
            }
            let attempt = client.attempt.get() + 1;
            client.attempt.set(attempt);
            // Jitter spreads the reconnects of many tabs after a server restart.
            let delay = backoff_ms(attempt) + (js_sys::Math::random() * 250.0) as u32;
            (client.handler)(WsEvent::Status(ConnStatus::Reconnecting {
                attempt,
                in_ms: delay,
            }));
            sleep(delay).await;
            if client.stopped.get() {
                return;
            }
        }
    }

    /// One socket, until it closes (its close code) or [`disconnect`] drops
    /// the writer; dropping the socket closes it.
    async fn connection(client: &Rc<Client>, socket: WebSocket) -> Option<u16> {
        let (mut sink, mut stream) = socket.split();
        let (writer, mut outgoing) = unbounded::<String>();
        *client.writer.borrow_mut() = Some(writer);
        let reading = async {
            while let Some(item) = stream.next().await {
                if client.stopped.get() {
                    return None;
                }
                match item {
                    Ok(Message::Text(text)) => on_text(client, &text),
                    Ok(Message::Bytes(_)) => {}
                    Err(WebSocketError::ConnectionClose(e)) => return Some(e.code),
                    // An `error` event: the `close` event follows.
                    Err(_) => {}
                }
            }
            None
        };
        let writing = async {
            while let Some(text) = outgoing.next().await {
                if sink.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
        };
        pin_mut!(reading, writing);
        let code = match select(reading, writing).await {
            Either::Left((code, _)) => code,
            Either::Right(((), _)) => None,
        };
        client.writer.borrow_mut().take();
        client.live.set(false);
        code
    }

    async fn sleep(ms: u32) {
        let wait = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window
                    .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(wait).await;
    }

    /// Asks for everything after the last applied seq (see [`Sequencer`]).
    fn resume(client: &Client) {
        let from = client.log.borrow_mut().resume_sent();
        (client.handler)(WsEvent::Resuming { from });
        if let Some(text) = frame(ClientMessage::Resume { last_seq: from }) {
            send_text(client, text);
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
                client.live.set(true);
                (client.handler)(WsEvent::Status(ConnStatus::Live));
                // The server lost events we saw (a restored backup?): start over.
                client.log.borrow_mut().server_behind(snapshot.last_seq);
                // Resuming first: a rebuild from seq 0 clears the page, then the snapshot applies.
                resume(client);
                (client.handler)(WsEvent::Frame(frame));
                let queued = std::mem::take(&mut *client.outbox.borrow_mut());
                for text in queued {
                    send_text(client, text);
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
