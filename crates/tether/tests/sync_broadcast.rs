//! `tether::sync::broadcast`, every value to every receiver, on the current-thread runtime:
//! each receiver sees every value in order; a receiver that falls behind the channel's capacity
//! is told once how many values it lost (`Lagged`) and goes on from the oldest value kept, while
//! the sender never waits; a send with no receiver fails, and a later subscriber sees only what
//! is sent after it subscribed; a receiver waits for the next send.

mod support;

use tether::sync::broadcast;

use support::settle::settle;

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
