// TEMPORARY scaffold so the crate compiles; helper-7 replaces this whole file.
use super::{ChatRequest, EventStream, Provider};
use tokio_util::sync::CancellationToken;
pub struct Offline {
    chars_per_sec: u32,
}
impl Offline {
    pub fn new(chars_per_sec: u32) -> Self {
        Self { chars_per_sec }
    }
}
impl Provider for Offline {
    fn name(&self) -> &str {
        let _ = self.chars_per_sec;
        "offline"
    }
    fn stream(&self, _request: ChatRequest, _cancel: CancellationToken) -> EventStream {
        Box::pin(futures::stream::empty())
    }
}
