//! [`WakerId`]: which task's waker a registration holds, remembered without holding the waker.
//!
//! A future that registered its waker somewhere (a timer entry, a cancellation token's list)
//! and is polled again with a waker that would wake the same task need not register it again.
//! Finding that out normally means taking the lock that guards the registration to compare
//! with `Waker::will_wake`. Remembering the registered waker's identity lets the future compare
//! without the lock.
//!
//! The identity is one word: the task's cell, for a waker of a tether task (the runtime's own
//! wakers, which every task's poll is given: `raw::is_task_waker` knows them by their vtable,
//! a `static` at one address). Any other waker (a combinator's own, another executor's) has
//! no identity ([`WakerId::NONE`]) and never matches: a future polled with one takes the lock
//! each time, as it would without this. So a match is exact: two task wakers with the same
//! cell wake the same task.
//!
//! The identity is compared, never dereferenced. It names a live task only while the
//! registration still holds the clone it was taken from: that clone keeps the cell alive, so
//! no other task can have the same cell meanwhile. Each user states how it knows the
//! registration still holds it.

use std::task::Waker;

use crate::task::raw::is_task_waker;

/// The identity of a registered task waker; `NONE` for no registration or another waker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerId(usize);

impl WakerId {
    /// No registration: matches no waker.
    pub(crate) const NONE: WakerId = WakerId(0);

    /// The identity of `waker`: its task's cell, or `NONE` if it is not a task's waker.
    #[inline]
    pub(crate) fn of(waker: &Waker) -> WakerId {
        if is_task_waker(waker) {
            // A task waker's data is its cell, never null.
            WakerId(waker.data() as usize)
        } else {
            WakerId::NONE
        }
    }

    /// Whether `waker` is a waker of the task whose waker was registered.
    #[inline]
    pub(crate) fn is(self, waker: &Waker) -> bool {
        self != WakerId::NONE && self == WakerId::of(waker)
    }
}

impl Default for WakerId {
    fn default() -> WakerId {
        WakerId::NONE
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::sync::Arc;
    use std::task::{Poll, Wake};

    struct W;
    impl Wake for W {
        fn wake(self: Arc<Self>) {}
    }

    /// The waker a task's poll is given.
    async fn own_waker() -> Waker {
        poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
    }

    /// A task's waker and every clone of it have the task's identity (the vtable is one
    /// `static`, even under Miri, which gives each use of a `const` its own address); another
    /// task's waker does not match, and `NONE` matches nothing.
    #[test]
    fn a_tasks_wakers_share_one_identity() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = crate::spawn(own_waker()).await.unwrap();
            let b = crate::spawn(own_waker()).await.unwrap();
            let id = WakerId::of(&a);
            assert_ne!(id, WakerId::NONE);
            assert!(id.is(&a));
            assert!(id.is(&a.clone()));
            assert!(!id.is(&b));
            assert!(!WakerId::NONE.is(&a));
        });
    }

    /// A waker that is not a task's has no identity: it never matches, not even itself, so a
    /// future polled with it always takes the slow path.
    #[test]
    fn other_wakers_have_no_identity() {
        let a = Waker::from(Arc::new(W));
        assert_eq!(WakerId::of(&a), WakerId::NONE);
        assert!(!WakerId::of(&a).is(&a));
        assert!(!WakerId::NONE.is(Waker::noop()));
        assert_eq!(std::mem::size_of::<WakerId>(), std::mem::size_of::<usize>());
    }
}
