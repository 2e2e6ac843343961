//! The injector: the queue of tasks scheduled from outside the workers (`mod.rs` rule 1), a
//! bounded ring in front of an unbounded list linked through the tasks' cells.
//!
//! Neither allocates after it is created. crossbeam's `Injector`, which tether used alone and
//! then behind the ring, allocates a block for every 63 tasks on the thread that pushes them,
//! and the worker that empties a block frees it. With glibc, a free into another thread's
//! arena takes that arena's lock, which a `block_on` thread spawning tasks holds for most of
//! its own allocations, so the workers waited for it and the `block_on` thread woke them
//! (measured on 2026-12-06: the workers' only frees during `spawn_many` were those blocks, and
//! waking the waiters took 9% of the spawning thread's time); and the blocks of a backlog,
//! freed into the spawning thread's arena after its last allocation, stayed in its memory (4
//! to 6 MB in the million-sleeps benchmark).
//!
//! Rules:
//! 1. **The ring** is a bounded multi-producer, multi-consumer queue of [`RING`] slots, each
//!    with a sequence number (D. Vyukov's design). Position `p` lives in slot `p % RING`. A
//!    pusher claims `p` by moving `tail` from `p` to `p + 1` (compare-and-swap) when the slot's
//!    sequence is `p` (free for this lap), writes the task, and stores `p + 1` with release
//!    ordering (published). A taker claims `p` by moving `head` from `p` to `p + 1` when the
//!    slot's sequence is `p + 1` (read with acquire ordering, so the task's write is visible),
//!    reads the task, and stores `p + RING` with release ordering (free for the next lap, and
//!    the read is done before a pusher can write the slot again). A sequence behind what a
//!    pusher expects means the ring is full. Behind what a taker expects, it means the ring is
//!    empty if `tail` is still `p`; if `tail` is past `p`, a pusher claimed the position and is
//!    a few instructions from publishing it, and the taker waits for it (spinning, then
//!    yielding, a bounded number of times), as crossbeam's injector does: a worker that `len`
//!    told of a task would otherwise go round its park loop until the push lands.
//! 2. **Overflow.** A push goes to the overflow (a [`RunnableList`] under a lock, its length
//!    in an atomic word beside it that only the lock's holder writes) when the ring is full,
//!    and also while the overflow is not empty, so that once the ring has overflowed, newer
//!    tasks queue behind the older ones: takers try the ring first, then the overflow, so the
//!    ring drains, then the overflow, and then pushes return to the ring. No task waits for
//!    more than the ring's length of newer ones. (That order holds because pushes are
//!    serialized by `injector_closed`'s lock, `mod.rs` rule 8; unserialized pushers would only
//!    reorder tasks, never lose one.) A backlog of more than the ring's length goes through the
//!    overflow until it has drained. A taker locks the overflow only when its length says it
//!    holds a task, and moves a batch at once (rule 3); the lock is uncontended until the
//!    ring has filled, which takes a backlog of 4,096 tasks.
//! 3. **Batches.** A worker takes the first task to run it and moves up to [`BATCH`] more into
//!    its run queue (from the ring one by one, each a compare-and-swap; from the overflow under
//!    one lock), where the other workers can steal them.
//! 4. **Nobody parks on a task in the ring.** A pusher claims its position with a `SeqCst`
//!    compare-and-swap of `tail`, `len` and `is_empty` read `head` and `tail` with `SeqCst`
//!    loads, and `idle.rs` counts idle and searching workers with `SeqCst` operations. So in
//!    the single order of `SeqCst` operations either the parking worker's read of `tail` comes
//!    after the push's claim (it counts the task, unless a taker's claim moved `head` past it),
//!    or the worker's registration as idle comes before the pusher's read of the idle count
//!    (and the pusher wakes it). The overflow's length is stored and loaded with `SeqCst`, so
//!    the same argument covers a push into the overflow. `idle.rs`'s `SeqCst` fences would give the same guarantee
//!    for relaxed accesses; the `SeqCst` accesses cost nothing more on x86-64 (the loads are
//!    plain loads, and the compare-and-swap is a locked instruction either way) and make the
//!    argument the plain one of a single order. The loom model
//!    `loom_ring_a_parking_worker_sees_the_push_or_is_woken` checks it.

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use crossbeam_deque::Worker;

use crate::loom::cell::UnsafeCell;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;
use crate::task::raw::{Runnable, RunnableList};

/// Slots in the ring (rule 1): a power of two.
#[cfg(not(any(tether_loom, miri)))]
pub(super) const RING: usize = 4096;
/// 64 slots under Miri, whose interpreter would take minutes to fill and empty 4,096 (and the
/// multi-thread runtime's tests then go through the overflow more often).
#[cfg(all(miri, not(tether_loom)))]
pub(super) const RING: usize = 64;
/// Two slots under loom, so that a model fills the ring and wraps around it.
#[cfg(tether_loom)]
pub(super) const RING: usize = 2;

const _: () = assert!(
    RING.is_power_of_two(),
    "positions wrap consistently over the slots"
);

/// Tasks a worker moves into its run queue besides the one it runs (rule 3).
pub(super) const BATCH: usize = 31;

/// One slot of the ring.
struct Slot<T> {
    /// Rule 1: `p` while free for position `p`, `p + 1` once the task of position `p` is in it.
    seq: AtomicUsize,
    task: UnsafeCell<MaybeUninit<T>>,
}

/// The positions, each on its own cache line: pushers write `tail`, takers `head`.
#[repr(align(128))]
struct Padded(AtomicUsize);

/// The bounded ring (rule 1).
pub(super) struct Ring<T> {
    slots: Box<[Slot<T>]>,
    /// The next position to take.
    head: Padded,
    /// The next position to push.
    tail: Padded,
}

// SAFETY: the ring moves tasks between threads (`T: Send`); a slot's task is accessed only by
// the one thread that claimed its position (rule 1), so sharing the ring shares no `T`.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    pub(super) fn new() -> Ring<T> {
        Ring::starting_at(0)
    }

    /// An empty ring whose first position is `start` (tests start near `usize::MAX`, to cross
    /// the positions' wrap-around).
    fn starting_at(start: usize) -> Ring<T> {
        // Slot `i` starts with the one position of `start..start + RING` (wrapping) that maps
        // to it: `start + (i - start) mod RING` (the modulus is exact across the wrap, as
        // `RING` divides 2^64).
        let slots: Vec<Slot<T>> = (0..RING)
            .map(|i| Slot {
                seq: AtomicUsize::new(start.wrapping_add(i.wrapping_sub(start) % RING)),
                task: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            slots: slots.into_boxed_slice(),
            head: Padded(AtomicUsize::new(start)),
            tail: Padded(AtomicUsize::new(start)),
        }
    }

    /// Pushes `task`, or gives it back if the ring is full (rule 1).
    pub(super) fn push(&self, task: T) -> Result<(), T> {
        let mut pos = self.tail.0.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos % RING];
            let seq = slot.seq.load(Ordering::Acquire);
            if seq == pos {
                // `SeqCst`: rule 4.
                match self.tail.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: we claimed position `pos`, and the slot's sequence (read with
                        // acquire ordering) said the taker of the previous lap is done with it:
                        // nobody else accesses the slot until we publish it.
                        slot.task.with_mut(|t| unsafe { (*t).write(task) });
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if (seq.wrapping_sub(pos) as isize) < 0 {
                // The slot still holds the task of the previous lap: full.
                return Err(task);
            } else {
                // Another pusher claimed `pos`: look again.
                pos = self.tail.0.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest task, if one is published or being published (rule 1).
    pub(super) fn pop(&self) -> Option<T> {
        let mut pos = self.head.0.load(Ordering::Relaxed);
        let mut waited = 0;
        loop {
            let slot = &self.slots[pos % RING];
            let seq = slot.seq.load(Ordering::Acquire);
            let published = pos.wrapping_add(1);
            if seq == published {
                match self.head.0.compare_exchange_weak(
                    pos,
                    published,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: we claimed position `pos`, whose task was published (the
                        // acquire load above saw the pusher's release store after its write);
                        // nobody else reads the slot, and nobody writes it until we free it.
                        let task = slot.task.with(|t| unsafe { (*t).assume_init_read() });
                        slot.seq.store(pos.wrapping_add(RING), Ordering::Release);
                        return Some(task);
                    }
                    Err(now) => pos = now,
                }
            } else if (seq.wrapping_sub(published) as isize) < 0 {
                // Not published for this lap: empty, unless a pusher claimed the position
                // (rule 1).
                if self.tail.0.load(Ordering::Relaxed) == pos || !snooze(&mut waited) {
                    return None;
                }
                pos = self.head.0.load(Ordering::Relaxed);
            } else {
                // Another taker claimed `pos`: look again.
                pos = self.head.0.load(Ordering::Relaxed);
            }
        }
    }

    /// How many tasks the ring holds, or are being pushed, as of two loads that may be a
    /// moment apart (rule 4).
    pub(super) fn len(&self) -> usize {
        // `SeqCst`: rule 4.
        let head = self.head.0.load(Ordering::SeqCst);
        let tail = self.tail.0.load(Ordering::SeqCst);
        let len = tail.wrapping_sub(head);
        // `head` read newer than `tail` (a taker's claim of `head` is relaxed, so nothing
        // orders the two loads' sources): the takers had caught up.
        if (len as isize) < 0 {
            0
        } else {
            len.min(RING)
        }
    }
}

/// Waits a little for a push in progress (rule 1): spins, longer each time, then yields the
/// thread; `false` once it has waited long enough (the pusher lost its processor), and the
/// taker reports the ring empty. Its worker does not park on it: `len` still counts the task,
/// so it looks again; and the pusher wakes a worker once it has pushed.
fn snooze(waited: &mut u32) -> bool {
    *waited += 1;
    #[cfg(tether_loom)]
    {
        // One yield lets the model run the pusher; more would let two waiting takers hand the
        // processor back and forth for ever.
        loom::thread::yield_now();
        *waited <= 1
    }
    #[cfg(not(tether_loom))]
    {
        if *waited <= 6 {
            for _ in 0..1 << *waited {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        *waited <= 16
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// What the overflow holds its tasks in (rule 2): for tasks, a list linked through their cells.
pub(super) trait Queued: Sized {
    /// A first-in, first-out list of `Self`.
    type List: Fifo<Self> + Default + Send;
}

/// A first-in, first-out list.
pub(super) trait Fifo<T> {
    fn push_back(&mut self, item: T);
    fn pop_front(&mut self) -> Option<T>;
}

impl<M: Send + Sync> Queued for Runnable<M> {
    type List = RunnableList<M>;
}

impl<M> Fifo<Runnable<M>> for RunnableList<M> {
    #[inline]
    fn push_back(&mut self, item: Runnable<M>) {
        RunnableList::push_back(self, item);
    }

    #[inline]
    fn pop_front(&mut self) -> Option<Runnable<M>> {
        RunnableList::pop_front(self)
    }
}

/// The tests' tasks: plain numbers, in a `VecDeque`.
#[cfg(test)]
impl Queued for usize {
    type List = VecDeque<usize>;
}

impl<T> Fifo<T> for VecDeque<T> {
    fn push_back(&mut self, item: T) {
        VecDeque::push_back(self, item);
    }

    fn pop_front(&mut self) -> Option<T> {
        VecDeque::pop_front(self)
    }
}

/// The injector: the ring, and the overflow behind it (rule 2).
pub(super) struct Inject<T: Queued> {
    ring: Ring<T>,
    overflow: Mutex<T::List>,
    /// The overflow's length: written by the lock's holder, read without the lock (rules 2, 4).
    overflow_len: AtomicUsize,
}

impl<T: Queued + Send> Inject<T> {
    pub(super) fn new() -> Inject<T> {
        Inject {
            ring: Ring::new(),
            overflow: Mutex::new(T::List::default()),
            overflow_len: AtomicUsize::new(0),
        }
    }

    /// Queues `task` (rule 2).
    #[inline]
    pub(super) fn push(&self, task: T) {
        let task = if self.overflow_len.load(Ordering::SeqCst) == 0 {
            match self.ring.push(task) {
                Ok(()) => return,
                Err(task) => task,
            }
        } else {
            task
        };
        self.push_overflow(task);
    }

    #[cold]
    fn push_overflow(&self, task: T) {
        let mut overflow = lock(&self.overflow);
        overflow.push_back(task);
        // `SeqCst`: rule 4. Only the lock's holder writes the length.
        let len = self.overflow_len.load(Ordering::Relaxed);
        self.overflow_len.store(len + 1, Ordering::SeqCst);
    }

    /// Takes a task to run and moves up to [`BATCH`] more into `run_queue` (rules 2, 3).
    pub(super) fn steal_into(&self, run_queue: &Worker<T>) -> Option<T> {
        if let Some(first) = self.ring.pop() {
            let more = (self.ring.len() / 2).min(BATCH);
            for _ in 0..more {
                match self.ring.pop() {
                    Some(t) => run_queue.push(t),
                    None => break,
                }
            }
            return Some(first);
        }
        self.take_overflow(BATCH, |t| run_queue.push(t))
    }

    /// Takes the overflow's first task and hands up to `more` after it to `put` (rule 3), under
    /// one lock; without the lock when the length says the overflow is empty.
    #[inline]
    fn take_overflow(&self, more: usize, mut put: impl FnMut(T)) -> Option<T> {
        if self.overflow_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut overflow = lock(&self.overflow);
        let len = self.overflow_len.load(Ordering::Relaxed);
        let first = overflow.pop_front()?;
        let moved = more.min(len - 1);
        for _ in 0..moved {
            put(overflow
                .pop_front()
                .expect("the overflow holds the tasks its length counts"));
        }
        self.overflow_len.store(len - 1 - moved, Ordering::SeqCst);
        Some(first)
    }

    /// Takes one task (shutdown's drain).
    pub(super) fn steal_one(&self) -> Option<T> {
        self.ring.pop().or_else(|| self.take_overflow(0, drop))
    }

    /// How many tasks are queued, as of loads that may be a moment apart.
    pub(super) fn len(&self) -> usize {
        self.ring.len() + self.overflow_len.load(Ordering::SeqCst)
    }

    /// Whether no task is queued, as of loads that may be a moment apart.
    pub(super) fn is_empty(&self) -> bool {
        self.ring.len() == 0 && self.overflow_len.load(Ordering::SeqCst) == 0
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn the_ring_is_first_in_first_out_and_refuses_when_full() {
        let ring = Ring::new();
        for i in 0..RING {
            ring.push(i).unwrap();
        }
        assert_eq!(
            ring.push(RING),
            Err(RING),
            "a full ring gives the task back"
        );
        assert_eq!(ring.len(), RING);
        for i in 0..RING / 2 {
            assert_eq!(ring.pop(), Some(i));
        }
        // Around the end of the slots and into the next lap.
        for i in RING..RING + RING / 2 {
            ring.push(i).unwrap();
        }
        for i in RING / 2..RING + RING / 2 {
            assert_eq!(ring.pop(), Some(i));
        }
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.len(), 0);
    }

    /// Positions wrap around `usize::MAX` without a task lost, reordered or refused early.
    #[test]
    fn positions_wrap_around() {
        let ring = Ring::starting_at(usize::MAX - RING / 2);
        for lap in 0..3 {
            for i in 0..RING {
                ring.push(lap * RING + i).unwrap();
            }
            assert_eq!(ring.len(), RING);
            assert!(ring.push(0).is_err(), "full");
            for i in 0..RING {
                assert_eq!(ring.pop(), Some(lap * RING + i));
            }
            assert_eq!(ring.pop(), None);
            assert_eq!(ring.len(), 0);
        }
    }

    /// Tasks left in the ring are dropped with it.
    #[test]
    fn a_dropped_ring_drops_what_it_holds() {
        let token = Arc::new(());
        let ring = Ring::new();
        for _ in 0..10 {
            ring.push(token.clone()).unwrap();
        }
        drop(ring);
        assert_eq!(Arc::strong_count(&token), 1);
    }

    /// Once the ring overflowed, newer tasks queue behind the older ones (rule 2): takers see
    /// every task once, in push order, across the ring and the overflow.
    #[test]
    fn overflow_keeps_push_order_and_the_ring_is_used_again_once_it_drains() {
        let inject = Inject::new();
        let total = RING + 100;
        for i in 0..total {
            inject.push(i);
        }
        assert_eq!(inject.len(), total);
        let mut seen = Vec::new();
        while let Some(t) = inject.steal_one() {
            seen.push(t);
            if seen.len() == RING {
                // The ring is empty, the overflow is not: this push goes behind it.
                inject.push(total);
            }
        }
        let expected: Vec<usize> = (0..=total).collect();
        assert_eq!(seen, expected);
        assert!(inject.is_empty());
        inject.push(7);
        assert_eq!(
            inject.ring.len(),
            1,
            "with the overflow empty, pushes use the ring"
        );
        assert_eq!(inject.steal_one(), Some(7));
    }

    /// A batch runs one task and moves the rest into the worker's run queue (rule 3).
    #[test]
    fn a_batch_fills_the_run_queue() {
        let inject = Inject::new();
        for i in 0..100 {
            inject.push(i);
        }
        let run_queue = Worker::new_fifo();
        assert_eq!(inject.steal_into(&run_queue), Some(0));
        let moved = run_queue.len();
        assert!((1..=BATCH).contains(&moved), "{moved}");
        assert_eq!(run_queue.pop(), Some(1));
        assert_eq!(inject.len(), 99 - moved);
    }

    /// A backlog beyond the ring: once the ring has drained, a taker takes the overflow's
    /// first task and moves a batch after it into its run queue under one lock (rule 3), in
    /// push order, and the counts stay exact.
    #[test]
    fn a_batch_from_the_overflow_fills_the_run_queue() {
        let inject = Inject::new();
        let total = RING + 2 * BATCH + 5;
        for i in 0..total {
            inject.push(i);
        }
        for i in 0..RING {
            assert_eq!(inject.steal_one(), Some(i));
        }
        assert_eq!(inject.len(), 2 * BATCH + 5);
        let run_queue = Worker::new_fifo();
        assert_eq!(inject.steal_into(&run_queue), Some(RING));
        assert_eq!(run_queue.len(), BATCH);
        for i in 0..BATCH {
            assert_eq!(run_queue.pop(), Some(RING + 1 + i));
        }
        assert_eq!(inject.len(), BATCH + 4);
        assert_eq!(inject.steal_into(&run_queue), Some(RING + 1 + BATCH));
        assert_eq!(run_queue.len(), BATCH);
        assert_eq!(inject.steal_into(&run_queue), Some(total - 3));
        assert_eq!(run_queue.len(), BATCH + 2);
        assert_eq!(inject.steal_into(&run_queue), None);
        assert!(inject.is_empty());
    }

    /// Threads pushing and taking at once, through full rings and the overflow: every task is
    /// taken exactly once. (Miri checks the slots' accesses.)
    #[test]
    fn concurrent_pushers_and_takers_lose_and_duplicate_nothing() {
        let per = if cfg!(miri) { 100 } else { 20_000 };
        let inject = Arc::new(Inject::new());
        // A full ring and a task in the overflow: the pushes below start in the overflow, and
        // the ring takes them again once both drained (rule 2).
        let prefilled = RING + 1;
        for i in 0..prefilled {
            inject.push(2 * per + i);
        }
        assert_eq!(inject.overflow_len.load(Ordering::SeqCst), 1);
        let pushers: Vec<_> = (0..2)
            .map(|p| {
                let inject = inject.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        inject.push(p * per + i);
                    }
                })
            })
            .collect();
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let inject = inject.clone();
                std::thread::spawn(move || {
                    let run_queue = Worker::new_fifo();
                    let mut got = Vec::new();
                    let mut idle = 0;
                    while idle < 1_000 {
                        match inject.steal_into(&run_queue) {
                            Some(t) => {
                                got.push(t);
                                while let Some(t) = run_queue.pop() {
                                    got.push(t);
                                }
                                idle = 0;
                            }
                            None => {
                                idle += 1;
                                std::thread::yield_now();
                            }
                        }
                    }
                    got
                })
            })
            .collect();
        for p in pushers {
            p.join().unwrap();
        }
        let mut all: Vec<usize> = takers.into_iter().flat_map(|t| t.join().unwrap()).collect();
        while let Some(t) = inject.steal_one() {
            all.push(t);
        }
        let unique: HashSet<usize> = all.iter().copied().collect();
        assert_eq!(all.len(), 2 * per + prefilled, "every task taken once");
        assert_eq!(unique.len(), 2 * per + prefilled, "no task taken twice");
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two pushers and a taker on a ring of two slots: the third push finds it full (or a slot
    /// freed by the taker), and every task pushed is taken exactly once, or given back.
    #[test]
    fn loom_ring_pushers_and_a_taker() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound.get_or_insert(3);
        model.check(|| {
            let ring = Arc::new(Ring::new());
            let pushers: Vec<_> = [vec![1usize, 2], vec![3]]
                .into_iter()
                .map(|tasks| {
                    let ring = ring.clone();
                    thread::spawn(move || {
                        tasks
                            .into_iter()
                            .filter_map(|t| ring.push(t).err())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let taker = {
                let ring = ring.clone();
                thread::spawn(move || ring.pop())
            };
            let mut refused: Vec<usize> = pushers
                .into_iter()
                .flat_map(|p| p.join().unwrap())
                .collect();
            let mut taken: Vec<usize> = taker.join().unwrap().into_iter().collect();
            while let Some(t) = ring.pop() {
                taken.push(t);
            }
            taken.append(&mut refused);
            taken.sort_unstable();
            assert_eq!(taken, vec![1, 2, 3], "every task taken or given back, once");
        });
    }

    /// A push that follows a taker's pop into the slot the pop freed: the push's acquire load of
    /// the slot's sequence orders the taker's read of the old task before the new write.
    #[test]
    fn loom_ring_a_push_reuses_a_slot_a_taker_freed() {
        loom::model(|| {
            let ring = Arc::new(Ring::new());
            ring.push(1usize).unwrap();
            ring.push(2).unwrap();
            let taker = {
                let ring = ring.clone();
                thread::spawn(move || ring.pop())
            };
            thread::yield_now();
            let third = ring.push(3);
            let first = taker.join().unwrap();
            assert_eq!(first, Some(1));
            let mut rest = Vec::new();
            while let Some(t) = ring.pop() {
                rest.push(t);
            }
            match third {
                Ok(()) => assert_eq!(rest, vec![2, 3]),
                Err(3) => assert_eq!(rest, vec![2]),
                Err(other) => panic!("gave back {other}"),
            }
        });
    }

    /// Rule 4's model, with `idle.rs`'s fences, for a queue that `push` fills, `take` empties
    /// and `empty` reads: a worker that registers as idle and then reads the queue empty either
    /// was told of the push (the pusher read it idle) or the task was taken.
    fn a_parking_worker_sees_the_push_or_is_woken<Q: Send + Sync + 'static>(
        new: fn() -> Q,
        push: fn(&Q),
        take: fn(&Q) -> bool,
        empty: fn(&Q) -> bool,
    ) {
        use loom::sync::atomic::{fence, AtomicUsize, Ordering};
        loom::model(move || {
            let queue = Arc::new(new());
            let idle = Arc::new(AtomicUsize::new(0));
            let pusher = {
                let (queue, idle) = (queue.clone(), idle.clone());
                thread::spawn(move || {
                    push(&queue);
                    fence(Ordering::SeqCst);
                    idle.load(Ordering::SeqCst) > 0
                })
            };
            let taker = {
                let queue = queue.clone();
                thread::spawn(move || take(&queue))
            };
            idle.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let parks = empty(&queue);
            let woken = pusher.join().unwrap();
            let taken = taker.join().unwrap();
            if parks && !woken {
                assert!(
                    taken,
                    "the task sat in the queue with its worker parked, unwoken"
                );
            }
        });
    }

    /// Rule 4 for the ring (`SeqCst` claim of `tail`, `SeqCst` loads in `len`).
    #[test]
    fn loom_ring_a_parking_worker_sees_the_push_or_is_woken() {
        a_parking_worker_sees_the_push_or_is_woken(
            Ring::<usize>::new,
            |ring| ring.push(1).unwrap(),
            |ring| ring.pop().is_some(),
            |ring| ring.len() == 0,
        );
    }

    /// Rule 4 for the overflow (its length stored and loaded with `SeqCst`).
    #[test]
    fn loom_overflow_a_parking_worker_sees_the_push_or_is_woken() {
        a_parking_worker_sees_the_push_or_is_woken(
            Inject::<usize>::new,
            |inject| inject.push_overflow(1),
            |inject| inject.steal_one().is_some(),
            |inject| inject.is_empty(),
        );
    }

    /// Two takers race a push for one task, in a queue that `push` fills and `take` empties:
    /// one of them takes it, or it is left for later, never both; then the queue is `empty`.
    fn two_takers_race_for_one_task<Q: Send + Sync + 'static>(
        new: fn() -> Q,
        push: fn(&Q),
        take: fn(&Q) -> Option<usize>,
        empty: fn(&Q) -> bool,
    ) {
        loom::model(move || {
            let queue = Arc::new(new());
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let queue = queue.clone();
                    thread::spawn(move || take(&queue))
                })
                .collect();
            push(&queue);
            let mut got: Vec<usize> = takers
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect();
            got.extend(take(&queue));
            assert_eq!(got, vec![9]);
            assert!(empty(&queue));
        });
    }

    #[test]
    fn loom_overflow_two_takers_race_for_one_task() {
        two_takers_race_for_one_task(
            Inject::<usize>::new,
            |inject| inject.push_overflow(9),
            Inject::steal_one,
            Inject::is_empty,
        );
    }

    #[test]
    fn loom_ring_two_takers_race_for_one_task() {
        two_takers_race_for_one_task(
            Ring::<usize>::new,
            |ring| ring.push(9).unwrap(),
            Ring::pop,
            |ring| ring.len() == 0,
        );
    }
}
