//! [`WakerId`]: which task's waker a registration holds, remembered without holding the waker.
//!
//! A future that registered its waker somewhere (a timer entry, a cancellation token's list)
//! and is polled again with a waker that would wake the same task need not register it again.
//! Finding that out normally means taking the lock that guards the registration to compare
//! with `Waker::will_wake`. Remembering the registered waker's identity lets the future compare
//! without the lock.
//!
//! The identity is one word: the task's cell, for a waker of a tether task (the wakers every
//! task's poll is given: `raw::is_task_waker` knows them by their vtable, a `static` at one
//! address). Any other waker (a combinator's own, another executor's) has
//! no identity ([`WakerId::NONE`]) and never matches: a future polled with one takes the lock
//! each time, as it would without this. So a match is exact: two task wakers with the same
//! cell wake the same task.
//!
//! The identity is compared, never dereferenced. It names a live task only while the
//! registration still holds the clone it was taken from: that clone keeps the cell alive, so
//! no other task can have the same cell meanwhile. Each user states how it knows the
//! registration still holds it.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

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

/// A waker in one word (two for any `Waker`), for the timer wheel's entries and a task's
/// awaiter slot: a task's waker as its task's cell, whose reference it keeps; one of tether's
/// other wakers ([`OwnWaker`]: `block_on`'s, a `JoinSet`'s) as its `Arc`'s data, whose
/// reference it keeps; and any other waker boxed. The low bits of the word tell them apart (a
/// cell is aligned to its state word, an `OwnWaker` and a box to pointers, so all to at least
/// 4 bytes). A timer or an awaiter is almost always a task's or tether's, so the box is rare;
/// a million pending timers save 8 MB, and every task 8 bytes.
pub(crate) struct SlimWaker(NonNull<()>);

/// The word's tag of a boxed waker.
const BOXED: usize = 1;
/// The word's tag of one of tether's own wakers ([`OwnWaker`]).
const OWN: usize = 2;
/// The word's tag bits.
const TAGS: usize = BOXED | OWN;

// The tags need 4-byte alignment of what the word points at: a task cell (its state word and
// vtable pointer come first), an `OwnWaker` (its `kind` pointer comes first, and an `Arc`'s data
// is aligned to it) and a boxed `Waker` (two pointers).
const _: () = assert!(
    std::mem::align_of::<Waker>() > TAGS && std::mem::align_of::<&'static ()>() > TAGS,
    "the word's tag bits are free in every pointer it holds"
);

// SAFETY: it owns a `Waker`, which is `Send` and `Sync`, in another form.
unsafe impl Send for SlimWaker {}
// SAFETY: as for `Send`; `&SlimWaker` compares, reads and wakes (by reference) the waker it
// owns, as a `&Waker` may (`Waker: Sync`).
unsafe impl Sync for SlimWaker {}

impl SlimWaker {
    /// `waker` in one word.
    #[inline]
    pub(crate) fn new(waker: Waker) -> SlimWaker {
        if is_task_waker(&waker) {
            let waker = ManuallyDrop::new(waker);
            // A task waker's data is its cell: never null, aligned to its state word.
            let cell = NonNull::new(waker.data() as *mut ()).expect("a task waker's cell");
            debug_assert_eq!(cell.as_ptr() as usize & TAGS, 0);
            SlimWaker(cell)
        } else if is_own_waker(&waker) {
            let waker = ManuallyDrop::new(waker);
            // An own waker's data is its `Arc`'s: never null, aligned to pointers.
            let data = NonNull::new(waker.data() as *mut ()).expect("an own waker's data");
            debug_assert_eq!(data.as_ptr() as usize & TAGS, 0);
            SlimWaker(data.map_addr(|a| a | OWN))
        } else {
            let boxed = NonNull::from(Box::leak(Box::new(waker))).cast::<()>();
            SlimWaker(boxed.map_addr(|a| a | BOXED))
        }
    }

    /// The boxed waker, if it is neither a task's nor tether's own.
    fn boxed(&self) -> Option<NonNull<Waker>> {
        (self.0.addr().get() & BOXED != 0).then(|| {
            let boxed = self.0.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>();
            // SAFETY: a box's address (`new`), never null.
            unsafe { NonNull::new_unchecked(boxed) }
        })
    }

    /// The data of the waker the word holds, untagged: a task's cell, or an own waker's `Arc`.
    fn data(&self) -> *const () {
        self.0.as_ptr().map_addr(|a| a & !TAGS).cast_const()
    }

    /// Whether `waker` wakes the same task (as `Waker::will_wake`).
    #[inline]
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        if let Some(boxed) = self.boxed() {
            // SAFETY: the box is ours and alive until `self` goes.
            return unsafe { boxed.as_ref() }.will_wake(waker);
        }
        let kind = match self.0.addr().get() & OWN {
            0 => is_task_waker(waker),
            _ => is_own_waker(waker),
        };
        kind && waker.data() == self.data()
    }

    /// Wakes the waker the word holds, which it keeps (as `Waker::wake_by_ref`).
    #[inline]
    pub(crate) fn wake_by_ref(&self) {
        match self.boxed() {
            // SAFETY: the box is ours and alive until `self` goes.
            Some(boxed) => unsafe { boxed.as_ref() }.wake_by_ref(),
            None => {
                // SAFETY: the word holds the reference of a forgotten waker of this kind
                // (`new`); the waker made from it here is never dropped, so the word keeps it.
                let waker = ManuallyDrop::new(unsafe { self.rebuild() });
                waker.wake_by_ref();
            }
        }
    }

    /// The waker of a word that is not boxed, made from the reference the word holds.
    ///
    /// # Safety
    ///
    /// The word is not boxed; the caller takes over its reference (once) or never drops the
    /// waker made.
    unsafe fn rebuild(&self) -> Waker {
        // SAFETY: not boxed (the caller's contract), so the data, untagged, is a forgotten
        // waker's of the kind the tag says (`new`), whose reference the caller handles.
        unsafe {
            match self.0.addr().get() & OWN {
                0 => task_waker_from_data(self.0),
                _ => own_waker_from_data(self.data()),
            }
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
            // SAFETY: not boxed; the word's reference goes to the waker, made once (the
            // caller's contract).
            None => unsafe { self.rebuild() },
        }
    }
}

impl Drop for SlimWaker {
    fn drop(&mut self) {
        // SAFETY: the word is being dropped: not used again.
        drop(unsafe { self.take() });
    }
}

/// What one of tether's own wakers does when woken ([`OwnWaker`]).
pub(crate) trait OwnWake: Send + Sync + 'static {
    /// Wakes whoever waits, keeping the waker.
    fn wake_by_ref(&self);
}

/// One of tether's wakers that is not a task's (`block_on`'s, a `JoinSet` entry's): an `Arc`
/// whose wakers share one `static` vtable, [`OWN_WAKER`], so that a [`SlimWaker`] knows them
/// by it and keeps them in one word with no allocation (std's `Waker::from(Arc)` has a vtable
/// per type, at addresses nobody can compare reliably). The functions of the type `W` are
/// reached through `kind`, the first field of every `OwnWaker` (`repr(C)`), which the static
/// vtable's functions read whatever `W` is.
#[repr(C)]
pub(crate) struct OwnWaker<W> {
    kind: &'static OwnKind,
    inner: W,
}

/// The functions of one type of own waker, each given the `Arc`'s data pointer.
struct OwnKind {
    wake_by_ref: unsafe fn(*const ()),
    add_ref: unsafe fn(*const ()),
    drop_ref: unsafe fn(*const ()),
}

impl<W: OwnWake> OwnWaker<W> {
    const KIND: &'static OwnKind = &OwnKind {
        wake_by_ref: own_wake_by_ref_of::<W>,
        add_ref: own_add_ref_of::<W>,
        drop_ref: own_drop_ref_of::<W>,
    };

    /// A new waker's shared part.
    pub(crate) fn new(inner: W) -> Arc<OwnWaker<W>> {
        Arc::new(OwnWaker {
            kind: Self::KIND,
            inner,
        })
    }

    /// A waker holding one reference to `this`.
    pub(crate) fn waker(this: &Arc<OwnWaker<W>>) -> Waker {
        let data = Arc::into_raw(this.clone()).cast::<()>();
        // SAFETY: the data is an `OwnWaker<W>`'s `Arc`, whose reference the waker takes over;
        // `OWN_WAKER`'s functions handle exactly that (see them).
        unsafe { Waker::from_raw(RawWaker::new(data, &OWN_WAKER)) }
    }
}

impl<W> Deref for OwnWaker<W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.inner
    }
}

/// The vtable of every own waker: a `static`, at one address ([`is_own_waker`]).
static OWN_WAKER: RawWakerVTable =
    RawWakerVTable::new(own_clone, own_wake, own_wake_by_ref, own_drop);

/// The functions of the own waker whose data is `data`.
///
/// # Safety
///
/// `data` is an own waker's (`OwnWaker::waker`), alive.
unsafe fn kind_of(data: *const ()) -> &'static OwnKind {
    // SAFETY: `data` points at an `OwnWaker<W>` for some `W` (the caller's contract), whose
    // first field is `kind` (`repr(C)`), whatever `W` is.
    unsafe { ptr::read(data.cast::<&'static OwnKind>()) }
}

unsafe fn own_clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker's function is called with its data while it is alive.
    unsafe { (kind_of(data).add_ref)(data) };
    RawWaker::new(data, &OWN_WAKER)
}

unsafe fn own_wake(data: *const ()) {
    // SAFETY: the waker is consumed: woken, then its reference released.
    unsafe {
        own_wake_by_ref(data);
        own_drop(data);
    }
}

unsafe fn own_wake_by_ref(data: *const ()) {
    // SAFETY: a waker's function is called with its data while it is alive.
    unsafe { (kind_of(data).wake_by_ref)(data) }
}

unsafe fn own_drop(data: *const ()) {
    // SAFETY: the waker's reference, released once (the waker is being dropped).
    unsafe { (kind_of(data).drop_ref)(data) }
}

// The three functions below are reachable only through `OwnWaker::<W>::KIND`, which only
// `OwnWaker::<W>::new` stores in an `OwnWaker<W>`; `OWN_WAKER` (private) only ever gets data from
// `OwnWaker::waker` or from a word or waker made from one. So the `kind` read from `data` names
// this very `W`, and `data` is an `Arc<OwnWaker<W>>`'s (`Arc::into_raw`).

unsafe fn own_wake_by_ref_of<W: OwnWake>(data: *const ()) {
    // SAFETY: `data` is an alive `Arc<OwnWaker<W>>`'s (see above; the vtable's callers hold a
    // waker).
    unsafe { (*data.cast::<OwnWaker<W>>()).inner.wake_by_ref() }
}

unsafe fn own_add_ref_of<W: OwnWake>(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw` of an `Arc<OwnWaker<W>>` (see above) that the
    // caller's waker keeps alive.
    unsafe { Arc::increment_strong_count(data.cast::<OwnWaker<W>>()) }
}

unsafe fn own_drop_ref_of<W: OwnWake>(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw` of an `Arc<OwnWaker<W>>` (see above); the
    // caller gives up one reference.
    unsafe { Arc::decrement_strong_count(data.cast::<OwnWaker<W>>()) }
}

/// Whether `waker` is one of tether's own (not a task's) wakers ([`OwnWaker`]).
#[inline]
pub(crate) fn is_own_waker(waker: &Waker) -> bool {
    ptr::eq(waker.vtable(), &OWN_WAKER)
}

/// The own waker whose data is `data`.
///
/// # Safety
///
/// `data` is the data of an own waker that was forgotten, whose reference the new waker takes
/// over (or the waker made is never dropped).
unsafe fn own_waker_from_data(data: *const ()) -> Waker {
    // SAFETY: the caller's contract.
    unsafe { Waker::from_raw(RawWaker::new(data, &OWN_WAKER)) }
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
    async fn task_waker() -> Waker {
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
            let a = crate::spawn(task_waker()).await.unwrap();
            let b = crate::spawn(task_waker()).await.unwrap();
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
            let mut other_task = crate::spawn(task_waker());
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

    /// An own waker (`block_on`'s, a `JoinSet` entry's) is kept in the word with its
    /// reference and no box: it is woken by reference as often as asked, matches its clones and
    /// no other waker, and gives back a waker that still wakes it; its `Arc` is released exactly
    /// when the last waker goes.
    #[test]
    fn a_slim_waker_keeps_an_own_waker_without_a_box() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl OwnWake for Count {
            fn wake_by_ref(&self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let shared = OwnWaker::new(Count(Default::default()));
        let waker = OwnWaker::waker(&shared);
        assert!(is_own_waker(&waker) && !is_task_waker(&waker));
        let slim = SlimWaker::new(waker.clone());
        assert_eq!(
            slim.0.addr().get() & TAGS,
            OWN,
            "kept as its data, not boxed"
        );
        assert_eq!(Arc::strong_count(&shared), 3);
        slim.wake_by_ref();
        slim.wake_by_ref();
        assert_eq!(shared.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(slim.will_wake(&waker));
        let other = OwnWaker::waker(&OwnWaker::new(Count(Default::default())));
        assert!(!slim.will_wake(&other));
        assert!(!slim.will_wake(Waker::noop()));
        let back = slim.into_waker();
        assert!(back.will_wake(&waker));
        assert_eq!(
            Arc::strong_count(&shared),
            3,
            "the word's reference went to the waker"
        );
        back.wake();
        assert_eq!(shared.0.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(Arc::strong_count(&shared), 2);
        drop(SlimWaker::new(waker.clone()));
        drop(waker);
        assert_eq!(Arc::strong_count(&shared), 1);
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
