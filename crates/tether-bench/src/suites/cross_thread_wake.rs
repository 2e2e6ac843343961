//! The `cross_thread_wake` suite (multi-thread flavor only): a plain std thread sends 100,000
//! numbers on the runtime's unbounded channel (async-channel for smol) to one spawned task. Two
//! figures, in ns per message from just before the first send until the task has the last one:
//! *lockstep*, where the std thread waits after each send until the task acknowledges that
//! message over a `std::sync::mpsc` channel, so every message wakes a waiting task (and the ack
//! wakes the std thread: both wake-ups are in the figure); and *burst*, where it sends all of
//! them without waiting.

use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::Instant;

use super::{Metric, Scale, Suite, MULTI};
use crate::measure::ns_per;
use crate::runtimes::{self as rt, Flavor};

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "cross_thread_wake",
    about: "a plain std thread sends 100,000 numbers on the runtime's unbounded channel \
            (async-channel for smol) to one task that receives them; lockstep: after each \
            send the std thread waits until the task has acknowledged that message (over a \
            std channel), so every message wakes a waiting task; burst: the std thread sends \
            without waiting; time per message from the first send until the task has the \
            last one",
    metrics: &[
        Metric::lower("lockstep", "ns/msg"),
        Metric::lower("burst", "ns/msg"),
    ],
    peak_rss: false,
    flavors: MULTI,
    tether: cross_thread_wake_tether,
    tokio: cross_thread_wake_tokio,
    smol: cross_thread_wake_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

const WAKE_MESSAGES: usize = 100_000;

/// The modes, in the order of the figures: lockstep (`true`), then burst.
const WAKE_LOCKSTEP: [bool; 2] = [true, false];

/// Starts the plain std thread of `cross_thread_wake`: it sends `0..n` through `send`, and in
/// lockstep mode (`acks` given) waits for the task's acknowledgement after each one. Joining it
/// gives the instant just before its first send.
fn wake_sender<S>(
    n: u32,
    acks: Option<std_mpsc::Receiver<()>>,
    send: S,
) -> thread::JoinHandle<Instant>
where
    S: Fn(u32) + Send + 'static,
{
    thread::Builder::new()
        .name("waker".to_string())
        .spawn(move || {
            let start = Instant::now();
            for i in 0..n {
                send(i);
                if let Some(acks) = &acks {
                    acks.recv().expect("cross_thread_wake: the task is gone");
                }
            }
            start
        })
        .expect("cross_thread_wake: could not start the std thread")
}

/// Nanoseconds per message from the sender thread's start to `end`. The sender has sent its
/// last message (and in lockstep mode received its last acknowledgement) by the time the task
/// returns `end`, so joining it blocks the `block_on` thread (not a worker) only briefly.
fn wake_figure(sender: thread::JoinHandle<Instant>, end: Instant, n: u32) -> f64 {
    let start = sender
        .join()
        .expect("cross_thread_wake: the std thread panicked");
    ns_per(end.duration_since(start), n as usize)
}

fn cross_thread_wake_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::tether(flavor, async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, mut rx) = tether::sync::mpsc::unbounded_channel::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = tether::spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await.expect("cross_thread_wake: task failed");
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}

fn cross_thread_wake_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::tokio(flavor, async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = tokio::spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await.expect("cross_thread_wake: task failed");
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}

fn cross_thread_wake_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    let n = scale.size(WAKE_MESSAGES) as u32;
    rt::smol(flavor, |ex| async move {
        let mut figures = Vec::new();
        for lockstep in WAKE_LOCKSTEP {
            let (tx, rx) = async_channel::unbounded::<u32>();
            let (ack_tx, ack_rx) = std_mpsc::channel();
            let task = ex.spawn(async move {
                for i in 0..n {
                    let got = rx.recv().await.expect("cross_thread_wake: sender gone");
                    assert_eq!(got, i, "cross_thread_wake: wrong message");
                    if lockstep {
                        let _ = ack_tx.send(());
                    }
                }
                Instant::now()
            });
            // An unbounded channel is never full: `try_send` is its non-blocking send.
            let sender = wake_sender(n, lockstep.then_some(ack_rx), move |i| {
                tx.try_send(i).expect("cross_thread_wake: task gone");
            });
            let end = task.await;
            figures.push(wake_figure(sender, end, n));
        }
        figures
    })
}
