//! A child's *exit descriptor*: a descriptor that becomes readable when the child exits, so that
//! `Child::wait` and the reaper can sleep on a reactor until then, without a thread, a timer or
//! `SIGCHLD`.
//!
//! One type, [`ExitFd`], whose way of opening is chosen at compile time:
//!
//! - **Linux**: a pidfd (`pidfd_open`, Linux 5.3 and later).
//! - **macOS and FreeBSD**: a kqueue of its own holding one `EVFILT_PROC`/`NOTE_EXIT` filter for
//!   the child. A kqueue descriptor is readable while it holds a pending event, so it behaves like
//!   a pidfd: readable from the exit on, registered with the reactor's own kqueue through mio.
//! - **Other Unix systems**: none; [`ExitFd::open`] fails with `Unsupported`.
//!
//! Opening may also fail at run time (`ENOSYS` on a Linux before 5.3, `EPERM` under some seccomp
//! sandboxes, `ESRCH` when a kqueue is asked to watch a child that already exited, out of
//! descriptors). Every caller then falls back to trying `waitpid(WNOHANG)` on a timer (rule 2 of
//! `child.rs`, rule 3 of `reaper.rs`), which works everywhere.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// An owned exit descriptor, usable as a mio source.
#[derive(Debug)]
pub(super) struct ExitFd(OwnedFd);

impl ExitFd {
    /// Opens the exit descriptor of the process `pid`, which must be an unreaped child of this
    /// process (so that its pid cannot have been reused).
    pub(super) fn open(pid: u32) -> io::Result<ExitFd> {
        let pid = libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        open_exit_fd(pid).map(ExitFd)
    }
}

/// Linux: a pidfd.
#[cfg(target_os = "linux")]
fn open_exit_fd(pid: libc::pid_t) -> io::Result<OwnedFd> {
    use std::os::fd::{FromRawFd, RawFd};
    // SAFETY: `pidfd_open(pid, flags)` takes two integers and touches no memory of ours; it
    // returns a new descriptor (close-on-exec, per its documentation) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("pidfd_open: bad descriptor"))?;
    // SAFETY: the kernel just returned `fd` as a new open descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// macOS and FreeBSD: a kqueue with one `EVFILT_PROC` filter for `NOTE_EXIT` of `pid`.
#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
fn open_exit_fd(pid: libc::pid_t) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: `kqueue()` takes no arguments and returns a new descriptor or -1.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned `kq` as a new open descriptor that nothing else owns.
    let kq = unsafe { OwnedFd::from_raw_fd(kq) };
    // SAFETY: `fcntl(F_SETFD, FD_CLOEXEC)` on a descriptor we own touches no memory of ours.
    // (A forked child does not inherit a kqueue; close-on-exec covers `posix_spawn` too.)
    if unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `kevent` is a plain C struct for which all-zero bytes is a valid value (no
    // filter, no flags, null `udata`).
    let mut change: libc::kevent = unsafe { std::mem::zeroed() };
    change.ident = pid as libc::uintptr_t;
    change.filter = libc::EVFILT_PROC;
    change.flags = libc::EV_ADD | libc::EV_ONESHOT;
    change.fflags = libc::NOTE_EXIT;
    // SAFETY: one change read from `change`, a live local; no event list (null, 0), so the
    // kernel writes no memory of ours; a null timeout is allowed when nothing is collected.
    let r = unsafe {
        libc::kevent(
            kq.as_raw_fd(),
            &change,
            1,
            std::ptr::null_mut(),
            0,
            std::ptr::null(),
        )
    };
    if r < 0 {
        // `ESRCH`: the child exited before the filter was added; the caller's fallback reaps it
        // on its first try.
        return Err(io::Error::last_os_error());
    }
    Ok(kq)
}

/// Other Unix systems: no exit descriptor; callers use the timer fallback.
#[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd")))]
fn open_exit_fd(_pid: libc::pid_t) -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no exit descriptor on this system (neither pidfd nor kqueue EVFILT_PROC)",
    ))
}

impl crate::io::source::IoSource for ExitFd {
    #[cfg(target_os = "linux")]
    fn uring_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.0.as_raw_fd())
    }
}

impl Source for ExitFd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}
