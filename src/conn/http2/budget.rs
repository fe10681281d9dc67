//! A cap on what an HTTP/2 connection reads per turn.
//!
//! `h2` decodes every frame its transport can give before it returns: 100 requests that
//! arrive in one read become 100 entries of its receive buffer at once, and that buffer's
//! slab never shrinks, so the connection keeps room for 128 pending requests for life
//! (~32 KiB; a third of an idle event stream's memory at 100 streams per connection). Read
//! a little per turn, the requests are accepted as they are decoded and the slab stays
//! small. The connection resets the budget at the start of each turn; a read beyond it
//! asks for another turn and says the transport has nothing yet.
//!
//! Bodies are read the same way, a budget per turn: a turn costs a few microseconds, so a
//! 1 MiB publication takes a millisecond or two more, and no client can make one turn of
//! the connection decode without bound.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read per turn: a few dozen requests' HEADERS (HPACK makes the repeated ones
/// ~20-40 bytes each), one small publication.
pub(super) const READ_BUDGET: usize = 1024;

/// The budget a connection and its transport share.
#[derive(Debug, Clone, Default)]
pub(super) struct Budget(Arc<AtomicUsize>);

impl Budget {
    /// A new turn: `READ_BUDGET` bytes may be read.
    pub fn refill(&self) {
        self.0.store(READ_BUDGET, Ordering::Relaxed);
    }
}

/// A transport whose reads stop at the connection's budget for the turn. Writes pass through.
#[derive(Debug)]
pub(super) struct Budgeted<I> {
    io: I,
    budget: Budget,
}

impl<I> Budgeted<I> {
    pub fn new(io: I, budget: Budget) -> Self {
        Self { io, budget }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Budgeted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.budget.0.load(Ordering::Relaxed);
        if left == 0 {
            // The rest in the next turn, after what this one decoded is taken.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let want = left.min(buf.remaining());
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(want));
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut limited))?;
        let read = limited.filled().len();
        buf.advance(read);
        self.budget.0.store(left - read, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Budgeted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_it_is_refilled() {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        client.write_all(&[7u8; 3000]).await.unwrap();
        let budget = Budget::default();
        let mut io = Budgeted::new(server, budget.clone());
        let mut storage = vec![0u8; 4096];
        let mut read = 0;
        for turn in 0..3 {
            budget.refill();
            loop {
                let mut buf = ReadBuf::new(&mut storage[read..]);
                let polled =
                    poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_read(cx, &mut buf))).await;
                match polled {
                    Poll::Ready(result) => {
                        result.unwrap();
                        read += buf.filled().len();
                    }
                    Poll::Pending => break,
                }
            }
            assert_eq!(read, (READ_BUDGET * (turn + 1)).min(3000), "turn {turn}");
        }
        assert!(storage[..3000].iter().all(|&b| b == 7));
    }
}
