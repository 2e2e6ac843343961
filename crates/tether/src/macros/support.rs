//! What the expansions of `select!`, `join!` and `try_join!` call at run time, reached through
//! `tether::__private` (hidden: not part of the public API, may change in any release).
//!
//! The expansions themselves are written by `tether-macros`; everything they need from the
//! runtime is here, so that the generated code names only `$crate::__private::...` and works
//! under any name the user gives the tether dependency:
//!
//! - the standard items the expansions use, re-exported so a user's own `Pin` or `Poll` in
//!   scope cannot change what the generated code means;
//! - [`poll_budget`] and [`spend_budget`]: how the macros take part in the cooperative budget
//!   (see `crate::task::coop`);
//! - [`start_index`]: the per-thread generator that picks where an unbiased `select!` starts
//!   polling;
//! - [`MaybeDone`]: one `join!`/`try_join!` branch, its future and then its output, polled in
//!   place.
//!
//! Nothing here allocates or touches a runtime: the macros also work under other executors.

use std::cell::Cell;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::task::coop;

pub use std::future::{poll_fn, IntoFuture};
pub use std::pin::pin;
pub use std::result::Result::{Err, Ok};
pub use std::slice::from_ref;
pub use std::task::Poll::{Pending, Ready};

/// Converts a branch's expression into its future (`IntoFuture`, as `.await` does).
#[inline]
pub fn into_future<F: IntoFuture>(future: F) -> F::IntoFuture {
    future.into_future()
}

/// Polls a pinned branch future (a free function, so the expansion needs no trait in scope).
#[inline]
pub fn poll<F: Future + ?Sized>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    future.poll(cx)
}

/// `Ready` when the task may go on, `Pending` (after waking the task) when its cooperative
/// budget is spent. Spends nothing: a macro checks before it polls its branches, so that a
/// task whose budget is spent yields here even if no branch is a runtime resource.
#[inline]
pub fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
    coop::poll_budget_available(cx)
}

/// Spends one unit of the task's budget: a `select!` that picked a branch, or a `join!` that
/// completed, counts as one operation, so a loop around a macro whose branches are always
/// ready still yields to the other tasks after the budget's worth of iterations.
#[inline]
pub fn spend_budget() {
    coop::spend_one();
}

thread_local! {
    /// The state of this thread's xorshift64* generator; 0 until the first draw seeds it.
    static START_RNG: Cell<u64> = const { Cell::new(0) };
}

/// A start index in `0..n` for an unbiased `select!`, drawn from a per-thread xorshift64*
/// generator (seeded from the standard library's per-thread random hash keys): every branch
/// is equally likely to be polled first, whatever the order of the branches.
#[inline]
pub fn start_index(n: u32) -> u32 {
    #[cfg(feature = "sim")]
    if let Some(i) = crate::sim::select_start(n) {
        return i;
    }
    START_RNG.with(|state| {
        let mut x = state.get();
        if x == 0 {
            x = seed();
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32;
        // Lemire's multiply-shift: uniform enough for n <= 64 and no division.
        ((u64::from(r) * u64::from(n)) >> 32) as u32
    })
}

/// A non-zero seed that differs between threads and processes.
#[cold]
fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(&hasher as *const _ as usize);
    hasher.finish() | 1
}

pin_project! {
    /// One branch of a `join!` or `try_join!`: its future until it completes, then its output
    /// until the macro takes it.
    // pin-project-lite takes no doc comments on the fields of a variant.
    #[allow(missing_docs)]
    #[project = MaybeDoneProj]
    #[project_replace = MaybeDoneOwned]
    pub enum MaybeDone<F: Future> {
        /// Not complete yet.
        Running { #[pin] future: F },
        /// Complete; the output waits for the other branches.
        Done { output: F::Output },
        /// The output was taken (or, in `try_join!`, was an error handed out).
        Taken,
    }
}

impl<F: Future> MaybeDone<F> {
    /// A branch that has not been polled yet.
    #[inline]
    pub fn new(future: F) -> MaybeDone<F> {
        MaybeDone::Running { future }
    }

    /// Polls the branch if it still runs; whether it is complete now.
    #[inline]
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Running { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } => return true,
            MaybeDoneProj::Taken => {
                panic!("tether::join!: a branch was polled after its output was taken")
            }
        };
        // Drops the completed future in place, then stores its output.
        self.set(MaybeDone::Done { output });
        true
    }

    /// The output of a complete branch.
    ///
    /// # Panics
    ///
    /// If the branch is not complete (a bug in the expansion).
    #[inline]
    pub fn take_output(mut self: Pin<&mut Self>) -> F::Output {
        assert!(
            matches!(&*self, MaybeDone::Done { .. }),
            "tether::join!: took the output of a branch that is not complete"
        );
        match self.as_mut().project_replace(MaybeDone::Taken) {
            MaybeDoneOwned::Done { output } => output,
            _ => unreachable!("checked above"),
        }
    }
}

impl<F, T, E> MaybeDone<F>
where
    F: Future<Output = Result<T, E>>,
{
    /// Polls a `try_join!` branch: `Ready(Ok(()))` once it completed with `Ok` (the value is
    /// kept), `Ready(Err(e))` when it completed with `Err(e)` (handed out at once), `Pending`
    /// while it runs.
    #[inline]
    pub fn poll_try(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Running { future } => std::task::ready!(future.poll(cx)),
            MaybeDoneProj::Done { .. } => return Poll::Ready(Ok(())),
            MaybeDoneProj::Taken => {
                panic!("tether::try_join!: a branch was polled after its output was taken")
            }
        };
        match output {
            Ok(value) => {
                self.set(MaybeDone::Done { output: Ok(value) });
                Poll::Ready(Ok(()))
            }
            Err(e) => {
                self.set(MaybeDone::Taken);
                Poll::Ready(Err(e))
            }
        }
    }

    /// The `Ok` value of a branch that `poll_try` found complete.
    #[inline]
    pub fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take_output() {
            Ok(value) => value,
            Err(_) => unreachable!("poll_try never keeps an error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "162,000 draws take minutes under Miri; safe arithmetic, no unsafe code"
    )]
    fn start_index_covers_every_branch_evenly() {
        for n in [1u32, 2, 3, 4, 7, 64] {
            let mut counts = vec![0u32; n as usize];
            let draws = 2_000 * n;
            for _ in 0..draws {
                let i = start_index(n);
                assert!(i < n, "{i} out of 0..{n}");
                counts[i as usize] += 1;
            }
            // Each index is expected 2,000 times; far outside 1,500..2,500 means a broken draw.
            for (i, &c) in counts.iter().enumerate() {
                assert!(
                    (1_500..=2_500).contains(&c),
                    "n = {n}: index {i} drawn {c} times"
                );
            }
        }
    }
}
