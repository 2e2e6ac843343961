//! The runtime: build one, run a future on it, reach it from anywhere.
//!
//! A [`Runtime`] owns a scheduler, an I/O reactor (over `mio`), a timer wheel and the registry of
//! its live tasks. [`Runtime::block_on`] drives it on the calling thread until the given future
//! completes. A [`Handle`] is a cheap, cloneable reference to a runtime that spawns onto it from
//! any thread.
//!
//! Today the runtime has one flavor, the current-thread scheduler: every task runs on the thread
//! that calls `block_on`. (The multi-thread, work-stealing flavor is on the way.)
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
mod builder;
pub(crate) mod context;
mod handle;
mod metrics;

pub use builder::Builder;
pub use handle::{EnterGuard, Handle, TryCurrentError};
pub use metrics::RuntimeMetrics;

pub(crate) use metrics::Counters;

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;

use crate::io::driver::IoHandle;
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::Arc;
use crate::sched::current_thread;
use crate::task::registry::Registry;
use crate::task::JoinHandle;
use crate::time::driver::TimeHandle;

/// Everything of a runtime that tasks, handles and resources share.
pub(crate) struct Shared {
    /// Unique per runtime in this process; used in misuse messages.
    pub(crate) id: u64,
    /// The scheduler's shared half (remote queue, parking flags, the core).
    pub(crate) sched: current_thread::Shared,
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
}

/// The tether runtime: a scheduler, an I/O reactor and timers, driven by [`block_on`].
///
/// Build one with [`Builder`] or use `#[tether::main]`. See the [module docs](self).
///
/// [`block_on`]: Runtime::block_on
pub struct Runtime {
    handle: Handle,
}

impl Runtime {
    fn new(builder: &Builder) -> io::Result<Runtime> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (io_handle, io_driver) = crate::io::driver::new()?;
        let time = TimeHandle::new(builder.start_paused);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sched: current_thread::Shared::new(io_driver, builder.event_interval),
            io: io_handle,
            time,
            registry: Registry::new(),
            metrics: Counters::default(),
            blocking: blocking::BlockingPool::new(
                builder.max_blocking_threads,
                builder.keep_alive,
                builder.blocking_thread_name.clone(),
            ),
        });
        Ok(Runtime {
            handle: Handle { shared },
        })
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
        if !context::local().is_null() {
            panic!(
                "Runtime::block_on was called at {} from inside a tether runtime, which would \
                 block every task of the running runtime. Use `.await` on the future instead, \
                 or tether::spawn it and await the JoinHandle.",
                Location::caller()
            );
        }
        let _enter = context::enter(self.handle.clone());
        current_thread::block_on(&self.handle.shared, future)
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
    pub fn shutdown_timeout(self, timeout: std::time::Duration) {
        current_thread::shutdown(&self.handle.shared, Some(timeout));
        std::mem::forget(self);
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

impl Drop for Runtime {
    fn drop(&mut self) {
        current_thread::shutdown(&self.handle.shared, None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.handle.shared.id)
            .field("flavor", &"current_thread")
            .finish()
    }
}
