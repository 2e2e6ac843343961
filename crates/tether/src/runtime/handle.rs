//! `Handle`: a cloneable reference to a runtime.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;

use super::{context, RuntimeShared};
use crate::diag::{Dump, Gauges, RuntimeMetrics, TaskInfo};
use crate::loom::sync::Arc;
use crate::task::{Group, JoinHandle};

/// A cheap, cloneable reference to a [`Runtime`](super::Runtime).
///
/// Use it to spawn tasks onto the runtime from any thread, to enter its context, and to read its
/// metrics and live tasks. A handle does not keep the runtime running: once the `Runtime` is
/// dropped, tasks spawned through a handle are cancelled at once.
///
/// # Examples
///
/// ```
/// use tether::runtime::Builder;
///
/// let rt = Builder::new_current_thread().build().unwrap();
/// let handle = rt.handle().clone();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { "hi" }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(from_thread).unwrap(), "hi");
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<RuntimeShared>,
}

/// The error of [`Handle::try_current`]: this thread is not inside a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no tether runtime on this thread: call from inside Runtime::block_on or a \
             task, or enter one with Handle::enter()",
        )
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime this thread is inside.
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, with a message that says how to get one. Use
    /// [`try_current`](Handle::try_current) to check instead.
    ///
    /// # Examples
    ///
    /// ```
    /// #[tether::main]
    /// async fn main() {
    ///     let handle = tether::runtime::Handle::current();
    ///     let t = handle.spawn(async { 1 });
    ///     assert_eq!(t.await.unwrap(), 1);
    /// }
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(e) => panic!("Handle::current() at {}: {e}", Location::caller()),
        }
    }

    /// The handle of the runtime this thread is inside, or an error outside any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::runtime::Handle::try_current().is_err());
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::current_handle().ok_or(TryCurrentError(()))
    }

    /// Spawns a task onto this runtime from any thread; see [`tether::spawn`](crate::spawn).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_inner(future, None, Location::caller())
    }

    pub(crate) fn spawn_inner<F>(
        &self,
        future: F,
        name: Option<std::sync::Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: `F` is `Send`, so the task may run and be dropped on any thread.
        unsafe { crate::task::spawn_raw(&self.shared, future, name, location, false, Group::Root) }
    }

    /// Runs the blocking closure `f` on this runtime's blocking pool; see
    /// [`task::spawn_blocking`](crate::task::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_blocking_inner(f, Location::caller())
    }

    pub(crate) fn spawn_blocking_inner<F, R>(
        &self,
        f: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let fut = crate::task::blocking::BlockingTask::new(f);
        let fut = super::blocking::CountedJob::new(&self.shared, fut);
        // SAFETY: the closure and its result are `Send`, so the task may run anywhere.
        unsafe { crate::task::spawn_raw(&self.shared, fut, None, location, true, Group::Root) }
    }

    /// Spawns a task of a `JoinSet`: it carries the set's token (which names the set in the
    /// task dump) and has the set entry's waker registered before it first runs; a job for the
    /// blocking pool when `blocking` (`future` is then a `BlockingTask`).
    pub(crate) fn spawn_in_join_set<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
        blocking: bool,
        token: crate::task::join_set::JoinSetToken<'_>,
        join_waker: &std::task::Waker,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let group = Group::JoinSet(token, join_waker);
        if blocking {
            let job = super::blocking::CountedJob::new(&self.shared, future);
            // SAFETY: `F` is `Send`, so the task may run and be dropped on any thread.
            unsafe { crate::task::spawn_raw(&self.shared, job, None, location, true, group) }
        } else {
            // SAFETY: as above.
            unsafe { crate::task::spawn_raw(&self.shared, future, None, location, false, group) }
        }
    }

    /// Runs `future` to completion on this thread, driving the runtime meanwhile, and returns its
    /// output: what [`Runtime::block_on`](super::Runtime::block_on) does, reached through a
    /// handle, so code that holds only a `Handle` (a library, a callback, a blocking thread) can
    /// wait for async work.
    ///
    /// As with tokio's `Handle::block_on`, call it from outside the runtime's tasks: from a plain
    /// thread, from a [`spawn_blocking`](crate::task::spawn_blocking) closure, or from inside
    /// [`block_in_place`](crate::task::block_in_place). On a current-thread runtime it drives the
    /// runtime itself when no other thread does (tokio's only polls the future then, so its
    /// timers and sockets stall); when another thread is inside `block_on`, it polls `future` on
    /// this thread while that thread runs the tasks. Once the runtime is dropped, the future is
    /// still polled here, but tasks it spawns are cancelled at once and the runtime's timers and
    /// sockets fail with an error.
    ///
    /// # Panics
    ///
    /// Panics when called from inside a runtime's task or `block_on` future (blocking there would
    /// stall the tasks of that thread): `.await` the future instead, or wrap the blocking section
    /// in [`block_in_place`](crate::task::block_in_place) on a multi-thread runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::runtime::Runtime;
    ///
    /// let rt = Runtime::new().unwrap();
    /// let handle = rt.handle().clone();
    /// let answer = std::thread::spawn(move || {
    ///     handle.block_on(async { tether::spawn(async { 6 * 7 }).await.unwrap() })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(answer, 42);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.block_on_at(future, "Handle::block_on", Location::caller())
    }

    /// `block_on` for [`Handle::block_on`] and `Runtime::block_on`, named `what` in the panic.
    pub(crate) fn block_on_at<F: Future>(
        &self,
        future: F,
        what: &str,
        location: &'static Location<'static>,
    ) -> F::Output {
        if context::driving_runtime().is_some() {
            panic!(
                "{what} was called at {location} from inside a tether runtime, which would \
                 block every task of the running runtime. Use `.await` on the future instead, \
                 or tether::spawn it and await the JoinHandle; to block on purpose on a \
                 multi-thread runtime's worker, wrap the call in tether::task::block_in_place."
            );
        }
        let _enter = context::enter(self.clone());
        match self.shared.sched {
            crate::sched::Scheduler::CurrentThread(_) => {
                crate::sched::current_thread::block_on(&self.shared, future, location)
            }
            crate::sched::Scheduler::MultiThread(_) => {
                crate::sched::multi_thread::block_on(&self.shared, future)
            }
        }
    }

    /// Makes this runtime the current one on this thread until the guard is dropped, so that
    /// `tether::spawn`, timers and sockets can be created outside `block_on`. Tasks still only
    /// run while some thread is inside `block_on`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
    /// let task = {
    ///     let _guard = rt.enter();
    ///     tether::spawn(async { 5 })
    /// };
    /// assert_eq!(rt.block_on(task).unwrap(), 5);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _inner: context::enter(self.clone()),
            _handle: PhantomData,
        }
    }

    /// A snapshot of the runtime's counters: cheap to read (a few atomic loads and two short
    /// lock acquisitions), fine to call every second from a metrics exporter.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// rt.block_on(async {
    ///     tether::spawn(async {}).await.unwrap();
    /// });
    /// let m = rt.handle().metrics();
    /// assert_eq!(m.workers(), 2);
    /// assert_eq!(m.worker_queue_depths().len(), 2);
    /// assert_eq!(m.spawned_tasks(), 1);
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let sh = &self.shared;
        let (worker_queues, injector) = match &sh.sched {
            crate::sched::Scheduler::CurrentThread(s) => {
                let (run_queue, remote) = s.queue_depths();
                (vec![run_queue], remote)
            }
            crate::sched::Scheduler::MultiThread(s) => s.queue_depths(),
        };
        let (blocking_threads, idle_blocking_threads) = sh.blocking.threads();
        RuntimeMetrics::new(
            sh.metrics.read(sh.registry.spawned()),
            Gauges {
                // Blocking jobs are tasks in the registry, but not in this count (tokio's
                // `num_alive_tasks` leaves them out too).
                live: sh.registry.len().saturating_sub(sh.blocking.live_jobs()),
                active_timers: sh.time.active_timers(),
                blocking_threads,
                idle_blocking_threads,
                worker_queues,
                injector,
                slow_polls: sh.diag.slow_polls(),
                stuck_reports: sh.diag.stuck_reports(),
                io_driver: sh.io.selected().driver,
                io_driver_fallback: sh.io.selected().fallback.clone(),
            },
        )
    }

    /// The live task tree of this runtime: root tasks, the scopes they run, the scopes'
    /// children, and blocking jobs, each with name, spawn location, state, age, polls and time in
    /// poll. Print it (`{}`) or walk [`Dump::tasks`]. Works from inside a
    /// task and from any other thread while the runtime runs; it takes the task registry's lock
    /// briefly and does not stop the workers. With
    /// [`Builder::diagnostics(false)`](super::Builder::diagnostics) a task being polled shows as
    /// scheduled or idle, and time in poll as zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = tether::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// let handle = rt.handle().clone();
    /// rt.block_on(async {
    ///     let worker = tether::task::Builder::new().name("worker").spawn(async {
    ///         tether::time::sleep(Duration::from_secs(60)).await;
    ///     });
    ///     tether::time::sleep(Duration::from_millis(10)).await;
    ///     // From another thread, as a signal handler or an admin endpoint would.
    ///     let dump = std::thread::spawn(move || handle.dump().to_string()).join().unwrap();
    ///     assert!(dump.contains("\"worker\" spawned at"), "{dump}");
    ///     assert!(dump.contains("idle"), "{dump}");
    ///     worker.abort();
    /// });
    /// ```
    pub fn dump(&self) -> Dump {
        self.dump_limited(usize::MAX).0
    }

    /// [`dump`](Handle::dump) of at most `limit` tasks (the first in registry order, and every
    /// one running now), and how many tasks are live in all: what the live console reads.
    pub(crate) fn dump_limited(&self, limit: usize) -> (Dump, usize) {
        let sh = &self.shared;
        let (flavor, workers) = match &sh.sched {
            crate::sched::Scheduler::CurrentThread(_) => ("current-thread", 1),
            crate::sched::Scheduler::MultiThread(_) => ("multi-thread", sh.diag.slots.len()),
        };
        let io_driver = sh.io.selected().driver.name();
        let (tasks, total) = sh.task_snapshot_limited(limit);
        (
            Dump::new(sh.id.as_u64(), flavor, workers, io_driver, tasks),
            total,
        )
    }

    /// The tasks alive on this runtime now, ordered by id: each with its id, name and spawn
    /// location.
    ///
    /// # Examples
    ///
    /// ```
    /// #[tether::main]
    /// async fn main() {
    ///     let t = tether::task::Builder::new()
    ///         .name("store")
    ///         .spawn(std::future::pending::<()>());
    ///     let live = tether::runtime::Handle::current().live_tasks();
    ///     assert!(live.iter().any(|info| info.name() == Some("store")));
    ///     t.abort();
    /// }
    /// ```
    pub fn live_tasks(&self) -> Vec<TaskInfo> {
        self.shared.task_snapshot()
    }

    /// The address the runtime's live console listens on (feature `console`), `None` when the
    /// runtime was built without [`Builder::console`](super::Builder::console).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_current_thread()
    ///     .console("127.0.0.1:0")
    ///     .quiet()
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let addr = tether::runtime::Handle::current().console_addr().unwrap();
    ///     println!("open http://{addr}/");
    /// });
    /// ```
    #[cfg(feature = "console")]
    pub fn console_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.console.get().map(|c| c.addr())
    }

    /// Whether two handles refer to the same runtime.
    pub fn ptr_eq(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("runtime_id", &self.shared.id)
            .finish()
    }
}

/// Keeps a runtime entered on this thread; see [`Handle::enter`]. Restores the previous runtime
/// (if any) when dropped.
#[must_use = "the runtime is only entered while the guard is alive"]
pub struct EnterGuard<'a> {
    _inner: context::SetCurrentGuard,
    _handle: PhantomData<&'a Handle>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterGuard")
    }
}
