//! Signals: wait for Ctrl-C ([`ctrl_c`]) or, on Unix, any signal (`unix::signal`).
//!
//! On Windows, [`ctrl_c`] listens through the console control handler (see
//! [Windows](#windows)); the `unix` module exists on Unix only.
//!
//! ```
//! use std::time::Duration;
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     let ctrl_c = tether::signal::ctrl_c(); // listening from here on
//!     // In a real program the user presses Ctrl-C; here the program sends itself SIGINT.
//!     // SAFETY: `raise` has no memory-safety preconditions.
//!     unsafe { libc::raise(libc::SIGINT) };
//!     tether::time::timeout(Duration::from_secs(10), ctrl_c)
//!         .await
//!         .expect("no SIGINT within 10 s")?;
//!     println!("shutting down");
//!     Ok(())
//! }
//! ```
//!
//! # Listening replaces the default action
//!
//! The first listener of a signal installs a handler for it in the process (through
//! `signal-hook-registry`, which chains to a handler installed earlier by other code). The handler
//! stays **for the rest of the process**, even after every listener is dropped, as in tokio. For
//! signals whose default action terminates the process (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGUSR1`,
//! ...), this means: once [`ctrl_c`] or `signal(SignalKind::interrupt())` has been called, Ctrl-C
//! no longer kills the program, even when nothing listens any more. A program that listens for
//! Ctrl-C must exit by itself when it is pressed.
//!
//! # How a signal reaches the listeners
//!
//! No thread is started and no task is spawned. The state is process-wide, one slot per signal
//! number:
//!
//! 1. The handler, which may only do async-signal-safe work, sets the signal's *pending* flag and
//!    writes one byte to a non-blocking socket pair (ignoring a full socket).
//! 2. Each runtime that has listeners watches the read end of that socket with its own reactor
//!    (a duplicate of the descriptor, registered once per runtime and shared by the runtime's
//!    listeners). When it becomes readable, the reactor's wake-up drains it, and for each pending
//!    signal bumps the signal's *generation* counter and wakes every listener of that signal, in
//!    whatever runtime it is.
//! 3. Each listener remembers the last generation it reported, so several listeners of one
//!    signal each see every delivery.
//!
//! # Several runtimes
//!
//! Signals belong to the process, runtimes do not: the design is a global broadcast with one
//! wake-up source per runtime. A listener belongs to the runtime it was created in (for
//! [`ctrl_c`], the runtime that first polls it); that runtime's reactor is registered for the
//! signal socket as long as it has listeners. Any runtime that is driven (some thread inside its
//! `block_on`, or its workers running) delivers to all listeners of all runtimes, so:
//!
//! - several runtimes in one process (tests, for instance) each receive every signal they listen
//!   for, independently;
//! - a signal arriving while no runtime with listeners is being driven waits in the socket and is
//!   delivered as soon as one is driven again;
//! - when a runtime shuts down, its listeners' [`recv`](unix::Signal::recv) returns `None`
//!   (and [`ctrl_c`] an error); listeners of other runtimes are unaffected.
//!
//! Limits: deliveries are **coalesced** (several signals between two `recv`s are reported once,
//! as the kernel itself does for pending signals); signals that arrived before a listener was
//! created are not reported to it; the handler runs on whatever thread the kernel picks and
//! delivery runs on a thread that drives a runtime, never in a task of yours.
//!
//! # Windows
//!
//! [`ctrl_c`] installs a console control handler (`SetConsoleCtrlHandler`) the first time it is
//! called, for the rest of the process, as on Unix: Ctrl-C then no longer ends the program.
//! Windows runs the handler on a thread of its own, which wakes the listeners directly; no
//! reactor is involved, so the future does not end when a runtime shuts down and needs no
//! runtime to be polled. Ctrl-Break, closing the console and logging off are not handled (the
//! default action runs).

// Used by Windows' Ctrl-C; its tests run on every platform.
#[cfg(any(windows, all(test, not(tether_loom))))]
mod broadcast;
#[cfg(windows)]
mod console;
#[cfg(unix)]
mod driver;
#[cfg(unix)]
mod registry;
#[cfg(unix)]
pub mod unix;

#[cfg(unix)]
use std::future::poll_fn;
use std::future::Future;
use std::io;

/// Completes when the process receives `SIGINT`, the signal Ctrl-C sends from a terminal.
/// (On Windows, when the console receives Ctrl-C: see the [module docs](self#windows).)
///
/// The listener is installed when `ctrl_c` is **called**, not when the future is first polled:
/// a Ctrl-C pressed in between is not lost. The future joins the runtime that polls it.
///
/// Installing it replaces the default action of `SIGINT` (terminating the process) for the rest
/// of the process, even after the future is dropped; see the [module docs](self).
///
/// # Errors
///
/// Fails when the signal handler cannot be installed or the runtime cannot watch for it (out of
/// file descriptors), and when the runtime that polls the future shuts down.
///
/// # Panics
///
/// The future panics when polled outside a tether runtime.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let server = tether::spawn(std::future::pending::<()>()); // serves until cancelled
///     let ctrl_c = tether::signal::ctrl_c();
///     // The user presses Ctrl-C; here the program sends itself SIGINT instead.
///     // SAFETY: `raise` has no memory-safety preconditions.
///     unsafe { libc::raise(libc::SIGINT) };
///     ctrl_c.await.expect("cannot listen for Ctrl-C");
///     println!("Ctrl-C: shutting down");
///     server.abort();
/// }
/// ```
#[cfg(unix)]
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let listener = unix::Signal::new_unattached(unix::SignalKind::interrupt());
    async move {
        let mut listener = listener?;
        match poll_fn(|cx| listener.poll_inner(cx)).await? {
            Some(()) => Ok(()),
            None => Err(io::Error::other(
                "tether::signal::ctrl_c: the runtime that was waiting for Ctrl-C shut down",
            )),
        }
    }
}

/// Completes when the console receives Ctrl-C (`CTRL_C_EVENT`).
///
/// The listener is installed when `ctrl_c` is **called**, not when the future is first polled:
/// a Ctrl-C pressed in between is not lost. Installing it replaces the default action of
/// Ctrl-C (ending the process) for the rest of the process; see the [module docs](self#windows).
///
/// # Errors
///
/// Fails when the console control handler cannot be installed.
#[cfg(windows)]
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let listener = console::listen_ctrl_c();
    async move {
        listener?.await;
        Ok(())
    }
}
