//! The benchmark suites: one function per runtime, and one entry in [`SUITES`] per suite.
//!
//! To add a suite, write `fn NAME_tether`, `fn NAME_tokio` and `fn NAME_smol` (each takes the
//! [`Scale`] and returns its figures, in the order of the entry's `metrics`) and add a [`Suite`]
//! entry to [`SUITES`]. The harness runs each function in a fresh child process, and appends the
//! process's peak RSS when the entry asks for it.
//!
//! Timing starts inside `block_on` (runtime construction and teardown are not timed).

use std::future::pending;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::measure::{ns_per, rss_bytes, XorShift64};
use crate::runtimes::{self as rt, Runtime};

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
    fn pick<T>(self, full: T, quick: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// A per-runtime benchmark function: runs the workload, returns the suite's figures.
pub type RunFn = fn(Scale) -> Vec<f64>;

/// One figure a suite reports. Lower is better for every figure.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
}

/// The figure appended when [`Suite::peak_rss`] is set.
pub const PEAK_RSS: Metric = Metric {
    name: "peak RSS",
    unit: "MB",
};

/// One benchmark suite.
pub struct Suite {
    pub name: &'static str,
    /// One sentence for the report: what is measured.
    pub about: &'static str,
    /// The figures the run functions return, in order.
    pub metrics: &'static [Metric],
    /// Append the child process's peak RSS (`VmHWM`) as a last figure.
    pub peak_rss: bool,
    pub tether: RunFn,
    pub tokio: RunFn,
    pub smol: RunFn,
}

impl Suite {
    pub fn run_fn(&self, runtime: Runtime) -> RunFn {
        match runtime {
            Runtime::Tether => self.tether,
            Runtime::TokioCt => self.tokio,
            Runtime::Smol => self.smol,
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

pub const SUITES: &[Suite] = &[
    Suite {
        name: "spawn_many",
        about: "spawn 1,000,000 tasks that each return a small value from inside block_on, then \
                await every handle; time per task (spawn + run + join)",
        metrics: &[Metric {
            name: "time",
            unit: "ns/task",
        }],
        peak_rss: true,
        tether: spawn_many_tether,
        tokio: spawn_many_tokio,
        smol: spawn_many_smol,
    },
    Suite {
        name: "yield_many",
        about: "1,000 concurrent tasks that each yield 1,000 times; time per yield",
        metrics: &[Metric {
            name: "time",
            unit: "ns/yield",
        }],
        peak_rss: true,
        tether: yield_many_tether,
        tokio: yield_many_tokio,
        smol: yield_many_smol,
    },
    Suite {
        name: "timers",
        about: "1,000,000 concurrent sleeps, one per spawned task, durations uniform in [0, 1 s] \
                (xorshift64, fixed seed); wall time beyond 1 s from the first spawn until every \
                task is joined, and how many sleeps returned before their duration had elapsed",
        metrics: &[
            Metric {
                name: "wall - 1 s",
                unit: "ms",
            },
            Metric {
                name: "early wakeups",
                unit: "count",
            },
        ],
        peak_rss: true,
        tether: timers_tether,
        tokio: timers_tokio,
        smol: timers_smol,
    },
    Suite {
        name: "idle_task_memory",
        about: "spawn 1,000,000 tasks that each await a never-ready future, wait until each has \
                been polled once, and divide the RSS growth (/proc/self/statm) by the task count \
                (handle storage is allocated and touched before the first reading, so it is not \
                counted); then abort/drop every handle and time until every task's future was \
                dropped",
        metrics: &[
            Metric {
                name: "RSS growth",
                unit: "bytes/task",
            },
            Metric {
                name: "cancel",
                unit: "ns/task",
            },
        ],
        peak_rss: true,
        tether: idle_task_memory_tether,
        tokio: idle_task_memory_tokio,
        smol: idle_task_memory_smol,
    },
];

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

fn spawn_many_tether(scale: Scale) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tether(async move {
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

fn spawn_many_tokio(scale: Scale) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tokio(async move {
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

fn spawn_many_smol(scale: Scale) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::smol(|ex| async move {
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
// yield_many

/// (tasks, yields per task); quick mode: 100 × 100, a hundredth of the yields.
fn yield_many_size(scale: Scale) -> (usize, usize) {
    scale.pick((1_000, 1_000), (100, 100))
}

fn yield_many_tether(scale: Scale) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::tether(async move {
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

fn yield_many_tokio(scale: Scale) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::tokio(async move {
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

fn yield_many_smol(scale: Scale) -> Vec<f64> {
    let (tasks, yields) = yield_many_size(scale);
    let took = rt::smol(|ex| async move {
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

fn timers_tether(scale: Scale) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::tether(async move {
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

fn timers_tokio(scale: Scale) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::tokio(async move {
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

fn timers_smol(scale: Scale) -> Vec<f64> {
    let n = scale.size(TIMER_TASKS);
    let took = rt::smol(|ex| async move {
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

fn idle_task_memory_tether(scale: Scale) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tether(async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(tether::spawn(idle_task()));
        }
        while IDLE_POLLED.load(Relaxed) < n {
            tether::task::yield_now().await;
        }
        let per_task = growth_per_task(before, n);

        let start = Instant::now();
        for h in handles.drain(..).flatten() {
            h.abort();
        }
        while IDLE_DROPPED.load(Relaxed) < n {
            tether::task::yield_now().await;
        }
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}

fn idle_task_memory_tokio(scale: Scale) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tokio(async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(tokio::spawn(idle_task()));
        }
        while IDLE_POLLED.load(Relaxed) < n {
            tokio::task::yield_now().await;
        }
        let per_task = growth_per_task(before, n);

        let start = Instant::now();
        for h in handles.drain(..).flatten() {
            h.abort();
        }
        while IDLE_DROPPED.load(Relaxed) < n {
            tokio::task::yield_now().await;
        }
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}

fn idle_task_memory_smol(scale: Scale) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::smol(|ex| async move {
        let mut handles = handle_slots(n);
        let before = rss_bytes();
        for slot in handles.iter_mut() {
            *slot = Some(ex.spawn(idle_task()));
        }
        while IDLE_POLLED.load(Relaxed) < n {
            futures_lite::future::yield_now().await;
        }
        let per_task = growth_per_task(before, n);

        // Dropping a smol `Task` cancels it; the executor drops the future when it next runs it.
        let start = Instant::now();
        handles.clear();
        while IDLE_DROPPED.load(Relaxed) < n {
            futures_lite::future::yield_now().await;
        }
        vec![per_task, ns_per(start.elapsed(), n)]
    })
}
