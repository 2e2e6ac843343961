//! The combinators over spawned tasks: `Joined`, `TaskError`, and `all_joined` and friends.
//!
//! Dropping a [`JoinHandle`] only detaches its task, so passing handles to [`race`] would leave
//! the losers running. [`Joined`] wraps a handle so that dropping it *aborts* the task, and maps
//! the task's output and [`JoinError`] into one `Result<T, TaskError<E>>`; the `*_joined`
//! functions are the plain combinators over `Joined` handles.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::combinators::{all, all_settled, any, empty_race, race, All, AllSettled, Any, Race};
use crate::task::{Id, JoinError, JoinHandle};

/// Why a task given to a `*_joined` combinator produced no value: it returned an error, it
/// panicked, or it was cancelled.
///
/// # Examples
///
/// ```
/// use tether::future::TaskError;
///
/// #[tether::main]
/// async fn main() {
///     let failed = tether::spawn(async { Err::<(), _>("no such user") });
///     let panicked = tether::spawn(async { panic!("bug") });
///     let outcomes = tether::future::all_settled_joined([failed, panicked]).await;
///     assert!(matches!(outcomes[0], Err(TaskError::Failed("no such user"))));
///     assert!(outcomes[1].as_ref().unwrap_err().is_panic());
/// }
/// ```
#[derive(Debug)]
pub enum TaskError<E> {
    /// The task completed and returned `Err(E)`.
    Failed(E),
    /// The task panicked; the [`JoinError`] holds the panic payload.
    Panicked(JoinError),
    /// The task was cancelled before it completed: aborted through its handle or by the runtime
    /// shutting down.
    Cancelled(JoinError),
}

impl<E> TaskError<E> {
    /// Whether the task returned an error.
    pub fn is_failed(&self) -> bool {
        matches!(self, TaskError::Failed(_))
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled(_))
    }

    fn from_join_error(e: JoinError) -> TaskError<E> {
        if e.is_cancelled() {
            TaskError::Cancelled(e)
        } else {
            TaskError::Panicked(e)
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(e) => write!(f, "the task failed: {e}"),
            TaskError::Panicked(e) | TaskError::Cancelled(e) => write!(f, "{e}"),
        }
    }
}

/// `source` is the [`JoinError`] of a panic or a cancellation; a `Failed` error's own value is
/// shown by `Display` (requiring `E: Error` would rule out `String` errors).
impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Failed(_) => None,
            TaskError::Panicked(e) | TaskError::Cancelled(e) => Some(e),
        }
    }
}

/// A task's [`JoinHandle`] as an input of the combinators: it resolves to the task's value or a
/// [`TaskError`], and **aborts the task when dropped** before it finished.
///
/// The `*_joined` functions wrap each handle in a `Joined`; build one yourself to mix tasks with
/// other futures of the same output type, or to keep the abort-on-drop behaviour elsewhere.
///
/// Aborting does not wait: as with [`JoinHandle::abort`], the task's future is dropped the next
/// time the scheduler gets to it (at once when it is idle; a task running on another worker
/// finishes its current poll first; a `spawn_blocking` closure cannot be interrupted). A task
/// that had already panicked is reported to the runtime's failure policy like any panic nobody
/// observed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::future::Joined;
///
/// #[tether::main]
/// async fn main() {
///     let task = tether::spawn(async {
///         tether::time::sleep(Duration::from_secs(3600)).await;
///         Ok::<(), String>(())
///     });
///     let id = task.id();
///     drop(Joined::new(task)); // aborts the task, where dropping the handle would detach it
///     tether::task::yield_now().await;
///     let handle = tether::runtime::Handle::current();
///     assert!(handle.live_tasks().iter().all(|t| t.id() != id));
/// }
/// ```
pub struct Joined<T, E> {
    handle: JoinHandle<Result<T, E>>,
}

impl<T, E> Joined<T, E> {
    /// Wraps `handle`; dropping the `Joined` aborts its task.
    pub fn new(handle: JoinHandle<Result<T, E>>) -> Joined<T, E> {
        Joined { handle }
    }

    /// The id of the task.
    pub fn id(&self) -> Id {
        self.handle.id()
    }
}

impl<T, E> From<JoinHandle<Result<T, E>>> for Joined<T, E> {
    fn from(handle: JoinHandle<Result<T, E>>) -> Joined<T, E> {
        Joined::new(handle)
    }
}

impl<T, E> Future for Joined<T, E> {
    type Output = Result<T, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = std::task::ready!(Pin::new(&mut self.get_mut().handle).poll(cx));
        Poll::Ready(match out {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(TaskError::Failed(e)),
            Err(e) => Err(TaskError::from_join_error(e)),
        })
    }
}

impl<T, E> Drop for Joined<T, E> {
    fn drop(&mut self) {
        // A no-op once the task finished or its output was taken.
        self.handle.abort();
    }
}

impl<T, E> fmt::Debug for Joined<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joined")
            .field("id", &self.handle.id())
            .field("finished", &self.handle.is_finished())
            .finish()
    }
}

fn joined<I, T, E>(handles: I) -> impl Iterator<Item = Joined<T, E>>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    handles.into_iter().map(Joined::new)
}

/// [`all`] over tasks: every task's value in input order, or the first error, after which every
/// other task is **aborted**.
///
/// A panic or a cancellation counts as an error ([`TaskError::Panicked`],
/// [`TaskError::Cancelled`]). Dropping the returned future before it completes aborts every task
/// still running. See [`Joined`] for what aborting means.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::future::TaskError;
///
/// #[tether::main]
/// async fn main() {
///     let ok = (1..=3u32).map(|n| tether::spawn(async move { Ok::<_, String>(n * n) }));
///     assert_eq!(tether::future::all_joined(ok).await.unwrap(), [1, 4, 9]);
///
///     let slow = tether::spawn(async {
///         tether::time::sleep(Duration::from_secs(3600)).await;
///         Ok(0)
///     });
///     let failing = tether::spawn(async { Err("quota exceeded".to_string()) });
///     let err = tether::future::all_joined([slow, failing]).await.unwrap_err();
///     assert!(matches!(err, TaskError::Failed(msg) if msg == "quota exceeded"));
///     // `slow` was aborted: nothing is left running.
/// }
/// ```
pub fn all_joined<I, T, E>(handles: I) -> All<Joined<T, E>>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    all(joined(handles))
}

/// [`all_settled`] over tasks: every task's outcome, in input order; nothing is aborted (unless
/// the returned future is dropped before it completes, which aborts the tasks still running).
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let tasks = (0..3u32).map(|n| {
///         tether::spawn(async move { if n == 1 { Err(n) } else { Ok(n) } })
///     });
///     let outcomes = tether::future::all_settled_joined(tasks).await;
///     assert_eq!(outcomes[0].as_ref().ok(), Some(&0));
///     assert!(outcomes[1].as_ref().unwrap_err().is_failed());
///     assert_eq!(outcomes[2].as_ref().ok(), Some(&2));
/// }
/// ```
pub fn all_settled_joined<I, T, E>(handles: I) -> AllSettled<Joined<T, E>>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    all_settled(joined(handles))
}

/// [`race`] over tasks: the first task to finish wins (a value, an error, a panic or a
/// cancellation), and every other task is **aborted**.
///
/// # Panics
///
/// Panics, at the call, when `handles` is empty, like [`race`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// #[tether::main]
/// async fn main() {
///     let primary = tether::spawn(async {
///         sleep(Duration::from_millis(200)).await;
///         Ok::<_, String>("primary")
///     });
///     let hedge = tether::spawn(async {
///         sleep(Duration::from_millis(20)).await;
///         Ok("hedge")
///     });
///     let winner = tether::future::race_joined([primary, hedge]).await.unwrap();
///     assert_eq!(winner, "hedge"); // and the primary task was aborted
/// }
/// ```
#[track_caller]
pub fn race_joined<I, T, E>(handles: I) -> Race<Joined<T, E>>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    let handles: Vec<_> = joined(handles).collect();
    if handles.is_empty() {
        empty_race(Location::caller(), "race_joined");
    }
    race(handles)
}

/// [`any`] over tasks: the first task to succeed, after which every other task is **aborted**;
/// when every task fails (an error, a panic or a cancellation), their [`TaskError`]s in input
/// order.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let tasks = [
///         tether::spawn(async { Err::<&str, _>("cache miss") }),
///         tether::spawn(async { Ok("from the database") }),
///     ];
///     assert_eq!(tether::future::any_joined(tasks).await.unwrap(), "from the database");
///
///     let tasks = [tether::spawn(async { Err::<(), _>("a") }), tether::spawn(async { Err("b") })];
///     let err = tether::future::any_joined(tasks).await.unwrap_err();
///     assert_eq!(err.errors().len(), 2);
///     assert!(err.errors().iter().all(|e| e.is_failed()));
/// }
/// ```
pub fn any_joined<I, T, E>(handles: I) -> Any<Joined<T, E>>
where
    I: IntoIterator<Item = JoinHandle<Result<T, E>>>,
{
    any(joined(handles))
}
