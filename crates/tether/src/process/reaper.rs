//! The reaper: waits for the children whose [`Child`](super::Child) was dropped before they
//! exited, so that none of them is left a zombie.
//!
//! # Protocol
//!
//! 1. One process-wide thread, `tether-reaper`, started by the first orphan (a `Child` dropped
//!    while its process still runs) and never stopped. It owns a `mio::Poll` and sleeps in the
//!    OS poll (`epoll_wait`, `kevent`): while idle it costs no CPU. It belongs to no runtime, so
//!    orphans are reaped even after the runtime that spawned them is gone.
//! 2. An orphan with an exit descriptor (`exit_fd.rs`) is put in `watched` and the descriptor
//!    registered (read interest) under its slab key, both under the `orphans` lock. When the
//!    descriptor becomes readable the thread reaps the child with `waitpid(WNOHANG)` and forgets
//!    it.
//! 3. An orphan without an exit descriptor goes to `polled`; while that list is not empty the
//!    thread wakes every [`POLL_EVERY`] and tries each.
//! 4. Adopting wakes the thread (its `mio::Waker`), so it recomputes its timeout at once.
//! 5. Only the reaper reaps an orphan: its `Child` is gone, so nothing else in tether knows the
//!    pid. (A program that reaps with `waitpid(-1)` itself takes it first; the reaper then gets
//!    `ECHILD` and forgets the orphan.)
//! 6. An event whose key was freed and reused only makes the thread try the newer orphan, which
//!    is harmless: `WNOHANG` returns at once if it still runs.

use std::io;
// std's primitives, not the loom shim's: the reaper lives in a process-wide static (rule 1),
// which outlives any loom model.
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;

use super::exit_fd::ExitFd;
use crate::loom::lock;

/// How often orphans without an exit descriptor are tried (rule 3).
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The token of the reaper's waker; never a slab key.
const WAKE: Token = Token(usize::MAX);

/// The children waiting to be reaped. Holding the lock means the thread is not handling events,
/// so a key and its registration change together (rule 2).
#[derive(Default)]
struct Orphans {
    /// Orphans with an exit descriptor registered with the reaper's poll, by token (rule 2).
    watched: Slab<(libc::pid_t, ExitFd)>,
    /// Orphans without an exit descriptor (rule 3).
    polled: Vec<libc::pid_t>,
}

/// What the reaper thread and the adopting threads share.
struct ReaperShared {
    /// Registers an orphan's exit descriptor with the reaper thread's poll (rule 2).
    registry: Registry,
    orphans: Mutex<Orphans>,
}

/// The handle to the reaper thread.
struct Reaper {
    shared: Arc<ReaperShared>,
    waker: mio::Waker,
}

static REAPER: OnceLock<Result<Reaper, String>> = OnceLock::new();

/// Hands the running child `pid` (with its exit descriptor, if it has one) to the reaper.
pub(super) fn adopt(pid: u32, exit_fd: Option<ExitFd>) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if reap(pid) {
        return;
    }
    match REAPER.get_or_init(|| Reaper::start().map_err(|e| e.to_string())) {
        Ok(reaper) => reaper.adopt(pid, exit_fd),
        Err(e) => not_reaped(pid, e),
    }
}

/// Reports that orphan `pid` will not be reaped because the reaper could not start (`error`):
/// through the reporting path of the runtime entered on this thread, if any (the orphan belongs
/// to no runtime, rule 1, but the program hears it where it hears the runtime).
#[cold]
fn not_reaped(pid: libc::pid_t, error: &str) {
    use crate::diag::{Diagnostic, DiagnosticKind, TaskRef};
    let detail = format!(
        "could not start the thread that reaps dropped child processes ({error}); process \
         {pid} will remain a zombie after it exits"
    );
    let d = Diagnostic {
        detail: Some(detail.into()),
        ..Diagnostic::new(DiagnosticKind::ChildNotReaped, TaskRef::default())
    };
    match crate::runtime::context::current_handle() {
        Some(handle) => handle.shared.report(&d),
        None => crate::diag::report_unattached(&d),
    }
}

/// Tries to reap `pid` without blocking; true once the child is gone (reaped now, or reaped by
/// someone else before).
pub(super) fn reap(pid: libc::pid_t) -> bool {
    loop {
        let mut status = 0;
        // SAFETY: `waitpid` writes the exit status to `status`, a live local, and touches no
        // other memory of ours.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return true;
        }
        if r == 0 {
            return false;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // `ECHILD`: not our child any more (rule 5).
            return true;
        }
    }
}

impl Reaper {
    fn start() -> io::Result<Reaper> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        let shared = Arc::new(ReaperShared {
            registry: poll.registry().try_clone()?,
            orphans: Mutex::new(Orphans::default()),
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("tether-reaper".into())
            .spawn(move || run(poll, &thread_shared))?;
        Ok(Reaper { shared, waker })
    }

    fn adopt(&self, pid: libc::pid_t, exit_fd: Option<ExitFd>) {
        {
            let mut orphans = lock(&self.shared.orphans);
            match exit_fd {
                Some(fd) => {
                    let entry = orphans.watched.vacant_entry();
                    let key = entry.key();
                    let (_, fd) = entry.insert((pid, fd));
                    if self
                        .shared
                        .registry
                        .register(fd, Token(key), Interest::READABLE)
                        .is_err()
                    {
                        orphans.watched.remove(key);
                        orphans.polled.push(pid);
                    }
                }
                None => orphans.polled.push(pid),
            }
        }
        // Rule 4. A failed wake means the poll is gone, which it never is while the thread runs.
        let _ = self.waker.wake();
    }
}

/// The reaper thread's loop (rules 1-3, 6).
fn run(mut poll: Poll, shared: &ReaperShared) {
    let mut events = Events::with_capacity(64);
    loop {
        let timeout = if lock(&shared.orphans).polled.is_empty() {
            None
        } else {
            Some(POLL_EVERY)
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                // Cannot happen with a valid poll descriptor; do not spin if it does.
                std::thread::sleep(POLL_EVERY);
            }
        }
        let mut orphans = lock(&shared.orphans);
        for ev in events.iter() {
            let key = ev.token().0;
            if ev.token() == WAKE {
                continue;
            }
            if let Some(&(pid, _)) = orphans.watched.get(key) {
                if reap(pid) {
                    let (_, mut fd) = orphans.watched.remove(key);
                    let _ = shared.registry.deregister(&mut fd);
                }
            }
        }
        orphans.polled.retain(|&pid| !reap(pid));
    }
}
