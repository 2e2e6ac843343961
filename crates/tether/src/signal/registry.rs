//! The process-wide half of signal handling: one slot per signal number, the OS handler that
//! records deliveries, and the socket that tells runtimes about them.
//!
//! # Protocol
//!
//! 1. [`Globals`] is created once (a `OnceLock`) before any handler is installed, and is never
//!    dropped, so the handler always finds it fully built.
//! 2. The handler ([`on_signal`]) only stores `true` into the signal's `pending` flag and then
//!    writes one byte to `write_fd` (non-blocking; a full socket is fine, it already holds a byte
//!    that will wake a reader). Both are async-signal-safe; nothing allocates, locks or panics.
//! 3. Whoever reads the socket ([`Globals::deliver`]) first drains it, then swaps every `pending`
//!    flag to `false`, and for each one that was set bumps the slot's `generation` and wakes the
//!    listeners stored in `listeners`. Draining before swapping means a signal is never lost: one
//!    that arrives after the swap writes a new byte, which wakes a reader again.
//! 4. A listener remembers the `generation` it has seen. It stores its waker under the
//!    `listeners` lock and re-reads `generation` under that lock; a deliverer bumps `generation`
//!    before taking the lock, so the listener either sees the bump or its waker is taken.
//! 5. A handler is installed at most once per signal (under `installed`) and never removed.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
// std's primitives, not the loom shim's: they live in a process-wide static (rule 1), which
// outlives any loom model, and the handler needs plain atomics (rule 2).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, Weak};
use std::task::Waker;

use slab::Slab;

use super::driver::RuntimeDriver;
use crate::loom::lock;

/// What the process knows about one signal number.
pub(super) struct Slot {
    /// Set by the handler, cleared by the deliverer (rules 2, 3).
    pending: AtomicBool,
    /// How many deliveries listeners were told about (rules 3, 4).
    pub(super) generation: AtomicU64,
    /// Whether the OS handler is installed; the lock serializes installing it (rule 5).
    installed: Mutex<bool>,
    /// The waker of each listener of this signal that waits, by listener key. Holding the lock
    /// means no deliverer can take the wakers (rule 4).
    pub(super) listeners: Mutex<Slab<Option<Waker>>>,
}

/// The process-wide signal state (rule 1).
pub(super) struct Globals {
    /// Indexed by signal number, `0..=highest_signal()` (slot 0 is unused).
    slots: Box<[Slot]>,
    /// The write end of the socket pair, as the handler uses it (owned by `_sender`).
    write_fd: RawFd,
    /// Keeps `write_fd` open for the life of the process.
    _sender: UnixStream,
    /// The read end; each runtime's driver registers a duplicate of it (same file description).
    pub(super) receiver: UnixStream,
    /// The driver of each runtime that has listeners, if still alive. Holding the lock means no
    /// other driver is created for the same runtime meanwhile.
    pub(super) drivers: Mutex<Vec<Weak<RuntimeDriver>>>,
}

static GLOBALS: OnceLock<Globals> = OnceLock::new();

/// The signals `signal-hook-registry` refuses (and that cannot sensibly be handled).
const FORBIDDEN: &[(libc::c_int, &str)] = &[
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGSEGV, "SIGSEGV"),
];

/// The highest signal number of this system: Linux's `SIGRTMAX` (a function: the C library
/// keeps a few real-time signals for itself).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn highest_signal() -> libc::c_int {
    libc::SIGRTMAX().max(libc::SIGSYS)
}

/// The highest signal number of this system: FreeBSD's `SIGRTMAX` (126, from `<sys/signal.h>`;
/// the `libc` crate does not export it). Numbers 34 to 64 are not signals: `sigaction` refuses
/// them, and listening for one fails with that error.
#[cfg(target_os = "freebsd")]
fn highest_signal() -> libc::c_int {
    126
}

/// The highest signal number of this system: the classic set ends at `SIGUSR2` (31) on macOS
/// and the other BSDs, which have no real-time signals.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn highest_signal() -> libc::c_int {
    libc::SIGUSR2.max(libc::SIGSYS)
}

impl Globals {
    /// The process-wide state, created on first use.
    pub(super) fn get() -> io::Result<&'static Globals> {
        if let Some(g) = GLOBALS.get() {
            return Ok(g);
        }
        let fresh = Globals::new()?;
        // If another thread won the race, `fresh` (and its sockets) is dropped here.
        Ok(GLOBALS.get_or_init(|| fresh))
    }

    fn new() -> io::Result<Globals> {
        // `UnixStream::pair` creates both ends close-on-exec: child processes do not inherit them.
        let (sender, receiver) = UnixStream::pair()?;
        sender.set_nonblocking(true)?;
        receiver.set_nonblocking(true)?;
        let slots = (0..=highest_signal())
            .map(|_| Slot {
                pending: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                installed: Mutex::new(false),
                listeners: Mutex::new(Slab::new()),
            })
            .collect();
        Ok(Globals {
            slots,
            write_fd: sender.as_raw_fd(),
            _sender: sender,
            receiver,
            drivers: Mutex::new(Vec::new()),
        })
    }

    /// The slot of `signum`, or an error saying why it cannot be listened for.
    pub(super) fn slot(&self, signum: libc::c_int) -> io::Result<&Slot> {
        if let Some((_, name)) = FORBIDDEN.iter().find(|(n, _)| *n == signum) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {signum} ({name}) cannot be listened for: the OS does not let a \
                     program catch it, or catching it cannot be done safely"
                ),
            ));
        }
        match usize::try_from(signum).ok().and_then(|i| self.slots.get(i)) {
            Some(slot) if signum > 0 => Ok(slot),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{signum} is not a signal number on this system (valid: 1..={})",
                    self.slots.len() - 1
                ),
            )),
        }
    }

    /// The slot of a signal already validated by [`Globals::slot`].
    pub(super) fn slot_of(&self, signum: libc::c_int) -> &Slot {
        &self.slots[signum as usize]
    }

    /// Installs the OS handler for `signum` unless it already is (rule 5).
    pub(super) fn install(&'static self, signum: libc::c_int) -> io::Result<()> {
        let slot = self.slot(signum)?;
        let mut installed = lock(&slot.installed);
        if *installed {
            return Ok(());
        }
        // SAFETY: the action runs inside a signal handler, so it must be async-signal-safe and
        // must not panic. `on_signal` reads the `OnceLock` (an atomic load: `Globals` is fully
        // built before any handler exists, rule 1, and is never dropped), indexes the slot table
        // with a checked `get`, stores into an `AtomicBool` (lock-free on every Unix target
        // tether builds for), and calls `write(2)`, which POSIX lists as async-signal-safe, on a
        // descriptor that stays open forever. It does not allocate, lock, or panic. `signal-hook-registry` saves and
        // restores `errno` around it, so the interrupted code does not see `write`'s errno.
        // `signum` is not forbidden: `slot` refused those above.
        unsafe { signal_hook_registry::register(signum, move || on_signal(signum)) }.map_err(
            |e| {
                io::Error::new(
                    e.kind(),
                    format!("could not install a handler for signal {signum}: {e}"),
                )
            },
        )?;
        *installed = true;
        Ok(())
    }

    /// Drains the socket through `read` (which reads the receiver or a duplicate of it), then
    /// tells the listeners of every signal that arrived (rule 3).
    ///
    /// Returns the error that stopped draining, `WouldBlock` when the socket is empty.
    pub(super) fn deliver(
        &self,
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Error {
        let mut buf = [0u8; 64];
        let err = loop {
            match read(&mut buf) {
                // The write end lives as long as the process; treat a surprise end like a stop.
                Ok(0) => break io::Error::from(io::ErrorKind::UnexpectedEof),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break e,
            }
        };
        let mut wakers = Vec::new();
        for slot in self.slots.iter() {
            if slot.pending.swap(false, Ordering::SeqCst) {
                slot.generation.fetch_add(1, Ordering::SeqCst);
                let mut listeners = lock(&slot.listeners);
                wakers.extend(listeners.iter_mut().filter_map(|(_, w)| w.take()));
            }
        }
        wakers.into_iter().for_each(Waker::wake);
        err
    }

    /// Delivers whatever arrived so far, reading the original receiver (used when a listener is
    /// created, so that it does not see signals that arrived before it).
    pub(super) fn deliver_now(&self) {
        let _ = self.deliver(|buf| (&self.receiver).read(buf));
    }

    /// Wakes every waiting listener of every signal (when a runtime shuts down, so that its
    /// listeners notice; the others wake spuriously and wait again).
    pub(super) fn wake_all(&self) {
        let mut wakers = Vec::new();
        for slot in self.slots.iter() {
            let mut listeners = lock(&slot.listeners);
            wakers.extend(listeners.iter_mut().filter_map(|(_, w)| w.take()));
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The signal handler's action (rule 2): async-signal-safe, see the `SAFETY` argument at its
/// registration in [`Globals::install`].
fn on_signal(signum: libc::c_int) {
    let Some(globals) = GLOBALS.get() else {
        return;
    };
    let Some(slot) = usize::try_from(signum)
        .ok()
        .and_then(|i| globals.slots.get(i))
    else {
        return;
    };
    slot.pending.store(true, Ordering::SeqCst);
    let byte = 1u8;
    // SAFETY: `write_fd` is open for the life of the process (owned by `Globals::_sender`, never
    // dropped) and `byte` is a valid one-byte buffer for the duration of the call. The result is
    // ignored on purpose: `EAGAIN` means the socket already holds unread bytes (rule 2).
    let _ = unsafe { libc::write(globals.write_fd, (&byte as *const u8).cast(), 1) };
}
