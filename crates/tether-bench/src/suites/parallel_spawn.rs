//! The `parallel_spawn` suite (multi-thread): 1,000,000 tasks that each return a small value,
//! spawned and awaited by one spawner task, then by two spawner tasks at once (half each, on the
//! 2 workers); ns per task for each. With a spawn path that shares nothing between workers the
//! two-spawner figure is about half the one-spawner figure; a lock or counter every spawn takes
//! (tether's task registry was one `Mutex<Slab>`) shows as a two-spawner figure that does not
//! drop.

use std::time::Instant;

use super::{Metric, Scale, Suite, MULTI};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "parallel_spawn",
    about: "1,000,000 tasks that each return a small value, spawned and awaited by one spawner \
            task, then by two at once (half each); ns per task for each: with nothing shared \
            per spawn, two spawners take about half the time of one",
    metrics: &[
        Metric::lower("1 spawner", "ns/task"),
        Metric::lower("2 spawners", "ns/task"),
    ],
    peak_rss: false,
    flavors: MULTI,
    tether: parallel_spawn_tether,
    tokio: parallel_spawn_tokio,
    smol: parallel_spawn_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

const TASKS: usize = 1_000_000;

fn parallel_spawn_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TASKS);
    rt::tether(flavor, async move {
        let mut out = Vec::new();
        for spawners in [1u64, 2] {
            let per = n as u64 / spawners;
            let start = Instant::now();
            let spawners: Vec<_> = (0..spawners)
                .map(|_| {
                    tether::spawn(async move {
                        let hs: Vec<_> =
                            (0..per).map(|i| tether::spawn(async move { i })).collect();
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await.expect("parallel_spawn: task failed");
                        }
                        sum
                    })
                })
                .collect();
            for s in spawners {
                let sum = s.await.expect("parallel_spawn: spawner failed");
                assert_eq!(sum, per * (per - 1) / 2, "parallel_spawn: wrong sum");
            }
            out.push(ns_per(start.elapsed(), n));
        }
        out
    })
}

fn parallel_spawn_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TASKS);
    rt::tokio(flavor, async move {
        let mut out = Vec::new();
        for spawners in [1u64, 2] {
            let per = n as u64 / spawners;
            let start = Instant::now();
            let spawners: Vec<_> = (0..spawners)
                .map(|_| {
                    tokio::spawn(async move {
                        let hs: Vec<_> = (0..per).map(|i| tokio::spawn(async move { i })).collect();
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await.expect("parallel_spawn: task failed");
                        }
                        sum
                    })
                })
                .collect();
            for s in spawners {
                let sum = s.await.expect("parallel_spawn: spawner failed");
                assert_eq!(sum, per * (per - 1) / 2, "parallel_spawn: wrong sum");
            }
            out.push(ns_per(start.elapsed(), n));
        }
        out
    })
}

fn parallel_spawn_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(TASKS);
    rt::smol(flavor, |ex| async move {
        let mut out = Vec::new();
        for spawners in [1u64, 2] {
            let per = n as u64 / spawners;
            let start = Instant::now();
            let spawners: Vec<_> = (0..spawners)
                .map(|_| {
                    ex.spawn(async move {
                        let hs: Vec<_> = (0..per).map(|i| ex.spawn(async move { i })).collect();
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await;
                        }
                        sum
                    })
                })
                .collect();
            for s in spawners {
                let sum = s.await;
                assert_eq!(sum, per * (per - 1) / 2, "parallel_spawn: wrong sum");
            }
            out.push(ns_per(start.elapsed(), n));
        }
        out
    })
}
