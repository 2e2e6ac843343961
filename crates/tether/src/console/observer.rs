//! The console's view of the observed runtime: it builds the JSON snapshot (`/api/snapshot`,
//! each frame of `/api/stream`) and the per-task detail (`/api/tasks/ID`).
//!
//! Everything is read through the runtime's own observation APIs: the task tree from
//! [`Handle::dump`], the counters from [`Handle::metrics`], the stalls from the reporting path's
//! tap (`stalls.rs`), and what those do not hold (wake counts over 2^16, poll durations, park
//! time) from the probes in the workers' slots (`probe.rs`), which this file drains. A snapshot
//! holds the runtime's registry lock for the time `Handle::dump` takes to copy the task list
//! (see docs/console.md for figures); the JSON is written afterwards, on the console's thread.
//!
//! The field names are the public JSON API, documented field by field in docs/console.md; a
//! change here is a change there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::json::Json;
use super::probe::{self, now_ns, PollStats, PollTable};
use super::stalls::{kind_name, Stall, StallLog};
use crate::diag::{Dump, TaskInfo, TaskState};
use crate::runtime::Handle;

/// The version of the JSON documents (`"version"`), raised on an incompatible change.
pub(crate) const API_VERSION: u64 = 1;
/// How many stalls a snapshot carries (the most recent).
const STALLS_PER_SNAPSHOT: usize = 100;
/// The most tasks a snapshot lists (the first in the registry's order, and every one running
/// now): a page cannot show more usefully, a frame of a million tasks would be 240 MB, and
/// copying them all would hold the registry's lock that much longer.
pub(crate) const MAX_TASKS: usize = 20_000;
/// The stream's period is at least this many times the time a snapshot takes to build (the
/// shorter of the last two, so that one built while the machine was busy does not count
/// alone), so that snapshots take at most about 5% of the console's thread (and of the
/// registry lock's time) however many tasks there are; up to [`MAX_PERIOD`].
const PERIOD_FACTOR: u32 = 20;
/// The longest period between two frames of the stream: a snapshot slowed by a moment of
/// contention must not silence the stream for seconds after the contention ended.
const MAX_PERIOD: Duration = Duration::from_secs(2);

/// The stream's period after snapshots that took `last` and, before it, `previous` to build.
fn period_after(last: Duration, previous: Duration) -> Duration {
    (last.min(previous) * PERIOD_FACTOR).clamp(super::stream::PERIOD, MAX_PERIOD)
}

/// A snapshot at most this old answers `/api/snapshot` instead of a new one, so that a client
/// asking in a loop costs the runtime at most this many snapshots a second.
const REUSE: Duration = Duration::from_millis(100);

/// The start of a stream's event, before the snapshot's JSON (`stream.rs`).
const EVENT_PREFIX: &str = "event: snapshot\ndata: ";

/// One built snapshot, shared by every connection that sends it: a response writes these
/// bytes from the shared frame, never a copy of its own, so a client that reads slowly holds
/// no more than its small head and tail.
pub(crate) struct Frame {
    /// The stream's event up to the end of the JSON object, without the object's closing `}`
    /// (each viewer adds its `dropped_frames` field and the `}`).
    event: String,
    pub(crate) built: Instant,
}

impl Frame {
    fn new(open_json: &str) -> Frame {
        let mut event = String::with_capacity(EVENT_PREFIX.len() + open_json.len());
        event.push_str(EVENT_PREFIX);
        event.push_str(open_json);
        Frame {
            event,
            built: Instant::now(),
        }
    }

    /// The JSON document without its closing `}`.
    pub(crate) fn open_json(&self) -> &str {
        &self.event[EVENT_PREFIX.len()..]
    }

    /// The stream's event without its tail (`,"dropped_frames":N}` and the blank line).
    pub(crate) fn open_event(&self) -> &str {
        &self.event
    }
}

/// What the console keeps between snapshots about one live task.
#[derive(Default)]
struct TaskExtra {
    /// The wake counter as last seen (it wraps at 2^16) and the unwrapped total.
    wakes_seen: u16,
    wakes: u64,
    /// Poll statistics gathered while a viewer watched.
    polls: PollStats,
    /// The snapshot that last listed the task (entries of tasks gone are dropped).
    seen_in: u64,
}

/// Per-worker totals as of the previous snapshot, for the utilisation over the interval.
#[derive(Clone, Copy, Default)]
struct WorkerTotals {
    parked_ns: u64,
    reactor_ns: u64,
}

/// Viewer figures the snapshot reports (from `stream.rs`).
#[derive(Default)]
pub(crate) struct ViewerStats {
    pub(crate) viewers: Vec<(u64, std::net::SocketAddr, u64, u64)>,
    pub(crate) frames: u64,
}

struct State {
    seq: u64,
    tasks: HashMap<u64, TaskExtra, std::hash::BuildHasherDefault<probe::IdHasher>>,
    workers: Vec<WorkerTotals>,
    last_ns: u64,
    last_build: Duration,
    /// The build time of the snapshot before the last.
    previous_build: Duration,
    last_dump: Option<Arc<Dump>>,
    last_frame: Option<Arc<Frame>>,
    /// When `/api/tasks/ID` last looked a task up in the registry.
    last_lookup: Option<Instant>,
}

/// The console's observer of one runtime (see the module docs).
pub(crate) struct Observer {
    pub(crate) handle: Handle,
    pub(crate) stalls: Arc<StallLog>,
    /// When the console started (`probe::now_ns`).
    started_ns: u64,
    state: Mutex<State>,
}

impl Observer {
    pub(crate) fn new(handle: Handle, stalls: Arc<StallLog>) -> Observer {
        let started_ns = now_ns();
        Observer {
            handle,
            stalls,
            started_ns,
            state: Mutex::new(State {
                seq: 0,
                tasks: HashMap::default(),
                workers: Vec::new(),
                last_ns: started_ns,
                last_build: Duration::ZERO,
                previous_build: Duration::ZERO,
                last_dump: None,
                last_frame: None,
                last_lookup: None,
            }),
        }
    }

    fn ms_since_start(&self, ns: u64) -> u64 {
        ns.saturating_sub(self.started_ns) / 1_000_000
    }

    /// Turns the workers' probes on or off (`probe.rs` rule 1).
    pub(crate) fn set_probes(&self, on: bool) {
        for slot in self.handle.shared.diag.slots.iter() {
            slot.console.set_on(on);
        }
    }

    /// A recent snapshot for `/api/snapshot`: the last one if younger than [`REUSE`], else a
    /// new one.
    pub(crate) fn recent(&self, viewers: &ViewerStats) -> Arc<Frame> {
        {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = &state.last_frame {
                if f.built.elapsed() < REUSE {
                    return f.clone();
                }
            }
        }
        self.snapshot(viewers)
    }

    /// Builds a new snapshot.
    pub(crate) fn snapshot(&self, viewers: &ViewerStats) -> Arc<Frame> {
        let begin = Instant::now();
        let sh = &self.handle.shared;
        // Drain the probes first, then read the tree: a poll timed just now belongs to a task
        // the dump still lists, or to one gone (its entry is dropped below).
        let tables: Vec<PollTable> = sh
            .diag
            .slots
            .iter()
            .map(|s| s.console.take_polls())
            .collect();
        let dump_begin = Instant::now();
        let (dump, tasks_total) = self.handle.dump_limited(MAX_TASKS);
        let dump = Arc::new(dump);
        let dump_took = dump_begin.elapsed();
        let metrics = self.handle.metrics();
        let now = now_ns();
        let (stalls, stalls_total) = self.stalls.read();

        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        state.seq += 1;
        let seq = state.seq;
        for table in tables {
            for (id, stats) in table {
                state.tasks.entry(id).or_default().polls.merge(&stats);
            }
        }
        for t in dump.tasks() {
            let e = state.tasks.entry(t.id().as_u64()).or_default();
            let delta = t.wakes.wrapping_sub(e.wakes_seen);
            e.wakes += u64::from(delta);
            e.wakes_seen = t.wakes;
            e.seen_in = seq;
        }
        state.tasks.retain(|_, e| e.seen_in == seq);

        let mut j = Json::with_capacity(256 + dump.tasks().len() * 260);
        j.begin_object();
        j.key("version").u64(API_VERSION);
        j.key("seq").u64(seq);
        j.key("time_ms").u64(self.ms_since_start(now));
        j.key("runtime").begin_object();
        j.key("id").u64(dump.runtime_id());
        j.key("flavor").str(dump.flavor());
        j.key("workers").u64(dump.workers() as u64);
        j.key("diagnostics").bool(sh.diag.config.enabled);
        j.end_object();

        j.key("metrics").begin_object();
        j.key("spawned_tasks").u64(metrics.spawned_tasks());
        j.key("live_tasks").u64(metrics.live_tasks());
        j.key("polls").u64(metrics.polls());
        j.key("steals").u64(metrics.steals());
        j.key("parks").u64(metrics.parks());
        j.key("io_events").u64(metrics.io_events());
        j.key("timers_fired").u64(metrics.timers_fired());
        j.key("active_timers").u64(metrics.active_timers());
        j.key("worker_queue_depths").begin_array();
        for &d in metrics.worker_queue_depths() {
            j.u64(d as u64);
        }
        j.end_array();
        j.key("injector_depth").u64(metrics.injector_depth());
        j.key("blocking_threads").u64(metrics.blocking_threads());
        j.key("idle_blocking_threads")
            .u64(metrics.idle_blocking_threads());
        j.key("slow_polls").u64(metrics.slow_polls());
        j.key("watchdog_reports").u64(metrics.watchdog_reports());
        j.end_object();

        self.write_workers(&mut j, state, now);
        write_tasks(&mut j, &dump, state, tasks_total);
        write_groups(&mut j, &dump);

        j.key("stalls").begin_array();
        let skip = stalls.len().saturating_sub(STALLS_PER_SNAPSHOT);
        for s in &stalls[skip..] {
            self.write_stall(&mut j, s);
        }
        j.end_array();
        j.key("stalls_total").u64(stalls_total);

        let build = begin.elapsed();
        j.key("console").begin_object();
        j.key("viewers").begin_array();
        for &(id, peer, sent, dropped) in &viewers.viewers {
            j.begin_object();
            j.key("id").u64(id);
            j.key("peer").display(peer);
            j.key("frames_sent").u64(sent);
            j.key("dropped_frames").u64(dropped);
            j.end_object();
        }
        j.end_array();
        j.key("frames").u64(viewers.frames);
        j.key("snapshot_us").u64(build.as_micros() as u64);
        j.key("dump_us").u64(dump_took.as_micros() as u64);
        j.key("previous_snapshot_us")
            .u64(state.last_build.as_micros() as u64);
        // The period the stream waits after this snapshot (`period()` once it is stored).
        let period = period_after(build, state.last_build);
        j.key("period_ms").u64(period.as_millis() as u64);
        j.end_object();
        j.end_object();

        let mut open_json = j.into_string();
        // Written as an object: take its `}` off for the stream's per-viewer field.
        open_json.pop();
        let frame = Arc::new(Frame::new(&open_json));
        state.previous_build = state.last_build;
        state.last_build = build;
        state.last_ns = now;
        state.last_dump = Some(dump);
        state.last_frame = Some(frame.clone());
        frame
    }

    /// How long the stream waits after the snapshot just built: [`stream::PERIOD`], or more
    /// when snapshots take long to build (see [`PERIOD_FACTOR`]), at most [`MAX_PERIOD`].
    ///
    /// [`stream::PERIOD`]: super::stream::PERIOD
    pub(crate) fn period(&self) -> Duration {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        period_after(state.last_build, state.previous_build)
    }

    /// Per-worker utilisation over the interval since the previous snapshot (`probe.rs` rule 3).
    fn write_workers(&self, j: &mut Json, state: &mut State, now: u64) {
        let slots = &self.handle.shared.diag.slots;
        let interval = now.saturating_sub(state.last_ns).max(1) as f64;
        state.workers.resize(slots.len(), WorkerTotals::default());
        j.key("workers").begin_array();
        if self.handle.shared.diag.config.enabled {
            for (slot, prev) in slots.iter().zip(state.workers.iter_mut()) {
                let (parked_ns, reactor_ns, stamped) = slot.console.park_times(now);
                let d_parked = parked_ns.saturating_sub(prev.parked_ns) as f64;
                let d_reactor = reactor_ns.saturating_sub(prev.reactor_ns) as f64;
                *prev = WorkerTotals {
                    parked_ns,
                    reactor_ns,
                };
                let (mut parked, mut reactor) = (d_parked / interval, d_reactor / interval);
                let state_name = match stamped {
                    Some(true) => "reactor",
                    Some(false) => "parked",
                    // A park that began before the probes were on is not stamped: parked all
                    // along, as far as the console can tell.
                    None if slot.is_parked() => {
                        parked = 1.0 - reactor;
                        "parked"
                    }
                    None => "busy",
                };
                if parked + reactor > 1.0 {
                    let sum = parked + reactor;
                    parked /= sum;
                    reactor /= sum;
                }
                j.begin_object();
                j.key("index").u64(slot.index as u64);
                j.key("state").str(state_name);
                j.key("busy").f64(1.0 - parked - reactor);
                j.key("parked").f64(parked);
                j.key("reactor").f64(reactor);
                j.key("parked_ms_total").u64(parked_ns / 1_000_000);
                j.key("reactor_ms_total").u64(reactor_ns / 1_000_000);
                j.end_object();
            }
        }
        j.end_array();
    }

    fn write_stall(&self, j: &mut Json, s: &Stall) {
        j.begin_object();
        j.key("seq").u64(s.seq);
        j.key("kind").str(kind_name(s.kind));
        j.key("time_ms").u64(self.ms_since_start(s.at_ns));
        j.key("task_id").opt_u64(s.task_id);
        j.key("task_name").opt_str(s.task_name.as_deref());
        match s.location {
            Some(l) => j.key("location").display(l),
            None => j.key("location").null(),
        };
        j.key("worker").u64(s.worker as u64);
        j.key("duration_us").u64(s.duration.as_micros() as u64);
        j.key("threshold_us").u64(s.threshold.as_micros() as u64);
        j.key("waited_for_cpu_us")
            .u64(s.waited_for_cpu.as_micros() as u64);
        j.key("spawned_tasks").u64(s.spawned);
        j.end_object();
    }

    /// `/api/tasks/ID`: one task with its poll histogram, scope path and stalls, from the
    /// latest snapshot or, for a live task it does not list (past [`MAX_TASKS`]), from the
    /// registry itself; a lookup there walks every task, so it runs at most once per
    /// [`REUSE`] (`Busy` meanwhile).
    pub(crate) fn task_detail(&self, id: u64, viewers: &ViewerStats) -> Result<String, Miss> {
        let fresh = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state
                .last_frame
                .as_ref()
                .is_some_and(|f| f.built.elapsed() < REUSE * 10)
        };
        if !fresh {
            self.snapshot(viewers);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dump = state.last_dump.clone().ok_or(Miss::NotLive)?;
        let tasks = dump.tasks();
        let by_id = |id: u64| {
            tasks
                .binary_search_by_key(&id, |t| t.id().as_u64())
                .ok()
                .map(|i| &tasks[i])
        };
        let unlisted;
        let t = match by_id(id) {
            Some(t) => t,
            None => {
                if state.last_lookup.is_some_and(|at| at.elapsed() < REUSE) {
                    return Err(Miss::Busy);
                }
                state.last_lookup = Some(Instant::now());
                drop(state);
                unlisted = self.handle.shared.task_info(id).ok_or(Miss::NotLive)?;
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                &unlisted
            }
        };
        let extra = state.tasks.get(&id);
        let mut j = Json::with_capacity(2048);
        j.begin_object();
        j.key("version").u64(API_VERSION);
        j.key("task");
        write_task(&mut j, t, extra);
        let stats = extra.map(|e| e.polls).unwrap_or_default();
        j.key("timed_polls").u64(stats.polls);
        j.key("mean_poll_us")
            .opt_u64((stats.polls > 0).then(|| stats.total_ns / stats.polls / 1000));
        j.key("poll_histogram").begin_array();
        for (b, &count) in stats.hist.iter().enumerate() {
            j.begin_object();
            j.key("le_us").opt_u64(probe::bucket_upper_us(b));
            j.key("count").u64(u64::from(count));
            j.end_object();
        }
        j.end_array();
        // Outermost first: the scope or join set the task is in, the task that runs that,
        // and so on up to a root.
        let mut path = Vec::new();
        let mut cur = t;
        for _ in 0..64 {
            let group = match (cur.scope(), cur.join_set()) {
                (Some(s), _) => ("scope", s.id(), s.location(), s.owner()),
                (None, Some(js)) => ("join_set", js.id(), js.location(), js.owner()),
                (None, None) => break,
            };
            path.push(group);
            match group.3.and_then(|o| by_id(o.as_u64())) {
                Some(owner) => cur = owner,
                None => break,
            }
        }
        j.key("scope_path").begin_array();
        for (kind, gid, loc, owner) in path.iter().rev() {
            j.begin_object();
            j.key("kind").str(kind);
            j.key("id").u64(*gid);
            j.key("location").display(loc);
            j.key("owner").opt_u64(owner.map(|o| o.as_u64()));
            j.key("owner_name").opt_str(
                owner
                    .and_then(|o| by_id(o.as_u64()))
                    .and_then(TaskInfo::name),
            );
            j.end_object();
        }
        j.end_array();
        let (stalls, _) = self.stalls.read();
        j.key("stalls").begin_array();
        for s in stalls.iter().filter(|s| s.task_id == Some(id)) {
            self.write_stall(&mut j, s);
        }
        j.end_array();
        j.end_object();
        Ok(j.into_string())
    }
}

/// Why `/api/tasks/ID` has no detail to give.
pub(crate) enum Miss {
    /// No live task has that id.
    NotLive,
    /// The latest snapshot does not list it, and a lookup of an unlisted task ran less than
    /// [`REUSE`] ago.
    Busy,
}

/// The `"tasks"` array (at most [`MAX_TASKS`], as `Handle::dump_limited` chose them),
/// `"tasks_total"` and `"tasks_truncated"`.
fn write_tasks(j: &mut Json, dump: &Dump, state: &State, total: usize) {
    j.key("tasks").begin_array();
    for t in dump.tasks() {
        write_task(j, t, state.tasks.get(&t.id().as_u64()));
    }
    j.end_array();
    j.key("tasks_total").u64(total as u64);
    j.key("tasks_truncated").bool(total > dump.tasks().len());
}

fn write_task(j: &mut Json, t: &TaskInfo, extra: Option<&TaskExtra>) {
    j.begin_object();
    j.key("id").u64(t.id().as_u64());
    j.key("name").opt_str(t.name());
    j.key("location").display(t.location());
    let (state, worker) = match t.state() {
        TaskState::Idle => ("idle", None),
        TaskState::Scheduled => ("scheduled", None),
        TaskState::Running { worker } => ("running", Some(worker as u64)),
        TaskState::Blocking => ("blocking", None),
    };
    j.key("state").str(state);
    j.key("worker").opt_u64(worker);
    j.key("kind").str(if t.is_blocking() {
        "blocking"
    } else if t.scope().is_some() {
        "child"
    } else {
        "root"
    });
    j.key("scope").opt_u64(t.scope().map(|s| s.id()));
    j.key("join_set").opt_u64(t.join_set().map(|s| s.id()));
    j.key("age_ms").u64(t.age().as_millis() as u64);
    j.key("polls").u64(u64::from(t.polls()));
    j.key("busy_us").u64(t.busy_time().as_micros() as u64);
    j.key("wakes")
        .u64(extra.map_or(u64::from(t.wakes), |e| e.wakes));
    let polls = extra.map(|e| e.polls).filter(|p| p.polls > 0);
    j.key("last_poll_us")
        .opt_u64(polls.map(|p| p.last_ns / 1000));
    j.key("max_poll_us").opt_u64(polls.map(|p| p.max_ns / 1000));
    j.end_object();
}

/// The `"scopes"` and `"join_sets"` arrays: each group once, with its member count.
fn write_groups(j: &mut Json, dump: &Dump) {
    let mut scopes: Vec<(crate::diag::ScopeInfo, u64)> = Vec::new();
    let mut sets: Vec<(crate::diag::JoinSetInfo, u64)> = Vec::new();
    let mut scope_at: HashMap<u64, usize> = HashMap::new();
    let mut set_at: HashMap<u64, usize> = HashMap::new();
    for t in dump.tasks() {
        if let Some(s) = t.scope() {
            let i = *scope_at.entry(s.id()).or_insert_with(|| {
                scopes.push((*s, 0));
                scopes.len() - 1
            });
            scopes[i].1 += 1;
        } else if let Some(js) = t.join_set() {
            let i = *set_at.entry(js.id()).or_insert_with(|| {
                sets.push((*js, 0));
                sets.len() - 1
            });
            sets[i].1 += 1;
        }
    }
    j.key("scopes").begin_array();
    for (s, n) in &scopes {
        j.begin_object();
        j.key("id").u64(s.id());
        j.key("location").display(s.location());
        j.key("owner").opt_u64(s.owner().map(|o| o.as_u64()));
        j.key("children").u64(*n);
        j.end_object();
    }
    j.end_array();
    j.key("join_sets").begin_array();
    for (s, n) in &sets {
        j.begin_object();
        j.key("id").u64(s.id());
        j.key("location").display(s.location());
        j.key("owner").opt_u64(s.owner().map(|o| o.as_u64()));
        j.key("tasks").u64(*n);
        j.end_object();
    }
    j.end_array();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slow_snapshot_does_not_stretch_the_period_alone_and_none_beyond_the_cap() {
        let ms = Duration::from_millis;
        // Quick snapshots: the base period.
        assert_eq!(period_after(ms(2), ms(3)), super::super::stream::PERIOD);
        // One snapshot slowed by a busy moment: the quicker one before it counts.
        assert_eq!(period_after(ms(800), ms(30)), ms(600));
        assert_eq!(period_after(ms(30), ms(800)), ms(600));
        // Slow ones, however slow: at most the cap.
        assert_eq!(period_after(ms(90), ms(100)), MAX_PERIOD.min(ms(1800)));
        assert_eq!(period_after(ms(10_000), ms(9_000)), MAX_PERIOD);
    }
}
