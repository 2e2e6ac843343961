//! The runtime: build one, run a future on it, reach it from anywhere.
//!
//! A [`Runtime`] owns a scheduler, an I/O reactor (over `mio`), a timer wheel and the registry of
//! its live tasks. [`Runtime::block_on`] drives it on the calling thread until the given future
//! completes. A [`Handle`] is a cheap, cloneable reference to a runtime that spawns onto it from
//! any thread.
//!
//! Two flavors: the current-thread scheduler runs every task on the thread that calls
//! `block_on`; the multi-thread scheduler runs tasks on worker threads that steal work from each
//! other ([`Builder::new_multi_thread`]).
//!
//! Dropping a `Runtime` shuts it down: every task still alive is cancelled and its future dropped,
//! timers and sockets registered with it fail with a clear error from then on.
//!
//! # Shutdown and stuck tasks
//!
//! A task cannot be interrupted inside a poll. On a multi-thread runtime, a task stuck in one (a
//! blocking call, an endless loop) keeps its worker from stopping:
//! - dropping the `Runtime` waits for every worker as long as it takes, so that the tasks'
//!   futures are dropped before the drop returns (except a task whose wake-up another thread is
//!   handing over at that moment: it is dropped as soon as that thread hands it over); a task
//!   whose poll still keeps its worker
//!   from stopping after the watchdog limit is reported through [`Builder::on_diagnostic`]
//!   (stderr by default) as [`DiagnosticKind::BlocksShutdown`], with its name and spawn
//!   location;
//! - [`Runtime::shutdown_timeout`] waits for the workers and then for the blocking jobs at most
//!   until its timeout has passed; a worker still running then is left behind (its thread is
//!   detached; it keeps the runtime's shared state alive, and when its poll returns it drops the
//!   tasks left on it and exits), and the task it is polling is reported the same way.
//!
//! Those reports need diagnostics on (the default; [`Builder::diagnostics`]). What users import
//! to observe a runtime (the reports, the live task tree, the metrics) is in [`crate::diag`].
//!
//! [`DiagnosticKind::BlocksShutdown`]: crate::diag::DiagnosticKind::BlocksShutdown

//! # Examples
//!
//! ```
//! use tether::runtime::Builder;
//!
//! let rt = Builder::new_current_thread().build().expect("failed to build runtime");
//! let answer = rt.block_on(async {
//!     let task = tether::spawn(async { 21 * 2 });
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```

pub(crate) mod blocking;
pub(crate) mod builder;
pub(crate) mod context;
pub(crate) mod diagnostics;
pub(crate) mod failure;
mod handle;
mod metrics;
mod panic_hook;
mod watchdog;

pub use builder::{Builder, IoDriver};
pub use failure::UnhandledFailurePolicy;
pub use handle::{EnterGuard, Handle, TryCurrentError};
// The snapshot lives in `diag` with the other reports; it is also here because tokio has it here.
#[doc(no_inline)]
pub use crate::diag::RuntimeMetrics;

pub(crate) use metrics::Counters;

use std::fmt;
use std::future::Future;
use std::io;
use std::num::NonZeroU64;
use std::panic::Location;

use crate::io::driver::IoHandle;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Arc;
use crate::sched::{current_thread, multi_thread, Scheduler};
use crate::task::registry::Registry;
use crate::task::JoinHandle;
use crate::time::driver::TimeHandle;
use builder::Flavor;

/// Which runtime: a number unique in the process and never reused, unlike the address of a
/// runtime's [`RuntimeShared`], which a later runtime may get again. `Debug` and `Display` show
/// the bare number, as in the misuse message "created on runtime #3".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RuntimeId(NonZeroU64);

impl RuntimeId {
    /// An id never handed out before in this process.
    pub(crate) fn next() -> RuntimeId {
        // std's atomic, not the loom shim's: a process-wide counter in a static, which a loom
        // model cannot hold, and part of no protocol (only uniqueness matters).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RuntimeId(NonZeroU64::new(n).expect("tether: the runtime counter wrapped around"))
    }

    /// The number, for reports that print it.
    pub(crate) fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for RuntimeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Everything of a runtime that tasks, handles and resources share.
pub(crate) struct RuntimeShared {
    /// Which runtime this is; used to recognise its tasks and in misuse messages.
    pub(crate) id: RuntimeId,
    /// The scheduler's shared half, by flavor.
    pub(crate) sched: Scheduler,
    /// The reactor's shared half (mio registry, waker, registrations).
    pub(crate) io: IoHandle,
    /// The timer wheel and clock.
    pub(crate) time: TimeHandle,
    /// Every live task.
    pub(crate) registry: Registry,
    /// Counters behind [`Handle::metrics`].
    pub(crate) metrics: Counters,
    /// Threads for blocking work.
    pub(crate) blocking: blocking::BlockingPool,
    /// The one reporting path (`diag/report.rs`): the hooks, `tracing`, stderr, the rate limit.
    pub(crate) reporter: crate::diag::Reporter,
    /// What to do with unobserved task failures.
    pub(crate) policy: UnhandledFailurePolicy,
    /// Set (with the failure's description) when the policy shut the runtime down.
    fatal: crate::loom::sync::Mutex<Option<String>>,
    fatal_flag: crate::loom::sync::atomic::AtomicBool,
    /// Wakers of threads inside a multi-thread `block_on`, woken when `fatal` is set.
    pub(crate) block_on_wakers: crate::loom::sync::Mutex<Vec<std::task::Waker>>,
    /// The root scope's cancellation token: what `task::cancelled()` waits on in tasks spawned
    /// with `tether::spawn`; cancelled by a graceful shutdown.
    pub(crate) root_token: crate::scope::CancelToken,
    /// Slow-poll detection, the watchdog, per-worker slots.
    pub(crate) diag: diagnostics::PollMonitor,
    /// The simulation this runtime runs (`tether::sim`): it numbers the tasks, runs blocking
    /// jobs on the simulation's thread and owns the simulated network.
    #[cfg(feature = "sim")]
    pub(crate) sim: Option<std::sync::Arc<crate::sim::world::World>>,
    /// The live console, when `Builder::console` asked for one; stopped first at shutdown.
    #[cfg(feature = "console")]
    pub(crate) console: std::sync::OnceLock<crate::console::ConsoleServer>,
}

impl RuntimeShared {
    /// Reports `d` through the one reporting path, on the runtime's clock.
    pub(crate) fn report(&self, d: &crate::diag::Diagnostic) {
        self.reporter.diagnostic(d, self.time.clock.now());
    }

    /// Hands a failure nobody observed to the failure policy.
    pub(crate) fn report_unhandled(&self, failure: &crate::diag::UnhandledFailure<'_>) {
        let now = || self.time.clock.now();
        match self.policy {
            UnhandledFailurePolicy::Ignore => {}
            UnhandledFailurePolicy::Report => self.reporter.failure(failure, now()),
            UnhandledFailurePolicy::ShutdownRuntime => {
                self.reporter.failure(failure, now());
                crate::loom::lock(&self.fatal).get_or_insert_with(|| failure.to_string());
                self.fatal_flag.store(true, Ordering::Release);
                self.root_token.cancel();
                self.io.unparker.force_unpark();
                let wakers = std::mem::take(&mut *crate::loom::lock(&self.block_on_wakers));
                wakers.into_iter().for_each(std::task::Waker::wake);
            }
        }
    }

    /// Every live task, with its state, polls and scope.
    pub(crate) fn task_snapshot(&self) -> Vec<crate::diag::TaskInfo> {
        self.task_snapshot_limited(usize::MAX).0
    }

    /// At most `limit` live tasks (the first in registry order, and every one running now),
    /// and how many are live in all (see `Registry::snapshot`).
    pub(crate) fn task_snapshot_limited(
        &self,
        limit: usize,
    ) -> (Vec<crate::diag::TaskInfo>, usize) {
        self.registry.snapshot(
            self.time.now_ms(),
            &self.diag.running_keys(),
            &self.diag.busy_times(),
            limit,
        )
    }

    /// The live task `id` as a snapshot describes it (`Registry::find`): the console's detail
    /// of a task its limited snapshot left out.
    #[cfg(feature = "console")]
    pub(crate) fn task_info(&self, id: u64) -> Option<crate::diag::TaskInfo> {
        self.registry.find(
            id,
            self.time.now_ms(),
            &self.diag.running_keys(),
            &self.diag.busy_times(),
        )
    }

    /// Panics if the failure policy shut the runtime down (checked by `block_on`).
    pub(crate) fn check_fatal(&self) {
        if self.fatal_flag.load(Ordering::Acquire) {
            let msg = crate::loom::lock(&self.fatal).clone().unwrap_or_default();
            panic!(
                "tether: the runtime was shut down by its failure policy \
                 (UnhandledFailurePolicy::ShutdownRuntime): {msg}"
            );
        }
    }
}

/// The tether runtime: a scheduler, an I/O reactor and timers, driven by [`block_on`].
///
/// Build one with [`Builder`] or use `#[tether::main]`. See the [module docs](self).
///
/// [`block_on`]: Runtime::block_on
pub struct Runtime {
    handle: Handle,
    /// Set once `shutdown_timeout` ran, so dropping does not shut down twice.
    shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with the default settings, as tokio's `Runtime::new`: one worker
    /// thread per available core (work stealing), I/O, timers and the blocking pool; the same as
    /// `Builder::new_multi_thread().build()`.
    ///
    /// `#[tether::main]` and `#[tether::test]` build a *current-thread* runtime unless given
    /// `flavor = "multi_thread"` (tokio's `#[tokio::main]` defaults to multi-thread): a program
    /// whose tasks are not `Send`, or whose order of events should be reproducible, works there
    /// as written. Use `Runtime::new()` or the attribute's `flavor = "multi_thread"` to spread
    /// tasks over the cores.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]: when the operating system refuses the reactor's resources or the
    /// worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::runtime::Runtime;
    ///
    /// let rt = Runtime::new().unwrap();
    /// let on_worker = rt.block_on(async {
    ///     tether::spawn(async { std::thread::current().name().map(str::to_owned) })
    ///         .await
    ///         .unwrap()
    /// });
    /// assert!(on_worker.unwrap().starts_with("tether-worker-"));
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    fn from_builder(builder: &Builder) -> io::Result<Runtime> {
        let id = RuntimeId::next();
        let multi_thread = builder.flavor == Flavor::MultiThread;
        let (io_handle, io_driver) = crate::io::driver::new(builder.io_driver, id, multi_thread)?;
        let workers = match builder.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => builder
                .worker_threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        };
        // A timer shard per worker, and one for the other threads (`Scheduler::timer_shard`).
        let timer_shards = match builder.flavor {
            Flavor::CurrentThread => 1,
            Flavor::MultiThread => workers + 1,
        };
        let time = TimeHandle::new(builder.start_paused, timer_shards);
        let sched = match builder.flavor {
            Flavor::CurrentThread => {
                Scheduler::CurrentThread(current_thread::CurrentThreadShared::new(
                    id,
                    io_driver,
                    builder.event_interval,
                    builder.park_hooks.clone(),
                ))
            }
            Flavor::MultiThread => Scheduler::MultiThread(multi_thread::MultiThreadShared::new(
                io_driver,
                workers,
                builder.event_interval,
                builder.thread_spawn.clone(),
                builder.hooks.clone(),
                builder.park_hooks.clone(),
            )),
        };
        let shared = Arc::new(RuntimeShared {
            id,
            sched,
            io: io_handle,
            time,
            registry: Registry::new(),
            metrics: Counters::default(),
            blocking: blocking::BlockingPool::new(
                builder.max_blocking_threads,
                builder.keep_alive,
                builder.thread_spawn.clone(),
                builder.hooks.clone(),
            ),
            reporter: crate::diag::Reporter::new(
                builder.on_diagnostic.clone(),
                builder.on_unhandled.clone(),
                builder.quiet,
            ),
            policy: builder.policy,
            fatal: crate::loom::sync::Mutex::new(None),
            fatal_flag: crate::loom::sync::atomic::AtomicBool::new(false),
            block_on_wakers: crate::loom::sync::Mutex::new(Vec::new()),
            root_token: crate::scope::CancelToken::new(),
            diag: diagnostics::PollMonitor::new(builder.diagnostics.clone(), workers),
            #[cfg(feature = "sim")]
            sim: builder.sim.clone(),
            #[cfg(feature = "console")]
            console: std::sync::OnceLock::new(),
        });
        let rt = Runtime {
            handle: Handle { shared },
            shut_down: false,
        };
        if builder.diagnostics.enabled {
            panic_hook::install();
        }
        // On failure, dropping `rt` stops whatever was started.
        watchdog::start(&rt.handle.shared, &builder.thread_spawn.prefix)?;
        if builder.flavor == Flavor::MultiThread {
            // On failure, dropping `rt` shuts down the workers already started.
            multi_thread::start(&rt.handle.shared)?;
        }
        #[cfg(feature = "console")]
        if let Some(config) = &builder.console {
            let server = crate::console::start(&rt.handle, config, &builder.thread_spawn.prefix)?;
            let _ = rt.handle.shared.console.set(server);
        }
        Ok(rt)
    }

    /// Runs `future` to completion on this thread, driving the runtime's tasks, I/O and timers
    /// meanwhile, and returns its output.
    ///
    /// Tasks spawned onto the runtime make progress only while some thread is inside `block_on`.
    /// A panic in `future` itself propagates out of `block_on`; panics in spawned tasks go to
    /// their `JoinHandle`s.
    ///
    /// # Panics
    ///
    /// Panics when called from inside a runtime (from `block_on` or a task): blocking there
    /// would stall every task of that runtime. Await the future instead, or spawn it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
    /// let n = rt.block_on(async { 1 + 1 });
    /// assert_eq!(n, 2);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle
            .block_on_at(future, "Runtime::block_on", Location::caller())
    }

    /// The address the live console listens on (its port, when `Builder::console` was given
    /// port 0); `None` without a console. See [`Handle::console_addr`].
    #[cfg(feature = "console")]
    pub fn console_addr(&self) -> Option<std::net::SocketAddr> {
        self.handle.console_addr()
    }

    /// A handle to this runtime, to spawn onto it from other threads or to read its metrics.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns a task onto this runtime; see [`Handle::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_inner(future, None, Location::caller())
    }

    /// Enters the runtime's context on this thread, so `tether::spawn`, timers and sockets can be
    /// created outside `block_on`; see [`Handle::enter`].
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }
}

impl Runtime {
    /// Shuts the runtime down, waiting at most `timeout` in all for the worker threads (of a
    /// multi-thread runtime) and the blocking jobs that are still running. Every task is
    /// cancelled, as when dropping the runtime.
    ///
    /// Neither a blocking job nor a task inside a poll can be interrupted. Blocking jobs still
    /// running after the timeout are left to finish on their own threads, and reported as
    /// [`DiagnosticKind::BlockingJobsLeftAtShutdown`] with their names and spawn locations
    /// (unless the failure policy is `Ignore`). A worker still inside
    /// a poll (a task stuck in a blocking call) is left behind: its thread is detached, and the
    /// task it polls is reported through [`Builder::on_diagnostic`] as
    /// [`DiagnosticKind::BlocksShutdown`] with its name and spawn location (when diagnostics are
    /// on). The tasks waiting in
    /// that worker's run queue are cancelled with the others; when the stuck poll returns, the
    /// worker drops that task and the one it may hold in its LIFO slot, and exits. Until then it
    /// keeps the runtime's shared state (reactor, timers, registry) alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
    /// rt.shutdown_timeout(Duration::from_millis(1)); // returns without waiting the 50 ms out
    /// ```
    ///
    /// [`DiagnosticKind::BlocksShutdown`]: crate::diag::DiagnosticKind::BlocksShutdown
    /// [`DiagnosticKind::BlockingJobsLeftAtShutdown`]: crate::diag::DiagnosticKind::BlockingJobsLeftAtShutdown
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) {
        shutdown(&self.handle.shared, Some(timeout));
        self.shut_down = true;
    }

    /// Shuts the runtime down gracefully: signals every task to stop (they observe it with
    /// [`task::cancelled`](crate::task::cancelled)), lets them run for up to `grace` to finish
    /// cleanly, then cancels and drops whatever is left. Returns the tasks that were cut off
    /// (name, spawn location, age), so the caller can report them.
    ///
    /// # Panics
    ///
    /// Panics when called from inside a runtime, like [`block_on`](Runtime::block_on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.spawn(async {
    ///     tether::task::cancelled().await; // closes its connection cleanly, then returns
    /// });
    /// rt.spawn(std::future::pending::<()>()); // ignores the signal
    /// let cut_off = rt.shutdown_graceful(Duration::from_millis(50));
    /// assert_eq!(cut_off.len(), 1);
    /// ```
    pub fn shutdown_graceful(self, grace: std::time::Duration) -> Vec<crate::diag::TaskInfo> {
        let rt = self.handle.shared.clone();
        rt.root_token.cancel();
        self.block_on(async {
            let all_done = std::future::poll_fn(|cx| rt.registry.poll_empty(cx));
            let _ = crate::time::timeout(grace, all_done).await;
        });
        let cut_off = rt.task_snapshot();
        drop(self);
        cut_off
    }

    /// Shuts the runtime down without waiting for running blocking jobs or for worker threads
    /// still inside a poll: `shutdown_timeout` with a timeout of zero. Workers that have not
    /// left their run loops yet are left behind and exit on their own; blocking jobs still
    /// running are reported, as by [`shutdown_timeout`](Runtime::shutdown_timeout).
    pub fn shutdown_background(self) {
        self.shutdown_timeout(std::time::Duration::ZERO);
    }

    /// Runs the blocking closure `f` on the runtime's blocking pool; see
    /// [`task::spawn_blocking`](crate::task::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking_inner(f, Location::caller())
    }
}

/// Shuts a runtime down, whatever its flavor, within `timeout` (or as long as it takes; see the
/// module docs). Root tasks still running are reported first (unless the failure policy is
/// `Ignore`), as [`DiagnosticKind::TasksLeftAtShutdown`]: a task spawned to finish work in the
/// background (a write, a store) that would otherwise vanish with the runtime is named, not
/// silently dropped. Blocking jobs still running when the wait for them timed out are reported
/// after the scheduler's shutdown, as [`DiagnosticKind::BlockingJobsLeftAtShutdown`]. Last, the
/// reporting path prints its counts of suppressed reports.
///
/// [`DiagnosticKind::TasksLeftAtShutdown`]: crate::diag::DiagnosticKind::TasksLeftAtShutdown
/// [`DiagnosticKind::BlockingJobsLeftAtShutdown`]: crate::diag::DiagnosticKind::BlockingJobsLeftAtShutdown
fn shutdown(rt: &Arc<RuntimeShared>, timeout: Option<std::time::Duration>) {
    // The console first: it reads the runtime, which is about to go.
    #[cfg(feature = "console")]
    if let Some(console) = rt.console.get() {
        console.stop();
    }
    if rt.policy != UnhandledFailurePolicy::Ignore {
        let running: Vec<_> = rt
            .task_snapshot()
            .into_iter()
            .filter(|t| t.is_root())
            .collect();
        if !running.is_empty() {
            use crate::diag::{Diagnostic, DiagnosticKind, TaskRef};
            rt.report(&Diagnostic {
                tasks: running,
                ..Diagnostic::new(DiagnosticKind::TasksLeftAtShutdown, TaskRef::default())
            });
        }
    }
    let blocking_ended = match rt.sched {
        Scheduler::CurrentThread(_) => current_thread::shutdown(rt, timeout),
        Scheduler::MultiThread(_) => multi_thread::shutdown(rt, timeout),
    };
    if !blocking_ended && rt.policy != UnhandledFailurePolicy::Ignore {
        // The queued jobs were cancelled; the ones still in the registry are running.
        let running: Vec<_> = rt
            .task_snapshot()
            .into_iter()
            .filter(|t| t.is_blocking())
            .collect();
        if !running.is_empty() {
            use crate::diag::{Diagnostic, DiagnosticKind, TaskRef};
            rt.report(&Diagnostic {
                tasks: running,
                ..Diagnostic::new(
                    DiagnosticKind::BlockingJobsLeftAtShutdown,
                    TaskRef::default(),
                )
            });
        }
    }
    watchdog::stop(&rt.diag);
    rt.reporter.flush(None);
}

/// Shuts the runtime down: cancels every task and drops its future, then waits for the worker
/// threads and the blocking jobs still running, as long as they take. A worker kept from
/// stopping by a task stuck in a poll is reported after the watchdog limit (see the module
/// docs); use [`Runtime::shutdown_timeout`] to bound the wait.
impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            shutdown(&self.handle.shared, None);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.handle.shared.id)
            .field(
                "flavor",
                &match self.handle.shared.sched {
                    Scheduler::CurrentThread(_) => "current_thread",
                    Scheduler::MultiThread(_) => "multi_thread",
                },
            )
            .finish()
    }
}
