//! `JoinHandle`, the owned handle to a task's output, and `JoinError`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::ptr::NonNull;

use async_task::{FallibleTask, Task};

use crate::task::meta::TaskMeta;
use crate::task::Id;

/// The output slot of a task as async-task stores it.
pub(crate) type RawTask<T> = FallibleTask<Result<T, JoinError>, TaskMeta>;

/// An owned permission to await a task's output.
///
/// Awaiting a `JoinHandle` gives `Ok(output)` when the task finished, or a [`JoinError`] when it
/// panicked or was cancelled. Dropping the handle *detaches* the task: it keeps running and the
/// runtime still tracks it (it shows in [`Handle::live_tasks`](crate::runtime::Handle::live_tasks)
/// and is cancelled when the runtime shuts down). Call [`abort`](JoinHandle::abort) to stop it.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let handle = tether::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
///
///     let failing = tether::spawn(async { panic!("boom") });
///     let err = failing.await.unwrap_err();
///     assert!(err.is_panic());
/// }
/// ```
pub struct JoinHandle<T> {
    /// The task; `None` once its output was taken.
    raw: Option<RawTask<T>>,
    /// The task's metadata, valid while `raw` is `Some` (see `meta()`).
    meta: NonNull<TaskMeta>,
    id: Id,
}

// SAFETY: the handle owns a `FallibleTask`, which is `Send` when `T` is, and shares a `TaskMeta`,
// which is `Sync` (atomics, an `Arc` of `Sync` state, and immutable fields).
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the `TaskMeta` (`Sync`) and calls `FallibleTask::is_finished`
// (`FallibleTask` is `Sync`).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Task<Result<T, JoinError>, TaskMeta>) -> JoinHandle<T> {
        let meta = NonNull::from(task.metadata());
        let id = task.metadata().id;
        JoinHandle {
            raw: Some(task.fallible()),
            meta,
            id,
        }
    }

    /// The task's metadata, while the handle still holds the task.
    fn meta(&self) -> Option<&TaskMeta> {
        self.raw.as_ref()?;
        // SAFETY: async-task keeps a task's metadata alive (in place, in the task allocation) as
        // long as its `Task`/`FallibleTask` handle exists, and `raw` holds that handle.
        Some(unsafe { self.meta.as_ref() })
    }

    /// The id of the task.
    pub fn id(&self) -> Id {
        self.id
    }

    /// Asks the task to stop.
    ///
    /// The task's future is dropped the next time the scheduler gets to it (at once when it is
    /// idle), and awaiting the handle then gives a [`JoinError`] for which
    /// [`is_cancelled`](JoinError::is_cancelled) is true. A task that already finished is not
    /// affected: awaiting it still gives its output.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let handle = tether::spawn(tether::time::sleep(Duration::from_secs(3600)));
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// }
    /// ```
    pub fn abort(&self) {
        if let Some(meta) = self.meta() {
            let key = meta.key();
            meta.shared.registry.abort(key, meta.id);
        }
    }

    /// A handle that can abort the task without owning its output: cheap to clone and to keep
    /// after the `JoinHandle` is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// #[tether::main]
    /// async fn main() {
    ///     let handle = tether::spawn(std::future::pending::<()>());
    ///     let abort = handle.abort_handle();
    ///     drop(handle); // detached: still running
    ///     assert!(!abort.is_finished());
    ///     abort.abort();
    ///     tether::task::yield_now().await;
    ///     assert!(abort.is_finished());
    /// }
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        let meta = self
            .meta()
            .expect("tether: JoinHandle::abort_handle called after the output was taken");
        AbortHandle {
            rt: meta.shared.clone(),
            key: meta.key(),
            id: meta.id,
        }
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    ///
    /// This never waits.
    pub fn is_finished(&self) -> bool {
        match &self.raw {
            Some(raw) => raw.is_finished(),
            None => true,
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(crate::task::coop::poll_proceed(cx));
        let id = self.id;
        let raw = self
            .raw
            .as_mut()
            .expect("tether: a JoinHandle was polled after it already returned its output");
        match Pin::new(raw).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                coop.made_progress();
                self.raw = None;
                let mut out = out.unwrap_or_else(|| Err(JoinError::cancelled(id)));
                if let Err(e) = &mut out {
                    // Delivered: from now on the failure is the caller's to handle.
                    e.observed();
                }
                Poll::Ready(out)
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            raw.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Aborts a task without owning its output; from [`JoinHandle::abort_handle`].
#[derive(Clone)]
pub struct AbortHandle {
    rt: crate::loom::sync::Arc<crate::runtime::Shared>,
    key: usize,
    id: Id,
}

impl AbortHandle {
    /// Asks the task to stop, as [`JoinHandle::abort`] does. Does nothing if it finished.
    pub fn abort(&self) {
        self.rt.registry.abort(self.key, self.id);
    }

    /// Whether the task has finished (its future was dropped).
    pub fn is_finished(&self) -> bool {
        !self.rt.registry.contains(self.key, self.id)
    }

    /// The id of the task.
    pub fn id(&self) -> Id {
        self.id
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").field("id", &self.id).finish()
    }
}

/// Why a task did not produce its output: it panicked, or it was cancelled.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let err = tether::spawn(async { panic!("disk full") }).await.unwrap_err();
///     assert!(err.is_panic());
///     let payload = err.into_panic();
///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"disk full"));
/// }
/// ```
pub struct JoinError {
    id: Id,
    repr: Repr,
}

/// What the failure policy needs to report a panic nobody observed.
pub(crate) struct Unobserved {
    pub(crate) rt: crate::loom::sync::Arc<crate::runtime::Shared>,
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) location: &'static std::panic::Location<'static>,
}

enum Repr {
    Cancelled,
    /// Boxed, so that a task's output slot (`Result<T, JoinError>`) stays small.
    Panic(Box<PanicRepr>),
}

struct PanicRepr {
    payload: Payload,
    /// The payload's text, read when the panic was caught, for `Display`/`Debug`.
    message: Option<String>,
    /// Set while the panic has not been delivered through a `JoinHandle`; reported to the
    /// runtime's failure policy if the error is dropped in that state.
    unobserved: Option<Unobserved>,
}

/// A panic payload that is only reachable by value, which makes it safe to share.
struct Payload(Box<dyn Any + Send + 'static>);

// SAFETY: the boxed payload is never accessed through `&Payload` (only moved out by value in
// `try_into_panic`), so sharing `&Payload` between threads gives access to nothing.
unsafe impl Sync for Payload {}

impl JoinError {
    pub(crate) fn cancelled(id: Id) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(
        id: Id,
        payload: Box<dyn Any + Send + 'static>,
        unobserved: Option<Unobserved>,
    ) -> JoinError {
        let message = panic_message(payload.as_ref()).map(str::to_owned);
        JoinError {
            id,
            repr: Repr::Panic(Box::new(PanicRepr {
                payload: Payload(payload),
                message,
                unobserved,
            })),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        self.id
    }

    /// Whether the task was cancelled (by [`JoinHandle::abort`] or by the runtime shutting down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to inspect or to resume with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// Panics if the task was cancelled rather than panicked; check [`is_panic`](Self::is_panic)
    /// first or use [`try_into_panic`](Self::try_into_panic).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!(
                "tether: JoinError::into_panic called on a task that was cancelled, not panicked \
                 ({e}); check is_panic() first or use try_into_panic()"
            ),
        }
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(mut self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match std::mem::replace(&mut self.repr, Repr::Cancelled) {
            Repr::Panic(mut p) => {
                p.unobserved = None;
                Ok(p.payload.0)
            }
            Repr::Cancelled => Err(self),
        }
    }
}

/// The text of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(p) => match &p.message {
                Some(msg) => write!(f, "task {} panicked with message {:?}", self.id, msg),
                None => write!(f, "task {} panicked", self.id),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic(p) => match &p.message {
                Some(msg) => write!(f, "JoinError::Panic({}, {:?}, ...)", self.id, msg),
                None => write!(f, "JoinError::Panic({}, ...)", self.id),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl JoinError {
    /// The error reached its receiver: the failure policy no longer needs to report it.
    fn observed(&mut self) {
        if let Repr::Panic(p) = &mut self.repr {
            p.unobserved = None;
        }
    }
}

impl Drop for JoinError {
    fn drop(&mut self) {
        if let Repr::Panic(p) = &mut self.repr {
            if let Some(u) = p.unobserved.take() {
                let failure = crate::runtime::UnhandledFailure::task(
                    self.id,
                    u.name.as_deref(),
                    u.location,
                    p.message.as_deref(),
                );
                // This may run inside async-task's abort-on-panic guard: a panicking failure
                // hook must not abort the process.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    u.rt.report_unhandled(&failure)
                }));
            }
        }
    }
}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}
