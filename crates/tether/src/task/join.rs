//! `JoinHandle`, the owned handle to a task's output, `AbortHandle`, and `JoinError`.
//!
//! # Who drops a task's result
//!
//! A task's result (`Result<T, JoinError>`) is handed from the task's poll wrapper to its
//! `JoinHandle` through the task cell (`raw.rs`), which stores it. Dropping it runs user code
//! (`T`'s destructor, a panic payload's), which may panic.
//!
//! 1. **Whoever comes second drops a result nobody takes.** The cell's state word decides
//!    between the task's completion and the handle's drop (`raw.rs` rule 5): a handle dropped
//!    after the task completed drops the result; a task that completes after its handle was
//!    dropped drops it right after storing it. Either way through [`drop_result`] (the poll
//!    wrapper's `Body::drop_output`): a panic in the result's destructor is caught and reported
//!    to the runtime's failure policy (with the task's id, name and spawn location) as an
//!    output-drop failure. The cell itself never drops a result, so no user code runs where a
//!    task's last reference happens to go (a waker dropped in another task's poll).
//! 2. **Finished means the output is at hand.** `is_finished` is the cell's `COMPLETE` (or
//!    `CLOSED`), set once the output is stored, so a `poll` after it returns `Ready` without
//!    waiting for a wake-up. [`AbortHandle::is_finished`] gives the same guarantee: it reads the
//!    same word.
//! 3. **An awaited output is the caller's.** Once `poll` returned `Ok(output)`, the value is the
//!    caller's like any other: a panic in its destructor unwinds where the caller drops it, and
//!    the failure policy is not involved.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use std::ptr::NonNull;

use crate::task::meta::TaskMeta;
use crate::task::Id;

/// The handle to a task cell's output (`raw.rs`).
pub(crate) type RawTask<T> = crate::task::raw::Task<Result<T, JoinError>, TaskMeta>;

/// An owned permission to await a task's output.
///
/// Awaiting a `JoinHandle` gives `Ok(output)` when the task finished, or a [`JoinError`] when it
/// panicked or was cancelled. Dropping the handle *detaches* the task: it keeps running and the
/// runtime still tracks it (it shows in [`Handle::live_tasks`](crate::runtime::Handle::live_tasks)
/// and is cancelled when the runtime shuts down). Call [`abort`](JoinHandle::abort) to stop it.
///
/// An output nobody takes is dropped by the runtime: when the task finishes after its handle
/// was dropped, or when the handle is dropped after the task finished. If the output's
/// destructor panics there, the panic is caught and reported to the runtime's failure policy
/// ([`UnhandledFailure::is_output_drop`](crate::diag::UnhandledFailure::is_output_drop));
/// it never takes a worker or the process down. An output taken by awaiting the handle is the
/// caller's to drop, like any other value.
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
    /// The task; `None` for a handle made without one ([`without_task`](Self::without_task)).
    /// Kept until the handle is dropped, also once the output was taken (the cell's
    /// `DELIVERED` flag says so), so that the handle still names the task: one word a handle.
    raw: Option<RawTask<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: RawTask<T>) -> JoinHandle<T> {
        JoinHandle { raw: Some(task) }
    }

    /// A handle to no task, finished from the start, for a wrapper that asks
    /// [`holds_task`](Self::holds_task) before it polls (a scope's child that never started).
    /// Its `id` is a placeholder no task has.
    pub(crate) fn without_task() -> JoinHandle<T> {
        JoinHandle { raw: None }
    }

    /// Whether the handle still holds its task's output to give: it has a task, and did not
    /// return the output (or the error) yet.
    pub(crate) fn holds_task(&self) -> bool {
        self.undelivered().is_some()
    }

    /// The task, while its output (or error) was not returned yet.
    fn undelivered(&self) -> Option<&RawTask<T>> {
        self.raw.as_ref().filter(|raw| !raw.is_delivered())
    }

    /// The id of the task.
    pub fn id(&self) -> Id {
        match &self.raw {
            Some(raw) => raw.metadata().id,
            None => Id::NONE,
        }
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
        if let Some(raw) = self.undelivered() {
            raw.metadata().request_cancel();
            // The wake-up happens before the task's next poll (`raw.rs` rule 2), which so
            // sees the request, also if the task is queued already.
            raw.wake_by_ref();
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
        let Some(raw) = self.undelivered() else {
            // The output was taken: the task is over, and so is any abort (as in tokio).
            return AbortHandle {
                task: None,
                id: self.id(),
            };
        };
        let meta = raw.metadata();
        AbortHandle {
            // A reference of the `AbortHandle`'s own.
            task: Some((raw.waker(), NonNull::from(meta))),
            id: meta.id,
        }
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    ///
    /// This never waits. Once it returns true, awaiting the handle gives the output (or the
    /// [`JoinError`]) at once.
    pub fn is_finished(&self) -> bool {
        match &self.raw {
            // Rule 2: the output is at hand.
            Some(raw) => raw.is_finished(),
            None => true,
        }
    }
}

/// Drops the result of the task `meta` that nobody took (rules 1 and 2): a panic in its
/// destructor is caught and reported to the task's runtime as an output-drop failure.
pub(crate) fn drop_result<T>(meta: &TaskMeta, result: Result<T, JoinError>) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(result))) else {
        return;
    };
    let failure = crate::diag::UnhandledFailure::output_drop(
        meta.id,
        meta.name().map(|n| &**n),
        meta.location(),
        panic_message(payload.as_ref()),
    );
    // A panicking failure hook must not unwind into the scheduler (or the task cell) either.
    // `contain`: so must a panic from its own payload's destructor.
    crate::task::contain(|| meta.shared().report_unhandled(&failure));
    // The payload's destructor is user code too.
    crate::task::contain(move || drop(payload));
}

impl<T> JoinHandle<T> {
    /// Polls for the task's result without spending the cooperative budget and without marking
    /// a panic as delivered (the caller does that if it hands the error to user code).
    pub(crate) fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>> {
        let raw = match &mut self.raw {
            Some(raw) if !raw.is_delivered() => raw,
            _ => panic!("tether: a JoinHandle was polled after it already returned its output"),
        };
        match Pin::new(&mut *raw).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                raw.mark_delivered();
                let id = raw.metadata().id;
                Poll::Ready(out.unwrap_or_else(|| Err(JoinError::cancelled(id))))
            }
        }
    }

    /// Registers `waker` to be woken when the task finishes, before the task was first
    /// scheduled: it cannot have finished yet, so nothing is taken from it.
    pub(crate) fn register_before_first_run(&mut self, waker: &Waker) {
        let raw = self
            .raw
            .as_mut()
            .expect("tether: a new JoinHandle holds its task");
        if Pin::new(raw)
            .poll(&mut Context::from_waker(waker))
            .is_ready()
        {
            unreachable!("tether: a task finished before it was first scheduled");
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(crate::task::coop::poll_proceed(cx));
        let mut out = std::task::ready!(self.poll_result(cx));
        coop.made_progress();
        if let Err(e) = &mut out {
            // Delivered: from now on the failure is the caller's to handle.
            e.observed();
        }
        Poll::Ready(out)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Aborts a task without owning its output; from [`JoinHandle::abort_handle`].
#[derive(Clone)]
pub struct AbortHandle {
    /// A reference to the task (a waker's), which keeps its allocation, and the task's
    /// metadata, alive; `None` for a handle made after the output was taken (finished).
    task: Option<(Waker, NonNull<TaskMeta>)>,
    id: Id,
}

// SAFETY: `meta` points at a `TaskMeta` (`Sync`), kept alive by `task`; only shared access.
unsafe impl Send for AbortHandle {}
// SAFETY: as for `Send`.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Asks the task to stop, as [`JoinHandle::abort`] does. Does nothing if it finished.
    pub fn abort(&self) {
        if let Some((task, meta)) = &self.task {
            // SAFETY: the waker beside it keeps the task's allocation, and its metadata, alive.
            let meta = unsafe { meta.as_ref() };
            if !meta.is_unregistered() {
                meta.request_cancel();
                // The wake-up happens before the task's next poll (`raw.rs` rule 2).
                task.wake_by_ref();
            }
        }
    }

    /// Whether the task has finished (completed, panicked, or been cancelled and dropped).
    ///
    /// Once it returns true, the task's output (or its [`JoinError`]) is available to its
    /// [`JoinHandle`] at once: awaiting the handle does not wait for a wake-up.
    pub fn is_finished(&self) -> bool {
        match &self.task {
            // SAFETY: the waker is a task waker (`JoinHandle::abort_handle`), whose reference
            // keeps the cell alive. Rule 2.
            Some((waker, _)) => unsafe { crate::task::raw::waker_is_finished(waker) },
            None => true,
        }
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
    /// One word, so that a `Result<(), JoinError>` is one word too and a task's output slot
    /// stays small: a cancelled task's id shifted left by one with the low bit set, or (low bit
    /// clear) a pointer from `Box::into_raw` to the panic, which this error owns.
    repr: NonNull<PanicRepr>,
    _owns: PhantomData<Box<PanicRepr>>,
}

// SAFETY: a `JoinError` is its id or a `Box<PanicRepr>`, which is `Send` and `Sync` (asserted
// below); the pointer is only dereferenced as that box.
unsafe impl Send for JoinError {}
// SAFETY: as for `Send`.
unsafe impl Sync for JoinError {}

const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<PanicRepr>()
};

/// The low bit of a cancelled error's word.
const CANCELLED_TAG: usize = 1;

/// What the failure policy needs to report a panic nobody observed.
pub(crate) struct Unobserved {
    rt: crate::loom::sync::Arc<crate::runtime::RuntimeShared>,
    name: Option<std::sync::Arc<str>>,
    location: &'static std::panic::Location<'static>,
}

impl Unobserved {
    /// The runtime, name and spawn location of the task `meta`.
    pub(crate) fn of(meta: &TaskMeta) -> Unobserved {
        Unobserved {
            rt: meta.shared().clone(),
            name: meta.name().cloned(),
            location: meta.location(),
        }
    }
}

/// A panic, boxed, so that a task's output slot (`Result<T, JoinError>`) stays small; or,
/// without a payload, a cancellation whose id does not fit the error's word (on targets whose
/// pointers are narrower than 64 bits).
struct PanicRepr {
    id: Id,
    payload: Option<Payload>,
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
        let word = usize::try_from(id.as_u64())
            .ok()
            .filter(|n| n.leading_zeros() > 0);
        let Some(word) = word else {
            return JoinError::boxed(PanicRepr {
                id,
                payload: None,
                message: None,
                unobserved: None,
            });
        };
        JoinError {
            repr: NonNull::new(std::ptr::without_provenance_mut(word << 1 | CANCELLED_TAG))
                .expect("non-zero: the tag bit is set"),
            _owns: PhantomData,
        }
    }

    fn boxed(repr: PanicRepr) -> JoinError {
        // `PanicRepr` is 8-aligned, so the pointer's tag bit is clear.
        JoinError {
            repr: NonNull::from(Box::leak(Box::new(repr))),
            _owns: PhantomData,
        }
    }

    pub(crate) fn panic(
        id: Id,
        payload: Box<dyn Any + Send + 'static>,
        unobserved: Option<Unobserved>,
    ) -> JoinError {
        let message = panic_message(payload.as_ref()).map(str::to_owned);
        JoinError::boxed(PanicRepr {
            id,
            payload: Some(Payload(payload)),
            message,
            unobserved,
        })
    }

    /// The boxed part, unless the error is a cancellation packed in the word.
    fn boxed_repr(&self) -> Option<&PanicRepr> {
        if self.repr.as_ptr().addr() & CANCELLED_TAG != 0 {
            return None;
        }
        // SAFETY: with the tag bit clear, `repr` is the box this error owns (see the field).
        Some(unsafe { self.repr.as_ref() })
    }

    /// The panic, when the task panicked.
    fn panic_repr(&self) -> Option<&PanicRepr> {
        self.boxed_repr().filter(|p| p.payload.is_some())
    }

    /// The panic, when the task panicked.
    fn panic_repr_mut(&mut self) -> Option<&mut PanicRepr> {
        if !self.is_panic() {
            return None;
        }
        // SAFETY: as in `boxed_repr`; `&mut self` makes the access unique.
        Some(unsafe { self.repr.as_mut() })
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        match self.boxed_repr() {
            Some(p) => p.id,
            None => Id::from_word(self.repr.as_ptr().addr() as u64 >> 1),
        }
    }

    /// Whether the task was cancelled (by [`JoinHandle::abort`] or by the runtime shutting down).
    pub fn is_cancelled(&self) -> bool {
        !self.is_panic()
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        self.panic_repr().is_some()
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
        match self.panic_repr_mut() {
            Some(p) => {
                // Delivered: the error's drop (which frees the box) reports nothing.
                p.unobserved = None;
                Ok(p.payload.take().expect("a panic has its payload").0)
            }
            None => Err(self),
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
        match self.panic_repr() {
            None => write!(f, "task {} was cancelled", self.id()),
            Some(p) => match &p.message {
                Some(msg) => write!(f, "task {} panicked with message {:?}", p.id, msg),
                None => write!(f, "task {} panicked", p.id),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.panic_repr() {
            None => write!(f, "JoinError::Cancelled({})", self.id()),
            Some(p) => match &p.message {
                Some(msg) => write!(f, "JoinError::Panic({}, {:?}, ...)", p.id, msg),
                None => write!(f, "JoinError::Panic({}, ...)", p.id),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl JoinError {
    /// The error reached its receiver: the failure policy no longer needs to report it.
    pub(crate) fn observed(&mut self) {
        if let Some(p) = self.panic_repr_mut() {
            p.unobserved = None;
        }
    }
}

impl Drop for JoinError {
    fn drop(&mut self) {
        if self.boxed_repr().is_none() {
            return;
        }
        // SAFETY: the tag bit is clear, so `repr` came from `Box::leak` and this error owns it;
        // this is its drop, so the box is taken once.
        let mut p = unsafe { Box::from_raw(self.repr.as_ptr()) };
        if let Some(u) = p.unobserved.take() {
            let failure = crate::diag::UnhandledFailure::task(
                p.id,
                u.name.as_deref(),
                u.location,
                p.message.as_deref(),
            );
            // This may run inside the task cell's abort-on-panic guard: a panicking failure hook
            // must not abort the process, nor may a panic from that panic's payload.
            crate::task::contain(|| u.rt.report_unhandled(&failure));
        }
    }
}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use crate::task::cell::test_hooks::UNREGISTERED;

    const BOUND: Duration = Duration::from_secs(10);

    /// A `JoinError` is one word, so a task's `Result<(), JoinError>` is too (the task cell's
    /// output slot; ARCHITECTURE.md, "What a task costs").
    /// A handle without a task (a scope's child that never started) is finished, holds
    /// nothing, and aborting or dropping it does nothing.
    #[test]
    fn a_handle_without_a_task_is_finished_and_inert() {
        let handle = super::JoinHandle::<u64>::without_task();
        assert!(handle.is_finished());
        assert!(!handle.holds_task());
        handle.abort();
        drop(handle);
    }

    #[test]
    fn a_join_handle_is_one_word() {
        // A program may keep one per task (the million-sleeps benchmark does).
        assert_eq!(
            std::mem::size_of::<super::JoinHandle<u64>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn a_handle_still_names_its_task_after_its_output_was_taken() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut h = crate::spawn(async { 7 });
            let id = h.id();
            let out = std::future::poll_fn(|cx| h.poll_result(cx)).await;
            assert_eq!(out.unwrap(), 7);
            assert_eq!(h.id(), id);
            assert!(h.is_finished());
            assert!(format!("{h:?}").contains(&format!("{id:?}")));
        });
    }

    /// A handle keeps its task after the output was taken (it still names it) but gives
    /// nothing twice: polled again, after an output or after a cancellation, it panics.
    #[test]
    fn a_handle_polled_after_it_gave_its_result_panics() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let done = crate::spawn(async { 7 });
            let cancelled = crate::spawn(std::future::pending::<u32>());
            cancelled.abort();
            for (mut h, ok) in [(done, true), (cancelled, false)] {
                let out = std::future::poll_fn(|cx| h.poll_result(cx)).await;
                assert_eq!(out.is_ok(), ok);
                assert!(!h.holds_task());
                let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = h
                        .poll_result(&mut std::task::Context::from_waker(std::task::Waker::noop()));
                }));
                let msg = again.expect_err("a second poll panics");
                let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
                assert!(msg.contains("already returned its output"), "{msg}");
                drop(h);
            }
        });
    }

    #[test]
    fn a_join_error_is_one_word() {
        use super::JoinError;
        assert_eq!(
            std::mem::size_of::<JoinError>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<Result<(), JoinError>>(),
            std::mem::size_of::<usize>()
        );
    }

    /// The boxed form of a cancellation (taken where an id does not fit the word, on targets
    /// with narrow pointers) reads as the packed one.
    #[test]
    fn a_boxed_cancellation_reads_as_a_packed_one() {
        use super::{JoinError, PanicRepr};
        use crate::task::Id;
        let id = Id::from_word(42);
        let packed = JoinError::cancelled(id);
        let boxed = JoinError::boxed(PanicRepr {
            id,
            payload: None,
            message: None,
            unobserved: None,
        });
        for e in [&packed, &boxed] {
            assert!(e.is_cancelled());
            assert!(!e.is_panic());
            assert_eq!(e.id(), id);
        }
        assert_eq!(packed.to_string(), boxed.to_string());
        assert_eq!(format!("{packed:?}"), format!("{boxed:?}"));
        assert!(boxed.try_into_panic().is_err());
        assert!(packed.try_into_panic().is_err());
    }

    /// A panic's error owns its payload: taken out once, the rest freed with the error.
    #[test]
    fn a_panic_error_gives_its_payload_and_id() {
        use super::JoinError;
        use crate::task::Id;
        let id = Id::from_word(7);
        let e = JoinError::panic(id, Box::new("boom"), None);
        assert!(e.is_panic());
        assert!(!e.is_cancelled());
        assert_eq!(e.id(), id);
        assert_eq!(e.to_string(), "task 7 panicked with message \"boom\"");
        let payload = e.try_into_panic().expect("a panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }

    /// Records the task it is dropped in.
    struct Recorder(Arc<Mutex<Vec<Option<crate::task::Id>>>>);

    impl Drop for Recorder {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(crate::task::try_id());
        }
    }

    /// Rule 1: an output nobody takes is dropped as its task, whichever side drops it: the
    /// completing task (its handle was dropped first) or the handle (dropped after the task
    /// completed), as tokio does.
    #[test]
    fn an_output_nobody_takes_is_dropped_as_its_task() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let seen: Arc<Mutex<Vec<Option<crate::task::Id>>>> = Arc::default();
        let s = seen.clone();
        let ids = rt.block_on(async move {
            let first = crate::spawn({
                let s = s.clone();
                async move { Recorder(s) }
            });
            let first_id = first.id();
            // Dropped before the task runs: the task drops its output when it completes.
            drop(first);
            let second = crate::spawn(async move { Recorder(s) });
            let second_id = second.id();
            while !second.is_finished() {
                crate::task::yield_now().await;
            }
            // Dropped after the task completed: the handle drops the output.
            drop(second);
            (first_id, second_id)
        });
        assert_eq!(*seen.lock().unwrap(), vec![Some(ids.0), Some(ids.1)]);
    }

    /// Lets the completing worker go on and removes the hook, also when an assertion fails.
    struct Release(Option<Sender<()>>);

    impl Release {
        fn now(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    impl Drop for Release {
        fn drop(&mut self) {
            self.now();
            *UNREGISTERED.lock().unwrap() = None;
        }
    }

    /// Rule 2: the thread completing the task is held right after the task left the registry,
    /// before the cell stores its output: neither handle says the task finished yet (an
    /// `AbortHandle` used to, from the registry's flag, while the output was still on its way).
    /// Once released, both do, and a poll gets the output without a wake-up. A current-thread
    /// runtime driven on its own thread, so that the test needs no multi-thread runtime (and
    /// runs under the library's Miri settings).
    #[test]
    fn abort_handle_is_finished_only_once_the_output_is_at_hand() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Not run before the driver thread drives the runtime.
        let h = rt.spawn(async { 42 });
        let (id, abort) = (h.id(), h.abort_handle());
        let (left_tx, left_rx) = channel::<()>();
        let (release_tx, release_rx) = channel::<()>();
        let release_rx = Mutex::new(release_rx);
        *UNREGISTERED.lock().unwrap() = Some(Arc::new(move |task| {
            if task == id {
                let _ = left_tx.send(());
                let _ = release_rx.lock().unwrap().recv_timeout(BOUND);
            }
        }));
        let mut release = Release(Some(release_tx));
        let (done_tx, done_rx) = channel::<()>();
        let driver = std::thread::spawn(move || {
            rt.block_on(async {
                for _ in 0..3 {
                    crate::task::yield_now().await;
                }
            });
            let _ = done_tx.send(());
            // Keep the runtime until the test is done with the handles.
            rt
        });
        left_rx
            .recv_timeout(BOUND)
            .expect("the task completed and left the registry");
        assert!(
            !abort.is_finished(),
            "AbortHandle::is_finished said true before the output was stored"
        );
        assert!(!h.is_finished());
        release.now();
        done_rx
            .recv_timeout(BOUND)
            .expect("the driver finished its block_on");
        assert!(abort.is_finished());
        assert!(h.is_finished());
        let mut h = h;
        match Pin::new(&mut h).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(v)) => assert_eq!(v, 42),
            other => panic!("the first poll after is_finished gave {other:?}"),
        }
        drop(driver.join().unwrap());
    }
}
