//! `tether::sync::Notify`, a wake-up without data, on the current-thread runtime: `notify_one`
//! with nobody waiting stores one permit (never more); it wakes the oldest waiter only;
//! `notify_waiters` wakes every waiter, including a `notified()` created but not yet polled, and
//! stores nothing; a waiter dropped after it was picked passes its notification on.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_lite::future::poll_once;
use tether::sync::Notify;

use support::settle::settle;

/// Whether `fut` is still pending after one poll.
async fn is_pending<F: Future>(fut: F) -> bool {
    poll_once(pin!(fut)).await.is_none()
}

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
