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
/// `MSG_NOSIGNAL`: what std's `TcpStream` calls), issued inline through rustix, not libc's
/// wrappers: those are thread cancellation points, which in a process with more than one
/// thread (a tether runtime has its watchdog) bracket each call with two updates of the
/// thread's cancellation state, about 60 instructions a call, for a cancellation Rust never
/// uses. Elsewhere, under Miri, and for a simulated socket, they are std's.
///
/// No write raises `SIGPIPE`: a write to a closed connection is `EPIPE`, whether or not the
/// process ignores the signal. std's `write` sends with `MSG_NOSIGNAL`, but its
/// `write_vectored` is a `writev`, which takes no flags, so a vectored write (TCP or Unix) is a
/// `sendmsg` with `MSG_NOSIGNAL` on Linux.
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
        return raw::send_vectored(self, bufs);
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
        // std's `write` sends with `MSG_NOSIGNAL`, its `write_vectored` is a `writev`, which
        // raises `SIGPIPE` on a closed connection.
        #[cfg(all(target_os = "linux", not(miri)))]
        return raw::send_vectored(self, bufs);
        #[cfg(not(all(target_os = "linux", not(miri))))]
        return io::Write::write_vectored(&mut &*self, bufs);
    }
}

/// The system calls of [`SockRw`] for a TCP socket on Linux: the bare system call (rustix's
/// `linux_raw` backend issues the `syscall` instruction inline), without libc's `recv`/`send`
/// wrappers, which are thread cancellation points (two cancellation-state updates per call in
/// a process with more than one thread), and without the variadic `syscall()` (about 45
/// instructions a call, against a dozen). The error comes back as the call's result, not
/// through `errno`.
#[cfg(all(target_os = "linux", not(miri)))]
mod raw {
    use std::io;

    use rustix::io::Errno;
    use rustix::net::{RecvFlags, SendFlags};

    /// Runs `call` again while it fails with `EINTR`, as std does.
    #[inline]
    fn retry(mut call: impl FnMut() -> rustix::io::Result<usize>) -> io::Result<usize> {
        loop {
            match call() {
                Err(Errno::INTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        }
    }

    pub(super) fn recv(s: &mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        retry(|| rustix::net::recv(s, &mut *buf, RecvFlags::empty()).map(|(n, _)| n))
    }

    pub(super) fn send(s: &mio::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
        // `NOSIGNAL`: a write to a closed connection is `EPIPE`, not `SIGPIPE` (as std's
        // `send`).
        retry(|| rustix::net::send(s, buf, SendFlags::NOSIGNAL))
    }

    pub(super) fn send_vectored(
        s: impl std::os::fd::AsFd,
        bufs: &[io::IoSlice<'_>],
    ) -> io::Result<usize> {
        // At most `IOV_MAX` (1024 on Linux) slices, as std: the rest go in a later call.
        let bufs = &bufs[..bufs.len().min(1024)];
        // `sendmsg` rather than `writev`: only a socket call takes `NOSIGNAL`, and `writev` to
        // a closed connection raises `SIGPIPE` (which kills a process that did not ignore it).
        retry(|| {
            let mut no_control = rustix::net::SendAncillaryBuffer::default();
            rustix::net::sendmsg(&s, bufs, &mut no_control, SendFlags::NOSIGNAL)
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

/// How long a listener waits before its next accept after one failed for want of descriptors
/// or memory ([`is_resource_exhausted`]): the connection that caused it stays queued, so
/// accepting again at once would fail the same way, and a loop that only logs would spin.
pub(crate) const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// A listener's back-off after an accept that ran out of descriptors or memory: the next
/// accept first waits [`ACCEPT_BACKOFF`].
pub(crate) struct AcceptBackoff {
    /// A back-off is pending (the lock is taken only then).
    armed: std::sync::atomic::AtomicBool,
    until: std::sync::Mutex<Option<crate::time::Sleep>>,
}

impl AcceptBackoff {
    pub(crate) fn new() -> AcceptBackoff {
        AcceptBackoff {
            armed: std::sync::atomic::AtomicBool::new(false),
            until: std::sync::Mutex::new(None),
        }
    }

    /// Ready once no back-off is pending.
    pub(crate) fn poll_wait(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        use std::sync::atomic::Ordering;
        if !self.armed.load(Ordering::Acquire) {
            return std::task::Poll::Ready(());
        }
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sleep) = until.as_mut() {
            std::task::ready!(std::future::Future::poll(std::pin::Pin::new(sleep), cx));
        }
        *until = None;
        self.armed.store(false, Ordering::Release);
        std::task::Poll::Ready(())
    }

    /// Starts a back-off if `result` is an error of exhaustion.
    pub(crate) fn note<T>(&self, result: &io::Result<T>) {
        if let Err(e) = result {
            if is_resource_exhausted(e) {
                let sleep = crate::time::sleep(ACCEPT_BACKOFF);
                *self.until.lock().unwrap_or_else(|e| e.into_inner()) = Some(sleep);
                self.armed.store(true, std::sync::atomic::Ordering::Release);
            }
        }
    }
}

/// Whether an `accept` error means the process or system ran out of file descriptors (`EMFILE`,
/// `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`).
///
/// The connection that caused it stays queued, so accepting again at once would fail the same
/// way: after such an error a listener's next accept waits 50 ms first (see [`TcpListener`]'s
/// docs).
///
/// On Windows, the Winsock counterparts: `WSAEMFILE` and `WSAENOBUFS`.
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    #[cfg(unix)]
    return matches!(
        crate::io::os_error_of(e),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    #[cfg(windows)]
    return matches!(
        crate::io::os_error_of(e),
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

#[cfg(all(test, target_os = "linux", not(miri)))]
mod tests {
    use std::io::{self, Read, Write};

    use super::SockRw;

    /// A TCP stream's bare system calls read, write and fail as std's do: `WouldBlock` with
    /// nothing to read, the bytes, end of stream, and `BrokenPipe` for a write after shutdown
    /// (an error code the call returns, with no `errno` in between).
    #[test]
    fn a_tcp_streams_system_calls_behave_as_stds() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let client = mio::net::TcpStream::from_std(client);
        let mut buf = [0u8; 16];
        let err = client.sock_read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

        // Blocking from here, so that each read waits for the bytes it checks.
        socket2::SockRef::from(&client)
            .set_nonblocking(false)
            .unwrap();
        server.write_all(b"hello").unwrap();
        let n = client.sock_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");

        assert_eq!(client.sock_write(b"ab").unwrap(), 2);
        let bufs = [io::IoSlice::new(b"cd"), io::IoSlice::new(b"ef")];
        assert_eq!(client.sock_write_vectored(&bufs).unwrap(), 4);
        let mut got = [0u8; 6];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcdef");

        drop(server);
        assert_eq!(client.sock_read(&mut buf).unwrap(), 0, "end of stream");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let err = client.sock_write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
