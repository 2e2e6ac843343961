//! One place the crate takes its synchronization primitives from.
//!
//! Every atomic, `Arc`, `Mutex` and `UnsafeCell` the runtime uses comes from here, so that a
//! `loom` build (`RUSTFLAGS="--cfg loom"`) can swap in loom's model-checked versions without
//! touching the modules that use them.

#[cfg(not(tether_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

#[cfg(tether_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

/// Locks a mutex, ignoring poisoning.
///
/// The runtime never panics while it holds one of its own locks except through a bug, and user code
/// runs under one of them only where the holder keeps the guarded state consistent when a panic
/// unwinds (the reactor's lock, held while it wakes wakers); recovering the guard keeps a panic
/// from wedging the runtime.
pub(crate) fn lock<T>(m: &sync::Mutex<T>) -> sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
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
