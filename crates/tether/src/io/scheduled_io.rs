//! Readiness of one registered I/O resource, and the wakers waiting on it.
//!
//! # Protocol
//!
//! `state` packs the resource's readiness bits, a shutdown bit and a 16-bit *tick*:
//!
//! 1. Only the reactor adds readiness (`set_readiness`): its events, and on io_uring the
//!    completions of a stream's receive and sends (`uring_stream.rs` rules 3, 4). Each time it
//!    does it increments the tick. It then takes the waiting wakers under `waiters` and wakes
//!    them after unlocking.
//! 2. A task that finds no readiness stores its waker under `waiters` and re-reads `state` while
//!    still holding the lock. Because the reactor updates `state` before it takes the lock, the
//!    task either sees the new readiness or its waker is taken by the reactor: no lost wake-up.
//! 3. A task clears readiness only after an operation returned `WouldBlock` (`clear_readiness`)
//!    or a read returned fewer bytes than asked, and not end-of-stream (`clear_after_short_read`:
//!    the socket was drained), and only if the tick is still the one it observed. If an event
//!    arrived in between, the tick changed and the readiness stays: the edge-triggered event is
//!    not lost.
//! 4. A closed bit (`READ_CLOSED`, `WRITE_CLOSED`) stays after a short read, so readers see
//!    end-of-stream at once instead of waiting for an edge that already came. It is cleared (with
//!    rule 3's tick check) only when an operation in its direction returned `WouldBlock`. A socket
//!    or pipe whose direction is really closed answers end-of-stream or an error, not
//!    `WouldBlock`, so that answer shows the bit is wrong, and keeping it would turn the
//!    wait-and-retry loop into a busy loop. The driver's rule 3 keeps stale events of earlier
//!    registrations away; this rule keeps any other wrong closed bit from spinning.
//! 5. The shutdown bit is set once, when the runtime shuts down; every poll then fails.
//! 6. Each direction keeps two kinds of waiters under `waiters`. A waiting future of tether's own
//!    (`PollEvented::async_io` and `ready`, behind every `async fn` of the sockets) owns a
//!    [`Waiter`]: re-polling replaces its one waker, and dropping the future removes that waker
//!    at once, so nothing it registered outlives it. A `poll_*` method (the `futures-io` traits,
//!    `poll_accept`, `poll_recv_from`, ..., and `Child::wait`, which waits through
//!    `PollEvented::poll_io`) gets no signal when its caller stops waiting: its waker stays,
//!    deduplicated with `will_wake`, until an event in its direction (or shutdown) takes it, or
//!    the resource is dropped. Taking a direction's wakers bumps its epoch, so a
//!    future whose waker was already taken removes nothing when dropped (its slab key may hold a
//!    newer waiter's waker by then). Wakers are dropped and woken only after unlocking.
//! 7. A waiter waits for the readiness bits of its direction (`Direction::mask`), or for a part
//!    of them (`Waiter::with_mask`: error interest waits among the readers for `ERROR` alone).
//!    Every event of its direction wakes it; rule 2 then re-checks its own bits, so a waiter for
//!    a part waits again on an event of another kind instead of returning or spinning. Waiting
//!    for several directions (`ready(READABLE | WRITABLE)`) is one waiter per direction, each
//!    under rules 2 and 6; a clear after `WouldBlock` clears the bits that were observed, in
//!    every direction, under rule 3's tick check.
//! 8. A registration is one cache line, aligned to its start: `state`, the lock and each
//!    direction's first `poll_*` waker, which is all that a socket polled by one task through
//!    the `poll_*` methods (hyper's connection, a codec, the `futures-io` traits) ever
//!    registers. A direction's further `poll_*` wakers and its waiting futures (tether's own
//!    `async fn`s: `readable()`, `accept()`, ...) live in a box of that direction's, allocated
//!    at the first and kept. So an event and the poll that follows touch one line of the
//!    registration, and two registrations never share one. 64 bytes, not the 128 that pad the
//!    registry's and the timer driver's hot words against x86's adjacent-line prefetcher: a
//!    registration is made per socket, and 128 would double what it costs.

use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

pub(crate) const READABLE: usize = 0b0_0001;
pub(crate) const WRITABLE: usize = 0b0_0010;
pub(crate) const READ_CLOSED: usize = 0b0_0100;
pub(crate) const WRITE_CLOSED: usize = 0b0_1000;
pub(crate) const ERROR: usize = 0b1_0000;
const READY_MASK: usize = 0b1_1111;
const SHUTDOWN: usize = 1 << 15;
const TICK_SHIFT: u32 = 16;
const TICK_MASK: usize = 0xffff << TICK_SHIFT;

/// Which half of a resource an operation waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    /// The readiness bits that let an operation in this direction proceed (or fail at once).
    pub(crate) fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// Readiness observed by a task, to be passed back to `clear_readiness` after `WouldBlock` or to
/// `clear_after_short_read` (rules 3, 4).
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(crate) struct ReadyEvent {
    ready: usize,
    tick: usize,
    pub(crate) is_shutdown: bool,
}

impl ReadyEvent {
    /// The readiness bits observed.
    pub(crate) fn ready(&self) -> usize {
        self.ready
    }
}

/// Where a waiting future's waker sits among the waiters of one direction: its key in the
/// direction's `futures` slab and the slab's epoch when it was inserted (rule 6).
#[derive(Debug, Default)]
pub(crate) struct WaiterKey(Option<(usize, u64)>);

/// The tasks waiting on one registration (rule 6). The common case, at most one `poll_*` waker
/// per direction, is kept inline, so that a whole `ScheduledIo` is one cache line (rule 8); a
/// direction's other waiters are boxed when first needed and kept until the registration ends.
#[derive(Default)]
struct Waiters {
    /// The first `poll_*` waker of each direction, indexed by `Direction`.
    first: [Option<Waker>; 2],
    /// Each direction's other waiters, boxed apart: a socket whose reader awaits `readable()`
    /// boxes the readers' only.
    rest: [Option<Box<Rest>>; 2],
}

/// A direction's waiters beyond its first `poll_*` waker.
#[derive(Default)]
struct Rest {
    /// Further `poll_*` wakers, deduplicated.
    more: Vec<Waker>,
    /// Wakers of waiting futures, each removed by its future when the future is dropped.
    futures: Slab<Waker>,
    /// Bumped whenever `futures` is emptied by `take_into`, so a `WaiterKey` of an earlier epoch,
    /// whose waker was taken, no longer names an entry (its key may be reused).
    epoch: u64,
}

impl Waiters {
    /// `dir`'s waiters beyond the first, boxed now if they were not yet.
    fn rest(&mut self, dir: Direction) -> &mut Rest {
        self.rest[dir as usize].get_or_insert_with(Box::default)
    }

    /// Registers `waker` in `dir`: for the waiting future `key` if given (replacing its previous
    /// waker), otherwise among the `poll_*` wakers unless it is already one of them.
    /// Returns the waker it replaced, to be dropped after unlocking.
    fn register(
        &mut self,
        dir: Direction,
        waker: &Waker,
        key: Option<&mut WaiterKey>,
    ) -> Option<Waker> {
        let Some(key) = key else {
            match &self.first[dir as usize] {
                None => self.first[dir as usize] = Some(waker.clone()),
                Some(w) if w.will_wake(waker) => {}
                Some(_) => {
                    let more = &mut self.rest(dir).more;
                    if !more.iter().any(|w| w.will_wake(waker)) {
                        more.push(waker.clone());
                    }
                }
            }
            return None;
        };
        let rest = self.rest(dir);
        match key.0 {
            Some((i, epoch)) if epoch == rest.epoch => {
                // Entries of the current epoch are removed only by their own future (`release`).
                let w = &mut rest.futures[i];
                if w.will_wake(waker) {
                    None
                } else {
                    Some(std::mem::replace(w, waker.clone()))
                }
            }
            _ => {
                key.0 = Some((rest.futures.insert(waker.clone()), rest.epoch));
                None
            }
        }
    }

    /// Removes the waker of the waiting future `key` in `dir`, unless `take_into` took it
    /// already.
    fn release(&mut self, dir: Direction, key: &mut WaiterKey) -> Option<Waker> {
        let (i, epoch) = key.0.take()?;
        // A key exists only once its entry was inserted, which boxed the direction's waiters.
        let rest = self.rest[dir as usize].as_mut();
        debug_assert!(rest.is_some(), "tether: a waiter's key without its waiters");
        let rest = rest?;
        if epoch != rest.epoch {
            // `take_into` took it (and woke it) already.
            return None;
        }
        let w = rest.futures.try_remove(i);
        debug_assert!(w.is_some(), "tether: a waiter's entry vanished");
        w
    }

    /// Takes every waker registered in `dir` into `out`: each waiter re-polls and re-registers
    /// if it still has to wait.
    fn take_into(&mut self, dir: Direction, out: &mut Vec<Waker>) {
        out.extend(self.first[dir as usize].take());
        if let Some(rest) = self.rest[dir as usize].as_mut() {
            out.append(&mut rest.more);
            if !rest.futures.is_empty() {
                out.extend(rest.futures.drain());
                rest.epoch += 1;
            }
        }
    }
}

/// A waiting future's place among the waiters of one direction of a resource. The future keeps it
/// across polls (re-polling replaces its waker, never adds one), and dropping it takes the
/// future's waker out at once (rule 6).
pub(crate) struct Waiter<'a> {
    io: &'a ScheduledIo,
    dir: Direction,
    /// The readiness bits it waits for: `dir.mask()`, or a part of it (`with_mask`).
    mask: usize,
    key: WaiterKey,
}

impl<'a> Waiter<'a> {
    /// A waiter on `dir` of `io` that has not registered a waker yet.
    pub(crate) fn new(io: &'a ScheduledIo, dir: Direction) -> Waiter<'a> {
        Waiter::with_mask(io, dir, dir.mask())
    }

    /// A waiter among `dir`'s waiters that is ready only for the bits of `mask`, a non-empty
    /// part of `dir.mask()` (error interest waits for `ERROR` among the readers). Every event
    /// that wakes `dir` wakes it; it waits again if `mask` is not set.
    pub(crate) fn with_mask(io: &'a ScheduledIo, dir: Direction, mask: usize) -> Waiter<'a> {
        debug_assert!(mask != 0 && mask & !dir.mask() == 0, "bad waiter mask");
        Waiter {
            io,
            dir,
            mask,
            key: WaiterKey::default(),
        }
    }

    /// The direction it waits on.
    pub(crate) fn direction(&self) -> Direction {
        self.dir
    }

    /// Like [`ScheduledIo::poll_ready`], storing the waker as this future's (rules 2, 6).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<ReadyEvent> {
        self.io
            .poll_ready_as(cx, self.dir, self.mask, Some(&mut self.key))
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.key.0.is_some() {
            let released = lock(&self.io.waiters).release(self.dir, &mut self.key);
            // Dropped after unlocking: a waker's drop may free its task.
            drop(released);
        }
    }
}

/// Readiness and waiters of one registration (see the module protocol).
// One cache line (rule 8): an event, and the poll that follows, touch no other.
#[repr(align(64))]
pub(crate) struct ScheduledIo {
    /// Readiness bits | shutdown bit | tick << 16 (rules 1, 3, 4, 5).
    state: AtomicUsize,
    /// The tasks waiting to read and those waiting to write. Holding the lock means the reactor
    /// cannot take them (rule 2).
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo {
            state: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Adds readiness from a reactor event and bumps the tick (rule 1).
    pub(crate) fn set_readiness(&self, ready: usize) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let tick = ((cur & TICK_MASK) >> TICK_SHIFT).wrapping_add(1) & 0xffff;
            let new = (cur & !TICK_MASK) | ready | (tick << TICK_SHIFT);
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes the wakers interested in `ready` into `out` (rule 1).
    pub(crate) fn take_wakers(&self, ready: usize, out: &mut Vec<Waker>) {
        let mut w = lock(&self.waiters);
        for dir in [Direction::Read, Direction::Write] {
            if ready & dir.mask() != 0 {
                w.take_into(dir, out);
            }
        }
    }

    /// Marks the resource as belonging to a runtime that shut down (rule 5) and takes all wakers.
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        self.state.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut w = lock(&self.waiters);
        w.take_into(Direction::Read, out);
        w.take_into(Direction::Write, out);
    }

    /// Whether the runtime shut down (rule 5): for resources that wait outside these waiters
    /// (a stream's io_uring receive and sends, `uring_stream.rs`), which check it under their
    /// own lock.
    #[cfg(target_os = "linux")]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.load(Ordering::Acquire) & SHUTDOWN != 0
    }

    /// The readiness of `state` within `mask`, if any (or shutdown).
    #[inline]
    fn event(&self, state: usize, mask: usize) -> Option<ReadyEvent> {
        let ready = state & mask;
        let is_shutdown = state & SHUTDOWN != 0;
        if ready != 0 || is_shutdown {
            Some(ReadyEvent {
                ready,
                tick: state & TICK_MASK,
                is_shutdown,
            })
        } else {
            None
        }
    }

    /// Ready when the resource is ready in `dir` (or shut down); otherwise stores the waker
    /// (rule 2) as a `poll_*` caller's, which stays until an event takes it (rule 6).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        self.poll_ready_as(cx, dir, dir.mask(), None)
    }

    /// `poll_ready` for the bits of `mask` (part of `dir.mask()`), for the waiting future `key`
    /// if given (rule 6).
    // Inline: the ready case is one load; the registration is out of line (`register`).
    #[inline]
    fn poll_ready_as(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mask: usize,
        key: Option<&mut WaiterKey>,
    ) -> Poll<ReadyEvent> {
        if let Some(ev) = self.event(self.state.load(Ordering::Acquire), mask) {
            return Poll::Ready(ev);
        }
        self.register(cx, dir, mask, key)
    }

    /// `poll_ready_as` found no readiness: stores the waker, then looks again (rule 2).
    #[inline(never)]
    fn register(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mask: usize,
        key: Option<&mut WaiterKey>,
    ) -> Poll<ReadyEvent> {
        let mut w = lock(&self.waiters);
        let replaced = w.register(dir, cx.waker(), key);
        let res = match self.event(self.state.load(Ordering::Acquire), mask) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        };
        drop(w);
        drop(replaced);
        res
    }

    /// Readiness right now, without registering interest.
    #[cfg(test)]
    pub(crate) fn ready_now(&self, dir: Direction) -> Option<ReadyEvent> {
        self.ready_now_masked(dir.mask())
    }

    /// Readiness within `mask` right now (any bits, across directions), without registering
    /// interest.
    pub(crate) fn ready_now_masked(&self, mask: usize) -> Option<ReadyEvent> {
        self.event(self.state.load(Ordering::Acquire), mask)
    }

    /// Clears the readiness `ev` reported, closed bits included, after an operation in its
    /// direction returned `WouldBlock`, unless a newer event arrived since (rules 3, 4).
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent) {
        self.clear(ev, ev.ready);
    }

    /// Clears the readiness `ev` reported, except closed bits, after a short read drained the
    /// resource, unless a newer event arrived since (rules 3, 4).
    pub(crate) fn clear_after_short_read(&self, ev: ReadyEvent) {
        self.clear(ev, ev.ready & !(READ_CLOSED | WRITE_CLOSED));
    }

    fn clear(&self, ev: ReadyEvent, clear: usize) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & TICK_MASK != ev.tick {
                return;
            }
            let new = cur & !clear;
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// Converts a mio event to readiness bits.
pub(crate) fn ready_from_event(ev: &mio::event::Event) -> usize {
    let mut r = 0;
    if ev.is_readable() {
        r |= READABLE;
    }
    if ev.is_writable() {
        r |= WRITABLE;
    }
    if ev.is_read_closed() {
        r |= READ_CLOSED;
    }
    if ev.is_write_closed() {
        r |= WRITE_CLOSED;
    }
    if ev.is_error() {
        r |= ERROR;
    }
    r & READY_MASK
}

/// Converts the event mask of an io_uring poll completion to readiness bits, as mio reads
/// epoll's (`ready_from_event`): `POLLIN`/`POLLPRI` readable, `POLLOUT` writable, `POLLHUP` (or
/// `POLLRDHUP` with `POLLIN`) read-closed, `POLLHUP` or an error write-closed.
#[cfg(target_os = "linux")]
pub(crate) fn ready_from_poll(mask: u32) -> usize {
    let has = |bit: libc::c_short| mask & (bit as u16 as u32) != 0;
    let mut r = 0;
    if has(libc::POLLIN) || has(libc::POLLPRI) {
        r |= READABLE;
    }
    if has(libc::POLLOUT) {
        r |= WRITABLE;
    }
    if has(libc::POLLHUP) || (has(libc::POLLIN) && has(libc::POLLRDHUP)) {
        r |= READ_CLOSED;
    }
    if has(libc::POLLHUP)
        || (has(libc::POLLOUT) && has(libc::POLLERR))
        || mask == libc::POLLERR as u16 as u32
    {
        r |= WRITE_CLOSED;
    }
    if has(libc::POLLERR) {
        r |= ERROR;
    }
    r & READY_MASK
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomic;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(StdAtomic);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Rule 8: one line. 56 of its 64 bytes are used on Linux, whose std `Mutex` is 4 bytes
    /// and a flag; where std's `Mutex` takes 8 (macOS), all 64. (loom's `Mutex` is larger,
    /// hence not under loom.)
    #[test]
    fn a_registration_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<ScheduledIo>(), 64);
        assert_eq!(std::mem::align_of::<ScheduledIo>(), 64);
    }

    #[test]
    fn readiness_set_then_polled_is_ready() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
        assert!(io.poll_ready(&mut cx, Direction::Write).is_pending());
    }

    #[test]
    fn clear_is_skipped_when_a_newer_event_arrived() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE);
        let ev = io.ready_now(Direction::Read).unwrap();
        io.set_readiness(READABLE); // a new edge between observing and clearing
        io.clear_readiness(ev);
        assert!(
            io.ready_now(Direction::Read).is_some(),
            "the newer edge must survive"
        );
        let ev = io.ready_now(Direction::Read).unwrap();
        io.clear_readiness(ev);
        assert!(io.ready_now(Direction::Read).is_none());
    }

    #[test]
    fn closed_bits_stay_after_a_short_read() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE | READ_CLOSED);
        let ev = io.ready_now(Direction::Read).unwrap();
        io.clear_after_short_read(ev);
        assert!(io.ready_now(Direction::Read).is_some());
    }

    /// Rule 4: `WouldBlock` proves a closed bit wrong; clearing it keeps the retry loop waiting
    /// instead of spinning. The other direction's closed bit stays.
    #[test]
    fn would_block_clears_the_closed_bit_of_its_direction() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE | READ_CLOSED | WRITE_CLOSED);
        let ev = io.ready_now(Direction::Read).unwrap();
        io.clear_readiness(ev);
        assert!(io.ready_now(Direction::Read).is_none());
        assert!(io.ready_now(Direction::Write).is_some());
    }

    /// Rules 3, 4: a closed bit that arrived after the task observed readiness survives its
    /// `WouldBlock`.
    #[test]
    fn would_block_keeps_a_closed_bit_that_arrived_later() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE);
        let ev = io.ready_now(Direction::Read).unwrap();
        io.set_readiness(READ_CLOSED);
        io.clear_readiness(ev);
        assert!(io.ready_now(Direction::Read).is_some());
    }

    #[test]
    fn waiting_reader_is_woken_by_read_event_only() {
        let io = ScheduledIo::new();
        let count = Arc::new(Count(StdAtomic::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        let mut out = Vec::new();
        io.set_readiness(WRITABLE);
        io.take_wakers(WRITABLE, &mut out);
        assert!(out.is_empty());
        io.set_readiness(READABLE);
        io.take_wakers(READABLE, &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    /// Rule 6: a waiting future's waker leaves with the future.
    #[test]
    fn dropped_waiter_releases_its_waker_at_once() {
        let io = ScheduledIo::new();
        let count = Arc::new(Count(StdAtomic::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut waiter = Waiter::new(&io, Direction::Read);
        assert!(waiter.poll_ready(&mut cx).is_pending());
        assert!(waiter.poll_ready(&mut cx).is_pending());
        assert_eq!(
            Arc::strong_count(&count),
            3,
            "re-polling does not add a waker"
        );
        drop(waiter);
        assert_eq!(Arc::strong_count(&count), 2);
    }

    /// Rule 6: re-polling with another waker replaces the future's waker; only the last is woken.
    #[test]
    fn waiter_repolled_with_another_waker_keeps_only_the_last() {
        let io = ScheduledIo::new();
        let (first, second) = (
            Arc::new(Count(StdAtomic::new(0))),
            Arc::new(Count(StdAtomic::new(0))),
        );
        let mut waiter = Waiter::new(&io, Direction::Write);
        for count in [&first, &second] {
            let waker = Waker::from(count.clone());
            assert!(waiter
                .poll_ready(&mut Context::from_waker(&waker))
                .is_pending());
        }
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "the replaced waker was dropped"
        );
        let mut out = Vec::new();
        io.set_readiness(WRITABLE);
        io.take_wakers(WRITABLE, &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }

    /// Rule 6: a future whose waker an event already took removes nothing when dropped, even
    /// though its slab key now holds another waiter's waker.
    #[test]
    fn waiter_dropped_after_its_wake_keeps_a_newer_waiter() {
        let io = ScheduledIo::new();
        let (early, late) = (
            Arc::new(Count(StdAtomic::new(0))),
            Arc::new(Count(StdAtomic::new(0))),
        );
        let early_waker = Waker::from(early.clone());
        let mut early_waiter = Waiter::new(&io, Direction::Read);
        assert!(early_waiter
            .poll_ready(&mut Context::from_waker(&early_waker))
            .is_pending());
        let mut out = Vec::new();
        io.set_readiness(READABLE);
        io.take_wakers(READABLE, &mut out);
        out.drain(..).for_each(Waker::wake);
        let ev = io.ready_now(Direction::Read).unwrap();
        io.clear_readiness(ev);

        let late_waker = Waker::from(late.clone());
        let mut late_waiter = Waiter::new(&io, Direction::Read);
        assert!(late_waiter
            .poll_ready(&mut Context::from_waker(&late_waker))
            .is_pending());
        drop(early_waiter); // same slab key as `late_waiter`'s, earlier epoch
        io.set_readiness(READABLE);
        io.take_wakers(READABLE, &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(
            late.0.load(Ordering::SeqCst),
            1,
            "the newer waiter was woken"
        );
        drop(late_waiter);
    }

    /// Rule 6: a `poll_*` caller's waker stays until an event takes it.
    #[test]
    fn poll_method_waker_stays_until_an_event() {
        let io = ScheduledIo::new();
        let count = Arc::new(Count(StdAtomic::new(0)));
        let waker = Waker::from(count.clone());
        assert!(io
            .poll_ready(&mut Context::from_waker(&waker), Direction::Read)
            .is_pending());
        assert_eq!(Arc::strong_count(&count), 3);
        let mut out = Vec::new();
        io.set_readiness(READABLE);
        io.take_wakers(READABLE, &mut out);
        drop(out);
        assert_eq!(Arc::strong_count(&count), 2);
    }

    #[test]
    fn shutdown_makes_every_poll_ready_with_flag() {
        let io = ScheduledIo::new();
        let mut out = Vec::new();
        io.shutdown(&mut out);
        let mut cx = Context::from_waker(Waker::noop());
        match io.poll_ready(&mut cx, Direction::Write) {
            Poll::Ready(ev) => assert!(ev.is_shutdown),
            Poll::Pending => panic!("a shut down resource must not wait"),
        }
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Rules 1 and 2: a task that polls while the reactor delivers an event either sees the
    /// readiness or gets woken.
    #[test]
    fn loom_readiness_event_is_never_lost() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            let io2 = io.clone();
            let reactor = thread::spawn(move || {
                let mut wakers = Vec::new();
                io2.set_readiness(READABLE);
                io2.take_wakers(READABLE, &mut wakers);
                wakers.into_iter().for_each(Waker::wake);
            });
            let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let ready = io.poll_ready(&mut cx, Direction::Read).is_ready();
            reactor.join().unwrap();
            assert!(ready || flag.0.load(std::sync::atomic::Ordering::SeqCst));
        });
    }

    /// Rule 3: clearing stale readiness never erases an event that arrived after it was seen.
    #[test]
    fn loom_clear_keeps_a_newer_event() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            io.set_readiness(READABLE);
            let ev = io.ready_now(Direction::Read).unwrap();
            let io2 = io.clone();
            let reactor = thread::spawn(move || io2.set_readiness(READABLE));
            io.clear_readiness(ev);
            reactor.join().unwrap();
            assert!(io.ready_now(Direction::Read).is_some());
        });
    }

    /// Rules 2 and 7: a waiter for part of a direction's bits (error interest among the
    /// readers), polling while the reactor delivers a readable event and then an error, either
    /// sees the error or is woken after it; the readable event alone never makes it ready.
    #[test]
    fn loom_masked_waiter_sees_or_is_woken_by_its_event() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            let io2 = io.clone();
            let reactor = thread::spawn(move || {
                let mut wakers = Vec::new();
                for ready in [READABLE, ERROR] {
                    io2.set_readiness(ready);
                    io2.take_wakers(ready, &mut wakers);
                    wakers.drain(..).for_each(Waker::wake);
                }
            });
            let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let mut waiter = Waiter::with_mask(&io, Direction::Read, ERROR);
            let polled = waiter.poll_ready(&mut cx);
            if let Poll::Ready(ev) = polled {
                assert_eq!(ev.ready(), ERROR, "ready only for its own bit");
            }
            reactor.join().unwrap();
            let woken = flag.0.load(std::sync::atomic::Ordering::SeqCst);
            assert!(
                polled.is_ready() || woken,
                "the error was neither seen nor woken for"
            );
            // Woken, it sees the error on its next poll.
            if woken {
                assert!(waiter.poll_ready(&mut cx).is_ready());
            }
        });
    }
}
