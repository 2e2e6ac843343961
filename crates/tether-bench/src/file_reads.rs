//! `--file-reads`: 4 KiB reads at random offsets of a 64 MiB file in the page cache, in
//! operations per second, with `CONCURRENCY` reads in flight:
//!
//! - **tether, io_uring**: `File::read_at_owned` on the io_uring driver: one `IORING_OP_READ`
//!   per read, no thread involved;
//! - **tether, blocking pool**: the same calls on the epoll driver, where each read is one
//!   `pread` on the blocking pool;
//! - **tokio**: `spawn_blocking` of one `pread` per read, which is what `tokio::fs` does for
//!   every file operation (its `File` has no positioned read, and reads sequentially).
//!
//! Each on a current-thread runtime and on a multi-thread one with 2 workers; each figure the
//! median of `--runs` rounds (default 5) taken in this one process, the three setups run in turn
//! within a round. `TETHER_IO_DRIVER` must be unset: it would override the drivers asked for.
//! The report is a markdown table with the ratio io_uring / blocking pool (the target
//! is at least 2×).

use std::fmt::Write as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tether::runtime::IoDriver;

use crate::report::{date_utc, median};

pub const USAGE: &str = "usage: tether-bench --file-reads [--quick] [--runs N]";

const FILE_SIZE: u64 = 64 << 20;
const READ_SIZE: usize = 4096;
const CONCURRENCY: u64 = 32;
const READS: u64 = 256_000;

/// A xorshift generator: the offsets, the same sequence for every setup.
fn offsets(seed: u64, n: u64) -> impl Iterator<Item = u64> {
    let mut x = seed | 1;
    (0..n).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % (FILE_SIZE / READ_SIZE as u64)) * READ_SIZE as u64
    })
}

fn tether_rt(multi_thread: bool, driver: IoDriver) -> tether::runtime::Runtime {
    let mut b = if multi_thread {
        let mut b = tether::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tether::runtime::Builder::new_current_thread()
    };
    b.io_driver(driver)
        .enable_all()
        .build()
        .expect("tether-bench: a tether runtime with the driver asked for")
}

/// Reads per second through `File::read_at_owned` on `driver`.
fn tether_reads(path: &Path, multi_thread: bool, driver: IoDriver, reads: u64) -> f64 {
    let rt = tether_rt(multi_thread, driver);
    let path = path.to_owned();
    rt.block_on(async move {
        let file = Arc::new(tether::fs::File::open(&path).await.unwrap());
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|t| {
                let file = file.clone();
                tether::spawn(async move {
                    let mut buf = vec![0u8; READ_SIZE];
                    for pos in offsets(t + 1, reads / CONCURRENCY) {
                        let (n, back) = file.read_at_owned(buf, pos).await;
                        assert_eq!(n.unwrap(), READ_SIZE);
                        buf = back;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        reads as f64 / started.elapsed().as_secs_f64()
    })
}

/// Reads per second through tokio's blocking pool, one `pread` per `spawn_blocking`.
fn tokio_reads(path: &Path, multi_thread: bool, reads: u64) -> f64 {
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .unwrap();
    let file = Arc::new(std::fs::File::open(path).unwrap());
    rt.block_on(async move {
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|t| {
                let file = file.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; READ_SIZE];
                    for pos in offsets(t + 1, reads / CONCURRENCY) {
                        let f = file.clone();
                        let (n, back) = tokio::task::spawn_blocking(move || {
                            let n = f.read_at(&mut buf, pos);
                            (n, buf)
                        })
                        .await
                        .unwrap();
                        assert_eq!(n.unwrap(), READ_SIZE);
                        buf = back;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        reads as f64 / started.elapsed().as_secs_f64()
    })
}

/// The parent side: `--file-reads [--quick] [--runs N]`.
pub fn main(args: &[String]) -> ExitCode {
    let (quick, runs) = match crate::measure::quick_and_runs(args, USAGE) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    if let Err(e) = crate::runtimes::refuse_io_driver_env("--file-reads") {
        eprintln!("tether-bench: {e}");
        return ExitCode::from(2);
    }
    let runs = runs.unwrap_or(if quick { 1 } else { 5 });
    let reads = if quick { READS / 16 } else { READS };
    let path = std::env::temp_dir().join(format!("tether-bench-file-reads-{}", std::process::id()));
    {
        let chunk = vec![0x5au8; 1 << 20];
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        for i in 0..FILE_SIZE >> 20 {
            f.write_all_at(&chunk, i << 20).unwrap();
        }
        // Into the page cache.
        let mut buf = vec![0u8; 1 << 20];
        for i in 0..FILE_SIZE >> 20 {
            f.read_exact_at(&mut buf, i << 20).unwrap();
        }
    }
    let mut md = String::new();
    let _ = writeln!(md, "# Random 4 KiB file reads, {}", date_utc());
    let _ = writeln!(
        md,
        "\n`cargo run --release -p tether-bench -- --file-reads {}` ({runs} rounds, medians; \
         {reads} reads of {READ_SIZE} bytes at random offsets of a {} MiB file in the page \
         cache, {CONCURRENCY} in flight)\n",
        args.join(" "),
        FILE_SIZE >> 20
    );
    let _ = writeln!(
        md,
        "| flavor | tether io_uring (reads/s) | tether blocking pool | tokio (blocking pool) | io_uring / pool | io_uring / tokio |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for multi_thread in [false, true] {
        let flavor = if multi_thread {
            "multi-thread (2 workers)"
        } else {
            "current-thread"
        };
        let (mut uring, mut pool, mut tokio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            uring.push(tether_reads(&path, multi_thread, IoDriver::IoUring, reads));
            pool.push(tether_reads(&path, multi_thread, IoDriver::Epoll, reads));
            tokio.push(tokio_reads(&path, multi_thread, reads));
        }
        let (u, p, t) = (
            median(uring).unwrap(),
            median(pool).unwrap(),
            median(tokio).unwrap(),
        );
        let _ = writeln!(
            md,
            "| {flavor} | {u:.0} | {p:.0} | {t:.0} | {:.2}× | {:.2}× |",
            u / p,
            u / t
        );
        eprintln!("file-reads: {flavor}: done");
    }
    let _ = std::fs::remove_file(&path);
    print!("{md}");
    ExitCode::SUCCESS
}
