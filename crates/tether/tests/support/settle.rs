//! Letting the other tasks of a current-thread runtime run before a test looks at what they did.

use tether::task::yield_now;

/// Lets every other ready task run until it waits: yields 16 times, on the current-thread
/// runtime, whose run queue is first in, first out.
pub async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}
