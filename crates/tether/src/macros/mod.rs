//! The function-like macros `select!`, `join!` and `try_join!`, with tokio's syntax and
//! meaning, and what their expansions need at run time ([`support`], reached as
//! `tether::__private`).
//!
//! Each macro here only puts `($crate)` in front of the caller's tokens and hands them to the
//! procedural macro of the same name in `tether-macros`, which parses them, reports misuse and
//! writes the expansion. Passing `$crate` lets the expansion name tether's items under whatever
//! name the caller's crate gives the dependency.

pub(crate) mod support;

/// Waits on several futures at once and runs the handler of the first one to complete with an
/// output that matches its pattern; the other futures are dropped (cancelled).
///
/// The syntax and meaning are tokio's `select!`:
///
/// ```text
/// tether::select! {
///     biased;                                                   // optional, first
///     <pattern> = <future> (, if <precondition>)? => <handler>, // one or more branches
///     else => <handler>,                                        // optional, last
/// }
/// ```
///
/// It must be used inside an `async` function or block. A handler is an expression followed by
/// a comma, or a `{ ... }` block (comma optional), as in a `match`. The whole `select!`
/// evaluates to the value of the handler that ran, so every handler has the same type.
///
/// # What happens, step by step
///
/// 1. Every `if <precondition>` is evaluated, in order. A branch whose precondition is `false`
///    is *disabled* for this `select!` (a `select!` in a loop starts afresh each time round).
/// 2. Every `<future>` expression is evaluated, in order, **including those of disabled
///    branches** (their futures are created but never polled), and converted with
///    `IntoFuture` as `.await` does.
/// 3. If every branch is disabled, go to step 6.
/// 4. The enabled futures are polled, all in the current task (nothing is spawned), until one
///    completes. Its output is tested against the branch's `<pattern>`. If it matches, every
///    future is dropped, the bindings of the pattern are made and the `<handler>` runs; its
///    value is the value of the `select!`.
/// 5. If the output does not match the pattern, that branch is disabled and the output is
///    dropped; continue at step 3 with the other branches.
/// 6. All branches are disabled: the `else` handler runs. Without an `else` branch, `select!`
///    **panics**.
///
/// The futures are stored and pinned inside the future that runs the `select!` (no
/// allocation), so a `!Unpin` future such as an `async fn` call can be written directly. To
/// keep a future across several `select!`s (a deadline for a whole loop, say), pass
/// `&mut future`: a reference to an `Unpin` future is a future, and for a `!Unpin` one pin it
/// first with [`std::pin::pin!`]. Such a future is not dropped when its branch loses; once it
/// has completed, disable its branch with a precondition, since a completed future must not
/// be polled again.
///
/// Handlers are not closures: `return`, `?`, `break`, `continue` and `.await` in a handler act
/// on the enclosing function, loop and task. The futures are dropped before the handler runs,
/// so a handler may use what they borrowed (the receiver that `rx.recv()` borrowed, say).
///
/// # Fairness
///
/// By default each poll starts with a randomly chosen branch (from a fast per-thread
/// generator), so when several branches are ready at once each is as likely to win, and a
/// branch that is always ready cannot starve the others. With `biased;` the branches are
/// polled in the order they are written, every time: use it when one branch must take
/// precedence (a shutdown signal before new work), or when a fixed order makes a test
/// deterministic. The earlier branches can then starve the later ones; that is the caller's
/// choice.
///
/// # Cancellation
///
/// When a branch wins, every other future is dropped before its handler runs: a loser that was
/// halfway through something (a read of several steps, a lock it waited for) never finishes
/// it. Put only *cancel-safe* futures in a `select!` that runs in a loop, where a future
/// dropped and created anew loses nothing: `mpsc::Receiver::recv`, `oneshot::Receiver`,
/// `sleep`, `TcpListener::accept`, a single `read` of a stream. A future that is not (say
/// `read_exact`, or `write_all`, which may have written part of its buffer) should be kept
/// across iterations with `&mut`, or moved into a task. Dropping the future of the whole
/// `select!` (a timeout around it, a cancelled task) drops every branch's future too.
///
/// # The cooperative budget
///
/// Before it polls its branches, `select!` checks the task's [cooperative
/// budget](crate::task#the-cooperative-budget); if it is spent, the task yields there. A
/// `select!` that picks a branch spends one unit of it, so a loop around a `select!` whose
/// branches are always ready (even futures that know nothing of tether) still lets the other
/// tasks of the thread run. tokio's `select!` checks the budget the same way but spends
/// nothing itself.
///
/// # Panics
///
/// When every branch is disabled and there is no `else` branch. Also if a branch's future
/// panics, as `.await` would.
///
/// # Limits and compile errors
///
/// At most 64 branches. Misuse is a compile error that says what to write instead: a branch
/// without `<pattern> =`, a missing `=>` or handler, `if` without the comma before it,
/// `biased;` anywhere but first, a second `else`, `else` not last, an empty `select!`:
///
/// ```compile_fail
/// # async fn f() {
/// tether::select! {} // `select!` needs at least one branch
/// # }
/// ```
///
/// # Examples
///
/// A timeout around an operation (see also [`time::timeout`](crate::time::timeout)):
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// async fn slow_lookup() -> u32 {
///     sleep(Duration::from_secs(5)).await;
///     42
/// }
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let answer = tether::select! {
///         v = slow_lookup() => Some(v),
///         _ = sleep(Duration::from_secs(1)) => None,
///     };
///     // The lookup lost the race: it was dropped, never to finish.
///     assert_eq!(answer, None);
/// }
/// ```
///
/// A worker that handles messages until it is told to stop. `biased;` polls the shutdown
/// signal first, so a busy channel cannot delay it: here the three messages already waiting
/// are left unhandled.
///
/// ```
/// use tether::sync::{mpsc, oneshot};
///
/// #[tether::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel::<u32>(16);
///     let (stop, mut stopped) = oneshot::channel::<()>();
///     let worker = tether::spawn(async move {
///         let mut handled = 0;
///         loop {
///             tether::select! {
///                 biased;
///                 _ = &mut stopped => break,
///                 msg = rx.recv() => match msg {
///                     Some(n) => handled += n,
///                     None => break, // every sender is gone
///                 },
///             }
///         }
///         handled
///     });
///     for n in 1..=3 {
///         tx.send(n).await.unwrap();
///     }
///     stop.send(()).unwrap();
///     assert_eq!(worker.await.unwrap(), 0);
/// }
/// ```
///
/// A pattern that does not match disables its branch for this `select!`: once a channel is
/// closed, `recv()` gives `None`, which `Some(v)` does not match, and the other branch goes on.
/// When both are closed, every branch is disabled and `else` ends the loop.
///
/// ```
/// use tether::sync::mpsc;
///
/// #[tether::main]
/// async fn main() {
///     let (tx1, mut rx1) = mpsc::channel::<u32>(8);
///     let (tx2, mut rx2) = mpsc::channel::<u32>(8);
///     tether::spawn(async move {
///         for n in 0..4 {
///             tx1.send(n).await.unwrap();
///         }
///     });
///     tether::spawn(async move {
///         for n in 0..4 {
///             tx2.send(n * 100).await.unwrap();
///         }
///     });
///     let mut sum = 0;
///     loop {
///         tether::select! {
///             Some(v) = rx1.recv() => sum += v,
///             Some(v) = rx2.recv() => sum += v,
///             else => break,
///         }
///     }
///     assert_eq!(sum, 6 + 600);
/// }
/// ```
///
/// Preconditions and `biased;`: each branch below is enabled until it has run once, and the
/// branches run in the order written.
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let mut order = Vec::new();
///     loop {
///         tether::select! {
///             biased;
///             _ = async {}, if order.len() < 1 => order.push("first"),
///             _ = async {}, if order.len() < 2 => order.push("second"),
///             _ = async {}, if order.len() < 3 => order.push("third"),
///             else => break,
///         }
///     }
///     assert_eq!(order, ["first", "second", "third"]);
/// }
/// ```
///
/// One deadline for a whole loop, kept across iterations with `&mut` (a [`Sleep`] is `Unpin`;
/// pin other futures with [`std::pin::pin!`] first), and `?` in a handler:
///
/// [`Sleep`]: crate::time::Sleep
///
/// ```
/// use std::time::Duration;
/// use tether::sync::mpsc;
/// use tether::time::sleep;
///
/// async fn sum_until_deadline(rx: &mut mpsc::Receiver<String>) -> Result<u32, String> {
///     let mut deadline = sleep(Duration::from_secs(10));
///     let mut sum = 0;
///     loop {
///         tether::select! {
///             _ = &mut deadline => return Ok(sum),
///             line = rx.recv() => match line {
///                 Some(line) => sum += line.parse::<u32>().map_err(|e| e.to_string())?,
///                 None => return Ok(sum),
///             },
///         }
///     }
/// }
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(8);
///     tx.send("1".to_string()).await.unwrap();
///     tx.send("2".to_string()).await.unwrap();
///     // The sender stays open: the deadline ends the loop.
///     assert_eq!(sum_until_deadline(&mut rx).await, Ok(3));
///     tx.send("three".to_string()).await.unwrap();
///     assert!(sum_until_deadline(&mut rx).await.is_err());
/// }
/// ```
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__private::select! { ($crate) $($tokens)* }
    };
}

/// Waits for several futures at once, all in the current task, and returns their outputs as a
/// tuple, in the order written.
///
/// `join!(a, b, c)` evaluates `a`, `b` and `c` in order (each converted with `IntoFuture`),
/// then polls them together until every one has completed, and evaluates to
/// `(a_output, b_output, c_output)`. It must be used inside an `async` function or block.
/// `join!()` is `()`.
///
/// The futures run *concurrently* but not in parallel: they are polled by the task that runs
/// the `join!`, on its thread, and stored inside that task's future (no allocation). For
/// parallelism, [`spawn`](crate::spawn()) tasks and join their handles; for a number of
/// futures not known at compile time, see [`future::all_settled`](crate::future::all_settled).
///
/// # Fairness and the cooperative budget
///
/// Each time the `join!` is polled it starts with the next branch (round robin), so a branch
/// that uses up the task's [cooperative budget](crate::task#the-cooperative-budget) cannot keep
/// the others from being polled. With `biased;` first (`join!(biased; a, b)`) the branches are
/// always polled in the order written. Like `select!`, `join!` checks the budget before it
/// polls (the task yields there if it is spent) and spends one unit when it completes.
///
/// Use [`try_join!`](crate::try_join!) for futures that return `Result` when the first error
/// should end the wait.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{sleep, Instant};
///
/// async fn after(ms: u64, value: &'static str) -> &'static str {
///     sleep(Duration::from_millis(ms)).await;
///     value
/// }
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let start = Instant::now();
///     let (a, b, c) = tether::join!(after(300, "a"), after(100, "b"), after(200, "c"));
///     assert_eq!((a, b, c), ("a", "b", "c")); // the order written, not the order completed
///     // Concurrent: the time of the slowest, not the sum.
///     assert_eq!(start.elapsed(), Duration::from_millis(300));
/// }
/// ```
#[macro_export]
macro_rules! join {
    ($($tokens:tt)*) => {
        $crate::__private::join! { ($crate) $($tokens)* }
    };
}

/// Waits for several fallible futures at once and returns `Ok` with all their values, or the
/// first error, as soon as it happens.
///
/// `try_join!(a, b)` works like [`join!`](crate::join!) for futures whose outputs are
/// `Result<_, E>` with one error type `E`: it evaluates to `Ok((a_value, b_value))` once every
/// future completed with `Ok`, or to `Err(e)` as soon as one of them completes with `Err(e)`.
/// The other futures are then **dropped at once** (cancelled), before `try_join!` returns.
/// `try_join!()` is `Ok(())`. `biased;`, fairness and the budget are as for
/// [`join!`](crate::join!).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::{sleep, Instant};
///
/// async fn step(ms: u64, outcome: Result<u32, &'static str>) -> Result<u32, &'static str> {
///     sleep(Duration::from_millis(ms)).await;
///     outcome
/// }
///
/// #[tether::main(start_paused = true)]
/// async fn main() {
///     let both = tether::try_join!(step(100, Ok(1)), step(200, Ok(2)));
///     assert_eq!(both, Ok((1, 2)));
///
///     let start = Instant::now();
///     let failed = tether::try_join!(step(3_600_000, Ok(1)), step(100, Err("disk full")));
///     assert_eq!(failed, Err("disk full"));
///     // The hour-long step was dropped when the other failed, not waited for.
///     assert_eq!(start.elapsed(), Duration::from_millis(100));
/// }
/// ```
#[macro_export]
macro_rules! try_join {
    ($($tokens:tt)*) => {
        $crate::__private::try_join! { ($crate) $($tokens)* }
    };
}
