//! The runtime's counters: what its schedulers, reactor and timers count about themselves.
//!
//! [`Handle::metrics`](crate::runtime::Handle::metrics) reads them (with the gauges it reads at
//! the moment of the call) into the public snapshot,
//! [`RuntimeMetrics`](crate::diag::RuntimeMetrics), defined in `diag/metrics.rs`.

use crate::diag::Counts;
use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// Counters a runtime keeps about itself. All are monotonic; relaxed ordering is enough because
/// each is read only as a snapshot.
#[derive(Default)]
///
/// Spawns are counted by the task registry, per shard (`Registry::spawned`), so that spawning
/// on different workers shares no counter.
pub(crate) struct Counters {
    polls: AtomicU64,
    parks: AtomicU64,
    io_events: AtomicU64,
    timers_fired: AtomicU64,
    steals: AtomicU64,
}

impl Counters {
    /// Publishes steals counted locally by a worker since its last flush.
    pub(crate) fn add_steals(&self, n: u64) {
        if n != 0 {
            self.steals.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Publishes polls counted locally by a scheduler since its last flush.
    pub(crate) fn add_polls(&self, n: u64) {
        if n != 0 {
            self.polls.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn parked(&self) {
        self.parks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_io_events(&self, n: u64) {
        if n != 0 {
            self.io_events.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_timers_fired(&self, n: u64) {
        if n != 0 {
            self.timers_fired.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The counters' values now (each read on its own, relaxed: a snapshot, not a cut), with
    /// the registry's count of spawns.
    pub(crate) fn read(&self, spawned: u64) -> Counts {
        Counts {
            spawned,
            polls: self.polls.load(Ordering::Relaxed),
            steals: self.steals.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            io_events: self.io_events.load(Ordering::Relaxed),
            timers_fired: self.timers_fired.load(Ordering::Relaxed),
        }
    }
}
