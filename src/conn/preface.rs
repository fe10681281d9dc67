//! Telling h2c (prior knowledge) from HTTP/1.1 on the plaintext listener by the first bytes.
//!
//! An h2c client opens with the fixed 24-byte connection preface (RFC 9113 section 3.4); an
//! HTTP/1.1 request line can never begin with it. The bytes read to decide are handed back
//! to the chosen protocol through [`Rewind`], so neither sees a difference from reading the
//! socket itself.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The HTTP/2 client connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a plaintext connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sniffed {
    /// The HTTP/2 preface: h2c with prior knowledge.
    Http2,
    /// Anything else: HTTP/1.1 (whose parser answers bytes that are not HTTP at all).
    Http1,
    /// The peer closed before sending a byte.
    Closed,
}

/// Reads until the first bytes either are the whole preface or stop matching it; returns
/// the verdict and the transport with those bytes put back. Reads at most 24 bytes, so no
/// more is taken from the socket than the decision needs.
pub(super) async fn sniff<T>(mut io: T) -> io::Result<(Sniffed, Rewind<T>)>
where
    T: AsyncRead + Unpin,
{
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    let verdict = loop {
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            // A partial request line is HTTP/1.1's to answer (400), an empty one nobody's.
            break if filled == 0 {
                Sniffed::Closed
            } else {
                Sniffed::Http1
            };
        }
        filled += n;
        if buf[..filled] != PREFACE[..filled] {
            break Sniffed::Http1;
        }
        if filled == PREFACE.len() {
            break Sniffed::Http2;
        }
    };
    let rewind = Rewind {
        prefix: buf,
        start: 0,
        end: filled,
        inner: io,
    };
    Ok((verdict, rewind))
}

/// A transport whose first reads return bytes already taken from it.
#[derive(Debug)]
pub(super) struct Rewind<T> {
    prefix: [u8; PREFACE.len()],
    start: usize,
    end: usize,
    inner: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.start < self.end {
            let n = buf.remaining().min(self.end - self.start);
            let start = self.start;
            buf.put_slice(&self.prefix[start..start + n]);
            self.start += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Sniffs what a peer writes in `chunks` (then closes), and reads back everything the
    /// chosen protocol would see.
    async fn sniffed(chunks: &[&[u8]]) -> (Sniffed, Vec<u8>) {
        let (client, server) = tokio::io::duplex(1024);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = tokio::spawn(async move {
            let mut client = client;
            for chunk in chunks {
                client.write_all(&chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let (verdict, mut rewind) = sniff(server).await.unwrap();
        writer.await.unwrap();
        let mut seen = Vec::new();
        rewind.read_to_end(&mut seen).await.unwrap();
        (verdict, seen)
    }

    #[tokio::test]
    async fn the_preface_is_h2c_even_when_trickled_and_no_byte_is_lost() {
        let mut sent = PREFACE.to_vec();
        sent.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        let chunks: Vec<&[u8]> = vec![&sent[..1], &sent[1..10], &sent[10..]];
        let (verdict, seen) = sniffed(&chunks).await;
        assert_eq!(verdict, Sniffed::Http2);
        assert_eq!(seen, sent);
    }

    #[tokio::test]
    async fn a_request_line_is_http1_from_its_first_byte() {
        let request = b"GET /events HTTP/1.1\r\nhost: a\r\n\r\n";
        let (verdict, seen) = sniffed(&[request]).await;
        assert_eq!(verdict, Sniffed::Http1);
        assert_eq!(seen, request);
    }

    #[tokio::test]
    async fn a_method_named_like_the_preface_is_http1_once_it_differs() {
        let request = b"PRI * HTTP/1.1\r\n\r\n";
        let (verdict, seen) = sniffed(&[request]).await;
        assert_eq!(verdict, Sniffed::Http1);
        assert_eq!(seen, request);
    }

    #[tokio::test]
    async fn a_partial_preface_then_close_goes_to_http1_and_silence_to_nobody() {
        assert_eq!(
            sniffed(&[b"PRI * HT"]).await,
            (Sniffed::Http1, b"PRI * HT".to_vec())
        );
        assert_eq!(sniffed(&[]).await, (Sniffed::Closed, Vec::new()));
    }
}
