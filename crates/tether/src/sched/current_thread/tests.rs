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

/// How many tasks the run queue of the core this thread drives holds.
fn run_queue_len() -> usize {
    let q = crate::runtime::context::run_queue();
    assert!(!q.is_null(), "not on a current-thread core");
    // SAFETY: context invariant 1: a non-null pointer refers to the `RunQueue` of the core this
    // thread drives, alive while we are inside its `block_on`.
    unsafe { &*q }.queue.borrow().len()
}

/// A burst of spawns is queued through the tasks' own cells (`raw.rs` rule 8), runs in the
/// order it was spawned, and leaves the queue empty, holding nothing.
#[test]
fn a_burst_runs_in_spawn_order_and_leaves_the_run_queue_empty() {
    let rt = crate::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = if cfg!(miri) { 200 } else { 50_000 };
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let order = order.clone();
                crate::spawn(async move {
                    order.lock().unwrap().push(i);
                    i
                })
            })
            .collect();
        assert_eq!(run_queue_len(), n, "the burst is queued");
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        assert_eq!(sum, (0..n).sum::<usize>());
        assert_eq!(*order.lock().unwrap(), (0..n).collect::<Vec<_>>());
        crate::task::yield_now().await;
        assert_eq!(run_queue_len(), 0);
    });
}
