//! Unit tests of the current-thread scheduler.

use std::cell::RefCell;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use crate::runtime::Builder;

// Miri interprets each thread about a hundred times slower, and on a machine busy with other
// work it took the single-core-bound test past 20 s once.
const LIMIT: Duration = Duration::from_secs(if cfg!(miri) { 600 } else { 20 });

thread_local! {
    /// Runs on this thread when `push_remote` has decided to push and has not pushed yet.
    static BEFORE_REMOTE_PUSH: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
}

/// The test hook in `push_remote` (see `BEFORE_REMOTE_PUSH`).
pub(super) fn before_remote_push() {
    let hook = BEFORE_REMOTE_PUSH.with(|h| h.borrow_mut().take());
    if let Some(mut hook) = hook {
        hook();
    }
}

/// Runs `body` on its own thread; a hang becomes a failure after `LIMIT`.
fn bounded(body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish in {LIMIT:?}"),
    }
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Rule 1: a thread waiting for the core is registered once, however often its own future
/// is woken while another thread holds the core.
#[test]
fn a_thread_waiting_for_the_core_is_registered_once() {
    bounded(|| {
        let rt = Builder::new_current_thread().build().unwrap();
        let (holding_tx, holding_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        thread::scope(|s| {
            let rt = &rt;
            s.spawn(move || {
                // Holds the core (blocking inside its poll) until the other thread is done.
                rt.block_on(async move {
                    holding_tx.send(()).unwrap();
                    release_rx.recv_timeout(LIMIT).unwrap();
                })
            });
            holding_rx.recv_timeout(LIMIT).unwrap();
            // Under Miri 50 wake-ups (20 s for 1,000 there).
            let wakes = if cfg!(miri) { 50 } else { 1_000 };
            let mut polls = 0;
            let registered = rt.block_on(poll_fn(|cx| {
                polls += 1;
                if polls < wakes {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(
                    rt.handle()
                        .shared
                        .sched
                        .current_thread()
                        .core_waiter_count(),
                )
            }));
            release_tx.send(()).unwrap();
            assert_eq!(
                registered, 1,
                "the waiting thread was registered on every wake-up"
            );
        });
    });
}

/// Rule 5: a wake-up from another thread that decided to push before the runtime closed,
/// and pushes after its shutdown drained the queues for the last time, is dropped there:
/// the task is cancelled (its future's destructor runs) and nothing keeps the runtime's
/// shared state alive.
#[test]
fn a_remote_push_that_loses_the_race_with_shutdown_frees_the_runtime() {
    bounded(|| {
        let rt = Builder::new_current_thread().build().unwrap();
        let shared = Arc::downgrade(&rt.handle().shared);
        let dropped = Arc::new(AtomicBool::new(false));
        let (waker_tx, waker_rx) = mpsc::channel();
        let flag = SetOnDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _flag = flag;
            let mut sent = false;
            poll_fn(|cx| {
                if !sent {
                    sent = true;
                    waker_tx.send(cx.waker().clone()).unwrap();
                }
                Poll::<()>::Pending
            })
            .await;
        }));
        rt.block_on(crate::task::yield_now());
        let waker = waker_rx.recv_timeout(LIMIT).unwrap();

        let (at_hook_tx, at_hook_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let waker_thread = thread::spawn(move || {
            BEFORE_REMOTE_PUSH.with(|h| {
                *h.borrow_mut() = Some(Box::new(move || {
                    at_hook_tx.send(()).unwrap();
                    go_rx.recv_timeout(LIMIT).unwrap();
                }))
            });
            waker.wake();
        });
        // The task is marked scheduled and its runnable is in flight: the shutdown's wake
        // of it does nothing, and it runs to completion meanwhile.
        at_hook_rx.recv_timeout(LIMIT).unwrap();
        drop(rt);
        go_tx.send(()).unwrap();
        waker_thread.join().unwrap();
        assert!(
            dropped.load(Ordering::SeqCst),
            "the task pushed after shutdown was never dropped"
        );
        assert!(
            shared.upgrade().is_none(),
            "the runtime's shared state outlived the runtime"
        );
    });
}

/// The capacity of the run queue of the core this thread drives.
fn run_queue_capacity() -> usize {
    let q = crate::runtime::context::run_queue();
    assert!(!q.is_null(), "not on a current-thread core");
    // SAFETY: context invariant 1: a non-null pointer refers to the `RunQueue` of the core this
    // thread drives, alive while we are inside its `block_on`.
    unsafe { &*q }.queue.borrow().capacity()
}

/// A burst of spawns grows the run queue; once the queue has drained, its buffer shrinks back,
/// so the burst does not pin memory for the runtime's life.
#[test]
#[cfg_attr(
    miri,
    ignore = "safe code (a VecDeque's capacity); a burst beyond RUN_QUEUE_KEEP took 3 minutes"
)]
fn an_emptied_run_queue_gives_back_the_memory_of_a_burst() {
    let rt = crate::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = 50_000;
        let tasks: Vec<_> = (0..n).map(|i| crate::spawn(async move { i })).collect();
        assert!(run_queue_capacity() >= n, "the burst is queued");
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, (0..n).sum::<usize>());
        // The last task ran: the next look at the queue finds it empty.
        crate::task::yield_now().await;
        let cap = run_queue_capacity();
        assert!(
            cap <= super::RUN_QUEUE_KEEP,
            "capacity {cap} after the burst"
        );
    });
}

/// A run queue grown by a burst gives its memory back while it drains, not only once empty:
/// with half the burst left it has halved its capacity, and more since (so a task that takes
/// memory as the queue drains, a sleeping task's timer entry, finds the queue's given back);
/// while it holds more than half its capacity it keeps it.
#[test]
#[cfg_attr(
    miri,
    ignore = "safe code (a VecDeque's capacity); a burst beyond RUN_QUEUE_KEEP took 3 minutes"
)]
fn a_draining_run_queue_gives_back_memory_before_it_is_empty() {
    let rt = crate::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = 50_000;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let seen = seen.clone();
                crate::spawn(async move { seen.lock().unwrap().push(run_queue_capacity()) })
            })
            .collect();
        let full = run_queue_capacity();
        for t in tasks {
            t.await.unwrap();
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), n);
        assert_eq!(
            seen[n / 4],
            full,
            "three quarters of the burst left: the memory is kept"
        );
        assert!(
            seen[n / 2] <= full / 2,
            "half the burst left, the queue still holds {} of {full} slots",
            seen[n / 2]
        );
        assert!(
            seen[n * 7 / 8] <= full / 4,
            "an eighth of the burst left, the queue still holds {} of {full} slots",
            seen[n * 7 / 8]
        );
    });
}
