//! Measuring helpers: memory from `/proc`, a deterministic RNG, unit conversions.

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
