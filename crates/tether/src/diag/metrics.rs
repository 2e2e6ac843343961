//! `RuntimeMetrics`: the public snapshot of a runtime's counters and gauges, from
//! [`Handle::metrics`](crate::runtime::Handle::metrics).
//!
//! The counters themselves (atomics the schedulers, reactor and timers bump) are runtime
//! internals in `runtime/metrics.rs`; this file holds what they are read into.

/// The values of the runtime's counters at one moment, as `Counters::read` returns them.
pub(crate) struct Counts {
    pub(crate) spawned: u64,
    pub(crate) polls: u64,
    pub(crate) steals: u64,
    pub(crate) parks: u64,
    pub(crate) io_events: u64,
    pub(crate) timers_fired: u64,
}

/// What `Handle::metrics` reads besides the counters.
pub(crate) struct Gauges {
    pub(crate) live: usize,
    pub(crate) active_timers: usize,
    pub(crate) blocking_threads: usize,
    pub(crate) idle_blocking_threads: usize,
    pub(crate) worker_queues: Vec<usize>,
    pub(crate) injector: usize,
    pub(crate) slow_polls: u64,
    pub(crate) stuck_reports: u64,
    pub(crate) io_driver: crate::runtime::IoDriver,
    pub(crate) io_driver_fallback: Option<std::sync::Arc<str>>,
}

/// A snapshot of a runtime's counters, from [`Handle::metrics`](crate::runtime::Handle::metrics).
///
/// Counters (`spawned_tasks`, `polls`, `steals`, `parks`, `io_events`, `timers_fired`,
/// `slow_polls`, `watchdog_reports`) only grow; subtract two snapshots for a rate. Workers
/// publish their poll and steal counts in batches (each time they check the reactor or park),
/// so those lag by at most a few dozen polls. Gauges (`live_tasks`, queue depths, timers,
/// blocking threads) are read at the moment of the call.
///
/// Also re-exported as `tether::runtime::RuntimeMetrics`, the path tokio users look for.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeMetrics {
    spawned: u64,
    polls: u64,
    steals: u64,
    parks: u64,
    io_events: u64,
    timers_fired: u64,
    gauges: GaugeValues,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct GaugeValues {
    live: u64,
    active_timers: u64,
    blocking_threads: u64,
    idle_blocking_threads: u64,
    worker_queues: Vec<usize>,
    injector: u64,
    slow_polls: u64,
    stuck_reports: u64,
    io_driver: crate::runtime::IoDriver,
    io_driver_fallback: Option<std::sync::Arc<str>>,
}

impl RuntimeMetrics {
    pub(crate) fn new(c: Counts, g: Gauges) -> RuntimeMetrics {
        RuntimeMetrics {
            spawned: c.spawned,
            polls: c.polls,
            steals: c.steals,
            parks: c.parks,
            io_events: c.io_events,
            timers_fired: c.timers_fired,
            gauges: GaugeValues {
                live: g.live as u64,
                active_timers: g.active_timers as u64,
                blocking_threads: g.blocking_threads as u64,
                idle_blocking_threads: g.idle_blocking_threads as u64,
                worker_queues: g.worker_queues,
                injector: g.injector as u64,
                slow_polls: g.slow_polls,
                stuck_reports: g.stuck_reports,
                io_driver: g.io_driver,
                io_driver_fallback: g.io_driver_fallback,
            },
        }
    }

    /// Tasks spawned since the runtime was built, blocking jobs included (each
    /// `spawn_blocking` counts one), unlike [`live_tasks`](RuntimeMetrics::live_tasks).
    pub fn spawned_tasks(&self) -> u64 {
        self.spawned
    }

    /// Tasks alive now: spawned and not yet dropped (their future finished or was cancelled),
    /// the children of scopes and join sets included. Blocking jobs
    /// ([`spawn_blocking`](crate::task::spawn_blocking),
    /// [`JoinSet::spawn_blocking`](crate::task::JoinSet::spawn_blocking)), queued or running,
    /// are not counted, as tokio's `num_alive_tasks` counts none;
    /// [`Handle::live_tasks`](crate::runtime::Handle::live_tasks) lists them, marked
    /// [`is_blocking`](crate::diag::TaskInfo::is_blocking). A task or job that is starting or
    /// ending on another thread at the moment of the call may be miscounted by one.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let (tx, rx) = std::sync::mpsc::channel::<()>();
    ///     let job = tether::task::spawn_blocking(move || rx.recv());
    ///     let task = tether::spawn(std::future::pending::<()>());
    ///     let handle = tether::runtime::Handle::current();
    ///     assert_eq!(handle.metrics().live_tasks(), 1); // the task, not the job
    ///     assert_eq!(handle.live_tasks().len(), 2); // the list shows both
    ///     drop(tx);
    ///     job.await.unwrap().unwrap_err();
    ///     task.abort();
    /// });
    /// ```
    pub fn live_tasks(&self) -> u64 {
        self.gauges.live
    }

    /// Task polls so far (published when the scheduler waits or yields to the reactor).
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Batches of tasks a worker stole from another worker's queue (always 0 on a
    /// current-thread runtime).
    pub fn steals(&self) -> u64 {
        self.steals
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

    /// The I/O driver this runtime runs: [`IoDriver::Epoll`](crate::runtime::IoDriver::Epoll)
    /// or [`IoDriver::IoUring`](crate::runtime::IoDriver::IoUring), never `Auto` (see
    /// [`Builder::io_driver`](crate::runtime::Builder::io_driver)).
    pub fn io_driver(&self) -> crate::runtime::IoDriver {
        self.gauges.io_driver
    }

    /// Why this runtime runs epoll although io_uring was asked for (with
    /// [`IoDriver::Auto`](crate::runtime::IoDriver::Auto)): the probe's answer, such as
    /// `"io_uring_setup failed: Operation not permitted (os error 1) (blocked: a seccomp
    /// profile, or the sysctl kernel.io_uring_disabled)"`. `None` if it runs the driver asked
    /// for.
    pub fn io_driver_fallback(&self) -> Option<&str> {
        self.gauges.io_driver_fallback.as_deref()
    }

    /// Timers that have fired.
    pub fn timers_fired(&self) -> u64 {
        self.timers_fired
    }

    /// Timers filed and not yet fired or cancelled.
    pub fn active_timers(&self) -> u64 {
        self.gauges.active_timers
    }

    /// Threads that run tasks: the worker threads of a multi-thread runtime, 1 for a
    /// current-thread runtime.
    pub fn workers(&self) -> u64 {
        self.gauges.worker_queues.len() as u64
    }

    /// Tasks waiting in each worker's run queue, by worker index. A multi-thread worker's
    /// most recently woken task (its LIFO slot) is not counted. The current-thread queue is the
    /// length its driver last published (each time it checks the reactor).
    pub fn worker_queue_depths(&self) -> &[usize] {
        &self.gauges.worker_queues
    }

    /// Tasks waiting in the queue for tasks woken from outside the workers (the injector of a
    /// multi-thread runtime, the remote queue of a current-thread one).
    pub fn injector_depth(&self) -> u64 {
        self.gauges.injector
    }

    /// Threads of the blocking pool alive now (running a job or idle).
    pub fn blocking_threads(&self) -> u64 {
        self.gauges.blocking_threads
    }

    /// Threads of the blocking pool waiting for a job now.
    pub fn idle_blocking_threads(&self) -> u64 {
        self.gauges.idle_blocking_threads
    }

    /// Polls reported as slow (longer than
    /// [`Builder::slow_poll_threshold`](crate::runtime::Builder::slow_poll_threshold)).
    pub fn slow_polls(&self) -> u64 {
        self.gauges.slow_polls
    }

    /// Reports of the watchdog about polls still running past
    /// [`Builder::watchdog_limit`](crate::runtime::Builder::watchdog_limit).
    pub fn watchdog_reports(&self) -> u64 {
        self.gauges.stuck_reports
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::runtime::{Builder, Handle};

    /// `live_tasks` counts tasks, not blocking jobs (running or queued, from `spawn_blocking`
    /// or `JoinSet::spawn_blocking`), as tokio's `num_alive_tasks` does; it counted them
    /// because every blocking job is a task in the registry. The registry's list still shows
    /// them (`Handle::live_tasks`).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "blocking threads are slow to interpret; no unsafe code of its own"
    )]
    fn live_tasks_leaves_out_blocking_jobs() {
        let rt = Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let (started_tx, started) = mpsc::channel();
            let (release, released) = mpsc::channel::<()>();
            let running = crate::task::spawn_blocking(move || {
                started_tx.send(()).unwrap();
                released.recv().unwrap();
            });
            // Waits in the pool's queue: its one thread runs the job above.
            let mut set = crate::task::JoinSet::new();
            set.spawn_blocking(|| 2);
            started.recv_timeout(Duration::from_secs(30)).unwrap();
            let task = crate::spawn(std::future::pending::<()>());
            let handle = Handle::current();
            assert_eq!(
                handle.metrics().live_tasks(),
                1,
                "the pending task; not the running job nor the queued one"
            );
            let listed = handle.live_tasks();
            assert_eq!(listed.iter().filter(|t| t.is_blocking()).count(), 2);
            release.send(()).unwrap();
            running.await.unwrap();
            assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(handle.metrics().live_tasks(), 0);
        });
    }
}
