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
//! `insert`, `remove`, `reset`, `set_waker`, `take_waker`, `state` and `deadline` are O(1)
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
    /// Index of the entry in the slab; below `MAX_INDEX`.
    index: u32,
    /// Generation of the slot when the key was handed out.
    generation: u32,
}

/// One past the largest slab index: the indexes from here up (`u32::MAX - 1` and `NIL`) are
/// never an entry's, so a packed key can never equal the sentinels of the time driver's
/// `TimerSlot`, whose low halves are those values.
const MAX_INDEX: u32 = u32::MAX - 1;

impl TimerKey {
    /// The key in one word: the generation above the index. The index is below `MAX_INDEX`.
    pub(crate) fn pack(self) -> u64 {
        u64::from(self.generation) << 32 | u64::from(self.index)
    }

    /// The key [`pack`](Self::pack) gave `word`.
    pub(crate) fn unpack(word: u64) -> TimerKey {
        TimerKey {
            index: word as u32,
            generation: (word >> 32) as u32,
        }
    }

    /// Whether `word` may be a packed key: its low half is an index below `MAX_INDEX`.
    pub(crate) fn is_packed_key(word: u64) -> bool {
        (word as u32) < MAX_INDEX
    }
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
                let index = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&i| i < MAX_INDEX);
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

    /// Takes the waker stored in the timer's entry, if any; `None` for a stale key.
    pub(crate) fn take_waker(&mut self, key: TimerKey) -> Option<Waker> {
        let index = self.index_of(key)?;
        self.entries[index as usize].waker.take()
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
mod tests;
