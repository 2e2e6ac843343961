//! The random programs: what a task, a scope's body or a sub-future does, step by step.
//!
//! An *act* runs a few random steps, then settles what it still holds (awaits some handles,
//! drops the rest) and ends: with a value (sometimes one whose destructor panics), an error,
//! or a panic. Steps: yield, sleep, arm a destructor that panics, spawn a plain task or a scope
//! child (whose future may also panic when dropped), open a nested scope (bounded, with a
//! deadline, under a timeout, or raced against a timer, so that its future is dropped), run a
//! blocking job (which may panic or return a value that panics on drop), a blocking rendezvous
//! (a job that waits for a job queued right after it), a socket pair, await or abort or detach
//! what it holds, run a sub-act under a timeout or race two, wait for cancellation, cancel its
//! scope, fail.
//!
//! Every wait is bounded (a timeout, a finite sleep, a task that finishes), so a run ends; a
//! run that does not is a runtime fault.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use futures_lite::FutureExt as _;
use tether::io::{AsyncReadExt, AsyncWriteExt};
#[cfg(not(unix))]
use tether::net::TcpStream as PairEnd;
#[cfg(unix)]
use tether::net::UnixStream as PairEnd;
use tether::scope::{Scope, ScopeTask};
use tether::task::{AbortHandle, JoinHandle};
use tether::time::{sleep, timeout};

use super::boundary::{
    claim, ids_of, throw, Body, Bomb, BoxFut, Fault, Job, JobFn, Out, Task, TaskKind, Watch,
};
use super::ledger::Rule;
use super::{Rng, Run};

/// Steps an act takes at most (before settling what it holds): more near the top, so that
/// the tree grows wide before it grows deep.
const MAX_STEPS: [u64; 3] = [14, 10, 6];
/// Nesting depth (scopes, tasks and sub-acts all count) beyond which nothing nests further.
const MAX_DEPTH: u32 = 7;

/// The scope an act may spawn children into.
#[derive(Clone)]
struct ScopeRef {
    s: Scope<Fault>,
    no: u64,
    bounded: bool,
}

/// What kind of code an act is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    /// A plain task: a failure ends it with a panic.
    Plain,
    /// A scope child.
    Child,
    /// A scope's body (runs inside the task that awaits the scope).
    Body,
}

struct Env {
    run: Arc<Run>,
    rng: Rng,
    depth: u32,
    role: Role,
    scope: Option<ScopeRef>,
    /// The act this environment runs (`Run::waiting`); set by the act.
    act: u64,
}

impl Env {
    fn fork(&mut self, role: Role, scope: Option<ScopeRef>) -> Env {
        Env {
            run: self.run.clone(),
            rng: self.rng.fork(),
            depth: self.depth + 1,
            role,
            scope,
            act: 0,
        }
    }

    /// A sub-act of the same code (same role, same scope).
    fn sub(&mut self) -> Env {
        let scope = self.scope.clone();
        self.fork(self.role, scope)
    }

    /// A short wait: virtual milliseconds on the paused clock, real ones (fewer) on the
    /// multi-thread runtime.
    fn short(&mut self) -> Duration {
        if self.run.cfg.multi {
            Duration::from_micros(self.rng.below(2_500))
        } else {
            Duration::from_millis(self.rng.below(25))
        }
    }

    fn grace(&mut self) -> Duration {
        if self.run.cfg.multi {
            Duration::from_micros(self.rng.below(3_000))
        } else {
            Duration::from_millis(self.rng.below(60))
        }
    }

    fn deadline(&mut self) -> Duration {
        if self.run.cfg.multi {
            Duration::from_micros(200 + self.rng.below(5_000))
        } else {
            Duration::from_millis(1 + self.rng.below(100))
        }
    }

    /// Passes on failures received from a handle or a scope: as an error, or by panicking (a
    /// plain task's failure is always a panic).
    fn fail(&mut self, ids: Vec<u64>) -> Result<(), Fault> {
        if self.role == Role::Plain || self.rng.chance(40) {
            throw(ids)
        }
        Err(Fault(ids))
    }

    /// Maybe a destructor fault to put in a value or a future.
    fn maybe_bomb(&mut self, percent: u64) -> Option<Bomb> {
        self.rng.chance(percent).then(|| Bomb::new(&self.run))
    }
}

/// Something an act holds between steps.
enum Item {
    Plain {
        h: JoinHandle<Result<Out, Fault>>,
        no: u64,
        abort: Option<AbortHandle>,
    },
    Child(ScopeTask<Out>),
    Abort(AbortHandle),
    Bomb(Bomb),
    Out(Out),
    /// Boxed: a Windows pair (two TCP streams) is several times the other items' size.
    Pipe(Box<(PairEnd, PairEnd)>),
}

/// Concurrent lanes of the program's top.
const LANES: u64 = 4;
/// Scopes a lane opens at most, one after the other.
const MAX_WAVES: u32 = 400;

/// The program of a run: a few lanes, each opening one scope after another (a *wave*, whose
/// body is an act) until the run's task budget is spent. What a wave returns or resumes is
/// reported at the top, and the lane goes on with the next wave.
pub fn root(run: Arc<Run>) -> BoxFut<()> {
    let mut rng = Rng::new(run.cfg.seed);
    let lanes: Vec<_> = (0..LANES).map(|_| lane(run.clone(), rng.fork())).collect();
    Box::pin(async move {
        futures_util::future::join_all(lanes).await;
    })
}

async fn lane(run: Arc<Run>, rng: Rng) {
    let mut env = Env {
        run: run.clone(),
        rng,
        depth: 0,
        role: Role::Body,
        scope: None,
        act: u64::MAX,
    };
    let mut waves = 0;
    while run.has_budget() && waves < MAX_WAVES {
        waves += 1;
        let res = AssertUnwindSafe(open_scope(&mut env)).catch_unwind().await;
        let res = match res {
            Ok(Ok(out)) => catch_unwind(AssertUnwindSafe(|| drop(out))).map(|()| Vec::new()),
            Ok(Err(Fault(ids))) => Ok(ids),
            Err(p) => Err(p),
        };
        match res {
            Ok(ids) => run.ledger().reported_top(&ids),
            Err(p) => match ids_of(&*p) {
                Ok(ids) => run.ledger().reported_top(&ids),
                Err(text) => run.violation(format!(
                    "a panic the suite did not inject reached the top: {text}"
                )),
            },
        }
    }
}

fn act(env: Env) -> BoxFut<Result<Out, Fault>> {
    Box::pin(act_inner(env))
}

/// Removes an act's entry from the run's waits when the act ends, however it ends.
struct ActWaits(Arc<Run>, u64);

impl Drop for ActWaits {
    fn drop(&mut self) {
        self.0.waiting(self.1, None);
    }
}

async fn act_inner(mut env: Env) -> Result<Out, Fault> {
    let me = ActWaits(env.run.clone(), env.run.next_act());
    env.act = me.1;
    let mut held: Vec<Item> = Vec::new();
    let mut failed = None;
    let max = MAX_STEPS[(env.depth as usize).min(MAX_STEPS.len() - 1)];
    let steps = env.rng.below(max + 1);
    for _ in 0..steps {
        if let Err(f) = step(&mut env, &mut held).await {
            failed = Some(f);
            break;
        }
    }
    env.run.waiting(env.act, Some("settling"));
    if failed.is_none() {
        // Settle what is held, in a random order: await some, drop the others.
        while !held.is_empty() {
            let i = env.rng.below(held.len() as u64) as usize;
            let item = held.swap_remove(i);
            let res = if env.rng.chance(60) {
                settle(&mut env, item).await
            } else {
                drop(item);
                Ok(())
            };
            if let Err(f) = res {
                failed = Some(f);
                break;
            }
        }
    }
    // What is left goes now, before the outcome: a destructor that panics here supersedes an
    // error on its way out (instead of the error being dropped while unwinding).
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(held))) {
        if let Some(Fault(ids)) = failed.take() {
            env.run.ledger().discarded(&ids, Rule::Superseded);
        }
        resume_unwind(p);
    }
    if let Some(f) = failed {
        return Err(f);
    }
    match env.rng.below(100) {
        0..=3 => {
            let id = env.run.ledger().new_fault();
            Err(Fault(vec![id]))
        }
        4..=7 => {
            let id = env.run.ledger().new_fault();
            throw(vec![id])
        }
        _ => Ok(env.maybe_bomb(12)),
    }
}

/// The kinds of step, with their weights.
#[derive(Clone, Copy, Debug)]
enum Step {
    Yield,
    Sleep,
    Arm,
    Spawn,
    SpawnChild,
    Scope,
    Blocking,
    Rendezvous,
    Pipe,
    Settle,
    Abort,
    Drop,
    Timeout,
    Race,
    WaitCancelled,
    Cancel,
    Fail,
    Panic,
}

impl Step {
    /// The step's name, for the report of a hang (`Run::waiting`).
    fn name(self) -> &'static str {
        match self {
            Step::Yield => "yield",
            Step::Sleep => "sleep",
            Step::Arm => "arm",
            Step::Spawn => "spawn",
            Step::SpawnChild => "spawn child",
            Step::Scope => "scope",
            Step::Blocking => "blocking",
            Step::Rendezvous => "rendezvous",
            Step::Pipe => "pipe",
            Step::Settle => "settle",
            Step::Abort => "abort",
            Step::Drop => "drop",
            Step::Timeout => "timeout",
            Step::Race => "race",
            Step::WaitCancelled => "wait cancelled",
            Step::Cancel => "cancel",
            Step::Fail => "fail",
            Step::Panic => "panic",
        }
    }
}

const STEPS: &[(Step, u64)] = &[
    (Step::Yield, 10),
    (Step::Sleep, 8),
    (Step::Arm, 5),
    (Step::Spawn, 10),
    (Step::SpawnChild, 14),
    (Step::Scope, 9),
    (Step::Blocking, 5),
    (Step::Rendezvous, 2),
    (Step::Pipe, 2),
    (Step::Settle, 10),
    (Step::Abort, 4),
    (Step::Drop, 4),
    (Step::Timeout, 4),
    (Step::Race, 3),
    (Step::WaitCancelled, 3),
    (Step::Cancel, 1),
    (Step::Fail, 1),
    (Step::Panic, 1),
];

fn pick(rng: &mut Rng) -> Step {
    let total: u64 = STEPS.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for (s, w) in STEPS {
        if x < *w {
            return *s;
        }
        x -= w;
    }
    unreachable!()
}

async fn step(env: &mut Env, held: &mut Vec<Item>) -> Result<(), Fault> {
    let s = pick(&mut env.rng);
    env.run.waiting(env.act, Some(s.name()));
    let deep = env.depth >= MAX_DEPTH;
    match s {
        Step::Yield => tether::task::yield_now().await,
        Step::Sleep => sleep(env.short()).await,
        Step::Arm => held.push(Item::Bomb(Bomb::new(&env.run))),
        Step::Spawn if !deep && env.run.take_task() => spawn_plain(env, held),
        Step::SpawnChild if !deep && env.scope.is_some() && env.run.take_task() => {
            spawn_child(env, held).await
        }
        Step::Scope if !deep && env.run.take_scope() => {
            let out = open_scope(env).await?;
            held.push(Item::Out(out));
        }
        Step::Blocking if env.run.take_task() => spawn_job(env, held),
        Step::Rendezvous => rendezvous(env, held),
        Step::Pipe => pipe(env, held).await,
        Step::Settle if !held.is_empty() => {
            let i = env.rng.below(held.len() as u64) as usize;
            let item = held.swap_remove(i);
            settle(env, item).await?;
        }
        Step::Abort => {
            for item in held.iter() {
                match item {
                    Item::Plain { h, abort, .. } => {
                        env.run.stats.aborts.fetch_add(1, Ordering::Relaxed);
                        match abort {
                            Some(a) => a.abort(),
                            None => h.abort(),
                        }
                        break;
                    }
                    Item::Abort(a) => {
                        env.run.stats.aborts.fetch_add(1, Ordering::Relaxed);
                        a.abort();
                        break;
                    }
                    _ => {}
                }
            }
        }
        Step::Drop if !held.is_empty() => {
            let i = env.rng.below(held.len() as u64) as usize;
            drop(held.swap_remove(i));
        }
        Step::Timeout if !deep => {
            let sub = env.sub();
            let d = env.short();
            if let Ok(res) = timeout(d, act(sub)).await {
                held.push(Item::Out(res?));
            }
        }
        Step::Race if !deep => {
            let (a, b) = (env.sub(), env.sub());
            let mut race = or(act(a), act(b));
            let res = (&mut race).await;
            // The loser goes now: its destructor may panic, instead of the winner's error.
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(race))) {
                if let Err(Fault(ids)) = &res {
                    env.run.ledger().discarded(ids, Rule::Superseded);
                }
                resume_unwind(p);
            }
            held.push(Item::Out(res?));
        }
        Step::WaitCancelled => {
            let d = env.short();
            match (&env.scope, env.role) {
                (Some(sr), Role::Body) => {
                    let _ = timeout(d, sr.s.cancelled()).await;
                }
                (_, Role::Body) => sleep(d).await,
                _ => {
                    let _ = timeout(d, tether::task::cancelled()).await;
                }
            }
        }
        Step::Cancel => {
            if let Some(sr) = &env.scope {
                sr.s.cancel();
            }
        }
        Step::Fail => {
            let id = env.run.ledger().new_fault();
            return Err(Fault(vec![id]));
        }
        Step::Panic => {
            let id = env.run.ledger().new_fault();
            throw(vec![id]);
        }
        _ => {}
    }
    Ok(())
}

/// Keeps a plain task's handle (to await or abort later), or detaches it at once.
fn keep_plain(env: &mut Env, held: &mut Vec<Item>, h: JoinHandle<Result<Out, Fault>>, no: u64) {
    match env.rng.below(6) {
        0 => {
            held.push(Item::Abort(h.abort_handle()));
            drop(h);
        }
        1 => drop(h),
        2 => {
            env.run.stats.aborts.fetch_add(1, Ordering::Relaxed);
            h.abort();
            held.push(Item::Plain { h, no, abort: None });
        }
        3 => {
            let abort = Some(h.abort_handle());
            held.push(Item::Plain { h, no, abort });
        }
        _ => held.push(Item::Plain { h, no, abort: None }),
    }
}

fn spawn_plain(env: &mut Env, held: &mut Vec<Item>) {
    let no = env.run.next_task();
    env.run.stats.plain.fetch_add(1, Ordering::Relaxed);
    let sub = env.fork(Role::Plain, None);
    let guard = env.maybe_bomb(8);
    let task = Task::new(&env.run, TaskKind::Plain(no), act(sub), guard);
    let h = if env.rng.chance(20) {
        tether::task::Builder::new().name("chaos").spawn(task)
    } else {
        tether::spawn(task)
    };
    keep_plain(env, held, h, no);
}

async fn spawn_child(env: &mut Env, held: &mut Vec<Item>) {
    let sr = env.scope.clone().expect("a scope to spawn into");
    env.run.stats.children.fetch_add(1, Ordering::Relaxed);
    // Half the children may spawn siblings.
    let sibling_scope = env.rng.chance(50).then(|| sr.clone());
    let sub = env.fork(Role::Child, sibling_scope);
    let guard = env.maybe_bomb(8);
    let kind = TaskKind::Child { scope: sr.no };
    let task = Task::new(&env.run, kind, act(sub), guard);
    let spawn = sr.s.spawn(task);
    // In a full bounded scope the spawner waits for a place; a child (holding a place) waits
    // only boundedly, or all the places could be held by children waiting for one.
    let t = if sr.bounded && (env.role != Role::Body || env.rng.chance(30)) {
        let d = env.short();
        match timeout(d, spawn).await {
            Ok(t) => t,
            Err(_) => return,
        }
    } else {
        spawn.await
    };
    if env.rng.chance(60) {
        held.push(Item::Child(t));
    }
}

/// Opens a nested scope (a random builder) whose body is an act, and awaits it, sometimes under
/// a timeout or raced against a timer, so that its future is dropped early.
async fn open_scope(env: &mut Env) -> Result<Out, Fault> {
    let no = env.run.next_scope();
    env.run.stats.scopes.fetch_add(1, Ordering::Relaxed);
    env.run.ledger().scope_started(no);
    let mut b = tether::scope::Builder::new().grace_period(env.grace());
    let bounded = env.rng.chance(30);
    if bounded {
        b = b.max_concurrency(1 + env.rng.below(3) as usize);
    }
    if env.rng.chance(20) {
        b = b.timeout(env.deadline());
    }
    let mut body_env = env.fork(Role::Body, None);
    let run = env.run.clone();
    let fut = b.run(move |s| {
        body_env.scope = Some(ScopeRef { s, no, bounded });
        Body::new(&run, no, act(body_env))
    });
    let watch = Watch::new(&env.run, no, Box::pin(fut));
    let res = match env.rng.below(10) {
        0 => {
            let d = env.deadline();
            timeout(d, watch).await.unwrap_or(Ok(None))
        }
        1 => {
            let d = env.deadline();
            or(watch, async move {
                sleep(d).await;
                Ok(None)
            })
            .await
        }
        _ => watch.await,
    };
    match res {
        Ok(out) => Ok(out.flatten()),
        Err(Fault(ids)) => {
            env.fail(ids)?;
            Ok(None)
        }
    }
}

fn spawn_job(env: &mut Env, held: &mut Vec<Item>) {
    let no = env.run.next_task();
    env.run.stats.blocking.fetch_add(1, Ordering::Relaxed);
    let f: JobFn = match env.rng.below(10) {
        0 | 1 => Box::new(|run: &Arc<Run>| {
            let id = run.ledger().new_fault();
            throw(vec![id])
        }),
        2 => Box::new(|run: &Arc<Run>| Some(Bomb::new(run))),
        3 => Box::new(|_: &Arc<Run>| {
            std::thread::sleep(Duration::from_micros(300));
            None
        }),
        _ => Box::new(|_: &Arc<Run>| None),
    };
    let guard = env.maybe_bomb(10);
    let job = Job::new(&env.run, no, f, guard);
    let h = tether::task::spawn_blocking(move || Ok(job.run()));
    keep_plain(env, held, h, no);
}

/// Two blocking jobs pushed back to back, the first waiting for the second: the pool must run
/// the second while the first blocks. At most `Config::max_pairs` at once (fewer than the
/// pool's threads), so a stall is the pool's fault.
fn rendezvous(env: &mut Env, held: &mut Vec<Item>) {
    let run = &env.run;
    if run.rendezvous.fetch_add(1, Ordering::SeqCst) >= run.cfg.max_pairs || !run.take_task() {
        run.rendezvous.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    run.stats.pairs.fetch_add(1, Ordering::Relaxed);
    run.stats.blocking.fetch_add(2, Ordering::Relaxed);
    /// Gives the pair's place back when the waiting job ends (or is dropped unrun).
    struct Slot(Arc<Run>);
    impl Drop for Slot {
        fn drop(&mut self) {
            self.0.rendezvous.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let slot = Slot(run.clone());
    let (tx, rx) = mpsc::channel::<()>();
    let wait = Box::new(move |run: &Arc<Run>| {
        let _slot = slot;
        let start = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if run.is_stopping() {
                        return None;
                    }
                    if start.elapsed() > run.cfg.rendezvous_limit {
                        run.violation(format!(
                            "blocking pool stalled: a job waited {:?} for the job queued right \
                             after it (a lost wake-up: no thread took the second job)",
                            run.cfg.rendezvous_limit
                        ));
                        return None;
                    }
                }
            }
        }
    });
    let send = Box::new(move |_: &Arc<Run>| {
        let _ = tx.send(());
        None
    });
    for f in [wait as JobFn, send] {
        let no = run.next_task();
        let job = Job::new(run, no, f, None);
        let h = tether::task::spawn_blocking(move || Ok(job.run()));
        held.push(Item::Plain { h, no, abort: None });
    }
}

/// A socket pair that exchanges a byte through the reactor and is kept (its descriptors must
/// be closed however the task ends).
async fn pipe(env: &mut Env, held: &mut Vec<Item>) {
    let (mut a, mut b) = match socket_pair().await {
        Ok(p) => p,
        Err(e) => return env.run.violation(format!("the socket pair failed: {e}")),
    };
    let mut buf = [0u8; 1];
    env.run.waiting(env.act, Some("pipe: a socket pair's byte"));
    let res = async {
        a.write_all(&[7]).await?;
        b.read_exact(&mut buf).await
    }
    .await;
    if let Err(e) = res {
        env.run
            .violation(format!("a socket pair failed to pass a byte: {e}"));
    }
    held.push(Item::Pipe(Box::new((a, b))));
}

/// A connected pair: a Unix socket pair, or on Windows two ends of a loopback TCP connection.
async fn socket_pair() -> std::io::Result<(PairEnd, PairEnd)> {
    #[cfg(unix)]
    return PairEnd::pair();
    #[cfg(not(unix))]
    {
        let listener = tether::net::TcpListener::bind("127.0.0.1:0").await?;
        let a = PairEnd::connect(listener.local_addr()?).await?;
        let (b, _) = listener.accept().await?;
        Ok((a, b))
    }
}

/// Awaits (or otherwise finishes with) something held, passing failures on.
async fn settle(env: &mut Env, item: Item) -> Result<(), Fault> {
    let what = match &item {
        Item::Plain { .. } => "settle: a plain task's handle",
        Item::Child(_) => "settle: a child's handle",
        Item::Pipe(..) => "settle: a socket pair's byte",
        _ => "settle",
    };
    env.run.waiting(env.act, Some(what));
    match item {
        Item::Plain { h, no, abort } => {
            if let Some(a) = &abort {
                if a.is_finished() && !h.is_finished() {
                    env.run.violation(format!(
                        "task {no}: AbortHandle::is_finished() was true while \
                         JoinHandle::is_finished() was false (the output was not written yet)"
                    ));
                }
            }
            let res = if env.rng.chance(25) {
                let d = env.short();
                match timeout(d, h).await {
                    Ok(res) => res,
                    // The handle is dropped: the task is detached.
                    Err(_) => return Ok(()),
                }
            } else {
                h.await
            };
            match res {
                Ok(Ok(out)) => {
                    let out = claim(out);
                    if env.rng.chance(50) {
                        drop(out);
                    } else {
                        // Kept across awaits: its destructor runs later, or on cancellation.
                        let keep = out;
                        tether::task::yield_now().await;
                        drop(keep);
                    }
                }
                Ok(Err(Fault(ids))) => env.run.violation(format!(
                    "plain task {no} returned the error {ids:?} (the suite turns those into panics)"
                )),
                Err(e) if e.is_cancelled() => {}
                Err(e) => match ids_of(&*e.into_panic()) {
                    Ok(ids) => {
                        env.run.ledger().observed(no, &ids);
                        env.fail(ids)?;
                    }
                    Err(text) => env.run.violation(format!(
                        "plain task {no} panicked with a panic the suite did not inject: {text}"
                    )),
                },
            }
        }
        Item::Child(t) => {
            // A child that failed never completes its handle: bounded.
            let d = env.short();
            if let Ok(out) = timeout(d, t).await {
                drop(claim(out));
            }
        }
        Item::Abort(a) => {
            env.run.stats.aborts.fetch_add(1, Ordering::Relaxed);
            a.abort();
        }
        Item::Pipe(pair) => {
            let (mut a, mut b) = *pair;
            let mut buf = [0u8; 1];
            let res = async {
                b.write_all(&[9]).await?;
                a.read_exact(&mut buf).await
            }
            .await;
            if let Err(e) = res {
                env.run
                    .violation(format!("a socket pair failed to pass a byte: {e}"));
            }
        }
        Item::Bomb(b) => drop(b),
        Item::Out(o) => drop(o),
    }
    Ok(())
}
