//! `RwLock`: many readers or one writer, held across `.await`.
//!
//! # Protocol
//!
//! Own code over the crate's fair [`Semaphore`], as tokio's lock is: `async-lock`'s lock can
//! neither bound its readers nor hand out a guard of a part of the value. The lock is one
//! semaphore and one `UnsafeCell`.
//!
//! 1. **Permits are the lock.** The semaphore starts with `max_readers` permits. A reader holds
//!    one; a writer holds all `max_readers`. So at most `max_readers` readers hold the lock at
//!    once, and a writer holds it alone.
//! 2. **First in, first out.** The semaphore serves its waiters in order (its own rule 1), so a
//!    waiting writer holds back the readers that come after it: writers are never starved, and
//!    no reader overtakes a waiting writer (`try_read` fails while one waits). The semaphore is
//!    never closed, so acquiring never fails.
//! 3. **A guard is its permits and a pointer.** A guard owns the `SemaphorePermit` it acquired
//!    (given back when the guard is dropped) and a pointer into the value, taken from the cell
//!    while it held those permits, which it dereferences only while it holds them: a read
//!    guard as `&`, a write guard (every permit, rule 1) as `&` or `&mut`.
//! 4. **Mapping keeps the permits.** `map` and `try_map` move the permits into a new guard whose
//!    pointer comes from the reference the closure returned, which the closure derived from
//!    the guard's own reference (its signature ties the two lifetimes): it stays valid while
//!    the permits are held (rule 3).
//! 5. **Downgrading** gives back every permit but one: the writer becomes a reader with no
//!    moment where another writer could get in, and the readers waiting at the head of the
//!    queue (rule 2) get in at once.

mod guard;

use std::cell::UnsafeCell;
use std::fmt;

pub use guard::{RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard};

use super::{block_on_sync, Semaphore, TryLockError};

/// The most readers a lock admits at once, and the largest `max_reads` of
/// [`RwLock::with_max_readers`]: `u32::MAX >> 3`, as in tokio.
const MAX_READS: u32 = u32::MAX >> 3;

/// An asynchronous reader-writer lock: many tasks may read the value at once, or one task may
/// write it.
///
/// The lock is fair: tasks get it in the order they asked for it, so once a writer waits, new
/// readers wait behind it, and writers are never starved. Guards may be held across `.await`;
/// there is no poisoning. [`read`](Self::read) and [`write`](Self::write) spend one unit of the
/// cooperative budget when they complete.
///
/// [`with_max_readers`](Self::with_max_readers) bounds how many readers hold the lock at once.
/// A guard can be narrowed to a part of the value ([`RwLockReadGuard::map`],
/// [`RwLockWriteGuard::map`]), and a write guard can become a read guard without releasing the
/// lock ([`RwLockWriteGuard::downgrade`]).
///
/// Own code over [`Semaphore`], as tokio's. Differences from tokio: no owned guards
/// (`read_owned`, `write_owned`).
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
    /// The permits a writer acquires: all of them (rule 1).
    max_readers: u32,
    /// `max_readers` permits while nobody holds the lock (rule 1). Never closed (rule 2).
    sem: Semaphore,
    /// The value: shared under one permit, exclusive under all of them (rule 3).
    value: UnsafeCell<T>,
}

// SAFETY: moving the lock to another thread moves the value and nothing else that is tied to
// a thread (the semaphore is `Send`); that needs `T: Send`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: a shared lock hands `&T` to readers on several threads at once, which needs
// `T: Sync`, and `&mut T` to a writer on any thread, which needs `T: Send` (as for
// `std::sync::RwLock`). The semaphore is `Sync`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `value`, which admits any number of readers at once
    /// (up to `u32::MAX >> 3`).
    pub fn new(value: T) -> RwLock<T> {
        RwLock::with_max_readers(value, MAX_READS)
    }

    /// Creates an unlocked lock holding `value` that admits at most `max_reads` readers at
    /// once: the next reader waits until one of them leaves.
    ///
    /// # Panics
    ///
    /// Panics if `max_reads` is 0 (no reader could ever get in) or more than `u32::MAX >> 3`,
    /// tokio's bound. (tokio accepts 0.)
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::RwLock;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let lock = RwLock::with_max_readers("shared", 2);
    ///     let r1 = lock.read().await;
    ///     let r2 = lock.read().await;
    ///     assert!(lock.try_read().is_err(), "a third reader has to wait");
    ///     drop(r1);
    ///     let r3 = lock.try_read().unwrap();
    ///     assert_eq!((*r2, *r3), ("shared", "shared"));
    /// }
    /// ```
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        assert!(
            max_reads != 0 && max_reads <= MAX_READS,
            "tether::sync::RwLock::with_max_readers: max_reads is {max_reads}; it must be at \
             least 1 and at most u32::MAX >> 3 ({MAX_READS})"
        );
        RwLock {
            max_readers: max_reads,
            sem: Semaphore::new(max_reads as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// [`new`](Self::new) in a constant context, such as a `static`.
    ///
    /// Not in loom builds (`--cfg tether_loom`), whose model-checked mutex (in the semaphore)
    /// cannot be built in a constant.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::RwLock;
    ///
    /// static CONFIG: RwLock<u32> = RwLock::const_new(3);
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     *CONFIG.write().await += 1;
    ///     assert_eq!(*CONFIG.read().await, 4);
    /// }
    /// ```
    #[cfg(not(tether_loom))]
    pub const fn const_new(value: T) -> RwLock<T> {
        RwLock::const_with_max_readers(value, MAX_READS)
    }

    /// [`with_max_readers`](Self::with_max_readers) in a constant context.
    ///
    /// Not in loom builds, as [`const_new`](Self::const_new).
    ///
    /// # Panics
    ///
    /// As `with_max_readers`; at compile time in a constant.
    #[cfg(not(tether_loom))]
    pub const fn const_with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        assert!(
            max_reads != 0 && max_reads <= MAX_READS,
            "tether::sync::RwLock::const_with_max_readers: max_reads must be at least 1 and at \
             most u32::MAX >> 3"
        );
        RwLock {
            max_readers: max_reads,
            sem: Semaphore::const_new(max_reads as usize),
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits until no writer holds or waits for the lock ahead of this call, and fewer than the
    /// maximum readers hold it, and returns a shared read guard.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: dropping the
    /// future gives up its place in the queue.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        let permit = match self.sem.acquire().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("an RwLock's semaphore is never closed (rule 2)"),
        };
        RwLockReadGuard::new(permit, self.value.get())
    }

    /// Takes a read guard if no writer holds or waits for the lock and fewer than the maximum
    /// readers hold it, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when a writer holds or waits for the lock, or the maximum readers hold
    /// it.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire() {
            Ok(permit) => Ok(RwLockReadGuard::new(permit, self.value.get())),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Waits until nobody holds the lock, and returns the exclusive write guard.
    ///
    /// Spends one unit of the cooperative budget when it completes. Cancel-safe: dropping the
    /// future gives up its place in the queue.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let permit = match self.sem.acquire_many(self.max_readers).await {
            Ok(permit) => permit,
            Err(_) => unreachable!("an RwLock's semaphore is never closed (rule 2)"),
        };
        RwLockWriteGuard::new(permit, self.value.get())
    }

    /// Takes the write guard if nobody holds the lock, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] when a reader or a writer holds the lock, or one waits for it.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire_many(self.max_readers) {
            Ok(permit) => Ok(RwLockWriteGuard::new(permit, self.value.get())),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// [`read`](Self::read) from synchronous code, blocking the thread while a writer holds
    /// the lock.
    ///
    /// # Panics
    ///
    /// Panics when called on a thread that runs a tether runtime's tasks, as
    /// [`Mutex::blocking_lock`](super::Mutex::blocking_lock) does.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        block_on_sync("RwLock::blocking_read", "read().await", self.read())
    }

    /// [`write`](Self::write) from synchronous code, blocking the thread while the lock is
    /// held.
    ///
    /// # Panics
    ///
    /// As [`blocking_read`](Self::blocking_read).
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        block_on_sync("RwLock::blocking_write", "write().await", self.write())
    }

    /// A mutable reference to the value: `&mut self` proves no guard exists, so no locking is
    /// needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
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
