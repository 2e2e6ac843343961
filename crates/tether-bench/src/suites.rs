//! The benchmark suites: one function per library, and one entry in [`SUITES`] per suite.
//!
//! To add a suite, write `fn NAME_tether`, `fn NAME_tokio` and `fn NAME_smol` (each takes the
//! [`Scale`] and the [`Flavor`], hands the flavor to `rt::tether`/`rt::tokio`/`rt::smol`, and
//! returns its figures in the order of the entry's `metrics`) and add a [`Suite`] entry to
//! [`SUITES`], listing the flavors it runs on. The harness runs each function in a fresh child
//! process, and appends the process's peak RSS when the entry asks for it.
//!
//! Timing starts inside `block_on` (runtime construction and teardown are not timed).

use std::future::pending;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::measure::{ns_per, rss_bytes, XorShift64};
use crate::runtimes::{self as rt, Flavor, Lib, Runtime};
use crate::{echo, idle};

/// How big the workloads are.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// `--quick`: every size divided by 100 (a smoke run, not a measurement).
    pub quick: bool,
}

impl Scale {
    /// `full`, or `full / 100` in quick mode.
    fn size(self, full: usize) -> usize {
        if self.quick {
            (full / 100).max(1)
        } else {
            full
        }
    }

    /// `full`, or `quick` in quick mode (for sizes with several dimensions).
    pub fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A per-library benchmark function: runs the workload on that library's runtime of the given
/// flavor, returns the suite's figures.
pub type RunFn = fn(Scale, Flavor) -> Vec<f64>;

/// Which way a figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Not a score: context for the other figures (no ratio is shown).
    Info,
}

/// One figure a suite reports.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

impl Metric {
    /// A figure where lower is better (most of them: time, memory, wake-ups).
    pub const fn lower(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Lower,
        }
    }

    /// A figure where higher is better (throughput).
    pub const fn higher(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Higher,
        }
    }

    /// A figure that is context, not a score.
    pub const fn info(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            better: Better::Info,
        }
    }

    /// For the tables: the unit, with "higher is better" where that holds.
    pub fn unit_label(&self) -> String {
        match self.better {
            Better::Lower => self.unit.to_string(),
            Better::Higher => format!("{}, higher is better", self.unit),
            Better::Info => format!("{}, context", self.unit),
        }
    }
}

/// The figure appended when [`Suite::peak_rss`] is set.
pub const PEAK_RSS: Metric = Metric::lower("peak RSS", "MB");

/// The figures of every echo suite, in the order `echo.rs` returns them.
pub const ECHO_METRICS: &[Metric] = &[
    Metric::higher("throughput", "req/s"),
    Metric::lower("latency p50", "µs"),
    Metric::lower("latency p99", "µs"),
    Metric::lower("server CPU", "µs/req"),
    Metric::info("connections", "count"),
];

/// The figures of `idle_wakeups`.
const IDLE_METRICS: &[Metric] = &[
    Metric::lower("parks (tether's counter)", "/s"),
    Metric::lower("voluntary context switches", "/s"),
];

const MULTI: &[Flavor] = &[Flavor::Multi];
const BOTH: &[Flavor] = &[Flavor::Single, Flavor::Multi];

/// One benchmark suite.
pub struct Suite {
    pub name: &'static str,
    /// One sentence for the report: what is measured.
    pub about: &'static str,
    /// The figures the run functions return, in order.
    pub metrics: &'static [Metric],
    /// Append the child process's peak RSS (`VmHWM`) as a last figure.
    pub peak_rss: bool,
    /// The flavors of runtime the suite runs on.
    pub flavors: &'static [Flavor],
    pub tether: RunFn,
    pub tokio: RunFn,
    pub smol: RunFn,
    /// The same workload with no runtime (plain `mio`): a reference column, when it makes sense.
    pub mio: Option<RunFn>,
    /// Whether `--quick` runs it when no `--suite` is given.
    pub in_quick: bool,
}

impl Suite {
    /// The function for `runtime`; `None` when the suite does not run on it.
    pub fn run_fn(&self, runtime: Runtime) -> Option<RunFn> {
        if !self.runs_on(runtime) {
            return None;
        }
        match runtime.lib() {
            Lib::Tether => Some(self.tether),
            Lib::Tokio => Some(self.tokio),
            Lib::Smol => Some(self.smol),
            Lib::Mio => self.mio,
        }
    }

    /// Whether the suite runs on runtimes of this flavor.
    pub fn runs_on_flavor(&self, flavor: Flavor) -> bool {
        self.flavors.contains(&flavor)
    }

    /// Whether the suite runs on this runtime.
    pub fn runs_on(&self, runtime: Runtime) -> bool {
        match runtime.lib() {
            Lib::Mio => self.mio.is_some(),
            _ => self.runs_on_flavor(runtime.flavor()),
        }
    }

    /// Every figure of the suite, including the peak RSS if asked for.
    pub fn all_metrics(&self) -> Vec<Metric> {
        let mut all = self.metrics.to_vec();
        if self.peak_rss {
            all.push(PEAK_RSS);
        }
        all
    }
}

pub fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// The suites a `--suite` argument names: the suite of that name, or the family of that name
/// (`echo`: `echo_100`, `echo_1000`, `echo_10000`).
pub fn select(name: &str) -> Vec<&'static Suite> {
    if let Some(s) = find(name) {
        return vec![s];
    }
    SUITES
        .iter()
        .filter(|s| {
            s.name.strip_prefix(name).is_some_and(|rest| {
                rest.strip_prefix('_')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .collect()
}

pub const SUITES: &[Suite] = &[
    Suite {
        name: "spawn_many",
        about: "spawn 1,000,000 tasks that each return a small value from inside block_on, then \
                await every handle; time per task (spawn + run + join)",
        metrics: &[Metric::lower("time", "ns/task")],
        peak_rss: true,
        flavors: BOTH,
        tether: spawn_many_tether,
        tokio: spawn_many_tokio,
        smol: spawn_many_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "scope_spawn",
        about: "spawn 1,000,000 children that each return a small value into one structured \
                group, then collect every value: a tether::scope (children awaited through their \
                handles), a tokio JoinSet (join_next until empty), and for smol, which has no \
                such group, plain spawns (as in spawn_many); time per child. Compare with \
                spawn_many's row for the cost of the scope over a plain spawn",
        metrics: &[Metric::lower("time", "ns/child")],
        peak_rss: true,
        flavors: BOTH,
        tether: scope_spawn_tether,
        tokio: scope_spawn_tokio,
        smol: spawn_many_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "yield_many",
        about: "1,000 concurrent tasks that each yield 1,000 times; time per yield",
        metrics: &[Metric::lower("time", "ns/yield")],
        peak_rss: true,
        flavors: BOTH,
        tether: yield_many_tether,
        tokio: yield_many_tokio,
        smol: yield_many_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "timers",
        about: "1,000,000 concurrent sleeps, one per spawned task, durations uniform in [0, 1 s] \
                (xorshift64, fixed seed); wall time beyond 1 s from the first spawn until every \
                task is joined, and how many sleeps returned before their duration had elapsed",
        metrics: &[
            Metric::lower("wall - 1 s", "ms"),
            Metric::lower("early wakeups", "count"),
        ],
        peak_rss: true,
        flavors: BOTH,
        tether: timers_tether,
        tokio: timers_tokio,
        smol: timers_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "idle_task_memory",
        about: "spawn 1,000,000 tasks that each await a never-ready future, wait until each has \
                been polled once, and divide the RSS growth (/proc/self/statm) by the task count \
                (handle storage is allocated and touched before the first reading, so it is not \
                counted); then abort/drop every handle and time until every task's future was \
                dropped",
        metrics: &[
            Metric::lower("RSS growth", "bytes/task"),
            Metric::lower("cancel", "ns/task"),
        ],
        peak_rss: true,
        flavors: BOTH,
        tether: idle_task_memory_tether,
        tokio: idle_task_memory_tokio,
        smol: idle_task_memory_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "ping_pong",
        about: "1,000 pairs of tasks, each pair passing a number back and forth 1,000 times over \
                two capacity-1 bounded channels (the runtime's own: tether::sync::mpsc, \
                tokio::sync::mpsc, async-channel for smol); time per round trip, from the first \
                spawn until every task is joined",
        metrics: &[Metric::lower("time", "ns/round trip")],
        peak_rss: false,
        flavors: BOTH,
        tether: ping_pong_tether,
        tokio: ping_pong_tokio,
        smol: ping_pong_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "chained_spawn",
        about: "a chain of 100,000 tasks, each spawning the next (and dropping/detaching its \
                handle); the last one signals the block_on future through a oneshot channel \
                (async-channel for smol); time per spawn",
        metrics: &[Metric::lower("time", "ns/spawn")],
        peak_rss: false,
        flavors: BOTH,
        tether: chained_spawn_tether,
        tokio: chained_spawn_tokio,
        smol: chained_spawn_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "cross_thread_wake",
        about: "a plain std thread sends 100,000 numbers on the runtime's unbounded channel \
                (async-channel for smol) to one task that receives them; lockstep: after each \
                send the std thread waits until the task has acknowledged that message (over a \
                std channel), so every message wakes a waiting task; burst: the std thread sends \
                without waiting; time per message from the first send until the task has the \
                last one",
        metrics: &[
            Metric::lower("lockstep", "ns/msg"),
            Metric::lower("burst", "ns/msg"),
        ],
        peak_rss: false,
        flavors: MULTI,
        tether: cross_thread_wake_tether,
        tokio: cross_thread_wake_tokio,
        smol: cross_thread_wake_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "idle_wakeups",
        about: "a runtime whose only work is one timer 60 s away, watched for 2 s by a plain \
                thread: wake-ups per second, as tether's parks counter and as the process's \
                voluntary context switches (every thread but the observer's); target 0",
        metrics: IDLE_METRICS,
        peak_rss: false,
        flavors: BOTH,
        tether: idle::idle_wakeups_tether,
        tokio: idle::idle_wakeups_tokio,
        smol: idle::idle_wakeups_smol,
        mio: None,
        in_quick: true,
    },
    Suite {
        name: "echo_100",
        about: ECHO_ABOUT,
        metrics: ECHO_METRICS,
        peak_rss: false,
        flavors: BOTH,
        tether: echo::echo_100_tether,
        tokio: echo::echo_100_tokio,
        smol: echo::echo_100_smol,
        mio: Some(echo::echo_100_mio),
        in_quick: true,
    },
    Suite {
        name: "echo_1000",
        about: ECHO_ABOUT,
        metrics: ECHO_METRICS,
        peak_rss: false,
        flavors: BOTH,
        tether: echo::echo_1000_tether,
        tokio: echo::echo_1000_tokio,
        smol: echo::echo_1000_smol,
        mio: Some(echo::echo_1000_mio),
        in_quick: true,
    },
    Suite {
        name: "echo_10000",
        about: ECHO_ABOUT,
        metrics: ECHO_METRICS,
        peak_rss: true,
        flavors: BOTH,
        tether: echo::echo_10000_tether,
        tokio: echo::echo_10000_tokio,
        smol: echo::echo_10000_smol,
        mio: Some(echo::echo_10000_mio),
        in_quick: false,
    },
];

/// The `about` of the echo suites (the connection count is in the name).
const ECHO_ABOUT: &str = "a TCP echo server on the runtime (its own TcpListener/TcpStream, one \
                          task per connection) on 127.0.0.1, loaded by a separate mio process \
                          (2 threads) with N connections, each a closed loop of 64-byte round \
                          trips for 5 s (quick: 1 s); mio: the same server with no runtime";

// ---------------------------------------------------------------------------------------------
// spawn_many

const SPAWN_MANY_TASKS: usize = 1_000_000;

fn check_sum(sum: u64, n: usize) {
    let n = n as u64;
    assert_eq!(
        sum,
        n * (n - 1) / 2,
        "spawn_many: wrong sum of task outputs"
    );
}

fn spawn_many_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..n as u64)
            .map(|i| tether::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("spawn_many: task failed");
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

fn spawn_many_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..n as u64)
            .map(|i| tokio::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("spawn_many: task failed");
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

fn spawn_many_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..n as u64).map(|i| ex.spawn(async move { i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

// ---------------------------------------------------------------------------------------------
// scope_spawn

fn scope_spawn_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let sum = tether::scope::scope(|s| async move {
            let mut handles = Vec::with_capacity(n);
            for i in 0..n as u64 {
                handles.push(s.spawn(async move { Ok::<_, ()>(i) }).await);
            }
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            Ok(sum)
        })
        .await
        .expect("scope_spawn: the scope failed");
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

fn scope_spawn_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n as u64 {
            set.spawn(async move { i });
        }
        let mut sum = 0;
        while let Some(v) = set.join_next().await {
            sum += v.expect("scope_spawn: task failed");
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

// ---------------------------------------------------------------------------------------------
// yield_many

/// (tasks, yields per task); quick mode: 100 × 100, a hundredth of the yields.
fn yield_many_size(scale: Scale) -> (usize, usize) {
    scale.pick((1_000, 1_000), (100, 100))
}

fn yield_many_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tether::spawn(async move {
                    for _ in 0..yields {
                        tether::task::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("yield_many: task failed");
        }
        start.elapsed()
    });
    vec![ns_per(took, tasks * yields)]
}

fn yield_many_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("yield_many: task failed");
        }
        start.elapsed()
    });
    vec![ns_per(took, tasks * yields)]
}

fn yield_many_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                ex.spawn(async move {
                    for _ in 0..yields {
                        futures_lite::future::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        start.elapsed()
    });
    vec![ns_per(took, tasks * yields)]
}

// ---------------------------------------------------------------------------------------------
// timers

const TIMER_TASKS: usize = 1_000_000;
const TIMER_MAX: Duration = Duration::from_secs(1);
const TIMER_SEED: u64 = 0x2545_f491_4f6c_dd1d;

/// Sleeps that returned before their duration had elapsed (by `std::time::Instant`).
static EARLY_WAKEUPS: AtomicU64 = AtomicU64::new(0);

/// The sleep durations, the same sequence for every runtime.
fn timer_durations(n: usize) -> impl Iterator<Item = Duration> {
    let mut rng = XorShift64::new(TIMER_SEED);
    (0..n).map(move |_| rng.duration_upto(TIMER_MAX))
}

fn check_not_early(asked: Duration, since: Instant) {
    if since.elapsed() < asked {
        EARLY_WAKEUPS.fetch_add(1, Relaxed);
    }
}

fn timers_figures(took: Duration) -> Vec<f64> {
    vec![
        (took.as_secs_f64() - TIMER_MAX.as_secs_f64()) * 1e3,
        EARLY_WAKEUPS.load(Relaxed) as f64,
    ]
}

fn timers_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = timer_durations(n)
            .map(|d| {
                tether::spawn(async move {
                    let since = Instant::now();
                    tether::time::sleep(d).await;
                    check_not_early(d, since);
                })
            })
            .collect();
        for h in handles {
            h.await.expect("timers: task failed");
        }
        start.elapsed()
    });
    timers_figures(took)
}

fn timers_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let handles: Vec<_> = timer_durations(n)
            .map(|d| {
                tokio::spawn(async move {
                    let since = Instant::now();
                    tokio::time::sleep(d).await;
                    check_not_early(d, since);
                })
            })
            .collect();
        for h in handles {
            h.await.expect("timers: task failed");
        }
        start.elapsed()
    });
    timers_figures(took)
}

fn timers_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let handles: Vec<_> = timer_durations(n)
            .map(|d| {
                ex.spawn(async move {
                    let since = Instant::now();
                    smol::Timer::after(d).await;
                    check_not_early(d, since);
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        start.elapsed()
    });
    timers_figures(took)
}

// ---------------------------------------------------------------------------------------------
// idle_task_memory

const IDLE_TASKS: usize = 1_000_000;

/// Idle tasks that have been polled (and so are now parked on their never-ready future).
static IDLE_POLLED: AtomicUsize = AtomicUsize::new(0);
/// Idle tasks whose future has been dropped.
static IDLE_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Counts its drop in [`IDLE_DROPPED`].
struct DropCounter;

impl Drop for DropCounter {
    fn drop(&mut self) {
        IDLE_DROPPED.fetch_add(1, Relaxed);
    }
}

/// The body of every idle task: count the first poll, then wait forever.
async fn idle_task() {
    let _counter = DropCounter;
    IDLE_POLLED.fetch_add(1, Relaxed);
    pending::<()>().await;
}

/// Handle storage that is allocated and touched (filled with `None`) before the first RSS
/// reading, so the growth counts only what the runtime allocates per task.
fn handle_slots<H>(n: usize) -> Vec<Option<H>> {
    (0..n).map(|_| None).collect()
}

/// Bytes of RSS growth per task, from `before`.
fn growth_per_task(before: u64, n: usize) -> f64 {
    (rss_bytes() as f64 - before as f64) / n as f64
}

/// How often the `block_on` future of a multi-thread runtime checks what it waits for.
const WAIT_POLL: Duration = Duration::from_millis(1);

/// Waits until `done()`. Single-threaded, by yielding: the tasks waited for run on this thread.
/// On the multi-thread flavor the `block_on` thread runs none of them, so it checks every
/// [`WAIT_POLL`] instead of spinning on a core the workers need.
async fn wait_tether(flavor: Flavor, done: impl Fn() -> bool) {
    while !done() {
        match flavor {
            Flavor::Single => tether::task::yield_now().await,
            Flavor::Multi => tether::time::sleep(WAIT_POLL).await,
        }
    }
}

/// As [`wait_tether`].
async fn wait_tokio(flavor: Flavor, done: impl Fn() -> bool) {
    while !done() {
        match flavor {
            Flavor::Single => tokio::task::yield_now().await,
            Flavor::Multi => tokio::time::sleep(WAIT_POLL).await,
        }
    }
}

/// As [`wait_tether`].
async fn wait_smol(flavor: Flavor, done: impl Fn() -> bool) {
    while !done() {
        match flavor {
            Flavor::Single => futures_lite::future::yield_now().await,
            Flavor::Multi => {
                smol::Timer::after(WAIT_POLL).await;
            }
        }
    }
}

fn idle_task_memory_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tether(flavor, async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(tether::spawn(idle_task()));
        }
        wait_tether(flavor, || IDLE_POLLED.load(Relaxed) >= n).await;
        let per_task = growth_per_task(before, n);

        let start = Instant::now();
        for h in handles.drain(..).flatten() {
            h.abort();
        }
        wait_tether(flavor, || IDLE_DROPPED.load(Relaxed) >= n).await;
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}

fn idle_task_memory_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tokio(flavor, async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(tokio::spawn(idle_task()));
        }
        wait_tokio(flavor, || IDLE_POLLED.load(Relaxed) >= n).await;
        let per_task = growth_per_task(before, n);

        let start = Instant::now();
        for h in handles.drain(..).flatten() {
            h.abort();
        }
        wait_tokio(flavor, || IDLE_DROPPED.load(Relaxed) >= n).await;
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}

fn idle_task_memory_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::smol(flavor, |ex| async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(ex.spawn(idle_task()));
        }
        wait_smol(flavor, || IDLE_POLLED.load(Relaxed) >= n).await;
        let per_task = growth_per_task(before, n);

        // Dropping a smol `Task` cancels it; the executor drops the future when it next runs it.
        let start = Instant::now();
        handles.clear();
        wait_smol(flavor, || IDLE_DROPPED.load(Relaxed) >= n).await;
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}

// ---------------------------------------------------------------------------------------------
// ping_pong

/// (pairs, round trips per pair); quick mode: 100 × 100, a hundredth of the round trips.
fn ping_pong_size(scale: Scale) -> (usize, u32) {
    scale.pick((1_000, 1_000), (100, 100))
}

fn ping_pong_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    use tether::sync::mpsc;
    let (pairs, trips) = ping_pong_size(scale);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(2 * pairs);
        for _ in 0..pairs {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u32>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u32>(1);
            handles.push(tether::spawn(async move {
                for i in 0..trips {
                    ping_tx.send(i).await.expect("ping_pong: ponger gone");
                    let back = pong_rx.recv().await.expect("ping_pong: ponger gone");
                    assert_eq!(back, i, "ping_pong: wrong value back");
                }
            }));
            handles.push(tether::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.expect("ping_pong: pinger gone");
                }
            }));
        }
        for h in handles {
            h.await.expect("ping_pong: task failed");
        }
        start.elapsed()
    });
    vec![ns_per(took, pairs * trips as usize)]
}

fn ping_pong_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    use tokio::sync::mpsc;
    let (pairs, trips) = ping_pong_size(scale);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(2 * pairs);
        for _ in 0..pairs {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u32>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u32>(1);
            handles.push(tokio::spawn(async move {
                for i in 0..trips {
                    ping_tx.send(i).await.expect("ping_pong: ponger gone");
                    let back = pong_rx.recv().await.expect("ping_pong: ponger gone");
                    assert_eq!(back, i, "ping_pong: wrong value back");
                }
            }));
            handles.push(tokio::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.expect("ping_pong: pinger gone");
                }
            }));
        }
        for h in handles {
            h.await.expect("ping_pong: task failed");
        }
        start.elapsed()
    });
    vec![ns_per(took, pairs * trips as usize)]
}

fn ping_pong_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let (pairs, trips) = ping_pong_size(scale);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let mut handles = Vec::with_capacity(2 * pairs);
        for _ in 0..pairs {
            let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
            let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
            handles.push(ex.spawn(async move {
                for i in 0..trips {
                    ping_tx.send(i).await.expect("ping_pong: ponger gone");
                    let back = pong_rx.recv().await.expect("ping_pong: ponger gone");
                    assert_eq!(back, i, "ping_pong: wrong value back");
                }
            }));
            handles.push(ex.spawn(async move {
                while let Ok(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.expect("ping_pong: pinger gone");
                }
            }));
        }
        for h in handles {
            h.await;
        }
        start.elapsed()
    });
    vec![ns_per(took, pairs * trips as usize)]
}

// ---------------------------------------------------------------------------------------------
// chained_spawn

const CHAIN_SPAWNS: usize = 100_000;

/// One link of the chain: spawns the task that runs the next link (`left` spawns to go), or,
/// with none left, signals the end.
fn chain_tether(left: usize, done: tether::sync::oneshot::Sender<()>) {
    if left == 0 {
        let _ = done.send(());
    } else {
        drop(tether::spawn(async move { chain_tether(left - 1, done) }));
    }
}

fn chained_spawn_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(CHAIN_SPAWNS);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let (done_tx, done_rx) = tether::sync::oneshot::channel();
        chain_tether(n, done_tx);
        done_rx.await.expect("chained_spawn: the chain broke");
        start.elapsed()
    });
    vec![ns_per(took, n)]
}

/// As [`chain_tether`].
fn chain_tokio(left: usize, done: tokio::sync::oneshot::Sender<()>) {
    if left == 0 {
        let _ = done.send(());
    } else {
        drop(tokio::spawn(async move { chain_tokio(left - 1, done) }));
    }
}

fn chained_spawn_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(CHAIN_SPAWNS);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        chain_tokio(n, done_tx);
        done_rx.await.expect("chained_spawn: the chain broke");
        start.elapsed()
    });
    vec![ns_per(took, n)]
}

/// As [`chain_tether`]; a smol task is cancelled when its handle is dropped, so it is detached.
fn chain_smol(ex: rt::SmolEx, left: usize, done: async_channel::Sender<()>) {
    if left == 0 {
        let _ = done.try_send(());
    } else {
        ex.spawn(async move { chain_smol(ex, left - 1, done) })
            .detach();
    }
}

fn chained_spawn_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(CHAIN_SPAWNS);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let (done_tx, done_rx) = async_channel::bounded(1);
        chain_smol(ex, n, done_tx);
        done_rx
            .recv()
            .await
            .expect("chained_spawn: the chain broke");
        start.elapsed()
    });
    vec![ns_per(took, n)]
}

// ---------------------------------------------------------------------------------------------
// cross_thread_wake

const WAKE_MESSAGES: usize = 100_000;

/// The modes, in the order of the figures: lockstep (`true`), then burst.
const WAKE_LOCKSTEP: [bool; 2] = [true, false];

/// Starts the plain std thread of `cross_thread_wake`: it sends `0..n` through `send`, and in
/// lockstep mode (`acks` given) waits for the task's acknowledgement after each one. Joining it
/// gives the instant just before its first send.
fn wake_sender<S>(
    n: u32,
    acks: Option<std_mpsc::Receiver<()>>,
    send: S,
) -> thread::JoinHandle<Instant>
where
    S: Fn(u32) + Send + 'static,
{
    thread::Builder::new()
        .name("waker".to_string())
        .spawn(move || {
            let start = Instant::now();
            for i in 0..n {
                send(i);
                if let Some(acks) = &acks {
                    acks.recv().expect("cross_thread_wake: the task is gone");
                }
            }
            start
        })
        .expect("cross_thread_wake: could not start the std thread")
}

/// Nanoseconds per message from the sender thread's start to `end`. The sender has sent its
/// last message (and in lockstep mode received its last acknowledgement) by the time the task
/// returns `end`, so joining it blocks the `block_on` thread (not a worker) only briefly.
fn wake_figure(sender: thread::JoinHandle<Instant>, end: Instant, n: u32) -> f64 {
    let start = sender
        .join()
        .expect("cross_thread_wake: the std thread panicked");
    ns_per(end.duration_since(start), n as usize)
}

fn cross_thread_wake_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::tether(flavor, async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, mut rx) = tether::sync::mpsc::unbounded_channel::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = tether::spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await.expect("cross_thread_wake: task failed");
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}

fn cross_thread_wake_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::tokio(flavor, async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = tokio::spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await.expect("cross_thread_wake: task failed");
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}

fn cross_thread_wake_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::smol(flavor, |ex| async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, rx) = async_channel::unbounded::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = ex.spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            // An unbounded channel is never full: `try_send` is its non-blocking send.
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.try_send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await;
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}
