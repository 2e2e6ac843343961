//! Readiness of one registered I/O resource, and the wakers waiting on it.
//!
//! # Protocol
//!
//! `state` packs the resource's readiness bits, a shutdown bit and a 16-bit *tick*:
//!
//! 1. Only the reactor adds readiness (`set_readiness`), and each time it does it increments the
//!    tick. It then takes the waiting wakers under `waiters` and wakes them after unlocking.
//! 2. A task that finds no readiness stores its waker under `waiters` and re-reads `state` while
//!    still holding the lock. Because the reactor updates `state` before it takes the lock, the
//!    task either sees the new readiness or its waker is taken by the reactor: no lost wake-up.
//! 3. A task clears readiness only after an operation returned `WouldBlock`, and only if the tick
//!    is still the one it observed (`clear_readiness`). If an event arrived in between, the tick
//!    changed and the readiness stays: the edge-triggered event is not lost.
//! 4. Closed bits (`READ_CLOSED`, `WRITE_CLOSED`) are never cleared: a closed direction stays
//!    ready, so readers see end-of-stream at once.
//! 5. The shutdown bit is set once, when the runtime shuts down; every poll then fails.

use std::task::{Context, Poll, Waker};

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
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// Readiness observed by a task, to be passed back to `clear_readiness` after `WouldBlock`.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(crate) struct ReadyEvent {
    ready: usize,
    tick: usize,
    pub(crate) is_shutdown: bool,
}

/// The tasks waiting on one direction: usually one (kept without allocating), sometimes several
/// (two tasks receiving on one shared socket, several accept loops on one listener).
#[derive(Default)]
struct Slot {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Slot {
    /// Registers `waker` unless it is already registered.
    fn register(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    /// Takes every registered waker into `out`: each waiter re-polls and re-registers if it
    /// still has to wait.
    fn take_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.first.take());
        out.append(&mut self.more);
    }
}

#[derive(Default)]
struct Waiters {
    reader: Slot,
    writer: Slot,
}

/// Readiness and waiters of one registration (see the module protocol).
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
        if ready & Direction::Read.mask() != 0 {
            w.reader.take_into(out);
        }
        if ready & Direction::Write.mask() != 0 {
            w.writer.take_into(out);
        }
    }

    /// Marks the resource as belonging to a runtime that shut down (rule 5) and takes all wakers.
    pub(crate) fn shutdown(&self, out: &mut Vec<Waker>) {
        self.state.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut w = lock(&self.waiters);
        w.reader.take_into(out);
        w.writer.take_into(out);
    }

    fn event(&self, state: usize, dir: Direction) -> Option<ReadyEvent> {
        let ready = state & dir.mask();
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
    /// (rule 2).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        if let Some(ev) = self.event(self.state.load(Ordering::Acquire), dir) {
            return Poll::Ready(ev);
        }
        let mut w = lock(&self.waiters);
        match dir {
            Direction::Read => w.reader.register(cx.waker()),
            Direction::Write => w.writer.register(cx.waker()),
        }
        match self.event(self.state.load(Ordering::Acquire), dir) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    /// Readiness right now, without registering interest.
    pub(crate) fn ready_now(&self, dir: Direction) -> Option<ReadyEvent> {
        self.event(self.state.load(Ordering::Acquire), dir)
    }

    /// Clears the readiness `ev` reported, unless a newer event arrived since (rules 3, 4).
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent) {
        let clear = ev.ready & !(READ_CLOSED | WRITE_CLOSED);
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
    fn closed_bits_stay_after_clear() {
        let io = ScheduledIo::new();
        io.set_readiness(READABLE | READ_CLOSED);
        let ev = io.ready_now(Direction::Read).unwrap();
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
}
