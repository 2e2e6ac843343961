//! `tether::sync::Notify`, a wake-up without data, on the current-thread runtime: `notify_one`
//! with nobody waiting stores one permit (never more); it wakes the oldest waiter only;
//! `notify_waiters` wakes every waiter, including a `notified()` created but not yet polled, and
//! stores nothing; a waiter dropped after it was picked passes its notification on.
//!
//! `Notified::enable` registers without a poll: a `notify_one` after it goes to that future (not
//! to the stored permit nor to a later waiter), it consumes a stored permit and says so, it
//! reports a `notify_waiters` since creation, and an enabled future receives a `notify_waiters`
//! sent from another thread (multi-thread runtime). Two consumers that check a queue after
//! enabling both get woken by two `notify_one` calls (the lost wake-up `enable` exists to
//! prevent). `notify_last` picks the newest waiter; `const_new` makes a static `Notify`.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use futures_lite::future::poll_once;
use tether::sync::Notify;

use std::time::Duration;

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

#[tether::test]
async fn notify_one_after_enable_goes_to_the_enabled_future() {
    let notify = Notify::new();
    let mut first = pin!(notify.notified());
    assert!(!first.as_mut().enable(), "nothing to receive yet");
    assert!(!first.as_mut().enable(), "enabling twice changes nothing");
    notify.notify_one(); // picks `first`, which was never polled
    let second = notify.notified();
    assert!(
        is_pending(second).await,
        "the notification went to `first`, not into a stored permit"
    );
    assert!(first.as_mut().enable(), "enable now reports it");
    first.await; // completes at once
}

#[tether::test]
async fn notify_enable_consumes_a_stored_permit() {
    let notify = Notify::new();
    notify.notify_one();
    let mut n = pin!(notify.notified());
    assert!(n.as_mut().enable());
    assert!(
        is_pending(notify.notified()).await,
        "the permit was consumed"
    );
    n.await;
}

#[tether::test]
async fn notify_enable_reports_a_notify_waiters_since_creation() {
    let notify = Notify::new();
    let mut before = pin!(notify.notified());
    notify.notify_waiters();
    assert!(
        before.as_mut().enable(),
        "created before the call: notified"
    );
    before.await;
    let mut enabled = pin!(notify.notified());
    assert!(!enabled.as_mut().enable());
    notify.notify_waiters();
    assert!(
        enabled.as_mut().enable(),
        "enabled before the call: notified"
    );
    enabled.await;
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_enabled_future_receives_notify_waiters_from_another_thread() {
    let notify = Arc::new(Notify::new());
    let (enabled_tx, enabled_rx) = tether::sync::oneshot::channel();
    let waiter = {
        let notify = notify.clone();
        tether::spawn(async move {
            let mut n = pin!(notify.notified());
            n.as_mut().enable();
            enabled_tx.send(()).unwrap();
            n.await;
        })
    };
    enabled_rx.await.unwrap();
    // From a plain thread, possibly while the waiter is still between `enable` and `await`.
    std::thread::spawn({
        let notify = notify.clone();
        move || notify.notify_waiters()
    })
    .join()
    .unwrap();
    tether::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the enabled future missed notify_waiters")
        .unwrap();
}

/// A queue whose `pop` checks for an item, then waits for `notify_one` (tokio's `enable`
/// example, as a test).
struct Queue {
    items: std::sync::Mutex<std::collections::VecDeque<u32>>,
    sent: Notify,
}

impl Queue {
    fn push(&self, item: u32) {
        self.items.lock().unwrap().push_back(item);
        self.sent.notify_one();
    }

    /// Runs `between` once, after finding the queue empty and before waiting.
    async fn pop(&self, between: impl Future<Output = ()>) -> u32 {
        let mut between = Some(between);
        loop {
            let mut notified = pin!(self.sent.notified());
            notified.as_mut().enable();
            if let Some(item) = self.items.lock().unwrap().pop_front() {
                return item;
            }
            if let Some(f) = between.take() {
                f.await;
            }
            notified.await;
        }
    }
}

#[tether::test]
async fn notify_two_consumers_that_enabled_before_checking_are_both_woken() {
    let queue = Arc::new(Queue {
        items: std::sync::Mutex::new(Default::default()),
        sent: Notify::new(),
    });
    // `a` finds the queue empty and lets `b` run before it waits; `b` finds it empty and pushes
    // two items before it waits. Neither has polled its `Notified` at the pushes: without
    // `enable`, both `notify_one` calls would store one permit and a consumer would sleep.
    let a = {
        let queue = queue.clone();
        tether::spawn(async move { queue.pop(tether::task::yield_now()).await })
    };
    let b = {
        let queue = queue.clone();
        tether::spawn(async move {
            let pusher = queue.clone();
            queue
                .pop(async move {
                    pusher.push(1);
                    pusher.push(2);
                })
                .await
        })
    };
    let both = async { [a.await.unwrap(), b.await.unwrap()] };
    let mut got = tether::time::timeout(Duration::from_secs(30), both)
        .await
        .expect("a consumer missed its notify_one");
    got.sort();
    assert_eq!(got, [1, 2]);
}

#[tether::test]
async fn notify_last_wakes_the_newest_waiter() {
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
    notify.notify_last();
    settle().await;
    assert_eq!(*woken.lock().unwrap(), [2]);
    notify.notify_waiters();
    for t in tasks {
        t.await.unwrap();
    }
}

static STATIC_NOTIFY: Notify = Notify::const_new();

#[tether::test]
async fn notify_const_new_makes_a_static_notify() {
    STATIC_NOTIFY.notify_one();
    STATIC_NOTIFY.notified().await;
}

/// A `notify_last` whose chosen waiter is dropped before it completes goes to the newest waiter
/// left, as `notify_last` would have chosen (tokio does the same), not to the oldest.
#[test]
fn a_dropped_notify_last_waiter_passes_it_to_the_newest_left() {
    let n = tether::sync::Notify::new();
    let mut a = Box::pin(n.notified());
    let mut b = Box::pin(n.notified());
    let mut c = Box::pin(n.notified());
    assert!(!a.as_mut().enable());
    assert!(!b.as_mut().enable());
    assert!(!c.as_mut().enable());
    n.notify_last(); // picks c
    drop(c);
    assert!(b.as_mut().enable(), "b, the newest left, has it");
    assert!(!a.as_mut().enable());
}
