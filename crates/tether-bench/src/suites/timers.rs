//! The `timers` suite: 1,000,000 concurrent sleeps, one per spawned task, durations uniform in
//! [0, 1 s] from a fixed-seed xorshift64 (the same durations for every runtime). Figures: the
//! wall time beyond 1 s from the first spawn until every task is joined (spawning, filing and
//! firing overhead), how many sleeps returned before their duration had elapsed by
//! `std::time::Instant` (should be 0), and peak RSS.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::XorShift64;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
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
    uring: None,
    in_quick: true,
    io: false,
};

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
