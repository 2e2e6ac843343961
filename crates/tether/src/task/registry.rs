//! The registry of live tasks of one runtime.
//!
//! Every task is entered here when it is spawned and removed when its future is dropped (on
//! completion, cancellation or runtime shutdown), so the runtime can list what still runs and, at
//! shutdown, wake every task in order to drop it: no task is ever left behind unseen.
//!
//! The registry is intrusive and sharded: a task's entry is its own [`TaskMeta`] (`links`),
//! linked into one [`TaskList`], a doubly linked list under
//! its own mutex. A root task (`tether::spawn`, a `JoinSet`'s, a blocking job) is entered in one
//! of [`SHARDS`] shards, the one of the thread that spawns it (`shard_hint`), so spawns and
//! completions on different workers take different locks. A scope's child is entered in its
//! scope's own list (`ScopeState::children`), so cancelling or hard-dropping a scope walks its
//! children only. Each scope's list is itself entered in a shard (`register_scope`), so the dump,
//! the shutdown and the simulation see every task.
//!
//! Protocol:
//! 1. Before a task is first scheduled, the spawner links it into its list under the list's lock,
//!    by the address of its metadata that the task cell gives (`Runnable::metadata_ptr`, good for
//!    the whole cell), which is what the list keeps.
//! 2. The task's `RegistryGuard` (in its future: when the future is dropped, after the task's
//!    result was decided, `TaskMeta` rule 2, or when its runnable was dropped unrun) unlinks it
//!    under the list's lock and sets `UNREGISTERED`. A task's future holds a reference to its
//!    cell until it is dropped (`raw.rs` rule 1), so while a task is linked, its cell, and the
//!    `TaskMeta` in it, is alive: whoever holds a list's lock may read the metadata of every task
//!    in the list, and make a waker of it from the kept address (`raw::waker_of_meta`, a new
//!    reference), to wake it after the lock is released.
//! 3. Wakers are woken only after every lock is released (`take_wakers`, `abort_all`,
//!    `abort_matching`), because waking may run arbitrary scheduler code that spawns or drops
//!    tasks and so re-enters the registry.
//! 4. Locks nest in one order only: a shard's `scopes` before a scope's list. A task's entry and
//!    removal take only its list's lock; a scope's list (an `Arc`, kept by the scope's token node
//!    across recycling) is entered and removed (`register_scope`, `deregister_scope`) under its
//!    shard's `scopes` lock, and is removed only once empty (a child's metadata holds the scope's
//!    token, which keeps the scope's state, and so its entry, alive).
//! 5. A list's `len` is exact under its lock. The total ([`Registry::len`]) is the sum over the
//!    lists, read one lock at a time: exact when nothing spawns or finishes meanwhile (the
//!    graceful shutdown waits for it to reach zero: the guard that empties a list checks it when
//!    someone waits, `poll_empty`).
//!
//! `snapshot` describes the live tasks in the public report types of [`crate::diag`]
//! ([`TaskInfo`], [`TaskState`], [`ScopeInfo`]).

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::task::Waker;

use slab::Slab;

use crate::diag::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::Mutex;
use crate::task::meta::TaskMeta;
use crate::task::Id;

/// The number of shards root tasks are spread over (at most 128: a task keeps its shard in 7
/// bits of a byte).
pub(crate) const SHARDS: usize = 16;

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

/// A doubly linked list of tasks under one mutex (see the module docs).
pub(crate) struct TaskList {
    /// Holding this lock means no task can be added to or removed from this list, and the
    /// `links` of its tasks are ours to read and write (rule 2).
    head: Mutex<ListHead>,
}

struct ListHead {
    /// The first task's metadata, by the address its cell gave (rule 1).
    first: *const TaskMeta,
    len: usize,
}

// SAFETY: `first` points at a linked task's metadata, which rule 2 keeps alive while it is
// linked; it is only dereferenced under the lock.
unsafe impl Send for ListHead {}

impl TaskList {
    pub(crate) fn new() -> TaskList {
        TaskList {
            head: Mutex::new(ListHead {
                first: ptr::null(),
                len: 0,
            }),
        }
    }

    /// Links `meta` in (rule 1).
    ///
    /// # Safety
    ///
    /// `meta` is the metadata of a task in no list, by the address its cell gave (rule 1), and
    /// stays alive until `unlink`ed (rule 2).
    #[inline]
    unsafe fn push(&self, meta: NonNull<TaskMeta>) {
        let mut head = lock(&self.head);
        let old = head.first;
        let meta = meta.as_ptr() as *const TaskMeta;
        // SAFETY: we hold the list's lock, so the links of `meta` (not in any list yet) and of
        // `old` (linked, so alive: rule 2) are ours.
        unsafe {
            *(*meta).links.get() = crate::task::meta::Links {
                prev: ptr::null(),
                next: old,
            };
            if let Some(old) = old.as_ref() {
                (*old.links.get()).prev = meta;
            }
        }
        head.first = meta;
        head.len += 1;
    }

    /// Unlinks `meta`; returns how many tasks the list still holds.
    ///
    /// # Safety
    ///
    /// `meta` is linked in this list.
    #[inline]
    unsafe fn unlink(&self, meta: &TaskMeta) -> usize {
        let mut head = lock(&self.head);
        // SAFETY: we hold the list's lock; `meta` and its neighbours are linked here, so alive.
        unsafe {
            let links = &mut *meta.links.get();
            match links.prev.as_ref() {
                Some(prev) => (*prev.links.get()).next = links.next,
                None => head.first = links.next,
            }
            if let Some(next) = links.next.as_ref() {
                (*next.links.get()).prev = links.prev;
            }
            links.prev = ptr::null();
            links.next = ptr::null();
        }
        head.len -= 1;
        head.len
    }

    /// Calls `f` with the address of every task's metadata in the list (rule 1), under its lock
    /// (rule 2).
    fn for_each_listed(&self, mut f: impl FnMut(NonNull<TaskMeta>)) {
        let head = lock(&self.head);
        let mut p = head.first;
        while let Some(meta) = NonNull::new(p as *mut TaskMeta) {
            f(meta);
            // SAFETY: we hold the lock; every linked task is alive (rule 2).
            p = unsafe { (*meta.as_ref().links.get()).next };
        }
    }

    /// Calls `f` with every task of the list, under its lock (rule 2).
    #[cfg(test)]
    fn for_each(&self, mut f: impl FnMut(&TaskMeta)) {
        self.for_each_while(|meta| {
            f(meta);
            true
        });
    }

    /// Calls `f` with the tasks of the list in order, under its lock (rule 2), until it returns
    /// false; returns the list's length (exact under the lock, rule 5).
    fn for_each_while(&self, mut f: impl FnMut(&TaskMeta) -> bool) -> usize {
        let head = lock(&self.head);
        let mut p = head.first;
        // SAFETY: we hold the lock; every linked task is alive (rule 2).
        while let Some(meta) = unsafe { p.as_ref() } {
            if !f(meta) {
                break;
            }
            // SAFETY: as above.
            p = unsafe { (*meta.links.get()).next };
        }
        head.len
    }

    /// The number of tasks in the list.
    pub(crate) fn len(&self) -> usize {
        lock(&self.head).len
    }

    /// Asks every task of the list for which `pred` holds to stop and wakes it (rule 3);
    /// returns how many were asked.
    pub(crate) fn abort_matching(&self, pred: &dyn Fn(&TaskMeta) -> bool) -> usize {
        let mut wakers = Vec::new();
        self.for_each_listed(|ptr| {
            // SAFETY: linked, under its list's lock (rule 2).
            let meta = unsafe { ptr.as_ref() };
            if pred(meta) {
                meta.request_cancel();
                // SAFETY: as above; the address is the cell's (rule 1).
                wakers.push(unsafe { crate::task::raw::waker_of_meta(ptr) });
            }
        });
        let n = wakers.len();
        wakers.into_iter().for_each(Waker::wake);
        n
    }

    /// Asks every task of the list to stop and wakes it (a scope's hard drop).
    pub(crate) fn abort_all(&self) -> usize {
        self.abort_matching(&|_| true)
    }
}

/// How many tasks past its limit a limited snapshot walks to find the tasks running now
/// (`Registry::snapshot`): the walk holds a list's lock, which spawns on that list wait for.
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
        match meta.scope.as_ref().and_then(|t| t.scope_children()) {
            Some(list) => list,
            None => &self.shards[meta.shard() % SHARDS].tasks,
        }
    }

    /// Enters a task (rule 1).
    ///
    /// # Safety
    ///
    /// `meta` is the metadata of a task that is not entered yet, by the address its cell gave
    /// (`Runnable::metadata_ptr`); its `RegistryGuard` will `remove` it.
    #[inline]
    pub(crate) unsafe fn insert(&self, ptr: NonNull<TaskMeta>) {
        // SAFETY: the task is alive (the caller's contract).
        let meta = unsafe { ptr.as_ref() };
        self.shards[meta.shard() % SHARDS]
            .spawned
            .fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract; rule 2 keeps the task alive while it is linked.
        unsafe { self.list_of(meta).push(ptr) }
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
    /// Called once per task, by its `RegistryGuard`, and only for a task `insert`ed.
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
    /// polls in progress with their workers' indexes; `tick` is the unit of time in poll. At
    /// most `limit` tasks are described (the first in registry order, and the tasks running
    /// now among the next [`RUNNING_SEARCH`]): the live console's bound on a snapshot of a
    /// million tasks, which then only counts the rest (from the lists' lengths, without walking
    /// them). Returns the tasks and how many are live in all.
    pub(crate) fn snapshot(
        &self,
        now_ms: u64,
        running: &[(u32, usize)],
        tick: std::time::Duration,
        limit: usize,
    ) -> (Vec<TaskInfo>, usize) {
        let mut tokens = Vec::new();
        let mut out: Vec<TaskInfo> = Vec::new();
        let mut total = 0;
        // Past `limit` the walk goes on only to find the running tasks, and for `limit` tasks
        // more at most: a list's lock is held while it is walked, and every spawn and completion
        // on that list waits for it (the live console takes a limited snapshot several times a
        // second; a walk of a million tasks there slowed spawns by several percent).
        let walk_limit = limit.saturating_add(RUNNING_SEARCH);
        // `block_on`'s poll has a key too, which no task has.
        let running_tasks = running
            .iter()
            .filter(|&&(k, _)| k != crate::runtime::diagnostics::MAIN_KEY)
            .count();
        let (mut walked, mut running_found) = (0usize, 0usize);
        self.for_each_list(|list| {
            total += list.for_each_while(|meta| {
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
                tokens.push(meta.scope.clone());
                out.push(info_of(meta, now_ms, running_on, tick));
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
        tick: std::time::Duration,
    ) -> Option<TaskInfo> {
        let mut found = None;
        self.for_each_list(|list| {
            if found.is_some() {
                return;
            }
            list.for_each_while(|meta| {
                if meta.id.as_u64() != id {
                    return true;
                }
                let key = meta.diag_key();
                let running_on = running.iter().find(|&&(k, _)| k == key).map(|(_, w)| *w);
                found = Some((info_of(meta, now_ms, running_on, tick), meta.scope.clone()));
                false
            });
        });
        found.map(|(mut info, token)| {
            describe_group(&mut info, token);
            info
        })
    }
}

/// What a snapshot says of the task `meta` (its scope and join set are described later,
/// outside the lists' locks: [`describe_group`]).
fn info_of(
    meta: &TaskMeta,
    now_ms: u64,
    running_on: Option<usize>,
    tick: std::time::Duration,
) -> TaskInfo {
    let polls = meta.polls.load(Ordering::Relaxed);
    let state = match running_on {
        // Blocked in `block_in_place`, its worker lent (diagnostics rule 6).
        Some(crate::runtime::diagnostics::IN_PLACE) => TaskState::Blocking,
        Some(worker) => TaskState::Running { worker },
        None if meta.blocking() && polls > 0 => TaskState::Blocking,
        None if meta.is_scheduled() => TaskState::Scheduled,
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
        polls,
        wakes: meta.wakes.load(Ordering::Relaxed),
        busy: tick * meta.poll_ticks.load(Ordering::Relaxed),
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
        rt.block_on(async {
            let roots: Vec<_> = (0..100).map(|_| crate::spawn(pending::<()>())).collect();
            crate::task::yield_now().await;
            assert_eq!(with(Registry::len), 100);
            assert_eq!(with(in_shards), 100);
            let res = crate::scope::scope(|s| async move {
                for _ in 0..3 {
                    drop(s.spawn(pending::<Result<(), ()>>()).await);
                }
                crate::task::yield_now().await;
                // Every task is counted and listed, the children outside the shards.
                assert_eq!(with(Registry::len), 103);
                assert_eq!(with(in_shards), 100);
                assert_eq!(
                    with(|r| r
                        .snapshot(0, &[], std::time::Duration::ZERO, usize::MAX)
                        .0
                        .len()),
                    103
                );
                s.cancel();
                Ok::<_, ()>(())
            })
            .await;
            drop(res);
            // The children were cancelled and left; the root tasks were not touched.
            assert_eq!(with(Registry::len), 100);
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
            let tick = std::time::Duration::ZERO;
            let near = super::RUNNING_SEARCH / 2;
            let far = 2 * super::RUNNING_SEARCH;
            for (at, found) in [(near, true), (far, false)] {
                let (listed, total) = with(|r| r.snapshot(0, &[(keys[10 + at], 0)], tick, 10));
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
