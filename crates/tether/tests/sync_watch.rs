//! `tether::sync::watch`, the latest value and its changes, on the current-thread runtime:
//! `changed()` wakes a receiver, which sees only the latest value; once the sender is gone,
//! `changed()` still reports the last unseen value, then fails (waking a receiver that waits);
//! `send` needs a receiver while `send_replace` stores regardless; `closed()` completes when the
//! last receiver goes.

mod support;

use tether::sync::watch;

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
