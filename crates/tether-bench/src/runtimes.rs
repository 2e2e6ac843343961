//! The runtimes under test, and how each one is set up to run a benchmark's future.
//!
//! Each library (tether, tokio, smol) runs in two flavors: single-threaded, where every task runs
//! on the main thread inside `block_on`, and multi-threaded, where the main thread's `block_on`
//! drives only the benchmark's own future and [`WORKERS`] worker threads run the spawned tasks.
//! tether runs each flavor on both of its I/O drivers, each pinned with `Builder::io_driver`:
//! epoll (`tether`, `tether-mt`) and io_uring (`tether-uring`, `tether-uring-mt`).
//!
//! `TETHER_IO_DRIVER` overrides `Builder::io_driver` inside tether, so with it set every tether
//! column would run the same driver under different names: the harness refuses to run with it
//! set ([`refuse_io_driver_env`]), and [`tether()`] checks the driver it got.

use std::future::Future;
use std::sync::OnceLock;
use std::thread;

use tether::runtime::IoDriver;

/// The number of worker threads of every multi-thread runtime.
pub const WORKERS: usize = 2;

/// Where the spawned tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// On the main thread, inside `block_on`.
    Single,
    /// On [`WORKERS`] worker threads; the main thread's `block_on` drives only its own future.
    Multi,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::Single, Flavor::Multi];

    /// For the report's headings.
    pub fn title(self) -> &'static str {
        match self {
            Flavor::Single => "single-thread runtimes",
            Flavor::Multi => "multi-thread runtimes (2 worker threads each)",
        }
    }

    /// For `--list`.
    pub fn short(self) -> &'static str {
        match self {
            Flavor::Single => "single-thread",
            Flavor::Multi => "multi-thread",
        }
    }
}

/// The library a runtime comes from; each suite has one function per library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lib {
    Tether,
    Tokio,
    Smol,
    /// No runtime: plain `mio` on one thread, a reference for the I/O suites.
    Mio,
    /// No runtime: a hand-written io_uring loop on one thread (Linux), a reference for the I/O
    /// suites.
    Uring,
}

/// One runtime under test: a library in a flavor (and, for tether, on an I/O driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// tether's current-thread runtime on the epoll driver.
    Tether,
    /// tether's current-thread runtime on the io_uring driver.
    TetherUring,
    TokioCt,
    Smol,
    /// tether's multi-thread runtime on the epoll driver.
    TetherMt,
    /// tether's multi-thread runtime on the io_uring driver.
    TetherUringMt,
    TokioMt,
    SmolMt,
    /// Plain `mio`, one thread, no runtime: the reference column of the suites that have one.
    Mio,
    /// A hand-written io_uring loop, one thread, no runtime (Linux): the second reference
    /// column of the echo suites.
    Uring,
}

impl Runtime {
    /// Every runtime, in the order each round runs them (and the tables show them).
    pub const ALL: [Runtime; 10] = [
        Runtime::Tether,
        Runtime::TetherUring,
        Runtime::TokioCt,
        Runtime::Smol,
        Runtime::TetherMt,
        Runtime::TetherUringMt,
        Runtime::TokioMt,
        Runtime::SmolMt,
        Runtime::Mio,
        Runtime::Uring,
    ];

    /// The name used on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Tether => "tether",
            Runtime::TetherUring => "tether-uring",
            Runtime::TokioCt => "tokio-ct",
            Runtime::Smol => "smol",
            Runtime::TetherMt => "tether-mt",
            Runtime::TetherUringMt => "tether-uring-mt",
            Runtime::TokioMt => "tokio-mt",
            Runtime::SmolMt => "smol-mt",
            Runtime::Mio => "mio",
            Runtime::Uring => "uring",
        }
    }

    /// Whether the runtime is a reference with no runtime (`mio`, `uring`): shown beside both
    /// flavors, and not a peer in the ratios.
    pub fn is_reference(self) -> bool {
        matches!(self.lib(), Lib::Mio | Lib::Uring)
    }

    pub fn lib(self) -> Lib {
        match self {
            Runtime::Tether | Runtime::TetherUring | Runtime::TetherMt | Runtime::TetherUringMt => {
                Lib::Tether
            }
            Runtime::TokioCt | Runtime::TokioMt => Lib::Tokio,
            Runtime::Smol | Runtime::SmolMt => Lib::Smol,
            Runtime::Mio => Lib::Mio,
            Runtime::Uring => Lib::Uring,
        }
    }

    /// The flavor; `mio` counts as single-threaded (it is one thread), but the tables show it
    /// beside both flavors as a reference.
    pub fn flavor(self) -> Flavor {
        match self {
            Runtime::Tether
            | Runtime::TetherUring
            | Runtime::TokioCt
            | Runtime::Smol
            | Runtime::Mio
            | Runtime::Uring => Flavor::Single,
            Runtime::TetherMt | Runtime::TetherUringMt | Runtime::TokioMt | Runtime::SmolMt => {
                Flavor::Multi
            }
        }
    }

    /// The I/O driver a tether runtime is pinned to; `None` for the other libraries.
    pub fn io_driver(self) -> Option<IoDriver> {
        match self {
            Runtime::Tether | Runtime::TetherMt => Some(IoDriver::Epoll),
            Runtime::TetherUring | Runtime::TetherUringMt => Some(IoDriver::IoUring),
            _ => None,
        }
    }

    /// Whether the runtime runs only on the suites that do I/O ([`Suite::io`]) unless named
    /// with `--runtime`: the io_uring runtimes. The other suites measure mostly the scheduler,
    /// the same on both drivers, so running them twice would lengthen a full run for little.
    ///
    /// [`Suite::io`]: crate::suites::Suite::io
    pub fn io_only(self) -> bool {
        self.io_driver() == Some(IoDriver::IoUring)
    }

    /// How the runtime is set up, for the report.
    pub fn setup(self) -> &'static str {
        match self {
            Runtime::Tether => {
                "`tether::runtime::Builder::new_current_thread().io_driver(IoDriver::Epoll)\
                 .build()`, `block_on` on the main thread"
            }
            Runtime::TetherUring => {
                "`tether::runtime::Builder::new_current_thread().io_driver(IoDriver::IoUring)\
                 .build()`, `block_on` on the main thread (by default only in the suites that do \
                 I/O)"
            }
            Runtime::TokioCt => {
                "`tokio::runtime::Builder::new_current_thread().enable_all().build()`, `block_on` \
                 on the main thread"
            }
            Runtime::Smol => {
                "`smol::LocalExecutor` (in a thread-local) run by `smol::block_on` on the main \
                 thread, which also drives the async-io reactor (timers) while it waits; no \
                 executor threads, but async-io starts its `async-io` helper thread, which drives \
                 the reactor when the main thread has not for a while"
            }
            Runtime::TetherMt => {
                "`tether::runtime::Builder::new_multi_thread().worker_threads(2)\
                 .io_driver(IoDriver::Epoll).build()`; the main thread's `block_on` drives the \
                 benchmark's future, the 2 workers run the tasks"
            }
            Runtime::TetherUringMt => {
                "`tether::runtime::Builder::new_multi_thread().worker_threads(2)\
                 .io_driver(IoDriver::IoUring).build()`; the main thread's `block_on` drives the \
                 benchmark's future, the 2 workers run the tasks (by default only in the suites \
                 that do I/O)"
            }
            Runtime::TokioMt => {
                "`tokio::runtime::Builder::new_multi_thread().worker_threads(2)\
                 .enable_all().build()`; the main thread's `block_on` drives the benchmark's \
                 future, the 2 workers run the tasks"
            }
            Runtime::SmolMt => {
                "one `smol::Executor` (`async_executor::Executor`, in a static) run by 2 std \
                 threads, each in `smol::block_on(ex.run(shutdown_signal))`; the main thread's \
                 `smol::block_on` drives the benchmark's future and spawns onto the executor \
                 (plus async-io's `async-io` helper thread, as for `smol`)"
            }
            Runtime::Mio => {
                "no runtime: one thread in a `mio::Poll` loop (edge-triggered), one shared read \
                 buffer, a pending-bytes vector per connection, no read after a short read (one \
                 `recvfrom` and one `sendto` per request); the reference for the echo suites \
                 only, shown beside both flavors"
            }
            Runtime::Uring => {
                "no runtime: one thread on one io_uring ring (`SINGLE_ISSUER`, `DEFER_TASKRUN`), \
                 a multishot accept, a multishot receive per connection into provided buffers \
                 (the bytes copied out, the buffer given back at once), one send in flight per \
                 connection, one `io_uring_enter` per loop turn; the floor of an io_uring server \
                 for the echo suites only (Linux), shown beside both flavors"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|rt| rt.name() == name)
    }
}

/// What [`tether()`] passes to `Builder::diagnostics`; unset: the builder's default (on).
static TETHER_DIAGNOSTICS: OnceLock<bool> = OnceLock::new();

/// Makes every tether runtime this process builds call `Builder::diagnostics(on)` (for
/// `--diag-overhead`; each measurement is its own process). Call it before the first runtime.
pub fn set_tether_diagnostics(on: bool) {
    TETHER_DIAGNOSTICS
        .set(on)
        .expect("tether-bench: the diagnostics setting is chosen once per process");
}

/// The I/O driver [`tether()`] pins its runtimes to; unset: epoll.
static TETHER_IO_DRIVER: OnceLock<IoDriver> = OnceLock::new();

/// Makes every tether runtime this process builds run on `driver` (a measurement child of a
/// tether runtime calls it with that runtime's driver). Call it before the first runtime.
pub fn set_tether_io_driver(driver: IoDriver) {
    TETHER_IO_DRIVER
        .set(driver)
        .expect("tether-bench: the I/O driver is chosen once per process");
}

/// The environment variable with which tether overrides `Builder::io_driver`.
pub const IO_DRIVER_ENV: &str = "TETHER_IO_DRIVER";

/// `Err` (saying what to do) when `TETHER_IO_DRIVER` is set: it would override the driver each
/// tether runtime is pinned to, and every tether column would then run the same driver. `mode`
/// names what refuses, for the message.
pub fn refuse_io_driver_env(mode: &str) -> Result<(), String> {
    match std::env::var_os(IO_DRIVER_ENV) {
        None => Ok(()),
        Some(v) => Err(format!(
            "unset {IO_DRIVER_ENV} (it is {v:?}): {mode} pins each tether runtime to an I/O \
             driver itself, and the variable would override that choice"
        )),
    }
}

/// Why the kernel refuses tether's io_uring driver here (the error of building a runtime on
/// it), or `None` when it runs.
pub fn io_uring_refused() -> Option<String> {
    tether::runtime::Builder::new_current_thread()
        .io_driver(IoDriver::IoUring)
        .build()
        .err()
        .map(|e| e.to_string())
}

/// Runs `future` on a fresh tether runtime of the given flavor, on the I/O driver chosen with
/// [`set_tether_io_driver`] (epoll if none was). Panics if the runtime runs another driver than
/// the one asked for (`TETHER_IO_DRIVER` set behind the harness's back).
pub fn tether<F: Future>(flavor: Flavor, future: F) -> F::Output {
    let mut builder = match flavor {
        Flavor::Single => tether::runtime::Builder::new_current_thread(),
        Flavor::Multi => {
            let mut b = tether::runtime::Builder::new_multi_thread();
            b.worker_threads(WORKERS);
            b
        }
    };
    let driver = TETHER_IO_DRIVER.get().copied().unwrap_or(IoDriver::Epoll);
    builder.io_driver(driver);
    if let Some(&on) = TETHER_DIAGNOSTICS.get() {
        builder.diagnostics(on);
    }
    // Poll-time reports are true here and not news: a suite that spawns a million tasks from
    // one poll of the block_on future holds its worker for a while on purpose. They would
    // interleave with the figures; every other report (leftover tasks, ...) is printed.
    builder.on_diagnostic(|d| {
        use tether::diag::DiagnosticKind::{SlowPoll, StillRunning};
        if !matches!(d.kind(), SlowPoll | StillRunning) {
            eprintln!("{d}");
        }
    });
    #[cfg(feature = "console")]
    let console = std::env::var_os("TETHER_BENCH_CONSOLE").is_some();
    #[cfg(feature = "console")]
    if console {
        builder.console("127.0.0.1:0").quiet();
    }
    let rt = builder
        .build()
        .expect("tether-bench: could not build the tether runtime");
    let running = rt.handle().metrics().io_driver();
    assert_eq!(
        running, driver,
        "tether-bench: the runtime runs {running}, not the {driver} asked for ({IO_DRIVER_ENV} \
         overrides it: unset it)"
    );
    #[cfg(feature = "console")]
    if console {
        console_viewer(rt.console_addr().expect("the console's address"));
    }
    rt.block_on(future)
}

/// One viewer of the live console's stream, reading it on a thread of its own for as long as
/// the process lives (`--features console` with `TETHER_BENCH_CONSOLE=1`). Waits for the first
/// frame, so that the measurement runs watched.
#[cfg(feature = "console")]
fn console_viewer(addr: std::net::SocketAddr) {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("tether-bench: the console's stream");
    write!(s, "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut lines = BufReader::new(s);
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("tether-bench: the console's stream ended before its first frame");
        }
    }
    std::thread::spawn(move || {
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            line.clear();
        }
    });
}

/// Runs `future` on a fresh tokio runtime of the given flavor, with I/O and timers enabled.
pub fn tokio<F: Future>(flavor: Flavor, future: F) -> F::Output {
    let rt = match flavor {
        Flavor::Single => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Flavor::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build(),
    }
    .expect("tether-bench: could not build the tokio runtime");
    rt.block_on(future)
}

thread_local! {
    /// The executor of the single-thread smol runtime (each measurement is its own process).
    static SMOL_LOCAL: smol::LocalExecutor<'static> = const { smol::LocalExecutor::new() };
}

/// The executor of the multi-thread smol runtime, shared by its [`WORKERS`] threads.
static SMOL_SHARED: smol::Executor<'static> = smol::Executor::new();

/// What a smol benchmark spawns onto: the thread-local `LocalExecutor` or the shared `Executor`.
///
/// It is `Copy` and `Send`, so tasks can hold it and spawn further tasks (the executors are a
/// thread-local and a static, not `Rc`/`Arc`s). [`spawn`](SmolEx::spawn) is the executor's own
/// `spawn` behind a match on the flavor (and, single-threaded, a thread-local access).
#[derive(Clone, Copy, Debug)]
pub struct SmolEx(Flavor);

impl SmolEx {
    pub fn spawn<F>(self, future: F) -> smol::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.0 {
            Flavor::Single => SMOL_LOCAL.with(|ex| ex.spawn(future)),
            Flavor::Multi => SMOL_SHARED.spawn(future),
        }
    }
}

/// Runs the future made by `make` with `smol::block_on` on this thread; `make` receives the
/// executor to spawn onto.
///
/// - [`Flavor::Single`]: the future runs inside the thread-local `LocalExecutor`'s `run`, so
///   this thread runs every task.
/// - [`Flavor::Multi`]: [`WORKERS`] std threads each run `smol::block_on(ex.run(shutdown))` on
///   the shared `Executor` until the future is done; this thread only drives the future.
pub fn smol<M, F>(flavor: Flavor, make: M) -> F::Output
where
    M: FnOnce(SmolEx) -> F,
    F: Future,
{
    match flavor {
        Flavor::Single => {
            SMOL_LOCAL.with(|ex| smol::block_on(ex.run(make(SmolEx(Flavor::Single)))))
        }
        Flavor::Multi => {
            // The shutdown signal: `recv` fails once `stop_tx` is dropped.
            let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
            let threads: Vec<_> = (0..WORKERS)
                .map(|i| {
                    let stop = stop_rx.clone();
                    thread::Builder::new()
                        .name(format!("smol-worker-{i}"))
                        .spawn(move || {
                            smol::block_on(SMOL_SHARED.run(async move {
                                let _ = stop.recv().await;
                            }))
                        })
                        .expect("tether-bench: could not start a smol executor thread")
                })
                .collect();
            let out = smol::block_on(make(SmolEx(Flavor::Multi)));
            drop(stop_tx);
            for t in threads {
                t.join()
                    .expect("tether-bench: a smol executor thread panicked");
            }
            out
        }
    }
}
