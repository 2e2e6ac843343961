//! `BufStream`: a read buffer and a write buffer in front of one stream.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use pin_project_lite::pin_project;

use crate::io::{BufReader, BufWriter};

pin_project! {
    /// Buffers both directions of a stream: a [`BufReader`] over a [`BufWriter`] over `RW`.
    ///
    /// Reads do not write out pending writes: **flush before waiting for an answer** to what
    /// was written, or both ends may wait for each other. As with [`BufWriter`], dropping it
    /// drops the bytes still buffered for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::{duplex, AsyncBufReadExt, AsyncWriteExt, BufStream};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let (client, server) = duplex(256);
    ///     tether::spawn(async move {
    ///         let mut server = BufStream::new(server);
    ///         let mut line = String::new();
    ///         server.read_line(&mut line).await?;
    ///         server.write_all(line.to_uppercase().as_bytes()).await?;
    ///         server.flush().await
    ///     });
    ///     let mut client = BufStream::new(client);
    ///     client.write_all(b"ping\n").await?;
    ///     client.flush().await?; // or the server never sees the line
    ///     let mut answer = String::new();
    ///     client.read_line(&mut answer).await?;
    ///     assert_eq!(answer, "PING\n");
    ///     Ok(())
    /// }
    /// ```
    pub struct BufStream<RW> {
        #[pin]
        inner: BufReader<BufWriter<RW>>,
    }
}

impl<RW: AsyncRead + AsyncWrite> BufStream<RW> {
    /// A stream with 8 KiB buffers.
    pub fn new(stream: RW) -> BufStream<RW> {
        BufStream {
            inner: BufReader::new(BufWriter::new(stream)),
        }
    }

    /// A stream with a read buffer of `reader_capacity` and a write buffer of
    /// `writer_capacity` bytes.
    ///
    /// # Panics
    ///
    /// If `reader_capacity` is 0 (see [`BufReader::with_capacity`]).
    pub fn with_capacity(
        reader_capacity: usize,
        writer_capacity: usize,
        stream: RW,
    ) -> BufStream<RW> {
        BufStream {
            inner: BufReader::with_capacity(
                reader_capacity,
                BufWriter::with_capacity(writer_capacity, stream),
            ),
        }
    }
}

impl<RW> BufStream<RW> {
    /// The stream.
    pub fn get_ref(&self) -> &RW {
        self.inner.get_ref().get_ref()
    }

    /// The stream; using it directly bypasses both buffers.
    pub fn get_mut(&mut self) -> &mut RW {
        self.inner.get_mut().get_mut()
    }

    /// The pinned stream; see [`get_mut`](BufStream::get_mut).
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut RW> {
        self.project().inner.get_pin_mut().get_pin_mut()
    }

    /// The stream back; the bytes in both buffers are lost (flush first).
    pub fn into_inner(self) -> RW {
        self.inner.into_inner().into_inner()
    }
}

impl<RW> From<BufReader<BufWriter<RW>>> for BufStream<RW> {
    fn from(inner: BufReader<BufWriter<RW>>) -> BufStream<RW> {
        BufStream { inner }
    }
}

impl<RW: AsyncRead + AsyncWrite> AsyncRead for BufStream<RW> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_read(cx, buf)
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_read_vectored(cx, bufs)
    }
}

impl<RW: AsyncRead + AsyncWrite> AsyncBufRead for BufStream<RW> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.project().inner.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.project().inner.consume(amt);
    }
}

impl<RW: AsyncRead + AsyncWrite> AsyncWrite for BufStream<RW> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}

impl<RW: fmt::Debug> fmt::Debug for BufStream<RW> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufStream")
            .field("inner", self.get_ref())
            .field("read_buffered", &self.inner.buffer().len())
            .field("write_buffered", &self.inner.get_ref().buffer().len())
            .finish()
    }
}
