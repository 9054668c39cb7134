//! The listener: every connection is accepted, but only a bounded number are
//! *opening* (read, routed, authenticated, answered for the first time) at
//! once.
//!
//! Why: a connection costs most while it opens. hyper allocates two 8 KiB
//! buffers for it, and its request, the layers' futures and its database
//! queries live until the first answer; about 30 KiB in all, against 1.5 KiB
//! for an open, idle WebSocket. When thousands of clients reconnect at once
//! (after a restart, a network blip), taking them all in at once only makes
//! them all wait on the same database, with the memory of every one of them
//! held meanwhile: measured with 10,000 sockets, 256 handshakes in flight
//! raised the server's peak from 40 to 49 MiB, 1,024 to 69 MiB. The ones
//! waiting here cost a small task each, and the kernel keeps their bytes.
//!
//! - A connection takes a place (a permit) only once it has sent something:
//!   one that says nothing costs a small task, never a place, and is closed
//!   after [`SILENT_LIMIT`].
//! - The place is given back when the server writes its first answer (a
//!   response's head, a WebSocket's `101`), or the connection closes.
//! - No one waits long for a place: after [`WAIT_LIMIT`] a connection goes
//!   in anyway, so clients that open and stall (or requests that are slow to
//!   answer, like a publish) can delay others by that much, never stop them.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Longest a connection waits for a place before it goes in anyway.
pub const WAIT_LIMIT: Duration = Duration::from_secs(2);
/// How long a connection may stay silent before its first byte.
pub const SILENT_LIMIT: Duration = Duration::from_secs(60);

/// An `axum::serve` listener that admits at most `limit` opening
/// connections at once (see the module's doc).
pub struct Admission {
    admitted: mpsc::Receiver<(Opening, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Admission {
    /// Starts accepting on `listener`, bound at `local`.
    pub fn new(listener: TcpListener, local: SocketAddr, limit: usize) -> Self {
        let places = Arc::new(Semaphore::new(limit.max(1)));
        let (tx, admitted) = mpsc::channel(limit.max(1));
        let acceptor = tokio::spawn(accept_all(listener, places, tx));
        Self {
            admitted,
            local,
            acceptor,
        }
    }

    /// The address it listens at.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for Admission {
    /// The server stopped listening: so does the socket, at once.
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for Admission {
    type Io = Opening;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Opening, SocketAddr) {
        match self.admitted.recv().await {
            Some(admitted) => admitted,
            // The acceptor only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Accepts every connection and hands each to a task of its own that waits
/// for its first bytes and its place. Runs until the `Admission` is dropped
/// (which aborts it).
async fn accept_all(
    listener: TcpListener,
    places: Arc<Semaphore>,
    admitted: mpsc::Sender<(Opening, SocketAddr)>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, mostly: wait for some to close
                // rather than spin.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(admit(stream, addr, places.clone(), admitted.clone()));
    }
}

async fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    places: Arc<Semaphore>,
    admitted: mpsc::Sender<(Opening, SocketAddr)>,
) {
    // Its first byte, left in the kernel for hyper to read (`readable()`
    // alone is not enough: a new socket is taken as ready until a read says
    // otherwise). A connection that closes first goes on too, for hyper to
    // see it end.
    let mut first = [0u8; 1];
    if !matches!(
        tokio::time::timeout(SILENT_LIMIT, stream.peek(&mut first)).await,
        Ok(Ok(_))
    ) {
        tracing::debug!(%addr, "closed a connection that sent nothing");
        return;
    }
    let place = match tokio::time::timeout(WAIT_LIMIT, places.acquire_owned()).await {
        Ok(Ok(place)) => Some(place),
        Ok(Err(_closed)) => return,
        Err(_elapsed) => {
            tracing::debug!(%addr, "no place for an opening connection in time; it goes in anyway");
            None
        }
    };
    let _ = stream.set_nodelay(true);
    let _ = admitted.send((Opening { stream, place }, addr)).await;
}

/// A connection, holding its place until the server first writes to it.
pub struct Opening {
    stream: TcpStream,
    place: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Opening {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Opening {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // The first answer is on its way: the place is someone else's.
        this.place = None;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.place = None;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.place = None;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}
