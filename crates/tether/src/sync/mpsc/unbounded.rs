//! The unbounded channel: [`UnboundedSender`] and [`UnboundedReceiver`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::{SendError, TryRecvError};
use super::RecvHalf;
use crate::sync::{block_on_sync, chan};
use crate::task::coop::Budgeted;

/// Creates an unbounded channel: sending never waits, and the queue grows as needed.
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     for i in 0..1_000 {
///         tx.send(i).unwrap(); // no `.await`: never waits
///     }
///     drop(tx);
///     let mut n = 0;
///     while let Some(i) = rx.recv().await {
///         assert_eq!(i, n);
///         n += 1;
///     }
///     assert_eq!(n, 1_000);
/// }
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = chan::unbounded();
    (
        UnboundedSender { inner: tx },
        UnboundedReceiver {
            inner: RecvHalf::new(rx),
        },
    )
}

/// The sending half of an unbounded channel; created by [`unbounded_channel`], cloned for more
/// producers.
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = mpsc::unbounded_channel::<&str>();
///     drop(rx);
///     let err = tx.send("lost").unwrap_err();
///     assert_eq!(err.0, "lost"); // the value comes back
/// }
/// ```
pub struct UnboundedSender<T> {
    inner: chan::ChanSender<T>,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` without waiting (the queue grows as needed).
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`] when the receiver was dropped or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.inner.try_send(value).map_err(|e| match e {
            // An unbounded channel is never full: the only failure is a closed channel.
            chan::TrySendErr::Full(v) | chan::TrySendErr::Closed(v) => SendError(v),
        })
    }

    /// Waits until the receiver is dropped or closed.
    ///
    /// Spends one unit of the cooperative budget when it completes.
    pub async fn closed(&self) {
        Budgeted::new(self.inner.closed()).await
    }

    /// Whether the receiver was dropped or closed, so that sends fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether `self` and `other` send into the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        UnboundedSender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .field("queued", &self.inner.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of an unbounded channel; created by [`unbounded_channel`].
///
/// It is also a [`Stream`](futures_core::Stream) of the values, ending when `recv` would
/// return `None`.
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::unbounded_channel();
///     tether::spawn(async move {
///         tx.send(1).unwrap();
///         tx.send(2).unwrap();
///     });
///     assert_eq!(rx.recv().await, Some(1));
///     assert_eq!(rx.recv().await, Some(2));
///     assert_eq!(rx.recv().await, None); // the sender was dropped
/// }
/// ```
pub struct UnboundedReceiver<T> {
    inner: RecvHalf<T>,
}

impl<T> UnboundedReceiver<T> {
    /// Receives the next value, waiting while the channel is empty; `None` once the channel is
    /// empty and every sender is gone (or the channel was closed).
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Receives up to `limit` values at once, appending them to `buffer`; see
    /// [`Receiver::recv_many`](super::Receiver::recv_many).
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        std::future::poll_fn(|cx| self.inner.poll_recv_many(cx, buffer, limit)).await
    }

    /// Receives the next value from synchronous code, blocking the thread while the channel is
    /// empty; see [`Receiver::blocking_recv`](super::Receiver::blocking_recv).
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks; use
    /// [`recv`](Self::recv)`.await` there.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        block_on_sync(
            "mpsc::UnboundedReceiver::blocking_recv",
            "recv().await",
            self.recv(),
        )
    }

    /// [`recv_many`](Self::recv_many) from synchronous code, blocking the thread while the
    /// channel is empty.
    ///
    /// # Panics
    ///
    /// As [`blocking_recv`](Self::blocking_recv).
    #[track_caller]
    pub fn blocking_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        block_on_sync(
            "mpsc::UnboundedReceiver::blocking_recv_many",
            "recv_many(..).await",
            self.recv_many(buffer, limit),
        )
    }

    /// Polls for the next value; see [`Receiver::poll_recv`](super::Receiver::poll_recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
    }

    /// Polls for up to `limit` values; see [`recv_many`](Self::recv_many).
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        self.inner.poll_recv_many(cx, buffer, limit)
    }

    /// Takes the next value if one is queued, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when nothing is queued, [`TryRecvError::Disconnected`] when
    /// nothing will ever come.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }

    /// Closes the channel: sends fail from now on. Values already queued can still be received.
    pub fn close(&mut self) {
        self.inner.rx.close();
    }

    /// Whether the channel is closed: every sender is gone, or [`close`](Self::close) was
    /// called. Values may still be queued.
    pub fn is_closed(&self) -> bool {
        self.inner.rx.is_closed()
    }

    /// The number of values queued.
    pub fn len(&self) -> usize {
        self.inner.rx.len()
    }

    /// Whether no value is queued.
    pub fn is_empty(&self) -> bool {
        self.inner.rx.len() == 0
    }
}

/// Nothing in a receiver is pinned (values are only moved in and out of its queue).
impl<T> Unpin for UnboundedReceiver<T> {}

/// The values, as `recv` returns them; spends the cooperative budget as `recv` does.
impl<T> futures_core::Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().inner.poll_recv(cx)
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .field("queued", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
