//! Probes of `tether::sync` for faults a tokio user would hit, each a regression test named
//! after what it guards.
//!
//! - The `blocking_*` methods called inside `task::block_in_place` (where tokio allows them) do
//!   not spend the cooperative budget of the task that called `block_in_place`: that poll never
//!   ends while the closure runs, so a spent budget would never be renewed, and every later
//!   blocking call would spin forever on `Pending`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tether::sync::{mpsc, Mutex};

use support::bounded::within;

/// More operations than one poll's cooperative budget (128).
const PAST_THE_BUDGET: u32 = 1_000;

fn multi_thread_runtime() -> tether::runtime::Runtime {
    tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn blocking_lock_in_block_in_place_does_not_spend_the_tasks_budget() {
    within(Duration::from_secs(10), "blocking_lock in a loop", || {
        multi_thread_runtime().block_on(async {
            let count = Arc::new(Mutex::new(0u32));
            let task = tether::spawn({
                let count = count.clone();
                async move {
                    tether::task::block_in_place(|| {
                        for _ in 0..PAST_THE_BUDGET {
                            *count.blocking_lock() += 1;
                        }
                    })
                }
            });
            task.await.unwrap();
            assert_eq!(*count.lock().await, PAST_THE_BUDGET);
        })
    });
}

#[test]
fn blocking_recv_in_block_in_place_does_not_spend_the_tasks_budget() {
    within(Duration::from_secs(10), "blocking_recv in a loop", || {
        multi_thread_runtime().block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(8);
            let receiver = tether::spawn(async move {
                tether::task::block_in_place(|| {
                    let mut received = 0;
                    while rx.blocking_recv().is_some() {
                        received += 1;
                    }
                    received
                })
            });
            for i in 0..PAST_THE_BUDGET {
                tx.send(i).await.unwrap();
            }
            drop(tx);
            assert_eq!(receiver.await.unwrap(), PAST_THE_BUDGET);
        })
    });
}
