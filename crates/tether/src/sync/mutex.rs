//! `Mutex`: exclusive access to a value, which can be held across `.await`.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::sync::block_on_sync;
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
/// hand-over, so nobody waits forever. (tokio's is strictly first-in-first-out.) A task that
/// panics while holding the guard just releases it: there is no poisoning.
/// [`lock`](Self::lock) spends one unit of the cooperative budget when it completes.
///
/// [`new`](Self::new) is a `const fn`, so a `Mutex` can be a `static`. Backed by `async-lock`'s
/// `Mutex`, which this type wraps without adding a field.
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
///
/// In a `static`:
///
/// ```
/// use tether::sync::Mutex;
///
/// static LOG: Mutex<Vec<&str>> = Mutex::new(Vec::new());
///
/// #[tether::main]
/// async fn main() {
///     LOG.lock().await.push("started");
///     assert_eq!(*LOG.lock().await, ["started"]);
/// }
/// ```
// `repr(transparent)`: `lock_owned` relies on this type having the layout of its one field.
#[repr(transparent)]
pub struct Mutex<T> {
    inner: async_lock::Mutex<T>,
}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`; usable in constants and statics.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            inner: async_lock::Mutex::new(value),
        }
    }

    /// The same as [`new`](Self::new), under tokio's name for the `const` constructor.
    pub const fn const_new(value: T) -> Mutex<T> {
        Mutex::new(value)
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::Mutex;
    ///
    /// let m = Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err(), "held by `guard`");
    /// drop(guard);
    /// assert_eq!(*m.try_lock().unwrap(), 1);
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.inner.try_lock() {
            Some(inner) => Ok(MutexGuard { inner }),
            None => Err(TryLockError(())),
        }
    }

    /// Takes the lock from synchronous code, blocking the thread while it is held.
    ///
    /// For threads that are not the runtime's: plain threads, and
    /// [`spawn_blocking`](crate::task::spawn_blocking) closures that share state with async
    /// tasks.
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks (inside `block_on` or
    /// a task), as tokio's does: blocking there would stall every task of that thread, possibly
    /// the very task holding the lock. Use [`lock`](Self::lock)`.await` there.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tether::sync::Mutex;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let total = Arc::new(Mutex::new(0));
    ///     let worker = tether::task::spawn_blocking({
    ///         let total = total.clone();
    ///         move || *total.blocking_lock() += 1
    ///     });
    ///     worker.await.unwrap();
    ///     assert_eq!(*total.lock().await, 1);
    /// }
    /// ```
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        block_on_sync("Mutex::blocking_lock", "lock().await", self.lock())
    }

    /// [`lock_owned`](Self::lock_owned) from synchronous code, blocking the thread while the
    /// lock is held.
    ///
    /// # Panics
    ///
    /// As [`blocking_lock`](Self::blocking_lock).
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        block_on_sync(
            "Mutex::blocking_lock_owned",
            "lock_owned().await",
            self.lock_owned(),
        )
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
        let inner = Budgeted::new(Mutex::as_async_lock(&self).lock_arc()).await;
        OwnedMutexGuard { inner, mutex: self }
    }

    /// Takes the lock if it is free right now, returning an owned guard; see
    /// [`lock_owned`](Self::lock_owned).
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when the lock is held.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match Mutex::as_async_lock(&self).try_lock_arc() {
            Some(inner) => Ok(OwnedMutexGuard { inner, mutex: self }),
            None => Err(TryLockError(())),
        }
    }

    /// A mutable reference to the value: `&mut self` proves no guard exists, so no locking is
    /// needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// The same allocation as an `Arc` of the `async-lock` mutex inside, whose owned guards
    /// need one.
    fn as_async_lock(this: &Arc<Self>) -> Arc<async_lock::Mutex<T>> {
        let raw = Arc::into_raw(this.clone()).cast::<async_lock::Mutex<T>>();
        // SAFETY: `raw` comes from `Arc::<Mutex<T>>::into_raw`, and `Mutex<T>` is
        // `repr(transparent)` over `async_lock::Mutex<T>`: the two have the same size and
        // alignment (what `Arc::from_raw` requires of a different pointee type), and the value
        // is a valid `async_lock::Mutex<T>`. `Mutex<T>` has no `Drop` impl and no other field,
        // so whichever of the two `Arc` types drops the value last drops exactly the inner
        // mutex, and deallocates with the same layout.
        unsafe { Arc::from_raw(raw) }
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
/// Created by [`Mutex::lock`], [`Mutex::try_lock`] and [`Mutex::blocking_lock`].
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
/// Created by [`Mutex::lock_owned`], [`Mutex::try_lock_owned`] and
/// [`Mutex::blocking_lock_owned`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T> {
    inner: async_lock::MutexGuardArc<T>,
    /// The mutex, for [`OwnedMutexGuard::mutex`]; the same allocation `inner` holds.
    mutex: Arc<Mutex<T>>,
}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.mutex
    }
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
