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
/// never runs under them; recovering the guard keeps a panicking task from wedging the runtime.
pub(crate) fn lock<T>(m: &sync::Mutex<T>) -> sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
