//! The future a scope's child task runs: the user's future, reporting to the scope.
//!
//! A child leaves its scope exactly once (state.rs rule 1), after the user's future is gone:
//! - it completes: the user's future is dropped, its error or panic recorded (which cancels the
//!   scope), then the child leaves;
//! - it is dropped before completing (aborted by the hard drop, never polled because the runtime
//!   shut down): the user's future is dropped, then the child leaves.
//!
//! No user code can keep a child in its scope: the user's future is dropped under
//! `catch_unwind`. When that destructor panics after the future completed, the panic is the
//! child's failure (its first one, if the future had panicked: the destructor's panic is then a
//! later panic of the scope), and what it replaces goes nowhere silently: an error the future
//! returned goes to the runtime's failure policy as an undelivered scope failure (state.rs rule
//! 7); a value is dropped under `catch_unwind`, a panic there reported as the failure of an
//! output nobody took. Every payload or error the scope drops is dropped the same way (state.rs
//! rule 7), and the child still leaves.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::cancel::TokenNode;
use super::error::{Failure, FailureSource};
use super::state::{panic_message, PanicPayload, ScopeState};
use crate::diag::ScopeLoss;
use crate::task::meta::TaskMeta;

pin_project! {
    /// Runs `fut` as a child of its task's scope; gives `Some(value)` on success, `None` when
    /// the child failed (the scope has its error).
    ///
    /// The child holds no copy of what its task's metadata already has (the scope's token, the
    /// name, the spawn location): it reads them through `meta`.
    pub(super) struct Child<F> {
        // `None` once the child has left the scope (the user's future is dropped first).
        #[pin]
        fut: Option<F>,
        // The metadata of the task this child runs in (`task::spawn_raw_with`).
        meta: NonNull<TaskMeta>,
    }

    impl<F> PinnedDrop for Child<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.fut.is_some() {
                // A panic in the user's destructor (or in its payload's) must not keep the child
                // in the scope forever.
                crate::task::contain(|| this.fut.set(None));
                scope_of(meta_of(this.meta)).release();
            }
        }
    }
}

// SAFETY: a `Child` only reads its task's metadata through `meta`, and `TaskMeta` is `Sync`; the
// rest is `F`, whose `Send` the bound carries.
unsafe impl<F: Send> Send for Child<F> {}

impl<F> Child<F> {
    /// The wrapper of a child whose place in its scope is already taken, to run in the task
    /// whose metadata is `meta`, a scope's child: `meta.scope` is the scope's token.
    ///
    /// # Safety
    ///
    /// `meta` points to the metadata of the task this child is the future of (the pointer
    /// `task::spawn_raw_with` hands its builder), which outlives the child.
    pub(super) unsafe fn new(fut: F, meta: NonNull<TaskMeta>) -> Child<F> {
        Child {
            fut: Some(fut),
            meta,
        }
    }
}

#[inline]
fn meta_of(meta: &NonNull<TaskMeta>) -> &TaskMeta {
    // SAFETY: `Child::new`'s contract: the pointer is the child's own task's metadata, which
    // async-task drops only after the child (the task's future) is dropped.
    unsafe { meta.as_ref() }
}

#[inline]
fn node_of(meta: &TaskMeta) -> &TokenNode {
    &meta
        .scope
        .as_ref()
        .expect("tether: a child's task belongs to its scope")
        .node
}

#[inline]
fn scope_of(meta: &TaskMeta) -> &ScopeState {
    node_of(meta)
        .scope
        .as_ref()
        .expect("tether: a child's node is its scope's")
}

impl<F, U, E> Future for Child<F>
where
    F: Future<Output = Result<U, E>>,
    E: Send + 'static,
{
    type Output = Option<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        let mut this = self.project();
        let fut = this
            .fut
            .as_mut()
            .as_pin_mut()
            .expect("tether: a scope's child was polled after it completed");
        let out = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(payload) => Err(payload),
        };
        // The user's future is gone before the child leaves: nothing of it outlives the scope.
        let dropped = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
        let meta = meta_of(this.meta);
        let value = match (out, dropped) {
            (Ok(Ok(v)), Ok(())) => Some(v),
            (out, dropped) => record_failure(meta, out, dropped),
        };
        scope_of(meta).release();
        Poll::Ready(value)
    }
}

/// The child of the task `meta` failed: its future returned an error or panicked (`out`), or its
/// destructor panicked (`dropped`). Records the failure in the scope, which cancels it; what a
/// later panic replaces goes to the runtime's failure policy (state.rs rule 7).
#[cold]
#[inline(never)]
fn record_failure<U, E: Send + 'static>(
    meta: &TaskMeta,
    out: Result<Result<U, E>, PanicPayload>,
    dropped: Result<(), PanicPayload>,
) -> Option<U> {
    let node = node_of(meta);
    let scope = scope_of(meta);
    let source = || FailureSource {
        task: Some(meta.id),
        name: meta.name().cloned(),
        location: meta.location(),
    };
    let failed = |payload: PanicPayload| {
        scope.record_panic(payload, source());
        node.cancel();
    };
    match (out, dropped) {
        (Err(payload), dropped) => {
            failed(payload);
            // The first panic is the child's failure; a second one is a later panic of the
            // scope, which goes to the failure policy (state.rs rule 7).
            if let Err(second) = dropped {
                scope.record_panic(second, source());
            }
            None
        }
        (Ok(Err(error)), Err(payload)) => {
            failed(payload);
            // The panic replaces the error the future returned: it goes to the failure policy
            // (state.rs rule 7).
            let failure = Failure {
                error,
                source: source(),
            };
            scope.report_error(failure, ScopeLoss::Superseded);
            None
        }
        (Ok(Ok(v)), Err(payload)) => {
            failed(payload);
            // The panic replaces the value the future returned, which is nobody's.
            drop_unclaimed(scope, meta, v);
            None
        }
        (Ok(Ok(v)), Ok(())) => Some(v),
        (Ok(Err(error)), Ok(())) => {
            scope.record_failure(Failure {
                error,
                source: source(),
            });
            node.cancel();
            None
        }
    }
}

/// Drops `value`, which the child of the task `meta` produced but nobody will take, so that a
/// panic in its destructor cannot unwind out of the child's poll before the child leaves the
/// scope: the panic is caught and reported to the runtime's failure policy as an output-drop
/// failure, as for a task's output nobody took from its `JoinHandle`.
fn drop_unclaimed<T>(scope: &ScopeState, meta: &TaskMeta, value: T) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) else {
        return;
    };
    let message = panic_message(&payload);
    let name = meta.name().map(|n| &**n);
    let failure =
        crate::diag::UnhandledFailure::output_drop(meta.id, name, meta.location(), message);
    // A panicking failure hook must not unwind out of the child's poll either.
    // `contain`: so must a panic from its own payload's destructor.
    crate::task::contain(|| scope.rt.shared.report_unhandled(&failure));
    // The payload's destructor is user code too.
    crate::task::contain(move || drop(payload));
}
