//! tether: an asynchronous runtime for Rust, with structured concurrency as the default.
//!
//! # The model in one page
//!
//! A **task** is a future the runtime drives to completion on its own. [`spawn`] creates one and
//! returns a [`JoinHandle`](task::JoinHandle) that awaits its output; a panic inside a task is
//! caught and delivered there, never taking the runtime down. Every task has an
//! [`Id`](task::Id), an optional name, and the source location of its `spawn`, and every live task
//! is listed in its runtime's registry ([`Handle::live_tasks`](runtime::Handle::live_tasks)):
//! nothing runs unseen, and whatever still runs when the runtime is dropped is cancelled.
//!
//! The **runtime** ([`runtime::Runtime`]) runs tasks until they wait. When every task waits, it
//! sleeps in one blocking call to the operating system (`epoll_wait`; `kevent` on macOS and
//! FreeBSD, IOCP on Windows: the README's platform table says what each offers), which returns
//! when a socket becomes ready or the next timer is due: an idle runtime uses no CPU. Tasks are
//! cooperative: a task runs until it reaches an `.await` that is not ready, so a task that
//! computes for long without awaiting holds up the others. Move such work to
//! [`task::spawn_blocking`], or insert [`task::yield_now`]. The runtime names a task that does
//! this: by default a poll longer than 10 ms is reported with the task's name and spawn location,
//! and a watchdog reports one still running after 100 ms while it is stuck;
//! [`Handle::dump`](runtime::Handle::dump) draws the live tree of tasks and scopes, and
//! [`Handle::metrics`](runtime::Handle::metrics) gives the counters.
//!
//! - [`scope`]: structured concurrency. A scope's children cannot outlive it; its first failure
//!   cancels the rest in two phases (a signal tasks can observe, then a hard drop after a grace
//!   period); every error comes back together, and what a scope cannot deliver goes to the
//!   runtime's failure policy, so no failure is lost.
//! - [`net`]: TCP, UDP and Unix sockets over the reactor; streams implement the `futures-io`
//!   traits, and [`io`] re-exports the extension traits that give them `read`/`write_all`/...
//! - [`time`]: `sleep`, `timeout`, `interval` on a hierarchical timing wheel, and a clock that
//!   tests can pause so that hour-long timeouts take no time.
//! - [`task`]: spawning (also `!Send` futures with `spawn_local`), names, yielding, the blocking
//!   pool (`spawn_blocking`, `block_in_place`), and tokio's `JoinSet`, a set of tasks joined in
//!   the order they finish.
//! - [`sync`]: channels (`oneshot`, `mpsc`, `broadcast`, `watch`), `Mutex`, `RwLock`,
//!   `Semaphore`, `Notify` and `Barrier`, with tokio's names; waiting on them spends the
//!   cooperative budget like any other resource.
//! - [`process`] (Unix): child processes (`Command`, `Child`) with pipes on the reactor and exit
//!   waited for through a pidfd or a kqueue, never blocking a thread; dropped children are still
//!   reaped.
//! - [`signal`]: `ctrl_c` (on Windows, through the console handler) and Unix signals
//!   (`signal::unix::signal`), each listener woken for every delivery, without a thread per
//!   signal.
//! - [`future`]: `all`, `all_settled`, `race`, `any` over futures or tasks, cancelling the
//!   losers, and `Promise`, a value that settles once and is awaited by any number of clones.
//! - [`fs`]: files and directories with tokio's names, run on the blocking pool; [`fs::File`]
//!   buffers reads and writes so small ones do not each cost a trip to the pool.
//! - [`diag`]: observing a runtime: reports of tasks that block a worker (named while they
//!   still block) and of failures nobody observed, the live task tree, metrics.
//! - [`select!`], [`join!`] and [`try_join!`]: wait on several futures in one task, with
//!   tokio's syntax; `select!` drops the branches that lose.
//! - [`main`] and [`test`]: attribute macros that build a runtime around an `async fn`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tether::time::{sleep, timeout};
//!
//! #[tether::main]
//! async fn main() {
//!     let greeter = tether::task::Builder::new().name("greeter").spawn(async {
//!         sleep(Duration::from_millis(10)).await;
//!         "hello"
//!     });
//!     let word = timeout(Duration::from_secs(1), greeter).await;
//!     assert_eq!(word.unwrap().unwrap(), "hello");
//! }
//! ```
//!
//! # Coming from tokio
//!
//! Names follow tokio where the meaning is the same: `Runtime`, `Builder`, `block_on`, `spawn`,
//! `JoinHandle`, `time::sleep`, `net::TcpListener`, `#[tether::main]`. Differences:
//! streams implement `futures-io`'s `AsyncRead`/`AsyncWrite` (import [`io::AsyncReadExt`] and
//! [`io::AsyncWriteExt`]); [`time::Sleep`] is `Unpin`; `#[tether::main]` runs on the current-thread
//! flavor unless you write `flavor = "multi_thread"`; a panic nobody awaited is reported, not lost.
//!
//! # Features
//!
//! None is on by default.
//!
//! - `tracing`: a span per task and events for slow polls, stuck workers and unhandled failures,
//!   through the `tracing` crate.
//! - `tokio-io`: tokio's I/O traits (`tokio::io::AsyncRead`, `AsyncWrite`, and `AsyncBufRead` on
//!   [`io::BufReader`]) on tether's streams, beside the `futures-io` ones, so crates written
//!   over tokio's traits (tokio-util's codecs, tokio-rustls, hyper-util's `TokioIo`) run over
//!   tether's sockets, files and pipes directly; see [`io`]. Brings tokio's traits, not its
//!   runtime.
//! - `tokio-compat`: the `compat` module, which runs futures that need tokio's runtime itself
//!   (its reactor, timers or `tokio::spawn`: reqwest, a tonic channel, sqlx) from tether tasks,
//!   on a background tokio runtime started on first use.
//! - `console`: `runtime::Builder::console`, a live console in the browser: the task tree,
//!   the workers' utilisation, a timeline of slow polls and watchdog reports, the metrics, and
//!   a JSON API, served on loopback by the runtime itself.

#![doc(test(attr(deny(warnings))))]
// Everything the runtime says on its own takes the one reporting path (`diag/report.rs`, rule 1).
#![warn(clippy::print_stderr)]

#[cfg(feature = "tokio-compat")]
pub mod compat;
#[cfg(feature = "console")]
pub(crate) mod console;
pub mod diag;
pub mod fs;
pub mod future;
pub mod io;
pub(crate) mod loom;
mod macros;
pub mod net;
#[cfg(unix)]
pub mod process;
pub mod runtime;
pub(crate) mod sched;
pub mod scope;
pub mod signal;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sync;
pub mod task;
pub mod time;

pub use task::spawn;

/// Marks `async fn main` to run on a tether runtime.
///
/// See the attribute's own documentation in `tether-macros` for the options
/// (`flavor = "current_thread" | "multi_thread"`, `worker_threads = N`, `start_paused = true`,
/// `crate = "..."`). The default flavor is current-thread.
pub use tether_macros::main;

/// Marks an `async fn` test to run on a fresh tether runtime.
///
/// Options as for [`main`]; `start_paused = true` runs the test on a paused clock.
pub use tether_macros::test;

/// What the expansions of [`select!`], [`join!`] and [`try_join!`] use, and the switches tests
/// use to force portable fallbacks: not part of the public API, and may change in any release.
#[doc(hidden)]
pub mod __private {
    /// Makes the io_uring probe refuse (`Some(reason)`) or ask the kernel again (`None`), as a
    /// kernel without io_uring or a seccomp profile would; process-wide, for tests of the
    /// fallback to epoll.
    #[cfg(target_os = "linux")]
    pub use crate::io::uring::refuse_io_uring;
    /// Makes the io_uring driver refuse its completion operations (`Some(reason)`), as a kernel
    /// lacking one of their opcodes would, or use them again (`None`): files take the blocking
    /// pool and owned buffers the readiness path. Process-wide, for tests of that fallback.
    #[cfg(target_os = "linux")]
    pub use crate::io::uring::refuse_io_uring_ops;
    /// Makes io_uring runtimes built from now on give streams no provided buffers, so
    /// `TcpStream`/`UnixStream` keep the readiness path (`true`), or stops that (`false`), as a
    /// kernel without provided-buffer rings would. Process-wide, for tests of that fallback.
    #[cfg(target_os = "linux")]
    pub use crate::io::uring::refuse_io_uring_streams;
    /// How many listeners have switched to io_uring's multishot accept in this process.
    #[cfg(target_os = "linux")]
    pub use crate::io::uring_accept::io_uring_listeners_activated;
    /// How many io_uring completion operations delivered their result in this process (for
    /// tests that must know which path ran).
    #[cfg(target_os = "linux")]
    pub use crate::io::uring_op::io_uring_ops_completed;
    /// How many io_uring operations a runtime's drop gave up on (their buffers leaked rather
    /// than freed while the kernel may write them) in this process; for tests.
    #[cfg(target_os = "linux")]
    pub use crate::io::uring_op::io_uring_ops_leaked;
    /// How many streams have switched to io_uring's completion mode in this process, and how
    /// many times a ring's provided buffers ran out (for tests that must know which path ran).
    #[cfg(target_os = "linux")]
    pub use crate::io::uring_stream::{io_uring_buffer_growths, io_uring_streams_activated};
    pub use crate::macros::support::*;
    #[cfg(unix)]
    pub use crate::process::fallback::force_wait_by_polling;
    pub use tether_macros::{join, select, try_join};
}

/// The README's example, compiled and run as a doctest so it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
