//! `tether::sync::mpsc`, the many-producer single-consumer queue, bounded and unbounded, on the
//! current-thread runtime: values arrive in order and queued ones outlive their senders; a full
//! bounded channel makes `send` wait until a value is taken, and `try_send` says full or closed;
//! `close` fails the senders (waking a blocked one) and keeps what was queued; `closed()`
//! completes when the receiver goes; a capacity of 0 is refused; the unbounded channel never
//! waits.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether::sync::mpsc;

use support::settle::settle;

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
