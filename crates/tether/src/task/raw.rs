//! The task cell: one allocation holding a task's state word, its awaiter's waker, its
//! metadata, and a union of its future and its output; and the three kinds of reference to it
//! (the [`Runnable`] a scheduler runs, the [`Task`] handle that takes the output, and wakers).
//!
//! tether's own, in place of async-task's: it does what tether needs and no more (no panic flag,
//! no cancel-on-drop handle), so a task is smaller and its spawn does less. Generic over the
//! metadata `M` so that the loom models below can run it without a runtime; the runtime uses
//! `M = TaskMeta`.
//!
//! # Layout
//!
//! `Cell<M, F, S>` (`repr(C)`): the [`Header`] first (so a pointer to the cell is a pointer to
//! its header, which is what every reference holds), then the schedule function `S` (a zero-sized
//! function item for every task but `spawn_local`'s), then the stage: the future until it is
//! done, then its output. The header's vtable holds the functions that know `F` and `S`.
//!
//! # Protocol
//!
//! The state word (64 bits on every target) holds seven flags, a reference count (in units of
//! `REF_ONE`) and the poll count (in units of `POLL_ONE`):
//!
//! 1. **References.** The runnable (while the task is scheduled), the `Task` handle (until it is
//!    dropped), every waker, and the future itself (until it is dropped: the transition to
//!    `COMPLETE` or `CLOSED` releases it) hold one reference each. The last one to go frees the
//!    cell, and drops the metadata and what the awaiter slot may still hold; neither a future
//!    nor an output is there by then (rule 5). So a task that waits with no waker anywhere stays alive
//!    (tether's registry finds it by its metadata, [`waker_of_meta`], and wakes it at shutdown),
//!    and whoever can reach its metadata while its future is alive can wake it.
//! 2. **Scheduling.** `SCHEDULED` is set by whoever creates the one runnable of a task (spawn, or
//!    a wake-up of a task that is idle), and cleared by `run` as it sets `RUNNING`. A wake-up of a
//!    task that is scheduled, complete or closed does nothing; of a running task, it sets
//!    `SCHEDULED`, and `run` hands the runnable back to the schedule function when the poll
//!    returns (`woken_while_running`). So a task has at most one runnable, and at most one
//!    thread polls it or drops its future: the stage belongs to the runnable's holder until
//!    `COMPLETE` or `CLOSED`.
//!    Every wake-up happens before the poll it leads to, so that the poll sees what the waker
//!    wrote before waking (a cancellation request in the metadata, a timer's firing, a
//!    channel's message), as `Waker::wake` documents. A poll begins with a read-modify-write
//!    of the state word, which synchronizes only with writes to the word, so a wake-up always
//!    writes it: of a task that is scheduled, with a compare-and-swap from the state it read
//!    (written back unchanged by `wake_by_ref`, one reference less by `wake`), with release
//!    ordering, which the next poll's read-modify-write, later in the word's order, reads
//!    through; if the poll began meanwhile, the compare-and-swap fails and the task is found
//!    running and gets `SCHEDULED`. (A wake-up of a scheduled task used to return after a plain
//!    load: a task queued when it was aborted could poll without seeing the request and wait
//!    for ever. x86-64's locked instructions hid it; Miri's weak-memory emulation found it.)
//! 3. **Completion.** When the future returns, `run` drops it, writes the output into the stage,
//!    and sets `COMPLETE` (clearing `RUNNING` and `SCHEDULED`) with release ordering; a runnable
//!    dropped without running drops the future and sets `CLOSED` instead. Either way, if
//!    `AWAITER` was set at that moment, the awaiter's waker is woken (by reference).
//! 4. **The awaiter.** The `Task` handle writes the awaiter slot only while `AWAITER` is clear,
//!    and sets it (compare-and-swap) only while the task is neither complete nor closed; it
//!    clears it (compare-and-swap, only while neither) before writing another waker. The
//!    completing side reads the slot only when its own transition saw `AWAITER` set, after which
//!    the handle never writes it again; having woken it, it clears `AWAITER`, which gives the
//!    slot back to the handle, or, when the handle was dropped meanwhile (`DETACHED`), takes the
//!    waker and drops it. The handle's drop takes the waker whenever `AWAITER` is clear (before
//!    the task finishes, it clears it first). So the slot is never written and read at once,
//!    and no waker stays in it once the handle is gone: a waker left there would keep the
//!    awaiting task alive, and two tasks awaiting each other would keep each other forever.
//! 5. **The output.** Whichever of completion and the handle's drop comes second drops an output
//!    nobody takes, decided by the one state word: the handle's drop sets `DETACHED` (and
//!    `CLOSED` if `COMPLETE` is set: the output is there, and it drops it); a completion that
//!    finds `DETACHED` sets `COMPLETE` and `CLOSED` together and drops the output it just wrote.
//!    Otherwise, once `COMPLETE` is set, the handle takes the output and sets `CLOSED`. Both
//!    drops go through [`Body::drop_output`] (tether's reports a panic in the output's
//!    destructor with the task's name), so the cell never frees an output: no user code runs
//!    where the last reference happens to go. The handle keeps its reference after it took the
//!    output (it still names the task) and marks `DELIVERED` then, a flag only it reads.
//! 6. **Unwinding.** Nothing here unwinds through a half-done transition: the future's poll and
//!    drop, and the output's drop, run under a guard that aborts the process if they panic.
//!    tether's poll wrapper (`cell.rs`) catches every panic of the user's code, so the guard only
//!    ever fires on a bug. The schedule function, the awaiter's wake-up and the drops when the
//!    cell is freed (the awaiter's waker, the metadata, the schedule function) are not guarded:
//!    a panic there unwinds after a finished transition and can leak a reference (so the cell),
//!    never free or reuse anything early. A waker taken out of the slot is dropped only after
//!    the taker released its reference, and a replaced one only once the slot holds the new.
//!
//! 7. **The poll count.** `run`'s transition to `RUNNING` adds one to the word's high half in
//!    the same read-modify-write, which costs the poll nothing; it wraps at 2^32 and leaves the
//!    flags and the count alone. Diagnostics read it ([`snapshot_of_meta`]); it keeps 4 bytes
//!    out of the metadata. The reference count keeps 25 bits: more than 2^24 references abort
//!    the process (as a count about to wrap does in `Arc`).
//! 8. **The queue link.** A [`RunnableList`] links the runnables it holds through their
//!    cells' `queue_next`, so that a queue of any length allocates nothing. A task has at most
//!    one runnable (rule 2), which is in at most one list, so its link is read and written only
//!    by whoever holds that list (exclusively: `&mut`), while the list owns the runnable's
//!    reference.
//!
//! The loom models below check the state word's protocol; the slot and the stage are
//! `std::cell::UnsafeCell`s, which loom does not see: Miri's race detector checks those accesses
//! (the unit tests, one of which changes the awaiter while the task completes on another thread).

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::task::waker_id::SlimWaker;

/// The task has a runnable, in a queue or about to be (rule 2).
const SCHEDULED: u64 = 1 << 0;
/// A thread is polling the task's future (rule 2).
const RUNNING: u64 = 1 << 1;
/// The output is in the stage, or was taken (rule 3).
const COMPLETE: u64 = 1 << 2;
/// The future was dropped without an output, or the output was taken or dropped (rules 3, 5).
const CLOSED: u64 = 1 << 3;
/// The awaiter slot holds the `Task` handle's waker (rule 4).
const AWAITER: u64 = 1 << 4;
/// The `Task` handle was dropped (rule 5).
const DETACHED: u64 = 1 << 5;
/// The `Task` handle returned the output, or that there is none (rule 5): written and read by
/// the handle only.
const DELIVERED: u64 = 1 << 6;
/// One reference (rule 1).
const REF_ONE: u64 = 1 << 7;
/// One poll started (rule 7): the poll count is the word's high half, wrapping at 2^32.
const POLL_ONE: u64 = 1 << 32;
/// The reference count's bits: 25, between the flags and the poll count.
const REF_MASK: u64 = (POLL_ONE - 1) & !(REF_ONE - 1);
/// More references than this abort the process (leaked wakers by the tens of millions): half
/// the count's range, so that the count never reaches the poll count's bits.
const REF_LIMIT: u64 = REF_MASK >> 1;

/// What a schedule function is told besides the runnable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScheduleInfo {
    /// The task was woken while it was being polled: the runnable comes straight back from the
    /// poll that just ended (a task that yields, for instance).
    pub(crate) woken_while_running: bool,
}

/// The functions of one kind of task, which know its future and schedule function.
///
/// Each takes the address of the cell (its header), type-erased: the function knows the type.
struct Vtable {
    /// Calls the schedule function with a runnable made of the reference the caller gives up.
    schedule: unsafe fn(NonNull<()>, ScheduleInfo),
    /// Polls the future; when it is ready, drops it and writes the output. True when ready.
    poll: unsafe fn(NonNull<()>, &mut Context<'_>) -> bool,
    /// Drops the future in place.
    drop_future: unsafe fn(NonNull<()>),
    /// The address of the output in the stage.
    output: unsafe fn(NonNull<()>) -> *mut (),
    /// Drops the output in place.
    drop_output: unsafe fn(NonNull<()>),
    /// Drops what the cell still holds and frees it.
    dealloc: unsafe fn(NonNull<()>),
}

/// The start of every task cell.
#[repr(C)]
pub(crate) struct Header<M> {
    state: AtomicU64,
    vtable: &'static Vtable,
    /// The `Task` handle's waker (rule 4), in one word (`SlimWaker`: a task's waker and
    /// tether's own, `block_on`'s and a `JoinSet`'s, without an allocation).
    awaiter: UnsafeCell<Option<SlimWaker>>,
    /// The next runnable in the [`RunnableList`] that holds this task's runnable (rule 8).
    queue_next: UnsafeCell<Option<NonNull<Header<M>>>>,
    meta: M,
}

/// What a task cell runs: a future that is handed its task's metadata at each poll and at its
/// drop, so that it need not keep a pointer to it (8 bytes a task).
pub(crate) trait Body<M> {
    /// What the task gives its handle.
    type Output;

    /// Polls the body, which is pinned in the cell; `meta` is its task's.
    fn poll(self: Pin<&mut Self>, meta: &M, cx: &mut Context<'_>) -> Poll<Self::Output>;

    /// Drops the body in place, in place of `Drop` (the cell never drops a body otherwise):
    /// after it returned `Ready` (`after_ready`), or unfinished (its runnable dropped unrun).
    ///
    /// # Safety
    ///
    /// `this` is the body of the task whose metadata is `meta`, pinned in its cell, not used
    /// again afterwards.
    unsafe fn drop_in_place(this: *mut Self, meta: &M, after_ready: bool);

    /// Drops an output nobody takes (rule 5).
    ///
    /// # Safety
    ///
    /// `output` is the output of the task whose metadata is `meta`, owned by the caller, not
    /// used again afterwards.
    unsafe fn drop_output(output: *mut Self::Output, meta: &M);
}

/// A plain future as a task's body (it has no use for the metadata).
#[cfg(test)]
pub(crate) struct Plain<F>(pub(crate) F);

#[cfg(test)]
impl<M, F: Future> Body<M> for Plain<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, _: &M, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|p| &mut p.0) }.poll(cx)
    }

    unsafe fn drop_in_place(this: *mut Self, _: &M, _: bool) {
        // SAFETY: the caller's contract.
        unsafe { ptr::drop_in_place(this) }
    }

    unsafe fn drop_output(output: *mut F::Output, _: &M) {
        // SAFETY: the caller's contract.
        unsafe { ptr::drop_in_place(output) }
    }
}

/// A whole task cell (see the module docs, "Layout").
#[repr(C)]
struct Cell<M, F: Body<M>, S> {
    header: Header<M>,
    schedule: S,
    stage: UnsafeCell<Stage<F, F::Output>>,
}

/// The future until it is done, then its output (rules 2, 3, 5 say which, and whose).
union Stage<F, T> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<T>,
}

/// Aborts the process if dropped while unwinding: put around code that must not unwind out of a
/// transition (rule 6).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A panic while unwinding aborts the process, with this message.
            panic!("tether: a task's future or output panicked outside its poll wrapper; aborting");
        }
    }
}

/// Runs `f` under [`AbortOnUnwind`].
#[inline(always)]
fn abort_on_unwind<R>(f: impl FnOnce() -> R) -> R {
    let guard = AbortOnUnwind;
    let r = f();
    mem::forget(guard);
    r
}

impl<M> Header<M> {
    /// The header `ptr` points at.
    ///
    /// # Safety
    ///
    /// `ptr` is a reference's pointer (rule 1), so the cell is alive.
    #[inline(always)]
    unsafe fn of<'a>(ptr: NonNull<Header<M>>) -> &'a Header<M> {
        // SAFETY: the caller holds a reference, which keeps the cell alive.
        unsafe { ptr.as_ref() }
    }

    /// The state word of the header `ptr` points at, borrowed alone: the waker's functions
    /// take any task's header as a `Header<()>` (`TASK_WAKER`), and on a target where a `u64`
    /// is 4-aligned a whole `Header<()>` (24 bytes there) reaches past the 20 bytes before a
    /// 4-aligned metadata, so a reference to it would cover the metadata's first bytes.
    ///
    /// # Safety
    ///
    /// As for [`of`](Self::of).
    #[inline(always)]
    unsafe fn state_of<'a>(ptr: NonNull<Header<M>>) -> &'a AtomicU64 {
        // SAFETY: a live header (the caller's contract); a reference to the field only.
        unsafe { &(*ptr.as_ptr()).state }
    }

    /// The vtable of the header `ptr` points at, read without a reference to the header (as
    /// [`state_of`](Self::state_of)).
    ///
    /// # Safety
    ///
    /// As for [`of`](Self::of).
    #[inline(always)]
    unsafe fn vtable_of(ptr: NonNull<Header<M>>) -> &'static Vtable {
        // SAFETY: a live header (the caller's contract); the field is read, never written.
        unsafe { (*ptr.as_ptr()).vtable }
    }

    /// Changes the state word to `f` of it (a compare-and-swap loop, acquire-release); returns
    /// the state it replaced, which is what `f` was given last.
    #[inline]
    fn update(&self, f: impl Fn(u64) -> u64) -> u64 {
        match self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(f(s)))
        {
            Ok(old) | Err(old) => old,
        }
    }
}

/// The waker vtable of every task, whatever its metadata and future: a `static`, so it has one
/// address, by which [`is_task_waker`] tells a task's waker from any other (a `const` may be
/// copied to as many addresses as there are uses). Its functions read only the header's state
/// word and vtable, the first two fields of every `Header<M>` (`repr(C)`): they take a task's
/// header as a `Header<()>`, whose first fields are at the same offsets, and borrow those two
/// fields alone (`Header::state_of`, `Header::vtable_of`), never the whole header.
static TASK_WAKER: RawWakerVTable = RawWakerVTable::new(
    waker_clone::<()>,
    waker_wake::<()>,
    waker_wake_by_ref::<()>,
    waker_drop::<()>,
);

/// Whether `waker` is a task's waker (made here), which exactly identifies its task by its data
/// pointer: two task wakers with the same data wake the same task while either is alive.
#[inline]
pub(crate) fn is_task_waker(waker: &Waker) -> bool {
    ptr::eq(waker.vtable(), &TASK_WAKER)
}

/// Releases one reference to the task at `ptr`; frees the cell if it was the last (rule 1).
///
/// # Safety
///
/// The caller owns one reference, which it gives up.
#[inline]
unsafe fn drop_ref<M>(ptr: NonNull<Header<M>>) {
    // SAFETY: the caller's reference keeps the cell alive until the decrement.
    let old = unsafe { Header::state_of(ptr) }.fetch_sub(REF_ONE, Ordering::AcqRel);
    if old & REF_MASK == REF_ONE {
        // SAFETY: that was the last reference: nobody else can reach the cell, which is alive
        // until its `dealloc`.
        unsafe { (Header::vtable_of(ptr).dealloc)(ptr.cast()) };
    }
}

/// Takes one more reference to the task at `ptr`.
///
/// # Safety
///
/// The caller holds a reference (or otherwise keeps the cell alive).
#[inline]
unsafe fn add_ref<M>(ptr: NonNull<Header<M>>) {
    // SAFETY: the cell is alive (the caller's contract).
    let state = unsafe { Header::state_of(ptr) };
    // Relaxed: a new reference is made from an existing one, which already orders the cell's
    // contents for this thread (as `Arc::clone`).
    let old = state.fetch_add(REF_ONE, Ordering::Relaxed);
    if old & REF_MASK > REF_LIMIT {
        // Leaked wakers by the tens of millions: the count would run into the poll count.
        std::process::abort();
    }
}

/// The task waker whose data is `data`: the inverse of taking a task waker's data pointer
/// while forgetting the waker.
///
/// # Safety
///
/// `data` is the data of a task waker (`is_task_waker`) that was forgotten, whose reference
/// the new waker takes over; at most one waker that is dropped is made from each such
/// forgotten one (others may be made for a `wake_by_ref`, and must never be dropped).
#[inline]
pub(crate) unsafe fn task_waker_from_data(data: NonNull<()>) -> Waker {
    // SAFETY: the data and the vtable are a task waker's, and its reference is the caller's.
    unsafe { Waker::from_raw(raw_waker(data.cast::<Header<()>>())) }
}

/// A waker made of one reference to the task at `ptr`.
#[inline]
fn raw_waker<M>(ptr: NonNull<Header<M>>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &TASK_WAKER)
}

// The waker vtable's functions, instantiated with `M = ()` only (`TASK_WAKER`). Safety (each):
// `data` is the header of a live task cell, for which the waker holds one reference (released
// by `wake` and `drop`). Whatever the cell's metadata, `Header<M>` is `repr(C)` with the state
// word and the vtable first, so they are at the same offsets in a `Header<()>`, and these
// functions touch nothing else, through references to those fields alone (the vtable's
// functions know the rest of the cell).

unsafe fn waker_clone<M>(data: *const ()) -> RawWaker {
    // SAFETY: a waker's data is a non-null pointer to a live cell; the waker being cloned holds
    // a reference.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header<M>) };
    // SAFETY: as above.
    unsafe { add_ref(ptr) };
    raw_waker(ptr)
}

unsafe fn waker_wake<M>(data: *const ()) {
    // SAFETY: as in `waker_clone`; this waker's reference is given up here.
    unsafe { wake(NonNull::new_unchecked(data as *mut Header<M>)) }
}

unsafe fn waker_wake_by_ref<M>(data: *const ()) {
    // SAFETY: as in `waker_clone`; the waker keeps its reference.
    unsafe { wake_by_ref(NonNull::new_unchecked(data as *mut Header<M>)) }
}

unsafe fn waker_drop<M>(data: *const ()) {
    // SAFETY: as in `waker_clone`; the waker's reference is released.
    unsafe { drop_ref(NonNull::new_unchecked(data as *mut Header<M>)) }
}

/// Wakes the task at `ptr`, consuming one reference (rule 2).
///
/// # Safety
///
/// The caller owns one reference, which it gives up.
unsafe fn wake<M>(ptr: NonNull<Header<M>>) {
    // SAFETY: the caller's contract.
    unsafe { wake_inner::<M, true>(ptr) }
}

/// Wakes the task at `ptr` without consuming a reference (rule 2).
///
/// # Safety
///
/// The caller holds a reference (or otherwise keeps the cell alive).
unsafe fn wake_by_ref<M>(ptr: NonNull<Header<M>>) {
    // SAFETY: the caller's contract.
    unsafe { wake_inner::<M, false>(ptr) }
}

/// A wake-up (rule 2). With `CONSUME`, the caller's reference is given up: released, or, if
/// the task was idle, made the new runnable's; without it, an idle task's runnable takes a new
/// reference.
///
/// # Safety
///
/// The caller holds a reference, which it gives up with `CONSUME`.
#[inline]
unsafe fn wake_inner<M, const CONSUME: bool>(ptr: NonNull<Header<M>>) {
    // SAFETY: the caller's reference keeps the cell alive. The state word and the vtable
    // alone: this runs with `M = ()` for every task (`TASK_WAKER`, `Header::state_of`).
    let word = unsafe { Header::state_of(ptr) };
    let mut state = word.load(Ordering::Acquire);
    loop {
        if state & (COMPLETE | CLOSED) != 0 {
            // Nothing to do: it never runs again.
            if CONSUME {
                // SAFETY: our reference, given up.
                unsafe { drop_ref(ptr) };
            }
            return;
        }
        let new = if state & SCHEDULED != 0 {
            // It will run: the word is written anyway, from the state we saw (back unchanged,
            // or one reference less, which is not the last: the runnable holds one), for the
            // next poll's read-modify-write to synchronize with (rule 2).
            if CONSUME {
                state - REF_ONE
            } else {
                state
            }
        } else if state & RUNNING != 0 || CONSUME {
            // Running: `run` reschedules it with its own reference. Idle and `CONSUME`: our
            // reference becomes the runnable's.
            state | SCHEDULED
        } else {
            // Idle: the new runnable takes a new reference.
            (state | SCHEDULED) + REF_ONE
        };
        match word.compare_exchange_weak(state, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) if state & SCHEDULED != 0 => return,
            Ok(_) if state & RUNNING != 0 => {
                if CONSUME {
                    // SAFETY: our reference, given up (`run` reschedules the task with its
                    // own).
                    unsafe { drop_ref(ptr) };
                }
                return;
            }
            Ok(_) => {
                if !CONSUME && state & REF_MASK > REF_LIMIT {
                    std::process::abort();
                }
                let info = ScheduleInfo {
                    woken_while_running: false,
                };
                // SAFETY: `SCHEDULED` was set by us, and the runnable's reference is ours
                // (`CONSUME`) or was added by us.
                return unsafe { (Header::vtable_of(ptr).schedule)(ptr.cast(), info) };
            }
            Err(actual) => state = actual,
        }
    }
}

/// The right to poll a task once (rule 2), handed to its schedule function.
///
/// Running it polls the future; dropping it without running drops the future and closes the
/// task (its handle then gives `None`).
pub(crate) struct Runnable<M> {
    ptr: NonNull<Header<M>>,
}

// SAFETY: a runnable is only a pointer; whether it may be run or dropped on another thread is
// the spawner's obligation (`spawn_unchecked`), as with async-task's. The metadata is shared.
unsafe impl<M: Send + Sync> Send for Runnable<M> {}
// SAFETY: `&Runnable` only reads the metadata.
unsafe impl<M: Send + Sync> Sync for Runnable<M> {}

impl<M> Runnable<M> {
    /// The task's metadata.
    #[inline(always)]
    pub(crate) fn metadata(&self) -> &M {
        // SAFETY: the runnable holds a reference; the metadata lives as long as the cell and is
        // only ever read through shared references.
        unsafe { &Header::of(self.ptr).meta }
    }

    /// The address of the task's metadata, with which [`waker_of_meta`] can reach the task
    /// later (a pointer valid for the whole cell, not only the metadata).
    #[inline(always)]
    pub(crate) fn metadata_ptr(&self) -> NonNull<M> {
        // SAFETY: a raw projection of a live cell's header; no reference is made.
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.ptr.as_ptr()).meta)) }
    }

    /// Hands the runnable to the task's schedule function.
    #[inline]
    pub(crate) fn schedule(self) {
        let ptr = ManuallyDrop::new(self).ptr;
        let info = ScheduleInfo {
            woken_while_running: false,
        };
        // SAFETY: the runnable's reference goes with it.
        unsafe { (Header::of(ptr).vtable.schedule)(ptr.cast(), info) };
    }

    /// Polls the task's future once. Returns true when the task was woken during the poll and
    /// has been handed back to its schedule function.
    pub(crate) fn run(self) -> bool {
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: the runnable's reference keeps the cell alive until it is released below.
        let header = unsafe { Header::of(ptr) };
        // Rule 2: the runnable exists, so `SCHEDULED` is set and `RUNNING` is clear: adding
        // `RUNNING - SCHEDULED` swaps one for the other, and the same addition counts the poll
        // (rule 7).
        let old = header
            .state
            .fetch_add(RUNNING - SCHEDULED + POLL_ONE, Ordering::AcqRel);
        debug_assert_eq!(
            old & (SCHEDULED | RUNNING | COMPLETE | CLOSED),
            SCHEDULED,
            "tether: a task was run in a state that has no runnable"
        );
        // A borrowed waker: the runnable's reference stands for it during the poll.
        // SAFETY: the data and vtable are a task waker's; `ManuallyDrop`: never dropped, so it
        // releases no reference.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
        let mut cx = Context::from_waker(&waker);
        // SAFETY: `RUNNING` is ours: the stage holds the future and only we touch it.
        let ready = abort_on_unwind(|| unsafe { (header.vtable.poll)(ptr.cast(), &mut cx) });
        if ready {
            // Rule 3; the future's reference goes with it (rule 1); with the handle gone, the
            // output is ours to drop (rule 5).
            let state = header.update(|state| {
                let mut new = ((state & !(RUNNING | SCHEDULED)) | COMPLETE) - REF_ONE;
                if state & DETACHED != 0 {
                    new |= CLOSED;
                }
                new
            });
            let mut leftover = None;
            if state & DETACHED != 0 {
                // SAFETY: rule 5: complete and closed by us with the handle gone: the output
                // is ours alone; the runnable's reference keeps the cell.
                abort_on_unwind(|| unsafe { (header.vtable.drop_output)(ptr.cast()) });
            } else if state & AWAITER != 0 {
                // Rule 4: with `AWAITER` seen set by our transition, the handle no longer
                // writes the slot.
                leftover = notify_awaiter(header);
            }
            // SAFETY: the runnable's reference, released.
            unsafe { drop_ref(ptr) };
            // A waker's destructor is user code: after the cell is settled.
            drop(leftover);
            return false;
        }
        let state = header.update(|state| state & !RUNNING);
        if state & SCHEDULED != 0 {
            let info = ScheduleInfo {
                woken_while_running: true,
            };
            // SAFETY: woken while running: the runnable's reference goes back to the
            // schedule function with `SCHEDULED`, which the waker set.
            unsafe { (header.vtable.schedule)(ptr.cast(), info) };
            true
        } else {
            // SAFETY: the runnable's reference, released.
            unsafe { drop_ref(ptr) };
            false
        }
    }
}

/// Runnables in first-in, first-out order, linked through their cells (rule 8): pushing and
/// popping allocate nothing, whatever the length. Dropping the list drops the runnables it
/// still holds (which cancels their tasks, as dropping a runnable does).
pub(crate) struct RunnableList<M> {
    head: Option<NonNull<Header<M>>>,
    tail: Option<NonNull<Header<M>>>,
    len: usize,
}

// SAFETY: the list owns the runnables it holds; sending it sends them (`Runnable: Send`).
unsafe impl<M: Send + Sync> Send for RunnableList<M> {}

impl<M> RunnableList<M> {
    /// An empty list.
    pub(crate) const fn new() -> RunnableList<M> {
        RunnableList {
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// How many runnables the list holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no runnable.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Adds `task` at the back; the list keeps its reference.
    #[inline]
    pub(crate) fn push_back(&mut self, task: Runnable<M>) {
        let ptr = ManuallyDrop::new(task).ptr;
        // SAFETY: the runnable's reference, now the list's, keeps the cell alive; its link is
        // only the list's to touch (rule 8), and `&mut self` makes that exclusive.
        unsafe { *Header::of(ptr).queue_next.get() = None };
        match self.tail {
            // SAFETY: the tail is a runnable this list holds (rule 8), as above.
            Some(tail) => unsafe { *Header::of(tail).queue_next.get() = Some(ptr) },
            None => self.head = Some(ptr),
        }
        self.tail = Some(ptr);
        self.len += 1;
    }

    /// Takes the runnable at the front.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Runnable<M>> {
        let ptr = self.head?;
        // SAFETY: the head is a runnable this list holds (rule 8): alive, its link the list's.
        self.head = unsafe { (*Header::of(ptr).queue_next.get()).take() };
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        // The list's reference goes to the runnable.
        Some(Runnable { ptr })
    }
}

impl<M> Extend<Runnable<M>> for RunnableList<M> {
    fn extend<I: IntoIterator<Item = Runnable<M>>>(&mut self, tasks: I) {
        for task in tasks {
            self.push_back(task);
        }
    }
}

impl<M> Default for RunnableList<M> {
    fn default() -> RunnableList<M> {
        RunnableList::new()
    }
}

impl<M> Drop for RunnableList<M> {
    fn drop(&mut self) {
        while let Some(task) = self.pop_front() {
            drop(task);
        }
    }
}

impl<M> Drop for Runnable<M> {
    /// Rule 3: a runnable dropped without running drops the future and closes the task.
    fn drop(&mut self) {
        let ptr = self.ptr;
        // SAFETY: the runnable's reference keeps the cell alive until it is released below.
        let header = unsafe { Header::of(ptr) };
        // SAFETY: the runnable is ours, so the stage holds the future and only we touch it.
        abort_on_unwind(|| unsafe { (header.vtable.drop_future)(ptr.cast()) });
        // The future's reference goes with it (rule 1).
        let state = header.update(|state| ((state & !SCHEDULED) | CLOSED) - REF_ONE);
        let leftover = if state & AWAITER != 0 {
            notify_awaiter(header)
        } else {
            None
        };
        // SAFETY: the runnable's reference, released.
        unsafe { drop_ref(ptr) };
        drop(leftover);
    }
}

/// Wakes the awaiter's waker by reference, then gives the slot back (rule 4): clears
/// `AWAITER`, and if the handle was dropped meanwhile (`DETACHED`, which then left the slot to
/// us), returns the waker for the caller to drop once it is done with the cell.
///
/// Only called by the side whose transition to `COMPLETE` or `CLOSED` saw `AWAITER` set (rule
/// 4), so the handle does not write the slot any more.
fn notify_awaiter<M>(header: &Header<M>) -> Option<SlimWaker> {
    // SAFETY: rule 4: the handle does not write the slot while `AWAITER` is set.
    if let Some(waker) = unsafe { &*header.awaiter.get() } {
        waker.wake_by_ref();
    }
    let old = header.state.fetch_and(!AWAITER, Ordering::AcqRel);
    if old & DETACHED != 0 {
        // SAFETY: the handle's drop saw `AWAITER` set on a finished task and left the slot
        // alone; nobody else touches it.
        unsafe { (*header.awaiter.get()).take() }
    } else {
        None
    }
}

/// The owned handle to a task's output (rule 5). Dropping it detaches the task: it keeps
/// running, and its output is dropped when it completes.
pub(crate) struct Task<T, M> {
    ptr: NonNull<Header<M>>,
    _output: PhantomData<T>,
}

// SAFETY: the handle moves the output (`T: Send`) to its own thread and shares the metadata.
unsafe impl<T: Send, M: Send + Sync> Send for Task<T, M> {}
// SAFETY: `&Task` only reads the state word and the metadata.
unsafe impl<T, M: Send + Sync> Sync for Task<T, M> {}

impl<T, M> Task<T, M> {
    /// The task's metadata.
    #[inline(always)]
    pub(crate) fn metadata(&self) -> &M {
        // SAFETY: the handle holds a reference; the metadata is only read.
        unsafe { &Header::of(self.ptr).meta }
    }

    /// Whether the task completed or was closed: polling the handle gives `Ready` at once.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        // SAFETY: the handle holds a reference.
        let state = unsafe { Header::of(self.ptr) }
            .state
            .load(Ordering::Acquire);
        state & (COMPLETE | CLOSED) != 0
    }

    /// Whether [`mark_delivered`](Self::mark_delivered) was called (rule 5).
    #[inline]
    pub(crate) fn is_delivered(&self) -> bool {
        // SAFETY: the handle holds a reference.
        let state = unsafe { Header::of(self.ptr) }
            .state
            .load(Ordering::Relaxed);
        state & DELIVERED != 0
    }

    /// Marks the output (or its absence) as returned by the handle's owner (rule 5). Relaxed:
    /// only this handle reads the flag.
    #[inline]
    pub(crate) fn mark_delivered(&self) {
        // SAFETY: the handle holds a reference.
        unsafe { Header::of(self.ptr) }
            .state
            .fetch_or(DELIVERED, Ordering::Relaxed);
    }

    /// Wakes the task (rule 2), as one of its wakers would.
    #[inline]
    pub(crate) fn wake_by_ref(&self) {
        // SAFETY: the handle holds a reference.
        unsafe { wake_by_ref(self.ptr) }
    }

    /// A new waker of the task.
    #[inline]
    pub(crate) fn waker(&self) -> Waker {
        // SAFETY: the handle holds a reference, so the cell is alive; the new reference is the
        // waker's.
        unsafe {
            add_ref(self.ptr);
            Waker::from_raw(raw_waker(self.ptr))
        }
    }
}

// The output is never pinned in the handle: it is moved out whole.
impl<T, M> Unpin for Task<T, M> {}

impl<T, M> Future for Task<T, M> {
    /// `None` when the task was closed without an output (its runnable dropped unrun), or when
    /// the output was already taken.
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let ptr = self.ptr;
        // SAFETY: the handle holds a reference.
        let header = unsafe { Header::of(ptr) };
        let mut state = header.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Poll::Ready(None);
            }
            if state & COMPLETE != 0 {
                // Rule 5: the output is ours; mark it taken, then move it out.
                header.state.fetch_or(CLOSED, Ordering::AcqRel);
                // SAFETY: `COMPLETE` (acquire) says the output was written, and `CLOSED`, now
                // set by us, says nobody else will read or drop it.
                let out = unsafe { ptr::read((header.vtable.output)(ptr.cast()) as *mut T) };
                return Poll::Ready(Some(out));
            }
            if state & AWAITER == 0 {
                // Rule 4: the slot is ours while `AWAITER` is clear.
                // The old waker is dropped (user code) once the slot holds the new one.
                let new = SlimWaker::new(cx.waker().clone());
                // SAFETY: as just said; the completing side reads it only after seeing
                // `AWAITER`, which we set below, after this write (release).
                let old = unsafe { (*header.awaiter.get()).replace(new) };
                drop(old);
                match header.state.compare_exchange(
                    state,
                    state | AWAITER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Poll::Pending,
                    // Completed, closed, or only the count moved: look again. The waker stays
                    // in the slot, still ours.
                    Err(actual) => state = actual,
                }
            } else {
                // SAFETY: rule 4: nobody writes the slot while `AWAITER` is set; the completing
                // side may read it at the same time, which is fine.
                let same = unsafe { &*header.awaiter.get() }
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()));
                if same {
                    return Poll::Pending;
                }
                match header.state.compare_exchange(
                    state,
                    state & !AWAITER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // The slot is ours again: the next turn writes the new waker.
                    Ok(_) => state &= !AWAITER,
                    Err(actual) => state = actual,
                }
            }
        }
    }
}

impl<T, M> Drop for Task<T, M> {
    fn drop(&mut self) {
        let ptr = self.ptr;
        // SAFETY: the handle holds a reference until the end of this function.
        let header = unsafe { Header::of(ptr) };
        // Rule 5: an output that is there and not taken is the handle's to drop; one still to
        // come is the completing side's. Rule 4: before the task finishes, the handle takes its
        // waker back (`AWAITER` cleared), or a waker left in the slot would keep the awaiting
        // task alive, and two tasks that await each other would keep each other forever.
        let state = header.update(|state| {
            let mut new = state | DETACHED;
            match state & (COMPLETE | CLOSED) {
                COMPLETE => new |= CLOSED,
                0 => new &= !AWAITER,
                _ => {}
            }
            new
        });
        if state & (COMPLETE | CLOSED) == COMPLETE {
            // SAFETY: complete and now closed by us: the output is ours alone.
            abort_on_unwind(|| unsafe { (header.vtable.drop_output)(ptr.cast()) });
        }
        let leftover = if state & (COMPLETE | CLOSED) == 0 || state & AWAITER == 0 {
            // Rule 4: `AWAITER` is clear (we cleared it before the task finished, or the
            // finishing side gave the slot back), so the finishing side does not touch the slot.
            // SAFETY: as just said, the slot is ours.
            unsafe { (*header.awaiter.get()).take() }
        } else {
            // The finishing side is waking it; it takes it (`notify_awaiter`).
            None
        };
        // SAFETY: the handle's reference, released.
        unsafe { drop_ref(ptr) };
        // A waker's destructor is user code: after the cell is settled.
        drop(leftover);
    }
}

impl<M, F, S> Cell<M, F, S>
where
    F: Body<M>,
    S: Fn(Runnable<M>, ScheduleInfo),
{
    const VTABLE: Vtable = Vtable {
        schedule: Self::schedule,
        poll: Self::poll,
        drop_future: Self::drop_future,
        output: Self::output,
        drop_output: Self::drop_output,
        dealloc: Self::dealloc,
    };

    /// The stage of the cell at `ptr`.
    #[inline(always)]
    fn stage(ptr: NonNull<()>) -> *mut Stage<F, F::Output> {
        let cell = ptr.as_ptr() as *mut Self;
        // SAFETY: every task pointer is the address of a whole `Cell` (module docs, "Layout");
        // a raw projection, no reference made.
        unsafe { UnsafeCell::raw_get(ptr::addr_of!((*cell).stage)) }
    }

    // The `Vtable`'s functions. Safety (each): `ptr` is the address of a live `Cell<M, F, S>`,
    // for which the caller holds a reference, and the rule the function's `Vtable` entry names
    // holds (the stage's owner polls or drops the future; the output's owner drops it; the
    // last reference frees the cell).

    unsafe fn schedule(ptr: NonNull<()>, info: ScheduleInfo) {
        let cell = ptr.as_ptr() as *const Self;
        let ptr = ptr.cast::<Header<M>>();
        // A schedule function with state lives in the cell, which the runnable may free while
        // the function still runs (on another thread): hold a reference of our own meanwhile.
        let keep = mem::size_of::<S>() != 0;
        if keep {
            // SAFETY: the caller's reference (the runnable's) keeps the cell alive.
            unsafe { add_ref(ptr) };
        }
        // SAFETY: as above; the reference becomes the runnable.
        let schedule = unsafe { &(*cell).schedule };
        schedule(Runnable { ptr }, info);
        if keep {
            // SAFETY: the reference taken above.
            unsafe { drop_ref(ptr) };
        }
    }

    /// The metadata of the cell at `ptr`.
    ///
    /// # Safety
    ///
    /// The cell is alive for `'a`.
    #[inline(always)]
    unsafe fn meta<'a>(ptr: NonNull<()>) -> &'a M {
        // SAFETY: the caller's contract; the metadata is only ever shared.
        unsafe { &(*(ptr.as_ptr() as *const Self)).header.meta }
    }

    unsafe fn poll(ptr: NonNull<()>, cx: &mut Context<'_>) -> bool {
        let stage = Self::stage(ptr);
        // SAFETY: the caller holds `RUNNING` (and a reference): the stage holds the future,
        // which is pinned in the cell (never moved) and only we touch it (rule 2).
        let (future, meta) =
            unsafe { (Pin::new_unchecked(&mut *(*stage).future), Self::meta(ptr)) };
        match Body::poll(future, meta, cx) {
            Poll::Pending => false,
            Poll::Ready(output) => {
                // SAFETY: as above; the future is dropped once, then the output takes its place.
                unsafe {
                    // `ManuallyDrop` is `repr(transparent)`.
                    F::drop_in_place(ptr::addr_of_mut!((*stage).future).cast::<F>(), meta, true);
                    ptr::addr_of_mut!((*stage).output).write(ManuallyDrop::new(output));
                }
                true
            }
        }
    }

    unsafe fn drop_future(ptr: NonNull<()>) {
        // SAFETY: the caller owns the stage, which holds the future (rule 2), and a reference.
        unsafe {
            F::drop_in_place(
                ptr::addr_of_mut!((*Self::stage(ptr)).future).cast::<F>(),
                Self::meta(ptr),
                false,
            )
        }
    }

    unsafe fn output(ptr: NonNull<()>) -> *mut () {
        // SAFETY: a raw projection of the stage.
        unsafe { ptr::addr_of_mut!((*Self::stage(ptr)).output) as *mut () }
    }

    unsafe fn drop_output(ptr: NonNull<()>) {
        // SAFETY: the caller owns the output (rule 5) and holds a reference; `ManuallyDrop` is
        // `repr(transparent)`.
        unsafe {
            F::drop_output(
                ptr::addr_of_mut!((*Self::stage(ptr)).output).cast::<F::Output>(),
                Self::meta(ptr),
            )
        }
    }

    unsafe fn dealloc(ptr: NonNull<()>) {
        let cell = ptr.as_ptr() as *mut Self;
        // SAFETY: the last reference is gone (the caller's contract, `drop_ref`): we have the
        // cell to ourselves; its acquire decrement ordered every other access before this.
        unsafe {
            // Rules 1 and 5: the future and the output are gone by now.
            debug_assert_eq!(
                (*cell).header.state.load(Ordering::Relaxed) & CLOSED,
                CLOSED,
                "tether: a task cell was freed with its future or output"
            );
            ptr::drop_in_place(ptr::addr_of_mut!((*cell).header.awaiter));
            ptr::drop_in_place(ptr::addr_of_mut!((*cell).header.meta));
            ptr::drop_in_place(ptr::addr_of_mut!((*cell).schedule));
            alloc::dealloc(cell as *mut u8, Layout::new::<Self>());
        }
    }
}

/// Creates a task: metadata `meta`, the body `build` makes, and the schedule function
/// `schedule`. Returns its runnable (not yet scheduled) and its handle.
///
/// # Safety
///
/// - If `F` is not `Send`, the runnable must only be run and dropped on the thread that spawned
///   it: `schedule` must not run or drop it when called on another thread.
/// - `schedule` is called on the thread of whichever waker wakes the task, and dropped, with the
///   metadata, wherever the last reference goes: unless every waker stays on this thread, `S`
///   and `M` must be `Send + Sync` in effect (tether's schedule functions and `TaskMeta` are).
/// - If `F` or `S` borrow anything, the task's future must be dropped (run to completion, or its
///   runnable dropped) before those borrows end.
/// - A task whose future waits with no waker anywhere is only reachable through its metadata
///   ([`waker_of_meta`]); the caller keeps track of it (or it is never freed).
pub(crate) unsafe fn spawn_unchecked<M, F, B, S>(
    meta: M,
    build: B,
    schedule: S,
) -> (Runnable<M>, Task<F::Output, M>)
where
    B: FnOnce() -> F,
    F: Body<M>,
    S: Fn(Runnable<M>, ScheduleInfo),
{
    let layout = Layout::new::<Cell<M, F, S>>();
    // SAFETY: a `Cell` has a header, so its size is not zero.
    let cell = unsafe { alloc::alloc(layout) } as *mut Cell<M, F, S>;
    if cell.is_null() {
        alloc::handle_alloc_error(layout);
    }
    // SAFETY: `cell` is a fresh allocation for a `Cell`; fields are written in place through raw
    // projections before any reference to them exists.
    unsafe {
        ptr::addr_of_mut!((*cell).header).write(Header {
            // Rule 1: the runnable, the handle, and the future.
            state: AtomicU64::new(SCHEDULED | (3 * REF_ONE)),
            vtable: &Cell::<M, F, S>::VTABLE,
            awaiter: UnsafeCell::new(None),
            queue_next: UnsafeCell::new(None),
            meta,
        });
        ptr::addr_of_mut!((*cell).schedule).write(schedule);
        // A panic here would leave the cell without a future: not allowed (tether's builders
        // only move a future into place).
        let future = abort_on_unwind(build);
        ptr::addr_of_mut!((*cell).stage).write(UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }));
    }
    // SAFETY: `alloc` gave a non-null pointer (checked).
    let ptr = unsafe { NonNull::new_unchecked(cell as *mut Header<M>) };
    (
        Runnable { ptr },
        Task {
            ptr,
            _output: PhantomData,
        },
    )
}

/// The address of the header of the task whose metadata is at `meta`.
#[inline(always)]
fn header_of<M>(meta: NonNull<M>) -> NonNull<Header<M>> {
    // SAFETY: `meta` is a task's metadata field, `offset_of!` bytes into its header; the
    // pointer keeps the provenance of the whole cell (the caller's contract below).
    unsafe { meta.byte_sub(mem::offset_of!(Header<M>, meta)).cast() }
}

/// A new waker (a reference of its own) of the task whose metadata is at `meta`.
///
/// # Safety
///
/// `meta` was given by [`Runnable::metadata_ptr`] (or a copy of it) of a task whose cell is
/// alive (for tether's registry: the task is still listed, so its future, which holds a
/// reference, is alive).
#[inline]
pub(crate) unsafe fn waker_of_meta<M>(meta: NonNull<M>) -> Waker {
    let ptr = header_of(meta);
    // SAFETY: the cell is alive (the caller's contract); the new reference is the waker's.
    unsafe {
        add_ref(ptr);
        Waker::from_raw(raw_waker(ptr))
    }
}

/// What the state word says of a task, for diagnostics (rule 7).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    /// Polls started, wrapping at 2^32.
    pub(crate) polls: u32,
    /// The task waits in a run queue: scheduled and not running.
    pub(crate) queued: bool,
}

/// The state word of the task whose metadata is at `meta`, read once (relaxed: a snapshot for
/// diagnostics, which orders nothing).
///
/// # Safety
///
/// As for [`waker_of_meta`]: `meta` was given by [`Runnable::metadata_ptr`] of a task whose
/// cell is alive.
#[inline]
pub(crate) unsafe fn snapshot_of_meta<M>(meta: NonNull<M>) -> Snapshot {
    // SAFETY: the cell is alive (the caller's contract).
    let state = unsafe { Header::of(header_of(meta)) }
        .state
        .load(Ordering::Relaxed);
    Snapshot {
        polls: (state / POLL_ONE) as u32,
        queued: state & (SCHEDULED | RUNNING) == SCHEDULED,
    }
}

/// Whether the task of `waker` completed or was closed (as [`Task::is_finished`]).
///
/// # Safety
///
/// `waker` is a waker of a task cell (made here); it keeps the cell alive.
#[inline]
pub(crate) unsafe fn waker_is_finished(waker: &Waker) -> bool {
    // SAFETY: a task waker's data is its cell's header, whose first field is the state word
    // (`repr(C)`); the waker's reference keeps it alive.
    let state = unsafe { &*(waker.data() as *const AtomicU64) };
    state.load(Ordering::Acquire) & (COMPLETE | CLOSED) != 0
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::Wake;

    use super::*;

    type Queue = Rc<RefCell<VecDeque<(Runnable<u32>, bool)>>>;

    /// Spawns `fut` with a schedule function that queues the runnable (a schedule function with
    /// state: the cell holds a reference while calling it).
    fn spawn<F: Future>(fut: F, queue: &Queue) -> (Runnable<u32>, Task<F::Output, u32>) {
        let fut = Plain(fut);
        let q = queue.clone();
        // SAFETY: the runnables are run and dropped on this thread; nothing is borrowed.
        unsafe {
            spawn_unchecked(
                7,
                move || fut,
                move |r, info: ScheduleInfo| {
                    q.borrow_mut().push_back((r, info.woken_while_running));
                },
            )
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts its drops.
    struct Dropped(Arc<AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T>(task: &mut Task<T, u32>, waker: &Waker) -> Poll<Option<T>> {
        Pin::new(task).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_task_runs_completes_and_hands_its_output_to_its_awaiter() {
        let queue = Queue::default();
        let (runnable, mut task) = spawn(async { 42 }, &queue);
        assert_eq!(*runnable.metadata(), 7);
        assert_eq!(*task.metadata(), 7);
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        assert!(poll(&mut task, &waker).is_pending());
        runnable.schedule();
        let (runnable, woken) = queue.borrow_mut().pop_front().unwrap();
        assert!(!woken);
        assert!(!task.is_finished());
        assert!(!runnable.run());
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the awaiter is woken");
        assert!(task.is_finished());
        assert_eq!(poll(&mut task, &waker), Poll::Ready(Some(42)));
        // Polled again after it gave its output: nothing left.
        assert_eq!(poll(&mut task, &waker), Poll::Ready(None));
        drop(task);
    }

    /// Also rule 7: each run counts one poll in the state word, and the snapshot tells a
    /// queued task from a finished one, neither disturbing the reference count.
    #[test]
    fn a_task_woken_while_running_is_handed_back_once_the_poll_ends() {
        let queue = Queue::default();
        let mut polls = 0;
        let fut = std::future::poll_fn(move |cx| {
            polls += 1;
            if polls < 3 {
                // Twice in one poll: still one runnable.
                cx.waker().wake_by_ref();
                let clone = cx.waker().clone();
                clone.wake();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        let (runnable, mut task) = spawn(fut, &queue);
        let meta = runnable.metadata_ptr();
        // SAFETY: the task's handle keeps the cell alive throughout.
        let snap = || unsafe { snapshot_of_meta(meta) };
        assert_eq!((snap().polls, snap().queued), (0, true), "spawned: queued");
        assert!(runnable.run(), "woken while running");
        assert_eq!(
            (snap().polls, snap().queued),
            (1, true),
            "woken in its poll"
        );
        let (runnable, woken) = queue.borrow_mut().pop_front().unwrap();
        assert!(woken);
        assert!(queue.borrow().is_empty());
        assert!(runnable.run());
        let (runnable, _) = queue.borrow_mut().pop_front().unwrap();
        assert!(!runnable.run());
        assert!(queue.borrow().is_empty());
        assert_eq!((snap().polls, snap().queued), (3, false), "complete");
        assert_eq!(poll(&mut task, Waker::noop()), Poll::Ready(Some(3)));
        // SAFETY: as above: the handle is still here.
        let word = unsafe { Header::of(header_of(meta)) }
            .state
            .load(Ordering::Relaxed);
        assert_eq!(
            word & REF_MASK,
            REF_ONE,
            "only the handle's reference is left"
        );
    }

    #[test]
    fn a_wake_up_schedules_an_idle_task_once_and_a_finished_task_never() {
        let queue = Queue::default();
        let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
        let s = slot.clone();
        let mut done = false;
        let fut = std::future::poll_fn(move |cx| {
            if done {
                return Poll::Ready(());
            }
            done = true;
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        let (runnable, mut task) = spawn(fut, &queue);
        assert!(!runnable.run());
        assert!(queue.borrow().is_empty());
        let waker = slot.borrow_mut().take().unwrap();
        waker.wake_by_ref();
        waker.wake_by_ref();
        assert_eq!(queue.borrow().len(), 1, "one runnable per task");
        let (runnable, _) = queue.borrow_mut().pop_front().unwrap();
        assert!(!runnable.run());
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake();
        assert!(
            queue.borrow().is_empty(),
            "a finished task is not scheduled"
        );
        assert_eq!(poll(&mut task, Waker::noop()), Poll::Ready(Some(())));
        drop(task);
        // The last reference is a waker's.
        drop(waker);
    }

    #[test]
    fn a_runnable_dropped_unrun_drops_the_future_and_closes_the_task() {
        let queue = Queue::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = Dropped(dropped.clone());
        let (runnable, mut task) = spawn(
            async move {
                let _guard = guard;
                1
            },
            &queue,
        );
        let count = Arc::new(Count::default());
        assert!(poll(&mut task, &Waker::from(count.clone())).is_pending());
        drop(runnable);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the awaiter is woken");
        assert!(task.is_finished());
        assert_eq!(poll(&mut task, Waker::noop()), Poll::Ready(None));
        // A wake-up of a closed task does nothing.
        task.wake_by_ref();
        assert!(queue.borrow().is_empty());
        drop(task);
    }

    #[test]
    fn an_output_nobody_takes_is_dropped_once_by_the_handle_or_the_last_reference() {
        // The handle dropped after completion drops the output.
        let queue = Queue::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let out = Dropped(dropped.clone());
        let (runnable, task) = spawn(async move { out }, &queue);
        assert!(!runnable.run());
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(task);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);

        // The handle dropped before completion: the last reference drops it.
        let dropped = Arc::new(AtomicUsize::new(0));
        let out = Dropped(dropped.clone());
        let (runnable, task) = spawn(async move { out }, &queue);
        drop(task);
        // The runnable's is the last reference: the cell goes, with the output.
        assert!(!runnable.run());
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_new_awaiter_replaces_the_old_one() {
        let queue = Queue::default();
        let (runnable, mut task) = spawn(async { 5 }, &queue);
        let first = Arc::new(Count::default());
        let second = Arc::new(Count::default());
        let first_waker = Waker::from(first.clone());
        assert!(poll(&mut task, &first_waker).is_pending());
        // The same waker again: kept.
        assert!(poll(&mut task, &first_waker).is_pending());
        assert!(poll(&mut task, &Waker::from(second.clone())).is_pending());
        assert!(!runnable.run());
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut task, Waker::noop()), Poll::Ready(Some(5)));
        drop(task);
        // The cell dropped the awaiter's waker: only ours is left.
        assert_eq!(Arc::strong_count(&second), 1);
    }

    #[test]
    fn a_task_waiting_with_no_waker_stays_and_is_reached_through_its_metadata() {
        let queue = Queue::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = Dropped(dropped.clone());
        let (runnable, task) = spawn(
            async move {
                let _guard = guard;
                std::future::pending::<()>().await
            },
            &queue,
        );
        let meta = runnable.metadata_ptr();
        assert!(!runnable.run());
        drop(task);
        // No runnable, no handle, no waker: the future's own reference keeps the cell.
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        // SAFETY: the future is alive, so the cell is.
        let waker = unsafe { waker_of_meta(meta) };
        waker.wake();
        let (runnable, _) = queue.borrow_mut().pop_front().unwrap();
        // Dropped unrun (as at a shutdown): the future goes, and with it the last reference.
        drop(runnable);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
    }

    /// Metadata that counts its drops: the cell was freed.
    struct MetaDrop(Arc<AtomicUsize>);

    impl Drop for MetaDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    type MetaQueue = Rc<RefCell<VecDeque<Runnable<MetaDrop>>>>;
    type PeerHandle = Task<(), MetaDrop>;

    fn spawn_counted<F: Future>(
        fut: F,
        queue: &MetaQueue,
        freed: &Arc<AtomicUsize>,
    ) -> (Runnable<MetaDrop>, Task<F::Output, MetaDrop>) {
        let q = queue.clone();
        // SAFETY: the runnables are run and dropped on this thread; nothing is borrowed.
        unsafe {
            spawn_unchecked(
                MetaDrop(freed.clone()),
                move || Plain(fut),
                move |r, _: ScheduleInfo| q.borrow_mut().push_back(r),
            )
        }
    }

    /// Runs what `queue` holds until it is empty.
    fn run_all(queue: &MetaQueue) {
        loop {
            let next = queue.borrow_mut().pop_front();
            let Some(r) = next else { break };
            r.run();
        }
    }

    /// A task that awaits the handle it finds in `other` at its first poll, and leaves its
    /// waker in `parked` then; its second poll ends it (dropping the handle) unless the
    /// handle's task finished first.
    fn peer(
        other: Rc<RefCell<Option<PeerHandle>>>,
        parked: Rc<RefCell<Option<Waker>>>,
    ) -> impl Future<Output = ()> {
        let mut held: Option<PeerHandle> = None;
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            if held.is_none() {
                held = other.borrow_mut().take();
            }
            if let Some(h) = held.as_mut() {
                if Pin::new(h).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            if polls == 1 {
                *parked.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(())
        })
    }

    /// A task running [`peer`], with the slot it takes its handle to await from and the slot
    /// its first poll parks its waker in.
    struct Peer {
        runnable: Runnable<MetaDrop>,
        handle: PeerHandle,
        other: Rc<RefCell<Option<PeerHandle>>>,
        parked: Rc<RefCell<Option<Waker>>>,
    }

    fn spawn_peer(queue: &MetaQueue, freed: &Arc<AtomicUsize>) -> Peer {
        let (other, parked) = (Rc::default(), Rc::default());
        let (runnable, handle) =
            spawn_counted(peer(Rc::clone(&other), Rc::clone(&parked)), queue, freed);
        Peer {
            runnable,
            handle,
            other,
            parked,
        }
    }

    /// Rule 4: two tasks that await each other's handles, one of which ends on its own: both
    /// cells are freed (the handle dropped before its task finished took its waker back; a
    /// waker left in each other's slots kept both forever).
    #[test]
    fn two_tasks_awaiting_each_other_are_both_freed() {
        let queue = MetaQueue::default();
        let freed = Arc::new(AtomicUsize::new(0));
        let (a, b) = (spawn_peer(&queue, &freed), spawn_peer(&queue, &freed));
        *a.other.borrow_mut() = Some(b.handle);
        *b.other.borrow_mut() = Some(a.handle);
        // A's waker goes into B's slot, B's into A's.
        assert!(!a.runnable.run());
        assert!(!b.runnable.run());
        // A ends on its own, dropping B's handle while B still runs.
        a.parked.borrow_mut().take().unwrap().wake();
        run_all(&queue);
        drop(b.parked.borrow_mut().take());
        assert_eq!(freed.load(Ordering::SeqCst), 2, "both cells freed");
    }

    /// Rule 4: a task that awaits its own handle and then drops it is freed.
    #[test]
    fn a_task_awaiting_its_own_handle_is_freed() {
        let queue = MetaQueue::default();
        let freed = Arc::new(AtomicUsize::new(0));
        let a = spawn_peer(&queue, &freed);
        *a.other.borrow_mut() = Some(a.handle);
        assert!(!a.runnable.run());
        a.parked.borrow_mut().take().unwrap().wake();
        run_all(&queue);
        assert_eq!(freed.load(Ordering::SeqCst), 1, "the cell is freed");
    }

    /// Rule 4: two tasks that awaited each other's handles, kept outside their futures, and
    /// finished another way: once the handles are dropped, both cells are freed (the completing
    /// side gives the slot back after waking it, so no waker stays in a finished task's slot).
    #[test]
    fn tasks_that_awaited_each_other_are_freed_when_their_handles_go_later() {
        let queue = MetaQueue::default();
        let freed = Arc::new(AtomicUsize::new(0));
        let handles: Rc<RefCell<Vec<PeerHandle>>> = Rc::default();
        // Each task polls the handle in `watch` once (registering its waker there) and
        // finishes at its second poll, leaving the handle where it is.
        let watcher = |watch: Rc<RefCell<Vec<PeerHandle>>>, i: usize| {
            let mut first = true;
            std::future::poll_fn(move |cx| {
                if std::mem::take(&mut first) {
                    let mut hs = watch.borrow_mut();
                    assert!(Pin::new(&mut hs[i]).poll(cx).is_pending());
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(())
            })
        };
        let (ra, ta) = spawn_counted(watcher(handles.clone(), 1), &queue, &freed);
        let (rb, tb) = spawn_counted(watcher(handles.clone(), 0), &queue, &freed);
        handles.borrow_mut().extend([ta, tb]);
        // A's waker goes into B's slot, B's into A's; both are woken by themselves and finish.
        ra.run();
        rb.run();
        run_all(&queue);
        assert_eq!(freed.load(Ordering::SeqCst), 0, "the handles keep both");
        handles.borrow_mut().clear();
        assert_eq!(freed.load(Ordering::SeqCst), 2, "both cells freed");
    }

    /// Rule 6: a waker whose destructor panics, taken back by a dropped handle, does not keep
    /// the cell: the handle releases its reference first.
    #[test]
    fn a_panicking_awaiter_destructor_does_not_leak_the_cell() {
        struct PanicOnDrop;
        impl Wake for PanicOnDrop {
            fn wake(self: Arc<Self>) {}
        }
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("waker destructor panicked");
            }
        }
        let queue = MetaQueue::default();
        let freed = Arc::new(AtomicUsize::new(0));
        let (runnable, mut task) = spawn_counted(async {}, &queue, &freed);
        let waker = Waker::from(Arc::new(PanicOnDrop));
        assert!(Pin::new(&mut task)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        // The slot's is the last reference to the waker.
        drop(waker);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(task)));
        assert!(dropped.is_err(), "the waker's destructor panicked");
        assert!(!runnable.run());
        assert_eq!(freed.load(Ordering::SeqCst), 1, "the cell is freed");
    }

    /// Rule 4, for Miri's race detector: the handle registers its waker and is dropped while
    /// the task completes on another thread (the slot is taken by exactly one side).
    #[test]
    fn a_handle_dropped_while_the_task_completes_leaves_no_waker_behind() {
        for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
            let freed = Arc::new(AtomicUsize::new(0));
            let gate = Arc::new(AtomicUsize::new(0));
            let g = gate.clone();
            let fut = std::future::poll_fn(move |_| {
                if g.load(Ordering::Acquire) == 0 {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            });
            // SAFETY: the future is `Send`; nothing is borrowed.
            let (runnable, mut task) =
                unsafe { spawn_unchecked(MetaDrop(freed.clone()), move || Plain(fut), |_, _| {}) };
            let count = Arc::new(Count::default());
            let waker = Waker::from(count.clone());
            assert!(Pin::new(&mut task)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            gate.store(1, Ordering::Release);
            let runner = std::thread::spawn(move || assert!(!runnable.run()));
            drop(task);
            runner.join().unwrap();
            assert_eq!(freed.load(Ordering::SeqCst), 1, "the cell is freed");
            assert_eq!(Arc::strong_count(&count), 2, "the slot's waker was dropped");
        }
    }

    /// Rule 8: a `RunnableList` gives its runnables back in the order they came, through
    /// their cells' links (reused when a task comes back), and dropping the list drops what it
    /// still holds, which closes those tasks (their futures dropped, their handles told).
    #[test]
    fn a_runnable_list_is_first_in_first_out_and_drops_what_it_holds() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let mut list = RunnableList::new();
        let mut handles = Vec::new();
        for i in 0..5u32 {
            let guard = Dropped(dropped.clone());
            let fut = async move {
                let _guard = guard;
                i
            };
            // SAFETY: nothing is borrowed; the runnables stay on this thread.
            let (runnable, task) = unsafe { spawn_unchecked(i, move || Plain(fut), |_, _| {}) };
            list.push_back(runnable);
            handles.push(task);
        }
        let first = list.pop_front().unwrap();
        assert_eq!(*first.metadata(), 0);
        list.push_back(first);
        let mut order = Vec::new();
        for _ in 0..5 {
            let r = list.pop_front().unwrap();
            order.push(*r.metadata());
            list.push_back(r);
        }
        assert_eq!(order, vec![1, 2, 3, 4, 0]);
        let second = list.pop_front().unwrap();
        assert_eq!(*second.metadata(), 1);
        assert!(!second.run(), "a task that completes at its first poll");
        drop(list);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            5,
            "every future dropped once"
        );
        let mut outputs: Vec<Option<u32>> = handles
            .iter_mut()
            .map(|t| match poll(t, Waker::noop()) {
                Poll::Ready(o) => o,
                Poll::Pending => panic!("a dropped runnable closes its task"),
            })
            .collect();
        outputs.sort();
        assert_eq!(outputs, vec![None, None, None, None, Some(1)]);
    }

    /// A header is four words before the metadata: the state, the vtable, the awaiter's waker
    /// in one word (`SlimWaker`) and the queue link (rule 8).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_header_is_four_words_before_its_metadata() {
        assert_eq!(
            mem::offset_of!(Header<u64>, meta),
            8 + 3 * mem::size_of::<usize>()
        );
        assert_eq!(mem::size_of::<Option<SlimWaker>>(), mem::size_of::<usize>());
    }

    /// Rule 4, for Miri's race detector (which sees the slot, unlike loom): the handle polls
    /// with alternating wakers, clearing and rewriting the awaiter slot, while the task
    /// completes on another thread.
    #[test]
    fn the_awaiter_can_change_while_the_task_completes() {
        for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
            let gate = Arc::new(AtomicUsize::new(0));
            let g = gate.clone();
            let fut = std::future::poll_fn(move |_| {
                if g.load(Ordering::Acquire) == 0 {
                    Poll::Pending
                } else {
                    Poll::Ready(5u32)
                }
            });
            // SAFETY: the future is `Send`; nothing is borrowed.
            let (runnable, mut task) =
                unsafe { spawn_unchecked(1u32, move || Plain(fut), |_, _| {}) };
            let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
            let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
            assert!(poll(&mut task, &wa).is_pending());
            gate.store(1, Ordering::Release);
            let runner = std::thread::spawn(move || assert!(!runnable.run()));
            let mut out = None;
            for i in 0..50 {
                let w = if i % 2 == 0 { &wb } else { &wa };
                if let Poll::Ready(o) = poll(&mut task, w) {
                    out = Some(o);
                    break;
                }
            }
            runner.join().unwrap();
            if out.is_none() {
                assert!(
                    a.0.load(Ordering::SeqCst) + b.0.load(Ordering::SeqCst) >= 1,
                    "the awaiter was woken"
                );
                out = match poll(&mut task, Waker::noop()) {
                    Poll::Ready(o) => Some(o),
                    Poll::Pending => None,
                };
            }
            assert_eq!(out, Some(Some(5)));
        }
    }

    #[test]
    fn a_task_can_be_woken_and_run_on_other_threads() {
        // A zero-sized schedule function that sends runnables to a worker thread.
        static SENT: Mutex<Vec<Runnable<u32>>> = Mutex::new(Vec::new());
        let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
        let s = slot.clone();
        let mut polls = 0;
        let fut = std::future::poll_fn(move |cx| {
            polls += 1;
            if polls == 1 {
                *s.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        // SAFETY: the future is `Send`; nothing is borrowed.
        let (runnable, mut task) = unsafe {
            spawn_unchecked(
                1u32,
                move || Plain(fut),
                |r, _| SENT.lock().unwrap().push(r),
            )
        };
        runnable.schedule();
        let r = SENT.lock().unwrap().pop().unwrap();
        std::thread::spawn(move || assert!(!r.run()))
            .join()
            .unwrap();
        let waker = slot.lock().unwrap().take().unwrap();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        let r = SENT.lock().unwrap().pop().unwrap();
        std::thread::spawn(move || assert!(!r.run()))
            .join()
            .unwrap();
        assert_eq!(poll(&mut task, Waker::noop()), Poll::Ready(Some(2)));
    }
}

/// For the loom models of the protocols that remember a task's waker (`WakerId`), which know
/// only tasks' wakers.
#[cfg(all(test, tether_loom))]
pub(crate) mod loom_support {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::{Arc, Mutex};
    use std::task::Waker;

    use super::*;

    /// A task that never completes, whose wake-ups are counted (its schedule function keeps
    /// the runnable and counts each one), and one of its wakers, to poll a future with as its
    /// task would.
    pub(crate) fn counted_task(count: &Arc<AtomicUsize>) -> (Task<(), ()>, Waker, CountedSlot) {
        let slot: CountedSlot = Arc::default();
        let (count, kept) = (count.clone(), slot.clone());
        // SAFETY: the future and the schedule function are `Send` and borrow nothing.
        let (runnable, task) = unsafe {
            spawn_unchecked(
                (),
                || Plain(std::future::pending::<()>()),
                move |r, _| {
                    count.fetch_add(1, Ordering::SeqCst);
                    *kept.lock().unwrap() = Some(r);
                },
            )
        };
        // Polled once, the task is idle: a wake-up schedules it (and counts).
        runnable.run();
        let waker = task.waker();
        (task, waker, slot)
    }

    /// Where [`counted_task`] keeps the runnable a wake-up made.
    pub(crate) type CountedSlot = Arc<Mutex<Option<Runnable<()>>>>;
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    //! Loom models of rules 2 to 5: wake-ups, completion and the handle on different threads.
    //! The schedule function puts the runnable in a slot that the model's threads take it from.

    use std::sync::atomic::AtomicUsize as StdCount;

    use loom::sync::{Arc, Mutex};
    use loom::thread;

    use super::*;

    type Slot = Arc<Mutex<Option<Runnable<()>>>>;

    /// Wakes the loom thread that waits in [`block_on`].
    struct Unpark(thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls the handle on this loom thread, parking between polls: a lost wake-up of the
    /// awaiter leaves the thread parked, which loom reports as a deadlock.
    fn block_on<T>(task: &mut Task<T, ()>) -> Option<T> {
        let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = Pin::new(&mut *task).poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    /// A task whose first poll leaves its waker in `parked` and whose second returns 9.
    fn spawn_waiting(
        parked: &Arc<Mutex<Option<Waker>>>,
        slot: &Slot,
    ) -> (Runnable<()>, Task<u32, ()>) {
        let parked = parked.clone();
        let slot = slot.clone();
        let mut first = true;
        let fut = std::future::poll_fn(move |cx| {
            if std::mem::take(&mut first) {
                *parked.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(9)
            }
        });
        // SAFETY: the future is `Send`; nothing is borrowed.
        unsafe {
            spawn_unchecked(
                (),
                move || Plain(fut),
                move |r, _| {
                    let old = slot.lock().unwrap().replace(r);
                    assert!(old.is_none(), "two runnables of one task");
                },
            )
        }
    }

    /// Rule 2: a wake-up from another thread while the task is being polled, or after, gets it
    /// polled again exactly once; the awaiter sees the output.
    #[test]
    fn loom_a_wake_up_during_or_after_a_poll_runs_the_task_again() {
        loom::model(|| {
            let parked: Arc<Mutex<Option<Waker>>> = Arc::default();
            let slot: Slot = Arc::default();
            let (runnable, mut task) = spawn_waiting(&parked, &slot);
            let p = parked.clone();
            let waker_thread = thread::spawn(move || loop {
                if let Some(w) = p.lock().unwrap().take() {
                    w.wake();
                    return;
                }
                thread::yield_now();
            });
            runnable.run();
            waker_thread.join().unwrap();
            let again = slot
                .lock()
                .unwrap()
                .take()
                .expect("the wake-up scheduled it");
            again.run();
            assert!(slot.lock().unwrap().is_none());
            assert_eq!(block_on(&mut task), Some(9));
        });
    }

    /// How a model wakes the task.
    #[derive(Clone, Copy)]
    enum WakeBy {
        Handle,
        WakerByRef,
        WakerByValue,
    }

    /// Rule 2: a flag set before a wake-up of a task that is already scheduled is seen by the
    /// poll that its runnable, run on another thread, makes, or the task is scheduled again.
    /// With the wake-ups as they were before (returning after a plain load when the task was
    /// scheduled, `wake` then dropping its reference with a decrement), loom finds the poll
    /// reading the flag unset and the task left waiting, by each of the three ways.
    fn a_flag_set_before_a_wake_up_is_seen_by_the_next_poll(by: WakeBy) {
        use loom::sync::atomic::AtomicBool;
        loom::model(move || {
            let slot: Slot = Arc::default();
            let flag = Arc::new(AtomicBool::new(false));
            let (runnable, task) = {
                let (slot, flag) = (slot.clone(), flag.clone());
                let fut = std::future::poll_fn(move |_| {
                    if flag.load(Ordering::Acquire) {
                        Poll::Ready(1u32)
                    } else {
                        Poll::Pending
                    }
                });
                // SAFETY: as in `spawn_waiting`.
                unsafe {
                    spawn_unchecked(
                        (),
                        move || Plain(fut),
                        move |r, _| {
                            *slot.lock().unwrap() = Some(r);
                        },
                    )
                }
            };
            let waker = task.waker();
            let runner = thread::spawn(move || {
                runnable.run();
            });
            flag.store(true, Ordering::Release);
            match by {
                WakeBy::Handle => task.wake_by_ref(),
                WakeBy::WakerByRef => waker.wake_by_ref(),
                WakeBy::WakerByValue => waker.wake(),
            }
            runner.join().unwrap();
            let again = slot.lock().unwrap().take();
            assert!(
                task.is_finished() || again.is_some(),
                "the poll missed the flag and nothing scheduled the task again"
            );
            if let Some(r) = again {
                r.run();
            }
            assert!(task.is_finished());
        });
    }

    #[test]
    fn loom_a_flag_set_before_a_wake_up_by_the_handle_is_seen_by_the_next_poll() {
        a_flag_set_before_a_wake_up_is_seen_by_the_next_poll(WakeBy::Handle);
    }

    #[test]
    fn loom_a_flag_set_before_a_waker_wake_by_ref_is_seen_by_the_next_poll() {
        a_flag_set_before_a_wake_up_is_seen_by_the_next_poll(WakeBy::WakerByRef);
    }

    #[test]
    fn loom_a_flag_set_before_a_waker_wake_is_seen_by_the_next_poll() {
        a_flag_set_before_a_wake_up_is_seen_by_the_next_poll(WakeBy::WakerByValue);
    }

    /// Rules 3 and 4: the handle awaits on one thread while the task completes on another;
    /// the awaiter is never left unwoken.
    #[test]
    fn loom_the_awaiter_is_woken_whichever_comes_first() {
        loom::model(|| {
            let slot: Slot = Arc::default();
            let (runnable, mut task) = {
                let slot = slot.clone();
                // SAFETY: as in `spawn_waiting`.
                unsafe {
                    spawn_unchecked(
                        (),
                        move || Plain(async { 3u32 }),
                        move |r, _| {
                            *slot.lock().unwrap() = Some(r);
                        },
                    )
                }
            };
            let runner = thread::spawn(move || {
                runnable.run();
            });
            assert_eq!(block_on(&mut task), Some(3));
            runner.join().unwrap();
        });
    }

    /// Rule 5: the handle dropped on one thread while the task completes on another: the
    /// output is dropped exactly once, and the cell is freed once.
    #[test]
    fn loom_an_output_is_dropped_once_when_the_handle_goes_during_completion() {
        struct Out(std::sync::Arc<StdCount>);
        impl Drop for Out {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        loom::model(|| {
            let drops = std::sync::Arc::new(StdCount::new(0));
            let d = drops.clone();
            // SAFETY: as in `spawn_waiting`; the runnable is run on another thread (`Out` is
            // `Send`).
            let (runnable, task) =
                unsafe { spawn_unchecked((), move || Plain(async move { Out(d) }), |_, _| {}) };
            let runner = thread::spawn(move || {
                runnable.run();
            });
            drop(task);
            runner.join().unwrap();
            assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
        });
    }

    /// Rules 4 and 5: the handle registers its waker and is then dropped while the task
    /// completes on another thread: the output is dropped once and the cell freed once.
    #[test]
    fn loom_a_handle_with_an_awaiter_dropped_during_completion() {
        loom::model(|| {
            // SAFETY: as in `spawn_waiting`.
            let (runnable, mut task) =
                unsafe { spawn_unchecked((), move || Plain(async { 4u32 }), |_, _| {}) };
            let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
            assert!(Pin::new(&mut task)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let runner = thread::spawn(move || {
                runnable.run();
            });
            drop(task);
            runner.join().unwrap();
        });
    }

    /// Rules 3 and 4: a runnable dropped unrun on one thread while the handle awaits on
    /// another: the handle is woken and gives `None`.
    #[test]
    fn loom_a_runnable_dropped_unrun_wakes_the_awaiter() {
        loom::model(|| {
            // SAFETY: as in `spawn_waiting`.
            let (runnable, mut task) =
                unsafe { spawn_unchecked((), move || Plain(async { 1u32 }), |_, _| {}) };
            let dropper = thread::spawn(move || drop(runnable));
            assert_eq!(block_on(&mut task), None);
            dropper.join().unwrap();
        });
    }
}
