//! The echo suites (`echo_100`, `echo_1000`, `echo_10000`): a TCP echo server on the runtime
//! under test, loaded by the same separate process for every runtime (`src/loadgen.rs`).
//!
//! The server child (one per measurement, as for every suite) raises its open-files soft limit
//! to the hard limit, lowers the connection count to what fits (saying so on stderr; the
//! `connections` figure shows it), builds the runtime, binds the runtime's own `TcpListener` on
//! `127.0.0.1` port 0, and spawns an accept loop that spawns one task per connection; each task
//! reads into a [`BUF`]-byte buffer and writes back what it read, until end-of-stream or an
//! error. Every accepted socket gets `TCP_NODELAY`, as the load generator's do.
//!
//! A plain std thread of the server child starts the load generator ([`LoadRun::start`]),
//! reads its stdout, samples the server process's CPU time and system-call count when the timed
//! phase starts and ends, kills the load generator (by its pid) if it overstays its own worst
//! case, and always reaps it. The `block_on` future only waits for that thread's report; then
//! the runtime is dropped and the child prints its figures and exits.
//!
//! The system calls are counted by a [`PerfCounter::syscalls`] opened on the server child's
//! main thread before the runtime starts (in [`Plan::new`]), so it counts every thread of the
//! server process (the runtime's workers and blocking threads, the watcher and its pipe
//! reader), and not the load generator, a process of its own. Each call the tracepoint counts
//! costs a little more while it is enabled, alike for every server.
//!
//! The `mio` reference is the same server with no runtime: one thread, one `mio::Poll`, one
//! shared read buffer, a pending-bytes vector per connection for writes that would block, and
//! no read after a short read (the fewest system calls per request: one `recvfrom`, one
//! `sendto`, plus the shared `epoll_wait`). The `uring` reference (Linux, `echo_uring.rs`) is the
//! same server written straight on io_uring, with no runtime: what an io_uring server can cost
//! at best here.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use super::{Metric, Scale, Suite, BOTH};
use crate::loadgen::{self, Report};
use crate::measure;
use crate::perf_counter::PerfCounter;
use crate::runtimes::{self as rt, Flavor};

/// The `echo_100` entry in [`SUITES`](super::SUITES).
pub(super) const ECHO_100: Suite = Suite {
    name: "echo_100",
    about: ECHO_ABOUT,
    metrics: ECHO_METRICS,
    peak_rss: false,
    flavors: BOTH,
    tether: echo_100_tether,
    tokio: echo_100_tokio,
    smol: echo_100_smol,
    mio: Some(echo_100_mio),
    uring: URING_100,
    in_quick: true,
    io: true,
};

/// The `echo_1000` entry in [`SUITES`](super::SUITES).
pub(super) const ECHO_1000: Suite = Suite {
    name: "echo_1000",
    about: ECHO_ABOUT,
    metrics: ECHO_METRICS,
    peak_rss: false,
    flavors: BOTH,
    tether: echo_1000_tether,
    tokio: echo_1000_tokio,
    smol: echo_1000_smol,
    mio: Some(echo_1000_mio),
    uring: URING_1000,
    in_quick: true,
    io: true,
};

/// The `echo_10000` entry in [`SUITES`](super::SUITES).
pub(super) const ECHO_10000: Suite = Suite {
    name: "echo_10000",
    about: ECHO_ABOUT,
    metrics: ECHO_METRICS,
    peak_rss: true,
    flavors: BOTH,
    tether: echo_10000_tether,
    tokio: echo_10000_tokio,
    smol: echo_10000_smol,
    mio: Some(echo_10000_mio),
    uring: URING_10000,
    in_quick: false,
    io: true,
};

/// The `about` of the echo suites (the connection count is in the name).
const ECHO_ABOUT: &str = "a TCP echo server on the runtime (its own TcpListener/TcpStream, one \
                          task per connection) on 127.0.0.1, loaded by a separate mio process \
                          (2 threads) with N connections, each a closed loop of 64-byte round \
                          trips for 5 s (quick: 1 s); mio: the same server with no runtime; \
                          uring (Linux): the same server straight on io_uring, no runtime";

/// The figures of every echo suite, in the order [`figures`] returns them.
pub(super) const ECHO_METRICS: &[Metric] = &[
    Metric::higher("throughput", "req/s"),
    Metric::lower("latency p50", "µs"),
    Metric::lower("latency p99", "µs"),
    Metric::lower("server CPU", "µs/req"),
    Metric::lower("server syscalls", "calls/req"),
    Metric::info("connections", "count"),
];

/// Bytes of each connection's read buffer (a local of the connection's task).
pub const BUF: usize = 4096;
/// How long the timed echo phase lasts (quick mode: 1 s).
const ECHO_SECS: Duration = Duration::from_secs(5);
const ECHO_SECS_QUICK: Duration = Duration::from_secs(1);
/// How long past its own worst case (connect deadline + echo phase) the load generator may run
/// before it is killed.
const KILL_MARGIN: Duration = Duration::from_secs(15);

/// The connection count and duration of one echo measurement, and the server process's
/// system-call counter.
pub(super) struct Plan {
    conns: usize,
    duration: Duration,
    /// Counts the system calls of every thread of this process started after it (`None`: the
    /// figure is `n/a`; the report's header says why).
    syscalls: Option<PerfCounter>,
}

impl Plan {
    /// Raises the open-files limit and fits `requested` connections into it and into the local
    /// port range, saying so on stderr when it has to lower the count; opens the system-call
    /// counter. Call it on the main thread before the server's runtime starts any thread, so
    /// that the counter covers them all.
    pub(super) fn new(scale: Scale, requested: usize) -> Plan {
        let limit = measure::raise_nofile_limit().expect("echo: cannot raise RLIMIT_NOFILE");
        let mut conns = requested as u64;
        let fits = limit.saturating_sub(loadgen::HEADROOM);
        if conns > fits {
            eprintln!(
                "echo: the open-files limit is {limit}; running with {fits} connections instead \
                 of {requested}"
            );
            conns = fits;
        }
        if let Some(ports) = measure::local_port_count() {
            if conns > ports {
                eprintln!(
                    "echo: the local port range has {ports} ports; running with {ports} \
                     connections instead of {conns}"
                );
                conns = ports;
            }
        }
        assert!(conns > 0, "echo: no descriptors left for connections");
        Plan {
            conns: conns as usize,
            duration: scale.pick(ECHO_SECS, ECHO_SECS_QUICK),
            syscalls: PerfCounter::syscalls().ok(),
        }
    }
}

/// What the server process has spent so far: its CPU time and system calls (`None`: no
/// counter).
#[derive(Clone, Copy, Debug)]
struct Spent {
    cpu: Duration,
    syscalls: Option<u64>,
}

impl Spent {
    fn now(syscalls: Option<&PerfCounter>) -> Spent {
        Spent {
            cpu: measure::process_cpu_time(),
            syscalls: syscalls.map(PerfCounter::read),
        }
    }
}

/// The figures of an echo measurement, in the order of [`ECHO_METRICS`]: what the load
/// generator reports, and what the server spent from `start` to `end` of the timed phase per
/// request.
fn figures(report: &Report, start: Spent, end: Spent) -> Vec<f64> {
    let requests = report.requests as f64;
    let syscalls = match (start.syscalls, end.syscalls) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / requests,
        _ => f64::NAN,
    };
    vec![
        requests / report.secs,
        report.p50_us,
        report.p99_us,
        end.cpu.saturating_sub(start.cpu).as_secs_f64() * 1e6 / requests,
        syscalls,
        report.conns as f64,
    ]
}

/// A running load generator, watched by a std thread of this process.
pub struct LoadRun {
    done: async_channel::Receiver<Result<Vec<f64>, String>>,
}

impl LoadRun {
    /// Starts the load generator against `addr` (with `plan`'s connections and duration) and the
    /// thread that watches it; `notify` runs after the outcome is ready (the mio server uses it
    /// to wake its `Poll`).
    pub(super) fn start(
        addr: SocketAddr,
        plan: Plan,
        notify: Option<Box<dyn FnOnce() + Send>>,
    ) -> LoadRun {
        let (tx, rx) = async_channel::bounded(1);
        thread::Builder::new()
            .name("loadgen-watch".to_string())
            .spawn(move || {
                let outcome = watch(addr, plan);
                let _ = tx.try_send(outcome);
                if let Some(notify) = notify {
                    notify();
                }
            })
            .expect("echo: could not start the watcher thread");
        LoadRun { done: rx }
    }

    /// Waits for the load generator's figures; panics (failing the measurement) if it failed.
    async fn finish(self) -> Vec<f64> {
        match self.done.recv().await {
            Ok(Ok(figures)) => figures,
            Ok(Err(e)) => panic!("echo: {e}"),
            Err(_) => panic!("echo: the watcher thread died"),
        }
    }

    /// The outcome, if it is ready.
    pub(super) fn try_finish(&self) -> Option<Vec<f64>> {
        match self.done.try_recv() {
            Ok(Ok(figures)) => Some(figures),
            Ok(Err(e)) => panic!("echo: {e}"),
            Err(async_channel::TryRecvError::Empty) => None,
            Err(async_channel::TryRecvError::Closed) => panic!("echo: the watcher thread died"),
        }
    }
}

/// Runs the load generator process to its end (killing it if it overstays) and returns the
/// figures. The process is always reaped.
fn watch(addr: SocketAddr, plan: Plan) -> Result<Vec<f64>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--loadgen")
        .arg(addr.to_string())
        .arg(plan.conns.to_string())
        .arg(plan.duration.as_millis().to_string())
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start the load generator: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if lines_tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });

    let deadline =
        Instant::now() + loadgen::connect_deadline(plan.conns) + plan.duration + KILL_MARGIN;
    let counter = plan.syscalls.as_ref();
    let mut at_start = None;
    let mut result = None;
    let mut overstayed = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == loadgen::START_LINE => {
                at_start = Some(Spent::now(counter));
            }
            Ok(line) => {
                if let Some(r) = Report::parse(&line) {
                    result = Some((r, Spent::now(counter)));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                overstayed = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the load generator: {e}"))?;
    let _ = reader.join();
    if overstayed {
        return Err(format!(
            "the load generator ran past {} s and was killed",
            (deadline - Instant::now()).as_secs()
        ));
    }
    if !status.success() {
        return Err(format!(
            "the load generator failed ({status}); see its message above"
        ));
    }
    match (at_start, result) {
        (Some(start), Some((report, end))) => Ok(figures(&report, start, end)),
        _ => Err("the load generator printed no start or result line".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The servers.

fn run_tether(scale: Scale, flavor: Flavor, conns: usize) -> Vec<f64> {
    use tether::io::{AsyncReadExt, AsyncWriteExt};
    let plan = Plan::new(scale, conns);
    rt::tether(flavor, async move {
        let listener = tether::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("echo: bind");
        let addr = listener.local_addr().expect("echo: local_addr");
        let load = LoadRun::start(addr, plan, None);
        let acceptor = tether::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((mut s, _)) => {
                        let _ = s.set_nodelay(true);
                        drop(tether::spawn(async move {
                            let mut buf = [0u8; BUF];
                            while let Ok(n @ 1..) = s.read(&mut buf).await {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }));
                    }
                    Err(e) => {
                        accept_failed(&e);
                        tether::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        let figures = load.finish().await;
        acceptor.abort();
        let _ = acceptor.await;
        figures
    })
}

fn run_tokio(scale: Scale, flavor: Flavor, conns: usize) -> Vec<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let plan = Plan::new(scale, conns);
    rt::tokio(flavor, async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("echo: bind");
        let addr = listener.local_addr().expect("echo: local_addr");
        let load = LoadRun::start(addr, plan, None);
        let _acceptor = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((mut s, _)) => {
                        let _ = s.set_nodelay(true);
                        drop(tokio::spawn(async move {
                            let mut buf = [0u8; BUF];
                            while let Ok(n @ 1..) = s.read(&mut buf).await {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }));
                    }
                    Err(e) => {
                        accept_failed(&e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        load.finish().await
    })
}

fn run_smol(scale: Scale, flavor: Flavor, conns: usize) -> Vec<f64> {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let plan = Plan::new(scale, conns);
    rt::smol(flavor, |ex| async move {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("echo: bind");
        let addr = listener.local_addr().expect("echo: local_addr");
        let load = LoadRun::start(addr, plan, None);
        // Dropping a smol task cancels it: keep the acceptor, detach the connections.
        let _acceptor = ex.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((mut s, _)) => {
                        let _ = s.set_nodelay(true);
                        ex.spawn(async move {
                            let mut buf = [0u8; BUF];
                            while let Ok(n @ 1..) = s.read(&mut buf).await {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        })
                        .detach();
                    }
                    Err(e) => {
                        accept_failed(&e);
                        smol::Timer::after(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        load.finish().await
    })
}

/// Reports an accept error once per kind (running out of descriptors is the expected one;
/// the loops above wait 10 ms before accepting again).
pub(super) fn accept_failed(e: &io::Error) {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Relaxed) {
        eprintln!("echo: accept failed: {e} (retrying after 10 ms; said once)");
    }
}

/// The `mio` reference: no runtime, one thread.
fn run_mio(scale: Scale, _flavor: Flavor, conns: usize) -> Vec<f64> {
    use mio::net::{TcpListener, TcpStream};
    use mio::{Events, Interest, Poll, Token, Waker};

    const LISTENER: Token = Token(usize::MAX - 1);
    const WAKER: Token = Token(usize::MAX - 2);

    struct Conn {
        stream: TcpStream,
        /// Echo bytes not yet written (the socket's send buffer was full).
        pending: Vec<u8>,
    }

    /// Echoes what is readable; `false` when the connection is finished.
    ///
    /// A read that returns less than the buffer has drained the socket, so it stops there
    /// instead of reading again only to get `WouldBlock`: with edge-triggered epoll, data that
    /// arrives later raises a new event (tokio's `PollEvented` makes the same saving). This
    /// spares one `recvfrom` per request.
    fn serve(c: &mut Conn, buf: &mut [u8]) -> bool {
        loop {
            while !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(n) => {
                        c.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            let n = match c.stream.read(buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            match c.stream.write(&buf[..n]) {
                Ok(w) => c.pending.extend_from_slice(&buf[w..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.pending.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    c.pending.extend_from_slice(&buf[..n]);
                }
                Err(_) => return false,
            }
            if n < buf.len() && c.pending.is_empty() {
                return true;
            }
        }
    }

    let plan = Plan::new(scale, conns);
    let mut poll = Poll::new().expect("echo: mio Poll");
    let mut listener =
        TcpListener::bind("127.0.0.1:0".parse().expect("an address")).expect("echo: bind");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("echo: register the listener");
    // Kept alive here until the end: dropping the last `Waker` closes its eventfd, which could
    // take a pending wake-up with it.
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).expect("echo: mio Waker"));
    let addr = listener.local_addr().expect("echo: local_addr");
    let remote = Arc::clone(&waker);
    let load = LoadRun::start(
        addr,
        plan,
        Some(Box::new(move || {
            let _ = remote.wake();
        })),
    );

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; BUF];
    let mut events = Events::with_capacity(1024);
    // After an accept error, accept again after 10 ms (the listener is edge-triggered).
    let mut retry_accept = false;
    loop {
        let timeout = retry_accept.then(|| Duration::from_millis(10));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("echo: poll: {e}"),
        }
        let mut accept_now = retry_accept && events.is_empty();
        for ev in events.iter() {
            match ev.token() {
                LISTENER => accept_now = true,
                WAKER => {
                    if let Some(figures) = load.try_finish() {
                        drop(waker);
                        return figures;
                    }
                }
                Token(i) => {
                    let Some(c) = conns[i].as_mut() else { continue };
                    if !serve(c, &mut buf) {
                        let mut c = conns[i].take().expect("a connection");
                        let _ = poll.registry().deregister(&mut c.stream);
                        free.push(i);
                    }
                }
            }
        }
        if accept_now {
            retry_accept = false;
            loop {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let i = free.pop().unwrap_or_else(|| {
                            conns.push(None);
                            conns.len() - 1
                        });
                        poll.registry()
                            .register(
                                &mut stream,
                                Token(i),
                                Interest::READABLE | Interest::WRITABLE,
                            )
                            .expect("echo: register a connection");
                        let mut c = Conn {
                            stream,
                            pending: Vec::new(),
                        };
                        // Data may have arrived before the registration.
                        if serve(&mut c, &mut buf) {
                            conns[i] = Some(c);
                        } else {
                            let _ = poll.registry().deregister(&mut c.stream);
                            free.push(i);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        accept_failed(&e);
                        retry_accept = true;
                        break;
                    }
                }
            }
        }
    }
}

/// The suite functions: one per (connection count, library).
macro_rules! with_conns {
    ($($name:ident = $run:ident($conns:expr);)*) => {
        $(
            pub fn $name(scale: Scale, flavor: Flavor) -> Vec<f64> {
                $run(scale, flavor, $conns)
            }
        )*
    };
}

with_conns! {
    echo_100_tether = run_tether(100);
    echo_100_tokio = run_tokio(100);
    echo_100_smol = run_smol(100);
    echo_100_mio = run_mio(100);
    echo_1000_tether = run_tether(1_000);
    echo_1000_tokio = run_tokio(1_000);
    echo_1000_smol = run_smol(1_000);
    echo_1000_mio = run_mio(1_000);
    echo_10000_tether = run_tether(10_000);
    echo_10000_tokio = run_tokio(10_000);
    echo_10000_smol = run_smol(10_000);
    echo_10000_mio = run_mio(10_000);
}

#[cfg(target_os = "linux")]
use super::echo_uring::run_uring;

#[cfg(target_os = "linux")]
with_conns! {
    echo_100_uring = run_uring(100);
    echo_1000_uring = run_uring(1_000);
    echo_10000_uring = run_uring(10_000);
}

/// The `uring` reference of each suite: Linux only.
#[cfg(target_os = "linux")]
const URING_100: Option<super::RunFn> = Some(echo_100_uring);
#[cfg(target_os = "linux")]
const URING_1000: Option<super::RunFn> = Some(echo_1000_uring);
#[cfg(target_os = "linux")]
const URING_10000: Option<super::RunFn> = Some(echo_10000_uring);
#[cfg(not(target_os = "linux"))]
const URING_100: Option<super::RunFn> = None;
#[cfg(not(target_os = "linux"))]
const URING_1000: Option<super::RunFn> = None;
#[cfg(not(target_os = "linux"))]
const URING_10000: Option<super::RunFn> = None;
