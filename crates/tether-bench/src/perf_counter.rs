//! Counters of the kernel's perf events (`perf_event_open`), the numbers `perf stat` reads:
//!
//! - [`PerfCounter::instructions`]: the CPU's user-space instruction counter
//!   (`instructions:u`), for the instructions per task of `spawn_many` and `scope_spawn`;
//! - [`PerfCounter::syscalls`]: the tracepoint `raw_syscalls:sys_enter`, which fires once per
//!   system call, for the system calls per request of the echo suites.
//!
//! Both count the thread that opens them and every thread started after it, directly or not
//! (`inherit`): open one before the runtime starts its threads and it counts the whole
//! measurement. Reading one sums the opening thread's count, the live inherited threads' and
//! the exited ones'. Each is `Err` with the reason where the kernel or the machine offers no
//! such counter; the figures then read `n/a` and the report's header says why.

use std::io;

/// One open perf event counter; closed on drop.
pub struct PerfCounter {
    fd: libc::c_int,
}

/// The first 64 bytes of the kernel's `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0`), all a
/// plain counter needs.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

/// `perf_event_attr.type`: a hardware event.
const PERF_TYPE_HARDWARE: u32 = 0;
/// `perf_event_attr.type`: a tracepoint; `config` is its id under `events/` in tracefs.
const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `perf_event_attr.config` of [`PERF_TYPE_HARDWARE`]: retired instructions.
const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1;
/// Flag bits of `perf_event_attr` (the bitfield after `read_format`).
const INHERIT: u64 = 1 << 1;
const EXCLUDE_KERNEL: u64 = 1 << 5;
const EXCLUDE_HV: u64 = 1 << 6;
/// With [`INHERIT`]: only threads inherit the counter, not child processes (Linux 5.13).
const INHERIT_THREAD: u64 = 1 << 35;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// Where tracefs shows the id of `raw_syscalls:sys_enter` (mounted on its own, or under
/// debugfs).
const SYS_ENTER_ID: [&str; 2] = [
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
];

impl PerfCounter {
    /// The instructions this process executes in user space (what `perf stat -e
    /// instructions:u` reads), over this thread and every thread it starts from now on. `Err`
    /// where the machine has no such counter (a virtual machine without a virtual PMU, a
    /// `perf_event_paranoid` above 2).
    pub fn instructions() -> io::Result<PerfCounter> {
        let counter = PerfCounter::open(&PerfEventAttr {
            kind: PERF_TYPE_HARDWARE,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: PERF_COUNT_HW_INSTRUCTIONS,
            flags: INHERIT | EXCLUDE_KERNEL | EXCLUDE_HV,
            ..PerfEventAttr::default()
        })?;
        // Some virtual machines open the event but never count: treat that as no counter.
        if counter.read() == 0 {
            let mut x = 0u64;
            for i in 0..1000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            if counter.read() == 0 {
                return Err(io::Error::other("the counter opened but counts nothing"));
            }
        }
        Ok(counter)
    }

    /// The system calls this thread and every thread it starts from now on make (what `perf
    /// stat -e raw_syscalls:sys_enter` reads): the tracepoint `raw_syscalls:sys_enter`. Child
    /// processes are not counted (`inherit_thread`), so a load generator this process starts
    /// stays out of the count. `Err` where tracefs is not mounted or readable, the kernel is
    /// older than 5.13 (no `inherit_thread`), or `perf_event_paranoid` forbids counting kernel
    /// events (above 1 without `CAP_PERFMON`).
    pub fn syscalls() -> io::Result<PerfCounter> {
        let id = SYS_ENTER_ID
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
            .ok_or_else(|| {
                io::Error::other(format!(
                    "cannot read the id of the tracepoint raw_syscalls:sys_enter from {} (is \
                     tracefs mounted and readable?)",
                    SYS_ENTER_ID[0]
                ))
            })?;
        let id: u64 = id.trim().parse().map_err(|e| {
            io::Error::other(format!("the id of raw_syscalls:sys_enter, {id:?}: {e}"))
        })?;
        // Not `EXCLUDE_KERNEL`: the tracepoint fires in the kernel, on entry to each call.
        let counter = PerfCounter::open(&PerfEventAttr {
            kind: PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: id,
            flags: INHERIT | INHERIT_THREAD | EXCLUDE_HV,
            ..PerfEventAttr::default()
        })
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) => {
                io::Error::other(format!("{e} (inherit_thread needs Linux 5.13 or later)"))
            }
            Some(libc::EACCES | libc::EPERM) => io::Error::other(format!(
                "{e} (counting a kernel tracepoint needs kernel.perf_event_paranoid <= 1 or \
                 CAP_PERFMON)"
            )),
            _ => e,
        })?;
        let before = counter.read();
        // SAFETY: `getppid` takes no arguments and touches no memory of ours.
        unsafe { libc::getppid() };
        if counter.read() == before {
            return Err(io::Error::other("the counter opened but counts nothing"));
        }
        Ok(counter)
    }

    /// Opens and starts a counter on the calling thread (and, with `inherit`, its future
    /// threads), on any CPU.
    fn open(attr: &PerfEventAttr) -> io::Result<PerfCounter> {
        // SAFETY: `attr` points at a valid `perf_event_attr` of the size it states; pid 0 and
        // cpu -1 count the calling thread on any CPU; group fd -1: a counter of its own.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr as *const PerfEventAttr,
                0 as libc::pid_t,
                -1 as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PerfCounter {
            fd: fd as libc::c_int,
        })
    }

    /// The count so far: the opening thread's and every inherited thread's, live or exited.
    /// 0 if the read fails.
    pub fn read(&self) -> u64 {
        let mut value = 0u64;
        // SAFETY: reads at most 8 bytes into `value`, a live local of 8 bytes, from our own
        // open counter.
        let n = unsafe {
            libc::read(
                self.fd,
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n == 8 {
            value
        } else {
            0
        }
    }
}

impl Drop for PerfCounter {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Instructions per item of `f`'s work: the count over `f` (a whole measurement: building the
/// runtime, the workload, dropping the runtime, which joins its workers), divided by `items`;
/// NaN (`n/a`) when the machine has no counter ([`PerfCounter::instructions`]).
pub fn instructions_per<R>(items: usize, f: impl FnOnce() -> R) -> (R, f64) {
    match PerfCounter::instructions() {
        Ok(counter) => {
            let before = counter.read();
            let r = f();
            let after = counter.read();
            (r, after.saturating_sub(before) as f64 / items as f64)
        }
        Err(_) => (f(), f64::NAN),
    }
}

/// Why the report's instruction counts are `n/a`, or `None` when the counter works here.
pub fn instruction_counter_missing() -> Option<String> {
    PerfCounter::instructions().err().map(|e| e.to_string())
}

/// Why the report's system-call counts are `n/a`, or `None` when the counter works here.
pub fn syscall_counter_missing() -> Option<String> {
    PerfCounter::syscalls().err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n/a` here is not a failure: the machine may lack the counter. Says why on stderr.
    fn syscall_counter() -> Option<PerfCounter> {
        match PerfCounter::syscalls() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("no system-call counter here ({e}); the test checks nothing");
                None
            }
        }
    }

    /// `getppid` calls, each one system call that the C library does not cache.
    fn getppid_calls(n: u64) {
        for _ in 0..n {
            // SAFETY: `getppid` takes no arguments and touches no memory of ours.
            unsafe { libc::getppid() };
        }
    }

    #[test]
    fn syscalls_of_this_thread_are_counted() {
        let Some(counter) = syscall_counter() else {
            return;
        };
        let before = counter.read();
        getppid_calls(1000);
        let counted = counter.read() - before;
        // The two reads are system calls too.
        assert!((1000..1010).contains(&counted), "counted {counted}");
    }

    #[test]
    fn syscalls_of_live_threads_started_later_are_counted() {
        let Some(counter) = syscall_counter() else {
            return;
        };
        let before = counter.read();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            getppid_calls(5000);
            done_tx.send(()).unwrap();
            // Alive while the counter is read.
            let _ = exit_rx.recv();
        });
        done_rx.recv().unwrap();
        let counted = counter.read() - before;
        drop(exit_tx);
        thread.join().unwrap();
        assert!((5000..5500).contains(&counted), "counted {counted}");
    }

    #[test]
    fn syscalls_of_child_processes_are_not_counted() {
        let Some(counter) = syscall_counter() else {
            return;
        };
        // `dd` makes two system calls per block: 40,000 in all.
        let before = counter.read();
        let status = std::process::Command::new("dd")
            .args(["if=/dev/zero", "of=/dev/null", "bs=1", "count=20000"])
            .stderr(std::process::Stdio::null())
            .status();
        let counted = counter.read() - before;
        match status {
            Ok(s) if s.success() => assert!(counted < 5000, "counted {counted}"),
            other => eprintln!("dd did not run ({other:?}); the test checks nothing"),
        }
    }
}
