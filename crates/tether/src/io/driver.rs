//! The reactor: one `mio::Poll`, the registrations it serves, and the way to wake it.
//!
//! The [`Driver`] (the `Poll` and its event buffer) belongs to the scheduler's core and is turned
//! only by the thread driving it. The [`IoHandle`] is shared: any thread registers and
//! deregisters resources through it, and wakes the driver through its [`Unparker`].
//!
//! Rules:
//! 1. A registration's token packs its key in `registrations` (the low `KEY_BITS` bits) and the
//!    key's *generation* (the bits above, below the top bit). A key's generation is bumped each
//!    time the key is freed, so a later registration at the same key gets a different token. The
//!    slab owns one `Arc` of each `ScheduledIo` until deregistration.
//! 2. Dispatch holds the `registrations` lock for one batch of events, sets readiness, collects the
//!    wakers, and wakes them only after releasing it (waking may re-enter the reactor).
//! 3. `epoll_wait` fills the event buffer without that lock, so a batch may hold an event of a
//!    registration that another thread deregistered before dispatch took the lock, and the key
//!    may hold a new registration by then. Dispatch applies an event only if its token's key is
//!    occupied *and* carries the token's generation; any other event is dropped. A stale event
//!    therefore never reaches a later registration, unless the same key was freed a multiple of
//!    2^31 times (2^7 on 32-bit targets) between the wait and the dispatch. Deregistration
//!    likewise removes only the registration whose token it is given.
//! 4. After `shutdown`, registering fails and every existing registration reports shutdown.
//! 5. A turn that may not wait (`timeout` zero) skips `epoll_wait` when nothing is registered:
//!    the only possible event is the driver's own waker, which a non-blocking turn ignores (it
//!    stays pending for the next wait). A CPU-bound runtime then makes no system call between
//!    its tasks. `registered` is updated under the `registrations` lock, so it is exact whenever
//!    a registration could have produced an event.
//! 6. Each registration gets a new `ScheduledIo`, so it starts with no readiness, no closed bits
//!    and no wakers, whatever an earlier registration at its key saw; after that only events
//!    carrying its own token change it (rule 3).
//! 7. A turn wakes every waker it collected even if some of them panic; it then resumes the
//!    first panic, with the driver consistent (its event buffer is refilled by the next turn,
//!    its waker list is empty), so the caller may catch it and turn the driver again.

use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use crate::io::scheduled_io::{ready_from_event, ScheduledIo};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::RuntimeShared;

/// The token of the driver's own waker; never a registration key.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// Wakes the driver when it sleeps in `epoll_wait`.
pub(crate) struct Unparker {
    /// True while the driver is (about to be) blocked in the reactor; see the scheduler's rule 3.
    pub(crate) sleeping: AtomicBool,
    waker: mio::Waker,
}

impl Unparker {
    /// Wakes the driver if it sleeps. Costs one atomic swap when it does not.
    pub(crate) fn unpark(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.force_unpark();
        }
    }

    /// Wakes the driver whether or not it is marked as sleeping (for timer changes that alter
    /// how long it should sleep).
    pub(crate) fn force_unpark(&self) {
        if let Err(e) = self.waker.wake() {
            // An eventfd write fails only when the descriptor is gone; nothing is waiting then.
            debug_assert!(false, "tether: failed to wake the reactor: {e}");
        }
    }
}

/// Bits of a token that hold the registration's key; the generation sits above them (rule 1).
const KEY_BITS: u32 = if usize::BITS >= 64 { 32 } else { 24 };
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
/// Generations wrap below the top bit, so a registration's token is never [`WAKE_TOKEN`].
const GENERATION_MASK: usize = usize::MAX >> (KEY_BITS + 1);

fn pack(key: usize, generation: usize) -> Token {
    debug_assert!(key <= KEY_MASK && generation <= GENERATION_MASK);
    Token(key | generation << KEY_BITS)
}

/// A token's key and generation.
fn unpack(token: Token) -> (usize, usize) {
    (token.0 & KEY_MASK, token.0 >> KEY_BITS)
}

/// The live registrations, each named by a token of its key and generation (rules 1, 3, 6).
pub(crate) struct Registrations {
    /// Each live registration's state, by key.
    slab: Slab<Arc<ScheduledIo>>,
    /// The generation of every key the slab has handed out, by key: the current registration's
    /// while the key is occupied, the next one's while it is vacant. Bumped when a key is freed.
    generations: Vec<usize>,
    /// Set once by `shutdown`; registering fails from then on (rule 4).
    shutdown: bool,
}

impl Registrations {
    pub(crate) fn new() -> Registrations {
        Registrations {
            slab: Slab::new(),
            generations: Vec::new(),
            shutdown: false,
        }
    }

    /// The token the next `insert` will return.
    fn vacant_token(&self) -> io::Result<Token> {
        let key = self.slab.vacant_key();
        if key > KEY_MASK {
            return Err(io::Error::other(format!(
                "tether: too many I/O resources registered with one runtime (at most {})",
                KEY_MASK + 1
            )));
        }
        Ok(pack(key, self.generations.get(key).copied().unwrap_or(0)))
    }

    /// Stores a new registration under the token `vacant_token` returned (rule 6).
    pub(crate) fn insert(&mut self, io: Arc<ScheduledIo>) -> Token {
        let key = self.slab.insert(io);
        if key == self.generations.len() {
            self.generations.push(0);
        }
        pack(key, self.generations[key])
    }

    /// The registration named by `token`, unless it was removed (rules 1, 3).
    pub(crate) fn get(&self, token: Token) -> Option<&Arc<ScheduledIo>> {
        let (key, generation) = unpack(token);
        let io = self.slab.get(key)?;
        (self.generations[key] == generation).then_some(io)
    }

    /// Removes the registration named by `token` and bumps its key's generation (rules 1, 3).
    pub(crate) fn remove(&mut self, token: Token) -> Option<Arc<ScheduledIo>> {
        self.get(token)?;
        let (key, generation) = unpack(token);
        self.generations[key] = generation.wrapping_add(1) & GENERATION_MASK;
        Some(self.slab.remove(key))
    }

    /// Applies an event's readiness to the registration `token` names and collects its wakers;
    /// drops the event if that registration is gone (rule 3). Returns whether it applied.
    pub(crate) fn dispatch(&self, token: Token, ready: usize, wakers: &mut Vec<Waker>) -> bool {
        match self.get(token) {
            Some(io) => {
                io.set_readiness(ready);
                io.take_wakers(ready, wakers);
                true
            }
            None => false,
        }
    }
}

/// The shared half of the reactor (rules 1, 4).
pub(crate) struct IoHandle {
    registry: Registry,
    /// Holding the lock means the set of registrations cannot change (rule 2).
    registrations: Mutex<Registrations>,
    /// How many sources are registered (rule 5).
    registered: AtomicUsize,
    pub(crate) unparker: Arc<Unparker>,
}

/// The reactor's owned half: the poll instance and its event buffer.
pub(crate) struct Driver {
    poll: Poll,
    events: Events,
    wakers: Vec<Waker>,
}

/// Creates a reactor.
pub(crate) fn new() -> io::Result<(IoHandle, Driver)> {
    let poll = Poll::new()?;
    let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
    let registry = poll.registry().try_clone()?;
    let handle = IoHandle {
        registry,
        registrations: Mutex::new(Registrations::new()),
        registered: AtomicUsize::new(0),
        unparker: Arc::new(Unparker {
            sleeping: AtomicBool::new(false),
            waker,
        }),
    };
    let driver = Driver {
        poll,
        events: Events::with_capacity(1024),
        wakers: Vec::with_capacity(64),
    };
    Ok((handle, driver))
}

/// The error every operation on a resource of a shut-down runtime returns.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other(
        "the tether runtime this I/O resource was registered with has shut down; create \
         sockets inside the runtime that uses them and keep that runtime alive while they are used",
    )
}

impl IoHandle {
    /// Registers `source` for edge-triggered readiness in `interest`; returns its state and
    /// token (rules 1, 6).
    pub(crate) fn register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<(Arc<ScheduledIo>, Token)> {
        let sched = Arc::new(ScheduledIo::new());
        let mut regs = lock(&self.registrations);
        if regs.shutdown {
            return Err(shutdown_error());
        }
        let token = regs.vacant_token()?;
        self.registry.register(source, token, interest)?;
        let inserted = regs.insert(sched.clone());
        debug_assert_eq!(inserted, token);
        self.registered.store(regs.slab.len(), Ordering::Release);
        Ok((sched, token))
    }

    /// Deregisters `source` and forgets the registration `token` names (rule 3).
    pub(crate) fn deregister(&self, source: &mut impl Source, token: Token) {
        // Deregistering fails only if the descriptor was never registered or is already closed;
        // either way nothing more will arrive for it.
        let _ = self.registry.deregister(source);
        let removed = {
            let mut regs = lock(&self.registrations);
            let removed = regs.remove(token);
            self.registered.store(regs.slab.len(), Ordering::Release);
            removed
        };
        drop(removed);
    }

    /// Marks every registration shut down and wakes their waiters (rule 4).
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        {
            let mut regs = lock(&self.registrations);
            regs.shutdown = true;
            for (_, io) in regs.slab.iter() {
                io.shutdown(&mut wakers);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Applies a batch of events (rules 2, 3); returns how many reached a live registration.
    fn dispatch(&self, events: &Events, wakers: &mut Vec<Waker>) -> u64 {
        let mut n = 0;
        let regs = lock(&self.registrations);
        for ev in events.iter() {
            let token = ev.token();
            if token == WAKE_TOKEN {
                continue;
            }
            if regs.dispatch(token, ready_from_event(ev), wakers) {
                n += 1;
            }
        }
        n
    }
}

impl Driver {
    /// Waits up to `timeout` (forever if `None`) for I/O events, then fires due timers, and
    /// wakes every task that became ready.
    pub(crate) fn turn(&mut self, rt: &RuntimeShared, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) && rt.io.registered.load(Ordering::Acquire) == 0 {
            // Rule 5: nothing could be ready.
            self.events.clear();
        } else {
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    panic!("tether: the reactor failed to wait for events (epoll_wait): {e}")
                }
            }
        }
        let n = rt.io.dispatch(&self.events, &mut self.wakers);
        rt.metrics.add_io_events(n);
        let fired = rt.time.process(&mut self.wakers);
        rt.metrics.add_timers_fired(fired);
        // Rule 7: a waker that panics does not cost the others their wake-up.
        let mut panicked = None;
        for w in self.wakers.drain(..) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
                panicked.get_or_insert(payload);
            }
        }
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
    }
}

// The tests build on Unix socket pairs.
#[cfg(all(test, unix, not(tether_loom)))]
mod tests {
    use super::*;
    use crate::io::scheduled_io::{Direction, READ_CLOSED};
    use mio::net::UnixStream;

    /// Rule 3, with real events: a hang-up the driver received for a registration that was freed
    /// before dispatch, its key taken by a new registration, must not reach the new one. (Before
    /// tokens carried a generation, it marked the new connection closed, and its reads spun on
    /// ready -> `WouldBlock` -> ready.)
    #[test]
    fn stale_event_of_a_freed_key_never_reaches_its_new_registration() {
        let (handle, mut driver) = new().unwrap();
        let (mut old, old_peer) = UnixStream::pair().unwrap();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let (_old_io, old_token) = handle.register(&mut old, interest).unwrap();

        // The peer hangs up; the driver receives the event, as a worker in `epoll_wait` would.
        drop(old_peer);
        driver
            .poll
            .poll(&mut driver.events, Some(Duration::from_secs(10)))
            .unwrap();
        let hang_up = driver.events.iter().find(|ev| ev.token() == old_token);
        assert!(hang_up.is_some_and(|ev| ev.is_read_closed()));

        // Before it dispatches, another thread frees the key and a new connection takes it.
        handle.deregister(&mut old, old_token);
        let (mut new, _new_peer) = UnixStream::pair().unwrap();
        let (new_io, new_token) = handle.register(&mut new, interest).unwrap();
        assert_eq!(
            unpack(new_token).0,
            unpack(old_token).0,
            "the key is reused"
        );
        assert_ne!(new_token, old_token);

        let mut wakers = Vec::new();
        let applied = handle.dispatch(&driver.events, &mut wakers);
        assert!(
            new_io.ready_now(Direction::Read).is_none(),
            "the stale hang-up marked the new registration readable or closed"
        );
        assert!(new_io.ready_now(Direction::Write).is_none());
        assert_eq!(applied, 0, "the stale event is dropped");

        // Its own events still arrive.
        driver
            .poll
            .poll(&mut driver.events, Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(handle.dispatch(&driver.events, &mut wakers), 1);
        assert!(new_io.ready_now(Direction::Write).is_some());
        assert!(new_io.ready_now(Direction::Read).is_none());
        handle.deregister(&mut new, new_token);
    }

    /// Rules 1 and 3: a token names one registration; its key's later registrations have other
    /// tokens, and removing with a stale token removes nothing.
    #[test]
    fn a_token_names_one_registration_only() {
        let mut regs = Registrations::new();
        let first = regs.vacant_token().unwrap();
        assert_eq!(regs.insert(Arc::new(ScheduledIo::new())), first);
        assert!(regs.remove(first).is_some());
        assert!(regs.get(first).is_none());
        let second = regs.insert(Arc::new(ScheduledIo::new()));
        assert_eq!(unpack(second), (unpack(first).0, 1));
        assert!(
            regs.remove(first).is_none(),
            "a stale token removes nothing"
        );
        assert!(regs.get(second).is_some());
        let mut wakers = Vec::new();
        assert!(!regs.dispatch(first, READ_CLOSED, &mut wakers));
        assert!(regs
            .get(second)
            .unwrap()
            .ready_now(Direction::Read)
            .is_none());
        assert!(regs.dispatch(second, READ_CLOSED, &mut wakers));
    }

    /// Rule 1: generations wrap below the top bit, so no token is the driver's own.
    #[test]
    fn generations_wrap_without_reaching_the_wake_token() {
        let mut regs = Registrations::new();
        regs.insert(Arc::new(ScheduledIo::new()));
        regs.generations[0] = GENERATION_MASK;
        let last = pack(0, GENERATION_MASK);
        assert_ne!(last, WAKE_TOKEN);
        assert!(regs.remove(last).is_some());
        assert_eq!(regs.insert(Arc::new(ScheduledIo::new())), pack(0, 0));
        assert_ne!(pack(KEY_MASK, GENERATION_MASK), WAKE_TOKEN);
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use crate::io::scheduled_io::{Direction, Waiter, READABLE, READ_CLOSED, WRITABLE};
    use loom::thread;
    use std::sync::atomic::{AtomicBool as StdBool, Ordering as StdOrdering};
    use std::task::{Context, Poll, Wake};

    struct Flag(StdBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, StdOrdering::SeqCst);
        }
    }

    /// Rules 1, 3 and 6 against in-flight events. The reactor holds an event it received for
    /// registration `old` (a hang-up) while one thread deregisters `old` and another registers
    /// `new`, which takes `old`'s key whenever the deregistration came first, then waits for
    /// `new` to be writable. The reactor dispatches the stale event, then `new`'s own (writable)
    /// event if `new` is registered by then (the kernel reports nothing for it before). In every
    /// interleaving: the stale event never reaches `new`, deregistering `old` never removes
    /// `new`, and `new`'s waiter either sees its event or is woken by it. Explored without a
    /// preemption bound: about 15,600 interleavings, under a second in a release build.
    #[test]
    fn loom_stale_event_never_reaches_a_new_registration() {
        loom::model(|| {
            let regs = Arc::new(Mutex::new(Registrations::new()));
            let old_token = lock(&regs).insert(Arc::new(ScheduledIo::new()));
            let published = Arc::new(Mutex::new(None::<Token>));

            let reactor = thread::spawn({
                let (regs, published) = (regs.clone(), published.clone());
                move || {
                    let mut wakers = Vec::new();
                    lock(&regs).dispatch(old_token, READABLE | READ_CLOSED, &mut wakers);
                    wakers.drain(..).for_each(Waker::wake);
                    let Some(new_token) = *lock(&published) else {
                        return false;
                    };
                    let applied = lock(&regs).dispatch(new_token, WRITABLE, &mut wakers);
                    wakers.drain(..).for_each(Waker::wake);
                    assert!(applied, "the live registration's own event is applied");
                    true
                }
            });
            let closer = thread::spawn({
                let regs = regs.clone();
                move || drop(lock(&regs).remove(old_token))
            });
            let opener = thread::spawn({
                let regs = regs.clone();
                move || {
                    let new = Arc::new(ScheduledIo::new());
                    let token = lock(&regs).insert(new.clone());
                    *lock(&published) = Some(token);
                    let flag = std::sync::Arc::new(Flag(StdBool::new(false)));
                    let waker = Waker::from(flag.clone());
                    let mut waiter = Waiter::new(&new, Direction::Write);
                    let ready = waiter.poll_ready(&mut Context::from_waker(&waker));
                    // The waiter stays registered until the reactor is done.
                    let delivered = reactor.join().unwrap();
                    if delivered {
                        assert!(
                            matches!(ready, Poll::Ready(_)) || flag.0.load(StdOrdering::SeqCst),
                            "the new registration's waiter missed its event"
                        );
                    } else {
                        assert!(ready.is_pending());
                        assert!(new.ready_now(Direction::Write).is_none());
                    }
                    drop(waiter);
                    (new, token)
                }
            });
            closer.join().unwrap();
            let (new, new_token) = opener.join().unwrap();
            assert!(
                new.ready_now(Direction::Read).is_none(),
                "the stale hang-up reached the new registration"
            );
            let regs = lock(&regs);
            assert!(regs.get(old_token).is_none());
            assert!(Arc::ptr_eq(regs.get(new_token).unwrap(), &new));
        });
    }
}
