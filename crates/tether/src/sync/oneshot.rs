//! A channel for one value, sent by one task and received by another.
//!
//! [`channel`] returns a [`Sender`] and a [`Receiver`]. The sender calls [`Sender::send`] once
//! (it consumes the sender); the receiver is a future that resolves to the value, or to a
//! [`RecvError`] when the sender was dropped without sending. The usual use is
//! a reply: put the `Sender` in a request, await the `Receiver`.
//!
//! # Protocol
//!
//! Both halves share one `OneshotState` under a mutex; every transition happens with the lock
//! held, and a waker taken out of the state is woken only after the lock is released.
//!
//! 1. `value` is written at most once, by `send`, and only while `rx_closed` is false; otherwise
//!    `send` gives the value back.
//! 2. `tx_gone` becomes true when the `Sender` is dropped (also right after a successful `send`,
//!    which consumes it); `rx_closed` becomes true on [`Receiver::close`] or when the `Receiver`
//!    is dropped. Neither flag is ever reset.
//! 3. The receiver reads `value` before the flags: a value sent before the sender went away is
//!    always delivered, also after `close`.
//! 4. `rx_waker` is stored by a pending receive and woken by `send` and by the sender's drop;
//!    `tx_waker` is stored by a pending [`Sender::closed`] and woken by `close` and by the
//!    receiver's drop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use crate::task::coop;

/// Error types of the oneshot channel.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending a value (or the receiver closed the channel
    /// before a value arrived).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the oneshot sender was dropped without sending a value")
        }
    }

    impl std::error::Error for RecvError {}

    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No value yet; the sender may still send one.
        Empty,
        /// No value, and none will come: the sender was dropped, the value was already taken,
        /// or the receiver closed the channel.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("the oneshot channel has no value yet"),
                TryRecvError::Closed => f.write_str(
                    "the oneshot channel is closed: the sender was dropped without sending, or \
                     the value was already received",
                ),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

/// What both halves share (see the protocol in the module docs). Holding the lock means owning
/// every field.
struct OneshotState<T> {
    /// The value, between `send` and its receipt (rule 1).
    value: Option<T>,
    /// The sender was dropped or has sent (rule 2).
    tx_gone: bool,
    /// The receiver was closed or dropped (rule 2).
    rx_closed: bool,
    /// The task awaiting the receiver (rule 4).
    rx_waker: Option<Waker>,
    /// The task awaiting `Sender::closed` (rule 4).
    tx_waker: Option<Waker>,
}

/// Creates a oneshot channel: a [`Sender`] for one value and the [`Receiver`] that awaits it.
///
/// # Examples
///
/// ```
/// use tether::sync::oneshot;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = oneshot::channel();
///     tether::spawn(async move {
///         let _ = tx.send("done");
///     });
///     assert_eq!(rx.await, Ok("done"));
/// }
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(OneshotState {
        value: None,
        tx_gone: false,
        rx_closed: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver {
            shared,
            terminated: false,
        },
    )
}

/// Sends one value to the [`Receiver`]; created by [`channel`].
///
/// Dropping the sender without sending makes the receiver resolve to
/// [`RecvError`].
///
/// # Examples
///
/// ```
/// use tether::sync::oneshot;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = oneshot::channel::<u32>();
///     drop(rx);
///     assert!(tx.is_closed());
///     assert_eq!(tx.send(7), Err(7)); // nobody listens: the value comes back
/// }
/// ```
pub struct Sender<T> {
    shared: Arc<Mutex<OneshotState<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value` to the receiver, without waiting.
    ///
    /// # Errors
    ///
    /// Gives `value` back when the receiver was dropped or closed: it would never be received.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut state = lock(&self.shared);
            if state.rx_closed {
                return Err(value);
            }
            state.value = Some(value);
            state.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped or closed, so that [`send`](Self::send) would fail.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).rx_closed
    }

    /// Waits until the receiver is dropped or closed.
    ///
    /// Useful to stop computing a reply nobody waits for any more, by racing this against the
    /// computation.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::oneshot;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (mut tx, rx) = oneshot::channel::<()>();
    ///     tether::spawn(async move { drop(rx) });
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    /// }
    /// ```
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls whether the receiver is gone: `Ready` once it was dropped or closed; otherwise
    /// `Pending`, and the task is woken when that happens.
    ///
    /// Only the task that polled last is woken.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let mut state = lock(&self.shared);
        if state.rx_closed {
            coop.made_progress();
            return Poll::Ready(());
        }
        store_waker(&mut state.tx_waker, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.shared);
            state.tx_gone = true;
            state.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Receives the value of the [`Sender`]; created by [`channel`].
///
/// Await it to get the value: `Ok(value)`, or [`RecvError`] when the sender
/// was dropped without sending. Awaiting spends one unit of the task's cooperative budget.
/// [`try_recv`](Self::try_recv) looks without waiting.
///
/// # Examples
///
/// ```
/// use tether::sync::oneshot;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = oneshot::channel::<String>();
///     tether::spawn(async move {
///         drop(tx); // gives up without sending
///     });
///     let err = rx.await.unwrap_err();
///     println!("no reply: {err}");
/// }
/// ```
pub struct Receiver<T> {
    shared: Arc<Mutex<OneshotState<T>>>,
    /// The receiver has given its outcome: a poll returned `Ready`, or `try_recv` returned the
    /// value or `Closed`. The receiver's own, never reset; only `is_terminated` reads it.
    terminated: bool,
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when no value was sent yet, [`TryRecvError::Closed`] when none
    /// will come (the sender is gone, the value was already taken, or the channel was closed).
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.shared);
        let out = match state.value.take() {
            Some(v) => Ok(v),
            None if state.tx_gone || state.rx_closed => Err(TryRecvError::Closed),
            None => return Err(TryRecvError::Empty),
        };
        self.terminated = true;
        out
    }

    /// Whether the receiver has given its outcome: awaiting (polling) it returned the value or
    /// [`RecvError`], or [`try_recv`](Self::try_recv) returned the value or
    /// [`TryRecvError::Closed`]. A terminated receiver has nothing more to give; polling it
    /// again returns `RecvError` (tokio's panics), so check this first where a receiver may be
    /// polled after completing, as in a `select!` loop.
    ///
    /// A sent value not yet taken, or a sender dropped without sending, does not terminate the
    /// receiver: the value (or the error) is still to be received.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::oneshot;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = oneshot::channel();
    ///     assert!(!rx.is_terminated());
    ///     tx.send(1).unwrap();
    ///     assert!(!rx.is_terminated()); // sent, not yet received
    ///     assert_eq!((&mut rx).await, Ok(1));
    ///     assert!(rx.is_terminated());
    /// }
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// Whether the channel holds no value: none was sent yet, the sender left without
    /// sending, or the value was already received. A value sent before [`close`](Self::close)
    /// still counts until it is taken.
    ///
    /// An empty channel is not necessarily worth polling (its value may be received already):
    /// [`is_terminated`](Self::is_terminated) says that.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::oneshot;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = oneshot::channel();
    ///     assert!(rx.is_empty());
    ///     tx.send("reply").unwrap();
    ///     assert!(!rx.is_empty());
    ///     assert_eq!(rx.try_recv(), Ok("reply"));
    ///     assert!(rx.is_empty());
    /// }
    /// ```
    pub fn is_empty(&self) -> bool {
        lock(&self.shared).value.is_none()
    }

    /// Waits for the value from synchronous code, blocking the thread: for plain threads and
    /// [`spawn_blocking`](crate::task::spawn_blocking) closures that wait for a reply from a
    /// task. tokio's `blocking_recv`.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the sender was dropped without sending.
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks, as
    /// [`Mutex::blocking_lock`](crate::sync::Mutex::blocking_lock) does: `.await` the receiver
    /// there.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::oneshot;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, rx) = oneshot::channel();
    ///     let waiter = tether::task::spawn_blocking(move || rx.blocking_recv());
    ///     tx.send(7).unwrap();
    ///     assert_eq!(waiter.await.unwrap(), Ok(7));
    /// }
    /// ```
    #[track_caller]
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        super::block_on_sync("oneshot::Receiver::blocking_recv", "receiver.await", self)
    }

    /// Closes the channel: from now on [`Sender::send`] fails and [`Sender::closed`] completes.
    ///
    /// A value sent before the call can still be taken with [`try_recv`](Self::try_recv) or by
    /// awaiting the receiver.
    pub fn close(&mut self) {
        let waker = {
            let mut state = lock(&self.shared);
            state.rx_closed = true;
            state.tx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let mut state = lock(&this.shared);
        let out = match state.value.take() {
            Some(v) => Ok(v),
            None if state.tx_gone || state.rx_closed => Err(RecvError(())),
            None => {
                store_waker(&mut state.rx_waker, cx.waker());
                return Poll::Pending;
            }
        };
        drop(state);
        this.terminated = true;
        coop.made_progress();
        Poll::Ready(out)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (waker, value) = {
            let mut state = lock(&self.shared);
            state.rx_closed = true;
            (state.tx_waker.take(), state.value.take())
        };
        // The value's destructor runs outside the lock.
        drop(value);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared);
        f.debug_struct("oneshot::Receiver")
            .field("has_value", &state.value.is_some())
            .field("sender_gone", &state.tx_gone)
            .field("closed", &state.rx_closed)
            .field("terminated", &self.terminated)
            .finish()
    }
}

/// Stores `waker` in `slot` unless the one there already wakes the same task.
fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
