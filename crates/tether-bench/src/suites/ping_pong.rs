//! The `ping_pong` suite: 1,000 pairs of tasks, each pair passing a number back and forth 1,000
//! times over two capacity-1 bounded channels, each runtime's own (`tether::sync::mpsc`,
//! `tokio::sync::mpsc`, async-channel for smol); time per round trip, from the first spawn
//! until every task is joined.

use std::time::Instant;

use super::{Metric, Scale, Suite, BOTH};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "ping_pong",
    about: "1,000 pairs of tasks, each pair passing a number back and forth 1,000 times over \
            two capacity-1 bounded channels (the runtime's own: tether::sync::mpsc, \
            tokio::sync::mpsc, async-channel for smol); time per round trip, from the first \
            spawn until every task is joined",
    metrics: &[Metric::lower("time", "ns/round trip")],
    peak_rss: false,
    flavors: BOTH,
    tether: ping_pong_tether,
    tokio: ping_pong_tokio,
    smol: ping_pong_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

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
