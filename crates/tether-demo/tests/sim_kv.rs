//! The Redis-protocol kv server ([`tether_demo::kv`], its real `Kv::serve_until`, unchanged)
//! under deterministic simulation (`tether::sim`), crashed and restarted — at random virtual
//! times by the simulation's fault schedule, and by a script. A crash drops every task of the
//! server and resets its connections; a restart runs a fresh server (the kv server keeps
//! nothing on disk, so it starts empty). Clients speak RESP (the small client below) and check
//! what must hold of a non-persistent server:
//!
//! 1. on one connection, a `GET` after an acknowledged `SET` of the same key, with no error in
//!    between, returns that value;
//! 2. after a reconnect, a key holds the last acknowledged value, the value whose `SET` was in
//!    flight, or nothing — and nothing only if the server restarted since that `SET` was sent;
//!    never an older value;
//! 3. a key set with `PX 50` is gone 100 ms of virtual time later (expiry runs on the
//!    simulation's clock);
//! 4. a lost connection shows as an error a client can act on (reset, refused, timed out,
//!    closed), and the client reconnects; nothing panics, and every client finishes.
//!
//! Bounded: a few dozen seeds in debug builds, more in release.

mod support;

use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sim::{Faults, NetConfig, Report, Sim};
use tether::time::{sleep, timeout};
use tether_demo::kv::{Config, Kv};

const PORT: u16 = 6380;
const CLIENTS: usize = 20;
const OPS: u32 = 30;
/// How long a client waits for a reply (or a connection) before it gives the connection up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// A RESP2 reply, as far as these tests need one.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

/// A minimal RESP client: commands as arrays of bulk strings, one reply at a time.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect() -> io::Result<Client> {
        let stream = timeout(REPLY_TIMEOUT, TcpStream::connect(("kv", PORT)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    async fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&req).await?;
        timeout(REPLY_TIMEOUT, self.reply())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply"))?
    }

    async fn reply(&mut self) -> io::Result<Reply> {
        loop {
            if let Some((reply, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 512];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One reply from the front of `buf` and the bytes it took, or `None` if it is incomplete.
fn parse(buf: &[u8]) -> io::Result<Option<(Reply, usize)>> {
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let line = std::str::from_utf8(&buf[1..eol]).map_err(|_| bad("non-UTF-8 header"))?;
    let reply = match buf[0] {
        b'+' => Reply::Simple(line.to_owned()),
        b'-' => Reply::Error(line.to_owned()),
        b':' => Reply::Int(line.parse().map_err(|_| bad("bad integer"))?),
        b'$' => {
            let len: i64 = line.parse().map_err(|_| bad("bad bulk length"))?;
            if len < 0 {
                return Ok(Some((Reply::Bulk(None), eol + 2)));
            }
            let end = eol + 2 + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            return Ok(Some((
                Reply::Bulk(Some(buf[eol + 2..end].to_vec())),
                end + 2,
            )));
        }
        _ => return Err(bad("unexpected reply type")),
    };
    Ok(Some((reply, eol + 2)))
}

/// What the clients of one run, and the server's restarts, counted.
#[derive(Default)]
struct Counts {
    /// How many times the server has been started (1 + restarts).
    incarnations: AtomicU64,
    finished: AtomicUsize,
    reconnects: AtomicU64,
    /// Keys found empty after a reconnect because the server had restarted.
    lost_to_restart: AtomicU64,
}

/// One client: `OPS` times, `SET k<i> v<i>-<op>` then `GET k<i>` on the same connection
/// (rule 1), and a short-lived key (rule 3); after every reconnect, a check of its key
/// (rule 2).
async fn client(i: usize, counts: Arc<Counts>) -> io::Result<()> {
    let key = format!("k{i}").into_bytes();
    let mut acked: Option<Vec<u8>> = None;
    // The value of a SET whose reply was lost, and the incarnation count when it was sent.
    let mut in_flight: Option<Vec<u8>> = None;
    let mut sent_at_incarnation = 0;
    let mut conn: Option<Client> = None;
    let mut op = 0;
    let mut failures = 0u32;
    while op < OPS {
        let mut c = match conn.take() {
            Some(c) => c,
            None => match Client::connect().await {
                Ok(mut c) => {
                    // Rule 2: what the key holds after a reconnect.
                    match c.call(&[b"GET", &key]).await {
                        Ok(Reply::Bulk(v)) => {
                            check_after_reconnect(
                                i,
                                &v,
                                &acked,
                                &in_flight,
                                sent_at_incarnation,
                                &counts,
                            );
                            // Whatever the key holds is now the state to build on.
                            acked = v;
                            c
                        }
                        Ok(other) => panic!("client {i}: GET answered {other:?}"),
                        Err(e) if support::is_retryable(&e) => {
                            counts.reconnects.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if support::is_retryable(&e) => {
                    failures += 1;
                    sleep(Duration::from_millis(20 * u64::from(failures.min(10)))).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let value = format!("v{i}-{op}").into_bytes();
        sent_at_incarnation = counts.incarnations.load(Ordering::Relaxed);
        in_flight = Some(value.clone());
        let step = async {
            let set = c.call(&[b"SET", &key, &value]).await?;
            assert_eq!(set, Reply::Simple("OK".into()), "client {i}: SET");
            let get = c.call(&[b"GET", &key]).await?;
            // Rule 1: an acknowledged SET is readable on the same connection.
            assert_eq!(
                get,
                Reply::Bulk(Some(value.clone())),
                "client {i} op {op}: GET after an acknowledged SET on the same connection"
            );
            // Rule 3: expiry on the simulation's clock.
            let tmp = format!("tmp{i}").into_bytes();
            let set = c.call(&[b"SET", &tmp, b"x", b"PX", b"50"]).await?;
            assert_eq!(set, Reply::Simple("OK".into()), "client {i}: SET PX");
            sleep(Duration::from_millis(100)).await;
            let get = c.call(&[b"GET", &tmp]).await?;
            assert_eq!(get, Reply::Bulk(None), "client {i}: a key past its PX");
            let exists = c.call(&[b"EXISTS", &tmp]).await?;
            assert_eq!(exists, Reply::Int(0));
            io::Result::Ok(())
        };
        match step.await {
            Ok(()) => {
                acked = in_flight.take();
                op += 1;
                failures = 0;
                conn = Some(c);
            }
            Err(e) if support::is_retryable(&e) => {
                counts.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    counts.finished.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Rule 2, for the value `got` that a key held after a reconnect.
fn check_after_reconnect(
    i: usize,
    got: &Option<Vec<u8>>,
    acked: &Option<Vec<u8>>,
    in_flight: &Option<Vec<u8>>,
    sent_at_incarnation: u64,
    counts: &Counts,
) {
    match got {
        Some(v) => assert!(
            Some(v) == acked.as_ref() || Some(v) == in_flight.as_ref(),
            "client {i}: after a reconnect the key holds {:?}, neither the last acknowledged \
             value {:?} nor the one in flight {:?}",
            String::from_utf8_lossy(v),
            acked.as_ref().map(|v| String::from_utf8_lossy(v)),
            in_flight.as_ref().map(|v| String::from_utf8_lossy(v)),
        ),
        None if acked.is_some() || in_flight.is_some() => {
            // The server that answered is the current incarnation; unless it restarted after
            // the last SET was sent, that same server stored the value.
            let now = counts.incarnations.load(Ordering::Relaxed);
            assert!(
                now > sent_at_incarnation,
                "client {i}: the key is gone but the server did not restart (incarnation \
                 {now}) since the SET was sent"
            );
            counts.lost_to_restart.fetch_add(1, Ordering::Relaxed);
        }
        None => {}
    }
}

fn kv_host(sim: &mut Sim, counts: Arc<Counts>) {
    sim.host("kv", move || {
        counts.incarnations.fetch_add(1, Ordering::Relaxed);
        async {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let kv = Kv::new(Config {
                shards: 4,
                ..Config::default()
            });
            kv.serve_until(listener, std::future::pending()).await;
            io::Result::Ok(())
        }
    });
}

fn run_with_faults(seed: u64) -> (Report, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    let mut sim = Sim::builder()
        .seed(seed)
        .net(
            NetConfig::default()
                .latency(Duration::from_millis(1))
                .jitter(Duration::from_millis(4)),
        )
        .faults(
            Faults::new()
                .crashes(&["kv"])
                .every(Duration::from_secs(1))
                .down_for(Duration::from_millis(200)),
        )
        .time_limit(Duration::from_secs(600))
        .invariant_at_end(move || {
            let n = c.finished.load(Ordering::Relaxed);
            if n == CLIENTS {
                Ok(())
            } else {
                Err(format!("{n} of {CLIENTS} clients finished"))
            }
        })
        .build();
    kv_host(&mut sim, counts.clone());
    for i in 0..CLIENTS {
        sim.client(&format!("client-{i}"), client(i, counts.clone()));
    }
    let report = sim.run().unwrap_or_else(|e| panic!("{e}"));
    (report, counts)
}

/// Random crashes and restarts: every rule holds on every seed, every client finishes, the
/// crashes did cost keys (so rule 2's "nothing" case was exercised), and the seeds explore
/// different runs; a seed replays exactly.
#[test]
fn the_kv_server_keeps_its_promises_across_random_crashes_and_restarts() {
    let seeds = support::sim_seeds(20, 200);
    let (mut restarts, mut lost, mut reconnects) = (0, 0, 0);
    let mut hashes = std::collections::HashSet::new();
    for seed in seeds.clone() {
        let (report, counts) = run_with_faults(seed);
        restarts += counts.incarnations.load(Ordering::Relaxed) - 1;
        lost += counts.lost_to_restart.load(Ordering::Relaxed);
        reconnects += counts.reconnects.load(Ordering::Relaxed);
        hashes.insert(report.trace_hash());
    }
    eprintln!(
        "{} seeds: {restarts} restarts, {reconnects} reconnects, {lost} keys lost to a restart",
        seeds.end - seeds.start
    );
    assert!(restarts > 0, "no crash happened: the test tests nothing");
    assert!(reconnects > 0, "no client lost its connection");
    assert!(
        lost > 0,
        "no restart ever cost a key: rule 2's empty case was not exercised"
    );
    assert_eq!(hashes.len() as u64, seeds.end - seeds.start);
    let (a, _) = run_with_faults(7);
    let (b, _) = run_with_faults(7);
    assert_eq!(a.trace_hash(), b.trace_hash(), "seed 7 did not replay");
}

/// A scripted crash, as a client sees it: its connection is reset, a connection attempt while
/// the server is down gets no answer, and after the restart the server is up again — empty.
#[test]
fn a_crash_resets_connections_and_the_restarted_server_starts_empty() {
    for seed in support::sim_seeds(10, 50) {
        let counts = Arc::new(Counts::default());
        let mut sim = Sim::builder()
            .seed(seed)
            .net(NetConfig::default().jitter(Duration::from_millis(3)))
            .build();
        kv_host(&mut sim, counts.clone());
        sim.client("client", async {
            let mut c = Client::connect().await?;
            assert_eq!(
                c.call(&[b"SET", b"k", b"v"]).await?,
                Reply::Simple("OK".into())
            );
            assert_eq!(c.call(&[b"INCR", b"n"]).await?, Reply::Int(1));
            tether::sim::crash("kv");
            let err = c.call(&[b"GET", b"k"]).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
            let err = Client::connect().await.err().expect("the server is down");
            assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
            tether::sim::restart("kv");
            let mut c = Client::connect().await?;
            assert_eq!(c.call(&[b"GET", b"k"]).await?, Reply::Bulk(None));
            assert_eq!(c.call(&[b"INCR", b"n"]).await?, Reply::Int(1));
            assert_eq!(c.call(&[b"DBSIZE"]).await?, Reply::Int(1));
            io::Result::Ok(())
        });
        sim.run().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts.incarnations.load(Ordering::Relaxed), 2);
    }
}
