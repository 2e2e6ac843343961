//! Runtime counters and their public snapshot.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// Counters a runtime keeps about itself. All are monotonic; relaxed ordering is enough because
/// each is read only as a snapshot.
#[derive(Default)]
pub(crate) struct Counters {
    spawned: AtomicU64,
    polls: AtomicU64,
    parks: AtomicU64,
    io_events: AtomicU64,
    timers_fired: AtomicU64,
}

impl Counters {
    pub(crate) fn task_spawned(&self) {
        self.spawned.fetch_add(1, Ordering::Relaxed);
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
}

/// A snapshot of a runtime's counters, from [`Handle::metrics`](crate::runtime::Handle::metrics).
///
/// # Examples
///
/// ```
/// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     tether::spawn(async {}).await.unwrap();
/// });
/// let m = rt.handle().metrics();
/// assert_eq!(m.spawned_tasks(), 1);
/// assert_eq!(m.live_tasks(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeMetrics {
    pub(crate) spawned: u64,
    pub(crate) live: u64,
    pub(crate) polls: u64,
    pub(crate) parks: u64,
    pub(crate) io_events: u64,
    pub(crate) timers_fired: u64,
    pub(crate) active_timers: u64,
    pub(crate) blocking_threads: u64,
    pub(crate) workers: u64,
}

impl RuntimeMetrics {
    pub(crate) fn read(
        c: &Counters,
        live: usize,
        active_timers: usize,
        blocking_threads: usize,
        workers: usize,
    ) -> RuntimeMetrics {
        RuntimeMetrics {
            workers: workers as u64,
            active_timers: active_timers as u64,
            blocking_threads: blocking_threads as u64,
            spawned: c.spawned.load(Ordering::Relaxed),
            live: live as u64,
            polls: c.polls.load(Ordering::Relaxed),
            parks: c.parks.load(Ordering::Relaxed),
            io_events: c.io_events.load(Ordering::Relaxed),
            timers_fired: c.timers_fired.load(Ordering::Relaxed),
        }
    }

    /// Tasks spawned since the runtime was built.
    pub fn spawned_tasks(&self) -> u64 {
        self.spawned
    }

    /// Tasks alive now (spawned and not yet dropped).
    pub fn live_tasks(&self) -> u64 {
        self.live
    }

    /// Task polls so far (published when the scheduler waits or yields to the reactor).
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// How many times the scheduler went to sleep in the reactor with nothing to run and came
    /// back: the loop's wake-ups. An idle runtime whose only work is a timer 1 s away adds only a
    /// handful, never a steady stream.
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// I/O readiness events delivered by the reactor.
    pub fn io_events(&self) -> u64 {
        self.io_events
    }

    /// Timers that have fired.
    pub fn timers_fired(&self) -> u64 {
        self.timers_fired
    }

    /// Timers filed and not yet fired or cancelled.
    pub fn active_timers(&self) -> u64 {
        self.active_timers
    }

    /// Threads that run tasks: the worker threads of a multi-thread runtime, 1 for a
    /// current-thread runtime.
    pub fn workers(&self) -> u64 {
        self.workers
    }

    /// Threads of the blocking pool alive now (running a job or idle).
    pub fn blocking_threads(&self) -> u64 {
        self.blocking_threads
    }
}
