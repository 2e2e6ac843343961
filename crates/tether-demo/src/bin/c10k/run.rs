//! The parent process of the C10k demo: it starts the server on a tether runtime, runs the
//! client process and follows it through its events until the load is done or Ctrl-C stops
//! the run, then prints the report (`report.rs`) and shuts the server down.
//!
//! Two activities share the run. On the runtime, [`serve_and_drive`] serves with
//! [`echo_server::serve_until`] and listens for Ctrl-C; on the blocking pool, [`Run::drive`]
//! starts the client process ([`ChildGuard`]), turns its output lines into progress and
//! measurements, and reaps it. They talk through one channel of [`Event`]s:
//!
//! 1. the child's stdout and stderr lines arrive as [`Event::Out`] / [`Event::Err`], and the end
//!    of its stdout as [`Event::OutClosed`] (the load is over);
//! 2. Ctrl-C sends [`Event::Interrupted`]: the driver stops measuring at once, while the server
//!    shuts down gracefully with the client still running (so its connections see clean
//!    closes between echoes);
//! 3. once the server is down, [`Event::StopClient`] tells the driver to stop and reap the
//!    client and print what was measured until the signal.

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

use tether_demo::load::LoadConfig;
use tether_demo::process::{cpu_time, local_port_count, raise_fd_limit, rss_bytes, CpuOf};
use tether_demo::{echo_server, soak};

use crate::child::{ChildGuard, Reaped};
use crate::client::field;
use crate::report::{thousands, Measured, Opened, SoFar, Stopped};
use crate::{HEADROOM, MESSAGE_SIZE, SLOW_POLL};

/// How long past the client's own worst case the parent waits before killing it.
const KILL_MARGIN: Duration = Duration::from_secs(20);
/// How long the server's connections may take to finish once the run is over or interrupted.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long the parent waits for its own Ctrl-C when the client died of one first.
const INTERRUPT_WAIT: Duration = Duration::from_secs(2);
/// After Ctrl-C, how long the driver waits for the server's shutdown before it stops the client
/// anyway (the shutdown takes at most the grace period).
const STOP_CLIENT_WAIT: Duration = Duration::from_secs(10);

/// Runs the demo: `requested` connections (fewer if the limits say so) echoing for `secs`
/// seconds against a server on the current-thread or the multi-thread runtime; with `soak`, the
/// server is sampled each second into that CSV file.
pub(crate) fn demo(
    requested: u64,
    secs: u64,
    current_thread: bool,
    soak: Option<PathBuf>,
) -> ExitCode {
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
        driver: io_driver(&rt.handle().metrics()),
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

/// What the parent runs, as the command line and the limits decided it.
pub(crate) struct Run {
    /// Connections the client opens.
    pub(crate) conns: u64,
    /// Length of the echo phase, in seconds.
    pub(crate) secs: u64,
    /// The server's runtime, as the report names it.
    pub(crate) flavor: String,
    /// The I/O driver the server's runtime runs, as the report names it ([`io_driver`]).
    pub(crate) driver: String,
    /// Soak mode: where the samples go.
    pub(crate) soak: Option<PathBuf>,
}

/// What the child said, as it said it; and Ctrl-C.
pub(crate) enum Event {
    Out(String),
    Err(String),
    OutClosed,
    /// Ctrl-C: stop measuring, and wait for `StopClient`.
    Interrupted,
    /// After Ctrl-C, once the server has shut down: stop the client and say what was measured.
    StopClient,
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
        let rss_before =
            rss_bytes("self").map_err(|e| format!("cannot read /proc/self/statm: {e}"))?;
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
            "c10k: {} connections to the handshake echo server on {addr} ({}, {}), then {} s \
             of {MESSAGE_SIZE}-byte echoes",
            thousands(self.conns),
            self.flavor,
            self.driver,
            self.secs
        ));

        // `RUSAGE_CHILDREN` before the client: under `cargo run` it already holds the build's
        // compiler runs, which the client's figure must not include.
        let children_cpu_before = cpu_time(CpuOf::ReapedChildren);
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
                        rss_after: rss_bytes("self").unwrap_or(rss_before),
                        cpu: cpu_time(CpuOf::ThisProcess),
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
                        measured.cpu_echo = cpu_time(CpuOf::ThisProcess).saturating_sub(o.cpu);
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
        let client_cpu = cpu_time(CpuOf::ReapedChildren).saturating_sub(children_cpu_before);
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
}

/// The I/O driver a runtime runs, from its metrics, as the report names it: `"epoll driver"`,
/// `"io_uring driver"`, or the epoll driver with the reason io_uring was refused
/// (`IoDriver::Auto`). The demo leaves the choice to `TETHER_IO_DRIVER` (epoll when unset).
pub(crate) fn io_driver(metrics: &tether::diag::RuntimeMetrics) -> String {
    match metrics.io_driver_fallback() {
        None => format!("{} driver", metrics.io_driver()),
        Some(why) => format!("{} driver (io_uring refused: {why})", metrics.io_driver()),
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
