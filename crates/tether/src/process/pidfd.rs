//! A pidfd: a descriptor of a child process that becomes readable when the child exits.
//!
//! Registered with the reactor, it lets `Child::wait` sleep until the exit without a thread, a
//! timer or `SIGCHLD`. `pidfd_open` exists since Linux 5.3; when it fails (`ENOSYS` on older
//! kernels, `EPERM` under some seccomp sandboxes, out of descriptors), callers fall back to
//! polling (see `child.rs`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// An owned pidfd, usable as a mio source.
#[derive(Debug)]
pub(super) struct PidFd(OwnedFd);

impl PidFd {
    /// Opens a pidfd for the process `pid`, which must be an unreaped child of this process (so
    /// that its pid cannot have been reused).
    pub(super) fn open(pid: u32) -> io::Result<PidFd> {
        let pid = libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        // SAFETY: `pidfd_open(pid, flags)` takes two integers and touches no memory of ours; it
        // returns a new descriptor (close-on-exec, per its documentation) or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("pidfd_open: bad descriptor"))?;
        // SAFETY: the kernel just returned `fd` as a new open descriptor that nothing else owns.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

impl From<PidFd> for OwnedFd {
    fn from(p: PidFd) -> OwnedFd {
        p.0
    }
}

impl Source for PidFd {
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
