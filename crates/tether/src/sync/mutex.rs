//! `Mutex`: exclusive access to a value, which can be held across `.await`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::task::coop::Budgeted;

/// An asynchronous mutual-exclusion lock: one task at a time gets access to the value.
///
/// Unlike `std::sync::Mutex`, waiting for it suspends the task rather than blocking the thread,
/// and its guard may be held across `.await` (a task may yield while it holds the lock; the
/// others wait). When the lock is never held across an `.await`, `std::sync::Mutex` is cheaper
/// and fine to use in async code.
///
/// The lock is *eventually* fair: a newcomer may take a lock that was just released ahead of a
/// waiting task, but a task that has waited longer than half a millisecond forces strict
/// hand-over, so nobody waits forever. A task that panics while holding the guard just releases
/// it: there is no poisoning. [`lock`](Self::lock) spends one unit of the
/// cooperative budget when it completes.
///
/// Backed by `async-lock`'s `Mutex`. The lock lives behind an `Arc`, so that
/// [`lock_owned`](Self::lock_owned) can give out an owned guard without unsafe code; so
/// `Mutex::new` allocates, and there is no `const_new` (a difference from tokio).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tether::sync::Mutex;
///
/// #[tether::main]
/// async fn main() {
///     let count = Arc::new(Mutex::new(0));
///     let mut tasks = Vec::new();
///     for _ in 0..10 {
///         let count = count.clone();
///         tasks.push(tether::spawn(async move {
///             let mut n = count.lock().await;
///             let seen = *n;
///             tether::task::yield_now().await; // others run, but cannot get the lock
///             *n = seen + 1;
///         }));
///     }
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 10);
/// }
/// ```
pub struct Mutex<T> {
    inner: Arc<async_lock::Mutex<T>>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            inner: Arc::new(async_lock::Mutex::new(value)),
        }
    }

    /// Waits for the lock and returns a guard that releases it when dropped.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: dropping the
    /// future before it completes gives up the place in the queue.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            inner: Budgeted::new(self.inner.lock()).await,
        }
    }

    /// Takes the lock if it is free right now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when the lock is held.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.inner.try_lock() {
            Some(inner) => Ok(MutexGuard { inner }),
            None => Err(TryLockError(())),
        }
    }

    /// Waits for the lock, like [`lock`](Self::lock), and returns a guard that owns an `Arc`
    /// of the mutex, so it can be moved into another task or stored without a lifetime.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::sync::Mutex;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let log = Arc::new(Mutex::new(Vec::new()));
    ///     let mut guard = log.clone().lock_owned().await;
    ///     let writer = tether::spawn(async move {
    ///         guard.push("first");
    ///     }); // the guard moved into the task, and is released when it ends
    ///     writer.await.unwrap();
    ///     log.lock().await.push("second");
    ///     assert_eq!(*log.lock().await, ["first", "second"]);
    /// }
    /// ```
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let inner = Budgeted::new(self.inner.lock_arc()).await;
        OwnedMutexGuard {
            inner,
            _mutex: self,
        }
    }

    /// Takes the lock if it is free right now, returning an owned guard; see
    /// [`lock_owned`](Self::lock_owned).
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when the lock is held.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.inner.try_lock_arc() {
            Some(inner) => Ok(OwnedMutexGuard {
                inner,
                _mutex: self,
            }),
            None => Err(TryLockError(())),
        }
    }

    /// A mutable reference to the value: `&mut self` proves no guard exists, so no locking is
    /// needed.
    pub fn get_mut(&mut self) -> &mut T {
        // Clones of `inner` exist only inside owned guards (and `lock_owned` futures), which also
        // hold an `Arc` of this `Mutex`; `&mut self` rules those out.
        Arc::get_mut(&mut self.inner)
            .expect("tether: an owned guard outlived the exclusive borrow of its Mutex")
            .get_mut()
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        match Arc::try_unwrap(self.inner) {
            Ok(m) => m.into_inner(),
            Err(_) => unreachable!("an owned guard outlived its Mutex (see get_mut)"),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Ok(guard) => f.debug_struct("Mutex").field("value", &*guard).finish(),
            Err(_) => f.debug_struct("Mutex").field("value", &"<locked>").finish(),
        }
    }
}

/// Access to the value of a locked [`Mutex`]; dropping it releases the lock.
///
/// Created by [`Mutex::lock`] and [`Mutex::try_lock`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    inner: async_lock::MutexGuard<'a, T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Access to the value of a locked [`Mutex`] that owns an `Arc` of it, so it has no lifetime;
/// dropping it releases the lock.
///
/// Created by [`Mutex::lock_owned`] and [`Mutex::try_lock_owned`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T> {
    /// Declared first: released before `_mutex` is dropped.
    inner: async_lock::MutexGuardArc<T>,
    /// Keeps `Mutex::get_mut`'s reasoning true: while this guard lives, nobody has `&mut Mutex`.
    _mutex: Arc<Mutex<T>>,
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The lock is held by someone else: returned by the `try_*` methods of [`Mutex`] and
/// [`RwLock`](super::RwLock), which do not wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError(pub(super) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held by someone else; await the waiting method to get it")
    }
}

impl std::error::Error for TryLockError {}
