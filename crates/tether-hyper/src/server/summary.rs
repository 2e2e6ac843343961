//! What a graceful shutdown reports ([`ShutdownSummary`], [`CutOff`]) and the bookkeeping
//! that produces it: the open connections, registered by the accept loop before a connection's
//! task is spawned and removed by the task when it finishes. Whatever is still registered once
//! the connections' scope has ended was dropped before it finished: cut off.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tether::time::Instant;

use super::conn::Watch;

/// What [`WithGracefulShutdown`](crate::server::WithGracefulShutdown) returns once the server
/// has shut down: how many connections finished within the grace period and which were cut off.
#[derive(Debug, Clone)]
pub struct ShutdownSummary {
    /// Connections open when the shutdown began.
    pub open_at_signal: usize,
    /// Of those, the ones that finished by themselves within the grace period (their requests
    /// in flight answered, then closed).
    pub closed_cleanly: usize,
    /// The ones still open when the grace period ended, dropped by the server's scope.
    pub cut_off: Vec<CutOff>,
    /// HTTP/2 request tasks still running after their connections had ended, cancelled.
    pub streams_cut_off: usize,
    /// The grace period.
    pub grace: Duration,
    /// From the signal until the last connection was gone.
    pub took: Duration,
}

/// A connection that the server dropped at the end of the grace period.
#[derive(Debug, Clone)]
pub struct CutOff {
    /// The connection task's id, if it was ever polled.
    pub task: Option<tether::task::Id>,
    /// The connection task's name (`http-conn <peer>`).
    pub name: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// How long the connection had been open when it was dropped.
    pub age: Duration,
    /// Requests whose response had not been produced yet.
    pub requests_in_flight: usize,
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
        if self.streams_cut_off > 0 {
            write!(
                f,
                "; {} HTTP/2 request task(s) cancelled",
                self.streams_cut_off
            )?;
        }
        for c in &self.cut_off {
            write!(f, "\n  cut off: ")?;
            if let Some(id) = c.task {
                write!(f, "task {id} ")?;
            }
            write!(
                f,
                "{:?}, open for {:.2?}, {} request(s) in flight",
                c.name, c.age, c.requests_in_flight
            )?;
        }
        Ok(())
    }
}

/// The live connections of one server.
pub(crate) struct Conns {
    inner: Mutex<ConnsInner>,
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
    /// What its rules watch, among them its requests in flight.
    watch: Arc<Watch>,
    /// Its requests in flight when it was dropped unfinished (`cut_off`): by the time the
    /// summary is made, their futures have left the count.
    in_flight_when_cut: Option<usize>,
}

impl Conns {
    pub(crate) fn new() -> Conns {
        Conns {
            inner: Mutex::new(ConnsInner {
                open: HashMap::new(),
                closed_after_signal: 0,
                signal_at: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection (`key`, unique among the open ones) is about to be spawned; returns what
    /// its rules will watch, which counts its requests in flight.
    pub(crate) fn register(&self, key: u64, name: String, peer: SocketAddr) -> Arc<Watch> {
        let watch = Arc::new(Watch::default());
        let conn = Conn {
            name,
            peer,
            since: Instant::now(),
            task: None,
            watch: watch.clone(),
            in_flight_when_cut: None,
        };
        self.lock().open.insert(key, conn);
        watch
    }

    /// Called by the connection's task when it first runs: records the task's id.
    pub(crate) fn started(&self, key: u64) {
        if let Some(c) = self.lock().open.get_mut(&key) {
            c.task = tether::task::try_id();
        }
    }

    /// The connection's future is being dropped unfinished (the server's grace period ran
    /// out): notes its requests in flight, before their futures go.
    pub(crate) fn cut_off(&self, key: u64) {
        if let Some(c) = self.lock().open.get_mut(&key) {
            c.in_flight_when_cut = Some(c.watch.in_flight());
        }
    }

    /// The connection finished by itself (or was never started).
    pub(crate) fn finished(&self, key: u64) {
        let mut inner = self.lock();
        if inner.open.remove(&key).is_some() && inner.signal_at.is_some() {
            inner.closed_after_signal += 1;
        }
    }

    /// The shutdown began: returns how many connections are open.
    pub(crate) fn signal(&self) -> usize {
        let mut inner = self.lock();
        inner.signal_at = Some(Instant::now());
        inner.open.len()
    }

    /// Once the connections' scope has ended: every connection still registered was cut off.
    pub(crate) fn summary(&self, grace: Duration, streams_cut_off: usize) -> ShutdownSummary {
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
                requests_in_flight: c.in_flight_when_cut.unwrap_or_else(|| c.watch.in_flight()),
            })
            .collect();
        cut_off.sort_by_key(|c| std::cmp::Reverse(c.age));
        ShutdownSummary {
            open_at_signal: inner.closed_after_signal + cut_off.len(),
            closed_cleanly: inner.closed_after_signal,
            cut_off,
            streams_cut_off,
            grace,
            took: end.duration_since(inner.signal_at.unwrap_or(end)),
        }
    }
}
