//! Write coalescing for a connection's transport: many small frames leave in one TLS record
//! and one `write`.
//!
//! Imports nothing of the crate; the edge wraps its transports in it.
//!
//! Every flush of an HTTP/2 connection is a TLS record and a system call; with one stream
//! per topic per connection, that is one of each per delivered event. [`CoalescingIo`]
//! makes flushes adaptive: a flush on a connection that has not flushed within the window
//! goes out at once (no latency added to quiet connections), while a connection that is
//! busy flushes at most once per window, carrying every frame written in between.
//!
//! It also bounds how long a write may wait for a peer that stopped reading: an HTTP/1.1
//! client that never reads again would otherwise hold its connection forever (HTTP/2 peers
//! are caught by keep-alive PINGs too, which they cannot answer without reading).

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Above this many buffered bytes a write drains the buffer first: one TLS record holds
/// 16 KiB, and the batch must stay bounded.
const HIGH_WATER: usize = 64 << 10;

/// A buffer capacity kept between batches; larger ones are released after draining, so an
/// idle connection does not keep a burst's buffer.
const KEEP_CAPACITY: usize = 8 << 10;

/// A transport whose flushes are batched within a time window, and whose writes fail once
/// the peer has not taken any data for the stall timeout. Reads pass through.
#[derive(Debug)]
pub struct CoalescingIo<T> {
    inner: T,
    window: Duration,
    buf: Vec<u8>,
    written: usize,
    last_flush: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    stall: StallGuard,
}

impl<T> CoalescingIo<T> {
    /// Wraps `inner`; a zero `window` turns batching off (every flush goes out at once).
    /// A write that cannot make progress for `stall_timeout` fails with `TimedOut`.
    pub fn new(inner: T, window: Duration, stall_timeout: Duration) -> Self {
        Self {
            inner,
            window,
            buf: Vec::new(),
            written: 0,
            last_flush: None,
            timer: None,
            stall: StallGuard {
                timeout: stall_timeout,
                deadline: None,
                timer: None,
            },
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

/// Fails writes once the peer has accepted nothing for `timeout`.
#[derive(Debug)]
struct StallGuard {
    timeout: Duration,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl StallGuard {
    /// Passes a write-side result through; while it is pending, runs the stall deadline,
    /// which starts at the first pending write and is cleared by any progress.
    fn check<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.deadline = None;
            return polled;
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.timeout);
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer stopped reading",
        )))
    }
}

impl<T: AsyncWrite + Unpin> CoalescingIo<T> {
    /// Writes the whole buffer to the inner transport.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let polled = Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]);
            let n = ready!(self.stall.check(cx, polled))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.written = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        Poll::Ready(Ok(()))
    }

    /// Pending until the batching window that started at the last flush has passed.
    fn poll_window(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(last) = self.last_flush else {
            return Poll::Ready(());
        };
        let due = last + self.window;
        if Instant::now() >= due {
            return Poll::Ready(());
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        timer.as_mut().reset(due);
        timer.as_mut().poll(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CoalescingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.window.is_zero() {
            let polled = Pin::new(&mut self.inner).poll_write(cx, data);
            return self.stall.check(cx, polled);
        }
        if self.buf.len() + data.len() > HIGH_WATER && !self.buf.is_empty() {
            ready!(self.poll_drain(cx))?;
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.window.is_zero() {
            let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
            return self.stall.check(cx, polled);
        }
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if self.buf.len() + len > HIGH_WATER && !self.buf.is_empty() {
            ready!(self.poll_drain(cx))?;
        }
        for b in bufs {
            self.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        // Slices are copied into one buffer anyway; saying so lets the writer hand over
        // all of its frames in one call.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.buf.is_empty() {
            ready!(self.poll_window(cx));
            ready!(self.poll_drain(cx))?;
            self.last_flush = Some(Instant::now());
        }
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.stall.check(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.stall.check(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const STALL: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_flushes_at_once() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut io = CoalescingIo::new(client, Duration::from_millis(5), STALL);
        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_flushes_once_per_window() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut io = CoalescingIo::new(client, Duration::from_millis(5), STALL);
        io.write_all(b"a").await.unwrap();
        io.flush().await.unwrap();
        let start = Instant::now();
        io.write_all(b"b").await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(5),
            "second flush waits"
        );
        let mut got = [0u8; 2];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ab");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_between_flushes_leave_in_one_inner_write() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut io = CoalescingIo::new(client, Duration::from_millis(5), STALL);
        io.write_all(b"x").await.unwrap();
        io.flush().await.unwrap();
        for chunk in [&b"one "[..], b"two ", b"three"] {
            io.write_all(chunk).await.unwrap();
        }
        assert!(io.buf.len() == 13, "buffered, not written");
        io.flush().await.unwrap();
        let mut got = vec![0u8; 14];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"xone two three");
    }

    #[tokio::test]
    async fn a_zero_window_passes_writes_through() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut io = CoalescingIo::new(client, Duration::ZERO, STALL);
        io.write_all(b"now").await.unwrap();
        assert!(io.buf.is_empty());
        let mut got = [0u8; 3];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"now");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_stall_timeout() {
        for window in [Duration::ZERO, Duration::from_millis(5)] {
            // A 16-byte pipe nobody reads: the second write can never complete.
            let (client, _server) = tokio::io::duplex(16);
            let mut io = CoalescingIo::new(client, window, STALL);
            let start = Instant::now();
            let result = async {
                io.write_all(&[0u8; 64]).await?;
                io.flush().await
            }
            .await;
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::TimedOut);
            assert_eq!(start.elapsed(), STALL, "window {window:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_reading_peer_is_not_cut() {
        let (client, mut server) = tokio::io::duplex(16);
        let mut io = CoalescingIo::new(client, Duration::ZERO, STALL);
        let reader = tokio::spawn(async move {
            let mut sink = [0u8; 16];
            let mut total = 0;
            while total < 256 {
                tokio::time::sleep(STALL / 2).await;
                total += server.read(&mut sink).await.unwrap();
            }
        });
        io.write_all(&[1u8; 256]).await.unwrap();
        io.flush().await.unwrap();
        reader.await.unwrap();
    }
}
