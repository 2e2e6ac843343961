//! Tasks: spawning, joining, yielding.
//!
//! A task is a future the runtime drives to completion on its own, concurrently with other tasks.
//! It lives in one heap allocation (header, metadata, then the future and later its output), has a
//! unique [`Id`], an optional name, and the source location of the `spawn` call that created it.
//! Every live task is listed in its runtime's registry
//! ([`Handle::live_tasks`](crate::runtime::Handle::live_tasks)), so no task is ever running
//! unseen, and the runtime cancels whatever still runs when it shuts down.
//!
//! - [`spawn`](crate::spawn()) runs a `Send` future on the current runtime.
//! - [`spawn_local`] runs a `!Send` future on the current-thread runtime driven by this thread.
//! - [`Builder`] names a task before spawning it.
//! - [`JoinHandle`] awaits a task's output; [`JoinError`] says why there is none.
//! - [`JoinSet`] holds a dynamic set of tasks and returns their results in the order they
//!   finish (tokio's `JoinSet`); see its docs for when to use it rather than a
//!   [`scope`](crate::scope).
//! - [`yield_now`] lets other tasks run.
//! - [`spawn_blocking`] runs blocking code on the runtime's blocking pool; [`block_in_place`]
//!   blocks the current task's thread after handing its worker to another thread
//!   (multi-thread runtime only).
//! - [`unconstrained`] opts a future out of the cooperative budget (see below).
//!
//! # The cooperative budget
//!
//! Each poll of a task may perform 128 operations on runtime resources (socket reads and
//! writes, timers, `JoinHandle`s, channels, locks). After that, the next operation makes the task
//! yield (it is woken at once and goes to the back of the queue), so a task looping over
//! always-ready resources cannot starve the others on its thread.
//!
//! # Ordering on the current-thread runtime
//!
//! Spawned tasks run in the order they were woken (first in, first out), after the spawning
//! task yields or waits. A spawned task never runs before `spawn` returns. Local tasks
//! ([`spawn_local`]) wait in a queue of their own thread, also first in, first out; the two
//! queues take turns while both hold tasks.

pub(crate) mod blocking;
mod cell;
#[cfg(test)]
pub(crate) use cell::test_hooks;
pub(crate) mod coop;
pub(crate) mod current;
mod join;
pub(crate) mod join_set;
pub(crate) mod local;
pub(crate) mod meta;
pub(crate) mod raw;
pub(crate) mod registry;
pub(crate) mod waker_id;
mod yield_now;

use std::future::Future;
use std::panic::Location;

pub use blocking::{block_in_place, spawn_blocking};
pub use coop::{unconstrained, Unconstrained};
pub use current::{cancelled, id, is_cancelled, try_id};
pub use join::AbortHandle;
pub use join::{JoinError, JoinHandle};
pub use join_set::JoinSet;
pub(crate) use join_set::JoinSetDesc;
pub use meta::Id;
pub use yield_now::yield_now;

pub(crate) use cell::{
    contain, spawn_raw, spawn_with_outcome, spawn_with_schedule, Group, Outcome, Plain,
};
pub(crate) use join::panic_message;

use crate::runtime::Handle;

/// Spawns a future as a new task on the current runtime and returns a handle to its output.
///
/// The task starts running in the background at once: awaiting the handle is not needed for it
/// to make progress. A panic inside the task is caught and delivered through the handle; it never
/// takes the runtime down.
///
/// # Panics
///
/// Panics when called outside a tether runtime (not inside `Runtime::block_on`, a task, or
/// [`Handle::enter`]). To spawn from elsewhere, keep a
/// [`Handle`] and call [`Handle::spawn`].
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let tasks: Vec<_> = (0..10u64).map(|i| tether::spawn(async move { i * i })).collect();
///     let mut total = 0;
///     for t in tasks {
///         total += t.await.unwrap();
///     }
///     assert_eq!(total, 285);
/// }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    crate::runtime::context::with_handle(|h| match h {
        Some(h) => h.spawn_inner(future, None, location),
        None => no_runtime_panic("tether::spawn", location),
    })
}

#[track_caller]
#[cold]
pub(crate) fn no_runtime_panic(what: &str, location: &Location<'_>) -> ! {
    panic!(
        "{what} was called at {location} outside a tether runtime. Call it from inside \
         Runtime::block_on, from a task, or under Handle::enter(); from any other thread, keep a \
         tether::runtime::Handle and call Handle::spawn. A runtime is built with \
         tether::runtime::Builder or #[tether::main]."
    )
}

/// Spawns a `!Send` future on the current-thread runtime whose `block_on` this thread is inside.
///
/// Use it for futures that hold `Rc`, `RefCell` borrows or other thread-bound state. The task
/// belongs to this thread: its future is polled and dropped only here, interleaved with the
/// runtime's other tasks, whichever thread wakes or aborts it.
///
/// - When several threads share the runtime (each calling `block_on` in turn), a local task runs
///   only while its own thread drives the runtime; another thread's `block_on` never runs it.
/// - When the runtime is dropped on this thread, its local tasks are cancelled there.
/// - When it is dropped on another thread, this thread's local tasks cannot be dropped there:
///   they are cancelled when this thread next drives a current-thread runtime, or when it exits.
/// - When this thread exits while the runtime lives on, its local tasks are cancelled (their
///   `JoinHandle`s report cancellation).
///
/// # Panics
///
/// Panics when this thread is not inside `Runtime::block_on` of a current-thread runtime (for
/// example from a plain thread, from a multi-thread runtime's worker, or from inside
/// `Handle::enter` without `block_on`).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// #[tether::main]
/// async fn main() {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     let out = tether::task::spawn_local(async move { *s + 1 }).await.unwrap();
///     assert_eq!(out, 6);
/// }
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    local::spawn_local_inner(future, None, Location::caller(), Group::Root)
}

/// Configures a task before spawning it: today, its name.
///
/// The name shows in [`Handle::live_tasks`](crate::runtime::Handle::live_tasks), in the task
/// tree of [`Handle::dump`](crate::runtime::Handle::dump), and in the reports about the task:
/// slow polls, the watchdog's, and unhandled failures.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let handle = tether::task::Builder::new()
///         .name("store")
///         .spawn(async { "saved" });
///     assert_eq!(handle.await.unwrap(), "saved");
/// }
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<std::sync::Arc<str>>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task.
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(std::sync::Arc::from(name));
        self
    }

    /// Spawns the task on the current runtime; see [`spawn`](crate::spawn()).
    ///
    /// # Panics
    ///
    /// Panics outside a runtime, like [`spawn`](crate::spawn()).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        crate::runtime::context::with_handle(|h| match h {
            Some(h) => h.spawn_inner(future, self.name, location),
            None => no_runtime_panic("tether::task::Builder::spawn", location),
        })
    }

    /// Spawns the task on the given runtime, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_inner(future, self.name, Location::caller())
    }

    /// Spawns a `!Send` task on this thread's current-thread runtime; see [`spawn_local`].
    ///
    /// # Panics
    ///
    /// Panics like [`spawn_local`].
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        local::spawn_local_inner(future, self.name, Location::caller(), Group::Root)
    }
}
