//! The `chained_spawn` suite: a chain of 100,000 tasks, each spawning the next and dropping
//! (smol: detaching) its handle; the last one signals the `block_on` future through a oneshot
//! (`tether::sync::oneshot`, `tokio::sync::oneshot`, a capacity-1 async-channel for smol); time
//! per spawn.

use std::time::Instant;

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "chained_spawn",
    about: "a chain of 100,000 tasks, each spawning the next (and dropping/detaching its \
            handle); the last one signals the block_on future through a oneshot channel \
            (async-channel for smol); time per spawn",
    metrics: &[Metric::lower("time", "ns/spawn")],
    peak_rss: false,
    flavors: BOTH,
    tether: chained_spawn_tether,
    tokio: chained_spawn_tokio,
    smol: chained_spawn_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

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
