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
pub(crate) mod failure;
mod handle;
mod metrics;

pub use builder::Builder;
pub use failure::UnhandledFailure;
pub use handle::{EnterGuard, Handle, TryCurrentError};
pub use metrics::RuntimeMetrics;

pub(crate) use metrics::Counters;

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;

use crate::io::driver::IoHandle;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Arc;
use crate::sched::{current_thread, multi_thread, Scheduler};
use crate::task::registry::Registry;
use crate::task::JoinHandle;
use crate::time::driver::TimeHandle;
use builder::Flavor;

/// Everything of a runtime that tasks, handles and resources share.
pub(crate) struct Shared {
    /// Unique per runtime in this process; used in misuse messages.
    pub(crate) id: u64,
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
    /// Where unobserved task failures go (`None`: stderr).
    pub(crate) on_unhandled: Option<failure::FailureHook>,
    /// The root scope's cancellation token: what `task::cancelled()` waits on in tasks spawned
    /// with `tether::spawn`; cancelled by a graceful shutdown.
    pub(crate) root_token: crate::scope::CancelToken,
}

impl Shared {
    /// Hands a failure nobody observed to the failure policy.
    pub(crate) fn report_unhandled(&self, failure: &UnhandledFailure<'_>) {
        failure::report(self.on_unhandled.as_ref(), failure);
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
    fn new(builder: &Builder) -> io::Result<Runtime> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let (io_handle, io_driver) = crate::io::driver::new()?;
        let time = TimeHandle::new(builder.start_paused);
        let sched = match builder.flavor {
            Flavor::CurrentThread => Scheduler::CurrentThread(current_thread::Shared::new(
                io_driver,
                builder.event_interval,
            )),
            Flavor::MultiThread => {
                let workers = builder
                    .worker_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                Scheduler::MultiThread(multi_thread::Shared::new(
                    io_driver,
                    workers,
                    builder.event_interval,
                    builder.thread_name.clone(),
                    builder.hooks.clone(),
                ))
            }
        };
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sched,
            io: io_handle,
            time,
            registry: Registry::new(),
            metrics: Counters::default(),
            blocking: blocking::BlockingPool::new(
                builder.max_blocking_threads,
                builder.keep_alive,
                format!("{}-blocking", builder.thread_name),
                builder.hooks.clone(),
            ),
            on_unhandled: builder.on_unhandled.clone(),
            root_token: crate::scope::CancelToken::new(),
        });
        let rt = Runtime {
            handle: Handle { shared },
            shut_down: false,
        };
        if builder.flavor == Flavor::MultiThread {
            // On failure, dropping `rt` shuts down the workers already started.
            multi_thread::start(&rt.handle.shared)?;
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
        if context::driving_runtime().is_some() {
            panic!(
                "Runtime::block_on was called at {} from inside a tether runtime, which would \
                 block every task of the running runtime. Use `.await` on the future instead, \
                 or tether::spawn it and await the JoinHandle.",
                Location::caller()
            );
        }
        let _enter = context::enter(self.handle.clone());
        match self.handle.shared.sched {
            Scheduler::CurrentThread(_) => current_thread::block_on(&self.handle.shared, future),
            Scheduler::MultiThread(_) => multi_thread::block_on(&self.handle.shared, future),
        }
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
    /// Shuts the runtime down, waiting at most `timeout` for blocking jobs that are still
    /// running (they cannot be interrupted; those still running afterwards are left to finish on
    /// their own threads). Every task is cancelled first, as when dropping the runtime.
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
    pub fn shutdown_timeout(mut self, timeout: std::time::Duration) {
        shutdown(&self.handle.shared, Some(timeout));
        self.shut_down = true;
    }

    /// Shuts the runtime down without waiting for running blocking jobs.
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

/// Shuts a runtime down, whatever its flavor.
fn shutdown(rt: &Arc<Shared>, blocking_timeout: Option<std::time::Duration>) {
    match rt.sched {
        Scheduler::CurrentThread(_) => current_thread::shutdown(rt, blocking_timeout),
        Scheduler::MultiThread(_) => multi_thread::shutdown(rt, blocking_timeout),
    }
}

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
