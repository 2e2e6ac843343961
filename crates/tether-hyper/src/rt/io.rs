//! [`TetherIo`]: hyper's I/O traits (`hyper::rt::Read`, `hyper::rt::Write`) implemented
//! directly over tether's streams, with no `futures-io` → `tokio-io` → hyper chain between.
//!
//! hyper reads into the spare capacity of its own buffer, which is uninitialized memory
//! (`ReadBufCursor`). An adapter over `futures-io`'s `poll_read(&mut [u8])` must zero that
//! memory before every read, because a `&mut [u8]` may not point at uninitialized bytes.
//! tether's sockets instead receive straight into it ([`TetherStream::poll_read_uninit`]), and
//! gather hyper's header and body buffers into one `writev` ([`TetherStream::is_write_vectored`]).
//!
//! A socket's read is tether's own `tokio::io::AsyncRead` read into a `ReadBuf` over hyper's
//! buffer, so it behaves as tether's reads do on either I/O driver. On epoll: a `recv` once the
//! socket is readable, and a short read (fewer bytes than asked, not end-of-stream) has emptied
//! the receive queue, so the readiness is cleared and the next read waits for the reactor's
//! next event instead of making a `recv` that would return `EAGAIN` (one system call saved per
//! request on a keep-alive connection). On io_uring: a copy out of the receive queue that the
//! stream's multishot receive fills, with no system call of its own.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

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

/// A socket's read into possibly uninitialized memory: tether's `tokio::io::AsyncRead` over a
/// `ReadBuf` of `buf`, which reads straight into it on either I/O driver (a `recv` on epoll; on
/// io_uring a copy out of the receive queue the stream's multishot receive fills).
macro_rules! socket_stream {
    ($t:ty) => {
        // SAFETY: `poll_read_uninit` returns `Ok(n)` only for the `n` bytes the `ReadBuf` over
        // `buf` reports filled, which are initialized and at most `buf.len()`.
        unsafe impl TetherStream for $t {
            fn poll_read_uninit(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut [MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                let mut read_buf = tokio::io::ReadBuf::uninit(buf);
                ready!(tokio::io::AsyncRead::poll_read(
                    Pin::new(self),
                    cx,
                    &mut read_buf
                ))?;
                Poll::Ready(Ok(read_buf.filled().len()))
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

/// A tether stream as hyper's I/O: `hyper::rt::Read` and `hyper::rt::Write` over any
/// [`TetherStream`] (a [`TcpStream`](tether::net::TcpStream), a
/// [`UnixStream`](tether::net::UnixStream), ...).
///
/// Reads go straight into hyper's uninitialized buffer (no zero-filling) and writes are
/// vectored where the stream supports it (see [`TetherStream`]). This is the counterpart
/// of hyper-util's `TokioIo`, with no adapter between hyper and the stream.
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
