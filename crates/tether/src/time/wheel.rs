//! Hierarchical hashed timing wheel used by tether's time driver.
//!
//! # What it does
//!
//! The wheel maps millisecond *ticks* (`u64`, tick 0 = driver start) to
//! timers. It has 6 levels of 64 slots: a slot of level `L` covers `64^L`
//! ticks, so level 0 has 1 ms resolution and level 5 covers `2^36` ticks
//! (about 795 days). A timer due at tick `when`, when the wheel is at tick
//! `elapsed`, lives at level `L = msb((elapsed ^ when) | 63) / 6` (clamped to
//! the top level when the difference is beyond `2^36`) in slot
//! `(when >> 6L) & 63`. Timers due at or before `elapsed` live in a separate
//! *ready* list and fire at the next [`Wheel::advance`].
//!
//! `advance(now)` drains, level by level and slot by slot (found with a
//! rotate + `trailing_zeros` on each level's occupancy bitmap, never tick by
//! tick), every slot whose start is `<= now`: timers with `when <= now` fire
//! (state becomes `Fired`, waker handed to the caller), the others are
//! re-inserted relative to `now`, which cascades them into lower levels (or,
//! for timers beyond the top level's range, back into the top level).
//!
//! # What it owns
//!
//! Every timer entry and its optional [`Waker`], in a slab (`Vec` of entries
//! plus a free list threaded through the same link field). Entries of one
//! slot form a doubly linked FIFO list by `u32` index. An entry stays in the
//! slab after firing until [`Wheel::remove`] frees it. The wheel owns no
//! clock: the caller converts `Instant`s to ticks.
//!
//! # Invariants
//!
//! 1. Every entry is exactly one of: `Free` (on the free list, no waker),
//!    `Pending` (in exactly one list: the ready list or one wheel slot), or
//!    `Fired` (in no list, kept until removed). `len()` counts `Pending`.
//! 2. The position of a `Pending` entry is a pure function of
//!    `(elapsed, when)`: the ready list if `when <= elapsed`, otherwise level
//!    `level_for(elapsed, when)` and slot `slot_for(when, level)`. The entry
//!    caches its level in `Entry::level` (the slot is recomputed from `when`).
//! 3. Bit `s` of `occupied[L]` is set iff list `slots[L][s]` is non-empty.
//! 4. For every entry in level `L` slot `s`, the slot's deadline (its start,
//!    as computed by `next_in_level` from `elapsed`) satisfies
//!    `elapsed < deadline <= when`, so timers never fire late, and below the
//!    top level `s` is strictly after `elapsed`'s own slot at that level.
//!    Moving `elapsed` to any tick earlier than every remaining deadline
//!    preserves 2 and 4, which is why `advance` may jump directly.
//! 5. Any occupied slot of a lower level has an earlier deadline than any
//!    occupied slot of a higher level, so the earliest expiration is the next
//!    slot of the lowest non-empty level.
//! 6. A slot's generation changes every time the entry is freed; a
//!    [`TimerKey`] is valid iff its index is in bounds, the generations match
//!    and the entry is not `Free`. Stale keys never affect a reused slot
//!    (barring a 2^32 wrap of one slot's generation).
//! 7. Lists are FIFO, so timers with equal deadlines fire in the order they
//!    were inserted (or last reset).
//!
//! # Complexity
//!
//! `insert`, `remove`, `reset`, `set_waker`, `state` and `deadline` are O(1)
//! (amortized O(1) for `insert`, which may grow the slab).
//! `next_expiration` is O(levels) = O(6). `advance` costs O(occupied slots
//! drained + entries in them); an entry is touched at most once per
//! `advance` call, and cascades at most 6 times over its life (plus once
//! per `2^36` ticks crossed, for timers beyond the top level's range).
//! `take_all_wakers` is O(slab capacity). Each entry is 40 bytes on 64-bit
//! targets, plus ~3 KiB of fixed list heads and bitmaps.

#![forbid(unsafe_code)]

use std::task::Waker;

/// Number of levels in the wheel.
const LEVELS: usize = 6;
/// log2 of the number of slots per level.
const SLOT_BITS: usize = 6;
/// Number of slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Mask extracting a slot index from a shifted tick.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Ticks spanned by the whole wheel (`2^36`); farther timers are clamped
/// into the top level and re-inserted as time passes.
const MAX_RANGE: u64 = 1 << (SLOT_BITS * LEVELS);
/// Null link / empty free list.
const NIL: u32 = u32::MAX;
/// `Entry::level` value of an entry in the ready list.
const READY: u8 = LEVELS as u8;
/// `Entry::level` value of an entry in no list.
const DETACHED: u8 = LEVELS as u8 + 1;

/// Identifies one timer in a [`Wheel`].
///
/// Stale keys (after `remove`) are detected via a generation counter and
/// never touch a newer entry that reused the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    /// Index of the entry in the slab.
    index: u32,
    /// Generation of the slot when the key was handed out.
    generation: u32,
}

/// Observable state of a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerState {
    /// Armed and not yet fired.
    Pending,
    /// Fired by `advance`; the entry stays until removed or reset.
    Fired,
    /// The key is stale: its entry has been removed.
    Gone,
}

/// Internal state of a slab entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryState {
    /// Unused; on the free list.
    Free,
    /// Armed; linked in the ready list or a wheel slot.
    Pending,
    /// Fired; linked nowhere.
    Fired,
}

/// One slab entry (40 bytes on 64-bit targets).
struct Entry {
    /// Deadline tick.
    when: u64,
    /// Waker to hand out when the timer fires.
    waker: Option<Waker>,
    /// Previous entry in the same list, or `NIL`.
    prev: u32,
    /// Next entry in the same list (or on the free list), or `NIL`.
    next: u32,
    /// Bumped each time the entry is freed; validates [`TimerKey`]s.
    generation: u32,
    /// Wheel level (`0..LEVELS`), `READY` or `DETACHED`.
    level: u8,
    /// Free / Pending / Fired.
    state: EntryState,
}

/// Head and tail of an intrusive doubly linked list of entries.
#[derive(Clone, Copy, Debug)]
struct List {
    /// First entry, or `NIL`.
    head: u32,
    /// Last entry, or `NIL`.
    tail: u32,
}

impl List {
    /// The empty list.
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// Appends `idx` to `list`.
fn push_back(entries: &mut [Entry], list: &mut List, idx: u32) {
    let entry = &mut entries[idx as usize];
    entry.prev = list.tail;
    entry.next = NIL;
    if list.tail == NIL {
        list.head = idx;
    } else {
        entries[list.tail as usize].next = idx;
    }
    list.tail = idx;
}

/// Unlinks `idx` from `list` (which must contain it).
fn unlink(entries: &mut [Entry], list: &mut List, idx: u32) {
    let (prev, next) = {
        let entry = &mut entries[idx as usize];
        let links = (entry.prev, entry.next);
        entry.prev = NIL;
        entry.next = NIL;
        links
    };
    if prev == NIL {
        list.head = next;
    } else {
        entries[prev as usize].next = next;
    }
    if next == NIL {
        list.tail = prev;
    } else {
        entries[next as usize].prev = prev;
    }
}

/// Level at which a timer due at `when` (> `elapsed`) is stored.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | SLOT_MASK).min(MAX_RANGE - 1);
    let significant = 63 - masked.leading_zeros() as usize;
    significant / SLOT_BITS
}

/// Slot of `level` holding tick `when`.
fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (SLOT_BITS * level)) & SLOT_MASK) as usize
}

/// A hierarchical hashed timing wheel with 1 ms ticks (see module docs).
pub(crate) struct Wheel {
    /// Slab of entries; freed entries are reused through `free_head`.
    entries: Vec<Entry>,
    /// Head of the free list (linked through `Entry::next`), or `NIL`.
    free_head: u32,
    /// Current tick: everything due at or before it has fired.
    elapsed: u64,
    /// Number of `Pending` entries.
    pending: usize,
    /// Per-level bitmap of non-empty slots.
    occupied: [u64; LEVELS],
    /// Per-level, per-slot lists of pending entries.
    slots: [[List; SLOTS]; LEVELS],
    /// Pending entries with `when <= elapsed`, fired at the next advance.
    ready: List,
}

impl Wheel {
    /// Creates an empty wheel at tick 0.
    pub(crate) fn new() -> Wheel {
        Wheel {
            entries: Vec::new(),
            free_head: NIL,
            elapsed: 0,
            pending: 0,
            occupied: [0; LEVELS],
            slots: [[List::EMPTY; SLOTS]; LEVELS],
            ready: List::EMPTY,
        }
    }

    /// Current tick (the last `now` passed to `advance`, or 0).
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries still `Pending`.
    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    /// Arms a new timer due at tick `when` (due immediately, i.e. at the
    /// next `advance`, if `when <= elapsed`).
    ///
    /// # Panics
    ///
    /// If the slab would exceed `u32::MAX - 1` entries.
    pub(crate) fn insert(&mut self, when: u64, waker: Option<Waker>) -> TimerKey {
        let index = match self.free_head {
            NIL => {
                let index = u32::try_from(self.entries.len()).ok().filter(|&i| i != NIL);
                let index = index.expect("timer wheel: too many timers");
                self.entries.push(Entry {
                    when,
                    waker: None,
                    prev: NIL,
                    next: NIL,
                    generation: 0,
                    level: DETACHED,
                    state: EntryState::Free,
                });
                index
            }
            index => {
                self.free_head = self.entries[index as usize].next;
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        (entry.when, entry.waker, entry.state) = (when, waker, EntryState::Pending);
        (entry.prev, entry.next) = (NIL, NIL);
        let generation = entry.generation;
        self.pending += 1;
        self.link(index);
        TimerKey { index, generation }
    }

    /// Frees the entry whatever its state and returns the state it had
    /// (`Gone` if the key is stale, in which case nothing is touched).
    pub(crate) fn remove(&mut self, key: TimerKey) -> TimerState {
        let Some(index) = self.index_of(key) else {
            return TimerState::Gone;
        };
        let state = match self.entries[index as usize].state {
            EntryState::Pending => {
                self.unlink(index);
                self.pending -= 1;
                TimerState::Pending
            }
            EntryState::Fired => TimerState::Fired,
            EntryState::Free => unreachable!("index_of rejects free entries"),
        };
        let entry = &mut self.entries[index as usize];
        (entry.state, entry.waker, entry.level) = (EntryState::Free, None, DETACHED);
        entry.generation = entry.generation.wrapping_add(1);
        (entry.prev, entry.next, self.free_head) = (NIL, self.free_head, index);
        state
    }

    /// Re-arms the timer (`Pending` or `Fired` becomes `Pending` at `when`),
    /// keeping whatever waker is stored (firing takes it). Returns `false`
    /// if the key is stale.
    pub(crate) fn reset(&mut self, key: TimerKey, when: u64) -> bool {
        let Some(index) = self.index_of(key) else {
            return false;
        };
        match self.entries[index as usize].state {
            EntryState::Pending => self.unlink(index),
            EntryState::Fired => {
                self.entries[index as usize].state = EntryState::Pending;
                self.pending += 1;
            }
            EntryState::Free => unreachable!("index_of rejects free entries"),
        }
        self.entries[index as usize].when = when;
        self.link(index);
        true
    }

    /// Stores a clone of `waker` unless the stored one `will_wake` it.
    /// Does nothing if the key is stale.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(index) = self.index_of(key) {
            let slot = &mut self.entries[index as usize].waker;
            match slot {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    /// State of the timer identified by `key`.
    pub(crate) fn state(&self, key: TimerKey) -> TimerState {
        let state = self
            .index_of(key)
            .map(|index| self.entries[index as usize].state);
        match state {
            Some(EntryState::Pending) => TimerState::Pending,
            Some(EntryState::Fired) => TimerState::Fired,
            Some(EntryState::Free) | None => TimerState::Gone,
        }
    }

    /// Deadline of a `Pending` or `Fired` timer; `None` if the key is stale.
    #[cfg(test)]
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.index_of(key).map(|i| self.entries[i as usize].when)
    }

    /// Earliest tick at which `advance` could fire something, or None if no
    /// Pending timers.
    ///
    /// It may be earlier than the real earliest deadline when that timer
    /// sits in a higher level (its slot start), never later. Never earlier
    /// than `elapsed`; equal to it when some timer is already due.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.ready.head != NIL {
            return Some(self.elapsed);
        }
        // Invariant 5: the lowest non-empty level holds the earliest slot.
        (0..LEVELS).find_map(|level| self.next_in_level(level).map(|(_, deadline)| deadline))
    }

    /// Moves time to `now` (ignored if now < elapsed), fires every Pending
    /// timer with when <= now: marks it Fired (entry stays until `remove`),
    /// takes its waker and pushes it to `wakers`.
    ///
    /// A `now` earlier than `elapsed` is treated as `elapsed`: time does not
    /// move, but timers already due still fire. Jumps slot to slot using the
    /// bitmaps, so its cost does not depend on the distance travelled.
    /// Wakers are pushed in slot order: exact deadline order for timers in
    /// level 0, coarser for timers drained directly from a higher level.
    pub(crate) fn advance(&mut self, now: u64, wakers: &mut Vec<Waker>) {
        let now = now.max(self.elapsed);
        let mut cur = std::mem::replace(&mut self.ready, List::EMPTY).head;
        while cur != NIL {
            let next = self.entries[cur as usize].next;
            self.fire(cur, wakers);
            cur = next;
        }
        // Drain every slot starting at or before `now`. Deadlines are
        // computed from the old `elapsed`, which stays put until the end;
        // entries not yet due are parked on `deferred` (nothing is linked
        // into the wheel meanwhile), then re-inserted relative to `now`.
        let mut deferred = List::EMPTY;
        for level in 0..LEVELS {
            while let Some((slot, deadline)) = self.next_in_level(level) {
                if deadline > now {
                    break;
                }
                let mut cur = std::mem::replace(&mut self.slots[level][slot], List::EMPTY).head;
                self.occupied[level] &= !(1u64 << slot);
                while cur != NIL {
                    let next = self.entries[cur as usize].next;
                    if self.entries[cur as usize].when <= now {
                        self.fire(cur, wakers);
                    } else {
                        self.entries[cur as usize].level = DETACHED;
                        push_back(&mut self.entries, &mut deferred, cur);
                    }
                    cur = next;
                }
            }
        }
        self.elapsed = now;
        let mut cur = deferred.head;
        while cur != NIL {
            let next = self.entries[cur as usize].next;
            self.link(cur);
            cur = next;
        }
    }

    /// Takes every waker of every Pending entry (used at shutdown), leaving
    /// entries in place.
    pub(crate) fn take_all_wakers(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(
            self.entries
                .iter_mut()
                .filter(|entry| entry.state == EntryState::Pending)
                .filter_map(|entry| entry.waker.take()),
        );
    }

    /// Index of the live entry named by `key`, or `None` if the key is stale.
    fn index_of(&self, key: TimerKey) -> Option<u32> {
        let entry = self.entries.get(key.index as usize)?;
        let live = entry.generation == key.generation && entry.state != EntryState::Free;
        live.then_some(key.index)
    }

    /// Links a pending, detached entry where invariant 2 says it belongs.
    fn link(&mut self, index: u32) {
        let when = self.entries[index as usize].when;
        if when <= self.elapsed {
            self.entries[index as usize].level = READY;
            push_back(&mut self.entries, &mut self.ready, index);
        } else {
            let level = level_for(self.elapsed, when);
            let slot = slot_for(when, level);
            self.entries[index as usize].level = level as u8;
            push_back(&mut self.entries, &mut self.slots[level][slot], index);
            self.occupied[level] |= 1u64 << slot;
        }
    }

    /// Unlinks a pending entry from its list, keeping the bitmap exact.
    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let level = entry.level as usize;
        if entry.level == READY {
            unlink(&mut self.entries, &mut self.ready, index);
        } else {
            debug_assert!(level < LEVELS, "unlinking a detached entry");
            let slot = slot_for(entry.when, level);
            let list = &mut self.slots[level][slot];
            unlink(&mut self.entries, list, index);
            if list.head == NIL {
                self.occupied[level] &= !(1u64 << slot);
            }
        }
        self.entries[index as usize].level = DETACHED;
    }

    /// Marks a pending entry (already out of its list) as fired and hands
    /// out its waker.
    fn fire(&mut self, index: u32, wakers: &mut Vec<Waker>) {
        let entry = &mut self.entries[index as usize];
        debug_assert_eq!(entry.state, EntryState::Pending);
        (entry.state, entry.level) = (EntryState::Fired, DETACHED);
        (entry.prev, entry.next) = (NIL, NIL);
        self.pending -= 1;
        if let Some(waker) = entry.waker.take() {
            wakers.push(waker);
        }
    }

    /// Next occupied slot of `level` after `elapsed`, with its deadline
    /// (slot start), or `None` if the level is empty.
    ///
    /// The search starts just after `elapsed`'s own slot, which is examined
    /// last: only the top level can have it occupied, by clamped timers
    /// due no earlier than the next rotation.
    fn next_in_level(&self, level: usize) -> Option<(usize, u64)> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let slot_range = 1u64 << (SLOT_BITS * level);
        let level_range = slot_range << SLOT_BITS;
        let now_slot = slot_for(self.elapsed, level);
        let start = (now_slot + 1) % SLOTS;
        let offset = occupied.rotate_right(start as u32).trailing_zeros() as usize;
        let slot = (start + offset) % SLOTS;
        let level_start = self.elapsed & !(level_range - 1);
        let base = if slot > now_slot {
            level_start
        } else {
            debug_assert_eq!(level, LEVELS - 1, "wrapped slot below the top level");
            level_start.saturating_add(level_range)
        };
        Some((slot, base.saturating_add(slot as u64 * slot_range)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;
    use TimerState::{Fired, Gone, Pending};

    /// Shared log of woken ids.
    type Log = Arc<Mutex<Vec<usize>>>;

    /// Waker that appends its id to a shared log when woken.
    struct IdWaker(usize, Log);

    impl Wake for IdWaker {
        /// Logs the id.
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    /// Builds a waker logging `id` into `log`.
    fn id_waker(id: usize, log: &Log) -> Waker {
        Waker::from(Arc::new(IdWaker(id, log.clone())))
    }

    /// A fresh no-op waker.
    fn noop() -> Option<Waker> {
        Some(Waker::noop().clone())
    }

    /// Wakes `wakers` and returns the ids they logged, in wake order.
    fn wake_ids(wakers: &mut Vec<Waker>, log: &Log) -> Vec<usize> {
        wakers.drain(..).for_each(Waker::wake);
        std::mem::take(&mut *log.lock().unwrap())
    }

    /// Advances `wheel` to `now` and returns how many wakers it handed out.
    fn fire(wheel: &mut Wheel, now: u64) -> usize {
        let mut wakers = Vec::new();
        wheel.advance(now, &mut wakers);
        wakers.len()
    }

    /// States of `keys`.
    fn states<const N: usize>(wheel: &Wheel, keys: [TimerKey; N]) -> [TimerState; N] {
        keys.map(|key| wheel.state(key))
    }

    /// Small xorshift64* RNG (no external dependency).
    struct Rng(u64);

    impl Rng {
        /// Value in `0..n` (`n > 0`).
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }

        /// A deadline at a random scale relative to `elapsed`, sometimes
        /// already due, sometimes beyond the top level's range.
        fn when(&mut self, elapsed: u64) -> u64 {
            match self.below(9) {
                0 => elapsed.saturating_sub(self.below(1000)),
                1 => elapsed.saturating_add(MAX_RANGE + self.below(1 << 40)),
                n => {
                    let bits = [6, 12, 18, 24, 37, 8, 9][n as usize - 2];
                    elapsed.saturating_add(self.below(1 << bits))
                }
            }
        }
    }

    /// A timer fires exactly at its deadline, for distances around every
    /// level boundary and far beyond the top level, from several start ticks,
    /// jumping straight there or stepping via `next_expiration`.
    #[test]
    fn fires_exactly_at_many_scales() {
        let log = Log::default();
        let bounds = (0..7).flat_map(|l| [1u64 << (6 * l)].map(|b| [b - 1, b, b + 1]));
        let huge = [
            1 << 30 | 7,
            1 << 40 | 3,
            1 << 50,
            u64::MAX / 2,
            u64::MAX - 99,
        ];
        for start in [0u64, 1, 63, 4_000, 262_100, 987_654_321] {
            for distance in bounds.clone().flatten().chain(huge).filter(|&d| d > 0) {
                let when = start.saturating_add(distance);
                let mut wheel = Wheel::new();
                fire(&mut wheel, start);
                let key = wheel.insert(when, Some(id_waker(7, &log)));
                assert!(wheel.next_expiration().unwrap() <= when);
                assert_eq!(fire(&mut wheel, when - 1), 0, "fired early: {when}");
                assert_eq!(wheel.state(key), Pending);
                assert!((when - 1..=when).contains(&wheel.next_expiration().unwrap()));
                let mut wakers = Vec::new();
                wheel.advance(when, &mut wakers);
                assert_eq!(wake_ids(&mut wakers, &log), [7], "{when}");
                assert_eq!((wheel.state(key), wheel.len()), (Fired, 0));
                assert_eq!(wheel.next_expiration(), None);
                if distance > 1 << 42 {
                    continue; // stepping takes one step per 2^36 ticks
                }
                let mut wheel = Wheel::new();
                fire(&mut wheel, start);
                let key = wheel.insert(when, noop());
                let mut fired = 0;
                for _ in 0..2 * LEVELS + 64 {
                    let Some(next) = wheel.next_expiration() else {
                        break;
                    };
                    assert!(next <= when, "{next} > {when}");
                    fired += fire(&mut wheel, next);
                }
                assert_eq!((wheel.state(key), wheel.elapsed(), fired), (Fired, when, 1));
            }
        }
    }

    /// Stepping via `next_expiration`, timers fire exactly at their deadline,
    /// in deadline order, equal deadlines in insertion order.
    #[test]
    #[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
    fn fire_order() {
        let (log, mut rng, mut wheel) = (Log::default(), Rng(0x9E37_79B9), Wheel::new());
        let whens: Vec<u64> = (0..3000)
            .map(|id| {
                let when = rng.below([100, 5000, 1 << 26, 1 << 38][id % 4]);
                wheel.insert(when, Some(id_waker(id, &log)));
                when
            })
            .collect();
        let (mut wakers, mut fired) = (Vec::new(), Vec::new());
        while let Some(next) = wheel.next_expiration() {
            wheel.advance(next, &mut wakers);
            for id in wake_ids(&mut wakers, &log) {
                assert_eq!(whens[id], next, "timer {id} fired at {next}");
                fired.push((whens[id], id));
            }
        }
        assert_eq!(fired.len(), whens.len());
        assert!(fired.windows(2).all(|pair| pair[0] < pair[1]));
    }

    /// Removing before firing cancels, after firing frees; a stale key never
    /// affects the entry that reused its slot.
    #[test]
    fn remove_and_stale_keys() {
        let (mut wheel, log) = (Wheel::new(), Log::default());
        let [a, b, c] = [100, 5000, 100].map(|when| wheel.insert(when, noop()));
        assert_eq!(wheel.remove(a), Pending);
        assert_eq!((wheel.remove(a), wheel.len()), (Gone, 2));
        assert_eq!(fire(&mut wheel, 100), 1);
        assert_eq!((wheel.state(c), wheel.deadline(c)), (Fired, Some(100)));
        assert_eq!(wheel.remove(c), Fired);
        assert_eq!((wheel.state(c), wheel.deadline(c)), (Gone, None));
        assert_eq!((wheel.remove(b), wheel.len()), (Pending, 0));
        assert_eq!(wheel.next_expiration(), None);
        assert_eq!(fire(&mut wheel, 1_000_000), 0);
        let new = wheel.insert(1_000_020, None);
        assert_eq!((new.index, new.generation), (b.index, b.generation + 1));
        assert!(!wheel.reset(b, 5));
        wheel.set_waker(b, &id_waker(1, &log));
        assert_eq!((wheel.remove(b), wheel.deadline(b)), (Gone, None));
        assert_eq!(states(&wheel, [b, new]), [Gone, Pending]);
        assert_eq!(wheel.deadline(new), Some(1_000_020));
        assert_eq!(fire(&mut wheel, 1_000_020), 0, "stale set_waker leaked");
        assert_eq!(wheel.state(new), Fired);
        let bogus = TimerKey {
            index: 99,
            generation: 0,
        };
        assert_eq!((wheel.state(bogus), wheel.remove(bogus)), (Gone, Gone));
    }

    /// Reset moves a timer earlier, later, re-arms a fired one, or makes it
    /// due immediately; due timers fire at the next advance, even a
    /// backwards one, and `next_expiration` then reports `elapsed`.
    #[test]
    fn reset_and_due_immediately() {
        let mut wheel = Wheel::new();
        let key = wheel.insert(0, noop());
        assert_eq!(wheel.next_expiration(), Some(0));
        assert!(wheel.reset(key, 10_000) && wheel.reset(key, 50));
        assert_eq!(fire(&mut wheel, 49), 0);
        assert!(wheel.reset(key, 300_000));
        assert_eq!(fire(&mut wheel, 299_999), 0);
        assert_eq!(wheel.deadline(key), Some(300_000));
        assert_eq!(fire(&mut wheel, 300_000), 1);
        assert_eq!((wheel.state(key), wheel.len()), (Fired, 0));
        assert!(wheel.reset(key, 300_064)); // the waker was taken: set a new one
        wheel.set_waker(key, Waker::noop());
        assert_eq!((fire(&mut wheel, 300_063), wheel.len()), (0, 1));
        assert_eq!(fire(&mut wheel, 300_064), 1);
        assert!(wheel.reset(key, 7));
        let [now, later] = [300_064, 300_065].map(|when| wheel.insert(when, noop()));
        assert_eq!(wheel.next_expiration(), Some(300_064));
        assert_eq!(fire(&mut wheel, 0), 1); // `key` has no waker left
        assert_eq!((wheel.elapsed(), wheel.len()), (300_064, 1));
        assert_eq!(states(&wheel, [key, now, later]), [Fired, Fired, Pending]);
        assert_eq!(wheel.next_expiration(), Some(300_065));
    }

    /// `set_waker` keeps a waker that `will_wake` the new one and replaces
    /// others; the stored waker is the one handed out; shutdown takes the
    /// wakers of pending entries only, leaving the entries.
    #[test]
    fn set_waker_and_take_all_wakers() {
        let (log, mut wheel, mut wakers) = (Log::default(), Wheel::new(), Vec::new());
        let first = Arc::new(IdWaker(1, log.clone()));
        let key = wheel.insert(5, Some(Waker::from(first.clone())));
        wheel.set_waker(key, &Waker::from(first.clone()));
        assert_eq!(Arc::strong_count(&first), 2, "a will_wake clone was stored");
        wheel.set_waker(key, &id_waker(2, &log));
        assert_eq!(Arc::strong_count(&first), 1);
        wheel.advance(5, &mut wakers);
        assert_eq!(wake_ids(&mut wakers, &log), [2]);
        wheel.set_waker(key, Waker::noop()); // fired: not taken at shutdown
        let keys = [10, 1000, 100_000].map(|when| wheel.insert(when, noop()));
        wheel.insert(50, None);
        wheel.take_all_wakers(&mut wakers);
        assert_eq!((wakers.len(), wheel.len()), (3, 4));
        assert_eq!(states(&wheel, keys), [Pending; 3]);
        assert_eq!(fire(&mut wheel, u64::MAX), 0);
    }

    /// Model of one timer in the randomized test: key, deadline, fired,
    /// id of the stored waker.
    #[derive(Debug)]
    struct Model(TimerKey, u64, bool, Option<usize>);

    /// Checks the wheel against the model, including that `next_expiration`
    /// is never later than the earliest pending deadline.
    fn check(wheel: &Wheel, live: &[Model]) {
        let pending = live.iter().filter(|t| !t.2);
        assert_eq!(wheel.len(), pending.clone().count());
        for t in live {
            let state = [Pending, Fired][usize::from(t.2)];
            assert_eq!(wheel.state(t.0), state, "{t:?}");
            assert_eq!(wheel.deadline(t.0), Some(t.1));
        }
        let (next, elapsed) = (wheel.next_expiration(), wheel.elapsed());
        match pending.map(|t| t.1.max(elapsed)).min() {
            None => assert_eq!(next, None),
            Some(min) => assert!((elapsed..=min).contains(&next.unwrap()), "{next:?} {min}"),
        }
    }

    /// Randomized operations checked against a simple reference model.
    #[test]
    #[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
    fn randomized_model() {
        for seed in 1..=4u64 {
            let log = Log::default();
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (mut wheel, mut wakers, mut next_id) = (Wheel::new(), Vec::new(), 0);
            let (mut live, mut dead) = (Vec::<Model>::new(), Vec::new());
            for step in 0..6000 {
                let pick = |rng: &mut Rng, len: usize| rng.below(len as u64) as usize;
                next_id += 1;
                match rng.below(100) {
                    0..=34 => {
                        let when = rng.when(wheel.elapsed());
                        let waker = (rng.below(4) != 0).then_some(next_id);
                        let key = wheel.insert(when, waker.map(|id| id_waker(id, &log)));
                        assert!(live.iter().all(|t| t.0 != key));
                        live.push(Model(key, when, false, waker));
                    }
                    35..=47 if !live.is_empty() => {
                        let t = live.swap_remove(pick(&mut rng, live.len()));
                        assert_eq!(wheel.remove(t.0), [Pending, Fired][usize::from(t.2)]);
                        dead.push(t.0);
                    }
                    48..=51 if !dead.is_empty() => {
                        let key = dead[pick(&mut rng, dead.len())];
                        assert_eq!((wheel.state(key), wheel.deadline(key)), (Gone, None));
                        assert!(!wheel.reset(key, wheel.elapsed() + 1));
                        wheel.set_waker(key, Waker::noop());
                        assert_eq!(wheel.remove(key), Gone);
                    }
                    52..=63 if !live.is_empty() => {
                        let (t, when) = (pick(&mut rng, live.len()), rng.when(wheel.elapsed()));
                        assert!(wheel.reset(live[t].0, when));
                        (live[t].1, live[t].2) = (when, false);
                    }
                    64..=69 if !live.is_empty() => {
                        let t = pick(&mut rng, live.len());
                        wheel.set_waker(live[t].0, &id_waker(next_id, &log));
                        live[t].3 = Some(next_id);
                    }
                    _ => {
                        let elapsed = wheel.elapsed();
                        let now = match rng.below(10) {
                            0 => elapsed.saturating_sub(rng.below(100)),
                            1..=3 => wheel.next_expiration().unwrap_or(elapsed),
                            n => elapsed + rng.below(1 << [8, 8, 8, 20, 20, 38][n as usize - 4]),
                        };
                        wheel.advance(now, &mut wakers);
                        let now = now.max(elapsed);
                        assert_eq!(wheel.elapsed(), now);
                        let mut expected = Vec::new();
                        for t in live.iter_mut().filter(|t| !t.2 && t.1 <= now) {
                            t.2 = true;
                            expected.extend(t.3.take());
                        }
                        let mut ids = wake_ids(&mut wakers, &log);
                        ids.sort_unstable();
                        expected.sort_unstable();
                        assert_eq!(ids, expected);
                        check(&wheel, &live);
                    }
                }
                if step % 16 == 0 {
                    check(&wheel, &live);
                }
            }
            wheel.advance(u64::MAX, &mut wakers);
            assert_eq!(wheel.len(), 0);
            assert!(live.iter().all(|t| wheel.state(t.0) == Fired));
        }
    }

    /// Far jumps cost slots, not ticks: sparse timers 10^9 ticks away take
    /// a handful of steps, and one call can jump to the end of time.
    #[test]
    #[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
    fn advance_huge_distance_quickly() {
        let mut wheel = Wheel::new();
        let keys = [500_000_000, 1_000_000_000].map(|when| wheel.insert(when, None));
        let mut steps = 0;
        while let Some(next) = wheel.next_expiration() {
            fire(&mut wheel, next);
            steps += 1;
        }
        assert!(steps <= 2 * LEVELS, "{steps} steps");
        assert_eq!(wheel.elapsed(), 1_000_000_000);
        assert_eq!(states(&wheel, keys), [Fired; 2]);

        let (mut wheel, mut rng) = (Wheel::new(), Rng(77));
        for _ in 0..100_000 {
            wheel.insert(1 + rng.below(1_000_000_000), None);
        }
        let far = [MAX_RANGE + 5, 1 << 45, 1 << 60, u64::MAX - 1, u64::MAX];
        let far = far.map(|when| wheel.insert(when, None));
        let stops = [
            (1_000_000_000, 5),
            (1 << 50, 3),
            (u64::MAX - 2, 2),
            (u64::MAX - 1, 1),
        ];
        for (now, left) in stops {
            fire(&mut wheel, now);
            assert_eq!(wheel.len(), left, "at {now}");
        }
        assert_eq!(states(&wheel, [far[3], far[4]]), [Fired, Pending]);
        fire(&mut wheel, u64::MAX);
        let late = wheel.insert(5, None);
        assert_eq!((wheel.len(), wheel.next_expiration()), (1, Some(u64::MAX)));
        fire(&mut wheel, u64::MAX);
        assert_eq!(wheel.state(late), Fired);
    }

    /// A million small entries: insert, cancel half, fire the rest, reuse
    /// slots. Prints the entry size.
    #[test]
    #[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
    fn million_timers() {
        let size = std::mem::size_of::<Entry>();
        println!("size_of::<Entry>() = {size} bytes");
        assert!(size <= 48, "entry is {size} bytes");
        let (mut wheel, mut wakers) = (Wheel::new(), Vec::new());
        let when = |i: u64| 1 + (i * 7919) % 3_600_000;
        let keys: Vec<_> = (0..1_000_000)
            .map(|i| wheel.insert(when(i), None))
            .collect();
        assert_eq!(wheel.len(), 1_000_000);
        for key in keys.iter().step_by(2) {
            assert_eq!(wheel.remove(*key), Pending);
        }
        wheel.advance(1_800_000, &mut wakers);
        assert!((200_000..300_000).contains(&wheel.len()), "{}", wheel.len());
        wheel.advance(3_600_000, &mut wakers);
        assert_eq!(wheel.len(), 0);
        let capacity = wheel.entries.len();
        for key in keys {
            wheel.remove(key);
        }
        for i in 0..1_000_000 {
            wheel.insert(4_000_000 + i, None);
        }
        assert_eq!(wheel.entries.len(), capacity, "freed slots are reused");
    }
}
