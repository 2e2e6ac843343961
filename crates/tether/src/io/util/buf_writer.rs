//! `BufWriter`: a write buffer in front of a writer.
//!
//! tether has its own rather than re-exporting `futures-lite`'s for tokio's API: a public
//! `get_pin_mut`, and reads passed through to the inner stream, which
//! [`BufStream`](crate::io::BufStream) needs.
//!
//! The buffer holds bytes taken by `poll_write` and not yet written to the inner writer; it is
//! never larger than its capacity.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
use pin_project_lite::pin_project;

use crate::io::util::buf_reader::DEFAULT_BUF_SIZE;

pin_project! {
    /// Adds a buffer to a writer: many small writes become a few large ones.
    ///
    /// A write that does not fit in the free room first writes out the buffer; one at least as
    /// large as the buffer then goes straight to the inner writer. **Call
    /// [`flush`](crate::io::AsyncWriteExt::flush) (or `close`/`shutdown`, which flush first)
    /// before dropping it**: dropping it drops the bytes still buffered, since a drop cannot
    /// wait for a write. Reads (when the inner type is also a reader) pass through unbuffered.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::{duplex, AsyncReadExt, AsyncWriteExt, BufWriter};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let (tx, mut rx) = duplex(1024);
    ///     let mut w = BufWriter::new(tx);
    ///     for word in ["many ", "small ", "writes"] {
    ///         w.write_all(word.as_bytes()).await?; // buffered: nothing reached `rx` yet
    ///     }
    ///     assert_eq!(w.buffer(), b"many small writes");
    ///     w.close().await?; // flushes, then closes the writing direction
    ///     let mut got = String::new();
    ///     rx.read_to_string(&mut got).await?;
    ///     assert_eq!(got, "many small writes");
    ///     Ok(())
    /// }
    /// ```
    pub struct BufWriter<W> {
        #[pin]
        inner: W,
        buf: Vec<u8>,
    }
}

impl<W: AsyncWrite> BufWriter<W> {
    /// A writer with an 8 KiB buffer.
    pub fn new(inner: W) -> BufWriter<W> {
        BufWriter::with_capacity(DEFAULT_BUF_SIZE, inner)
    }

    /// A writer with a buffer of `capacity` bytes (0: every write goes straight through).
    pub fn with_capacity(capacity: usize, inner: W) -> BufWriter<W> {
        BufWriter {
            inner,
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Writes the buffered bytes to the inner writer (without flushing it). What was written
    /// leaves the buffer even when the call returns `Pending` or an error.
    fn flush_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        let mut written = 0;
        let mut res = Ok(());
        while written < this.buf.len() {
            match this.inner.as_mut().poll_write(cx, &this.buf[written..]) {
                Poll::Pending => {
                    this.buf.drain(..written);
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    res = Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the inner writer took no more of the buffered bytes",
                    ));
                    break;
                }
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => {
                    res = Err(e);
                    break;
                }
            }
        }
        this.buf.drain(..written);
        Poll::Ready(res)
    }
}

impl<W> BufWriter<W> {
    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer; writing to it directly bypasses (and precedes) the buffered bytes.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The pinned inner writer; see [`get_mut`](BufWriter::get_mut).
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut W> {
        self.project().inner
    }

    /// The inner writer back; the buffered bytes are lost (flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The bytes buffered and not written yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }
}

impl<W: AsyncWrite> AsyncWrite for BufWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() + buf.len() > self.buf.capacity() {
            ready!(self.as_mut().flush_buf(cx))?;
        }
        let this = self.project();
        if buf.len() >= this.buf.capacity() {
            this.inner.poll_write(cx, buf)
        } else {
            this.buf.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.buf.len() + total > self.buf.capacity() {
            ready!(self.as_mut().flush_buf(cx))?;
        }
        let this = self.project();
        if total >= this.buf.capacity() {
            this.inner.poll_write_vectored(cx, bufs)
        } else {
            for b in bufs {
                this.buf.extend_from_slice(b);
            }
            Poll::Ready(Ok(total))
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().flush_buf(cx))?;
        self.get_pin_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().flush_buf(cx))?;
        self.get_pin_mut().poll_close(cx)
    }
}

/// Seeking writes out the buffer first.
impl<W: AsyncWrite + AsyncSeek> AsyncSeek for BufWriter<W> {
    fn poll_seek(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        ready!(self.as_mut().flush_buf(cx))?;
        self.get_pin_mut().poll_seek(cx, pos)
    }
}

/// Reads pass through to the inner reader; they do not write out the buffer first.
impl<W: AsyncRead> AsyncRead for BufWriter<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_pin_mut().poll_read_vectored(cx, bufs)
    }
}

/// Buffered reads pass through to the inner reader.
impl<W: AsyncBufRead> AsyncBufRead for BufWriter<W> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_pin_mut().poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_pin_mut().consume(amt);
    }
}

impl<W: fmt::Debug> fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufWriter")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.len())
            .field("capacity", &self.buf.capacity())
            .finish()
    }
}
