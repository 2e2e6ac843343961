//! `Promise`: a value that settles exactly once, awaited by any number of clones.
//!
//! # Protocol
//!
//! A [`Resolver`] and every clone of its [`Promise`] share one `PromiseShared`: the outcome under a
//! mutex and an `event_listener::Event` that waiting promises listen to.
//!
//! 1. `outcome` starts `Pending` and changes exactly once, under the lock, to `Resolved`,
//!    `Rejected` or `Abandoned`; it never changes again. Only the resolver changes it: `resolve`
//!    and `reject` consume it, and its `Drop` writes `Abandoned` if it is still `Pending`. There
//!    is one resolver, so there is one settlement, by construction.
//! 2. After the change, with the lock released, the resolver notifies every listener.
//! 3. A waiting promise creates its listener, *then* reads `outcome` again before it waits on
//!    it: a settlement between the first read and the listener's creation is seen by the second
//!    read, one after it notifies the listener. No wake-up is lost.
//! 4. Readers clone the value out under the lock; nothing is moved out of `outcome`, so every
//!    clone sees the same outcome, as often as it asks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use crate::task::coop;

/// A value that settles once, resolved or rejected by its [`Resolver`], and awaited by any
/// number of clones.
///
/// Awaiting a promise gives `Ok(value)` once it is resolved, [`PromiseError::Rejected`] once it is
/// rejected, or [`PromiseError::Abandoned`] when its resolver was dropped without settling it.
/// Every clone gets the same outcome, as a clone of the value (wrap a value that is not `Clone`
/// in an `Arc`). Awaiting spends one unit of the task's cooperative budget when it completes.
///
/// Unlike a oneshot channel, a promise can be awaited by many tasks and awaited again after it
/// settled; unlike `sync::watch`, it never changes once settled.
///
/// # Examples
///
/// ```
/// use tether::future::Promise;
///
/// #[tether::main]
/// async fn main() {
///     let (config, resolver) = Promise::<String, String>::new();
///     let readers: Vec<_> = (0..3)
///         .map(|_| {
///             let config = config.clone();
///             tether::spawn(async move { config.await.unwrap().len() })
///         })
///         .collect();
///     resolver.resolve("port = 8080".to_string());
///     for reader in readers {
///         assert_eq!(reader.await.unwrap(), 11);
///     }
///     assert!(config.is_settled());
/// }
/// ```
pub struct Promise<T, E> {
    shared: Arc<PromiseShared<T, E>>,
    /// This clone's registration while it waits (rule 3); `None` otherwise.
    listener: Option<EventListener>,
}

/// Settles its [`Promise`] once: [`resolve`](Resolver::resolve) or [`reject`](Resolver::reject)
/// consumes it, and dropping it unsettled abandons the promise.
///
/// # Examples
///
/// ```
/// use tether::future::{Promise, PromiseError};
///
/// #[tether::main]
/// async fn main() {
///     let (promise, resolver) = Promise::<u32, &str>::new();
///     tether::spawn(async move { resolver.reject("no quorum") });
///     assert_eq!(promise.await, Err(PromiseError::Rejected("no quorum")));
/// }
/// ```
pub struct Resolver<T, E> {
    shared: Arc<PromiseShared<T, E>>,
}

/// What a promise's clones and its resolver share (see the protocol in the module docs).
struct PromiseShared<T, E> {
    /// The outcome (rule 1). Holding the lock means owning it.
    outcome: Mutex<Outcome<T, E>>,
    /// Notified once, after the outcome changed (rule 2).
    settled: Event,
}

enum Outcome<T, E> {
    Pending,
    Resolved(T),
    Rejected(E),
    Abandoned,
}

/// Why a [`Promise`] has no value: its resolver rejected it, or was dropped without settling it.
///
/// # Examples
///
/// ```
/// use tether::future::{Promise, PromiseError};
///
/// #[tether::main]
/// async fn main() {
///     let (promise, resolver) = Promise::<(), String>::new();
///     drop(resolver);
///     let err = promise.await.unwrap_err();
///     assert_eq!(err, PromiseError::Abandoned);
///     assert!(err.to_string().contains("dropped without"), "{err}");
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromiseError<E> {
    /// The resolver called [`Resolver::reject`] with this error.
    Rejected(E),
    /// The resolver was dropped without resolving or rejecting the promise; it never will be.
    Abandoned,
}

impl<E> PromiseError<E> {
    /// Whether the promise was rejected.
    pub fn is_rejected(&self) -> bool {
        matches!(self, PromiseError::Rejected(_))
    }

    /// Whether the promise was abandoned by its resolver.
    pub fn is_abandoned(&self) -> bool {
        matches!(self, PromiseError::Abandoned)
    }
}

impl<E: fmt::Display> fmt::Display for PromiseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Rejected(e) => write!(f, "the promise was rejected: {e}"),
            PromiseError::Abandoned => f.write_str(
                "the promise was abandoned: its resolver was dropped without resolving or \
                 rejecting it (keep the Resolver alive until it settles the promise)",
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for PromiseError<E> {}

impl<T, E> Promise<T, E> {
    /// Creates an unsettled promise and the resolver that settles it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::future::Promise;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (promise, resolver) = Promise::<u32, String>::new();
    ///     assert!(!promise.is_settled());
    ///     resolver.resolve(7);
    ///     assert_eq!(promise.await, Ok(7));
    /// }
    /// ```
    pub fn new() -> (Promise<T, E>, Resolver<T, E>) {
        let shared = Arc::new(PromiseShared {
            outcome: Mutex::new(Outcome::Pending),
            settled: Event::new(),
        });
        (
            Promise {
                shared: shared.clone(),
                listener: None,
            },
            Resolver { shared },
        )
    }

    /// Whether the promise has settled: resolved, rejected, or abandoned by its resolver. Once
    /// true, it stays true and the outcome never changes.
    pub fn is_settled(&self) -> bool {
        !matches!(*lock(&self.shared.outcome), Outcome::Pending)
    }

    /// The outcome, without waiting: `None` while the promise is unsettled.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::future::{Promise, PromiseError};
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let (promise, resolver) = Promise::<u32, String>::new();
    ///     assert_eq!(promise.try_get(), None);
    ///     resolver.reject("offline".to_string());
    ///     assert_eq!(
    ///         promise.try_get(),
    ///         Some(Err(PromiseError::Rejected("offline".to_string())))
    ///     );
    /// }
    /// ```
    pub fn try_get(&self) -> Option<Result<T, PromiseError<E>>>
    where
        T: Clone,
        E: Clone,
    {
        match &*lock(&self.shared.outcome) {
            Outcome::Pending => None,
            Outcome::Resolved(value) => Some(Ok(value.clone())),
            Outcome::Rejected(e) => Some(Err(PromiseError::Rejected(e.clone()))),
            Outcome::Abandoned => Some(Err(PromiseError::Abandoned)),
        }
    }
}

/// A new handle to the same promise; cloning does not need `T: Clone` (awaiting does).
impl<T, E> Clone for Promise<T, E> {
    fn clone(&self) -> Promise<T, E> {
        Promise {
            shared: self.shared.clone(),
            listener: None,
        }
    }
}

impl<T: Clone, E: Clone> Future for Promise<T, E> {
    type Output = Result<T, PromiseError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let this = self.get_mut();
        loop {
            if let Some(out) = this.try_get() {
                this.listener = None;
                coop.made_progress();
                return Poll::Ready(out);
            }
            match this.listener.as_mut() {
                // Rule 3: listen, then read the outcome again before waiting.
                None => this.listener = Some(this.shared.settled.listen()),
                Some(listener) => {
                    std::task::ready!(Pin::new(listener).poll(cx));
                    this.listener = None;
                }
            }
        }
    }
}

impl<T, E> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*lock(&self.shared.outcome) {
            Outcome::Pending => "pending",
            Outcome::Resolved(_) => "resolved",
            Outcome::Rejected(_) => "rejected",
            Outcome::Abandoned => "abandoned",
        };
        f.debug_struct("Promise").field("state", &state).finish()
    }
}

impl<T, E> Resolver<T, E> {
    /// Resolves the promise with `value`: every clone, waiting or not, gets `Ok(value)`.
    pub fn resolve(self, value: T) {
        self.settle(Outcome::Resolved(value));
    }

    /// Rejects the promise with `error`: every clone gets
    /// [`PromiseError::Rejected(error)`](PromiseError::Rejected).
    pub fn reject(self, error: E) {
        self.settle(Outcome::Rejected(error));
    }

    /// Writes `outcome` if the promise is still pending (rule 1), then notifies (rule 2).
    fn settle(&self, outcome: Outcome<T, E>) {
        {
            let mut current = lock(&self.shared.outcome);
            if !matches!(*current, Outcome::Pending) {
                return; // only `Drop` after `resolve`/`reject` gets here
            }
            *current = outcome;
        }
        self.shared.settled.notify(usize::MAX);
    }
}

impl<T, E> Drop for Resolver<T, E> {
    fn drop(&mut self) {
        self.settle(Outcome::Abandoned);
    }
}

impl<T, E> fmt::Debug for Resolver<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}
