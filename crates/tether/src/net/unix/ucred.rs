//! `UCred`: the credentials of the process at the other end of a Unix stream, and the one
//! system call per platform family that reads them.
//!
//! - Linux and Android: `getsockopt(SO_PEERCRED)`, which gives the process, user and group ids.
//! - macOS and the other Apple systems: `getpeereid` for the user and group, and
//!   `getsockopt(SOL_LOCAL, LOCAL_PEERPID)` for the process.
//! - FreeBSD, DragonFly, NetBSD and OpenBSD: `getpeereid`; no process id.
//!
//! The credentials are those the peer had when it connected (or, for a pair, when the pair
//! was made), not its current ones.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The credentials of the process at the other end of a [`UnixStream`](super::UnixStream),
/// returned by [`UnixStream::peer_cred`](super::UnixStream::peer_cred).
///
/// They are the peer's effective user and group ids (and its process id where the system
/// reports it) as they were when the connection was made.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub struct UCred {
    /// `None` where the system does not report it (see [`pid`](Self::pid)).
    pid: Option<libc::pid_t>,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl UCred {
    /// The peer's effective user id.
    pub fn uid(&self) -> libc::uid_t {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> libc::gid_t {
        self.gid
    }

    /// The peer's process id: `Some` on Linux, Android, macOS and the other Apple systems;
    /// `None` on the BSDs, whose `getpeereid` does not report it (as in tokio).
    pub fn pid(&self) -> Option<libc::pid_t> {
        self.pid
    }
}

/// The credentials of the peer of the connected Unix stream socket `fd`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<UCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `fd` is a descriptor borrowed for the call, and `cred`/`len` are a writable
    // `ucred` and its size: the kernel writes at most `len` bytes into `cred` and the size it
    // wrote into `len`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::other(
            "tether: SO_PEERCRED returned a credentials record of an unexpected size",
        ));
    }
    Ok(UCred {
        pid: Some(cred.pid),
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The credentials of the peer of the connected Unix stream socket `fd`. (The module exists
/// only on the systems `cfg_peer_cred!` lists: here, the Apple systems and the BSDs.)
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> io::Result<UCred> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: `fd` is a descriptor borrowed for the call; `uid` and `gid` are writable.
    if unsafe { libc::getpeereid(fd.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UCred {
        pid: peer_pid(fd)?,
        uid,
        gid,
    })
}

/// `LOCAL_PEERPID`: the Apple systems report the peer's process id apart from its user.
#[cfg(target_vendor = "apple")]
fn peer_pid(fd: BorrowedFd<'_>) -> io::Result<Option<libc::pid_t>> {
    let mut pid: libc::pid_t = 0;
    let mut len = std::mem::size_of::<libc::pid_t>() as libc::socklen_t;
    // SAFETY: `fd` is a descriptor borrowed for the call, and `pid`/`len` are a writable
    // `pid_t` and its size: the kernel writes at most `len` bytes into `pid`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_LOCAL,
            libc::LOCAL_PEERPID,
            (&raw mut pid).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(pid))
}

/// The BSDs' `getpeereid` has no process id, and tether asks for none elsewhere.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn peer_pid(_fd: BorrowedFd<'_>) -> io::Result<Option<libc::pid_t>> {
    Ok(None)
}
