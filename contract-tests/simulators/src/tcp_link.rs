//! A TCP link between a client and a server (here: the gateway and its PostgreSQL) that a test
//! can break the way networks and database servers break: cut (every connection closed, new
//! ones refused, as when the server is down) or hung (connections stay open and nothing gets
//! through, as when a network path silently drops packets). Restored, it carries traffic again
//! on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Up,
    /// Connections are closed and new ones refused.
    Cut,
    /// Connections are accepted and kept, but no byte passes in either direction.
    Hung,
}

/// The link; dropping it closes everything.
pub struct TcpLink {
    listen: SocketAddr,
    state: watch::Sender<LinkState>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
    target: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpLink {
    /// A link on a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (state, _) = watch::channel(LinkState::Up);
        let link = Self {
            listen: listener.local_addr()?,
            state,
            acceptor: Mutex::new(None),
            target,
            connections: Arc::default(),
        };
        link.accept_on(listener);
        Ok(link)
    }

    /// Where clients connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Closes every connection and stops listening: clients see resets and refusals.
    pub fn cut(&self) {
        self.state.send_replace(LinkState::Cut);
        if let Some(acceptor) = self.acceptor.lock().unwrap().take() {
            acceptor.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Stops every byte in flight and on new connections, closing nothing.
    pub fn hang(&self) {
        self.state.send_replace(LinkState::Hung);
    }

    /// Carries traffic again: after a cut it listens again on the same port; after a hang the
    /// held connections stay useless (their protocol state is lost), so they are closed.
    pub async fn restore(&self) -> std::io::Result<()> {
        if self.state() == LinkState::Hung {
            self.cut();
        }
        if self.acceptor.lock().unwrap().is_none() {
            // The aborted acceptor lets go of the port when its task is dropped, a moment later.
            let mut tries = 0;
            let listener = loop {
                match TcpListener::bind(self.listen).await {
                    Ok(listener) => break listener,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.accept_on(listener);
        }
        self.state.send_replace(LinkState::Up);
        Ok(())
    }

    fn accept_on(&self, listener: TcpListener) {
        let (target, connections, state) = (self.target, self.connections.clone(), self.state.subscribe());
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = state.clone();
                let connection = tokio::spawn(carry(client, target, state));
                let mut connections = connections.lock().unwrap();
                connections.retain(|c| !c.is_finished());
                connections.push(connection);
            }
        });
        *self.acceptor.lock().unwrap() = Some(acceptor);
    }
}

impl Drop for TcpLink {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies both ways while the link is up; holds everything while it hangs.
async fn carry(client: TcpStream, target: SocketAddr, mut state: watch::Receiver<LinkState>) {
    if state.wait_for(|s| *s == LinkState::Up).await.is_err() {
        return;
    }
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = pump(&mut client_read, &mut server_write, state.clone());
    let down = pump(&mut server_read, &mut client_write, state.clone());
    let _ = tokio::join!(up, down);
}

/// One direction, one read at a time, each forwarded only while the link is up.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buffer).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        if state.wait_for(|s| *s == LinkState::Up).await.is_err() {
            return Ok(());
        }
        to.write_all(&buffer[..n]).await?;
    }
}
