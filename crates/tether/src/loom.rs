//! One place the crate takes its synchronization primitives from, and the one way it locks.
//!
//! The atomics, `Mutex`, `Condvar`, `RwLock` and `Arc` of the runtime's shared state come from
//! [`sync`] here (and [`cell::UnsafeCell`] for the registry's links), so that a loom build
//! (`RUSTFLAGS="--cfg tether_loom"`, which compiles the `loom_tests` models of the modules with
//! lock-free protocols) swaps in loom's model-checked versions without touching the modules
//! that use them. Every mutex is taken with [`lock`] (or
//! [`try_lock`]), which ignores poisoning.
//!
//! Code uses `std::sync` directly only where loom cannot stand in, and says why where it does:
//! - statics (id counters, the signal registry, the reaper thread): a loom object belongs to one
//!   model execution, a static outlives them all;
//! - `Weak` (the scope tokens' tree, the signal drivers): loom has none;
//! - `Arc` where std's API requires it (`Wake`, for `Waker::from`; the public `self: Arc<Self>`
//!   methods; `async_lock`'s owned guards) or where it only shares a value that never changes
//!   or synchronizes itself (names, paths, hooks, file and socket handles); those carry no
//!   comment each;
//! - the diagnostics watchdog (`runtime/diagnostics.rs`, `runtime/watchdog.rs`): a real thread
//!   timing real polls, which no loom model runs (a loom object used outside a model panics);
//! - tests: those that do not run under loom (`cfg(not(tether_loom))`), and the wakers the loom
//!   models use to observe a wake-up.

#[cfg(not(tether_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

#[cfg(tether_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

/// An `UnsafeCell` whose accesses a loom model checks: std's in other builds, loom's (which
/// reports an access not ordered after a conflicting one) in a loom build. Accessed only
/// through [`with`](cell::UnsafeCell::with) and [`with_mut`](cell::UnsafeCell::with_mut), the
/// API the two share.
pub(crate) mod cell {
    #[cfg(tether_loom)]
    pub(crate) use loom::cell::UnsafeCell;

    /// std's `UnsafeCell` with loom's access methods.
    #[cfg(not(tether_loom))]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(tether_loom))]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a pointer to the value, for reading.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a pointer to the value, for writing.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Locks a mutex, ignoring poisoning.
///
/// The runtime never panics while it holds one of its own locks except through a bug, and user code
/// runs under one of them only where the holder keeps the guarded state consistent when a panic
/// unwinds (the reactor's lock, held while it wakes wakers); recovering the guard keeps a panic
/// from wedging the runtime.
///
/// Takes the shim's [`sync::Mutex`] and, in a loom build, also std's, for the statics that stay
/// std (see the module docs); in other builds the two are one type.
pub(crate) fn lock<M: Lockable + ?Sized>(m: &M) -> M::Guard<'_> {
    m.lock_ignoring_poison()
}

/// A mutex that [`lock`] takes.
pub(crate) trait Lockable {
    /// The guard that locking returns.
    type Guard<'a>
    where
        Self: 'a;

    /// Locks, and returns the guard also when the lock is poisoned.
    fn lock_ignoring_poison(&self) -> Self::Guard<'_>;
}

impl<T: ?Sized> Lockable for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(tether_loom)]
impl<T: ?Sized> Lockable for loom::sync::Mutex<T> {
    type Guard<'a>
        = loom::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// So that `lock(&shared)` takes the mutex in an `Arc<Mutex<_>>`, as `shared.lock()` would
/// through auto-deref.
impl<M: Lockable + ?Sized> Lockable for sync::Arc<M> {
    type Guard<'a>
        = M::Guard<'a>
    where
        Self: 'a;

    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        M::lock_ignoring_poison(self)
    }
}

/// Tries to lock a mutex without blocking, ignoring poisoning; `None` if another thread holds it.
///
/// For locks that a panic may unwind through (the reactor's, held while it wakes wakers): the
/// holder keeps the guarded state consistent on unwind, so a poisoned lock is as good as a clean
/// one.
pub(crate) fn try_lock<T>(m: &sync::Mutex<T>) -> Option<sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}
