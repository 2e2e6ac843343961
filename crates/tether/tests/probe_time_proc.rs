//! Probes of time, process, signal and fs behaviour a tokio user relies on: each test pins one
//! fault found by review (it failed before its fix), named after what it guards.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tether::time::{sleep, Instant};

/// A `Sleep` that its task moves into the past without polling it again in the same poll still
/// wakes that task, as tokio's `Sleep::reset` does (it fires the timer at once): the doc promises
/// a wake-up at the new deadline without another poll first.
#[tether::test(start_paused = true)]
async fn a_pending_sleep_reset_into_the_past_wakes_its_task() {
    let waiter = tether::spawn(async {
        let mut delay = sleep(Duration::from_secs(10));
        let mut reset = false;
        poll_fn(|cx| {
            if !reset {
                assert!(Pin::new(&mut delay).poll(cx).is_pending());
                Pin::new(&mut delay).reset(Instant::now());
                reset = true;
                return Poll::Pending;
            }
            Pin::new(&mut delay).poll(cx)
        })
        .await
    });
    // Another task's timer, so that only the reset can wake the waiter.
    sleep(Duration::from_secs(1)).await;
    assert!(
        waiter.is_finished(),
        "the task waiting on a sleep reset into the past was never woken"
    );
}
