//! The bounded channel: [`Sender`], [`Receiver`], and the permits of reserved slots.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::{SendError, TryRecvError, TrySendError};
use super::RecvHalf;
use crate::sync::{block_on_sync, chan};
use crate::task::coop::Budgeted;

/// Creates a bounded channel that holds at most `capacity` values.
///
/// # Panics
///
/// Panics if `capacity` is 0 (as tokio does): such a channel could never hold a value. Use a
/// [`oneshot`](crate::sync::oneshot) channel or a capacity of 1 for a hand-over.
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
    /// before it completes, the value is dropped with it and was not sent; waiting senders are
    /// served first come, first served, and a dropped one loses its place.
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
    /// [`TrySendError::Full`] when the channel is full (queued values and reserved slots count),
    /// [`TrySendError::Closed`] when the receiver is gone; both give the value back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(value).map_err(try_send_error)
    }

    /// Sends `value` from synchronous code, blocking the thread while the channel is full.
    ///
    /// For threads that are not the runtime's: plain threads, and
    /// [`spawn_blocking`](crate::task::spawn_blocking) closures.
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SendError`] when the receiver was dropped or closed.
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks (inside `block_on` or
    /// a task), as tokio's does: blocking there would stall every task of that thread. Use
    /// [`send`](Self::send)`.await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel(1);
    ///     let producer = std::thread::spawn(move || {
    ///         for i in 0..3 {
    ///             tx.blocking_send(i).unwrap(); // blocks while the channel is full
    ///         }
    ///     });
    ///     let mut got = Vec::new();
    ///     while let Some(i) = rx.recv().await {
    ///         got.push(i);
    ///     }
    ///     assert_eq!(got, [0, 1, 2]);
    ///     producer.join().unwrap();
    /// }
    /// ```
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        block_on_sync(
            "mpsc::Sender::blocking_send",
            "send(..).await",
            self.send(value),
        )
    }

    /// Waits for room in the channel and reserves one slot, returning a [`Permit`] that sends
    /// into it without waiting.
    ///
    /// The slot counts against the capacity until the permit sends or is dropped; dropping it
    /// unused gives the slot back (and wakes a waiting sender). Waiting reservations and sends
    /// are served in the order they started waiting. Spends one unit of the cooperative budget
    /// when it completes. Cancel-safe: a dropped `reserve` reserved nothing, but loses its
    /// place in the queue.
    ///
    /// # Errors
    ///
    /// [`SendError`] when the receiver was dropped or closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel(1);
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert!(tx.try_send(1).is_err(), "the only slot is reserved");
    ///     permit.send(2); // never waits
    ///     assert_eq!(rx.recv().await, Some(2));
    /// }
    /// ```
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        match Budgeted::new(self.inner.reserve()).await {
            Ok(()) => Ok(Permit { chan: &self.inner }),
            Err(chan::Closed) => Err(SendError(())),
        }
    }

    /// Reserves a slot if there is room right now, without waiting; see
    /// [`reserve`](Self::reserve).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when there is no room, [`TrySendError::Closed`] when the receiver
    /// is gone.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.inner.try_reserve().map_err(try_send_error)?;
        Ok(Permit { chan: &self.inner })
    }

    /// Waits for room and reserves a slot, like [`reserve`](Self::reserve), returning an
    /// [`OwnedPermit`] that owns this sender: it can be stored or moved into another task, and
    /// gives the sender back when it sends. Clone the sender first to keep one.
    ///
    /// # Errors
    ///
    /// [`SendError`] when the receiver was dropped or closed (this sender is dropped then).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel(1);
    ///     let permit = tx.clone().reserve_owned().await.unwrap();
    ///     let task = tether::spawn(async move {
    ///         let tx = permit.send("from the task"); // gives the sender back
    ///         drop(tx);
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(rx.recv().await, Some("from the task"));
    ///     tx.send("again").await.unwrap();
    /// }
    /// ```
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        match Budgeted::new(self.inner.reserve()).await {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(chan::Closed) => Err(SendError(())),
        }
    }

    /// Reserves a slot if there is room right now, returning an [`OwnedPermit`]; see
    /// [`reserve_owned`](Self::reserve_owned).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] when there is no room, [`TrySendError::Closed`] when the receiver
    /// is gone; both give this sender back.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Sender<T>>> {
        match self.inner.try_reserve() {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(chan::TrySendErr::Full(())) => Err(TrySendError::Full(self)),
            Err(chan::TrySendErr::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }

    /// Waits until the receiver is dropped or closed.
    ///
    /// Spends one unit of the cooperative budget when it completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, rx) = mpsc::channel::<u32>(1);
    ///     let watcher = tether::spawn(async move {
    ///         tx.closed().await; // e.g. stop producing when nobody listens
    ///     });
    ///     drop(rx);
    ///     watcher.await.unwrap();
    /// }
    /// ```
    pub async fn closed(&self) {
        Budgeted::new(self.inner.closed()).await
    }

    /// Whether the receiver was dropped or closed, so that sends fail.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether `self` and `other` send into the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.inner.same_channel(&other.inner)
    }

    /// How many values can be sent right now without waiting: the maximum capacity minus the
    /// values queued and the slots reserved by permits.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel::<()>(5);
    ///     assert_eq!(tx.capacity(), 5);
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert_eq!(tx.capacity(), 4); // a reserved slot counts
    ///     permit.send(());
    ///     assert_eq!(tx.capacity(), 4); // now a queued value
    ///     rx.recv().await.unwrap();
    ///     assert_eq!(tx.capacity(), 5);
    ///     assert_eq!(tx.max_capacity(), 5);
    /// }
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.free_slots()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.inner.capacity().unwrap_or(usize::MAX)
    }
}

fn try_send_error<T>(e: chan::TrySendErr<T>) -> TrySendError<T> {
    match e {
        chan::TrySendErr::Full(v) => TrySendError::Full(v),
        chan::TrySendErr::Closed(v) => TrySendError::Closed(v),
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

/// One reserved slot of a bounded channel, borrowed from its [`Sender`]: [`send`](Self::send)
/// fills it without waiting; dropping the permit unused gives the slot back.
///
/// Created by [`Sender::reserve`] and [`Sender::try_reserve`].
#[must_use = "the reserved slot is given back as soon as the permit is dropped"]
pub struct Permit<'a, T> {
    chan: &'a chan::ChanSender<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` in the reserved slot, without waiting.
    ///
    /// This succeeds even if the receiver was [`close`](Receiver::close)d after the
    /// reservation (it still receives the value, as in tokio); if the receiver was dropped, the
    /// value is dropped.
    pub fn send(self, value: T) {
        let chan = self.chan;
        // The slot is consumed by `send_reserved`; `Drop` must not give it back too.
        std::mem::forget(self);
        chan.send_reserved(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release_reserved();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Permit").finish_non_exhaustive()
    }
}

/// One reserved slot of a bounded channel that owns its [`Sender`]; see [`Permit`].
///
/// Created by [`Sender::reserve_owned`] and [`Sender::try_reserve_owned`].
#[must_use = "the reserved slot is given back as soon as the permit is dropped"]
pub struct OwnedPermit<T> {
    /// `Some` until `send` or `release` takes it.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` in the reserved slot, without waiting, and gives the sender back.
    ///
    /// As for [`Permit::send`], this succeeds after a [`close`](Receiver::close) too.
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self.take_sender();
        sender.inner.send_reserved(value);
        sender
    }

    /// Gives the reserved slot back unused, and the sender with it.
    pub fn release(mut self) -> Sender<T> {
        let sender = self.take_sender();
        sender.inner.release_reserved();
        sender
    }

    /// Whether both permits are for the same channel.
    pub fn same_channel(&self, other: &OwnedPermit<T>) -> bool {
        self.sender().same_channel(other.sender())
    }

    /// Whether this permit is for the channel of `sender`.
    pub fn same_channel_as_sender(&self, sender: &Sender<T>) -> bool {
        self.sender().same_channel(sender)
    }

    fn sender(&self) -> &Sender<T> {
        self.sender
            .as_ref()
            .expect("an OwnedPermit has its sender until send or release consumes it")
    }

    fn take_sender(&mut self) -> Sender<T> {
        self.sender
            .take()
            .expect("an OwnedPermit has its sender until send or release consumes it")
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.inner.release_reserved();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::OwnedPermit").finish_non_exhaustive()
    }
}

/// The receiving half of a bounded channel; created by [`channel`].
///
/// It is also a [`Stream`](futures_core::Stream) of the values, ending when `recv` would
/// return `None`.
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
    /// empty and every sender is gone (or the channel was closed and no permit is left that
    /// could still send).
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: if the future
    /// is dropped before it completes, no value was taken.
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Receives up to `limit` values at once, appending them to `buffer`, waiting while the
    /// channel is empty; returns how many were appended.
    ///
    /// Returns 0 at once when `limit` is 0, and otherwise only when the channel has ended (as
    /// `recv` returning `None`). Takes every value queued up to `limit` under one lock, which
    /// is cheaper than as many `recv` calls. Spends one unit of the cooperative budget when it
    /// completes. Cancel-safe: if the future is dropped before it completes, no value was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel(8);
    ///     for word in ["a", "b", "c"] {
    ///         tx.send(word).await.unwrap();
    ///     }
    ///     let mut buf = Vec::new();
    ///     assert_eq!(rx.recv_many(&mut buf, 2).await, 2);
    ///     assert_eq!(buf, ["a", "b"]);
    ///     drop(tx);
    ///     assert_eq!(rx.recv_many(&mut buf, 2).await, 1);
    ///     assert_eq!(rx.recv_many(&mut buf, 2).await, 0); // the channel has ended
    ///     assert_eq!(buf, ["a", "b", "c"]);
    /// }
    /// ```
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        std::future::poll_fn(|cx| self.inner.poll_recv_many(cx, buffer, limit)).await
    }

    /// Receives the next value from synchronous code, blocking the thread while the channel is
    /// empty; `None` once the channel has ended.
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks, as tokio's does; use
    /// [`recv`](Self::recv)`.await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::mpsc;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = mpsc::channel(4);
    ///     let consumer = std::thread::spawn(move || {
    ///         let mut sum = 0;
    ///         while let Some(n) = rx.blocking_recv() {
    ///             sum += n;
    ///         }
    ///         sum
    ///     });
    ///     for n in 1..=3 {
    ///         tx.send(n).await.unwrap();
    ///     }
    ///     drop(tx);
    ///     assert_eq!(consumer.join().unwrap(), 6);
    /// }
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        block_on_sync("mpsc::Receiver::blocking_recv", "recv().await", self.recv())
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
            "mpsc::Receiver::blocking_recv_many",
            "recv_many(..).await",
            self.recv_many(buffer, limit),
        )
    }

    /// Polls for the next value: `Ready(Some(v))`, `Ready(None)` when the channel has ended, or
    /// `Pending` (the task is woken when a value arrives or the channel ends).
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

    /// Closes the channel: sends and reservations fail from now on, and senders waiting for
    /// room are woken with an error. Values already queued can still be received, and so can
    /// the values of permits reserved before the close.
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

    /// How many values can be sent right now without waiting; see [`Sender::capacity`].
    pub fn capacity(&self) -> usize {
        self.inner.rx.free_slots()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.inner.rx.capacity().unwrap_or(usize::MAX)
    }
}

/// Nothing in a receiver is pinned (values are only moved in and out of its queue).
impl<T> Unpin for Receiver<T> {}

/// The values, as `recv` returns them; spends the cooperative budget as `recv` does.
impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().inner.poll_recv(cx)
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
