//! Hierarchical hashed timing wheel used by tether's time driver.
//!
//! # What it does
//!
//! The wheel maps millisecond *ticks* (`u64`, tick 0 = driver start) to
//! timers. It has 6 levels of 64 slots: a slot of level `L` covers `64^L`
//! ticks, so level 0 has 1 ms resolution and level 5 covers `2^36` ticks
//! (about 795 days). A timer due at tick `when`, when the wheel is at tick
//! `elapsed`, is filed at level `L = msb((elapsed ^ when) | 63) / 6` (clamped
//! to the top level when the difference is beyond `2^36`) in slot
//! `(when >> 6L) & 63`. Timers due at or before `elapsed` are filed in a
//! separate *ready* slot and fire at the next [`Wheel::advance`].
//!
//! `advance(now)` drains, level by level and slot by slot (found with a
//! rotate + `trailing_zeros` on each level's occupancy bitmap, never tick by
//! tick), every slot whose start is `<= now`: timers with `when <= now` fire
//! (waker handed to the caller, entry freed at once), the others are
//! filed again relative to `now`, which cascades them into lower levels (or,
//! for timers beyond the top level's range, back into the top level).
//!
//! # What it owns
//!
//! Every timer entry and its optional [`Waker`], in a slab (`Vec` of entries
//! plus a free list threaded through the free entries' `when`). A slot is a
//! vector of *items*, each naming one filing of an entry: its index and the
//! generation it had when filed. Draining a slot reads its items in order and
//! touches each entry independently of the others, so the processor fetches
//! many entries at once: a list linked through the entries would make every
//! entry's fetch wait for the one before (a wheel of a million timers does
//! not fit in the cache, and the wheel's lock is held while it drains). An
//! entry is freed by the advance that fires it, while the drain has it in the
//! cache: whoever filed the timer learns that it fired from the wheel's tick
//! ([`Wheel::elapsed`]: every timer due at or before it has fired), without
//! touching the entry again. The wheel owns no clock: the caller converts
//! `Instant`s to ticks, and a deadline beyond `MAX_WHEN` (about 34 years of
//! ticks) is due at `MAX_WHEN`.
//!
//! # Invariants
//!
//! 1. Every entry is exactly one of: `Free` (on the free list, no waker) or
//!    `Pending` (filed: in the ready slot or one wheel slot). Firing frees it.
//!    `len()` counts `Pending`. An entry is two words: its waker, and its
//!    generation above either its deadline (`Pending`, at most `MAX_WHEN`) or
//!    `FREE` and the next free entry's index.
//! 2. An entry's generation changes each time it is filed anew (`insert`
//!    after a free, `reset`) or freed, never when a drain moves it (a
//!    cascade). An item is *live* iff its generation is its entry's and the
//!    entry is `Pending`: each `Pending` entry has exactly one live item, in
//!    the slot it is filed in. Other items are stale, skipped by drains.
//! 3. The position of a `Pending` entry is a pure function of
//!    `(elapsed, when)`: the ready slot if `when <= elapsed`, otherwise level
//!    `level_for(elapsed, when)` and slot `slot_for(when, level)` (`position`,
//!    which finds an entry's slot again when it is taken out of it).
//! 4. A slot's `live` counts its live items. Bit `s` of `occupied[L]` is set
//!    iff `slots[L][s].live > 0` (a level's 64 slots exist once a timer was
//!    filed in it, the levels below it too: `occupied[L]` of a level that
//!    does not is 0, and only `file` adds them); a slot whose count drops to 0 drops its
//!    items. A slot holding more than twice its live items plus 64 after a
//!    filing or a cancellation drops its stale ones, so its items stay within
//!    twice its pending timers plus 64 (a timer reset over and over, or a
//!    slot's timers cancelled, do not keep them). A drain reads a slot's
//!    items once whatever their number.
//! 5. For every entry in level `L` slot `s`, the slot's deadline (its start,
//!    as computed by `next_in_level` from `elapsed`) satisfies
//!    `elapsed < deadline <= when`, so timers never fire late, and below the
//!    top level `s` is strictly after `elapsed`'s own slot at that level.
//!    Moving `elapsed` to any tick earlier than every remaining deadline
//!    preserves 3 and 5, which is why `advance` may jump directly.
//! 6. Any occupied slot of a lower level has an earlier deadline than any
//!    occupied slot of a higher level, so the earliest expiration is the next
//!    slot of the lowest non-empty level.
//! 7. A [`TimerKey`] is valid iff its index is in bounds, its generation is
//!    the entry's and the entry is not `Free`. Stale keys never affect an
//!    entry that was filed anew (barring a 2^24 wrap of one entry's
//!    generation, which has 24 bits so that a packed key leaves a byte
//!    free); `reset` hands out the entry's new key.
//! 8. Items are in filing order, so timers with equal deadlines fire in the
//!    order they were inserted (or last reset).
//!
//! # Complexity
//!
//! `insert`, `remove`, `reset`, `set_waker`, `take_waker`, `state` and `deadline` are O(1)
//! (amortized O(1) for `insert` and `reset`, which may grow the slab or a slot, or drop a
//! slot's stale items).
//! `next_expiration` is O(levels) = O(6). `advance` costs O(occupied slots
//! drained + items in them); an entry is touched at most once per
//! `advance` call, and cascades at most 6 times over its life (plus once
//! per `2^36` ticks crossed, for timers beyond the top level's range).
//! `take_all_wakers` is O(slab capacity). Each entry is 16 bytes on 64-bit
//! targets (its waker in one word, `SlimWaker`, and one word more) and each item 8, plus
//! 2 KiB of slot heads for each level in use (levels are added as timers first need them,
//! invariant 4: 12 KiB with all six) and the bitmaps.

#![forbid(unsafe_code)]

use std::task::Waker;

use crate::task::waker_id::SlimWaker;

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
/// The end of the free list.
const NIL: u32 = u32::MAX;
/// The latest deadline tick an entry holds (2^40 - 2^32 - 1, about 34.7 years of milliseconds):
/// the entry's word keeps a deadline in its low 40 bits, below `FREE`.
pub(crate) const MAX_WHEN: u64 = FREE - 1;
/// The low 40 bits of a free entry's word, above the next free entry's index: no deadline is
/// this large.
const FREE: u64 = 0xFF << 32;
/// An entry word's low 40 bits: the deadline, or `FREE` and the free list's link.
const LOW_MASK: u64 = (1 << GENERATION_SHIFT) - 1;
/// Where an entry word's generation starts.
const GENERATION_SHIFT: u32 = 40;

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

/// Generations have 24 bits (invariant 7): a packed key leaves its top byte to the time driver.
const GENERATION_MASK: u32 = (1 << 24) - 1;

/// The generation after `generation` (invariant 7).
fn next_generation(generation: u32) -> u32 {
    generation.wrapping_add(1) & GENERATION_MASK
}

/// One past the largest slab index: the indexes from here up (`u32::MAX - 1` and `NIL`) are
/// never an entry's, so a packed key can never equal the sentinels of the time driver's
/// `TimerSlot`, whose low halves are those values.
const MAX_INDEX: u32 = u32::MAX - 1;

impl TimerKey {
    /// The key in one word: the generation above the index (the top byte is 0). The index is
    /// below `MAX_INDEX`.
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
    /// The key is stale: its timer fired, or was removed or reset.
    Gone,
}

/// One slab entry (16 bytes on 64-bit targets; invariant 1).
struct Entry {
    /// Waker to hand out when the timer fires, in one word (a task's, almost always).
    waker: Option<SlimWaker>,
    /// The generation (the top 24 bits), which names the entry's current filing (invariant 2)
    /// and validates [`TimerKey`]s (7); below it the deadline tick (`Pending`), or `FREE` with
    /// the next free entry's index, `NIL` for none, in the low 32 bits (`Free`).
    word: u64,
}

impl Entry {
    /// The entry's generation (invariant 2).
    fn generation(&self) -> u32 {
        (self.word >> GENERATION_SHIFT) as u32
    }

    /// Whether the entry is on the free list.
    fn is_free(&self) -> bool {
        self.word & LOW_MASK >= FREE
    }

    /// The deadline tick of a pending entry.
    fn when(&self) -> u64 {
        debug_assert!(!self.is_free(), "the deadline of a free entry");
        self.word & LOW_MASK
    }

    /// The next free entry's index, of a free entry.
    fn next_free(&self) -> u32 {
        debug_assert!(self.is_free(), "the free list's link of a pending entry");
        self.word as u32
    }

    /// Makes the entry pending at `when` (at most `MAX_WHEN`) under `generation`.
    fn set_pending(&mut self, generation: u32, when: u64) {
        debug_assert!(when <= MAX_WHEN);
        self.word = u64::from(generation) << GENERATION_SHIFT | when;
    }

    /// Makes the entry free under `generation`, linked to `next`.
    fn set_free(&mut self, generation: u32, next: u32) {
        self.word = u64::from(generation) << GENERATION_SHIFT | FREE | u64::from(next);
    }
}

/// An entry's filing in a slot: its index in the low half, the generation it was filed with in
/// the high half (invariant 2).
type Item = u64;

/// The item naming `index` filed with `generation`.
fn item(index: u32, generation: u32) -> Item {
    u64::from(generation) << 32 | u64::from(index)
}

/// A slot (or the ready slot): the items filed in it, in filing order, and how many of them
/// are live (invariants 2, 4).
struct Slot {
    /// Live items and stale ones.
    items: Vec<Item>,
    /// The live items.
    live: u32,
}

impl Slot {
    /// An empty slot, as a constant (a level's slots are made by repeating it).
    const EMPTY: Slot = Slot {
        items: Vec::new(),
        live: 0,
    };

    /// Takes the slot's items to drain them, leaving it empty.
    fn take(&mut self) -> Vec<Item> {
        self.live = 0;
        std::mem::take(&mut self.items)
    }

    /// Invariant 4: drops the stale items once they outnumber the live ones plus a slack (after
    /// a filing or a cancellation), keeping the order of the live ones. Each pass drops at
    /// least the slack, so the passes cost O(1) per filing, amortized.
    /// `unfiled` is the entry `unfile` is taking out of this slot, whose item is stale from
    /// now on although the entry is still pending under the same generation.
    fn drop_stale_items(&mut self, entries: &[Entry], unfiled: Option<u32>) {
        if self.items.len() > 2 * self.live as usize + STALE_SLACK {
            // Live, as `Wheel::live_index` says, and filed.
            self.items.retain(|&item| {
                let (index, generation) = (item as u32, (item >> 32) as u32);
                let entry = &entries[index as usize];
                entry.generation() == generation && !entry.is_free() && Some(index) != unfiled
            });
            debug_assert_eq!(self.items.len(), self.live as usize);
        }
    }

    /// Gives back a drained buffer for reuse, unless a burst made it large: a slot that once
    /// held a million timers does not keep their memory.
    fn recycle(&mut self, mut items: Vec<Item>) {
        if items.capacity() <= KEEP_CAPACITY && self.items.capacity() == 0 {
            items.clear();
            self.items = items;
        }
    }
}

/// The largest item buffer a drained slot keeps for reuse.
const KEEP_CAPACITY: usize = 1024;

/// A slot may hold this many stale items beyond its live ones before a filing drops them.
const STALE_SLACK: usize = 64;

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
    /// Head of the free list (linked through `Entry::when`), or `NIL`.
    free_head: u32,
    /// Current tick: everything due at or before it has fired.
    elapsed: u64,
    /// Number of `Pending` entries.
    pending: usize,
    /// Per-level bitmap of slots with live items.
    occupied: [u64; LEVELS],
    /// Per-level, per-slot items (2 KiB a level), for the levels timers were filed in so far:
    /// up to the highest such level, on the heap (invariant 4). A runtime that files no timer
    /// has none, a runtime whose timers are minutes away at most three.
    slots: Vec<[Slot; SLOTS]>,
    /// Items of entries with `when <= elapsed`, fired at the next advance.
    ready: Slot,
    /// `advance`'s list of drained entries to file again, kept to reuse its buffer.
    deferred: Vec<u32>,
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
            slots: Vec::new(),
            ready: Slot::EMPTY,
            deferred: Vec::new(),
        }
    }

    /// Current tick (the last `now` passed to `advance`, or 0): every timer
    /// due at or before it that was filed before that advance has fired.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of entries still `Pending`.
    pub(crate) fn len(&self) -> usize {
        self.pending
    }

    /// Arms a new timer due at tick `when` (due immediately, i.e. at the
    /// next `advance`, if `when <= elapsed`; at `MAX_WHEN` if it is later).
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
                let mut entry = Entry {
                    waker: None,
                    word: 0,
                };
                entry.set_free(0, NIL);
                self.entries.push(entry);
                index
            }
            index => {
                // The free list's link (invariant 1): an index below `MAX_INDEX`, or `NIL`.
                self.free_head = self.entries[index as usize].next_free();
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        let generation = entry.generation();
        entry.set_pending(generation, when.min(MAX_WHEN));
        entry.waker = waker.map(SlimWaker::new);
        self.pending += 1;
        self.file(index);
        TimerKey { index, generation }
    }

    /// Cancels a pending timer and frees its entry: `Pending` if it was, `Gone`
    /// if the key is stale (the timer fired, or was removed or reset), in which
    /// case nothing is touched.
    pub(crate) fn remove(&mut self, key: TimerKey) -> TimerState {
        let Some(index) = self.index_of(key) else {
            return TimerState::Gone;
        };
        self.unfile(index);
        self.free(index);
        TimerState::Pending
    }

    /// Moves a pending timer to `when` (at most `MAX_WHEN`, as in `insert`), keeping its waker. Returns the timer's
    /// new key (the old one is stale from now on), or `None` if the key is
    /// stale (a fired timer is filed anew with `insert`).
    pub(crate) fn reset(&mut self, key: TimerKey, when: u64) -> Option<TimerKey> {
        let index = self.index_of(key)?;
        self.unfile(index);
        let entry = &mut self.entries[index as usize];
        // Invariant 2: a new filing, so the item left in the old slot is stale.
        let generation = next_generation(entry.generation());
        entry.set_pending(generation, when.min(MAX_WHEN));
        self.file(index);
        Some(TimerKey { index, generation })
    }

    /// Stores a clone of `waker` unless the stored one `will_wake` it.
    /// Does nothing if the key is stale.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(index) = self.index_of(key) {
            let slot = &mut self.entries[index as usize].waker;
            match slot {
                Some(current) if current.will_wake(waker) => {}
                _ => *slot = Some(SlimWaker::new(waker.clone())),
            }
        }
    }

    /// Takes the waker stored in the timer's entry, if any; `None` for a stale key.
    pub(crate) fn take_waker(&mut self, key: TimerKey) -> Option<Waker> {
        let index = self.index_of(key)?;
        let waker = self.entries[index as usize].waker.take();
        waker.map(SlimWaker::into_waker)
    }

    /// State of the timer identified by `key`.
    pub(crate) fn state(&self, key: TimerKey) -> TimerState {
        match self.index_of(key) {
            Some(_) => TimerState::Pending,
            None => TimerState::Gone,
        }
    }

    /// Sets the generation of the free entry `key` named to `key`'s, as 2^24 reuses would
    /// (invariant 7), so that the next insert hands out `key` again.
    #[cfg(all(test, not(tether_loom)))]
    pub(crate) fn wrap_generation(&mut self, key: TimerKey) {
        let entry = &mut self.entries[key.index as usize];
        assert!(entry.is_free(), "only a freed entry wraps");
        let next = entry.next_free();
        entry.set_free(key.generation, next);
    }

    /// Deadline of a `Pending` timer; `None` if the key is stale.
    #[cfg(test)]
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.index_of(key).map(|i| self.entries[i as usize].when())
    }

    /// Earliest tick at which `advance` could fire something, or None if no
    /// Pending timers.
    ///
    /// It may be earlier than the real earliest deadline when that timer
    /// sits in a higher level (its slot start), never later. Never earlier
    /// than `elapsed`; equal to it when some timer is already due.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.ready.live > 0 {
            return Some(self.elapsed);
        }
        // Invariant 6: the lowest non-empty level holds the earliest slot.
        (0..LEVELS).find_map(|level| self.next_in_level(level).map(|(_, deadline)| deadline))
    }

    /// Moves time to `now` (ignored if now < elapsed), fires every Pending
    /// timer with when <= now: takes its waker, pushes it to `wakers` and
    /// frees the entry.
    ///
    /// A `now` earlier than `elapsed` is treated as `elapsed`: time does not
    /// move, but timers already due still fire. Jumps slot to slot using the
    /// bitmaps, so its cost does not depend on the distance travelled.
    /// Wakers are pushed in slot order: exact deadline order for timers in
    /// level 0, coarser for timers drained directly from a higher level.
    pub(crate) fn advance(&mut self, now: u64, wakers: &mut Vec<Waker>) {
        let now = now.max(self.elapsed);
        let ready = self.ready.take();
        for &item in &ready {
            if let Some(index) = self.live_index(item) {
                self.fire(index, wakers);
            }
        }
        self.ready.recycle(ready);
        // Drain every slot starting at or before `now`. Deadlines are
        // computed from the old `elapsed`, which stays put until the end;
        // entries not yet due are set aside on `deferred` (nothing is filed
        // in the wheel meanwhile), then filed again relative to `now`.
        let mut deferred = std::mem::take(&mut self.deferred);
        for level in 0..LEVELS {
            while let Some((slot, deadline)) = self.next_in_level(level) {
                if deadline > now {
                    break;
                }
                let items = self.slots[level][slot].take();
                self.occupied[level] &= !(1u64 << slot);
                for &item in &items {
                    let Some(index) = self.live_index(item) else {
                        continue;
                    };
                    if self.entries[index as usize].when() <= now {
                        self.fire(index, wakers);
                    } else {
                        // A move, not a new filing: the generation stays (invariant 2).
                        deferred.push(index);
                    }
                }
                self.slots[level][slot].recycle(items);
            }
        }
        self.elapsed = now;
        for &index in &deferred {
            self.file(index);
        }
        deferred.clear();
        if deferred.capacity() <= KEEP_CAPACITY {
            self.deferred = deferred;
        }
    }

    /// Takes every waker of every Pending entry (used at shutdown), leaving
    /// entries in place.
    pub(crate) fn take_all_wakers(&mut self, wakers: &mut Vec<Waker>) {
        wakers.extend(
            self.entries
                .iter_mut()
                .filter(|entry| !entry.is_free())
                .filter_map(|entry| entry.waker.take())
                .map(SlimWaker::into_waker),
        );
    }

    /// Index of the live entry named by `key`, or `None` if the key is stale.
    fn index_of(&self, key: TimerKey) -> Option<u32> {
        let entry = self.entries.get(key.index as usize)?;
        let live = entry.generation() == key.generation && !entry.is_free();
        live.then_some(key.index)
    }

    /// The index an item names, if the item is live (invariant 2).
    fn live_index(&self, item: Item) -> Option<u32> {
        let (index, generation) = (item as u32, (item >> 32) as u32);
        let entry = &self.entries[index as usize];
        (entry.generation() == generation && !entry.is_free()).then_some(index)
    }

    /// Files a pending entry that is filed nowhere where invariant 3 says it belongs, under its
    /// current generation.
    fn file(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let item = item(index, entry.generation());
        let slot = match self.position(entry.when()) {
            None => &mut self.ready,
            Some((level, slot)) => {
                if level >= self.slots.len() {
                    self.add_levels(level);
                }
                self.occupied[level] |= 1u64 << slot;
                &mut self.slots[level][slot]
            }
        };
        slot.items.push(item);
        slot.live += 1;
        slot.drop_stale_items(&self.entries, None);
    }

    /// Gives the wheel the slots of every level up to `level` (invariant 4). Levels come as
    /// they are first needed: most runtimes' timers use the lowest two or three, and a wheel
    /// that never files a timer holds none (under Miri, creating and dropping the 384 empty
    /// slots of a wheel made with all six took 0.6 s, for every runtime a test built).
    #[cold]
    fn add_levels(&mut self, level: usize) {
        self.slots.resize_with(level + 1, || [Slot::EMPTY; SLOTS]);
    }

    /// Where invariant 3 files a pending entry due at `when`: `None` for the ready slot, or its
    /// level and slot. An entry stays there until a drain or `unfile` takes it out (the
    /// invariant holds while `elapsed` moves: see 5), which is how `unfile` finds it again.
    fn position(&self, when: u64) -> Option<(usize, usize)> {
        (when > self.elapsed).then(|| {
            let level = level_for(self.elapsed, when);
            (level, slot_for(when, level))
        })
    }

    /// Takes a pending entry out of its slot (its item goes stale), keeping the counts and the
    /// bitmap exact (invariant 4).
    fn unfile(&mut self, index: u32) {
        let slot = match self.position(self.entries[index as usize].when()) {
            None => &mut self.ready,
            Some((level, slot)) => {
                let list = &mut self.slots[level][slot];
                if list.live == 1 {
                    self.occupied[level] &= !(1u64 << slot);
                }
                list
            }
        };
        debug_assert!(
            slot.live > 0,
            "unfiling an entry from a slot with no live item"
        );
        slot.live -= 1;
        if slot.live == 0 {
            // Every item left is stale.
            let items = std::mem::take(&mut slot.items);
            slot.recycle(items);
        } else {
            slot.drop_stale_items(&self.entries, Some(index));
        }
    }

    /// Fires a pending entry (already out of its slot): hands out its waker
    /// and frees it.
    fn fire(&mut self, index: u32, wakers: &mut Vec<Waker>) {
        let entry = &mut self.entries[index as usize];
        if let Some(waker) = entry.waker.take() {
            wakers.push(waker.into_waker());
        }
        self.free(index);
    }

    /// Frees a pending entry that is filed nowhere: its keys and items go
    /// stale (invariants 2, 7).
    fn free(&mut self, index: u32) {
        let entry = &mut self.entries[index as usize];
        debug_assert!(!entry.is_free(), "freeing a free entry");
        entry.waker = None;
        let generation = next_generation(entry.generation());
        entry.set_free(generation, self.free_head);
        self.free_head = index;
        self.pending -= 1;
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
