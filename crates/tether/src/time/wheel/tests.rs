//! Unit tests of the timing wheel, including a randomized model test against a reference.

use super::*;
use std::sync::{Arc, Mutex};
use std::task::Wake;
use TimerState::{Gone, Pending};

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
    /// already due, sometimes beyond the top level's range; never beyond the
    /// latest an entry holds (`MAX_WHEN`), which a model of exact deadlines
    /// needs (`a_deadline_beyond_max_when_is_due_at_it` checks the clamp).
    fn when(&mut self, elapsed: u64) -> u64 {
        let when = match self.below(9) {
            0 => elapsed.saturating_sub(self.below(1000)),
            1 => elapsed.saturating_add(MAX_RANGE + self.below(1 << 39)),
            n => {
                let bits = [6, 12, 18, 24, 37, 8, 9][n as usize - 2];
                elapsed.saturating_add(self.below(1 << bits))
            }
        };
        when.min(MAX_WHEN)
    }
}

/// A timer fires exactly at its deadline, for distances around every
/// level boundary and far beyond the top level, from several start ticks,
/// jumping straight there or stepping via `next_expiration`.
#[test]
#[cfg_attr(
    miri,
    ignore = "the wheel is safe code (it forbids `unsafe`), checked natively; 49 s under Miri"
)]
fn fires_exactly_at_many_scales() {
    let log = Log::default();
    let bounds = (0..7).flat_map(|l| [1u64 << (6 * l)].map(|b| [b - 1, b, b + 1]));
    let starts: &[u64] = &[0, 1, 63, 4_000, 262_100, 987_654_321];
    for &start in starts {
        // Beyond the top level's range, up to the latest deadline an entry holds.
        let huge = [
            1 << 30 | 7,
            1 << 39 | 3,
            MAX_WHEN - 1 - start,
            MAX_WHEN - start,
        ];
        for distance in bounds.clone().flatten().chain(huge).filter(|&d| d > 0) {
            let when = start + distance;
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
            assert_eq!(
                (wheel.state(key), wheel.len()),
                (Gone, 0),
                "fired and freed"
            );
            assert_eq!(wheel.next_expiration(), None);
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
            assert_eq!((wheel.state(key), wheel.elapsed(), fired), (Gone, when, 1));
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

/// A timer reset away from a slot and back, over and over, while the slot keeps other timers:
/// it fires once, in the order of its last filing (not where a stale item of an earlier filing
/// stands), and the slot's stale items stay within its live ones plus the slack (invariant 4).
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
fn a_timer_reset_to_and_fro_fires_once_in_filing_order_and_leaves_few_stale_items() {
    let (log, mut wheel) = (Log::default(), Wheel::new());
    let first = wheel.insert(100, Some(id_waker(0, &log)));
    let mut moved = wheel.insert(100, Some(id_waker(1, &log)));
    for _ in 0..1000 {
        moved = wheel.reset(moved, 5000).unwrap();
        moved = wheel.reset(moved, 100).unwrap();
    }
    wheel.insert(100, Some(id_waker(2, &log)));
    moved = wheel.reset(moved, 100).unwrap();
    let slot = &wheel.slots[level_for(0, 100)][slot_for(100, level_for(0, 100))];
    assert_eq!(slot.live, 3);
    assert!(
        slot.items.len() <= 2 * 3 + STALE_SLACK,
        "{} items",
        slot.items.len()
    );
    let mut wakers = Vec::new();
    wheel.advance(100, &mut wakers);
    assert_eq!(wake_ids(&mut wakers, &log), [0, 2, 1]);
    assert_eq!((wheel.state(first), wheel.state(moved)), (Gone, Gone));
    assert_eq!((wheel.len(), wheel.next_expiration()), (0, None));
}

/// Cancelling all but one of a slot's many timers drops the cancelled ones' items (invariant
/// 4): the slot does not hold the burst's memory until it is drained, an hour later.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
fn cancelling_most_of_a_slots_timers_drops_their_items() {
    let mut wheel = Wheel::new();
    let hour = 3_600_000;
    let keys: Vec<_> = (0..10_000).map(|_| wheel.insert(hour, None)).collect();
    for &key in &keys[1..] {
        assert_eq!(wheel.remove(key), Pending);
    }
    let level = level_for(0, hour);
    let slot = &wheel.slots[level][slot_for(hour, level)];
    assert_eq!(slot.live, 1);
    assert!(
        slot.items.len() <= 2 + STALE_SLACK,
        "{} items",
        slot.items.len()
    );
    assert_eq!(fire(&mut wheel, hour), 0, "no waker, but it fires");
    assert_eq!((wheel.state(keys[0]), wheel.len()), (Gone, 0));
}

/// A slot that held a burst of timers does not keep the burst's memory once drained, nor does
/// a slot whose timers were all cancelled; a slot keeps a small buffer for reuse.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
fn drained_and_emptied_slots_give_back_a_bursts_memory() {
    let mut wheel = Wheel::new();
    let place = |when: u64| (level_for(0, when), slot_for(when, level_for(0, when)));
    let keys: Vec<_> = (0..10_000).map(|_| wheel.insert(3000, noop())).collect();
    let (level, slot) = place(3000);
    assert!(wheel.slots[level][slot].items.capacity() >= 10_000);
    assert_eq!(fire(&mut wheel, 3000), 10_000);
    assert_eq!(wheel.slots[level][slot].items.capacity(), 0);
    for key in keys {
        wheel.remove(key);
    }
    let keys: Vec<_> = (0..10_000).map(|_| wheel.insert(9000, noop())).collect();
    let (level, slot) = place(9000);
    for key in keys {
        assert_eq!(wheel.remove(key), Pending);
    }
    assert_eq!(wheel.slots[level][slot].items.capacity(), 0);
    assert_eq!(wheel.occupied, [0; LEVELS]);
    let few: Vec<_> = (0..10).map(|_| wheel.insert(9100, noop())).collect();
    assert_eq!(fire(&mut wheel, 9100), few.len());
    let (level, slot) = place(9100);
    assert!(
        wheel.slots[level][slot].items.capacity() > 0,
        "a small buffer is kept"
    );
}

/// Removing before firing cancels; firing frees the entry, so its key is
/// stale at once; a stale key never affects the entry that reused its slot.
#[test]
fn remove_and_stale_keys() {
    let (mut wheel, log) = (Wheel::new(), Log::default());
    let [a, b, c] = [100, 5000, 100].map(|when| wheel.insert(when, noop()));
    assert_eq!(wheel.remove(a), Pending);
    assert_eq!((wheel.remove(a), wheel.len()), (Gone, 2));
    assert_eq!(fire(&mut wheel, 100), 1);
    assert_eq!((wheel.state(c), wheel.deadline(c)), (Gone, None));
    assert_eq!(wheel.remove(c), Gone);
    let reused = wheel.insert(200, None);
    assert_eq!(
        reused.index, c.index,
        "the fired entry was freed and is reused"
    );
    assert_eq!(wheel.remove(reused), Pending);
    assert_eq!((wheel.remove(b), wheel.len()), (Pending, 0));
    assert_eq!(wheel.next_expiration(), None);
    assert_eq!(fire(&mut wheel, 1_000_000), 0);
    let new = wheel.insert(1_000_020, None);
    assert_eq!((new.index, new.generation), (b.index, b.generation + 1));
    assert_eq!(wheel.reset(b, 5), None);
    wheel.set_waker(b, &id_waker(1, &log));
    assert_eq!((wheel.remove(b), wheel.deadline(b)), (Gone, None));
    assert_eq!(states(&wheel, [b, new]), [Gone, Pending]);
    assert_eq!(wheel.deadline(new), Some(1_000_020));
    assert_eq!(fire(&mut wheel, 1_000_020), 0, "stale set_waker leaked");
    assert_eq!((wheel.state(new), wheel.len()), (Gone, 0));
    let bogus = TimerKey {
        index: 99,
        generation: 0,
    };
    assert_eq!((wheel.state(bogus), wheel.remove(bogus)), (Gone, Gone));
}

/// Reset moves a timer earlier, later, or makes it due immediately, and
/// cannot re-arm a fired one (its key is stale); due timers fire at the
/// next advance, even a backwards one, and `next_expiration` then reports
/// `elapsed`.
#[test]
fn reset_and_due_immediately() {
    let mut wheel = Wheel::new();
    let first = wheel.insert(0, noop());
    assert_eq!(wheel.next_expiration(), Some(0));
    let key = wheel.reset(first, 10_000).unwrap();
    assert_eq!(wheel.state(first), Gone, "a reset hands out a new key");
    let key = wheel.reset(key, 50).unwrap();
    assert_eq!(fire(&mut wheel, 49), 0);
    let key = wheel.reset(key, 300_000).unwrap();
    assert_eq!(fire(&mut wheel, 299_999), 0);
    assert_eq!(wheel.deadline(key), Some(300_000));
    assert_eq!(fire(&mut wheel, 300_000), 1);
    assert_eq!((wheel.state(key), wheel.len()), (Gone, 0));
    assert_eq!(
        wheel.reset(key, 300_064),
        None,
        "a fired timer is filed anew"
    );
    let key = wheel.insert(300_064, None);
    wheel.set_waker(key, Waker::noop());
    assert_eq!((fire(&mut wheel, 300_063), wheel.len()), (0, 1));
    let key = wheel.reset(key, 7).unwrap();
    let [now, later] = [300_064, 300_065].map(|when| wheel.insert(when, noop()));
    assert_eq!(wheel.next_expiration(), Some(300_063));
    assert_eq!(fire(&mut wheel, 0), 1); // `key`, due at once
    assert_eq!((wheel.elapsed(), wheel.len()), (300_063, 2));
    assert_eq!(fire(&mut wheel, 300_064), 1);
    assert_eq!(states(&wheel, [key, now, later]), [Gone, Gone, Pending]);
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

/// Model of one pending timer in the randomized test: key, deadline, id of
/// the stored waker.
#[derive(Debug)]
struct Model(TimerKey, u64, Option<usize>);

/// Checks the wheel against the model, including that `next_expiration`
/// is never later than the earliest pending deadline.
fn check(wheel: &Wheel, live: &[Model]) {
    let pending = live.iter();
    assert_eq!(wheel.len(), pending.clone().count());
    for t in live {
        assert_eq!(wheel.state(t.0), Pending, "{t:?}");
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
                    live.push(Model(key, when, waker));
                }
                35..=47 if !live.is_empty() => {
                    let t = live.swap_remove(pick(&mut rng, live.len()));
                    assert_eq!(wheel.remove(t.0), Pending);
                    dead.push(t.0);
                }
                48..=51 if !dead.is_empty() => {
                    let key = dead[pick(&mut rng, dead.len())];
                    assert_eq!((wheel.state(key), wheel.deadline(key)), (Gone, None));
                    assert_eq!(wheel.reset(key, wheel.elapsed() + 1), None);
                    wheel.set_waker(key, Waker::noop());
                    assert_eq!(wheel.remove(key), Gone);
                }
                52..=63 if !live.is_empty() => {
                    let (t, when) = (pick(&mut rng, live.len()), rng.when(wheel.elapsed()));
                    let old = live[t].0;
                    live[t].0 = wheel.reset(old, when).expect("a live key");
                    live[t].1 = when;
                    dead.push(old);
                }
                64..=69 if !live.is_empty() => {
                    let t = pick(&mut rng, live.len());
                    wheel.set_waker(live[t].0, &id_waker(next_id, &log));
                    live[t].2 = Some(next_id);
                }
                _ => {
                    let elapsed = wheel.elapsed();
                    let now = match rng.below(10) {
                        0 => elapsed.saturating_sub(rng.below(100)),
                        1..=3 => wheel.next_expiration().unwrap_or(elapsed),
                        // Far jumps, but most of the run below `MAX_WHEN`.
                        n => elapsed + rng.below(1 << [8, 8, 8, 20, 20, 32][n as usize - 4]),
                    };
                    wheel.advance(now, &mut wakers);
                    let now = now.max(elapsed);
                    assert_eq!(wheel.elapsed(), now);
                    // Fired timers are freed: their keys go stale.
                    let mut expected = Vec::new();
                    for t in live.iter().filter(|t| t.1 <= now) {
                        expected.extend(t.2);
                        dead.push(t.0);
                    }
                    live.retain(|t| t.1 > now);
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
        assert!(live.iter().all(|t| wheel.state(t.0) == Gone));
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
    assert_eq!(states(&wheel, keys), [Gone; 2]);

    let (mut wheel, mut rng) = (Wheel::new(), Rng(77));
    for _ in 0..100_000 {
        wheel.insert(1 + rng.below(1_000_000_000), None);
    }
    let far = [MAX_RANGE + 5, 1 << 38, 1 << 39, MAX_WHEN - 1, MAX_WHEN];
    let far = far.map(|when| wheel.insert(when, None));
    let stops = [
        (1_000_000_000, 5),
        (1 << 39, 2),
        (MAX_WHEN - 2, 2),
        (MAX_WHEN - 1, 1),
    ];
    for (now, left) in stops {
        fire(&mut wheel, now);
        assert_eq!(wheel.len(), left, "at {now}");
    }
    assert_eq!(states(&wheel, [far[3], far[4]]), [Gone, Pending]);
    fire(&mut wheel, u64::MAX);
    let late = wheel.insert(5, None);
    assert_eq!((wheel.len(), wheel.next_expiration()), (1, Some(u64::MAX)));
    fire(&mut wheel, u64::MAX);
    assert_eq!(wheel.state(late), Gone);
}

/// A deadline beyond the latest an entry holds (`MAX_WHEN`, about 34.7 years of ticks) is due
/// at it, whether inserted or reset there, and fires there, not before; the entry still holds
/// its generation and its place on the free list afterwards.
#[test]
fn a_deadline_beyond_max_when_is_due_at_it() {
    let (log, mut wheel) = (Log::default(), Wheel::new());
    let inserted = wheel.insert(u64::MAX, Some(id_waker(1, &log)));
    let moved = wheel.insert(10, Some(id_waker(2, &log)));
    let moved = wheel.reset(moved, MAX_WHEN + 1).unwrap();
    assert_eq!(wheel.deadline(inserted), Some(MAX_WHEN));
    assert_eq!(wheel.deadline(moved), Some(MAX_WHEN));
    assert_eq!(fire(&mut wheel, MAX_WHEN - 1), 0);
    let mut wakers = Vec::new();
    wheel.advance(MAX_WHEN, &mut wakers);
    assert_eq!(wake_ids(&mut wakers, &log), [1, 2]);
    assert_eq!(states(&wheel, [inserted, moved]), [Gone, Gone]);
    let reused = wheel.insert(MAX_WHEN + 5, None);
    assert_eq!(
        reused.pack() as u32,
        moved.pack() as u32,
        "the freed entry is reused"
    );
    assert_ne!(reused, moved, "under a new generation");
}

/// A million small entries: insert, cancel half, fire the rest, reuse
/// slots. Prints the entry size.
#[test]
#[cfg_attr(miri, ignore = "too slow under Miri; safe code, covered natively")]
fn million_timers() {
    let size = std::mem::size_of::<Entry>();
    println!("size_of::<Entry>() = {size} bytes");
    #[cfg(target_pointer_width = "64")]
    assert_eq!(size, 16, "entry is {size} bytes");
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

/// Invariant 4: a wheel holds the slots of the levels timers were filed in and of the levels
/// below them, no more; a level's slots stay once added, and a timer due now needs none.
#[test]
fn levels_are_added_as_timers_need_them() {
    let mut wheel = Wheel::new();
    assert_eq!(wheel.slots.len(), 0, "a wheel with no timer has no slots");
    wheel.insert(0, noop());
    assert_eq!(
        wheel.slots.len(),
        0,
        "a timer due now goes to the ready slot"
    );
    let hour = 3_600_000;
    let level = level_for(0, hour);
    assert!(level >= 2);
    let key = wheel.insert(hour, noop());
    assert_eq!(wheel.slots.len(), level + 1);
    wheel.insert(10, noop());
    assert_eq!(wheel.slots.len(), level + 1);
    assert_eq!(wheel.remove(key), Pending);
    assert_eq!(fire(&mut wheel, 10), 2);
    assert_eq!(wheel.slots.len(), level + 1, "levels stay once added");
}
