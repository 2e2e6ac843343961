//! `Mutex`: exclusive access to a value, which can be held across `.await`.

use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
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
/// A guard can be narrowed to a part of the value, keeping the lock, with [`MutexGuard::map`].
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

impl<'a, T> MutexGuard<'a, T> {
    /// Narrows the guard to a part of the value, such as a field, keeping the lock: the lock
    /// is released when the returned guard is dropped.
    ///
    /// An associated function (`MutexGuard::map(guard, f)`), so that it does not hide a `map`
    /// method of the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::{MappedMutexGuard, Mutex, MutexGuard};
    ///
    /// struct Stats {
    ///     requests: u64,
    ///     errors: u64,
    /// }
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let stats = Mutex::new(Stats { requests: 0, errors: 0 });
    ///     let mut errors: MappedMutexGuard<'_, u64> =
    ///         MutexGuard::map(stats.lock().await, |s| &mut s.errors);
    ///     *errors += 1;
    ///     assert!(stats.try_lock().is_err(), "the mapped guard holds the lock");
    ///     drop(errors);
    ///     let s = stats.lock().await;
    ///     assert_eq!((s.requests, s.errors), (0, 1));
    /// }
    /// ```
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> MappedMutexGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let value: *mut U = f(&mut this.inner);
        MappedMutexGuard {
            value,
            lock: HeldLock::new(this.inner),
            marker: PhantomData,
        }
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
    /// use std::collections::HashMap;
    /// use tether::sync::{Mutex, MutexGuard};
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let sessions = Mutex::new(HashMap::from([(1, String::from("alice"))]));
    ///     let mut alice = MutexGuard::try_map(sessions.lock().await, |m| m.get_mut(&1)).unwrap();
    ///     alice.push_str(" (admin)");
    ///     drop(alice);
    ///     let all = MutexGuard::try_map(sessions.lock().await, |m| m.get_mut(&2)).unwrap_err();
    ///     assert_eq!(all[&1], "alice (admin)");
    /// }
    /// ```
    pub fn try_map<U: ?Sized, F>(mut this: Self, f: F) -> Result<MappedMutexGuard<'a, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let value: *mut U = match f(&mut this.inner) {
            Some(part) => part,
            None => return Err(this),
        };
        Ok(MappedMutexGuard {
            value,
            lock: HeldLock::new(this.inner),
            marker: PhantomData,
        })
    }
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

/// Access to a part of the value of a locked [`Mutex`], made by [`MutexGuard::map`]; dropping
/// it releases the lock.
///
/// It holds the original guard with the value's type forgotten, and a pointer to
/// the part, which the closure given to `map` derived from the guard's `&mut` reference.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MappedMutexGuard<'a, T: ?Sized> {
    /// Valid for exclusive access while `lock` is held: derived from the `&mut` the original
    /// guard gave, which the closure's signature ties to that guard.
    value: *mut T,
    /// The lock, released when this guard is dropped (after `value`'s last use).
    lock: HeldLock<'a>,
    marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard gives `&mut T` only: moving it to another thread moves that access, sound
// for `T: Send`. The rest of the locked value stays untouched, and the held lock is released
// from whichever thread drops it (async-lock's unlock is an atomic operation and a
// notification).
unsafe impl<T: ?Sized + Send> Send for MappedMutexGuard<'_, T> {}
// SAFETY: a shared guard gives `&T` only (`HeldLock` has no method): sound for `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MappedMutexGuard<'_, T> {}

impl<'a, T: ?Sized> MappedMutexGuard<'a, T> {
    /// Narrows the guard further, keeping the lock.
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> MappedMutexGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let value: *mut U = f(&mut *this);
        MappedMutexGuard {
            value,
            lock: this.lock,
            marker: PhantomData,
        }
    }

    /// [`map`](Self::map) to a part that may be missing.
    ///
    /// # Errors
    ///
    /// The original guard, when `f` returns `None`.
    pub fn try_map<U: ?Sized, F>(mut this: Self, f: F) -> Result<MappedMutexGuard<'a, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let value: *mut U = match f(&mut *this) {
            Some(part) => part,
            None => return Err(this),
        };
        Ok(MappedMutexGuard {
            value,
            lock: this.lock,
            marker: PhantomData,
        })
    }
}

impl<T: ?Sized> Deref for MappedMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `value` points into the locked value and `lock` holds the lock (see the
        // fields), so nobody else reaches that memory until this guard is dropped.
        unsafe { &*self.value }
    }
}

impl<T: ?Sized> DerefMut for MappedMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference the guard hands out.
        unsafe { &mut *self.value }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MappedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// An `async-lock` mutex guard whose value type is forgotten, stored in place: what a
/// [`MappedMutexGuard`] holds to release the lock when it is dropped.
///
/// async-lock offers no way to unlock without its guard, and a mapped guard's type names only
/// the part it maps to, so the guard is kept as bytes with the function that drops it as what
/// it was. An `async_lock::MutexGuard` is one reference for any `T` (`new` checks this), so
/// it fits a pointer-sized slot and mapping allocates nothing.
struct HeldLock<'a> {
    /// The guard, moved in by `new`; dropped once, by `Drop`, through `drop_guard`.
    slot: MaybeUninit<*const ()>,
    /// `drop_guard_as::<T>` for the `T` of the guard in `slot`.
    drop_guard: unsafe fn(*mut MaybeUninit<*const ()>),
    /// The guard borrows the mutex for `'a`.
    marker: PhantomData<&'a ()>,
}

impl<'a> HeldLock<'a> {
    fn new<T>(guard: async_lock::MutexGuard<'a, T>) -> HeldLock<'a> {
        assert!(
            mem::size_of_val(&guard) <= mem::size_of::<MaybeUninit<*const ()>>()
                && mem::align_of_val(&guard) <= mem::align_of::<MaybeUninit<*const ()>>(),
            "tether: async-lock's MutexGuard no longer fits in a pointer; MutexGuard::map needs \
             a larger slot"
        );
        let mut slot = MaybeUninit::<*const ()>::uninit();
        // SAFETY: the slot is as large and as aligned as the guard (checked above), and
        // writing moves the guard in: from here on `slot` owns it, and `Drop` drops it once.
        unsafe {
            slot.as_mut_ptr()
                .cast::<async_lock::MutexGuard<'a, T>>()
                .write(guard);
        }
        HeldLock {
            slot,
            drop_guard: drop_guard_as::<T>,
            marker: PhantomData,
        }
    }
}

/// Drops the `async_lock::MutexGuard<'_, T>` that `HeldLock::new` moved into `slot`, which
/// releases the lock.
///
/// # Safety
///
/// `slot` holds such a guard, written by `HeldLock::new` for this `T`, not dropped yet; the
/// caller never uses it again.
unsafe fn drop_guard_as<T>(slot: *mut MaybeUninit<*const ()>) {
    // SAFETY: the caller's contract: `slot` holds a live guard of this type, read as the type
    // it was written as, and this is its one drop.
    unsafe {
        slot.cast::<async_lock::MutexGuard<'_, T>>().drop_in_place();
    }
}

impl Drop for HeldLock<'_> {
    fn drop(&mut self) {
        // SAFETY: `drop_guard` is `drop_guard_as::<T>` for the `T` of the guard `new` moved into
        // `slot`; this is the only place that drops it, and the slot is not used afterwards.
        unsafe { (self.drop_guard)(&mut self.slot) }
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
