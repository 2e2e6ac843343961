//! `Inbox`: a run queue that any thread pushes to, one thread pops from, and that closes.
//!
//! The current-thread scheduler takes tasks woken on other threads through one (its remote
//! queue), and every thread's local tasks (`spawn_local`) wait in one.
//!
//! # Protocol
//!
//! 1. **Closing is decided under the lock.** `push` checks `closed` and appends while holding
//!    the lock; `close` sets `closed` and takes what is queued while holding it. So every pushed
//!    item is either handed back to its pusher (the inbox was closed) or taken by `close` or a
//!    pop: none is left behind in a closed inbox.
//! 2. **`pending` announces work without the lock.** A push sets `pending` (SeqCst) after it
//!    appended, under the lock; a pop clears it under the lock before it takes items. So
//!    `pending` is true whenever an item is queued: a thread that has seen a pusher's later
//!    writes (the current-thread scheduler's rule 3) finds `pending` set or the item taken.
//! 3. **A popper may wait for the next push.** `wait_if_empty` sets `waiter` under the lock
//!    only when the queue is empty; the next `push` takes it under the lock and tells its caller
//!    to wake the popper. So a popper that saw an empty queue is always told about the next
//!    item (`spawn_local`'s owner waits so for wake-ups on their way when it closes).
//! 4. Items are dropped only by the caller, after the lock is released: dropping a task may run
//!    its future's destructor, which may push again.

use std::collections::VecDeque;

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Mutex;

/// A queue pushed from any thread and closed at shutdown (see the module protocol).
pub(crate) struct Inbox<T> {
    /// Holding the lock means owning the queue and its closed bit (rule 1).
    inner: Mutex<Inner<T>>,
    /// True when the queue may be non-empty (rule 2).
    pending: AtomicBool,
}

struct Inner<T> {
    items: VecDeque<T>,
    /// Once true, stays true: `push` hands items back (rule 1).
    closed: bool,
    /// The popper waits for the next push (rule 3).
    waiter: bool,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Inbox<T> {
        Inbox {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                closed: false,
                waiter: false,
            }),
            pending: AtomicBool::new(false),
        }
    }

    /// Appends `item`, or hands it back when the inbox is closed (rule 1). Returns whether a
    /// popper waits for this push and must be woken (rule 3).
    pub(crate) fn push(&self, item: T) -> Result<bool, T> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Err(item);
        }
        inner.items.push_back(item);
        self.pending.store(true, Ordering::SeqCst);
        Ok(std::mem::take(&mut inner.waiter))
    }

    /// Registers the popper to be woken by the next push if the queue is empty; returns whether
    /// it did (then the popper may sleep until woken; rule 3).
    pub(crate) fn wait_if_empty(&self) -> bool {
        let mut inner = lock(&self.inner);
        inner.waiter = inner.items.is_empty();
        inner.waiter
    }

    /// Whether an item may be queued (rule 2). SeqCst, for the parking protocol that reads it.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    /// Moves every queued item to the back of `dst` and returns the first one; `None` (without
    /// taking the lock) when nothing is pending.
    pub(crate) fn pop_all_into(&self, dst: &mut impl Extend<T>) -> Option<T> {
        if !self.pending.load(Ordering::Acquire) {
            return None;
        }
        let mut inner = lock(&self.inner);
        self.pending.store(false, Ordering::Release);
        let first = inner.items.pop_front();
        if !inner.items.is_empty() {
            dst.extend(inner.items.drain(..));
        }
        first
    }

    /// Takes one item, if any (for draining at shutdown).
    pub(crate) fn pop(&self) -> Option<T> {
        let mut inner = lock(&self.inner);
        let item = inner.items.pop_front();
        if inner.items.is_empty() {
            self.pending.store(false, Ordering::Release);
        }
        item
    }

    /// The number of queued items.
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).items.len()
    }

    /// Closes the inbox and returns what was still queued; every later `push` hands its item
    /// back (rule 1).
    pub(crate) fn close(&self) -> VecDeque<T> {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut inner.items)
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::sync::Arc;
    use loom::thread;

    /// Counts its drops, like a task whose destructor runs exactly once.
    struct Item(Arc<AtomicUsize>);

    impl Drop for Item {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Rule 1: a push racing `close` is either handed back to the pusher or returned by
    /// `close`; after both, the inbox holds nothing and the item was dropped exactly once.
    #[test]
    fn loom_a_push_racing_close_is_never_left_behind() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let drops = Arc::new(AtomicUsize::new(0));
            let pusher = {
                let (inbox, drops) = (inbox.clone(), drops.clone());
                thread::spawn(move || {
                    if let Err(item) = inbox.push(Item(drops)) {
                        drop(item);
                    }
                })
            };
            drop(inbox.close());
            pusher.join().unwrap();
            assert_eq!(inbox.len(), 0, "an item was left in the closed inbox");
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    /// Rule 3: a popper that waits for a push racing its check is always woken (a lost wake-up
    /// leaves it parked, which loom reports as a deadlock).
    #[test]
    fn loom_a_popper_waiting_for_a_push_is_woken() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let popper = thread::current();
            let pusher = {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    if inbox.push(1).unwrap() {
                        popper.unpark();
                    }
                })
            };
            let mut rest = std::collections::VecDeque::new();
            while inbox.pop_all_into(&mut rest).is_none() {
                if inbox.wait_if_empty() {
                    thread::park();
                }
            }
            pusher.join().unwrap();
        });
    }
}
