//! The registry of live tasks of one runtime.
//!
//! Every task is entered here when it is spawned and removed when its future is dropped (on
//! completion, cancellation or runtime shutdown). An entry points at the task's metadata (its
//! id, name, spawn location) and keeps a waker, so the runtime can list what still runs and, at
//! shutdown, wake every task in order to drop it: no task is ever left behind unseen.
//!
//! Protocol:
//! 1. `insert` happens before the task is first scheduled; the key is then stored in the task's
//!    `TaskMeta::key`.
//! 2. `remove` is called exactly once per task, by the task's `RegistryGuard` when its future is
//!    dropped, which is after the task's result was decided (`TaskMeta` rule 2, `COMPLETE`) or
//!    after async-task closed the task: so once a task is not `contains`ed any more, its
//!    `JoinHandle` reports it finished (`join.rs` rule 3). The id is checked so a stale key can
//!    never remove another task's entry.
//! 3. Wakers are woken only after the lock is released (`take_wakers`, `abort`), because waking
//!    may run arbitrary scheduler code that spawns or drops tasks and so re-enters the registry.
//! 4. An entry exists only while the task's future has not been dropped (rule 2 removes it, under
//!    the lock, before the future is gone), so the task's allocation, and the `TaskMeta` in it, is
//!    alive for as long as the entry is: its `meta` pointer may be read under the lock (that is
//!    how the name and spawn location are read).
//!
//! `snapshot` describes the live tasks in the public report types of [`crate::diag`]
//! ([`TaskInfo`], [`TaskState`], [`ScopeInfo`]).

use std::panic::Location;
use std::task::Waker;

use slab::Slab;

use crate::diag::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};
use crate::loom::lock;
use crate::loom::sync::atomic::Ordering;
use crate::loom::sync::Mutex;
use crate::task::meta::TaskMeta;
use crate::task::Id;

/// One live task as seen by the registry.
struct Entry {
    /// The task's metadata, valid while the entry exists (rule 4).
    meta: *const TaskMeta,
    /// The task's id, checked against the caller's so a stale key finds nothing (rule 2).
    id: Id,
    /// Wakes the task; taken at shutdown.
    waker: Option<Waker>,
    /// When the task was spawned, in the time driver's coarse milliseconds (saturating at
    /// `u32::MAX`, about 49 days: ages beyond that read as at least that).
    spawned_ms: u32,
}

impl Entry {
    /// The task's metadata.
    ///
    /// # Safety
    ///
    /// The caller holds the registry's lock, under which it found this entry (rule 4).
    unsafe fn meta(&self) -> &TaskMeta {
        // SAFETY: rule 4: the entry exists and the caller holds the lock, so the task's
        // allocation and its metadata are alive.
        unsafe { &*self.meta }
    }
}

// SAFETY: the only non-`Send`/`Sync` field is `Entry::meta`, a pointer to a `TaskMeta`
// (which is `Sync`), read only under the registry lock while rule 4 keeps it valid.
unsafe impl Send for Entry {}

/// All live tasks of a runtime (see the module docs for the protocol).
pub(crate) struct Registry {
    /// Holding this lock means no task can be added or removed.
    entries: Mutex<Slab<Entry>>,
    /// Set while someone waits for the registry to become empty (graceful shutdown).
    empty_watch: crate::loom::sync::atomic::AtomicBool,
    /// The waker of that someone.
    empty_waiter: Mutex<Option<Waker>>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            entries: Mutex::new(Slab::new()),
            empty_watch: crate::loom::sync::atomic::AtomicBool::new(false),
            empty_waiter: Mutex::new(None),
        }
    }

    /// Enters a task; returns its key (rule 1).
    pub(crate) fn insert(&self, meta: &TaskMeta, waker: Waker, spawned_ms: u64) -> usize {
        lock(&self.entries).insert(Entry {
            spawned_ms: u32::try_from(spawned_ms).unwrap_or(u32::MAX),
            meta,
            id: meta.id,
            waker: Some(waker),
        })
    }

    /// Removes the task `id` stored at `key` (rule 2).
    pub(crate) fn remove(&self, key: usize, id: Id) {
        let (removed, now_empty) = {
            let mut entries = lock(&self.entries);
            let removed = match entries.get(key) {
                Some(e) if e.id == id => Some(entries.remove(key)),
                _ => None,
            };
            (removed, entries.is_empty())
        };
        // The waker (a reference to the task) is dropped outside the lock.
        drop(removed);
        if now_empty
            && self
                .empty_watch
                .load(crate::loom::sync::atomic::Ordering::Acquire)
        {
            let waiter = lock(&self.empty_waiter).take();
            if let Some(w) = waiter {
                w.wake();
            }
        }
    }

    /// Ready once no task is registered.
    pub(crate) fn poll_empty(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.empty_watch
            .store(true, crate::loom::sync::atomic::Ordering::Release);
        *lock(&self.empty_waiter) = Some(cx.waker().clone());
        if lock(&self.entries).is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    /// The id, name and spawn location of whichever task is registered at `key` now.
    pub(crate) fn describe_key(
        &self,
        key: usize,
    ) -> Option<(Id, Option<std::sync::Arc<str>>, &'static Location<'static>)> {
        let entries = lock(&self.entries);
        entries.get(key).map(|e| {
            // SAFETY: found under the lock we hold.
            let meta = unsafe { e.meta() };
            (e.id, meta.name.clone(), meta.location)
        })
    }

    /// Asks task `id` at `key` to stop (as `JoinHandle::abort` does) and wakes it; false if it
    /// is no longer registered (it finished).
    pub(crate) fn abort(&self, key: usize, id: Id) -> bool {
        let waker = {
            let entries = lock(&self.entries);
            match entries.get(key) {
                Some(e) if e.id == id => {
                    // SAFETY: found under the lock we hold.
                    unsafe { e.meta() }.request_cancel();
                    e.waker.clone()
                }
                _ => return false,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Asks every registered task for which `pred` holds to stop (as `abort` does) and wakes
    /// it; returns how many were asked. Walks all tasks: meant for rare events such as a scope's
    /// hard drop, not for hot paths.
    pub(crate) fn abort_matching(&self, pred: impl Fn(&TaskMeta) -> bool) -> usize {
        let wakers: Vec<Waker> = {
            let entries = lock(&self.entries);
            entries
                .iter()
                .filter_map(|(_, e)| {
                    // SAFETY: found under the lock we hold.
                    let meta = unsafe { e.meta() };
                    if pred(meta) {
                        meta.request_cancel();
                        e.waker.clone()
                    } else {
                        None
                    }
                })
                .collect()
        };
        let n = wakers.len();
        wakers.into_iter().for_each(Waker::wake);
        n
    }

    /// Whether task `id` at `key` is still registered.
    pub(crate) fn contains(&self, key: usize, id: Id) -> bool {
        matches!(lock(&self.entries).get(key), Some(e) if e.id == id)
    }

    /// Takes the wakers of all registered tasks (rule 3); used at shutdown.
    pub(crate) fn take_wakers(&self) -> Vec<Waker> {
        let mut entries = lock(&self.entries);
        entries
            .iter_mut()
            .filter_map(|(_, e)| e.waker.take())
            .collect()
    }

    /// The number of live tasks.
    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// A snapshot of the live tasks, ordered by id. `running` lists the registry keys of the
    /// polls in progress with their workers' indexes; `tick` is the unit of time in poll. At
    /// most `limit` tasks are described (the first in registry order, and every task running
    /// now): the live console's bound on a snapshot of a million tasks, which then only counts
    /// the rest. Returns the tasks and how many are live in all.
    pub(crate) fn snapshot(
        &self,
        now_ms: u64,
        running: &[(u32, usize)],
        tick: std::time::Duration,
        limit: usize,
    ) -> (Vec<TaskInfo>, usize) {
        let mut tokens = Vec::new();
        let (mut out, total): (Vec<TaskInfo>, usize) = {
            let entries = lock(&self.entries);
            let mut out = Vec::with_capacity(entries.len().min(limit));
            for (key, e) in entries.iter() {
                // SAFETY: found under the lock we hold.
                let meta = unsafe { e.meta() };
                let running_on = running
                    .iter()
                    .find(|&&(k, _)| k as usize == key)
                    .map(|(_, w)| *w);
                if out.len() >= limit && running_on.is_none() {
                    continue;
                }
                let polls = meta.polls.load(Ordering::Relaxed);
                let state = match running_on {
                    Some(worker) => TaskState::Running { worker },
                    None if meta.blocking && polls > 0 => TaskState::Blocking,
                    None if meta.is_scheduled() => TaskState::Scheduled,
                    None => TaskState::Idle,
                };
                tokens.push(meta.scope.clone());
                out.push(TaskInfo {
                    id: e.id,
                    name: meta.name.clone(),
                    location: meta.location,
                    age: std::time::Duration::from_millis(
                        now_ms.saturating_sub(u64::from(e.spawned_ms)),
                    ),
                    root: meta.in_root_scope() && !meta.blocking,
                    blocking: meta.blocking,
                    state,
                    polls,
                    wakes: meta.wakes.load(Ordering::Relaxed),
                    busy: tick * meta.poll_ticks.load(Ordering::Relaxed),
                    scope: None,
                    join_set: None,
                });
            }
            (out, entries.len())
        };
        // Scopes and join sets are described outside the lock (their tokens were cloned under
        // it).
        for (info, token) in out.iter_mut().zip(tokens) {
            let Some(token) = token else { continue };
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
        out.sort_by_key(|t| t.id);
        (out, total)
    }
}
