//! The current-thread scheduler: every task runs on the thread inside `Runtime::block_on`.
//!
//! # Protocol
//!
//! The driving thread takes tasks from three queues. The *run queue* (a [`RunQueue`] in the
//! [`Core`]) is touched only by the thread driving the core; tasks woken on that thread go there
//! without any lock. The *remote* queue (an [`Inbox`] in [`CurrentThreadShared`]) takes tasks
//! woken or spawned on other threads. The driving thread's own *local tasks* (`spawn_local`) wait
//! in its `LocalTaskQueue` (`task/local.rs`), which only that thread pops; they never enter the
//! other two.
//!
//! 1. **The core has one driver at a time.** `block_on` takes the `Core` out of
//!    `CurrentThreadShared::core` and puts it back when it returns (also on unwind). A second
//!    thread calling `block_on` at the same time polls its own future with a thread-parking waker
//!    and waits for the core. It is listed in `core_waiters` at most once (by thread id), however
//!    often its future is woken; `put_core` unparks and unlists every waiter, and a waiter whose
//!    future completes first unlists itself, so the list never holds more entries than threads
//!    waiting.
//! 2. **Run-queue pushes need the context.** `schedule` (the schedule function of every task not
//!    spawned with `spawn_local`) pushes to the run queue only when the thread-local context
//!    says this thread drives this runtime's core (context invariant 1); otherwise it pushes to
//!    the remote queue and wakes the driver (rule 3).
//! 3. **No lost wake-up when parking.** Every write of `Unparker::sleeping` is a swap: the
//!    driver's announcement that it will block (`announce_sleep`), its withdrawal or its end
//!    (`end_sleep`), and a waker's `Unparker::unpark`. So the writes form one chain of
//!    read-modify-writes, and whichever of two of them comes later sees what the thread of the
//!    earlier one wrote before it. A waker publishes its work first (a push that sets the
//!    inbox's `pending`, or a swap of the `block_on` future's flag), then swaps `sleeping` to
//!    false and writes the eventfd if it was true. The driver announces first, then re-checks
//!    the remote inbox's `pending`, its local tasks' queue, the `block_on` future's flag (and,
//!    with a paused clock, whether blocking jobs finished), and blocks in `epoll_wait` only if
//!    all are empty: either its re-check sees the work, or the waker's swap sees the
//!    announcement and writes the eventfd, which wakes `epoll_wait` also when written before it
//!    began. Loom models: `loom_tests` below.
//! 4. **Fairness.** The loop polls at most `event_interval` times (tasks and the `block_on`
//!    future alike: a `block_on` future that keeps waking itself counts) before it turns the
//!    reactor without blocking, and takes from the remote queue first every `REMOTE_INTERVAL`
//!    ticks, so neither I/O nor foreign wake-ups starve behind a busy run queue. The run queue and
//!    the thread's local tasks take turns (odd ticks try the first, even ticks the second first).
//! 5. **Shutdown.** `shutdown` marks the scheduler `CLOSING`, wakes every registered task and
//!    drops every runnable that arrives (also the shutting-down thread's local tasks), until a
//!    round finds nothing to do; then it closes the remote queue (closing and pushing are
//!    decided under the inbox's lock) and marks the scheduler `CLOSED`. From then on a task
//!    woken anywhere is handed back by the closed queue and dropped by the thread that woke it,
//!    which cancels it: no runnable stays queued in a closed runtime, where it would keep the
//!    runtime's shared state (its reactor, its timers) alive through its metadata. Local tasks
//!    of other threads cannot be dropped here: `rt_closed` tells their threads to drop them
//!    (`task/local.rs` rule 5).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::task::raw::{Runnable, RunnableList, ScheduleInfo};

use crate::io::driver::{Driver, Unparker};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use crate::runtime::builder::ParkHooks;
use crate::runtime::diagnostics::{self, WorkerSlot, MAIN_KEY};
use crate::runtime::{context, Handle, RuntimeId, RuntimeShared};
use crate::sched::inbox::Inbox;
use crate::sched::{drop_task, ThreadWaker};
use crate::task::coop;
use crate::task::local::{self, LocalTaskOwner};
use crate::task::meta::TaskMeta;
use crate::task::waker_id::{OwnWake, OwnWaker};

/// How often (in scheduler ticks) the remote queue is served before the run queue.
const REMOTE_INTERVAL: u32 = 31;

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

type Task = Runnable<TaskMeta>;

/// The scheduler's state shared with every thread (protocol rules 1-3, 5).
pub(crate) struct CurrentThreadShared {
    /// Tasks scheduled from other threads; closed at shutdown (rules 3, 5).
    remote: Inbox<Task>,
    /// `OPEN`, `CLOSING` or `CLOSED` (rule 5).
    state: AtomicU8,
    /// The core while no thread drives it (rule 1).
    core: Mutex<Option<Box<Core>>>,
    /// Threads inside `block_on` waiting for the core, each at most once (rule 1).
    core_waiters: Mutex<Vec<Thread>>,
    /// Tasks run between two non-blocking reactor turns (rule 4).
    event_interval: u32,
    /// The run queue's length when the driver last published its counters (for metrics).
    run_queue_depth: AtomicUsize,
    /// Set once the runtime has shut down; shared with every thread's `LocalTaskQueue` of this
    /// runtime, whose owner then drops its local tasks (rule 5).
    rt_closed: Arc<AtomicBool>,
    /// Run by the driving thread around each of its parks (`Core::park`).
    park_hooks: ParkHooks,
}

/// The part of the scheduler only the driving thread touches.
pub(crate) struct Core {
    /// What `schedule` reaches through the thread-local context.
    run_queue: RunQueue,
    /// The reactor: mio poll and its event buffer.
    driver: RefCell<Driver>,
    /// Counts scheduler ticks (rule 4).
    tick: Cell<u32>,
    /// Polls not yet published to the runtime's counters.
    polls: Cell<u64>,
}

/// The core's run queue, reachable from `schedule` through the thread-local context (rule 2).
pub(crate) struct RunQueue {
    /// The runtime whose core this is, to recognise its tasks.
    runtime: RuntimeId,
    /// Tasks ready to run, in the order they were woken, linked through their cells (`raw.rs`
    /// rule 8): a burst of a million spawns allocates nothing here, and holds nothing after.
    queue: RefCell<RunnableList<TaskMeta>>,
}

impl RunQueue {
    /// The runtime whose core this is.
    pub(crate) fn runtime_id(&self) -> RuntimeId {
        self.runtime
    }

    /// The next task, in the order they were woken.
    #[inline]
    fn pop(&self) -> Option<Task> {
        self.queue.borrow_mut().pop_front()
    }
}

impl CurrentThreadShared {
    pub(crate) fn new(
        runtime: RuntimeId,
        driver: Driver,
        event_interval: u32,
        park_hooks: ParkHooks,
    ) -> CurrentThreadShared {
        let core = Core {
            run_queue: RunQueue {
                runtime,
                queue: RefCell::new(RunnableList::new()),
            },
            driver: RefCell::new(driver),
            tick: Cell::new(0),
            polls: Cell::new(0),
        };
        CurrentThreadShared {
            remote: Inbox::new(),
            state: AtomicU8::new(OPEN),
            core: Mutex::new(Some(Box::new(core))),
            core_waiters: Mutex::new(Vec::new()),
            event_interval,
            run_queue_depth: AtomicUsize::new(0),
            rt_closed: Arc::new(AtomicBool::new(false)),
            park_hooks,
        }
    }

    /// Whether the runtime still accepts tasks (not shutting down).
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == OPEN
    }

    /// The queues' lengths for metrics: the run queue as last published by the driver, and
    /// the remote queue now.
    pub(crate) fn queue_depths(&self) -> (usize, usize) {
        (
            self.run_queue_depth.load(Ordering::Relaxed),
            self.remote.len(),
        )
    }

    /// Whether some thread is inside `block_on` driving this runtime right now.
    pub(crate) fn is_driven(&self) -> bool {
        lock(&self.core).is_none()
    }

    /// How many threads are registered as waiting for the core (rule 1).
    #[cfg(all(test, not(tether_loom)))]
    fn core_waiter_count(&self) -> usize {
        lock(&self.core_waiters).len()
    }

    fn take_core(&self) -> Option<Box<Core>> {
        lock(&self.core).take()
    }

    /// Registers this thread to be unparked when the core is put back, unless it already is
    /// (rule 1).
    fn wait_for_core(&self) {
        let me = thread::current().id();
        let mut waiters = lock(&self.core_waiters);
        if !waiters.iter().any(|t| t.id() == me) {
            waiters.push(thread::current());
        }
    }

    /// Withdraws this thread's registration: its future completed while it waited (rule 1).
    fn stop_waiting_for_core(&self) {
        let me = thread::current().id();
        lock(&self.core_waiters).retain(|t| t.id() != me);
    }

    fn put_core(&self, core: Box<Core>) {
        *lock(&self.core) = Some(core);
        for t in lock(&self.core_waiters).drain(..) {
            t.unpark();
        }
    }

    /// Moves every remotely scheduled task to the back of the run queue; returns the first.
    fn pop_remote(&self, run_queue: &RunQueue) -> Option<Task> {
        self.remote.pop_all_into(&mut *run_queue.queue.borrow_mut())
    }
}

/// The flag that tells a thread's `LocalTaskQueue` of runtime `rt` that the runtime shut down.
pub(crate) fn closed_flag(rt: &RuntimeShared) -> Arc<AtomicBool> {
    rt.sched.current_thread().rt_closed.clone()
}

/// Hands a woken task to the scheduler (rule 2).
pub(crate) fn schedule(task: Task, _info: ScheduleInfo) {
    let run_queue = context::run_queue();
    if !run_queue.is_null() {
        // SAFETY: context invariant 1: a non-null pointer refers to the `RunQueue` of the core
        // this thread drives, alive until the `block_on` that set it returns; we are on that
        // thread (the pointer is thread-local).
        let run_queue = unsafe { &*run_queue };
        if run_queue.runtime == task.metadata().shared().id {
            if let Ok(mut q) = run_queue.queue.try_borrow_mut() {
                q.push_back(task);
                return;
            }
        }
    }
    let rt = task.metadata().shared().clone();
    push_remote(&rt, task);
}

/// Pushes a task woken off the driving thread, and wakes the driver (rules 3, 5).
fn push_remote(rt: &RuntimeShared, task: Task) {
    #[cfg(all(test, not(tether_loom)))]
    tests::before_remote_push();
    match rt.sched.current_thread().remote.push(task) {
        // Nobody waits on this inbox (`wait_if_empty`): the driver parks in the reactor.
        Ok(_) => rt.io.unparker.unpark(),
        // Rule 5: the runtime closed; nobody will run the task. Dropping it cancels it.
        Err(task) => drop_task(task),
    }
}

/// The waker of the future passed to `block_on`.
struct MainWaker {
    woken: AtomicBool,
    rt: Arc<Unparker>,
}

impl OwnWake for MainWaker {
    fn wake_by_ref(&self) {
        // A swap, as every write of the flags the driver re-checks before parking (rule 3).
        self.woken.swap(true, Ordering::SeqCst);
        self.rt.unpark();
    }
}

/// Returns the core to `CurrentThreadShared` when `block_on` ends, also on unwind (rule 1).
struct CoreGuard<'a> {
    rt: &'a RuntimeShared,
    core: Option<Box<Core>>,
}

impl Drop for CoreGuard<'_> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            core.flush_metrics(self.rt);
            self.rt.sched.current_thread().put_core(core);
        }
    }
}

/// Drives the runtime on this thread until `future` completes.
pub(crate) fn block_on<F: Future>(
    rt: &Arc<RuntimeShared>,
    future: F,
    location: &'static std::panic::Location<'static>,
) -> F::Output {
    let mut future = pin!(future);
    let mut thread_waker: Option<Waker> = None;
    // `spawn_local` works anywhere inside, whether this thread drives the core or waits for it.
    let _mark = local::mark_block_on(rt);
    loop {
        if let Some(core) = rt.sched.current_thread().take_core() {
            let guard = CoreGuard {
                rt,
                core: Some(core),
            };
            let core: &Core = guard.core.as_deref().expect("core is present until drop");
            return core.run(rt, future.as_mut(), location);
        }
        // Another thread drives the core: keep polling our own future meanwhile (rule 1).
        rt.sched.current_thread().wait_for_core();
        if lock(&rt.sched.current_thread().core).is_some() {
            continue;
        }
        let waker = thread_waker.get_or_insert_with(ThreadWaker::current);
        let mut cx = Context::from_waker(waker);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            rt.sched.current_thread().stop_waiting_for_core();
            return out;
        }
        thread::park();
    }
}

impl Core {
    fn run<F: Future>(
        &self,
        rt: &Arc<RuntimeShared>,
        mut future: Pin<&mut F>,
        location: &'static std::panic::Location<'static>,
    ) -> F::Output {
        // This thread's local tasks of this runtime (`spawn_local`): only this thread runs them.
        // Those of runtimes that shut down elsewhere are dropped first (`task/local.rs` rule 5).
        local::close_orphans();
        let owner = local::owner(rt);
        let _run_queue = context::set_run_queue(&self.run_queue);
        let slot = rt.diag.slot(0);
        let _slot = crate::task::current::set_slot(slot);
        let _driving = slot.map(|s| DrivingGuard::new(&rt.diag, s, location));
        let main = OwnWaker::new(MainWaker {
            woken: AtomicBool::new(true),
            rt: rt.io.unparker.clone(),
        });
        let waker = OwnWaker::waker(&main);
        let mut cx = Context::from_waker(&waker);
        let interval = rt.sched.current_thread().event_interval;
        // Polls (of tasks and of the `block_on` future) since the reactor last turned (rule 4).
        let mut since_turn = 0u32;
        'outer: loop {
            rt.check_fatal();
            if main.woken.swap(false, Ordering::SeqCst) {
                since_turn += 1;
                let seq = slot.map(|s| s.begin(MAIN_KEY));
                let res = coop::with_budget(|| future.as_mut().poll(&mut cx));
                if let (Some(s), Some(seq)) = (slot, seq) {
                    if let Some(credit) = s.end(seq) {
                        diagnostics::main_poll_credited(rt, s, credit);
                    }
                }
                if let Poll::Ready(out) = res {
                    return out;
                }
            }
            while since_turn < interval {
                let tick = self.tick.get().wrapping_add(1);
                self.tick.set(tick);
                match self.next_task(rt, tick, &owner) {
                    Some(task) => {
                        since_turn += 1;
                        self.polls.set(self.polls.get() + 1);
                        coop::with_budget(|| task.run());
                    }
                    None => {
                        if !main.woken.load(Ordering::SeqCst) {
                            // Parking turns the reactor.
                            self.park(rt, &main, &owner);
                            since_turn = 0;
                        }
                        continue 'outer;
                    }
                }
            }
            // Rule 4: give the reactor a turn even though tasks (or the `block_on` future)
            // are still ready.
            self.driver.borrow_mut().turn(rt, Some(Duration::ZERO));
            since_turn = 0;
        }
    }

    fn next_task(&self, rt: &RuntimeShared, tick: u32, owner: &LocalTaskOwner) -> Option<Task> {
        if tick % REMOTE_INTERVAL == 0 {
            if let Some(task) = rt.sched.current_thread().pop_remote(&self.run_queue) {
                return Some(task);
            }
        }
        // Rule 4: the run queue and this thread's local tasks take turns.
        if tick % 2 == 0 {
            if let Some(task) = owner.pop() {
                return Some(task);
            }
        }
        let queued = self.run_queue.pop();
        queued
            .or_else(|| owner.pop())
            .or_else(|| rt.sched.current_thread().pop_remote(&self.run_queue))
    }

    /// Whether the run queue or this thread's local tasks hold a task.
    fn has_queued_work(&self, owner: &LocalTaskOwner) -> bool {
        !self.run_queue.queue.borrow().is_empty() || owner.has_work()
    }

    /// Nothing is ready: runs the park hook, waits, and runs the unpark hook
    /// (`Builder::on_thread_park`, `on_thread_unpark`; each a check of an `Option` when unset).
    fn park(&self, rt: &RuntimeShared, main: &MainWaker, owner: &LocalTaskOwner) {
        let hooks = &rt.sched.current_thread().park_hooks;
        // A task the park hook spawned or woke is queued (the run queue is not among what
        // `wait_for_work` re-checks before it blocks): run it instead of waiting.
        if !(hooks.before_park(rt)
            && (self.has_queued_work(owner)
                || rt.sched.current_thread().remote.is_pending()
                || main.woken.load(Ordering::SeqCst)))
        {
            self.wait_for_work(rt, main, owner);
        }
        hooks.after_unpark(rt);
    }

    /// Waits in the reactor until I/O, a timer, or a wake-up (rule 3).
    fn wait_for_work(&self, rt: &RuntimeShared, main: &MainWaker, owner: &LocalTaskOwner) {
        self.flush_metrics(rt);
        let mut driver = self.driver.borrow_mut();
        // Whether auto-advance was held back by running blocking jobs (see below).
        let mut held_by_blocking = false;
        if rt.time.is_paused() {
            // Paused clock: look for I/O without waiting; if nothing became ready, jump the clock
            // to the next timer instead of sleeping until it.
            driver.turn(rt, Some(Duration::ZERO));
            if self.has_queued_work(owner)
                || rt.sched.current_thread().remote.is_pending()
                || main.woken.load(Ordering::SeqCst)
            {
                return;
            }
            held_by_blocking = rt.blocking.is_busy();
            if !held_by_blocking && rt.time.auto_advance() {
                driver.turn(rt, Some(Duration::ZERO));
                return;
            }
        }
        let timeout = rt.time.park_timeout();
        if timeout == Some(Duration::ZERO) {
            driver.turn(rt, timeout);
            return;
        }
        let unparker = &rt.io.unparker;
        let may_block = announce_sleep(&unparker.sleeping, || {
            rt.sched.current_thread().remote.is_pending()
                || owner.has_work()
                || main.woken.load(Ordering::SeqCst)
                // A blocking job that finished after the check above but before `sleeping` was
                // set would not wake us; with a paused clock that could mean sleeping a virtual
                // gap in real time. Go round again so that auto-advance can run.
                || (held_by_blocking && !rt.blocking.is_busy())
        });
        if !may_block {
            rt.time.unparked();
            return;
        }
        let slot = rt.diag.slot(0);
        if let Some(s) = slot {
            s.parked();
            s.parks_in_reactor();
        }
        driver.turn(rt, timeout);
        if let Some(s) = slot {
            s.busy(&rt.diag);
        }
        end_sleep(&unparker.sleeping);
        rt.time.unparked();
        rt.metrics.parked();
    }

    fn flush_metrics(&self, rt: &RuntimeShared) {
        rt.metrics.add_polls(self.polls.replace(0));
        let depth = self.run_queue.queue.try_borrow().map_or(0, |q| q.len());
        rt.sched
            .current_thread()
            .run_queue_depth
            .store(depth, Ordering::Relaxed);
    }
}

/// Every ready task of a simulation's step, whatever queue it waits in, taken out in one order:
/// the run queue's, then this thread's local tasks, then the remote queue's (its first task in
/// front), for the world to pick from by position; the caller puts back what it leaves.
#[cfg(feature = "sim")]
fn sim_ready(
    core: &Core,
    owner: &LocalTaskOwner,
    sched: &CurrentThreadShared,
) -> std::collections::VecDeque<Task> {
    let mut ready: std::collections::VecDeque<Task> =
        std::iter::from_fn(|| core.run_queue.pop()).collect();
    while let Some(t) = owner.pop() {
        ready.push_back(t);
    }
    if let Some(first) = sched.remote.pop_all_into(&mut ready) {
        ready.push_front(first);
    }
    ready
}

/// Why a simulation's run loop stopped (`run_sim`).
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimStop {
    /// `finished()` returned true.
    Finished,
    /// The world recorded a failure.
    Failed,
    /// Nothing runnable, no timer, no network event, and not finished.
    Deadlock,
    /// `max_steps` polls ran without finishing.
    StepLimit,
    /// The virtual clock passed `time_limit` without finishing.
    TimeLimit,
}

/// Drives a simulation (`tether::sim`) on this thread: the simulation's choices pick which
/// ready task runs at every step (instead of the run queue's order), and when nothing is ready
/// the clock jumps to the next timer or network event instead of sleeping. Returns when
/// `finished()` says so, the world records a failure, or a limit is reached.
#[cfg(feature = "sim")]
pub(crate) fn run_sim(
    rt: &Arc<RuntimeShared>,
    world: &crate::sim::world::World,
    mut finished: impl FnMut() -> bool,
    max_steps: u64,
    time_limit: Duration,
) -> SimStop {
    use crate::sim::world::Event;
    let sched = rt.sched.current_thread();
    let core = sched
        .take_core()
        .expect("tether::sim: a simulation's runtime is driven by the simulation alone");
    let guard = CoreGuard {
        rt,
        core: Some(core),
    };
    let core: &Core = guard.core.as_deref().expect("core is present until drop");
    local::close_orphans();
    let owner = local::owner(rt);
    let _run_queue = context::set_run_queue(&core.run_queue);
    let mut wakers = Vec::new();
    loop {
        // `finished` also checks the invariants, which may record a failure: no step runs
        // after one.
        let done = finished();
        if world.has_failed() {
            return SimStop::Failed;
        }
        if done {
            return SimStop::Finished;
        }
        // `sim/world.rs` rule 4: a crash is complete before the next step.
        while world.take_dead_pending() {
            rt.registry
                .abort_matching(|meta| world.is_dead_task(meta.id));
            loop {
                let dead = {
                    let mut q = sim_ready(core, &owner, sched);
                    let i = q.iter().position(|t| world.is_dead_task(t.metadata().id));
                    let dead = i.and_then(|i| q.remove(i));
                    core.run_queue.queue.borrow_mut().extend(q);
                    dead
                };
                let Some(task) = dead else { break };
                // Cancelled: the poll wrapper drops the future without polling it.
                world.before_poll(task.metadata().id);
                coop::with_budget(|| task.run());
            }
        }
        // Every ready task, whatever queue it waits in, is a candidate.
        let task = {
            let mut q = sim_ready(core, &owner, sched);
            let task = match q.len() {
                0 => None,
                n => {
                    let i = world.pick(n, &|i| q[i].metadata().id);
                    q.remove(i)
                }
            };
            core.run_queue.queue.borrow_mut().extend(q);
            task
        };
        if let Some(task) = task {
            let polls = core.polls.get() + 1;
            if polls > max_steps {
                drop_task(task);
                return SimStop::StepLimit;
            }
            core.polls.set(polls);
            world.before_poll(task.metadata().id);
            coop::with_budget(|| task.run());
            continue;
        }
        // Nothing ready. Real I/O (what the simulation does not simulate) and due timers.
        core.driver.borrow_mut().turn(rt, Some(Duration::ZERO));
        if core.has_queued_work(&owner) || sched.remote.is_pending() {
            continue;
        }
        let next_timer = rt.time.next_deadline();
        let next_net = world.lock().net.next_event();
        let next = match (next_timer, next_net) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return SimStop::Deadlock,
            },
        };
        if world.elapsed(next) > time_limit {
            return SimStop::TimeLimit;
        }
        rt.time.clock.advance_to(next);
        let now = rt.time.clock.now();
        let to_ms = u64::try_from(world.elapsed(now).as_millis()).unwrap_or(u64::MAX);
        world.record(Event::Advance { to_ms });
        world.deliver_net(now, &mut wakers);
        for w in wakers.drain(..) {
            w.wake();
        }
        core.driver.borrow_mut().turn(rt, Some(Duration::ZERO));
    }
}

/// Rule 3, the driver's side: announces that it is about to block (`sleeping`), then re-checks
/// for work with `work_arrived`. Returns whether it may block; when it may not, the announcement
/// is withdrawn. Every write of `sleeping` is a swap (see rule 3).
fn announce_sleep(sleeping: &AtomicBool, work_arrived: impl FnOnce() -> bool) -> bool {
    sleeping.swap(true, Ordering::SeqCst);
    if work_arrived() {
        end_sleep(sleeping);
        return false;
    }
    true
}

/// Rule 3: the driver withdraws its announcement (it found work, or it woke up).
fn end_sleep(sleeping: &AtomicBool) {
    sleeping.swap(false, Ordering::SeqCst);
}

/// Marks the thread driving the core as busy for the watchdog while it drives (diagnostics
/// rule 2), and records where `block_on` was called.
struct DrivingGuard<'a> {
    slot: &'a WorkerSlot,
}

impl<'a> DrivingGuard<'a> {
    fn new(
        diag: &diagnostics::PollMonitor,
        slot: &'a WorkerSlot,
        location: &'static std::panic::Location<'static>,
    ) -> DrivingGuard<'a> {
        slot.set_main_location(Some(location));
        slot.set_thread();
        slot.busy(diag);
        DrivingGuard { slot }
    }
}

impl Drop for DrivingGuard<'_> {
    fn drop(&mut self) {
        self.slot.parked();
        self.slot.set_main_location(None);
    }
}

/// Shuts the runtime down: cancels every task, then closes timers and I/O (rule 5).
///
/// Blocking jobs still running are waited for up to `blocking_timeout` (forever if `None`).
/// Returns false if some still ran when the time was up.
pub(crate) fn shutdown(rt: &Arc<RuntimeShared>, blocking_timeout: Option<Duration>) -> bool {
    let sched = rt.sched.current_thread();
    sched.state.store(CLOSING, Ordering::SeqCst);
    rt.blocking.close();
    // Destructors of tasks may spawn or create timers; let them find this runtime.
    let _enter = context::enter(Handle { shared: rt.clone() });
    let core = sched.take_core();
    // This thread's local tasks of this runtime; other threads' wait for their owners (rule 5).
    let owner = local::take_owner(rt);
    loop {
        let wakers = rt.registry.take_wakers();
        let mut progress = !wakers.is_empty();
        for w in wakers {
            w.wake();
        }
        if let Some(core) = &core {
            loop {
                let next = core.run_queue.queue.borrow_mut().pop_front();
                match next {
                    Some(task) => {
                        drop_task(task);
                        progress = true;
                    }
                    None => break,
                }
            }
        }
        loop {
            let next = sched.remote.pop();
            match next {
                Some(task) => {
                    drop_task(task);
                    progress = true;
                }
                None => break,
            }
        }
        if let Some(owner) = &owner {
            progress |= owner.drop_queued();
        }
        if !progress {
            break;
        }
    }
    // Anything pushed since the last drain; from now on `push_remote` drops what it is given.
    let late = sched.remote.close();
    sched.state.store(CLOSED, Ordering::SeqCst);
    late.into_iter().for_each(drop_task);
    // Other threads' local tasks of this runtime are dropped by their owners (rule 5).
    sched.rt_closed.store(true, Ordering::Release);
    if let Some(owner) = owner {
        owner.close();
    }
    rt.time.shutdown();
    rt.io.shutdown();
    // `uring_op.rs` rule 9, on the thread that holds the core (and with it the driver).
    if let Some(core) = &core {
        core.driver.borrow_mut().settle_at_shutdown(rt);
    }
    drop(core);
    rt.blocking.wait(blocking_timeout)
}

#[cfg(all(test, not(tether_loom)))]
mod tests;

#[cfg(all(test, tether_loom))]
mod loom_tests;
