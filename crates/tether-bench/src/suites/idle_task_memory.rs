//! The `idle_task_memory` suite: spawn 1,000,000 tasks that each await a never-ready future,
//! wait until each has been polled once, and divide the RSS growth (`/proc/self/statm`) by the
//! task count; the handle storage is allocated and touched before the first reading, so it is
//! not counted. Then abort (tether, tokio) or drop (smol) every handle and time until every
//! task's future has been dropped. Also peak RSS.
//!
//! The `block_on` future waits for the tasks by yielding on the single-thread flavor (they run
//! on its thread) and by checking every [`WAIT_POLL`] on the multi-thread flavor (so that it
//! does not spin on a core the workers need).

use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::{ns_per, rss_bytes};
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
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
    uring: None,
    in_quick: true,
    io: false,
};

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
