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

/// A per-library benchmark function: runs the workload on that library's runtime of the given
/// flavor, returns the suite's figures.
pub type RunFn = fn(Scale, Flavor) -> Vec<f64>;

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

const SINGLE: &[Flavor] = &[Flavor::Single];
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
}

impl Suite {
    pub fn run_fn(&self, runtime: Runtime) -> RunFn {
        match runtime.lib() {
            Lib::Tether => self.tether,
            Lib::Tokio => self.tokio,
            Lib::Smol => self.smol,
        }
    }

    /// Whether the suite runs on runtimes of this flavor.
    pub fn runs_on_flavor(&self, flavor: Flavor) -> bool {
        self.flavors.contains(&flavor)
    }

    /// Whether the suite runs on this runtime.
    pub fn runs_on(&self, runtime: Runtime) -> bool {
        self.runs_on_flavor(runtime.flavor())
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
        flavors: BOTH,
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
        flavors: BOTH,
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
        flavors: SINGLE,
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
        flavors: SINGLE,
        tether: idle_task_memory_tether,
        tokio: idle_task_memory_tokio,
        smol: idle_task_memory_smol,
    },
    Suite {
        name: "ping_pong",
        about: "1,000 pairs of tasks, each pair passing a number back and forth 1,000 times over \
                two capacity-1 bounded channels (the runtime's own: tether::sync::mpsc, \
                tokio::sync::mpsc, async-channel for smol); time per round trip, from the first \
                spawn until every task is joined",
        metrics: &[Metric {
            name: "time",
            unit: "ns/round trip",
        }],
        peak_rss: false,
        flavors: BOTH,
        tether: ping_pong_tether,
        tokio: ping_pong_tokio,
        smol: ping_pong_smol,
    },
    Suite {
        name: "chained_spawn",
        about: "a chain of 100,000 tasks, each spawning the next (and dropping/detaching its \
                handle); the last one signals the block_on future through a oneshot channel \
                (async-channel for smol); time per spawn",
        metrics: &[Metric {
            name: "time",
            unit: "ns/spawn",
        }],
        peak_rss: false,
        flavors: BOTH,
        tether: chained_spawn_tether,
        tokio: chained_spawn_tokio,
        smol: chained_spawn_smol,
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
            Metric {
                name: "lockstep",
                unit: "ns/msg",
            },
            Metric {
                name: "burst",
                unit: "ns/msg",
            },
        ],
        peak_rss: false,
        flavors: MULTI,
        tether: cross_thread_wake_tether,
        tokio: cross_thread_wake_tokio,
        smol: cross_thread_wake_smol,
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

fn idle_task_memory_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tether(flavor, async move {
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

fn idle_task_memory_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::tokio(flavor, async move {
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

fn idle_task_memory_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(IDLE_TASKS);
    rt::smol(flavor, |ex| async move {
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
