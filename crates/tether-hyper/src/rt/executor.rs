//! [`TetherExecutor`]: hyper's `Executor` as named tether tasks, either in the runtime's root
//! scope (like `tokio::spawn`) or inside a server's scope, where they are tracked, cancelled
//! and reported like any child of that scope.
//!
//! hyper hands an executor the tasks it cannot run inside the connection's own future: on an
//! HTTP/2 connection, one task per request stream (the service's future and the response body),
//! and the connection's background tasks on the client side.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tether::scope::Scope;

/// hyper's [`Executor`](hyper::rt::Executor): each future hyper hands it becomes a named
/// tether task.
///
/// - [`TetherExecutor::new`] spawns into the runtime's root scope ([`tether::spawn`]): the
///   tasks are registered (they show in `Handle::dump` under their name) and a panic goes to
///   the runtime's failure policy, as for any detached task.
/// - [`TetherExecutor::in_scope`] spawns into a scope: the tasks cannot outlive it and are
///   cancelled with it. [`serve`](crate::serve) uses this, so a server's HTTP/2 stream tasks
///   end with the server. A panic in such a task ends only that task (the panic hook has
///   printed it): it does not cancel the scope, so one failing request does not stop a server.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
/// use tether_hyper::TetherExecutor;
///
/// #[tether::main]
/// async fn main() {
///     let (tx, rx) = tether::sync::oneshot::channel();
///     TetherExecutor::new().execute(async move {
///         tx.send(42).unwrap();
///     });
///     assert_eq!(rx.await.unwrap(), 42);
/// }
/// ```
#[derive(Clone)]
pub struct TetherExecutor {
    target: Target,
}

#[derive(Clone)]
enum Target {
    /// `tether::spawn` with a name (the builder holds it: cloning it does not allocate).
    Root(tether::task::Builder),
    /// A child of `scope`, named `name`.
    Scope {
        scope: Scope<Infallible>,
        name: Arc<str>,
    },
}

/// The name of the tasks of [`TetherExecutor::new`].
const DEFAULT_NAME: &str = "hyper-task";

impl TetherExecutor {
    /// Spawns into the runtime's root scope, each task named `hyper-task`.
    pub fn new() -> TetherExecutor {
        TetherExecutor::named(DEFAULT_NAME)
    }

    /// Spawns into the runtime's root scope, each task named `name`.
    pub fn named(name: &str) -> TetherExecutor {
        TetherExecutor {
            target: Target::Root(tether::task::Builder::new().name(name)),
        }
    }

    /// Spawns each task as a child of `scope`, named `name`.
    ///
    /// The scope must be unbounded (no `max_concurrency`): hyper's `execute` cannot wait for a
    /// place. In a cancelled scope nothing new starts: the future is dropped unrun, which hyper
    /// sees as the stream being reset.
    ///
    /// # Panics
    ///
    /// `execute` panics when the scope is bounded and full.
    pub fn in_scope(scope: &Scope<Infallible>, name: &str) -> TetherExecutor {
        TetherExecutor {
            target: Target::Scope {
                scope: scope.clone(),
                name: Arc::from(name),
            },
        }
    }
}

impl Default for TetherExecutor {
    fn default() -> TetherExecutor {
        TetherExecutor::new()
    }
}

impl fmt::Debug for TetherExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Root(b) => f.debug_tuple("TetherExecutor::Root").field(b).finish(),
            Target::Scope { name, .. } => f
                .debug_struct("TetherExecutor::Scope")
                .field("name", name)
                .finish(),
        }
    }
}

impl<F> hyper::rt::Executor<F> for TetherExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[track_caller]
    fn execute(&self, fut: F) {
        match &self.target {
            Target::Root(builder) => {
                // Detached: the task stays registered in the root scope.
                drop(builder.clone().spawn(fut));
            }
            Target::Scope { scope, name } => {
                let child = async move {
                    // A panic ends this task only (see the type's docs).
                    let _ = CatchUnwind::new(fut).await;
                    Ok::<(), Infallible>(())
                };
                // In an unbounded scope, `spawn` is ready at its first poll (or drops the
                // child unrun in a cancelled scope); only a full bounded scope would wait.
                let spawn = pin!(scope.spawn_named(name, child));
                let mut cx = Context::from_waker(Waker::noop());
                if spawn.poll(&mut cx).is_pending() {
                    panic!(
                        "tether-hyper: TetherExecutor::in_scope was given a bounded scope that is \
                         full; hyper's executor cannot wait for a place: give it an unbounded \
                         scope"
                    );
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Polls a future under `catch_unwind`: `Err(())` if it panicked (the panic hook has
    /// already reported the panic), after which it is not polled again.
    pub(crate) struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> CatchUnwind<F> {
        CatchUnwind { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
