//! `spawn_blocking`: run blocking code on the runtime's blocking pool.

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
