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
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
// std's `Arc`: token nodes live in std's (their tree needs `Weak`, see `cancel.rs`).
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::cancel::TokenNode;
use super::error::{Failure, FailureSource};
use super::state::{panic_message, PanicPayload, ScopeState};
use crate::diag::ScopeLoss;

pin_project! {
    /// Runs `fut` as a child of the scope `node`; gives `Some(value)` on success, `None` when the
    /// child failed (the scope has its error).
    pub(super) struct Child<F> {
        #[pin]
        fut: Option<F>,
        node: Arc<TokenNode>,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        // Set once the child has left the scope.
        left: bool,
    }

    impl<F> PinnedDrop for Child<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if !*this.left {
                // A panic in the user's destructor must not keep the child in the scope forever.
                let _ = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
                scope_of(this.node).release();
            }
        }
    }
}

impl<F> Child<F> {
    /// The wrapper of a child whose place in the scope `node` is already taken.
    pub(super) fn new(
        fut: F,
        node: Arc<TokenNode>,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> Child<F> {
        Child {
            fut: Some(fut),
            node,
            name,
            location,
            left: false,
        }
    }
}

fn scope_of(node: &TokenNode) -> &ScopeState {
    node.scope
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
        *this.left = true;
        let scope = scope_of(this.node);
        let source = || FailureSource {
            task: crate::task::try_id(),
            name: this.name.clone(),
            location: this.location,
        };
        let failed = |payload: PanicPayload| {
            scope.record_panic(payload, source());
            this.node.cancel();
        };
        let value = match (out, dropped) {
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
                // The panic replaces the error the future returned: it goes to the failure
                // policy (state.rs rule 7).
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
                drop_unclaimed(scope, this.name.as_deref(), this.location, v);
                None
            }
            (Ok(Ok(v)), Ok(())) => Some(v),
            (Ok(Err(error)), Ok(())) => {
                scope.record_failure(Failure {
                    error,
                    source: source(),
                });
                this.node.cancel();
                None
            }
        };
        scope.release();
        Poll::Ready(value)
    }
}

/// Drops `value`, which the child (named `name`, spawned at `location`) produced but nobody will
/// take, so that a panic in its destructor cannot unwind out of the child's poll before the
/// child leaves the scope: the panic is caught and reported to the runtime's failure policy as
/// an output-drop failure, as for a task's output nobody took from its `JoinHandle`.
fn drop_unclaimed<T>(
    scope: &ScopeState,
    name: Option<&str>,
    location: &'static Location<'static>,
    value: T,
) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) else {
        return;
    };
    // A child is a task: its poll runs with its id current.
    if let Some(id) = crate::task::try_id() {
        let message = panic_message(&payload);
        let failure = crate::diag::UnhandledFailure::output_drop(id, name, location, message);
        // A panicking failure hook must not unwind out of the child's poll either.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            scope.rt.shared.report_unhandled(&failure)
        }));
    }
    // The payload's destructor is user code too.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}
