//! Unix signals by kind: [`signal`] creates a [`Signal`] listener.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::panic::Location;
use std::pin::Pin;
// std's, as the registry's atomics (a process-wide static) and the driver's `Arc` (it has `Weak`s).
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::driver::RuntimeDriver;
use super::registry::Globals;
use crate::io::poll_evented::check_driven_elsewhere;
use crate::loom::lock;
use crate::runtime::context;
use crate::task::coop;

/// Which Unix signal a [`Signal`] listens for.
///
/// The constructors name the common signals; [`SignalKind::from_raw`] takes any signal number.
///
/// # Examples
///
/// ```
/// use tether::signal::unix::SignalKind;
///
/// assert_eq!(SignalKind::interrupt(), SignalKind::from_raw(libc::SIGINT));
/// assert_eq!(SignalKind::user_defined1().as_raw_value(), libc::SIGUSR1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// The signal with number `signum` (for example `libc::SIGWINCH`).
    ///
    /// Any number is accepted here; [`signal`] refuses those that are not signals or cannot be
    /// handled (`SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// `SIGINT`: the terminal's interrupt key (Ctrl-C).
    ///
    /// Listening for it replaces the default behaviour (terminating the process) for the rest
    /// of the process; see the [module docs](crate::signal).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM`: a polite request to terminate (what `kill PID` and service managers send).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP`: the terminal hung up; daemons often take it as "reload the configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGUSR1`: the first signal without a predefined meaning.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`: the second signal without a predefined meaning.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGCHLD`: a child process stopped or exited.
    ///
    /// [`process::Child::wait`](crate::process::Child::wait) does not need it: it waits on the
    /// child's pidfd.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }
}

/// A listener for one kind of Unix signal, created by [`signal`].
///
/// Every listener receives every delivery of its signal that happens after it was created:
/// several listeners of one signal, in one runtime or several, are each woken. Deliveries that
/// arrive while a listener is not waiting are kept, but coalesced: [`recv`](Signal::recv)
/// returns once for any number of deliveries since the previous `recv`, as the operating system
/// itself merges signals that are pending at the same time.
///
/// The listener belongs to the runtime it was created in: that runtime's reactor watches for
/// signals on its behalf (see the [module docs](crate::signal) for several runtimes). Once that
/// runtime has shut down, `recv` returns `None`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::signal::unix::{signal, SignalKind};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut first = signal(SignalKind::user_defined1())?;
///     let mut second = signal(SignalKind::user_defined1())?;
///     // Send ourselves SIGUSR1, as `kill -USR1 <pid>` would.
///     // SAFETY: `raise` has no memory-safety preconditions.
///     unsafe { libc::raise(libc::SIGUSR1) };
///     let both = futures_lite::future::zip(first.recv(), second.recv());
///     let got = tether::time::timeout(Duration::from_secs(10), both).await;
///     assert_eq!(got.expect("SIGUSR1 did not arrive"), (Some(()), Some(())));
///     Ok(())
/// }
/// ```
pub struct Signal {
    globals: &'static Globals,
    signum: libc::c_int,
    /// This listener's entry in its slot's `listeners`.
    key: usize,
    /// The slot's `generation` this listener has reported (registry rule 4).
    seen: u64,
    /// The driver of the runtime this listener belongs to; `None` until first polled for a
    /// listener created by `ctrl_c` outside any runtime poll.
    driver: Option<Arc<RuntimeDriver>>,
}

/// Creates a listener for the signal `kind` in the current runtime.
///
/// The first listener of a signal installs the process's handler for it; the handler stays
/// installed for the rest of the process, even after every listener is dropped. For `SIGINT`,
/// `SIGTERM`, `SIGHUP` and the user signals, whose default action terminates the process, this
/// means the process no longer terminates when it receives them: it is up to the program to do
/// so (see the [module docs](crate::signal)).
///
/// # Errors
///
/// Fails for numbers that are not signals on this system, for `SIGKILL` and `SIGSTOP` (which
/// cannot be caught), for `SIGILL`, `SIGFPE` and `SIGSEGV` (which cannot be caught safely), and
/// when the process runs out of file descriptors.
///
/// # Panics
///
/// Panics when called outside a tether runtime.
///
/// # Examples
///
/// ```
/// use tether::signal::unix::{signal, SignalKind};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut hangups = signal(SignalKind::hangup())?;
///     // SAFETY: `raise` has no memory-safety preconditions.
///     unsafe { libc::raise(libc::SIGHUP) };
///     assert_eq!(hangups.recv().await, Some(()));
///
///     let err = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
///     Ok(())
/// }
/// ```
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let location = Location::caller();
    let Some(handle) = context::current_handle() else {
        crate::task::no_runtime_panic("tether::signal::unix::signal", location)
    };
    let mut listener = Signal::new_unattached(kind)?;
    listener.driver = Some(RuntimeDriver::of(listener.globals, &handle)?);
    Ok(listener)
}

impl Signal {
    /// A listener that joins the runtime that first polls it (for `ctrl_c`, which must not lose
    /// a signal sent between its call and its first poll).
    pub(super) fn new_unattached(kind: SignalKind) -> io::Result<Signal> {
        let globals = Globals::get()?;
        let signum = kind.0;
        globals.install(signum)?;
        // Signals that arrived before this listener go to the listeners that existed then.
        globals.deliver_now();
        let slot = globals.slot_of(signum);
        let key = lock(&slot.listeners).insert(None);
        let seen = slot.generation.load(Ordering::SeqCst);
        Ok(Signal {
            globals,
            signum,
            key,
            seen,
            driver: None,
        })
    }

    /// Waits for the next delivery of the signal.
    ///
    /// Returns `None` once the runtime the listener belongs to has shut down: no more signals
    /// can be reported then. Cancelling `recv` (dropping its future) loses nothing: a delivery
    /// it did not report is reported by the next `recv`.
    ///
    /// # Panics
    ///
    /// Panics when the listener's runtime is not driven by any thread while it is awaited inside
    /// another runtime (it could never be woken).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery of the signal; see [`recv`](Signal::recv).
    ///
    /// Returns `Pending` and wakes `cx`'s waker on the next delivery (only the waker of the most
    /// recent poll is kept).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match ready!(self.poll_inner(cx)) {
            Ok(res) => Poll::Ready(res),
            // Only an unattached listener (from `ctrl_c`) can fail to attach, and `ctrl_c`
            // reports it through `poll_inner`; a listener that cannot watch for signals ends.
            Err(_) => Poll::Ready(None),
        }
    }

    /// `poll_recv`, with the error of attaching to the current runtime (registry rule 4, driver
    /// rule 4).
    pub(super) fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<()>>> {
        let driver = match &self.driver {
            Some(d) => d.clone(),
            None => {
                let Some(handle) = context::current_handle() else {
                    panic!(
                        "tether: a signal listener (from tether::signal::ctrl_c) was polled \
                         outside a tether runtime; await it inside Runtime::block_on or a task"
                    )
                };
                let d = RuntimeDriver::of(self.globals, &handle)?;
                self.driver = Some(d.clone());
                d
            }
        };
        let coop = ready!(coop::poll_proceed(cx));
        if !driver.is_closed() {
            check_driven_elsewhere(&driver.handle.shared, "a signal listener");
        }
        driver.pump();
        let slot = self.globals.slot_of(self.signum);
        let mut listeners = lock(&slot.listeners);
        let generation = slot.generation.load(Ordering::SeqCst);
        if generation != self.seen {
            self.seen = generation;
            coop.made_progress();
            return Poll::Ready(Ok(Some(())));
        }
        if driver.is_closed() {
            coop.made_progress();
            return Poll::Ready(Ok(None));
        }
        let waiting = &mut listeners[self.key];
        match waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The deliveries, as [`recv`](Signal::recv) returns them: `()` per delivery (deliveries
/// between two polls coalesce), ending when `recv` returns `None`. Spends the cooperative budget
/// as `recv` does. tokio offers this through tokio-stream's `SignalStream` wrapper; here
/// `Signal` is the stream.
impl futures_core::Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        let slot = self.globals.slot_of(self.signum);
        lock(&slot.listeners).remove(self.key);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("signum", &self.signum)
            .field(
                "runtime_id",
                &self.driver.as_ref().map(|d| d.handle.shared.id),
            )
            .finish()
    }
}
