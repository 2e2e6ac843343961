//! [`WakerId`]: which waker a registration holds, remembered without holding the waker.
//!
//! A future that registered its waker somewhere (a timer entry, a cancellation token's list)
//! and is polled again with a waker that would wake the same task need not register it again.
//! Finding that out normally means taking the lock that guards the registration to compare
//! with `Waker::will_wake`. Remembering the registered waker's identity (its data and vtable
//! pointers, what `will_wake` compares) lets the future compare without the lock.
//!
//! A mismatch is never wrong, only slower: like `Waker::will_wake`, the comparison may find two
//! wakers of the same task different (vtable addresses are not unique), never two different
//! wakers the same while the registration holds one of them.
//!
//! The identity is compared, never dereferenced. It names a live waker only while the
//! registration still holds the clone it was taken from: that clone keeps whatever the data
//! pointer points at alive, so no other waker can have the same identity meanwhile. Each user
//! states how it knows the registration still holds it.

use std::task::{RawWakerVTable, Waker};

/// The identity of a registered waker; `NONE` for no registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerId {
    data: usize,
    vtable: usize,
}

impl WakerId {
    /// No registration: matches no waker.
    pub(crate) const NONE: WakerId = WakerId { data: 0, vtable: 0 };

    /// The identity of `waker`.
    pub(crate) fn of(waker: &Waker) -> WakerId {
        WakerId {
            data: waker.data() as usize,
            vtable: waker.vtable() as *const RawWakerVTable as usize,
        }
    }

    /// Whether `waker` is the registered waker (as `Waker::will_wake` decides).
    pub(crate) fn is(self, waker: &Waker) -> bool {
        // A vtable is never at address 0, so `NONE` matches nothing.
        self == WakerId::of(waker)
    }
}

impl Default for WakerId {
    fn default() -> WakerId {
        WakerId::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct W;
    impl Wake for W {
        fn wake(self: Arc<Self>) {}
    }

    /// A waker matches its own identity; another task's waker and `NONE` never match. (A
    /// clone usually matches too, but need not: vtable addresses are not unique, which Miri
    /// shows by giving each use its own. Like `will_wake`, a mismatch is only a slow path.)
    #[test]
    fn a_waker_has_one_identity_and_none_matches_nothing() {
        let a = Waker::from(Arc::new(W));
        let b = Waker::from(Arc::new(W));
        assert!(WakerId::of(&a).is(&a));
        assert!(!WakerId::of(&a).is(&b));
        assert!(!WakerId::NONE.is(&a));
        assert!(!WakerId::NONE.is(Waker::noop()));
    }
}
