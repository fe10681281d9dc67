//! Connection workers: one thread per core, each running its own single-threaded runtime,
//! and every connection served from start to end on one of them.
//!
//! Imports nothing of the crate; the server hands accepted sockets to it.
//!
//! On tokio's work-stealing runtime, each event made its worker wake the other one: a task
//! woken or spawned while another worker sleeps unparks it to steal, and at 1,000 events/s
//! that was about three context switches per event (measured: 2.9 per publish, and 22% of
//! the server's CPU in `finish_task_switch`). Served on one thread, the same workload took
//! a third less CPU per delivery. Pingora's "no steal" runtime makes the same trade, as
//! nginx's workers do: a connection never moves between threads (so its streams' state
//! stays in one core's cache), work crosses threads only where it must (an event published
//! on one worker reaches the streams of another's connections, one wake-up per connection),
//! and connections are balanced at accept, each going to the worker that serves fewest.

use std::{
    future::Future,
    io,
    net::TcpStream as StdTcpStream,
    num::NonZeroUsize,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

use tokio::{net::TcpStream, runtime, sync::oneshot};

/// The workers of one server. Dropping it stops them: each thread's runtime then drops the
/// connections still on it.
#[derive(Debug)]
pub struct Workers {
    workers: Vec<Worker>,
    /// Where the search for the least busy worker starts, so ties rotate.
    next: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    runtime: runtime::Handle,
    /// Connections this worker serves now.
    open: Arc<AtomicUsize>,
    /// Dropped to stop the thread.
    _stop: oneshot::Sender<()>,
}

impl Workers {
    /// Starts `count` workers, or one per core when `count` is 0.
    pub fn start(count: usize) -> io::Result<Self> {
        let count = if count == 0 {
            thread::available_parallelism().map_or(1, NonZeroUsize::get)
        } else {
            count
        };
        let workers = (0..count)
            .map(|i| {
                let runtime = runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = oneshot::channel::<()>();
                thread::Builder::new()
                    .name(format!("ssegate-worker-{i}"))
                    .spawn(move || {
                        // Returns once the server is gone; the runtime, dropped here on its
                        // own thread, drops whatever connections are left.
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    })?;
                Ok(Worker {
                    runtime: handle,
                    open: Arc::new(AtomicUsize::new(0)),
                    _stop: stop,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// How many workers serve connections.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Always false: a server has at least one worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Serves `stream` with `serve` on the worker with the fewest connections. The socket
    /// moves to that worker's reactor, so its readiness wakes that thread and no other.
    pub fn serve<F, Fut>(&self, stream: TcpStream, serve: F) -> io::Result<()>
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stream: StdTcpStream = stream.into_std()?;
        let worker = self.least_busy();
        let open = worker.open.clone();
        open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(open);
        worker.runtime.spawn(async move {
            let _guard = guard;
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream).await,
                Err(e) => tracing::warn!(error = %e, "cannot register a connection"),
            }
        });
        Ok(())
    }

    /// A handle on the number of connections served, for those who report it.
    pub fn open_connections(&self) -> OpenConnections {
        OpenConnections(self.workers.iter().map(|w| w.open.clone()).collect())
    }

    /// Connections each worker serves now, in worker order.
    pub fn open_per_worker(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .collect()
    }

    fn least_busy(&self) -> &Worker {
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let rotated = self.workers[start..].iter().chain(&self.workers[..start]);
        rotated
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
            .expect("at least one worker")
    }
}

/// The connections the workers serve now (the summary log's count).
#[derive(Debug, Clone)]
pub struct OpenConnections(Vec<Arc<AtomicUsize>>);

impl OpenConnections {
    /// Connections open on all workers together.
    pub fn total(&self) -> usize {
        self.0.iter().map(|open| open.load(Ordering::Relaxed)).sum()
    }
}

/// Counts a connection out when its task ends or is dropped with its runtime.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    /// Accepts `n` connections on loopback and hands each to `workers`, whose task echoes
    /// the name of its thread and then holds the connection until the client closes it.
    async fn serve_n(workers: &Workers, n: usize) -> Vec<TcpStream> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..n {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            workers
                .serve(server_side, |mut stream| async move {
                    let name = thread::current().name().unwrap_or("?").to_owned();
                    stream.write_all(name.as_bytes()).await.unwrap();
                    stream.write_all(b"\n").await.unwrap();
                    let mut rest = Vec::new();
                    let _ = stream.read_to_end(&mut rest).await;
                })
                .unwrap();
            clients.push(client);
        }
        clients
    }

    async fn first_line(stream: &mut TcpStream) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        String::from_utf8(line).unwrap()
    }

    async fn until_open(workers: &Workers, wanted: &[usize]) {
        for _ in 0..500 {
            if workers.open_per_worker() == wanted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("open {:?}, wanted {wanted:?}", workers.open_per_worker());
    }

    #[tokio::test]
    async fn connections_are_spread_over_the_workers_and_served_on_their_threads() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.len(), 2);
        let mut clients = serve_n(&workers, 4).await;
        let mut threads = Vec::new();
        for client in &mut clients {
            threads.push(first_line(client).await);
        }
        let mut sorted = threads.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "ssegate-worker-0",
                "ssegate-worker-0",
                "ssegate-worker-1",
                "ssegate-worker-1"
            ]
        );
        until_open(&workers, &[2, 2]).await;
        // Closed connections are counted out; the next one goes where fewest are open.
        let (on_worker_0, _on_worker_1): (Vec<_>, Vec<_>) = clients
            .into_iter()
            .zip(&threads)
            .partition(|(_, thread)| thread.ends_with('0'));
        drop(on_worker_0);
        until_open(&workers, &[0, 2]).await;
        let mut more = serve_n(&workers, 2).await;
        for client in &mut more {
            assert_eq!(first_line(client).await, "ssegate-worker-0");
        }
    }

    #[tokio::test]
    async fn dropping_the_workers_closes_their_connections() {
        let workers = Workers::start(1).unwrap();
        let mut clients = serve_n(&workers, 3).await;
        for client in &mut clients {
            assert_eq!(first_line(client).await, "ssegate-worker-0");
        }
        drop(workers);
        for client in &mut clients {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut rest))
                .await
                .expect("closed in time");
            assert!(matches!(read, Ok(0)), "{read:?}");
        }
    }

    #[test]
    fn zero_means_one_worker_per_core() {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(Workers::start(0).unwrap().len(), cores);
    }
}
