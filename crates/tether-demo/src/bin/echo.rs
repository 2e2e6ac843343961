//! The handshake echo server ([`tether_demo::echo_server`]), on tether, with a graceful shutdown
//! on Ctrl-C.
//!
//! ```text
//! cargo run --release -p tether-demo --bin echo                  # on 127.0.0.1:5566
//! cargo run --release -p tether-demo --bin echo -- [ADDR] [--grace-ms MS]
//!                                                  [--handshake-timeout-ms MS] [--multi-thread]
//! printf 'hello\nsome bytes\n' | nc 127.0.0.1 5566
//! ```
//!
//! A client must first send the line `hello`; the server answers `hello` and then echoes every
//! byte. Any other first line, a first line over 64 bytes, or none within the handshake
//! timeout (default 10 s) closes the connection. Connects and disconnects are logged, with the
//! error that ended a connection. The server runs on tether's current-thread runtime, or with
//! `--multi-thread` on the multi-thread one (a worker per core).
//!
//! Ctrl-C (`SIGINT`) stops the server: it stops accepting, asks every connection to finish (each
//! one completes the echo it is writing, then closes), waits up to the grace period, drops what
//! is left, prints a summary of what was cut off and exits with status 0. The first line printed
//! contains the bound address (`listening on ADDR`), so `127.0.0.1:0` is usable by scripts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tether::signal::unix::{signal, SignalKind};
use tether_demo::echo_server;

const USAGE: &str = "usage: cargo run --release -p tether-demo --bin echo -- [ADDR] [--grace-ms MS]
                                                        [--handshake-timeout-ms MS] [--multi-thread]

  ADDR                     address to listen on (default 127.0.0.1:5566; port 0 picks a free port)
  --grace-ms MS            how long connections may take to finish after Ctrl-C (default 2000)
  --handshake-timeout-ms MS
                           how long a client has to send `hello` (default 10000)
  --multi-thread           run on the multi-thread runtime (default: current-thread)";

const DEFAULT_GRACE: Duration = Duration::from_millis(2000);

/// What the command line asks for.
struct Args {
    addr: String,
    opts: echo_server::ServeOptions,
    multi_thread: bool,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(v)) => v,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("echo: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = if args.multi_thread {
        tether::runtime::Builder::new_multi_thread()
    } else {
        tether::runtime::Builder::new_current_thread()
    };
    match builder.build() {
        Ok(rt) => rt.block_on(serve(args)),
        Err(e) => {
            eprintln!("echo: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> ExitCode {
    let Args {
        addr,
        opts,
        multi_thread,
    } = args;
    // Listen for Ctrl-C before announcing the address: from here on a Ctrl-C is never lost, and
    // it no longer kills the process (we exit by ourselves). The listener is attached to the
    // runtime now (unlike `ctrl_c()`, which attaches when first polled), so the server holds
    // every descriptor it keeps at rest before it announces itself.
    let mut ctrl_c = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo: cannot listen for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tether::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let flavor = if multi_thread {
        "multi-thread"
    } else {
        "current-thread"
    };
    match listener.local_addr() {
        Ok(local) => println!(
            "echo server listening on {local} (say `hello` first, within {:?}); {flavor} \
             runtime; Ctrl-C to stop (grace period {:?})",
            opts.handshake_timeout, opts.grace
        ),
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    }
    let shutdown = async move {
        match ctrl_c.recv().await {
            Some(()) => println!("Ctrl-C received"),
            // Only when the runtime shuts down, which happens after this future.
            None => std::future::pending::<()>().await,
        }
    };
    let stats = Arc::new(echo_server::Stats::default());
    let summary = echo_server::serve_until(listener, stats, shutdown, opts).await;
    println!("{summary}");
    ExitCode::SUCCESS
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut addr = None;
    let mut opts = echo_server::ServeOptions {
        log: true,
        ..echo_server::ServeOptions::new(DEFAULT_GRACE)
    };
    let mut multi_thread = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut millis = |name: &str| -> Result<Duration, String> {
            let v = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))?;
            let ms: u64 = v
                .parse()
                .map_err(|_| format!("{name} needs a whole number of ms, not {v:?}"))?;
            Ok(Duration::from_millis(ms))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--grace-ms" => opts.grace = millis("--grace-ms")?,
            "--handshake-timeout-ms" => {
                opts.handshake_timeout = millis("--handshake-timeout-ms")?;
            }
            "--multi-thread" if inline.is_none() => multi_thread = true,
            _ if flag.starts_with('-') => return Err(format!("unknown argument {arg:?}")),
            _ if addr.is_none() => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some(Args {
        addr: addr.unwrap_or_else(|| "127.0.0.1:5566".to_string()),
        opts,
        multi_thread,
    }))
}
