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

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::Waker;

use crate::task::raw::{is_task_waker, task_waker_from_data};

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

/// A waker in one word (two for any `Waker`), for the timer wheel's entries: a task's waker
/// as its task's cell, whose reference it keeps, and any other waker boxed (the low bit of the
/// word tells them apart: a cell is aligned to its state word, a box to a `Waker`'s pointers,
/// so both to at least 2 bytes). A timer is almost always
/// a task's, so the box is rare; a million pending timers save 8 MB.
pub(crate) struct SlimWaker(NonNull<()>);

/// The word's tag of a boxed waker.
const BOXED: usize = 1;

// SAFETY: it owns a `Waker`, which is `Send` and `Sync`, in another form.
unsafe impl Send for SlimWaker {}
// SAFETY: as for `Send`; `&SlimWaker` only compares and reads the waker.
unsafe impl Sync for SlimWaker {}

impl SlimWaker {
    /// `waker` in one word.
    pub(crate) fn new(waker: Waker) -> SlimWaker {
        if is_task_waker(&waker) {
            let waker = ManuallyDrop::new(waker);
            // A task waker's data is its cell: never null, aligned to its state word.
            let cell = NonNull::new(waker.data() as *mut ()).expect("a task waker's cell");
            debug_assert_eq!(cell.as_ptr() as usize & BOXED, 0);
            SlimWaker(cell)
        } else {
            let boxed = NonNull::from(Box::leak(Box::new(waker))).cast::<()>();
            SlimWaker(boxed.map_addr(|a| a | BOXED))
        }
    }

    /// The boxed waker, if it is not a task's.
    fn boxed(&self) -> Option<NonNull<Waker>> {
        (self.0.addr().get() & BOXED != 0).then(|| {
            let boxed = self.0.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>();
            // SAFETY: a box's address (`new`), never null.
            unsafe { NonNull::new_unchecked(boxed) }
        })
    }

    /// Whether `waker` wakes the same task (as `Waker::will_wake`).
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        match self.boxed() {
            // SAFETY: the box is ours and alive until `self` goes.
            Some(boxed) => unsafe { boxed.as_ref() }.will_wake(waker),
            None => is_task_waker(waker) && waker.data() == self.0.as_ptr().cast_const(),
        }
    }

    /// The waker, as it was given.
    pub(crate) fn into_waker(self) -> Waker {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is forgotten, so its waker is taken once.
        unsafe { this.take() }
    }

    /// The waker, taken out of the word.
    ///
    /// # Safety
    ///
    /// Once: the word is not used again (forgotten, or being dropped).
    unsafe fn take(&self) -> Waker {
        match self.boxed() {
            // SAFETY: made by `Box::leak` in `new`, taken back once (the caller's contract).
            Some(boxed) => *unsafe { Box::from_raw(boxed.as_ptr()) },
            // SAFETY: the data of a task waker forgotten in `new`, whose reference the word held
            // and now gives the waker, made once (the caller's contract).
            None => unsafe { task_waker_from_data(self.0) },
        }
    }
}

impl Drop for SlimWaker {
    fn drop(&mut self) {
        // SAFETY: the word is being dropped: not used again.
        drop(unsafe { self.take() });
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

    /// Counts its wake-ups.
    struct Counted(std::sync::atomic::AtomicUsize);
    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A `SlimWaker` is one word and gives back the waker it was given: a task's (kept as its
    /// cell, with its reference: waking the waker it gives back runs the task, and the task's
    /// cell is freed when the last reference goes, which Miri's leak check sees) and any other
    /// (boxed: its reference count shows it is neither lost nor doubled).
    #[test]
    fn a_slim_waker_gives_back_the_waker_it_was_given() {
        assert_eq!(
            std::mem::size_of::<Option<SlimWaker>>(),
            std::mem::size_of::<usize>()
        );
        let counted = Arc::new(Counted(Default::default()));
        let other = Waker::from(counted.clone());
        let slim = SlimWaker::new(other.clone());
        assert_eq!(Arc::strong_count(&counted), 3);
        // A clone of a waker that is not a task's may have its vtable at another address (Miri
        // gives each use of a `const` its own), so `will_wake` may say no, as `Waker`'s does.
        if !cfg!(miri) {
            assert!(slim.will_wake(&other));
        }
        assert!(!slim.will_wake(Waker::noop()));
        slim.into_waker().wake();
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&counted), 2);
        drop(SlimWaker::new(other.clone()));
        assert_eq!(Arc::strong_count(&counted), 2);

        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel();
            let task = crate::spawn(async move {
                let mut first = true;
                poll_fn(|cx| {
                    if std::mem::take(&mut first) {
                        tx.send(SlimWaker::new(cx.waker().clone())).unwrap();
                        Poll::Pending
                    } else {
                        Poll::Ready(7)
                    }
                })
                .await
            });
            let mut other_task = crate::spawn(own_waker());
            let other = (&mut other_task).await.unwrap();
            crate::task::yield_now().await;
            let slim = rx.try_recv().expect("the task ran once");
            assert!(!slim.will_wake(&other));
            assert!(!slim.will_wake(Waker::noop()));
            let dropped = SlimWaker::new(other.clone());
            assert!(dropped.will_wake(&other));
            drop(dropped);
            let waker = slim.into_waker();
            assert!(crate::task::raw::is_task_waker(&waker));
            waker.wake();
            assert_eq!(task.await.unwrap(), 7);
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
