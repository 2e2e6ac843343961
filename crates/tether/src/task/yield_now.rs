//! `yield_now`: let other tasks run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields execution back to the scheduler, so other ready tasks run before this one resumes.
///
/// The task is put at the back of the run queue. Use it in long computations that have no
/// natural await point, so they do not starve the other tasks of their runtime.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let mut sum = 0u64;
///     for i in 0..10_000u64 {
///         sum += i;
///         if i % 1_000 == 0 {
///             tether::task::yield_now().await;
///         }
///     }
///     assert_eq!(sum, 49_995_000);
/// }
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
