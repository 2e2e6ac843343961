//! [`AsyncBufReadExt`]: `futures-lite`'s buffered-reading methods, with tokio's [`Lines`] and
//! [`Split`] (`next_line().await`, `next_segment().await`) in place of `futures-lite`'s
//! stream-only ones. Both also implement `Stream`, so code written for `futures-lite`'s keeps
//! working.
//!
//! `read_line` is tether's own ([`ReadLine`]): `futures-lite`'s replaces the caller's `String`
//! with the line (and asserts, in debug builds, that it was empty), where tokio's and std's
//! append to it. So is `fill_buf` ([`FillBuf`]): `futures-lite`'s polls the reader twice (the
//! second time to get the slice for the future's whole lifetime) and panics if the second poll
//! is `Pending`, which a reader spending the cooperative budget returns when the first poll
//! spent the last unit.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncBufRead;
use futures_lite::io::ReadUntilFuture;
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
    ///
    /// Cancel-safe: the bytes stay in the reader's buffer until consumed.
    fn fill_buf(&mut self) -> FillBuf<'_, Self>
    where
        Self: Unpin,
    {
        FillBuf { reader: Some(self) }
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

    /// Reads a line, its `\n` included, and appends it to `buf`; returns the number of bytes
    /// appended (0 at end-of-stream). The last line of a stream may lack its `\n`.
    ///
    /// As tokio's and std's, it appends: clear `buf` between lines to get one line at a time.
    ///
    /// # Errors
    ///
    /// - `InvalidData` if the line is not UTF-8: `buf` is left as it was, and the line's bytes
    ///   are consumed (the next call reads the next line).
    /// - The reader's error: the part of the line read before it is appended if it is UTF-8
    ///   (so calling again continues the line), as tokio and std do; otherwise `buf` is left as
    ///   it was.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe (nor is tokio's): dropping the future before it completes loses the
    /// part of the line it has read. `buf` is then left as it was before the call (tokio's
    /// leaves it empty). [`lines`](AsyncBufReadExt::lines) with
    /// [`next_line`](Lines::next_line) is cancel-safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::{AsyncBufReadExt, BufReader};
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut r = BufReader::new(&b"one\ntwo"[..]);
    ///     let mut text = String::from("zero\n");
    ///     assert_eq!(r.read_line(&mut text).await?, 4);
    ///     assert_eq!(r.read_line(&mut text).await?, 3); // the last line, without its "\n"
    ///     assert_eq!(r.read_line(&mut text).await?, 0); // end-of-stream
    ///     assert_eq!(text, "zero\none\ntwo");
    ///     Ok(())
    /// }
    /// ```
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine {
            reader: self,
            buf,
            line: Vec::new(),
        }
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

/// The future of [`AsyncBufReadExt::fill_buf`]: polls the reader's `poll_fill_buf` once per
/// poll of its own.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct FillBuf<'a, R: ?Sized> {
    /// The reader until the future completes (taken out then, its borrow handed to the slice).
    reader: Option<&'a mut R>,
}

impl<'a, R: AsyncBufRead + Unpin + ?Sized> Future for FillBuf<'a, R> {
    type Output = io::Result<&'a [u8]>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&'a [u8]>> {
        let reader = self
            .reader
            .take()
            .expect("tether: FillBuf polled after it completed");
        match Pin::new(&mut *reader).poll_fill_buf(cx) {
            Poll::Ready(Ok(slice)) => {
                // SAFETY: `slice` borrows `*reader`, which is borrowed for `'a`. The borrow
                // checker ties `slice` to the shorter reborrow only because the `Pending` arm
                // below puts `reader` back (a limit of today's borrow checker, not a
                // conflict). On this arm `reader` was taken out of `self` and is dropped
                // unused, so nothing else can reach `*reader` during `'a`: extending the
                // slice's lifetime to `'a` aliases nothing (tokio's `fill_buf` does the same).
                let slice = unsafe { std::mem::transmute::<&[u8], &'a [u8]>(slice) };
                Poll::Ready(Ok(slice))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.reader = Some(reader);
                Poll::Pending
            }
        }
    }
}

impl<R: ?Sized> fmt::Debug for FillBuf<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FillBuf")
            .field("done", &self.reader.is_none())
            .finish_non_exhaustive()
    }
}

/// The future of [`AsyncBufReadExt::read_line`]: reads a line into a buffer of its own, then
/// appends it to the caller's `String` once the line is complete and known to be UTF-8.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadLine<'a, R: ?Sized> {
    reader: &'a mut R,
    /// The caller's string; touched only when the future completes.
    buf: &'a mut String,
    /// The bytes of the line read so far: consumed from the reader, not yet validated nor
    /// appended to `buf`.
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = ready!(poll_until(
            Pin::new(&mut *this.reader),
            cx,
            b'\n',
            &mut this.line
        ));
        if let Ok(true) = read {
            this.line.push(b'\n'); // `poll_until` consumed it without keeping it
        }
        let line = std::mem::take(&mut this.line);
        let utf8 = std::str::from_utf8(&line);
        Poll::Ready(match (read, utf8) {
            (Ok(_), Ok(s)) => {
                this.buf.push_str(s);
                Ok(line.len())
            }
            (Ok(_), Err(e)) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "read_line: the line is not valid UTF-8 ({e}); the string was left as it \
                     was and the line skipped. Use read_until(b'\\n', ..) to get its bytes"
                ),
            )),
            (Err(e), Ok(s)) => {
                this.buf.push_str(s); // tokio's and std's choice: a retry continues the line
                Err(e)
            }
            (Err(e), Err(_)) => Err(e),
        })
    }
}

impl<R: ?Sized> fmt::Debug for ReadLine<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadLine")
            .field("read", &self.line.len())
            .finish_non_exhaustive()
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
