//! The echo suites' load generator: a process of its own, the same for every server under test.
//!
//! It is this executable re-run with the hidden arguments
//! `--loadgen ADDR CONNS MILLIS PARENT_PID` by the server's child process (see
//! `suites/echo.rs`), and uses no async runtime: [`THREADS`] plain threads, each driving its
//! share of the connections with its own `mio::Poll`.
//!
//! 1. **Connect**: each thread opens its connections with at most [`CONNECTING_PER_THREAD`]
//!    in progress at once (so the listener's backlog never overflows). A connection counts as
//!    open once one [`MESSAGE`]-byte message has made the round trip, which proves the server
//!    accepted it and runs its task. An attempt that fails, or has not completed within
//!    [`ATTEMPT_TIMEOUT`], is closed and retried after a pause, up to [`MAX_ATTEMPTS`] times;
//!    the whole phase gives up after [`connect_deadline`].
//! 2. **Echo**: when every thread has all its connections open, the main thread prints
//!    [`START_LINE`] and the timed phase begins: on every connection, a closed loop of sending a
//!    [`MESSAGE`]-byte message, waiting for the whole echo (checked byte for byte) and recording
//!    the round trip, then sending the next, until the duration is over. Round trips that end
//!    after it are not counted.
//! 3. It prints [`RESULT_LINE`] with the counts and latency quantiles and exits. On any failure
//!    it prints the reason on stderr and exits with status 1.
//!
//! It sets `PR_SET_PDEATHSIG` so that it dies with the process that started it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::measure;

/// Bytes per echoed message.
pub const MESSAGE: usize = 64;
/// Load generator threads; each drives `conns / THREADS` connections (the first takes the
/// remainder).
pub const THREADS: usize = 2;
/// Connections in progress (connecting, or waiting for their first echo) at once per thread.
pub const CONNECTING_PER_THREAD: usize = 50;
/// How long one connection attempt may take, first echo included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per connection before the run fails.
pub const MAX_ATTEMPTS: u32 = 5;
/// Descriptors kept free beside the connections (stdio, epoll, pipes, the listener...).
pub const HEADROOM: u64 = 64;
/// The line printed when the timed phase starts.
pub const START_LINE: &str = "LOADGEN_START";
/// The prefix of the result line.
pub const RESULT_LINE: &str = "LOADGEN_RESULT";

/// How long the connect phase may take in all for `conns` connections: 10 s plus 2 ms per
/// connection (30 s for 10,000).
pub fn connect_deadline(conns: usize) -> Duration {
    Duration::from_secs(10) + Duration::from_millis(2 * conns as u64)
}

/// What the load generator measured, as parsed from its result line.
#[derive(Clone, Debug)]
pub struct Report {
    pub conns: usize,
    pub requests: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Report {
    fn line(&self) -> String {
        format!(
            "{RESULT_LINE} conns={} requests={} secs={} p50_us={} p99_us={}",
            self.conns, self.requests, self.secs, self.p50_us, self.p99_us
        )
    }

    /// Parses a line printed by [`Report::line`].
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix(RESULT_LINE)?;
        let field = |name: &str| -> Option<f64> {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
        };
        Some(Report {
            conns: field("conns")? as usize,
            requests: field("requests")? as u64,
            secs: field("secs")?,
            p50_us: field("p50_us")?,
            p99_us: field("p99_us")?,
        })
    }
}

/// The hidden `--loadgen ADDR CONNS MILLIS PARENT_PID` mode.
pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(report) => {
            println!("{}", report.line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tether-bench loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<Report, String> {
    let [addr, conns, millis, parent] = args else {
        return Err(format!("bad arguments {args:?}"));
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let conns: usize = conns.parse().map_err(|e| format!("connections: {e}"))?;
    let millis: u64 = millis.parse().map_err(|e| format!("duration: {e}"))?;
    let parent: u32 = parent.parse().map_err(|e| format!("parent pid: {e}"))?;
    die_with_parent(parent)?;

    let limit = measure::raise_nofile_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    if conns as u64 + HEADROOM > limit {
        return Err(format!(
            "{conns} connections do not fit the open-files limit {limit} (the server should \
             have lowered the count)"
        ));
    }
    if conns == 0 {
        return Err("no connections to open".into());
    }
    let duration = Duration::from_millis(millis);

    // Each thread reports the end of its connect phase, then waits for the start instant (or
    // `None`: abort).
    let (connected_tx, connected_rx) = mpsc::channel::<Result<(), String>>();
    let mut starts = Vec::new();
    let mut threads = Vec::new();
    for t in 0..THREADS {
        let share = conns / THREADS + if t == 0 { conns % THREADS } else { 0 };
        let first_id = if t == 0 {
            0
        } else {
            conns / THREADS * t + conns % THREADS
        };
        let (start_tx, start_rx) = mpsc::channel::<Option<Instant>>();
        starts.push(start_tx);
        let connected = connected_tx.clone();
        let handle = thread::Builder::new()
            .name(format!("loadgen-{t}"))
            .spawn(move || {
                let (poll, mut conns) =
                    match connect_all(addr, first_id, share, connect_deadline(conns)) {
                        Ok(c) => {
                            let _ = connected.send(Ok(()));
                            c
                        }
                        Err(e) => {
                            let _ = connected.send(Err(e));
                            return Ok(Vec::new());
                        }
                    };
                match start_rx.recv() {
                    Ok(Some(t0)) => echo_loop(poll, &mut conns, t0 + duration),
                    _ => Ok(Vec::new()),
                }
            })
            .map_err(|e| format!("could not start a thread: {e}"))?;
        threads.push(handle);
    }
    drop(connected_tx);

    let mut failure = None;
    for _ in 0..THREADS {
        match connected_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a load thread died".to_string())),
        }
    }
    let t0 = Instant::now();
    if failure.is_none() {
        println!("{START_LINE}");
        let _ = io::stdout().flush();
    }
    for s in &starts {
        let _ = s.send(failure.is_none().then_some(t0));
    }
    let mut latencies = Vec::new();
    for h in threads {
        match h.join() {
            Ok(Ok(mut l)) => latencies.append(&mut l),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(_) => failure = failure.or(Some("a load thread panicked".to_string())),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if latencies.is_empty() {
        return Err(format!(
            "no round trip completed in {} ms",
            duration.as_millis()
        ));
    }
    latencies.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    Ok(Report {
        conns,
        requests: latencies.len() as u64,
        secs: duration.as_secs_f64(),
        p50_us: us(measure::quantile(&latencies, 0.50)),
        p99_us: us(measure::quantile(&latencies, 0.99)),
    })
}

/// Asks the kernel to kill this process when the thread that started it exits, so that a
/// server child killed by the harness's timeout cannot leave it behind.
fn die_with_parent(parent: u32) -> Result<(), String> {
    // SAFETY: `PR_SET_PDEATHSIG` takes one integer argument (the signal) and touches no memory
    // of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if rc != 0 {
        return Err(format!("prctl: {}", io::Error::last_os_error()));
    }
    // The parent may have died before the `prctl`.
    if std::os::unix::process::parent_id() != parent {
        return Err("the server process is gone".into());
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not connected; in the start queue.
    Waiting,
    /// `connect` issued, not yet established.
    Connecting,
    /// Connected; the first message is on its way.
    Warmup,
    /// Open and checked; in the echo phase, sending messages.
    Open,
    /// Failed during the echo phase.
    Broken,
}

/// One connection of a load thread.
struct Conn {
    /// The global connection number (it seeds the message bytes).
    id: usize,
    stream: Option<TcpStream>,
    phase: Phase,
    attempts: u32,
    attempt_started: Instant,
    /// The current message's sequence number, its bytes written and echoed bytes read.
    seq: u32,
    written: usize,
    got: usize,
    sent_at: Instant,
}

/// Byte `k` of message `seq` on connection `id`.
fn message_byte(id: usize, seq: u32, k: usize) -> u8 {
    (id as u32)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(7))
        .wrapping_add(k as u32) as u8
}

/// What driving a connection's I/O came to.
enum Step {
    /// Waiting for readiness.
    Blocked,
    /// The whole echo of the current message arrived (and matched).
    Echoed,
}

impl Conn {
    /// Starts message `seq + 1`.
    fn next_message(&mut self, now: Instant) {
        self.seq = self.seq.wrapping_add(1);
        self.written = 0;
        self.got = 0;
        self.sent_at = now;
    }

    /// Writes what is left of the current message and reads its echo, until the socket would
    /// block or the echo is complete.
    fn drive(&mut self) -> Result<Step, String> {
        let stream = self.stream.as_mut().expect("a connected stream");
        let mut msg = [0u8; MESSAGE];
        let mut buf = [0u8; MESSAGE];
        loop {
            if self.written < MESSAGE {
                for (k, b) in msg.iter_mut().enumerate() {
                    *b = message_byte(self.id, self.seq, k);
                }
                match stream.write(&msg[self.written..]) {
                    Ok(n) => {
                        self.written += n;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("write: {e}")),
                }
            }
            match stream.read(&mut buf[..MESSAGE - self.got]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        if b != message_byte(self.id, self.seq, self.got + k) {
                            return Err(format!(
                                "connection {}: echo byte {} of message {} is wrong",
                                self.id,
                                self.got + k,
                                self.seq
                            ));
                        }
                    }
                    self.got += n;
                    if self.got == MESSAGE {
                        return Ok(Step::Echoed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// While connecting: whether the connection is established (`Ok(false)`: not yet).
    fn established(&self) -> io::Result<bool> {
        let stream = self.stream.as_ref().expect("a connecting stream");
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        match stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Ends the current attempt of connection `c` (number `i` of its thread): queues a retry after
/// a pause that grows with the attempts, or fails the connect phase after [`MAX_ATTEMPTS`].
fn end_attempt(
    registry: &mio::Registry,
    c: &mut Conn,
    i: usize,
    why: String,
    queue: &mut VecDeque<(usize, Instant)>,
    last_error: &mut String,
) -> Result<(), String> {
    if let Some(mut s) = c.stream.take() {
        let _ = registry.deregister(&mut s);
    }
    c.phase = Phase::Waiting;
    if c.attempts >= MAX_ATTEMPTS {
        return Err(format!(
            "connection {} failed {MAX_ATTEMPTS} times; last: {why}",
            c.id
        ));
    }
    *last_error = why;
    let pause = Duration::from_millis(100 * u64::from(c.attempts));
    queue.push_back((i, Instant::now() + pause));
    Ok(())
}

/// Opens `n` connections (global ids from `first_id`), each checked by one round trip, and
/// returns them with the `Poll` they are registered with.
fn connect_all(
    addr: SocketAddr,
    first_id: usize,
    n: usize,
    limit: Duration,
) -> Result<(Poll, Vec<Conn>), String> {
    let mut poll = Poll::new().map_err(|e| format!("mio Poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let now = Instant::now();
    let deadline = now + limit;
    let mut conns: Vec<Conn> = (0..n)
        .map(|i| Conn {
            id: first_id + i,
            stream: None,
            phase: Phase::Waiting,
            attempts: 0,
            attempt_started: now,
            seq: 0,
            written: 0,
            got: 0,
            sent_at: now,
        })
        .collect();
    // (connection, not before)
    let mut queue: VecDeque<(usize, Instant)> = (0..n).map(|i| (i, now)).collect();
    let mut in_progress: Vec<usize> = Vec::new();
    let mut open = 0;
    let mut last_error = String::new();

    while open < n {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "only {open} of {n} connections (this thread's share) were open after {} s; \
                 last error: {last_error}",
                limit.as_secs()
            ));
        }
        // Start attempts while there is room.
        while in_progress.len() < CONNECTING_PER_THREAD {
            match queue.front() {
                Some(&(i, not_before)) if not_before <= now => {
                    queue.pop_front();
                    let c = &mut conns[i];
                    c.attempts += 1;
                    c.attempt_started = now;
                    match TcpStream::connect(addr) {
                        Ok(mut s) => {
                            poll.registry()
                                .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)
                                .map_err(|e| format!("register: {e}"))?;
                            c.stream = Some(s);
                            c.phase = Phase::Connecting;
                            in_progress.push(i);
                        }
                        Err(e) => end_attempt(
                            poll.registry(),
                            c,
                            i,
                            format!("connect: {e}"),
                            &mut queue,
                            &mut last_error,
                        )?,
                    }
                }
                _ => break,
            }
        }
        let wait = if queue.is_empty() || in_progress.len() >= CONNECTING_PER_THREAD {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(5)
        };
        poll.poll(&mut events, Some(wait.min(deadline - now)))
            .or_else(|e| {
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(format!("poll: {e}"))
                }
            })?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.phase == Phase::Connecting {
                match c.established() {
                    Ok(true) => {
                        let s = c.stream.as_ref().expect("a connecting stream");
                        if let Err(e) = s.set_nodelay(true) {
                            end_attempt(
                                poll.registry(),
                                c,
                                i,
                                format!("set_nodelay: {e}"),
                                &mut queue,
                                &mut last_error,
                            )?;
                            continue;
                        }
                        c.phase = Phase::Warmup;
                        c.next_message(Instant::now());
                    }
                    Ok(false) => continue,
                    Err(e) => {
                        end_attempt(
                            poll.registry(),
                            c,
                            i,
                            format!("connect: {e}"),
                            &mut queue,
                            &mut last_error,
                        )?;
                        continue;
                    }
                }
            }
            if c.phase == Phase::Warmup {
                match c.drive() {
                    Ok(Step::Echoed) => {
                        c.phase = Phase::Open;
                        open += 1;
                    }
                    Ok(Step::Blocked) => {}
                    Err(e) => end_attempt(poll.registry(), c, i, e, &mut queue, &mut last_error)?,
                }
            }
        }
        // Retire finished attempts and time out slow ones.
        let now = Instant::now();
        let mut k = 0;
        while k < in_progress.len() {
            let i = in_progress[k];
            let c = &mut conns[i];
            let active = matches!(c.phase, Phase::Connecting | Phase::Warmup);
            if active && now.duration_since(c.attempt_started) > ATTEMPT_TIMEOUT {
                let why = format!("no echo within {} s", ATTEMPT_TIMEOUT.as_secs());
                end_attempt(poll.registry(), c, i, why, &mut queue, &mut last_error)?;
            } else if active {
                k += 1;
                continue;
            }
            in_progress.swap_remove(k);
        }
    }
    Ok((poll, conns))
}

/// The timed phase: a closed loop of round trips on every connection until `end`. Returns the
/// round-trip times in nanoseconds of the round trips completed by `end`.
fn echo_loop(mut poll: Poll, conns: &mut [Conn], end: Instant) -> Result<Vec<u64>, String> {
    let mut events = Events::with_capacity(1024);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut failure: Option<String> = None;

    // Handles one connection until it blocks; `Err` ends the run.
    let serve = |c: &mut Conn, latencies: &mut Vec<u64>| -> Result<(), String> {
        loop {
            match c.drive()? {
                Step::Blocked => return Ok(()),
                Step::Echoed => {
                    let now = Instant::now();
                    if now > end {
                        return Ok(());
                    }
                    latencies.push(now.duration_since(c.sent_at).as_nanos() as u64);
                    c.next_message(now);
                }
            }
        }
    };

    let now = Instant::now();
    for c in conns.iter_mut() {
        c.next_message(now);
        if let Err(e) = serve(c, &mut latencies) {
            c.phase = Phase::Broken;
            failure.get_or_insert(e);
        }
    }
    while failure.is_none() {
        let now = Instant::now();
        if now >= end {
            break;
        }
        match poll.poll(&mut events, Some(end - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.phase != Phase::Open {
                continue;
            }
            if let Err(e) = serve(c, &mut latencies) {
                c.phase = Phase::Broken;
                failure.get_or_insert(format!("connection {}: {e}", c.id));
            }
        }
    }
    match failure {
        Some(e) => Err(format!("echo phase: {e}")),
        None => Ok(latencies),
    }
}
