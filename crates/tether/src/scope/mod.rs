//! Structured concurrency: scopes whose children cannot outlive them.
//!
//! # The model
//!
//! [`scope`] runs a body that may spawn child tasks with [`Scope::spawn`]. The scope's future
//! completes only after the body and every child have finished, so nothing started inside is
//! left running when it returns. Code spawns into a scope only through the [`Scope`] handle it
//! was given, so a function that leaves children running after it returns says so by taking
//! that handle as a parameter. The first failure — an `Err` returned by a child or the body, or a
//! panic — cancels the scope:
//!
//! 1. the **signal**: the scope's [`CancelToken`] is cancelled; children observe it with
//!    [`task::cancelled`](crate::task::cancelled) to finish cleanly (answer the request in flight,
//!    close the connection); the body is dropped at once;
//! 2. the **hard drop**: after the scope's grace period (100 ms by default,
//!    [`Builder::grace_period`]), every child still alive is dropped.
//!
//! The scope then returns every error that happened, in order, in a [`ScopeError`]; a panic is
//! resumed with its original payload once every child is gone. Cancelling an outer scope reaches
//! inner scopes (their tokens are children of the outer one), and dropping a scope's future
//! cancels and drops everything under it.
//!
//! A scope run in another scope's body, or in one of its children, belongs to it: cancelling
//! the outer scope signals the inner one's children, and the outer scope does not complete
//! while a task started in the inner one still exists (an inner scope whose future is dropped
//! aborts its children and holds its place in the outer scope until they are dropped). One
//! limit: a cancelled scope drops its body at once, and with it a scope run directly in the
//! body, whose children are then aborted without a grace period. Run an inner scope inside a
//! child (`s.spawn(async move { scope(..).await ... })`) when its children need the grace
//! period.
//!
//! # No failure is lost
//!
//! A scope delivers what it recorded to the code awaiting its future: every error (returned in
//! the [`ScopeError`]), or the first panic (resumed). What it cannot deliver goes to the
//! runtime's failure policy (the stderr report, or
//! [`runtime::Builder::on_unhandled_failure`](crate::runtime::Builder::on_unhandled_failure)),
//! exactly once, as an [`UnhandledFailure`](crate::diag::UnhandledFailure) for which
//! [`is_undelivered_scope_failure`](crate::diag::UnhandledFailure::is_undelivered_scope_failure)
//! is true, naming the child that failed (its id, name and spawn location; no id for the body)
//! and where the scope was created:
//!
//! 1. a panic after the scope's first one, when it is recorded (only the first is resumed);
//! 2. the errors of a scope that ends with a panic, before the panic is resumed (the message
//!    names the error's type; [`error`](crate::diag::UnhandledFailure::error) gives the
//!    error to downcast);
//! 3. everything recorded in a scope whose future is dropped before it completed, when it is
//!    dropped, and whatever its children still record afterwards, when they record it;
//! 4. the error a child returned when its future then panicked as it was dropped (the panic is
//!    the child's failure);
//! 5. a panic in the destructor of a panic payload or an error the scope drops after reporting
//!    it: every such drop runs under `catch_unwind`, so no destructor can keep a child in its
//!    scope, and its panic is reported in turn.
//!
//! [`Builder`] adds a concurrency bound (spawning waits for a free place: backpressure, so a
//! traffic spike does not pile up tasks) and a deadline.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! #[tether::main]
//! async fn main() {
//!     let total = tether::scope::scope(|s| async move {
//!         let a = s.spawn(async { Ok::<_, String>(20) }).await;
//!         let b = s.spawn(async { Ok(22) }).await;
//!         Ok(a.await + b.await)
//!     })
//!     .await
//!     .unwrap();
//!     assert_eq!(total, 42);
//!
//!     // A failure cancels the siblings and is returned with where it came from.
//!     let err = tether::scope::scope(|s| async move {
//!         s.spawn(async {
//!             tether::time::sleep(Duration::from_secs(3600)).await;
//!             Ok::<(), String>(())
//!         })
//!         .await;
//!         s.spawn_named("loader", async { Err::<(), _>("disk full".to_string()) })
//!             .await;
//!         Ok(())
//!     })
//!     .await
//!     .unwrap_err();
//!     assert_eq!(err.first().map(String::as_str), Some("disk full"));
//!     assert_eq!(err.failures()[0].source().name(), Some("loader"));
//! }
//! ```
//!
//! # Scope or `JoinSet`?
//!
//! tether also has tokio's [`JoinSet`](crate::task::JoinSet). Both run tasks concurrently and
//! stop them when their owner goes away; they differ in who handles a failure.
//!
//! - **A scope** is structured. Its children cannot outlive it: its future completes only after
//!   every child. The first failure cancels the siblings (the signal, then the hard drop), and
//!   every failure comes back to whoever awaits the scope, together, when it ends (a panic is
//!   resumed there); what cannot be delivered goes to the failure policy. A failure can be
//!   neither lost nor ignored by mistake. Use a scope for work that is one operation: the
//!   sub-requests of a request, a connection's reader and writer, a batch that fails as a whole,
//!   a server's connections under a bounded scope.
//! - **A `JoinSet`** is a dynamic set of tasks that you drain yourself with `join_next`, with
//!   tokio's API and meaning. A task's failure cancels nothing: its panic (a `JoinError` for
//!   which `is_panic()` is true) or its `Err` output is handed to you in its turn, and what
//!   happens next is your code's decision. Dropping the set aborts what still runs; a panic
//!   that was never joined then goes to the failure policy, as for a dropped `JoinHandle`. Use
//!   it when porting tokio code, or for independent jobs whose failures you handle one by one
//!   (retries, "the first N results", a pool of workers).
//!
//! # Compared with tokio
//!
//! | tokio | tether |
//! |---|---|
//! | `tokio::spawn`: the task outlives its caller; a panic is seen only if someone awaits the `JoinHandle` | `tether::spawn` (the root scope): same, but an unobserved panic is reported; inside a `scope`, children cannot outlive it |
//! | `JoinSet`: tasks are aborted when the set is dropped; errors are joined one by one | [`task::JoinSet`](crate::task::JoinSet): the same (a panic never joined is reported); or a `scope`: the first error cancels the siblings (two-phase), every error is returned together, panics are resumed |
//! | `TaskTracker` + `CancellationToken`: wait for tasks and signal them, by hand | built into every scope: `task::cancelled()`, a grace period, then a hard drop |
//! | bounded concurrency with a `Semaphore` held by each task | `Builder::max_concurrency`: `spawn` waits |
//!
//! # Costs and limits
//!
//! A scope is one allocation, its state and its token together, and a scope that never spawns
//! costs no allocation beyond the body: when a scope's future is dropped holding the only
//! reference to that state, the state goes to a small per-thread pool and the next scope on the
//! thread reuses it (so only the first scopes on a thread allocate; a state still referenced
//! when its scope ends, for example by a [`Scope::token`] kept elsewhere, is freed normally).
//! The state cannot live inside the scope's future instead: a [`Scope`] handle is `'static` and
//! may be moved into a task that outlives the future.
//!
//! Spawning into a scope costs about what `tether::spawn` costs (measured in the benchmark
//! crate's `scope_spawn` suite): one atomic add to take a place (a compare-and-swap in a bounded
//! scope), a reference to the scope for the child (its token, in its task's metadata, where the
//! task's poll wrapper finds it to report the child's outcome), and one atomic subtract when
//! it finishes; the
//! scope's lock is taken only to record a failure, to queue a spawner of a full bounded scope,
//! and when the scope's future waits for its last child.
//!
//! Children must be `Send + 'static`: borrowing, `!Send` children run concurrently inside the
//! current task (like `moro`) are not offered yet; use [`future::all`](crate::future::all) over
//! borrowing futures for that. A child's handle, awaited after that child failed, never
//! completes: whoever awaits it belongs to the scope being cancelled.

mod cancel;
mod child;
mod error;
mod live;
mod run;
mod state;

pub use cancel::{CancelToken, Cancelled};
pub use error::{Failure, FailureSource, ScopeError};
pub use run::{Builder, Scope, ScopeFuture, ScopeTask, Spawn, DEFAULT_GRACE};

use std::future::Future;

pub(crate) use state::ScopeDesc;

/// What the task dump shows about the scope whose token is `token` (a task's
/// `TaskMeta::scope`): its id, where it was created, the task that runs it. `None` for a token
/// that is not a scope's (made with [`CancelToken::new`] or [`CancelToken::child_token`], or
/// the runtime's root token).
pub(crate) fn describe(token: &CancelToken) -> Option<ScopeDesc> {
    token.node.scope.as_ref().map(|s| s.desc)
}

/// What the task dump shows about the `JoinSet` whose token is `token` (a task's
/// `TaskMeta::scope`); `None` for any other token.
pub(crate) fn describe_join_set(token: &CancelToken) -> Option<crate::task::JoinSetDesc> {
    token.node.join_set
}

/// Runs `body` as a scope with the default settings; see the [module docs](self).
///
/// # Panics
///
/// Panics outside a tether runtime, and resumes a panic of the body or a child once every
/// child has been cleaned up.
#[track_caller]
pub fn scope<T, E, F, Fut>(body: F) -> ScopeFuture<T, E, Fut>
where
    F: FnOnce(Scope<E>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    Builder::new().run(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child's handle is a plain task's handle: a program keeps one per child.
    #[test]
    fn a_scope_task_is_as_small_as_a_join_handle() {
        assert_eq!(
            std::mem::size_of::<ScopeTask<u64>>(),
            std::mem::size_of::<crate::task::JoinHandle<u64>>()
        );
    }

    /// A spawn that unwinds before its child's task exists (a panicking tracing subscriber,
    /// say) gives the place it took back: the scope neither counts a child that never was nor,
    /// bounded, stays full.
    #[test]
    fn a_spawn_that_panics_before_its_task_exists_gives_its_place_back() {
        use crate::task::test_hooks::PANIC_AT_NEXT_SPAWN;
        use futures_lite::FutureExt as _;
        // Paused: a scope that waits for a child that never was times out at once.
        let rt = crate::runtime::Builder::new_current_thread()
            .start_paused(true)
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let scope = Builder::new()
                .max_concurrency(1)
                .run(|s: Scope<()>| async move {
                    PANIC_AT_NEXT_SPAWN.with(|p| p.set(true));
                    let spawn = std::panic::AssertUnwindSafe(s.spawn(async { Ok(1) }));
                    let panicked = spawn.catch_unwind().await.is_err();
                    let live = s.live();
                    Ok((panicked, live, s.spawn(async { Ok(2) }).await.await))
                });
            crate::time::timeout(std::time::Duration::from_secs(60), scope).await
        });
        let (panicked, live, second) = out
            .expect("the scope ended (it did not wait for a child that never was)")
            .unwrap();
        assert!(panicked, "the spawn panicked");
        assert_eq!(live, 0, "the place was given back");
        assert_eq!(second, 2);
    }

    #[test]
    fn describe_gives_the_scope_id_location_and_owner() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(describe(&CancelToken::new()).is_none());
            assert!(describe(&CancelToken::new().child_token()).is_none());
            let root = crate::runtime::Handle::current().shared.root_token.clone();
            assert!(describe(&root).is_none());

            let line = line!() + 1;
            let (own, of_child) = scope(|s: Scope<()>| async move {
                let own = describe(&s.token()).unwrap();
                // A child's token (its `TaskMeta::scope`) describes its scope.
                let token = s
                    .spawn(async { Ok(crate::task::current::current_token().unwrap()) })
                    .await
                    .await;
                Ok((own, describe(&token).unwrap()))
            })
            .await
            .unwrap();
            assert_eq!(own.id, of_child.id);
            assert_eq!(own.location.line(), line);
            assert!(own.location.file().ends_with("mod.rs"));
            assert_eq!(own.owner, None, "run in block_on");

            let (task, desc) = crate::spawn(async {
                let d = scope(|s: Scope<()>| async move { Ok(describe(&s.token()).unwrap()) })
                    .await
                    .unwrap();
                (crate::task::id(), d)
            })
            .await
            .unwrap();
            assert_eq!(desc.owner, Some(task));
            assert_ne!(desc.id, own.id, "ids are unique, recycled state or not");
        });
    }
}
