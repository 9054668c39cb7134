//! How minicode reaches a dev server in a sandbox that has no network.
//!
//! Inside the sandbox, `bridge.js` listens on a Unix socket in a folder
//! shared with minicode (one per project) and forwards to the dev server on
//! the sandbox's own loopback. Outside, [`Forwarder`] listens on
//! 127.0.0.1:<the project's port> and connects each client to that socket,
//! so the preview proxy reaches the dev server as before. Nothing inside
//! the sandbox can open a connection out: the only path goes in.
//!
//! The socket folder is writable by the sandbox, so the socket file is
//! hostile input: it could be replaced by a symlink to another socket of the
//! host (Docker's, say), which a plain `connect(path)` would follow. The
//! forwarder opens the final name with `O_PATH | O_NOFOLLOW`, checks that it
//! is a socket, and connects through `/proc/self/fd/<fd>`, which names that
//! very inode.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

use super::backend::CommandSpec;

/// The script run inside the sandbox next to the dev server.
pub const SCRIPT: &str = include_str!("bridge.js");
/// Its file name in minicode's tools folder.
pub const SCRIPT_NAME: &str = "bridge.js";
/// The socket's name in the project's socket folder.
pub const SOCKET_NAME: &str = "dev.sock";

/// Wraps the dev server's command so the bridge runs beside it, in the same
/// sandbox: `sh -c 'node bridge.js … & exec "$@"' sh <command…>`. The dev
/// server stays the process minicode waits for; the bridge dies with the
/// sandbox.
pub fn wrap(command: CommandSpec, port: u16) -> CommandSpec {
    let script = format!(
        "node {tools}/{SCRIPT_NAME} {run}/{SOCKET_NAME} {port} & exec \"$@\"",
        tools = super::layout::TOOLS_DIR,
        run = super::layout::RUN_DIR,
    );
    let mut args = vec!["-c".to_string(), script, "sh".to_string(), command.program];
    args.extend(command.args);
    CommandSpec {
        label: command.label,
        program: "sh".into(),
        args,
        env: command.env,
    }
}

/// Connects to the Unix socket at `path` without following a symlink.
pub async fn connect(path: &Path) -> io::Result<UnixStream> {
    let fd = open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let stat = fstat(&fd).map_err(io::Error::from)?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the dev server's socket is not a socket",
        ));
    }
    let stream = UnixStream::connect(format!("/proc/self/fd/{}", fd.as_raw_fd())).await;
    drop(fd);
    stream
}

/// The forwarders of every project, kept while the project keeps its port:
/// a restart reuses the listener (rebinding right after dropping the old one
/// races its release), and the socket's path never changes.
#[derive(Default)]
pub struct Forwarders {
    by_project: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Forwarder>>,
}

impl Forwarders {
    /// Where minicode reaches `project`'s dev server once its bridge is up:
    /// the project's listener on `port`, made now if it has none (or one on
    /// another port). Removes a stale socket first.
    pub async fn ensure(
        &self,
        project: uuid::Uuid,
        port: u16,
        socket: PathBuf,
    ) -> io::Result<SocketAddr> {
        let _ = std::fs::remove_file(&socket);
        if let Some(f) = self.lock().get(&project)
            && f.address.port() == port
        {
            return Ok(f.address);
        }
        let forwarder = Forwarder::start(port, socket).await?;
        let address = forwarder.address;
        self.lock().insert(project, forwarder);
        Ok(address)
    }

    /// Readies the way in to a dev server that has no network: a listener on
    /// the project's port forwarding to `socket_dir`'s socket, and the
    /// command wrapped so the bridge runs beside it. Returns the command to
    /// run and where minicode will reach the server.
    pub async fn serve(
        &self,
        project: &super::backend::ProjectEnv,
        socket_dir: &Path,
        command: CommandSpec,
    ) -> Result<(CommandSpec, SocketAddr), super::SandboxError> {
        let address = self
            .ensure(project.id, project.port, socket_dir.join(SOCKET_NAME))
            .await
            .map_err(|e| super::SandboxError::PortConflict {
                port: project.port,
                log_tail: vec![e.to_string()],
            })?;
        Ok((wrap(command, project.port), address))
    }

    /// Stops forwarding for `project` (it is being deleted, or minicode stops).
    pub fn remove(&self, project: uuid::Uuid) {
        self.lock().remove(&project);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<uuid::Uuid, Forwarder>> {
        self.by_project.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Forwards 127.0.0.1:`port` to the sandbox's socket until dropped.
pub struct Forwarder {
    task: JoinHandle<()>,
    pub address: SocketAddr,
}

impl Forwarder {
    /// Binds the port now (a taken port is the caller's to report) and
    /// forwards every connection in the background.
    pub async fn start(port: u16, socket: PathBuf) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let socket = socket.clone();
                tokio::spawn(async move {
                    // Not up yet (or gone): closing the connection is the
                    // answer, and the readiness probe simply tries again.
                    if let Ok(mut upstream) = connect(&socket).await {
                        let _ = client.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Ok(Self { task, address })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_symlinked_socket_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("host-service.sock");
        let listener = tokio::net::UnixListener::bind(&elsewhere).unwrap();
        let planted = dir.path().join(SOCKET_NAME);
        std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
        assert!(connect(&planted).await.is_err(), "followed the symlink");
        // A FIFO or a file is refused too.
        std::fs::remove_file(&planted).unwrap();
        std::fs::write(&planted, "not a socket").unwrap();
        assert!(connect(&planted).await.is_err());
        // The real socket works.
        assert!(connect(&elsewhere).await.is_ok());
        drop(listener);
    }

    #[tokio::test]
    async fn the_forwarder_carries_bytes_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(SOCKET_NAME);
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase()))
                .await
                .unwrap();
        });
        let forwarder = Forwarder::start(0, socket).await.unwrap();
        let mut client = tokio::net::TcpStream::connect(forwarder.address)
            .await
            .unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"PING");
    }
}
