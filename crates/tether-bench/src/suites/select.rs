//! The `select` suite: what one `select!` costs, in a loop inside a spawned task, over branches
//! that are ready or pending at once (`std::future::ready`, `std::future::pending`), so that the
//! figure is the macro's own work: starting the futures, picking where to start, polling,
//! matching the output, dropping the losers. Three workloads, each in ns per select: 2 branches
//! (1 ready), 4 branches (1 ready, written last), 4 branches (all ready).
//!
//! tether runs `tether::select!` and tokio `tokio::select!` (both with a random start). smol has
//! no `select!`; its column is `futures_lite::future::race`, which also picks a random start,
//! nested for four branches (`race(race(a, b), race(c, d))`).

use std::future::{pending, ready};
use std::hint::black_box;
use std::time::Instant;

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "select",
    about: "one select! in a loop over branches ready or pending at once (std::future::ready / \
            pending), 10,000,000 rounds per workload, in a spawned task; time per select \
            (smol: futures_lite::future::race, nested for 4 branches)",
    metrics: &[
        Metric::lower("2 branches, 1 ready", "ns/select"),
        Metric::lower("4 branches, 1 ready", "ns/select"),
        Metric::lower("4 branches, all ready", "ns/select"),
    ],
    peak_rss: false,
    flavors: BOTH,
    tether: select_tether,
    tokio: select_tokio,
    smol: select_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

/// Selects per workload.
const ROUNDS: usize = 10_000_000;

/// The three workloads with one `select!` macro (tether's or tokio's: the same syntax); returns
/// ns per select for each.
macro_rules! select_workloads {
    ($($select:ident)::+) => {
        pub(super) async fn workloads(rounds: usize) -> Vec<f64> {
            let mut sum = 0u64;

            let start = Instant::now();
            for i in 0..rounds as u64 {
                sum += $($select)::+! {
                    v = ready(black_box(i)) => v,
                    v = pending::<u64>() => v,
                };
            }
            let two = ns_per(start.elapsed(), rounds);

            let start = Instant::now();
            for i in 0..rounds as u64 {
                sum += $($select)::+! {
                    v = pending::<u64>() => v,
                    v = pending::<u64>() => v,
                    v = pending::<u64>() => v,
                    v = ready(black_box(i)) => v,
                };
            }
            let four_one = ns_per(start.elapsed(), rounds);

            let start = Instant::now();
            for i in 0..rounds as u64 {
                sum += $($select)::+! {
                    v = ready(black_box(i)) => v,
                    v = ready(black_box(i + 1)) => v,
                    v = ready(black_box(i + 2)) => v,
                    v = ready(black_box(i + 3)) => v,
                };
            }
            let four_all = ns_per(start.elapsed(), rounds);

            black_box(sum);
            vec![two, four_one, four_all]
        }
    };
}

mod with_tether {
    use super::*;
    select_workloads!(tether::select);
}

mod with_tokio {
    use super::*;
    select_workloads!(tokio::select);
}

fn select_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let rounds = scale.size(ROUNDS);
    rt::tether(flavor, async move {
        tether::spawn(with_tether::workloads(rounds))
            .await
            .expect("select: task failed")
    })
}

fn select_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let rounds = scale.size(ROUNDS);
    rt::tokio(flavor, async move {
        tokio::spawn(with_tokio::workloads(rounds))
            .await
            .expect("select: task failed")
    })
}

/// The same three workloads with `futures_lite::future::race`.
async fn workloads_smol(rounds: usize) -> Vec<f64> {
    use futures_lite::future::race;
    let mut sum = 0u64;

    let start = Instant::now();
    for i in 0..rounds as u64 {
        sum += race(ready(black_box(i)), pending::<u64>()).await;
    }
    let two = ns_per(start.elapsed(), rounds);

    let start = Instant::now();
    for i in 0..rounds as u64 {
        sum += race(
            race(pending::<u64>(), pending::<u64>()),
            race(pending::<u64>(), ready(black_box(i))),
        )
        .await;
    }
    let four_one = ns_per(start.elapsed(), rounds);

    let start = Instant::now();
    for i in 0..rounds as u64 {
        sum += race(
            race(ready(black_box(i)), ready(black_box(i + 1))),
            race(ready(black_box(i + 2)), ready(black_box(i + 3))),
        )
        .await;
    }
    let four_all = ns_per(start.elapsed(), rounds);

    black_box(sum);
    vec![two, four_one, four_all]
}

fn select_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let rounds = scale.size(ROUNDS);
    rt::smol(flavor, |ex| async move {
        ex.spawn(workloads_smol(rounds)).await
    })
}
