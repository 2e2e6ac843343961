//! Networking: TCP, UDP and (on Unix) Unix domain sockets driven by the runtime's reactor.
//!
//! Every socket registers with the reactor of the runtime it is created in, edge-triggered, and
//! waits for readiness without blocking the thread. Streams implement the `futures-io`
//! `AsyncRead`/`AsyncWrite` traits; import [`tether::io::AsyncReadExt`](crate::io::AsyncReadExt)
//! and [`AsyncWriteExt`](crate::io::AsyncWriteExt) for the convenience methods.
//!
//! Addresses are anything [`ToSocketAddrs`] accepts. Host names are resolved on the blocking
//! pool ([`lookup_host`]), never on the event loop. Errors are `io::Error`s whose message names
//! the address and, for the usual causes (refused, in use), says what they mean.
//!
//! Sockets must be created inside a runtime (`block_on`, a task, or `Handle::enter`); creating
//! one elsewhere panics with a message saying so. [`TcpSocket`], a socket still being
//! configured (address and port reuse, buffer sizes, the address to connect from), needs a
//! runtime only when it connects or listens.
//!
//! Besides the `async fn`s, every socket has tokio's readiness API: `ready(Interest)` returns
//! the [`Ready`](crate::io::Ready) state found, `readable`/`writable` wait for one direction,
//! and `try_read`/`try_write`/`try_send`/`try_recv` act without waiting (`WouldBlock` clears
//! the readiness they observed, so the next wait is for a new event); `try_io`/`async_io` run an
//! operation of one's own on the descriptor under the same rule.
//!
//! Every socket type implements `AsFd`/`AsRawFd` (the descriptor it uses), `IntoRawFd` and
//! `into_std` (giving it up, deregistered, still non-blocking), and `from_std`, `TryFrom` and
//! `FromRawFd` (taking one in and registering it with the current runtime; `FromRawFd`, which
//! tokio does not offer on registered types, panics where `from_std` returns an error). On
//! Windows the same traits are the `*Socket` ones (`AsSocket`, `AsRawSocket`, `IntoRawSocket`,
//! `FromRawSocket`), and the `unix` module does not exist.

#[macro_use]
mod macros;
mod addr;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

use std::io;

#[cfg(feature = "sim")]
pub(crate) use crate::sim::socket::Sock;
/// What a TCP or UDP socket type registers: the mio socket itself, or (feature `sim`) a
/// `sim::socket::Sock` that is the mio socket or a simulated one.
#[cfg(not(feature = "sim"))]
pub(crate) type Sock<O> = O;

/// A stream socket's reads and writes, as the stream types make them (`stream_common!`).
///
/// A TCP socket's are the system calls themselves on Linux (`recvfrom`, `sendto` with
/// `MSG_NOSIGNAL`, `writev`: what std's `TcpStream` calls), not libc's wrappers: those are
/// thread cancellation points, which in a process with more than one thread (a tether runtime
/// has its watchdog) bracket each call with two updates of the thread's cancellation state,
/// about 60 instructions a call, for a cancellation Rust never uses. Elsewhere, under Miri,
/// and for a simulated socket, they are std's.
pub(crate) trait SockRw {
    fn sock_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn sock_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn sock_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;
}

impl SockRw for mio::net::TcpStream {
    fn sock_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(all(target_os = "linux", not(miri)))]
        return raw::recv(self, buf);
        #[cfg(not(all(target_os = "linux", not(miri))))]
        return io::Read::read(&mut &*self, buf);
    }

    fn sock_write(&self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(all(target_os = "linux", not(miri)))]
        return raw::send(self, buf);
        #[cfg(not(all(target_os = "linux", not(miri))))]
        return io::Write::write(&mut &*self, buf);
    }

    fn sock_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(all(target_os = "linux", not(miri)))]
        return raw::writev(self, bufs);
        #[cfg(not(all(target_os = "linux", not(miri))))]
        return io::Write::write_vectored(&mut &*self, bufs);
    }
}

#[cfg(unix)]
impl SockRw for mio::net::UnixStream {
    fn sock_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut &*self, buf)
    }

    fn sock_write(&self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }

    fn sock_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        io::Write::write_vectored(&mut &*self, bufs)
    }
}

/// The system calls of [`SockRw`] for a TCP socket on Linux.
#[cfg(all(target_os = "linux", not(miri)))]
mod raw {
    use std::io;
    use std::os::fd::AsRawFd;

    /// A system call's result: its count, or the error it set in `errno`.
    fn result(n: libc::c_long) -> io::Result<usize> {
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Runs `call` again while it fails with `EINTR`, as std does.
    fn retry(mut call: impl FnMut() -> libc::c_long) -> io::Result<usize> {
        loop {
            match result(call()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    // Every argument goes to the variadic `syscall` as a full `c_long`, the width at which
    // the kernel reads each argument register.

    pub(super) fn recv(s: &mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        let fd = libc::c_long::from(s.as_raw_fd());
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        retry(|| {
            // SAFETY: `ptr` is valid for writes of `len` bytes (`buf`'s only borrow, held for
            // the call); `recvfrom` with no flags and a null address and length is `recv`.
            unsafe { libc::syscall(libc::SYS_recvfrom, fd, ptr, len, 0usize, 0usize, 0usize) }
        })
    }

    pub(super) fn send(s: &mio::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
        let fd = libc::c_long::from(s.as_raw_fd());
        let (ptr, len) = (buf.as_ptr(), buf.len());
        let flags = libc::c_long::from(libc::MSG_NOSIGNAL);
        retry(|| {
            // SAFETY: `ptr` is valid for reads of `len` bytes; `sendto` with a null address is
            // `send`, and `MSG_NOSIGNAL` turns a write to a closed connection into `EPIPE`
            // instead of `SIGPIPE` (as std's `send`).
            unsafe { libc::syscall(libc::SYS_sendto, fd, ptr, len, flags, 0usize, 0usize) }
        })
    }

    pub(super) fn writev(s: &mio::net::TcpStream, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let fd = libc::c_long::from(s.as_raw_fd());
        // At most `IOV_MAX` (1024 on Linux) slices, as std: the rest go in a later call.
        let n = bufs.len().min(1024);
        retry(|| {
            // SAFETY: `IoSlice` has `iovec`'s layout on Unix (std guarantees it), and each of
            // the first `n` slices is valid for reads of its length while `bufs` is borrowed.
            unsafe { libc::syscall(libc::SYS_writev, fd, bufs.as_ptr(), n) }
        })
    }
}

/// The operating-system socket behind what a socket type registers (the value itself, except
/// for a simulated socket, which has none).
pub(crate) trait OsSocket: Sized {
    type Os;
    /// The OS socket. Panics for a simulated one (the descriptor traits cannot work there).
    fn as_os(&self) -> &Self::Os;
    /// The OS socket, given up. `Unsupported` for a simulated one.
    fn into_os(self) -> io::Result<Self::Os>;
}

macro_rules! os_socket_identity {
    ($($t:ty),*) => {$(
        impl OsSocket for $t {
            type Os = $t;
            fn as_os(&self) -> &$t {
                self
            }
            fn into_os(self) -> io::Result<$t> {
                Ok(self)
            }
        }
    )*};
}

os_socket_identity!(
    mio::net::TcpStream,
    mio::net::TcpListener,
    mio::net::UdpSocket
);
#[cfg(unix)]
os_socket_identity!(
    mio::net::UnixStream,
    mio::net::UnixListener,
    mio::net::UnixDatagram
);

/// One read into the unfilled part of a tokio `ReadBuf` (feature `tokio-io`), for the stream
/// types' `poll_read_buf_priv`.
#[cfg(feature = "tokio-io")]
pub(crate) trait ReadIntoBuf {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize>;
}

#[cfg(feature = "tokio-io")]
impl ReadIntoBuf for mio::net::TcpStream {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
        crate::io::poll_evented::read_into_buf(self, buf)
    }
}

#[cfg(all(feature = "tokio-io", unix))]
impl ReadIntoBuf for mio::net::UnixStream {
    fn read_buf(&self, buf: &mut tokio::io::ReadBuf<'_>) -> io::Result<usize> {
        crate::io::poll_evented::read_into_buf(self, buf)
    }
}

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// Whether an `accept` error means the process or system ran out of file descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`).
///
/// The connection that caused it stays queued, so accepting again at once fails the same way:
/// wait before retrying (see [`TcpListener`]'s docs for the loop).
///
/// On Windows, the Winsock counterparts: `WSAEMFILE` and `WSAENOBUFS`.
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(windows)]
    return matches!(
        e.raw_os_error(),
        Some(
            windows_sys::Win32::Networking::WinSock::WSAEMFILE
                | windows_sys::Win32::Networking::WinSock::WSAENOBUFS
        )
    );
}

/// `getpeername` on a connection its peer already reset fails with `ENOTCONN`; to the caller of
/// `accept` (a multishot accept took the connection, `io/uring_accept.rs`) that is a connection
/// aborted before it was accepted, and the next accept goes on.
#[cfg(target_os = "linux")]
pub(crate) fn reset_before_accept(e: std::io::Error) -> std::io::Error {
    if e.raw_os_error() == Some(libc::ENOTCONN) {
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "tether: the connection was reset by its peer before it was accepted",
        )
    } else {
        e
    }
}
