//! A channel that holds one value: a sender publishes the latest version, receivers read it and
//! wait for it to change.
//!
//! [`channel`]`(initial)` returns the [`Sender`] and a first [`Receiver`]; receivers are cloned,
//! or created with [`Sender::subscribe`]. Receivers see only the latest value: intermediate
//! values sent between two reads are skipped, which suits configuration, state, or progress.
//! Each receiver remembers which version it has *seen*; [`Receiver::changed`] waits for a newer
//! one, [`Receiver::borrow_and_update`] reads and marks seen, [`Receiver::borrow`] only reads.
//!
//! # Protocol
//!
//! Own code (no small crate implements these semantics): the value under a read-write lock, an
//! atomic state word, and two `event-listener` events.
//!
//! 1. The state word is `version << 1 | CLOSED`. A writer replaces the value and adds one to the
//!    version *while it holds the write lock*, so a reader holding the read lock sees a version
//!    that matches the value it reads.
//! 2. `CLOSED` is set when the sender is dropped, and never cleared.
//! 3. After changing the state word, the writer notifies every listener of `changed`. A waiting
//!    receiver checks the word, registers a listener, checks again, and only then waits: a send
//!    between its first check and its registration is seen by the second check.
//! 4. `receivers` counts live receivers; dropping the last one notifies `receivers_gone` (for
//!    [`Sender::closed`]), with the same check-register-check rule.
//!
//! The value lock is a read-write lock, so that readers do not block each other. A [`Ref`] holds
//! the read lock: do not keep one across an `.await` or while the same thread sends.
//!
//! `changed`, `wait_for`, `closed` and each item of a [`WatchStream`] spend one unit of the
//! cooperative budget when they complete.
//!
//! Differences from tokio: the `Sender` is not `Clone` and has no `new`; the stream of changes,
//! [`WatchStream`], is in this module (tokio has it in the `tokio-stream` crate).

use std::fmt;
use std::future::{poll_fn, Future};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, RwLock, RwLockReadGuard};
use crate::task::coop::{self, Budgeted};

/// Error types of the watch channel.
pub mod error {
    use std::fmt;

    /// The value was not stored because no receiver exists; it is given back in field `0`.
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
                "the watch channel has no receiver, so the value was not stored; use \
                 send_replace to store it anyway",
            )
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// The sender was dropped: the value will not change any more.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the watch sender was dropped: the value will not change any more")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

/// Set in the state word once the sender is dropped (rule 2).
const CLOSED: u64 = 1;
/// One version step in the state word (rule 1).
const STEP: u64 = 2;

/// What the sender and the receivers share (see the protocol in the module docs).
struct WatchShared<T> {
    /// The current value; replaced under the write lock together with the version (rule 1).
    value: RwLock<T>,
    /// `version << 1 | CLOSED` (rules 1, 2).
    state: AtomicU64,
    /// Notified (everyone) after each send and when the sender is dropped (rule 3).
    changed: Event,
    /// The number of live receivers (rule 4).
    receivers: AtomicUsize,
    /// Notified (everyone) when the last receiver is dropped (rule 4).
    receivers_gone: Event,
}

impl<T> WatchShared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The version part of the state word.
    fn version(&self) -> u64 {
        self.state.load(Ordering::SeqCst) & !CLOSED
    }

    /// Runs `modify` on the value under the write lock; if it reports a change, bumps the
    /// version (rule 1) and notifies the receivers (rule 3).
    fn modify<R>(&self, modify: impl FnOnce(&mut T) -> (bool, R)) -> R {
        let (modified, out) = {
            let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
            let (modified, out) = modify(&mut value);
            if modified {
                self.state.fetch_add(STEP, Ordering::SeqCst);
            }
            (modified, out)
        };
        if modified {
            self.changed.notify(usize::MAX);
        }
        out
    }
}

/// Creates a watch channel holding `initial`.
///
/// The first receiver has seen `initial` already: its [`changed`](Receiver::changed) waits for
/// the first send.
///
/// # Examples
///
/// ```
/// use tether::sync::watch;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = watch::channel("starting");
///     tether::spawn(async move {
///         tx.send("ready").unwrap();
///     });
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow_and_update(), "ready");
/// }
/// ```
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(WatchShared {
        value: RwLock::new(initial),
        state: AtomicU64::new(0),
        changed: Event::new(),
        receivers: AtomicUsize::new(1),
        receivers_gone: Event::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, version: 0 },
    )
}

/// The sending half of a watch channel; created by [`channel`].
///
/// Dropping it closes the channel: receivers keep reading the last value, and their
/// [`changed`](Receiver::changed) fails once they have seen it.
///
/// # Examples
///
/// ```
/// use tether::sync::watch;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = watch::channel(0u32);
///     tx.send_modify(|n| *n += 1);
///     assert_eq!(*tx.borrow(), 1);
///     assert_eq!(*rx.borrow(), 1);
///     drop(rx);
///     assert!(tx.is_closed());
///     assert!(tx.send(5).is_err()); // no receiver: not stored
///     assert_eq!(tx.send_replace(5), 1); // stored anyway
/// }
/// ```
pub struct Sender<T> {
    shared: Arc<WatchShared<T>>,
}

impl<T> Sender<T> {
    /// Stores `value` and notifies the receivers.
    ///
    /// # Errors
    ///
    /// When no receiver exists, the value is not stored and is given back in [`SendError`].
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.is_closed() {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Stores `value` whether or not receivers exist, notifies them, and returns the previous
    /// value.
    pub fn send_replace(&self, value: T) -> T {
        self.shared
            .modify(|current| (true, std::mem::replace(current, value)))
    }

    /// Modifies the value in place and notifies the receivers, whether or not receivers exist.
    ///
    /// The closure runs under the write lock: keep it short.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.shared.modify(|current| {
            modify(current);
            (true, ())
        })
    }

    /// Modifies the value in place, and notifies the receivers only if `modify` returns `true`
    /// (it changed something); returns what `modify` returned.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        self.shared.modify(|current| {
            let modified = modify(current);
            (modified, modified)
        })
    }

    /// Reads the current value. The returned [`Ref`] holds a read lock: drop it soon.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
            has_changed: false,
        }
    }

    /// Creates a new receiver, which has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            version: self.shared.version(),
            shared: self.shared.clone(),
        }
    }

    /// The number of receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::SeqCst)
    }

    /// Whether no receiver exists, so that [`send`](Self::send) fails.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until no receiver exists.
    pub async fn closed(&self) {
        Budgeted::new(async {
            loop {
                if self.is_closed() {
                    return;
                }
                let listener = self.shared.receivers_gone.listen();
                if self.is_closed() {
                    return;
                }
                listener.await;
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.state.fetch_or(CLOSED, Ordering::SeqCst);
        self.shared.changed.notify(usize::MAX);
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender")
            .field("value", &*self.borrow())
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// The receiving half of a watch channel; created by [`channel`], [`Sender::subscribe`], or
/// cloning (a clone has seen what the original has seen).
///
/// # Examples
///
/// Waiting for every change until the sender is dropped:
///
/// ```
/// use tether::sync::watch;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = watch::channel(0);
///     let watcher = tether::spawn(async move {
///         let mut last = *rx.borrow_and_update();
///         while rx.changed().await.is_ok() {
///             last = *rx.borrow_and_update();
///         }
///         last // the sender is gone: this was its final value
///     });
///     for i in 1..=3 {
///         tx.send(i).unwrap();
///         tether::task::yield_now().await;
///     }
///     drop(tx);
///     assert_eq!(watcher.await.unwrap(), 3);
/// }
/// ```
pub struct Receiver<T> {
    shared: Arc<WatchShared<T>>,
    /// The version this receiver has seen (the state word without `CLOSED`).
    version: u64,
}

impl<T> Receiver<T> {
    /// Reads the current value without marking it seen. The returned [`Ref`] holds a read lock:
    /// drop it soon, and never keep it across an `.await`.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        // Under the read lock the version matches the value (rule 1).
        let has_changed = self.shared.version() != self.version;
        Ref { guard, has_changed }
    }

    /// Reads the current value and marks it seen, so that [`changed`](Self::changed) waits for
    /// a newer one.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let version = self.shared.version();
        let has_changed = version != self.version;
        self.version = version;
        Ref { guard, has_changed }
    }

    /// Whether a value this receiver has not seen was sent.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the sender was dropped.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.load(Ordering::SeqCst);
        if state & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(state & !CLOSED != self.version)
    }

    /// Marks the current value unseen, so that [`changed`](Self::changed) completes at once
    /// and [`has_changed`](Self::has_changed) says `true` (unless the sender is gone).
    ///
    /// Useful to handle the current value of a new receiver in the same loop as later changes.
    pub fn mark_changed(&mut self) {
        self.version = self.shared.version().wrapping_sub(STEP);
    }

    /// Marks the current value seen, without reading it.
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.version();
    }

    /// Whether `self` and `other` receive from the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Waits for a value this receiver has not seen, and marks it seen (read it with
    /// [`borrow`](Self::borrow)). Completes at once when such a value is already there.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the sender was dropped and this receiver has seen its last value.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let mut listener = None;
        Budgeted::new(poll_fn(|cx| {
            poll_changed(&self.shared, &mut self.version, &mut listener, cx)
        }))
        .await
    }

    /// Waits for a value for which `f` returns `true`, marks it seen, and returns it.
    ///
    /// `f` is called on the current value first, even if it was seen already; if it returns
    /// `true`, this completes at once. Otherwise it is called on each new value as it is seen.
    /// Values sent in quick succession may be skipped, as with [`changed`](Self::changed): only
    /// the latest is kept. The returned [`Ref`] holds the read lock: drop it soon. Spends one
    /// unit of the cooperative budget when it completes. Cancel-safe: if dropped before it
    /// completes, `f` returned `false` for every value marked seen.
    ///
    /// # Errors
    ///
    /// [`RecvError`] when the sender was dropped and `f` returned `false` for its last value.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::watch;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (tx, mut rx) = watch::channel(0u32);
    ///     tether::spawn(async move {
    ///         for progress in [10, 50, 100] {
    ///             tx.send(progress).unwrap();
    ///             tether::task::yield_now().await;
    ///         }
    ///     });
    ///     let done = rx.wait_for(|p| *p == 100).await.unwrap();
    ///     assert_eq!(*done, 100);
    /// }
    /// ```
    pub async fn wait_for(&mut self, f: impl FnMut(&T) -> bool) -> Result<Ref<'_, T>, RecvError> {
        Budgeted::new(self.wait_for_inner(f)).await
    }

    async fn wait_for_inner(
        &mut self,
        mut f: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        let mut closed = false;
        loop {
            {
                let guard = self.shared.read();
                // Under the read lock the version matches the value (rule 1).
                let version = self.shared.version();
                let has_changed = version != self.version;
                self.version = version;
                // Once closed, only a value not yet handed to `f` is worth a call.
                if (!closed || has_changed) && f(&guard) {
                    return Ok(Ref { guard, has_changed });
                }
            }
            if closed {
                return Err(RecvError(()));
            }
            let mut listener = None;
            closed = poll_fn(|cx| poll_changed(&self.shared, &mut self.version, &mut listener, cx))
                .await
                .is_err();
        }
    }
}

/// `Some(Ok)` (and marks `seen`) when there is an unseen version, `Some(Err)` when the sender is
/// gone, `None` to keep waiting.
fn check_changed<T>(shared: &WatchShared<T>, seen: &mut u64) -> Option<Result<(), RecvError>> {
    let state = shared.state.load(Ordering::SeqCst);
    let version = state & !CLOSED;
    if version != *seen {
        *seen = version;
        return Some(Ok(()));
    }
    if state & CLOSED != 0 {
        return Some(Err(RecvError(())));
    }
    None
}

/// Waits for a version newer than `seen` (rule 3: check, register `listener`, check again, then
/// wait); spends no budget.
fn poll_changed<T>(
    shared: &WatchShared<T>,
    seen: &mut u64,
    listener: &mut Option<EventListener>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), RecvError>> {
    loop {
        if let Some(out) = check_changed(shared, seen) {
            *listener = None;
            return Poll::Ready(out);
        }
        match listener {
            None => *listener = Some(shared.changed.listen()),
            Some(l) => {
                std::task::ready!(Pin::new(l).poll(cx));
                *listener = None;
            }
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Receiver {
            shared: self.shared.clone(),
            version: self.version,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.receivers_gone.notify(usize::MAX);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("value", &*self.borrow())
            .field("seen_version", &(self.version >> 1))
            .finish()
    }
}

/// A read access to a watch channel's value, from [`Receiver::borrow`],
/// [`Receiver::borrow_and_update`] or [`Sender::borrow`].
///
/// It holds a read lock on the value: senders wait until it is dropped. Keep it short, and
/// never across an `.await`.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether the value was unseen by the receiver when it borrowed it (always `false` for a
    /// borrow from the sender).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The values of a watch channel as a [`Stream`](futures_core::Stream): each value this
/// receiver has not seen, cloned, once; ends when the sender is dropped and the last value was
/// yielded.
///
/// Values sent in quick succession may be skipped, as with [`Receiver::changed`]. Each item
/// spends one unit of the cooperative budget. tokio has this type in the `tokio-stream` crate
/// (`tokio_stream::wrappers::WatchStream`), with the same constructors.
///
/// # Examples
///
/// ```
/// use futures_lite::StreamExt;
/// use tether::sync::watch::{self, WatchStream};
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = watch::channel("starting");
///     let mut states = WatchStream::new(rx); // starts with the current value
///     assert_eq!(states.next().await, Some("starting"));
///     tx.send("ready").unwrap();
///     assert_eq!(states.next().await, Some("ready"));
///     drop(tx);
///     assert_eq!(states.next().await, None);
/// }
/// ```
pub struct WatchStream<T> {
    rx: Receiver<T>,
    /// Registered while waiting for a change (rule 3).
    listener: Option<EventListener>,
}

impl<T: Clone> WatchStream<T> {
    /// A stream that yields the current value first, then each change.
    pub fn new(mut rx: Receiver<T>) -> WatchStream<T> {
        rx.mark_changed();
        WatchStream { rx, listener: None }
    }

    /// A stream that yields only values this receiver has not seen (not the current one, if it
    /// was seen).
    pub fn from_changes(rx: Receiver<T>) -> WatchStream<T> {
        WatchStream { rx, listener: None }
    }

    /// The receiver back.
    pub fn into_inner(self) -> Receiver<T> {
        self.rx
    }
}

impl<T: Clone> futures_core::Stream for WatchStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let changed = std::task::ready!(poll_changed(
            &this.rx.shared,
            &mut this.rx.version,
            &mut this.listener,
            cx
        ));
        coop.made_progress();
        Poll::Ready(match changed {
            // Marks seen what it clones: a send after `poll_changed` is not yielded twice.
            Ok(()) => Some(this.rx.borrow_and_update().clone()),
            Err(RecvError(())) => None,
        })
    }
}

impl<T: fmt::Debug> fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream").field("rx", &self.rx).finish()
    }
}
