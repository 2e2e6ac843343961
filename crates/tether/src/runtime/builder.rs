//! `Builder`: configure and create a runtime.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
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
    pub(crate) thread_name: String,
    pub(crate) hooks: ThreadHooks,
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
            thread_name: "tether".to_string(),
            hooks: ThreadHooks::default(),
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
    /// `NAME-worker-N`, blocking threads `NAME-blocking-N`.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        self.thread_name = name.into();
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
    /// Durations are measured by the watchdog thread, to a quarter of the smaller of this
    /// threshold and the [watchdog limit](Builder::watchdog_limit); time the worker thread spent
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
            .field("thread_name", &self.thread_name)
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
