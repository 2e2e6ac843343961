//! The cooperative budget as the `tether::sync` primitives spend it, on the current-thread
//! runtime: every waiting operation spends one unit (a task yields once it has spent
//! [`BUDGET`]), the non-waiting `try_*` methods spend none, `unconstrained` opts out, and a busy
//! loop over an always-ready channel does not starve a task waiting on a timer.
//!
//! One test runs on the real clock and asserts only ordering; the others need no clock or run on
//! the paused one.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::{iterations_before_yield, BUDGET};
use tether::sync::{broadcast, mpsc, oneshot, watch, Barrier, Mutex, Notify, RwLock, Semaphore};
use tether::task::unconstrained;
use tether::time::{self, sleep, Instant};

#[tether::test]
async fn every_waiting_operation_spends_one_unit_of_the_budget() {
    let one = BUDGET + 1;
    let two = BUDGET / 2 + 1;
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::unbounded_channel();
    } => {
        tx.send(1).unwrap();
        rx.recv().await.unwrap();
    });
    assert_eq!(n, one, "mpsc unbounded recv");
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::channel(1);
    } => {
        tx.send(1).await.unwrap();
        rx.recv().await.unwrap();
    });
    assert_eq!(n, two, "mpsc bounded send + recv");
    let n = iterations_before_yield!({
        let (tx, mut rx) = broadcast::channel(1);
    } => {
        tx.send(1).unwrap();
        rx.recv().await.unwrap();
    });
    assert_eq!(n, one, "broadcast recv");
    let n = iterations_before_yield!({
        let (tx, mut rx) = watch::channel(0);
    } => {
        tx.send(1).unwrap();
        rx.changed().await.unwrap();
    });
    assert_eq!(n, one, "watch changed");
    let n = iterations_before_yield!({} => {
        let (tx, rx) = oneshot::channel();
        tx.send(1).unwrap();
        rx.await.unwrap();
    });
    assert_eq!(n, one, "oneshot receive");
    let n = iterations_before_yield!({
        let m = Mutex::new(0);
    } => {
        *m.lock().await += 1;
    });
    assert_eq!(n, one, "mutex lock");
    let n = iterations_before_yield!({
        let l = RwLock::new(0);
    } => {
        let _ = *l.read().await;
        *l.write().await += 1;
    });
    assert_eq!(n, two, "rwlock read + write");
    let n = iterations_before_yield!({
        let s = Semaphore::new(1);
    } => {
        drop(s.acquire().await.unwrap());
    });
    assert_eq!(n, one, "semaphore acquire");
    let n = iterations_before_yield!({
        let notify = Notify::new();
    } => {
        notify.notify_one();
        notify.notified().await;
    });
    assert_eq!(n, one, "notify notified");
    let n = iterations_before_yield!({
        let b = Barrier::new(1);
    } => {
        b.wait().await;
    });
    assert_eq!(n, one, "barrier wait");
}

#[tether::test]
async fn the_tokio_parity_operations_spend_one_unit_each() {
    let one = BUDGET + 1;
    let two = BUDGET / 2 + 1;
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::channel(1);
    } => {
        tx.reserve().await.unwrap().send(1); // the permit's send spends nothing
        rx.recv().await.unwrap();
    });
    assert_eq!(n, two, "mpsc reserve + recv");
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::channel(4);
        let mut buf = Vec::new();
    } => {
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        rx.recv_many(&mut buf, 4).await;
        buf.clear();
    });
    assert_eq!(n, one, "mpsc recv_many");
    let n = iterations_before_yield!({
        let s = Semaphore::new(3);
    } => {
        drop(s.acquire_many(3).await.unwrap());
    });
    assert_eq!(n, one, "semaphore acquire_many");
    let n = iterations_before_yield!({
        let (tx, mut rx) = watch::channel(0);
    } => {
        tx.send_modify(|v| *v += 1);
        drop(rx.wait_for(|v| *v > 0).await.unwrap());
    });
    assert_eq!(n, one, "watch wait_for");
    let n = iterations_before_yield!({
        let notify = Notify::new();
    } => {
        let mut notified = std::pin::pin!(notify.notified());
        notified.as_mut().enable(); // enabling spends nothing
        notify.notify_one();
        notified.await;
    });
    assert_eq!(n, one, "notify enabled, then notified");
}

#[tether::test]
async fn non_waiting_try_methods_spend_no_budget() {
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    let busy = tether::spawn(async move {
        let (tx, mut rx) = mpsc::channel(1);
        let (btx, mut brx) = broadcast::channel(1);
        let (utx, mut urx) = mpsc::unbounded_channel();
        let m = Mutex::new(());
        let s = Semaphore::new(1);
        for _ in 0..10 * BUDGET {
            tx.try_send(1).unwrap();
            rx.try_recv().unwrap();
            utx.send(1).unwrap();
            urx.try_recv().unwrap();
            btx.send(1).unwrap();
            brx.try_recv().unwrap();
            drop(m.try_lock().unwrap());
            drop(s.try_acquire().unwrap());
        }
        let ran_meanwhile = flag.load(Ordering::SeqCst);
        // One waiting operation with the budget untouched completes without yielding.
        utx.send(2).unwrap();
        urx.recv().await.unwrap();
        ran_meanwhile || flag.load(Ordering::SeqCst)
    });
    tether::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
    assert!(!busy.await.unwrap(), "the try_* loop must not have yielded");
}

/// `unconstrained` opts a future out of the budget: its operations never make it yield. (Run
/// forever over an always-ready channel, such a loop starves every other task of its thread;
/// that is the documented price, and not tested here because it would hang.)
#[tether::test]
async fn unconstrained_loop_does_not_yield_between_operations() {
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    let busy = tether::spawn(unconstrained(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..10 * BUDGET {
            tx.send(i).unwrap();
            assert_eq!(rx.recv().await, Some(i));
            assert!(!flag.load(Ordering::SeqCst), "yielded after {i} operations");
        }
    }));
    tether::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
    busy.await.unwrap();
}

/// Upper bound on the busy loop below, so that a regression fails instead of hanging; far more
/// iterations than fit in 10 ms.
const STARVATION_LIMIT: u64 = 20_000_000;

/// A task that loops forever receiving from a channel that is never empty (it puts every value
/// back) must not starve a task waiting on a 10 ms timer: the budget makes the loop yield every
/// 128 receives, the scheduler turns the timer driver between batches, and the timer task
/// completes while the loop still runs.
///
/// The same loop wrapped in `tether::task::unconstrained` would never yield: the timer task
/// would never run and this test would hang. That is `unconstrained`'s documented trade-off;
/// it is deliberately not tested.
///
/// Real clock (the paused clock only auto-advances when every task waits, which a busy loop
/// prevents); the assertions are about order, never about how long anything took.
#[tether::test]
async fn busy_receive_loop_does_not_starve_a_task_waiting_on_a_timer() {
    let timer_done = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    tx.send(0).unwrap();
    let busy = {
        let timer_done = timer_done.clone();
        tether::spawn(async move {
            let mut received = 0u64;
            loop {
                let v = rx
                    .recv()
                    .await
                    .expect("the loop keeps a value in the channel");
                tx.send(v + 1).unwrap();
                received += 1;
                if timer_done.load(Ordering::SeqCst) {
                    return (received, true);
                }
                if received == STARVATION_LIMIT {
                    return (received, false);
                }
            }
        })
    };
    let timer = tether::spawn(async move {
        sleep(Duration::from_millis(10)).await;
        timer_done.store(true, Ordering::SeqCst);
    });
    timer.await.unwrap();
    let (received, saw_timer_done) = busy.await.unwrap();
    assert!(
        saw_timer_done,
        "the busy loop ran {received} receives without the timer task completing"
    );
    assert!(received > BUDGET as u64, "the loop yielded more than once");
}

/// The same starvation scenario on the paused clock: a third task moves the clock forward 1 ms
/// at a time (each `advance` yields). Only the budget lets that task and the timer task run
/// between the busy loop's receives.
#[tether::test(start_paused = true)]
async fn busy_receive_loop_does_not_starve_a_timer_on_the_paused_clock() {
    let start = Instant::now();
    let timer_done = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
    tx.send(0).unwrap();
    let busy = {
        let timer_done = timer_done.clone();
        tether::spawn(async move {
            let mut received = 0u64;
            while !timer_done.load(Ordering::SeqCst) {
                let v = rx
                    .recv()
                    .await
                    .expect("the loop keeps a value in the channel");
                tx.send(v + 1).unwrap();
                received += 1;
                assert!(
                    received < STARVATION_LIMIT,
                    "the timer task never completed"
                );
            }
            received
        })
    };
    let timer = {
        let timer_done = timer_done.clone();
        tether::spawn(async move {
            sleep(Duration::from_millis(10)).await;
            timer_done.store(true, Ordering::SeqCst);
        })
    };
    let clock = tether::spawn(async move {
        while !timer_done.load(Ordering::SeqCst) {
            time::advance(Duration::from_millis(1)).await;
        }
    });
    timer.await.unwrap();
    clock.await.unwrap();
    assert!(busy.await.unwrap() > BUDGET as u64);
    assert!(start.elapsed() >= Duration::from_millis(10));
}
