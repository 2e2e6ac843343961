//! Fault injection: seeded random programs of thousands of tasks in nested scopes that fail
//! in every way a task can, on both runtime flavors, with the runtime's guarantees checked
//! after every run.
//!
//! Each seed builds a runtime (its settings drawn from the seed too) and runs one program
//! (`support/chaos`): tasks and scope children that return errors, panic, panic in the
//! destructor of their future or of their output, get aborted (`JoinHandle::abort`,
//! `AbortHandle`), get cancelled (scope cancellation and hard drop, scope futures dropped by a
//! timeout or a race, deadlines, timeouts, runtime shutdown), spawn more (`tether::spawn`,
//! `Scope::spawn` from bodies and from children), run blocking jobs (which fail the same ways,
//! and rendezvous pairs that stall if the pool loses a wake-up), and hold socket pairs. A
//! quarter of the seeds shut the runtime down in the middle of the program (half of those with
//! `shutdown_graceful`, the others with `shutdown_timeout`).
//!
//! After every run:
//! - **every failure is reported exactly once**, through its scope (returned or resumed) or
//!   the `JoinHandle` up to the top of the run, or the failure hook (which receives every
//!   failure a scope could not deliver: a later panic, the errors of a scope that ended with a
//!   panic or whose future was dropped); or is dropped under one of the runtime's documented
//!   rules (the ledger in `support/chaos/ledger.rs` lists them);
//! - **no task remains** in the registry (before the shutdown `Handle::metrics().live_tasks()`,
//!   which leaves blocking jobs out, as tokio's `num_alive_tasks`, and the count of live task
//!   futures and blocking closures; `Handle::live_tasks()` after), and every task future and
//!   blocking closure was dropped;
//! - **the runtime was freed**: nothing holds its state after the shutdown (no reference
//!   cycle through a task);
//! - **no descriptor and no thread leaks** (`/proc/self/fd`, `/proc/self/task`, waiting a
//!   bounded time for threads to retire);
//! - **the runtime shuts down within its timeout**, and the whole run within `RUN_LIMIT`
//!   (it runs on its own thread; a hang is a failure).
//!
//! The current-thread runs use the paused clock, so their timing decisions do not depend on
//! the machine; the multi-thread runs (which cannot pause the clock) use short real times.
//!
//! Seeds: `TETHER_FAULT_SEEDS=N` runs seeds `0..N` on each flavor (default 20, for the
//! README's `cargo test --workspace`); `TETHER_FAULT_SEED=N` runs seed `N` alone. A failing
//! seed is printed with the command that reruns it alone.
//! `TETHER_FAULT_DETACHED_OUTPUT_PANICS=0` turns off the panics in the destructor of a
//! detached task's output (on by default).

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::chaos::{self, Config, Rng, Run, Summary, Top};
use tether::runtime::Builder;

/// Seeds per flavor by default.
const DEFAULT_SEEDS: u64 = 20;
/// One run, from building the runtime to the last check.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// The timeout given to `Runtime::shutdown_timeout`.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the checks wait for tasks to finish, threads to retire, references to go.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// Tasks (plain, children, blocking) one run may spawn.
const TASK_BUDGET: i64 = 2_000;
/// Scopes one run may open.
const SCOPE_BUDGET: i64 = 400;

/// Runs take turns: thread and descriptor counts are per process.
static SERIAL: Mutex<()> = Mutex::new(());

/// The running seed's runtime and run while its program runs, to say what is left if the
/// run hangs.
static RUNNING: Mutex<Option<(tether::runtime::Handle, Arc<Run>)>> = Mutex::new(None);

fn set_running(running: Option<(tether::runtime::Handle, Arc<Run>)>) {
    *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = running;
}

#[test]
fn current_thread() {
    run_flavor(false);
}

#[test]
fn multi_thread() {
    run_flavor(true);
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

fn seeds() -> Vec<u64> {
    match env_u64("TETHER_FAULT_SEED") {
        Some(seed) => vec![seed],
        None => (0..env_u64("TETHER_FAULT_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    }
}

fn detached_output_panics() -> bool {
    env_u64("TETHER_FAULT_DETACHED_OUTPUT_PANICS") != Some(0)
}

fn flavor_name(multi: bool) -> &'static str {
    if multi {
        "multi_thread"
    } else {
        "current_thread"
    }
}

fn rerun_command(seed: u64, multi: bool) -> String {
    let release = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    let switch = if detached_output_panics() {
        ""
    } else {
        "TETHER_FAULT_DETACHED_OUTPUT_PANICS=0 "
    };
    format!(
        "{switch}TETHER_FAULT_SEED={seed} cargo test{release} -p tether --test faults -- {} \
         --exact --nocapture",
        flavor_name(multi)
    )
}

fn run_flavor(multi: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    chaos::install_panic_hook();
    let seeds = seeds();
    let start = Instant::now();
    let mut total = Summary::default();
    let mut tasks = 0;
    let mut failed = Vec::new();
    // Run times of the seeds that passed (a failing seed may have waited out a limit).
    let (mut passed, mut passed_time, mut slowest) = (0u32, Duration::ZERO, Duration::ZERO);
    for &seed in &seeds {
        chaos::set_panic_context(Some(format!(
            "(fault suite: the panic above happened in seed {seed} ({}); if the process aborts, \
             rerun it alone: {})",
            flavor_name(multi),
            rerun_command(seed, multi)
        )));
        let res = check_seed(seed, multi);
        chaos::set_panic_context(None);
        match res {
            Ok(done) => {
                total.add(&done.summary);
                tasks += done.tasks;
                passed += 1;
                passed_time += done.took;
                slowest = slowest.max(done.took);
                if seeds.len() == 1 {
                    eprintln!(
                        "seed {seed} ({}): {}, {:?}\n  {}\n  {}",
                        flavor_name(multi),
                        done.ending,
                        done.took,
                        done.did,
                        done.summary
                    );
                }
            }
            Err(failure) => {
                eprintln!(
                    "\nfault seed {seed} ({}) FAILED:\n  - {}\n  rerun alone: {}\n",
                    flavor_name(multi),
                    failure.messages.join("\n  - "),
                    rerun_command(seed, multi)
                );
                failed.push(seed);
                if failure.hung {
                    // Its thread is stuck: later runs would not be measured correctly.
                    break;
                }
            }
        }
    }
    eprintln!(
        "faults {}: {} seed(s) in {:.2?}; {passed} passed, {:.2?} per seed (slowest {:.2?}), \
         {tasks} tasks; {total}",
        flavor_name(multi),
        passed + failed.len() as u32,
        start.elapsed(),
        passed_time / passed.max(1),
        slowest,
    );
    assert!(
        failed.is_empty(),
        "fault seeds failed on {}: {failed:?} (see above for each, with the command to rerun it)",
        flavor_name(multi)
    );
}

/// A run that passed.
struct Passed {
    summary: Summary,
    tasks: u64,
    did: String,
    /// How the program ended.
    ending: &'static str,
    took: Duration,
}

/// A run that failed.
struct Failed {
    messages: Vec<String>,
    /// The run did not finish within `RUN_LIMIT`.
    hung: bool,
}

/// The process's threads, less this binary's test threads (the test harness may start the
/// other flavor's test, which waits for `SERIAL`, at any time).
fn threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            !matches!(comm.trim_end(), "current_thread" | "multi_thread")
        })
        .count()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Waits up to `SETTLE_LIMIT` for `ok`.
fn settles(ok: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + SETTLE_LIMIT;
    while !ok() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Runs one seed on its own thread, bounded by `RUN_LIMIT`, and checks that it leaked no
/// thread and no descriptor.
fn check_seed(seed: u64, multi: bool) -> Result<Passed, Failed> {
    let (threads0, fds0) = (threads(), fds());
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let runner = thread::Builder::new()
        .name(format!("fault-seed-{seed}"))
        .spawn(move || {
            let res = catch_unwind(AssertUnwindSafe(|| run_seed(seed, multi)));
            let _ = tx.send(res);
        })
        .expect("start the run's thread");
    let res = match rx.recv_timeout(RUN_LIMIT) {
        Ok(res) => res,
        Err(RecvTimeoutError::Timeout) => {
            let dump = RUNNING
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map_or_else(
                    || "(the program had ended: the hang is in the shutdown or the checks)".into(),
                    |(h, run)| {
                        format!(
                            "{} task futures alive; scopes still open (innermost last): {:?}\n{}",
                            run.wrappers(),
                            run.ledger().open_scopes(),
                            truncate(&h.dump().to_string(), 60)
                        )
                    },
                );
            return Err(Failed {
                messages: vec![format!(
                    "the run did not finish within {RUN_LIMIT:?} (a hang: a lost wake-up, a \
                     shutdown that does not return, or a task that never ends); its tasks:\n{dump}"
                )],
                hung: true,
            });
        }
        Err(RecvTimeoutError::Disconnected) => unreachable!("the runner always sends"),
    };
    let _ = runner.join();
    let took = start.elapsed();
    let mut messages = Vec::new();
    let passed = match res {
        Ok(Ok(p)) => Some(p),
        Ok(Err(v)) => {
            messages = v;
            None
        }
        Err(p) => {
            let text = chaos::ids_of(&*p).map_or_else(|t| t, |ids| format!("fault{ids:?}"));
            messages.push(format!("the run itself panicked: {text}"));
            None
        }
    };
    if !settles(|| threads() <= threads0) {
        messages.push(format!(
            "thread leak: {threads0} threads before the run, {} after",
            threads()
        ));
    }
    if !settles(|| fds() <= fds0) {
        messages.push(format!(
            "descriptor leak: {fds0} open before the run, {} after",
            fds()
        ));
    }
    match passed {
        Some(mut p) if messages.is_empty() => {
            p.took = took;
            Ok(p)
        }
        _ => Err(Failed {
            messages,
            hung: false,
        }),
    }
}

/// Builds the runtime for `seed`, runs the program, shuts down, and checks the invariants.
fn run_seed(seed: u64, multi: bool) -> Result<Passed, Vec<String>> {
    // The runtime's settings come from the seed too (a stream apart from the program's).
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ u64::from(multi));
    let max_blocking = 2 + rng.below(4) as usize;
    let run = Run::new(Config {
        seed,
        multi,
        task_budget: TASK_BUDGET,
        scope_budget: SCOPE_BUDGET,
        detached_output_panics: detached_output_panics(),
        max_pairs: max_blocking - 1,
        rendezvous_limit: Duration::from_secs(5),
    });
    let mut b = if multi {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2 + rng.below(2) as usize);
        b
    } else {
        let mut b = Builder::new_current_thread();
        b.start_paused(true);
        b
    };
    let hook = run.clone();
    b.max_blocking_threads(max_blocking)
        .thread_keep_alive(Duration::from_millis(1 + rng.below(30)))
        .event_interval(1 + rng.below(80) as u32)
        .thread_name("chaos")
        .on_diagnostic(|_| {})
        .on_unhandled_failure(move |f| hook.hooked(f));
    let rt = b.build().expect("build the runtime");
    drop(b); // it holds the hook, and with it the run
    let handle = rt.handle().clone();

    // The program; a quarter of the seeds shut down in the middle of it, half of those
    // gracefully (the tasks are signalled, and get a grace period to finish).
    let early = rng.chance(25);
    let graceful = early && rng.chance(50);
    let program = chaos::root(run.clone());
    let top: chaos::BoxFut<()> = if early {
        let d = if multi {
            Duration::from_micros(rng.below(20_000))
        } else {
            Duration::from_millis(rng.below(200))
        };
        Box::pin(async move {
            futures_lite::future::or(program, tether::time::sleep(d)).await;
        })
    } else {
        program
    };
    set_running(Some((handle.clone(), run.clone())));
    rt.block_on(Top::new(&run, top));

    if !early {
        // Every task finishes on its own (every wait in the program is bounded).
        let h = handle.clone();
        let r = run.clone();
        let quiet = rt.block_on(async move {
            let deadline = Instant::now() + SETTLE_LIMIT;
            while h.metrics().live_tasks() > 0 || r.wrappers() > 0 {
                if Instant::now() > deadline {
                    return false;
                }
                tether::time::sleep(Duration::from_millis(1)).await;
            }
            true
        });
        if !quiet {
            run.violation(format!(
                "tasks still alive {SETTLE_LIMIT:?} after the program ended ({} task futures \
                 or blocking closures not dropped; {}):\n{}",
                run.wrappers(),
                run.describe_waits(),
                truncate(&handle.dump().to_string(), 40)
            ));
        }
    }

    set_running(None);
    run.set_stopping();
    let t0 = Instant::now();
    let limit = if graceful {
        let grace = if multi {
            Duration::from_micros(rng.below(20_000))
        } else {
            Duration::from_millis(rng.below(200))
        };
        // It drops the runtime after the grace period (waiting for blocking jobs, which all
        // end).
        rt.shutdown_graceful(grace);
        grace
    } else {
        rt.shutdown_timeout(SHUTDOWN_TIMEOUT);
        SHUTDOWN_TIMEOUT
    };
    let shutdown_took = t0.elapsed();
    // Generous: this is a bound, not a measurement (the machine may be loaded).
    if shutdown_took > limit + Duration::from_secs(10) {
        run.violation(format!(
            "the shutdown (graceful: {graceful}, bounded by {limit:?}) took {shutdown_took:?}"
        ));
    }
    let live = handle.live_tasks();
    if !live.is_empty() {
        run.violation(format!(
            "{} task(s) still in the registry after the shutdown:\n{}",
            live.len(),
            truncate(&handle.dump().to_string(), 40)
        ));
    }
    if !settles(|| run.wrappers() == 0) {
        run.violation(format!(
            "{} task futures or blocking closures were never dropped",
            run.wrappers()
        ));
    }
    drop(handle);
    // The hook (in the runtime's state) and every task hold the run: once the runtime and
    // its tasks are freed, only this reference is left.
    if !settles(|| Arc::strong_count(&run) == 1) {
        run.violation(format!(
            "the runtime was not freed: {} references to the run remain (a task or the \
             runtime's state leaked, e.g. through a reference cycle)",
            Arc::strong_count(&run) - 1
        ));
    }
    let summary = run.finish();
    let violations = run.violations();
    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(Passed {
        summary,
        tasks: run.tasks(),
        did: run.describe(),
        ending: match (early, graceful) {
            (false, _) => "ran to the end",
            (true, false) => "shut down in the middle",
            (true, true) => "shut down gracefully in the middle",
        },
        took: Duration::ZERO,
    })
}

fn truncate(text: &str, lines: usize) -> String {
    let mut out: Vec<&str> = text.lines().take(lines).collect();
    let n = text.lines().count();
    let more = format!("... {} more lines", n.saturating_sub(lines));
    if n > lines {
        out.push(&more);
    }
    out.join("\n")
}
