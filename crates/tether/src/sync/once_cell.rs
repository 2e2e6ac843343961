//! `OnceCell`: a value set once, by whichever task gets there first, possibly by running an
//! async initializer.
//!
//! # Protocol
//!
//! The value lives in a `std::sync::OnceLock` (which makes `get` a single atomic load); a
//! [`Semaphore`] with one permit decides who initializes.
//!
//! 1. **One initializer at a time.** Whoever sets the value (`get_or_init`,
//!    `get_or_try_init`, `set`) holds the semaphore's only permit while it does.
//! 2. **Set, then close.** The value is stored *before* the semaphore is closed, under the
//!    permit. Closing wakes every waiting initializer at once; each fails to acquire and
//!    returns the stored value. So a closed semaphore implies a value.
//! 3. **Cancellation and failure hand over.** An initializer whose future is dropped, that
//!    panics, or (in `get_or_try_init`) that returns an error, drops the permit without
//!    storing anything; the semaphore's first-in-first-out queue then gives it to the next
//!    waiting initializer, which runs its own function.
//! 4. An acquirer that gets the permit checks the value once more before running its
//!    function: the check is free, and keeps rule 2's implication from being load-bearing for
//!    correctness.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use super::{Semaphore, SemaphorePermit, TryAcquireError};

/// A cell that is written once, by an async initializer or by [`set`](Self::set), and then read
/// by any number of tasks without locking.
///
/// [`get_or_init`](Self::get_or_init) returns the value, running the given async function to
/// produce it if the cell is empty. When several tasks call it at once, one runs its function
/// and the others wait for its value; if that function is cancelled (its task aborted, its
/// `select!` branch lost), panics, or, in [`get_or_try_init`](Self::get_or_try_init), fails,
/// the next waiting task runs its own. Waiting spends one unit of the cooperative budget;
/// reading a set cell spends nothing.
///
/// The same type as tokio's `sync::OnceCell`. Difference from tokio: no `const_new_with` (the
/// standard `OnceLock` that holds the value cannot be built full in a constant), and
/// `const_new` is missing from loom builds.
///
/// # Examples
///
/// ```
/// use tether::sync::OnceCell;
///
/// static CONFIG: OnceCell<String> = OnceCell::const_new();
///
/// async fn config() -> &'static str {
///     CONFIG
///         .get_or_init(|| async {
///             // e.g. read a file; runs once, however many tasks ask at the same time
///             "port=6380".to_string()
///         })
///         .await
/// }
///
/// #[tether::main]
/// async fn main() {
///     let (a, b) = (tether::spawn(config()), tether::spawn(config()));
///     assert_eq!(a.await.unwrap(), "port=6380");
///     assert!(std::ptr::eq(b.await.unwrap(), CONFIG.get().unwrap().as_str()));
/// }
/// ```
pub struct OnceCell<T> {
    /// Set at most once, under the permit (rules 1, 2).
    value: OnceLock<T>,
    /// One permit: the right to initialize (rule 1); closed once `value` is set (rule 2).
    init: Semaphore,
}

impl<T> OnceCell<T> {
    /// Creates an empty cell.
    pub fn new() -> OnceCell<T> {
        OnceCell {
            value: OnceLock::new(),
            init: Semaphore::new(1),
        }
    }

    /// Creates an empty cell in a constant context, such as a `static`.
    ///
    /// Not in loom builds (`--cfg tether_loom`), whose model-checked mutex cannot be built in a
    /// constant.
    #[cfg(not(tether_loom))]
    pub const fn const_new() -> OnceCell<T> {
        OnceCell {
            value: OnceLock::new(),
            init: Semaphore::const_new(1),
        }
    }

    /// Creates a cell holding `value`, or an empty one for `None`.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        let cell = OnceCell::new();
        if let Some(value) = value {
            let _ = cell.value.set(value);
            cell.init.close();
        }
        cell
    }

    /// Whether the cell holds a value.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// The value, or `None` while the cell is empty (also while an initializer runs).
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// A mutable reference to the value, or `None` while the cell is empty; `&mut self` proves
    /// no initializer runs.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// Stores `value` if the cell is empty and no initializer is running.
    ///
    /// # Errors
    ///
    /// Gives the value back in [`SetError::AlreadyInitializedError`] when the cell holds a
    /// value, and in [`SetError::InitializingError`] while another task's initializer runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::{OnceCell, SetError};
    ///
    /// let cell = OnceCell::new();
    /// assert_eq!(cell.set(1), Ok(()));
    /// assert_eq!(cell.set(2), Err(SetError::AlreadyInitializedError(2)));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        match self.init.try_acquire() {
            Ok(permit) => {
                self.store(value, permit);
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(SetError::InitializingError(value)),
            // Rule 2: closed means set.
            Err(TryAcquireError::Closed) => Err(SetError::AlreadyInitializedError(value)),
        }
    }

    /// The value; if the cell is empty, runs `f` to produce it first, or waits for the task
    /// already doing so.
    ///
    /// When the function of the task that initializes is cancelled or panics, the next waiting
    /// task runs its own `f` (each task's `f` runs at most once). Do not call it from within
    /// `f` on the same cell: that waits for itself forever.
    ///
    /// Spends one unit of the cooperative budget when it has to wait.
    pub async fn get_or_init<F, Fut>(&self, f: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(f().await) })
            .await
        {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The value; if the cell is empty, runs `f` to produce it first, or waits for the task
    /// already doing so. An error from `f` is returned and leaves the cell empty, and the next
    /// waiting task runs its own function.
    ///
    /// # Errors
    ///
    /// The error of this task's `f`, when it ran and failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::sync::OnceCell;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let cell = OnceCell::new();
    ///     let failed = cell.get_or_try_init(|| async { Err("not yet") }).await;
    ///     assert_eq!(failed, Err("not yet"));
    ///     assert!(!cell.initialized());
    ///     let ok = cell.get_or_try_init(|| async { Ok::<_, &str>(7) }).await;
    ///     assert_eq!(ok, Ok(&7));
    /// }
    /// ```
    pub async fn get_or_try_init<E, F, Fut>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let Ok(permit) = self.init.acquire().await else {
            // Rule 2: closed means set.
            return Ok(self.value.get().expect("a closed OnceCell holds a value"));
        };
        if let Some(value) = self.value.get() {
            // Rule 4.
            return Ok(value);
        }
        // Rule 3: if this is cancelled, panics or fails, `permit` drops and hands over.
        let value = f().await?;
        Ok(self.store(value, permit))
    }

    /// Consumes the cell and returns its value, if any.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty (and ready to be initialized again).
    pub fn take(&mut self) -> Option<T> {
        std::mem::take(self).into_inner()
    }

    /// Stores `value` under the permit, then closes the semaphore (rule 2).
    fn store(&self, value: T, permit: SemaphorePermit<'_>) -> &T {
        let stored = match self.value.set(value) {
            Ok(()) => self.value.get().expect("just set"),
            Err(_) => unreachable!("rule 1: only the permit holder sets the value"),
        };
        self.init.close();
        // Returned to the closed semaphore: nobody can acquire it any more.
        drop(permit);
        stored
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> OnceCell<T> {
        OnceCell::new_with(Some(value))
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> OnceCell<T> {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T: PartialEq> PartialEq for OnceCell<T> {
    fn eq(&self, other: &OnceCell<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceCell<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}

/// Why [`OnceCell::set`] did not store the value; the value is given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// Another task's initializer is running; its value will be stored.
    InitializingError(T),
}

impl<T> SetError<T> {
    /// Whether the cell already held a value.
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitializedError(_))
    }

    /// Whether another task's initializer was running.
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::InitializingError(_))
    }

    /// The value that was not stored.
    pub fn into_inner(self) -> T {
        match self {
            SetError::AlreadyInitializedError(v) | SetError::InitializingError(v) => v,
        }
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => {
                f.write_str("the OnceCell already holds a value")
            }
            SetError::InitializingError(_) => f.write_str(
                "another task is initializing the OnceCell; get_or_init waits for its value",
            ),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for SetError<T> {}
