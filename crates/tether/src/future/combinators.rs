//! `all`, `all_settled`, `race`, `any` over futures, and `AggregateError`.
//!
//! Each combinator owns its inputs in a [`FutureSet`] and polls them in place. Whatever decides
//! the outcome (the first error of `all`, the first settled input of `race`, the first success of
//! `any`), the inputs still pending are dropped *before* the combinator returns, so nothing it
//! was given is left running.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::set::FutureSet;

/// Waits for every future to succeed, or for the first to fail.
///
/// Resolves to `Ok` with every value, in input order (not completion order), once all inputs
/// succeed, or to the first error as soon as any input fails. On that first error every input
/// still pending is dropped (cancelled) before `all` returns: unlike JavaScript's `Promise.all`,
/// nothing is left running in the background. An empty input resolves to `Ok(vec![])`.
///
/// The inputs run concurrently inside the task that awaits `all` (nothing is spawned); see the
/// [module docs](crate::future) for the polling cost and ordering rules. To run them as tasks,
/// spawn them and use [`all_joined`](crate::future::all_joined).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// #[tether::main]
/// async fn main() {
///     let fetch = |n: u64| async move {
///         sleep(Duration::from_millis(10 * (3 - n))).await; // the last finishes first
///         Ok::<u64, String>(n * 10)
///     };
///     let values = tether::future::all((0..3).map(fetch)).await;
///     assert_eq!(values, Ok(vec![0, 10, 20]));
///
///     let failing = |n: u64| async move {
///         if n == 1 {
///             return Err(format!("input {n} failed"));
///         }
///         sleep(Duration::from_secs(3600)).await; // dropped, never finishes
///         Ok(n)
///     };
///     let err = tether::future::all((0..3).map(failing)).await.unwrap_err();
///     assert_eq!(err, "input 1 failed");
/// }
/// ```
pub fn all<I, F, T, E>(futures: I) -> All<F>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let set = FutureSet::new(futures);
    let outputs = (0..set.len()).map(|_| None).collect();
    All {
        set,
        outputs,
        done: false,
    }
}

/// The future of [`all`].
#[must_use = "futures do nothing unless awaited"]
pub struct All<F: Future> {
    set: FutureSet<F>,
    /// `outputs[i]`: input `i`'s output, always an `Ok`, once it completed.
    outputs: Vec<Option<F::Output>>,
    done: bool,
}

impl<F, T, E> Future for All<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "tether: `all` was polled after it completed");
        loop {
            match std::task::ready!(this.set.poll_next(cx)) {
                Some((i, Ok(value))) => this.outputs[i] = Some(Ok(value)),
                Some((_, Err(e))) => {
                    this.done = true;
                    this.set.cancel_pending();
                    this.outputs.clear();
                    return Poll::Ready(Err(e));
                }
                None => {
                    this.done = true;
                    let values = std::mem::take(&mut this.outputs)
                        .into_iter()
                        .map(|out| match out {
                            Some(Ok(value)) => value,
                            _ => unreachable!("every input of `all` completed with a value"),
                        })
                        .collect();
                    return Poll::Ready(Ok(values));
                }
            }
        }
    }
}

// The inputs are boxed in the set and the outputs are never pinned.
impl<F: Future> Unpin for All<F> {}

impl<F: Future> fmt::Debug for All<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_set(f, "All", &self.set)
    }
}

/// Waits for every future and returns every outcome, in input order.
///
/// Nothing is cancelled: an error (or any other output) of one input does not stop the others.
/// The outputs need not be `Result`s; with `Result` outputs this is JavaScript's
/// `Promise.allSettled`. An empty input resolves to an empty `Vec`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// #[tether::main]
/// async fn main() {
///     let check = |n: u32| async move {
///         sleep(Duration::from_millis(u64::from(10 - n))).await;
///         if n % 2 == 0 { Ok(n) } else { Err(format!("{n} is odd")) }
///     };
///     let outcomes = tether::future::all_settled((0..4).map(check)).await;
///     assert_eq!(
///         outcomes,
///         [Ok(0), Err("1 is odd".to_string()), Ok(2), Err("3 is odd".to_string())]
///     );
/// }
/// ```
pub fn all_settled<I, F>(futures: I) -> AllSettled<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let set = FutureSet::new(futures);
    let outputs = (0..set.len()).map(|_| None).collect();
    AllSettled {
        set,
        outputs,
        done: false,
    }
}

/// The future of [`all_settled`].
#[must_use = "futures do nothing unless awaited"]
pub struct AllSettled<F: Future> {
    set: FutureSet<F>,
    /// `outputs[i]`: input `i`'s output, once it completed.
    outputs: Vec<Option<F::Output>>,
    done: bool,
}

impl<F: Future> Future for AllSettled<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "tether: `all_settled` was polled after it completed"
        );
        loop {
            match std::task::ready!(this.set.poll_next(cx)) {
                Some((i, out)) => this.outputs[i] = Some(out),
                None => {
                    this.done = true;
                    let outputs = std::mem::take(&mut this.outputs)
                        .into_iter()
                        .map(|out| out.expect("every input of `all_settled` completed"))
                        .collect();
                    return Poll::Ready(outputs);
                }
            }
        }
    }
}

// The inputs are boxed in the set and the outputs are never pinned.
impl<F: Future> Unpin for AllSettled<F> {}

impl<F: Future> fmt::Debug for AllSettled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_set(f, "AllSettled", &self.set)
    }
}

/// Waits for the first future to complete, success or error, and drops the others.
///
/// The first input to complete wins, whatever its output (with `Result` outputs, an `Err` wins
/// the race as much as an `Ok`: this is JavaScript's `Promise.race`). Every other input is
/// dropped (cancelled) before `race` returns. On the first poll the inputs are polled in input
/// order, so among inputs that are ready at once the earliest wins.
///
/// # Panics
///
/// Panics, at the call, when `futures` is empty: a race with no runner would never finish (in
/// JavaScript it stays pending forever, a hang that is hard to find). Check for an empty input
/// first, or use [`any`], which settles an empty input with an empty [`AggregateError`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// #[tether::main]
/// async fn main() {
///     let replica = |name: &'static str, ms: u64| async move {
///         sleep(Duration::from_millis(ms)).await;
///         Ok::<_, std::io::Error>(name)
///     };
///     let winner = tether::future::race([replica("slow", 50), replica("fast", 5)]).await;
///     assert_eq!(winner.unwrap(), "fast");
/// }
/// ```
#[track_caller]
pub fn race<I, F>(futures: I) -> Race<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    let set = FutureSet::new(futures);
    if set.len() == 0 {
        empty_race(Location::caller(), "race");
    }
    Race { set, done: false }
}

#[track_caller]
#[cold]
pub(super) fn empty_race(location: &Location<'_>, name: &str) -> ! {
    panic!(
        "tether::future::{name} was called at {location} with no futures: a race with no runner \
         never finishes. Check that the input is not empty, or use tether::future::any, which \
         settles an empty input with an empty AggregateError."
    )
}

/// The future of [`race`].
#[must_use = "futures do nothing unless awaited"]
pub struct Race<F> {
    set: FutureSet<F>,
    done: bool,
}

impl<F: Future> Future for Race<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "tether: `race` was polled after it completed");
        match std::task::ready!(this.set.poll_next(cx)) {
            Some((_, out)) => {
                this.done = true;
                this.set.cancel_pending();
                Poll::Ready(out)
            }
            None => unreachable!("`race` has at least one input (checked when it was created)"),
        }
    }
}

impl<F: Future> fmt::Debug for Race<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_set(f, "Race", &self.set)
    }
}

/// Waits for the first future to succeed; fails only when every one fails.
///
/// Resolves to the first `Ok`, and drops (cancels) every input still pending before it returns.
/// When every input fails, resolves to an [`AggregateError`] holding every error in input order
/// (not completion order). An empty input fails at once with an empty `AggregateError`, as
/// JavaScript's `Promise.any` does.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::time::sleep;
///
/// #[tether::main]
/// async fn main() {
///     let mirror = |n: u64| async move {
///         sleep(Duration::from_millis(10 * n)).await;
///         if n == 2 { Ok(format!("mirror {n}")) } else { Err(format!("mirror {n} is down")) }
///     };
///     let first = tether::future::any((0..4).map(mirror)).await;
///     assert_eq!(first.unwrap(), "mirror 2");
///
///     let all_down = tether::future::any((0..2).map(|n| async move { Err::<(), _>(n) })).await;
///     assert_eq!(all_down.unwrap_err().into_errors(), [0, 1]);
/// }
/// ```
pub fn any<I, F, T, E>(futures: I) -> Any<F>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let set = FutureSet::new(futures);
    let errors = (0..set.len()).map(|_| None).collect();
    Any {
        set,
        errors,
        done: false,
    }
}

/// The future of [`any`].
#[must_use = "futures do nothing unless awaited"]
pub struct Any<F: Future> {
    set: FutureSet<F>,
    /// `errors[i]`: input `i`'s output, always an `Err`, once it failed.
    errors: Vec<Option<F::Output>>,
    done: bool,
}

impl<F, T, E> Future for Any<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, AggregateError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "tether: `any` was polled after it completed");
        loop {
            match std::task::ready!(this.set.poll_next(cx)) {
                Some((_, Ok(value))) => {
                    this.done = true;
                    this.set.cancel_pending();
                    this.errors.clear();
                    return Poll::Ready(Ok(value));
                }
                Some((i, Err(e))) => this.errors[i] = Some(Err(e)),
                None => {
                    this.done = true;
                    let errors = std::mem::take(&mut this.errors)
                        .into_iter()
                        .map(|out| match out {
                            Some(Err(e)) => e,
                            _ => unreachable!("every input of `any` failed"),
                        })
                        .collect();
                    return Poll::Ready(Err(AggregateError { errors }));
                }
            }
        }
    }
}

// The inputs are boxed in the set and the outputs are never pinned.
impl<F: Future> Unpin for Any<F> {}

impl<F: Future> fmt::Debug for Any<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_set(f, "Any", &self.set)
    }
}

fn debug_set<F: Future>(f: &mut fmt::Formatter<'_>, name: &str, set: &FutureSet<F>) -> fmt::Result {
    f.debug_struct(name)
        .field("inputs", &set.len())
        .field("pending", &set.pending())
        .finish()
}

/// Every input of [`any`] (or [`any_joined`](crate::future::any_joined)) failed: their errors, in
/// input order.
///
/// `Display` lists every error with its input's index. An empty `AggregateError` means the input
/// was empty.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let inputs = ["a", "b"].map(|name| async move { Err::<(), _>(format!("{name} refused")) });
///     let err = tether::future::any(inputs).await.unwrap_err();
///     assert_eq!(err.errors(), ["a refused", "b refused"]);
///     assert_eq!(
///         err.to_string(),
///         "all 2 futures failed: [0] a refused; [1] b refused"
///     );
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AggregateError<E> {
    errors: Vec<E>,
}

impl<E> AggregateError<E> {
    /// The errors, in input order.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Takes the errors, in input order.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }
}

impl<E: fmt::Display> fmt::Display for AggregateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.is_empty() {
            return f.write_str("no future to wait for: `any` was given an empty input");
        }
        let n = self.errors.len();
        write!(
            f,
            "all {n} future{} failed: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "[{i}] {e}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for AggregateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AggregateError").field(&self.errors).finish()
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for AggregateError<E> {}
