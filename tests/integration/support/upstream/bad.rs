//! Upstreams that break HTTP on purpose, written as raw bytes on a plain TCP listener.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::{bind, stopped, Run, Tasks, PATIENCE};

/// How a [`BadUpstream`] treats each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadKind {
    /// Reads the request head, answers `HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n`, closes.
    MalformedHeaders,
    /// Reads the request head, answers 200 `text/event-stream` chunked with one whole chunk
    /// holding `id: 1\ndata: one\n\n`, then a chunk announced as 64 bytes cut after a few,
    /// and closes.
    TruncatedChunked,
    /// Accepts and resets at once (`SO_LINGER` 0, so the peer sees RST, not FIN).
    Reset,
    /// Accepts and reads whatever comes, never writing, until stopped.
    NeverRespond,
    /// Reads the request head (kept: [`BadUpstream::last_request`]), writes these bytes,
    /// and closes.
    Answer(&'static [u8]),
}

/// A raw TCP server on an ephemeral loopback port that misbehaves as its [`BadKind`] says.
/// Dropping it stops it.
pub struct BadUpstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    last_request: Arc<Mutex<Vec<u8>>>,
    run: Option<Run>,
}

impl BadUpstream {
    /// Starts listening.
    pub async fn start(kind: BadKind) -> Self {
        let listener = bind(0);
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(Vec::new()));
        let (tasks, shutdown, done) = Tasks::new();
        let accept = tokio::spawn(accept_loop(
            listener,
            kind,
            connections.clone(),
            last_request.clone(),
            tasks,
        ));
        Self {
            addr,
            connections,
            last_request,
            run: Some(Run {
                shutdown,
                accept,
                done,
            }),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The head of the last request an [`BadKind::Answer`] upstream read.
    pub fn last_request(&self) -> String {
        String::from_utf8_lossy(&self.last_request.lock().expect("lock")).into_owned()
    }

    /// Closes the listener and every connection, and waits for that.
    pub async fn stop(&mut self) {
        if let Some(run) = self.run.take() {
            run.stop().await;
        }
    }
}

impl Drop for BadUpstream {
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            let _ = run.shutdown.send(true);
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    kind: BadKind,
    connections: Arc<AtomicUsize>,
    last_request: Arc<Mutex<Vec<u8>>>,
    tasks: Tasks,
) {
    let mut shutdown: watch::Receiver<bool> = tasks.shutdown.clone();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => return,
        };
        connections.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(misbehave(tcp, kind, last_request.clone()));
    }
}

async fn misbehave(mut tcp: TcpStream, kind: BadKind, last_request: Arc<Mutex<Vec<u8>>>) {
    match kind {
        BadKind::Reset => {
            let _ = tcp.set_zero_linger();
            drop(tcp);
        }
        BadKind::NeverRespond => {
            let mut buf = [0; 4096];
            while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            // The peer closed its side; hold ours open anyway, as a hung server would.
            std::future::pending::<()>().await;
        }
        BadKind::MalformedHeaders => {
            if read_head(&mut tcp).await.is_some() {
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n")
                    .await;
            }
        }
        BadKind::TruncatedChunked => {
            if read_head(&mut tcp).await.is_some() {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                let event = "id: 1\ndata: one\n\n";
                let bytes = format!("{head}{:x}\r\n{event}\r\n40\r\nid: 2\nda", event.len());
                let _ = tcp.write_all(bytes.as_bytes()).await;
                let _ = tcp.flush().await;
            }
        }
        BadKind::Answer(answer) => {
            if let Some(head) = read_head(&mut tcp).await {
                *last_request.lock().expect("lock") = head;
                let _ = tcp.write_all(answer).await;
                let _ = tcp.flush().await;
            }
        }
    }
}

/// Reads up to the end of a request head (`\r\n\r\n`); `None` if the peer closed first,
/// the head grew past 64 KiB, or it took longer than [`PATIENCE`].
async fn read_head(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let read = async {
        let mut head = Vec::new();
        let mut buf = [0; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(n) if n > 0 && head.len() < 64 * 1024 => head.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
        Some(head)
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}
