//! The C10k demo: ten thousand concurrent connections to one tether server, on one machine.
//!
//! ```text
//! cargo run --release --example c10k                        # 10,000 connections, 10 s
//! cargo run --release --example c10k -- --conns 200 --secs 2
//! cargo run --release --example c10k -- --current-thread    # the server on one thread
//! cargo run --release --example c10k -- --soak 600          # 10 minutes, sampled each second
//! ```
//!
//! What it demonstrates: the handshake echo server of seed 002 (`support/handshake_echo.rs`,
//! one task per connection, written as straight-line `async` code) holding 10,000 open
//! connections at once and echoing on all of them, with the memory and CPU that costs.
//!
//! How it runs: this process raises its open-files soft limit to the hard limit, starts the
//! server (`echo_server::serve_until`: the accept loop and every connection in one scope) on
//! a tether runtime (multi-thread by default) on `127.0.0.1`, port 0, and starts the
//! load generator as a child process (itself, re-run with a hidden `--client` flag) so that
//! client and server each have their own descriptor limit. The client, on a tether runtime too
//! (`support/c10k_load.rs`), opens the connections with at most 256 connecting at once (so the
//! listener's backlog never overflows; failed attempts are retried a few times), says `hello`
//! on each and checks the reply. When all are open it runs a closed loop for `--secs` seconds:
//! every connection sends a 64-byte message, waits for the echo, checks it byte for byte and
//! sends the next. It reports to this process as lines on its stdout (`OPEN`, `PROGRESS`,
//! `RESULT`); this process shows them as a progress line and ends with a report.
//!
//! Reading the report:
//! - **connections**: how many completed the `hello` handshake, and how many gave up after
//!   their retries. The server's own count of accepted connections is shown beside it.
//! - **throughput**: checked round trips per second during the echo phase, over all
//!   connections. Client and server share this machine's cores, so it measures the pair.
//! - **latency**: one round trip as the client sees it (send, echo back), p50/p99/p99.9, from
//!   a log-linear histogram (within 3%). In a closed loop with one message in flight per
//!   connection, latency is about connections ÷ throughput: it measures queueing across
//!   10,000 connections, not the cost of one echo.
//! - **server memory**: resident memory of the server process after all connections were
//!   opened minus before, divided by the connections: the task, its buffer and the runtime's
//!   bookkeeping. Kernel socket buffers are not in it. The server gives each connection a
//!   16 KiB read buffer, and how much of it is resident depends on the allocator: glibc's main
//!   arena zeroes it (the current-thread server, about 17 KiB per connection), while the worker
//!   threads' arenas hand out fresh zero pages of which only the first gets written (the
//!   multi-thread server, about 10 KiB). About 1 KiB of either is the bookkeeping that lets
//!   the server report, on shutdown, which connections it cut off.
//! - **server CPU**: user + system time of the server process during the echo phase, as a
//!   percentage of one core and per request. The process also runs this progress display,
//!   which costs little.
//!
//! Ctrl-C stops the run like it stops `examples/echo.rs`: this process listens for it before the
//! server starts. The measurements stop; the server stops accepting, asks every connection to
//! finish (through its scope's cancellation) and waits up to a 2 s grace period, while the client
//! still runs; then the client is stopped (it may have had the Ctrl-C too, being in the same
//! foreground process group; if it is still running it is killed) and reaped. Instead of the
//! report, the demo prints "interrupted by Ctrl-C after N s" with what was measured until then,
//! then the server's shutdown summary (connections open at the signal, closed cleanly, cut off),
//! and exits with status 0.
//!
//! **Soak mode** (`--soak SECS`, `support/soak.rs`): the echo phase lasts SECS seconds, and
//! meanwhile a thread samples this process (the server) once a second: resident memory, open
//! descriptors, threads, CPU as a percentage of one core, and the client's round trips per
//! second. Every sample goes to a CSV file (`--csv PATH`, default `c10k-soak.csv`); after the
//! report, a summary gives the start, middle and end of each figure, its drift per minute and
//! its range, so a leak or a creeping cost shows as a slope.
//!
//! The run is bounded: the connect phase gives up after 30 s, each round trip after 5 s, and
//! the child is killed (and always reaped) if it outlives the run by a generous margin. When
//! the run is over, the server's connections get the same 2 s grace period to close.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::or;
use indicatif::{ProgressBar, ProgressStyle};

use tether_demo::load::{self, LoadConfig, Progress};
use tether_demo::{echo_server, soak};

const DEFAULT_CONNS: u64 = 10_000;
const DEFAULT_SECS: u64 = 10;
/// Where the soak mode writes its samples by default.
const SOAK_CSV: &str = "c10k-soak.csv";
/// Descriptors kept free beside the connections (stdio, epoll, eventfd, listener, pipes...).
const HEADROOM: u64 = 100;
/// Bytes per echoed message.
const MESSAGE_SIZE: usize = 64;
/// How often the client reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long past the client's own worst case the parent waits before killing it.
const KILL_MARGIN: Duration = Duration::from_secs(20);
/// How long the server's connections may take to finish once the run is over or interrupted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long the parent waits for its own Ctrl-C when the client died of one first.
const INTERRUPT_WAIT: Duration = Duration::from_secs(2);
/// After Ctrl-C, how long the driver waits for the server's shutdown before it stops the client
/// anyway (the shutdown takes at most the grace period).
const STOP_CLIENT_WAIT: Duration = Duration::from_secs(10);

const USAGE: &str = "\
usage: cargo run --release --example c10k -- [--conns N] [--secs S | --soak S [--csv PATH]]
                                              [--current-thread]

Opens N connections (default 10000) to a tether handshake echo server on 127.0.0.1 from a
child process, echoes 64-byte messages on all of them for S seconds (default 10), and reports
connections, requests/s, latency, and the server's memory and CPU per connection and request.
Ctrl-C stops it early: it prints what was measured so far and the server's shutdown summary.

  --conns N          connections to open (lowered, with a message, to what the open-files
                     limit allows)
  --secs S           length of the echo phase, in whole seconds
  --soak S           soak: an echo phase of S seconds during which the server process's memory,
                     descriptors, threads and CPU are sampled each second; a summary follows
                     the report
  --csv PATH         where the soak writes its samples (default c10k-soak.csv)
  --current-thread   run the server on the current-thread runtime (default: multi-thread)
  -h, --help         print this help";

/// What the command line asks for.
#[derive(Debug)]
enum Mode {
    Help,
    Demo {
        conns: u64,
        secs: u64,
        current_thread: bool,
        /// With `--soak`: where the samples go.
        soak: Option<PathBuf>,
    },
    /// The hidden child mode: `--client ADDR --conns N --secs S --size B`.
    Client {
        addr: SocketAddr,
        conns: u64,
        secs: u64,
        size: usize,
    },
}

/// The slow-poll threshold of both runtimes (see where the server's runtime is built).
const SLOW_POLL: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Mode::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Mode::Demo {
            conns,
            secs,
            current_thread,
            soak,
        }) => demo(conns, secs, current_thread, soak),
        Ok(Mode::Client {
            addr,
            conns,
            secs,
            size,
        }) => client(addr, conns, secs, size),
        Err(msg) => {
            eprintln!("c10k: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut conns = None;
    let mut secs = None;
    let mut size = None;
    let mut client = None;
    let mut current_thread = false;
    let mut soak = None;
    let mut csv = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "-h" | "--help" => return Ok(Mode::Help),
            "--conns" => conns = Some(positive(&value("--conns")?, "--conns")?),
            "--secs" => secs = Some(positive(&value("--secs")?, "--secs")?),
            "--current-thread" if inline.is_none() => current_thread = true,
            "--soak" => soak = Some(positive(&value("--soak")?, "--soak")?),
            "--csv" => csv = Some(PathBuf::from(value("--csv")?)),
            "--size" => size = Some(positive(&value("--size")?, "--size")?),
            "--client" => {
                let v = value("--client")?;
                let addr = v.parse::<SocketAddr>().map_err(|_| {
                    format!("--client needs an address like 127.0.0.1:5566, not {v:?}")
                })?;
                client = Some(addr);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let conns = conns.unwrap_or(DEFAULT_CONNS);
    let soak = match (soak, secs, csv) {
        (Some(_), Some(_), _) => return Err("--soak sets the echo phase: not with --secs".into()),
        (None, _, Some(_)) => return Err("--csv is for --soak".into()),
        (Some(s), None, csv) => Some((s, csv.unwrap_or_else(|| PathBuf::from(SOAK_CSV)))),
        (None, _, None) => None,
    };
    let secs = soak
        .as_ref()
        .map_or(secs.unwrap_or(DEFAULT_SECS), |(s, _)| *s);
    match client {
        Some(addr) => {
            let size = size.unwrap_or(MESSAGE_SIZE as u64);
            if !(16..=65536).contains(&size) {
                return Err(format!("--size must be 16..=65536 bytes, not {size}"));
            }
            Ok(Mode::Client {
                addr,
                conns,
                secs,
                size: size as usize,
            })
        }
        None if size.is_some() => Err("--size is only for the internal --client mode".into()),
        None => Ok(Mode::Demo {
            conns,
            secs,
            current_thread,
            soak: soak.map(|(_, csv)| csv),
        }),
    }
}

fn positive(v: &str, name: &str) -> Result<u64, String> {
    match v.replace('_', "").parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} needs a positive whole number, not {v:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: server, child, progress, report.

fn demo(requested: u64, secs: u64, current_thread: bool, soak: Option<PathBuf>) -> ExitCode {
    let limit = match raise_fd_limit() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("c10k: cannot read the open-files limit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut conns = requested;
    let fits = limit.saturating_sub(HEADROOM);
    if conns > fits {
        println!(
            "the open-files limit is {}; running with {} connections instead of {}",
            thousands(limit),
            thousands(fits),
            thousands(requested)
        );
        conns = fits;
    }
    // Every connection to the one server address needs its own local port.
    if let Some(ports) = local_port_count() {
        if conns > ports {
            println!(
                "the local port range has {} ports; running with {} connections instead of {}",
                thousands(ports),
                thousands(ports),
                thousands(conns)
            );
            conns = ports;
        }
    }
    if conns == 0 {
        eprintln!("c10k: no descriptors left for connections (open-files limit {limit})");
        return ExitCode::FAILURE;
    }

    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let (mut builder, flavor) = if current_thread {
        (
            tether::runtime::Builder::new_current_thread(),
            "current-thread runtime".to_string(),
        )
    } else {
        (
            tether::runtime::Builder::new_multi_thread(),
            format!("multi-thread runtime, {workers} workers"),
        )
    };
    // Both ends share this machine's cores, so the kernel's loopback processing inside one
    // socket call can now and then take over 10 ms (the default slow-poll threshold); nothing in
    // the server blocks, so only polls over 50 ms are worth a report here.
    let rt = match builder
        .thread_name("c10k-server")
        .slow_poll_threshold(SLOW_POLL)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("c10k: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = Run {
        conns,
        secs,
        flavor,
        soak,
    };
    // The server's tasks run on the runtime; the parent's own work (child process, progress,
    // report) blocks, so it runs on the blocking pool while `block_on` drives the runtime (the
    // current-thread flavor runs tasks only inside `block_on`).
    let outcome = rt.block_on(serve_and_drive(run));
    drop(rt);
    match outcome {
        Ok(Outcome::Done(true)) => ExitCode::SUCCESS,
        Ok(Outcome::Done(false)) => ExitCode::FAILURE,
        Ok(Outcome::Interrupted) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("c10k: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// How the driver's run ended, when it did not fail.
enum Outcome {
    /// The load ran to the end and the report was printed: `true` if every echo matched.
    Done(bool),
    /// Ctrl-C stopped the run: the client was stopped and what was measured so far printed.
    Interrupted,
}

/// Serves with [`echo_server::serve_until`] while the driver runs the client on the blocking
/// pool, until the load has finished or Ctrl-C is pressed; then shuts the server down
/// gracefully. On Ctrl-C the driver stops measuring at once; once the server has shut down (the
/// client still running, so its connections see clean closes), the driver stops the client and
/// prints what it measured, and then the server's shutdown summary is printed.
async fn serve_and_drive(run: Run) -> Result<Outcome, String> {
    // Listen for Ctrl-C before the server starts: from here on a Ctrl-C is never lost, and it no
    // longer kills this process (the run stops, and the process exits by itself).
    let ctrl_c = tether::signal::ctrl_c();
    let listener = tether::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let stats = Arc::new(echo_server::Stats::default());
    // The driver's events: the child's output, and Ctrl-C.
    let (tx, rx) = mpsc::channel();
    let interrupt = tx.clone();
    let driver_stats = stats.clone();
    let mut driver = tether::task::spawn_blocking(move || run.drive(addr, &driver_stats, tx, rx));

    let mut interrupted = false;
    let mut driven = None;
    // Completes on Ctrl-C (telling the driver) or when the driver is done, whichever is first.
    let shutdown = or(
        async {
            match ctrl_c.await {
                Ok(()) => {
                    interrupted = true;
                    let _ = interrupt.send(Event::Interrupted);
                }
                Err(e) => {
                    eprintln!("c10k: cannot listen for Ctrl-C ({e}); running to the end");
                    std::future::pending::<()>().await;
                }
            }
        },
        async { driven = Some((&mut driver).await) },
    );
    let opts = echo_server::ServeOptions::new(SHUTDOWN_GRACE);
    let summary = echo_server::serve_until(listener, stats, shutdown, opts).await;
    // After Ctrl-C the server is down: the driver stops the client, then prints what it measured.
    if interrupted {
        let _ = interrupt.send(Event::StopClient);
    }
    let driven = match driven {
        Some(d) => d,
        None => driver.await,
    };
    let outcome = driven.map_err(|e| format!("the driver failed: {e}"))?;
    if interrupted || matches!(outcome, Ok(Outcome::Interrupted)) {
        println!("{summary}");
    }
    outcome
}

struct Run {
    conns: u64,
    secs: u64,
    flavor: String,
    /// Soak mode: where the samples go.
    soak: Option<PathBuf>,
}

/// What the child said, as it said it; and Ctrl-C.
enum Event {
    Out(String),
    Err(String),
    OutClosed,
    /// Ctrl-C: stop measuring, and wait for `StopClient`.
    Interrupted,
    /// After Ctrl-C, once the server has shut down: stop the client and say what was measured.
    StopClient,
}

/// When the run was interrupted: the instant, the time since the run started, and the server
/// process's CPU time then.
struct Stopped {
    at: Instant,
    run: Duration,
    cpu: Duration,
}

impl Stopped {
    fn now(started: Instant) -> Stopped {
        Stopped {
            at: Instant::now(),
            run: started.elapsed(),
            cpu: cpu_time(libc::RUSAGE_SELF),
        }
    }
}

/// The client's last `PROGRESS` line, and when it came.
#[derive(Default)]
struct SoFar {
    open: u64,
    failed: u64,
    requests: u64,
    at: Option<Instant>,
}

/// The client's `RESULT` line, and what the parent measured around it.
struct Measured {
    result: String,
    opened: Option<Opened>,
    cpu_echo: Duration,
    wall_echo: Duration,
}

/// The parent's measurements when the client said every connection was open.
struct Opened {
    established: u64,
    rss_after: u64,
    cpu: Duration,
    at: Instant,
}

impl Run {
    /// Runs the child and shows progress; prints the report. `Done(true)` if the run completed
    /// and every echo matched. `tx` is for the child's output, and `rx` receives it and
    /// [`Event::Interrupted`]: then measuring stops, and once [`Event::StopClient`] arrives (the
    /// server has shut down) the client is stopped and the results so far are printed instead
    /// of the report (`Interrupted`).
    fn drive(
        &self,
        addr: SocketAddr,
        stats: &echo_server::Stats,
        tx: mpsc::Sender<Event>,
        rx: mpsc::Receiver<Event>,
    ) -> Result<Outcome, String> {
        let started = Instant::now();
        let rss_before = rss_bytes().map_err(|e| format!("cannot read /proc/self/statm: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
        let worst =
            LoadConfig::new(addr, self.conns as usize, Duration::from_secs(self.secs)).worst_case();
        let deadline = Instant::now() + worst + KILL_MARGIN;
        // Soak mode: the CSV file is created now, the sampling starts with the echo phase.
        let mut soak_log = match &self.soak {
            Some(path) => Some(
                soak::SoakLog::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let soak_counters = Arc::new(soak::SoakCounters::default());
        let mut sampler: Option<soak::Sampler> = None;

        let bar = ProgressBar::new(self.conns);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<10} [{bar:30}] {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix("connecting");
        bar.enable_steady_tick(Duration::from_millis(100));
        let note = |msg: String| {
            if bar.is_hidden() {
                println!("{msg}");
            } else {
                bar.println(msg);
            }
        };
        note(format!(
            "c10k: {} connections to the handshake echo server on {addr} ({}), then {} s of \
             {MESSAGE_SIZE}-byte echoes",
            thousands(self.conns),
            self.flavor,
            self.secs
        ));

        let spawned = Instant::now();
        let mut child = ChildGuard(Some(
            Command::new(exe)
                .args(["--client", &addr.to_string()])
                .args(["--conns", &self.conns.to_string()])
                .args(["--secs", &self.secs.to_string()])
                .args(["--size", &MESSAGE_SIZE.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start the client process: {e}"))?,
        ));
        let readers = child.take_pipes(tx);

        let mut measured = Measured {
            result: String::new(),
            opened: None,
            cpu_echo: Duration::ZERO,
            wall_echo: Duration::ZERO,
        };
        let mut errors = Vec::new();
        let mut last_requests = (Instant::now(), 0u64);
        let mut overstayed = false;
        let mut so_far = SoFar::default();
        let mut interrupted = false;
        // The soak's samples, once the echo phase is over.
        let mut soaked = None;
        loop {
            if Instant::now() >= deadline {
                overstayed = true;
                break;
            }
            let event = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let line = match event {
                Event::Out(line) => line,
                Event::Err(line) => {
                    note(format!("client: {line}"));
                    continue;
                }
                Event::OutClosed => break,
                Event::Interrupted => {
                    interrupted = true;
                    break;
                }
                // Only ever sent after `Interrupted`.
                Event::StopClient => continue,
            };
            let (kind, rest) = line.split_once(' ').unwrap_or((&line, ""));
            match kind {
                "PROGRESS" => {
                    let open = field(rest, "open").unwrap_or(0);
                    let failed = field(rest, "failed").unwrap_or(0);
                    let requests = field(rest, "requests").unwrap_or(0);
                    so_far = SoFar {
                        open,
                        failed,
                        requests,
                        at: Some(Instant::now()),
                    };
                    soak_counters.requests.store(requests, Ordering::Relaxed);
                    soak_counters.open.store(open, Ordering::Relaxed);
                    match &measured.opened {
                        None => {
                            bar.set_position(open + failed);
                            bar.set_message(format!(
                                "{} open, {} failed",
                                thousands(open),
                                thousands(failed)
                            ));
                        }
                        Some(o) => {
                            let now = Instant::now();
                            let dt = now.duration_since(last_requests.0).as_secs_f64();
                            let rate = requests.saturating_sub(last_requests.1) as f64 / dt;
                            last_requests = (now, requests);
                            bar.set_position(now.duration_since(o.at).as_millis() as u64);
                            bar.set_message(format!(
                                "{} open, {} requests/s, {} round trips",
                                thousands(open),
                                thousands(rate as u64),
                                thousands(requests)
                            ));
                        }
                    }
                }
                "OPEN" => {
                    let opened = Opened {
                        established: field(rest, "established").unwrap_or(0),
                        rss_after: rss_bytes().unwrap_or(rss_before),
                        cpu: cpu_time(libc::RUSAGE_SELF),
                        at: Instant::now(),
                    };
                    last_requests = (opened.at, 0);
                    measured.opened = Some(opened);
                    let established = field(rest, "established").unwrap_or(0);
                    let failed = field(rest, "failed").unwrap_or(0);
                    let ms = field(rest, "ms").unwrap_or(0);
                    note(format!(
                        "{} connections open ({} failed) in {:.2} s; echoing for {} s",
                        thousands(established),
                        thousands(failed),
                        ms as f64 / 1000.0,
                        self.secs
                    ));
                    bar.set_prefix(if self.soak.is_some() {
                        "soaking"
                    } else {
                        "echoing"
                    });
                    bar.set_length(self.secs * 1000);
                    bar.set_position(0);
                    if let Some(log) = soak_log.take() {
                        let client = child.0.as_ref().map(Child::id);
                        sampler = Some(log.start(self.secs, soak_counters.clone(), client));
                    }
                }
                "RESULT" => {
                    soaked = sampler.take().map(soak::Sampler::finish);
                    if let Some(o) = &measured.opened {
                        measured.cpu_echo = cpu_time(libc::RUSAGE_SELF).saturating_sub(o.cpu);
                        measured.wall_echo = o.at.elapsed();
                    }
                    measured.result = rest.to_string();
                }
                "ERROR" => errors.push(rest.to_string()),
                _ => note(format!("client said: {line}")),
            }
        }
        bar.finish_and_clear();
        if let Some(running) = sampler.take() {
            soaked = Some(running.finish());
        }

        if interrupted {
            // Measurements stop here. The server shuts down gracefully while the client still
            // runs (so its connections see the server close them between echoes), then the
            // client is stopped. It may have had the Ctrl-C too (same foreground process group):
            // then it has exited, or is exiting, and is reaped; if not, it is killed and reaped.
            let at = Stopped::now(started);
            println!(
                "Ctrl-C: the server stops accepting and asks its connections to finish (grace \
                 period {SHUTDOWN_GRACE:?}); then the client is stopped"
            );
            wait_for(&rx, |e| matches!(e, Event::StopClient), STOP_CLIENT_WAIT);
            let client = child.stop();
            for r in readers {
                let _ = r.join();
            }
            self.report_interrupted(&at, &so_far, &measured, rss_before, stats, &client);
            self.report_soak(soaked);
            return Ok(Outcome::Interrupted);
        }

        let status = child.wait_until(deadline);
        let life = spawned.elapsed();
        for r in readers {
            let _ = r.join();
        }
        let client_cpu = cpu_time(libc::RUSAGE_CHILDREN);
        if overstayed || matches!(status, Reaped::Killed) {
            return Err(format!(
                "the client did not finish within {} s; it was killed",
                (worst + KILL_MARGIN).as_secs()
            ));
        }
        if measured.result.is_empty() {
            // A Ctrl-C in the terminal reaches the client too, and may stop it before this
            // process has seen its own: if the client died of SIGINT, wait a moment for ours.
            if let Reaped::Exited(s) = &status {
                if s.signal() == Some(libc::SIGINT)
                    && wait_for(&rx, |e| matches!(e, Event::Interrupted), INTERRUPT_WAIT)
                {
                    let at = Stopped::now(started);
                    let client = format!("had already exited ({s})");
                    self.report_interrupted(&at, &so_far, &measured, rss_before, stats, &client);
                    return Ok(Outcome::Interrupted);
                }
            }
            return Err(format!("the client stopped without a result ({status})"));
        }
        let matched = self.report(&measured, rss_before, stats, &errors, (client_cpu, life));
        self.report_soak(soaked);
        Ok(Outcome::Done(matched))
    }

    /// Prints the soak's summary, in soak mode (nothing otherwise).
    fn report_soak(&self, soaked: Option<(Vec<soak::Sample>, PathBuf, Option<io::Error>)>) {
        let Some(path) = &self.soak else { return };
        println!();
        match soaked {
            Some((samples, path, csv_error)) => {
                print!("{}", soak::summary(&samples, &path, self.conns));
                if let Some(e) = csv_error {
                    println!("  the CSV file is incomplete: writing it failed: {e}");
                }
            }
            None => println!(
                "soak: no samples (the echo phase never began); {} has only its header",
                path.display()
            ),
        }
    }

    /// Prints what was measured until Ctrl-C (`at`) instead of the report.
    fn report_interrupted(
        &self,
        at: &Stopped,
        so_far: &SoFar,
        m: &Measured,
        rss_before: u64,
        stats: &echo_server::Stats,
        client: &str,
    ) {
        let when = match &m.opened {
            Some(o) => format!(
                "{:.1} s into the {} s echo phase",
                at.at.saturating_duration_since(o.at).as_secs_f64(),
                self.secs
            ),
            None => "while connecting".to_string(),
        };
        println!();
        println!(
            "c10k interrupted by Ctrl-C after {:.1} s, {when}; measured so far ({} connections \
             requested, server on tether's {}):",
            at.run.as_secs_f64(),
            thousands(self.conns),
            self.flavor
        );
        println!(
            "  connections   {} open, {} failed (the client's last progress report; server \
             accepted {})",
            thousands(so_far.open),
            thousands(so_far.failed),
            thousands(stats.accepted.load(Ordering::SeqCst))
        );
        if let Some(o) = &m.opened {
            let echo = so_far
                .at
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(o.at));
            if echo > Duration::ZERO {
                println!(
                    "  throughput    {} requests/s ({} checked {MESSAGE_SIZE}-byte round trips in \
                     the first {:.2} s of the echo phase)",
                    thousands((so_far.requests as f64 / echo.as_secs_f64()) as u64),
                    thousands(so_far.requests),
                    echo.as_secs_f64()
                );
            }
            if o.established > 0 {
                println!(
                    "  server memory {:.1} KiB RSS per connection ({:.1} MiB before the \
                     connections, {:.1} MiB with them open)",
                    o.rss_after.saturating_sub(rss_before) as f64 / o.established as f64 / 1024.0,
                    rss_before as f64 / (1 << 20) as f64,
                    o.rss_after as f64 / (1 << 20) as f64
                );
            }
            let wall = at.at.saturating_duration_since(o.at).as_secs_f64();
            if wall > 0.0 {
                println!(
                    "  server CPU    {:.0}% of one core (user + sys of the server process over the \
                     echo phase until Ctrl-C)",
                    at.cpu.saturating_sub(o.cpu).as_secs_f64() / wall * 100.0
                );
            }
        }
        println!("  client        the load process {client}");
    }

    /// Prints the report; returns whether every echo matched and the client exited cleanly.
    fn report(
        &self,
        m: &Measured,
        rss_before: u64,
        stats: &echo_server::Stats,
        errors: &[String],
        (client_cpu, client_life): (Duration, Duration),
    ) -> bool {
        let r = |k: &str| field(&m.result, k).unwrap_or(0);
        let established = r("established");
        let failed = r("failed");
        let requests = r("requests");
        let mismatches = r("mismatches");
        let broken = r("broken");
        let echo_secs = r("echo_ms") as f64 / 1000.0;
        let accepted = stats.accepted.load(Ordering::SeqCst);

        println!();
        println!(
            "c10k report: {} connections requested, server on tether's {}",
            thousands(self.conns),
            self.flavor
        );
        println!(
            "  connections   {} established, {} failed ({} retried attempts; connect + hello \
             handshake took {:.2} s; server accepted {})",
            thousands(established),
            thousands(failed),
            thousands(r("retries")),
            r("connect_ms") as f64 / 1000.0,
            thousands(accepted)
        );
        let rate = if echo_secs > 0.0 {
            requests as f64 / echo_secs
        } else {
            0.0
        };
        println!(
            "  throughput    {} requests/s ({} checked 64-byte round trips in {:.2} s; {} \
             mismatched, {} connections broke)",
            thousands(rate as u64),
            thousands(requests),
            echo_secs,
            thousands(mismatches),
            thousands(broken)
        );
        println!(
            "  latency       p50 {}, p99 {}, p99.9 {}, max {} (one round trip, client-side; \
             closed loop, so ~ connections / throughput)",
            micros(r("p50_us")),
            micros(r("p99_us")),
            micros(r("p999_us")),
            micros(r("max_us"))
        );
        if let Some(o) = &m.opened {
            let grown = o.rss_after.saturating_sub(rss_before);
            let per_conn = if established > 0 {
                format!("{:.1} KiB", grown as f64 / established as f64 / 1024.0)
            } else {
                "n/a".to_string()
            };
            println!(
                "  server memory {per_conn} RSS per connection ({:.1} MiB before the connections, \
                 {:.1} MiB with them open; user space only, not kernel socket buffers)",
                rss_before as f64 / (1 << 20) as f64,
                o.rss_after as f64 / (1 << 20) as f64
            );
        }
        let wall = m.wall_echo.as_secs_f64();
        if wall > 0.0 {
            let per_req = if requests > 0 {
                format!("{:.1} µs", m.cpu_echo.as_secs_f64() * 1e6 / requests as f64)
            } else {
                "n/a".to_string()
            };
            println!(
                "  server CPU    {:.0}% of one core, {per_req} per request (user + sys of the \
                 server process over the echo phase)",
                m.cpu_echo.as_secs_f64() / wall * 100.0
            );
        }
        println!(
            "  client CPU    {:.0}% of one core (user + sys of the load process over its {:.1} s \
             life; it shares the machine's {} cores with the server)",
            client_cpu.as_secs_f64() / client_life.as_secs_f64().max(1e-9) * 100.0,
            client_life.as_secs_f64(),
            thread::available_parallelism().map_or(1, |n| n.get())
        );
        for e in errors {
            println!("  client error  {e}");
        }
        mismatches == 0
    }
}

/// The child process: killed and reaped when dropped, whatever happened.
struct ChildGuard(Option<Child>);

/// How the child ended.
enum Reaped {
    Exited(std::process::ExitStatus),
    Killed,
    Lost(io::Error),
}

impl std::fmt::Display for Reaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reaped::Exited(s) => write!(f, "{s}"),
            Reaped::Killed => write!(f, "killed after overstaying"),
            Reaped::Lost(e) => write!(f, "could not wait for it: {e}"),
        }
    }
}

impl ChildGuard {
    /// Stops the child now: reaps it if it has exited, otherwise kills it (by its pid, through
    /// `Child::kill`) and reaps it. Says which.
    fn stop(&mut self) -> String {
        let Some(mut child) = self.0.take() else {
            return "was already reaped".to_string();
        };
        if let Ok(Some(status)) = child.try_wait() {
            return format!("had already exited ({status})");
        }
        let _ = child.kill();
        match child.wait() {
            // It was on its way out: a Ctrl-C in the terminal reaches it too.
            Ok(status) if status.signal() == Some(libc::SIGINT) => {
                format!("stopped on the Ctrl-C itself ({status})")
            }
            Ok(status) => format!("was still running: stopped and reaped ({status})"),
            Err(e) => format!("was still running, and could not be reaped: {e}"),
        }
    }

    /// Starts a thread per output pipe that forwards its lines to `tx`.
    fn take_pipes(&mut self, tx: mpsc::Sender<Event>) -> Vec<thread::JoinHandle<()>> {
        let child = self.0.as_mut().expect("not reaped yet");
        let mut handles = Vec::new();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            handles.push(thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Out(line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::OutClosed);
            }));
        }
        if let Some(err) = child.stderr.take() {
            handles.push(thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Err(line)).is_err() {
                        return;
                    }
                }
            }));
        }
        handles
    }

    /// Waits for the child until `deadline`, then kills it; reaps it either way.
    fn wait_until(&mut self, deadline: Instant) -> Reaped {
        let Some(mut child) = self.0.take() else {
            return Reaped::Lost(io::Error::other("already reaped"));
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Reaped::Exited(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Reaped::Killed;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Reaped::Lost(e);
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether an event that is `wanted` arrives within `limit` (other events are dropped).
fn wait_for(rx: &mpsc::Receiver<Event>, wanted: fn(&Event) -> bool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) if wanted(&e) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The child: the load generator.

fn client(addr: SocketAddr, requested: u64, secs: u64, size: usize) -> ExitCode {
    die_with_parent();
    let limit = match raise_fd_limit() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot read the open-files limit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let conns = requested.min(limit.saturating_sub(HEADROOM));
    if conns < requested {
        eprintln!(
            "the client's open-files limit is {limit}; opening {conns} connections instead of \
             {requested}"
        );
    }
    let rt = match tether::runtime::Builder::new_multi_thread()
        .thread_name("c10k-client")
        .slow_poll_threshold(SLOW_POLL)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = LoadConfig {
        size,
        ..LoadConfig::new(addr, conns as usize, Duration::from_secs(secs))
    };
    rt.block_on(async move {
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let reporter = tether::spawn(async move {
            let mut tick = tether::time::interval(PROGRESS_EVERY);
            loop {
                tick.tick().await;
                println!(
                    "PROGRESS open={} failed={} requests={}",
                    p.open.load(Ordering::Relaxed),
                    p.failed.load(Ordering::Relaxed),
                    p.requests.load(Ordering::Relaxed)
                );
            }
        });
        let report = load::run(&cfg, progress, |o| {
            println!(
                "OPEN established={} failed={} ms={}",
                o.established,
                o.failed,
                o.elapsed.as_millis()
            );
        })
        .await;
        // Wait for the abort to take effect, so the runtime has no task left when it is dropped.
        reporter.abort();
        let _ = reporter.await;
        let h = &report.latency;
        println!(
            "RESULT established={} failed={} retries={} connect_ms={} requests={} mismatches={} \
             broken={} echo_ms={} p50_us={} p99_us={} p999_us={} max_us={}",
            report.established,
            report.failed,
            report.retries,
            report.connect_time.as_millis(),
            report.requests,
            report.mismatches,
            report.broken,
            report.echo_time.as_millis(),
            h.quantile(0.50),
            h.quantile(0.99),
            h.quantile(0.999),
            h.max()
        );
        for (what, n) in &report.errors {
            println!("ERROR {n} x {what}");
        }
    });
    ExitCode::SUCCESS
}

/// Asks the kernel to kill this process if its parent dies first, so an interrupted demo
/// leaves no load generator behind. (Strictly: if the parent *thread* that started it exits;
/// that thread waits for this process before it returns.)
fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes only this process's settings.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// Raises the open-files soft limit to the hard limit; returns the limit now in force.
fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass by reference and has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut target = lim.rlim_max;
    if target == libc::RLIM_INFINITY {
        // An unlimited hard limit still stops at the kernel's per-process maximum.
        target = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if lim.rlim_cur >= target {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: target,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass by reference and has no other effect on memory.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        eprintln!(
            "c10k: could not raise the open-files limit from {} to {target}: {}",
            lim.rlim_cur,
            io::Error::last_os_error()
        );
        return Ok(lim.rlim_cur);
    }
    Ok(target)
}

/// How many local ports connections to one address can use.
fn local_port_count() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    Some(hi.checked_sub(lo)? + 1)
}

/// Resident memory of this process, in bytes (`/proc/self/statm`, second field, in pages).
fn rss_bytes() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other("unexpected /proc/self/statm format"))?;
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page).unwrap_or(4096))
}

/// User + system CPU time of this process (`RUSAGE_SELF`) or of its reaped children
/// (`RUSAGE_CHILDREN`).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct we pass by reference and has no other effect.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The value of `key=value` in a line of space-separated pairs.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

/// `12345678` as `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds, shown as µs below a millisecond and as ms above.
fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}
