//! The wrappers the suite puts where the runtime catches failures, and the `Bomb`.
//!
//! The runtime catches a failure in these places, and each has a wrapper directly inside it
//! that records in the ledger what crosses:
//!
//! | runtime catch point | wrapper | a failure crossing it is held by |
//! |---|---|---|
//! | a task's poll (`task/cell.rs`) or a scope child's poll (`scope/child.rs`) | [`Task`] | the plain task / the child's scope |
//! | a scope's poll of its body, and its drop of the body (`scope/run.rs`) | [`Body`] and its `Drop` | the scope |
//! | a blocking job's run | [`Job`] | the blocking task |
//! | the runtime dropping a task's future (abort, hard drop, shutdown, after completion) | [`Task`]'s and [`Job`]'s `Drop` | per the ledger's rules |
//! | what a scope's future returns or resumes | [`Watch`] | (delivered to the awaiting code) |
//! | the runtime dropping a task's output nobody took from its `JoinHandle` | [`Bomb`] marked by [`mark_output`] | the runtime, which reports it to the failure hook |
//!
//! Code of the suite runs only inside these wrappers' polls (and [`Top`]'s), which count
//! themselves in a per-thread depth, so a panic thrown at a depth above zero reaches one of
//! them, or a catch point of the runtime inside the suite's code (see [`Task`]'s `Drop`).

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::io::Write as _;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll};

use tether::scope::ScopeError;

use super::ledger::{End, FaultId, Holder, Kind, Rule};
use super::Run;

/// A future as the suite boxes it.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A blocking job's work.
pub type JobFn = Box<dyn FnOnce(&Arc<Run>) -> Out + Send>;

/// What a task gives back: nothing, or a value whose destructor panics.
pub type Out = Option<Bomb>;

/// An error a task or a body returns: the ids of the failures it stands for.
#[derive(Debug)]
pub struct Fault(pub Vec<FaultId>);

thread_local! {
    /// How many of the suite's polls (and runtime drops it wraps) are on this thread's stack.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Inside one of the suite's polls: a panic here reaches one of its wrappers.
pub fn in_boundary() -> bool {
    DEPTH.with(Cell::get) > 0
}

/// Counts a wrapper's poll (or drop) in the depth while alive.
struct Enter(());

fn enter() -> Enter {
    DEPTH.with(|d| d.set(d.get() + 1));
    Enter(())
}

impl Drop for Enter {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// The panic payload that carries `ids`.
pub fn payload(ids: &[FaultId]) -> String {
    format!("fault{ids:?}")
}

/// The ids in a payload's text, if it is one of ours.
pub fn parse(text: &str) -> Option<Vec<FaultId>> {
    let inner = text.strip_prefix("fault[")?.strip_suffix(']')?;
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner.split(", ").map(|s| s.parse().ok()).collect()
}

/// The ids of an injected panic, or the text of a panic the suite did not inject.
pub fn ids_of(p: &(dyn Any + Send)) -> Result<Vec<FaultId>, String> {
    let text = p
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied());
    match text {
        Some(t) => parse(t).ok_or_else(|| t.to_string()),
        None => Err("<a non-string payload>".to_string()),
    }
}

/// Panics with a payload carrying `ids`.
pub fn throw(ids: Vec<FaultId>) -> ! {
    std::panic::panic_any(payload(&ids))
}

/// What the panic hook adds to a panic the suite did not inject (the seed being run, and how
/// to rerun it alone).
static CONTEXT: Mutex<Option<String>> = Mutex::new(None);

/// Sets what the panic hook adds to a panic the suite did not inject.
pub fn set_panic_context(text: Option<String>) {
    *CONTEXT.lock().unwrap_or_else(|e| e.into_inner()) = text;
}

/// Silences the panic hook for injected panics (there are thousands); others print as usual,
/// followed by the context set with [`set_panic_context`], written straight to the process's
/// stderr (not captured by the test harness): if the panic aborts the process, this line is
/// what says which seed did it.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| parse(s).is_some());
            if !ours {
                default(info);
                let context = CONTEXT.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(c) = context {
                    let _ = writeln!(std::io::stderr(), "{c}");
                }
            }
        }));
    });
}

/// Records the panic `p` that crossed into `holder`, or a violation if the suite did not
/// inject it.
fn caught_panic(run: &Run, p: &(dyn Any + Send), holder: Holder) {
    match ids_of(p) {
        Ok(ids) => run.ledger().caught(&ids, holder, Kind::Panic),
        Err(text) => run.violation(format!(
            "a panic the suite did not inject, in {holder:?}: {text}"
        )),
    }
}

/// A value that panics when dropped: a destructor fault.
///
/// Dropped while the thread is already panicking it does nothing (a second panic would abort
/// the process). A task's output is marked as such ([`mark_output`]) until the suite's code
/// takes it from the task's handle ([`claim`]): a marked bomb is being dropped by the runtime,
/// because nobody took the output from the `JoinHandle` (dropped before or after the task
/// finished), and the runtime reports its panic to the failure policy. Those panics happen
/// only when `Config::detached_output_panics` is on.
pub struct Bomb {
    run: Arc<Run>,
    output: bool,
}

impl Bomb {
    pub fn new(run: &Arc<Run>) -> Bomb {
        Bomb {
            run: run.clone(),
            output: false,
        }
    }
}

/// Marks `out` as a task's output, which the runtime drops unless the suite's code takes it.
pub fn mark_output(mut out: Out) -> Out {
    if let Some(b) = &mut out {
        b.output = true;
    }
    out
}

/// The suite's code took `out` from a task's handle: from now on it drops it.
pub fn claim(mut out: Out) -> Out {
    if let Some(b) = &mut out {
        b.output = false;
    }
    out
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if self.output {
            if !self.run.cfg.detached_output_panics {
                self.run
                    .stats
                    .skipped_output_panics
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            let id = {
                let mut l = self.run.ledger();
                let id = l.new_fault();
                l.caught(&[id], Holder::Output, Kind::Panic);
                id
            };
            throw(vec![id]);
        }
        if !in_boundary() {
            self.run.violation(
                "a destructor fault was dropped outside the suite's code, and not as a task's \
                 output"
                    .to_string(),
            );
            return;
        }
        let id = self.run.ledger().new_fault();
        throw(vec![id]);
    }
}

/// Counts a live wrapper in `Run::wrappers`.
struct Counted(Arc<Run>);

impl Counted {
    fn new(run: &Arc<Run>) -> Counted {
        run.wrappers.fetch_add(1, Ordering::SeqCst);
        Counted(run.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.wrappers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a task is to the runtime, which decides where its failures go.
#[derive(Clone, Copy, Debug)]
pub enum TaskKind {
    /// `tether::spawn`, numbered.
    Plain(u64),
    /// A child of the scope numbered `scope`.
    Child { scope: u64 },
}

#[derive(Clone, Debug)]
enum Done {
    Running,
    Ok,
    /// Returned an error (a scope child).
    Err,
    Panicked,
}

/// A task's future (plain or scope child) as the suite spawns it. A plain task never returns
/// `Err`: an error reaching its top becomes a panic (the runtime knows no errors of plain
/// tasks).
pub struct Task {
    inner: Option<BoxFut<Result<Out, Fault>>>,
    /// Dropped with the task's future: after it completed, or when it is cancelled.
    guard: Option<Bomb>,
    run: Arc<Run>,
    kind: TaskKind,
    done: Done,
    _counted: Counted,
}

impl Task {
    pub fn new(
        run: &Arc<Run>,
        kind: TaskKind,
        fut: BoxFut<Result<Out, Fault>>,
        guard: Option<Bomb>,
    ) -> Task {
        Task {
            inner: Some(fut),
            guard,
            run: run.clone(),
            kind,
            done: Done::Running,
            _counted: Counted::new(run),
        }
    }

    fn holder(&self) -> Holder {
        match self.kind {
            TaskKind::Plain(t) => Holder::Task(t),
            TaskKind::Child { scope } => Holder::Scope(scope),
        }
    }
}

impl Future for Task {
    type Output = Result<Out, Fault>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _enter = enter();
        let fut = this
            .inner
            .as_mut()
            .expect("the suite's task was polled after it completed");
        let res = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        match res {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(out))) => {
                this.inner = None;
                this.done = Done::Ok;
                Poll::Ready(Ok(mark_output(out)))
            }
            Ok(Poll::Ready(Err(Fault(ids)))) => {
                this.inner = None;
                match this.kind {
                    TaskKind::Plain(t) => {
                        this.run.ledger().caught(&ids, Holder::Task(t), Kind::Panic);
                        this.done = Done::Panicked;
                        throw(ids)
                    }
                    TaskKind::Child { scope } => {
                        this.run
                            .ledger()
                            .caught(&ids, Holder::Scope(scope), Kind::Error);
                        this.done = Done::Err;
                        Poll::Ready(Err(Fault(ids)))
                    }
                }
            }
            Err(p) => {
                caught_panic(&this.run, &*p, this.holder());
                this.done = Done::Panicked;
                resume_unwind(p)
            }
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // A plain task's future is in the runtime's hands from `spawn` on, and the runtime
        // catches a panic from its destructor wherever it drops it. A child's future is in the
        // suite's hands until `Scope::spawn` makes it a task: dropped by the suite's code (a
        // spawn refused by a cancelled scope, a `Spawn` future dropped while it waited) its
        // panic goes on to the wrapper around that code.
        let runtime_owned = matches!(self.kind, TaskKind::Plain(_)) || !in_boundary();
        if !runtime_owned || std::thread::panicking() {
            return;
        }
        let _enter = enter();
        let res = catch_unwind(AssertUnwindSafe(|| {
            self.inner = None;
            self.guard = None;
        }));
        let Err(p) = res else {
            return;
        };
        match ids_of(&*p) {
            Err(text) => self.run.violation(format!(
                "a panic the suite did not inject, dropping {:?}: {text}",
                self.kind
            )),
            Ok(ids) => {
                let mut l = self.run.ledger();
                match (self.kind, &self.done) {
                    (TaskKind::Plain(_), _) | (_, Done::Running) => {
                        l.discarded(&ids, Rule::RuntimeDrop)
                    }
                    // The panic is the child's failure; the error it replaces, or the panic
                    // of the child's that came first, goes to the failure hook as undelivered
                    // by the scope.
                    (TaskKind::Child { scope }, Done::Ok | Done::Err | Done::Panicked) => {
                        l.caught(&ids, Holder::Scope(scope), Kind::Panic)
                    }
                }
            }
        }
        resume_unwind(p);
    }
}

/// The closure of a blocking job (`spawn_blocking(move || job.run())`).
pub struct Job {
    f: Option<JobFn>,
    /// Dropped with the closure: after it ran, or unrun when the job is cancelled.
    guard: Option<Bomb>,
    run: Arc<Run>,
    task: u64,
    _counted: Counted,
}

impl Job {
    pub fn new(run: &Arc<Run>, task: u64, f: JobFn, guard: Option<Bomb>) -> Job {
        Job {
            f: Some(f),
            guard,
            run: run.clone(),
            task,
            _counted: Counted::new(run),
        }
    }

    pub fn run(mut self) -> Out {
        let _enter = enter();
        let f = self.f.take().expect("a job runs once");
        let res = catch_unwind(AssertUnwindSafe(|| {
            let out = f(&self.run);
            self.guard = None;
            out
        }));
        match res {
            Ok(out) => mark_output(out),
            Err(p) => {
                caught_panic(&self.run, &*p, Holder::Task(self.task));
                resume_unwind(p)
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.f.is_none() || std::thread::panicking() {
            return;
        }
        // Never ran: cancelled while queued (or refused by a closed pool), dropped by the
        // runtime, which catches a panic from its destructor.
        let _enter = enter();
        let res = catch_unwind(AssertUnwindSafe(|| {
            self.f = None;
            self.guard = None;
        }));
        if let Err(p) = res {
            match ids_of(&*p) {
                Ok(ids) => self.run.ledger().discarded(&ids, Rule::RuntimeDrop),
                Err(text) => self.run.violation(format!(
                    "a panic the suite did not inject, dropping blocking job {}: {text}",
                    self.task
                )),
            }
            resume_unwind(p);
        }
    }
}

/// A scope's body.
pub struct Body {
    inner: BoxFut<Result<Out, Fault>>,
    run: Arc<Run>,
    scope: u64,
}

impl Body {
    pub fn new(run: &Arc<Run>, scope: u64, fut: BoxFut<Result<Out, Fault>>) -> Body {
        Body {
            inner: fut,
            run: run.clone(),
            scope,
        }
    }
}

impl Future for Body {
    type Output = Result<Out, Fault>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _enter = enter();
        match catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(Err(f))) => {
                this.run
                    .ledger()
                    .caught(&f.0, Holder::Scope(this.scope), Kind::Error);
                Poll::Ready(Err(f))
            }
            Ok(p) => p,
            Err(p) => {
                caught_panic(&this.run, &*p, Holder::Scope(this.scope));
                resume_unwind(p)
            }
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        // The scope drops its body under `catch_unwind` (`scope/run.rs` rule 7): a panic from
        // the body's destructor is the scope's to hold, like one from its poll.
        if std::thread::panicking() {
            return;
        }
        let _enter = enter();
        let inner = std::mem::replace(&mut self.inner, Box::pin(std::future::pending()));
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(inner))) {
            caught_panic(&self.run, &*p, Holder::Scope(self.scope));
            resume_unwind(p);
        }
    }
}

/// A scope's future, as the code that runs the scope awaits it: gives the body's value,
/// `Ok(None)` when the scope was cancelled without failures, or the failures it returned (in
/// flight again, for the awaiting code to pass on).
pub struct Watch {
    inner: Option<BoxFut<Result<Out, ScopeError<Fault>>>>,
    run: Arc<Run>,
    scope: u64,
}

impl Watch {
    pub fn new(run: &Arc<Run>, scope: u64, fut: BoxFut<Result<Out, ScopeError<Fault>>>) -> Watch {
        Watch {
            inner: Some(fut),
            run: run.clone(),
            scope,
        }
    }
}

impl Future for Watch {
    type Output = Result<Option<Out>, Fault>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let fut = this
            .inner
            .as_mut()
            .expect("a scope was polled after it completed");
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(out))) => {
                this.run.ledger().scope_returned(this.scope, End::Ok);
                this.inner = None;
                Poll::Ready(Ok(Some(out)))
            }
            Ok(Poll::Ready(Err(e))) => {
                let ids: Vec<FaultId> = e
                    .into_failures()
                    .into_iter()
                    .flat_map(|f| f.into_error().0)
                    .collect();
                this.run
                    .ledger()
                    .scope_returned(this.scope, End::Errors(&ids));
                // The scope's future still holds the body's value, if the body returned one
                // before the scope failed: its destructor may panic, instead of the errors.
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| this.inner = None)) {
                    this.run.ledger().discarded(&ids, Rule::Superseded);
                    resume_unwind(p);
                }
                if ids.is_empty() {
                    Poll::Ready(Ok(None))
                } else {
                    Poll::Ready(Err(Fault(ids)))
                }
            }
            Err(p) => {
                match ids_of(&*p) {
                    Ok(ids) => {
                        this.run.ledger().scope_panicked(this.scope, &ids);
                    }
                    Err(text) => this.run.violation(format!(
                        "a panic the suite did not inject, from scope {}: {text}",
                        this.scope
                    )),
                }
                resume_unwind(p)
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        /// Tells the ledger once the scope's future is gone, even if its drop panics.
        struct Mark<'a>(&'a Run, u64);
        impl Drop for Mark<'_> {
            fn drop(&mut self) {
                self.0.ledger().scope_dropped(self.1);
            }
        }
        let _mark = Mark(&self.run, self.scope);
        self.inner = None;
    }
}

/// The top of a run, the future given to `block_on`: reports what reaches it.
pub struct Top {
    inner: Option<BoxFut<()>>,
    run: Arc<Run>,
}

impl Top {
    pub fn new(run: &Arc<Run>, fut: BoxFut<()>) -> Top {
        Top {
            inner: Some(fut),
            run: run.clone(),
        }
    }

    fn report(&self, p: Box<dyn Any + Send>) {
        match ids_of(&*p) {
            Ok(ids) => self.run.ledger().reported_top(&ids),
            Err(text) => self.run.violation(format!(
                "a panic the suite did not inject reached the top: {text}"
            )),
        }
    }
}

impl Future for Top {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let _enter = enter();
        let Some(fut) = self.inner.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => {}
            Err(p) => self.report(p),
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.inner = None)) {
            self.report(p);
        }
        Poll::Ready(())
    }
}

impl Drop for Top {
    fn drop(&mut self) {
        let _enter = enter();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.inner = None)) {
            self.report(p);
        }
    }
}
