//! Where the `timers` suite's "wall − 1 s" goes: the same million sleeps (durations uniform in
//! [0, 1 s] from the suite's seed), with the phases timed from the first spawn.
//!
//! ```text
//! cargo run --release -p tether-bench --example timer_phases [RUNTIME] [N] [ROUNDS]
//! ```
//!
//! `RUNTIME`: `tether`, `tether-mt`, `tokio`, `tokio-mt` or `smol` (one thread; smol's
//! executor threads are the suite's business); `N`: the sleep count (default 1,000,000);
//! `ROUNDS`: how many times to run them, one round after the other in the same process
//! (default 1). A later round spawns into a heap the first one has already faulted in, if
//! the allocator keeps it: with glibc, run with
//! `GLIBC_TUNABLES=glibc.malloc.trim_threshold=4294967295` so that it does not give the
//! freed top of the heap back to the kernel.
//! Prints, in milliseconds from the first spawn: when the spawning loop ended, when the last
//! task was first polled (its sleep starts then, so no runtime can finish before that plus its
//! duration), the latest a sleep returned past its duration (firing lag), and the wall time
//! beyond 1 s. Each task stores two atomics the suite's tasks do not, which a measurement of
//! phases can afford.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Microseconds from the start to the latest first poll.
static LAST_FIRST_POLL: AtomicU64 = AtomicU64::new(0);
/// The most microseconds a sleep returned past its duration.
static MAX_LAG: AtomicU64 = AtomicU64::new(0);

/// The suite's durations (its xorshift64 and seed).
fn durations(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_nanos(x % 1_000_000_000)
        })
        .collect()
}

/// One task's body: note the first poll, sleep with `sleep`, note the lag.
async fn task<S: Future>(start: Instant, d: Duration, sleep: impl FnOnce(Duration) -> S) {
    let since = Instant::now();
    LAST_FIRST_POLL.fetch_max(since.duration_since(start).as_micros() as u64, Relaxed);
    sleep(d).await;
    let lag = since.elapsed().saturating_sub(d);
    MAX_LAG.fetch_max(lag.as_micros() as u64, Relaxed);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = args.get(1).map_or("tether", String::as_str);
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    for round in 1..=rounds {
        LAST_FIRST_POLL.store(0, Relaxed);
        MAX_LAG.store(0, Relaxed);
        let (spawned, total) = run(runtime, durations(n));
        let ms = |us: u64| us as f64 / 1e3;
        println!(
            "{runtime} round {round}: {n} sleeps; spawning ended at {:.0} ms, last first poll at \
             {:.0} ms, largest lag {:.0} ms, wall - 1 s {:.0} ms",
            spawned.as_secs_f64() * 1e3,
            ms(LAST_FIRST_POLL.load(Relaxed)),
            ms(MAX_LAG.load(Relaxed)),
            (total.as_secs_f64() - 1.0) * 1e3,
        );
    }
}

/// One round on a fresh runtime: when the spawning loop ended, and when the last task was joined.
fn run(runtime: &str, ds: Vec<Duration>) -> (Duration, Duration) {
    match runtime {
        "tether" | "tether-mt" => {
            let rt = if runtime == "tether-mt" {
                tether::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
            } else {
                tether::runtime::Builder::new_current_thread().build()
            }
            .expect("runtime");
            rt.block_on(async move {
                let start = Instant::now();
                let handles: Vec<_> = ds
                    .into_iter()
                    .map(|d| tether::spawn(task(start, d, tether::time::sleep)))
                    .collect();
                let spawned = start.elapsed();
                for h in handles {
                    h.await.expect("task");
                }
                (spawned, start.elapsed())
            })
        }
        "tokio" | "tokio-mt" => {
            let rt = if runtime == "tokio-mt" {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            }
            .expect("runtime");
            rt.block_on(async move {
                let start = Instant::now();
                let handles: Vec<_> = ds
                    .into_iter()
                    .map(|d| tokio::spawn(task(start, d, tokio::time::sleep)))
                    .collect();
                let spawned = start.elapsed();
                for h in handles {
                    h.await.expect("task");
                }
                (spawned, start.elapsed())
            })
        }
        "smol" => {
            let ex = smol::LocalExecutor::new();
            smol::block_on(ex.run(async {
                let start = Instant::now();
                let handles: Vec<_> = ds
                    .into_iter()
                    .map(|d| ex.spawn(task(start, d, smol::Timer::after)))
                    .collect();
                let spawned = start.elapsed();
                for h in handles {
                    h.await;
                }
                (spawned, start.elapsed())
            }))
        }
        other => panic!("unknown runtime {other:?}: tether, tether-mt, tokio, tokio-mt or smol"),
    }
}
