//! tether-bench: tether side by side with tokio and smol, single-threaded and on 2 worker
//! threads.
//!
//! # Running
//!
//! ```text
//! cargo run --release -p tether-bench -- [--quick] [--runs N] [--suite NAME]... [--runtime NAME]...
//! ```
//!
//! - `--runs N`: each figure is the median of N runs (default 3: the whole default suite then
//!   takes about 8 minutes on a 2-core machine).
//! - `--quick`: one run (unless `--runs` is given), every workload 100x smaller, echo phases of
//!   1 s, an idle window of 0.5 s, and no `echo_10000` unless named with `--suite`; a smoke test
//!   for CI (about 30 s) that checks the suites run, not how fast.
//! - `--suite NAME`, `--runtime NAME`: run only these (repeatable, or comma-separated);
//!   `--suite echo` names the three echo suites. Without `--runtime`, the io_uring runtimes
//!   (`tether-uring`, `tether-uring-mt`) run only the suites that do I/O (the echo suites), so
//!   they add little to a full run; named with `--runtime`, they run every chosen suite.
//! - `--timeout SECS`: kill a measurement that takes longer (default 300); it is reported as
//!   failed and the exit status is 1.
//! - `--list`: print the suites (with the flavors they run on) and runtimes.
//!
//! `TETHER_IO_DRIVER` must be unset (here, with `--diag-overhead` and with `--file-reads`): it
//! overrides `Builder::io_driver`, so every tether column would run the same driver; the
//! harness refuses to start with it set, and each tether runtime of a measurement child checks,
//! through `Handle::metrics()`, that it runs the driver it was pinned to.
//!
//! ```text
//! cargo run --release -p tether-bench -- --diag-overhead [--runs N] [--quick] [--timeout SECS]
//! ```
//!
//! A separate mode: what tether's default diagnostics (`Builder::diagnostics(true)`: the
//! per-worker slot each poll writes, the watchdog thread that times polls) cost. It runs
//! `spawn_many` and `yield_many` on `tether` and `tether-mt`, each with diagnostics on and off
//! (every measurement in a fresh child, on and off back to back within a round, alternating
//! which goes first), default 7 rounds (`--quick`: 1 round at the quick sizes), and prints a
//! markdown table: workload, flavor, median on, median off, the ratio on/off of the medians, the
//! median of the per-round ratios, min–max of each, then every run. See `overhead.rs`.
//!
//! ```text
//! cargo run --release -p tether-bench -- --compat-cost [--runs N] [--quick]
//! ```
//!
//! A separate mode: what `tether::compat::Compat` costs per poll and per TCP round trip, beside
//! bare tether, on both flavors; see `compat_cost.rs`.
//!
//! ```text
//! cargo run --release -p tether-bench -- --file-reads [--runs N] [--quick]
//! ```
//!
//! A separate mode (Linux): random 4 KiB reads of a file in the page cache, per second, through
//! io_uring operations, tether's blocking pool and tokio's; see `file_reads.rs`.
//!
//! ```text
//! cargo run --release -p tether-bench --features console -- --console-cost [--runs N] [--quick]
//! ```
//!
//! A separate mode: what the live console costs with one viewer streaming, on and off side by
//! side in one process, as process CPU time per operation; see `console_cost.rs`.
//!
//! Progress goes to stderr; the report goes to stdout: date, `nproc`, how instructions and
//! system calls are counted (or why they cannot be here), the command, the runtime setups, one
//! markdown table per flavor, then every run. The single-thread table has the columns tether,
//! tether-uring, tokio-ct, smol, then the ratios tether/tokio-ct, tether/smol, and
//! tether-uring/best peer; the multi-thread one the same with tether-mt, tether-uring-mt,
//! tokio-mt, smol-mt. Both show the `mio` reference column (and tether's ratio to it) where a
//! suite has one, and on Linux the `uring` reference (the same server written straight on
//! io_uring). The tether columns run epoll; *tether-uring/best peer* divides the io_uring
//! column's figure by the best figure of the other libraries' columns in that row (`mio`
//! included, `uring` not: the lowest, or the highest for throughput), and names that peer;
//! *tether-uring/uring* divides it by the `uring` reference's. The io_uring columns read `n/a`
//! where the kernel refuses io_uring (the reason on stderr and in the header).
//!
//! # How it measures
//!
//! Every (suite, runtime) measurement runs in a fresh child process (this executable re-run with
//! the hidden arguments `--child SUITE RUNTIME [--quick] [--diagnostics on|off]`; without
//! `--diagnostics` tether runtimes keep the builder's default), so the peak RSS (`VmHWM` of
//! `/proc/self/status`) belongs to that measurement alone and one runtime's leftovers cannot
//! slow another. The child prints one machine-readable line; the parent collects them. Each
//! round runs every suite on tether, tether-uring, tokio-ct, smol, tether-mt, tether-uring-mt,
//! tokio-mt, smol-mt, mio in turn (those the suite runs on), so machine noise hits them alike;
//! each figure is the median over rounds.
//! Timing starts inside `block_on` and stops before it returns: building and dropping a runtime
//! are not timed.
//!
//! Single-thread runtimes, every task on the process's main thread:
//! - `tether`: `tether::runtime::Builder::new_current_thread().io_driver(IoDriver::Epoll)`.
//! - `tether-uring`: the same with `IoDriver::IoUring` (by default in the echo suites only).
//! - `tokio-ct`: `tokio::runtime::Builder::new_current_thread().enable_all()`.
//! - `smol`: a `smol::LocalExecutor` run by `smol::block_on` on the main thread; while it waits,
//!   that thread also drives the async-io reactor (timers). This is smol's documented
//!   single-threaded setup and, like the other two, runs every task on the calling thread
//!   (`async_executor::Executor` on one thread is the same executor without the `!Send` marker).
//!   async-io also starts its `async-io` helper thread, which drives the reactor whenever the
//!   main thread has not done so for a while; no setup of smol's timers avoids it. The executor
//!   lives in a thread-local, so tasks can spawn onto it (`chained_spawn`).
//!
//! Multi-thread runtimes, 2 worker threads each; the main thread's `block_on` drives only the
//! benchmark's own future (which spawns and joins), the workers run the spawned tasks:
//! - `tether-mt`: `tether::runtime::Builder::new_multi_thread().worker_threads(2)
//!   .io_driver(IoDriver::Epoll)`.
//! - `tether-uring-mt`: the same with `IoDriver::IoUring` (by default in the echo suites only).
//! - `tokio-mt`: `tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all()`.
//! - `smol-mt`: one `smol::Executor` (an `async_executor::Executor`, in a static) run by 2 std
//!   threads, each in `smol::block_on(ex.run(shutdown_signal))`, where the shutdown signal is an
//!   async-channel the main thread closes when the benchmark's future (driven by
//!   `smol::block_on` on the main thread) is done.
//!
//! # Suites
//!
//! - `spawn_many` (both flavors): spawns 1,000,000 tasks, each returning a small value, from
//!   inside `block_on`, then awaits every handle. Reports ns per task (spawn + run + join),
//!   instructions per task and peak RSS. Instructions (here and in `scope_spawn`) are the CPU's
//!   user-space instruction counter (`perf_event_open`, what `perf stat -e instructions:u`
//!   reads) over the whole child's measurement (runtime start and shutdown included, a few
//!   hundred thousand instructions against a million tasks) divided by the task count; `n/a`
//!   where the machine has no such counter (a virtual machine without a virtual PMU), and the
//!   report's header then says why. `examples/spawn_icount.rs` is the same workload for
//!   `valgrind --tool=callgrind`, which counts exactly everywhere.
//! - `parallel_spawn` (multi-thread): 1,000,000 tasks spawned and awaited by one spawner task,
//!   then by two at once (half each); ns per task for each. Without contention on the spawn
//!   path, two spawners on 2 workers take about half the time of one.
//! - `join_set` (both): spawns 1,000,000 tasks, each returning a small value, into one join set
//!   from inside `block_on`, then takes every result in the order the tasks finish
//!   (`join_next` until `None`): tether's `task::JoinSet`, tokio's `JoinSet`, and for smol,
//!   which has none, its tasks in a `futures_util::stream::FuturesUnordered` drained with
//!   `next()`. Reports ns per task (spawn + run + join) and peak RSS.
//! - `yield_many` (both): 1,000 concurrent tasks each call `yield_now` 1,000 times. Reports ns
//!   per yield, i.e. the cost of a wake-reschedule-poll round trip through the run queue.
//! - `timers` (both): 1,000,000 concurrent sleeps, each in its own task, durations
//!   uniform in [0, 1 s] from a fixed-seed xorshift64 (the same durations for every runtime).
//!   Reports the wall time beyond 1 s from the first spawn to the last join (spawning, timer
//!   filing and firing overhead), how many sleeps returned before their duration had elapsed by
//!   `std::time::Instant` (should be 0), and peak RSS.
//! - `idle_task_memory` (both): spawns 1,000,000 tasks that each await
//!   `std::future::pending()`, waits until every one has been polled once, and reports the RSS
//!   growth (`/proc/self/statm`) per task in bytes; the vector of handles is allocated and
//!   touched before the first reading, so it is not counted. Then it aborts (tether, tokio) or
//!   drops (smol) every handle and reports ns per task until every task's future has been
//!   dropped, and peak RSS. The `block_on` future waits for the tasks by yielding on the
//!   single-thread flavor (they run on its thread) and by checking every 1 ms on the
//!   multi-thread flavor (so that it does not spin on a core the workers need).
//! - `ping_pong` (both): 1,000 pairs of tasks; in each pair one task sends a number on a
//!   capacity-1 bounded channel and awaits it back on a second one, 1,000 times, while the other
//!   echoes. Each runtime uses its own channels (`tether::sync::mpsc`, `tokio::sync::mpsc`,
//!   async-channel for smol). Reports ns per round trip (1,000,000 in all), from the first spawn
//!   to the last join.
//! - `chained_spawn` (both): a chain of 100,000 tasks, each spawning the next and dropping (smol:
//!   detaching) its handle; the last one signals the `block_on` future through a oneshot
//!   (`tether::sync::oneshot`, `tokio::sync::oneshot`, a capacity-1 async-channel for smol).
//!   Reports ns per spawn.
//! - `cross_thread_wake` (multi-thread): a plain std thread sends 100,000 numbers on the
//!   runtime's unbounded channel (`tether::sync::mpsc`, `tokio::sync::mpsc`, async-channel) to
//!   one spawned task. Two figures, in ns per message from just before the first send until the
//!   task has the last message: *lockstep*, where the std thread waits after each send until the
//!   task acknowledges that message over a `std::sync::mpsc` channel, so every message wakes a
//!   waiting task (and the ack wakes the std thread: both wakeups are in the figure); and
//!   *burst*, where it sends all of them without waiting.
//!
//! - `idle_wakeups` (both): a runtime whose only work is one task sleeping 60 s, watched for 2 s
//!   (quick: 0.5 s) by a plain std thread after 200 ms to settle: tether's `parks` counter
//!   (`Handle::metrics().parks()`, the scheduler's wake-ups from its reactor wait; `n/a` for
//!   tokio and smol, which have none) and the process's voluntary context switches (the sum over
//!   `/proc/self/task/*/status` of every thread but the observer), both per second. Target 0.
//! - `select` (both): one `select!` in a loop in a spawned task, over futures ready or pending
//!   at once (`std::future::ready`/`pending`), 10,000,000 rounds for each of three workloads:
//!   2 branches with 1 ready, 4 with 1 ready (written last), 4 all ready; ns per select.
//!   tether's and tokio's `select!` (both start at a random branch); smol has none, its column
//!   is `futures_lite::future::race` (also random), nested for four branches.
//! - `echo_100`, `echo_1000`, `echo_10000` (both, plus the `mio` and `uring` references): a TCP echo server
//!   on the runtime (its own `TcpListener`/`TcpStream` on 127.0.0.1 port 0, one task per
//!   connection reading into a 4 KiB buffer and writing back, `TCP_NODELAY`), loaded by a
//!   separate process that is the same for every runtime (this executable with the hidden
//!   arguments `--loadgen ADDR CONNS MILLIS PARENT_PID`, `loadgen.rs`): 2 plain threads with a
//!   `mio::Poll` each, half the connections each, opened with at most 50 per thread in progress
//!   and retried on failure, each checked by one round trip; then for 5 s (quick: 1 s) every
//!   connection sends 64 bytes, waits for the full echo (checked), records the round trip and
//!   sends again. Figures: requests/s (higher is better), p50 and p99 round trip in µs, the
//!   server process's CPU time (user + system, `getrusage`) over the timed phase per request,
//!   the server process's system calls over the timed phase per request, and the connection
//!   count (lowered, with a message, to what the open-files limit and the local port range
//!   allow; both processes raise `RLIMIT_NOFILE`'s soft limit to the hard limit); `echo_10000`
//!   adds the server's peak RSS. The system calls are the tracepoint `raw_syscalls:sys_enter`
//!   (`perf_event_open`, what `perf stat -e raw_syscalls:sys_enter` reads), counted on every
//!   thread of the server process (the counter is opened on its main thread before the runtime
//!   starts, and inherited by every thread started after it, not by the load generator's
//!   process), read when the timed phase starts and ends; `n/a` where tracefs or the kernel
//!   does not allow it (the report's header says why). `strace -c -f -p SERVER_PID` over part
//!   of the timed phase agrees: its calls divided by its `sendto` count (one per request).
//!   `mio` is the same server with no runtime: one thread, one `mio::Poll`; `uring` (Linux) the
//!   same server written straight on one io_uring ring, with no runtime and no readiness
//!   (`suites/echo_uring.rs`): what an io_uring server can cost at best. The server child's
//!   watcher thread starts the load generator, kills it (by pid) if it overstays its own worst
//!   case by 15 s, and always reaps it; the load generator also dies with its parent
//!   (`PR_SET_PDEATHSIG`). See `suites/echo.rs` and `loadgen.rs`.
//!
//! Adding a suite is one module under `suites/` with one function per library (`NAME_tether`,
//! `NAME_tokio`, `NAME_smol`, each taking the flavor) and the suite's entry, which lists the
//! flavors it runs on (and optionally a `mio` function for the reference column) and whether it
//! does I/O (`io`: the io_uring runtimes run it by default), added to `suites::SUITES`.

mod compat_cost;
#[cfg(feature = "console")]
mod console_cost;
#[cfg(target_os = "linux")]
mod file_reads;
mod loadgen;
mod measure;
mod overhead;
mod perf_counter;
mod report;
mod runtimes;
mod suites;

use std::process::ExitCode;
use std::time::Duration;

use runtimes::Runtime;
use suites::{Scale, Suite, SUITES};

/// Runs per figure without `--runs` (and without `--quick`): the whole default suite then
/// takes about 8 minutes on the 2-core machine of BENCHMARKS.md.
const DEFAULT_RUNS: usize = 3;

const USAGE: &str =
    "usage: tether-bench [--quick] [--runs N] [--suite NAME]... [--runtime NAME]... \
                     [--timeout SECS] [--list]\n       \
     tether-bench --diag-overhead [--quick] [--runs N] [--timeout SECS]\n       \
     tether-bench --compat-cost [--quick] [--runs N]\n       \
     tether-bench --file-reads [--quick] [--runs N] (Linux)\n       \
     tether-bench --console-cost [--quick] [--runs N] (with --features console)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => return child(&args[1..]),
        Some("--loadgen") => return loadgen::main(&args[1..]),
        Some("--diag-overhead") => return overhead::main(&args[1..]),
        Some("--compat-cost") => return compat_cost::main(&args[1..]),
        #[cfg(target_os = "linux")]
        Some("--file-reads") => return file_reads::main(&args[1..]),
        #[cfg(feature = "console")]
        Some("--console-cost") => return console_cost::main(&args[1..]),
        _ => {}
    }
    match parse(&args) {
        Ok(Some(plan)) => {
            let command = if args.is_empty() {
                "cargo run --release -p tether-bench".to_string()
            } else {
                format!("cargo run --release -p tether-bench -- {}", args.join(" "))
            };
            let (md, ok) = report::run(&plan, &command);
            print!("{md}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether-bench: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Parses the parent's arguments; `Ok(None)` when there is nothing to run (`--help`, `--list`).
/// The options every mode takes: `--quick`, `--runs N`, `--timeout SECS`.
#[derive(Default)]
pub struct CommonArgs {
    /// `--quick`: small sizes, for a smoke run.
    pub quick: bool,
    /// `--runs N`: how many runs to take the median of (the mode's default when absent).
    pub runs: Option<usize>,
    /// `--timeout SECS`: how long one child run may take before it is killed.
    pub timeout: Duration,
}

impl CommonArgs {
    /// The defaults: full sizes, the mode's default runs, a 300 s timeout.
    pub fn new() -> CommonArgs {
        CommonArgs {
            timeout: Duration::from_secs(300),
            ..CommonArgs::default()
        }
    }

    /// Takes `arg` if it is a common option (reading its value with `value`); false if not.
    pub fn accept(
        &mut self,
        arg: &str,
        mut value: impl FnMut(&str) -> Result<String, String>,
    ) -> Result<bool, String> {
        match arg {
            "--quick" => self.quick = true,
            "--runs" => {
                let n: usize = value("a number")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?;
                if n == 0 {
                    return Err("--runs must be at least 1".into());
                }
                self.runs = Some(n);
            }
            "--timeout" => {
                let secs: u64 = value("seconds")?
                    .parse()
                    .map_err(|e| format!("--timeout: {e}"))?;
                self.timeout = Duration::from_secs(secs);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn parse(args: &[String]) -> Result<Option<report::Plan>, String> {
    let mut common = CommonArgs::new();
    let mut suites: Vec<&'static Suite> = Vec::new();
    let mut runtimes: Vec<Runtime> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs {what}"))
        };
        if common.accept(arg, &mut value)? {
            continue;
        }
        match arg.as_str() {
            "--suite" => {
                for name in value("a suite name")?.split(',') {
                    let named = suites::select(name);
                    if named.is_empty() {
                        return Err(format!("unknown suite {name:?}; --list shows the suites"));
                    }
                    for suite in named {
                        if !suites.iter().any(|s| s.name == suite.name) {
                            suites.push(suite);
                        }
                    }
                }
            }
            "--runtime" => {
                for name in value("a runtime name")?.split(',') {
                    let rt = Runtime::from_name(name).ok_or_else(|| {
                        format!("unknown runtime {name:?}; --list shows the runtimes")
                    })?;
                    runtimes.push(rt);
                }
            }
            "--list" => {
                println!("suites:");
                for s in SUITES {
                    let mut on: Vec<&str> = s.flavors.iter().map(|f| f.short()).collect();
                    if s.mio.is_some() {
                        on.push("mio");
                    }
                    if s.uring.is_some() {
                        on.push("uring");
                    }
                    let quick = if s.in_quick { "" } else { " (not in --quick)" };
                    println!("  {:<18} [{}]{quick} {}", s.name, on.join(", "), s.about);
                }
                println!("runtimes:");
                for rt in Runtime::ALL {
                    println!("  {:<18} {}", rt.name(), rt.setup());
                }
                println!(
                    "(without --runtime, the io_uring runtimes run only the suites that do I/O: \
                     {})",
                    SUITES
                        .iter()
                        .filter(|s| s.io)
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if suites.is_empty() {
        suites = SUITES
            .iter()
            .filter(|s| s.in_quick || !common.quick)
            .collect();
    }
    runtimes::refuse_io_driver_env("tether-bench")?;
    let named_runtimes = !runtimes.is_empty();
    // Keep the canonical runtime order, so rounds always interleave tether, tokio, smol.
    let runtimes: Vec<Runtime> = if named_runtimes {
        Runtime::ALL
            .into_iter()
            .filter(|rt| runtimes.contains(rt))
            .collect()
    } else {
        Runtime::ALL.to_vec()
    };
    let plan = report::Plan {
        quick: common.quick,
        runs: common
            .runs
            .unwrap_or(if common.quick { 1 } else { DEFAULT_RUNS }),
        suites,
        runtimes,
        named_runtimes,
        timeout: common.timeout,
    };
    if !plan
        .suites
        .iter()
        .any(|s| plan.runtimes.iter().any(|&rt| plan.runs(s, rt)))
    {
        return Err(
            "none of the chosen suites runs on the chosen runtimes; --list shows which \
                    suite runs on which runtimes"
                .into(),
        );
    }
    Ok(Some(plan))
}

/// The child side: `--child SUITE RUNTIME [--quick] [--diagnostics on|off]`. Runs one
/// measurement, prints one line.
fn child(args: &[String]) -> ExitCode {
    let (Some(suite), Some(runtime)) = (
        args.first().and_then(|s| suites::find(s)),
        args.get(1).and_then(|r| Runtime::from_name(r)),
    ) else {
        eprintln!("tether-bench: bad child arguments {args:?}");
        return ExitCode::from(2);
    };
    let Some(run) = suite.run_fn(runtime) else {
        eprintln!(
            "tether-bench: suite {} does not run on {}",
            suite.name,
            runtime.name()
        );
        return ExitCode::from(2);
    };
    let mut quick = false;
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.as_slice().first().map(String::as_str)) {
            ("--quick", _) => quick = true,
            ("--diagnostics", Some(v @ ("on" | "off"))) => {
                runtimes::set_tether_diagnostics(v == "on");
                rest.next();
            }
            _ => {
                eprintln!("tether-bench: bad child arguments {args:?}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = runtimes::refuse_io_driver_env("a measurement child") {
        eprintln!("tether-bench: {e}");
        return ExitCode::from(2);
    }
    if let Some(driver) = runtime.io_driver() {
        runtimes::set_tether_io_driver(driver);
    }
    // A kernel without io_uring (or a seccomp profile that blocks it) makes the figures `n/a`,
    // with the reason here; the report's header repeats it.
    if runtime.io_driver() == Some(tether::runtime::IoDriver::IoUring) {
        if let Some(why) = runtimes::io_uring_refused() {
            eprintln!(
                "tether-bench: {} on {}: n/a: {why}",
                suite.name,
                runtime.name()
            );
            let line = vec!["NaN"; suite.all_metrics().len()];
            println!("{} {}", report::RESULT_PREFIX, line.join(" "));
            return ExitCode::SUCCESS;
        }
    }
    let scale = Scale { quick };
    let mut figures = run(scale, runtime.flavor());
    assert_eq!(
        figures.len(),
        suite.metrics.len(),
        "suite {} on {} returned the wrong number of figures",
        suite.name,
        runtime.name()
    );
    if suite.peak_rss {
        figures.push(measure::peak_rss_mb());
    }
    let line: Vec<String> = figures.iter().map(f64::to_string).collect();
    println!("{} {}", report::RESULT_PREFIX, line.join(" "));
    ExitCode::SUCCESS
}
