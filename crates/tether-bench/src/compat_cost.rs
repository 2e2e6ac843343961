//! `--compat-cost`: what `tether::compat::Compat` costs (feature `tokio-compat`).
//!
//! Two figures, each on tether's current-thread runtime and its multi-thread runtime with 2
//! workers, each the median of `--runs` rounds (default 5) taken in this one process:
//!
//! - **per poll**: a future that wakes itself and returns `Pending` `POLLS` times, awaited bare
//!   and wrapped in `Compat`; the difference per poll is the cost of entering (and leaving) the
//!   background tokio runtime's context.
//! - **round trip**: 64-byte messages echoed by a tether server over loopback TCP, one at a time,
//!   `ROUND_TRIPS` times, from a client on a tether `TcpStream` and from one on a tokio
//!   `TcpStream` polled through `Compat` (whose readiness comes from the background runtime's
//!   reactor thread, which wakes the tether task).
//!
//! The report is a markdown table: figure, flavor, bare tether, through `Compat`, ratio.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tether::compat::CompatExt;
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};

use crate::report::{date_utc, median};

pub const USAGE: &str = "usage: tether-bench --compat-cost [--quick] [--runs N]";

const POLLS: u32 = 2_000_000;
const ROUND_TRIPS: u32 = 20_000;
const MESSAGE: usize = 64;

/// Returns `Pending` (after waking itself) `left` times, then `Ready`.
struct SelfWaking {
    left: u32,
}

impl Future for SelfWaking {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn runtime(multi_thread: bool) -> tether::runtime::Runtime {
    let mut b = if multi_thread {
        let mut b = tether::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tether::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .expect("tether-bench: a tether runtime")
}

/// ns per poll of `SelfWaking`, bare or through `Compat`.
fn per_poll(multi_thread: bool, compat: bool, polls: u32) -> f64 {
    let rt = runtime(multi_thread);
    rt.block_on(async move {
        let task = tether::spawn(async move {
            let started = Instant::now();
            if compat {
                SelfWaking { left: polls }.compat().await;
            } else {
                SelfWaking { left: polls }.await;
            }
            started.elapsed()
        });
        task.await.unwrap().as_nanos() as f64 / f64::from(polls + 1)
    })
}

/// µs per 64-byte round trip to a tether echo server, from a tether or a tokio client.
fn round_trip(multi_thread: bool, compat: bool, trips: u32) -> f64 {
    let rt = runtime(multi_thread);
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tether::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            conn.set_nodelay(true).unwrap();
            let mut buf = [0u8; MESSAGE];
            while conn.read_exact(&mut buf).await.is_ok() {
                conn.write_all(&buf).await.unwrap();
            }
        });
        let client = tether::spawn(async move {
            let msg = [7u8; MESSAGE];
            let mut buf = [0u8; MESSAGE];
            if compat {
                async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
                    conn.set_nodelay(true).unwrap();
                    let started = Instant::now();
                    for _ in 0..trips {
                        conn.write_all(&msg).await.unwrap();
                        conn.read_exact(&mut buf).await.unwrap();
                    }
                    started.elapsed()
                }
                .compat()
                .await
            } else {
                let mut conn = TcpStream::connect(addr).await.unwrap();
                conn.set_nodelay(true).unwrap();
                let started = Instant::now();
                for _ in 0..trips {
                    conn.write_all(&msg).await.unwrap();
                    conn.read_exact(&mut buf).await.unwrap();
                }
                started.elapsed()
            }
        });
        let elapsed: Duration = client.await.unwrap();
        server.await.unwrap();
        elapsed.as_nanos() as f64 / 1000.0 / f64::from(trips)
    })
}

/// The parent side: `--compat-cost [--quick] [--runs N]`.
pub fn main(args: &[String]) -> ExitCode {
    let (quick, runs) = match crate::measure::quick_and_runs(args, USAGE) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let runs = runs.unwrap_or(if quick { 1 } else { 5 });
    let (polls, trips) = if quick {
        (POLLS / 100, ROUND_TRIPS / 100)
    } else {
        (POLLS, ROUND_TRIPS)
    };
    let mut md = String::new();
    let _ = writeln!(md, "# tether::compat cost, {}", date_utc());
    let _ = writeln!(
        md,
        "\n`cargo run --release -p tether-bench -- --compat-cost {}` ({runs} rounds, medians; \
         {polls} polls, {trips} round trips of {MESSAGE} bytes)\n",
        args.join(" ")
    );
    let _ = writeln!(
        md,
        "| figure | flavor | tether | through `Compat` | ratio |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for multi_thread in [false, true] {
        let flavor = if multi_thread {
            "multi-thread (2 workers)"
        } else {
            "current-thread"
        };
        let (mut bare, mut wrapped) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            bare.push(per_poll(multi_thread, false, polls));
            wrapped.push(per_poll(multi_thread, true, polls));
        }
        let (b, w) = (median(bare).unwrap(), median(wrapped).unwrap());
        let _ = writeln!(
            md,
            "| ns per poll (difference: {:.1} ns) | {flavor} | {b:.1} | {w:.1} | {:.2}× |",
            w - b,
            w / b
        );
        eprintln!("compat-cost: per poll, {flavor}: done");
        let (mut bare, mut wrapped) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            bare.push(round_trip(multi_thread, false, trips));
            wrapped.push(round_trip(multi_thread, true, trips));
        }
        let (b, w) = (median(bare).unwrap(), median(wrapped).unwrap());
        let _ = writeln!(
            md,
            "| µs per round trip | {flavor} | {b:.2} | {w:.2} | {:.2}× |",
            w / b
        );
        eprintln!("compat-cost: round trip, {flavor}: done");
    }
    print!("{md}");
    ExitCode::SUCCESS
}
