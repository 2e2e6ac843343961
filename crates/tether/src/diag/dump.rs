//! `Dump`: the live task tree of a runtime, from
//! [`Handle::dump`](crate::runtime::Handle::dump), and how it is drawn.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::{JoinSetInfo, ScopeInfo, TaskInfo, TaskState};
use crate::task::Id;

/// A snapshot of every live task of a runtime, drawn as a tree by its `Display`: root tasks
/// (spawned with `tether::spawn`), under each task the scopes it runs and the
/// [`JoinSet`](crate::task::JoinSet)s it created, under each scope or join set its tasks, and the
/// blocking pool's jobs last. Each task shows its name, spawn location, state, age, polls and
/// time spent in poll.
///
/// ```text
/// runtime 1 (multi-thread, 2 workers, epoll): 6 live tasks
/// ├─ task 1 "server" spawned at src/main.rs:20 · idle · age 1.20s · 14 polls, 0.3ms in poll
/// │  ├─ scope 1 at src/main.rs:24 · 2 children
/// │  │  ├─ task 3 "conn" spawned at src/main.rs:27 · running on worker 1 · age 1.10s · 3 polls, 0.1ms in poll
/// │  │  └─ task 4 "conn" spawned at src/main.rs:27 · scheduled · age 0.90s · 2 polls, 0.0ms in poll
/// │  └─ join set 1 at src/main.rs:35 · 1 task
/// │     └─ task 6 spawned at src/main.rs:36 · idle · age 0.10s · 1 poll, 0.0ms in poll
/// └─ blocking pool
///    └─ task 5 spawned at src/main.rs:31 · running on the blocking pool · age 0.20s · 1 poll, 0.0ms in poll
/// ```
///
/// A join set (or scope) whose owner is no longer live, or was no task (the set was created in
/// a `block_on` future), hangs from the root. A join set's `spawn_blocking` jobs are drawn in
/// their set, not under the blocking pool.
///
/// The snapshot is taken under the task registry's lock, so it is consistent as a set of
/// tasks; states and counters are read without stopping the workers and may be a poll behind.
///
/// # Examples
///
/// ```
/// #[tether::main(flavor = "current_thread")]
/// async fn main() {
///     let _server = tether::task::Builder::new()
///         .name("server")
///         .spawn(std::future::pending::<()>());
///     tether::task::yield_now().await; // let it start
///     let dump = tether::runtime::Handle::current().dump();
///     println!("{dump}");
///     assert!(dump.to_string().contains("\"server\" spawned at"));
///     assert_eq!(dump.tasks().len(), 1);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Dump {
    runtime: u64,
    flavor: &'static str,
    workers: usize,
    io_driver: &'static str,
    tasks: Vec<TaskInfo>,
}

impl Dump {
    pub(crate) fn new(
        runtime: u64,
        flavor: &'static str,
        workers: usize,
        io_driver: &'static str,
        tasks: Vec<TaskInfo>,
    ) -> Dump {
        Dump {
            runtime,
            flavor,
            workers,
            io_driver,
            tasks,
        }
    }

    /// Every live task, ordered by id.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// The runtime's number, its flavor's name and its worker count (for the live console).
    #[cfg(feature = "console")]
    pub(crate) fn runtime_id(&self) -> u64 {
        self.runtime
    }

    #[cfg(feature = "console")]
    pub(crate) fn flavor(&self) -> &'static str {
        self.flavor
    }

    #[cfg(feature = "console")]
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }
}

/// The tree being drawn: who sits under whom.
struct Tree<'a> {
    /// Children of each scope, by scope id.
    scope_children: BTreeMap<u64, Vec<&'a TaskInfo>>,
    /// Tasks of each join set, by set id.
    set_tasks: BTreeMap<u64, Vec<&'a TaskInfo>>,
    /// The scopes each task runs and the join sets it created, by owner.
    owned: BTreeMap<Id, Vec<Item<'a>>>,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.tasks.len();
        writeln!(
            f,
            "runtime {} ({}, {} worker{}, {}): {n} live task{}",
            self.runtime,
            self.flavor,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.io_driver,
            if n == 1 { "" } else { "s" },
        )?;
        let live: HashSet<Id> = self.tasks.iter().map(TaskInfo::id).collect();
        let mut tree = Tree {
            scope_children: BTreeMap::new(),
            set_tasks: BTreeMap::new(),
            owned: BTreeMap::new(),
        };
        // Scopes and join sets not owned by a live task (run or created in `block_on`) hang
        // from the root.
        let mut root_groups: Vec<Item<'_>> = Vec::new();
        let mut roots: Vec<&TaskInfo> = Vec::new();
        let mut blocking: Vec<&TaskInfo> = Vec::new();
        for t in &self.tasks {
            let (members, owner, group) = match (t.scope(), t.join_set()) {
                (Some(s), _) => (
                    tree.scope_children.entry(s.id()).or_default(),
                    s.owner(),
                    Item::Scope(*s),
                ),
                (None, Some(j)) => (
                    tree.set_tasks.entry(j.id()).or_default(),
                    j.owner(),
                    Item::JoinSet(*j),
                ),
                (None, None) if t.is_blocking() => {
                    blocking.push(t);
                    continue;
                }
                (None, None) => {
                    roots.push(t);
                    continue;
                }
            };
            if members.is_empty() {
                match owner.filter(|o| live.contains(o)) {
                    Some(owner) => tree.owned.entry(owner).or_default().push(group),
                    None => root_groups.push(group),
                }
            }
            members.push(t);
        }
        let mut items: Vec<Item<'_>> = roots.into_iter().map(Item::Task).collect();
        items.extend(root_groups);
        if !blocking.is_empty() {
            items.push(Item::Blocking(blocking));
        }
        let mut seen = HashSet::new();
        draw(f, &tree, &items, "", &mut seen)
    }
}

/// One node of the drawing.
#[derive(Clone)]
enum Item<'a> {
    Task(&'a TaskInfo),
    Scope(ScopeInfo),
    JoinSet(JoinSetInfo),
    Blocking(Vec<&'a TaskInfo>),
}

fn draw(
    f: &mut fmt::Formatter<'_>,
    tree: &Tree<'_>,
    items: &[Item<'_>],
    prefix: &str,
    seen: &mut HashSet<Id>,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        let (branch, indent) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        let below = format!("{prefix}{indent}");
        match item {
            Item::Task(t) => {
                writeln!(f, "{prefix}{branch}{}", Line(t))?;
                // A task is drawn once, whatever the scopes claim.
                if !seen.insert(t.id()) {
                    continue;
                }
                let owned = tree.owned.get(&t.id()).map_or(&[][..], Vec::as_slice);
                draw(f, tree, owned, &below, seen)?;
            }
            Item::Scope(s) => {
                let children = tree
                    .scope_children
                    .get(&s.id())
                    .map_or(&[][..], Vec::as_slice);
                write!(f, "{prefix}{branch}scope {} at {}", s.id(), s.location())?;
                if s.owner().is_none() {
                    f.write_str(" (in block_on)")?;
                }
                let n = children.len();
                writeln!(f, " · {n} child{}", if n == 1 { "" } else { "ren" })?;
                let sub: Vec<Item<'_>> = children.iter().map(|t| Item::Task(t)).collect();
                draw(f, tree, &sub, &below, seen)?;
            }
            Item::JoinSet(j) => {
                let tasks = tree.set_tasks.get(&j.id()).map_or(&[][..], Vec::as_slice);
                write!(f, "{prefix}{branch}join set {} at {}", j.id(), j.location())?;
                if j.owner().is_none() {
                    f.write_str(" (created outside a task)")?;
                }
                let n = tasks.len();
                writeln!(f, " · {n} task{}", if n == 1 { "" } else { "s" })?;
                let sub: Vec<Item<'_>> = tasks.iter().map(|t| Item::Task(t)).collect();
                draw(f, tree, &sub, &below, seen)?;
            }
            Item::Blocking(jobs) => {
                writeln!(f, "{prefix}{branch}blocking pool")?;
                let sub: Vec<Item<'_>> = jobs.iter().map(|t| Item::Task(t)).collect();
                draw(f, tree, &sub, &below, seen)?;
            }
        }
    }
    Ok(())
}

/// One task's line.
struct Line<'a>(&'a TaskInfo);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "task {}", t.id())?;
        if let Some(name) = t.name() {
            write!(f, " {name:?}")?;
        }
        let polls = t.polls();
        write!(f, " spawned at {} · ", t.location())?;
        match t.state() {
            TaskState::Blocking if t.is_blocking() => {
                f.write_str("running on the blocking pool")?
            }
            TaskState::Blocking => f.write_str("blocking in block_in_place")?,
            state => write!(f, "{state}")?,
        }
        write!(
            f,
            " · age {:.2}s · {polls} poll{}, {:.1}ms in poll",
            t.age().as_secs_f64(),
            if polls == 1 { "" } else { "s" },
            t.busy_time().as_secs_f64() * 1e3,
        )
    }
}
