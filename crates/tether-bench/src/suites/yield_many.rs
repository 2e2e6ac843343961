//! The `yield_many` suite: 1,000 concurrent tasks that each yield 1,000 times; time per yield,
//! i.e. the cost of a wake-reschedule-poll round trip through the run queue, and peak RSS.

use std::time::Instant;

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "yield_many",
    about: "1,000 concurrent tasks that each yield 1,000 times; time per yield",
    metrics: &[Metric::lower("time", "ns/yield")],
    peak_rss: true,
    flavors: BOTH,
    tether: yield_many_tether,
    tokio: yield_many_tokio,
    smol: yield_many_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

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
