//! The attackers: each drives one abuse of HTTP/2 or of the connection against a server
//! child process, and reports how the server treated it. The attack tests assert on the
//! reports; the attack bench prints them.
//!
//! Self-contained apart from its sibling modules `frames` and `process` (the bench includes
//! all three side by side).

#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    io,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf},
    net::TcpStream,
    task::JoinHandle,
};

use super::{
    frames::{self, code, flag, kind, put_frame, Ending, FrameReader},
    process::{proc_status_kib, ServerProcess},
};

/// Trait object for the transports an attacker uses (TLS or plaintext TCP).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What the client side of one raw connection saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The GOAWAY's code, if one came.
    pub goaway: Option<u32>,
    /// RST_STREAM frames by error code.
    pub resets: BTreeMap<u32, u64>,
    /// Response HEADERS frames (responses started).
    pub responses: u64,
    /// DATA bytes received.
    pub data_bytes: u64,
    /// When the connection ended (EOF or error), from the session's start.
    pub closed_after: Option<Duration>,
    /// When the GOAWAY came, from the session's start.
    pub goaway_after: Option<Duration>,
    /// Whether the server's SETTINGS have been acknowledged.
    pub settings_acked: bool,
}

impl Seen {
    /// How the connection ended, if it did.
    pub fn ending(&self) -> Option<Ending> {
        match (self.goaway, self.closed_after) {
            (Some(code), _) => Some(Ending::GoAway(code)),
            (None, Some(_)) => Some(Ending::Closed),
            (None, None) => None,
        }
    }

    /// When the server ended the connection (its GOAWAY, else the close).
    pub fn ended_after(&self) -> Option<Duration> {
        self.goaway_after.or(self.closed_after)
    }

    pub fn resets_with(&self, code: u32) -> u64 {
        self.resets.get(&code).copied().unwrap_or(0)
    }
}

/// A raw HTTP/2 connection: the client writes frames, a reader task records the server's
/// (acknowledging SETTINGS and, when `answer_pings`, PINGs, as a normal client does).
pub struct Session {
    writer: Arc<tokio::sync::Mutex<WriteHalf<Box<dyn Io>>>>,
    seen: Arc<Mutex<Seen>>,
    reader: JoinHandle<()>,
    pub started: Instant,
}

impl Session {
    /// Starts HTTP/2 on `io` (preface and SETTINGS with `settings`).
    pub async fn start(io: Box<dyn Io>, settings: &[(u16, u32)], answer_pings: bool) -> Self {
        let (read, mut write) = tokio::io::split(io);
        frames::start(&mut write, settings)
            .await
            .expect("preface written");
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let started = Instant::now();
        let reader = tokio::spawn(read_frames(
            read,
            writer.clone(),
            seen.clone(),
            started,
            answer_pings,
        ));
        let session = Self {
            writer,
            seen,
            reader,
            started,
        };
        // Until the server's SETTINGS are acknowledged the reader writes too; a test's
        // frames must not be interleaved with that ACK (in a header block it would be a
        // protocol error of the test's own making).
        session
            .wait_for(Duration::from_secs(20), |s| {
                s.settings_acked || s.closed_after.is_some()
            })
            .await;
        session
    }

    /// Writes `bytes` (already framed); fails once the server has closed.
    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let mut writer = self.writer.lock().await;
        writer.write_all(bytes).await?;
        writer.flush().await
    }

    /// A copy of what the reader saw so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("seen lock").clone()
    }

    /// Waits until `done` holds for what was seen, or `patience` passes; returns it.
    pub async fn wait_for(&self, patience: Duration, done: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + patience;
        loop {
            let seen = self.seen();
            if done(&seen) || Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `patience` for the server to end the connection.
    pub async fn wait_for_end(&self, patience: Duration) -> Seen {
        self.wait_for(patience, |s| s.closed_after.is_some()).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_frames(
    read: ReadHalf<Box<dyn Io>>,
    writer: Arc<tokio::sync::Mutex<WriteHalf<Box<dyn Io>>>>,
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    answer_pings: bool,
) {
    let mut reader = FrameReader::new(read);
    loop {
        let frame = match reader.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => {
                seen.lock().expect("seen lock").closed_after = Some(started.elapsed());
                return;
            }
        };
        let mut reply = Vec::new();
        {
            let mut seen = seen.lock().expect("seen lock");
            match frame.kind {
                kind::SETTINGS if !frame.has(flag::ACK) => frames::put_settings_ack(&mut reply),
                kind::PING if !frame.has(flag::ACK) && answer_pings => {
                    let opaque = frame.payload[..8].try_into().unwrap_or([0; 8]);
                    frames::put_ping(&mut reply, true, opaque);
                }
                kind::GOAWAY => {
                    seen.goaway = frame.error_code();
                    seen.goaway_after.get_or_insert(started.elapsed());
                }
                kind::RST_STREAM => {
                    *seen
                        .resets
                        .entry(frame.error_code().unwrap_or(u32::MAX))
                        .or_default() += 1
                }
                kind::HEADERS => seen.responses += 1,
                kind::DATA => seen.data_bytes += frame.payload.len() as u64,
                _ => {}
            }
        }
        let settings = frame.is(kind::SETTINGS) && !frame.has(flag::ACK);
        if !reply.is_empty() {
            // The writer may be blocked by an attack loop; replies are best effort.
            if let Ok(mut writer) = writer.try_lock() {
                let _ = writer.write_all(&reply).await;
                let _ = writer.flush().await;
            }
        }
        if settings {
            seen.lock().expect("seen lock").settings_acked = true;
        }
    }
}

/// A GET header block for `path` on this server.
pub fn get_block(path: &str) -> Vec<u8> {
    frames::request_block("GET", "https", "localhost", path, &[])
}

/// An h2 connection over TLS to `server`.
pub async fn h2_tls(server: &ServerProcess) -> Box<dyn Io> {
    let tls = server.tls(false).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    Box::new(tls)
}

/// A plaintext TCP connection to `server`'s h2c/HTTP/1.1 listener.
pub async fn plaintext(server: &ServerProcess) -> Box<dyn Io> {
    let tcp = TcpStream::connect(server.plaintext_addr)
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    Box::new(tcp)
}

/// The resident memory of a process, sampled every 20 ms until stopped: its peak.
pub struct RssSampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(proc_status_kib(pid, "VmRSS:"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stopped.changed() => return peak,
                }
            }
        });
        Self { stop, task }
    }

    /// The peak RSS seen, in KiB.
    pub async fn peak_kib(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.expect("sampler")
    }
}

// ---- rapid reset ------------------------------------------------------------------------------

/// CVE-2023-44487: HEADERS immediately followed by RST_STREAM(CANCEL), `streams` times (or
/// until the server ends the connection), in batches of 100 per write.
pub async fn rapid_reset(server: &ServerProcess, streams: u32) -> (Seen, u32) {
    let session = Session::start(h2_tls(server).await, &[], true).await;
    let block = get_block("/events/rapid-reset");
    let mut sent = 0u32;
    let mut buf = Vec::with_capacity(100 * (block.len() + 30));
    'attack: while sent < streams {
        buf.clear();
        for _ in 0..100 {
            let id = 2 * sent + 1;
            frames::put_headers(&mut buf, id, flag::END_HEADERS | flag::END_STREAM, &block);
            frames::put_rst_stream(&mut buf, id, code::CANCEL);
            sent += 1;
        }
        if session.send(&buf).await.is_err() || session.seen().ending().is_some() {
            break 'attack;
        }
    }
    (session.wait_for_end(Duration::from_secs(20)).await, sent)
}

// ---- CONTINUATION flood -----------------------------------------------------------------------

/// HEADERS without END_HEADERS, then nothing: a header block that is never ended.
pub async fn unended_header_block(server: &ServerProcess, patience: Duration) -> Seen {
    let session = Session::start(h2_tls(server).await, &[], true).await;
    let block = get_block("/events/never-ended");
    let mut buf = Vec::new();
    frames::put_headers(&mut buf, 1, flag::END_STREAM, &block);
    session.send(&buf).await.expect("HEADERS written");
    session.wait_for_end(patience).await
}

/// HEADERS without END_HEADERS, then endless CONTINUATION frames of `fragment_len` bytes
/// each (header fields `x-flood-N: aaa…`), until the server ends the connection or
/// `max_frames` went out. Returns what was seen and the frames sent.
pub async fn continuation_flood(
    server: &ServerProcess,
    fragment_len: usize,
    max_frames: u64,
) -> (Seen, u64) {
    let session = Session::start(h2_tls(server).await, &[], true).await;
    let mut buf = Vec::new();
    frames::put_headers(&mut buf, 1, 0, &get_block("/events/continuation"));
    let mut fields = Vec::new();
    let mut n = 0u64;
    let mut sent = 0u64;
    'attack: while sent < max_frames {
        // Refill with fresh header fields and cut them into small fragments.
        while fields.len() < fragment_len * 64 {
            frames::put_literal(&mut fields, format!("x-flood-{n}").as_bytes(), b"aaaaaaaa");
            n += 1;
        }
        for _ in 0..64 {
            let fragment: Vec<u8> = fields.drain(..fragment_len).collect();
            frames::put_continuation(&mut buf, 1, false, &fragment);
            sent += 1;
        }
        if session.send(&buf).await.is_err() || session.seen().ending().is_some() {
            break 'attack;
        }
        buf.clear();
    }
    (session.wait_for_end(Duration::from_secs(20)).await, sent)
}

// ---- PING and SETTINGS floods -----------------------------------------------------------------

/// Which control frame a flood sends.
#[derive(Debug, Clone, Copy)]
pub enum Flood {
    Ping,
    Settings,
}

/// Floods the connection with PING or SETTINGS frames (each demands an ACK) and never
/// reads: the server's ACKs pile up on the client's side of the socket. Stops when a write
/// fails (the server closed) or `patience` passes; returns when the writes started to
/// fail, from the start, and the frames sent.
pub async fn control_flood(
    server: &ServerProcess,
    flood: Flood,
    patience: Duration,
) -> (Option<Duration>, u64) {
    let mut io = h2_tls(server).await;
    frames::start(&mut io, &[]).await.expect("preface");
    let started = Instant::now();
    let mut buf = Vec::new();
    frames::put_settings_ack(&mut buf);
    for i in 0..256u64 {
        match flood {
            Flood::Ping => frames::put_ping(&mut buf, false, i.to_be_bytes()),
            Flood::Settings => {
                frames::put_settings(&mut buf, &[(frames::setting::MAX_CONCURRENT_STREAMS, 100)])
            }
        }
    }
    let mut first = true;
    let mut sent = 0u64;
    loop {
        let left = patience.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, io.write_all(&buf)).await {
            Ok(Ok(())) => sent += 256,
            Ok(Err(_)) => return (Some(started.elapsed()), sent),
            Err(_) => return (None, sent),
        }
        if first {
            // The first batch carried the SETTINGS ACK; later ones are pure flood.
            buf.drain(..9);
            first = false;
        }
    }
}

// ---- zero window ------------------------------------------------------------------------------

/// Opens `streams` SSE streams on `topics` topics (`/events/zero-window-N`) with
/// SETTINGS_INITIAL_WINDOW_SIZE = 0 and never sends WINDOW_UPDATE; answers PINGs and
/// SETTINGS like any live client. Returns the session, for the caller to publish and watch.
pub async fn zero_window(server: &ServerProcess, streams: u32, topics: u32) -> Session {
    let session = Session::start(
        h2_tls(server).await,
        &[(frames::setting::INITIAL_WINDOW_SIZE, 0)],
        true,
    )
    .await;
    let mut buf = Vec::new();
    for i in 0..streams {
        let block = get_block(&format!("/events/zero-window-{}", i % topics));
        frames::put_headers(
            &mut buf,
            2 * i + 1,
            flag::END_HEADERS | flag::END_STREAM,
            &block,
        );
    }
    session.send(&buf).await.expect("requests written");
    session
}

// ---- slowloris --------------------------------------------------------------------------------

/// Trickles `request` one byte every `gap` on `io`, never finishing it; returns when the
/// server closed the connection (counted from `started`, when the connection was made), or
/// `None` if `patience` passed.
pub async fn trickle(
    mut io: Box<dyn Io>,
    started: Instant,
    request: &[u8],
    gap: Duration,
    patience: Duration,
) -> Option<Duration> {
    let mut sink = [0u8; 4096];
    // Stops one byte short: the request must never be complete.
    let mut bytes = request[..request.len() - 1].iter();
    loop {
        if started.elapsed() > patience {
            return None;
        }
        tokio::select! {
            read = io.read(&mut sink) => match read {
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {} // the server's SETTINGS
            },
            _ = tokio::time::sleep(gap) => {
                if let Some(byte) = bytes.next() {
                    // Flushed: over TLS a byte would otherwise wait in the session's
                    // buffer instead of trickling.
                    if io.write_all(&[*byte]).await.is_err() || io.flush().await.is_err() {
                        return Some(started.elapsed());
                    }
                }
            }
        }
    }
}

/// The request line and headers an HTTP/1.1 slowloris trickles.
pub const HTTP1_REQUEST: &[u8] = b"GET /events/slowloris HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\nAccept: text/event-stream\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

/// The bytes an HTTP/2 slowloris trickles after its preface: a HEADERS frame.
pub fn h2_request() -> Vec<u8> {
    let mut buf = Vec::new();
    frames::put_settings_ack(&mut buf);
    frames::put_headers(
        &mut buf,
        1,
        flag::END_HEADERS | flag::END_STREAM,
        &get_block("/events/slowloris"),
    );
    buf
}

/// A TLS handshake that stalls: a TCP connection that sends the first bytes of a TLS record
/// and nothing more. Returns when the server closed it, or `None` after `patience`.
pub async fn stalled_handshake(server: &ServerProcess, patience: Duration) -> Option<Duration> {
    let mut tcp = server.tcp().await;
    let started = Instant::now();
    // A handshake record header announcing 512 bytes, and three of them.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .await
        .ok()?;
    let mut sink = [0u8; 256];
    match tokio::time::timeout(patience, tcp.read(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

// ---- churn ------------------------------------------------------------------------------------

/// One connect/subscribe/disconnect cycle: h2 (over TLS when `tls`, else h2c on the
/// plaintext listener), one SSE stream, wait for its response head, then close.
pub async fn churn_cycle(server: &ServerProcess, tls: bool, n: u64) -> bool {
    let io = if tls {
        h2_tls(server).await
    } else {
        plaintext(server).await
    };
    let (read, mut write) = tokio::io::split(io);
    let mut buf = frames::PREFACE.to_vec();
    frames::put_settings(&mut buf, &[]);
    frames::put_settings_ack(&mut buf);
    let scheme = if tls { "https" } else { "http" };
    let path = format!("/events/churn-{}", n % 16);
    let block = frames::request_block("GET", scheme, "localhost", &path, &[]);
    frames::put_headers(&mut buf, 1, flag::END_HEADERS | flag::END_STREAM, &block);
    if write.write_all(&buf).await.is_err() || write.flush().await.is_err() {
        return false;
    }
    let mut reader = FrameReader::new(read);
    let subscribed = async {
        while let Ok(Some(frame)) = reader.next().await {
            if frame.is(kind::HEADERS) && frame.stream == 1 {
                return frame.static_status() == Some(200);
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(20), subscribed)
        .await
        .unwrap_or(false)
}

// ---- stream limit -----------------------------------------------------------------------------

/// Opens `streams` SSE streams at once on one connection and waits until each was
/// answered (a response or a reset) or `patience` passed.
pub async fn open_streams(
    server: &ServerProcess,
    streams: u32,
    patience: Duration,
) -> (Session, Seen) {
    let session = Session::start(h2_tls(server).await, &[], true).await;
    let mut buf = Vec::new();
    for i in 0..streams {
        let block = get_block("/events/stream-limit");
        put_frame(
            &mut buf,
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            2 * i + 1,
            &block,
        );
    }
    session.send(&buf).await.expect("requests written");
    let answered = |s: &Seen| {
        s.responses + s.resets.values().sum::<u64>() >= u64::from(streams) || s.ending().is_some()
    };
    let seen = session.wait_for(patience, answered).await;
    (session, seen)
}

// ---- publishing -------------------------------------------------------------------------------

/// Publishes `count` events of `size` bytes to each of `topics` (`{prefix}N`), round robin,
/// from one HTTP/2 connection; returns how many were accepted.
pub async fn publish_round_robin(
    server: &ServerProcess,
    prefix: &str,
    topics: u32,
    count: u32,
    size: usize,
) -> u32 {
    let mut conn = super::canary::h2_connect(server.tls_addr, server.tls_config()).await;
    let data = bytes::Bytes::from(vec![b'z'; size]);
    let mut accepted = 0;
    for i in 0..count {
        for t in 0..topics {
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("https://localhost/events/{prefix}{t}?n={i}"))
                .body(http_body_util::Full::new(data.clone()))
                .expect("request");
            if conn.ready().await.is_err() {
                return accepted;
            }
            if let Ok(response) = conn.send_request(request).await {
                if response.status() == http::StatusCode::OK {
                    accepted += 1;
                }
            }
        }
    }
    accepted
}
