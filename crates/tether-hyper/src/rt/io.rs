//! [`TetherIo`]: hyper's I/O traits (`hyper::rt::Read`, `hyper::rt::Write`) implemented
//! directly over tether's streams, with no `futures-io` → `tokio-io` → hyper chain between.
//!
//! hyper reads into the spare capacity of its own buffer, which is uninitialized memory
//! (`ReadBufCursor`). An adapter over `futures-io`'s `poll_read(&mut [u8])` must zero that
//! memory before every read, because a `&mut [u8]` may not point at uninitialized bytes.
//! tether's sockets instead receive straight into it ([`TetherStream::poll_read_uninit`]), and
//! gather hyper's header and body buffers into one `writev` ([`TetherStream::is_write_vectored`]).
//!
//! The socket read keeps tether's short-read rule: a read that returns fewer bytes than asked
//! (and is not end-of-stream) has emptied the socket's receive queue, so the readiness it acted
//! on is cleared and the next read waits for the reactor's next event instead of making a
//! `recv` that would return `EAGAIN`. On a keep-alive connection that saves one system call per
//! request. It uses only tether's public readiness API (`poll_read_ready`, `try_io`): `try_io`
//! clears the readiness observed *before* the `recv` when its closure reports `WouldBlock`, and
//! keeps it if an event arrived meanwhile (tether's readiness tick), so no wake-up is lost.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use tether::io::Interest;

/// A tether stream that [`TetherIo`] can drive hyper over: a `futures-io` stream that can also
/// read into uninitialized memory.
///
/// Implemented for tether's [`TcpStream`](tether::net::TcpStream) and
/// [`UnixStream`](tether::net::UnixStream) (which receive straight into hyper's buffer and
/// write vectored) and [`DuplexStream`](tether::io::DuplexStream). Another `futures-io` stream
/// (a TLS stream, say) implements it with the default methods: `unsafe impl TetherStream for
/// MyStream {}`; its reads then zero-fill hyper's buffer first, as any `futures-io` adapter must.
///
/// The sockets' read keeps tether's short-read rule: a `recv` that returns fewer bytes than
/// asked (not end-of-stream) has emptied the receive queue, so the readiness it acted on is
/// cleared and the next read waits for the reactor's next event instead of making a `recv`
/// that would return `EAGAIN` (one system call saved per request on a keep-alive connection).
/// A readiness event that arrived during the `recv` is kept, so no wake-up is lost.
///
/// # Safety
///
/// An implementation that overrides [`poll_read_uninit`](TetherStream::poll_read_uninit)
/// must keep its contract: `Ready(Ok(n))` only with `n <= buf.len()` and the first `n` bytes of
/// `buf` initialized. [`TetherIo`] tells hyper that those bytes are filled.
pub unsafe trait TetherStream: AsyncRead + AsyncWrite + Unpin {
    /// Reads into `buf`, which may be uninitialized: `Ready(Ok(n))` means the first `n` bytes
    /// of `buf` were written (`0` is end-of-stream, for a non-empty `buf`).
    ///
    /// The default initializes `buf` (zeroes it) and calls `AsyncRead::poll_read`.
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        buf.fill(MaybeUninit::new(0));
        // SAFETY: every element was just initialized, and `MaybeUninit<u8>` has the layout of
        // `u8`; the slice is not used as `MaybeUninit` while this borrow lives.
        let init = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
        let n = ready!(Pin::new(self).poll_read(cx, init))?;
        Poll::Ready(Ok(n.min(init.len())))
    }

    /// Whether `poll_write_vectored` writes several buffers in one operation (hyper then
    /// gathers a response's head and body instead of copying them into one buffer).
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// A `recv` into possibly uninitialized memory on a registered tether socket, with tether's
/// readiness protocol (see the module docs). `$s` has `poll_read_ready`, `try_io` and `AsRawFd`.
macro_rules! socket_stream {
    ($t:ty) => {
        // SAFETY: `poll_read_uninit` returns `Ok(n)` only for `n` bytes that `recv` reported
        // writing into `buf`, and `recv` writes at most `buf.len()` bytes.
        unsafe impl TetherStream for $t {
            fn poll_read_uninit(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut [MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                poll_recv(
                    cx,
                    buf,
                    self.as_raw_fd(),
                    |cx| self.poll_read_ready(cx),
                    |op| self.try_io(Interest::READABLE, op),
                )
            }

            fn is_write_vectored(&self) -> bool {
                true
            }
        }
    };
}

socket_stream!(tether::net::TcpStream);
socket_stream!(tether::net::UnixStream);

// SAFETY: the default `poll_read_uninit` initializes the buffer before reading into it.
unsafe impl TetherStream for tether::io::DuplexStream {}

/// `recv` on `fd` into `buf` once the socket is readable (`poll_ready`), through `try_io` so
/// that a `WouldBlock` clears the readiness it acted on.
fn poll_recv(
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
    fd: std::os::fd::RawFd,
    mut poll_ready: impl FnMut(&mut Context<'_>) -> Poll<io::Result<()>>,
    mut try_io: impl FnMut(&mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    loop {
        ready!(poll_ready(cx))?;
        let mut short = None;
        let res = try_io(&mut || loop {
            // SAFETY: `buf` is valid for writes of `len` bytes for the whole call (we hold its
            // only borrow); `recv` writes at most `len` bytes into it and never reads it, so
            // uninitialized memory is fine.
            let n = unsafe { recv(fd, buf.as_mut_ptr().cast(), len) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            // `recv` returned a count of at most `len`.
            let n = n as usize;
            if n > 0 && n < len {
                // A short read emptied the receive queue: report `WouldBlock` so that
                // `try_io` clears the readiness observed before this `recv` (unless a newer
                // event came), and hand the count over through `short`.
                short = Some(n);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            return Ok(n);
        });
        match res {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(n) = short {
                    return Poll::Ready(Ok(n));
                }
                // Spurious readiness, now cleared: wait for the next event.
            }
            res => return Poll::Ready(res),
        }
    }
}

/// `recv(2)` with no flags. On Linux the system call itself: libc's `recv` is a thread
/// cancellation point, which in a process with more than one thread (a tether runtime has its
/// watchdog) brackets the call with two cancellation-state updates, about 60 instructions, for
/// a cancellation Rust never uses.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
unsafe fn recv(fd: std::os::fd::RawFd, buf: *mut libc::c_void, len: usize) -> isize {
    #[cfg(target_os = "linux")]
    {
        // Each argument as a full `c_long`, the width the variadic `syscall` reads.
        let fd = libc::c_long::from(fd);
        // SAFETY: the caller's contract for `buf`; `recvfrom` with no flags and a null address
        // and length is `recv`, and the result fits `isize` (a count of at most `len`, or -1).
        unsafe { libc::syscall(libc::SYS_recvfrom, fd, buf, len, 0usize, 0usize, 0usize) as isize }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: the caller's contract for `buf`.
        unsafe { libc::recv(fd, buf, len, 0) }
    }
}

/// A tether stream as hyper's I/O: `hyper::rt::Read` and `hyper::rt::Write` over any
/// [`TetherStream`] (a [`TcpStream`](tether::net::TcpStream), a
/// [`UnixStream`](tether::net::UnixStream), ...).
///
/// Reads go straight into hyper's uninitialized buffer (no zero-filling) and writes are
/// vectored where the stream supports it (see [`TetherStream`]). This is the counterpart
/// of hyper-util's `TokioIo`, without going through tokio's I/O traits.
///
/// # Examples
///
/// Serving one connection by hand with hyper's HTTP/1 builder:
///
/// ```
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use hyper::{body::Bytes, service::service_fn, Response};
/// use tether::net::{TcpListener, TcpStream};
/// use tether_hyper::{TetherIo, TetherTimer};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let server = tether::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let hello = service_fn(|_req| async {
///             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
///         });
///         hyper::server::conn::http1::Builder::new()
///             .timer(TetherTimer)
///             .serve_connection(TetherIo::new(stream), hello)
///             .await
///     });
///     let mut client = TcpStream::connect(addr).await?;
///     use tether::io::{AsyncReadExt, AsyncWriteExt};
///     client.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
///     let mut reply = String::new();
///     client.read_to_string(&mut reply).await?;
///     assert!(reply.starts_with("HTTP/1.1 200 OK") && reply.ends_with("hello"), "{reply}");
///     server.await.unwrap().unwrap();
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct TetherIo<T> {
    inner: T,
}

impl<T> TetherIo<T> {
    /// Wraps a stream.
    pub fn new(inner: T) -> TetherIo<T> {
        TetherIo { inner }
    }

    /// The stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: TetherStream> hyper::rt::Read for TetherIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_inspect(cx, buf, |_| {})
    }
}

impl<T: TetherStream> TetherIo<T> {
    /// hyper's read, also showing `inspect` the bytes it read (the server's connection looks
    /// at a connection's first bytes this way).
    pub(crate) fn poll_read_inspect(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
        inspect: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<()>> {
        // SAFETY: `as_mut` requires that we never de-initialize bytes of the cursor:
        // `poll_read_uninit` only writes bytes into the slice (a `recv`, or the default's
        // zero-fill and `poll_read`), never `MaybeUninit::uninit()`.
        let unfilled = unsafe { buf.as_mut() };
        let len = unfilled.len();
        let n = ready!(self.inner.poll_read_uninit(cx, unfilled))?;
        assert!(
            n <= len,
            "tether-hyper: a stream read more bytes than the buffer holds"
        );
        // SAFETY: `TetherStream`'s contract: the first `n` bytes of `unfilled` were initialized
        // by the read, and `n <= len` was just checked; `MaybeUninit<u8>` has `u8`'s layout.
        inspect(unsafe { &*(&unfilled[..n] as *const [MaybeUninit<u8>] as *const [u8]) });
        // SAFETY: as above: the first `n` bytes are initialized.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<T: TetherStream> hyper::rt::Write for TetherIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
