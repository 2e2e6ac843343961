//! `tether::sync::oneshot`, one value from one sender to one receiver, on the current-thread
//! runtime: the value reaches a receiver that waits for it; a sender dropped without sending
//! gives the receiver an error; `try_recv` answers empty, then the value, then closed; a dropped
//! receiver fails `send` and completes `closed()`; `close` keeps a value sent before it and
//! refuses later ones.

mod support;

use tether::sync::oneshot;
use tether::task::yield_now;

use support::settle::settle;

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
