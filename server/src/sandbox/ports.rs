//! Free TCP ports on 127.0.0.1 for dev servers.
//!
//! The OS picks a free port (bind to port 0); the port is remembered until
//! released so two projects starting at once never get the same one. Another
//! program can still grab it before the dev server binds: the dev server is
//! started with `--strictPort`, fails loudly, and the caller retries with a
//! new port.

use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
pub struct Ports {
    taken: Mutex<HashSet<u16>>,
}

impl Ports {
    pub fn allocate(&self) -> std::io::Result<u16> {
        for _ in 0..32 {
            let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
                .local_addr()?
                .port();
            let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
            if taken.insert(port) {
                return Ok(port);
            }
        }
        Err(std::io::Error::other("no free port found"))
    }

    pub fn release(&self, port: u16) {
        self.taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_a_port_twice() {
        let ports = Ports::default();
        let a = ports.allocate().unwrap();
        let b = ports.allocate().unwrap();
        assert_ne!(a, b);
        ports.release(a);
        assert!(ports.allocate().is_ok());
    }
}
