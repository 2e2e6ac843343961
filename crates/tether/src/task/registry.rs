//! The registry of live tasks of one runtime.
//!
//! Every task is entered here when it is spawned and removed when its future is dropped (on
//! completion, cancellation or runtime shutdown), so the runtime can list what still runs and, at
//! shutdown, wake every task in order to drop it: no task is ever left behind unseen.
//!
//! The registry is intrusive and sharded: a task's entry is its own [`TaskMeta`] (`links`),
//! linked into one [`TaskList`], a doubly linked list under its own mutex. A root task
//! (`tether::spawn`, a `JoinSet`'s, a blocking job) is entered in one of [`SHARDS`] shards, the
//! one of the thread that spawns it (`shard_hint`), so spawns and completions on different
//! workers take different locks. A scope's child is entered in its scope's list
//! (`ScopeState::children`), so cancelling or hard-dropping a scope walks its children only.
//! Each scope's list is itself entered in a shard (`register_scope`), so the dump, the shutdown
//! and the simulation see every task.
//!
//! A spawn never waits for a list's lock: a task is entered onto the list's `incoming` stack,
//! without the lock, and whoever next takes the lock links the stack in first. So a thread
//! that spawns (a `block_on` thread feeding the workers) and the workers that finish its tasks
//! do not contend. On a current-thread runtime, and on a worker, a spawn links its task in at
//! once when the lock is free: that thread will likely finish the task too, and a stack would
//! be linked in later, node by node, when the nodes are no longer in the cache.
//!
//! Protocol:
//! 1. Before a task is first scheduled, the spawner enters it, by the address of its metadata
//!    that the task cell gives (`Runnable::metadata_ptr`, good for the whole cell), which is
//!    what the list keeps: it links it in under the list's lock, or pushes it onto the list's
//!    `incoming` stack (a compare-and-swap with release ordering, linked through the task's
//!    `links.next`, its `links.prev` set to a marker, `stacked`). A lock holder that needs the
//!    whole list (a walk, the length) first takes the whole stack (a swap with acquire
//!    ordering) and links its tasks in ([`TaskList::locked`]): so it sees every task entered
//!    before it took the lock (happens-before). A task's removal, which follows its first
//!    scheduling, reads its own `prev` under the lock and links the stack in only while the
//!    marker says the task is still on it.
//! 2. The task's removal (`cell::unregister`, from its future's drop: after the task's result
//!    was decided, `TaskMeta` rule 2, or when its runnable was dropped unrun) unlinks it under
//!    the list's lock and sets `UNREGISTERED`. A task's future holds a reference to its cell
//!    until it is dropped (`raw.rs` rule 1), so while a task is entered (linked or stacked),
//!    its cell, and the `TaskMeta` in it, is alive: whoever holds a list's lock may read the
//!    metadata of every task in the list, and make a waker of it from the kept address
//!    (`raw::waker_of_meta`, a new reference), to wake it after the lock is released.
//! 3. Wakers are woken only after every lock is released (`take_wakers`, `abort_all`,
//!    `abort_matching`), because waking may run arbitrary scheduler code that spawns or drops
//!    tasks and so re-enters the registry.
//! 4. Locks nest in one order only: a shard's `scopes` before a scope's list. A task's entry and
//!    removal take only its list's lock; a scope's list (an `Arc`, kept by the scope's token node
//!    across recycling) is entered and removed (`register_scope`, `deregister_scope`) under its
//!    shard's `scopes` lock, and is removed only once empty (a child's metadata holds the scope's
//!    token, which keeps the scope's state, and so its entry, alive).
//! 5. A list's `len` is exact under its lock (once the stack is linked in). The total
//!    ([`Registry::len`]) is the sum over the lists, read one lock at a time: exact when
//!    nothing spawns or finishes meanwhile (the graceful shutdown waits for it to reach zero:
//!    the removal that empties a list checks it when someone waits, `poll_empty`).
//! 6. A scope's hard drop sets its flag, then walks the scope's list; a spawner of a child
//!    enters it, then reads the flag (scope state rule 5). A stacked entry takes no lock, so
//!    the lock no longer orders the two: a scope's list puts a `SeqCst` fence after each
//!    stacked entry, and the hard drop's walk puts one before it, so either the walk sees the
//!    child or the spawner sees the flag.
//!
//! The order of a list is roughly newest first; nothing relies on it (the snapshot sorts by
//! id).
//!
//! The stack's protocol has loom models (`loom_tests` below: entries racing unlinks, walks
//! and each other).
//!
//! `snapshot` describes the live tasks in the public report types of [`crate::diag`]
//! ([`TaskInfo`], [`TaskState`], [`ScopeInfo`]).

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::task::Waker;

use slab::Slab;

use crate::diag::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering};
use crate::loom::sync::Mutex;
use crate::loom::{lock, try_lock};
use crate::runtime::diagnostics::BusyTimes;
use crate::task::meta::TaskMeta;
use crate::task::Id;

/// The number of shards root tasks are spread over (at most 128: a task keeps its shard in 7
/// bits of a byte).
#[cfg(not(miri))]
pub(crate) const SHARDS: usize = 16;
/// 4 under Miri, whose interpreter takes about 10 ms to lock and walk even an empty list: a
/// walk of the whole registry (`len`, a snapshot, as every runtime's shutdown makes) took
/// 0.15 s with 16. Four still spread a test's few threads over several shards.
#[cfg(miri)]
pub(crate) const SHARDS: usize = 4;

/// The shard of the calling thread: threads are dealt shards in turn at their first spawn, so
/// the first [`SHARDS`] threads that spawn (a runtime's workers, typically) each have their own.
#[inline]
pub(crate) fn shard_hint() -> u8 {
    thread_local! {
        static SHARD: Cell<u8> = const { Cell::new(u8::MAX) };
    }
    // std's atomic: a static (see `loom.rs`); it only spreads threads over shards.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    SHARD
        .try_with(|s| {
            let mut shard = s.get();
            if shard == u8::MAX {
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                shard = (n % SHARDS) as u8;
                s.set(shard);
            }
            shard
        })
        .unwrap_or(0)
}

/// A node's place in a [`TaskList`]: its neighbours (module rule 1). While the node waits in
/// the list's `incoming` stack, `next` is the node pushed before it and `prev` is
/// [`stacked`].
pub(crate) struct Links<T> {
    pub(crate) prev: *const T,
    pub(crate) next: *const T,
}

impl<T> Links<T> {
    pub(crate) const fn new() -> Links<T> {
        Links {
            prev: ptr::null(),
            next: ptr::null(),
        }
    }
}

/// The `prev` of a node on a list's `incoming` stack: an address no node has (it is never
/// dereferenced), which tells the node's unlinker that the stack must be linked in first.
fn stacked<T>() -> *const T {
    ptr::dangling()
}

/// What a [`TaskList`] holds: a value with the list's links in it ([`TaskMeta`]; the loom
/// models use a small node of their own).
pub(crate) trait Linked {
    /// The node's links, which belong to the list the node is in (rule 1).
    fn links(&self) -> &UnsafeCell<Links<Self>>
    where
        Self: Sized;
}

/// A doubly linked list of tasks under one mutex, entered without it (see the module docs).
pub(crate) struct TaskList<T: Linked = TaskMeta> {
    /// Nodes entered since a lock holder last took them: a stack, linked through `links.next`,
    /// newest first (rule 1). Pushed without the lock; taken whole (`swap`) only under it.
    incoming: AtomicPtr<T>,
    /// Holding this lock (and having taken `incoming`: [`locked`](Self::locked)) means no
    /// task can be removed from this list, and the `links` of its tasks are ours to read and
    /// write (rule 2). On a cache line of its own: the threads that finish tasks write it,
    /// the spawners write `incoming`.
    head: OwnLine<Mutex<ListHead<T>>>,
    /// A scope's list (rule 6): a push onto the stack is followed by a `SeqCst` fence, which
    /// pairs with the one before the scope's hard drop walks the list.
    fenced: bool,
}

/// A value on cache lines of its own (128 bytes: two 64-byte lines, which x86's adjacent-line
/// prefetcher fetches together).
#[repr(align(128))]
struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

struct ListHead<T> {
    /// The first task's metadata, by the address its cell gave (rule 1).
    first: *const T,
    len: usize,
}

// SAFETY: `first` points at a linked node, which rule 2 keeps alive while it is linked; it is
// only dereferenced under the lock.
unsafe impl<T> Send for ListHead<T> {}

impl<T: Linked> TaskList<T> {
    /// A shard's list of root tasks.
    pub(crate) fn new() -> TaskList<T> {
        TaskList::with_fence(false)
    }

    /// A scope's list of its children (rule 6).
    pub(crate) fn new_scope() -> TaskList<T> {
        TaskList::with_fence(true)
    }

    fn with_fence(fenced: bool) -> TaskList<T> {
        TaskList {
            incoming: AtomicPtr::new(ptr::null_mut()),
            head: OwnLine(Mutex::new(ListHead {
                first: ptr::null(),
                len: 0,
            })),
            fenced,
        }
    }

    /// Enters `node` (rule 1). With `link_now`, and the lock free, links it in front at once;
    /// else pushes it onto `incoming` without waiting for the lock, and the next lock holder
    /// links it in.
    ///
    /// # Safety
    ///
    /// `node` is in no list, is reachable by no other thread yet, and stays alive until
    /// `unlink`ed (rule 2).
    #[inline]
    unsafe fn push(&self, node: NonNull<T>, link_now: bool) {
        let node = node.as_ptr() as *const T;
        if let Some(mut head) = link_now.then(|| try_lock(&self.head)).flatten() {
            // SAFETY: we hold the lock, so the links of `node` (not in any list yet) and of
            // the first node (linked, so alive: rule 2) are ours.
            unsafe {
                let first = head.first;
                (*node).links().with_mut(|l| {
                    *l = Links {
                        prev: ptr::null(),
                        next: first,
                    }
                });
                if let Some(first) = first.as_ref() {
                    first.links().with_mut(|l| (*l).prev = node);
                }
            }
            head.first = node;
            head.len += 1;
            return;
        }
        let node = node as *mut T;
        let mut old = self.incoming.load(Ordering::Relaxed);
        loop {
            // SAFETY: no other thread reaches `node` before the exchange below publishes it
            // (the caller's contract), so its links are ours.
            unsafe {
                (*node).links().with_mut(|l| {
                    *l = Links {
                        prev: stacked(),
                        next: old,
                    }
                })
            };
            // Release: whoever takes the stack (acquire) sees the node's links and contents.
            match self.incoming.compare_exchange_weak(
                old,
                node,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        if self.fenced {
            // Rule 6: pairs with the fence in `for_each_listed_after_fence`.
            fence(Ordering::SeqCst);
        }
    }

    /// Takes the list's lock and links the `incoming` nodes in, in front, newest first (rule
    /// 1): from then on, while the guard lives, every node entered before this call is in the
    /// list and its links are the guard holder's (rule 2).
    fn locked(&self) -> crate::loom::sync::MutexGuard<'_, ListHead<T>> {
        let mut head = lock(&*self.head);
        self.link_incoming(&mut head);
        head
    }

    /// Links the `incoming` nodes in, in front, newest first (rule 1); the caller holds the
    /// lock (`head` is its guard's).
    fn link_incoming(&self, head: &mut ListHead<T>) {
        // A plain load first: most lock holders find the stack empty, and skip the swap's
        // write to a line the spawners write. A node pushed before this call was entered
        // before it (happens-before), so the load sees it or a later value: the stack with it,
        // or, if an earlier holder already took it, a stack without it, with the node already
        // linked by a holder that released the lock before we got it.
        if self.incoming.load(Ordering::Relaxed).is_null() {
            return;
        }
        // Acquire: pairs with `push`'s release.
        let newest = self.incoming.swap(ptr::null_mut(), Ordering::Acquire);
        let mut prev: *const T = ptr::null();
        let mut p: *const T = newest;
        // SAFETY: we hold the lock and took the stack: its nodes are entered, so alive (rule
        // 2), and no one else reads or writes their links now; the list's first node likewise.
        unsafe {
            let first = head.first;
            while let Some(node) = p.as_ref() {
                let next = node.links().with_mut(|l| {
                    (*l).prev = prev;
                    if (*l).next.is_null() {
                        // The oldest of the batch: the list's old first node follows it.
                        (*l).next = first;
                        return ptr::null();
                    }
                    (*l).next
                });
                prev = p;
                head.len += 1;
                p = next;
            }
            if let Some(first) = first.as_ref() {
                first.links().with_mut(|l| (*l).prev = prev);
            }
        }
        head.first = newest;
    }

    /// Unlinks `node`; returns how many tasks the list still holds.
    ///
    /// # Safety
    ///
    /// `node` was entered in this list (`push`) and not unlinked since.
    #[inline]
    unsafe fn unlink(&self, node: &T) -> usize {
        let mut head = lock(&*self.head);
        // The node was entered before this call, so its links read under the lock are the
        // spawner's or a later lock holder's (rule 1): while they say "stacked", the node is
        // still on the stack; then link the stack in. Else the node is linked, and the stack
        // (which the spawners keep writing) is left to a later holder.
        // SAFETY: the lock orders this read after every write to the links but the
        // spawner's, which happened before this call.
        if unsafe { node.links().with(|l| (*l).prev) } == stacked() {
            self.link_incoming(&mut head);
        }
        // SAFETY: we hold the lock and `node` (entered before this call) is linked, so it and
        // its neighbours are alive (rule 2) and their links ours.
        unsafe {
            let Links { prev, next } = node.links().with_mut(|l| ptr::replace(l, Links::new()));
            match prev.as_ref() {
                Some(prev) => prev.links().with_mut(|l| (*l).next = next),
                None => head.first = next,
            }
            if let Some(next) = next.as_ref() {
                next.links().with_mut(|l| (*l).prev = prev);
            }
        }
        head.len -= 1;
        head.len
    }

    /// Calls `f` with the address of every node in the list (for a task, its metadata's, as
    /// its cell gave it: rule 1), under its lock (rule 2).
    fn for_each_listed(&self, mut f: impl FnMut(NonNull<T>)) {
        let head = self.locked();
        let mut p = head.first;
        while let Some(node) = NonNull::new(p as *mut T) {
            f(node);
            // SAFETY: we hold the lock; every linked node is alive (rule 2).
            p = unsafe { node.as_ref().links().with(|l| (*l).next) };
        }
    }

    /// [`for_each_listed`](Self::for_each_listed) after a `SeqCst` fence: a scope's hard drop
    /// (rule 6).
    fn for_each_listed_after_fence(&self, f: impl FnMut(NonNull<T>)) {
        fence(Ordering::SeqCst);
        self.for_each_listed(f);
    }

    /// Calls `f` with every node of the list, under its lock (rule 2).
    #[cfg(all(test, not(tether_loom)))]
    fn for_each(&self, mut f: impl FnMut(&T)) {
        self.for_each_while(|node| {
            f(node);
            true
        });
    }

    /// Calls `f` with the nodes of the list in order, newest first, under its lock (rule 2),
    /// until it returns false; returns the list's length (exact under the lock, rule 5).
    fn for_each_while(&self, mut f: impl FnMut(&T) -> bool) -> usize {
        // SAFETY: we hold the lock; every linked node is alive (rule 2).
        self.for_each_ptr_while(|node| f(unsafe { node.as_ref() }))
    }

    /// [`for_each_while`](Self::for_each_while) with the nodes' pointers as they are linked:
    /// for a task, valid for its whole cell (`raw::snapshot_of_meta`).
    fn for_each_ptr_while(&self, mut f: impl FnMut(NonNull<T>) -> bool) -> usize {
        let head = self.locked();
        let mut p = head.first;
        while let Some(node) = NonNull::new(p as *mut T) {
            if !f(node) {
                break;
            }
            // SAFETY: we hold the lock; every linked node is alive (rule 2).
            p = unsafe { node.as_ref().links().with(|l| (*l).next) };
        }
        head.len
    }

    /// The number of tasks in the list.
    pub(crate) fn len(&self) -> usize {
        self.locked().len
    }
}

impl TaskList<TaskMeta> {
    /// Asks every task of the list for which `pred` holds to stop and wakes it (rule 3);
    /// returns how many were asked.
    pub(crate) fn abort_matching(&self, pred: &dyn Fn(&TaskMeta) -> bool) -> usize {
        let mut wakers = Vec::new();
        self.for_each_listed_after_fence(|ptr| {
            // SAFETY: linked, under its list's lock (rule 2).
            let meta = unsafe { ptr.as_ref() };
            if pred(meta) {
                meta.request_cancel();
                // SAFETY: as above; the address is the cell's (rule 1).
                wakers.push(unsafe { crate::task::raw::waker_of_meta(ptr) });
            }
        });
        let n = wakers.len();
        // Each wake-up happens before its task's next poll (`raw.rs` rule 2), which so sees
        // the request.
        wakers.into_iter().for_each(Waker::wake);
        n
    }

    /// Asks every task of the list to stop and wakes it (a scope's hard drop: rule 6, whose
    /// fence `abort_matching` makes).
    pub(crate) fn abort_all(&self) -> usize {
        self.abort_matching(&|_| true)
    }
}

/// How many tasks past its limit a limited snapshot walks to find the tasks running now
/// (`Registry::snapshot`): the walk holds a list's lock, which completions on that list wait
/// for.
/// (Smaller under Miri, where its test would otherwise spawn thousands of interpreted tasks.)
const RUNNING_SEARCH: usize = if cfg!(miri) { 16 } else { 1024 };

/// One shard: root tasks and the lists of scopes.
#[repr(align(128))]
struct Shard {
    tasks: TaskList,
    /// Tasks spawned by the threads of this shard, scopes' children included (the runtime's
    /// `spawned` metric is the sum): a counter per shard, so spawns on different workers share
    /// no cache line.
    spawned: AtomicU64,
    /// The lists of the scopes entered here (rule 4). The registry holds each by its own `Arc`
    /// (std's: only shared, never part of a protocol), so walking one never touches the scope's
    /// token node, which its owner may be resetting or dropping meanwhile.
    scopes: Mutex<Slab<std::sync::Arc<TaskList>>>,
}

/// Where a scope's list is entered, for `deregister_scope`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopeEntry {
    shard: u8,
    key: usize,
}

/// All live tasks of a runtime (see the module docs for the protocol).
pub(crate) struct Registry {
    shards: Box<[Shard]>,
    /// Set while someone waits for the registry to become empty (graceful shutdown).
    empty_watch: AtomicBool,
    /// The waker of that someone.
    empty_waiter: Mutex<Option<Waker>>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    tasks: TaskList::new(),
                    spawned: AtomicU64::new(0),
                    scopes: Mutex::new(Slab::new()),
                })
                .collect(),
            empty_watch: AtomicBool::new(false),
            empty_waiter: Mutex::new(None),
        }
    }

    /// The list `meta`'s task is entered in: its scope's, or its shard's.
    #[inline]
    fn list_of<'a>(&'a self, meta: &'a TaskMeta) -> &'a TaskList {
        match meta.scope().and_then(|t| t.scope_children()) {
            Some(list) => list,
            None => &self.shards[meta.shard() % SHARDS].tasks,
        }
    }

    /// Enters a task (rule 1). `link_now`: the calling thread will likely finish this task too
    /// (`Scheduler::finishes_here`: a current-thread runtime, or one of the runtime's workers),
    /// and linking it in at once (when the list's lock is free) costs less than linking it in
    /// later from the stack, when it is no longer in the cache. On a multi-thread runtime any
    /// other spawner (its `block_on` thread feeding the workers, a plain thread) pushes it onto
    /// the stack: linking in at once would move the list's lock and first node between its
    /// core and the finishing worker's at every spawn.
    ///
    /// # Safety
    ///
    /// `meta` is the metadata of a task that is not entered yet, by the address its cell gave
    /// (`Runnable::metadata_ptr`); its removal (`cell::unregister`) will `remove` it.
    #[inline]
    pub(crate) unsafe fn insert(&self, ptr: NonNull<TaskMeta>, link_now: bool) {
        // SAFETY: the task is alive (the caller's contract).
        let meta = unsafe { ptr.as_ref() };
        self.shards[meta.shard() % SHARDS]
            .spawned
            .fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract; rule 2 keeps the task alive while it is linked.
        unsafe { self.list_of(meta).push(ptr, link_now) }
    }

    /// Tasks spawned on this runtime so far (the sum of the shards' counts; relaxed, a
    /// snapshot).
    pub(crate) fn spawned(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.spawned.load(Ordering::Relaxed))
            .sum()
    }

    /// Removes the task (rule 2).
    ///
    /// # Safety
    ///
    /// Called once per task, by its removal (`cell::unregister`), and only for a task
    /// `insert`ed.
    #[inline]
    pub(crate) unsafe fn remove(&self, meta: &TaskMeta) {
        // SAFETY: the caller's contract: the task is linked in its list.
        let left = unsafe { self.list_of(meta).unlink(meta) };
        meta.mark_unregistered();
        if left == 0 && self.empty_watch.load(Ordering::Acquire) && self.len() == 0 {
            let waiter = lock(&self.empty_waiter).take();
            if let Some(w) = waiter {
                w.wake();
            }
        }
    }

    /// Enters a scope's list of children (rule 4), in the calling thread's shard.
    pub(crate) fn register_scope(&self, list: &std::sync::Arc<TaskList>) -> ScopeEntry {
        let shard = shard_hint();
        let key = lock(&self.shards[usize::from(shard) % SHARDS].scopes).insert(list.clone());
        ScopeEntry { shard, key }
    }

    /// Removes a scope's list (rule 4); the list is empty.
    pub(crate) fn deregister_scope(&self, entry: ScopeEntry) {
        let list = lock(&self.shards[usize::from(entry.shard) % SHARDS].scopes).remove(entry.key);
        debug_assert_eq!(
            list.len(),
            0,
            "tether: a scope left the registry with children"
        );
    }

    /// Calls `f` with every list: each shard's tasks, then the scopes entered in it (rule 4).
    fn for_each_list(&self, mut f: impl FnMut(&TaskList)) {
        for shard in self.shards.iter() {
            f(&shard.tasks);
            let scopes = lock(&shard.scopes);
            for (_, list) in scopes.iter() {
                f(list);
            }
        }
    }

    /// Ready once no task is registered.
    pub(crate) fn poll_empty(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.empty_watch.store(true, Ordering::Release);
        *lock(&self.empty_waiter) = Some(cx.waker().clone());
        if self.len() == 0 {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    /// The id, name and spawn location of whichever live task has the diagnostics key `key`
    /// (`TaskMeta::diag_key`). Walks every task: for the watchdog's rare reports only.
    pub(crate) fn describe_key(
        &self,
        key: u32,
    ) -> Option<(
        Id,
        Option<std::sync::Arc<str>>,
        &'static std::panic::Location<'static>,
    )> {
        let mut found = None;
        // The walk stops at the task: each list's lock is held while it is walked.
        self.for_each_list(|list| {
            if found.is_none() {
                list.for_each_while(|meta| {
                    if meta.diag_key() == key {
                        found = Some((meta.id, meta.name().cloned(), meta.location()));
                    }
                    found.is_none()
                });
            }
        });
        found
    }

    /// Asks every registered task for which `pred` holds to stop (as `JoinHandle::abort` does)
    /// and wakes it; returns how many were asked. Walks all tasks: meant for rare events such as
    /// a simulated host's crash, not for hot paths (a scope aborts its own list,
    /// [`TaskList::abort_all`]).
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub(crate) fn abort_matching(&self, pred: impl Fn(&TaskMeta) -> bool) -> usize {
        let mut n = 0;
        self.for_each_list(|list| n += list.abort_matching(&pred));
        n
    }

    /// Wakers of every registered task not woken by a shutdown yet (rule 3); used at shutdown.
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        self.for_each_list(|list| {
            list.for_each_listed(|ptr| {
                // SAFETY: linked, under its list's lock (rule 2).
                if unsafe { ptr.as_ref() }.mark_shutdown_woken() {
                    // SAFETY: as above; the address is the cell's (rule 1).
                    wakers.push(unsafe { crate::task::raw::waker_of_meta(ptr) });
                }
            });
        });
        wakers
    }

    /// The number of live tasks (rule 5).
    pub(crate) fn len(&self) -> usize {
        let mut n = 0;
        self.for_each_list(|list| n += list.len());
        n
    }

    /// A snapshot of the live tasks, ordered by id. `running` lists the diagnostics keys of the
    /// polls in progress with their workers' indexes; `busy` the tasks' time in poll. At
    /// most `limit` tasks are described (the first in registry order, and the tasks running
    /// now among the next [`RUNNING_SEARCH`]): the live console's bound on a snapshot of a
    /// million tasks, which then only counts the rest (from the lists' lengths, without walking
    /// them). Returns the tasks and how many are live in all.
    pub(crate) fn snapshot(
        &self,
        now_ms: u64,
        running: &[(u32, usize)],
        busy: &BusyTimes,
        limit: usize,
    ) -> (Vec<TaskInfo>, usize) {
        let mut tokens = Vec::new();
        let mut out: Vec<TaskInfo> = Vec::new();
        let mut total = 0;
        // Past `limit` the walk goes on only to find the running tasks, and for `limit` tasks
        // more at most: a list's lock is held while it is walked, and every completion on that
        // list waits for it (the live console takes a limited snapshot several times a
        // second; a walk of a million tasks there slowed the runtime by several percent).
        let walk_limit = limit.saturating_add(RUNNING_SEARCH);
        // `block_on`'s poll has a key too, which no task has.
        let running_tasks = running
            .iter()
            .filter(|&&(k, _)| k != crate::runtime::diagnostics::MAIN_KEY)
            .count();
        let (mut walked, mut running_found) = (0usize, 0usize);
        self.for_each_list(|list| {
            total += list.for_each_ptr_while(|ptr| {
                // SAFETY: under the list's lock: a listed task is alive (rule 2).
                let meta = unsafe { ptr.as_ref() };
                if walked >= walk_limit || (out.len() >= limit && running_found == running_tasks) {
                    return false;
                }
                walked += 1;
                let key = meta.diag_key();
                let running_on = running.iter().find(|&&(k, _)| k == key).map(|(_, w)| *w);
                running_found += usize::from(running_on.is_some());
                if out.len() >= limit && running_on.is_none() {
                    return true;
                }
                tokens.push(meta.scope().cloned());
                out.push(info_of(ptr, now_ms, running_on, busy));
                true
            });
        });
        // Scopes and join sets are described outside the locks (their tokens were cloned under
        // them).
        for (info, token) in out.iter_mut().zip(tokens) {
            describe_group(info, token);
        }
        out.sort_by_key(|t| t.id);
        (out, total)
    }

    /// The live task `id`, described as [`snapshot`](Self::snapshot) does, or `None` when no
    /// live task has that id. Walks the lists until it finds it (each under its lock, as the
    /// snapshot does): for the live console's detail of a task its limited snapshot left out.
    #[cfg(feature = "console")]
    pub(crate) fn find(
        &self,
        id: u64,
        now_ms: u64,
        running: &[(u32, usize)],
        busy: &BusyTimes,
    ) -> Option<TaskInfo> {
        let mut found = None;
        self.for_each_list(|list| {
            if found.is_some() {
                return;
            }
            list.for_each_ptr_while(|ptr| {
                // SAFETY: under the list's lock: a listed task is alive (rule 2).
                let meta = unsafe { ptr.as_ref() };
                if meta.id.as_u64() != id {
                    return true;
                }
                let key = meta.diag_key();
                let running_on = running.iter().find(|&&(k, _)| k == key).map(|(_, w)| *w);
                found = Some((
                    info_of(ptr, now_ms, running_on, busy),
                    meta.scope().cloned(),
                ));
                false
            });
        });
        found.map(|(mut info, token)| {
            describe_group(&mut info, token);
            info
        })
    }
}

/// What a snapshot says of the task whose metadata `ptr` points at, listed and so alive (its
/// scope and join set are described later, outside the lists' locks: [`describe_group`]).
fn info_of(
    ptr: NonNull<TaskMeta>,
    now_ms: u64,
    running_on: Option<usize>,
    busy: &BusyTimes,
) -> TaskInfo {
    // SAFETY: the caller walks a list under its lock, so the task is alive (rule 2), and `ptr`
    // is the pointer it was linked with, valid for its whole cell.
    let (meta, word) = unsafe { (ptr.as_ref(), crate::task::raw::snapshot_of_meta(ptr)) };
    let state = match running_on {
        // Blocked in `block_in_place`, its worker lent (diagnostics rule 6).
        Some(crate::runtime::diagnostics::IN_PLACE) => TaskState::Blocking,
        Some(worker) => TaskState::Running { worker },
        None if meta.blocking() && word.polls > 0 => TaskState::Blocking,
        None if word.queued => TaskState::Scheduled,
        None => TaskState::Idle,
    };
    TaskInfo {
        id: meta.id,
        name: meta.name().cloned(),
        location: meta.location(),
        age: std::time::Duration::from_millis(now_ms.saturating_sub(u64::from(meta.spawned_ms))),
        root: meta.in_root_scope() && !meta.blocking(),
        blocking: meta.blocking(),
        state,
        polls: word.polls,
        wakes: meta.wakes.load(Ordering::Relaxed),
        busy: busy.of(meta.id),
        scope: None,
        join_set: None,
    }
}

/// Fills in the scope or join set of `info` from its task's `token`.
fn describe_group(info: &mut TaskInfo, token: Option<crate::scope::CancelToken>) {
    let Some(token) = token else { return };
    info.scope = crate::scope::describe(&token).map(|d| ScopeInfo {
        id: d.id,
        location: d.location,
        owner: d.owner,
    });
    info.join_set = crate::scope::describe_join_set(&token).map(|d| JoinSetInfo {
        id: d.id,
        location: d.location,
        owner: d.owner,
    });
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::future::pending;

    use super::{Registry, SHARDS};

    /// The tasks of the runtime's shards, without the scopes' lists.
    fn in_shards(registry: &Registry) -> usize {
        registry.shards.iter().map(|s| s.tasks.len()).sum()
    }

    /// `f` of the current runtime's registry.
    fn with<R>(f: impl FnOnce(&Registry) -> R) -> R {
        f(&crate::runtime::Handle::current().shared.registry)
    }

    #[test]
    fn a_scopes_children_are_in_its_own_list_so_its_hard_drop_walks_only_them() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Under Miri 10 root tasks (11 s for 100 there).
        let n = if cfg!(miri) { 10 } else { 100 };
        rt.block_on(async move {
            let roots: Vec<_> = (0..n).map(|_| crate::spawn(pending::<()>())).collect();
            crate::task::yield_now().await;
            assert_eq!(with(Registry::len), n);
            assert_eq!(with(in_shards), n);
            let res = crate::scope::scope(|s| async move {
                for _ in 0..3 {
                    drop(s.spawn(pending::<Result<(), ()>>()).await);
                }
                crate::task::yield_now().await;
                // Every task is counted and listed, the children outside the shards.
                assert_eq!(with(Registry::len), n + 3);
                assert_eq!(with(in_shards), n);
                assert_eq!(
                    with(|r| r
                        .snapshot(
                            0,
                            &[],
                            &crate::runtime::diagnostics::BusyTimes::none(),
                            usize::MAX
                        )
                        .0
                        .len()),
                    n + 3
                );
                s.cancel();
                Ok::<_, ()>(())
            })
            .await;
            drop(res);
            // The children were cancelled and left; the root tasks were not touched.
            assert_eq!(with(Registry::len), n);
            for h in &roots {
                assert!(!h.is_finished());
                h.abort();
            }
            for h in roots {
                assert!(h.await.unwrap_err().is_cancelled());
            }
            assert_eq!(with(Registry::len), 0);
        });
    }

    /// A limited snapshot describes `limit` tasks, finds a running task only among the next
    /// `RUNNING_SEARCH`, and still counts every task (from the lists' lengths).
    #[test]
    fn a_limited_snapshot_counts_every_task_and_walks_a_bounded_part() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let n = 3 * super::RUNNING_SEARCH;
            let tasks: Vec<_> = (0..n).map(|_| crate::spawn(pending::<()>())).collect();
            crate::task::yield_now().await;
            let keys: Vec<u32> = with(|r| {
                let mut keys = Vec::new();
                r.for_each_list(|l| l.for_each(|m| keys.push(m.diag_key())));
                keys
            });
            let busy = crate::runtime::diagnostics::BusyTimes::none();
            let near = super::RUNNING_SEARCH / 2;
            let far = 2 * super::RUNNING_SEARCH;
            for (at, found) in [(near, true), (far, false)] {
                let (listed, total) = with(|r| r.snapshot(0, &[(keys[10 + at], 0)], &busy, 10));
                assert_eq!(total, n, "every task is counted");
                assert_eq!(listed.len(), 10 + usize::from(found));
                let running = listed
                    .iter()
                    .any(|t| matches!(t.state, crate::diag::TaskState::Running { .. }));
                assert_eq!(running, found, "running task {at} past the limit");
            }
            tasks.iter().for_each(|t| t.abort());
        });
    }

    /// With worker threads a spawn enters its task without the list's lock (rule 1): the task
    /// is counted and listed at once all the same, before any worker ran or finished a task
    /// of that list.
    #[test]
    fn a_task_entered_without_the_lock_is_counted_and_listed_at_once() {
        let rt = crate::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..10).map(|_| crate::spawn(pending::<()>())).collect();
            assert_eq!(with(Registry::len), 10);
            let listed = with(|r| {
                r.snapshot(
                    0,
                    &[],
                    &crate::runtime::diagnostics::BusyTimes::none(),
                    usize::MAX,
                )
                .0
            });
            let mut ids: Vec<_> = listed.iter().map(|t| t.id).collect();
            ids.sort_unstable();
            let mut spawned: Vec<_> = tasks.iter().map(|t| t.id()).collect();
            spawned.sort_unstable();
            assert_eq!(ids, spawned);
            tasks.iter().for_each(|t| t.abort());
            for t in tasks {
                assert!(t.await.unwrap_err().is_cancelled());
            }
            assert_eq!(with(Registry::len), 0);
        });
    }

    /// Tasks spawned from plain threads and from the workers, finishing on the workers while
    /// others are still being entered, all leave the registry.
    #[test]
    fn tasks_entered_and_finished_on_different_threads_all_leave() {
        let rt = crate::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let n = if cfg!(miri) { 6 } else { 2_000 };
        let from_threads: Vec<_> = (0..2)
            .map(|_| {
                let handle = rt.handle().clone();
                std::thread::spawn(move || {
                    (0..n)
                        .map(|i| handle.spawn(async move { i }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        rt.block_on(async {
            let nested = crate::spawn(async move {
                let tasks: Vec<_> = (0..n).map(|i| crate::spawn(async move { i })).collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.unwrap();
                }
                sum
            });
            let mut sum = nested.await.unwrap();
            for t in from_threads {
                for h in t.join().unwrap() {
                    sum += h.await.unwrap();
                }
            }
            assert_eq!(sum, 3 * (0..n).sum::<usize>());
            assert_eq!(with(Registry::len), 0);
            assert_eq!(with(|r| r.spawned()), 3 * n as u64 + 1);
        });
    }

    #[test]
    fn a_root_task_is_listed_in_the_shard_of_the_thread_that_spawned_it() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = crate::spawn(pending::<()>());
            let shard = usize::from(super::shard_hint()) % SHARDS;
            assert_eq!(with(|r| r.shards[shard].tasks.len()), 1);
            assert_eq!(with(in_shards), 1);
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert_eq!(with(|r| r.shards[shard].tasks.len()), 0);
        });
    }

    #[test]
    fn an_aborted_detached_task_leaves_the_registry_and_its_abort_handle_says_finished() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = crate::spawn(pending::<()>());
            let abort = h.abort_handle();
            drop(h);
            assert!(!abort.is_finished());
            abort.abort();
            crate::task::yield_now().await;
            assert!(abort.is_finished());
            assert_eq!(with(Registry::len), 0);
            // Aborting a finished task does nothing.
            abort.abort();
        });
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    //! Loom models of rules 1 and 2: entering a list without its lock while other threads
    //! unlink and walk it. Each model ends by walking the list and checking every node's
    //! `prev` against the walk and the length against the nodes found.

    use std::ptr::{self, NonNull};

    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use super::{Linked, Links, TaskList};
    use crate::loom::cell::UnsafeCell;

    struct Node {
        links: UnsafeCell<Links<Node>>,
        n: u32,
    }

    impl Linked for Node {
        fn links(&self) -> &UnsafeCell<Links<Node>> {
            &self.links
        }
    }

    /// A node owned by the model, freed by `free` once no list holds it.
    #[derive(Clone, Copy)]
    struct P(NonNull<Node>);

    // SAFETY: a node's links are touched only through the list's protocol, which the models
    // check; `n` never changes.
    unsafe impl Send for P {}

    fn node(n: u32) -> P {
        P(NonNull::from(Box::leak(Box::new(Node {
            links: UnsafeCell::new(Links::new()),
            n,
        }))))
    }

    fn free(p: P) {
        // SAFETY: made by `node`, unlinked, and used by no thread any more.
        drop(unsafe { Box::from_raw(p.0.as_ptr()) });
    }

    /// The list's nodes, first to last, after checking that the links agree both ways.
    fn contents(list: &TaskList<Node>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut prev: *const Node = ptr::null();
        let len = list.for_each_while(|node| {
            // SAFETY: under the list's lock (rule 2).
            let p = node.links().with(|l| unsafe { (*l).prev });
            assert_eq!(p, prev, "a node's prev is not the node walked before it");
            prev = node;
            out.push(node.n);
            true
        });
        assert_eq!(len, out.len(), "the length disagrees with the walk");
        out
    }

    fn push(list: &TaskList<Node>, p: P, link_now: bool) {
        // SAFETY: `p` is new, in no list, and outlives its time in the list (freed after it
        // is unlinked).
        unsafe { list.push(p.0, link_now) }
    }

    fn unlink(list: &TaskList<Node>, p: P) {
        // SAFETY: `p` was pushed onto `list` before this call (happens-before) and not
        // unlinked since.
        unsafe { list.unlink(p.0.as_ref()) };
    }

    /// Unlinks and frees every node; the list ends empty.
    fn clear(list: &TaskList<Node>, nodes: &[P]) {
        for &p in nodes {
            unlink(list, p);
            free(p);
        }
        assert_eq!(contents(list), Vec::<u32>::new());
    }

    /// Node 1 is entered (`first_now`: linked at once, else stacked); then one thread unlinks
    /// it (and walks the list, with `walk`) while another enters nodes 2 and 3 (`then_now`).
    /// The list ends with 2 and 3, each linked once.
    fn unlink_while_entering(first_now: bool, then_now: [bool; 2], walk: bool) {
        loom::model(move || {
            let list = Arc::new(TaskList::<Node>::new());
            let (a, b, c) = (node(1), node(2), node(3));
            push(&list, a, first_now);
            let unlinker = {
                let list = list.clone();
                thread::spawn(move || {
                    unlink(&list, a);
                    free(a);
                    if walk {
                        let n = contents(&list).len();
                        assert!(n <= 2, "{n} nodes");
                    }
                })
            };
            let pusher = {
                let list = list.clone();
                thread::spawn(move || {
                    push(&list, b, then_now[0]);
                    push(&list, c, then_now[1]);
                })
            };
            unlinker.join().unwrap();
            pusher.join().unwrap();
            let mut got = contents(&list);
            got.sort_unstable();
            assert_eq!(got, [2, 3]);
            clear(&list, &[b, c]);
        });
    }

    /// A multi-thread runtime's spawns from its `block_on` thread (all stacked): nodes pushed
    /// while another thread unlinks an earlier one (taking the stack, possibly with the new
    /// nodes in it) are neither lost nor linked twice.
    #[test]
    fn nodes_pushed_while_another_thread_unlinks_all_end_up_linked() {
        unlink_while_entering(false, [false, false], false);
    }

    /// Nodes linked in at once (`link_now`: a worker's spawns) and stacked meet an unlink of a
    /// linked node, which leaves the stack alone, and a walk, which links it in. (Loom treats
    /// `try_lock` as opaque and does not explore its failure; after a failed `try_lock`, a
    /// push takes the stack's path, which the models check.)
    #[test]
    fn a_node_linked_at_once_or_stacked_is_found_by_the_next_lock_holder() {
        unlink_while_entering(true, [true, false], true);
    }

    /// Two threads push at once (the stack's exchange races) while a third walks the list.
    #[test]
    fn concurrent_pushes_are_all_linked() {
        loom::model(|| {
            let list = Arc::new(TaskList::<Node>::new());
            let (a, b) = (node(1), node(2));
            let walker = {
                let list = list.clone();
                thread::spawn(move || assert!(contents(&list).len() <= 2))
            };
            let pusher = {
                let list = list.clone();
                thread::spawn(move || push(&list, a, false))
            };
            push(&list, b, false);
            pusher.join().unwrap();
            walker.join().unwrap();
            let mut got = contents(&list);
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
            clear(&list, &[a, b]);
        });
    }

    /// Rule 6: a scope's hard drop (its flag, then a fenced walk of the scope's list) against a
    /// child's entry (then a read of the flag): the walk finds the child or the spawner sees
    /// the flag, whether the entry was stacked or linked at once.
    #[test]
    fn a_hard_drop_finds_a_child_entered_meanwhile_or_its_spawner_sees_the_drop() {
        for link_now in [false, true] {
            loom::model(move || {
                let list = Arc::new(TaskList::<Node>::new_scope());
                let dropped = Arc::new(AtomicBool::new(false));
                let b = node(2);
                let dropper = {
                    let (list, dropped) = (list.clone(), dropped.clone());
                    thread::spawn(move || {
                        dropped.store(true, Ordering::SeqCst);
                        let mut walked = 0;
                        list.for_each_listed_after_fence(|_| walked += 1);
                        walked
                    })
                };
                push(&list, b, link_now);
                let saw = dropped.load(Ordering::SeqCst);
                let walked = dropper.join().unwrap();
                assert!(saw || walked == 1, "the child escaped the hard drop");
                clear(&list, &[b]);
            });
        }
    }
}
