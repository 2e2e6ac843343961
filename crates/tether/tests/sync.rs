//! `tether::sync`: each primitive's behaviour on the current-thread runtime, and the cooperative
//! budget that keeps a busy loop over an always-ready primitive from starving other tasks.
//!
//! Timed tests run on the paused clock; the one real-clock test asserts only ordering.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::poll_once;
use tether::sync::{
    broadcast, mpsc, oneshot, watch, AcquireError, Barrier, Mutex, Notify, RwLock, Semaphore,
    TryAcquireError,
};
use tether::task::{unconstrained, yield_now};
use tether::time::{self, sleep, Instant};

/// Operations a task may perform per poll (documented in `tether::task`).
const BUDGET: usize = 128;

/// Lets every other ready task run until it waits (the run queue is FIFO on this flavor).
async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}

/// Whether `fut` is still pending after one poll.
async fn is_pending<F: Future>(fut: F) -> bool {
    poll_once(pin!(fut)).await.is_none()
}

// ---- oneshot -------------------------------------------------------------------------------

#[tether::test]
async fn oneshot_delivers_the_value_to_a_waiting_receiver() {
    let (tx, rx) = oneshot::channel();
    let waiter = tether::spawn(rx);
    settle().await; // the receiver is waiting now
    assert_eq!(tx.send(42), Ok(()));
    assert_eq!(waiter.await.unwrap(), Ok(42));
}

#[tether::test]
async fn oneshot_sender_dropped_without_sending_gives_recv_error() {
    let (tx, rx) = oneshot::channel::<u32>();
    let waiter = tether::spawn(rx);
    settle().await;
    drop(tx);
    let err = waiter.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("dropped without sending"), "{err}");
}

#[tether::test]
async fn oneshot_try_recv_is_empty_then_the_value_then_closed() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
    tx.send("v").unwrap();
    assert_eq!(rx.try_recv(), Ok("v"));
    assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
}

#[tether::test]
async fn oneshot_dropping_the_receiver_fails_send_and_completes_closed() {
    let (mut tx, rx) = oneshot::channel::<String>();
    assert!(!tx.is_closed());
    let dropper = tether::spawn(async move {
        yield_now().await;
        drop(rx);
    });
    tx.closed().await;
    assert!(tx.is_closed());
    assert_eq!(tx.send("late".into()), Err("late".to_string()));
    dropper.await.unwrap();
}

#[tether::test]
async fn oneshot_close_keeps_a_value_sent_before_and_refuses_later_ones() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    rx.close();
    assert_eq!(rx.await, Ok(1));

    let (tx, mut rx) = oneshot::channel();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.send(2), Err(2));
    assert!(rx.await.is_err());
}

// ---- mpsc ----------------------------------------------------------------------------------

#[tether::test]
async fn mpsc_values_arrive_in_order_then_none_when_senders_are_gone() {
    let (tx, mut rx) = mpsc::channel(4);
    let tx2 = tx.clone();
    let producer = tether::spawn(async move {
        for i in 0..100 {
            tx.send(i).await.unwrap();
        }
    });
    let mut got = Vec::new();
    for _ in 0..100 {
        got.push(rx.recv().await.unwrap());
    }
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    producer.await.unwrap();
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Empty));
    tx2.send(100).await.unwrap();
    drop(tx2);
    assert_eq!(rx.recv().await, Some(100)); // queued values outlive the senders
    assert_eq!(rx.recv().await, None);
    assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
}

#[tether::test]
async fn mpsc_bounded_sender_waits_while_full_and_resumes_when_one_is_taken() {
    let (tx, mut rx) = mpsc::channel(2);
    let sent = Arc::new(AtomicUsize::new(0));
    let producer = {
        let sent = sent.clone();
        tether::spawn(async move {
            for i in 0..5 {
                tx.send(i).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    settle().await;
    assert_eq!(sent.load(Ordering::SeqCst), 2, "the third send must wait");
    assert_eq!(rx.len(), 2);
    settle().await;
    assert_eq!(sent.load(Ordering::SeqCst), 2, "still full, still waiting");

    assert_eq!(rx.recv().await, Some(0));
    settle().await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        3,
        "one slot freed, one send resumed"
    );

    let mut rest = Vec::new();
    while let Some(v) = rx.recv().await {
        rest.push(v);
    }
    assert_eq!(rest, [1, 2, 3, 4]);
    producer.await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 5);
}

#[tether::test]
async fn mpsc_try_send_reports_full_then_closed() {
    let (tx, mut rx) = mpsc::channel(1);
    assert_eq!(tx.max_capacity(), 1);
    assert_eq!(tx.capacity(), 1);
    tx.try_send(1).unwrap();
    assert_eq!(tx.capacity(), 0);
    let err = tx.try_send(2).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner(), 2);
    assert_eq!(rx.recv().await, Some(1));
    drop(rx);
    assert!(tx.is_closed());
    let err = tx.try_send(3).unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert_eq!(tx.send(4).await.unwrap_err().0, 4);
}

#[tether::test]
async fn mpsc_close_fails_senders_wakes_blocked_ones_and_keeps_queued_values() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.send("queued").await.unwrap();
    let blocked = {
        let tx = tx.clone();
        tether::spawn(async move { tx.send("blocked").await })
    };
    settle().await;
    assert!(!blocked.is_finished());
    rx.close();
    assert!(rx.is_closed());
    let err = blocked.await.unwrap().unwrap_err();
    assert_eq!(err.0, "blocked");
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(tx.send("after").await.is_err());
    assert_eq!(rx.recv().await, Some("queued"));
    assert_eq!(rx.recv().await, None);
}

#[tether::test]
async fn mpsc_sender_closed_completes_when_the_receiver_is_dropped() {
    let (tx, rx) = mpsc::channel::<()>(1);
    let watcher = tether::spawn(async move { tx.closed().await });
    settle().await;
    assert!(!watcher.is_finished());
    drop(rx);
    watcher.await.unwrap();
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn mpsc_channel_of_capacity_zero_panics() {
    let _ = mpsc::channel::<()>(0);
}

#[tether::test]
async fn mpsc_unbounded_never_waits_and_delivers_in_order() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..10_000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.len(), 10_000);
    drop(tx);
    let mut expected = 0;
    while let Some(i) = rx.recv().await {
        assert_eq!(i, expected);
        expected += 1;
    }
    assert_eq!(expected, 10_000);

    let (tx, rx) = mpsc::unbounded_channel();
    drop(rx);
    assert_eq!(tx.send(7).unwrap_err().0, 7);
}

// ---- broadcast -----------------------------------------------------------------------------

#[tether::test]
async fn broadcast_every_receiver_sees_every_value_in_order() {
    let (tx, rx1) = broadcast::channel(16);
    let rx2 = tx.subscribe();
    let readers: Vec<_> = [rx1, rx2]
        .into_iter()
        .map(|mut rx| {
            tether::spawn(async move {
                let mut got = Vec::new();
                while let Ok(v) = rx.recv().await {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    settle().await;
    for i in 0..10 {
        assert_eq!(tx.send(i), Ok(2));
        if i % 3 == 0 {
            settle().await;
        }
    }
    drop(tx);
    for r in readers {
        assert_eq!(r.await.unwrap(), (0..10).collect::<Vec<_>>());
    }
}

#[tether::test]
async fn broadcast_lagging_receiver_gets_lagged_once_then_the_oldest_kept_value() {
    use broadcast::error::{RecvError, TryRecvError};
    let (tx, mut slow) = broadcast::channel(3);
    let mut fast = tx.subscribe();
    for i in 0..10 {
        tx.send(i).unwrap(); // never waits, even though `slow` reads nothing
        assert_eq!(fast.recv().await, Ok(i));
    }
    let lag = slow.recv().await.unwrap_err();
    assert_eq!(lag, RecvError::Lagged(7));
    assert!(lag.to_string().contains("7 values"), "{lag}");
    assert_eq!(slow.recv().await, Ok(7));
    assert_eq!(slow.recv().await, Ok(8));
    assert_eq!(slow.try_recv(), Ok(9));
    assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
    drop(tx);
    assert_eq!(slow.recv().await, Err(RecvError::Closed));
    assert_eq!(fast.try_recv(), Err(TryRecvError::Closed));
}

#[tether::test]
async fn broadcast_send_without_receivers_fails_and_a_later_subscribe_works() {
    let (tx, rx) = broadcast::channel(2);
    drop(rx);
    assert_eq!(tx.receiver_count(), 0);
    assert_eq!(tx.send("nobody").unwrap_err().0, "nobody");
    let mut rx = tx.subscribe();
    assert_eq!(tx.send("somebody"), Ok(1));
    assert_eq!(rx.recv().await, Ok("somebody"));
}

#[tether::test]
async fn broadcast_subscriber_sees_only_values_sent_after_it_subscribed() {
    let (tx, mut first) = broadcast::channel(8);
    tx.send(1).unwrap();
    let mut late = tx.subscribe();
    let mut later = first.resubscribe();
    tx.send(2).unwrap();
    assert_eq!(first.recv().await, Ok(1));
    assert_eq!(first.recv().await, Ok(2));
    assert_eq!(late.recv().await, Ok(2));
    assert_eq!(later.recv().await, Ok(2));
}

#[tether::test]
async fn broadcast_receiver_waits_for_a_send() {
    let (tx, mut rx) = broadcast::channel(1);
    let reader = tether::spawn(async move { rx.recv().await });
    settle().await;
    assert!(!reader.is_finished());
    tx.send(5).unwrap();
    assert_eq!(reader.await.unwrap(), Ok(5));
}

// ---- watch ---------------------------------------------------------------------------------

#[tether::test]
async fn watch_changed_wakes_the_receiver_and_it_sees_the_latest_value() {
    let (tx, mut rx) = watch::channel(0);
    assert_eq!(rx.has_changed(), Ok(false));
    let waiter = tether::spawn(async move {
        rx.changed().await.unwrap();
        let v = *rx.borrow_and_update();
        (v, rx)
    });
    settle().await;
    assert!(!waiter.is_finished(), "the initial value counts as seen");
    tx.send(1).unwrap();
    tx.send(2).unwrap(); // before the receiver runs: it sees only the latest
    let (v, rx) = waiter.await.unwrap();
    assert_eq!(v, 2);
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(3).unwrap();
    assert_eq!(rx.has_changed(), Ok(true));
    let r = rx.borrow();
    assert!(r.has_changed());
    assert_eq!(*r, 3);
}

#[tether::test]
async fn watch_changed_fails_once_the_sender_is_gone_and_its_last_value_seen() {
    let (tx, mut rx) = watch::channel("a");
    tx.send("b").unwrap();
    drop(tx);
    // The unseen "b" is still reported, then the error.
    assert!(rx.changed().await.is_ok());
    assert_eq!(*rx.borrow_and_update(), "b");
    let err = rx.changed().await.unwrap_err();
    assert!(err.to_string().contains("sender was dropped"), "{err}");
    assert!(rx.has_changed().is_err());
}

#[tether::test]
async fn watch_changed_wakes_a_waiting_receiver_when_the_sender_is_dropped() {
    let (tx, mut rx) = watch::channel(());
    let waiter = tether::spawn(async move { rx.changed().await });
    settle().await;
    drop(tx);
    assert!(waiter.await.unwrap().is_err());
}

#[tether::test]
async fn watch_send_needs_a_receiver_but_send_replace_stores_anyway() {
    let (tx, rx) = watch::channel(1);
    let rx2 = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    drop(rx);
    tx.send(2).unwrap();
    assert_eq!(*rx2.borrow(), 2);
    drop(rx2);
    assert!(tx.is_closed());
    assert_eq!(tx.send(3).unwrap_err().0, 3);
    assert_eq!(*tx.borrow(), 2, "a failed send stores nothing");
    assert_eq!(tx.send_replace(4), 2);
    let mut rx3 = tx.subscribe();
    assert_eq!(
        rx3.has_changed(),
        Ok(false),
        "a new receiver has seen the current value"
    );
    assert_eq!(*rx3.borrow_and_update(), 4);
    assert!(!tx.send_if_modified(|_| false));
    assert_eq!(rx3.has_changed(), Ok(false));
    tx.send_modify(|v| *v += 1);
    assert_eq!(rx3.has_changed(), Ok(true));
}

#[tether::test]
async fn watch_sender_closed_completes_when_the_last_receiver_is_dropped() {
    let (tx, rx) = watch::channel(0);
    let rx2 = rx.clone();
    let watcher = tether::spawn(async move { tx.closed().await });
    drop(rx);
    settle().await;
    assert!(!watcher.is_finished());
    drop(rx2);
    watcher.await.unwrap();
}

// ---- Mutex and RwLock ----------------------------------------------------------------------

#[tether::test]
async fn mutex_excludes_other_tasks_while_the_holder_yields() {
    let shared = Arc::new(Mutex::new(0u32));
    let inside = Arc::new(AtomicUsize::new(0));
    let most_inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (shared, inside, most_inside) =
                (shared.clone(), inside.clone(), most_inside.clone());
            tether::spawn(async move {
                for _ in 0..5 {
                    let mut guard = shared.lock().await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most_inside.fetch_max(now, Ordering::SeqCst);
                    let seen = *guard;
                    yield_now().await; // the others run, and must wait for the lock
                    *guard = seen + 1;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(most_inside.load(Ordering::SeqCst), 1);
    assert_eq!(*shared.lock().await, 40, "no update was lost");
}

#[tether::test]
async fn mutex_try_lock_fails_while_held_and_owned_guards_move_into_tasks() {
    let m = Arc::new(Mutex::new(vec![1]));
    let guard = m.clone().lock_owned().await;
    let err = m.try_lock().unwrap_err();
    assert!(err.to_string().contains("held"), "{err}");
    assert!(m.clone().try_lock_owned().is_err());
    let waiter = {
        let m = m.clone();
        tether::spawn(async move { m.lock().await.len() })
    };
    settle().await;
    assert!(!waiter.is_finished());
    let holder = tether::spawn(async move {
        let mut guard = guard;
        guard.push(2);
    });
    holder.await.unwrap();
    assert_eq!(waiter.await.unwrap(), 2);
    let mut m = Arc::try_unwrap(m).unwrap();
    m.get_mut().push(3);
    assert_eq!(m.into_inner(), [1, 2, 3]);
}

#[tether::test]
async fn rwlock_readers_share_the_lock_and_a_writer_excludes_them() {
    let lock = Arc::new(RwLock::new(0));
    let r1 = lock.read().await;
    let r2 = lock.try_read().unwrap();
    assert_eq!(*r1 + *r2, 0);
    assert!(lock.try_write().is_err());
    let writer = {
        let lock = lock.clone();
        tether::spawn(async move {
            *lock.write().await += 1;
        })
    };
    settle().await;
    assert!(!writer.is_finished(), "the writer waits for both readers");
    drop(r1);
    settle().await;
    assert!(!writer.is_finished());
    drop(r2);
    writer.await.unwrap();
    assert_eq!(*lock.read().await, 1);

    let w = lock.write().await;
    assert!(lock.try_read().is_err());
    drop(w);
    assert!(lock.try_read().is_ok());
}

// ---- Semaphore -----------------------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn semaphore_limits_how_many_tasks_hold_a_permit_at_once() {
    let sem = Arc::new(Semaphore::new(3));
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let (sem, holding, most) = (sem.clone(), holding.clone(), most.clone());
            tether::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                sleep(Duration::from_millis(10 + i % 3)).await;
                holding.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(most.load(Ordering::SeqCst), 3);
    assert_eq!(sem.available_permits(), 3);
}

#[tether::test]
async fn semaphore_serves_waiters_first_in_first_out() {
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (sem, order) = (sem.clone(), order.clone());
            tether::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                order.lock().unwrap().push(i);
                yield_now().await;
            })
        })
        .collect();
    settle().await;
    sem.add_permits(1);
    // A newcomer does not overtake the waiters.
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_close_fails_waiting_and_later_acquires() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let waiter = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire().await.map(drop) })
    };
    settle().await;
    sem.close();
    assert!(sem.is_closed());
    let err: AcquireError = waiter.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(sem.clone().acquire_owned().await.is_err());
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_waiter_cancelled_after_being_granted_passes_the_permit_on() {
    let sem = Arc::new(Semaphore::new(0));
    let first = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire().await.map(drop) })
    };
    let second = {
        let sem = sem.clone();
        tether::spawn(async move { sem.acquire_owned().await.map(|p| p.num_permits()) })
    };
    settle().await;
    sem.add_permits(1); // granted to `first`, which has not run yet
    first.abort(); // dropped before it picks the permit up
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(second.await.unwrap(), Ok(1));
    assert_eq!(sem.available_permits(), 1);
}

#[tether::test]
async fn semaphore_forgotten_permits_are_gone_for_good() {
    let sem = Semaphore::new(2);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    let p = sem.acquire().await.unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(p);
    assert_eq!(sem.available_permits(), 1);
}

// ---- Notify --------------------------------------------------------------------------------

#[tether::test]
async fn notify_one_before_anyone_waits_stores_one_permit() {
    let notify = Notify::new();
    notify.notify_one();
    notify.notify_one(); // still one permit
    notify.notified().await; // completes at once
    assert!(
        is_pending(notify.notified()).await,
        "only one permit is stored"
    );
}

#[tether::test]
async fn notify_one_wakes_the_oldest_waiter_only() {
    let notify = Arc::new(Notify::new());
    let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let (notify, woken) = (notify.clone(), woken.clone());
            tether::spawn(async move {
                notify.notified().await;
                woken.lock().unwrap().push(i);
            })
        })
        .collect();
    settle().await;
    notify.notify_one();
    settle().await;
    assert_eq!(*woken.lock().unwrap(), [0]);
    notify.notify_one();
    notify.notify_one();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*woken.lock().unwrap(), [0, 1, 2]);
}

#[tether::test]
async fn notify_waiters_wakes_every_waiter_and_stores_no_permit() {
    let notify = Arc::new(Notify::new());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let notify = notify.clone();
            tether::spawn(async move { notify.notified().await })
        })
        .collect();
    // Created before the call but never polled: notified too.
    let early = notify.notified();
    settle().await;
    notify.notify_waiters();
    for t in tasks {
        t.await.unwrap();
    }
    early.await;
    assert!(
        is_pending(notify.notified()).await,
        "notify_waiters stores no permit"
    );
}

#[tether::test]
async fn notify_a_dropped_waiter_passes_its_notification_on() {
    let notify = Arc::new(Notify::new());
    let first = {
        let notify = notify.clone();
        tether::spawn(async move { notify.notified().await })
    };
    let second = {
        let notify = notify.clone();
        tether::spawn(async move { notify.notified().await })
    };
    settle().await;
    notify.notify_one(); // picks `first`
    first.abort(); // which is dropped before it completes
    let _ = first.await;
    second.await.unwrap();
}

// ---- Barrier -------------------------------------------------------------------------------

#[tether::test]
async fn barrier_releases_nobody_before_the_last_arrives_and_chooses_one_leader() {
    let barrier = Arc::new(Barrier::new(3));
    let arrived = Arc::new(AtomicUsize::new(0));
    for round in 1..=2 {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                tether::spawn(async move {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let leader = barrier.wait().await.is_leader();
                    assert_eq!(arrived.load(Ordering::SeqCst), 3 * round);
                    leader
                })
            })
            .collect();
        let mut leaders = 0;
        for t in tasks {
            leaders += usize::from(t.await.unwrap());
        }
        assert_eq!(leaders, 1, "round {round}");
    }
    assert!(Barrier::new(0).wait().await.is_leader());
}

// ---- the cooperative budget ----------------------------------------------------------------

/// Runs `$op` in a loop in a task spawned before another one, until that other task has run;
/// evaluates to the number of loop iterations. Each waiting operation spends one unit of the
/// budget, so a loop whose iteration spends `k` units yields when the budget is spent and,
/// once resumed, finishes the operation it was in: `BUDGET / k + 1` iterations.
macro_rules! iterations_before_yield {
    ({ $($setup:tt)* } => $op:block) => {{
        let other_ran = Arc::new(AtomicBool::new(false));
        let flag = other_ran.clone();
        let busy = tether::spawn(async move {
            $($setup)*
            let mut iterations = 0usize;
            while !flag.load(Ordering::SeqCst) {
                $op;
                iterations += 1;
                assert!(iterations < 100_000, "the loop never yielded");
            }
            iterations
        });
        tether::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
        busy.await.unwrap()
    }};
}

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

// ---- types ---------------------------------------------------------------------------------

#[test]
fn sync_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<oneshot::Sender<u8>>();
    send_sync::<oneshot::Receiver<u8>>();
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::Receiver<u8>>();
    send_sync::<mpsc::UnboundedSender<u8>>();
    send_sync::<mpsc::UnboundedReceiver<u8>>();
    send_sync::<broadcast::Sender<u8>>();
    send_sync::<broadcast::Receiver<u8>>();
    send_sync::<watch::Sender<u8>>();
    send_sync::<watch::Receiver<u8>>();
    send_sync::<Mutex<u8>>();
    send_sync::<tether::sync::MutexGuard<'static, u8>>();
    send_sync::<tether::sync::OwnedMutexGuard<u8>>();
    send_sync::<RwLock<u8>>();
    send_sync::<Semaphore>();
    send_sync::<tether::sync::SemaphorePermit<'static>>();
    send_sync::<tether::sync::OwnedSemaphorePermit>();
    send_sync::<Notify>();
    send_sync::<Barrier>();
    send_sync::<AcquireError>();
    send_sync::<mpsc::error::SendError<u8>>();
    send_sync::<broadcast::error::RecvError>();
}
