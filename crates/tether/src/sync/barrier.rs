//! `Barrier`: `n` tasks wait for each other, then all proceed.

use std::fmt;

use crate::task::coop::Budgeted;

/// Makes `n` tasks wait until all of them have reached the same point.
///
/// Each task calls [`wait().await`](Self::wait); the first `n - 1` wait, and the `n`-th call
/// releases them all. Exactly one task of each round is the *leader*
/// ([`BarrierWaitResult::is_leader`]), e.g. to do the round's bookkeeping. The barrier is then
/// ready for the next round of `n`. `wait` spends one unit of the cooperative budget when it
/// completes.
///
/// Backed by `async-lock`'s `Barrier`. As in tokio, `Barrier::new(0)` behaves like
/// `Barrier::new(1)`: every `wait` completes at once and leads.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::Barrier;
///
/// #[tether::main]
/// async fn main() {
///     let barrier = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             tether::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         if t.await.unwrap() {
///             leaders += 1;
///         }
///     }
///     assert_eq!(leaders, 1);
/// }
/// ```
pub struct Barrier {
    inner: async_lock::Barrier,
    n: usize,
}

impl Barrier {
    /// Creates a barrier for rounds of `n` tasks.
    pub fn new(n: usize) -> Barrier {
        Barrier {
            inner: async_lock::Barrier::new(n),
            n,
        }
    }

    /// Waits until `n` tasks (this one included) have called `wait` in this round.
    ///
    /// Spends one unit of the cooperative budget when it completes. Not cancel-safe in one
    /// respect: a task that drops the future after it started waiting still counts towards the
    /// round (as in tokio).
    pub async fn wait(&self) -> BarrierWaitResult {
        let result = Budgeted::new(self.inner.wait()).await;
        BarrierWaitResult {
            leader: result.is_leader(),
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}

/// What [`Barrier::wait`] returns: whether this task is the round's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task is the leader of its round: exactly one task per round is.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}
