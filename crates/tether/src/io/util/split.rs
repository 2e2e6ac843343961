//! `split`: a reading half and a writing half of any `AsyncRead + AsyncWrite`, usable from two
//! tasks.
//!
//! # Protocol
//!
//! 1. The halves share the stream through an `Arc` holding it under a mutex. Each `poll_*` of
//!    a half locks the mutex for that one call, so one call runs on the stream at a time. A
//!    `poll_*` never blocks, so the lock is held for the length of one non-blocking attempt:
//!    a reader and a writer on two threads wait for each other only that long.
//! 2. The stream sits in the `Arc`'s allocation from `split` until it is dropped or
//!    `unsplit` takes it out; it never moves in between. That is what makes handing out
//!    `Pin<&mut T>` under the lock sound for a `T` that is not `Unpin`; `unsplit`, which moves
//!    it, requires `T: Unpin`.
//! 3. The halves rely on the stream keeping the waker of its last `poll_read` apart from the
//!    waker of its last `poll_write` (as tether's sockets, pipes and [`duplex`](crate::io::duplex)
//!    streams do): the reading task and the writing task each wait on their own direction. A
//!    stream with one waker slot for both would lose one task's wake-up.
//! 4. `unsplit` takes the two halves of one `split` (checked by pointer identity), so once both
//!    are consumed the `Arc` has no other owner and the stream comes out.
//!
//! A stream type with halves of its own ([`TcpStream::into_split`](crate::net::TcpStream::into_split),
//! [`UnixStream::into_split`](crate::net::UnixStream::into_split)) needs no lock: prefer those.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};

/// Splits `stream` into a reading half and a writing half that can move to two tasks; tokio's
/// `io::split`.
///
/// Each half locks the shared stream for the length of one poll (see the rules in the module
/// source). [`ReadHalf::unsplit`] puts the stream back together.
///
/// # Examples
///
/// ```
/// use tether::io::{duplex, split, AsyncReadExt, AsyncWriteExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let (client, mut server) = duplex(64);
///     let (mut rd, mut wr) = split(client);
///     let writer = tether::spawn(async move {
///         wr.write_all(b"request").await?;
///         std::io::Result::Ok(wr)
///     });
///     let mut req = [0u8; 7];
///     server.read_exact(&mut req).await?;
///     server.write_all(b"reply").await?;
///     let mut reply = [0u8; 5];
///     rd.read_exact(&mut reply).await?;
///     assert_eq!(&reply, b"reply");
///     let wr = writer.await.unwrap()?;
///     let _client = rd.unsplit(wr); // the original stream again
///     Ok(())
/// }
/// ```
pub fn split<T: AsyncRead + AsyncWrite>(stream: T) -> (ReadHalf<T>, WriteHalf<T>) {
    let shared = Arc::new(Shared {
        stream: Mutex::new(stream),
    });
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

/// The stream both halves use.
struct Shared<T> {
    /// Locked for one `poll_*` call at a time (rule 1); never moved while shared (rule 2).
    stream: Mutex<T>,
}

impl<T> Shared<T> {
    /// Runs `f` on the pinned stream under the lock (rules 1, 2).
    fn with_pinned<R>(&self, f: impl FnOnce(Pin<&mut T>) -> R) -> R {
        let mut guard = lock(&self.stream);
        // SAFETY: the stream lives in the `Arc`'s allocation and is not moved until it is
        // dropped there or taken out by `unsplit`, which requires `T: Unpin` (rule 2); the
        // guard gives exclusive access for this call.
        let pinned = unsafe { Pin::new_unchecked(&mut *guard) };
        f(pinned)
    }
}

/// The reading half of a stream, from [`split`].
pub struct ReadHalf<T> {
    shared: Arc<Shared<T>>,
}

/// The writing half of a stream, from [`split`].
pub struct WriteHalf<T> {
    shared: Arc<Shared<T>>,
}

impl<T> ReadHalf<T> {
    /// Whether `other` came from the same [`split`] as this half.
    pub fn is_pair_of(&self, other: &WriteHalf<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Puts the stream back together from its two halves (rule 4).
    ///
    /// # Panics
    ///
    /// If `wr` came from another [`split`]; check with [`is_pair_of`](ReadHalf::is_pair_of).
    #[track_caller]
    pub fn unsplit(self, wr: WriteHalf<T>) -> T
    where
        T: Unpin,
    {
        assert!(
            self.is_pair_of(&wr),
            "tether: ReadHalf::unsplit was given the WriteHalf of another split; pass the half \
             that the same split returned (check with is_pair_of)"
        );
        drop(wr);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => shared
                .stream
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            Err(_) => unreachable!("tether: both halves were given back, so no other owner"),
        }
    }
}

impl<T> WriteHalf<T> {
    /// Whether `other` came from the same [`split`] as this half.
    pub fn is_pair_of(&self, other: &ReadHalf<T>) -> bool {
        other.is_pair_of(self)
    }
}

impl<T: AsyncRead> AsyncRead for ReadHalf<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.shared.with_pinned(|s| s.poll_read(cx, buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.shared.with_pinned(|s| s.poll_read_vectored(cx, bufs))
    }
}

impl<T: AsyncWrite> AsyncWrite for WriteHalf<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.shared.with_pinned(|s| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.shared.with_pinned(|s| s.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.with_pinned(|s| s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.with_pinned(|s| s.poll_close(cx))
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("split::ReadHalf").finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for WriteHalf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("split::WriteHalf").finish_non_exhaustive()
    }
}
