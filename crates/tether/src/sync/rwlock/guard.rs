//! The guards of an [`RwLock`](super::RwLock): read, write, and a write guard mapped to a part
//! of the value. Each is its permits and a pointer (rule 3 of the module's protocol).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::sync::SemaphorePermit;

/// Shared read access to the value of an [`RwLock`](super::RwLock), or to a part of it after
/// [`map`](Self::map); dropping it releases the read lock.
///
/// Created by [`RwLock::read`](super::RwLock::read), [`try_read`](super::RwLock::try_read),
/// [`blocking_read`](super::RwLock::blocking_read) and [`RwLockWriteGuard::downgrade`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    /// One permit of the lock's semaphore, given back on drop (rules 1, 3).
    permit: SemaphorePermit<'a>,
    /// Valid for shared access while `permit` is held (rules 3, 4).
    value: *const T,
    marker: PhantomData<&'a T>,
}

// SAFETY: the guard gives `&T` only, so moving it to another thread is sending a `&T`: sound
// for `T: Sync`. Its permit gives itself back from any thread.
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}
// SAFETY: a shared guard gives `&T` only: sound for `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// The guard of a reader holding `permit`, reading `value` (rule 3).
    pub(super) fn new(permit: SemaphorePermit<'a>, value: *const T) -> RwLockReadGuard<'a, T> {
        RwLockReadGuard {
            permit,
            value,
            marker: PhantomData,
        }
    }

    /// Narrows the guard to a part of the value, such as a field, keeping the read lock
    /// (rule 4).
    ///
    /// An associated function (`RwLockReadGuard::map(guard, f)`), so that it does not hide a
    /// `map` method of the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::{RwLock, RwLockReadGuard};
    ///
    /// struct Config {
    ///     name: String,
    ///     retries: u32,
    /// }
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let lock = RwLock::new(Config { name: "db".into(), retries: 3 });
    ///     let name: RwLockReadGuard<'_, str> =
    ///         RwLockReadGuard::map(lock.read().await, |c| c.name.as_str());
    ///     assert_eq!(&*name, "db");
    ///     assert_eq!(lock.read().await.retries, 3); // readers still share the lock
    ///     assert!(lock.try_write().is_err());
    /// }
    /// ```
    pub fn map<U: ?Sized, F>(this: Self, f: F) -> RwLockReadGuard<'a, U>
    where
        F: FnOnce(&T) -> &U,
    {
        let value: *const U = f(&*this);
        RwLockReadGuard::new(this.permit, value)
    }

    /// [`map`](Self::map) to a part that may be missing: `Err` gives the guard back when `f`
    /// returns `None`.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::{RwLock, RwLockReadGuard};
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let lock = RwLock::new(vec![1, 2, 3]);
    ///     let last = RwLockReadGuard::try_map(lock.read().await, |v| v.last()).unwrap();
    ///     assert_eq!(*last, 3);
    ///     drop(last);
    ///     lock.write().await.clear();
    ///     let all = RwLockReadGuard::try_map(lock.read().await, |v| v.last()).unwrap_err();
    ///     assert!(all.is_empty());
    /// }
    /// ```
    pub fn try_map<U: ?Sized, F>(this: Self, f: F) -> Result<RwLockReadGuard<'a, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let value: *const U = match f(&*this) {
            Some(part) => part,
            None => return Err(this),
        };
        Ok(RwLockReadGuard::new(this.permit, value))
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: rule 3: the guard holds a read permit, so no writer holds the lock, and
        // `value` came from the lock's cell, or (rule 4) from a reference derived from it that
        // is valid as long as the permit is held.
        unsafe { &*self.value }
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

/// Exclusive write access to the value of an [`RwLock`](super::RwLock); dropping it releases
/// the lock.
///
/// Created by [`RwLock::write`](super::RwLock::write), [`try_write`](super::RwLock::try_write)
/// and [`blocking_write`](super::RwLock::blocking_write).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    /// Every permit of the lock's semaphore, given back on drop (rules 1, 3).
    permit: SemaphorePermit<'a>,
    /// Valid for exclusive access while `permit` is held (rule 3).
    value: *mut T,
    marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard gives `&mut T` (moving it to another thread moves the access: `T: Send`),
// and `downgrade` turns it into a read guard there while other readers may read on this
// thread (`T: Sync`). Its permits give themselves back from any thread.
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockWriteGuard<'_, T> {}
// SAFETY: a shared guard gives `&T` only: sound for `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// The guard of the writer holding `permit` (every permit), writing `value` (rule 3).
    pub(super) fn new(permit: SemaphorePermit<'a>, value: *mut T) -> RwLockWriteGuard<'a, T> {
        RwLockWriteGuard {
            permit,
            value,
            marker: PhantomData,
        }
    }

    /// Narrows the guard to a part of the value, keeping the write lock (rule 4).
    ///
    /// An associated function (`RwLockWriteGuard::map(guard, f)`), so that it does not hide a
    /// `map` method of the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::{RwLock, RwLockMappedWriteGuard, RwLockWriteGuard};
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let lock = RwLock::new((0u32, String::new()));
    ///     let mut text: RwLockMappedWriteGuard<'_, String> =
    ///         RwLockWriteGuard::map(lock.write().await, |pair| &mut pair.1);
    ///     text.push_str("written");
    ///     assert!(lock.try_read().is_err(), "still locked for writing");
    ///     drop(text);
    ///     assert_eq!(lock.read().await.1, "written");
    /// }
    /// ```
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> RwLockMappedWriteGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let value: *mut U = f(&mut *this);
        RwLockMappedWriteGuard::new(this.permit, value)
    }

    /// [`map`](Self::map) to a part that may be missing: `Err` gives the guard back when `f`
    /// returns `None`.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    pub fn try_map<U: ?Sized, F>(
        mut this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let value: *mut U = match f(&mut *this) {
            Some(part) => part,
            None => return Err(this),
        };
        Ok(RwLockMappedWriteGuard::new(this.permit, value))
    }

    /// The same guard as an [`RwLockMappedWriteGuard`] of the whole value.
    pub fn into_mapped(this: Self) -> RwLockMappedWriteGuard<'a, T> {
        RwLockMappedWriteGuard::new(this.permit, this.value)
    }

    /// Turns the write guard into a read guard without releasing the lock (rule 5): no other
    /// writer can get in between, and the readers waiting first in line get in at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::RwLock;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let lock = RwLock::new(0);
    ///     let mut w = lock.write().await;
    ///     *w = 1;
    ///     let r = w.downgrade();
    ///     assert_eq!(*lock.try_read().unwrap(), 1, "readers may join");
    ///     assert!(lock.try_write().is_err(), "writers may not");
    ///     assert_eq!(*r, 1);
    /// }
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let mut permit = self.permit;
        let others = permit.num_permits() - 1;
        // Rule 5: every permit but this reader's goes back, to the waiters first.
        drop(permit.split(others));
        RwLockReadGuard::new(permit, self.value)
    }

    /// [`downgrade`](Self::downgrade), then [`RwLockReadGuard::map`] with `f`.
    pub fn downgrade_map<U: ?Sized, F>(this: Self, f: F) -> RwLockReadGuard<'a, U>
    where
        F: FnOnce(&T) -> &U,
    {
        RwLockReadGuard::map(this.downgrade(), f)
    }

    /// [`downgrade`](Self::downgrade) to a part that may be missing: `Err` gives the write
    /// guard back, still writing, when `f` returns `None`.
    ///
    /// # Errors
    ///
    /// The original write guard, when `f` returns `None`.
    pub fn try_downgrade_map<U: ?Sized, F>(this: Self, f: F) -> Result<RwLockReadGuard<'a, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let value: *const U = match f(&*this) {
            Some(part) => part,
            None => return Err(this),
        };
        let read = this.downgrade();
        Ok(RwLockReadGuard::new(read.permit, value))
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: rule 3: the guard holds every permit, so nobody else holds the lock, and
        // `value` came from the lock's cell.
        unsafe { &*self.value }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference the guard hands out.
        unsafe { &mut *self.value }
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

/// Exclusive write access to a part of the value of an [`RwLock`](super::RwLock), made by
/// [`RwLockWriteGuard::map`]; dropping it releases the lock.
///
/// Unlike a write guard, it cannot be downgraded: the rest of the value is out of its reach.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockMappedWriteGuard<'a, T: ?Sized> {
    /// Every permit of the lock's semaphore, given back on drop (rules 1, 3).
    permit: SemaphorePermit<'a>,
    /// Valid for exclusive access while `permit` is held (rules 3, 4).
    value: *mut T,
    marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard gives `&mut T` only, and cannot be downgraded: moving it to another thread
// moves that access, sound for `T: Send`. The rest of the locked value stays untouched; the
// permits give themselves back from any thread.
unsafe impl<T: ?Sized + Send> Send for RwLockMappedWriteGuard<'_, T> {}
// SAFETY: a shared guard gives `&T` only: sound for `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockMappedWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockMappedWriteGuard<'a, T> {
    /// The guard of the writer holding `permit`, writing the part `value` (rules 3, 4).
    fn new(permit: SemaphorePermit<'a>, value: *mut T) -> RwLockMappedWriteGuard<'a, T> {
        RwLockMappedWriteGuard {
            permit,
            value,
            marker: PhantomData,
        }
    }

    /// Narrows the guard further, keeping the write lock (rule 4).
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> RwLockMappedWriteGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let value: *mut U = f(&mut *this);
        RwLockMappedWriteGuard::new(this.permit, value)
    }

    /// [`map`](Self::map) to a part that may be missing.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    pub fn try_map<U: ?Sized, F>(
        mut this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let value: *mut U = match f(&mut *this) {
            Some(part) => part,
            None => return Err(this),
        };
        Ok(RwLockMappedWriteGuard::new(this.permit, value))
    }
}

impl<T: ?Sized> Deref for RwLockMappedWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: rules 3 and 4: the guard holds every permit, and `value` came from a
        // reference into the value derived while they were held.
        unsafe { &*self.value }
    }
}

impl<T: ?Sized> DerefMut for RwLockMappedWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference the guard hands out.
        unsafe { &mut *self.value }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockMappedWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockMappedWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
