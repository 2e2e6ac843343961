//! Deterministic simulation: run an ordinary tether program under a seed, on one thread, with
//! virtual time and a simulated network, and replay any failure exactly (feature `sim`).
//!
//! A [`Sim`] holds *hosts* (servers, restartable: each is a factory the simulation calls again
//! after a [`restart`]) and *clients* (futures that run once). [`Sim::run`] runs them all on the
//! calling thread until every client has finished, a task panics, an invariant fails, or
//! nothing can make progress. The program inside does not change: `tether::spawn`,
//! `tether::time`, `tether::net::{TcpListener, TcpStream, UdpSocket, lookup_host}`, channels,
//! scopes and `select!` all work as in production, with the simulation choosing
//!
//! - which ready task runs at every step (uniformly at random, or by [`Strategy::Pct`]),
//! - `select!`'s start order, task ids, and every delay and loss of the network,
//!
//! from one seed. The clock never reads the wall clock: when nothing is ready it jumps to the
//! next timer or network event, so an hour of timeouts and retries runs in milliseconds.
//! The same seed gives the same run: the same [`Report::trace_hash`] and the same output.
//!
//! # Examples
//!
//! ```
//! use tether::io::{AsyncReadExt, AsyncWriteExt};
//! use tether::net::{TcpListener, TcpStream};
//! use tether::sim::Sim;
//!
//! async fn echo_server() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("0.0.0.0:7000").await?;
//!     loop {
//!         let (mut s, _) = listener.accept().await?;
//!         tether::spawn(async move {
//!             let mut buf = [0; 5];
//!             s.read_exact(&mut buf).await?;
//!             s.write_all(&buf).await
//!         });
//!     }
//! }
//!
//! let mut sim = Sim::new(7);
//! sim.host("server", echo_server); // a factory: it runs again after a restart
//! sim.client("client", async {
//!     let mut s = TcpStream::connect("server:7000").await?;
//!     s.write_all(b"hello").await?;
//!     let mut buf = [0; 5];
//!     s.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"hello");
//!     std::io::Result::Ok(())
//! });
//! let report = sim.run().unwrap();
//! assert!(report.steps() > 0);
//! ```
//!
//! See `docs/simulation.md` for what is and is not simulated, and how to hunt a failure with
//! [`check`].

mod check;
pub(crate) mod explore;
pub(crate) mod net;
pub(crate) mod socket;
pub(crate) mod world;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use check::{check, Check, CheckReport};
pub use explore::Strategy;
pub use net::NetConfig;

use crate::runtime::Handle;
use crate::sched::current_thread::{self, SimStop};
use crate::task::JoinHandle;
use world::{Event, Factory, HostId, World};

/// The output of a host's or client's future, as a simulation judges it: `()` is success, and
/// so is `Ok(_)`; an `Err` is a failure of the simulation, reported with its `Display`.
pub trait SimOutput {
    /// `Ok(())` for success, or the error's message.
    fn into_sim_result(self) -> Result<(), String>;
}

impl SimOutput for () {
    fn into_sim_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: fmt::Display> SimOutput for Result<T, E> {
    fn into_sim_result(self) -> Result<(), String> {
        self.map(drop).map_err(|e| e.to_string())
    }
}

/// What went wrong in a failed simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// A task panicked (a client's, a host's, or one they spawned).
    Panic,
    /// A client's future returned an error.
    ClientError,
    /// A host's future returned an error.
    HostError,
    /// Nothing could run, no timer or network event was pending, and some client had not
    /// finished.
    Deadlock,
    /// An invariant ([`Builder::invariant`]) did not hold.
    Invariant,
    /// The run took more steps than [`Builder::max_steps`].
    StepLimit,
    /// The virtual clock passed [`Builder::time_limit`] before the clients finished.
    TimeLimit,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "a task panicked",
            FailureKind::ClientError => "a client failed",
            FailureKind::HostError => "a host failed",
            FailureKind::Deadlock => "deadlock",
            FailureKind::Invariant => "an invariant failed",
            FailureKind::StepLimit => "step limit reached",
            FailureKind::TimeLimit => "virtual time limit reached",
        })
    }
}

/// A failed simulation: what failed, under which seed and strategy, when (step and virtual
/// time), the last events before it, and the decision tape that replays it.
#[derive(Clone)]
pub struct SimError(pub(crate) Box<SimErrorInner>);

/// The fields of a [`SimError`] (boxed: a `Result` carrying it stays small).
#[derive(Clone)]
pub(crate) struct SimErrorInner {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
    pub(crate) seed: u64,
    pub(crate) strategy: Strategy,
    pub(crate) step: u64,
    pub(crate) virtual_elapsed: Duration,
    pub(crate) recent: Vec<String>,
    pub(crate) tape: Vec<u64>,
    /// Where the tape was written (`check` writes it).
    pub(crate) tape_file: Option<std::path::PathBuf>,
    /// The original tape's length, when this is a shrunk failure.
    pub(crate) shrunk_from: Option<usize>,
    /// The command that replays this failure alone (`check` fills it in).
    pub(crate) replay_hint: Option<String>,
}

impl SimError {
    /// What went wrong.
    pub fn kind(&self) -> FailureKind {
        self.0.kind
    }

    /// The failure's own message (the panic message, the error, the tasks left waiting).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The seed of the failing run.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// The step (number of polls) at which the failure was seen.
    pub fn step(&self) -> u64 {
        self.0.step
    }

    /// The virtual time since the start at which the failure was seen.
    pub fn virtual_elapsed(&self) -> Duration {
        self.0.virtual_elapsed
    }

    /// The last events of the trace before the failure, oldest first.
    pub fn recent_events(&self) -> &[String] {
        &self.0.recent
    }

    /// The failing run's decision tape: replay it with [`Builder::replay`] (or
    /// `TETHER_SIM_TAPE`).
    pub fn tape(&self) -> &[u64] {
        &self.0.tape
    }

    /// The file the tape was written to, if [`check`] wrote one.
    pub fn tape_file(&self) -> Option<&std::path::Path> {
        self.0.tape_file.as_deref()
    }

    /// The length of the tape before shrinking, if this failure was shrunk.
    pub fn shrunk_from(&self) -> Option<usize> {
        self.0.shrunk_from
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation failed: {}: {}\n  seed {} (strategy {}), step {}, virtual time {:?}",
            self.0.kind,
            self.0.message,
            self.0.seed,
            self.0.strategy,
            self.0.step,
            self.0.virtual_elapsed
        )?;
        match self.0.shrunk_from {
            Some(n) => writeln!(
                f,
                "  decision tape: {} choices (shrunk from {n})",
                self.0.tape.len()
            )?,
            None => writeln!(f, "  decision tape: {} choices", self.0.tape.len())?,
        }
        if let Some(p) = &self.0.tape_file {
            writeln!(f, "  tape written to {}", p.display())?;
        }
        if !self.0.recent.is_empty() {
            writeln!(f, "  last {} events:", self.0.recent.len())?;
            for e in &self.0.recent {
                writeln!(f, "    {e}")?;
            }
        }
        match &self.0.replay_hint {
            Some(h) => write!(f, "  replay: {h}"),
            None => write!(
                f,
                "  replay: Sim::builder().seed({}).strategy({:?}) with the same hosts and clients",
                self.0.seed, self.0.strategy
            ),
        }
    }
}

impl fmt::Debug for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for SimError {}

/// What a finished simulation reports.
#[derive(Debug, Clone)]
pub struct Report {
    seed: u64,
    steps: u64,
    trace_hash: u64,
    virtual_elapsed: Duration,
    tape: Vec<u64>,
}

impl Report {
    /// The seed the run used.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many task polls the run took.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// A hash of the run's trace (every poll, clock jump, network event and fault, with its
    /// step): two runs with the same hash took the same path.
    pub fn trace_hash(&self) -> u64 {
        self.trace_hash
    }

    /// The virtual time the run took.
    pub fn virtual_elapsed(&self) -> Duration {
        self.virtual_elapsed
    }

    /// The run's decision tape (replay it with [`Builder::replay`]).
    pub fn tape(&self) -> &[u64] {
        &self.tape
    }
}

/// An invariant checked during a run: returns `Err(message)` when it does not hold.
type Invariant = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Configures a [`Sim`]: seed, scheduling strategy, network, limits, invariants.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::sim::{NetConfig, Sim, Strategy};
///
/// let sim = Sim::builder()
///     .seed(42)
///     .strategy(Strategy::Pct { depth: 3, steps: 2_000 })
///     .net(NetConfig::default().latency(Duration::from_millis(5)).jitter(Duration::from_millis(2)))
///     .time_limit(Duration::from_secs(3600))
///     .build();
/// assert_eq!(sim.seed(), 42);
/// ```
#[derive(Clone)]
pub struct Builder {
    seed: u64,
    strategy: Strategy,
    replay: Option<Vec<u64>>,
    net: NetConfig,
    max_steps: u64,
    time_limit: Duration,
    trace_len: usize,
    step_invariants: Vec<Invariant>,
    end_invariants: Vec<Invariant>,
    faults: Option<net::FaultPlan>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            seed: 0,
            strategy: Strategy::Random,
            replay: None,
            net: NetConfig::default(),
            max_steps: 50_000_000,
            time_limit: Duration::from_secs(24 * 3600),
            trace_len: 32,
            step_invariants: Vec::new(),
            end_invariants: Vec::new(),
            faults: None,
        }
    }
}

impl Builder {
    /// The seed every choice of the run is drawn from (default 0).
    pub fn seed(&mut self, seed: u64) -> &mut Builder {
        self.seed = seed;
        self
    }

    /// How the next task is chosen among the ready ones (default [`Strategy::Random`]).
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Builder {
        self.strategy = strategy;
        self
    }

    /// Replays a decision tape (from [`Report::tape`], [`SimError::tape`] or a tape file)
    /// instead of drawing from the seed: the run takes exactly the recorded path. Choices past
    /// the tape's end take their plainest value (the oldest ready task, no delay, no loss).
    pub fn replay(&mut self, tape: Vec<u64>) -> &mut Builder {
        self.replay = Some(tape);
        self
    }

    /// The simulated network's latency, jitter, loss and bandwidth.
    pub fn net(&mut self, net: NetConfig) -> &mut Builder {
        self.net = net;
        self
    }

    /// Fails the run ([`FailureKind::StepLimit`]) after this many polls (default 50 million):
    /// a guard against livelock.
    pub fn max_steps(&mut self, n: u64) -> &mut Builder {
        self.max_steps = n;
        self
    }

    /// Fails the run ([`FailureKind::TimeLimit`]) when the virtual clock passes this much
    /// time without the clients finishing (default 24 hours): a guard against programs that
    /// keep a timer running while waiting for something that never comes.
    pub fn time_limit(&mut self, limit: Duration) -> &mut Builder {
        self.time_limit = limit;
        self
    }

    /// How many of the last trace events a failure report shows (default 32).
    pub fn trace_len(&mut self, n: usize) -> &mut Builder {
        self.trace_len = n;
        self
    }

    /// An invariant checked after every step: when it returns `Err`, the run fails with
    /// [`FailureKind::Invariant`] at that step. It runs on the simulation's thread between
    /// polls; share state with the program under test through an `Arc<Mutex<..>>` or atomics.
    pub fn invariant<F>(&mut self, f: F) -> &mut Builder
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        self.step_invariants.push(Arc::new(f));
        self
    }

    /// An invariant checked once, after every client has finished (for example "every
    /// acknowledged write is readable").
    pub fn invariant_at_end<F>(&mut self, f: F) -> &mut Builder
    where
        F: Fn() -> Result<(), String> + Send + Sync + 'static,
    {
        self.end_invariants.push(Arc::new(f));
        self
    }

    /// Random faults, drawn from the seed: see [`Faults`].
    pub fn faults(&mut self, faults: Faults) -> &mut Builder {
        self.faults = Some(faults.0);
        self
    }

    /// The simulation.
    pub fn build(&self) -> Sim {
        Sim {
            config: self.clone(),
            hosts: Vec::new(),
            clients: Vec::new(),
            links: Vec::new(),
        }
    }
}

/// A seeded schedule of random faults for [`Builder::faults`]: partitions between random
/// pairs of hosts, and crashes followed by restarts of random hosts, at random virtual times.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tether::sim::Faults;
///
/// let faults = Faults::new()
///     .every(Duration::from_millis(200))
///     .partitions(true)
///     .crashes(&["server"])
///     .down_for(Duration::from_millis(50));
/// # let _ = faults;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Faults(net::FaultPlan);

impl Faults {
    /// No faults yet: add kinds with the methods below.
    pub fn new() -> Faults {
        Faults(net::FaultPlan {
            mean_interval: Duration::from_millis(500),
            down_for: Duration::from_millis(100),
            partitions: false,
            crash: Vec::new(),
        })
    }

    /// The mean virtual time between two faults (exponentially distributed; default 500 ms).
    pub fn every(mut self, mean: Duration) -> Faults {
        self.0.mean_interval = mean;
        self
    }

    /// How long a partition or a crashed host lasts before it is repaired or restarted
    /// (default 100 ms).
    pub fn down_for(mut self, d: Duration) -> Faults {
        self.0.down_for = d;
        self
    }

    /// Whether to partition random pairs of hosts.
    pub fn partitions(mut self, on: bool) -> Faults {
        self.0.partitions = on;
        self
    }

    /// The hosts that may crash (and be restarted); clients cannot crash.
    pub fn crashes(mut self, hosts: &[&str]) -> Faults {
        self.0.crash = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }
}

type ClientFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type ClientHandle = JoinHandle<Result<(), String>>;

/// A simulation: hosts and clients, run under one seed. See the [module docs](self).
pub struct Sim {
    config: Builder,
    hosts: Vec<(String, Factory)>,
    clients: Vec<(String, ClientFuture)>,
    links: Vec<(String, String, NetConfig)>,
}

impl Sim {
    /// A simulation with seed `seed` and the default settings.
    pub fn new(seed: u64) -> Sim {
        Builder::default().seed(seed).build()
    }

    /// A builder, for settings beyond the seed.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The seed of this simulation.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Adds a host named `name` (also its host name for [`lookup_host`]): `factory` is called
    /// at the start and again at every [`restart`], and its future runs as the host's root
    /// task. A host may bind any port on `0.0.0.0`, its own address or `127.0.0.1`.
    ///
    /// [`lookup_host`]: crate::net::lookup_host
    ///
    /// # Panics
    ///
    /// If the name is already taken.
    pub fn host<F, Fut>(&mut self, name: &str, factory: F) -> &mut Sim
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SimOutput,
    {
        self.check_name(name);
        let factory: Factory = Arc::new(move || {
            let fut = factory();
            Box::pin(async move { fut.await.into_sim_result() })
        });
        self.hosts.push((name.to_owned(), factory));
        self
    }

    /// Adds a client named `name`: `future` runs once, on a host of its own. The simulation
    /// runs until every client has finished; a client returning `Err` fails it.
    ///
    /// # Panics
    ///
    /// If the name is already taken.
    pub fn client<Fut>(&mut self, name: &str, future: Fut) -> &mut Sim
    where
        Fut: Future + Send + 'static,
        Fut::Output: SimOutput,
    {
        self.check_name(name);
        self.clients.push((
            name.to_owned(),
            Box::pin(async move { future.await.into_sim_result() }),
        ));
        self
    }

    /// Gives the link between hosts (or clients) `a` and `b` settings of its own, both ways:
    /// its latency, jitter, UDP loss and bandwidth replace the simulation's
    /// ([`Builder::net`]); the connection settings (`reset_after`, `connect_timeout`,
    /// `window`) stay the simulation's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::sim::{NetConfig, Sim};
    ///
    /// let mut sim = Sim::new(1);
    /// sim.host("server", || async {});
    /// sim.client("far-client", async {});
    /// sim.link("server", "far-client", NetConfig::default().latency(Duration::from_millis(80)));
    /// sim.run().unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// When [`run`](Sim::run) starts, if either name is not a host or client of the simulation.
    pub fn link(&mut self, a: &str, b: &str, net: NetConfig) -> &mut Sim {
        self.links.push((a.to_owned(), b.to_owned(), net));
        self
    }

    fn check_name(&self, name: &str) {
        let taken = self.hosts.iter().any(|(n, _)| n == name)
            || self.clients.iter().any(|(n, _)| n == name);
        assert!(
            !taken,
            "tether::sim: a host or client named {name:?} exists already; give each a name of \
             its own"
        );
    }

    /// Runs the simulation on this thread until every client has finished; see the
    /// [module docs](self).
    ///
    /// # Errors
    ///
    /// A [`SimError`] for the first failure: a panic, a client's or host's error, a deadlock,
    /// a failed invariant, or a limit reached.
    ///
    /// # Panics
    ///
    /// When called inside a tether runtime (a simulation drives a runtime of its own).
    pub fn run(self) -> Result<Report, SimError> {
        assert!(
            crate::runtime::context::current_handle().is_none(),
            "tether::sim: Sim::run was called inside a tether runtime; run simulations from a \
             plain #[test] (or a thread of their own), not from #[tether::test] or a task"
        );
        let cfg = self.config;
        let explorer = explore::Explorer::new(cfg.seed, cfg.strategy.clone(), cfg.replay.clone());
        let world = Arc::new(World::new(
            explorer,
            net::Network::new(cfg.net.clone()),
            cfg.trace_len,
        ));
        let mut rtb = crate::runtime::Builder::new_current_thread();
        rtb.start_paused(true).diagnostics(false).quiet();
        rtb.sim = Some(world.clone());
        let w = Arc::downgrade(&world);
        rtb.on_unhandled_failure(move |f| {
            if let Some(w) = w.upgrade() {
                w.fail(FailureKind::Panic, f.to_string());
            }
        });
        let rt = rtb.build().unwrap_or_else(|e| {
            panic!("tether::sim: could not create the simulation's runtime: {e}")
        });
        // `select!`'s start order is a draw of the simulation's too (on the tape).
        let _active = Active::enter();
        let _enter = rt.enter();
        world.set_start(rt.handle().shared.time.clock.now());
        let mut next_ip = 1u32;
        let mut ip = || {
            let n = next_ip;
            next_ip += 1;
            IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | n))
        };
        for (name, factory) in self.hosts {
            let h = world.add_host(&name, ip(), Some(factory.clone()));
            start_host(&world, h, &name, factory);
        }
        let mut clients: Vec<(String, JoinHandle<Result<(), String>>)> = Vec::new();
        for (name, fut) in self.clients {
            let h = world.add_host(&name, ip(), None);
            let handle = world.with_host(h, || {
                crate::task::Builder::new()
                    .name(&name)
                    .spawn_on(fut, rt.handle())
            });
            clients.push((name, handle));
        }
        for (a, b, net) in self.links {
            let ha = host_id(&world, &a, "Sim::link");
            let hb = host_id(&world, &b, "Sim::link");
            world.lock().net.set_link(ha, hb, net);
        }
        if let Some(plan) = cfg.faults.clone() {
            let w = world.clone();
            let h = world.add_host("tether-sim-faults", ip(), None);
            world.with_host(h, || {
                drop(
                    crate::task::Builder::new()
                        .name("tether-sim-faults")
                        .spawn_on(net::run_faults(w, plan), rt.handle()),
                )
            });
        }
        let shared = rt.handle().shared.clone();
        let check_step = |world: &World| {
            for inv in &cfg.step_invariants {
                if let Err(m) = call_invariant(inv) {
                    world.fail(FailureKind::Invariant, m);
                    return;
                }
            }
        };
        let mut running: Vec<(String, Option<ClientHandle>)> =
            clients.into_iter().map(|(n, h)| (n, Some(h))).collect();
        let stop = current_thread::run_sim(
            &shared,
            &world,
            || {
                check_step(&world);
                let mut all_done = true;
                for (name, slot) in &mut running {
                    let Some(handle) = slot else { continue };
                    if !handle.is_finished() {
                        all_done = false;
                        continue;
                    }
                    let res = take_finished(handle);
                    *slot = None;
                    let failure = match res {
                        Ok(Ok(())) => None,
                        Ok(Err(m)) => Some((FailureKind::ClientError, m)),
                        Err(e) => Some((FailureKind::Panic, e.to_string())),
                    };
                    if let Some((kind, m)) = failure {
                        world.fail(kind, format!("client {name:?}: {m}"));
                        return false;
                    }
                }
                all_done
            },
            cfg.max_steps,
            cfg.time_limit,
        );
        let elapsed = world.elapsed(shared.time.clock.now());
        match stop {
            SimStop::Finished => {
                for inv in &cfg.end_invariants {
                    if let Err(m) = call_invariant(inv) {
                        world.fail(FailureKind::Invariant, m);
                        break;
                    }
                }
            }
            SimStop::Failed => {}
            SimStop::Deadlock => {
                let waiting: Vec<String> = running
                    .iter()
                    .filter(|(_, h)| h.is_some())
                    .map(|(n, _)| format!("{n:?}"))
                    .collect();
                let tasks: Vec<String> = shared
                    .task_snapshot()
                    .iter()
                    .map(|t| format!("{} at {}", t.name().unwrap_or("(unnamed)"), t.location()))
                    .collect();
                world.fail(
                    FailureKind::Deadlock,
                    format!(
                        "nothing can run and no timer or network event is pending, but \
                         client(s) {} have not finished; tasks waiting: {}",
                        waiting.join(", "),
                        tasks.join("; ")
                    ),
                );
            }
            SimStop::StepLimit => world.fail(
                FailureKind::StepLimit,
                format!(
                    "{} polls without the clients finishing (a livelock?); raise \
                     Builder::max_steps if the run is just long",
                    cfg.max_steps
                ),
            ),
            SimStop::TimeLimit => world.fail(
                FailureKind::TimeLimit,
                format!(
                    "the virtual clock passed {:?} without the clients finishing; raise \
                     Builder::time_limit if the run is just long",
                    cfg.time_limit
                ),
            ),
        }
        drop(running);
        drop(_enter);
        // Shutting down drops every task still alive, on this thread.
        drop(rt);
        if let Some(err) = world.take_failure(cfg.seed, elapsed) {
            return Err(err);
        }
        let (steps, trace_hash, tape) = world.summary();
        Ok(Report {
            seed: cfg.seed,
            steps,
            trace_hash,
            virtual_elapsed: elapsed,
            tape,
        })
    }
}

thread_local! {
    /// Whether this thread runs a simulation (then `select!` draws its start from it).
    static ACTIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as running a simulation until dropped (also on unwind).
struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE.with(|a| a.set(true));
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
    }
}

/// `select!`'s start index among `n` branches inside a simulation: a draw of the
/// simulation's (so a tape replays it and zero is the first branch); `None` elsewhere.
pub(crate) fn select_start(n: u32) -> Option<u32> {
    if !ACTIVE.with(std::cell::Cell::get) {
        return None;
    }
    let world = crate::runtime::context::current_handle()?
        .shared
        .sim
        .clone()?;
    Some(world.draw_below(n as usize) as u32)
}

/// Runs an invariant; a panic in it is its failure, with the panic's message.
fn call_invariant(inv: &Invariant) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inv()))
        .unwrap_or_else(|p| Err(format!("the invariant panicked: {}", panic_message(&*p))))
}

/// The message of a panic payload (a `&str` or a `String`; other payloads have none).
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic payload that is not a string)".to_owned())
}

/// The output of a finished client's task.
fn take_finished(
    handle: &mut JoinHandle<Result<(), String>>,
) -> Result<Result<(), String>, crate::task::JoinError> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match Pin::new(handle).poll(&mut cx) {
        std::task::Poll::Ready(res) => res,
        std::task::Poll::Pending => unreachable!("the task is finished"),
    }
}

/// Starts (or restarts) host `h`: its factory's future as the host's root task.
fn start_host(world: &Arc<World>, h: HostId, name: &str, factory: Factory) {
    let w = Arc::downgrade(world);
    let host_name = name.to_owned();
    world.with_host(h, || {
        let fut = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| factory())) {
            Ok(fut) => fut,
            Err(p) => {
                world.fail(
                    FailureKind::Panic,
                    format!(
                        "host {name:?}: its factory panicked: {}",
                        panic_message(&*p)
                    ),
                );
                return;
            }
        };
        drop(crate::task::Builder::new().name(name).spawn(async move {
            if let Err(m) = fut.await {
                if let Some(w) = w.upgrade() {
                    w.fail(FailureKind::HostError, format!("host {host_name:?}: {m}"));
                }
            }
        }));
    });
}

/// The simulation the current task runs in.
fn current_world(what: &str) -> (Arc<World>, Handle) {
    let handle = crate::runtime::context::current_handle().unwrap_or_else(|| {
        panic!("tether::sim::{what} must be called inside a simulation (from a host or client)")
    });
    let world = handle.shared.sim.clone().unwrap_or_else(|| {
        panic!(
            "tether::sim::{what} must be called inside a simulation; this runtime is not one \
             (use Sim::run)"
        )
    });
    (world, handle)
}

fn host_id(world: &World, name: &str, what: &str) -> HostId {
    world
        .host_by_name(name)
        .unwrap_or_else(|| panic!("tether::sim::{what}: no host or client is named {name:?}"))
}

/// Whether the current task runs inside a simulation.
pub fn is_simulation() -> bool {
    crate::runtime::context::current_handle().is_some_and(|h| h.shared.sim.is_some())
}

/// Crashes host `host`: every task of it is dropped before any other task runs again (the
/// calling task's poll goes on until it returns), its sockets are reset (peers see
/// `ConnectionReset`), and its listeners vanish. It stays down until [`restart`].
///
/// # Panics
///
/// Outside a simulation, for an unknown host, or for a client (clients cannot crash).
pub fn crash(host: &str) {
    let (world, _) = current_world("crash");
    let h = host_id(&world, host, "crash");
    crash_host(&world, h);
}

/// Crashes host `h`; false if it was down already.
pub(crate) fn crash_host(world: &Arc<World>, h: HostId) -> bool {
    let mut wakers = Vec::new();
    {
        let mut st = world.lock();
        assert!(
            st.hosts[h].factory.is_some(),
            "tether::sim::crash: {:?} is a client; only hosts (Sim::host) can crash",
            st.hosts[h].name
        );
        if !st.hosts[h].up {
            return false;
        }
        st.hosts[h].up = false;
        st.net.crash_host(h, &mut wakers);
    }
    world.record(Event::Fault(format!("crash host {h}")));
    wakers.into_iter().for_each(std::task::Waker::wake);
    // `world.rs` rule 4: the run loop drops every task of the host before the next step.
    world.set_dead_pending();
    true
}

/// Restarts a crashed host: its factory runs again as a new root task, with fresh sockets.
///
/// # Panics
///
/// Outside a simulation, for an unknown host or client, or if the host is running.
pub fn restart(host: &str) {
    let (world, _) = current_world("restart");
    let h = host_id(&world, host, "restart");
    restart_host(&world, h);
}

pub(crate) fn restart_host(world: &Arc<World>, h: HostId) {
    let (name, factory) = {
        let mut st = world.lock();
        let host = &mut st.hosts[h];
        assert!(
            !host.up,
            "tether::sim::restart: host {:?} is running; crash it first",
            host.name
        );
        assert!(
            host.factory.is_some(),
            "tether::sim::restart: {:?} is a client; only hosts (Sim::host) restart",
            host.name
        );
        host.up = true;
        host.restarts += 1;
        let name = host.name.clone();
        let factory = host
            .factory
            .clone()
            .expect("only hosts crash, and hosts have factories");
        st.net.restart_host(h);
        (name, factory)
    };
    world.record(Event::Fault(format!("restart host {h}")));
    start_host(world, h, &name, factory);
}

/// Cuts the link between hosts `a` and `b` (both ways): segments and datagrams in flight and
/// sent from now on are held back (TCP) or lost (UDP); a TCP connection whose segments are
/// held longer than [`NetConfig::reset_after`] is reset. [`repair`] restores the link.
///
/// # Panics
///
/// Outside a simulation or for an unknown host.
pub fn partition(a: &str, b: &str) {
    link_op("partition", a, b, |net, a, b| {
        net.set_partitioned(a, b, true)
    });
}

/// Restores a link cut by [`partition`]: held segments are delivered, in order.
///
/// # Panics
///
/// Outside a simulation or for an unknown host.
pub fn repair(a: &str, b: &str) {
    link_op("repair", a, b, |net, a, b| net.set_partitioned(a, b, false));
}

/// Holds every segment and datagram from `a` to `b` (one way) until [`release`]: nothing is
/// lost and connections stay up, however long the hold lasts.
///
/// # Panics
///
/// Outside a simulation or for an unknown host.
pub fn hold(a: &str, b: &str) {
    link_op("hold", a, b, |net, a, b| net.set_held(a, b, true));
}

/// Releases a link held with [`hold`]: what was held is delivered, in order.
///
/// # Panics
///
/// Outside a simulation or for an unknown host.
pub fn release(a: &str, b: &str) {
    link_op("release", a, b, |net, a, b| net.set_held(a, b, false));
}

fn link_op(what: &str, a: &str, b: &str, f: impl FnOnce(&mut net::Network, HostId, HostId)) {
    let (world, _) = current_world(what);
    let ha = host_id(&world, a, what);
    let hb = host_id(&world, b, what);
    let mut wakers = Vec::new();
    {
        let now = world_now();
        let mut st = world.lock();
        st.net.now = now;
        f(&mut st.net, ha, hb);
        st.net.flush_wakers(&mut wakers);
    }
    world.record(Event::Fault(format!("{what} {ha} {hb}")));
    // What a repair or release delivered (`world.rs` rule 1: woken after the lock is released).
    wakers.into_iter().for_each(std::task::Waker::wake);
}

/// The simulation's clock, read through the current runtime.
fn world_now() -> std::time::Instant {
    crate::time::Instant::now().into_std()
}
