//! The `spawn_many` suite: spawn 1,000,000 tasks that each return a small value from inside
//! `block_on`, then await every handle; time per task (spawn + run + join) and peak RSS.
//!
//! Its task count, sum check and smol function are shared with `scope_spawn`, whose smol column
//! is this suite's workload (smol has no structured group).

use std::time::Instant;

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::perf_counter::instructions_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "spawn_many",
    about: "spawn 1,000,000 tasks that each return a small value from inside block_on, then \
            await every handle; time per task (spawn + run + join)",
    metrics: &[
        Metric::lower("time", "ns/task"),
        Metric::lower("instructions", "instr/task"),
    ],
    peak_rss: true,
    flavors: BOTH,
    tether: spawn_many_tether,
    tokio: spawn_many_tokio,
    smol: spawn_many_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

/// The task count (quick: a hundredth); `scope_spawn` spawns as many children.
pub(super) const SPAWN_MANY_TASKS: usize = 1_000_000;

/// Checks that the task outputs `0..n` add up.
pub(super) fn check_sum(sum: u64, n: usize) {
    let n = n as u64;
    assert_eq!(
        sum,
        n * (n - 1) / 2,
        "spawn_many: wrong sum of task outputs"
    );
}

fn spawn_many_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let (took, instructions) = instructions_per(n, || {
        rt::tether(flavor, async move {
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
        })
    });
    vec![ns_per(took, n), instructions]
}

fn spawn_many_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let (took, instructions) = instructions_per(n, || {
        rt::tokio(flavor, async move {
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
        })
    });
    vec![ns_per(took, n), instructions]
}

pub(super) fn spawn_many_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let (took, instructions) = instructions_per(n, || {
        rt::smol(flavor, |ex| async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..n as u64).map(|i| ex.spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            let took = start.elapsed();
            check_sum(sum, n);
            took
        })
    });
    vec![ns_per(took, n), instructions]
}
