//! `copy_buf`: copying from a buffered reader without a second buffer.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Poll};

use futures_io::{AsyncBufRead, AsyncWrite};

/// Copies everything `reader` yields into `writer`, then flushes `writer`; returns the number
/// of bytes copied. tokio's `io::copy_buf`.
///
/// Unlike [`copy`](crate::io::copy), which reads into a buffer of its own, it writes straight
/// from the reader's buffer (a [`BufReader`](crate::io::BufReader), a `&[u8]`, ...). Bytes are
/// taken out of the reader only once the writer has accepted them, so if the future is dropped
/// none is lost: the copy can resume.
///
/// # Errors
///
/// The reader's or the writer's error, or `WriteZero` if the writer stops taking bytes.
///
/// # Examples
///
/// ```
/// use tether::io::{copy_buf, BufReader};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut reader = BufReader::new(&b"copied through the reader's buffer"[..]);
///     let mut out = Vec::new();
///     let n = copy_buf(&mut reader, &mut out).await?;
///     assert_eq!(n, 34);
///     assert_eq!(out, b"copied through the reader's buffer");
///     Ok(())
/// }
/// ```
pub async fn copy_buf<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut copied = 0u64;
    poll_fn(|cx| loop {
        let buf = ready!(Pin::new(&mut *reader).poll_fill_buf(cx))?;
        if buf.is_empty() {
            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
            return Poll::Ready(Ok(copied));
        }
        let n = ready!(Pin::new(&mut *writer).poll_write(cx, buf))?;
        if n == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("copy_buf: the writer took no more bytes after {copied}"),
            )));
        }
        Pin::new(&mut *reader).consume(n);
        copied += n as u64;
    })
    .await
}
