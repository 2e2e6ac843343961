//! [`AsyncBufReadExt`]: `futures-lite`'s buffered-reading methods, with tokio's [`Lines`] and
//! [`Split`] (`next_line().await`, `next_segment().await`) in place of `futures-lite`'s
//! stream-only ones. Both also implement `Stream`, so code written for `futures-lite`'s keeps
//! working.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncBufRead;
use futures_lite::io::{FillBuf, ReadLineFuture, ReadUntilFuture};
use pin_project_lite::pin_project;

/// Buffered-reading methods for every [`AsyncBufRead`] (a [`BufReader`](crate::io::BufReader),
/// a [`BufStream`](crate::io::BufStream), a `&[u8]`, ...).
///
/// It is implemented for every `AsyncBufRead`; import it or `futures-lite`'s / `futures-util`'s
/// trait of the same name, not both.
///
/// # Examples
///
/// Lines as tokio reads them, with `next_line`:
///
/// ```
/// use tether::io::{duplex, AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let (mut tx, rx) = duplex(64);
///     tether::spawn(async move { tx.write_all(b"GET /\r\nHost: x\n\nbody").await });
///
///     let mut lines = BufReader::new(rx).lines();
///     let mut headers = Vec::new();
///     while let Some(line) = lines.next_line().await? {
///         if line.is_empty() {
///             break; // the blank line ends the header
///         }
///         headers.push(line); // without "\n" or "\r\n"
///     }
///     assert_eq!(headers, ["GET /", "Host: x"]);
///     assert_eq!(lines.next_line().await?.as_deref(), Some("body")); // the last, unterminated
///     assert_eq!(lines.next_line().await?, None);
///     Ok(())
/// }
/// ```
pub trait AsyncBufReadExt: AsyncBufRead {
    /// The buffered bytes, reading more first if there are none; empty at end-of-stream. Pair
    /// it with [`consume`](AsyncBufReadExt::consume).
    fn fill_buf(&mut self) -> FillBuf<'_, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncBufReadExt::fill_buf(self)
    }

    /// Marks `amt` buffered bytes as read.
    fn consume(&mut self, amt: usize)
    where
        Self: Unpin,
    {
        futures_lite::AsyncBufReadExt::consume(self, amt);
    }

    /// Reads up to and including `byte` (or to end-of-stream), appending to `buf`; returns the
    /// number of bytes read (0 at end-of-stream).
    fn read_until<'a>(&'a mut self, byte: u8, buf: &'a mut Vec<u8>) -> ReadUntilFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncBufReadExt::read_until(self, byte, buf)
    }

    /// Reads a line, its `\n` included, appending to `buf`; returns the number of bytes read
    /// (0 at end-of-stream).
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line is not UTF-8, or the reader's error.
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLineFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncBufReadExt::read_line(self, buf)
    }

    /// The lines of the reader, without their `\n` or `\r\n`: call
    /// [`next_line`](Lines::next_line) (tokio's way), or use it as a `Stream` of
    /// `io::Result<String>` (`futures-lite`'s way). See the trait's example.
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines {
            reader: self,
            line: Vec::new(),
        }
    }

    /// The segments of the reader between occurrences of `byte` (which they do not include):
    /// call [`next_segment`](Split::next_segment), or use it as a `Stream` of
    /// `io::Result<Vec<u8>>`.
    fn split(self, byte: u8) -> Split<Self>
    where
        Self: Sized,
    {
        Split {
            reader: self,
            segment: Vec::new(),
            delim: byte,
        }
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Appends the bytes of `reader` to `out` up to `delim` (not included, but consumed). Ready
/// with `true` when `delim` was found, `false` at end-of-stream.
///
/// What was appended stays in `out` when the reader is not ready, so the caller (which keeps
/// `out` between polls) loses nothing if its future is dropped and polled again later.
fn poll_until<R: AsyncBufRead + ?Sized>(
    mut reader: Pin<&mut R>,
    cx: &mut Context<'_>,
    delim: u8,
    out: &mut Vec<u8>,
) -> Poll<io::Result<bool>> {
    loop {
        let available = ready!(reader.as_mut().poll_fill_buf(cx))?;
        if available.is_empty() {
            return Poll::Ready(Ok(false));
        }
        let (found, used) = match available.iter().position(|&b| b == delim) {
            Some(i) => {
                out.extend_from_slice(&available[..i]);
                (true, i + 1)
            }
            None => {
                out.extend_from_slice(available);
                (false, available.len())
            }
        };
        reader.as_mut().consume(used);
        if found {
            return Poll::Ready(Ok(true));
        }
    }
}

pin_project! {
    /// The lines of a reader, from [`AsyncBufReadExt::lines`].
    ///
    /// A line ends at `\n`; the `\n` and a `\r` before it are removed. The last line may lack
    /// its `\n`. It is also a `Stream` of `io::Result<String>`.
    #[derive(Debug)]
    #[must_use = "a `Lines` does nothing unless you call `next_line` or poll it"]
    pub struct Lines<R> {
        #[pin]
        reader: R,
        // The bytes of the line being read, kept across polls.
        line: Vec<u8>,
    }
}

impl<R: AsyncBufRead> Lines<R> {
    /// The next line, or `None` at end-of-stream.
    ///
    /// Cancel-safe: dropping the future loses nothing; the next call resumes the line.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line is not UTF-8 (the line is dropped, reading can go on), or the
    /// reader's error.
    pub async fn next_line(&mut self) -> io::Result<Option<String>>
    where
        R: Unpin,
    {
        poll_fn(|cx| Pin::new(&mut *self).poll_next_line(cx)).await
    }

    /// Polls for the next line; see [`next_line`](Lines::next_line).
    ///
    /// # Errors
    ///
    /// As `next_line`.
    pub fn poll_next_line(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<String>>> {
        let this = self.project();
        let found = ready!(poll_until(this.reader, cx, b'\n', this.line))?;
        if !found && this.line.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut line = std::mem::take(this.line);
        if found && line.last() == Some(&b'\r') {
            line.pop();
        }
        Poll::Ready(String::from_utf8(line).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line is not valid UTF-8: {e}"),
            )
        }))
    }
}

impl<R> Lines<R> {
    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The reader; reading from it directly skips what it returns.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The pinned reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().reader
    }

    /// The reader back; the part of a line read so far is lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> futures_lite::Stream for Lines<R> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_line(cx).map(Result::transpose)
    }
}

pin_project! {
    /// The segments of a reader between occurrences of a byte, from
    /// [`AsyncBufReadExt::split`]. It is also a `Stream` of `io::Result<Vec<u8>>`.
    #[derive(Debug)]
    #[must_use = "a `Split` does nothing unless you call `next_segment` or poll it"]
    pub struct Split<R> {
        #[pin]
        reader: R,
        // The bytes of the segment being read, kept across polls.
        segment: Vec<u8>,
        delim: u8,
    }
}

impl<R: AsyncBufRead> Split<R> {
    /// The next segment, without its delimiter, or `None` at end-of-stream. A stream that ends
    /// with the delimiter has no empty segment after it.
    ///
    /// Cancel-safe: dropping the future loses nothing; the next call resumes the segment.
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub async fn next_segment(&mut self) -> io::Result<Option<Vec<u8>>>
    where
        R: Unpin,
    {
        poll_fn(|cx| Pin::new(&mut *self).poll_next_segment(cx)).await
    }

    /// Polls for the next segment; see [`next_segment`](Split::next_segment).
    ///
    /// # Errors
    ///
    /// The reader's error.
    pub fn poll_next_segment(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Vec<u8>>>> {
        let this = self.project();
        let found = ready!(poll_until(this.reader, cx, *this.delim, this.segment))?;
        if !found && this.segment.is_empty() {
            return Poll::Ready(Ok(None));
        }
        Poll::Ready(Ok(Some(std::mem::take(this.segment))))
    }
}

impl<R> Split<R> {
    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The reader; reading from it directly skips what it returns.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The pinned reader.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut R> {
        self.project().reader
    }

    /// The reader back; the part of a segment read so far is lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: AsyncBufRead> futures_lite::Stream for Split<R> {
    type Item = io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_segment(cx).map(Result::transpose)
    }
}
