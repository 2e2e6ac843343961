//! Synchronization between tasks: channels, locks, semaphores, notifications, barriers.
//!
//! The names and meanings follow `tokio::sync`, so code moves over by changing the import; the
//! differences are listed on each type and at the end of this page.
//!
//! - [`oneshot`]: one value, from one task to one other. Own code: a slot under a mutex and two
//!   wakers.
//! - [`mpsc`]: many senders, one receiver; bounded (with backpressure) or unbounded. Own code: a
//!   queue under a mutex with a first-in-first-out list of waiting senders (async-channel's
//!   event-listener machinery cost about 70% of a ping-pong round trip).
//! - [`broadcast`]: many senders, many receivers, each receiver sees every value; the oldest value
//!   is overwritten when a receiver lags. Backed by `async-broadcast` in overflow mode.
//! - [`watch`]: one sender publishes the latest value, receivers wait for it to change. Own code:
//!   a read-write lock, a version word and `event-listener`.
//! - [`Mutex`]: exclusive access to a value, held across `.await`. Backed by `async-lock`.
//! - [`RwLock`]: many readers (at most a chosen number, if asked) or one writer, held across
//!   `.await`. Own code: a fair [`Semaphore`] of which a reader takes one permit and a writer
//!   all.
//! - [`Semaphore`]: a fair, closable pool of permits, taken one or many at a time. Own code: a
//!   first-in-first-out queue of waiters under a mutex.
//! - [`Notify`]: wake one task (storing one permit when none waits) or every waiting task. Own
//!   code: a first-in-first-out queue of waiters under a mutex.
//! - [`OnceCell`]: a value set once, possibly by an async initializer that one task runs while
//!   the others wait. Own code over `std::sync::OnceLock` and a [`Semaphore`].
//! - [`Barrier`]: `n` tasks wait for each other; one of them leads. Backed by `async-lock`.
//!
//! Why own code for seven of them: `mpsc` for speed (see above); `oneshot` is a hundred lines of
//! safe code for which no crate has tokio's `close`/`closed` pair; `watch` (latest value plus a
//! per-receiver "seen" version) exists in no small crate; `async-lock`'s semaphore can neither be
//! closed nor is first-in-first-out; `event-listener` alone cannot store `Notify`'s permit or
//! tell a `notify_waiters` from a `notify_one`; `OnceCell`'s hand-over to the next waiting
//! initializer needs the fair semaphore; and `async-lock`'s `RwLock` can neither bound its
//! readers (`with_max_readers`) nor hand out a guard of a part of the value (`map`). The
//! `unsafe` code: [`Mutex`] hands `async-lock` an `Arc` of its inner lock for the owned guards
//! and keeps `async-lock`'s guard, its type forgotten, in a [`MappedMutexGuard`]; the mapped
//! and `RwLock` guards dereference the pointer they hold while they hold the lock (each argued
//! where it is).
//!
//! # Streams
//!
//! The mpsc receivers and [`broadcast::Receiver`] implement
//! [`Stream`](futures_core::Stream) themselves; a watch channel becomes one through
//! [`watch::WatchStream`]. (tokio keeps these in the `tokio-stream` crate as wrappers:
//! `ReceiverStream`, `UnboundedReceiverStream`, `BroadcastStream`, `WatchStream`.) Use the
//! `StreamExt` of `futures-lite` or `futures-util` for the combinators.
//!
//! # The cooperative budget
//!
//! Every operation that can wait (`recv`, `recv_many`, `send` and `reserve` on a bounded
//! channel, `lock`, `read`, `write`, `acquire`, `changed`, `wait_for`, `notified`, `wait`,
//! awaiting a oneshot receiver, waiting in `get_or_init`, each item of a `Stream`) spends one
//! unit of the task's cooperative budget when it completes, like a socket read or a timer does (see
//! [`task`](crate::task#the-cooperative-budget)). A task that loops over a channel that is never
//! empty therefore yields after 128 operations and does not starve the other tasks of its thread.
//! The non-waiting `try_*` methods and the sending side of unbounded and broadcast channels spend
//! nothing. Wrap a future in [`task::unconstrained`](crate::task::unconstrained) to opt out, at
//! the price of that protection.
//!
//! # Examples
//!
//! ```
//! use tether::sync::{mpsc, oneshot};
//!
//! #[tether::main]
//! async fn main() {
//!     let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(8);
//!     let server = tether::spawn(async move {
//!         while let Some((n, reply)) = rx.recv().await {
//!             let _ = reply.send(n * 2);
//!         }
//!     });
//!     for n in 0..3 {
//!         let (reply_tx, reply_rx) = oneshot::channel();
//!         tx.send((n, reply_tx)).await.unwrap();
//!         assert_eq!(reply_rx.await.unwrap(), n * 2);
//!     }
//!     drop(tx); // the server's `recv` returns `None` and it finishes
//!     server.await.unwrap();
//! }
//! ```
//!
//! # Coming from tokio
//!
//! The names and signatures are tokio's, including `reserve`/`Permit`, the `blocking_*`
//! methods (which panic on a runtime thread, as tokio's do), `acquire_many`, `lock_owned`,
//! `Notified::enable`, `wait_for` and `OnceCell`. The differences:
//!
//! - [`Mutex`] is eventually fair, not strictly first-in-first-out; `RwLock` has no owned
//!   guards (`read_owned`, `write_owned`); `OwnedMutexGuard` has no `map`.
//! - `mpsc` has no `WeakSender`, `reserve_many` or `send_timeout`.
//! - `broadcast` keeps exactly `capacity` values (tokio rounds up to a power of two).
//! - `watch::Sender` is not `Clone`.
//! - `Semaphore` has no `blocking_acquire*`; `Notify` has no `notified_owned`; `OnceCell` has
//!   no `const_new_with`.
//! - The `const_new` constructors of `Semaphore`, `Notify` and `OnceCell` are missing from loom
//!   builds (`--cfg tether_loom`), whose model-checked mutex cannot be built in a constant.
//! - The `Stream` impls live on the types themselves (see above).

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod watch;

mod barrier;
mod chan;
mod mutex;
mod notify;
mod once_cell;
mod rwlock;
mod semaphore;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{RwLock, RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

/// Runs `future` to completion by blocking this thread: the `blocking_*` methods.
///
/// # Panics
///
/// Panics, naming `method` and what to `.await` instead, when this thread runs a runtime's
/// tasks (inside `block_on`, or a multi-thread worker), as tokio's `blocking_*` methods do:
/// blocking it would stall every task of that thread, and could wait forever for a task that
/// only this thread would run.
///
/// The future runs unconstrained: blocking a thread is not a task's poll, so it spends no
/// cooperative budget. Inside [`block_in_place`](crate::task::block_in_place) the budget of the
/// task that called it is still set, and that poll does not end while the closure runs, so a
/// budget spent there would never be renewed and every later `blocking_*` call would spin on
/// `Pending` forever (tokio's `block_in_place` lifts the budget for the same reason).
#[track_caller]
pub(crate) fn block_on_sync<F: std::future::Future>(
    method: &str,
    instead: &str,
    future: F,
) -> F::Output {
    if crate::runtime::context::driving_runtime().is_some() {
        panic!(
            "tether::sync::{method} was called at {} on a thread that runs async tasks, which it \
             would block together with every task of that thread. In async code use \
             `{instead}`; call {method} only from a plain thread or from \
             tether::task::spawn_blocking.",
            std::panic::Location::caller()
        );
    }
    futures_lite::future::block_on(crate::task::coop::unconstrained(future))
}
