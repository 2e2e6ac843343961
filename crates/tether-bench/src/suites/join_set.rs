//! The `join_set` suite: spawn 1,000,000 tasks that each return a small value into one set from
//! inside `block_on`, then take every result in the order the tasks finish; time per task
//! (spawn + run + join) and peak RSS.
//!
//! tether's `task::JoinSet` beside tokio's `JoinSet` (`join_next` until `None`). smol has no
//! join set; its column is the closest equivalent that also yields results in the order tasks
//! finish: the `smol::Task`s in a `futures_util::stream::FuturesUnordered`, drained with
//! `next()` (a ready queue fed by per-future wakers, the same mechanism as both join sets).
//! The task count and sum check are `spawn_many`'s.

use std::time::Instant;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::spawn_many::{check_sum, SPAWN_MANY_TASKS};
use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "join_set",
    about: "spawn 1,000,000 tasks that each return a small value into one join set from \
            inside block_on, then take every result in the order they finish (join_next until \
            None); smol, which has no join set, collects its tasks in a FuturesUnordered; \
            time per task (spawn + run + join)",
    metrics: &[Metric::lower("time", "ns/task")],
    peak_rss: true,
    flavors: BOTH,
    tether: join_set_tether,
    tokio: join_set_tokio,
    smol: join_set_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

fn join_set_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tether(flavor, async move {
        let start = Instant::now();
        let mut set = tether::task::JoinSet::new();
        for i in 0..n as u64 {
            set.spawn(async move { i });
        }
        let mut sum = 0;
        while let Some(v) = set.join_next().await {
            sum += v.expect("join_set: task failed");
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

fn join_set_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::tokio(flavor, async move {
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n as u64 {
            set.spawn(async move { i });
        }
        let mut sum = 0;
        while let Some(v) = set.join_next().await {
            sum += v.expect("join_set: task failed");
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}

fn join_set_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let took = rt::smol(flavor, |ex| async move {
        let start = Instant::now();
        let mut set = FuturesUnordered::new();
        for i in 0..n as u64 {
            set.push(ex.spawn(async move { i }));
        }
        let mut sum = 0;
        while let Some(v) = set.next().await {
            sum += v;
        }
        let took = start.elapsed();
        check_sum(sum, n);
        took
    });
    vec![ns_per(took, n)]
}
