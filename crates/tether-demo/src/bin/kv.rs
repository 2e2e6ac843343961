//! The Redis-protocol key-value server ([`tether_demo::kv`]), with a graceful shutdown on Ctrl-C.
//!
//! ```text
//! cargo run --release -p tether-demo --bin kv                    # on 127.0.0.1:6380
//! cargo run --release -p tether-demo --bin kv -- [ADDR] [--current-thread] [--workers N]
//!                     [--max-bulk BYTES] [--max-query BYTES] [--pubsub-limit BYTES]
//!                     [--max-clients N] [--shards N] [--grace-ms MS] [--log]
//! redis-cli -p 6380 SET greeting hello
//! redis-benchmark -p 6380 -t set,get -q
//! ```
//!
//! It runs on tether's multi-thread runtime (a worker per core), or with `--current-thread` on
//! one thread. When the load generator runs on the same small machine (as
//! `scripts/kv_vs_redis.sh` does on 2 cores), fewer workers than cores can serve more: each
//! extra worker that parks and is woken again costs context switches the client would have
//! used (`--workers 1` measured about three times fewer per request than two workers). The
//! first line printed contains the bound address (`listening on ADDR`), so `127.0.0.1:0` is
//! usable by scripts and tests.
//!
//! Ctrl-C (`SIGINT`) or `SIGTERM` stops the server: it stops accepting, asks every connection
//! to finish (each one completes the write in flight, then closes), waits up to the grace
//! period, drops what is left, prints a summary of what was cut off and exits with status 0.

use std::process::ExitCode;
use std::time::Duration;

use tether::signal::unix::{signal, SignalKind};
use tether_demo::kv::{Config, Kv};

const USAGE: &str = "usage: cargo run --release -p tether-demo --bin kv -- [ADDR] [options]

  ADDR                   address to listen on (default 127.0.0.1:6380; port 0 picks a free port)
  --current-thread       run on the current-thread runtime (default: multi-thread)
  --workers N            worker threads of the multi-thread runtime (default: one per core)
  --max-bulk BYTES       longest argument a client may send (default 536870912, 512 MiB)
  --max-query BYTES      most bytes one command may take in the read buffer (default 1 GiB,
                         at least 16384)
  --pubsub-limit BYTES   most bytes of messages waiting for one subscriber before it is
                         disconnected (default 33554432, 32 MiB)
  --max-clients N        connections served at once; more wait in the backlog (default 10000)
  --shards N             shards of the keyspace, each behind its own lock (default 64)
  --grace-ms MS          how long connections may take to finish after Ctrl-C (default 2000)
  --log                  print a line for every connect and disconnect";

/// What the command line asks for.
struct Args {
    addr: String,
    config: Config,
    current_thread: bool,
    workers: Option<usize>,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(v)) => v,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("kv: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = if args.current_thread {
        tether::runtime::Builder::new_current_thread()
    } else {
        let mut b = tether::runtime::Builder::new_multi_thread();
        if let Some(n) = args.workers {
            b.worker_threads(n);
        }
        b
    };
    match builder.build() {
        Ok(rt) => rt.block_on(serve(args)),
        Err(e) => {
            eprintln!("kv: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> ExitCode {
    // Listen for the signals before announcing the address: from here on a Ctrl-C is never
    // lost, and it no longer kills the process (we exit by ourselves).
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("kv: cannot listen for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tether::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("kv: {e}");
            return ExitCode::FAILURE;
        }
    };
    let flavor = if args.current_thread {
        "current-thread runtime".to_string()
    } else {
        match args.workers {
            Some(n) => format!("multi-thread runtime, {n} workers"),
            None => "multi-thread runtime".to_string(),
        }
    };
    let driver = tether::runtime::Handle::current().metrics().io_driver();
    match listener.local_addr() {
        Ok(local) => println!(
            "kv server listening on {local}; {flavor}, {driver} driver; Ctrl-C to stop \
             (grace period {:?})",
            args.config.grace
        ),
        Err(e) => {
            eprintln!("kv: {e}");
            return ExitCode::FAILURE;
        }
    }
    let shutdown = async move {
        let which = tether::select! {
            got = interrupt.recv() => got.map(|()| "Ctrl-C"),
            got = terminate.recv() => got.map(|()| "SIGTERM"),
        };
        match which {
            Some(name) => println!("{name} received"),
            // Only when the runtime shuts down, which happens after this future.
            None => std::future::pending::<()>().await,
        }
    };
    let kv = Kv::new(args.config);
    let summary = kv.serve_until(listener, shutdown).await;
    println!("{summary}");
    ExitCode::SUCCESS
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut addr = None;
    let mut config = Config::default();
    let mut current_thread = false;
    let mut workers = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut number = |name: &str| -> Result<u64, String> {
            let v = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name} needs a whole number, not {v:?}"))
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--current-thread" if inline.is_none() => current_thread = true,
            "--multi-thread" if inline.is_none() => current_thread = false,
            "--log" if inline.is_none() => config.log = true,
            "--workers" => match number("--workers")? {
                0 => return Err("--workers needs at least 1".to_string()),
                n => workers = Some(size(n)),
            },
            "--max-bulk" => config.limits.resp.max_bulk = size(number("--max-bulk")?),
            "--max-query" => match number("--max-query")? {
                n if n < 16 * 1024 => {
                    return Err(format!(
                        "--max-query must be at least 16384 (the read buffer's size), not {n}"
                    ))
                }
                n => config.limits.max_query = size(n),
            },
            "--pubsub-limit" => config.limits.pubsub_outbox = size(number("--pubsub-limit")?),
            "--max-clients" => match number("--max-clients")? {
                0 => return Err("--max-clients needs at least 1".to_string()),
                n => config.max_clients = size(n),
            },
            "--shards" => match number("--shards")? {
                0 => return Err("--shards needs at least 1".to_string()),
                n => config.shards = size(n),
            },
            "--grace-ms" => config.grace = Duration::from_millis(number("--grace-ms")?),
            _ if flag.starts_with('-') => return Err(format!("unknown argument {arg:?}")),
            _ if addr.is_none() => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some(Args {
        addr: addr.unwrap_or_else(|| "127.0.0.1:6380".to_string()),
        config,
        current_thread,
        workers,
    }))
}
