//! `tether::sync::watch`, the latest value and its changes, on the current-thread runtime:
//! `changed()` wakes a receiver, which sees only the latest value; once the sender is gone,
//! `changed()` still reports the last unseen value, then fails (waking a receiver that waits);
//! `send` needs a receiver while `send_replace` stores regardless; `closed()` completes when the
//! last receiver goes.
//!
//! `wait_for` checks the current value first (even if seen), then each change, returns the
//! value that satisfied it marked seen, and fails only once the sender is gone and its last
//! value did not satisfy it; it wakes across threads on the multi-thread runtime.
//! `mark_changed`/`mark_unchanged` set what `changed` and `has_changed` report; `same_channel`
//! tells channels apart.

mod support;

use tether::sync::watch;

use std::time::Duration;

use support::settle::settle;

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

#[tether::test]
async fn watch_wait_for_checks_the_current_value_first_even_if_seen() {
    let (tx, mut rx) = watch::channel(5);
    assert_eq!(rx.has_changed(), Ok(false));
    let r = rx.wait_for(|v| *v == 5).await.unwrap();
    assert_eq!(*r, 5);
    assert!(!r.has_changed(), "it was seen already");
    drop(r);
    tx.send(6).unwrap();
    let r = rx.wait_for(|v| *v > 0).await.unwrap();
    assert!(r.has_changed());
    drop(r);
    assert_eq!(rx.has_changed(), Ok(false), "wait_for marks the value seen");
}

#[tether::test]
async fn watch_wait_for_waits_through_changes_until_one_satisfies_it() {
    let (tx, mut rx) = watch::channel(0);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let waiter = {
        let seen = seen.clone();
        tether::spawn(async move {
            let r = rx
                .wait_for(|v| {
                    seen.lock().unwrap().push(*v);
                    *v >= 3
                })
                .await
                .unwrap();
            *r
        })
    };
    for v in 1..=3 {
        settle().await;
        tx.send(v).unwrap();
    }
    assert_eq!(waiter.await.unwrap(), 3);
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2, 3]);
}

#[tether::test]
async fn watch_wait_for_fails_only_when_the_last_value_does_not_satisfy_it() {
    let (tx, mut rx) = watch::channel("a");
    tx.send("done").unwrap();
    drop(tx);
    // Closed, but the last value satisfies the predicate: Ok.
    assert_eq!(*rx.wait_for(|v| *v == "done").await.unwrap(), "done");
    let calls = std::cell::Cell::new(0);
    let err = rx
        .wait_for(|_| {
            calls.set(calls.get() + 1);
            false
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sender was dropped"), "{err}");
    assert_eq!(calls.get(), 1, "called once, on the last value");

    let (tx, mut rx) = watch::channel(0);
    let waiter = tether::spawn(async move { rx.wait_for(|v| *v == 9).await.map(|r| *r) });
    settle().await;
    tx.send(1).unwrap();
    settle().await;
    drop(tx);
    assert!(waiter.await.unwrap().is_err(), "woken by the sender's drop");
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_wait_for_wakes_across_threads() {
    let (tx, rx) = watch::channel(0u32);
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let mut rx = rx.clone();
            tether::spawn(async move { *rx.wait_for(|v| *v == 1_000).await.unwrap() })
        })
        .collect();
    let sender = tether::spawn(async move {
        for v in 1..=1_000 {
            tx.send(v).unwrap();
            if v % 50 == 0 {
                tether::task::yield_now().await;
            }
        }
        tx // keep the channel open until the waiters are done
    });
    let all = async {
        for w in waiters {
            assert_eq!(w.await.unwrap(), 1_000);
        }
    };
    tether::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("a waiter missed the last value (a lost wake-up?)");
    drop(sender.await.unwrap());
}

#[tether::test]
async fn watch_mark_changed_and_mark_unchanged_set_what_changed_reports() {
    let (tx, mut rx) = watch::channel(1);
    rx.mark_changed();
    assert_eq!(rx.has_changed(), Ok(true));
    rx.changed().await.unwrap(); // completes at once
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(2).unwrap();
    assert_eq!(rx.has_changed(), Ok(true));
    rx.mark_unchanged();
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(*rx.borrow(), 2, "marked seen without reading");
    let (_tx2, rx2) = watch::channel(1);
    assert!(rx.same_channel(&tx.subscribe()));
    assert!(!rx.same_channel(&rx2));
}
