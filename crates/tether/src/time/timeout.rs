//! `timeout`: bound the time a future may take.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::task::coop;

use crate::time::{Instant, Sleep};

/// Requires `future` to complete within `duration`.
///
/// Gives `Ok(output)` if it does, or `Err(Elapsed)` once the time is up, in which case the future
/// is dropped (cancelled) when the `Timeout` is. The future is polled before the timer, so a
/// future that is ready at once succeeds even with a zero duration.
///
/// # Panics
///
/// Panics when called outside a tether runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{sleep, timeout};
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let slow = timeout(Duration::from_secs(1), sleep(Duration::from_secs(3600))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(1), async { 7 }).await;
///     assert_eq!(fast.unwrap(), 7);
/// }
/// ```
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let deadline = Instant::now()
        .checked_add(duration)
        .unwrap_or_else(Instant::far_future);
    Timeout {
        future: future.into_future(),
        delay: Sleep::new(deadline, "tether::time::timeout"),
    }
}

/// Requires `future` to complete before `deadline`; see [`timeout`].
///
/// # Panics
///
/// Panics when called outside a tether runtime.
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        delay: Sleep::new(deadline, "tether::time::timeout_at"),
    }
}

pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[must_use = "a Timeout does nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        delay: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably. Through `&mut self`, not a pinned reference: a `Timeout`
    /// that was pinned is out of reach unless `F` is `Unpin`, as in tokio.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::Pin;
    /// use std::time::Duration;
    /// use tether::time::{sleep, timeout, Instant};
    ///
    /// #[tether::main(start_paused = true)]
    /// async fn main() {
    ///     let start = Instant::now();
    ///     let mut bounded = timeout(Duration::from_secs(5), sleep(Duration::from_secs(60)));
    ///     // Bring the inner sleep's deadline before the timeout's.
    ///     Pin::new(bounded.get_mut()).reset(start + Duration::from_secs(2));
    ///     assert!(bounded.await.is_ok());
    ///     assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// }
    /// ```
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Gives back the wrapped future, abandoning the deadline.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let had_budget = !coop::is_spent();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        // A future that spent the task's budget (a loop over a busy channel or socket) must
        // not hide the deadline: the timer would ask for budget and yield on every poll, and
        // the timeout would never fire. If the future spent what was left, the deadline is
        // looked at without a budget (the task yields all the same: whatever spent it woke it).
        let delay = Pin::new(this.delay);
        let poll = if had_budget && coop::is_spent() {
            coop::without_budget(|| delay.poll(cx))
        } else {
            delay.poll(cx)
        };
        match poll {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.delay.deadline())
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed before the future completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}
