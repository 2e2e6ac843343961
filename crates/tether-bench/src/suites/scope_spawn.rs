//! The `scope_spawn` suite: spawn 1,000,000 children that each return a small value into one
//! structured group, then collect every value: a `tether::scope` (children awaited through their
//! handles), a tokio `JoinSet` (`join_next` until empty), and for smol, which has no such group,
//! plain spawns (`spawn_many`'s smol function). Time per child and peak RSS; compared with
//! `spawn_many`'s row it gives the cost of the scope over a plain spawn.

use std::time::Instant;

use super::spawn_many::{check_sum, spawn_many_smol, SPAWN_MANY_TASKS};
use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::perf_counter::instructions_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "scope_spawn",
    about: "spawn 1,000,000 children that each return a small value into one structured \
            group, then collect every value: a tether::scope (children awaited through their \
            handles), a tokio JoinSet (join_next until empty), and for smol, which has no \
            such group, plain spawns (as in spawn_many); time per child. Compare with \
            spawn_many's row for the cost of the scope over a plain spawn",
    metrics: &[
        Metric::lower("time", "ns/child"),
        Metric::lower("instructions", "instr/child"),
    ],
    peak_rss: true,
    flavors: BOTH,
    tether: scope_spawn_tether,
    tokio: scope_spawn_tokio,
    smol: spawn_many_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

fn scope_spawn_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let (took, instructions) = instructions_per(n, || {
        rt::tether(flavor, async move {
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
        })
    });
    vec![ns_per(took, n), instructions]
}

fn scope_spawn_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(SPAWN_MANY_TASKS);
    let (took, instructions) = instructions_per(n, || {
        rt::tokio(flavor, async move {
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
        })
    });
    vec![ns_per(took, n), instructions]
}
