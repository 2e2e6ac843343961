//! `copy_bidirectional`: copies between two streams in both directions at once, in one future.
//!
//! # Protocol
//!
//! Each direction is a [`Transfer`]: `Running` (copying through its own 8 KiB buffer), then
//! `ShuttingDown` (the reader hit EOF and every byte was written and flushed; the writer's
//! `poll_close` is in progress), then `Done`. One poll of the future polls both directions
//! (rule 6 says in which order).
//!
//! 1. A direction reads only when its buffer is empty, then writes the whole buffer before it
//!    reads again: bytes are copied in order and at most 8 KiB are in flight per direction.
//! 2. When a direction's reader returns `Pending` with bytes written but not flushed, the writer
//!    is flushed first, so a buffering writer never holds data while the copy waits.
//! 3. On EOF the direction flushes, then closes its writer (`poll_close`, a half close for
//!    sockets): the peer at that end sees EOF, while the other direction keeps going.
//! 4. The future completes when both directions are `Done`, with the bytes copied each way, or
//!    with the first error of either direction (the other direction is abandoned mid-copy).
//! 5. Each completed read or write spends one unit of the cooperative budget
//!    (`coop::poll_proceed`), so a proxy between two always-ready streams yields to the other
//!    tasks of its thread; an operation that returns `Pending` gives its unit back.
//! 6. Each poll of the future starts with the other direction than the previous poll did: when
//!    both directions are always ready, the first one polled can spend the whole budget, and
//!    alternating keeps either from starving the other.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::task::coop;

/// The buffer size of each direction.
const BUF_SIZE: usize = 8 * 1024;

/// Copies from `a` to `b` and from `b` to `a` at the same time, until both directions reach EOF.
///
/// When one direction's reader reaches EOF, its writer is flushed and closed (`poll_close`, which
/// for a socket shuts down its write side), so the peer at that end sees EOF too; the other
/// direction keeps copying until its own EOF. This is the core of a TCP proxy: each side learns
/// that the other is done, and a half-closed connection still delivers its replies.
///
/// Both directions run inside the returned future: nothing is spawned. Each uses an 8 KiB
/// buffer. Every completed read or write spends the task's cooperative budget, so a busy proxy
/// still lets the other tasks of its thread run.
///
/// Returns `(a_to_b, b_to_a)`: the number of bytes copied from `a` to `b` and from `b` to `a`.
///
/// # Errors
///
/// The first error of either direction (a read, write, flush or close failing, or a write
/// accepting zero bytes, reported as [`io::ErrorKind::WriteZero`]) ends the copy with that
/// error; bytes in flight in the other direction are then left uncopied.
///
/// # Examples
///
/// A proxy between a client and a server, here over in-memory [`duplex`](crate::io::duplex)
/// pairs:
///
/// ```
/// use tether::io::{copy_bidirectional, duplex, AsyncReadExt, AsyncWriteExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     // client <-> (downstream | upstream) <-> server
///     let (mut client, mut downstream) = duplex(1024);
///     let (mut upstream, mut server) = duplex(1024);
///     let proxy =
///         tether::spawn(async move { copy_bidirectional(&mut downstream, &mut upstream).await });
///
///     let server = tether::spawn(async move {
///         let mut request = Vec::new();
///         server.read_to_end(&mut request).await?; // until the client closes
///         server.write_all(b"got ").await?;
///         server.write_all(&request).await?;
///         server.close().await // the proxy closes the client's side in turn
///     });
///
///     client.write_all(b"hello").await?;
///     client.close().await?;
///     let mut reply = String::new();
///     client.read_to_string(&mut reply).await?;
///     assert_eq!(reply, "got hello");
///
///     server.await.unwrap()?;
///     assert_eq!(proxy.await.unwrap()?, (5, 9));
///     Ok(())
/// }
/// ```
///
/// Over TCP, one task per accepted connection:
///
/// ```no_run
/// use tether::io::copy_bidirectional;
/// use tether::net::{TcpListener, TcpStream};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:8081").await?;
///     loop {
///         let (mut inbound, _) = listener.accept().await?;
///         tether::spawn(async move {
///             let mut outbound = TcpStream::connect("127.0.0.1:8080").await?;
///             copy_bidirectional(&mut inbound, &mut outbound).await
///         });
///     }
/// }
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Transfer::Running(CopyBuffer::new());
    let mut b_to_a = Transfer::Running(CopyBuffer::new());
    let mut a_to_b_first = false;
    poll_fn(|cx| {
        // Rules 4 and 6: poll both directions, each first in turn; `?` ends the copy at the
        // first error.
        a_to_b_first = !a_to_b_first;
        let (a_to_b, b_to_a) = if a_to_b_first {
            let a_to_b = a_to_b.poll(cx, &mut *a, &mut *b)?;
            (a_to_b, b_to_a.poll(cx, &mut *b, &mut *a)?)
        } else {
            let b_to_a = b_to_a.poll(cx, &mut *b, &mut *a)?;
            (a_to_b.poll(cx, &mut *a, &mut *b)?, b_to_a)
        };
        match (a_to_b, b_to_a) {
            (Poll::Ready(sent), Poll::Ready(received)) => Poll::Ready(Ok((sent, received))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// One direction's state (see the module's protocol).
enum Transfer {
    Running(CopyBuffer),
    /// EOF reached and everything flushed; closing the writer. Holds the bytes copied.
    ShuttingDown(u64),
    Done(u64),
}

impl Transfer {
    /// Advances this direction; `Ready(Ok(n))` once it is done, having copied `n` bytes.
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            match self {
                Transfer::Running(buf) => {
                    let copied = ready!(buf.poll_copy(cx, reader, writer))?;
                    *self = Transfer::ShuttingDown(copied);
                }
                Transfer::ShuttingDown(copied) => {
                    // Rule 3.
                    ready!(Pin::new(&mut *writer).poll_close(cx))?;
                    *self = Transfer::Done(*copied);
                }
                Transfer::Done(copied) => return Poll::Ready(Ok(*copied)),
            }
        }
    }
}

/// The buffer of one direction: `buf[pos..cap]` is read and not yet written. Also the whole of
/// [`copy`](crate::io::copy), which follows rules 1 to 3 (up to the close) and 5.
pub(super) struct CopyBuffer {
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    /// Bytes written so far.
    copied: u64,
    /// The reader returned EOF.
    read_done: bool,
    /// Bytes were written since the last flush (rule 2).
    need_flush: bool,
}

impl CopyBuffer {
    pub(super) fn new() -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            cap: 0,
            copied: 0,
            read_done: false,
            need_flush: false,
        }
    }

    /// Copies until `reader` reaches EOF and every byte is written and flushed; returns the
    /// number of bytes copied.
    pub(super) fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        loop {
            // Rule 1: read only into an empty buffer.
            if self.pos == self.cap && !self.read_done {
                let coop = ready!(coop::poll_proceed(cx));
                match Pin::new(&mut *reader).poll_read(cx, &mut self.buf) {
                    Poll::Ready(Ok(0)) => {
                        coop.made_progress();
                        self.read_done = true;
                    }
                    Poll::Ready(Ok(n)) => {
                        coop.made_progress();
                        self.pos = 0;
                        self.cap = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        drop(coop); // rule 5: waiting costs no budget
                        if self.need_flush {
                            // Rule 2.
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }

            while self.pos < self.cap {
                let coop = ready!(coop::poll_proceed(cx));
                let n =
                    ready!(Pin::new(&mut *writer).poll_write(cx, &self.buf[self.pos..self.cap]))?;
                coop.made_progress();
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the writer of a copy accepted 0 bytes: it can take no more",
                    )));
                }
                self.pos += n;
                self.copied += n as u64;
                self.need_flush = true;
            }

            if self.read_done {
                // Rule 3: everything written; flush before the caller closes the writer.
                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                self.need_flush = false;
                return Poll::Ready(Ok(self.copied));
            }
        }
    }
}
