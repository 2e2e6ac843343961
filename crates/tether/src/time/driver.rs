//! The time driver: the timer wheels of one runtime, its clock, and how long the reactor may
//! sleep.
//!
//! The runtime's timers are spread over shards, each a wheel under its own lock: one per worker
//! of a multi-thread runtime, plus one for the threads that are not its workers (a
//! current-thread runtime has one). A timer is filed in the shard of the thread whose poll of
//! its `Sleep` files it, and stays there while it waits (its key names the shard), so workers
//! filing and cancelling timers do not contend for one lock; the thread that drives the reactor
//! processes every shard. Each rule below holds shard by shard.
//!
//! Ticks are milliseconds since `start`. Rules:
//!
//! 1. **Never early.** A timer due at instant `d` is filed at tick `ceil(d - start)`; the wheel
//!    fires it once `floor(now - start)` reaches that tick.
//! 2. **Sleep until the next timer.** The thread driving the reactor sleeps (`epoll_wait`) for
//!    `park_timeout()`: until the wheel's next expiration, or without a timeout when the wheel is
//!    empty. One thread at a time drives the reactor, and only it calls `park_timeout` and
//!    `unparked`.
//! 3. **A timer filed during that sleep is never missed.** `parked_until` is 0 while the driver
//!    is awake. Before reading the wheel, `park_timeout` stores `u64::MAX` ("computing"), then
//!    stores the tick it will sleep until (`u64::MAX` for no timeout); `unparked` stores 0 when
//!    the sleep is over. A thread that files (or moves) a timer at tick `when` does it under
//!    the wheel's lock, then reads `parked_until` (`needs_unpark`) and wakes the reactor (its
//!    waker is sticky: a wake-up before the sleep ends the sleep at once) if it reads neither 0
//!    nor a tick at or before `when`. The shard's lock orders the filing and the driver's read:
//!    if the read comes after, the driver sees the timer and its deadline covers it; if before,
//!    the driver's `u64::MAX` store (made before it took the lock) happens before the filing
//!    thread's load, which therefore reads `u64::MAX`, the deadline (it wakes the reactor if the
//!    timer is earlier) or the 0 stored after that sleep ended (the driver's next
//!    `park_timeout` reads the wheel after the filing, by the same argument, and sees the
//!    timer). The `loom` model at the end of this file checks this. (The accesses are `SeqCst`;
//!    the argument needs only the lock's ordering and the atomic's coherence.)
//! 4. **Still pending without the lock.** A poll that finds its timer pending stores the
//!    poller's waker in the entry and the `Sleep` remembers that waker's identity
//!    ([`WakerId`]: one word, a task's; a waker that is not a task's has none, and each poll
//!    with it takes the lock). Only the timer's owner changes the entry's waker (its polls, a reset, its
//!    drop, each of which updates or forgets the identity), and only an advance that fires it
//!    or the shutdown takes it. An advance stores its tick in the shard's `processed` (rule 5)
//!    before the wakers it took are woken, and the shutdown sets `shutdown` before it takes
//!    any. So while the timer's tick is after `processed` and `shutdown` is not set, the entry
//!    still holds the waker's clone, and a later poll with the same waker may return `Pending`
//!    without the lock (`Sleep`'s fast path; a reset or a new waker leaves it). A fired timer's
//!    task sees the fired tick or the shutdown: both stores happen before the wake, and the
//!    wake before the task's next poll. (A poll that reads them just before they change returns
//!    `Pending`, and the wake that follows polls again.)
//! 5. **A `Sleep` in four words.** A `Sleep` keeps its deadline as nanoseconds from tick 0
//!    (`deadline_nanos`) and its timer as one [`TimerSlot`]: not filed yet, filed under a
//!    wheel key, or elapsed. The advance that fires a timer frees its entry, and then stores
//!    the wheel's tick in the shard's `processed` (under the lock, release ordering). A poll
//!    of a filed timer whose tick is at or before `processed` (acquire) is done: the timer
//!    fired and its entry is gone, or it was filed after that advance with a deadline already
//!    passed (the wheel's tick is never ahead of the clock), and the next advance fires and
//!    frees it (a spurious wake-up). Either way the deadline has passed, and the poll takes
//!    no lock and does not touch the entry, which the drain just had in the cache, and which
//!    may sit on another worker's shard. A `Sleep` uses its key (to poll, reset, cancel, or
//!    ask whether it fired) only under the lock and only while its tick is after the wheel's
//!    (`still_filed`): an entry is freed by its owner or by an advance that reached its tick,
//!    and a freed entry is reused, after 2^24 reuses under the very same key bits. A key whose
//!    tick the wheel has reached belongs to a timer that fired.
//! 6. **A first poll reads the clock only when the deadline is near.** The last processed tick
//!    (`coarse_ms`, stored by every `process`) is a lower bound of the clock. A deadline more
//!    than `NEAR_TICKS` after it is filed without reading the clock (reading and converting
//!    the clock cost about what filing the timer in the wheel does): if the deadline has in
//!    fact passed (the runtime has not turned its driver for a while), the timer fires at the
//!    next turn, never early. A nearer deadline is checked against the clock, so a
//!    `sleep(Duration::ZERO)` or an elapsed `sleep_until` is ready at its first poll, without
//!    waiting for the wheel.

use std::task::{Context, Waker};
use std::time::{Duration, Instant as StdInstant};

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::Mutex;
use crate::task::waker_id::WakerId;
use crate::time::clock::Clock;
use crate::time::wheel::{TimerKey, TimerState, Wheel};

/// Nanoseconds in a tick.
const NANOS_PER_TICK: u64 = 1_000_000;

/// Ticks beyond this are treated as "never" (about 34.7 years from the runtime's start, beyond
/// tether's and tokio's "far future" of 30 years from now): the wheel's latest deadline. A
/// deadline later than this is filed at it.
const MAX_TICK: u64 = crate::time::wheel::MAX_WHEN;

/// Rule 6: a first poll reads the clock only for a deadline at most this many ticks after the
/// last processed tick.
const NEAR_TICKS: u64 = 2;

/// One shard of the runtime's timers (see the module docs), on cache lines of its own (128
/// bytes: two 64-byte lines, which x86's adjacent-line prefetcher fetches together), so that
/// workers filing timers in their own shards do not share a line.
#[repr(align(128))]
struct Shard {
    /// Holding the lock means owning every timer entry of the shard.
    wheel: Mutex<Wheel>,
    /// Rule 5: the wheel's tick after its last advance (stored under the lock, with release
    /// ordering): every timer due at or before it has fired, or was filed after that advance
    /// with a deadline already passed.
    processed: AtomicU64,
}

/// See the module docs.
pub(crate) struct TimeHandle {
    /// At least one; a timer's key names its shard.
    shards: Box<[Shard]>,
    pub(crate) clock: Clock,
    /// The instant of tick 0.
    start: StdInstant,
    /// The tick the reactor sleeps until (`u64::MAX` for no timeout, or while computing it), 0
    /// when awake (rule 3).
    parked_until: AtomicU64,
    /// Set once the runtime shut down; timers cannot be used any more.
    shutdown: AtomicBool,
    /// The tick of the last `process`: a clock read without a syscall, for task ages.
    coarse_ms: AtomicU64,
}

impl TimeHandle {
    /// A time driver with `shards` wheels (at least one; at most [`MAX_SHARDS`]).
    pub(crate) fn new(start_paused: bool, shards: usize) -> TimeHandle {
        let clock = Clock::new(start_paused);
        let start = clock.now();
        let shards = shards.clamp(1, MAX_SHARDS);
        TimeHandle {
            shards: (0..shards)
                .map(|_| Shard {
                    wheel: Mutex::new(Wheel::new()),
                    processed: AtomicU64::new(0),
                })
                .collect(),
            clock,
            start,
            parked_until: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            coarse_ms: AtomicU64::new(0),
        }
    }

    /// The shard a key names.
    fn shard_of(&self, key: ShardKey) -> &Shard {
        &self.shards[usize::from(key.shard)]
    }

    /// The earliest expiration over every shard (each read under its lock).
    fn next_expiration(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|shard| lock(&shard.wheel).next_expiration())
            .min()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.clock.is_paused()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// The tick a deadline (`deadline_nanos`) is filed at (rule 1).
    fn deadline_tick(&self, nanos: i64) -> u64 {
        // Ceiling division; a deadline before tick 0 is due at tick 0.
        let nanos = u64::try_from(nanos).unwrap_or(0);
        nanos.div_ceil(NANOS_PER_TICK).min(MAX_TICK)
    }

    /// `deadline` as nanoseconds from tick 0 (negative before it), the form a `Sleep` keeps it
    /// in (rule 5); clamped to about 292 years either way.
    pub(crate) fn deadline_nanos(&self, deadline: StdInstant) -> i64 {
        match deadline.checked_duration_since(self.start) {
            Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
            None => i64::try_from(self.start.duration_since(deadline).as_nanos())
                .map_or(i64::MIN, |before| -before),
        }
    }

    /// The instant `deadline_nanos` gave `nanos` for.
    pub(crate) fn nanos_instant(&self, nanos: i64) -> StdInstant {
        let d = Duration::from_nanos(nanos.unsigned_abs());
        if nanos >= 0 {
            self.start + d
        } else {
            self.start - d
        }
    }

    /// The clock's time now, as `deadline_nanos` gives it.
    pub(crate) fn now_nanos(&self) -> i64 {
        self.deadline_nanos(self.clock.now())
    }

    fn now_tick(&self) -> u64 {
        let ms = self
            .clock
            .now()
            .saturating_duration_since(self.start)
            .as_millis();
        u64::try_from(ms).unwrap_or(MAX_TICK).min(MAX_TICK)
    }

    fn tick_instant(&self, tick: u64) -> StdInstant {
        self.start + Duration::from_millis(tick)
    }

    /// How long the reactor may sleep: until the next timer, or forever (rules 2, 3).
    pub(crate) fn park_timeout(&self) -> Option<Duration> {
        self.parked_until.store(u64::MAX, Ordering::SeqCst);
        let next = self.next_expiration();
        // No timer: `u64::MAX` stays, so any timer filed from now on wakes the reactor.
        let next = next?;
        self.parked_until.store(next, Ordering::SeqCst);
        Some(
            self.tick_instant(next)
                .saturating_duration_since(self.clock.now()),
        )
    }

    /// The reactor is awake again (rule 3).
    pub(crate) fn unparked(&self) {
        self.parked_until.store(0, Ordering::SeqCst);
    }

    /// Whether a timer filed at `when` by a thread that does not drive the runtime must wake the
    /// sleeping reactor (rule 3).
    pub(crate) fn needs_unpark(&self, when: u64) -> bool {
        let until = self.parked_until.load(Ordering::SeqCst);
        until != 0 && when < until
    }

    /// With a paused clock, jumps it to the next timer's tick. False if there is no timer.
    pub(crate) fn auto_advance(&self) -> bool {
        let next = self.next_expiration();
        match next {
            Some(tick) => {
                self.clock.advance_to(self.tick_instant(tick));
                true
            }
            None => false,
        }
    }

    /// The instant the next timer is due, if any (a simulation jumps its clock there).
    #[cfg(feature = "sim")]
    pub(crate) fn next_deadline(&self) -> Option<StdInstant> {
        let next = self.next_expiration()?;
        Some(self.tick_instant(next))
    }

    /// Milliseconds since the runtime started, as of the last reactor turn.
    pub(crate) fn coarse_now_ms(&self) -> u64 {
        self.coarse_ms.load(Ordering::Relaxed)
    }

    /// Milliseconds since the runtime started, read now.
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_tick()
    }

    /// Fires every due timer, pushing their wakers to `wakers`; returns how many fired.
    pub(crate) fn process(&self, wakers: &mut Vec<Waker>) -> u64 {
        let now = self.now_tick();
        self.coarse_ms.store(now, Ordering::Relaxed);
        let before = wakers.len();
        for shard in self.shards.iter() {
            let mut wheel = lock(&shard.wheel);
            if wheel.next_expiration().is_some_and(|t| t <= now) {
                wheel.advance(now, wakers);
                // Rules 4 and 5: after the advance freed the entries it fired, before their
                // wakers are woken (by the caller).
                shard.processed.store(wheel.elapsed(), Ordering::Release);
            }
        }
        (wakers.len() - before) as u64
    }

    /// Wakes every waiting timer and refuses new ones.
    pub(crate) fn shutdown(&self) {
        // Rule 4: set before any waker goes, so that no poll takes a timer for still pending.
        self.shutdown.store(true, Ordering::Release);
        let mut wakers = Vec::new();
        for shard in self.shards.iter() {
            let mut wheel = lock(&shard.wheel);
            wheel.take_all_wakers(&mut wakers);
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Polls the timer of a `Sleep` due at `deadline` (`deadline_nanos`), filing it on first use
    /// in the wheel of shard `home()` (the polling thread's, asked only when filing; the last
    /// shard if it is beyond them; rule 5). `registered` is the identity of the waker the entry
    /// holds (rule 4), updated for [`still_pending`](Self::still_pending).
    pub(crate) fn poll_timer(
        &self,
        home: impl FnOnce() -> usize,
        slot: &mut TimerSlot,
        registered: &mut WakerId,
        deadline: i64,
        cx: &mut Context<'_>,
    ) -> TimerPoll {
        let Some(key) = slot.key() else {
            let when = self.deadline_tick(deadline);
            // Rule 6: the clock is read only for a deadline near the last processed tick.
            if slot.is_elapsed()
                || (when <= self.coarse_now_ms().saturating_add(NEAR_TICKS)
                    && deadline <= self.now_nanos())
            {
                *slot = TimerSlot::ELAPSED;
                return TimerPoll::Ready;
            }
            let index = home().min(self.shards.len() - 1);
            let shard = &self.shards[index];
            let mut wheel = lock(&shard.wheel);
            let key = wheel.insert(when, Some(cx.waker().clone()));
            drop(wheel);
            *registered = WakerId::of(cx.waker());
            *slot = TimerSlot::filed(ShardKey {
                shard: index as u8,
                key,
            });
            return TimerPoll::Filed(when);
        };
        let shard = self.shard_of(key);
        // Rule 5: the shard has processed the timer's tick, so the timer fired and the
        // advance freed its entry (or will, if it was filed after that advance): done, without
        // the lock or a look at the entry.
        let fired = self.processed(shard, deadline) || {
            let mut wheel = lock(&shard.wheel);
            // Rule 5: fired between the check above and the lock, or still this timer's.
            let pending = self.still_filed(&wheel, deadline);
            if pending {
                debug_assert_eq!(wheel.state(key.key), TimerState::Pending);
                wheel.set_waker(key.key, cx.waker());
                *registered = WakerId::of(cx.waker());
            }
            !pending
        };
        if fired {
            *slot = TimerSlot::ELAPSED;
            *registered = WakerId::NONE;
            TimerPoll::Ready
        } else {
            TimerPoll::Pending
        }
    }

    /// Whether the timer filed in `slot` at `deadline` (`deadline_nanos`) is still pending with
    /// the waker `registered` names stored, and that waker is `waker`, known without the
    /// wheel's lock (rule 4): its shard has not processed its tick, and the runtime has not
    /// shut down.
    pub(crate) fn still_pending(
        &self,
        slot: TimerSlot,
        deadline: i64,
        registered: WakerId,
        waker: &Waker,
    ) -> bool {
        slot.key().is_some_and(|key| {
            registered.is(waker)
                && !self.processed(self.shard_of(key), deadline)
                && !self.is_shutdown()
        })
    }

    /// Rules 4 and 5: whether `shard` has processed the tick of a timer due at `deadline`
    /// (`deadline_nanos`), without its lock: the timer fired (or will at the next advance).
    fn processed(&self, shard: &Shard, deadline: i64) -> bool {
        self.deadline_tick(deadline) <= shard.processed.load(Ordering::Acquire)
    }

    /// Rule 5: whether the timer filed at `deadline` (`deadline_nanos`) still owns the entry
    /// its key names in `wheel` (its shard's, locked): the wheel has not reached its tick.
    fn still_filed(&self, wheel: &Wheel, deadline: i64) -> bool {
        self.deadline_tick(deadline) > wheel.elapsed()
    }

    /// Moves the timer filed under `key` at `filed_at` to `deadline` (both `deadline_nanos`),
    /// keeping its waker: the slot gets the timer's new key. Returns the new tick if the timer
    /// was moved; if it had fired, the slot is unfiled (the next poll files it anew) and
    /// nothing is filed.
    pub(crate) fn reset_timer(
        &self,
        slot: &mut TimerSlot,
        key: ShardKey,
        filed_at: i64,
        deadline: i64,
    ) -> Option<u64> {
        let when = self.deadline_tick(deadline);
        let mut wheel = lock(&self.shard_of(key).wheel);
        let moved = if self.still_filed(&wheel, filed_at) {
            let moved = wheel.reset(key.key, when);
            debug_assert!(
                moved.is_some(),
                "a timer not yet due owns its entry (rule 5)"
            );
            moved
        } else {
            None
        };
        drop(wheel);
        match moved {
            Some(new) => {
                *slot = TimerSlot::filed(ShardKey {
                    shard: key.shard,
                    key: new,
                });
                Some(when)
            }
            None => {
                *slot = TimerSlot::UNFILED;
                None
            }
        }
    }

    /// Whether the timer filed under `key` at `deadline` (`deadline_nanos`) has fired.
    pub(crate) fn has_fired(&self, key: ShardKey, deadline: i64) -> bool {
        !self.still_filed(&lock(&self.shard_of(key).wheel), deadline)
    }

    /// Timers waiting to fire.
    pub(crate) fn active_timers(&self) -> usize {
        self.shards.iter().map(|s| lock(&s.wheel).len()).sum()
    }

    /// Cancels the timer filed under `key` at `deadline` (`deadline_nanos`), unless it fired.
    pub(crate) fn remove_timer(&self, key: ShardKey, deadline: i64) {
        let mut wheel = lock(&self.shard_of(key).wheel);
        if self.still_filed(&wheel, deadline) {
            let _ = wheel.remove(key.key);
        }
    }

    /// Cancels the timer filed under `key` at `deadline` (`deadline_nanos`), waking the task
    /// its entry would have woken (a `Sleep` reset into the past: its task must not wait for a
    /// poll that nothing causes); a timer that fired woke it already.
    pub(crate) fn remove_timer_and_wake(&self, key: ShardKey, deadline: i64) {
        let waker = {
            let mut wheel = lock(&self.shard_of(key).wheel);
            if !self.still_filed(&wheel, deadline) {
                return;
            }
            let waker = wheel.take_waker(key.key);
            let _ = wheel.remove(key.key);
            waker
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The most shards a runtime's timers are spread over (a key keeps its shard in a byte).
pub(crate) const MAX_SHARDS: usize = 256;

/// A timer's key and the shard whose wheel it is filed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShardKey {
    shard: u8,
    key: TimerKey,
}

/// A `Sleep`'s timer in one word (rule 5): not filed yet, filed under a wheel key (packed, with
/// its shard in the top byte), or elapsed (found due at a poll; its entry, if it had one, is
/// freed, or will be by the next advance). The two sentinels' low halves are indexes no wheel
/// entry has (`TimerKey::is_packed_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerSlot(u64);

impl TimerSlot {
    /// Not filed yet.
    pub(crate) const UNFILED: TimerSlot = TimerSlot(u64::MAX);
    /// The deadline has passed; the timer's entry, if it had one, is freed (or will be by the
    /// next advance).
    pub(crate) const ELAPSED: TimerSlot = TimerSlot(u64::MAX - 1);

    fn filed(key: ShardKey) -> TimerSlot {
        TimerSlot(u64::from(key.shard) << 56 | key.key.pack())
    }

    /// The shard and wheel key of a filed timer.
    pub(crate) fn key(self) -> Option<ShardKey> {
        TimerKey::is_packed_key(self.0).then(|| ShardKey {
            shard: (self.0 >> 56) as u8,
            key: TimerKey::unpack(self.0 & ((1 << 56) - 1)),
        })
    }

    /// Whether a poll found the deadline passed.
    pub(crate) fn is_elapsed(self) -> bool {
        self == TimerSlot::ELAPSED
    }
}

/// The outcome of [`TimeHandle::poll_timer`].
#[must_use]
pub(crate) enum TimerPoll {
    /// The deadline has passed.
    Ready,
    /// Still waiting; the waker is stored.
    Pending,
    /// Filed in the wheel just now, at this tick.
    Filed(u64),
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    //! Rule 3 with the real `TimeHandle` (a paused clock, so ticks do not depend on real time):
    //! the driver parks twice while another thread files a timer; the reactor's wake-up is a
    //! sticky flag that a sleep consumes when it ends.

    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use loom::thread;
    use std::task::Context;

    /// Rule 3: a timer filed by another thread while the driver decides how long to sleep, or
    /// while it sleeps, is never missed: the sleep that is in progress when the filing thread
    /// has made its decision ends at the timer's tick at the latest, or is woken. The first of
    /// the driver's two sleeps ends early (an I/O event), so the filing thread may also see the
    /// driver awake, or the first sleep's deadline, and rely on the second sleep.
    #[test]
    fn loom_a_timer_filed_from_another_thread_is_never_missed() {
        loom::model(|| {
            // Two shards: the driver reads both; the timer is filed in the second.
            let time = Arc::new(TimeHandle::new(true, 2));
            // The reactor's waker (an eventfd): set by a wake-up, cleared by the sleep it ends.
            let woken = Arc::new(AtomicBool::new(false));
            // The filing thread has filed its timer and decided whether to wake the reactor.
            let decided = Arc::new(AtomicBool::new(false));
            let due = time.deadline_nanos(time.clock.now() + Duration::from_millis(5));
            let filer = {
                let (time, woken, decided) = (time.clone(), woken.clone(), decided.clone());
                thread::spawn(move || {
                    let (mut entry, mut registered) = (TimerSlot::UNFILED, WakerId::NONE);
                    let mut cx = Context::from_waker(Waker::noop());
                    let TimerPoll::Filed(when) =
                        time.poll_timer(|| 1, &mut entry, &mut registered, due, &mut cx)
                    else {
                        panic!("a timer due in the future is filed");
                    };
                    // `Sleep::after_filing`.
                    if time.needs_unpark(when) {
                        woken.store(true, Ordering::SeqCst);
                    }
                    decided.store(true, Ordering::SeqCst);
                    when
                })
            };
            // The first sleep ends early, consuming a wake-up if one came.
            let _ = time.park_timeout();
            let _ = woken.swap(false, Ordering::SeqCst);
            time.unparked();
            // The second sleep lasts until its deadline unless woken; filing a timer takes
            // nanoseconds, a sleep at least a millisecond, so the filer decides while it lasts.
            let timeout = time.park_timeout();
            while !woken.load(Ordering::SeqCst) && !decided.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            let woke = woken.swap(false, Ordering::SeqCst);
            time.unparked();
            let when = filer.join().unwrap();
            // The paused clock stands at tick 0, so the timeout in milliseconds is the tick the
            // driver sleeps until.
            let covered = timeout.is_some_and(|d| d <= Duration::from_millis(when));
            assert!(
                woke || covered,
                "the timer at tick {when} was missed: the driver slept for {timeout:?} unwoken"
            );
        });
    }

    /// Rule 4: a timer that fires while its owner polls it again is never taken for pending by
    /// the lock-free path once its wake-up has been seen: a poll that starts after the owner
    /// observed the wake returns `Ready`, and a poll that returns pending is followed by a wake.
    #[test]
    fn loom_the_fast_path_never_misses_a_fired_timer() {
        loom::model(|| {
            let time = Arc::new(TimeHandle::new(true, 1));
            let count = Arc::new(crate::loom::sync::atomic::AtomicUsize::new(0));
            let (task, waker, runnable) = crate::task::raw::loom_support::counted_task(&count);
            let mut cx = Context::from_waker(&waker);
            let due = time.deadline_nanos(time.clock.now() + Duration::from_millis(5));
            let (mut entry, mut registered) = (TimerSlot::UNFILED, WakerId::NONE);
            assert!(matches!(
                time.poll_timer(|| 0, &mut entry, &mut registered, due, &mut cx),
                TimerPoll::Filed(_)
            ));
            // Before anything fires, a poll takes the lock-free path (as `Sleep::poll` does).
            assert!(time.still_pending(entry, due, registered, &waker));
            let driver = {
                let time = time.clone();
                thread::spawn(move || {
                    time.clock.advance(Duration::from_millis(5));
                    let mut wakers = Vec::new();
                    time.process(&mut wakers);
                    wakers.into_iter().for_each(Waker::wake);
                })
            };
            let seen = count.load(Ordering::SeqCst);
            // `Sleep::poll`: the lock-free path, else the wheel.
            let ready = !time.still_pending(entry, due, registered, &waker)
                && matches!(
                    time.poll_timer(|| 0, &mut entry, &mut registered, due, &mut cx),
                    TimerPoll::Ready
                );
            if seen > 0 {
                assert!(ready, "polled after the wake, the timer is pending");
            }
            driver.join().unwrap();
            if !ready {
                assert_eq!(count.load(Ordering::SeqCst), 1, "pending and never woken");
            }
            drop((waker, task, runnable.lock().unwrap().take()));
        });
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::task::Context;

    fn poll_new(time: &TimeHandle, deadline: i64) -> (TimerSlot, TimerPoll) {
        poll_in(time, 0, deadline)
    }

    /// The first poll of a timer due at `deadline` on a thread whose shard is `home`.
    fn poll_in(time: &TimeHandle, home: usize, deadline: i64) -> (TimerSlot, TimerPoll) {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut slot, mut registered) = (TimerSlot::UNFILED, WakerId::NONE);
        let polled = time.poll_timer(|| home, &mut slot, &mut registered, deadline, &mut cx);
        (slot, polled)
    }

    /// Rule 5: the advance that fires a timer frees its entry (the next timer filed reuses
    /// it), and the poll that follows completes from the shard's processed tick, leaving the
    /// entry's new timer alone.
    #[test]
    fn a_fired_timers_entry_is_freed_by_the_advance_and_its_poll_is_ready() {
        let time = TimeHandle::new(true, 1);
        let due = time.now_nanos() + 5_000_000;
        let (mut fired, _) = poll_new(&time, due);
        let mut wakers = Vec::new();
        time.clock.advance(Duration::from_millis(5));
        assert_eq!(time.process(&mut wakers), 1);
        assert_eq!(time.active_timers(), 0);
        let next_due = time.now_nanos() + 5_000_000;
        let (next, _) = poll_new(&time, next_due);
        let (old, new) = (fired.key().unwrap().key, next.key().unwrap().key);
        assert_eq!(
            old.pack() as u32,
            new.pack() as u32,
            "the freed entry is reused"
        );
        let mut cx = Context::from_waker(Waker::noop());
        let mut registered = WakerId::NONE;
        let polled = time.poll_timer(|| 0, &mut fired, &mut registered, due, &mut cx);
        assert!(matches!(polled, TimerPoll::Ready));
        assert!(fired.is_elapsed());
        assert!(
            !time.has_fired(next.key().unwrap(), next_due),
            "the entry's new timer is untouched"
        );
        assert_eq!(time.active_timers(), 1);
    }

    /// Rule 5: a `Sleep` whose timer fired, and which has not polled since, holds a key that
    /// may name another timer once the entry was reused 2^24 times (its generation wrapped,
    /// made to happen here at once): cancelling, resetting or asking about it goes by its
    /// deadline and never touches the other timer.
    #[test]
    fn a_fired_timers_key_never_touches_the_timer_that_reused_its_entry() {
        let time = TimeHandle::new(true, 1);
        let due = time.now_nanos() + 5_000_000;
        let (fired, _) = poll_new(&time, due);
        let key = fired.key().unwrap();
        time.clock.advance(Duration::from_millis(5));
        assert_eq!(time.process(&mut Vec::new()), 1);
        lock(&time.shards[0].wheel).wrap_generation(key.key);
        let other_due = time.now_nanos() + 1_000_000_000;
        let (other, _) = poll_new(&time, other_due);
        assert_eq!(other, fired, "the same key bits name the other timer now");
        assert!(time.has_fired(key, due));
        assert!(!time.has_fired(key, other_due));
        let mut reset = fired;
        assert_eq!(time.reset_timer(&mut reset, key, due, other_due * 2), None);
        assert_eq!(reset, TimerSlot::UNFILED, "a fired timer is filed anew");
        time.remove_timer_and_wake(key, due);
        time.remove_timer(key, due);
        assert_eq!(time.active_timers(), 1, "the other timer is still filed");
        assert!(!time.has_fired(other.key().unwrap(), other_due));
    }

    /// Timers filed in different shards stay in them (their keys say which, also after a
    /// reset), all fire when the driver processes, and the reactor sleeps until the earliest
    /// of them whatever its shard; a home beyond the shards files in the last one.
    #[test]
    fn timers_of_every_shard_fire_and_bound_the_reactors_sleep() {
        let time = TimeHandle::new(true, 3);
        let at = |ms: i64| time.now_nanos() + ms * 1_000_000;
        let (late_due, early_due) = (at(50), at(20));
        let (late, _) = poll_in(&time, 2, late_due);
        let (early, _) = poll_in(&time, 0, early_due);
        let (wrapped, _) = poll_in(&time, 7, at(30));
        let shard = |slot: TimerSlot| slot.key().expect("filed").shard;
        assert_eq!([shard(late), shard(early), shard(wrapped)], [2, 0, 2]);
        assert_eq!(time.active_timers(), 3);
        assert_eq!(time.park_timeout(), Some(Duration::from_millis(20)));
        time.unparked();
        let mut wakers = Vec::new();
        time.clock.advance(Duration::from_millis(20));
        assert_eq!(time.process(&mut wakers), 1);
        assert!(time.has_fired(early.key().unwrap(), early_due));
        assert!(!time.has_fired(late.key().unwrap(), late_due));
        let (mut moved, moved_due) = (late, at(5));
        let when = time.reset_timer(&mut moved, late.key().unwrap(), late_due, moved_due);
        assert_eq!(when, Some(25));
        assert_ne!(moved, late, "a reset gives a new key");
        assert_eq!(shard(moved), 2);
        assert_eq!(time.park_timeout(), Some(Duration::from_millis(5)));
        time.unparked();
        time.clock.advance(Duration::from_millis(10));
        assert_eq!(time.process(&mut wakers), 2);
        assert!(time.has_fired(moved.key().unwrap(), moved_due));
        assert_eq!((time.active_timers(), time.park_timeout()), (0, None));
    }

    /// Rule 6: a deadline near the last processed tick is checked against the clock, so one
    /// that has passed is ready at its first poll.
    #[test]
    fn a_passed_deadline_near_the_last_tick_is_ready_at_once() {
        let time = TimeHandle::new(true, 1);
        time.clock.advance(Duration::from_millis(1));
        let now = time.now_nanos();
        assert!(matches!(poll_new(&time, now).1, TimerPoll::Ready));
        assert!(matches!(poll_new(&time, now - 500_000).1, TimerPoll::Ready));
        assert!(matches!(poll_new(&time, now + 1).1, TimerPoll::Filed(_)));
    }

    /// Rule 6: a deadline far from the last processed tick is filed without a clock read; if it
    /// had in fact passed (the driver did not turn meanwhile), it fires at the next turn, and
    /// never before it is due.
    #[test]
    fn a_passed_deadline_far_from_a_stale_tick_fires_at_the_next_turn() {
        let time = TimeHandle::new(true, 1);
        // The clock moves 5 s without a turn: the last processed tick is 0.
        time.clock.advance(Duration::from_secs(5));
        let passed = time.now_nanos() - 1_000_000_000;
        let (slot, polled) = poll_new(&time, passed);
        assert!(matches!(polled, TimerPoll::Filed(4000)));
        let mut wakers = Vec::new();
        assert_eq!(time.process(&mut wakers), 1);
        assert_eq!(time.coarse_now_ms(), 5000);
        let key = slot.key().expect("filed");
        assert!(time.has_fired(key, passed));
        // A future deadline far from the (now fresh) tick is filed and waits for its tick.
        let later = time.now_nanos() + 10_000_000;
        let (slot, polled) = poll_new(&time, later);
        assert!(matches!(polled, TimerPoll::Filed(5010)));
        time.clock.advance(Duration::from_millis(9));
        assert_eq!(time.process(&mut wakers), 0);
        assert!(!time.has_fired(slot.key().expect("filed"), later));
        time.clock.advance(Duration::from_millis(1));
        assert_eq!(time.process(&mut wakers), 1);
    }
}
