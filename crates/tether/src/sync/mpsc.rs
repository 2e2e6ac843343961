//! A multi-producer, single-consumer channel: many tasks send values, one task receives them in
//! order.
//!
//! - [`channel`]`(capacity)` is **bounded**: it holds at most `capacity` values, and
//!   [`Sender::send`] waits while it is full. That wait is the channel's *backpressure*: a fast
//!   producer is slowed down to the pace of its consumer instead of filling memory.
//! - [`unbounded_channel`] never makes a sender wait; [`UnboundedSender::send`] is a plain
//!   function. Use it only when something else bounds how much is sent.
//!
//! Senders are cheap to clone. When every sender is dropped, the receiver still gets the values
//! already sent, then `recv` returns `None`. When the receiver is dropped (or
//! [`close`](Receiver::close)d), sends fail and give the value back.
//!
//! Backed by `async-channel` (one queue per channel, lock-free for bounded capacities, with
//! `event-listener` queues for waiting senders and receivers); this module restricts it to one
//! receiver and adds the cooperative budget: `recv` and a bounded `send` spend one unit when they
//! complete, `try_*` and the unbounded `send` spend nothing.
//!
//! Differences from tokio: no `reserve`/`Permit`, `WeakSender` or `blocking_*` methods.

use std::fmt;

use std::task::{Context, Poll};

use super::chan;
use crate::task::coop::{self, Budgeted};

/// Error types of the mpsc channels.
pub mod error {
    use std::fmt;

    /// The value could not be sent because the receiver was dropped or closed; it is given back
    /// in field `0`.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError { .. }")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("sending on a closed channel: the receiver was dropped or closed")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// Why [`try_send`](super::Sender::try_send) did not send; the value is given back.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum TrySendError<T> {
        /// The channel is full; `send(..).await` would wait for room.
        Full(T),
        /// The receiver was dropped or closed.
        Closed(T),
    }

    impl<T> TrySendError<T> {
        /// The value that was not sent.
        pub fn into_inner(self) -> T {
            match self {
                TrySendError::Full(v) | TrySendError::Closed(v) => v,
            }
        }

        /// Whether the channel was full (as opposed to closed).
        pub fn is_full(&self) -> bool {
            matches!(self, TrySendError::Full(_))
        }

        /// Whether the channel was closed.
        pub fn is_closed(&self) -> bool {
            matches!(self, TrySendError::Closed(_))
        }
    }

    impl<T> From<SendError<T>> for TrySendError<T> {
        fn from(e: SendError<T>) -> TrySendError<T> {
            TrySendError::Closed(e.0)
        }
    }

    impl<T> fmt::Debug for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => f.write_str("Full(..)"),
                TrySendError::Closed(_) => f.write_str("Closed(..)"),
            }
        }
    }

    impl<T> fmt::Display for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => {
                    f.write_str("the channel is full; `send(..).await` waits for room")
                }
                TrySendError::Closed(_) => {
                    f.write_str("sending on a closed channel: the receiver was dropped or closed")
                }
            }
        }
    }

    impl<T> std::error::Error for TrySendError<T> {}

    /// Why [`try_recv`](super::Receiver::try_recv) returned no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// The channel is empty, but senders remain.
        Empty,
        /// The channel is empty and every sender was dropped (or the receiver closed it): no
        /// value will ever come.
        Disconnected,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("the channel is empty"),
                TryRecvError::Disconnected => f.write_str(
                    "the channel is empty and closed: every sender was dropped, or the receiver \
                     closed it",
                ),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{SendError, TryRecvError, TrySendError};

/// Creates a bounded channel that holds at most `capacity` values.
///
/// # Panics
///
/// Panics if `capacity` is 0 (as tokio does): such a channel could never hold a value. Use a
/// [`oneshot`](super::oneshot) channel or a capacity of 1 for a hand-over.
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(2);
///     tether::spawn(async move {
///         for i in 0..5 {
///             // Waits whenever two values are already queued.
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// }
/// ```
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "tether::sync::mpsc::channel: the capacity must be at least 1 (a channel of capacity 0 \
         could never hold a value); use a oneshot channel or capacity 1 for a hand-over"
    );
    let (tx, rx) = chan::bounded(capacity);
    (
        Sender { inner: tx },
        Receiver {
            inner: RecvHalf::new(rx),
        },
    )
}

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

/// The sending half of a bounded channel; created by [`channel`], cloned for more producers.
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(16);
///     for id in 0..3 {
///         let tx = tx.clone();
///         tether::spawn(async move { tx.send(id).await.unwrap() });
///     }
///     drop(tx); // only the clones remain; `recv` ends when they are gone
///     let mut ids = Vec::new();
///     while let Some(id) = rx.recv().await {
///         ids.push(id);
///     }
///     ids.sort();
///     assert_eq!(ids, [0, 1, 2]);
/// }
/// ```
pub struct Sender<T> {
    inner: chan::ChanSender<T>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full.
    ///
    /// Spends one unit of the cooperative budget when it completes. If the future is dropped
    /// before it completes, the value is dropped with it and was not sent.
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`] when the receiver was dropped or closed.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        Budgeted::new(self.inner.send(value))
            .await
            .map_err(SendError)
    }

    /// Sends `value` if there is room right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when the channel is full, [`TrySendError::Closed`] when the
    /// receiver is gone; both give the value back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(value).map_err(|e| match e {
            chan::TrySendErr::Full(v) => TrySendError::Full(v),
            chan::TrySendErr::Closed(v) => TrySendError::Closed(v),
        })
    }

    /// Waits until the receiver is dropped or closed.
    pub async fn closed(&self) {
        Budgeted::new(self.inner.closed()).await
    }

    /// Whether the receiver was dropped or closed, so that sends fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// How many values can be sent right now without waiting: the maximum capacity minus the
    /// values queued.
    pub fn capacity(&self) -> usize {
        self.max_capacity().saturating_sub(self.inner.len())
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.inner.capacity().unwrap_or(usize::MAX)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("queued", &self.inner.len())
            .field("max_capacity", &self.max_capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
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
    pub async fn closed(&self) {
        Budgeted::new(self.inner.closed()).await
    }

    /// Whether the receiver was dropped or closed, so that sends fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
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

/// What both receivers do: the channel core's receiver plus the cooperative budget.
struct RecvHalf<T> {
    rx: chan::ChanReceiver<T>,
}

impl<T> RecvHalf<T> {
    fn new(rx: chan::ChanReceiver<T>) -> RecvHalf<T> {
        RecvHalf { rx }
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let out = std::task::ready!(self.rx.poll_recv(cx));
        coop.made_progress();
        Poll::Ready(out)
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            chan::TryRecvErr::Empty => TryRecvError::Empty,
            chan::TryRecvErr::Closed => TryRecvError::Disconnected,
        })
    }
}

/// The receiving half of a bounded channel; created by [`channel`].
///
/// # Examples
///
/// ```
/// use tether::sync::mpsc::{self, error::TryRecvError};
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(4);
///     assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
///     tx.send("a").await.unwrap();
///     tx.send("b").await.unwrap();
///     rx.close(); // no more sends; what was sent can still be received
///     assert!(tx.send("c").await.is_err());
///     assert_eq!(rx.recv().await, Some("a"));
///     assert_eq!(rx.recv().await, Some("b"));
///     assert_eq!(rx.recv().await, None);
/// }
/// ```
pub struct Receiver<T> {
    inner: RecvHalf<T>,
}

impl<T> Receiver<T> {
    /// Receives the next value, waiting while the channel is empty; `None` once the channel is
    /// empty and every sender is gone (or the channel was closed).
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: if the future
    /// is dropped before it completes, no value was taken.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Polls for the next value: `Ready(Some(v))`, `Ready(None)` when the channel is closed and
    /// empty, or `Pending` (the task is woken when a value arrives or the channel closes).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
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

    /// Closes the channel: sends fail from now on, and senders waiting for room are woken with
    /// an error. Values already queued can still be received.
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

    /// How many values can be sent right now without waiting.
    pub fn capacity(&self) -> usize {
        self.max_capacity().saturating_sub(self.len())
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.inner.rx.capacity().unwrap_or(usize::MAX)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver")
            .field("queued", &self.len())
            .field("max_capacity", &self.max_capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of an unbounded channel; created by [`unbounded_channel`].
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

    /// Polls for the next value; see [`Receiver::poll_recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
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

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .field("queued", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
