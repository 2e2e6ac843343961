//! Running futures that need tokio's runtime from tether tasks (feature `tokio-compat`).
//!
//! Many crates are written against tokio's runtime, not just its traits: they open
//! `tokio::net` sockets, wait on `tokio::time` timers or call `tokio::spawn` (reqwest, tonic's
//! `Channel`, sqlx, the AWS SDK, ...). Awaited from a tether task, such a future panics on its
//! first poll, with tokio's message:
//!
//! ```text
//! there is no reactor running, must be called from the context of a Tokio 1.x runtime
//! ```
//!
//! Wrapping it in [`Compat`] (with [`CompatExt::compat`]) makes it work: every poll of the
//! wrapped future, and its drop, happens inside a tokio runtime context, the one of a
//! background tokio runtime that tether starts on first use.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tether::compat::CompatExt;
//! use tether::net::TcpListener;
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     // A tether server...
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tether::spawn(async move {
//!         use tether::io::AsyncWriteExt;
//!         let (mut conn, _) = listener.accept().await?;
//!         conn.write_all(b"hi from tether").await
//!     });
//!
//!     // ...and code written for tokio's runtime: a tokio socket, a tokio timer, tokio::spawn.
//!     let greeting = async move {
//!         use tokio::io::AsyncReadExt;
//!         let mut conn = tokio::net::TcpStream::connect(addr).await?;
//!         tokio::time::sleep(Duration::from_millis(1)).await;
//!         let reader = tokio::spawn(async move {
//!             let mut text = String::new();
//!             conn.read_to_string(&mut text).await.map(|_| text)
//!         });
//!         reader.await?
//!     }
//!     .compat() // without this: "there is no reactor running" on the first poll
//!     .await?;
//!     assert_eq!(greeting, "hi from tether");
//!     Ok(())
//! }
//! ```
//!
//! # What runs where
//!
//! - **The wrapped future's own code** (everything between its `.await`s) runs where tether
//!   polls it: on the tether worker thread that runs the task, like any other code of the task.
//!   While it is polled, tokio's `Handle::current()` is the background runtime's handle, so
//!   `tokio::spawn`, `tokio::net` and `tokio::time` find a runtime.
//! - **Its tokio resources** (the sockets it opens, the timers it sets) are registered with the
//!   background runtime's reactor and timer wheel, which the background runtime's thread drives:
//!   when one becomes ready, that thread wakes the tether task, which polls the future again on
//!   its tether worker. Every readiness event thus crosses threads once.
//! - **Tasks it spawns with `tokio::spawn`** (or `spawn_blocking`) run on the background runtime
//!   and are not tether tasks: no tether scope tracks or cancels them, and they do not appear
//!   in tether's task registry or dumps. reqwest and hyper-util spawn their connection tasks
//!   there.
//! - **The background runtime** is a tokio multi-thread runtime with one worker thread, named
//!   `tether-compat-tokio` (as are the threads of its blocking pool), with I/O and timers
//!   enabled. It starts on the first poll of any `Compat` in the process and runs for the rest
//!   of the process; it is shared by every tether runtime.
//! - A `Compat` always enters the background runtime, also when another tokio runtime's context
//!   is current (a tether runtime blocked on from inside tokio's `block_on`): its future's
//!   resources always live on the one runtime that is certain to keep running. A `Compat`
//!   inside another enters the same runtime again, which costs one more entry per poll.
//!
//! # What it costs
//!
//! Measured by `cargo run --release -p tether-bench -- --compat-cost` (2 shared cores, both
//! scheduler flavors):
//!
//! - **Per poll**: entering and leaving the runtime context (a thread-local swap and a
//!   reference count on the runtime's handle): 20–35 ns more per poll of the wrapped future
//!   (a self-waking future: 35–60 ns per poll bare, 58–96 ns wrapped).
//! - **Per readiness event of a tokio resource**: a wake-up from the background runtime's thread
//!   to the tether worker, where a tether socket's event is found by the worker's own
//!   `epoll_wait`. A 64-byte request/response round trip to a tether echo server over loopback
//!   took 5–7 µs from a tether `TcpStream` and 8–15 µs (1.5–2.2×) from a tokio `TcpStream`
//!   polled through `Compat`; on a busy machine each cross-thread wake-up can cost much more.
//!   Use tether's own types where the crate lets you choose: feature `tokio-io` runs
//!   tokio-based codecs, TLS and hyper over tether's sockets directly, without `Compat`.
//! - One thread (plus tokio's blocking threads when used), started on first use.
//!
//! # Limits
//!
//! - Futures that tokio's runtime spawns keep running on the background runtime when the
//!   tether task that started them is cancelled, unless the wrapped future aborts them when
//!   dropped (tokio's `JoinHandle` does not).
//! - Dropping a `Compat` also enters the runtime context, so tokio resources released in the
//!   future's destructors find their runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// The name of the background runtime's threads.
const THREAD_NAME: &str = "tether-compat-tokio";

/// The background tokio runtime, once started.
static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// The background tokio runtime, started on first use (see the module docs).
fn background_runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                panic!("tether::compat: could not start the background tokio runtime: {e}")
            })
    })
}

/// Enters the background runtime's context (inside another runtime's context too: the one
/// entered last is current); the guard leaves it, making the previous context current again.
fn enter() -> tokio::runtime::EnterGuard<'static> {
    background_runtime().enter()
}

pin_project! {
    /// A future polled inside tokio's runtime context: see the [module docs](self) for what
    /// runs where and what it costs.
    ///
    /// Made by [`CompatExt::compat`] or [`Compat::new`]. Its output is the wrapped future's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::compat::Compat;
    ///
    /// #[tether::main]
    /// async fn main() {
    ///     let slept = Compat::new(async {
    ///         tokio::time::sleep(Duration::from_millis(1)).await;
    ///         tokio::spawn(async { "done" }).await.unwrap()
    ///     });
    ///     assert_eq!(slept.await, "done");
    /// }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Compat<F> {
        // `None` only after `into_inner` or the drop below.
        #[pin]
        inner: Option<F>,
    }

    impl<F> PinnedDrop for Compat<F> {
        fn drop(this: Pin<&mut Self>) {
            // The future's destructors may release tokio resources: they run in the context
            // too. Before the background runtime started (no `Compat` was ever polled), none
            // of its resources can exist, and the drop starts nothing.
            let _context = RUNTIME.get().map(tokio::runtime::Runtime::enter);
            this.project().inner.set(None);
        }
    }
}

impl<F> Compat<F> {
    /// Wraps `future` so that each of its polls runs inside tokio's runtime context.
    pub fn new(future: F) -> Compat<F> {
        Compat {
            inner: Some(future),
        }
    }

    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        self.inner
            .as_ref()
            .expect("tether::compat::Compat: the future is only taken out when it is consumed")
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        self.inner
            .as_mut()
            .expect("tether::compat::Compat: the future is only taken out when it is consumed")
    }

    /// Unwraps the future; polling it afterwards happens outside tokio's context again.
    pub fn into_inner(self) -> F {
        let mut this = self;
        this.inner
            .take()
            .expect("tether::compat::Compat: the future is only taken out when it is consumed")
    }
}

impl<F: Future> Future for Compat<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _context = enter();
        self.project()
            .inner
            .as_pin_mut()
            .expect("tether::compat::Compat: the future is only taken out when it is consumed")
            .poll(cx)
    }
}

impl<F> fmt::Debug for Compat<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat").finish_non_exhaustive()
    }
}

/// `.compat()` on every future: wraps it in a [`Compat`], so that it can use tokio's reactor,
/// timers and `tokio::spawn` from a tether task.
///
/// # Examples
///
/// ```
/// use tether::compat::CompatExt;
///
/// #[tether::main]
/// async fn main() {
///     let answer = async { tokio::spawn(async { 6 * 7 }).await.unwrap() }.compat().await;
///     assert_eq!(answer, 42);
/// }
/// ```
pub trait CompatExt: Future + Sized {
    /// Wraps the future in a [`Compat`].
    fn compat(self) -> Compat<Self> {
        Compat::new(self)
    }
}

impl<F: Future> CompatExt for F {}
