//! Waiting on many futures at once, and promises.
//!
//! | combinator        | resolves to                  | when                                   | the others    |
//! |-------------------|------------------------------|----------------------------------------|---------------|
//! | [`all`]           | `Ok(Vec<T>)` or the first `E` | all succeed, or the first fails        | dropped on the first error |
//! | [`all_settled`]   | `Vec<Output>`                | all complete                           | (none left)   |
//! | [`race`]          | the first output             | the first completes, `Ok` or `Err`     | dropped       |
//! | [`any`]           | the first `Ok`, or an [`AggregateError`] | the first succeeds, or all fail | dropped on the first success |
//!
//! These take any number of futures of one type. For a few futures of different types written
//! out at the call site, the macros [`select!`](crate::select!) (the first to complete with an
//! output its pattern matches; the rest dropped), [`join!`](crate::join!) and
//! [`try_join!`](crate::try_join!) do the same without boxing.
//!
//! The names and outcomes are JavaScript's `Promise.all`, `allSettled`, `race` and `any`, with
//! one deliberate difference: **nothing is left running**. When `all` fails fast, or `race` or
//! `any` has a winner, every input still pending is dropped before the combinator returns, so
//! its destructors have run and it will never be polled again. Cancellation also propagates from
//! outside: dropping the combinator (for example when a [`timeout`](crate::time::timeout)
//! expires) drops every input.
//!
//! Results come in **input order**, not completion order ([`all`], [`all_settled`], and the
//! errors of an [`AggregateError`]). When several inputs complete during one poll, the earliest
//! in the order they were polled decides: on the first poll that is input order; afterwards,
//! the order in which they were woken.
//!
//! Empty inputs: `all` gives `Ok(vec![])`, `all_settled` an empty `Vec`, `any` an empty
//! `AggregateError`; `race` **panics**, because a race with no runner never finishes.
//!
//! # Tasks
//!
//! A [`JoinHandle`](crate::task::JoinHandle) is a future too, but dropping one *detaches* its
//! task, so `race` over handles would leave the losing tasks running. Use the `*_joined`
//! functions instead: [`all_joined`], [`all_settled_joined`], [`race_joined`], [`any_joined`].
//! They take handles of tasks returning `Result<T, E>`, **abort** every task that loses (or
//! every task still running when the combinator is dropped), and report a task's error, panic or
//! cancellation as one [`TaskError<E>`](TaskError). Each handle is wrapped in a [`Joined`], which
//! you can also build yourself. Aborting does not wait for the task to stop: its future is
//! dropped the next time the scheduler gets to it.
//!
//! # Promises
//!
//! [`Promise::new`] gives a [`Promise`] and its [`Resolver`]. The resolver settles the promise
//! exactly once (resolving or rejecting consumes it; dropping it unsettled makes the promise
//! [`Abandoned`](PromiseError::Abandoned)), and any number of clones of the promise await the
//! same outcome.
//!
//! # Cost
//!
//! Nothing is spawned: the inputs run inside the task that awaits the combinator, each boxed
//! once, with its own waker, so that a poll of the combinator polls **only the inputs woken
//! since the last poll**, not every pending one (a thousand idle inputs cost nothing while one
//! of them makes progress). The combinators follow the [cooperative
//! budget](crate::task#the-cooperative-budget): an input that completes spends one unit, and
//! when the task's budget is spent the combinator stops polling inputs and yields.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use tether::time::sleep;
//!
//! #[tether::main]
//! async fn main() {
//!     let lookup = |host: &'static str, ms: u64| async move {
//!         sleep(Duration::from_millis(ms)).await;
//!         if host.is_empty() { Err("empty host name") } else { Ok(host.len()) }
//!     };
//!     // Every lookup must succeed; the values come in input order.
//!     let lens = tether::future::all([lookup("a.example", 20), lookup("bb.example", 10)]).await;
//!     assert_eq!(lens, Ok(vec![9, 10]));
//!     // The first error wins, and the slow lookup is dropped at once.
//!     let err = tether::future::all([lookup("slow.example", 3_600_000), lookup("", 5)]).await;
//!     assert_eq!(err, Err("empty host name"));
//! }
//! ```

mod combinators;
mod joined;
mod promise;
mod set;

pub use combinators::{all, all_settled, any, race, AggregateError, All, AllSettled, Any, Race};
pub use joined::{all_joined, all_settled_joined, any_joined, race_joined, Joined, TaskError};
pub use promise::{Promise, PromiseError, Resolver};
