//! What the parent of the C10k demo measured, and how it says so: the final report (connections,
//! throughput, latency, the server's memory and CPU per connection and per request, the client's
//! CPU), the shorter account printed instead when Ctrl-C stopped the run, and the soak summary.
//! Also the number formatting they share ([`thousands`], [`micros`]).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use tether_demo::process::{cpu_time, CpuOf};
use tether_demo::{echo_server, soak};

use crate::client::field;
use crate::run::Run;
use crate::MESSAGE_SIZE;

/// When the run was interrupted: the instant, the time since the run started, and the server
/// process's CPU time then.
pub(crate) struct Stopped {
    /// When Ctrl-C was seen.
    pub(crate) at: Instant,
    /// How long the run had lasted.
    pub(crate) run: Duration,
    /// The server process's CPU time (user + system) then.
    pub(crate) cpu: Duration,
}

impl Stopped {
    /// The run was stopped now; it started at `started`.
    pub(crate) fn now(started: Instant) -> Stopped {
        Stopped {
            at: Instant::now(),
            run: started.elapsed(),
            cpu: cpu_time(CpuOf::ThisProcess),
        }
    }
}

/// The client's last `PROGRESS` line, and when it came.
#[derive(Default)]
pub(crate) struct SoFar {
    /// Connections open.
    pub(crate) open: u64,
    /// Connections that gave up.
    pub(crate) failed: u64,
    /// Checked round trips since the echo phase began.
    pub(crate) requests: u64,
    /// When the line came; `None` before the first one.
    pub(crate) at: Option<Instant>,
}

/// The client's `RESULT` line, and what the parent measured around it.
pub(crate) struct Measured {
    /// The `RESULT` line's `key=value` pairs; empty until it comes.
    pub(crate) result: String,
    /// What the parent measured at the client's `OPEN` line, once it came.
    pub(crate) opened: Option<Opened>,
    /// The server process's CPU time over the echo phase.
    pub(crate) cpu_echo: Duration,
    /// The echo phase's length, from `OPEN` to `RESULT`.
    pub(crate) wall_echo: Duration,
}

/// The parent's measurements when the client said every connection was open.
pub(crate) struct Opened {
    /// Connections the client had open.
    pub(crate) established: u64,
    /// The server process's resident memory then, in bytes.
    pub(crate) rss_after: u64,
    /// The server process's CPU time then.
    pub(crate) cpu: Duration,
    /// When the `OPEN` line came: the echo phase begins.
    pub(crate) at: Instant,
}

impl Run {
    /// Prints the soak's summary, in soak mode (nothing otherwise).
    pub(crate) fn report_soak(
        &self,
        soaked: Option<(Vec<soak::Sample>, PathBuf, Option<io::Error>)>,
    ) {
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
    pub(crate) fn report_interrupted(
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
             requested, server on tether's {}, {}):",
            at.run.as_secs_f64(),
            thousands(self.conns),
            self.flavor,
            self.driver
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
    pub(crate) fn report(
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
            "c10k report: {} connections requested, server on tether's {}, {}",
            thousands(self.conns),
            self.flavor,
            self.driver
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

/// `12345678` as `12,345,678`.
pub(crate) fn thousands(n: u64) -> String {
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
