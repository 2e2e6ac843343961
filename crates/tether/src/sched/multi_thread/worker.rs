//! A worker thread: its run loop, its queues, searching and parking, and how it survives a
//! panic (the scheduler's rule 6). A worker can be lent to a helper thread for a
//! `block_in_place` (`lend.rs`): whichever thread holds it runs this same loop.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crossbeam_deque::{Steal, Worker};

use super::lend::{self, Loan};
use super::park::ParkDriver;
use super::{MultiThreadShared, Task, OPEN};
use crate::diag::UnhandledFailure;
use crate::io::driver::Driver;
use crate::loom::sync::Arc;
use crate::loom::sync::MutexGuard;
use crate::loom::try_lock;
use crate::runtime::diagnostics::WorkerSlot;
use crate::runtime::{context, Handle, RuntimeId, RuntimeShared};
use crate::task::coop;

/// Tasks run in a row from the LIFO slot before it yields to the queue (rule 3).
const MAX_LIFO_POLLS: u32 = 3;
/// Ticks between two looks at the injector before the worker's own run queue (rule 4).
const REMOTE_INTERVAL: u32 = 31;

/// The state of one worker, owned by its thread and reachable from `schedule` through the
/// thread-local context. While the worker is lent (`lend.rs`), the helper thread owns it and
/// the lending thread does not touch it.
pub(crate) struct WorkerCtx {
    pub(super) rt: Arc<RuntimeShared>,
    pub(super) index: usize,
    /// This worker's run queue; others steal from it.
    run_queue: Worker<Task>,
    /// The task woken most recently by this worker (rule 1).
    lifo: Cell<Option<Task>>,
    /// Whether this worker is counted as searching in `Idle`; kept equal to that count's share
    /// for this worker on every path (rule 6).
    searching: Cell<bool>,
    /// Set while a task's poll runs on this worker (`lend.rs` lends only from inside one).
    pub(super) polling: Cell<bool>,
    /// Set while this worker turns the reactor: the tasks it wakes then are counted once the
    /// turn ends (rule 5), not one notification per wake.
    in_turn: Cell<bool>,
    tick: Cell<u32>,
    /// Polls not yet published to the runtime's counters.
    polls: Cell<u64>,
    /// Successful steals from other workers not yet published.
    steals: Cell<u64>,
    /// State of the xorshift generator that picks the first steal victim.
    rng: Cell<u32>,
}

impl WorkerCtx {
    /// The runtime this worker belongs to.
    pub(crate) fn runtime_id(&self) -> RuntimeId {
        self.rt.id
    }

    /// Whether `rt` is the runtime this worker belongs to. Compares the `Arc`s' addresses rather
    /// than the ids: the same answer while both are alive, and no load from the shared state on
    /// the path of every wake-up.
    pub(crate) fn belongs_to(&self, rt: &Arc<RuntimeShared>) -> bool {
        Arc::ptr_eq(&self.rt, rt)
    }

    /// This worker's index among its runtime's workers.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    fn shared(&self) -> &MultiThreadShared {
        self.rt.sched.multi_thread()
    }

    /// Rule 1: a task woken on this worker.
    pub(crate) fn schedule(&self, task: Task, yielded: bool) {
        let displaced = if yielded {
            // A yield onto empty queues is this worker's next task: waking another worker
            // would find nothing, or take the task to another core (rule 2's exception).
            let others = !self.run_queue.is_empty() || self.has_lifo();
            self.run_queue.push(task);
            others
        } else {
            match self.lifo.replace(Some(task)) {
                Some(prev) => {
                    self.run_queue.push(prev);
                    true
                }
                None => false,
            }
        };
        // Rule 2: there is stealable work now; make sure someone may take it (after the
        // reactor turn, if in one: rule 5).
        if displaced && !self.in_turn.get() {
            self.shared().notify_one(&self.rt);
        }
    }

    /// The next task to run without stealing: from the injector every `REMOTE_INTERVAL` ticks,
    /// else from the LIFO slot, the run queue, then the injector (rules 1, 3, 4).
    fn next_task(&self, tick: u32) -> Option<Task> {
        let sh = self.shared();
        if tick % REMOTE_INTERVAL == 0 {
            if let Some(t) = sh.injector.steal_into(&self.run_queue) {
                return Some(t);
            }
        }
        if let Some(t) = self.lifo.take() {
            return Some(t);
        }
        self.run_queue
            .pop()
            .or_else(|| sh.injector.steal_into(&self.run_queue))
    }

    fn run_task(&self, task: Task) {
        // The last searcher found work; there may be more (idle rule 4).
        self.stop_searching();
        self.poll(task);
        // Rule 3: follow the LIFO chain a few times, then yield to the queue.
        for _ in 0..MAX_LIFO_POLLS {
            if !self.shared().is_open() {
                return;
            }
            match self.lifo.take() {
                Some(t) => self.poll(t),
                None => return,
            }
        }
        if let Some(t) = self.lifo.take() {
            self.run_queue.push(t);
            self.shared().notify_one(&self.rt);
        }
    }

    fn poll(&self, task: Task) {
        /// Takes the worker back if the poll lent it (`lend.rs` rule 3), also when a panic
        /// unwinds out of the poll (rule 6): the run loop may only go on with the worker in hand.
        struct EndOfPoll<'a>(&'a WorkerCtx);
        impl Drop for EndOfPoll<'_> {
            fn drop(&mut self) {
                if context::worker().is_null() {
                    lend::reclaim(self.0);
                }
                self.0.polling.set(false);
            }
        }
        self.polls.set(self.polls.get() + 1);
        self.polling.set(true);
        let _end = EndOfPoll(self);
        coop::with_budget(|| task.run());
    }

    /// Searches the injector and the other workers' queues (idle rule 3).
    fn steal(&self) -> Option<Task> {
        let sh = self.shared();
        if !self.searching.get() {
            if !sh.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = sh.remotes.len();
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        let start = x as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            loop {
                match sh.remotes[victim]
                    .stealer
                    .steal_batch_and_pop(&self.run_queue)
                {
                    Steal::Success(t) => {
                        self.steals.set(self.steals.get() + 1);
                        return Some(t);
                    }
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        sh.injector.steal_into(&self.run_queue)
    }

    /// Turns the reactor without blocking if no other worker holds it (rule 4).
    fn maintenance(&self) {
        #[cfg(all(test, not(tether_loom)))]
        super::tests::maintenance_hook(self.rt.id, self.searching.get());
        self.rt.io.flush_submissions();
        if let Some(mut driver) = try_lock(&self.shared().driver) {
            driver.turn(&self.rt, Some(Duration::ZERO));
        }
        self.flush_metrics();
    }

    fn has_lifo(&self) -> bool {
        let t = self.lifo.take();
        let has = t.is_some();
        self.lifo.set(t);
        has
    }

    pub(super) fn flush_metrics(&self) {
        self.rt.metrics.add_polls(self.polls.replace(0));
        self.rt.metrics.add_steals(self.steals.replace(0));
    }

    /// Stops counting this worker as searching; if it was the last searcher, wakes a parked
    /// worker for the work there may be (idle rule 4).
    pub(super) fn stop_searching(&self) {
        if self.searching.replace(false) && self.shared().idle.stop_searching() {
            self.shared().notify_one(&self.rt);
        }
    }

    /// Nothing to run or steal: runs the park hook, parks, and runs the unpark hook
    /// (`Builder::on_thread_park`, `on_thread_unpark`; each a check of an `Option` when unset).
    fn park(&self, loan: Option<&Loan>) {
        let hooks = &self.shared().park_hooks;
        // A task the park hook spawned or woke went to this worker's LIFO slot or run queue
        // (rule 1), and no other worker runs the LIFO slot: run it instead of parking.
        if !(hooks.before_park(&self.rt) && (self.has_lifo() || !self.run_queue.is_empty())) {
            self.wait_for_work(loan);
        }
        hooks.after_unpark(&self.rt);
    }

    /// Parks until woken (idle rules 1, 5; rules 5, 6). A helper holding the worker on `loan`
    /// does not park once asked to give it back.
    fn wait_for_work(&self, loan: Option<&Loan>) {
        let sh = self.shared();
        self.flush_metrics();
        if self.searching.replace(false) {
            sh.idle.stop_searching();
        }
        sh.idle.park(self.index);
        // From here this worker is in `sleepers`, or a notifier took it out and counted it as
        // searching; `Unparked` settles which when it drops, unwinding included (rule 6).
        let mut unparked = Unparked {
            ctx: self,
            slot: None,
        };
        if sh.has_work() || !sh.is_open() || loan.is_some_and(Loan::give_back_requested) {
            return;
        }
        let parker = &sh.remotes[self.index].parker;
        unparked.slot = self.rt.diag.slot(self.index);
        if let Some(s) = unparked.slot {
            s.parked();
        }
        let in_driver = match try_lock(&sh.driver) {
            Some(driver) => {
                if let Some(s) = unparked.slot {
                    s.parks_in_reactor();
                }
                let mut d = DriverPark {
                    rt: &self.rt,
                    driver,
                    in_turn: &self.in_turn,
                };
                parker.park(Some(&mut d));
                true
            }
            None => {
                parker.park(None);
                false
            }
        };
        drop(unparked);
        self.rt.metrics.parked();
        if in_driver && !self.searching.get() && !self.run_queue.is_empty() {
            // Woken by the reactor with more work than the LIFO task: while this worker runs
            // it, nobody watches the reactor, and there is work to steal; hand the reactor to a
            // parked worker (it takes the reactor when it parks). A lone task in the LIFO slot
            // is run here at once: waking another worker for it costs a context switch that
            // finds nothing to do (the kv server's requests/s against redis-server showed it).
            sh.notify_one(&self.rt);
        }
    }

    /// Drops every task left in this worker's queues (rule 6). Dropping one may wake others
    /// onto this worker, so loop until both are empty.
    fn drain(&self) {
        loop {
            let next = self.lifo.take().or_else(|| self.run_queue.pop());
            match next {
                Some(t) => crate::sched::drop_task(t),
                None => return,
            }
        }
    }
}

/// Ends a worker's park, on every path (idle rule 5, rule 6): marks its diagnostics slot busy
/// again, and takes it out of `sleepers` or, if a notifier already did, makes it a searcher.
struct Unparked<'a> {
    ctx: &'a WorkerCtx,
    /// The slot marked parked, if any.
    slot: Option<&'a WorkerSlot>,
}

impl Drop for Unparked<'_> {
    fn drop(&mut self) {
        let ctx = self.ctx;
        if let Some(s) = self.slot {
            s.busy(&ctx.rt.diag);
        }
        if ctx.shared().idle.unpark_self(ctx.index) {
            ctx.searching.set(true);
        }
    }
}

/// Waits in the reactor for a parked worker.
struct DriverPark<'a> {
    rt: &'a RuntimeShared,
    driver: MutexGuard<'a, Driver>,
    /// The worker's `in_turn` flag, set for the turn.
    in_turn: &'a Cell<bool>,
}

impl ParkDriver for DriverPark<'_> {
    fn park_in_driver(&mut self) {
        /// Tells the timers the reactor is awake and ends the worker's turn, also when a
        /// waker's panic unwinds the turn.
        struct Awake<'a>(&'a RuntimeShared, &'a Cell<bool>);
        impl Drop for Awake<'_> {
            fn drop(&mut self) {
                self.1.set(false);
                self.0.time.unparked();
            }
        }
        let timeout = self.rt.time.park_timeout();
        self.in_turn.set(true);
        let _awake = Awake(self.rt, self.in_turn);
        self.driver.turn(self.rt, timeout);
    }
}

/// A worker thread's body.
pub(super) fn run(rt: Arc<RuntimeShared>, index: usize, run_queue: Worker<Task>) {
    let sh = rt.sched.multi_thread();
    // The hook runs inside the runtime's context (`Handle::current()` works there, as in tokio).
    let _enter = context::enter(Handle { shared: rt.clone() });
    run_hook(&rt, sh.hooks.on_start.as_deref());
    let ctx = WorkerCtx {
        rt: rt.clone(),
        index,
        run_queue,
        lifo: Cell::new(None),
        searching: Cell::new(false),
        polling: Cell::new(false),
        in_turn: Cell::new(false),
        tick: Cell::new(0),
        polls: Cell::new(0),
        steals: Cell::new(0),
        rng: Cell::new(0x9E37_79B9 ^ (index as u32 + 1).wrapping_mul(0x85EB_CA6B)),
    };
    {
        let _worker = context::set_worker(&ctx);
        let slot = rt.diag.slot(index);
        let _slot = crate::task::current::set_slot(slot);
        if let Some(s) = slot {
            s.set_thread();
            s.busy(&rt.diag);
        }
        // Rule 6: a panic that escapes the loop is reported, and the loop goes on.
        while let Err(payload) = catch_unwind(AssertUnwindSafe(|| ctx.run_until(None))) {
            report_panic(&rt, payload);
        }
        ctx.flush_metrics();
        ctx.drain();
        if let Some(s) = slot {
            s.parked();
        }
    }
    run_hook(&rt, sh.hooks.on_stop.as_deref());
}

impl WorkerCtx {
    /// The run loop (rules 1-4), until the scheduler is no longer open or, for a helper holding
    /// the worker on `loan`, until the lender asks for it back (`lend.rs` rule 3). A panic may
    /// unwind out of it (rule 6); everything it unwinds through is left consistent, so the
    /// caller can call it again.
    pub(super) fn run_until(&self, loan: Option<&Loan>) {
        let sh = self.shared();
        let interval = sh.event_interval;
        while sh.state.load(crate::loom::sync::atomic::Ordering::Acquire) == OPEN
            && !loan.is_some_and(Loan::give_back_requested)
        {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if tick % interval == 0 {
                self.maintenance();
            }
            if let Some(task) = self.next_task(tick) {
                self.run_task(task);
                continue;
            }
            // The local queue is drained: what its tasks queued on the io_uring ring is
            // submitted in one batch (`uring.rs` rule 4).
            self.rt.io.flush_submissions();
            if let Some(task) = self.steal() {
                self.run_task(task);
                continue;
            }
            self.park(loan);
        }
    }
}

/// Runs a thread hook; a panic in it is reported (rule 6) instead of ending the worker.
pub(super) fn run_hook(rt: &RuntimeShared, hook: Option<&(dyn Fn() + Send + Sync)>) {
    if let Some(f) = hook {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            report_panic(rt, payload);
        }
    }
}

/// Hands a panic caught on this worker to the failure policy (rule 6). Neither a panicking
/// failure hook nor a panicking payload destructor can end the worker.
#[cold]
pub(super) fn report_panic(rt: &RuntimeShared, payload: Box<dyn Any + Send>) {
    let thread = std::thread::current();
    crate::task::contain(|| {
        rt.report_unhandled(&UnhandledFailure::worker(
            thread.name().unwrap_or("tether-worker"),
            crate::task::panic_message(payload.as_ref()),
        ))
    });
    crate::task::contain(move || drop(payload));
}
