//! Giving memory back to the system after a large, short-lived allocation.
//!
//! mimalloc (the global allocator, see `lib.rs`) keeps freed memory for
//! reuse and returns it to the system only as later allocations pass by.
//! A thread that made one large allocation and then sits idle (a blocking
//! pool thread after an argon2 hash: a 19 MiB block) would keep it in the
//! process's resident memory indefinitely: measured, one sign-up raised
//! an idle server from 24 to 45 MiB, for good.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often memory freed meanwhile is given back (see [`return_freed`]).
const RETURN_EVERY: Duration = Duration::from_secs(1);

/// Returns the memory mimalloc holds free to the system now.
pub fn give_back() {
    collect(true);
}

/// Every second, gives back memory that has been free for a while. After a
/// burst (thousands of WebSocket handshakes, a long replay) mimalloc would
/// otherwise keep it until later allocations happen to pass by, so an idle
/// server held on to its busiest moment: measured with 10,000 sockets,
/// about 10 MiB.
pub async fn return_freed(shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(RETURN_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => collect(false),
        }
    }
}

/// `force`: everything free now; otherwise what has been free longer than
/// mimalloc's purge delay (10 ms).
fn collect(force: bool) {
    // SAFETY: `mi_collect` takes no pointers and only walks mimalloc's own
    // heaps and arenas; mimalloc documents it as safe to call from any
    // thread at any time. The symbol is mimalloc's, linked in with the
    // global allocator.
    #[allow(unsafe_code)]
    unsafe {
        mi_collect(force)
    }
}

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_collect(force: bool);
}
