//! The lock-free part of a scope's state: the live-children word, the published length of the
//! spawners' queue, and the decisions taken on them (`state.rs` rules 1, 2 and 4).
//!
//! [`ScopeLiveCount`] knows nothing of the runtime, so it can be model-checked: the `loom` models
//! at the end of this file drive it through the same lock-and-call steps as
//! [`ScopeState`](super::state::ScopeState). The methods that publish `queued` take the
//! [`SpawnQueue`], which only the scope's lock hands out, so they run under it (rule 4).

use std::collections::VecDeque;
use std::task::Waker;

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};

/// `word`: the scope is done (or its future dropped); nothing more can be spawned (rule 2).
const CLOSED: usize = 1;
/// `word`: the scope's future waits for the last child; its waker is under the lock (rule 2).
const WAITING: usize = 2;
/// `word`: one live child (rule 1).
const ONE: usize = 4;

/// What a spawner got (rules 1, 4).
#[must_use]
pub(super) enum Reserve {
    /// A place: the caller must spawn a child that will release it.
    Reserved,
    /// The scope is bounded and full.
    Full,
    /// The scope has ended.
    Closed,
}

/// The scope's children have all finished, or not yet (rule 2).
#[must_use]
pub(super) enum Children {
    Done,
    Running,
}

/// What a finishing child must wake, after its decrement (rules 2, 4).
#[must_use]
pub(super) struct Released {
    /// A spawner is queued: wake the oldest ([`ScopeLiveCount::pop_spawner`]).
    pub(super) spawner: bool,
    /// This was the last child and the scope's future waits: wake it.
    pub(super) scope: bool,
    /// This was the last child of a closed scope: if its future was dropped with children
    /// alive, its place in the enclosing scope is given back now (`state.rs` rule 8).
    pub(super) last_of_closed: bool,
}

/// The live-children word and the spawners' queue length (rules 1, 2, 4).
pub(super) struct ScopeLiveCount {
    /// Live children times `ONE`, `CLOSED`, `WAITING`.
    word: AtomicUsize,
    /// How many spawners are in the [`SpawnQueue`]; written under the lock.
    queued: AtomicUsize,
    /// The bound on live children; 0 when unbounded.
    max: usize,
}

/// Spawners waiting for a place, oldest first, with their ids (rule 4). Kept under the scope's
/// lock; every change goes through a [`ScopeLiveCount`] method that publishes the new length.
pub(super) struct SpawnQueue {
    waiters: VecDeque<(u64, Waker)>,
    next_id: u64,
}

impl SpawnQueue {
    pub(super) fn new() -> SpawnQueue {
        SpawnQueue {
            waiters: VecDeque::new(),
            next_id: 0,
        }
    }

    fn remove(&mut self, waiter: Option<u64>) {
        if let Some(id) = waiter {
            self.waiters.retain(|(w, _)| *w != id);
        }
    }
}

impl ScopeLiveCount {
    pub(super) fn new(max: usize) -> ScopeLiveCount {
        ScopeLiveCount {
            word: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            max,
        }
    }

    /// Children alive now.
    pub(super) fn count(&self) -> usize {
        self.word.load(Ordering::Acquire) / ONE
    }

    pub(super) fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(super) fn is_bounded(&self) -> bool {
        self.max != 0
    }

    /// Takes a place for a child in an unbounded scope (rule 1). A spawner that finds the scope
    /// closed gives the place back at once: `Err` says what that give-back must wake, as a
    /// child's [`release`](Self::release) does (it may leave a dropped scope without children).
    pub(super) fn reserve_unbounded(&self) -> Result<(), Released> {
        let prev = self.word.fetch_add(ONE, Ordering::AcqRel);
        if prev & CLOSED != 0 {
            return Err(self.release());
        }
        Ok(())
    }

    /// Takes a place for a child in a bounded scope if there is one (rule 4).
    pub(super) fn try_reserve_bounded(&self) -> Reserve {
        let mut cur = self.word.load(Ordering::SeqCst);
        loop {
            if cur & CLOSED != 0 {
                return Reserve::Closed;
            }
            if cur / ONE >= self.max {
                return Reserve::Full;
            }
            match self.word.compare_exchange_weak(
                cur,
                cur + ONE,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Reserve::Reserved,
                Err(now) => cur = now,
            }
        }
    }

    /// Whether spawners are queued, so a new one must queue behind them (rule 4).
    pub(super) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::SeqCst) != 0
    }

    fn publish(&self, q: &SpawnQueue) {
        self.queued.store(q.waiters.len(), Ordering::SeqCst);
    }

    /// The bounded spawner `waiter`'s slow path, under the lock (rule 4): takes a place, or
    /// queues `waker` and publishes the queue's length before trying once more. A spawner that
    /// was queued before and woken, but beaten to the place, goes back to the front.
    pub(super) fn reserve_or_queue(
        &self,
        q: &mut SpawnQueue,
        waiter: &mut Option<u64>,
        waker: &Waker,
    ) -> Reserve {
        let listed = waiter.and_then(|id| q.waiters.iter().position(|(w, _)| *w == id));
        match listed {
            Some(pos) => {
                if !q.waiters[pos].1.will_wake(waker) {
                    q.waiters[pos].1 = waker.clone();
                }
            }
            None => {
                // New, or woken but beaten to the place: back in line (at the front if woken).
                let id = q.next_id;
                q.next_id += 1;
                if waiter.is_some() {
                    q.waiters.push_front((id, waker.clone()));
                } else {
                    q.waiters.push_back((id, waker.clone()));
                }
                *waiter = Some(id);
            }
        }
        self.publish(q);
        // Pairs with `release`'s fence (rule 4).
        fence(Ordering::SeqCst);
        let got = self.try_reserve_bounded();
        if !matches!(got, Reserve::Full) {
            q.remove(waiter.take());
            self.publish(q);
        }
        got
    }

    /// A queued spawner gives up, under the lock: leaves the queue or, if it was woken for a
    /// place it will not take (`pass_on`), returns the next spawner to wake instead.
    pub(super) fn leave_queue(
        &self,
        q: &mut SpawnQueue,
        waiter: u64,
        pass_on: bool,
    ) -> Option<Waker> {
        let next = match q.waiters.iter().position(|(w, _)| *w == waiter) {
            Some(pos) => {
                q.waiters.remove(pos);
                None
            }
            None if pass_on => q.waiters.pop_front().map(|(_, w)| w),
            None => None,
        };
        self.publish(q);
        next
    }

    /// Empties the queue, under the lock: the scope is cancelled, nothing new starts.
    pub(super) fn drain_queue(&self, q: &mut SpawnQueue) -> Vec<Waker> {
        self.queued.store(0, Ordering::SeqCst);
        q.waiters.drain(..).map(|(_, w)| w).collect()
    }

    /// Takes the oldest queued spawner, under the lock, for a child that freed a place.
    pub(super) fn pop_spawner(&self, q: &mut SpawnQueue) -> Option<Waker> {
        let next = q.waiters.pop_front().map(|(_, w)| w);
        self.publish(q);
        next
    }

    /// A child leaves the scope (rule 1), after its outcome is recorded: says whom to wake
    /// (rules 2, 4). The fence pairs with [`reserve_or_queue`](Self::reserve_or_queue)'s: either
    /// the spawner's retry sees the freed place or this sees the spawner queued.
    #[inline]
    pub(super) fn release(&self) -> Released {
        let prev = self.word.fetch_sub(ONE, Ordering::SeqCst);
        Released {
            spawner: self.is_bounded() && {
                fence(Ordering::SeqCst);
                self.queued.load(Ordering::SeqCst) != 0
            },
            scope: prev / ONE == 1 && prev & WAITING != 0,
            last_of_closed: prev / ONE == 1 && prev & CLOSED != 0,
        }
    }

    /// The scope's future, its body done, under the lock (rule 2): closes a word with no
    /// children (`Done`), or sets `WAITING` (`Running`: the caller stores its waker before it
    /// unlocks, and the last child wakes it).
    pub(super) fn close_or_wait(&self) -> Children {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            let next = if cur / ONE == 0 {
                CLOSED
            } else if cur & WAITING != 0 {
                return Children::Running;
            } else {
                cur | WAITING
            };
            match self
                .word
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == CLOSED => return Children::Done,
                Ok(_) => return Children::Running,
                Err(now) => cur = now,
            }
        }
    }

    /// Takes a place for a dropped inner scope whose children are still alive (`state.rs`
    /// rule 8): one more live child, whatever the bound, unless the scope is closed (then
    /// `false`). Given back with [`release`](Self::release).
    pub(super) fn try_hold(&self) -> bool {
        let mut cur = self.word.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return false;
            }
            match self.word.compare_exchange_weak(
                cur,
                cur + ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Closes the scope whose future is dropped before it completed (rule 2); returns whether
    /// children are still alive.
    pub(super) fn close(&self) -> bool {
        self.word.fetch_or(CLOSED, Ordering::AcqRel) / ONE != 0
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    //! The models drive [`ScopeLiveCount`] as `ScopeState` does: [`Scope`] below takes the lock
    //! around the same calls as `ScopeState::{reserve_or_queue, release, poll_children}`, and a
    //! spawner runs the steps of `Spawn::poll`. A waker is a `loom::sync::Notify`: a wake-up that
    //! is never sent leaves its waiter blocked, which loom reports as a deadlock.

    use super::*;
    use crate::loom::lock;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::{Arc, Mutex};
    use loom::sync::Notify;
    use loom::thread;
    use std::task::Wake;

    /// A task's waker: waking it lets its `wait` return.
    struct Task(Notify);

    impl Wake for Task {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.notify();
        }
    }

    fn task() -> (std::sync::Arc<Task>, Waker) {
        let t = std::sync::Arc::new(Task(Notify::new()));
        let w = Waker::from(t.clone());
        (t, w)
    }

    /// `ScopeState` without the runtime: the word, and the lock's waker and queue.
    struct Scope {
        live: ScopeLiveCount,
        slow: Mutex<(Option<Waker>, SpawnQueue)>,
    }

    impl Scope {
        fn new(max: usize) -> Scope {
            Scope {
                live: ScopeLiveCount::new(max),
                slow: Mutex::new((None, SpawnQueue::new())),
            }
        }

        /// `ScopeState::release`.
        fn release(&self) -> Released {
            let released = self.live.release();
            if released.spawner {
                let next = self.live.pop_spawner(&mut lock(&self.slow).1);
                if let Some(w) = next {
                    w.wake();
                }
            }
            if released.scope {
                let waker = lock(&self.slow).0.take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            released
        }

        /// `ScopeState::poll_children`.
        fn poll_children(&self, waker: &Waker) -> Children {
            let mut slow = lock(&self.slow);
            if let Children::Done = self.live.close_or_wait() {
                return Children::Done;
            }
            slow.0 = Some(waker.clone());
            Children::Running
        }

        /// The bounded path of `Spawn::poll`, until it has a place; `Pending` waits for a wake.
        fn spawn_bounded(&self) {
            let (task, waker) = task();
            let mut waiter = None;
            loop {
                let mut got = Reserve::Full;
                if waiter.is_none() && !self.live.has_queued() {
                    got = self.live.try_reserve_bounded();
                }
                if matches!(got, Reserve::Full) {
                    let mut slow = lock(&self.slow);
                    got = self.live.reserve_or_queue(&mut slow.1, &mut waiter, &waker);
                }
                match got {
                    Reserve::Reserved => return,
                    Reserve::Full => task.0.wait(),
                    Reserve::Closed => unreachable!("the scope is not closed"),
                }
            }
        }

        /// The scope's future, its body done: polls until every child is gone. Returns whether
        /// the first poll found none.
        fn wait_children(&self) -> bool {
            let (task, waker) = task();
            let mut first = true;
            loop {
                if let Children::Done = self.poll_children(&waker) {
                    return first;
                }
                first = false;
                task.0.wait();
            }
        }
    }

    /// Rule 4, bound 1: a running child finishes while two spawners race for its place. Never
    /// two children at once, and a queued spawner is always woken when the place frees (each
    /// spawner's child finishes in turn, so a lost wake-up blocks the model).
    /// Three threads of several locked steps each: checked up to three preemptions (about 7 s
    /// in release; unbounded, it runs for many minutes). Without either SeqCst fence it
    /// deadlocks at once.
    #[test]
    fn loom_bounded_spawners_keep_the_bound_and_are_woken() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound.get_or_insert(3);
        model.check(|| {
            let scope = Arc::new(Scope::new(1));
            assert!(matches!(
                scope.live.try_reserve_bounded(),
                Reserve::Reserved
            ));
            // Children between their place taken and released; never above the bound.
            let running = Arc::new(AtomicUsize::new(1));
            let child = {
                let (scope, running) = (scope.clone(), running.clone());
                thread::spawn(move || {
                    running.fetch_sub(1, Ordering::SeqCst);
                    let _ = scope.release();
                })
            };
            let spawn = |scope: Arc<Scope>, running: Arc<AtomicUsize>| {
                move || {
                    scope.spawn_bounded();
                    assert!(scope.live.count() <= 1, "more children than the bound");
                    let before = running.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(before, 0, "two children hold the one place");
                    running.fetch_sub(1, Ordering::SeqCst);
                    let _ = scope.release();
                }
            };
            let other = thread::spawn(spawn(scope.clone(), running.clone()));
            spawn(scope.clone(), running.clone())();
            child.join().unwrap();
            other.join().unwrap();
            assert_eq!(scope.live.count(), 0);
            assert!(!scope.live.has_queued());
            assert!(lock(&scope.slow).1.waiters.is_empty());
        });
    }

    /// Rule 4: a spawner woken for a place that it then gives up (its `Spawn` dropped) passes
    /// the place on to the next queued spawner.
    #[test]
    fn loom_dropped_spawner_passes_its_place_on() {
        loom::model(|| {
            let scope = Arc::new(Scope::new(1));
            assert!(matches!(
                scope.live.try_reserve_bounded(),
                Reserve::Reserved
            ));
            // Both spawners queued (the first is the one the child will wake).
            let (_t1, w1) = task();
            let (t2, w2) = task();
            let (mut id1, mut id2) = (None, None);
            {
                let mut slow = lock(&scope.slow);
                let q = &mut slow.1;
                assert!(matches!(
                    scope.live.reserve_or_queue(q, &mut id1, &w1),
                    Reserve::Full
                ));
                assert!(matches!(
                    scope.live.reserve_or_queue(q, &mut id2, &w2),
                    Reserve::Full
                ));
            }
            let child = {
                let scope = scope.clone();
                thread::spawn(move || {
                    let _ = scope.release();
                })
            };
            let second = {
                let scope = scope.clone();
                thread::spawn(move || loop {
                    let got = scope
                        .live
                        .reserve_or_queue(&mut lock(&scope.slow).1, &mut id2, &w2);
                    match got {
                        Reserve::Reserved => return,
                        Reserve::Full => t2.0.wait(),
                        Reserve::Closed => unreachable!("the scope is not closed"),
                    }
                })
            };
            // The first spawner is dropped, before or after the child wakes it: `Spawn`'s drop.
            let next = scope
                .live
                .leave_queue(&mut lock(&scope.slow).1, id1.unwrap(), true);
            if let Some(w) = next {
                w.wake();
            }
            child.join().unwrap();
            second.join().unwrap();
            assert_eq!(scope.live.count(), 1, "the second spawner holds the place");
            assert!(!scope.live.has_queued());
        });
    }

    /// Rule 2: the scope's future closes the word while its last two children finish. Either
    /// its first poll sees no child, or exactly the last child sees `WAITING` and wakes it
    /// (a missed wake-up blocks the model); never both.
    #[test]
    fn loom_close_races_the_last_child() {
        loom::model(|| {
            let scope = Arc::new(Scope::new(0));
            for _ in 0..2 {
                assert!(scope.live.reserve_unbounded().is_ok());
            }
            let children: Vec<_> = (0..2)
                .map(|_| {
                    let scope = scope.clone();
                    thread::spawn(move || scope.release().scope)
                })
                .collect();
            let done_at_once = scope.wait_children();
            let woke: usize = children
                .into_iter()
                .map(|c| usize::from(c.join().unwrap()))
                .sum();
            assert_eq!(woke, usize::from(!done_at_once), "woken {woke} times");
            assert!(scope.live.is_closed());
            assert_eq!(scope.live.count(), 0);
        });
    }

    /// Rules 1 and 2: an unbounded spawner races the scope's future closing the word. Either
    /// the child is counted first (and the scope waits for it, and sees what it did before its
    /// release), or the spawner sees `CLOSED` and backs out; the count ends at zero.
    #[test]
    fn loom_unbounded_reserve_races_close() {
        loom::model(|| {
            let scope = Arc::new(Scope::new(0));
            let finished = Arc::new(AtomicBool::new(false));
            let spawner = {
                let (scope, finished) = (scope.clone(), finished.clone());
                thread::spawn(move || match scope.live.reserve_unbounded() {
                    Ok(()) => {
                        // The child runs and records its outcome, then leaves.
                        finished.store(true, Ordering::Relaxed);
                        let _ = scope.release();
                        true
                    }
                    Err(released) => {
                        assert!(!released.scope, "nobody waits for a spawner's place");
                        false
                    }
                })
            };
            let _ = scope.wait_children();
            let seen = finished.load(Ordering::Relaxed);
            let reserved = spawner.join().unwrap();
            assert_eq!(reserved, seen, "the scope completed around a counted child");
            assert!(scope.live.is_closed());
            assert_eq!(scope.live.count(), 0);
        });
    }

    /// Rule 2, the dropped scope: `close` racing an unbounded spawner reports a child alive
    /// exactly when one is counted, and a spawner that comes later backs out.
    #[test]
    fn loom_unbounded_reserve_races_drop_close() {
        loom::model(|| {
            let scope = Arc::new(Scope::new(0));
            let spawner = {
                let scope = scope.clone();
                thread::spawn(move || scope.live.reserve_unbounded().is_ok())
            };
            let alive = scope.live.close();
            let reserved = spawner.join().unwrap();
            assert_eq!(alive, reserved);
            assert_eq!(scope.live.count(), usize::from(reserved));
            if reserved {
                let released = scope.release();
                assert!(!released.scope, "nobody waits on a dropped scope");
            }
            assert_eq!(scope.live.count(), 0);
        });
    }

    /// `run.rs` rule 5: a child spawns while the scope's future is dropped on another thread
    /// (it cancels the scope's token, then closes the word, as `ScopeFuture`'s destructor
    /// does). The spawner either starts its child before the close (the hard drop then finds
    /// it) or sees the cancellation; it never finds `CLOSED` without it, which would make it
    /// take the drop for a misuse and panic.
    #[test]
    fn loom_a_spawner_that_finds_a_dropped_scope_closed_sees_it_cancelled() {
        loom::model(|| {
            let node = std::sync::Arc::new(super::super::cancel::TokenNode::new(None));
            let live = Arc::new(ScopeLiveCount::new(0));
            // The spawning child's own place.
            assert!(live.reserve_unbounded().is_ok());
            let dropper = {
                let (node, live) = (node.clone(), live.clone());
                thread::spawn(move || {
                    node.cancel();
                    let children_left = live.close();
                    assert!(children_left, "the spawning child is alive");
                })
            };
            // `Spawn::poll`, unbounded.
            if !node.is_cancelled() {
                match live.reserve_unbounded() {
                    Ok(()) => {
                        // Started: leaves like any child.
                        let _ = live.release();
                    }
                    Err(_) => assert!(
                        node.is_cancelled(),
                        "closed but not cancelled: the spawn would panic as a misuse"
                    ),
                }
            }
            dropper.join().unwrap();
            let _ = live.release();
            assert_eq!(live.count(), 0);
        });
    }
}
