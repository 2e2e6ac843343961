//! How a scope's child reports to its scope: the outcome its task's poll wrapper applies
//! (`task/cell.rs`), so the child's task runs the user's future with nothing wrapped around it.
//!
//! A child leaves its scope exactly once (state.rs rule 1), after the user's future is gone:
//! - it completes: the user's future is dropped, its error or panic recorded (which cancels the
//!   scope), then the child leaves;
//! - it is dropped before completing (cancelled, aborted by the hard drop, never polled because
//!   the runtime shut down): the user's future is dropped, then the child leaves.
//!
//! No user code can keep a child in its scope: the poll wrapper catches a panic of the user's
//! poll and drops the user's future under `catch_unwind`, and the child leaves even if recording
//! its failure unwinds. When the user's destructor panics after the future completed, the panic
//! is the child's failure (its first one, if the future had panicked: the destructor's panic is
//! then a later panic of the scope), and what it replaces goes nowhere silently: an error the
//! future returned goes to the runtime's failure policy as an undelivered scope failure
//! (state.rs rule 7); a value is dropped under `catch_unwind`, a panic there reported as the
//! failure of an output nobody took. Every payload or error the scope drops is dropped the same
//! way (state.rs rule 7), and the child still leaves.
//!
//! The child leaves before its task's cell is marked `COMPLETE` (`task/raw.rs` rule 3): a
//! `ScopeTask` that says it is finished belongs to a child that has left, and a `JoinHandle`
//! never waits on the scope's failure hooks.

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::cancel::TokenNode;
use super::error::{Failure, FailureSource};
use super::state::{panic_message, PanicPayload, ScopeState};
use crate::diag::ScopeLoss;
use crate::task::meta::TaskMeta;
use crate::task::{JoinError, Outcome};

/// The outcome of a scope's child (`task::Outcome`): the task's output is its value on
/// success, and a cancelled `JoinError` when the child failed (the scope has its error); either
/// way, the child then leaves its scope. (Not an `Option` of the value: with the value beside
/// it, the poll's result would be a word larger than a plain task's, and returned through
/// memory instead of in registers.) The task's poll wrapper calls it once the user's future is dropped, so
/// nothing of that future outlives the scope.
///
/// The child's task holds nothing beyond a plain task's: the scope's token, the name and the
/// spawn location are in its metadata (`meta.scope` is the scope's token for every task spawned
/// with this outcome).
pub(super) struct ChildOutcome<E>(PhantomData<fn() -> E>);

impl<U, E: Send + 'static> Outcome<Result<U, E>> for ChildOutcome<E> {
    type Output = U;

    #[inline]
    fn finished(
        meta: &TaskMeta,
        out: Result<Result<U, E>, PanicPayload>,
        dropped: Result<(), PanicPayload>,
    ) -> Result<U, JoinError> {
        // The child leaves once its failure is recorded, or if recording it unwinds (a waker
        // the scope's cancellation wakes may panic).
        let _leave = Leave(meta);
        match (out, dropped) {
            (Ok(Ok(v)), Ok(())) => Ok(v),
            (out, dropped) => {
                record_failure(meta, out, dropped).ok_or_else(|| JoinError::cancelled(meta.id))
            }
        }
    }

    #[inline]
    fn abandoned(meta: &TaskMeta) {
        scope_of(meta).release();
    }
}

/// Leaves the scope of the child whose task's metadata it holds, when dropped.
struct Leave<'a>(&'a TaskMeta);

impl Drop for Leave<'_> {
    #[inline]
    fn drop(&mut self) {
        scope_of(self.0).release();
    }
}

#[inline]
fn node_of(meta: &TaskMeta) -> &TokenNode {
    &meta
        .scope()
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
