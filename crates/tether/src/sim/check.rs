//! Hunting failures over many seeds: [`check`] and [`Check`] run a simulation once per seed,
//! and on the first failure shrink its decision tape, write it to a file, and report the seed,
//! the virtual time, the last events and the command that replays it alone.
//!
//! Shrinking is delta debugging over the tape (`explore.rs`): a candidate tape is kept when
//! replaying it fails the same way (same [`FailureKind`]). Candidates are, in turn, the tape cut
//! to its first half (repeatedly), then chunks of it set to zero (the plainest choice: the
//! oldest ready task, no jitter, no loss), from large chunks to single draws; trailing zeros
//! are dropped, since a replay reads zeros past a tape's end anyway. The result is a run that
//! fails with fewer decisions away from plain FIFO order, which is usually far easier to read.

use std::path::{Path, PathBuf};

use super::{Builder, FailureKind, Sim, SimError, Strategy};

/// The default number of seeds when `TETHER_SIM_SEEDS` is not set.
const DEFAULT_SEEDS: u64 = 1000;

/// Runs `setup`'s simulation under `seeds` seeds (or `TETHER_SIM_SEEDS`), and panics with the
/// report of the first failure (shrunk, its tape written to a file, with the command that
/// replays it); see [`Check`] for the environment variables and for a version that returns the
/// failure instead.
///
/// # Panics
///
/// On the first failing seed, with its report.
///
/// # Examples
///
/// ```
/// use tether::sim::check;
///
/// check(50, |sim| {
///     sim.client("client", async {
///         let a = tether::spawn(async { 1 });
///         let b = tether::spawn(async { 2 });
///         assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
///     });
/// });
/// ```
#[track_caller]
pub fn check(seeds: u64, setup: impl Fn(&mut Sim)) {
    if let Err(e) = Check::new().seeds(seeds).run(setup) {
        panic!("{e}");
    }
}

/// Many seeds of one simulation, with shrinking and replay; see [`check`].
///
/// Environment variables (read by [`run`](Check::run)):
/// - `TETHER_SIM_SEEDS=N`: how many seeds to run (overrides [`seeds`](Check::seeds));
/// - `TETHER_SIM_SEED=S`: run only seed `S` (to replay a reported failure);
/// - `TETHER_SIM_STRATEGY=random|pct:d=3`: the scheduling strategy (overrides the builder's);
/// - `TETHER_SIM_TAPE=path`: replay the tape in that file (written by a failure report);
/// - `TETHER_SIM_TAPE_DIR=dir`: where failing tapes are written (overrides
///   [`tape_dir`](Check::tape_dir); default: the system's temporary directory, under
///   `tether-sim/`).
///
/// # Examples
///
/// A check-then-act race across an await, found and shrunk:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tether::sim::{Check, FailureKind};
///
/// let err = Check::new()
///     .seeds(200)
///     .run(|sim| {
///         let balance = Arc::new(Mutex::new(100));
///         for name in ["a", "b"] {
///             let balance = balance.clone();
///             sim.client(name, async move {
///                 let seen = *balance.lock().unwrap();
///                 tether::task::yield_now().await; // the race: the check is stale now
///                 if seen >= 100 {
///                     let mut b = balance.lock().unwrap();
///                     *b -= 100;
///                     assert!(*b >= 0, "overdrawn: {}", *b);
///                 }
///             });
///         }
///     })
///     .unwrap_err();
/// assert_eq!(err.kind(), FailureKind::Panic);
/// assert!(err.message().contains("overdrawn"));
/// ```
#[derive(Clone)]
pub struct Check {
    builder: Builder,
    seeds: u64,
    first_seed: u64,
    shrink: bool,
    shrink_runs: u32,
    tape_dir: Option<PathBuf>,
}

impl Default for Check {
    fn default() -> Check {
        Check::new()
    }
}

/// What a successful [`Check::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Seeds run.
    pub seeds: u64,
    /// Distinct trace hashes among them: how many different runs the seeds explored.
    pub distinct_runs: u64,
    /// Polls in all runs together.
    pub steps: u64,
}

impl Check {
    /// 1,000 seeds (or `TETHER_SIM_SEEDS`) from seed 0, random strategy, shrinking on.
    pub fn new() -> Check {
        Check {
            builder: Builder::default(),
            seeds: DEFAULT_SEEDS,
            first_seed: 0,
            shrink: true,
            shrink_runs: 300,
            tape_dir: None,
        }
    }

    /// How many seeds to run (`TETHER_SIM_SEEDS` overrides it).
    pub fn seeds(&mut self, n: u64) -> &mut Check {
        self.seeds = n;
        self
    }

    /// The first seed (default 0); seeds run are `first..first + n`.
    pub fn first_seed(&mut self, seed: u64) -> &mut Check {
        self.first_seed = seed;
        self
    }

    /// The settings each run starts from (its seed is replaced per run).
    pub fn builder(&mut self, builder: Builder) -> &mut Check {
        self.builder = builder;
        self
    }

    /// The scheduling strategy (`TETHER_SIM_STRATEGY` overrides it).
    pub fn strategy(&mut self, strategy: Strategy) -> &mut Check {
        self.builder.strategy(strategy);
        self
    }

    /// Whether to shrink a failing run's tape before reporting it (default on), and how many
    /// replays shrinking may take at most (default 300).
    pub fn shrink(&mut self, on: bool, max_runs: u32) -> &mut Check {
        self.shrink = on;
        self.shrink_runs = max_runs;
        self
    }

    /// Where a failing run's tape is written (`TETHER_SIM_TAPE_DIR` overrides it; default: the
    /// system's temporary directory, under `tether-sim/`). A test that wants its own directory
    /// sets it here rather than in the environment, which other tests' threads read.
    pub fn tape_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Check {
        self.tape_dir = Some(dir.into());
        self
    }

    /// Runs the seeds; see the [type docs](Check).
    ///
    /// # Errors
    ///
    /// The first failure (shrunk if shrinking is on), with its tape file and replay command.
    ///
    /// # Panics
    ///
    /// If an environment variable is malformed (the message says the accepted form).
    pub fn run(&self, setup: impl Fn(&mut Sim)) -> Result<CheckReport, SimError> {
        let env = Env::read();
        let mut builder = self.builder.clone();
        if let Some(s) = &env.strategy {
            builder.strategy(s.clone());
        }
        if let Some(path) = &env.tape {
            let (seed, strategy, tape) = read_tape(path);
            let mut b = builder.clone();
            b.seed(seed).replay(tape);
            if env.strategy.is_none() {
                if let Some(s) = strategy {
                    b.strategy(s);
                }
            }
            return run_one(&b, &setup).map(|r| CheckReport {
                seeds: 1,
                distinct_runs: 1,
                steps: r.steps(),
            });
        }
        let seeds: Vec<u64> = match env.seed {
            Some(s) => vec![s],
            None => {
                let n = env.seeds.unwrap_or(self.seeds);
                (self.first_seed..self.first_seed.saturating_add(n)).collect()
            }
        };
        let mut hashes = std::collections::HashSet::new();
        let mut steps = 0;
        for &seed in &seeds {
            let mut b = builder.clone();
            b.seed(seed);
            match run_one(&b, &setup) {
                Ok(r) => {
                    hashes.insert(r.trace_hash());
                    steps += r.steps();
                }
                Err(e) => return Err(self.report(&builder, &setup, e)),
            }
        }
        Ok(CheckReport {
            seeds: seeds.len() as u64,
            distinct_runs: hashes.len() as u64,
            steps,
        })
    }

    /// Shrinks a failure, writes its tape, and fills in the replay command.
    fn report(&self, builder: &Builder, setup: &dyn Fn(&mut Sim), first: SimError) -> SimError {
        let original_len = first.0.tape.len();
        let mut err = if self.shrink {
            shrink(builder, setup, first, self.shrink_runs)
        } else {
            first
        };
        if err.0.tape.len() < original_len {
            err.0.shrunk_from = Some(original_len);
        }
        let test = std::thread::current()
            .name()
            .filter(|n| *n != "main")
            .map(str::to_owned);
        err.0.tape_file = write_tape(&err, self.tape_dir.as_deref(), test.as_deref());
        let filter = test
            .as_deref()
            .map_or(String::new(), |t| format!(" {t} -- --exact"));
        let mut hint = format!(
            "TETHER_SIM_SEED={} TETHER_SIM_STRATEGY={} cargo test{filter}",
            err.0.seed, err.0.strategy
        );
        if let Some(p) = &err.0.tape_file {
            hint.push_str(&format!(
                "\n  or the shrunk run: TETHER_SIM_TAPE={} cargo test{filter}",
                p.display()
            ));
        }
        err.0.replay_hint = Some(hint);
        err
    }
}

/// One run of `setup`'s simulation with `builder`'s settings.
fn run_one(builder: &Builder, setup: &dyn Fn(&mut Sim)) -> Result<super::Report, SimError> {
    let mut sim = builder.build();
    setup(&mut sim);
    sim.run()
}

/// Delta debugging over `err`'s tape (see the module docs), within `budget` replays.
fn shrink(builder: &Builder, setup: &dyn Fn(&mut Sim), err: SimError, budget: u32) -> SimError {
    let kind: FailureKind = err.0.kind;
    let target = shape(&err.0.message);
    let seed = err.0.seed;
    let mut best = err;
    trim(&mut best.0.tape);
    let mut runs = 0u32;
    let attempt = |tape: Vec<u64>, runs: &mut u32| -> Option<SimError> {
        if *runs >= budget {
            return None;
        }
        *runs += 1;
        let mut b = builder.clone();
        b.seed(seed).replay(tape);
        match run_one(&b, setup) {
            // The same failure: its kind, and its message up to the numbers in it (task ids,
            // counts), so shrinking cannot trade the bug for another one.
            Err(e) if e.0.kind == kind && shape(&e.0.message) == target => Some(e),
            _ => None,
        }
    };
    // Cut the tape in half while the shorter one still fails.
    while best.0.tape.len() > 1 {
        let half = best.0.tape[..best.0.tape.len() / 2].to_vec();
        match attempt(half, &mut runs) {
            Some(mut e) => {
                trim(&mut e.0.tape);
                best = e;
            }
            None => break,
        }
    }
    // Zero chunks, from large to single draws.
    let mut chunk = best.0.tape.len().div_ceil(2).max(1);
    loop {
        let mut i = 0;
        while i < best.0.tape.len() {
            let end = (i + chunk).min(best.0.tape.len());
            if best.0.tape[i..end].iter().any(|&d| d != 0) {
                let mut candidate = best.0.tape.clone();
                candidate[i..end].iter_mut().for_each(|d| *d = 0);
                if let Some(mut e) = attempt(candidate, &mut runs) {
                    trim(&mut e.0.tape);
                    best = e;
                }
            }
            i = end;
        }
        if chunk == 1 || runs >= budget {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    best
}

/// A failure message without the client or host it happened on and with every run of digits
/// replaced by `#`: what stays the same when the same failure happens at another step, to
/// another task or client (the same race lost by the other side).
fn shape(message: &str) -> String {
    let mut message = message;
    for prefix in ["client \"", "host \""] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some(i) = rest.find("\": ") {
                message = &rest[i + 3..];
            }
        }
    }
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// Drops trailing zeros: a replay reads zeros past the end anyway.
fn trim(tape: &mut Vec<u64>) {
    while tape.last() == Some(&0) {
        tape.pop();
    }
}

/// The environment's settings (see [`Check`]).
struct Env {
    seeds: Option<u64>,
    seed: Option<u64>,
    strategy: Option<Strategy>,
    tape: Option<PathBuf>,
}

impl Env {
    fn read() -> Env {
        let num = |name: &str| {
            std::env::var(name).ok().map(|v| {
                v.trim().parse::<u64>().unwrap_or_else(|_| {
                    panic!("tether::sim: {name}={v:?} is not a number; set it to, e.g., {name}=100")
                })
            })
        };
        Env {
            seeds: num("TETHER_SIM_SEEDS"),
            seed: num("TETHER_SIM_SEED"),
            strategy: std::env::var("TETHER_SIM_STRATEGY").ok().map(|v| {
                Strategy::parse(&v).unwrap_or_else(|e| panic!("TETHER_SIM_STRATEGY: {e}"))
            }),
            tape: std::env::var_os("TETHER_SIM_TAPE").map(PathBuf::from),
        }
    }
}

/// Writes a failing run's tape in `TETHER_SIM_TAPE_DIR`, else `dir`, else the temporary
/// directory's `tether-sim/`: a text file, a header line, then one draw per line.
fn write_tape(err: &SimError, dir: Option<&Path>, test: Option<&str>) -> Option<PathBuf> {
    let dir = std::env::var_os("TETHER_SIM_TAPE_DIR")
        .map(PathBuf::from)
        .or_else(|| dir.map(Path::to_owned))
        .unwrap_or_else(|| std::env::temp_dir().join("tether-sim"));
    std::fs::create_dir_all(&dir).ok()?;
    let stem: String = test
        .unwrap_or("sim")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("{stem}-seed-{}.tape", err.0.seed));
    let mut text = format!(
        "# tether sim tape: seed {} strategy {} failure: {}\n",
        err.0.seed, err.0.strategy, err.0.kind
    );
    for d in &err.0.tape {
        text.push_str(&d.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).ok()?;
    Some(path)
}

/// Reads a tape file written by `write_tape`: its seed, strategy and draws.
fn read_tape(path: &std::path::Path) -> (u64, Option<Strategy>, Vec<u64>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("TETHER_SIM_TAPE: cannot read {}: {e}", path.display()));
    let mut seed = 0;
    let mut strategy = None;
    let mut tape = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix('#') {
            let word_after = |key: &str| header.split_whitespace().skip_while(|w| *w != key).nth(1);
            if let Some(s) = word_after("seed") {
                seed = s.parse().unwrap_or(0);
            }
            strategy = word_after("strategy").and_then(|s| Strategy::parse(s).ok());
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        tape.push(line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "TETHER_SIM_TAPE: {} is not a tape file (line {line:?} is not a number)",
                path.display()
            )
        }));
    }
    (seed, strategy, tape)
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn a_failure_has_the_same_shape_on_another_client_task_or_step() {
        let a = shape("client \"bob\": task 2 panicked with message \"balance -100\"");
        let b = shape("client \"alice\": task 17 panicked with message \"balance -200\"");
        assert_eq!(a, b);
        assert_ne!(
            a,
            shape("client \"bob\": task 2 panicked with message \"PLAIN\"")
        );
    }
}
