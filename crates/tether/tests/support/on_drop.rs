//! Counting drops: a value a test moves into a future to learn when that future is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Adds one to its counter when dropped: held by a task's future, it tells the test that the
/// future was dropped (the task cancelled, or cleaned up with its scope).
pub struct OnDrop(pub Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
