//! The reactor: the registrations it serves, the way to wake it, and its backend: one
//! `mio::Poll` (epoll), or on Linux one io_uring ring (`uring.rs`, its own rules there).
//!
//! The [`Driver`] (the `Poll` and its event buffer, or the ring's completion side) belongs to the
//! scheduler's core and is turned only by the thread driving it. The [`IoHandle`] is shared: any
//! thread registers and deregisters resources through it, and wakes the driver through its
//! [`Unparker`]. Which backend a runtime gets is decided once, when it is built ([`new`]):
//! `Builder::io_driver`, overridden by `TETHER_IO_DRIVER`, with `Auto` falling back to epoll
//! when the io_uring probe refuses; the choice and the reason of a fallback stay readable
//! ([`IoHandle::selected`]).
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
//! 5. A turn that may not wait (`timeout` zero) skips `epoll_wait` when nothing is registered
//!    (io_uring: reads the completion queue from memory, entering the kernel only with queued
//!    submissions):
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

use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use crate::io::scheduled_io::{ready_from_event, ScheduledIo};
use crate::io::source::IoSource;
#[cfg(target_os = "linux")]
use crate::io::uring;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::IoDriver;
use crate::runtime::RuntimeShared;

/// The token of the driver's own waker; never a registration key.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// Wakes the driver when it sleeps in `epoll_wait`.
pub(crate) struct Unparker {
    /// True while the driver is (about to be) blocked in the reactor; see the scheduler's rule 3.
    pub(crate) sleeping: AtomicBool,
    waker: WakeFd,
}

/// What wakes the driver: mio's waker (an eventfd epoll watches) or the ring's eventfd.
enum WakeFd {
    Epoll(mio::Waker),
    #[cfg(target_os = "linux")]
    Uring(std::sync::Arc<uring::Ring>),
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
        match &self.waker {
            WakeFd::Epoll(waker) => {
                if let Err(e) = waker.wake() {
                    // An eventfd write fails only when the descriptor is gone; nothing is waiting
                    // then.
                    debug_assert!(false, "tether: failed to wake the reactor: {e}");
                }
            }
            #[cfg(target_os = "linux")]
            WakeFd::Uring(ring) => ring.wake(),
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
    /// The descriptor and poll mask of each key's registration, for the io_uring driver's
    /// re-arms (`uring.rs` rule 3); `None` for a registration without a poll.
    #[cfg(target_os = "linux")]
    polls: Vec<Option<(std::os::fd::RawFd, u32)>>,
}

impl Registrations {
    pub(crate) fn new() -> Registrations {
        Registrations {
            slab: Slab::new(),
            generations: Vec::new(),
            shutdown: false,
            #[cfg(target_os = "linux")]
            polls: Vec::new(),
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
            #[cfg(target_os = "linux")]
            self.polls.push(None);
        }
        #[cfg(target_os = "linux")]
        {
            self.polls[key] = None;
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

    /// The poll behind the live registration `token`, if it has one (`uring.rs` rule 3).
    #[cfg(target_os = "linux")]
    fn poll_of(&self, token: Token) -> Option<(std::os::fd::RawFd, u32)> {
        self.get(token)?;
        self.polls[unpack(token).0]
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

/// The backend a runtime's reactor registers with.
enum Backend {
    Epoll(Registry),
    #[cfg(target_os = "linux")]
    Uring {
        ring: std::sync::Arc<uring::Ring>,
        /// The runtime whose scheduling threads leave their submissions to a later point
        /// (`uring.rs` rule 4): a current-thread runtime's driving thread to its next turn, a
        /// multi-thread runtime's workers to their next scheduling point.
        runtime: crate::runtime::RuntimeId,
        multi_thread: bool,
    },
}

/// The I/O driver a runtime runs, and why it is not the one asked for, if it is not.
#[derive(Clone, Debug)]
pub(crate) struct Selected {
    pub(crate) driver: IoDriver,
    // std's Arc: plain data shared with metrics, part of no protocol a loom model checks.
    pub(crate) fallback: Option<std::sync::Arc<str>>,
}

/// The shared half of the reactor (rules 1, 4).
pub(crate) struct IoHandle {
    backend: Backend,
    selected: Selected,
    /// Holding the lock means the set of registrations cannot change (rule 2).
    registrations: Mutex<Registrations>,
    /// How many sources are registered (rule 5).
    registered: AtomicUsize,
    pub(crate) unparker: Arc<Unparker>,
}

/// The reactor's owned half: the backend's waiting side and the wakers of one turn.
pub(crate) struct Driver {
    kind: DriverKind,
    wakers: Vec<Waker>,
}

enum DriverKind {
    /// The poll instance and its event buffer.
    Epoll { poll: Poll, events: Events },
    /// The ring's completion side.
    #[cfg(target_os = "linux")]
    Uring(uring::Completions),
}

/// The environment variable that overrides `Builder::io_driver` (for operators and benchmarks).
pub(crate) const ENV_VAR: &str = "TETHER_IO_DRIVER";

/// The driver asked for: `TETHER_IO_DRIVER` if set, else the builder's.
fn requested(builder_choice: IoDriver) -> io::Result<IoDriver> {
    match std::env::var(ENV_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(builder_choice),
        Ok(v) => match v.trim() {
            "epoll" => Ok(IoDriver::Epoll),
            "io_uring" | "io-uring" | "iouring" => Ok(IoDriver::IoUring),
            "auto" => Ok(IoDriver::Auto),
            "" => Ok(builder_choice),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tether: {ENV_VAR}={other:?} is not a driver: use epoll, io_uring or auto \
                     (or unset it to use Builder::io_driver's choice)"
                ),
            )),
        },
        Err(e) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tether: {ENV_VAR} is not valid Unicode ({e}): use epoll, io_uring or auto"),
        )),
    }
}

/// Creates a reactor with the driver `choice` asks for (overridden by `TETHER_IO_DRIVER`).
/// `IoUring` fails when the probe refuses io_uring; `Auto` falls back to epoll and records why.
/// The runtime a reactor serves and whether it is multi-threaded: which threads batch their
/// io_uring submissions (`uring.rs` rule 4).
pub(crate) type Scheduling = (crate::runtime::RuntimeId, bool);

/// Creates the reactor of runtime `runtime` (multi-threaded or not).
pub(crate) fn new(
    choice: IoDriver,
    runtime: crate::runtime::RuntimeId,
    multi_thread: bool,
) -> io::Result<(IoHandle, Driver)> {
    let runtime = (runtime, multi_thread);
    let wanted = requested(choice)?;
    let fallback = match wanted {
        IoDriver::Epoll => None,
        IoDriver::IoUring | IoDriver::Auto => match open_uring(runtime) {
            Ok(reactor) => return Ok(reactor),
            Err(reason) if wanted == IoDriver::IoUring => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "tether: the io_uring driver was asked for (IoDriver::IoUring or \
                         {ENV_VAR}=io_uring) but cannot run here: {reason}; use IoDriver::Auto \
                         to fall back to epoll"
                    ),
                ));
            }
            Err(reason) => Some(std::sync::Arc::from(reason)),
        },
    };
    new_epoll(fallback)
}

/// The epoll reactor; `fallback` says why it runs instead of io_uring, if it does.
fn new_epoll(fallback: Option<std::sync::Arc<str>>) -> io::Result<(IoHandle, Driver)> {
    let poll = Poll::new()?;
    let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
    let registry = poll.registry().try_clone()?;
    let driver = Driver {
        kind: DriverKind::Epoll {
            poll,
            events: Events::with_capacity(1024),
        },
        wakers: Vec::with_capacity(64),
    };
    let selected = Selected {
        driver: IoDriver::Epoll,
        fallback,
    };
    Ok((
        IoHandle::with(Backend::Epoll(registry), WakeFd::Epoll(waker), selected),
        driver,
    ))
}

/// The io_uring reactor, or why it cannot run.
#[cfg(target_os = "linux")]
fn open_uring(runtime: Scheduling) -> Result<(IoHandle, Driver), String> {
    open_uring_with(uring::Ring::open()?, runtime)
}

#[cfg(target_os = "linux")]
fn open_uring_with(
    ring: uring::Ring,
    (runtime, multi_thread): Scheduling,
) -> Result<(IoHandle, Driver), String> {
    // std's Arc: the ring is shared with the kernel, not part of a loom model.
    let ring = std::sync::Arc::new(ring);
    let driver = Driver {
        kind: DriverKind::Uring(uring::Completions::new(ring.clone())),
        wakers: Vec::with_capacity(64),
    };
    let selected = Selected {
        driver: IoDriver::IoUring,
        fallback: None,
    };
    let backend = Backend::Uring {
        ring: ring.clone(),
        runtime,
        multi_thread,
    };
    Ok((
        IoHandle::with(backend, WakeFd::Uring(ring), selected),
        driver,
    ))
}

#[cfg(not(target_os = "linux"))]
fn open_uring(_runtime: Scheduling) -> Result<(IoHandle, Driver), String> {
    Err("io_uring is Linux-only".to_owned())
}

/// Whether the calling thread leaves its io_uring submissions to a later batch (`uring.rs` rule
/// 4): it schedules runtime `runtime`; a multi-thread worker notes that it owes a submission.
#[cfg(target_os = "linux")]
pub(crate) fn defers_submission((runtime, multi_thread): Scheduling) -> bool {
    if crate::runtime::context::driving_runtime() != Some(runtime) {
        return false;
    }
    if multi_thread {
        OWES_SUBMISSION.with(|o| o.set(true));
    }
    true
}

#[cfg(target_os = "linux")]
std::thread_local! {
    /// Set on a multi-thread worker that queued submissions it has not submitted yet.
    static OWES_SUBMISSION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The error every operation on a resource of a shut-down runtime returns.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other(
        "the tether runtime this I/O resource was registered with has shut down; create \
         sockets inside the runtime that uses them and keep that runtime alive while they are used",
    )
}

impl IoHandle {
    fn with(backend: Backend, waker: WakeFd, selected: Selected) -> IoHandle {
        IoHandle {
            backend,
            selected,
            registrations: Mutex::new(Registrations::new()),
            registered: AtomicUsize::new(0),
            unparker: Arc::new(Unparker {
                sleeping: AtomicBool::new(false),
                waker,
            }),
        }
    }

    /// The driver this reactor runs, and the reason of a fallback to epoll, if any.
    pub(crate) fn selected(&self) -> &Selected {
        &self.selected
    }

    /// Registers `source` for edge-triggered readiness in `interest`; returns its state and
    /// token (rules 1, 6). With `lazy`, the io_uring driver arms no poll until `arm_poll`.
    pub(crate) fn register(
        &self,
        source: &mut impl IoSource,
        interest: Interest,
        lazy: bool,
    ) -> io::Result<(Arc<ScheduledIo>, Token)> {
        #[cfg(not(target_os = "linux"))]
        let _ = lazy; // Only io_uring arms lazily.
        let sched = Arc::new(ScheduledIo::new());
        let mut regs = lock(&self.registrations);
        if regs.shutdown {
            return Err(shutdown_error());
        }
        let token = regs.vacant_token()?;
        #[cfg(target_os = "linux")]
        let mut submit_now = None;
        match &self.backend {
            Backend::Epoll(registry) => registry.register(source, token, interest)?,
            #[cfg(target_os = "linux")]
            Backend::Uring { ring, .. } => {
                if let Some(fd) = source.uring_fd().filter(|_| !lazy) {
                    let mask = uring::poll_mask(interest);
                    // Under the registrations lock (uring rule 3): the poll's completions are
                    // dispatched only once the registration below is in place.
                    ring.push(&uring::arm_entry(fd, mask, token))?;
                    let inserted = regs.insert(sched.clone());
                    debug_assert_eq!(inserted, token);
                    regs.polls[unpack(token).0] = Some((fd, mask));
                    self.registered.store(regs.slab.len(), Ordering::Release);
                    // Uring rule 4: a thread scheduling this runtime submits later, in a batch.
                    if !self.defers_submission() {
                        submit_now = Some(ring.clone());
                    }
                }
            }
        }
        if regs.get(token).is_none() {
            let inserted = regs.insert(sched.clone());
            debug_assert_eq!(inserted, token);
            self.registered.store(regs.slab.len(), Ordering::Release);
        }
        drop(regs);
        #[cfg(target_os = "linux")]
        if let Some(ring) = submit_now {
            if ring.submit().is_err() {
                // Queued; the driver submits it at its next turn, which this makes happen now.
                self.unparker.force_unpark();
            }
        }
        Ok((sched, token))
    }

    /// Whether this reactor runs on io_uring.
    pub(crate) fn is_uring(&self) -> bool {
        !matches!(self.backend, Backend::Epoll(_))
    }

    /// Arms the poll of the lazy registration `token` (`PollEvented::new_lazy`), once: as a
    /// registration's own arm (uring rules 3, 4).
    #[cfg(target_os = "linux")]
    /// Returns false if the poll could not be queued (the queue stays full): the next wait
    /// tries again.
    pub(crate) fn arm_poll(
        &self,
        token: Token,
        fd: std::os::fd::RawFd,
        interest: Interest,
    ) -> bool {
        let Backend::Uring { ring, .. } = &self.backend else {
            return true;
        };
        let mut regs = lock(&self.registrations);
        if regs.get(token).is_none() || regs.poll_of(token).is_some() {
            return true;
        }
        let mask = uring::poll_mask(interest);
        if ring.push(&uring::arm_entry(fd, mask, token)).is_err() {
            return false;
        }
        regs.polls[unpack(token).0] = Some((fd, mask));
        drop(regs);
        if !self.defers_submission() && ring.submit().is_err() {
            self.unparker.force_unpark();
        }
        true
    }

    /// Deregisters `source` and forgets the registration `token` names (rule 3).
    pub(crate) fn deregister(&self, source: &mut impl IoSource, token: Token) {
        // Irrefutable where io_uring is not built (not Linux).
        #[allow(irrefutable_let_patterns)]
        if let Backend::Epoll(registry) = &self.backend {
            // Deregistering fails only if the descriptor was never registered or is already
            // closed; either way nothing more will arrive for it.
            let _ = registry.deregister(source);
        }
        let removed = {
            let mut regs = lock(&self.registrations);
            #[cfg(target_os = "linux")]
            if let Backend::Uring { ring, .. } = &self.backend {
                // Uring rules 3 and 4: the removal is queued under the lock and submitted at once.
                if regs.poll_of(token).is_some() {
                    if let Err(e) = ring
                        .push(&uring::remove_entry(token))
                        .and_then(|()| ring.submit())
                    {
                        // The poll keeps the file open until the ring closes; nothing else leaks.
                        debug_assert!(false, "tether: failed to remove an io_uring poll: {e}");
                    }
                }
            }
            let removed = regs.remove(token);
            self.registered.store(regs.slab.len(), Ordering::Release);
            removed
        };
        drop(removed);
    }

    /// The ring completion operations are submitted to, and whether the calling thread must
    /// submit at once (`uring.rs` rule 4); `None` on epoll, or when the kernel lacks what the
    /// operations use (`uring.rs`, `ops_usable`).
    #[cfg(target_os = "linux")]
    pub(crate) fn uring_for_ops(&self) -> Option<(&std::sync::Arc<uring::Ring>, bool)> {
        match &self.backend {
            Backend::Uring { ring, .. } if uring::ops_usable() => {
                Some((ring, !self.defers_submission()))
            }
            _ => None,
        }
    }

    /// Whether the calling thread leaves what it queues on the ring to be submitted later in a
    /// batch (`uring.rs` rule 4): it schedules this runtime. A multi-thread runtime's worker
    /// notes that it owes a submission, which it makes at its next scheduling point
    /// (`flush_submissions`).
    #[cfg(target_os = "linux")]
    fn defers_submission(&self) -> bool {
        match &self.backend {
            Backend::Uring {
                runtime,
                multi_thread,
                ..
            } => defers_submission((*runtime, *multi_thread)),
            Backend::Epoll(_) => false,
        }
    }

    /// The runtime this io_uring reactor serves and whether it is multi-threaded.
    #[cfg(target_os = "linux")]
    pub(crate) fn scheduling(&self) -> Option<Scheduling> {
        match &self.backend {
            Backend::Uring {
                runtime,
                multi_thread,
                ..
            } => Some((*runtime, *multi_thread)),
            Backend::Epoll(_) => None,
        }
    }

    /// A multi-thread worker's scheduling point (before it looks for work elsewhere, parks,
    /// or every `event_interval` ticks): submits what it queued on the ring (`uring.rs` rule 4).
    #[inline]
    pub(crate) fn flush_submissions(&self) {
        #[cfg(target_os = "linux")]
        if OWES_SUBMISSION.with(|o| o.replace(false)) {
            if let Backend::Uring { ring, .. } = &self.backend {
                if ring.submit().is_err() {
                    self.unparker.force_unpark();
                }
            }
        }
    }

    /// Marks every registration shut down and wakes their waiters (rule 4).
    pub(crate) fn shutdown(&self) {
        #[cfg(target_os = "linux")]
        if let Backend::Uring { ring, .. } = &self.backend {
            // `uring_op.rs` rule 6.
            crate::io::uring_op::lock(&ring.ops).close();
        }
        let mut wakers = Vec::new();
        {
            let mut regs = lock(&self.registrations);
            regs.shutdown = true;
            for (_, io) in regs.slab.iter() {
                io.shutdown(&mut wakers);
            }
        }
        #[cfg(target_os = "linux")]
        if let Backend::Uring { ring, .. } = &self.backend {
            // `uring_op.rs` rule 10: after the registrations are marked, so a waiter that
            // registers after its handler gave up its wakers sees the shutdown.
            let handlers = crate::io::uring_op::lock(&ring.ops).handlers();
            for h in &handlers {
                h.shut_down(&mut wakers);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Applies a turn's io_uring completions (rules 2, 3; uring rules 3, 6, 7); returns how many
    /// reached a live registration.
    #[cfg(target_os = "linux")]
    fn dispatch_uring(&self, c: &mut uring::Completions, wakers: &mut Vec<Waker>) -> u64 {
        use crate::io::scheduled_io::{
            ready_from_poll, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED,
        };
        if c.batch.is_empty() && c.backlog.is_empty() {
            return 0;
        }
        let mut n = 0;
        // Completion operations first, under their table's lock alone (`uring_op.rs` rule 4).
        if c.batch
            .iter()
            .any(|&(data, _, _)| crate::io::uring_op::is_op(data))
        {
            use crate::io::uring_op::{self, Dispatched};
            let mut released = Vec::new();
            let mut handled = std::mem::take(&mut c.handled);
            let mut ops = uring_op::lock(&c.ring.ops);
            c.batch.retain(|&(data, res, flags)| {
                if !uring_op::is_op(data) {
                    return true;
                }
                match ops.dispatch(data, res, flags) {
                    Dispatched::Wake(waker) => {
                        wakers.extend(waker);
                        n += 1;
                    }
                    Dispatched::Release(r) => released.push(r),
                    Dispatched::Handle(handler, kind, last) => {
                        handled.push((handler, kind, res, flags, last));
                        n += 1;
                    }
                    Dispatched::Unknown => {}
                }
                false
            });
            drop(ops);
            drop(released);
            // `uring_op.rs` rules 7, 8: handlers run with the table's lock released, in order.
            for (handler, kind, res, flags, last) in handled.drain(..) {
                handler.complete(&c.ring, kind, res, flags, last, wakers);
            }
            c.handled = handled;
        }
        let regs = lock(&self.registrations);
        let backlog = std::mem::take(&mut c.backlog);
        let rearm = |token: Token, backlog: &mut Vec<Token>| {
            if let Some((fd, mask)) = regs.poll_of(token) {
                if c.ring.push(&uring::arm_entry(fd, mask, token)).is_err() {
                    backlog.push(token);
                }
            }
        };
        let mut new_backlog = Vec::new();
        for token in backlog {
            rearm(token, &mut new_backlog);
        }
        for &(data, res, flags) in &c.batch {
            let token = Token(data as usize);
            let Some(io) = regs.get(token) else {
                continue; // Rule 3: a registration that is gone.
            };
            if res >= 0 {
                let ready = ready_from_poll(res as u32);
                io.set_readiness(ready);
                io.take_wakers(ready, wakers);
                n += 1;
            } else if res != -libc::ECANCELED {
                // Uring rule 6: the poll failed for good; let the waiters meet the error.
                let all = READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR;
                io.set_readiness(all);
                io.take_wakers(all, wakers);
                n += 1;
                continue;
            }
            if !io_uring::cqueue::more(flags) {
                rearm(token, &mut new_backlog);
            }
        }
        drop(regs);
        c.backlog = new_backlog;
        n
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
    /// At shutdown, after the runtime's tasks are dropped and `IoHandle::shutdown`: cancels the
    /// io_uring operations whose futures still exist and turns until their completions are
    /// dispatched, for at most `SETTLE_DEADLINE` (`uring_op.rs` rule 9). The caller is the
    /// thread that turns this driver.
    pub(crate) fn settle_at_shutdown(&mut self, rt: &RuntimeShared) {
        #[cfg(target_os = "linux")]
        if let Backend::Uring { ring, .. } = &rt.io.backend {
            use crate::io::uring_op::{cancel_entry, lock as lock_ops, SETTLE_DEADLINE};
            let ring = ring.clone();
            let pending = lock_ops(&ring.ops).in_flight();
            if !pending.is_empty() {
                for data in &pending {
                    // One that cannot be queued completes, or not, on its own.
                    let _ = ring.push(&cancel_entry(*data));
                }
                let _ = ring.submit();
                let until = std::time::Instant::now() + SETTLE_DEADLINE;
                loop {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() || lock_ops(&ring.ops).in_flight().is_empty() {
                        break;
                    }
                    self.turn(rt, Some(left.min(Duration::from_millis(10))));
                }
            }
            lock_ops(&ring.ops).mark_settled();
        }
        #[cfg(not(target_os = "linux"))]
        let _ = rt;
    }

    /// Waits up to `timeout` (forever if `None`) for I/O events, then fires due timers, and
    /// wakes every task that became ready.
    pub(crate) fn turn(&mut self, rt: &RuntimeShared, timeout: Option<Duration>) {
        let n = match &mut self.kind {
            DriverKind::Epoll { poll, events } => {
                if timeout == Some(Duration::ZERO) && rt.io.registered.load(Ordering::Acquire) == 0
                {
                    // Rule 5: nothing could be ready.
                    events.clear();
                } else {
                    match poll.poll(events, timeout) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            panic!(
                                "tether: the reactor failed to wait for events (epoll_wait): {e}"
                            )
                        }
                    }
                }
                rt.io.dispatch(events, &mut self.wakers)
            }
            #[cfg(target_os = "linux")]
            DriverKind::Uring(c) => {
                c.wait(timeout);
                rt.io.dispatch_uring(c, &mut self.wakers)
            }
        };
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
        let (handle, mut driver) = new_epoll(None).unwrap();
        // Irrefutable where io_uring is not built (not Linux).
        #[allow(irrefutable_let_patterns)]
        let DriverKind::Epoll { poll, events } = &mut driver.kind
        else {
            unreachable!("new_epoll makes an epoll driver")
        };
        let (mut old, old_peer) = UnixStream::pair().unwrap();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let (_old_io, old_token) = handle.register(&mut old, interest, false).unwrap();

        // The peer hangs up; the driver receives the event, as a worker in `epoll_wait` would.
        drop(old_peer);
        poll.poll(events, Some(Duration::from_secs(10))).unwrap();
        let hang_up = events.iter().find(|ev| ev.token() == old_token);
        assert!(hang_up.is_some_and(|ev| ev.is_read_closed()));

        // Before it dispatches, another thread frees the key and a new connection takes it.
        handle.deregister(&mut old, old_token);
        let (mut new, _new_peer) = UnixStream::pair().unwrap();
        let (new_io, new_token) = handle.register(&mut new, interest, false).unwrap();
        assert_eq!(
            unpack(new_token).0,
            unpack(old_token).0,
            "the key is reused"
        );
        assert_ne!(new_token, old_token);

        let mut wakers = Vec::new();
        let applied = handle.dispatch(events, &mut wakers);
        assert!(
            new_io.ready_now(Direction::Read).is_none(),
            "the stale hang-up marked the new registration readable or closed"
        );
        assert!(new_io.ready_now(Direction::Write).is_none());
        assert_eq!(applied, 0, "the stale event is dropped");

        // Its own events still arrive.
        poll.poll(events, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(handle.dispatch(events, &mut wakers), 1);
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

/// The io_uring driver's own cases, below the runtime (whatever `TETHER_IO_DRIVER` says).
#[cfg(all(test, target_os = "linux", not(tether_loom), not(miri)))]
mod uring_tests {
    use super::*;
    use crate::io::scheduled_io::Direction;
    use mio::net::UnixStream;
    use std::io::Write;

    /// A reactor on a ring of `sq` submission and `cq` completion entries; `None` (the case is
    /// skipped) only where `TETHER_IO_DRIVER=epoll` says io_uring is not to be used here. A
    /// refusing kernel otherwise fails the case, naming the reason, so that a broken probe
    /// cannot pass as a skip.
    fn uring_reactor(sq: u32, cq: u32) -> Option<(IoHandle, Driver)> {
        if std::env::var(ENV_VAR).as_deref() == Ok("epoll") {
            return None;
        }
        let ring = uring::Ring::open_sized(sq, cq).unwrap_or_else(|reason| {
            panic!("io_uring refused ({reason}); set {ENV_VAR}=epoll on a machine without it")
        });
        Some(open_uring_with(ring, (crate::runtime::RuntimeId::next(), false)).unwrap())
    }

    fn turn(handle: &IoHandle, driver: &mut Driver, timeout: Option<Duration>) -> u64 {
        let DriverKind::Uring(c) = &mut driver.kind else {
            unreachable!("an io_uring reactor")
        };
        c.wait(timeout);
        let mut wakers = Vec::new();
        handle.dispatch_uring(c, &mut wakers)
    }

    /// Uring rule 2: only a holder of `Ring::sq` writes the submission queue's tail. A turn
    /// that may not wait asks whether it must enter the kernel; it used to read the queue
    /// through a view whose drop writes the tail back, unlocked, so a registration pushed on
    /// another thread meanwhile was erased from the queue: its poll never armed, its socket
    /// never heard of (the fault suite's hang on io_uring: a socket pair's reader waited
    /// forever). Here a thread registers sockets while the driver turns without waiting, as a
    /// worker between tasks does; every registration must hear its socket is writable.
    #[test]
    fn a_registration_pushed_while_the_driver_turns_is_not_lost() {
        let Some((handle, mut driver)) = uring_reactor(256, 4096) else {
            return;
        };
        let done = std::sync::atomic::AtomicBool::new(false);
        let regs = std::thread::scope(|s| {
            let registrar = s.spawn(|| {
                let regs: Vec<_> = (0..2_000)
                    .map(|_| {
                        let (mut a, b) = UnixStream::pair().unwrap();
                        let (io, token) = handle
                            .register(&mut a, Interest::READABLE | Interest::WRITABLE, false)
                            .unwrap();
                        (a, b, io, token)
                    })
                    .collect();
                done.store(true, Ordering::Release);
                regs
            });
            while !done.load(Ordering::Acquire) {
                turn(&handle, &mut driver, Some(Duration::ZERO));
            }
            registrar.join().unwrap()
        });
        let deaf = |regs: &[(UnixStream, UnixStream, Arc<ScheduledIo>, Token)]| {
            regs.iter()
                .filter(|r| r.2.ready_now(Direction::Write).is_none())
                .count()
        };
        for _ in 0..100 {
            if deaf(&regs) == 0 {
                break;
            }
            turn(&handle, &mut driver, Some(Duration::from_millis(10)));
        }
        assert_eq!(deaf(&regs), 0, "registrations whose poll was never armed");
        for (mut a, _b, _io, token) in regs {
            handle.deregister(&mut a, token);
        }
    }

    /// Ring overflow: more completions in one go than the completion queue holds. The kernel
    /// keeps the rest (`IORING_FEAT_NODROP`) and later turns deliver them: every registration
    /// hears of its readiness, none is lost.
    #[test]
    fn more_completions_than_the_ring_holds_are_all_delivered() {
        let Some((handle, mut driver)) = uring_reactor(8, 16) else {
            return;
        };
        let mut pairs = Vec::new();
        for _ in 0..200 {
            let (mut a, b) = UnixStream::pair().unwrap();
            let (io, token) = handle
                .register(&mut a, Interest::READABLE | Interest::WRITABLE, false)
                .unwrap();
            pairs.push((a, b, io, token));
        }
        // Every socket is writable at once: 200 completions for a ring of 16.
        let mut turns = 0;
        while pairs
            .iter()
            .any(|p| p.2.ready_now(Direction::Write).is_none())
        {
            turns += 1;
            assert!(turns < 1000, "completions were lost in the overflow");
            turn(&handle, &mut driver, Some(Duration::from_secs(10)));
        }
        assert!(turns > 1, "200 completions cannot fit one ring of 16");
        // The polls survived the overflow (or were re-armed): new data is still heard of.
        for p in &mut pairs {
            p.1.write_all(b"x").unwrap();
        }
        let mut turns = 0;
        while pairs
            .iter()
            .any(|p| p.2.ready_now(Direction::Read).is_none())
        {
            turns += 1;
            assert!(turns < 1000, "readiness after the overflow was lost");
            turn(&handle, &mut driver, Some(Duration::from_secs(10)));
        }
        for (mut a, _b, _io, token) in pairs {
            handle.deregister(&mut a, token);
        }
    }

    /// Multishot polls are edge-triggered, as epoll with `EPOLLET`: a readable socket that is not
    /// drained does not post a completion at every turn (which would spin the scheduler).
    #[test]
    fn an_undrained_readable_socket_is_reported_once_per_edge() {
        let Some((handle, mut driver)) = uring_reactor(64, 128) else {
            return;
        };
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let (io, token) = handle.register(&mut a, Interest::READABLE, false).unwrap();
        b.write_all(b"data").unwrap();
        assert!(turn(&handle, &mut driver, Some(Duration::from_secs(10))) >= 1);
        assert!(io.ready_now(Direction::Read).is_some());
        for _ in 0..3 {
            assert_eq!(
                turn(&handle, &mut driver, Some(Duration::from_millis(1))),
                0,
                "a level-triggered report of the same readiness"
            );
        }
        // A new edge is reported.
        b.write_all(b"more").unwrap();
        assert_eq!(turn(&handle, &mut driver, Some(Duration::from_secs(10))), 1);
        handle.deregister(&mut a, token);
    }

    /// A poll armed on a ready socket and removed in the same submission (its first completion
    /// being posted as the removal runs) is still removed: the file is freed. (`POLL_REMOVE`
    /// failed with `EALREADY` there and left the poll armed, and the peer never saw EOF.)
    #[test]
    fn a_poll_removed_in_its_own_submission_frees_the_file() {
        let Some((handle, _driver)) = uring_reactor(64, 128) else {
            return;
        };
        let Backend::Uring { ring, .. } = &handle.backend else {
            unreachable!("an io_uring reactor")
        };
        let (a, peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let token = Token(7);
        let mask = uring::poll_mask(Interest::READABLE | Interest::WRITABLE);
        ring.push(&uring::arm_entry(
            std::os::fd::AsRawFd::as_raw_fd(&a),
            mask,
            token,
        ))
        .unwrap();
        ring.push(&uring::remove_entry(token)).unwrap();
        ring.submit().unwrap();
        drop(a);
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &peer, &mut buf).unwrap(), 0);
    }

    /// `uring_op.rs` rules 1 and 4: a turn routes an operation's completion to the operation
    /// table (recording the result, waking its future) and never to the registration whose
    /// token has the same low bits; a completion for an orphaned operation releases its
    /// resources.
    #[test]
    fn a_turn_routes_operation_completions_to_the_table_not_to_registrations() {
        use crate::io::uring_op::{self, Orphan};
        use std::sync::atomic::AtomicUsize;
        let Some((handle, mut driver)) = uring_reactor(64, 128) else {
            return;
        };
        let (mut a, _peer) = UnixStream::pair().unwrap();
        let (io, token) = handle.register(&mut a, Interest::READABLE, false).unwrap();
        let DriverKind::Uring(c) = &mut driver.kind else {
            unreachable!("an io_uring reactor")
        };
        let ring = c.ring.clone();
        struct Freed(std::sync::Arc<AtomicUsize>);
        impl Drop for Freed {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let freed = std::sync::Arc::new(AtomicUsize::new(0));
        let awaited = uring_op::lock(&ring.ops)
            .insert(Box::new(Freed(freed.clone())), Orphan::Ignore)
            .unwrap_or_else(|_| panic!("the table is open"));
        let orphan = uring_op::lock(&ring.ops)
            .insert(Box::new(Freed(freed.clone())), Orphan::Ignore)
            .unwrap_or_else(|_| panic!("the table is open"));
        assert!(matches!(
            uring_op::lock(&ring.ops).abandon(orphan),
            uring_op::Abandoned::InFlight
        ));
        // The operations' names share their low bits with the registration's token.
        assert_eq!(awaited as u32, token.0 as u32);
        let woken = std::sync::Arc::new(AtomicUsize::new(0));
        struct CountWake(std::sync::Arc<AtomicUsize>);
        impl std::task::Wake for CountWake {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let waker = Waker::from(std::sync::Arc::new(CountWake(woken.clone())));
        assert!(uring_op::lock(&ring.ops).poll(awaited, &waker).is_none());
        c.batch.clear();
        c.batch.push((awaited, 4096, 0));
        c.batch.push((orphan, -libc::ECANCELED, 0));
        let mut wakers = Vec::new();
        assert_eq!(handle.dispatch_uring(c, &mut wakers), 1);
        wakers.drain(..).for_each(Waker::wake);
        assert_eq!(
            woken.load(Ordering::SeqCst),
            1,
            "the awaiting future is woken"
        );
        assert_eq!(
            freed.load(Ordering::SeqCst),
            1,
            "the orphan is released, not the other"
        );
        assert!(
            io.ready_now(Direction::Read).is_none(),
            "no registration saw it"
        );
        let (res, _, r) = uring_op::lock(&ring.ops).poll(awaited, &waker).unwrap();
        assert_eq!(res, 4096);
        drop(r);
        assert_eq!(freed.load(Ordering::SeqCst), 2);
        handle.deregister(&mut a, token);
    }

    /// Rule 3 on the ring: after deregistration, the poll is removed (nothing more arrives for
    /// the token, the key's next registration hears only its own events), and the removal frees
    /// the file: the peer sees the hang-up once the descriptor is closed.
    #[test]
    fn deregistering_removes_the_poll_and_frees_the_file() {
        let Some((handle, mut driver)) = uring_reactor(64, 128) else {
            return;
        };
        let (mut a, peer) = UnixStream::pair().unwrap();
        let (_io, token) = handle
            .register(&mut a, Interest::READABLE | Interest::WRITABLE, false)
            .unwrap();
        turn(&handle, &mut driver, Some(Duration::from_secs(10)));
        handle.deregister(&mut a, token);
        drop(a);
        // The peer sees EOF: no armed poll holds the file open.
        let mut std_peer: std::os::unix::net::UnixStream = {
            use std::os::fd::{FromRawFd, IntoRawFd};
            // SAFETY: the descriptor comes from `peer`, which gives up ownership.
            unsafe { std::os::unix::net::UnixStream::from_raw_fd(peer.into_raw_fd()) }
        };
        std_peer.set_nonblocking(false).unwrap();
        std_peer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut std_peer, &mut buf).unwrap(), 0);
        // A new registration at the same key hears nothing of the old one.
        let (mut c, _c_peer) = UnixStream::pair().unwrap();
        let (new_io, new_token) = handle.register(&mut c, Interest::READABLE, false).unwrap();
        assert_eq!(unpack(new_token).0, unpack(token).0, "the key is reused");
        turn(&handle, &mut driver, Some(Duration::from_millis(1)));
        assert!(new_io.ready_now(Direction::Read).is_none());
        std_peer.write_all(b"x").ok();
        handle.deregister(&mut c, new_token);
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
