//! What `/proc` says about another process (a server under test): its descriptors, resident
//! memory and CPU time. Linux only, like the runtime.

#![allow(dead_code)] // not every test that includes this module needs all of it

use std::time::Duration;

/// A process, read through `/proc/<pid>`. Every reading panics if the process is gone: the
/// tests read their own running child.
pub struct ProcStats {
    pid: u32,
}

impl ProcStats {
    pub fn new(pid: u32) -> ProcStats {
        ProcStats { pid }
    }

    /// The targets of the process's descriptors (`socket:[123]`, `pipe:[45]`,
    /// `anon_inode:[eventpoll]`, `/dev/null`, ...), sorted.
    pub fn fds(&self) -> Vec<String> {
        let dir = format!("/proc/{}/fd", self.pid);
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .filter_map(|e| {
                // A descriptor closed between the listing and the readlink is skipped.
                let target = std::fs::read_link(e.ok()?.path()).ok()?;
                Some(target.to_string_lossy().into_owned())
            })
            .collect();
        out.sort();
        out
    }

    /// The descriptors a leak check compares: all but files under `/proc`, which a runtime may
    /// open for its own diagnostics (the watchdog reads threads' scheduler statistics there)
    /// whenever it likes.
    pub fn owned_fds(&self) -> Vec<String> {
        let mut fds = self.fds();
        fds.retain(|t| !t.starts_with("/proc/"));
        fds
    }

    /// How many sockets the process holds.
    pub fn sockets(&self) -> usize {
        self.fds()
            .iter()
            .filter(|t| t.starts_with("socket:"))
            .count()
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...), in KiB.
    pub fn status_kib(&self, key: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {path}"))
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// The highest resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM")
    }

    /// Whether the process looks built with AddressSanitizer (or another sanitizer with shadow
    /// memory): its address space is over 1 TiB (ASan reserves about 20 TiB of shadow). Such a
    /// process keeps freed memory resident for a while (ASan's quarantine), so its resident
    /// memory says little about leaks.
    pub fn has_shadow_memory(&self) -> bool {
        self.status_kib("VmSize") > 1 << 30
    }

    /// User + system CPU time of the whole process (every thread) so far.
    pub fn cpu(&self) -> Duration {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        // `pid (comm) state ppid ...`; `comm` may hold spaces and parentheses. After it, field 3
        // (`state`) is index 0, so `utime` (14) and `stime` (15) are 11 and 12.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 1..]
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100);
        Duration::from_nanos(ticks * 1_000_000_000 / hz)
    }
}
