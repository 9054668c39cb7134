//! One clock for every live socket's heartbeat.
//!
//! Every [`HEARTBEAT`] the clock wakes each open socket's task to ping its
//! client (and, every other beat, to check its credential), instead of each
//! socket keeping a timer of its own: with 10,000 sockets, 10,000 timers and
//! the memory they hold. A leaf module, so `AppState` can hold the clock.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the server pings; two missed intervals close the connection.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// What the clock wakes: a socket.
pub trait Beating: Send + Sync {
    fn beat(&self);
}

type Sockets = Arc<Mutex<Vec<Weak<dyn Beating>>>>;

/// The clock, shared through `AppState`.
#[derive(Clone)]
pub struct Heartbeat(Sockets);

impl Heartbeat {
    /// Starts the clock; it stops once nothing holds this `Heartbeat`.
    pub fn start() -> Self {
        let sockets: Sockets = Arc::default();
        let watched = Arc::downgrade(&sockets);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(sockets) = watched.upgrade() else {
                    return;
                };
                let mut sockets = sockets.lock().unwrap_or_else(|p| p.into_inner());
                // Closed sockets leave the list here.
                sockets.retain(|socket| match socket.upgrade() {
                    Some(socket) => {
                        socket.beat();
                        true
                    }
                    None => false,
                });
            }
        });
        Heartbeat(sockets)
    }

    /// Wakes `socket` at every beat while it is open.
    pub fn register(&self, socket: Arc<dyn Beating>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&socket));
    }
}
