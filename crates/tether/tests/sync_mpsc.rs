//! `tether::sync::mpsc`, the many-producer single-consumer queue, bounded and unbounded, on the
//! current-thread runtime unless a test says both flavors: values arrive in order and queued ones
//! outlive their senders; a full bounded channel makes `send` wait until a value is taken, and
//! `try_send` says full or closed; `close` fails the senders (waking a blocked one) and keeps
//! what was queued; `closed()` completes when the receiver goes; a capacity of 0 is refused; the
//! unbounded channel never waits. Senders under backpressure are served in order: a newcomer
//! (`try_send`, a new `send`) neither overtakes nor starves a waiting sender, and woken senders
//! keep their order; a dropped `closed()` future leaves no waker behind.
//!
//! Permits (both flavors where a wake-up crosses tasks): a reserved slot counts against the
//! capacity, a dropped permit gives it back and wakes a waiting sender, a permit reserved before
//! `close` still delivers and keeps the receiver from ending, a permit's value is dropped when
//! the receiver is gone, owned permits give their sender back. `recv_many` takes up to its limit
//! and wakes one waiting sender per slot it freed. The `blocking_*` methods work from plain
//! threads and panic, saying what to do, on a runtime thread.

mod support;

use support::on_both_flavors;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use tether::sync::mpsc::{self, error::TrySendError};

use support::bounded::within;
use support::on_drop::OnDrop;
use support::settle::settle;

on_both_flavors!(
    permit_dropped_unused_wakes_the_waiting_sender,
    permit_sent_after_close_is_received_and_then_the_channel_ends,
    recv_many_wakes_one_waiting_sender_per_freed_slot,
);

/// Awaits `fut`, failing the test after `limit` rather than hanging it (a lost wake-up).
async fn bounded<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tether::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still waiting after {limit:?} (a lost wake-up?)"),
    }
}

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

#[tether::test]
async fn mpsc_reserved_slot_counts_against_the_capacity_until_the_permit_sends() {
    let (tx, mut rx) = mpsc::channel(2);
    let permit = tx.reserve().await.unwrap();
    assert_eq!((tx.capacity(), rx.capacity()), (1, 1));
    assert_eq!(tx.max_capacity(), 2);
    tx.try_send("queued").unwrap();
    assert_eq!(tx.capacity(), 0);
    assert!(tx.try_send("no room").unwrap_err().is_full());
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    permit.send("reserved");
    assert_eq!(tx.capacity(), 0, "the slot now holds a queued value");
    assert_eq!(rx.len(), 2);
    // Order is the order of the pushes: the try_send came before the permit's send.
    assert_eq!(rx.recv().await, Some("queued"));
    assert_eq!(rx.recv().await, Some("reserved"));
    assert_eq!(tx.capacity(), 2);
    let permit = tx.try_reserve().unwrap();
    drop(permit); // unused: the slot comes back
    assert_eq!(tx.capacity(), 2);
}

async fn permit_dropped_unused_wakes_the_waiting_sender() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let permit = tx.reserve().await.unwrap();
    let (waiting_tx, mut waiting_rx) = mpsc::channel(1);
    let sender = {
        let tx = tx.clone();
        tether::spawn(async move {
            waiting_tx.send(()).await.unwrap();
            tx.send(7).await.unwrap();
        })
    };
    // The sender is about to wait, or waits already, for the reserved slot: either way the
    // permit's drop must reach it.
    waiting_rx.recv().await.unwrap();
    drop(permit);
    bounded(
        Duration::from_secs(10),
        "the sender after the permit was dropped",
        sender,
    )
    .await
    .unwrap();
    assert_eq!(rx.recv().await, Some(7));
}

async fn permit_sent_after_close_is_received_and_then_the_channel_ends() {
    let (tx, mut rx) = mpsc::channel::<&str>(2);
    let permit = tx.clone().reserve_owned().await.unwrap();
    tx.send("before close").await.unwrap();
    rx.close();
    assert!(tx.reserve().await.is_err(), "no reservation after close");
    drop(tx);
    assert_eq!(rx.recv().await, Some("before close"));
    // A permit is out: the receiver waits for it rather than ending.
    let late = tether::spawn(async move {
        tether::task::yield_now().await;
        let tx = permit.send("from the permit");
        drop(tx);
    });
    let got = bounded(Duration::from_secs(10), "recv with a permit out", rx.recv()).await;
    assert_eq!(got, Some("from the permit"));
    assert_eq!(rx.recv().await, None);
    late.await.unwrap();
}

#[tether::test]
async fn mpsc_closed_receiver_with_an_unused_permit_ends_once_it_is_dropped() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let permit = tx.try_reserve().unwrap();
    rx.close();
    assert_eq!(
        rx.try_recv(),
        Err(mpsc::error::TryRecvError::Empty),
        "a permit is out"
    );
    let waiter = tether::spawn(async move { rx.recv().await });
    settle().await;
    assert!(!waiter.is_finished());
    drop(permit);
    assert_eq!(waiter.await.unwrap(), None);
}

#[tether::test]
async fn mpsc_permit_value_is_dropped_when_the_receiver_is_gone() {
    let (tx, rx) = mpsc::channel(1);
    let permit = tx.reserve().await.unwrap();
    drop(rx);
    let dropped = Arc::new(AtomicUsize::new(0));
    permit.send(OnDrop(dropped.clone()));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "dropped at once, not kept for nobody"
    );
    assert!(tx.reserve().await.is_err());
    assert!(tx.try_reserve().unwrap_err().is_closed());
}

#[tether::test]
async fn mpsc_owned_permits_give_their_sender_back() {
    let (tx, mut rx) = mpsc::channel(1);
    let permit = tx.clone().reserve_owned().await.unwrap();
    assert!(permit.same_channel_as_sender(&tx));
    // The only slot is reserved: try_reserve_owned gives the sender back in the error.
    let back = match tx.clone().try_reserve_owned() {
        Err(TrySendError::Full(sender)) => sender,
        other => panic!("expected Full, got {other:?}"),
    };
    assert!(back.same_channel(&tx));
    let released = permit.release();
    assert_eq!(tx.capacity(), 1, "release gave the slot back");
    let permit = released.try_reserve_owned().unwrap();
    let sender = permit.send(5);
    assert_eq!(rx.recv().await, Some(5));
    drop(rx);
    assert!(matches!(
        sender.try_reserve_owned(),
        Err(TrySendError::Closed(_))
    ));
    assert!(back.reserve_owned().await.is_err());
}

#[tether::test]
async fn mpsc_same_channel_tells_channels_apart() {
    let (a, _ra) = mpsc::channel::<()>(1);
    let (b, _rb) = mpsc::channel::<()>(1);
    assert!(a.same_channel(&a.clone()));
    assert!(!a.same_channel(&b));
    let (ua, _rua) = mpsc::unbounded_channel::<()>();
    let (ub, _rub) = mpsc::unbounded_channel::<()>();
    assert!(ua.same_channel(&ua.clone()));
    assert!(!ua.same_channel(&ub));
}

#[tether::test]
async fn mpsc_recv_many_takes_up_to_the_limit_and_returns_zero_at_the_end() {
    let (tx, mut rx) = mpsc::channel(8);
    let mut buf = vec![0];
    assert_eq!(
        rx.recv_many(&mut buf, 0).await,
        0,
        "limit 0 returns at once"
    );
    for i in 1..=5 {
        tx.send(i).await.unwrap();
    }
    assert_eq!(rx.recv_many(&mut buf, 3).await, 3);
    assert_eq!(buf, [0, 1, 2, 3]);
    assert_eq!(rx.recv_many(&mut buf, 10).await, 2);
    assert_eq!(buf, [0, 1, 2, 3, 4, 5]);
    let sender = tether::spawn(async move { tx.send(6).await.unwrap() });
    assert_eq!(rx.recv_many(&mut buf, 10).await, 1, "waits for a value");
    sender.await.unwrap();
    assert_eq!(rx.recv_many(&mut buf, 10).await, 0, "every sender is gone");
    assert_eq!(buf.len(), 7);

    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    let mut buf = Vec::new();
    assert_eq!(rx.recv().await, Some(0)); // the receiver now reads ahead (batch)
    assert_eq!(rx.recv_many(&mut buf, 50).await, 50);
    assert_eq!(rx.recv_many(&mut buf, 500).await, 49);
    assert_eq!(buf, (1..100).collect::<Vec<_>>());
    drop(tx);
    assert_eq!(rx.recv_many(&mut buf, 1).await, 0);
}

async fn recv_many_wakes_one_waiting_sender_per_freed_slot() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.send(0).await.unwrap();
    tx.send(1).await.unwrap();
    let senders: Vec<_> = (2..4)
        .map(|i| {
            let tx = tx.clone();
            tether::spawn(async move { tx.send(i).await.unwrap() })
        })
        .collect();
    drop(tx);
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 2).await, 2);
    for s in senders {
        bounded(Duration::from_secs(10), "a sender after recv_many", s)
            .await
            .unwrap();
    }
    while rx.recv_many(&mut buf, 2).await > 0 {}
    buf.sort();
    assert_eq!(buf, [0, 1, 2, 3]);
}

#[test]
fn mpsc_blocking_send_and_recv_work_from_plain_threads() {
    within(Duration::from_secs(30), "blocking send and recv", || {
        let (tx, mut rx) = mpsc::channel(1);
        let (utx, mut urx) = mpsc::unbounded_channel();
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                tx.blocking_send(i).unwrap(); // waits for the runtime's task to make room
            }
        });
        let rt = tether::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut sum = 0;
            while let Some(i) = rx.recv().await {
                sum += i;
                utx.send(i).unwrap();
            }
            assert_eq!(sum, 4950);
        });
        producer.join().unwrap();
        let mut got = Vec::new();
        while let Some(i) = urx.blocking_recv() {
            got.push(i);
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn mpsc_blocking_recv_waits_for_a_task_and_recv_many_blocks_too() {
    within(Duration::from_secs(30), "blocking_recv", || {
        let rt = tether::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let consumer = std::thread::spawn(move || {
            let first = rx.blocking_recv();
            let mut rest = Vec::new();
            while rx.blocking_recv_many(&mut rest, 8) > 0 {}
            (first, rest)
        });
        rt.block_on(async move {
            for i in 0..10 {
                tx.send(i).await.unwrap();
            }
        });
        let (first, rest) = consumer.join().unwrap();
        assert_eq!(first, Some(0));
        assert_eq!(rest, (1..10).collect::<Vec<_>>());
    });
}

#[tether::test]
#[should_panic(expected = "use `recv().await`")]
async fn mpsc_blocking_recv_on_a_runtime_thread_panics_saying_what_to_do() {
    let (_tx, mut rx) = mpsc::channel::<()>(1);
    rx.blocking_recv();
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "mpsc::Sender::blocking_send was called at")]
async fn mpsc_blocking_send_in_a_multi_thread_task_panics() {
    let (tx, _rx) = mpsc::channel(1);
    let task = tether::spawn(async move { tx.blocking_send(1) });
    if let Err(e) = task.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Waiting senders are served first come, first served: a sender that has not waited (a
/// `try_send`, a new `send`) finds the channel full while one waits, even right after the
/// receiver freed a slot, and cannot starve it.
#[tether::test]
async fn mpsc_a_waiting_sender_is_not_overtaken_by_newcomers() {
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    tx.send(0).await.unwrap();
    let tx2 = tx.clone();
    let waiter = tether::spawn(async move { tx2.send(1).await.unwrap() });
    settle().await;
    assert_eq!(rx.recv().await, Some(0)); // frees the slot: it is the waiter's
    assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    let newcomer = tx.clone();
    let late = tether::spawn(async move { newcomer.send(3).await.unwrap() });
    settle().await;
    assert_eq!(rx.recv().await, Some(1), "the waiting sender's value first");
    assert_eq!(rx.recv().await, Some(3));
    waiter.await.unwrap();
    late.await.unwrap();

    // A stream of newcomers does not starve a sender that waits.
    tx.send(10).await.unwrap();
    let tx2 = tx.clone();
    let waiter = tether::spawn(async move { tx2.send(u32::MAX).await.unwrap() });
    settle().await;
    let mut overtaken = 0;
    loop {
        let v = rx.recv().await.unwrap();
        if v == u32::MAX {
            break;
        }
        if tx.try_send(v + 1).is_ok() {
            overtaken += 1;
        }
        assert!(overtaken < 100, "the waiting sender never got in");
        tether::task::yield_now().await;
    }
    assert_eq!(overtaken, 0);
    waiter.await.unwrap();
}

/// Two waiting senders both woken for freed slots and both beaten by nobody keep their order;
/// and newcomers after them queue behind them.
#[tether::test]
async fn mpsc_woken_senders_keep_their_order() {
    let (tx, mut rx) = mpsc::channel::<&str>(2);
    tx.send("x").await.unwrap();
    tx.send("y").await.unwrap();
    let (ta, tb) = (tx.clone(), tx.clone());
    let a = tether::spawn(async move { ta.send("A").await.unwrap() });
    settle().await;
    let b = tether::spawn(async move { tb.send("B").await.unwrap() });
    settle().await;
    assert_eq!(rx.try_recv(), Ok("x"));
    assert_eq!(rx.try_recv(), Ok("y"));
    assert!(
        tx.try_send("n1").is_err(),
        "both freed slots are the waiters'"
    );
    settle().await;
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(rx.recv().await.unwrap());
    }
    assert_eq!(got, ["A", "B"]);
    a.await.unwrap();
    b.await.unwrap();
}

/// A `closed()` future that lost a race and was dropped leaves nothing behind in the channel:
/// its waker (and so its task) is released at once, not when the receiver closes.
#[tether::test]
async fn mpsc_a_dropped_closed_future_releases_its_waker() {
    let (tx, _rx) = mpsc::channel::<u32>(1);
    let (utx, _urx) = mpsc::unbounded_channel::<u32>();
    let token = Arc::new(());
    let waker = std::task::Waker::from(Arc::new(Holder(token.clone())));
    let mut cx = std::task::Context::from_waker(&waker);
    for _ in 0..3 {
        let mut closed = std::pin::pin!(tx.closed());
        assert!(closed.as_mut().poll(&mut cx).is_pending());
        let mut closed = std::pin::pin!(utx.closed());
        assert!(closed.as_mut().poll(&mut cx).is_pending());
    }
    drop(waker);
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the channels still hold the waker of dropped closed() futures"
    );
}

/// A waker that holds a token, to see whether anything still holds the waker.
struct Holder(#[allow(dead_code)] Arc<()>);

impl std::task::Wake for Holder {
    fn wake(self: Arc<Self>) {}
}
