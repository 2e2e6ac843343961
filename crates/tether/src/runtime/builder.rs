//! `Builder`: configure and create a runtime.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{Runtime, RuntimeShared};
use crate::diag::{Diagnostic, UnhandledFailure};

/// Which scheduler a runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Which I/O driver (reactor) a runtime uses; see [`Builder::io_driver`].
///
/// tokio has one driver per platform and no such choice; tether adds it for io_uring, which
/// Linux kernels may lack or block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoDriver {
    /// Readiness through epoll (through mio; kqueue or IOCP on other systems). The default.
    Epoll,
    /// io_uring (Linux 5.13 or later): `build` fails, saying why, if the kernel lacks it, is too
    /// old for the operations the driver uses, or a seccomp profile blocks it.
    IoUring,
    /// io_uring where the probe finds it usable, epoll otherwise. The reason of a fallback is in
    /// [`RuntimeMetrics::io_driver_fallback`](crate::diag::RuntimeMetrics::io_driver_fallback).
    Auto,
}

impl IoDriver {
    /// The driver's name as `TETHER_IO_DRIVER` spells it: `"epoll"`, `"io_uring"` or `"auto"`.
    pub fn name(self) -> &'static str {
        match self {
            IoDriver::Epoll => "epoll",
            IoDriver::IoUring => "io_uring",
            IoDriver::Auto => "auto",
        }
    }
}

impl fmt::Display for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Callbacks run on every thread the runtime starts (workers and blocking threads).
#[derive(Clone, Default)]
pub(crate) struct ThreadHooks {
    pub(crate) on_start: Option<Arc<dyn Fn() + Send + Sync>>,
    pub(crate) on_stop: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Callbacks a thread that runs the scheduler's loop (a worker, a `block_in_place` helper
/// driving a worker, the thread inside a current-thread `block_on`) runs around each park
/// ([`Builder::on_thread_park`], [`Builder::on_thread_unpark`]).
///
/// Each scheduler calls [`before_park`](ParkHooks::before_park) when it has found nothing to
/// run and is about to wait, and [`after_unpark`](ParkHooks::after_unpark) once for every
/// `before_park` (unless a panic unwinds the park), also when the park hook gave it work and it
/// did not wait. Unset, each costs the check of an `Option` on the park path.
#[derive(Clone, Default)]
pub(crate) struct ParkHooks {
    pub(crate) before_park: Option<Arc<dyn Fn() + Send + Sync>>,
    pub(crate) after_unpark: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl ParkHooks {
    /// Runs the park hook, if one is set; returns whether it ran (the caller then looks for the
    /// work it may have made before waiting).
    #[inline]
    pub(crate) fn before_park(&self, rt: &RuntimeShared) -> bool {
        match &self.before_park {
            Some(f) => {
                run_park_hook(rt, &**f);
                true
            }
            None => false,
        }
    }

    /// Runs the unpark hook, if one is set.
    #[inline]
    pub(crate) fn after_unpark(&self, rt: &RuntimeShared) {
        if let Some(f) = &self.after_unpark {
            run_park_hook(rt, &**f);
        }
    }
}

/// Runs a park or unpark hook on the scheduler's thread, inside the runtime's context (the
/// thread is in it already); a panic in it is reported to the failure policy, as one in a
/// thread's start hook is, and the scheduler goes on.
#[cold]
#[inline(never)]
fn run_park_hook(rt: &RuntimeShared, f: &(dyn Fn() + Send + Sync)) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let thread = std::thread::current();
        crate::task::contain(|| {
            rt.report_unhandled(&UnhandledFailure::worker(
                thread.name().unwrap_or("(unnamed)"),
                crate::task::panic_message(payload.as_ref()),
            ))
        });
        crate::task::contain(move || drop(payload));
    }
}

/// What [`Builder::thread_name_fn`] takes.
type ThreadNameFn = Arc<dyn Fn() -> String + Send + Sync>;

/// How the runtime starts the threads that run tasks, blocking jobs and thread hooks (worker
/// threads, blocking threads, `block_in_place` helpers): their names and stack size
/// ([`Builder::thread_name`], [`Builder::thread_name_fn`], [`Builder::thread_stack_size`]).
/// The watchdog's and the console's threads take only the name prefix.
#[derive(Clone)]
pub(crate) struct ThreadSpawn {
    /// The prefix of the threads' default names (`Builder::thread_name`).
    pub(crate) prefix: String,
    /// Names each thread instead of the default, when set (`Builder::thread_name_fn`).
    name_fn: Option<ThreadNameFn>,
    /// The stack size in bytes; std's default (2 MiB, or `RUST_MIN_STACK`) when `None`.
    stack_size: Option<usize>,
}

/// A thread about to be started: its `std::thread::Builder`, and what went wrong naming it.
#[must_use = "a panic of thread_name_fn must be reported"]
pub(crate) struct NewThread {
    pub(crate) builder: std::thread::Builder,
    /// The report of a `thread_name_fn` that panicked (the thread then has its default name),
    /// for the caller to hand to the failure policy once it holds no lock.
    pub(crate) name_panic: Option<String>,
}

impl ThreadSpawn {
    /// Threads named `PREFIX-role`, with std's default stack size.
    pub(crate) fn new(prefix: String) -> ThreadSpawn {
        ThreadSpawn {
            prefix,
            name_fn: None,
            stack_size: None,
        }
    }

    /// A thread whose default name is `PREFIX-role` (`role` is `worker-3`, `blocking-0`,
    /// `helper`): named by `thread_name_fn` if set, with the configured stack size. A panic in
    /// `thread_name_fn` is caught, so that no pool is left counting a thread it never started;
    /// the thread then gets its default name.
    pub(crate) fn thread(&self, role: &str) -> NewThread {
        let default = || format!("{}-{role}", self.prefix);
        let (name, name_panic) = match &self.name_fn {
            None => (default(), None),
            Some(f) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f())) {
                Ok(name) => (name, None),
                Err(payload) => {
                    let msg = crate::task::panic_message(payload.as_ref())
                        .unwrap_or("(no message)")
                        .to_string();
                    crate::task::contain(move || drop(payload));
                    let name = default();
                    let report = format!(
                        "Builder::thread_name_fn panicked ({msg}); the thread was named {name} \
                         instead"
                    );
                    (name, Some(report))
                }
            },
        };
        let mut builder = std::thread::Builder::new().name(name);
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        NewThread {
            builder,
            name_panic,
        }
    }

    /// Hands the report of a `thread_name_fn` that panicked to `rt`'s failure policy, as a
    /// panic caught on this thread.
    #[cold]
    pub(crate) fn report_name_panic(rt: &RuntimeShared, report: &str) {
        let thread = std::thread::current();
        crate::task::contain(|| {
            rt.report_unhandled(&UnhandledFailure::worker(
                thread.name().unwrap_or("(unnamed)"),
                Some(report),
            ))
        });
    }
}

/// Configures and builds a [`Runtime`].
///
/// Two flavors:
/// - [`new_current_thread`](Builder::new_current_thread): every task runs on the thread that
///   calls [`Runtime::block_on`]; no worker threads.
/// - [`new_multi_thread`](Builder::new_multi_thread): tasks run on a pool of worker threads
///   (one per core by default) that steal work from each other.
///
/// # Examples
///
/// ```
/// use tether::runtime::Builder;
///
/// let rt = Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-app")
///     .build()
///     .unwrap();
/// let n = rt.block_on(async { tether::spawn(async { 1 + 1 }).await.unwrap() });
/// assert_eq!(n, 2);
/// ```
#[derive(Clone)]
pub struct Builder {
    pub(crate) flavor: Flavor,
    pub(crate) start_paused: bool,
    pub(crate) event_interval: u32,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) max_blocking_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_spawn: ThreadSpawn,
    pub(crate) hooks: ThreadHooks,
    pub(crate) park_hooks: ParkHooks,
    pub(crate) on_unhandled: Option<crate::diag::FailureHook>,
    pub(crate) policy: super::UnhandledFailurePolicy,
    pub(crate) diagnostics: super::diagnostics::DiagConfig,
    pub(crate) on_diagnostic: Option<crate::diag::DiagnosticHook>,
    pub(crate) quiet: bool,
    pub(crate) io_driver: IoDriver,
    /// The simulation this runtime belongs to (set only by `tether::sim`).
    #[cfg(feature = "sim")]
    pub(crate) sim: Option<Arc<crate::sim::world::World>>,
    #[cfg(feature = "console")]
    pub(crate) console: Option<crate::console::ConsoleConfig>,
}

impl Builder {
    fn new(flavor: Flavor) -> Builder {
        Builder {
            flavor,
            start_paused: false,
            event_interval: 61,
            worker_threads: None,
            max_blocking_threads: 512,
            keep_alive: Duration::from_secs(10),
            thread_spawn: ThreadSpawn::new("tether".to_string()),
            hooks: ThreadHooks::default(),
            park_hooks: ParkHooks::default(),
            on_unhandled: None,
            policy: super::UnhandledFailurePolicy::Report,
            diagnostics: super::diagnostics::DiagConfig::default(),
            on_diagnostic: None,
            quiet: false,
            io_driver: IoDriver::Epoll,
            #[cfg(feature = "sim")]
            sim: None,
            #[cfg(feature = "console")]
            console: None,
        }
    }

    /// A builder for the current-thread flavor: all tasks run on the thread inside
    /// [`Runtime::block_on`].
    pub fn new_current_thread() -> Builder {
        Builder::new(Flavor::CurrentThread)
    }

    /// A builder for the multi-thread flavor: tasks run on worker threads (by default one per
    /// available core) with work stealing; `block_on` only drives the future it is given.
    pub fn new_multi_thread() -> Builder {
        Builder::new(Flavor::MultiThread)
    }

    /// The number of worker threads of a multi-thread runtime (default: the number of available
    /// cores). Ignored by the current-thread flavor.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    #[track_caller]
    pub fn worker_threads(&mut self, n: usize) -> &mut Builder {
        assert!(
            n > 0,
            "Builder::worker_threads must be at least 1 (default: the number of cores)"
        );
        self.worker_threads = Some(n);
        self
    }

    /// Starts the runtime with its clock paused (for tests): time stands still except through
    /// [`time::advance`](crate::time::advance), and when every task waits, the clock jumps to the
    /// next timer's deadline at once. See [`time::pause`](crate::time::pause). Only the
    /// current-thread flavor supports a paused clock: `build` fails on a multi-thread builder.
    pub fn start_paused(&mut self, paused: bool) -> &mut Builder {
        self.start_paused = paused;
        self
    }

    /// The I/O driver: [`IoDriver::Epoll`] (the default), [`IoDriver::IoUring`] or
    /// [`IoDriver::Auto`]. The environment variable `TETHER_IO_DRIVER` (`epoll`, `io_uring` or
    /// `auto`), when set, overrides this choice, so that an operator or a benchmark can switch
    /// drivers without a rebuild.
    ///
    /// Both drivers serve the same programs: every socket, pipe, signal and timer works the same
    /// on either. On io_uring, readiness arrives through multishot polls on one ring per runtime
    /// and a scheduler turn submits its registrations in one `io_uring_enter`. Which driver runs
    /// shows in [`RuntimeMetrics::io_driver`](crate::diag::RuntimeMetrics::io_driver) and in the
    /// task dump's first line.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::runtime::{Builder, IoDriver};
    ///
    /// let rt = Builder::new_current_thread()
    ///     .io_driver(IoDriver::Auto)
    ///     .build()
    ///     .unwrap();
    /// let m = rt.handle().metrics();
    /// // io_uring, or epoll with the reason io_uring was refused.
    /// assert!(m.io_driver() == IoDriver::IoUring || m.io_driver_fallback().is_some()
    ///     || std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll"));
    /// ```
    pub fn io_driver(&mut self, driver: IoDriver) -> &mut Builder {
        self.io_driver = driver;
        self
    }

    /// How many tasks a scheduler thread runs before it checks the reactor for I/O and timers
    /// even when tasks are still ready (default 61). Lower is fairer to I/O, higher has less
    /// overhead.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    #[track_caller]
    pub fn event_interval(&mut self, n: u32) -> &mut Builder {
        assert!(
            n > 0,
            "Builder::event_interval must be at least 1 (default 61)"
        );
        self.event_interval = n;
        self
    }

    /// The most threads the blocking pool may run at once (default 512). Jobs beyond that wait
    /// in a queue for a free thread.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        assert!(
            n > 0,
            "Builder::max_blocking_threads must be at least 1 (default 512)"
        );
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for a new job before it exits (default 10 s).
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.keep_alive = d;
        self
    }

    /// The name prefix of the runtime's threads (default `tether`): workers are named
    /// `NAME-worker-N`, blocking threads `NAME-blocking-N`, `block_in_place` helpers
    /// `NAME-helper`, the watchdog `NAME-watchdog`.
    ///
    /// tokio gives every thread the name itself (`tokio-runtime-worker` by default); the
    /// prefix form tells the threads apart in a debugger or `top -H`. As in tokio, this replaces
    /// a [`thread_name_fn`](Builder::thread_name_fn) set before it.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        self.thread_spawn.prefix = name.into();
        self.thread_spawn.name_fn = None;
        self
    }

    /// Names the runtime's threads by calling `f` for each new one: the worker threads, the
    /// blocking threads and the `block_in_place` helpers (tokio's `thread_name_fn`). `f` runs on
    /// the thread that starts the new one (the one calling `build`, or the one whose
    /// `spawn_blocking` needs a new thread). It replaces the names
    /// [`thread_name`](Builder::thread_name) gives these threads, and is replaced by a later
    /// `thread_name` call; the watchdog thread keeps the `thread_name` prefix (default
    /// `tether-watchdog`).
    ///
    /// If `f` panics, the thread gets its default name and the panic is reported to the
    /// failure policy ([`on_unhandled_failure`](Builder::on_unhandled_failure)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let rt = tether::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .thread_name_fn(|| {
    ///         static NEXT: AtomicUsize = AtomicUsize::new(0);
    ///         format!("my-pool-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// let (worker, blocking) = rt.block_on(async {
    ///     let name = || std::thread::current().name().unwrap().to_string();
    ///     let worker = tether::spawn(async move { name() }).await.unwrap();
    ///     let blocking = tether::task::spawn_blocking(name).await.unwrap();
    ///     (worker, blocking)
    /// });
    /// assert_eq!(worker, "my-pool-0");
    /// assert_eq!(blocking, "my-pool-1");
    /// ```
    pub fn thread_name_fn<F>(&mut self, f: F) -> &mut Builder
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.thread_spawn.name_fn = Some(Arc::new(f));
        self
    }

    /// The stack size, in bytes, of the threads the runtime starts to run tasks and blocking
    /// jobs: its worker threads, its blocking threads and its `block_in_place` helpers (as in
    /// tokio, where the blocking pool's threads get it too). The default is std's for a new
    /// thread: 2 MiB, or what the `RUST_MIN_STACK` environment variable says. The platform may
    /// round the size up to its minimum or to whole pages.
    ///
    /// A current-thread runtime runs its tasks on the thread that calls `block_on`, whose stack
    /// this does not change; its blocking threads get the size. The watchdog thread, which
    /// runs only the runtime's own code and the [`on_diagnostic`](Builder::on_diagnostic) hook,
    /// keeps the default.
    ///
    /// # Panics
    ///
    /// Panics if `size` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// /// Needs about 4 MiB of stack: more than a default thread has.
    /// #[inline(never)]
    /// fn deep() -> u8 {
    ///     let buf = std::hint::black_box([1u8; 4 << 20]);
    ///     buf[buf.len() - 1]
    /// }
    ///
    /// let rt = tether::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .thread_stack_size(16 << 20)
    ///     .build()
    ///     .unwrap();
    /// let (on_worker, on_blocking) = rt.block_on(async {
    ///     let on_worker = tether::spawn(async { deep() }).await.unwrap();
    ///     let on_blocking = tether::task::spawn_blocking(deep).await.unwrap();
    ///     (on_worker, on_blocking)
    /// });
    /// assert_eq!((on_worker, on_blocking), (1, 1));
    /// ```
    #[track_caller]
    pub fn thread_stack_size(&mut self, size: usize) -> &mut Builder {
        assert!(
            size > 0,
            "Builder::thread_stack_size must be above zero (it is in bytes; leave it unset for \
             std's default, 2 MiB)"
        );
        self.thread_spawn.stack_size = Some(size);
        self
    }

    /// Runs `f` at the start of every thread the runtime starts (workers and blocking threads),
    /// on that thread, inside the runtime's context (`Handle::current()` works there). A panic
    /// in `f` is reported to the failure policy ([`on_unhandled_failure`](Builder::on_unhandled_failure))
    /// and the thread goes on.
    pub fn on_thread_start<F: Fn() + Send + Sync + 'static>(&mut self, f: F) -> &mut Builder {
        self.hooks.on_start = Some(Arc::new(f));
        self
    }

    /// Runs `f` at the end of every thread the runtime starts, on that thread, inside the
    /// runtime's context. A panic in `f` is reported as one in `on_thread_start` is.
    pub fn on_thread_stop<F: Fn() + Send + Sync + 'static>(&mut self, f: F) -> &mut Builder {
        self.hooks.on_stop = Some(Arc::new(f));
        self
    }

    /// Runs `f` each time a thread that runs tasks is about to park, having found nothing to
    /// run (it then waits for I/O, a timer or a wake-up): a worker thread of a multi-thread
    /// runtime (or the `block_in_place` helper driving one), the thread inside a
    /// current-thread runtime's `block_on`. As tokio's `on_thread_park`.
    ///
    /// `f` runs on that thread, inside the runtime's context: it may spawn tasks, and a task it
    /// spawns or wakes there runs at once instead of the park (the thread does not wait).
    /// Blocking threads do not call it. A panic in `f` is reported as one in
    /// [`on_thread_start`](Builder::on_thread_start) is, and the thread goes on. A second call
    /// replaces the first `f`. Unset, it costs nothing but a check.
    ///
    /// # Examples
    ///
    /// Start background work only once the runtime is idle (tokio's example):
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use tether::sync::Barrier;
    ///
    /// let once = AtomicBool::new(true);
    /// let barrier = Arc::new(Barrier::new(2));
    /// let b = barrier.clone();
    /// let rt = tether::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .on_thread_park(move || {
    ///         if once.swap(false, Ordering::Relaxed) {
    ///             let b = b.clone();
    ///             tether::spawn(async move {
    ///                 b.wait().await;
    ///             });
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// // Completes only because the worker, finding nothing to do, spawned the second waiter.
    /// rt.block_on(async {
    ///     barrier.wait().await;
    /// });
    /// ```
    pub fn on_thread_park<F: Fn() + Send + Sync + 'static>(&mut self, f: F) -> &mut Builder {
        self.park_hooks.before_park = Some(Arc::new(f));
        self
    }

    /// Runs `f` each time a thread that ran the park hook goes back to running tasks: right
    /// after it wakes from a park (see [`on_thread_park`](Builder::on_thread_park) for which
    /// threads), or right after the park hook when that hook gave it work and it did not wait.
    /// So every call of the park hook is followed by one of this hook, on the same thread. As
    /// tokio's `on_thread_unpark`, for bookkeeping: it runs on the path from idle to work, so
    /// what it does adds to the latency of the task that woke the thread.
    ///
    /// `f` runs inside the runtime's context; a panic in it is reported as one in
    /// [`on_thread_start`](Builder::on_thread_start) is. A second call replaces the first `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let parks = Arc::new(AtomicUsize::new(0));
    /// let unparks = Arc::new(AtomicUsize::new(0));
    /// let (p, u) = (parks.clone(), unparks.clone());
    /// let rt = tether::runtime::Builder::new_current_thread()
    ///     .on_thread_park(move || {
    ///         p.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .on_thread_unpark(move || {
    ///         u.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// // Nothing to run until the timer fires: the thread parks.
    /// rt.block_on(async { tether::time::sleep(Duration::from_millis(5)).await });
    /// assert!(parks.load(Ordering::SeqCst) >= 1);
    /// assert_eq!(parks.load(Ordering::SeqCst), unparks.load(Ordering::SeqCst));
    /// ```
    pub fn on_thread_unpark<F: Fn() + Send + Sync + 'static>(&mut self, f: F) -> &mut Builder {
        self.park_hooks.after_unpark = Some(Arc::new(f));
        self
    }

    /// Sets what happens to a task failure nobody observes: a task that panicked while its
    /// `JoinHandle` was dropped (or that is dropped later without being awaited), or a task whose
    /// output nobody took and whose output's destructor panicked when the runtime dropped it
    /// ([`UnhandledFailure::is_output_drop`]). By default the failure is reported with the task's
    /// id, name, spawn location and panic message as a `tracing` event (with the `tracing`
    /// feature and a subscriber) or on stderr, at most ten a second (see [`crate::diag`]); `f`
    /// replaces the stderr line (log it, count it, or abort). Each failure reaches `f` exactly
    /// once, on the thread that drops the failure, without rate limiting.
    ///
    /// Failures come only here, never to [`on_diagnostic`](Builder::on_diagnostic): a hook set
    /// to silence slow-poll reports cannot swallow them, and `f` sees the failure itself (the
    /// error a scope dropped, for one).
    ///
    /// `f` also receives the panics a worker thread catches in the runtime's own code (a waker
    /// that panicked when the reactor or a timer woke it, a panicking thread hook), on that worker;
    /// [`UnhandledFailure::thread`] names the worker.
    ///
    /// And the failures a scope recorded but could not deliver (a panic after its first, the
    /// errors of a scope that ended with a panic, what a scope whose future was dropped held; see
    /// [`UnhandledFailure::is_undelivered_scope_failure`]), on the thread where the scope gave
    /// them up.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let s = seen.clone();
    /// let rt = tether::runtime::Builder::new_current_thread()
    ///     .on_unhandled_failure(move |failure| {
    ///         assert_eq!(failure.name(), Some("store"));
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     // Fire and forget: the handle is dropped at once.
    ///     drop(tether::task::Builder::new().name("store").spawn(async { panic!("disk full") }));
    ///     tether::task::yield_now().await;
    /// });
    /// assert_eq!(seen.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_unhandled_failure<F>(&mut self, f: F) -> &mut Builder
    where
        F: Fn(&UnhandledFailure<'_>) + Send + Sync + 'static,
    {
        self.on_unhandled = Some(Arc::new(f));
        self
    }

    /// What happens to a failure nobody observed (see
    /// [`on_unhandled_failure`](Builder::on_unhandled_failure)): report it and go on (the default),
    /// ignore it, or report it and shut the runtime down
    /// ([`UnhandledFailurePolicy`](super::UnhandledFailurePolicy)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::runtime::{Builder, UnhandledFailurePolicy};
    ///
    /// let rt = Builder::new_current_thread()
    ///     .unhandled_failure(UnhandledFailurePolicy::ShutdownRuntime)
    ///     .build()
    ///     .unwrap();
    /// let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     rt.block_on(async {
    ///         drop(tether::spawn(async { panic!("fatal") }));
    ///         std::future::pending::<()>().await
    ///     })
    /// }));
    /// assert!(res.is_err(), "block_on panics once the policy shut the runtime down");
    /// ```
    pub fn unhandled_failure(&mut self, policy: super::UnhandledFailurePolicy) -> &mut Builder {
        self.policy = policy;
        self
    }

    /// A poll that takes longer than `d` is reported as slow (default 10 ms, in debug and release
    /// builds alike: the detection costs under 5% of a task switch, see BENCHMARKS.md).
    ///
    /// A slow poll blocks its worker: no other task on it runs meanwhile. The report (to
    /// [`on_diagnostic`](Builder::on_diagnostic), `tracing` with the `tracing` feature, or
    /// stderr; see [`crate::diag`]) names the task, where it was spawned, the worker, the
    /// duration and how many tasks the poll spawned.
    /// Durations are measured by the watchdog thread, which looks at the workers once per the
    /// smaller of this threshold and the [watchdog limit](Builder::watchdog_limit) while the
    /// runtime is busy: a poll longer than that period plus the threshold (20 ms by default) is
    /// always reported, a shorter one above the threshold may be; time the worker thread spent
    /// waiting for a CPU (an overloaded machine) does not count.
    ///
    /// # Panics
    ///
    /// Panics if `d` is zero; use [`diagnostics(false)`](Builder::diagnostics) to turn detection
    /// off.
    #[track_caller]
    pub fn slow_poll_threshold(&mut self, d: Duration) -> &mut Builder {
        assert!(
            !d.is_zero(),
            "Builder::slow_poll_threshold must be above zero (default 10 ms); use \
             Builder::diagnostics(false) to turn slow-poll detection off"
        );
        self.diagnostics.slow_poll = d;
        self
    }

    /// The watchdog reports a poll that has been running for longer than `d` while it is still
    /// running, and again each time its duration doubles (default 100 ms). This names a task
    /// stuck in a blocking call (`std::thread::sleep`, a blocking read, a long computation) before
    /// it finishes, if it ever does.
    ///
    /// # Panics
    ///
    /// Panics if `d` is zero; use [`diagnostics(false)`](Builder::diagnostics) to turn the
    /// watchdog off.
    #[track_caller]
    pub fn watchdog_limit(&mut self, d: Duration) -> &mut Builder {
        assert!(
            !d.is_zero(),
            "Builder::watchdog_limit must be above zero (default 100 ms); use \
             Builder::diagnostics(false) to turn the watchdog off"
        );
        self.diagnostics.watchdog = d;
        self
    }

    /// Turns slow-poll detection, the watchdog (and its thread) and per-task poll timing on or
    /// off (default on). Poll and wake counts are kept either way.
    ///
    /// With diagnostics on, the first runtime built in the process wraps the process's panic
    /// hook (it calls the hook unchanged), so that the time a panicking task spends in the hook
    /// is not reported as its slow poll; see [`Diagnostic::panicked`].
    pub fn diagnostics(&mut self, enabled: bool) -> &mut Builder {
        self.diagnostics.enabled = enabled;
        self
    }

    /// Sends the runtime's [`Diagnostic`]s to `f` instead of stderr: slow polls, workers still
    /// blocked, slow panic hooks, workers that keep a shutdown waiting, the tasks a shutdown
    /// cancelled ([`DiagnosticKind`](crate::diag::DiagnosticKind) lists them). `f` receives every
    /// report, without the rate limit that applies to stderr and `tracing`; `tracing` events
    /// are still emitted (with the `tracing` feature). Unhandled failures go to
    /// [`on_unhandled_failure`](Builder::on_unhandled_failure) instead.
    ///
    /// `f` runs on the worker that finished a slow poll, on the watchdog thread for a poll
    /// still running, or on the thread that shuts the runtime down; keep it short and
    /// non-blocking. A panic in `f` is caught, and the report then goes to stderr. The
    /// [`diag`](crate::diag) module shows the other ways to observe a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use tether::diag::DiagnosticKind;
    /// use tether::runtime::Builder;
    ///
    /// let reports = Arc::new(Mutex::new(Vec::new()));
    /// let r = reports.clone();
    /// let rt = Builder::new_current_thread()
    ///     .slow_poll_threshold(Duration::from_millis(20))
    ///     .on_diagnostic(move |d| r.lock().unwrap().push((d.kind(), d.task_name().map(String::from))))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let t = tether::task::Builder::new().name("hasher").spawn(async {
    ///         std::thread::sleep(Duration::from_millis(80)); // blocks the loop: reported
    ///     });
    ///     t.await.unwrap();
    /// });
    /// let reports = reports.lock().unwrap();
    /// assert!(reports.contains(&(DiagnosticKind::SlowPoll, Some("hasher".to_string()))));
    /// ```
    pub fn on_diagnostic<F>(&mut self, f: F) -> &mut Builder
    where
        F: Fn(&Diagnostic) + Send + Sync + 'static,
    {
        self.on_diagnostic = Some(Arc::new(f));
        self
    }

    /// Keeps the runtime from writing to stderr. The reports it makes on its own (see
    /// [`crate::diag`]: slow polls, stuck workers, unhandled failures, the tasks left at
    /// shutdown) still reach [`on_diagnostic`](Builder::on_diagnostic),
    /// [`on_unhandled_failure`](Builder::on_unhandled_failure) and `tracing` (with the `tracing`
    /// feature); they are no longer printed when none of those takes them. For a program that
    /// owns its stderr (a command whose output is parsed, a full-screen terminal program). tokio
    /// prints nothing on its own, so it has no such setting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let failures = Arc::new(AtomicUsize::new(0));
    /// let f = failures.clone();
    /// let rt = tether::runtime::Builder::new_current_thread()
    ///     .quiet()
    ///     .on_unhandled_failure(move |_| {
    ///         f.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     drop(tether::spawn(async { panic!("counted, not printed by the runtime") }));
    ///     tether::task::yield_now().await;
    /// });
    /// rt.spawn(std::future::pending::<()>()); // left at shutdown: not printed either
    /// drop(rt);
    /// assert_eq!(failures.load(Ordering::SeqCst), 1);
    /// ```
    pub fn quiet(&mut self) -> &mut Builder {
        self.quiet = true;
        self
    }

    /// Serves a live console for this runtime at `addr` (feature `console`): a web page that
    /// shows the task tree (root tasks, scopes, join sets, children, blocking jobs) with each
    /// task's state, age, polls and time in poll, the workers' utilisation, a timeline of slow
    /// polls and watchdog reports, and the runtime's metrics, updated several times a second;
    /// and the JSON API behind it (`/api/snapshot`, `/api/stream`, `/api/tasks/ID`; documented
    /// in the repository's `docs/console.md`).
    ///
    /// `build` binds the address (port 0 picks a free port; read the one chosen with
    /// [`Runtime::console_addr`](super::Runtime::console_addr)) and says where on stderr:
    /// `tether console: http://127.0.0.1:PORT/ (read-only, loopback)` (unless
    /// [`quiet`](Builder::quiet)). The console is read-only: no endpoint changes the program.
    /// It listens on loopback: a non-loopback address makes `build` fail unless
    /// [`console_allow_remote(true)`](Builder::console_allow_remote) is set, since anyone who
    /// can connect sees every task's name and spawn site.
    ///
    /// The server runs on a thread of its own with its own small runtime, so it answers while
    /// this runtime's workers are blocked, and none of its tasks shows in this runtime's tree.
    /// Unwatched it costs nothing but that idle thread; while a viewer streams, one poll in 256
    /// on each worker (and every slow one) is timed, parks are timed, and up to 20,000 tasks
    /// are copied four times a second (a few percent of CPU on the cheapest operations; the
    /// figures are in `docs/console.md`). Poll timing and worker utilisation need
    /// [`diagnostics`](Builder::diagnostics) on (the default).
    ///
    /// tokio's counterpart is the `console-subscriber` crate with `tokio_unstable`, and the
    /// separate `tokio-console` terminal program; here it is one call and a browser.
    ///
    /// # Errors
    ///
    /// `build` fails when `addr` does not resolve, is not loopback without
    /// `console_allow_remote(true)`, or cannot be bound (in use, not permitted).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_multi_thread()
    ///     .console("127.0.0.1:0") // prints: tether console: http://127.0.0.1:PORT/ (read-only, loopback)
    ///     .build()
    ///     .unwrap();
    /// let addr = rt.console_addr().unwrap();
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0);
    /// ```
    #[cfg(feature = "console")]
    pub fn console(&mut self, addr: impl std::net::ToSocketAddrs) -> &mut Builder {
        let resolved = match addr.to_socket_addrs() {
            Ok(mut addrs) => addrs
                .next()
                .ok_or_else(|| "it resolves to no address".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let allow_remote = self.console.as_ref().is_some_and(|c| c.allow_remote);
        self.console = Some(crate::console::ConsoleConfig {
            addr: Some(resolved),
            allow_remote,
        });
        self
    }

    /// Lets [`console`](Builder::console) listen on a non-loopback address (default: false,
    /// and `build` refuses one). Whoever can reach the address then sees every task's name,
    /// spawn site and state (never more: the console is read-only); put it behind something
    /// that authenticates, or keep it on loopback and reach it through an SSH tunnel. With
    /// this set, requests are also accepted whatever their `Host` header says (on loopback
    /// only loopback names are, against DNS rebinding).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = tether::runtime::Builder::new_current_thread()
    ///     .console("0.0.0.0:0")
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("console_allow_remote"));
    ///
    /// let rt = tether::runtime::Builder::new_current_thread()
    ///     .console("0.0.0.0:0")
    ///     .console_allow_remote(true)
    ///     .quiet()
    ///     .build()
    ///     .unwrap();
    /// assert!(rt.console_addr().unwrap().ip().is_unspecified());
    /// ```
    #[cfg(feature = "console")]
    pub fn console_allow_remote(&mut self, allow: bool) -> &mut Builder {
        match &mut self.console {
            Some(c) => c.allow_remote = allow,
            None => {
                self.console = Some(crate::console::ConsoleConfig {
                    addr: None,
                    allow_remote: allow,
                })
            }
        }
        self
    }

    /// Accepted for tokio compatibility; does nothing. A tether runtime always has its I/O
    /// reactor, its timers and its signal handling: there is nothing to enable, and `build`
    /// gives the same runtime with or without this call.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tether::runtime::Builder::new_multi_thread()
    ///     .enable_all() // as a tokio program has it; no effect
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { tether::time::sleep(std::time::Duration::from_millis(1)).await });
    /// ```
    pub fn enable_all(&mut self) -> &mut Builder {
        self
    }

    /// Accepted for tokio compatibility; does nothing: the I/O reactor is always there (see
    /// [`enable_all`](Builder::enable_all)).
    pub fn enable_io(&mut self) -> &mut Builder {
        self
    }

    /// Accepted for tokio compatibility; does nothing: the timers are always there (see
    /// [`enable_all`](Builder::enable_all)).
    pub fn enable_time(&mut self) -> &mut Builder {
        self
    }

    /// Creates the runtime (and, for the multi-thread flavor, starts its workers).
    ///
    /// # Errors
    ///
    /// Fails when the operating system refuses the reactor's resources (an epoll instance and an
    /// eventfd) or the worker threads, typically for lack of file descriptors or memory, and when
    /// a paused clock is asked of a multi-thread runtime.
    pub fn build(&mut self) -> io::Result<Runtime> {
        if self.start_paused && self.flavor == Flavor::MultiThread {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tether: a paused clock (start_paused) needs a current-thread runtime, whose \
                 scheduling is deterministic; use Builder::new_current_thread()",
            ));
        }
        Runtime::from_builder(self).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("tether: could not create the runtime: {e}"),
            )
        })
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Builder");
        d.field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("start_paused", &self.start_paused)
            .field("event_interval", &self.event_interval)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.keep_alive)
            .field("thread_name", &self.thread_spawn.prefix)
            .field("thread_name_fn", &self.thread_spawn.name_fn.is_some())
            .field("thread_stack_size", &self.thread_spawn.stack_size)
            .field("diagnostics", &self.diagnostics.enabled)
            .field("slow_poll_threshold", &self.diagnostics.slow_poll)
            .field("watchdog_limit", &self.diagnostics.watchdog)
            .field("quiet", &self.quiet)
            .field("io_driver", &self.io_driver);
        #[cfg(feature = "console")]
        d.field("console", &self.console);
        d.finish()
    }
}
