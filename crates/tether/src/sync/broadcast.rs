//! A multi-producer, multi-consumer channel where every receiver sees every value.
//!
//! [`channel`]`(capacity)` returns a [`Sender`] and a first [`Receiver`]; more receivers come from
//! [`Sender::subscribe`] (they see the values sent after they subscribed). A value stays queued
//! until every receiver has seen it, but at most `capacity` values are kept: [`Sender::send`]
//! never waits, and when the queue is full it overwrites the oldest value. A receiver that fell
//! that far behind gets [`RecvError::Lagged(n)`](error::RecvError::Lagged) once, `n` being the
//! number of values it missed, and then continues with the oldest value still kept. When every
//! sender is gone, receivers get the values still queued, then
//! [`RecvError::Closed`].
//!
//! Values must be `Clone`: each receiver gets its own copy (the last receiver to read a value
//! takes it without a clone). For large values, send an `Arc`.
//!
//! Backed by `async-broadcast` in overflow mode, whose semantics match tokio's: the oldest value
//! is dropped to make room, and a receiver that missed values learns how many
//! (`Overflowed(n)`, our `Lagged(n)`) before it continues from the oldest kept value. One
//! difference is bridged here: async-broadcast closes a channel when its last receiver is
//! dropped, while in tokio a sender with no receivers just fails to send, and a later
//! `subscribe` works again. Each [`Sender`] therefore holds an *inactive* receiver, which keeps
//! the channel open without receiving anything.
//!
//! The [`Receiver`] is also a [`Stream`](futures_core::Stream) of `Result<T, Lagged>`, like
//! tokio-stream's `BroadcastStream` (a port drops the wrapper and matches
//! [`Lagged`] for `BroadcastStreamRecvError::Lagged`).
//!
//! `recv` and each item of the `Stream` spend one unit of the cooperative budget when they
//! complete; `send` and `try_recv` spend nothing.
//!
//! Differences from tokio: the channel keeps exactly `capacity` values (tokio rounds up to a
//! power of two); the sender's methods need `T: Clone`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::coop::{self, Budgeted};

/// Error types of the broadcast channel.
pub mod error {
    use std::fmt;

    /// The value could not be sent because no receiver exists; it is given back in field `0`.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError { .. }")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "the broadcast channel has no receiver, so the value was not sent; subscribe \
                 before sending",
            )
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RecvError {
        /// Every sender was dropped and this receiver has seen every value.
        Closed,
        /// This receiver fell behind: this many values were overwritten before it read them.
        /// The next `recv` returns the oldest value still kept.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                RecvError::Closed => f.write_str(
                    "the broadcast channel is closed: every sender was dropped and every value \
                     was received",
                ),
                RecvError::Lagged(n) => write!(
                    f,
                    "the receiver lagged behind: {n} values were overwritten before it read \
                     them; it continues with the oldest value still kept"
                ),
            }
        }
    }

    impl std::error::Error for RecvError {}

    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No value this receiver has not seen yet; senders remain.
        Empty,
        /// Every sender was dropped and this receiver has seen every value.
        Closed,
        /// This receiver fell behind by this many values; see [`RecvError::Lagged`].
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => {
                    f.write_str("the broadcast channel has no value this receiver has not seen")
                }
                TryRecvError::Closed => RecvError::Closed.fmt(f),
                TryRecvError::Lagged(n) => RecvError::Lagged(*n).fmt(f),
            }
        }
    }

    impl std::error::Error for TryRecvError {}

    /// The error item of a [`Receiver`](super::Receiver)'s `Stream`: this receiver fell behind,
    /// and this many values were overwritten before it read them. The stream continues with the
    /// oldest value still kept. (tokio-stream's `BroadcastStreamRecvError::Lagged`.)
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Lagged(pub u64);

    impl fmt::Display for Lagged {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            RecvError::Lagged(self.0).fmt(f)
        }
    }

    impl std::error::Error for Lagged {}

    impl From<Lagged> for RecvError {
        fn from(lagged: Lagged) -> RecvError {
            RecvError::Lagged(lagged.0)
        }
    }
}

use error::{Lagged, RecvError, SendError, TryRecvError};

/// Creates a broadcast channel that keeps at most `capacity` values.
///
/// # Panics
///
/// Panics if `capacity` is 0.
///
/// # Examples
///
/// ```
/// use tether::sync::broadcast;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx1) = broadcast::channel(16);
///     let mut rx2 = tx.subscribe();
///     tx.send("hello").unwrap();
///     assert_eq!(rx1.recv().await, Ok("hello"));
///     assert_eq!(rx2.recv().await, Ok("hello"));
/// }
/// ```
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "tether::sync::broadcast::channel: the capacity must be at least 1 (a channel of \
         capacity 0 could never hold a value)"
    );
    let (mut tx, rx) = async_broadcast::broadcast(capacity);
    tx.set_overflow(true);
    let keep_open = tx.new_receiver().deactivate();
    (
        Sender {
            inner: tx,
            keep_open,
        },
        Receiver { inner: rx },
    )
}

/// The sending half of a broadcast channel; created by [`channel`], cloned for more producers.
///
/// # Examples
///
/// ```
/// use tether::sync::broadcast;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = broadcast::channel::<u32>(4);
///     assert_eq!(tx.send(1), Ok(1)); // one receiver will see it
///     drop(rx);
///     assert!(tx.send(2).is_err()); // nobody listens
///     let mut late = tx.subscribe(); // the channel is still usable
///     tx.send(3).unwrap();
///     assert_eq!(late.recv().await, Ok(3));
/// }
/// ```
pub struct Sender<T> {
    inner: async_broadcast::Sender<T>,
    /// Keeps the channel open while no receiver exists (see the module docs).
    keep_open: async_broadcast::InactiveReceiver<T>,
}

impl<T: Clone> Sender<T> {
    /// Sends `value` to every receiver, without waiting; returns how many receivers will see it.
    ///
    /// When `capacity` values are already queued, the oldest is overwritten; receivers that had
    /// not read it get [`RecvError::Lagged`].
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`] when no receiver exists.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        match self.inner.try_broadcast(value) {
            // `Some(oldest)` when a value was overwritten; it is dropped here.
            Ok(_overwritten) => Ok(self.inner.receiver_count()),
            // No active receiver (`Inactive`). `Closed` cannot happen while this sender and its
            // inactive receiver exist, and `Full` cannot happen in overflow mode; both are
            // reported the same way rather than trusted away.
            Err(e) => Err(SendError(e.into_inner())),
        }
    }
}

impl<T> Sender<T> {
    /// Creates a new receiver, which sees the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            inner: self.inner.new_receiver(),
        }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        self.inner.receiver_count()
    }

    /// The number of values queued, that some receiver has not seen yet.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether every receiver has seen every value sent.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            inner: self.inner.clone(),
            keep_open: self.keep_open.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender")
            .field("queued", &self.len())
            .field("capacity", &self.inner.capacity())
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// The receiving half of a broadcast channel; created by [`channel`] or [`Sender::subscribe`].
///
/// # Examples
///
/// A receiver that falls behind learns how many values it missed, then continues:
///
/// ```
/// use tether::sync::broadcast::{self, error::RecvError};
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = broadcast::channel(2);
///     for i in 0..5 {
///         tx.send(i).unwrap(); // never waits: 0, 1, 2 are overwritten
///     }
///     assert_eq!(rx.recv().await, Err(RecvError::Lagged(3)));
///     assert_eq!(rx.recv().await, Ok(3));
///     assert_eq!(rx.recv().await, Ok(4));
///     drop(tx);
///     assert_eq!(rx.recv().await, Err(RecvError::Closed));
/// }
/// ```
pub struct Receiver<T> {
    inner: async_broadcast::Receiver<T>,
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value this receiver has not seen, waiting while there is none.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: if the future
    /// is dropped before it completes, no value was taken.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] once after values were overwritten before this receiver read them;
    /// [`RecvError::Closed`] when every sender is gone and every value was received.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        Budgeted::new(self.inner.recv_direct())
            .await
            .map_err(|e| match e {
                async_broadcast::RecvError::Overflowed(n) => RecvError::Lagged(n),
                async_broadcast::RecvError::Closed => RecvError::Closed,
            })
    }

    /// Takes the next value this receiver has not seen, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when there is none yet, and otherwise as for
    /// [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.inner.try_recv().map_err(|e| match e {
            async_broadcast::TryRecvError::Empty => TryRecvError::Empty,
            async_broadcast::TryRecvError::Overflowed(n) => TryRecvError::Lagged(n),
            async_broadcast::TryRecvError::Closed => TryRecvError::Closed,
        })
    }

    /// Creates a new receiver of the same channel, which sees the values sent from now on (not
    /// the ones this receiver has not read yet).
    pub fn resubscribe(&self) -> Receiver<T> {
        Receiver {
            inner: self.inner.new_receiver(),
        }
    }
}

/// Each value this receiver has not seen, as `recv` returns it, with `Err(Lagged(n))` where
/// `recv` returns `RecvError::Lagged(n)`; ends where `recv` returns `RecvError::Closed`. Spends
/// the cooperative budget as `recv` does.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use tether::sync::broadcast::{self, error::Lagged};
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = broadcast::channel(2);
///     for i in 0..4 {
///         tx.send(i).unwrap();
///     }
///     drop(tx);
///     let items: Vec<_> = rx.collect().await;
///     assert_eq!(items, [Err(Lagged(2)), Ok(2), Ok(3)]);
/// }
/// ```
impl<T: Clone> futures_core::Stream for Receiver<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let out = std::task::ready!(Pin::new(&mut this.inner).poll_recv(cx));
        coop.made_progress();
        Poll::Ready(match out {
            Some(Ok(value)) => Some(Ok(value)),
            Some(Err(async_broadcast::RecvError::Overflowed(n))) => Some(Err(Lagged(n))),
            Some(Err(async_broadcast::RecvError::Closed)) | None => None,
        })
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("capacity", &self.inner.capacity())
            .field("closed", &self.inner.is_closed())
            .finish()
    }
}
