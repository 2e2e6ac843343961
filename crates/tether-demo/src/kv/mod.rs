//! A Redis-protocol (RESP2) key-value server on tether, written the way tether means servers to
//! be written: every connection is a task in one bounded server scope, nothing is detached, and
//! a shutdown is graceful and reported.
//!
//! `redis-cli` and `redis-benchmark` talk to it as to Redis. It serves:
//!
//! | group | commands |
//! |---|---|
//! | strings | `GET`, `SET` (`EX`/`PX`/`EXAT`/`PXAT`/`NX`/`XX`/`KEEPTTL`/`GET`), `INCR`, `INCRBY`, `DECR`, `DECRBY`, `MGET`, `MSET` |
//! | keys | `DEL`, `EXISTS`, `EXPIRE`, `PEXPIRE` (`NX`/`XX`/`GT`/`LT`), `TTL`, `PTTL`, `PERSIST`, `DBSIZE`, `FLUSHALL` |
//! | lists | `LPUSH`, `RPUSH`, `LPOP`, `RPOP` (with a count), `LLEN`, `LRANGE` |
//! | pub/sub | `PUBLISH`, `SUBSCRIBE`, `UNSUBSCRIBE` (subscriber mode as RESP2 has it) |
//! | connection | `PING`, `ECHO`, `QUIT`, `SELECT 0`, `HELLO` (RESP2 only: `HELLO 3` is refused with `NOPROTO`, so clients fall back), `CONFIG GET`, `COMMAND` (`COUNT`, `LIST`; `DOCS` and no argument answer an empty array) |
//!
//! One database, no persistence, no transactions, no blocking commands, no pattern
//! subscriptions. Replies and error strings are Redis 7's.
//!
//! # How it is built
//!
//! - [`resp`]: the parser (borrowed slices of the read buffer, incremental, limits checked on
//!   the headers) and the reply encoder.
//! - [`command`]: the command table and each command's semantics.
//! - [`store`]: the keyspace, in shards behind `std` mutexes, with expiry: lazily on access and
//!   actively by one task that sleeps until the next deadline (no scan of all keys).
//! - [`pubsub`]: channels, and a bounded outbox per subscriber.
//! - [`conn`]: one connection's loop: every complete command of a read runs, and all their
//!   replies go out in one write (pipelining).
//!
//! # Serving and shutting down
//!
//! [`Kv::serve_until`] runs the accept loop as the body of a scope bounded by
//! [`Config::max_clients`] (plus one place for the expiry task): when it is full, accepting
//! waits for a connection to end, and new clients wait in the kernel's backlog. When the
//! shutdown future completes:
//!
//! 1. the accept loop stops and the listener is closed;
//! 2. every connection is asked to stop: one waiting for a command (or subscribed) sends FIN
//!    and closes; one in the middle of writing replies finishes that write first, so a client
//!    never sees half a batch from a connection that stopped on the signal;
//! 3. after [`Config::grace`], the scope drops what is left (connections stuck writing to a
//!    client that does not read);
//! 4. it returns a [`ShutdownSummary`].
//!
//! # Example
//!
//! ```
//! use tether::io::{AsyncReadExt, AsyncWriteExt};
//! use tether_demo::kv::{Config, Kv};
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let kv = Kv::new(Config::default());
//!     let (stop_tx, stop_rx) = tether::sync::oneshot::channel::<()>();
//!     let server = tether::spawn(async move {
//!         kv.serve_until(listener, async { let _ = stop_rx.await; }).await
//!     });
//!     let mut c = tether::net::TcpStream::connect(addr).await?;
//!     // Two commands in one write: both replies come back in one batch.
//!     c.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\n").await?;
//!     let mut reply = [0u8; 13];
//!     c.read_exact(&mut reply).await?;
//!     assert_eq!(&reply, b"+OK\r\n$2\r\nv1\r\n");
//!     drop(c);
//!     stop_tx.send(()).unwrap();
//!     let summary = server.await.unwrap();
//!     assert!(summary.cut_off.is_empty());
//!     Ok(())
//! }
//! ```

pub mod command;
pub mod conn;
pub mod pubsub;
pub mod resp;
pub mod store;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::net::{TcpListener, TcpStream};
use tether::scope::CancelToken;

use crate::serving::{accept_next, close_gracefully, AcceptCounters, Conns};
pub use crate::serving::{CutOff, ShutdownSummary, EXHAUSTED_BACKOFF};

use conn::Ended;
use pubsub::PubSub;
use store::Db;

/// Size limits; see each field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Limits on one request's headers: the longest argument (`--max-bulk`, 512 MiB by
    /// default) and the most arguments.
    pub resp: resp::Limits,
    /// The most bytes one command may occupy in a connection's read buffer (Redis's
    /// `client-query-buffer-limit`, 1 GiB by default). A command that needs more is answered
    /// with an error and the connection is closed.
    pub max_query: usize,
    /// The most bytes of messages waiting for one subscriber (Redis's
    /// `client-output-buffer-limit pubsub`, 32 MiB by default); a subscriber past it is
    /// disconnected.
    pub pubsub_outbox: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            resp: resp::Limits::default(),
            max_query: 1024 * 1024 * 1024,
            pubsub_outbox: 32 * 1024 * 1024,
        }
    }
}

/// How a [`Kv`] server serves.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Size limits.
    pub limits: Limits,
    /// The most connections served at once (Redis's `maxclients`, 10,000 by default); more
    /// wait in the listen backlog until one ends.
    pub max_clients: usize,
    /// How long connections may take to finish once the shutdown begins.
    pub grace: Duration,
    /// Shards of the keyspace (each its own lock).
    pub shards: usize,
    /// Print a line for every connect and disconnect.
    pub log: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            max_clients: 10_000,
            grace: Duration::from_secs(2),
            shards: 64,
            log: false,
        }
    }
}

impl Config {
    /// What `CONFIG GET` reports: the settings a client may ask about.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("save", String::new()),
            ("appendonly", "no".to_string()),
            ("databases", "1".to_string()),
            ("maxclients", self.max_clients.to_string()),
            ("maxmemory", "0".to_string()),
            ("proto-max-bulk-len", self.limits.resp.max_bulk.to_string()),
            (
                "client-query-buffer-limit",
                self.limits.max_query.to_string(),
            ),
            (
                "client-output-buffer-limit",
                format!(
                    "normal 0 0 0 pubsub {} {} 0",
                    self.limits.pubsub_outbox, self.limits.pubsub_outbox
                ),
            ),
        ]
    }
}

/// Bytes held in connection buffers and subscriber outboxes, summed over the server (their
/// capacities, updated when one changes, so the hot path does not touch it), and the most
/// ever held.
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    /// A buffer went from `before` to `after` bytes.
    pub fn resized(&self, before: usize, after: usize) {
        if after > before {
            let now = self.now.fetch_add(after - before, Ordering::Relaxed) + (after - before);
            self.peak.fetch_max(now, Ordering::Relaxed);
        } else if before > after {
            self.now.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    /// The bytes held now.
    pub fn bytes(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    /// The most bytes held at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// What a server counted.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed for a protocol error or an oversized command.
    pub protocol_errors: AtomicU64,
    /// Accept errors (running out of descriptors included).
    pub accept_errors: AtomicU64,
    /// Commands run, over connections that ended (each connection adds its counts when it
    /// ends, so the hot path touches no shared counter).
    pub commands: AtomicU64,
    /// Socket reads that returned bytes, over connections that ended.
    pub reads: AtomicU64,
    /// Writes of a batch of replies (each possibly several `write` calls when the socket is
    /// full), over connections that ended.
    pub batches_written: AtomicU64,
}

impl AcceptCounters for Stats {
    fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    fn accept_failed(&self, _exhausted: bool) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// What every connection shares.
pub(crate) struct Shared {
    config: Config,
    db: Arc<Db>,
    pubsub: Arc<PubSub>,
    gauge: Arc<Gauge>,
    stats: Stats,
    next_client: AtomicU64,
}

/// A Redis-protocol server: its keyspace, channels, settings and counters. Serve it with
/// [`serve_until`](Kv::serve_until).
#[derive(Clone)]
pub struct Kv {
    shared: Arc<Shared>,
}

impl Kv {
    /// An empty server with these settings.
    pub fn new(config: Config) -> Kv {
        let gauge = Arc::new(Gauge::default());
        Kv {
            shared: Arc::new(Shared {
                config,
                db: Arc::new(Db::new(config.shards)),
                pubsub: Arc::new(PubSub::new(config.limits.pubsub_outbox, gauge.clone())),
                gauge,
                stats: Stats::default(),
                next_client: AtomicU64::new(1),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Bytes held in connection buffers and subscriber outboxes now.
    pub fn buffered_bytes(&self) -> usize {
        self.shared.gauge.bytes()
    }

    /// The most bytes ever held at once in connection buffers and subscriber outboxes.
    pub fn peak_buffered_bytes(&self) -> usize {
        self.shared.gauge.peak()
    }

    /// Keys removed by the expiry task so far (not counting those removed when read).
    pub fn expired_by_timer(&self) -> u64 {
        self.shared.db.expired_by_timer()
    }

    /// Subscribers disconnected so far because they did not read their messages.
    pub fn slow_subscribers_disconnected(&self) -> u64 {
        self.shared.pubsub.overflow_disconnects()
    }

    /// Serves connections from `listener` until `shutdown` completes, then shuts down
    /// gracefully (see the [module docs](self)) and reports how it went.
    ///
    /// Accept errors never stop the loop: out of descriptors it pauses for
    /// [`EXHAUSTED_BACKOFF`] (so it does not spin), other errors are logged.
    ///
    /// The keyspace belongs to the `Kv`, not to the call: serving again after a shutdown serves
    /// the same keys. Serve one listener at a time: each call runs its own expiry task, and two
    /// of them would share one alarm clock (keys still never outlive their deadline, since a
    /// read removes an expired key, but one of the tasks may remove them late).
    pub async fn serve_until<S>(&self, listener: TcpListener, shutdown: S) -> ShutdownSummary
    where
        S: Future<Output = ()>,
    {
        let shared = self.shared.clone();
        let config = shared.config;
        let conns = Arc::new(Conns::new(conn::phase_text));
        let body_conns = conns.clone();
        let res = tether::scope::Builder::new()
            .grace_period(config.grace)
            // One place per client, one for the expiry task.
            .max_concurrency(config.max_clients.saturating_add(1))
            .run(|s: tether::scope::Scope<Infallible>| async move {
                let conns = body_conns;
                let db = shared.db.clone();
                s.spawn_named("kv-expiry", async move {
                    store::run_expiry(db).await;
                    Ok(())
                })
                .await;
                let token = s.token();
                let mut shutdown = std::pin::pin!(shutdown);
                loop {
                    let accepted = tether::select! {
                        biased;
                        _ = shutdown.as_mut() => break,
                        accepted = accept_next(&listener, &shared.stats) => accepted,
                    };
                    let Some((stream, peer)) = accepted else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let id = shared.next_client.fetch_add(1, Ordering::Relaxed);
                    let name = format!("kv-conn {peer}");
                    let phase = conns.register(id, name.clone(), peer, conn::READING);
                    let conn = connection(
                        stream,
                        peer,
                        id,
                        shared.clone(),
                        conns.clone(),
                        phase,
                        token.child_token(),
                    );
                    // A full scope makes this wait (backpressure); the shutdown still stops it.
                    tether::select! {
                        biased;
                        _ = shutdown.as_mut() => {
                            conns.finished(id, false);
                            break;
                        }
                        _ = s.spawn_named(&name, conn) => {}
                    }
                }
                // Stop accepting first: connections arriving from now on are refused.
                drop(listener);
                let open = conns.signal();
                if config.log {
                    println!(
                        "shutting down: stopped accepting; asking {open} connection(s) to \
                         finish (grace period {:?})",
                        config.grace
                    );
                }
                s.cancel();
                Ok(())
            })
            .await;
        // The body always ends by cancelling the scope (or the scope was cancelled from
        // outside), and no child returns an error: `res` is a cancellation, nothing more.
        drop(res);
        conns.summary(config.grace)
    }
}

/// One connection task: serve the client, then close (gracefully after a shutdown signal).
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: Arc<Shared>,
    conns: Arc<Conns>,
    phase: Arc<AtomicU8>,
    stop: CancelToken,
) -> Result<(), Infallible> {
    conns.started(id);
    let log = shared.config.log;
    if log {
        println!("connect    {peer}");
    }
    let res = conn::serve(&mut stream, &shared, id, &phase, &stop).await;
    match res {
        Ok(Ended::Stopped) => {
            phase.store(conn::CLOSING, Ordering::Relaxed);
            close_gracefully(stream, &mut [0; 4096], shared.config.grace / 2).await;
        }
        Ok(Ended::ProtocolError | Ended::QueryTooBig) => {
            shared.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            // Let the client read the error before the close: closing with its bytes unread
            // would reset the connection and could discard the error reply.
            close_gracefully(stream, &mut [0; 4096], Duration::from_millis(200)).await;
        }
        _ => drop(stream),
    }
    if log {
        match res {
            Ok(Ended::ClientClosed) => println!("disconnect {peer}"),
            Ok(e) => println!("disconnect {peer} ({e:?})"),
            Err(e) => println!("disconnect {peer}: {e}"),
        }
    }
    conns.finished(id, stop.is_cancelled());
    Ok(())
}
