//! The handshake echo server of seed 002, on tether, with a graceful shutdown on Ctrl-C.
//!
//! ```text
//! cargo run --release --example echo [ADDR] [--grace-ms MS]    # default 127.0.0.1:5566, 2000 ms
//! printf 'hello\nsome bytes\n' | nc 127.0.0.1 5566
//! ```
//!
//! A client must first send the line `hello`; the server answers `hello` and then echoes every
//! byte. Any other first line closes the connection. Connects and disconnects are logged.
//!
//! Ctrl-C (`SIGINT`) stops the server: it stops accepting, asks every connection to finish (each
//! one completes the echo it is writing, then closes), waits up to the grace period, drops what
//! is left, prints a summary of what was cut off and exits with status 0. The first line printed
//! contains the bound address (`listening on ADDR`), so `127.0.0.1:0` is usable by scripts.

#[path = "support/handshake_echo.rs"]
mod handshake_echo;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: echo [ADDR] [--grace-ms MS]

  ADDR           address to listen on (default 127.0.0.1:5566; port 0 picks a free port)
  --grace-ms MS  how long connections may take to finish after Ctrl-C (default 2000)";

const DEFAULT_GRACE: Duration = Duration::from_millis(2000);

#[tether::main]
async fn main() -> ExitCode {
    let (addr, grace) = match parse_args(std::env::args().skip(1)) {
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
    // Listen for Ctrl-C before announcing the address: from here on a Ctrl-C is never lost, and
    // it no longer kills the process (we exit by ourselves).
    let ctrl_c = tether::signal::ctrl_c();
    let listener = match tether::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!(
            "echo server listening on {local} (say `hello` first); Ctrl-C to stop (grace period \
             {grace:?})"
        ),
        Err(e) => {
            eprintln!("echo: {e}");
            return ExitCode::FAILURE;
        }
    }
    let shutdown = async move {
        match ctrl_c.await {
            Ok(()) => println!("Ctrl-C received"),
            Err(e) => {
                eprintln!("echo: cannot listen for Ctrl-C ({e}); serving until killed");
                std::future::pending::<()>().await;
            }
        }
    };
    let stats = Arc::new(handshake_echo::Stats::default());
    let summary = handshake_echo::serve_until(listener, stats, true, shutdown, grace).await;
    println!("{summary}");
    ExitCode::SUCCESS
}

/// `Ok(None)` for `--help`.
fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<Option<(String, Duration)>, String> {
    let mut addr = None;
    let mut grace = DEFAULT_GRACE;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--grace-ms" => {
                let v = inline
                    .or_else(|| args.next())
                    .ok_or("--grace-ms needs a value")?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("--grace-ms needs a whole number of ms, not {v:?}"))?;
                grace = Duration::from_millis(ms);
            }
            _ if flag.starts_with('-') => return Err(format!("unknown argument {arg:?}")),
            _ if addr.is_none() => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Some((
        addr.unwrap_or_else(|| "127.0.0.1:5566".to_string()),
        grace,
    )))
}
