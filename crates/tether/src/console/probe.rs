//! The console's probes inside the observed runtime: per-poll timing and per-worker park time,
//! kept per worker and only while a viewer watches.
//!
//! Everything the page shows that the runtime does not keep anyway (the tree, states, poll
//! counts and time in poll come from [`Handle::dump`](crate::runtime::Handle::dump), the
//! counters from [`Handle::metrics`](crate::runtime::Handle::metrics), stalls from the
//! reporting path) is gathered here, in the worker's diagnostics slot
//! ([`WorkerSlot`](crate::runtime::diagnostics::WorkerSlot)), never in the task: a task carries
//! no byte more with the feature on.
//!
//! # Rules
//!
//! 1. **Off unless watched; one poll in [`SAMPLE`] when watched.** Each slot's `on` flag is
//!    set by the console while at least one viewer streams, cleared when the last one leaves.
//!    A poll loads it once (relaxed, from the slot's own cache line, which the poll writes
//!    anyway); off, a poll does nothing more. On, the poll whose sequence number on its slot
//!    (`WorkerSlot::begin`) is a multiple of `SAMPLE` is timed: two clock reads and a table
//!    update on every poll would cost as much as a task switch (more where reading the clock
//!    is slow: 110 ns on the machine the benchmarks ran on); one in 64 still cost 4% of the
//!    cheapest poll there is (a yield, 36 ns), one in 256 costs about 1% (docs/console.md has
//!    the figures). The histograms are
//!    therefore a systematic sample of each worker's polls, plus every poll the watchdog found
//!    slow (`slow_poll`, with the watchdog's measure, exact to its period: the polls one looks
//!    for are never missed). A flag seen late costs one poll timed or not timed, nothing else.
//! 2. **One writer per table.** A slot's poll table is written by the thread polling on that
//!    slot (its worker, or the helper a `block_in_place` lent it to), under the table's lock,
//!    which only the console also takes, to swap the table out (`take_polls`) a few times a
//!    second. So the lock is uncontended but for those moments. A task polled on several
//!    workers has an entry in several tables; the console adds them up.
//! 3. **Park time.** `park_begin` (the worker is about to park; the slot's `parked`) stamps
//!    `park_start` when the flag is on; `in_reactor` marks that the park waits in the reactor;
//!    `park_end` (the slot's `busy`) adds the park's length to `parked_ns` or `reactor_ns` and
//!    clears the stamp, whatever the flag says now. Only the slot's thread writes these; the
//!    console reads them (relaxed) and adds the park in progress itself. Busy time is what
//!    remains of the wall time.
//!
//! With diagnostics off (`Builder::diagnostics(false)`) there are no slots, so no poll
//! timing and no worker utilisation; the console says so (`runtime.diagnostics: false`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// One poll in this many (per worker) is timed while a viewer watches (rule 1).
pub(crate) const SAMPLE: u32 = 256;

/// The number of buckets of a poll-duration histogram: bucket 0 holds polls under 1 µs,
/// bucket `b` (1 to 20) polls of `[2^(b-1), 2^b)` µs, bucket 21 polls of `2^20` µs (about a
/// second) and more.
pub(crate) const BUCKETS: usize = 22;

/// What the console knows about one task's polls, gathered while it watched (rule 1).
#[derive(Clone, Copy, Default)]
pub(crate) struct PollStats {
    /// Polls timed.
    pub(crate) polls: u64,
    /// Their durations, by bucket (see [`BUCKETS`]).
    pub(crate) hist: [u32; BUCKETS],
    /// The last poll's duration (ns).
    pub(crate) last_ns: u64,
    /// The longest poll's duration (ns).
    pub(crate) max_ns: u64,
    /// All timed polls together (ns).
    pub(crate) total_ns: u64,
}

impl PollStats {
    fn record(&mut self, ns: u64) {
        self.polls += 1;
        self.hist[bucket(ns)] = self.hist[bucket(ns)].saturating_add(1);
        self.last_ns = ns;
        self.max_ns = self.max_ns.max(ns);
        self.total_ns = self.total_ns.saturating_add(ns);
    }

    /// Adds `later`, gathered after `self` (its last poll is the later one).
    pub(crate) fn merge(&mut self, later: &PollStats) {
        self.polls += later.polls;
        for (a, b) in self.hist.iter_mut().zip(later.hist) {
            *a = a.saturating_add(b);
        }
        if later.polls > 0 {
            self.last_ns = later.last_ns;
        }
        self.max_ns = self.max_ns.max(later.max_ns);
        self.total_ns = self.total_ns.saturating_add(later.total_ns);
    }
}

/// The histogram bucket of a poll of `ns` nanoseconds.
fn bucket(ns: u64) -> usize {
    let us = ns / 1000;
    if us == 0 {
        0
    } else {
        ((64 - us.leading_zeros()) as usize).min(BUCKETS - 1)
    }
}

/// The upper bound of bucket `b` in µs (`None` for the last, which has none).
pub(crate) fn bucket_upper_us(b: usize) -> Option<u64> {
    (b + 1 < BUCKETS).then(|| 1u64 << b)
}

/// A hasher for task ids (already unique numbers): one multiply, no SipHash per poll.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Per-task poll statistics by task id.
pub(crate) type PollTable = HashMap<u64, PollStats, BuildHasherDefault<IdHasher>>;

/// Nanoseconds since a process-wide origin, plus one (so that 0 can mean "no stamp").
pub(crate) fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The console's part of one worker's diagnostics slot (see the module docs).
#[derive(Default)]
pub(crate) struct SlotProbe {
    /// Rule 1: whether a viewer watches.
    on: AtomicBool,
    /// Rule 2: per-task poll statistics since the console last took them.
    polls: Mutex<PollTable>,
    /// Rule 3: time parked outside the reactor, and in it (ns), over finished parks.
    parked_ns: AtomicU64,
    reactor_ns: AtomicU64,
    /// Rule 3: when the park in progress began (`now_ns`), 0 when none is stamped.
    park_start: AtomicU64,
    /// Rule 3: the park in progress waits in the reactor.
    in_reactor: AtomicBool,
}

impl SlotProbe {
    /// Rule 1: starts or stops gathering.
    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Poll `seq` of this slot starts: its start time when a viewer watches and `seq` is
    /// sampled (rule 1).
    #[inline]
    pub(crate) fn poll_started(&self, seq: u32) -> Option<Instant> {
        if self.on.load(Ordering::Relaxed) && seq % SAMPLE == 0 {
            Some(Instant::now())
        } else {
            None
        }
    }

    /// The poll of task `id` that `poll_started` stamped `start` returned (rule 2).
    pub(crate) fn poll_ended(&self, id: u64, start: Instant) {
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut table = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        table.entry(id).or_default().record(ns);
    }

    /// A poll of task `id` that was not sampled took `took` by the watchdog's measure and was
    /// slow (rule 1); recorded when a viewer watches.
    #[cold]
    pub(crate) fn slow_poll(&self, id: u64, took: std::time::Duration) {
        if self.on.load(Ordering::Relaxed) {
            let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            let mut table = self.polls.lock().unwrap_or_else(|e| e.into_inner());
            table.entry(id).or_default().record(ns);
        }
    }

    /// Takes the statistics gathered since the last call (rule 2).
    pub(crate) fn take_polls(&self) -> PollTable {
        std::mem::take(&mut *self.polls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Rule 3: the slot's worker is about to park.
    #[inline]
    pub(crate) fn park_begin(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.in_reactor.store(false, Ordering::Relaxed);
            self.park_start.store(now_ns(), Ordering::Relaxed);
        }
    }

    /// Rule 3: the park in progress waits in the reactor.
    #[inline]
    pub(crate) fn in_reactor(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.in_reactor.store(true, Ordering::Relaxed);
        }
    }

    /// Rule 3: the slot's worker is busy again.
    #[inline]
    pub(crate) fn park_end(&self) {
        let start = self.park_start.load(Ordering::Relaxed);
        if start != 0 {
            self.park_ended(start);
        }
    }

    #[cold]
    fn park_ended(&self, start: u64) {
        let took = now_ns().saturating_sub(start);
        let total = if self.in_reactor.load(Ordering::Relaxed) {
            &self.reactor_ns
        } else {
            &self.parked_ns
        };
        total.store(
            total.load(Ordering::Relaxed).saturating_add(took),
            Ordering::Relaxed,
        );
        self.park_start.store(0, Ordering::Relaxed);
    }

    /// Time parked outside the reactor and in it (ns) up to `now` (a `now_ns` value), the park
    /// in progress included, and whether that park waits in the reactor (`None`: no stamped
    /// park in progress).
    pub(crate) fn park_times(&self, now: u64) -> (u64, u64, Option<bool>) {
        let mut parked = self.parked_ns.load(Ordering::Relaxed);
        let mut reactor = self.reactor_ns.load(Ordering::Relaxed);
        let start = self.park_start.load(Ordering::Relaxed);
        if start == 0 {
            return (parked, reactor, None);
        }
        let in_reactor = self.in_reactor.load(Ordering::Relaxed);
        let ongoing = now.saturating_sub(start);
        if in_reactor {
            reactor += ongoing;
        } else {
            parked += ongoing;
        }
        (parked, reactor, Some(in_reactor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double_from_one_microsecond() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(999), 0);
        assert_eq!(bucket(1_000), 1);
        assert_eq!(bucket(1_999), 1);
        assert_eq!(bucket(2_000), 2);
        assert_eq!(bucket(1_000_000), 10); // 1 ms: [512, 1024) µs
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_upper_us(0), Some(1));
        assert_eq!(bucket_upper_us(10), Some(1024));
        assert_eq!(bucket_upper_us(BUCKETS - 1), None);
    }

    #[test]
    fn nothing_is_gathered_while_off() {
        let p = SlotProbe::default();
        assert!(p.poll_started(0).is_none());
        p.park_begin();
        p.park_end();
        assert_eq!(p.park_times(now_ns()), (0, 0, None));
        p.set_on(true);
        assert!(p.poll_started(1).is_none(), "not sampled");
        let t = p.poll_started(SAMPLE).expect("on: a sampled poll is timed");
        p.poll_ended(7, t);
        p.park_begin();
        p.in_reactor();
        assert_eq!(p.park_times(now_ns()).2, Some(true));
        p.park_end();
        let table = p.take_polls();
        assert_eq!(table[&7].polls, 1);
        assert!(p.take_polls().is_empty(), "taken once");
        assert_eq!(p.park_times(now_ns()).2, None);
    }
}
