//! The `futures_core::Stream` impls: the mpsc receivers, `broadcast::Receiver` (values and
//! `Lagged`), `watch::WatchStream` (the current value or only changes, skipping superseded
//! values), `time::Interval` (scheduled instants, on the paused clock), `signal::unix::Signal`
//! and `fs::ReadDir`; each ends where the type's own method says the end. Each item spends one
//! unit of the cooperative budget, like the method it stands for: a loop over an always-ready
//! stream yields after 128 items (checked for the channels and `Interval`; `Signal` and
//! `ReadDir` delegate to `recv` and `next_entry`, whose budget their own tests cover).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::StreamExt;
use support::{iterations_before_yield, BUDGET};
use tether::sync::broadcast::{self, error::Lagged};
use tether::sync::mpsc;
use tether::sync::watch::{self, WatchStream};
use tether::time::{interval, interval_at, Instant, MissedTickBehavior};

#[tether::test]
async fn mpsc_receivers_are_streams_of_their_values() {
    let (tx, rx) = mpsc::channel(4);
    tether::spawn(async move {
        for i in 0..10 {
            tx.send(i).await.unwrap();
        }
    });
    assert_eq!(rx.collect::<Vec<_>>().await, (0..10).collect::<Vec<_>>());

    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send("a").unwrap();
    tx.send("b").unwrap();
    assert_eq!(rx.next().await, Some("a"));
    drop(tx);
    assert_eq!(rx.next().await, Some("b"));
    assert_eq!(rx.next().await, None);
}

#[tether::test]
async fn broadcast_receiver_is_a_stream_with_lagged_items() {
    let (tx, rx) = broadcast::channel(2);
    let mut late = tx.subscribe();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    drop(tx);
    let items: Vec<Result<i32, Lagged>> = rx.collect().await;
    assert_eq!(items, [Err(Lagged(3)), Ok(3), Ok(4)]);
    assert_eq!(late.next().await, Some(Err(Lagged(3))));
    let err: broadcast::error::RecvError = Lagged(3).into();
    assert_eq!(err, broadcast::error::RecvError::Lagged(3));
    assert!(Lagged(3).to_string().contains("3 values"));
}

#[tether::test]
async fn watch_stream_yields_the_current_value_then_each_change_until_the_sender_goes() {
    let (tx, rx) = watch::channel(0);
    let mut all = WatchStream::new(rx.clone());
    let mut changes = WatchStream::from_changes(rx);
    assert_eq!(all.next().await, Some(0), "new: the current value first");
    tx.send(1).unwrap();
    tx.send(2).unwrap(); // before the streams are polled: 1 is superseded
    assert_eq!(all.next().await, Some(2));
    assert_eq!(
        changes.next().await,
        Some(2),
        "from_changes: only what it had not seen"
    );
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(all.next().await, Some(3), "the last value still comes");
    assert_eq!(all.next().await, None);
    assert_eq!(changes.next().await, Some(3));
    assert_eq!(changes.next().await, None);
    let rx = changes.into_inner();
    assert_eq!(*rx.borrow(), 3);
}

#[tether::test]
async fn watch_stream_waits_for_a_send_from_another_task() {
    let (tx, rx) = watch::channel("idle");
    let mut states = WatchStream::from_changes(rx);
    let sender = tether::spawn(async move {
        tether::task::yield_now().await;
        tx.send("busy").unwrap();
    });
    assert_eq!(states.next().await, Some("busy"));
    sender.await.unwrap();
    assert_eq!(states.next().await, None);
}

#[tether::test(start_paused = true)]
async fn interval_is_a_stream_of_its_scheduled_instants() {
    let start = Instant::now();
    let ticks: Vec<Instant> = interval(Duration::from_secs(5)).take(3).collect().await;
    let offsets: Vec<Duration> = ticks.iter().map(|t| *t - start).collect();
    assert_eq!(
        offsets,
        [
            Duration::ZERO,
            Duration::from_secs(5),
            Duration::from_secs(10)
        ]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[cfg(unix)]
#[tether::test]
async fn signal_is_a_stream_of_deliveries() {
    use tether::signal::unix::{signal, SignalKind};
    let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
    // SAFETY: `raise` has no memory-safety preconditions.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
    let got = tether::time::timeout(Duration::from_secs(10), usr2.next()).await;
    assert_eq!(got.expect("SIGUSR2 did not arrive"), Some(()));
}

#[tether::test]
async fn read_dir_is_a_stream_of_entries() {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tether-streams-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    let entries = tether::fs::read_dir(&dir).await.unwrap();
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
        .await;
    names.sort();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(names, ["a", "b", "c"]);
}

#[tether::test]
async fn every_stream_item_spends_one_unit_of_the_budget() {
    let one = BUDGET + 1;
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::channel(1);
    } => {
        tx.try_send(1).unwrap();
        rx.next().await.unwrap();
    });
    assert_eq!(n, one, "mpsc::Receiver");
    let n = iterations_before_yield!({
        let (tx, mut rx) = mpsc::unbounded_channel();
    } => {
        tx.send(1).unwrap();
        rx.next().await.unwrap();
    });
    assert_eq!(n, one, "mpsc::UnboundedReceiver");
    let n = iterations_before_yield!({
        let (tx, mut rx) = broadcast::channel(1);
    } => {
        tx.send(1).unwrap();
        rx.next().await.unwrap().unwrap();
    });
    assert_eq!(n, one, "broadcast::Receiver");
    let n = iterations_before_yield!({
        let (tx, rx) = watch::channel(0);
        let mut stream = WatchStream::from_changes(rx);
    } => {
        tx.send_modify(|v| *v += 1);
        stream.next().await.unwrap();
    });
    assert_eq!(n, one, "WatchStream");
}

#[tether::test(start_paused = true)]
async fn interval_stream_items_spend_the_budget() {
    // Far behind schedule in burst mode: every tick is due at once.
    let n = iterations_before_yield!({
        let mut ticks = interval_at(Instant::now() - Duration::from_secs(3_600), Duration::from_millis(1));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    } => {
        ticks.next().await.unwrap();
    });
    assert_eq!(n, BUDGET + 1, "Interval");
}
