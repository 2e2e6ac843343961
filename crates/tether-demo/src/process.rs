//! What the C10k demo reads and sets about processes, through `libc` and Linux's `/proc`: the
//! open-files limit, the local port range, resident memory, CPU time, descriptors and threads.
//!
//! The demo's parent (the server), its client process and the soak sampler all measure through
//! these functions, so every figure in a report is read the same way.

use std::io;
use std::time::Duration;

/// Raises this process's open-files soft limit to the hard limit; returns the limit now in
/// force. If the raise is refused, says so on stderr and returns the old soft limit.
///
/// # Errors
///
/// The error of `getrlimit` if the limit cannot be read.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass by reference and has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut target = lim.rlim_max;
    if target == libc::RLIM_INFINITY {
        // An unlimited hard limit still stops at the kernel's per-process maximum.
        target = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if lim.rlim_cur >= target {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: target,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass by reference and has no other effect on memory.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        eprintln!(
            "c10k: could not raise the open-files limit from {} to {target}: {}",
            lim.rlim_cur,
            io::Error::last_os_error()
        );
        return Ok(lim.rlim_cur);
    }
    Ok(target)
}

/// How many local ports connections to one address can use (from
/// `/proc/sys/net/ipv4/ip_local_port_range`); `None` if it cannot be read.
pub fn local_port_count() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    Some(hi.checked_sub(lo)? + 1)
}

/// Resident memory of process `pid` (`"self"` for this one), in bytes (`/proc/PID/statm`,
/// second field, in pages).
///
/// # Errors
///
/// Reading the file fails (no such process), or it does not have the expected format.
pub fn rss_bytes(pid: &str) -> io::Result<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected /proc/{pid}/statm format")))?;
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page).unwrap_or(4096))
}

/// Whose CPU time [`cpu_time`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuOf {
    /// This process (`RUSAGE_SELF`).
    ThisProcess,
    /// This process's children that have been reaped (`RUSAGE_CHILDREN`). The figure keeps
    /// what came before this program: `cargo run` execs it in cargo's own process, whose
    /// reaped children (the compiler runs) it inherits, so measure a child as a difference.
    ReapedChildren,
}

/// User + system CPU time of this process or of its reaped children; zero if it cannot be
/// read.
pub fn cpu_time(of: CpuOf) -> Duration {
    let who = match of {
        CpuOf::ThisProcess => libc::RUSAGE_SELF,
        CpuOf::ReapedChildren => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct we pass by reference and has no other effect.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Open descriptors of this process (the one `read_dir` itself uses is not counted); `None` if
/// `/proc/self/fd` cannot be read.
pub fn fd_count() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

/// Threads of this process (`/proc/self/stat`, field 20); `None` if it cannot be read.
pub fn threads() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After `(comm)`, field 3 (`state`) is index 0, so field 20 is index 17.
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(17)?
        .parse()
        .ok()
}
