//! `BufReader`: a read buffer in front of a reader.
//!
//! tether has its own rather than re-exporting `futures-lite`'s because tokio's API has two
//! things that one lacks: a public `get_pin_mut`, and the write pass-through that
//! [`BufStream`](crate::io::BufStream) relies on (over a [`BufWriter`](crate::io::BufWriter),
//! which passes reads through in turn).
//!
//! The buffer is `buf[pos..filled]`, the bytes read from the inner reader and not yet returned.

use std::fmt;
use std::io::{self, IoSliceMut, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
use pin_project_lite::pin_project;

/// The buffer size of `new`, as tokio's.
pub(crate) const DEFAULT_BUF_SIZE: usize = 8 * 1024;

pin_project! {
    /// Adds a buffer to a reader: many small reads become a few large ones, and
    /// [`AsyncBufReadExt`](crate::io::AsyncBufReadExt) (`read_line`, `lines`, `read_until`)
    /// becomes available.
    ///
    /// A read at least as large as the buffer, while the buffer is empty, goes straight to the
    /// inner reader. Writes (when the inner type is also a writer) pass through unbuffered.
    /// Dropping it drops the buffered bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::{AsyncBufReadExt, BufReader};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let input: &[u8] = b"k=value\nnext";
    ///     let mut r = BufReader::with_capacity(4, input); // reads 4 bytes at a time
    ///     let mut key = Vec::new();
    ///     r.read_until(b'=', &mut key).await?;
    ///     assert_eq!(key, b"k=");
    ///     assert_eq!(r.buffer(), b"va"); // the rest of the first 4-byte read
    ///     Ok(())
    /// }
    /// ```
    pub struct BufReader<R> {
        #[pin]
        inner: R,
        buf: Box<[u8]>,
        // The next byte to return.
        pos: usize,
        // The end of the bytes read into `buf`.
        filled: usize,
    }
}

impl<R: AsyncRead> BufReader<R> {
    /// A reader with an 8 KiB buffer.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A reader with a buffer of `capacity` bytes.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0: filling an empty buffer would look like end-of-stream.
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        assert!(
            capacity > 0,
            "tether: BufReader::with_capacity(0, ..): filling an empty buffer would look like \
             end-of-stream; give it at least one byte, or read from the reader directly"
        );
        BufReader {
            inner,
            buf: vec![0; capacity].into_boxed_slice(),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R> BufReader<R> {
    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader; reading from it directly skips the buffered bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The pinned inner reader; reading from it directly skips the buffered bytes.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().inner
    }

    /// The inner reader back; the buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The bytes buffered and not read yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Forgets the buffered bytes.
    fn discard_buffer(self: Pin<&mut Self>) {
        let this = self.project();
        *this.pos = 0;
        *this.filled = 0;
    }
}

impl<R: AsyncRead> AsyncRead for BufReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pos == self.filled && buf.len() >= self.buf.len() {
            let res = ready!(self.as_mut().get_pin_mut().poll_read(cx, buf));
            self.discard_buffer();
            return Poll::Ready(res);
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.pos == self.filled && total >= self.buf.len() {
            let res = ready!(self.as_mut().get_pin_mut().poll_read_vectored(cx, bufs));
            self.discard_buffer();
            return Poll::Ready(res);
        }
        let mut available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let mut n = 0;
        for b in bufs {
            let k = available.len().min(b.len());
            b[..k].copy_from_slice(&available[..k]);
            available = &available[k..];
            n += k;
        }
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.project();
        if *this.pos >= *this.filled {
            let n = ready!(this.inner.poll_read(cx, this.buf))?;
            *this.pos = 0;
            *this.filled = n;
        }
        Poll::Ready(Ok(&this.buf[*this.pos..*this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.project();
        *this.pos = (*this.pos + amt).min(*this.filled);
    }
}

/// tokio's `AsyncRead` (feature `tokio-io`) over a `futures-io` reader: reads are served from
/// the buffer (filled by the inner reader's `futures-io` `poll_read`), copied into the unfilled
/// part of the `ReadBuf` without zero-filling it.
#[cfg(feature = "tokio-io")]
impl<R: AsyncRead> tokio::io::AsyncRead for BufReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let available = ready!(AsyncBufRead::poll_fill_buf(self.as_mut(), cx))?;
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        AsyncBufRead::consume(self, n);
        Poll::Ready(Ok(()))
    }
}

/// tokio's `AsyncBufRead` (feature `tokio-io`): the `futures-io` impl above, so tokio's
/// `AsyncBufReadExt` (`read_line`, `lines`) works on a tether `BufReader`.
#[cfg(feature = "tokio-io")]
impl<R: AsyncRead> tokio::io::AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(self, cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(self, amt)
    }
}

/// Seeking discards the buffer. `SeekFrom::Current(n)` is relative to the reader's logical
/// position (the next byte `read` would return), not to the inner reader's. A seek that fails
/// keeps the buffer: the next read returns the byte it would have returned without the seek.
impl<R: AsyncRead + AsyncSeek> AsyncSeek for BufReader<R> {
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let pos = match pos {
            SeekFrom::Current(n) => {
                let buffered = (self.filled - self.pos) as i64;
                let n = n.checked_sub(buffered).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "seek offset overflows once the buffered bytes are counted",
                    )
                })?;
                SeekFrom::Current(n)
            }
            other => other,
        };
        let res = ready!(self.as_mut().get_pin_mut().poll_seek(cx, pos));
        // Only a seek that happened invalidates the buffer. A failed one is taken to have left
        // the inner reader where it was (as std's and tokio's `BufReader` take it), so the
        // buffer still holds the next bytes.
        if res.is_ok() {
            self.discard_buffer();
        }
        Poll::Ready(res)
    }
}

/// Writes pass through to the inner writer, unbuffered.
impl<R: AsyncWrite> AsyncWrite for BufReader<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_pin_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_pin_mut().poll_close(cx)
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .field("capacity", &self.buf.len())
            .finish()
    }
}
