//! [`empty`], [`repeat`] and [`sink`]: a reader of nothing, a reader of one byte forever, and a
//! writer that drops what it is given.
//!
//! tether has its own rather than re-exporting `futures-lite`'s, which never return `Pending`:
//! a loop over them, or a [`copy`](crate::io::copy) from `repeat` into `sink`, never yielded,
//! starved the other tasks of its thread and could not be stopped by a
//! [`timeout`](crate::time::timeout). As tokio's, every operation here (each read, `fill_buf`,
//! write, flush and close) spends one unit of the cooperative budget (`coop::poll_proceed`)
//! and, once the budget is spent, wakes the task and returns `Pending`. Outside a runtime's
//! task the budget is unconstrained: they are then always ready.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::task::coop;

/// Spends one unit of the cooperative budget for an operation that completes at once, or,
/// when the budget is spent, wakes the task and returns `Pending`.
fn poll_spend(cx: &mut Context<'_>) -> Poll<()> {
    let coop = ready!(coop::poll_proceed(cx));
    coop.made_progress();
    Poll::Ready(())
}

/// A reader that is always at end-of-stream: every read returns 0 bytes. tokio's `io::empty`.
///
/// Each read spends the task's
/// [cooperative budget](crate::task#the-cooperative-budget), so a loop over it still lets the
/// other tasks run.
///
/// # Examples
///
/// ```
/// use tether::io::{empty, AsyncReadExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut contents = Vec::new();
///     assert_eq!(empty().read_to_end(&mut contents).await?, 0);
///     assert!(contents.is_empty());
///     Ok(())
/// }
/// ```
pub fn empty() -> Empty {
    Empty { _private: () }
}

/// The reader of [`empty`]: implements [`AsyncRead`] and [`AsyncBufRead`], always at
/// end-of-stream.
pub struct Empty {
    _private: (),
}

impl AsyncRead for Empty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        ready!(poll_spend(cx));
        Poll::Ready(Ok(0))
    }
}

impl AsyncBufRead for Empty {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(poll_spend(cx));
        Poll::Ready(Ok(&[]))
    }

    fn consume(self: Pin<&mut Self>, _amt: usize) {}
}

impl fmt::Debug for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Empty { .. }")
    }
}

/// A reader that yields `byte` forever: every read fills its whole buffer. tokio's
/// `io::repeat`.
///
/// Each read spends the task's cooperative budget, so copying it somewhere that is always ready
/// still lets the other tasks run, and a [`timeout`](crate::time::timeout) around the copy
/// fires.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::io::{copy, repeat, sink, AsyncReadExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut sevens = [0u8; 3];
///     repeat(7).read_exact(&mut sevens).await?;
///     assert_eq!(sevens, [7, 7, 7]);
///
///     // An endless copy, stopped by its deadline.
///     let endless = tether::time::timeout(Duration::from_millis(10), copy(repeat(0), sink()));
///     assert!(endless.await.is_err());
///     Ok(())
/// }
/// ```
pub fn repeat(byte: u8) -> Repeat {
    Repeat { byte }
}

/// The reader of [`repeat`]: implements [`AsyncRead`], yielding one byte forever.
#[derive(Debug)]
pub struct Repeat {
    byte: u8,
}

impl AsyncRead for Repeat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        ready!(poll_spend(cx));
        buf.fill(self.byte);
        Poll::Ready(Ok(buf.len()))
    }
}

/// A writer that takes every byte and drops it; flushing and closing do nothing. tokio's
/// `io::sink`.
///
/// Each write, flush and close spends the task's cooperative budget, so a loop writing into it
/// still lets the other tasks run.
///
/// # Examples
///
/// ```
/// use tether::io::{copy, sink, AsyncWriteExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut w = sink();
///     w.write_all(b"dropped").await?;
///     assert_eq!(copy(&b"counted"[..], sink()).await?, 7);
///     Ok(())
/// }
/// ```
pub fn sink() -> Sink {
    Sink { _private: () }
}

/// The writer of [`sink`]: implements [`AsyncWrite`], taking every byte and dropping it.
#[derive(Debug)]
pub struct Sink {
    _private: (),
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(poll_spend(cx));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(poll_spend(cx));
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(poll_spend(cx));
        Poll::Ready(Ok(()))
    }
}
