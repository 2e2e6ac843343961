//! Probes of `tether::sync` for faults a tokio user would hit, each a regression test named
//! after what it guards.
//!
//! - The `blocking_*` methods called inside `task::block_in_place` (where tokio allows them) do
//!   not spend the cooperative budget of the task that called `block_in_place`: that poll never
//!   ends while the closure runs, so a spent budget would never be renewed, and every later
//!   blocking call would spin forever on `Pending`.
//! - `oneshot::Receiver::blocking_recv` exists, as in tokio (a plain thread waiting for a
//!   task's reply), and panics on a runtime thread saying what to do instead.

mod support;

use std::sync::Arc;
use std::time::Duration;

use tether::sync::{mpsc, oneshot, Mutex};

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

#[test]
fn oneshot_blocking_recv_waits_on_a_plain_thread_for_a_tasks_value() {
    within(Duration::from_secs(10), "oneshot blocking_recv", || {
        let runtime = multi_thread_runtime();
        let (tx, rx) = oneshot::channel::<u32>();
        let (dropped_tx, dropped_rx) = oneshot::channel::<u32>();
        let waiter = std::thread::spawn(move || (rx.blocking_recv(), dropped_rx.blocking_recv()));
        runtime.spawn(async move {
            tx.send(7).unwrap();
            drop(dropped_tx);
        });
        let (value, dropped) = waiter.join().unwrap();
        assert_eq!(value, Ok(7));
        assert!(
            dropped.is_err(),
            "a sender dropped without sending ends the wait"
        );
    });
}

#[tether::test]
#[should_panic(expected = "receiver.await")]
async fn oneshot_blocking_recv_on_a_runtime_thread_panics_saying_what_to_do() {
    let (_tx, rx) = oneshot::channel::<u32>();
    let _ = rx.blocking_recv();
}
