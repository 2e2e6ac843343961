//! `copy`: copies a reader into a writer until EOF, through a buffer of its own.
//!
//! One direction of [`copy_bidirectional`](super::copy_bidirectional), without the close: the
//! work is that module's `CopyBuffer`, so its rules hold here. Rule 1: it reads only into an
//! empty buffer. Rule 2: when the reader returns `Pending` with bytes written and not flushed,
//! it flushes the writer first (`futures-lite`'s `copy`, which tether re-exported before, did
//! not, so a copy into a [`BufWriter`](crate::io::BufWriter) held an echo's bytes until the next
//! read). Rule 3: at EOF it flushes. Rule 5: every completed read or write spends one unit of
//! the cooperative budget.

use std::future::poll_fn;
use std::io;
use std::pin::pin;

use futures_io::{AsyncRead, AsyncWrite};

use super::copy_bidirectional::CopyBuffer;

/// Copies everything `reader` yields into `writer` until EOF, then flushes `writer`; returns
/// the number of bytes copied. tokio's `io::copy`.
///
/// It reads into a buffer of its own (8 KiB) and writes all of it before reading again. When
/// the reader has nothing yet, the writer is flushed first, so a buffering writer (a
/// [`BufWriter`](crate::io::BufWriter), a TLS stream) never holds bytes while the copy waits:
/// an echo or a proxy built on `copy` answers at once. Every completed read or write spends
/// the task's cooperative budget, so copying between two always-ready streams still lets the
/// other tasks of its thread run, and a [`timeout`](crate::time::timeout) around it fires.
///
/// The reader and writer are taken by value, as `futures-lite`'s `copy`, or by `&mut` (for an
/// `Unpin` type), as tokio's. The writer is not closed: see
/// [`copy_bidirectional`](crate::io::copy_bidirectional) for a copy that also passes EOF on.
/// To copy from a buffered reader without a second buffer, use
/// [`copy_buf`](crate::io::copy_buf).
///
/// # Errors
///
/// The reader's or the writer's error (a read, write or flush failing), or
/// [`io::ErrorKind::WriteZero`] if the writer accepts zero bytes. The bytes read and not yet
/// written are then lost.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future loses the bytes it has read and not yet written (at
/// most its buffer).
///
/// # Examples
///
/// An echo server's connection: what arrives goes back, batched by a `BufWriter` yet flushed
/// whenever the client pauses.
///
/// ```
/// use tether::io::{copy, duplex, split, AsyncReadExt, AsyncWriteExt, BufWriter};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let (mut client, server) = duplex(64);
///     tether::spawn(async move {
///         let (from_client, to_client) = split(server);
///         copy(from_client, &mut BufWriter::new(to_client)).await
///     });
///
///     client.write_all(b"ping").await?;
///     let mut echoed = [0u8; 4];
///     client.read_exact(&mut echoed).await?; // the copy flushed while it waited for more
///     assert_eq!(&echoed, b"ping");
///     Ok(())
/// }
/// ```
pub async fn copy<R, W>(reader: R, writer: W) -> io::Result<u64>
where
    R: AsyncRead,
    W: AsyncWrite,
{
    // Pinned here, so neither needs to be `Unpin`; `Pin<&mut _>` is an `Unpin` reader or
    // writer, as `CopyBuffer` wants.
    let mut reader = pin!(reader);
    let mut writer = pin!(writer);
    let mut buf = CopyBuffer::new();
    poll_fn(|cx| buf.poll_copy(cx, &mut reader, &mut writer)).await
}
