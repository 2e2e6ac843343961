//! `duplex`: two in-memory streams connected back to back.
//!
//! # Protocol
//!
//! A pair is two one-way [`Pipe`]s, each a byte queue under its own mutex. Each
//! [`DuplexStream`] reads from one pipe and writes to the other, so each pipe has exactly one
//! reading end and one writing end.
//!
//! 1. A write copies `min(len, max_buf_size - buffered)` bytes into the outgoing pipe. With no
//!    room left it stores its waker in the pipe and returns `Pending`; every read that takes
//!    bytes out wakes it (backpressure).
//! 2. A read takes what is buffered. With nothing buffered and the writing end still open, it
//!    stores its waker and returns `Pending`; every write wakes it.
//! 3. `poll_close` closes the writing end of the outgoing pipe only (a half close, like
//!    `shutdown(Write)` on a socket): the peer reads what is buffered, then EOF (`Ok(0)`); later
//!    writes on the closed stream fail with `BrokenPipe`; the other direction still works.
//! 4. Dropping a stream closes the writing end of its outgoing pipe (rule 3) and the reading end
//!    of its incoming pipe: the peer's writes fail with `BrokenPipe` from then on, including a
//!    write already waiting for room (it is woken). Bytes nobody can read any more are freed.
//! 5. Every change that can unblock the other end (bytes in, bytes out, a close) takes that
//!    end's waker under the lock and wakes it after the lock is released: waking runs scheduler
//!    code.
//! 6. A read or write that completes (with bytes, EOF or an error) spends one unit of the
//!    cooperative budget; one that returns `Pending` gives its unit back.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use crate::task::coop;

/// Creates a pair of connected in-memory streams: what one writes, the other reads.
///
/// Each [`DuplexStream`] implements [`AsyncRead`] and [`AsyncWrite`], like a TCP connection
/// whose two ends live in the same process. It is meant for tests (a fake peer for a protocol
/// implementation, without sockets) and for plumbing between tasks that expects a stream.
///
/// Each direction buffers at most `max_buf_size` bytes: a write into a full buffer waits until
/// the peer reads (backpressure), and a write larger than the free room writes part of its
/// bytes, as a socket would (`write_all` loops).
///
/// Closing ([`AsyncWriteExt::close`](crate::io::AsyncWriteExt::close)) one stream ends its
/// direction only: the peer reads what is buffered, then EOF, and can still write back. Dropping
/// one stream also makes the peer's writes fail with [`io::ErrorKind::BrokenPipe`].
///
/// Reads and writes spend the cooperative budget like sockets do, so a task looping over a
/// duplex stream that is always ready still lets the other tasks of its thread run. The streams
/// need no runtime: any executor can drive them.
///
/// # Panics
///
/// If `max_buf_size` is 0: such a pipe could never carry a byte.
///
/// # Examples
///
/// ```
/// use tether::io::{duplex, AsyncReadExt, AsyncWriteExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let (mut client, mut server) = duplex(64);
///
///     client.write_all(b"ping").await?;
///     client.close().await?; // the server reads EOF after "ping"
///
///     let mut request = Vec::new();
///     server.read_to_end(&mut request).await?;
///     assert_eq!(request, b"ping");
///
///     // The other direction is still open.
///     server.write_all(b"pong").await?;
///     drop(server); // the client reads "pong", then EOF
///
///     let mut reply = String::new();
///     client.read_to_string(&mut reply).await?;
///     assert_eq!(reply, "pong");
///
///     // Nobody will read what the client writes now.
///     let err = client.write_all(b"hello?").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
///     Ok(())
/// }
/// ```
#[track_caller]
pub fn duplex(max_buf_size: usize) -> (DuplexStream, DuplexStream) {
    assert!(
        max_buf_size > 0,
        "tether::io::duplex: max_buf_size must be at least 1 (a pipe that holds no bytes could \
         never carry any)"
    );
    let one = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    let two = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    (
        DuplexStream {
            read: one.clone(),
            write: two.clone(),
        },
        DuplexStream {
            read: two,
            write: one,
        },
    )
}

/// One end of an in-memory stream pair created by [`duplex`].
///
/// Implements [`AsyncRead`] and [`AsyncWrite`]; use the extension traits of
/// [`tether::io`](crate::io) (`read_exact`, `write_all`, ...). `poll_flush` has nothing to do
/// (written bytes are readable at once); `poll_close` ends this stream's outgoing direction.
/// Dropping it ends both directions (see [`duplex`]).
pub struct DuplexStream {
    /// The pipe the peer writes into and this stream reads from.
    read: Arc<Mutex<Pipe>>,
    /// The pipe this stream writes into and the peer reads from.
    write: Arc<Mutex<Pipe>>,
}

/// One direction of a pair. Holding its lock means owning the buffer, both flags and both
/// wakers.
struct Pipe {
    /// Bytes written and not yet read; never more than `max_buf_size` (rule 1).
    buf: VecDeque<u8>,
    max_buf_size: usize,
    /// The writing end closed (`poll_close` or dropped): reads return EOF once `buf` is empty,
    /// writes fail (rule 3).
    write_closed: bool,
    /// The reading end dropped: writes fail with `BrokenPipe` (rule 4).
    read_closed: bool,
    /// The reading end's waker while it waits for bytes (rule 2).
    read_waker: Option<Waker>,
    /// The writing end's waker while it waits for room (rule 1).
    write_waker: Option<Waker>,
}

impl Pipe {
    fn new(max_buf_size: usize) -> Pipe {
        Pipe {
            buf: VecDeque::new(),
            max_buf_size,
            write_closed: false,
            read_closed: false,
            read_waker: None,
            write_waker: None,
        }
    }

    /// Moves up to `out.len()` buffered bytes into `out`.
    fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        let (front, back) = self.buf.as_slices();
        let from_front = n.min(front.len());
        out[..from_front].copy_from_slice(&front[..from_front]);
        out[from_front..n].copy_from_slice(&back[..n - from_front]);
        self.buf.drain(..n);
        n
    }
}

/// Stores `cx`'s waker in `slot`, cloning only if it would wake a different task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl DuplexStream {
    /// A read (rules 1, 2, 3, 6) for the two `AsyncRead` impls: `take` moves buffered bytes
    /// (there are some) out of the pipe and returns how many. Called with room for at least one
    /// byte.
    fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut Pipe) -> usize,
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        let mut pipe = lock(&self.read);
        if !pipe.buf.is_empty() {
            let n = take(&mut pipe);
            let writer = pipe.write_waker.take();
            drop(pipe);
            wake(writer); // rules 1 and 5
            coop.made_progress();
            Poll::Ready(Ok(n))
        } else if pipe.write_closed {
            coop.made_progress();
            Poll::Ready(Ok(0)) // rule 3: EOF after draining
        } else {
            register(&mut pipe.read_waker, cx);
            Poll::Pending // rule 6: `coop` gives its unit back
        }
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, |pipe| pipe.take_into(out))
    }
}

/// tokio's `AsyncRead` (feature `tokio-io`), as the `futures-io` impl above; the bytes are
/// copied into the unfilled part of the `ReadBuf` without zero-filling it first.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.poll_read_with(cx, |pipe| {
            let n = out.remaining().min(pipe.buf.len());
            let (front, back) = pipe.buf.as_slices();
            let from_front = n.min(front.len());
            out.put_slice(&front[..from_front]);
            out.put_slice(&back[..n - from_front]);
            pipe.buf.drain(..n);
            n
        })
        .map_ok(|_| ())
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(coop::poll_proceed(cx));
        let mut pipe = lock(&self.write);
        if pipe.read_closed {
            coop.made_progress();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the other end of this duplex stream was dropped: nobody can read these bytes",
            )));
        }
        if pipe.write_closed {
            coop.made_progress();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "this duplex stream was closed for writing (`close` ends its outgoing direction)",
            )));
        }
        if data.is_empty() {
            coop.made_progress();
            return Poll::Ready(Ok(0));
        }
        let room = pipe.max_buf_size - pipe.buf.len();
        if room == 0 {
            register(&mut pipe.write_waker, cx);
            return Poll::Pending; // rule 1; rule 6: `coop` gives its unit back
        }
        let n = room.min(data.len());
        pipe.buf.extend(&data[..n]);
        let reader = pipe.read_waker.take();
        drop(pipe);
        wake(reader); // rules 2 and 5
        coop.made_progress();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pipe = lock(&self.write);
        pipe.write_closed = true;
        let reader = pipe.read_waker.take();
        drop(pipe);
        wake(reader); // rules 3 and 5
        Poll::Ready(Ok(()))
    }
}

/// tokio's `AsyncWrite` (feature `tokio-io`), as the `futures-io` impl above: `poll_shutdown`
/// is `poll_close` (rule 3).
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        // Rule 4: end both directions, waking whichever peer operation waits.
        let mut out = lock(&self.write);
        out.write_closed = true;
        let reader = out.read_waker.take();
        drop(out);
        let mut incoming = lock(&self.read);
        incoming.read_closed = true;
        incoming.buf = VecDeque::new();
        let writer = incoming.write_waker.take();
        drop(incoming);
        wake(reader);
        wake(writer);
    }
}

impl fmt::Debug for DuplexStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let readable = lock(&self.read).buf.len();
        let write = lock(&self.write);
        f.debug_struct("DuplexStream")
            .field("max_buf_size", &write.max_buf_size)
            .field("readable", &readable)
            .field("unread_written", &write.buf.len())
            .field("write_closed", &write.write_closed)
            .finish()
    }
}
