//! Measuring helpers: memory and CPU time from `/proc` and `getrusage`, a deterministic RNG,
//! unit conversions, quantiles. (The perf counters are in `perf_counter.rs`.)

use std::fs;
use std::time::Duration;

/// The page size, from the `AT_PAGESZ` entry of `/proc/self/auxv` (4096 if that fails).
fn page_size() -> u64 {
    const AT_PAGESZ: usize = 6;
    const WORD: usize = std::mem::size_of::<usize>();
    if let Ok(auxv) = fs::read("/proc/self/auxv") {
        for pair in auxv.chunks_exact(2 * WORD) {
            let key = usize::from_ne_bytes(pair[..WORD].try_into().expect("word"));
            let value = usize::from_ne_bytes(pair[WORD..].try_into().expect("word"));
            if key == AT_PAGESZ && value > 0 {
                return value as u64;
            }
        }
    }
    4096
}

/// The resident set size of this process in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let statm =
        fs::read_to_string("/proc/self/statm").expect("tether-bench: read /proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("tether-bench: parse /proc/self/statm");
    resident * page_size()
}

/// The peak resident set size of this process (`VmHWM` of `/proc/self/status`) in MB (10^6 bytes).
pub fn peak_rss_mb() -> f64 {
    let status =
        fs::read_to_string("/proc/self/status").expect("tether-bench: read /proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("tether-bench: parse VmHWM in /proc/self/status");
    kb as f64 * 1024.0 / 1e6
}

/// Nanoseconds per item.
pub fn ns_per(took: Duration, items: usize) -> f64 {
    took.as_nanos() as f64 / items as f64
}

/// xorshift64: small, fast, and the same sequence on every runtime for a given seed.
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A duration uniformly distributed in `[0, max]`, at microsecond granularity.
    pub fn duration_upto(&mut self, max: Duration) -> Duration {
        let max_us = max.as_micros() as u64;
        Duration::from_micros(self.next_u64() % (max_us + 1))
    }
}

/// Raises this process's open-files soft limit (`RLIMIT_NOFILE`) to its hard limit and returns
/// the soft limit now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through the pointer, which points at a live,
    // properly aligned local of that type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `setrlimit` only reads the `rlimit` behind the pointer, a live local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
    }
    // `rlim_t` is `u64` here but narrower on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Ok(lim.rlim_cur as u64)
}

/// The number of ports in the local (ephemeral) port range, from
/// `/proc/sys/net/ipv4/ip_local_port_range`; every connection to one server address needs its
/// own.
pub fn local_port_count() -> Option<u64> {
    let range = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = range.split_whitespace().map(|f| f.parse::<u64>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    Some(hi.saturating_sub(lo) + 1)
}

/// User plus system CPU time of this whole process (every thread, alive or exited), from
/// `getrusage(RUSAGE_SELF)`.
pub fn process_cpu_time() -> Duration {
    // SAFETY: `rusage` is plain old data (integers and `timeval`s), for which all-zero bytes
    // are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `getrusage` writes one `rusage` through the pointer, which points at a live,
    // properly aligned local of that type.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "tether-bench: getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The id of the calling thread, from the `/proc/thread-self` link (`PID/task/TID`).
pub fn thread_id() -> u64 {
    let link = fs::read_link("/proc/thread-self").expect("tether-bench: read /proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("tether-bench: parse /proc/thread-self")
}

/// The voluntary context switches of every thread of this process except `skip`: the sum of
/// `voluntary_ctxt_switches` over `/proc/self/task/*/status`. (`/proc/self/status` alone
/// holds the main thread's count only, so it would miss the worker threads.)
pub fn voluntary_ctxt_switches_except(skip: u64) -> u64 {
    let mut total = 0;
    let tasks = fs::read_dir("/proc/self/task").expect("tether-bench: read /proc/self/task");
    for task in tasks.flatten() {
        let tid: Option<u64> = task.file_name().to_str().and_then(|n| n.parse().ok());
        if tid == Some(skip) {
            continue;
        }
        // A thread may exit between the listing and the read; it then counts as 0.
        let Ok(status) = fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// The value at quantile `q` (0..=1) of sorted `values` (nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The options of the cost modes (`--compat-cost`, `--console-cost`, `--file-reads`):
/// `--quick` and `--runs N`. `Err` carries the exit code after printing the usage (for
/// `--help`) or what was wrong.
pub fn quick_and_runs(
    args: &[String],
    usage: &str,
) -> Result<(bool, Option<usize>), std::process::ExitCode> {
    use std::process::ExitCode;
    let mut quick = false;
    let mut runs = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--runs" => match it.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n > 0 => runs = Some(n),
                _ => {
                    eprintln!("tether-bench: --runs takes a positive number\n{usage}");
                    return Err(ExitCode::from(2));
                }
            },
            "--help" | "-h" => {
                println!("{usage}");
                return Err(ExitCode::SUCCESS);
            }
            other => {
                eprintln!("tether-bench: unknown argument {other:?}\n{usage}");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok((quick, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_switches_of_other_threads_are_counted() {
        let me = thread_id();
        let before = voluntary_ctxt_switches_except(me);
        let sleeper = std::thread::spawn(|| {
            for _ in 0..20 {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // Counted while the sleeper is alive.
        std::thread::sleep(Duration::from_millis(15));
        let during = voluntary_ctxt_switches_except(me);
        sleeper.join().unwrap();
        assert!(during >= before + 5, "before {before}, during {during}");
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.5), 7);
    }
}
