//! Completion operations on the io_uring driver (Linux): one submission whose resources the
//! driver owns until its completion arrives, awaited as an [`Op`].
//!
//! The readiness half of the driver (`uring.rs`) tells a resource when to retry a system call;
//! an operation instead hands the kernel the whole call (`IORING_OP_RECV`, `READ`, `OPENAT`...)
//! with pointers into memory the kernel reads or writes later, from another context, at a time
//! of its choosing. That memory (an owned buffer, a path as a `CString`, the `Arc` of a file
//! that keeps its descriptor open) is the operation's **resources**. [`OpTable`] holds them;
//! the future holds only the operation's name (its `user_data`).
//!
//! Rules:
//! 1. An operation's `user_data` is [`OP_TAG`] (the top bit) with its key in the table (the low
//!    32 bits) and the key's generation (30 bits above them). Registration tokens leave the top
//!    bit clear (the driver's rule 1) and the ring's own `WAKE_DATA`, `REMOVE_DATA` have bit 62
//!    set, which a generation never reaches: the three spaces are disjoint. A key's generation
//!    is bumped each time the key is freed, so a stale cancellation never names a later
//!    operation at the same key.
//! 2. The table owns an operation's resources from before its submission is queued until the
//!    completion is dispatched; the submission's pointers point into them, boxed, so they do not
//!    move. Nothing else frees them: not the future (it only takes them back, with the result,
//!    once the completion is recorded), not a cancellation.
//! 3. A future dropped before its completion makes the entry *orphaned* and pushes
//!    `ASYNC_CANCEL` for its `user_data`, submitted at once on every thread (as a poll's removal,
//!    `uring.rs` rule 4): the operation's own submission precedes the cancellation in the queue,
//!    so the kernel has resolved its descriptor before the resource the future borrowed can be
//!    closed. An orphaned entry's resources are freed when its completion is dispatched, and the
//!    result of an orphaned open (a descriptor nobody will own) is closed then. [`Op::detach`]
//!    orphans an operation without cancelling it (a write that must complete in the
//!    background): the entry is *detached*, which is orphaned and never cancelled, not even by
//!    rule 5's drain.
//! 4. Dispatch (the driver's turn, which only the thread turning the driver runs) applies each
//!    completion under the table's lock: an entry in flight records the result and its waker is
//!    woken after the lock is released, with the turn's other wakers (the driver's rule 2); an
//!    orphaned entry is removed and its resources dropped after the lock is released (a file's
//!    `Arc` may close its descriptor there).
//! 5. When the ring is dropped (the runtime is gone and every operation's future with it) with
//!    entries still in the table, every one of them but the detached ones is cancelled, and the
//!    completions are reaped until the table is empty, for at most [`REAP_DEADLINE`]: a detached
//!    write (a `File`'s buffer, dropped with it as its runtime shut down) is waited for, not
//!    cancelled. An entry still in flight after that (a read from a disk that stopped answering)
//!    is leaked on purpose, never freed while the kernel may write it: a leak, not a use after
//!    free.
//! 6. After the runtime's shutdown no operation starts (the table is closed); one already in
//!    flight completes or is cancelled as above.
//! 7. The lock of the table is never held while pushing to the submission queue (`Ring::sq`),
//!    nor while waking or dropping resources, nor while calling a handler (rule 8).
//! 8. A *handled* operation (a stream's multishot receive or write-behind send,
//!    `uring_stream.rs`) has no future: its completions go, in the kernel's order, to a
//!    [`Completion`] handler that owns the operation's memory and whose `Arc` the entry holds
//!    until the last completion (rule 5's drain and leak cover it as any entry). Its canceller
//!    is the handler's owner, which pushes `ASYNC_CANCEL` as in rule 3.
//! 9. At the runtime's shutdown, after its tasks are dropped, an operation whose future still
//!    exists (held by a value that outlives the runtime: a `File` moved out of it with a read in
//!    flight) is cancelled, and the thread that turned the driver turns it until that
//!    completion has been dispatched, for at most [`SETTLE_DEADLINE`]: the future, polled later
//!    (in another runtime), takes the result (the data, or `ECANCELED`) instead of waiting for a
//!    dispatch that no thread will ever do. Then the table is *settled*: a future that finds its
//!    operation still in flight panics, saying why, rather than wait forever.
//! 10. A handled operation's waiters are not futures of this table: at the shutdown, after
//!     the registrations are marked shut down, each handler in the table hands over their
//!     wakers ([`Completion::shut_down`]) and they are woken; its owner, which checks the
//!     shutdown under the lock its waiters register under, then fails them instead of waiting
//!     for a completion nobody will dispatch (a stream moved out of its runtime with a read
//!     waiting: `uring_stream.rs` rule 8).
//!
//! A limit the kernel sets: an operation punted to the kernel's workers (a buffered file read
//! that must wait for the disk) belongs to the thread that submitted it, and is cancelled
//! (`ECANCELED`) if that thread exits first. A runtime's own threads outlive their operations;
//! a thread outside it that starts one (`Handle::block_on`) and exits before it completes gets
//! that error.

use std::any::Any;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};
use slab::Slab;

use crate::io::uring::{Ring, REMOVE_DATA};
use crate::loom::sync::Arc;
use crate::runtime::RuntimeShared;
use crate::task::coop;

/// The bit that marks an operation's `user_data` (rule 1).
pub(crate) const OP_TAG: u64 = 1 << 63;
/// Bits of an operation's `user_data` that hold its key.
const KEY_BITS: u32 = 32;
const KEY_MASK: u64 = (1 << KEY_BITS) - 1;
/// Generations wrap below bit 62 (rule 1).
const GENERATION_MASK: u64 = (1 << 30) - 1;
/// How long a dropped ring waits for the completions of the operations it cancelled (rule 5).
pub(crate) const REAP_DEADLINE: Duration = Duration::from_secs(10);

/// How long a runtime's shutdown waits for the operations whose futures outlive it (rule 9).
pub(crate) const SETTLE_DEADLINE: Duration = Duration::from_secs(1);

/// Operations whose result a future took, process-wide (for tests that must know the
/// completion path ran: `tether::__private::io_uring_ops_completed`).
static COMPLETED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many io_uring operations delivered their result to a future in this process.
pub fn io_uring_ops_completed() -> u64 {
    COMPLETED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether `user_data` names an operation rather than a registration's poll (rule 1).
pub(crate) fn is_op(user_data: u64) -> bool {
    user_data & OP_TAG != 0 && user_data & (1 << 62) == 0
}

fn pack(key: usize, generation: u64) -> u64 {
    OP_TAG | (generation & GENERATION_MASK) << KEY_BITS | key as u64
}

fn unpack(data: u64) -> (usize, u64) {
    (
        (data & KEY_MASK) as usize,
        (data >> KEY_BITS) & GENERATION_MASK,
    )
}

/// What an operation's result means to the table when nobody is left to take it (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Orphan {
    /// Nothing to do with the result.
    Ignore,
    /// A non-negative result is a new descriptor: close it.
    CloseFd,
}

/// The resources of an operation, type-erased (rule 2).
pub(crate) type Resources = Box<dyn Any + Send>;

/// Who takes the completions of an operation that no future awaits: a stream's multishot
/// receive or its write-behind sends (`uring_stream.rs`). Called by dispatch after the table's
/// lock is released (rule 7), once per completion, in the order the kernel posted them.
pub(crate) trait Completion: Send + Sync {
    /// Applies one completion of the operation started with `kind`; `last` is false while a
    /// multishot operation stays armed. Wakers to wake go to `wakers` (the driver's rule 2).
    fn complete(
        self: std::sync::Arc<Self>,
        ring: &std::sync::Arc<Ring>,
        kind: u8,
        res: i32,
        flags: u32,
        last: bool,
        wakers: &mut Vec<Waker>,
    );

    /// The runtime shut down (after its registrations were marked so): hands over the wakers
    /// of tasks waiting for this operation's completions, which may never be dispatched now
    /// (rule 10). Called with the table's lock released.
    fn shut_down(&self, wakers: &mut Vec<Waker>) {
        let _ = wakers;
    }
}

/// Where an operation is.
enum OpState {
    /// Submitted; its completions go to a handler rather than a future (rule 8). Removed at its
    /// last completion (one without `IORING_CQE_F_MORE`).
    Handled(std::sync::Arc<dyn Completion>, u8),
    /// Submitted; the waker of the future that last polled it.
    InFlight(Option<Waker>),
    /// Its completion arrived and waits for the future.
    Completed { res: i32, flags: u32 },
    /// Its future is gone; freed when the completion arrives (rule 3).
    Orphaned,
    /// Orphaned by [`Op::detach`]: it must complete, so nothing cancels it (rules 3, 5).
    Detached,
}

struct OpEntry {
    state: OpState,
    resources: Resources,
    orphan: Orphan,
}

/// The operations in flight and their resources (rules 1-4, 6). Plain data: the ring's users
/// hold it under `Ring::ops`, and Miri tests it without a ring.
pub(crate) struct OpTable {
    slab: Slab<OpEntry>,
    /// Each key's generation: the current operation's while occupied, the next one's while free.
    generations: Vec<u64>,
    /// Set by the runtime's shutdown (rule 6).
    closed: bool,
    /// The runtime's shutdown settled the operations in flight (rule 9).
    settled: bool,
}

/// What dispatching a completion asks the driver to do, outside the table's lock (rule 4).
#[must_use]
pub(crate) enum Dispatched {
    /// Wake the future (if it polled yet).
    Wake(Option<Waker>),
    /// The future is gone: release these resources.
    Release(Released),
    /// Pass the completion to its handler (rule 8).
    Handle(std::sync::Arc<dyn Completion>, u8, bool),
    /// No such operation (a second completion, or a stray one): nothing to do.
    Unknown,
}

/// The resources of an operation nobody awaits any more, with its result (rule 3). Dropping it
/// frees them, and closes the descriptor an orphaned open produced.
pub(crate) struct Released {
    resources: Option<Resources>,
    res: i32,
    orphan: Orphan,
}

impl Drop for Released {
    fn drop(&mut self) {
        if self.orphan == Orphan::CloseFd && self.res >= 0 {
            // SAFETY: the descriptor is the result of an open whose future is gone: this table
            // is its only owner, and nothing else knows its number.
            unsafe { libc::close(self.res) };
        }
        drop(self.resources.take());
    }
}

/// What a future that gives up its operation must do next (rule 3).
#[must_use]
pub(crate) enum Abandoned {
    /// The operation is still in flight and now orphaned: cancel it (unless detaching).
    InFlight,
    /// The completion had arrived: release it.
    Completed(Released),
}

impl OpTable {
    pub(crate) fn new() -> OpTable {
        OpTable {
            slab: Slab::new(),
            generations: Vec::new(),
            closed: false,
            settled: false,
        }
    }

    /// Records a new operation in flight; returns its `user_data`, or gives the resources back
    /// when the table is closed (rule 6) or full.
    pub(crate) fn insert(
        &mut self,
        resources: Resources,
        orphan: Orphan,
    ) -> Result<u64, (io::Error, Resources)> {
        if self.closed {
            return Err((crate::io::driver::shutdown_error(), resources));
        }
        let key = self.slab.vacant_key();
        if key as u64 > KEY_MASK {
            return Err((
                io::Error::other("tether: too many io_uring operations in flight"),
                resources,
            ));
        }
        self.slab.insert(OpEntry {
            state: OpState::InFlight(None),
            resources,
            orphan,
        });
        if key == self.generations.len() {
            self.generations.push(0);
        }
        Ok(pack(key, self.generations[key]))
    }

    /// Records an operation whose completions go to `handler` with `kind` (rule 8); returns
    /// its `user_data`. Its memory is the handler's to keep valid (`uring_stream.rs`).
    pub(crate) fn insert_handled(
        &mut self,
        handler: std::sync::Arc<dyn Completion>,
        kind: u8,
    ) -> io::Result<u64> {
        let data = self
            .insert(Box::new(()), Orphan::Ignore)
            .map_err(|(e, _)| e)?;
        self.entry(data).expect("just inserted").state = OpState::Handled(handler, kind);
        Ok(data)
    }

    fn entry(&mut self, data: u64) -> Option<&mut OpEntry> {
        let (key, generation) = unpack(data);
        if !is_op(data) || self.generations.get(key) != Some(&generation) {
            return None;
        }
        self.slab.get_mut(key)
    }

    fn remove(&mut self, data: u64) -> OpEntry {
        let (key, generation) = unpack(data);
        self.generations[key] = (generation + 1) & GENERATION_MASK;
        self.slab.remove(key)
    }

    /// Takes back the resources of an operation whose submission could not be queued (no
    /// completion will come).
    pub(crate) fn unsubmitted(&mut self, data: u64) -> Resources {
        debug_assert!(self.entry(data).is_some());
        self.remove(data).resources
    }

    /// Applies the completion of `data` (rule 4).
    pub(crate) fn dispatch(&mut self, data: u64, res: i32, flags: u32) -> Dispatched {
        let Some(entry) = self.entry(data) else {
            return Dispatched::Unknown;
        };
        let last = !io_uring::cqueue::more(flags);
        match &mut entry.state {
            OpState::InFlight(waker) => {
                let waker = waker.take();
                entry.state = OpState::Completed { res, flags };
                Dispatched::Wake(waker)
            }
            OpState::Handled(handler, kind) => {
                let (handler, kind) = (handler.clone(), *kind);
                if last {
                    drop(self.remove(data));
                }
                Dispatched::Handle(handler, kind, last)
            }
            // A multishot operation given up at the ring's drop stays until its last completion.
            OpState::Orphaned | OpState::Detached if !last => Dispatched::Unknown,
            OpState::Orphaned | OpState::Detached => {
                let entry = self.remove(data);
                Dispatched::Release(Released {
                    resources: Some(entry.resources),
                    res,
                    orphan: entry.orphan,
                })
            }
            // One completion per operation: a second one is not ours to apply.
            OpState::Completed { .. } => Dispatched::Unknown,
        }
    }

    /// The result and resources of `data` once its completion arrived (removing the entry);
    /// otherwise keeps `waker` to wake when it does.
    pub(crate) fn poll(&mut self, data: u64, waker: &Waker) -> Option<(i32, u32, Resources)> {
        let settled = self.settled;
        let entry = self
            .entry(data)
            .expect("tether: an io_uring operation polled after it completed");
        match &mut entry.state {
            OpState::Completed { res, flags } => {
                let (res, flags) = (*res, *flags);
                let entry = self.remove(data);
                Some((res, flags, entry.resources))
            }
            OpState::InFlight(_) if settled => panic!(
                "tether: an io_uring operation was awaited after the runtime that started it shut \
                 down, and it had not completed by then (a `File` moved out of a runtime with a \
                 read or write in flight, and used in another): it can never complete. Finish \
                 or drop the operation before the runtime shuts down, or use the `File` only in \
                 the runtime that opened it"
            ),
            OpState::InFlight(w) => {
                match w {
                    Some(w) if w.will_wake(waker) => {}
                    _ => *w = Some(waker.clone()),
                }
                None
            }
            OpState::Orphaned | OpState::Detached => {
                unreachable!("tether: an orphaned io_uring operation was polled")
            }
            OpState::Handled(..) => unreachable!("tether: a handled io_uring operation was polled"),
        }
    }

    /// The future of `data` is gone before taking its result (rule 3).
    pub(crate) fn abandon(&mut self, data: u64) -> Abandoned {
        let Some(entry) = self.entry(data) else {
            unreachable!("tether: an io_uring operation abandoned twice");
        };
        match entry.state {
            OpState::Completed { res, .. } => {
                let entry = self.remove(data);
                Abandoned::Completed(Released {
                    resources: Some(entry.resources),
                    res,
                    orphan: entry.orphan,
                })
            }
            OpState::InFlight(_) => {
                entry.state = OpState::Orphaned;
                Abandoned::InFlight
            }
            OpState::Orphaned | OpState::Detached | OpState::Handled(..) => {
                unreachable!("tether: an io_uring operation abandoned twice")
            }
        }
    }

    /// As [`abandon`](Self::abandon), for an operation that must complete: an entry still in
    /// flight becomes detached, which nothing cancels (rules 3, 5).
    pub(crate) fn detach(&mut self, data: u64) -> Abandoned {
        let abandoned = self.abandon(data);
        if let (Abandoned::InFlight, Some(entry)) = (&abandoned, self.entry(data)) {
            entry.state = OpState::Detached;
        }
        abandoned
    }

    /// Closes the table: no operation starts from now on (rule 6).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// The handlers of the handled operations in the table, to be told of the shutdown with
    /// the table's lock released (rules 7, 10).
    pub(crate) fn handlers(&self) -> Vec<std::sync::Arc<dyn Completion>> {
        self.slab
            .iter()
            .filter_map(|(_, e)| match &e.state {
                OpState::Handled(handler, _) => Some(handler.clone()),
                _ => None,
            })
            .collect()
    }

    /// The `user_data` of every operation whose future still waits for it (rule 9).
    pub(crate) fn in_flight(&self) -> Vec<u64> {
        self.slab
            .iter()
            .filter(|(_, e)| matches!(e.state, OpState::InFlight(_)))
            .map(|(key, _)| pack(key, self.generations[key]))
            .collect()
    }

    /// The shutdown's settling is over (rule 9): an operation still in flight will never
    /// complete.
    pub(crate) fn mark_settled(&mut self) {
        self.settled = true;
    }

    /// The `user_data` of every operation whose completion has not arrived and which may be
    /// cancelled: not a detached one (rule 5).
    pub(crate) fn cancellable(&self) -> Vec<u64> {
        self.slab
            .iter()
            .filter(|(_, e)| !matches!(e.state, OpState::Completed { .. } | OpState::Detached))
            .map(|(key, _)| pack(key, self.generations[key]))
            .collect()
    }

    /// How many operations the table holds.
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Removes every entry whose completion arrived (nobody will take it: the ring is being
    /// dropped) and returns them to release (rule 5).
    fn drain_completed(&mut self) -> Vec<Released> {
        let done: Vec<u64> = self
            .slab
            .iter()
            .filter(|(_, e)| matches!(e.state, OpState::Completed { .. }))
            .map(|(key, _)| pack(key, self.generations[key]))
            .collect();
        done.into_iter()
            .map(|data| {
                let OpState::Completed { res, .. } = self.entry(data).unwrap().state else {
                    unreachable!()
                };
                let entry = self.remove(data);
                Released {
                    resources: Some(entry.resources),
                    res,
                    orphan: entry.orphan,
                }
            })
            .collect()
    }

    /// Gives up on every entry left: their memory is leaked, never freed (rule 5), the handler
    /// of a handled operation included (it owns that operation's memory).
    fn leak_all(&mut self) -> usize {
        let n = self.slab.len();
        for entry in self.slab.drain() {
            std::mem::forget(entry);
        }
        n
    }
}

/// The cancellation of operation `data` (rule 3). Its own completion is ignored (`REMOVE_DATA`).
pub(crate) fn cancel_entry(data: u64) -> squeue::Entry {
    opcode::AsyncCancel::new(data)
        .build()
        .user_data(REMOVE_DATA)
}

/// Locks the table, whatever a panic elsewhere left (its state is consistent between calls).
pub(crate) fn lock(ops: &Mutex<OpTable>) -> std::sync::MutexGuard<'_, OpTable> {
    ops.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rule 5, for `Ring`'s `Drop`: cancels what is in flight (but the detached operations, which are
/// waited for) and reaps completions until the table is empty or the deadline passes; leaks what
/// is left, returning how many. `reap` waits up to the given time for
/// completions and returns the `(user_data, result, flags)` of those that arrived.
pub(crate) fn drain_at_drop(
    ops: &Mutex<OpTable>,
    deadline: Duration,
    push_cancel: impl Fn(u64) -> io::Result<()>,
    mut reap: impl FnMut(Duration) -> Vec<(u64, i32, u32)>,
) -> usize {
    let released = lock(ops).drain_completed();
    drop(released);
    if lock(ops).len() == 0 {
        return 0;
    }
    let cancellable = lock(ops).cancellable();
    for data in cancellable {
        // A cancellation that cannot be queued leaves its operation to finish on its own.
        let _ = push_cancel(data);
    }
    let deadline = Instant::now() + deadline;
    loop {
        if lock(ops).len() == 0 {
            return 0;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        for (data, res, flags) in reap(wait) {
            if !is_op(data) {
                continue;
            }
            let mut table = lock(ops);
            // Nobody polls any more: an operation in flight is released like an orphan.
            if let Some(e) = table.entry(data) {
                let state = std::mem::replace(&mut e.state, OpState::Orphaned);
                if let OpState::Handled(handler, _) = state {
                    // The handler owns the operation's memory: it lives until the last completion.
                    e.resources = Box::new(handler);
                }
            }
            let d = table.dispatch(data, res, flags);
            drop(table);
            drop(d);
        }
    }
    let leaked = lock(ops).leak_all();
    if leaked > 0 {
        LEAKED.fetch_add(leaked as u64, std::sync::atomic::Ordering::Relaxed);
        crate::diag::report_unattached_text(&format!(
            "tether: {leaked} io_uring operations did not complete within {deadline:?} of \
             their runtime's drop; their buffers are leaked rather than freed under the kernel"
        ));
    }
    leaked
}

/// Operations given up at a ring's drop, their resources leaked (rule 5), process-wide.
static LEAKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many io_uring operations a runtime's drop gave up on, leaking their buffers, in this
/// process (for tests: it should stay 0).
pub fn io_uring_ops_leaked() -> u64 {
    LEAKED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The output of an operation: the kernel's result and the resources, given back.
pub(crate) struct OpOutput<T> {
    /// The completion's result: a count or descriptor, or the error.
    pub(crate) result: io::Result<u32>,
    pub(crate) resources: T,
}

/// An operation in flight, awaited for its [`OpOutput`] (rules 2-4). Dropping it before it
/// completes cancels the operation (rule 3).
pub(crate) struct Op<T: Send + 'static> {
    rt: Arc<RuntimeShared>,
    ring: std::sync::Arc<Ring>,
    data: u64,
    /// Set once the output was taken, or the operation given up.
    done: bool,
    _resources: PhantomData<fn() -> T>,
}

/// Where operations of one runtime are submitted, and how (the ring's rule 4).
#[derive(Clone)]
pub(crate) struct OpSubmitter {
    pub(crate) rt: Arc<RuntimeShared>,
    pub(crate) ring: std::sync::Arc<Ring>,
    /// Whether the calling thread must submit at once (it is not the batching driver thread).
    pub(crate) submit_now: bool,
}

/// Where runtime `rt` submits operations, if its driver is io_uring and the kernel runs them
/// (`uring.rs`, `ops_usable`); `None` means: take the readiness path or the blocking pool.
pub(crate) fn submitter(rt: &Arc<RuntimeShared>) -> Option<OpSubmitter> {
    let (ring, submit_now) = rt.io.uring_for_ops()?;
    Some(OpSubmitter {
        rt: rt.clone(),
        ring: ring.clone(),
        submit_now,
    })
}

impl OpSubmitter {
    /// Submits the operation `build` makes from its resources (rule 2): the resources are boxed
    /// first, so the pointers `build` takes stay valid until the completion. On failure the
    /// resources come back with the error.
    pub(crate) fn start<T: Send + 'static>(
        &self,
        resources: T,
        orphan: Orphan,
        build: impl FnOnce(&mut T) -> squeue::Entry,
    ) -> Result<Op<T>, (io::Error, T)> {
        let mut boxed = Box::new(resources);
        let entry = build(&mut *boxed);
        let back = |r: Resources| *r.downcast::<T>().expect("the resources of this operation");
        let data = match lock(&self.ring.ops).insert(boxed, orphan) {
            Ok(data) => data,
            Err((e, r)) => return Err((e, back(r))),
        };
        let entry = entry.user_data(data);
        // SAFETY: the entry's pointers point into the resources just boxed and stored in the
        // table, which keeps them in place until the completion is dispatched (rule 2).
        if let Err(e) = unsafe { self.ring.push_op(&entry) } {
            let r = lock(&self.ring.ops).unsubmitted(data);
            return Err((e, back(r)));
        }
        if self.submit_now && self.ring.submit().is_err() {
            // Queued; the driver's next turn submits it.
            self.rt.io.unparker.force_unpark();
        }
        Ok(Op {
            rt: self.rt.clone(),
            ring: self.ring.clone(),
            data,
            done: false,
            _resources: PhantomData,
        })
    }
}

impl<T: Send + 'static> Op<T> {
    /// Gives the operation up without cancelling it: it completes in the background and the
    /// table frees its resources then (rule 3).
    pub(crate) fn detach(mut self) {
        self.done = true;
        let abandoned = lock(&self.ring.ops).detach(self.data);
        drop(abandoned);
    }
}

impl<T: Send + 'static> Future for Op<T> {
    type Output = OpOutput<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpOutput<T>> {
        let me = self.get_mut();
        assert!(
            !me.done,
            "tether: an io_uring operation polled after it completed"
        );
        let coop = ready!(coop::poll_proceed(cx));
        let taken = lock(&me.ring.ops).poll(me.data, cx.waker());
        match taken {
            Some((res, _flags, resources)) => {
                me.done = true;
                coop.made_progress();
                COMPLETED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let resources = *resources
                    .downcast::<T>()
                    .expect("the resources of this operation");
                let result = if res < 0 {
                    Err(io::Error::from_raw_os_error(-res))
                } else {
                    Ok(res as u32)
                };
                Poll::Ready(OpOutput { result, resources })
            }
            None => {
                crate::io::poll_evented::check_driven_elsewhere(&me.rt, "an io_uring operation");
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static> Drop for Op<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let abandoned = lock(&self.ring.ops).abandon(self.data);
        match abandoned {
            Abandoned::Completed(released) => drop(released),
            Abandoned::InFlight => {
                // Rule 3: cancelled, and submitted at once with the operation ahead of it.
                let _ = self.ring.push(&cancel_entry(self.data));
                if self.ring.submit().is_err() {
                    self.rt.io.unparker.force_unpark();
                }
            }
        }
    }
}

impl<T: Send + 'static> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op").field("user_data", &self.data).finish()
    }
}

/// The table's bookkeeping without a ring, so that Miri checks it.
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts its drops: stands for a buffer the kernel writes.
    struct Buffer(std::sync::Arc<AtomicUsize>, #[allow(dead_code)] Vec<u8>);
    impl Drop for Buffer {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn buffer(drops: &std::sync::Arc<AtomicUsize>) -> Resources {
        Box::new(Buffer(drops.clone(), vec![0; 64]))
    }

    /// Rule 1: an operation's `user_data` is never a registration's token, nor the ring's own.
    #[test]
    fn op_user_data_is_disjoint_from_tokens_and_the_rings_own() {
        let last = pack(KEY_MASK as usize, GENERATION_MASK);
        assert!(is_op(last) && is_op(pack(0, 0)));
        assert_ne!(last, crate::io::uring::WAKE_DATA);
        assert_ne!(last, REMOVE_DATA);
        assert!(!is_op(crate::io::uring::WAKE_DATA));
        assert!(!is_op(REMOVE_DATA));
        // Registration tokens keep the top bit clear (the driver's rule 1).
        assert!(!is_op(u64::MAX >> 1));
    }

    /// Rules 2 and 4: the resources stay in the table until the completion, then go back to the
    /// future with the result; the future's waker is woken.
    #[test]
    fn a_completion_wakes_the_future_which_takes_result_and_resources() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        let data = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(t.poll(data, &waker).is_none());
        let Dispatched::Wake(Some(w)) = t.dispatch(data, 42, 0) else {
            panic!("the waiting future is to be woken")
        };
        w.wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let (res, _, r) = t.poll(data, &waker).unwrap();
        assert_eq!(res, 42);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "given back, not freed");
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(t.len(), 0);
    }

    /// Rule 3: a future dropped while its operation is in flight leaves the resources in the
    /// table until the completion, which frees them.
    #[test]
    fn an_abandoned_operation_frees_its_resources_only_at_its_completion() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        let data = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert!(matches!(t.abandon(data), Abandoned::InFlight));
        assert_eq!(t.cancellable(), vec![data]);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "the kernel may still write it"
        );
        let Dispatched::Release(r) = t.dispatch(data, -libc::ECANCELED, 0) else {
            panic!("an orphan's completion releases it")
        };
        assert_eq!(drops.load(Ordering::SeqCst), 0, "released outside the lock");
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(t.len(), 0);
        // A late duplicate completion of the same name changes nothing.
        assert!(matches!(t.dispatch(data, 0, 0), Dispatched::Unknown));
    }

    /// Rule 3: a future dropped after its completion arrived (but before it took it) releases at
    /// once.
    #[test]
    fn an_operation_abandoned_after_its_completion_is_released_at_once() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        let data = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert!(matches!(t.dispatch(data, 5, 0), Dispatched::Wake(None)));
        let Abandoned::Completed(r) = t.abandon(data) else {
            panic!("completed")
        };
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(t.len(), 0);
    }

    /// Rule 1: after a key is freed, a stale name (a late cancellation's target, a duplicate
    /// completion) never reaches the key's next operation.
    #[test]
    fn a_stale_name_never_reaches_the_next_operation_at_its_key() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        let first = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert!(matches!(t.abandon(first), Abandoned::InFlight));
        drop(t.dispatch(first, 0, 0));
        let second = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert_eq!(unpack(second).0, unpack(first).0, "the key is reused");
        assert_ne!(second, first);
        assert!(matches!(t.dispatch(first, 1, 0), Dispatched::Unknown));
        assert_eq!(t.cancellable(), vec![second]);
        // Generations wrap below bit 62.
        t.generations[unpack(second).0] = GENERATION_MASK;
        assert!(is_op(pack(unpack(second).0, GENERATION_MASK)));
    }

    /// Rule 6: a closed table starts nothing and gives the resources back.
    #[test]
    fn a_closed_table_refuses_new_operations() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        t.close();
        let Err((e, r)) = t.insert(buffer(&drops), Orphan::Ignore) else {
            panic!("closed")
        };
        assert!(e.to_string().contains("shut down"));
        drop(r);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// Rule 9: the shutdown's settling lists the operations whose futures still wait; once
    /// settled, a future that finds its operation dispatched takes the result, and one that
    /// finds it still in flight panics, saying why, instead of waiting forever.
    #[test]
    fn a_settled_table_gives_completed_results_and_refuses_to_wait_for_the_rest() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let mut t = OpTable::new();
        let a = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        let b = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        let orphan = t.insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert!(matches!(t.abandon(orphan), Abandoned::InFlight));
        let mut pending = t.in_flight();
        pending.sort_unstable();
        let mut expect = vec![a, b];
        expect.sort_unstable();
        assert_eq!(pending, expect, "the orphan has no future to settle for");
        t.close();
        drop(t.dispatch(a, -libc::ECANCELED, 0));
        t.mark_settled();
        let waker = Waker::noop();
        let (res, _, r) = t.poll(a, waker).expect("dispatched");
        assert_eq!(res, -libc::ECANCELED);
        drop(r);
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.poll(b, waker)));
        let payload = waited.expect_err("an operation that can never complete is not waited for");
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap();
        assert!(
            message.contains("after the runtime that started it shut down"),
            "{message}"
        );
    }

    /// Rule 5 without a ring: the drop cancels what is in flight, releases what completes, and
    /// what never completes is leaked, not freed.
    #[test]
    fn the_rings_drop_reaps_cancelled_operations_and_frees_each_once() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let table = Mutex::new(OpTable::new());
        let a = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        let b = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        let c = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        drop(lock(&table).dispatch(c, 3, 0)); // completed, never taken
        assert!(matches!(lock(&table).abandon(b), Abandoned::InFlight));
        let cancelled = Mutex::new(Vec::new());
        let mut rounds = 0;
        drain_at_drop(
            &table,
            REAP_DEADLINE,
            |data| {
                cancelled.lock().unwrap().push(data);
                Ok(())
            },
            |_| {
                rounds += 1;
                cancelled
                    .lock()
                    .unwrap()
                    .drain(..)
                    .map(|d| (d, -libc::ECANCELED, 0))
                    .collect()
            },
        );
        assert!(rounds >= 1);
        assert_eq!(lock(&table).len(), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 3, "each freed exactly once");
        let _ = a;
    }

    /// Rules 3 and 5: a detached operation is not cancelled by the drain, which waits for its
    /// completion and then frees it.
    #[test]
    fn the_rings_drop_waits_for_a_detached_operation_without_cancelling_it() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let table = Mutex::new(OpTable::new());
        let write = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        let read = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        assert!(matches!(lock(&table).detach(write), Abandoned::InFlight));
        assert_eq!(lock(&table).cancellable(), vec![read]);
        let cancelled = Mutex::new(Vec::new());
        let asked = Mutex::new(Vec::new());
        let mut rounds = 0;
        drain_at_drop(
            &table,
            REAP_DEADLINE,
            |data| {
                cancelled.lock().unwrap().push(data);
                asked.lock().unwrap().push(data);
                Ok(())
            },
            |_| {
                rounds += 1;
                let mut done: Vec<_> = cancelled
                    .lock()
                    .unwrap()
                    .drain(..)
                    .map(|d| (d, -libc::ECANCELED, 0))
                    .collect();
                if rounds == 2 {
                    done.push((write, 64, 0)); // the write completes in its own time
                }
                done
            },
        );
        assert_eq!(
            *asked.lock().unwrap(),
            vec![read],
            "only the read is cancelled"
        );
        assert!(rounds >= 2, "the drain waited for the write");
        assert_eq!(lock(&table).len(), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each freed exactly once");
    }

    /// Rule 5: an operation that does not complete by the deadline is leaked, never freed.
    #[test]
    fn an_operation_that_outlives_the_deadline_is_leaked_not_freed() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let table = Mutex::new(OpTable::new());
        let _stuck = lock(&table).insert(buffer(&drops), Orphan::Ignore).unwrap();
        let leaked_before = io_uring_ops_leaked();
        let reap = |wait: Duration| {
            std::thread::sleep(wait.min(Duration::from_millis(5)));
            Vec::new()
        };
        drain_at_drop(&table, Duration::from_millis(20), |_| Ok(()), reap);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "freed while the kernel may write it"
        );
        assert_eq!(lock(&table).len(), 0);
        assert!(io_uring_ops_leaked() > leaked_before);
    }
}
