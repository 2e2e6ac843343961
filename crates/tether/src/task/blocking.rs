//! `spawn_blocking`: run blocking code on the runtime's blocking pool; `block_in_place`: block
//! the current task's thread after handing its worker to another thread.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::JoinHandle;

/// Runs the blocking closure `f` on a thread of the runtime's blocking pool and returns a handle
/// to its result.
///
/// Use it for work that would hold a scheduler thread for long: blocking system calls, file I/O
/// through `std::fs`, CPU-heavy computations. The pool starts threads on demand up to
/// [`Builder::max_blocking_threads`](crate::runtime::Builder::max_blocking_threads) and retires
/// them after [`Builder::thread_keep_alive`](crate::runtime::Builder::thread_keep_alive) idle.
/// A panic in `f` is delivered through the `JoinHandle`.
///
/// Once the closure has started it cannot be cancelled: [`JoinHandle::abort`] only stops a job
/// that is still queued. Dropping the runtime waits for running jobs to finish.
///
/// # Panics
///
/// Panics when called outside a tether runtime.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let sum = tether::task::spawn_blocking(|| (1..=100u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 5050);
/// }
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    crate::runtime::context::with_handle(|h| match h {
        Some(h) => h.spawn_blocking_inner(f, location),
        None => crate::task::no_runtime_panic("tether::task::spawn_blocking", location),
    })
}

/// Runs the blocking closure `f` on the current thread, after handing this thread's worker to
/// another thread, so that the other tasks of a multi-thread runtime keep running while `f`
/// blocks; returns `f`'s result. tokio's `block_in_place`.
///
/// Use it where a task must block and cannot move the blocking part into
/// [`spawn_blocking`] (which needs `'static` data): a synchronous call on borrowed data, a
/// library callback, or [`Handle::block_on`](crate::runtime::Handle::block_on) from inside a
/// task. Where `spawn_blocking` fits, prefer it: `block_in_place` also blocks the calling task
/// itself (a `select!` or `join!` around it cannot make progress while `f` runs), and it hands
/// the worker to a helper thread and back (a few microseconds; helper threads are kept for
/// reuse, 10 s after their last use).
///
/// - **On a worker of a multi-thread runtime**, inside a task: the worker (its queued tasks
///   and its share of new work) is lent to a helper thread for the rest of the task's current
///   poll, and `f` runs here. Blocking in `f` is not reported as a slow poll. When the
///   poll ends, this thread waits for the helper to finish the poll it is running and takes the
///   worker back. Until then, this thread is not a worker: another `block_in_place` in the same
///   poll runs its closure at once.
/// - **Elsewhere** (outside any runtime, on the blocking pool, in the `block_on` future of a
///   multi-thread runtime, or inside another `block_in_place`): `f` just runs here, as in tokio.
///
/// A runtime shut down while `f` runs waits for it, as for a task that blocks in a poll.
///
/// # Panics
///
/// Panics when called on a current-thread runtime (in its `block_on` future or its tasks):
/// there is no other thread to run its tasks while this one blocks. Use
/// [`spawn_blocking`] and await its handle, or a multi-thread runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[tether::main(flavor = "multi_thread", worker_threads = 1)]
/// async fn main() {
///     // With one worker, this task could not run while the other blocks it, were the worker
///     // not handed over.
///     let (tx, rx) = std::sync::mpsc::channel();
///     let helper = tether::spawn(async move { tx.send("ran meanwhile").unwrap() });
///     let got = tether::spawn(async move {
///         tether::task::block_in_place(|| rx.recv_timeout(Duration::from_secs(10)))
///     })
///     .await
///     .unwrap();
///     assert_eq!(got.unwrap(), "ran meanwhile");
///     helper.await.unwrap();
/// }
/// ```
#[track_caller]
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    if !crate::runtime::context::run_queue().is_null() {
        panic!(
            "tether::task::block_in_place was called at {} on a current-thread runtime, which \
             has no other thread to run its tasks while this one blocks (tokio says: \
             \"can call blocking only when running on the multi-threaded runtime\"). Use \
             tether::task::spawn_blocking and await its JoinHandle, or run on a multi-thread \
             runtime (Runtime::new(), or #[tether::main(flavor = \"multi_thread\")]).",
            Location::caller()
        );
    }
    // While `f` runs, a task that lent its worker is listed as blocking in place, for the dump
    // and the shutdown's report (diagnostics rule 6): its worker's slot no longer shows it.
    let lending = crate::runtime::diagnostics::Lending::before();
    crate::sched::multi_thread::lend_current_worker();
    let _in_place = lending.and_then(crate::runtime::diagnostics::Lending::lent);
    f()
}

/// A future that runs its closure in its first poll.
pub(crate) struct BlockingTask<F>(Option<F>);

impl<F> BlockingTask<F> {
    pub(crate) fn new(f: F) -> BlockingTask<F> {
        BlockingTask(Some(f))
    }
}

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("tether: a blocking task was polled after it completed");
        Poll::Ready(f())
    }
}
