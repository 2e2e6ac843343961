//! `RwLock`: many readers or one writer, held across `.await`.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::TryLockError;
use crate::task::coop::Budgeted;

/// An asynchronous reader-writer lock: any number of tasks may read the value at once, or one
/// task may write it.
///
/// The lock is write-preferring: once a writer waits, new readers wait behind it, so writers are
/// never starved. Guards may be held across `.await`; there is no poisoning.
/// [`read`](Self::read) and [`write`](Self::write) spend one unit of the cooperative budget when
/// they complete.
///
/// Backed by `async-lock`'s `RwLock`. Differences from tokio: no owned guards, no
/// `with_max_readers`, no guard mapping.
///
/// # Examples
///
/// ```
/// use tether::sync::RwLock;
///
/// #[tether::main]
/// async fn main() {
///     let lock = RwLock::new(5);
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await; // readers share the lock
///         assert_eq!(*r1 + *r2, 10);
///         assert!(lock.try_write().is_err()); // a writer has to wait for them
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// }
/// ```
pub struct RwLock<T: ?Sized> {
    inner: async_lock::RwLock<T>,
}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`.
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            inner: async_lock::RwLock::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits until no writer holds or waits for the lock, and returns a shared read guard.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            inner: Budgeted::new(self.inner.read()).await,
        }
    }

    /// Takes a read guard if no writer holds or waits for the lock, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when a writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.inner.try_read() {
            Some(inner) => Ok(RwLockReadGuard { inner }),
            None => Err(TryLockError(())),
        }
    }

    /// Waits until nobody holds the lock, and returns the exclusive write guard.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            inner: Budgeted::new(self.inner.write()).await,
        }
    }

    /// Takes the write guard if nobody holds the lock, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when a reader or a writer holds the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.inner.try_write() {
            Some(inner) => Ok(RwLockWriteGuard { inner }),
            None => Err(TryLockError(())),
        }
    }

    /// A mutable reference to the value: `&mut self` proves no guard exists, so no locking is
    /// needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_read() {
            Ok(guard) => f.debug_struct("RwLock").field("value", &&*guard).finish(),
            Err(_) => f
                .debug_struct("RwLock")
                .field("value", &"<locked>")
                .finish(),
        }
    }
}

/// Shared read access to the value of an [`RwLock`]; dropping it releases the read lock.
///
/// Created by [`RwLock::read`] and [`RwLock::try_read`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    inner: async_lock::RwLockReadGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Exclusive write access to the value of an [`RwLock`]; dropping it releases the lock.
///
/// Created by [`RwLock::write`] and [`RwLock::try_write`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    inner: async_lock::RwLockWriteGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
