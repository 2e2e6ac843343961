//! The C10k demo: ten thousand concurrent connections to one tether server, on one machine.
//!
//! ```text
//! cargo run --release -p tether-demo                        # 10,000 connections, 10 s
//! cargo run --release -p tether-demo -- --conns 200 --secs 2
//! cargo run --release -p tether-demo -- --current-thread    # the server on one thread
//! TETHER_IO_DRIVER=io_uring cargo run --release -p tether-demo   # both ends on io_uring
//! cargo run --release -p tether-demo -- --soak 600          # 10 minutes, sampled each second
//! ```
//!
//! What it demonstrates: the handshake echo server ([`tether_demo::echo_server`]: a client
//! first says `hello`, then every byte it sends is echoed; one task per connection, written as
//! straight-line `async` code) holding 10,000 open connections at once and echoing on all of
//! them, with the memory and CPU that costs.
//!
//! How it runs: this process raises its open-files soft limit to the hard limit, starts the
//! server (`echo_server::serve_until`: the accept loop and every connection in one scope) on
//! a tether runtime (multi-thread by default) on `127.0.0.1`, port 0, and starts the
//! load generator as a child process (itself, re-run with a hidden `--client` flag) so that
//! client and server each have their own descriptor limit. The client, on a tether runtime too
//! ([`tether_demo::load`]), opens the connections with at most 256 connecting at once (so the
//! listener's backlog never overflows; failed attempts are retried a few times), says `hello`
//! on each and checks the reply. When all are open it runs a closed loop for `--secs` seconds:
//! every connection sends a 64-byte message, waits for the echo, checks it byte for byte and
//! sends the next. It reports to this process as lines on its stdout (`OPEN`, `PROGRESS`,
//! `RESULT`); this process shows them as a progress line and ends with a report.
//!
//! Reading the report:
//! - **the header** names the server's runtime and the I/O driver it runs, as its metrics say
//!   (`Handle::metrics().io_driver()`; the first progress line says it too): epoll unless
//!   `TETHER_IO_DRIVER` asks for io_uring (`io_uring` or `auto`), and with `auto` on a kernel
//!   that refuses io_uring, epoll with the reason. The client's runtime follows the same
//!   variable.
//! - **connections**: how many completed the `hello` handshake, and how many gave up after
//!   their retries. The server's own count of accepted connections is shown beside it.
//! - **throughput**: checked round trips per second during the echo phase, over all
//!   connections. Client and server share this machine's cores, so it measures the pair.
//! - **latency**: one round trip as the client sees it (send, echo back), p50/p99/p99.9, from
//!   a log-linear histogram (within 3%). In a closed loop with one message in flight per
//!   connection, latency is about connections ÷ throughput: it measures queueing across
//!   10,000 connections, not the cost of one echo.
//! - **server memory**: resident memory of the server process after all connections were
//!   opened minus before, divided by the connections: the task and the runtime's bookkeeping
//!   of an idle connection. Kernel socket buffers are not in it. A connection holds no read
//!   buffer while it waits: it waits with `readable()` and borrows a 16 KiB buffer
//!   ([`tether_demo::buf_pool`]) only from its `try_read` until the echo is written. About
//!   1.6 KiB per connection on epoll, under 2 KiB on io_uring (the stream's completion state);
//!   a part of it is the bookkeeping that lets the server report, on shutdown, which
//!   connections it cut off.
//! - **server CPU**: user + system time of the server process during the echo phase, as a
//!   percentage of one core and per request. The process also runs this progress display,
//!   which costs little.
//!
//! Ctrl-C stops the run like it stops the `echo` binary: this process listens for it before the
//! server starts. The measurements stop; the server stops accepting, asks every connection to
//! finish (through its scope's cancellation) and waits up to a 2 s grace period, while the client
//! still runs; then the client is stopped (it may have had the Ctrl-C too, being in the same
//! foreground process group; if it is still running it is killed) and reaped. Instead of the
//! report, the demo prints "interrupted by Ctrl-C after N s" with what was measured until then,
//! then the server's shutdown summary (connections open at the signal, closed cleanly, cut off),
//! and exits with status 0.
//!
//! **Soak mode** (`--soak SECS`, [`tether_demo::soak`]): the echo phase lasts SECS seconds, and
//! meanwhile a thread samples this process (the server) once a second: resident memory, open
//! descriptors, threads, CPU as a percentage of one core, and the client's round trips per
//! second. Every sample goes to a CSV file (`--csv PATH`, default `c10k-soak.csv`); after the
//! report, a summary gives the start, middle and end of each figure, its drift per minute and
//! its range, so a leak or a creeping cost shows as a slope.
//!
//! The run is bounded: the connect phase gives up after 30 s, each round trip after 5 s, and
//! the child is killed (and always reaped) if it outlives the run by a generous margin. When
//! the run is over, the server's connections get the same 2 s grace period to close.
//!
//! The program's parts: `main.rs` (this file: the command line), `run.rs` (the parent: the
//! server, and driving the client process through its events), `child.rs` (the client process,
//! always reaped), `client.rs` (the `--client` side and the lines it reports with) and
//! `report.rs` (what the parent measured, and the report it prints).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod child;
mod client;
mod report;
mod run;

const DEFAULT_CONNS: u64 = 10_000;
const DEFAULT_SECS: u64 = 10;
/// Where the soak mode writes its samples by default.
const SOAK_CSV: &str = "c10k-soak.csv";
/// Descriptors kept free beside the connections (stdio, epoll, eventfd, listener, pipes...).
pub(crate) const HEADROOM: u64 = 100;
/// Bytes per echoed message.
pub(crate) const MESSAGE_SIZE: usize = 64;

const USAGE: &str = "\
usage: cargo run --release -p tether-demo -- [--conns N] [--secs S | --soak S [--csv PATH]]
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
pub(crate) const SLOW_POLL: Duration = Duration::from_millis(50);

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
        }) => run::demo(conns, secs, current_thread, soak),
        Ok(Mode::Client {
            addr,
            conns,
            secs,
            size,
        }) => client::run(addr, conns, secs, size),
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
