//! The load generator of the C10k demo (the `c10k` binary), and a latency histogram.
//!
//! [`run`] opens `conns` connections to a handshake echo server ([`crate::echo_server`]): each says
//! `hello` and checks the `hello\n` reply. Connecting is paced: at most
//! [`LoadConfig::max_connecting`] connections are between `connect` and the handshake reply at
//! once, so the listener's accept queue (its backlog) never overflows, and a failed attempt
//! (refused, reset, timed out) is retried a few times with a growing pause. When every
//! connection is open or has given up, all of them start at once and, until the run's deadline,
//! send a `size`-byte message, wait for its echo and check it byte for byte: a closed loop with
//! one message in flight per connection. Each round trip's latency goes into a shared
//! [`AtomicHistogram`].
//!
//! Shared by the demo (which runs it in a child process) and `tests/c10k.rs` (which runs it
//! in-process against the server), so both exercise the same code.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::TcpStream;
use tether::sync::{watch, Semaphore};
use tether::time::{sleep, timeout};

/// What a load run does; [`LoadConfig::new`] gives the demo's defaults.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server's address.
    pub addr: SocketAddr,
    /// How many connections to open.
    pub conns: usize,
    /// How long the echo phase lasts once every connection is open.
    pub duration: Duration,
    /// Bytes per message.
    pub size: usize,
    /// At most this many connections between `connect` and the handshake reply at once.
    pub max_connecting: usize,
    /// Attempts per connection before it counts as failed.
    pub connect_attempts: u32,
    /// Time allowed for one attempt (connect plus handshake).
    pub attempt_timeout: Duration,
    /// Time allowed for the whole connect phase; connections not open by then count as failed.
    pub connect_phase_limit: Duration,
    /// Time allowed for one round trip; a connection whose echo takes longer counts as broken.
    pub round_trip_timeout: Duration,
}

impl LoadConfig {
    /// The demo's defaults: 64-byte messages, 256 connects in flight, 5 attempts of 3 s each
    /// (longer than the kernel's first SYN retransmission at 1 s), a 30 s connect phase, 5 s
    /// per round trip.
    pub fn new(addr: SocketAddr, conns: usize, duration: Duration) -> LoadConfig {
        LoadConfig {
            addr,
            conns,
            duration,
            size: 64,
            max_connecting: 256,
            connect_attempts: 5,
            attempt_timeout: Duration::from_secs(3),
            connect_phase_limit: Duration::from_secs(30),
            round_trip_timeout: Duration::from_secs(5),
        }
    }

    /// The longest a run can take: connect phase, echo phase, one last round trip.
    pub fn worst_case(&self) -> Duration {
        self.connect_phase_limit + self.duration + self.round_trip_timeout
    }
}

/// Live counters, readable while [`run`] goes on (the demo prints them as `PROGRESS` lines).
#[derive(Default, Debug)]
pub struct Progress {
    /// Connections that completed the handshake.
    pub open: AtomicU64,
    /// Connections that gave up connecting.
    pub failed: AtomicU64,
    /// Connect attempts that were retried.
    pub retries: AtomicU64,
    /// Round trips completed with a matching echo.
    pub requests: AtomicU64,
    /// Echoes that differed from what was sent.
    pub mismatches: AtomicU64,
    /// Open connections that broke during the echo phase (error, early close, timeout).
    pub broken: AtomicU64,
}

/// When every connection is open (or has given up): what [`run`] tells its `on_open` callback.
#[derive(Clone, Copy, Debug)]
pub struct Opened {
    /// Connections open.
    pub established: u64,
    /// Connections that gave up.
    pub failed: u64,
    /// How long the connect phase took.
    pub elapsed: Duration,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct LoadReport {
    /// Connections that completed the handshake.
    pub established: u64,
    /// Connections that gave up connecting.
    pub failed: u64,
    /// Connect attempts that were retried.
    pub retries: u64,
    /// How long the connect phase took.
    pub connect_time: Duration,
    /// Round trips completed with a matching echo.
    pub requests: u64,
    /// Echoes that differed from what was sent.
    pub mismatches: u64,
    /// Connections that broke during the echo phase.
    pub broken: u64,
    /// How long the echo phase took (until the last connection stopped).
    pub echo_time: Duration,
    /// Round-trip latencies of the matching echoes.
    pub latency: Histogram,
    /// Why connections failed or broke: error message, count.
    pub errors: BTreeMap<String, u64>,
}

/// Runs the load against `cfg.addr`, updating `progress` as it goes, and calls `on_open` once
/// between the connect phase and the echo phase. Must run inside a tether runtime.
pub async fn run(
    cfg: &LoadConfig,
    progress: Arc<Progress>,
    on_open: impl FnOnce(Opened),
) -> LoadReport {
    let started = Instant::now();
    let connect_deadline = started + cfg.connect_phase_limit;
    let gate = Arc::new(Semaphore::new(cfg.max_connecting.max(1)));
    let latency = Arc::new(AtomicHistogram::new());
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    // `None` until the echo phase starts, then its deadline.
    let (start_tx, start_rx) = watch::channel(None::<Instant>);

    let mut tasks = Vec::with_capacity(cfg.conns);
    for id in 0..cfg.conns {
        let conn = Conn {
            id: id as u64,
            cfg: cfg.clone(),
            progress: progress.clone(),
            latency: latency.clone(),
            errors: errors.clone(),
        };
        let gate = gate.clone();
        let start = start_rx.clone();
        tasks.push(
            tether::task::Builder::new()
                .name("c10k-client")
                .spawn(conn.run(gate, connect_deadline, start)),
        );
    }
    drop(start_rx);

    // Wait until every connection is open or has given up (each gives up by `connect_deadline`).
    let total = cfg.conns as u64;
    loop {
        let done = progress.open.load(Ordering::SeqCst) + progress.failed.load(Ordering::SeqCst);
        if done >= total {
            break;
        }
        sleep(Duration::from_millis(5)).await;
    }
    let opened = Opened {
        established: progress.open.load(Ordering::SeqCst),
        failed: progress.failed.load(Ordering::SeqCst),
        elapsed: started.elapsed(),
    };
    on_open(opened);

    let echo_start = Instant::now();
    let _ = start_tx.send(Some(echo_start + cfg.duration));
    for t in tasks {
        // A panicking connection task is a bug in this file; let the test or demo see it.
        if let Err(e) = t.await {
            panic!("a load connection task failed: {e}");
        }
    }
    let echo_time = echo_start.elapsed();
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    LoadReport {
        established: opened.established,
        failed: opened.failed,
        retries: progress.retries.load(Ordering::SeqCst),
        connect_time: opened.elapsed,
        requests: progress.requests.load(Ordering::SeqCst),
        mismatches: progress.mismatches.load(Ordering::SeqCst),
        broken: progress.broken.load(Ordering::SeqCst),
        echo_time,
        latency: latency.snapshot(),
        errors,
    }
}

/// One client connection.
struct Conn {
    id: u64,
    cfg: LoadConfig,
    progress: Arc<Progress>,
    latency: Arc<AtomicHistogram>,
    errors: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Conn {
    async fn run(
        self,
        gate: Arc<Semaphore>,
        connect_deadline: Instant,
        mut start: watch::Receiver<Option<Instant>>,
    ) {
        let stream = {
            let _permit = gate.acquire().await.expect("the gate is never closed");
            self.connect(connect_deadline).await
        };
        let mut stream = match stream {
            Ok(s) => {
                self.progress.open.fetch_add(1, Ordering::SeqCst);
                s
            }
            Err(e) => {
                self.note_error("connect", &e);
                self.progress.failed.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        // Wait for the echo phase; the sender lives until every task has started it.
        let deadline = loop {
            if let Some(d) = *start.borrow_and_update() {
                break d;
            }
            if start.changed().await.is_err() {
                return;
            }
        };
        if let Err(e) = self.echo_until(&mut stream, deadline).await {
            self.note_error("echo", &e);
            self.progress.broken.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Connects and completes the handshake, retrying failed attempts.
    async fn connect(&self, deadline: Instant) -> io::Result<TcpStream> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = left.min(self.cfg.attempt_timeout);
            let err = match timeout(limit, self.connect_once()).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => e,
                Err(_) => {
                    io::Error::new(io::ErrorKind::TimedOut, "connect and handshake timed out")
                }
            };
            if err.kind() == io::ErrorKind::InvalidData || attempt >= self.cfg.connect_attempts {
                return Err(err);
            }
            // 20, 40, 80, ... ms, spread by the connection id so retries do not come in waves.
            let pause = Duration::from_millis((20 << (attempt - 1).min(5)) + self.id % 17);
            if Instant::now() + pause >= deadline {
                return Err(err);
            }
            self.progress.retries.fetch_add(1, Ordering::SeqCst);
            sleep(pause).await;
        }
    }

    async fn connect_once(&self) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.cfg.addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(b"hello\n").await?;
        let mut reply = [0u8; 6];
        stream.read_exact(&mut reply).await?;
        if &reply != b"hello\n" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("handshake reply {reply:?}, expected \"hello\\n\""),
            ));
        }
        Ok(stream)
    }

    /// Round trips until `deadline`: send a message, read its echo, compare, record latency.
    async fn echo_until(&self, stream: &mut TcpStream, deadline: Instant) -> io::Result<()> {
        let size = self.cfg.size.max(16);
        let mut msg = vec![0u8; size];
        let mut echo = vec![0u8; size];
        let mut seq: u64 = 0;
        while Instant::now() < deadline {
            fill_message(&mut msg, self.id, seq);
            let sent = Instant::now();
            let round_trip = async {
                stream.write_all(&msg).await?;
                stream.read_exact(&mut echo).await
            };
            match timeout(self.cfg.round_trip_timeout, round_trip).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no echo within the round-trip timeout",
                    ))
                }
            }
            let micros = sent.elapsed().as_micros();
            if echo != msg {
                self.progress.mismatches.fetch_add(1, Ordering::SeqCst);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "echo differs from the message sent",
                ));
            }
            self.latency.record(micros.min(u32::MAX as u128) as u32);
            self.progress.requests.fetch_add(1, Ordering::Relaxed);
            seq += 1;
        }
        Ok(())
    }

    fn note_error(&self, phase: &str, e: &io::Error) {
        let key = format!("{phase}: {e}");
        *self.errors.lock().unwrap().entry(key).or_insert(0) += 1;
    }
}

/// A message unique to (connection, sequence number), so a misrouted or stale echo is caught.
fn fill_message(buf: &mut [u8], id: u64, seq: u64) {
    buf[..8].copy_from_slice(&id.to_le_bytes());
    buf[8..16].copy_from_slice(&seq.to_le_bytes());
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq;
    for b in &mut buf[16..] {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *b = (x >> 56) as u8;
    }
}

/// Sub-buckets per power of two: values are kept to within 1/32 (about 3%).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Buckets needed for any `u32`.
const BUCKETS: usize = (32 - SUB_BITS as usize) * SUB + SUB;

/// A log-linear histogram of `u32` values (here microseconds), in the spirit of HdrHistogram:
/// exact below 64, then 32 buckets per power of two, so any value is known to within about 3%.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u32,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    /// Adds one value.
    pub fn record(&mut self, v: u32) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The value at quantile `q` (0.5 for the median): the upper end of the bucket holding the
    /// `ceil(q * count)`-th smallest value, so it never understates (capped at the maximum).
    pub fn quantile(&self, q: f64) -> u32 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// A [`Histogram`] that many tasks record into at once (relaxed atomic counters).
pub struct AtomicHistogram {
    counts: Vec<AtomicU64>,
    max: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram.
    pub fn new() -> AtomicHistogram {
        AtomicHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    /// Adds one value.
    pub fn record(&self, v: u32) {
        self.counts[bucket(v)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(u64::from(v), Ordering::Relaxed);
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> Histogram {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        Histogram {
            total: counts.iter().sum(),
            counts,
            max: self.max.load(Ordering::Relaxed) as u32,
        }
    }
}

impl Default for AtomicHistogram {
    fn default() -> AtomicHistogram {
        AtomicHistogram::new()
    }
}

/// The bucket of `v`: `v` itself below `2 * SUB`, then `SUB` buckets per power of two.
fn bucket(v: u32) -> usize {
    if (v as usize) < 2 * SUB {
        return v as usize;
    }
    let exp = 31 - v.leading_zeros(); // floor(log2 v) >= SUB_BITS + 1
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) as usize; // in SUB..2*SUB
    shift as usize * SUB + mantissa
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u32 {
    if i < 2 * SUB {
        return i as u32;
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (i % SUB + SUB) as u64;
    (((mantissa + 1) << shift) - 1).min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_within_3_percent() {
        let mut last = 0;
        for v in 0..1_000_000u32 {
            let b = bucket(v);
            assert!(b == last || b == last + 1, "bucket of {v} skips");
            let high = bucket_high(b);
            assert!(high >= v && u64::from(high - v) <= u64::from(v) / 32, "{v}");
            last = b;
        }
        assert_eq!(bucket(u32::MAX), BUCKETS - 1);
        assert_eq!(bucket_high(BUCKETS - 1), u32::MAX);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.quantile(0.0), 1);
        assert!((500..=515).contains(&h.quantile(0.5)));
        assert!((990..=1000).contains(&h.quantile(0.99)));
        assert_eq!(h.quantile(1.0), 1000);
    }
}
