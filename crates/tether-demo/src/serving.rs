//! What the demo's servers ([`echo_server`](crate::echo_server) and [`kv`](crate::kv)) share
//! around their protocols: an accept step that never spins, a close that does not reset the
//! connection, and the bookkeeping of a graceful shutdown that reports which connections were
//! cut off.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{is_resource_exhausted, TcpListener, TcpStream};
use tether::time::{sleep, timeout};

/// How long the accept loop pauses when the process is out of descriptors.
pub const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);

/// The counters [`accept_next`] keeps.
pub trait AcceptCounters {
    /// A connection was accepted.
    fn accepted(&self);
    /// An accept failed; `exhausted` when the process or system was out of descriptors.
    fn accept_failed(&self, exhausted: bool);
}

/// Accepts one connection, counting it; `None` after an accept error (counted and logged; out
/// of descriptors, it first pauses for [`EXHAUSTED_BACKOFF`] so that connections can close and
/// the loop does not spin).
pub async fn accept_next(
    listener: &TcpListener,
    counters: &impl AcceptCounters,
) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok(conn) => {
            counters.accepted();
            Some(conn)
        }
        Err(e) => {
            let exhausted = is_resource_exhausted(&e);
            counters.accept_failed(exhausted);
            if exhausted {
                eprintln!("accept: {e}; pausing {EXHAUSTED_BACKOFF:?} so connections can close");
                sleep(EXHAUSTED_BACKOFF).await;
            } else {
                eprintln!("accept: {e}");
            }
            None
        }
    }
}

/// Sends FIN, then reads and discards (into `buf`) until the client closes, at most `linger`,
/// so that the close does not reset the connection: closing a socket with unread bytes sends
/// RST, which can make the client lose replies it has not read yet.
pub async fn close_gracefully(mut stream: TcpStream, buf: &mut [u8], linger: Duration) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        while let Ok(n) = stream.read(buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = timeout(linger, drain).await;
}

/// What a server's `serve_until` reports once it has shut down.
#[derive(Debug, Clone)]
pub struct ShutdownSummary {
    /// Connections open when the shutdown began.
    pub open_at_signal: usize,
    /// Of those, the ones that finished by themselves within the grace period.
    pub closed_cleanly: usize,
    /// The ones still running when the grace period ended, dropped by the scope.
    pub cut_off: Vec<CutOff>,
    /// The grace period.
    pub grace: Duration,
    /// From the signal until the last connection was gone.
    pub took: Duration,
}

/// A connection that a server dropped at the end of the grace period.
#[derive(Debug, Clone)]
pub struct CutOff {
    /// The connection task's id, if it was ever polled.
    pub task: Option<tether::task::Id>,
    /// The connection task's name (`echo-conn <peer>`, `kv-conn <peer>`).
    pub name: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// How long the connection had been open when it was dropped.
    pub age: Duration,
    /// What it was doing.
    pub doing: &'static str,
}

impl fmt::Display for ShutdownSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown summary: {} connection(s) open at the signal; {} closed cleanly, {} cut off \
             after the {:?} grace period (took {:.1?})",
            self.open_at_signal,
            self.closed_cleanly,
            self.cut_off.len(),
            self.grace,
            self.took
        )?;
        for c in &self.cut_off {
            write!(f, "\n  cut off: ")?;
            if let Some(id) = c.task {
                write!(f, "task {id} ")?;
            }
            write!(f, "{:?}, open for {:.2?}, {}", c.name, c.age, c.doing)?;
        }
        Ok(())
    }
}

/// The live connections of one `serve_until`: registered by the accept loop before the task is
/// spawned, removed by the task when it finishes. Whatever is left once the server's scope has
/// ended was dropped before finishing: cut off.
pub(crate) struct Conns {
    inner: Mutex<ConnsInner>,
    /// Describes a connection's phase, for the summary.
    phase_text: fn(u8) -> &'static str,
}

struct ConnsInner {
    open: HashMap<u64, Conn>,
    /// Connections that finished after the signal.
    closed_after_signal: usize,
    signal_at: Option<Instant>,
}

struct Conn {
    name: String,
    peer: SocketAddr,
    since: Instant,
    task: Option<tether::task::Id>,
    phase: Arc<AtomicU8>,
}

impl Conns {
    /// No connection yet; `phase_text` names the phases the connections store.
    pub(crate) fn new(phase_text: fn(u8) -> &'static str) -> Conns {
        Conns {
            inner: Mutex::new(ConnsInner {
                open: HashMap::new(),
                closed_after_signal: 0,
                signal_at: None,
            }),
            phase_text,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection (`key`, unique among the open ones) is about to be spawned in `phase`;
    /// returns the cell it updates its phase in.
    pub(crate) fn register(
        &self,
        key: u64,
        name: String,
        peer: SocketAddr,
        phase: u8,
    ) -> Arc<AtomicU8> {
        let phase = Arc::new(AtomicU8::new(phase));
        let conn = Conn {
            name,
            peer,
            since: Instant::now(),
            task: None,
            phase: phase.clone(),
        };
        self.lock().open.insert(key, conn);
        phase
    }

    /// Called by the connection's task when it first runs: records the task's id.
    pub(crate) fn started(&self, key: u64) {
        if let Some(c) = self.lock().open.get_mut(&key) {
            c.task = tether::task::try_id();
        }
    }

    /// The connection finished by itself (`after_signal`: it saw the shutdown).
    pub(crate) fn finished(&self, key: u64, after_signal: bool) {
        let mut inner = self.lock();
        if inner.open.remove(&key).is_some() && after_signal {
            inner.closed_after_signal += 1;
        }
    }

    /// The shutdown began: returns how many connections are open.
    pub(crate) fn signal(&self) -> usize {
        let mut inner = self.lock();
        inner.signal_at = Some(Instant::now());
        inner.open.len()
    }

    /// Once the scope has ended: every connection still registered was cut off.
    pub(crate) fn summary(&self, grace: Duration) -> ShutdownSummary {
        let end = Instant::now();
        let mut inner = self.lock();
        let mut cut_off: Vec<CutOff> = inner
            .open
            .drain()
            .map(|(_, c)| CutOff {
                task: c.task,
                name: c.name,
                peer: c.peer,
                age: end.duration_since(c.since),
                doing: (self.phase_text)(c.phase.load(Ordering::Relaxed)),
            })
            .collect();
        cut_off.sort_by_key(|c| std::cmp::Reverse(c.age));
        ShutdownSummary {
            open_at_signal: inner.closed_after_signal + cut_off.len(),
            closed_cleanly: inner.closed_after_signal,
            cut_off,
            grace,
            took: end.duration_since(inner.signal_at.unwrap_or(end)),
        }
    }
}
