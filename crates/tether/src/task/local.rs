//! `spawn_local`: tasks whose future is not `Send`, and the queues that keep them on their thread.
//!
//! A local task belongs to an *owner*: the thread that spawned it, on the runtime it was spawned
//! onto. Each thread has one [`LocalTaskOwner`] per current-thread runtime it drives, in its
//! thread-local table `OWNERS`.
//!
//! # Protocol
//!
//! 1. **A local task's runnable goes only to its owner's queue.** The task's schedule function
//!    pushes the runnable to the owner's [`LocalTaskQueue`], whatever thread wakes it; it never
//!    enters the runtime's own run queues. A push from another thread then wakes the runtime's
//!    driver (the current-thread scheduler's rule 3); a push from the owner thread needs no
//!    wake-up, as that thread is running.
//! 2. **Only the owner pops.** Taking a runnable out of a `LocalTaskQueue` needs its
//!    `LocalTaskOwner`, which is `!Send` and is reached only through the owner thread's `OWNERS`.
//!    So a local task's future is polled and dropped on its thread only, by construction: polled
//!    while that thread drives the runtime's core (inside its `block_on`), dropped when that thread
//!    cancels it. Another thread driving the same runtime never sees the task; it waits for its
//!    owner.
//! 3. **The owner tracks its live tasks**, those whose future is not dropped yet, in
//!    `LocalTaskOwner::live`; a task's entry goes when its future is dropped (on the owner thread,
//!    by rule 2).
//! 4. **Closing an owner** (on its thread): ask every live task to stop through the registry
//!    (which wakes it, so its runnable comes to the queue), then drop what the queue receives
//!    until no live task is left, parked while wake-ups are still on their way (the owner waits
//!    for the next push through the inbox, whose pusher then unparks it: inbox rule 3). Only
//!    then is the queue closed. The task cell never schedules a task whose future is gone, so
//!    nothing is pushed to a closed queue; were it to happen, a push from another thread leaks
//!    the runnable rather than dropping it there.
//! 5. **When an owner closes.** When the runtime shuts down on the owner thread, the shutdown
//!    closes that thread's owner. A shutdown elsewhere cannot touch it: it marks the runtime
//!    closed (`rt_closed`), and the owner closes when its thread next starts driving a
//!    current-thread runtime's core or when the thread exits (the destructor of `OWNERS`),
//!    whichever comes first; until then those tasks, and through them the runtime's shared state
//!    (its reactor's descriptors among it), stay alive. A thread that exits while the runtime
//!    still runs closes its owners too: its local tasks are cancelled.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::thread::{self, Thread};

use crate::task::raw::{Runnable, ScheduleInfo};
use pin_project_lite::pin_project;
use slab::Slab;

use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::{RuntimeId, RuntimeShared};
use crate::sched::current_thread;
use crate::sched::drop_task;
use crate::sched::inbox::Inbox;
use crate::task::meta::TaskMeta;
use crate::task::AbortHandle;
use crate::task::JoinHandle;

type Task = Runnable<TaskMeta>;

thread_local! {
    /// This thread's number, from a process-wide counter: never reused, unlike addresses of
    /// thread-locals, which a later thread may get again.
    static THREAD_MARK: usize = {
        // std's atomic, not the loom shim's: a static, which a loom model cannot hold, and a
        // counter that is part of no protocol (only uniqueness matters).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };

    /// This thread's owners, one per current-thread runtime it drives (rule 5).
    static OWNERS: Owners = const { Owners(RefCell::new(Vec::new())) };

    /// The current-thread runtime whose `block_on` this thread is inside (driving its core or
    /// waiting for it), `None` outside.
    static IN_BLOCK_ON: Cell<Option<RuntimeId>> = const { Cell::new(None) };
}

/// Marks this thread as inside `block_on` of a current-thread runtime until dropped; restores
/// the previous mark (`None`, as `block_on` does not nest).
pub(crate) struct BlockOnMark {
    prev: Option<RuntimeId>,
}

/// Marks this thread as inside `block_on` of the current-thread runtime `rt`: `spawn_local` may
/// spawn onto it.
pub(crate) fn mark_block_on(rt: &RuntimeShared) -> BlockOnMark {
    BlockOnMark {
        prev: IN_BLOCK_ON.with(|m| m.replace(Some(rt.id))),
    }
}

impl Drop for BlockOnMark {
    fn drop(&mut self) {
        let _ = IN_BLOCK_ON.try_with(|m| m.set(self.prev));
    }
}

/// An id of the current thread that is cheap to read and never reused.
fn thread_mark() -> usize {
    THREAD_MARK.with(|m| *m)
}

/// The thread's table of owners; closes them all when the thread exits (rule 5).
struct Owners(RefCell<Vec<Rc<LocalTaskOwner>>>);

impl Drop for Owners {
    fn drop(&mut self) {
        let owners = std::mem::take(&mut *self.0.borrow_mut());
        for owner in owners {
            owner.close();
        }
    }
}

/// Where the runnables of one owner's local tasks wait; shared with every waker of those tasks
/// (rule 1), popped only through the owner's [`LocalTaskOwner`] (rule 2).
pub(crate) struct LocalTaskQueue {
    /// The owner thread's mark.
    owner: usize,
    /// The owner thread, unparked by a push while it waits in `close` (rule 4).
    thread: Thread,
    /// The runnables.
    inbox: Inbox<Task>,
    /// Set when the runtime has shut down (rule 5).
    rt_closed: Arc<AtomicBool>,
}

impl LocalTaskQueue {
    /// The schedule function of a local task (rule 1).
    fn schedule(&self, task: Task, _info: ScheduleInfo) {
        if self.owner == thread_mark() {
            if let Err(task) = self.inbox.push(task) {
                // Rule 4 says this does not happen; on the owner thread dropping is sound.
                drop_task(task);
            }
            // The owner is this thread, running: no wake-up needed (rule 1).
            return;
        }
        // The task may run and be freed as soon as it is pushed: keep the runtime to wake.
        let rt = task.metadata().shared().clone();
        match self.inbox.push(task) {
            Ok(owner_waits) => {
                if owner_waits {
                    // The owner is closing and waits for this push (rule 4).
                    self.thread.unpark();
                }
                rt.io.unparker.unpark();
            }
            Err(task) => {
                debug_assert!(
                    false,
                    "tether: a local task was woken after its owner closed"
                );
                // Dropping would run the `!Send` future's destructor on this thread.
                std::mem::forget(task);
            }
        }
    }
}

/// One thread's local tasks on one runtime: the only way to take their runnables (rule 2).
/// `!Send` (it is reached through an `Rc` in a thread-local), so it never leaves its thread.
pub(crate) struct LocalTaskOwner {
    /// The runtime the tasks were spawned onto.
    rt_id: RuntimeId,
    /// Shared with the tasks' schedule functions.
    queue: Arc<LocalTaskQueue>,
    /// Runnables taken from `queue` and not yet run.
    ready: RefCell<VecDeque<Task>>,
    /// The live tasks (rule 3), with what cancels each; `None` only while it is being spawned.
    live: RefCell<Slab<Option<AbortHandle>>>,
}

impl LocalTaskOwner {
    /// The next local task to run, if any.
    pub(crate) fn pop(&self) -> Option<Task> {
        let mut ready = self.ready.borrow_mut();
        match ready.pop_front() {
            Some(task) => Some(task),
            None => self.queue.inbox.pop_all_into(&mut *ready),
        }
    }

    /// Whether a local task may be waiting to run: for the driver's re-check before it blocks
    /// (the current-thread scheduler's rule 3).
    pub(crate) fn has_work(&self) -> bool {
        !self.ready.borrow().is_empty() || self.queue.inbox.is_pending()
    }

    /// Drops every runnable that is waiting, which cancels those tasks; returns whether there
    /// was any.
    pub(crate) fn drop_queued(&self) -> bool {
        let mut any = false;
        loop {
            let next = self.pop();
            match next {
                Some(task) => {
                    drop_task(task);
                    any = true;
                }
                None => return any,
            }
        }
    }

    /// Cancels and drops every live task, then closes the queue (rule 4).
    pub(crate) fn close(&self) {
        let targets: Vec<AbortHandle> = self
            .live
            .borrow()
            .iter()
            .flat_map(|(_, a)| a.clone())
            .collect();
        for t in &targets {
            t.abort();
        }
        drop(targets);
        loop {
            self.drop_queued();
            if self.live.borrow().is_empty() {
                break;
            }
            // Wake-ups still on their way (rule 4).
            if self.queue.inbox.wait_if_empty() {
                thread::park();
            }
        }
        let late = self.queue.inbox.close();
        late.into_iter().for_each(drop_task);
    }
}

/// This thread's owner for the runtime `rt`, created if needed.
pub(crate) fn owner(rt: &RuntimeShared) -> Rc<LocalTaskOwner> {
    OWNERS.with(|owners| {
        let mut owners = owners.0.borrow_mut();
        if let Some(o) = owners.iter().find(|o| o.rt_id == rt.id) {
            return o.clone();
        }
        let o = Rc::new(LocalTaskOwner {
            rt_id: rt.id,
            queue: Arc::new(LocalTaskQueue {
                owner: thread_mark(),
                thread: thread::current(),
                inbox: Inbox::new(),
                rt_closed: current_thread::closed_flag(rt),
            }),
            ready: RefCell::new(VecDeque::new()),
            live: RefCell::new(Slab::new()),
        });
        owners.push(o.clone());
        o
    })
}

/// Closes this thread's owners of runtimes that shut down on another thread (rule 5). Called
/// when the thread starts driving a current-thread runtime, outside any task's poll.
pub(crate) fn close_orphans() {
    let closed: Vec<Rc<LocalTaskOwner>> = OWNERS.with(|owners| {
        let mut owners = owners.0.borrow_mut();
        if owners.is_empty() {
            return Vec::new();
        }
        let (closed, open) = std::mem::take(&mut *owners)
            .into_iter()
            .partition(|o| o.queue.rt_closed.load(Ordering::Acquire));
        *owners = open;
        closed
    });
    // Outside the table's borrow: the tasks' destructors may spawn and so reach the table.
    for o in closed {
        o.close();
    }
}

/// Removes this thread's owner for runtime `rt` from the table, for the runtime's shutdown to
/// close it (rule 5).
pub(crate) fn take_owner(rt: &RuntimeShared) -> Option<Rc<LocalTaskOwner>> {
    OWNERS
        .try_with(|owners| {
            let mut owners = owners.0.borrow_mut();
            let i = owners.iter().position(|o| o.rt_id == rt.id)?;
            Some(owners.swap_remove(i))
        })
        .ok()
        .flatten()
}

pin_project! {
    /// A local task's future: the user's, and its entry among the owner's live tasks (rule 3).
    struct LocalTaskFuture<F> {
        #[pin]
        fut: F,
        // Declared after `fut`, so the entry goes after the user's future is dropped.
        live: LiveEntry,
    }
}

impl<F: Future> Future for LocalTaskFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        debug_assert_eq!(this.live.owner.queue.owner, thread_mark(), "rule 2");
        this.fut.poll(cx)
    }
}

/// Removes a task from its owner's live tasks when its future is dropped (rule 3).
struct LiveEntry {
    owner: Rc<LocalTaskOwner>,
    key: usize,
}

impl Drop for LiveEntry {
    fn drop(&mut self) {
        let entry = self.owner.live.borrow_mut().try_remove(self.key);
        // The abort handle holds the runtime: release it outside the borrow.
        drop(entry);
    }
}

/// Spawns a local task into `group` (the root scope, or a `JoinSet`).
pub(super) fn spawn_local_inner<F>(
    future: F,
    name: Option<std::sync::Arc<str>>,
    location: &'static Location<'static>,
    group: crate::task::Group<'_>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    if !crate::runtime::context::worker().is_null() {
        panic!(
            "tether::task::spawn_local was called at {location} on a worker of a multi-thread \
             runtime, whose tasks may move between threads. Use tether::spawn with a Send \
             future, or run the !Send work on a current-thread runtime."
        );
    }
    let Some(rt_id) = IN_BLOCK_ON.with(Cell::get) else {
        panic!(
            "tether::task::spawn_local was called at {location} on a thread that is not driving a \
             current-thread runtime. Call it from inside Runtime::block_on (or a task running \
             there) of a runtime built with Builder::new_current_thread(); use tether::spawn for \
             Send futures."
        );
    };
    let shared = match crate::runtime::context::current_handle() {
        Some(h) if h.shared.id == rt_id => h.shared,
        _ => panic!(
            "tether::task::spawn_local was called at {location} under Handle::enter of another \
             runtime than the one this thread is inside Runtime::block_on of; spawn_local only \
             spawns onto the runtime of the enclosing block_on"
        ),
    };
    let owner = owner(&shared);
    let key = owner.live.borrow_mut().insert(None);
    let fut = LocalTaskFuture {
        fut: future,
        live: LiveEntry {
            owner: owner.clone(),
            key,
        },
    };
    let queue = owner.queue.clone();
    // SAFETY: the schedule function hands the runnable only to this thread's `LocalTaskQueue`,
    // which only this thread pops and drops from (rules 1, 2); from another thread it neither runs
    // nor drops it. That is the obligation `spawn_with_schedule` places on `!Send` futures.
    let handle = unsafe {
        crate::task::spawn_with_schedule::<_, _, crate::task::Plain, _>(
            &shared,
            move || fut,
            crate::task::meta::Origin::new(name, location),
            false,
            group,
            move |t, i| queue.schedule(t, i),
        )
    };
    if let Some(entry) = owner.live.borrow_mut().get_mut(key) {
        *entry = Some(handle.abort_handle());
    }
    handle
}
