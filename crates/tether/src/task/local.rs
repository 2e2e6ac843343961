//! `spawn_local`: tasks whose future is not `Send`.
//!
//! The future is wrapped in [`Local`], which remembers the spawning thread and enforces the one
//! rule that makes running a `!Send` future sound: it is only polled and only dropped on that
//! thread. Polling elsewhere panics (the panic becomes the task's `JoinError`); dropping elsewhere
//! leaks the future instead, which is safe. The future is boxed so that it can be leaked.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::sched::current_thread::LocalCtx;
use crate::task::JoinHandle;

thread_local! {
    /// This thread's number, from a process-wide counter: never reused, unlike addresses of
    /// thread-locals, which a later thread may get again.
    static THREAD_MARK: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
}

/// An id of the current thread that is cheap to read and never reused.
fn thread_mark() -> usize {
    THREAD_MARK.with(|m| *m)
}

struct Local<F> {
    owner: usize,
    fut: Option<Pin<Box<F>>>,
}

impl<F: Future> Future for Local<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert!(
            self.owner == thread_mark(),
            "tether: a task spawned with spawn_local was polled on another thread than the one \
             that spawned it; keep driving its runtime (Runtime::block_on) on the spawning thread"
        );
        match self.fut.as_mut() {
            Some(fut) => fut.as_mut().poll(cx),
            None => unreachable!("tether: a local task was polled after its future was dropped"),
        }
    }
}

impl<F> Drop for Local<F> {
    fn drop(&mut self) {
        if self.owner != thread_mark() {
            if let Some(fut) = self.fut.take() {
                eprintln!(
                    "tether: a task spawned with spawn_local is being dropped on another thread \
                     than the one that spawned it (its runtime was dropped there); its future is \
                     leaked instead of being dropped on the wrong thread"
                );
                std::mem::forget(fut);
            }
        }
    }
}

pub(super) fn spawn_local_inner<F>(
    future: F,
    name: Option<std::sync::Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if !crate::runtime::context::worker().is_null() {
        panic!(
            "tether::task::spawn_local was called at {location} on a worker of a multi-thread \
             runtime, whose tasks may move between threads. Use tether::spawn with a Send \
             future, or run the !Send work on a current-thread runtime."
        );
    }
    let local = crate::runtime::context::local();
    if local.is_null() {
        panic!(
            "tether::task::spawn_local was called at {location} on a thread that is not driving a \
             current-thread runtime. Call it from inside Runtime::block_on (or a task running \
             there) of a runtime built with Builder::new_current_thread(); use tether::spawn for \
             Send futures."
        );
    }
    // SAFETY: context invariant 1: a non-null local pointer refers to the `LocalCtx` on the stack
    // of the `block_on` call this thread is inside, alive until that call returns.
    let local: &LocalCtx = unsafe { &*local };
    let shared = local.runtime();
    let fut = Local {
        owner: thread_mark(),
        fut: Some(Box::pin(future)),
    };
    // SAFETY: `Local` only lets the future be polled or dropped on the spawning thread (it panics
    // or leaks otherwise), which is the obligation `spawn_raw` places on `!Send` futures.
    unsafe { crate::task::spawn_raw(&shared, fut, name, location, false, None) }
}
