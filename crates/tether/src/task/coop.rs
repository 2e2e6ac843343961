//! The cooperative budget: "pump the brakes after N operations".
//!
//! A task that loops over resources which are always ready (a full channel, a socket with data
//! waiting) would never return `Pending` and so never let the other tasks of its thread run.
//! To prevent that, each poll of a task gets a budget of [`BUDGET`] operations. Every runtime
//! resource (sockets, timers, `JoinHandle`, channels, locks) calls [`poll_proceed`] before doing
//! its work: while budget is left it spends one unit; once the budget is spent it wakes the task
//! and returns `Pending`, so the task goes to the back of the run queue and the others run.
//!
//! Rules:
//! 1. The scheduler sets the budget (with [`with_budget`]) around each task poll and each poll
//!    of a `block_on` future; outside those, the budget is unconstrained.
//! 2. A resource that returns `Pending` for its own reasons gives the unit back (the
//!    [`RestoreOnPending`] guard), so waiting costs nothing.
//! 3. [`unconstrained`] polls a future with no budget at all.
//! 4. `select!` and `join!` check the budget before polling their branches
//!    ([`poll_budget_available`], which spends nothing) and spend one unit when they complete
//!    ([`spend_one`]), so a loop around them yields even when no branch is a runtime resource.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Operations a task may perform in one poll before it is made to yield.
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    /// `Some(n)`: `n` operations left in the current poll; `None`: unconstrained.
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` with a fresh budget (rule 1), restoring the previous budget afterwards.
#[inline]
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    with(Some(BUDGET), f)
}

#[inline]
fn with<R>(budget: Option<u8>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.set(self.0));
        }
    }
    let prev = CURRENT.try_with(|c| c.replace(budget)).unwrap_or(None);
    let _reset = Reset(prev);
    f()
}

/// Gives back the unit spent by [`poll_proceed`] unless [`made_progress`] is called (rule 2).
#[must_use = "drop it when the operation returns Pending, or call made_progress()"]
pub(crate) struct RestoreOnPending(Cell<Option<u8>>);

impl RestoreOnPending {
    /// The operation completed: keep the unit spent.
    pub(crate) fn made_progress(&self) {
        self.0.set(None);
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if let Some(budget) = self.0.get() {
            let _ = CURRENT.try_with(|c| c.set(Some(budget)));
        }
    }
}

/// Spends one unit of the task's budget, or, when it is spent, wakes the task and returns
/// `Pending` (see the module docs).
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let cur = CURRENT.try_with(Cell::get).unwrap_or(None);
    match cur {
        None => Poll::Ready(RestoreOnPending(Cell::new(None))),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            let _ = CURRENT.try_with(|c| c.set(Some(n - 1)));
            Poll::Ready(RestoreOnPending(Cell::new(Some(n))))
        }
    }
}

/// `Ready` while the task has budget left, spending none; once it is spent, wakes the task and
/// returns `Pending` like [`poll_proceed`]. For an operation that checks before it starts and
/// spends only when it completes ([`spend_one`]): `select!` and `join!`.
#[inline]
pub(crate) fn poll_budget_available(cx: &mut Context<'_>) -> Poll<()> {
    match CURRENT.try_with(Cell::get) {
        Ok(Some(0)) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        _ => Poll::Ready(()),
    }
}

/// Whether the current poll's budget is spent (`false` when unconstrained).
#[inline]
pub(crate) fn is_spent() -> bool {
    matches!(CURRENT.try_with(Cell::get), Ok(Some(0)))
}

/// Runs `f` with no budget (rule 3), restoring the current one afterwards: for a deadline
/// that must be seen even when the future it bounds spent the budget (`Timeout`).
#[inline]
pub(crate) fn without_budget<R>(f: impl FnOnce() -> R) -> R {
    with(None, f)
}

/// Spends one unit, if any is left, without waking the task: for an operation that checked the
/// budget before it started and has now completed (`select!`, `join!`). When the budget is
/// already spent it does nothing; the task's next operation yields.
#[inline]
pub(crate) fn spend_one() {
    let _ = CURRENT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n.saturating_sub(1)));
        }
    });
}

/// Polls `future` without the cooperative budget: the runtime's resources never force it to
/// yield.
///
/// Use it only for code that must not be interrupted between operations and that yields on
/// its own; otherwise a busy task can starve the others on its thread.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let out = tether::task::unconstrained(async {
///         let mut n = 0;
///         for _ in 0..1_000 {
///             n += tether::spawn(async { 1 }).await.unwrap();
///         }
///         n
///     })
///     .await;
///     assert_eq!(out, 1_000);
/// }
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { inner: future }
}

pin_project! {
    /// The future of [`unconstrained`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Unconstrained<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        with(None, || inner.poll(cx))
    }
}

pin_project! {
    /// Wraps a future so that each poll first spends a unit of the budget (for resources built
    /// on other crates, such as the sync primitives).
    pub(crate) struct Budgeted<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Budgeted<F> {
    pub(crate) fn new(inner: F) -> Budgeted<F> {
        Budgeted { inner }
    }
}

impl<F: Future> Future for Budgeted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let restore = std::task::ready!(poll_proceed(cx));
        let out = self.project().inner.poll(cx);
        if out.is_ready() {
            restore.made_progress();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_then_wakes_and_pends() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..BUDGET {
                let r = poll_proceed(&mut cx);
                match r {
                    Poll::Ready(g) => g.made_progress(),
                    Poll::Pending => panic!("budget ran out early"),
                }
            }
            assert!(poll_proceed(&mut cx).is_pending());
        });
        // Outside a task poll there is no budget.
        assert!(poll_proceed(&mut cx).is_ready());
    }

    #[test]
    fn pending_operations_give_their_unit_back() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..1_000 {
                let g = poll_proceed(&mut cx);
                assert!(g.is_ready());
                drop(g); // the operation returned Pending: unit restored
            }
        });
    }

    #[test]
    fn checking_spends_nothing_and_spend_one_stops_at_zero() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..1_000 {
                assert!(poll_budget_available(&mut cx).is_ready());
            }
            for _ in 0..BUDGET {
                spend_one();
            }
            assert!(poll_budget_available(&mut cx).is_pending());
            spend_one(); // nothing left: stays at zero
            assert!(poll_proceed(&mut cx).is_pending());
        });
        assert!(poll_budget_available(&mut cx).is_ready());
    }

    #[test]
    fn unconstrained_has_no_budget() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            let mut fut = std::pin::pin!(unconstrained(async {
                for _ in 0..1_000 {
                    let g = std::future::poll_fn(poll_proceed).await;
                    g.made_progress();
                }
            }));
            assert!(fut.as_mut().poll(&mut cx).is_ready());
        });
    }
}
