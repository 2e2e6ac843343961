//! Per-task metadata stored in the task's allocation, and task ids.
//!
//! `TaskMeta` lives in the header of every task cell (`raw.rs`), so reading it
//! costs no extra allocation or pointer chase. It holds the task's identity (id, name, spawn
//! location), which stays readable for as long as anything holds the task (its `JoinHandle`, a
//! waker, a run-queue entry), also after the task left the registry. It is written once at
//! spawn, except for:
//! 1. `links` belong to the registry (`registry.rs`): the spawner writes them as it enters the
//!    task (before any other thread can reach it); from then on they are read and written only
//!    by the holder of the lock of the list the task is in.
//! 2. `flags`: each bit only ever goes from 0 to 1, by a read-modify-write.
//!    - `CANCEL_REQUESTED` is set by `JoinHandle::abort` or `AbortHandle::abort` (a scope's
//!      hard drop aborts its children so) from any thread, which then wakes the task, and is
//!      read by the task's own poll wrapper at the start of each poll: the wake-up happens
//!      before that poll (`raw.rs` rule 2), so it sees the request.
//!    - `UNREGISTERED` is set when the task leaves the registry, `SHUTDOWN_WOKEN` when a
//!      shutdown wakes it from there (once).
//! 3. `wakes` is written only by the task's schedule function. The cell runs at most one
//!    schedule call of a task at a time and orders them (its state word), so it has one
//!    writer at a time: a relaxed load and store suffice, and other threads read it as an
//!    approximate diagnostic. The task's other counters live elsewhere: its polls in the cell's
//!    state word (`raw.rs` rule 7), its time in poll as the watchdog credited it in the
//!    runtime's table (`runtime/diagnostics.rs`), keyed by the task's id, whose entry the
//!    `CREDITED` flag says exists and which the task's removal from the registry deletes.
//!
//! The layout (48 bytes on 64-bit targets, see `ARCHITECTURE.md`, "What a task costs") packs the
//! runtime and the task's group into one word ([`Owner`]: a group's token knows its runtime),
//! the name and spawn location into another ([`Origin`]: a named task's name and location live
//! in a small shared record, which the tasks named alike from one place share; an unnamed
//! task's word is its `&'static Location`), and the registry's entry is the task's own `links`
//! instead of a slot in a separate table (the task cell's own reference count keeps a listed
//! task alive, `raw.rs` rule 1).

use std::fmt;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::Location;
use std::ptr::{self, NonNull};

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU16, AtomicU8, Ordering};
use crate::loom::sync::Arc;
use crate::runtime::RuntimeShared;
use crate::task::registry::{Linked, Links};

/// An opaque id that identifies a task uniquely among all tasks of the process, for its lifetime.
///
/// Ids are never reused while the process runs. Print one with `{}` (for example `task 7`).
/// The ids of tasks spawned on one thread increase in spawn order; across threads they do not
/// tell which task was spawned first (each thread takes ids in blocks, so that spawning on
/// different workers shares no counter). Unlike tokio's, tether's task ids are process-wide and
/// never reused.
///
/// # Examples
///
/// ```
/// let rt = tether::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let a = tether::spawn(async {});
///     let b = tether::spawn(async {});
///     assert_ne!(a.id(), b.id());
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    /// The id of no task (ids count up from 1 and never reach it): a placeholder for a handle
    /// that never had a task.
    pub(crate) const NONE: Id = Id(NonZeroU64::MAX);

    /// The next id of this thread: each thread takes ids from the process-wide counter in blocks
    /// of [`ID_BLOCK`], so spawning on different threads shares no counter. Ids are unique and
    /// increase in spawn order on one thread; across threads they are not in spawn order.
    #[inline]
    pub(crate) fn next() -> Id {
        // std's atomic, not the loom shim's: a static, which a loom model cannot hold, and a
        // counter that is part of no protocol (only uniqueness matters).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        thread_local! {
            /// This thread's block: the next id and the end of the block.
            static BLOCK: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
        }
        let id = BLOCK
            .try_with(|b| {
                let (mut next, mut end) = b.get();
                if next == end {
                    next = NEXT.fetch_add(ID_BLOCK, Ordering::Relaxed);
                    end = next + ID_BLOCK;
                }
                b.set((next + 1, end));
                next
            })
            // A thread-local destructor spawning: one id from the counter itself.
            .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed));
        Id(NonZeroU64::new(id).expect("tether: task id counter overflowed"))
    }

    /// The `n`th id of a simulation: numbered per simulation, so that a replay prints the same
    /// ids, in a range (from 2^62) that the process-wide counter does not reach.
    #[cfg(feature = "sim")]
    pub(crate) fn simulated(n: u64) -> Id {
        Id(NonZeroU64::new((1 << 62) | n).expect("non-zero: bit 62 is set"))
    }

    /// The id as a number, for logs and metrics.
    pub fn as_u64(&self) -> u64 {
        self.0.get()
    }

    /// The id whose number (`as_u64`) is `n`, which came from an id.
    pub(crate) fn from_word(n: u64) -> Id {
        Id(NonZeroU64::new(n).expect("tether: an id's number is not zero"))
    }
}

/// How many ids a thread takes from the process-wide counter at a time ([`Id::next`]).
const ID_BLOCK: u64 = 1024;

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A simulation's ids (bit 62, `simulated`) print as their number within it; the
        // process-wide counter never reaches bit 62.
        (self.0.get() & !(1 << 62)).fmt(f)
    }
}

/// Set once `abort` (or a runtime shutdown) asked the task to stop (rule 2).
pub(crate) const CANCEL_REQUESTED: u8 = 1;
/// Set once the task left the registry (rule 2).
const UNREGISTERED: u8 = 2;
/// Set once a shutdown woke the task from the registry (rule 2).
const SHUTDOWN_WOKEN: u8 = 4;
/// Set once the watchdog credited a poll of the task with time: the runtime's table of
/// credited time has an entry for it, removed when the task leaves the registry (rule 3).
const CREDITED: u8 = 8;

/// A task's name and spawn location in one word: a `&'static Location` (low bit clear) for an
/// unnamed task, or (low bit set) a pointer from `Arc::into_raw` to the name and the location
/// for a named one, shared by the named tasks spawned from one place with one name (see
/// [`Origin::named`]). Both pointees are aligned to at least 2, so the low bit is free.
pub(crate) struct Origin(NonNull<()>);

/// What a named task's [`Origin`] points at.
struct Named {
    name: std::sync::Arc<str>,
    location: &'static Location<'static>,
}

const NAMED_TAG: usize = 1;

// The tag bit is free in an `Arc<Named>`'s pointer (`Arc::into_raw` points at the `Named`).
const _: () = assert!(std::mem::align_of::<Named>() > NAMED_TAG);

/// The bit of `TaskMeta::placement` that marks a blocking job (the shard takes the low bits).
const BLOCKING: u8 = 0x80;
/// The bit of `TaskMeta::placement` that says the owner is a group's token.
const GROUPED: u8 = 0x40;

// The shard takes the bits below the two flags.
const _: () = assert!(crate::task::registry::SHARDS <= GROUPED as usize);

/// How many named origins a thread keeps for reuse ([`Origin::named`]).
const RECENT_NAMES: usize = 4;

/// The named origins last made on this thread, each holding one reference, replaced in turn
/// (skipping one just used).
struct RecentNames {
    slots: [Option<std::sync::Arc<Named>>; RECENT_NAMES],
    next: usize,
}

std::thread_local! {
    static RECENT: std::cell::RefCell<RecentNames> = const {
        std::cell::RefCell::new(RecentNames {
            slots: [const { None }; RECENT_NAMES],
            next: 0,
        })
    };
}

/// Whether two spawn locations are the same place: the same `Location` as a rule, compared by
/// value otherwise (one place's `Location::caller()` need not be one address: Miri gives it
/// several).
#[inline]
fn same_place(a: &'static Location<'static>, b: &'static Location<'static>) -> bool {
    ptr::eq(a, b) || (a.line() == b.line() && a.column() == b.column() && a.file() == b.file())
}

impl Origin {
    /// The origin of an unnamed task spawned at `location`.
    #[inline]
    pub(crate) fn unnamed(location: &'static Location<'static>) -> Origin {
        Origin(NonNull::from(location).cast())
    }

    /// The origin of a task named `name` (or unnamed), spawned at `location`.
    #[inline]
    pub(crate) fn new(
        name: Option<std::sync::Arc<str>>,
        location: &'static Location<'static>,
    ) -> Origin {
        match name {
            None => Origin::unnamed(location),
            Some(name) => Origin::named(&name, Some(&name), location),
        }
    }

    /// The origin of a task named `name` spawned at `location`. A server names the tasks it
    /// spawns in a loop alike, so the last few named origins made on this thread are kept: a
    /// spawn from the same place with an equal name shares one (a reference count's increment)
    /// instead of allocating its own. `arc`, when given, holds `name` and is reused by an
    /// origin that must be made.
    pub(crate) fn named(
        name: &str,
        arc: Option<&std::sync::Arc<str>>,
        location: &'static Location<'static>,
    ) -> Origin {
        debug_assert!(arc.is_none_or(|a| **a == *name), "`arc` holds `name`");
        let make = || {
            std::sync::Arc::new(Named {
                name: arc.cloned().unwrap_or_else(|| std::sync::Arc::from(name)),
                location,
            })
        };
        let named = RECENT
            .try_with(|recent| {
                // Nothing below re-enters this function; should anything ever, it makes its own.
                let Ok(mut recent) = recent.try_borrow_mut() else {
                    return make();
                };
                let hit = recent.slots.iter().position(|n| {
                    n.as_ref()
                        .is_some_and(|n| same_place(n.location, location) && *n.name == *name)
                });
                if let Some(i) = hit {
                    // A name in use is not the next to be replaced.
                    if recent.next == i {
                        recent.next = (i + 1) % RECENT_NAMES;
                    }
                    if let Some(hit) = &recent.slots[i] {
                        return hit.clone();
                    }
                }
                let made = make();
                let next = recent.next;
                // The origin it replaces is released here: its tasks hold their own references.
                recent.slots[next] = Some(made.clone());
                recent.next = (next + 1) % RECENT_NAMES;
                made
            })
            // The thread is exiting and its keeps are gone: no sharing.
            .unwrap_or_else(|_| make());
        let named = std::sync::Arc::into_raw(named).cast_mut();
        let tagged = named.cast::<()>().map_addr(|a| a | NAMED_TAG);
        // SAFETY: an `Arc`'s pointer is not null, and setting a bit keeps it so.
        Origin(unsafe { NonNull::new_unchecked(tagged) })
    }

    #[inline]
    fn named_ref(&self) -> Option<&Named> {
        let p = self.0.as_ptr();
        if p.addr() & NAMED_TAG == 0 {
            return None;
        }
        // SAFETY: a tagged word is a pointer from `Arc::into_raw` made in `named`, whose
        // reference this origin owns until `drop`, so it is valid for as long as `self`.
        Some(unsafe { &*p.map_addr(|a| a & !NAMED_TAG).cast::<Named>() })
    }

    /// The task's name, if it has one.
    pub(crate) fn name(&self) -> Option<&std::sync::Arc<str>> {
        self.named_ref().map(|n| &n.name)
    }

    /// Where the task was spawned.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self.named_ref() {
            Some(n) => n.location,
            // SAFETY: an untagged word is the `&'static Location` given to `unnamed`.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }
}

impl Drop for Origin {
    #[inline]
    fn drop(&mut self) {
        let p = self.0.as_ptr();
        if p.addr() & NAMED_TAG != 0 {
            // SAFETY: a tagged word owns one reference of the `Arc<Named>` it came from
            // (`named`); this is its only drop.
            drop(unsafe {
                std::sync::Arc::from_raw(p.map_addr(|a| a & !NAMED_TAG).cast::<Named>())
            });
        }
    }
}

// SAFETY: an `Origin` owns a reference of an `Arc<Named>`, which is `Send + Sync` because
// `Named`'s fields are (its reference count is atomic: a record made on one thread may be
// released on another), or borrows a `&'static Location` (`Sync`); it reads nothing else.
unsafe impl Send for Origin {}
// SAFETY: as for `Send`: shared access only reads immutable, `Sync` data.
unsafe impl Sync for Origin {}

/// What every task carries in its header.
pub(crate) struct TaskMeta {
    /// The runtime the task belongs to (its scheduler receives the task whenever it is woken),
    /// or the task's group, which knows it: read it with [`shared`](Self::shared) and
    /// [`scope`](Self::scope). `GROUPED` in `placement` says which field is there.
    owner: Owner,
    /// The task's id.
    pub(crate) id: Id,
    /// The name given at spawn, if any, and where the task was spawned: read them with
    /// [`name`](Self::name) and [`location`](Self::location).
    origin: Origin,
    /// The task's neighbours in its registry list (rule 1; `registry.rs`).
    pub(crate) links: UnsafeCell<Links<TaskMeta>>,
    /// `CANCEL_REQUESTED`, `UNREGISTERED`, `SHUTDOWN_WOKEN`, `CREDITED` (rule 2).
    flags: AtomicU8,
    /// The registry shard a root task is entered in (registry rule 1; unused for a scope's
    /// child, which is entered in its scope's list); `BLOCKING` for a blocking job, scheduled
    /// onto the blocking pool instead of the scheduler; `GROUPED` when `owner` is a group.
    placement: u8,
    /// Times the task was scheduled, modulo 2^16 (rule 3), for the live console's wake rate.
    pub(crate) wakes: AtomicU16,
    /// When the task was spawned, in the time driver's coarse milliseconds (saturating at
    /// `u32::MAX`, about 49 days: ages beyond that read as at least that).
    pub(crate) spawned_ms: u32,
    /// The task's span, entered at each poll (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

/// A task's runtime, or its group (a scope's or a `JoinSet`'s token, whose node knows the
/// runtime its tasks run on: `CancelToken::group_runtime`): one word, which `GROUPED` in
/// `TaskMeta::placement` tells apart. A group's child holds one reference (its group's) where it
/// held two, the runtime's and the group's.
union Owner {
    root: ManuallyDrop<Arc<RuntimeShared>>,
    group: ManuallyDrop<crate::scope::CancelToken>,
}

impl TaskMeta {
    #[inline]
    pub(crate) fn new(
        shared: &Arc<RuntimeShared>,
        origin: Origin,
        blocking: bool,
        group: Option<crate::scope::CancelToken>,
    ) -> TaskMeta {
        #[cfg(feature = "sim")]
        let id = match &shared.sim {
            Some(world) => world.next_task_id(),
            None => Id::next(),
        };
        #[cfg(not(feature = "sim"))]
        let id = Id::next();
        let spawned_ms = u32::try_from(shared.time.coarse_now_ms()).unwrap_or(u32::MAX);
        let mut placement =
            crate::task::registry::shard_hint() | if blocking { BLOCKING } else { 0 };
        let owner = match group {
            Some(token) => {
                debug_assert!(
                    Arc::ptr_eq(token.group_runtime(), shared),
                    "tether: a task's group belongs to the runtime it is spawned on"
                );
                placement |= GROUPED;
                Owner {
                    group: ManuallyDrop::new(token),
                }
            }
            None => Owner {
                root: ManuallyDrop::new(shared.clone()),
            },
        };
        TaskMeta {
            owner,
            id,
            origin,
            links: UnsafeCell::new(Links::new()),
            flags: AtomicU8::new(0),
            placement,
            wakes: AtomicU16::new(0),
            spawned_ms,
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
        }
    }

    /// The runtime the task belongs to.
    #[inline]
    pub(crate) fn shared(&self) -> &Arc<RuntimeShared> {
        match self.scope() {
            Some(token) => token.group_runtime(),
            // SAFETY: without `GROUPED` the owner is the runtime (`new`).
            None => unsafe { &self.owner.root },
        }
    }

    /// The cancellation token of the scope the task belongs to; `None` for the root scope,
    /// whose token is the runtime's. A `JoinSet`'s task holds its set's token here, which only
    /// names the set in the task dump: such a task is in the root scope
    /// ([`cancel_token`](Self::cancel_token)).
    #[inline]
    pub(crate) fn scope(&self) -> Option<&crate::scope::CancelToken> {
        if self.placement & GROUPED != 0 {
            // SAFETY: with `GROUPED` the owner is the group's token (`new`).
            Some(unsafe { &self.owner.group })
        } else {
            None
        }
    }

    /// The token that tells this task to stop: its scope's, or the runtime's for root tasks
    /// (those of a `JoinSet` included).
    pub(crate) fn cancel_token(&self) -> &crate::scope::CancelToken {
        match self.scope() {
            Some(token) if !token.is_join_set() => token,
            _ => &self.shared().root_token,
        }
    }

    /// Whether the task is in the runtime's root scope: not a scope's child (a `JoinSet`'s
    /// task is in the root scope).
    pub(crate) fn in_root_scope(&self) -> bool {
        self.scope().is_none_or(|t| t.is_join_set())
    }

    /// What a poll of the task's future starts with, from one load of the flags: cancellation
    /// was requested, or not.
    #[inline]
    pub(crate) fn poll_start(&self) -> PollStart {
        let flags = self.flags.load(Ordering::Acquire);
        if flags & CANCEL_REQUESTED != 0 {
            PollStart::Cancel
        } else {
            PollStart::Run
        }
    }

    /// Whether the task is a blocking job, run on the blocking pool.
    #[inline]
    pub(crate) fn blocking(&self) -> bool {
        self.placement & BLOCKING != 0
    }

    /// The registry shard of a root task (registry rule 1).
    #[inline]
    pub(crate) fn shard(&self) -> usize {
        usize::from(self.placement & !(BLOCKING | GROUPED))
    }

    /// The name given at spawn, if any.
    #[inline]
    pub(crate) fn name(&self) -> Option<&std::sync::Arc<str>> {
        self.origin.name()
    }

    /// Where the task was spawned.
    #[inline]
    pub(crate) fn location(&self) -> &'static Location<'static> {
        self.origin.location()
    }

    /// The number a diagnostics slot stores for a poll of this task (`runtime/diagnostics.rs`):
    /// the low 32 bits of the id, never `MAIN_KEY`. The registry finds the task by it
    /// (`Registry::describe_key`); two live tasks share one only 2^32 ids apart.
    #[inline]
    pub(crate) fn diag_key(&self) -> u32 {
        let key = self.id.as_u64() as u32;
        if key == crate::runtime::diagnostics::MAIN_KEY {
            key - 1
        } else {
            key
        }
    }

    /// Marks the task as having left the registry (rule 2).
    pub(crate) fn mark_unregistered(&self) {
        self.flags.fetch_or(UNREGISTERED, Ordering::AcqRel);
    }

    /// Whether the task left the registry (rule 2).
    pub(crate) fn is_unregistered(&self) -> bool {
        self.flags.load(Ordering::Acquire) & UNREGISTERED != 0
    }

    /// Marks the task as woken by a shutdown; true the first time (rule 2).
    pub(crate) fn mark_shutdown_woken(&self) -> bool {
        self.flags.fetch_or(SHUTDOWN_WOKEN, Ordering::AcqRel) & SHUTDOWN_WOKEN == 0
    }

    /// Counts a schedule (rule 3).
    #[inline]
    pub(crate) fn count_wake(&self) {
        let n = self.wakes.load(Ordering::Relaxed);
        self.wakes.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    pub(crate) fn request_cancel(&self) {
        self.flags.fetch_or(CANCEL_REQUESTED, Ordering::AcqRel);
    }

    /// Marks the task as having credited time in the runtime's table (rule 3); true the first
    /// time.
    pub(crate) fn mark_credited(&self) -> bool {
        self.flags.fetch_or(CREDITED, Ordering::AcqRel) & CREDITED == 0
    }

    /// Whether the runtime's table of credited time has an entry for the task (rule 3).
    pub(crate) fn is_credited(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CREDITED != 0
    }
}

impl Drop for TaskMeta {
    fn drop(&mut self) {
        // SAFETY: `GROUPED` says which field `new` wrote; this is its only drop.
        unsafe {
            if self.placement & GROUPED != 0 {
                ManuallyDrop::drop(&mut self.owner.group);
            } else {
                ManuallyDrop::drop(&mut self.owner.root);
            }
        }
    }
}

impl Linked for TaskMeta {
    #[inline]
    fn links(&self) -> &UnsafeCell<Links<TaskMeta>> {
        &self.links
    }
}

// SAFETY: `TaskMeta` is shared between threads through the task; its only fields that are not
// `Sync` by themselves are `links`, read and written only by the spawner before the task is
// entered and then under the lock of the registry list the task is in (rule 1).
unsafe impl Sync for TaskMeta {}
// SAFETY: as for `Sync`; the pointers in `links` are owned by no thread.
unsafe impl Send for TaskMeta {}

/// See [`TaskMeta::poll_start`].
pub(crate) enum PollStart {
    /// Cancellation was requested.
    Cancel,
    /// Poll the future.
    Run,
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_meta_stays_at_forty_eight_bytes() {
        // Every task carries one; the idle-task memory benchmark counts it. It holds the
        // registry's entry (its links, 16 bytes: the cell's reference count keeps a listed task
        // alive), which was a 48-byte slot of a separate table before; the runtime and the
        // group take one word, the name and location another; the polls are in the cell's state
        // word (`ARCHITECTURE.md`, "What a task costs"). With the cell's header (32) and a
        // one-word output, a task is an 88-byte allocation: glibc's 96-byte chunk. The
        // `tracing` feature adds the task's span.
        #[cfg(feature = "tracing")]
        let span = std::mem::size_of::<tracing::Span>();
        #[cfg(not(feature = "tracing"))]
        let span = 0;
        assert_eq!(std::mem::size_of::<super::TaskMeta>(), 48 + span);
    }

    #[track_caller]
    fn here() -> &'static std::panic::Location<'static> {
        std::panic::Location::caller()
    }

    #[test]
    fn origins_named_alike_from_one_place_share_their_record() {
        use super::Origin;
        use std::sync::Arc;

        let (a, b) = (here(), here());
        let first = Origin::named("conn", None, a);
        let again = Origin::named("conn", None, a);
        // Same place, same name: one record (held by both origins and this thread's keeps,
        // which hold the one name).
        assert!(Arc::ptr_eq(first.name().unwrap(), again.name().unwrap()));
        assert_eq!(Arc::strong_count(first.name().unwrap()), 1);
        // Another place or another name: its own.
        let elsewhere = Origin::named("conn", None, b);
        assert!(!Arc::ptr_eq(
            first.name().unwrap(),
            elsewhere.name().unwrap()
        ));
        assert_eq!(elsewhere.location(), b);
        // More names than a thread keeps: every origin still says its own name and place.
        let names = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"];
        let mut made = Vec::new();
        for round in 0..3 {
            for (i, name) in names.iter().enumerate() {
                let location = if i % 2 == 0 { a } else { b };
                let held = Arc::<str>::from(*name);
                let origin = if round == 1 {
                    Origin::new(Some(held), location)
                } else {
                    Origin::named(name, None, location)
                };
                made.push((origin, *name, location));
            }
        }
        for (origin, name, location) in &made {
            assert_eq!(origin.name().map(|n| &**n), Some(*name));
            assert_eq!(origin.location(), *location);
        }
        // The records outlive the thread's keeps that referred to them.
        drop((first, elsewhere));
        assert_eq!(&**again.name().unwrap(), "conn");
        assert_eq!(again.location(), a);
        let unnamed = Origin::unnamed(b);
        assert!(unnamed.name().is_none());
        assert_eq!(unnamed.location(), b);
        // The last origin and the thread's keep gone, the record is freed (its name is this
        // test's alone again).
        let name = again.name().unwrap().clone();
        drop((again, made));
        for evict in ["w", "x", "y", "z"] {
            drop(Origin::named(evict, None, here()));
        }
        assert_eq!(Arc::strong_count(&name), 1);
    }
}
