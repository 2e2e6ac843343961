//! `block_in_place` on a worker: lending the worker to a helper thread while a task blocks.
//!
//! A task that calls [`block_in_place`](crate::task::block_in_place) blocks the thread that
//! polls it. So that the worker's queued tasks (its run queue and LIFO slot) and its share of the
//! work keep running meanwhile, the thread *lends* its worker, the `WorkerCtx` on its stack, to
//! a helper thread (an idle one kept from an earlier loan, or a new one: `helpers.rs`), which
//! runs the worker's loop with it as the worker's own thread would.
//! When the blocked task's poll is over, the thread takes the worker back and goes on with its
//! loop. tokio moves the worker to a new thread for good instead; here the worker's state stays
//! where it is, and only who drives it changes.
//!
//! # Protocol
//!
//! 1. **One holder at a time.** A `WorkerCtx` is used (its `Cell`s, its run queue's owner side,
//!    its diagnostics slot's writer side) by exactly one thread at a time: its worker thread, or
//!    the helper it is lent to. A thread stops using it before the other starts, and each
//!    handover is ordered: lending by the helper pool's locks (or the helper thread's start),
//!    giving back by the loan's lock. So the context's non-`Sync` parts are never touched from
//!    two threads at once, and the diagnostics slot keeps one writer
//!    (`runtime/diagnostics.rs` rule 1).
//! 2. **Lending, on the worker thread, inside a task's poll.** The thread releases the slot
//!    (marks it idle: the poll of the task that blocks is no longer timed, so blocking in
//!    `block_in_place` is never reported as a slow or stuck poll), clears its thread-local
//!    worker and slot pointers (from now on a wake-up on this thread goes to the injector, and
//!    the task's poll wrapper does not end its poll on the slot it no longer holds), records the
//!    loan in `LENT`, and hands the worker to a helper. Only from inside a poll
//!    (`WorkerCtx::polling`) of an open scheduler; otherwise, or when no helper thread can be
//!    started, the closure simply runs on the worker, blocking it.
//! 3. **Giving back, when the poll ends.** `WorkerCtx::poll` finds its thread's worker pointer
//!    cleared when the poll returns (or unwinds) and calls [`reclaim`]: it asks for the worker
//!    back (`give_back`, then an unpark of the worker's parker, in case the helper is parked),
//!    waits until the helper says it has let go, then restores the pointers and the slot. The
//!    helper checks `give_back` at the top of its loop and before it parks, and an unpark is
//!    never lost (`park.rs` rule 1), so it lets go after at most the poll it is running.
//!    The lender waits at the end of its poll, not when `block_in_place` returns: a task may
//!    release, after its blocking section, what the helper's current task waits for.
//! 4. **After `block_in_place` returns, the thread is no longer a worker** for the rest of that
//!    poll: a second `block_in_place` in the same poll runs its closure at once (nothing is left
//!    to lend), `Handle::block_on` is allowed (as inside the closure), and wake-ups go to the
//!    injector.
//! 5. **Nested loans.** A helper is a worker like any other: a task it polls may lend the
//!    worker again, to a second helper, which gives it back to the first when that task's poll
//!    ends. Each loan is asked back by the thread that made it (`LENT` is per thread).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::park::Parker;
use super::worker::{report_panic, WorkerCtx};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::runtime::{context, Handle, RuntimeShared};

/// One lending of a worker (rules 2, 3).
pub(crate) struct Loan {
    handback: Handback,
    /// The worker's runtime and index, so the lender can unpark the helper without touching
    /// the lent context (rule 1).
    rt: Arc<RuntimeShared>,
    index: usize,
}

impl Loan {
    /// Whether the lender asked for the worker back (rule 3).
    pub(crate) fn give_back_requested(&self) -> bool {
        self.handback.requested()
    }
}

/// The giving back of rule 3: the lender's request, and the helper's answer.
struct Handback {
    /// The lender wants the worker back.
    give_back: AtomicBool,
    /// Set by the helper once it let go of the worker; waited for by the lender.
    returned: Mutex<bool>,
    returned_cv: Condvar,
}

impl Handback {
    fn new() -> Handback {
        Handback {
            give_back: AtomicBool::new(false),
            returned: Mutex::new(false),
            returned_cv: Condvar::new(),
        }
    }

    /// The helper's check, at the top of its loop and before it parks.
    fn requested(&self) -> bool {
        self.give_back.load(Ordering::Acquire)
    }

    /// The lender asks for the worker back and wakes the helper if it is parked on `parker`
    /// (`wake_driver` wakes it in the reactor); the unpark is never lost (`park.rs` rule 1), and
    /// the helper's `park` synchronizes with it (`park.rs` rule 6), so it sees the request.
    fn request(&self, parker: &Parker, wake_driver: impl FnOnce()) {
        self.give_back.store(true, Ordering::Release);
        parker.unpark(wake_driver);
    }

    /// The helper let go of the worker.
    fn mark_returned(&self) {
        *lock(&self.returned) = true;
        self.returned_cv.notify_all();
    }

    /// The lender waits until the helper let go; everything the helper did with the worker
    /// happens before this returns (the lock orders it).
    fn wait_returned(&self) {
        let mut returned = lock(&self.returned);
        while !*returned {
            returned = self
                .returned_cv
                .wait(returned)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

thread_local! {
    /// The loan this thread made in the poll it is running and has not reclaimed (rule 5).
    static LENT: RefCell<Option<Arc<Loan>>> = const { RefCell::new(None) };
}

/// The worker context, sent to the helper thread (rule 1).
struct LentWorker(*const WorkerCtx);

// SAFETY: the context is used by one thread at a time (rule 1): the lender stops touching it
// before it hands it to a helper and waits for the helper to let go before it touches it again, so
// moving the pointer to the helper never lets two threads use the non-`Sync` context at once.
// The pointee outlives the helper's use: it lives in the lender's `worker::run` frame, which is
// inside the poll that waits for the give-back (rule 3).
unsafe impl Send for LentWorker {}

/// What a helper thread is handed: the lent worker and its loan.
pub(super) struct Job {
    ctx: LentWorker,
    loan: Arc<Loan>,
}

/// Lends this thread's worker to a helper thread for the rest of the current task's poll, if
/// this thread is a worker polling a task of an open scheduler (rule 2). Called by
/// `block_in_place` before it runs its closure.
pub(crate) fn lend_current_worker() {
    let w = context::worker();
    if w.is_null() {
        return;
    }
    // SAFETY: context invariant 1: a non-null worker pointer refers to the live `WorkerCtx`
    // this thread holds (its own, or one lent to it), and this thread holds it now.
    let ctx = unsafe { &*w };
    let sh = ctx.rt.sched.multi_thread();
    if !ctx.polling.get() || !sh.is_open() {
        return;
    }
    let loan = Arc::new(Loan {
        handback: Handback::new(),
        rt: ctx.rt.clone(),
        index: ctx.index,
    });
    let slot = ctx.rt.diag.slot(ctx.index);
    // Rule 2: this thread lets go of the slot and of its worker pointer before the helper
    // takes the worker.
    if let Some(s) = slot {
        s.release();
    }
    let prev_slot = crate::task::current::replace_slot(ptr::null());
    let prev_worker = context::replace_worker(ptr::null());
    let job = Job {
        ctx: LentWorker(w),
        loan: loan.clone(),
    };
    match super::helpers::HelperPool::run(&sh.helpers, job) {
        Ok(()) => LENT.with(|l| *l.borrow_mut() = Some(loan)),
        Err(_job) => {
            // No helper thread could be started: the worker stays with this thread (nobody
            // else touched it), and the closure blocks it.
            context::replace_worker(prev_worker);
            crate::task::current::replace_slot(prev_slot);
        }
    }
}

impl super::helpers::HelperJob for Job {
    fn drive(&self) {
        drive(&self.ctx, &self.loan);
    }

    /// Rule 3, on the helper thread, after `drive`: the lender may use its worker from here on.
    /// The helper lets go of the loan (and with it of the runtime).
    fn give_back(self) {
        self.loan.handback.mark_returned();
    }
}

/// On a helper thread: runs the lent worker's loop until the lender asks for it back or the
/// scheduler closes, and lets go of the worker (rules 1, 3); `Job::give_back` then tells the
/// lender.
fn drive(ctx: &LentWorker, loan: &Loan) {
    // SAFETY: rule 1: the lender let go of the context before handing over the job and takes it
    // back only after `give_back`, which the helper calls after this returns; see `LentWorker`.
    let ctx = unsafe { &*ctx.0 };
    let rt = &loan.rt;
    let _enter = context::enter(Handle { shared: rt.clone() });
    let _worker = context::set_worker(ctx);
    let slot = rt.diag.slot(ctx.index);
    let _slot = crate::task::current::set_slot(slot);
    if let Some(s) = slot {
        s.set_thread();
    }
    // The scheduler's rule 6, as on the worker's own thread.
    while let Err(payload) = catch_unwind(AssertUnwindSafe(|| ctx.run_until(Some(loan)))) {
        report_panic(rt, payload);
    }
    // The worker leaves the helper as it left its loop, not searching.
    ctx.stop_searching();
    ctx.flush_metrics();
}

/// Rule 3: takes back the worker this thread lent during the poll that just ended, once the
/// helper let go of it, and makes this thread its worker again.
pub(super) fn reclaim(ctx: &WorkerCtx) {
    let Some(loan) = LENT.with(|l| l.borrow_mut().take()) else {
        return;
    };
    let sh = loan.rt.sched.multi_thread();
    loan.handback.request(&sh.remotes[loan.index].parker, || {
        loan.rt.io.unparker.force_unpark()
    });
    loan.handback.wait_returned();
    context::replace_worker(ctx);
    let slot = loan.rt.diag.slot(loan.index);
    crate::task::current::replace_slot(slot.map_or(ptr::null(), |s| s as *const _));
    if let Some(s) = slot {
        s.set_thread();
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// Rule 3: the helper uses the worker, checks for the request at the top of its loop, and
    /// parks when there is nothing to do; the lender asks and waits. Whatever the interleaving,
    /// the helper lets go and the lender's wait ends (a lost wake-up would leave both waiting
    /// for good, which loom reports as a deadlock), and the lender then sees the helper's last
    /// use of the worker (rule 1's ordered handover).
    #[test]
    fn loom_the_worker_is_always_given_back() {
        loom::model(|| {
            let handback = Arc::new(Handback::new());
            let parker = Arc::new(Parker::new());
            let uses = Arc::new(AtomicUsize::new(0));
            let last = Arc::new(AtomicUsize::new(0));
            let helper = {
                let (handback, parker) = (handback.clone(), parker.clone());
                let (uses, last) = (uses.clone(), last.clone());
                thread::spawn(move || {
                    let mut n = 0;
                    loop {
                        // Only the holder touches the worker: plain (relaxed) accesses.
                        n += 1;
                        uses.store(n, Ordering::Relaxed);
                        if handback.requested() {
                            break;
                        }
                        parker.park(None);
                    }
                    last.store(n, Ordering::Relaxed);
                    handback.mark_returned();
                })
            };
            handback.request(&parker, || unreachable!("nobody parks in a reactor here"));
            handback.wait_returned();
            let n = last.load(Ordering::Relaxed);
            assert!(n >= 1);
            assert_eq!(uses.load(Ordering::Relaxed), n);
            helper.join().unwrap();
        });
    }
}
