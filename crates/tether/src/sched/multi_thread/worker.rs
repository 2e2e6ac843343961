//! A worker thread: its run loop, its queues, searching and parking.

use std::cell::Cell;
use std::time::Duration;

use crossbeam_deque::{Steal, Worker};

use super::park::ParkDriver;
use super::{mt, Shared, Task, OPEN};
use crate::io::driver::Driver;
use crate::loom::sync::Arc;
use crate::loom::sync::MutexGuard;
use crate::runtime::{context, Handle, Shared as RtShared};
use crate::task::coop;

/// Tasks run in a row from the LIFO slot before it yields to the queue (rule 3).
const MAX_LIFO_POLLS: u32 = 3;
/// Ticks between two looks at the injector before the local queue (rule 4).
const REMOTE_INTERVAL: u32 = 31;

/// The state of one worker, owned by its thread and reachable from `schedule` through the
/// thread-local context.
pub(crate) struct WorkerCtx {
    rt: Arc<RtShared>,
    index: usize,
    /// This worker's run queue; others steal from it.
    local: Worker<Task>,
    /// The task woken most recently by this worker (rule 1).
    lifo: Cell<Option<Task>>,
    /// Whether this worker is counted as searching in `Idle`.
    searching: Cell<bool>,
    tick: Cell<u32>,
    /// Polls not yet published to the runtime's counters.
    polls: Cell<u64>,
    /// Successful steals from other workers not yet published.
    steals: Cell<u64>,
    /// State of the xorshift generator that picks the first steal victim.
    rng: Cell<u32>,
}

impl WorkerCtx {
    /// Address of the runtime this worker belongs to.
    pub(crate) fn rt_addr(&self) -> usize {
        Arc::as_ptr(&self.rt) as usize
    }

    fn shared(&self) -> &Shared {
        mt(&self.rt)
    }

    /// Rule 1: a task woken on this worker.
    pub(crate) fn schedule_local(&self, task: Task, yielded: bool) {
        let displaced = if yielded {
            self.local.push(task);
            true
        } else {
            match self.lifo.replace(Some(task)) {
                Some(prev) => {
                    self.local.push(prev);
                    true
                }
                None => false,
            }
        };
        // Rule 2: there is stealable work now; make sure someone may take it.
        if displaced {
            self.shared().notify_one(&self.rt);
        }
    }

    fn next_local_task(&self, tick: u32) -> Option<Task> {
        let sh = self.shared();
        if tick % REMOTE_INTERVAL == 0 {
            if let Some(t) = steal_into(&sh.injector, &self.local) {
                return Some(t);
            }
        }
        if let Some(t) = self.lifo.take() {
            return Some(t);
        }
        self.local
            .pop()
            .or_else(|| steal_into(&sh.injector, &self.local))
    }

    fn run_task(&self, task: Task) {
        if self.searching.replace(false) && self.shared().idle.stop_searching() {
            // The last searcher found work; there may be more (idle rule 4).
            self.shared().notify_one(&self.rt);
        }
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
            self.local.push(t);
            self.shared().notify_one(&self.rt);
        }
    }

    fn poll(&self, task: Task) {
        self.polls.set(self.polls.get() + 1);
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
                match sh.remotes[victim].stealer.steal_batch_and_pop(&self.local) {
                    Steal::Success(t) => {
                        self.steals.set(self.steals.get() + 1);
                        return Some(t);
                    }
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        steal_into(&sh.injector, &self.local)
    }

    /// Turns the reactor without blocking if no other worker holds it (rule 4).
    fn maintenance(&self) {
        if let Ok(mut driver) = self.shared().driver.try_lock() {
            driver.turn(&self.rt, Some(Duration::ZERO));
        }
        self.flush_metrics();
    }

    fn flush_metrics(&self) {
        self.rt.metrics.add_polls(self.polls.replace(0));
        self.rt.metrics.add_steals(self.steals.replace(0));
    }

    /// Nothing to run or steal: park (idle rules 1, 5; rule 5).
    fn park(&self) {
        let sh = self.shared();
        self.flush_metrics();
        if self.searching.replace(false) {
            sh.idle.stop_searching();
        }
        sh.idle.park(self.index);
        if sh.has_work() || !sh.is_open() {
            if sh.idle.unpark_self(self.index) {
                self.searching.set(true);
            }
            return;
        }
        let parker = &sh.remotes[self.index].parker;
        let slot = self.rt.diag.slot(self.index);
        if let Some(s) = slot {
            s.parked();
        }
        let in_driver = match sh.driver.try_lock() {
            Ok(driver) => {
                let mut d = DriverPark {
                    rt: &self.rt,
                    driver,
                };
                parker.park(Some(&mut d));
                true
            }
            Err(_) => {
                parker.park(None);
                false
            }
        };
        if let Some(s) = slot {
            s.busy(&self.rt.diag);
        }
        self.rt.metrics.parked();
        if sh.idle.unpark_self(self.index) {
            self.searching.set(true);
        } else if in_driver && (!self.local.is_empty() || self.has_lifo()) {
            // Woken by the reactor with work to do: while this worker runs it, nobody watches
            // the reactor; hand it to a parked worker (it will take the reactor when it parks).
            sh.notify_one(&self.rt);
        }
    }

    fn has_lifo(&self) -> bool {
        let t = self.lifo.take();
        let has = t.is_some();
        self.lifo.set(t);
        has
    }

    /// Drops every task left in this worker's queues (rule 6). Dropping one may wake others
    /// onto this worker, so loop until both are empty.
    fn drain(&self) {
        loop {
            let next = self.lifo.take().or_else(|| self.local.pop());
            match next {
                Some(t) => crate::sched::drop_task(t),
                None => return,
            }
        }
    }
}

/// Waits in the reactor for a parked worker.
struct DriverPark<'a> {
    rt: &'a RtShared,
    driver: MutexGuard<'a, Driver>,
}

impl ParkDriver for DriverPark<'_> {
    fn park_in_driver(&mut self) {
        let timeout = self.rt.time.park_timeout();
        self.driver.turn(self.rt, timeout);
        self.rt.time.unparked();
    }
}

fn steal_into(injector: &crossbeam_deque::Injector<Task>, local: &Worker<Task>) -> Option<Task> {
    loop {
        match injector.steal_batch_and_pop(local) {
            Steal::Success(t) => return Some(t),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

/// A worker thread's body.
pub(super) fn run(rt: Arc<RtShared>, index: usize, local: Worker<Task>) {
    let sh = mt(&rt);
    if let Some(f) = &sh.hooks.on_start {
        f();
    }
    let _enter = context::enter(Handle { shared: rt.clone() });
    let ctx = WorkerCtx {
        rt: rt.clone(),
        index,
        local,
        lifo: Cell::new(None),
        searching: Cell::new(false),
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
        let interval = sh.event_interval;
        while sh.state.load(crate::loom::sync::atomic::Ordering::Acquire) == OPEN {
            let tick = ctx.tick.get().wrapping_add(1);
            ctx.tick.set(tick);
            if tick % interval == 0 {
                ctx.maintenance();
            }
            if let Some(task) = ctx.next_local_task(tick) {
                ctx.run_task(task);
                continue;
            }
            if let Some(task) = ctx.steal() {
                ctx.run_task(task);
                continue;
            }
            ctx.park();
        }
        ctx.flush_metrics();
        ctx.drain();
        if let Some(s) = slot {
            s.parked();
        }
    }
    if let Some(f) = &sh.hooks.on_stop {
        f();
    }
}
