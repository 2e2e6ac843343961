//! The io_uring reactor (Linux): one ring per runtime, readiness through multishot
//! `IORING_OP_POLL_ADD`, the driver's sleep an `io_uring_enter` with a timeout.
//!
//! Readiness rather than completions at this layer: every registered source (sockets, pipes, the
//! signal socket, a child's pidfd) keeps its `mio::event::Source`-style retry loop of
//! `PollEvented` (ready, try the system call, `WouldBlock`, wait) and works unchanged on this
//! driver. A multishot poll posts a completion at each wake-up of the file's wait queue (edge
//! triggered, as `EPOLLET`), so the events are those epoll would deliver. What io_uring saves
//! here: registrations and re-arms made on the driver's thread ride on the next `io_uring_enter`
//! (batched per turn), and a turn that may not wait reads the completion queue from shared
//! memory without any system call.
//!
//! Rules (the driver's rules in `driver.rs` hold as well; these are the ring's own):
//! 1. One ring per runtime, shared by the `IoHandle` (any thread pushes submissions) and the
//!    `Driver` (only the thread turning it reads completions: the driver is turned by one thread
//!    at a time, the scheduler's invariant).
//! 2. Pushes to the submission queue are serialised by `Ring::sq`; the kernel is the only
//!    consumer. So is every other use of a view of the queue (`submission_shared`), even one
//!    that only reads: a view writes the tail back when dropped, and one taken without the lock
//!    erased the entries pushed while it lived (found by the fault suite: a registration whose
//!    poll never armed). Any thread may call `io_uring_enter` to submit what is queued: the kernel
//!    serialises submitters and consumes entries in queue order.
//! 3. A registration with a descriptor has one multishot poll armed, its `user_data` the
//!    registration's token. A completion without `IORING_CQE_F_MORE` ends that poll; dispatch
//!    re-arms it, under the registrations lock, if and only if the registration is still live.
//!    Deregistration removes the registration and pushes `ASYNC_CANCEL` for its token under the
//!    same lock. Lock order: registrations, then `sq`. So in queue order a token's every re-arm
//!    precedes its removal, and no poll outlives its registration.
//! 4. A submission pushed by the thread that drives a current-thread runtime is submitted by that
//!    thread's next turn (it must turn before it sleeps): registrations batch into one
//!    `io_uring_enter`. One pushed by a multi-thread runtime's worker is submitted at that
//!    worker's next scheduling point (its local queue drained, or every `event_interval`
//!    ticks: `IoHandle::flush_submissions`), so a worker's burst of tasks shares one
//!    `io_uring_enter` too; the cost is that a task that runs long delays the submissions of
//!    the tasks before it on that worker. Any other thread submits at once (one
//!    `io_uring_enter`, as epoll's `epoll_ctl`): the driver may be asleep on another thread. A removal is submitted at once on
//!    every thread: an armed poll holds a reference to the file, so the descriptor the caller
//!    closes next would stay open (a peer would see no EOF) until the removal runs.
//! 5. The waker is an eventfd with its own multishot poll (`WAKE_DATA`). It is never read: each
//!    write wakes the poll (edge triggered) whatever the counter holds.
//! 6. A poll the kernel cancelled (`-ECANCELED`: the thread that armed it exited, or the ring
//!    was overloaded) is re-armed like any ended poll (rule 3). A poll that failed otherwise
//!    marks its registration ready in every direction, so waiters retry their system call and
//!    see the error; it is not re-armed.
//! 7. A re-arm that cannot be queued (the submission queue full even after submitting) waits in
//!    the driver's backlog for its next turn, which retries it if the registration still lives.
//!
//! Completion operations (`uring_op.rs`, its own rules there) share the ring: their
//! `user_data` carries a tag bit no token or `WAKE_DATA`/`REMOVE_DATA` has, their submissions
//! follow rules 2 and 4, and their completions are dispatched by the same turn. Their opcodes and
//! `IORING_FEAT_RW_CUR_POS` are probed with the rest (`OPS_VERDICT`); a kernel without them keeps
//! this driver, with the operations' callers on the readiness path or the blocking pool.
//!
//! A limit of rule 4 at shutdown: the kernel ends a cancelled poll on the thread that armed it.
//! When that thread has exited (a multi-thread runtime's worker, joined before the tasks are
//! dropped), the kernel ends the poll, and then drops its file, from deferred work items of its
//! own, a few milliseconds later. So a few of the sockets a multi-thread runtime drops at
//! shutdown close a moment after `Runtime`'s drop returns (measured: 0-3 of 1,000), where epoll
//! closes every one before. Waiting for the polls' last completions does not close that gap (the
//! kernel's final file release is deferred as well), so the driver does not wait.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use mio::Token;

use crate::io::uring_op::{cancel_entry, OpTable};
use crate::io::uring_stream::BufRing;

// std's lock, not the loom shim's: the other party of this protocol is the kernel, which no
// loom model can play.
use std::sync::Mutex;

/// The `user_data` of the waker's poll (never a registration's token: tokens leave the top bit
/// clear, the driver's rule 1).
pub(crate) const WAKE_DATA: u64 = u64::MAX;
/// The `user_data` of the cancellations of polls, whose completions carry nothing needed.
pub(crate) const REMOVE_DATA: u64 = u64::MAX - 1;

/// Submission queue entries. Registrations and re-arms of one turn share it; a full queue is
/// submitted and reused (rule 7).
const SQ_ENTRIES: u32 = 256;
/// Completion queue entries: one turn's events. More wait in the kernel (`IORING_FEAT_NODROP`)
/// for the next turn.
const CQ_ENTRIES: u32 = 4096;

/// A ring and what serialises its submitters (rules 1, 2).
pub(crate) struct Ring {
    ring: IoUring,
    /// Held while pushing to the submission queue (rule 2).
    sq: Mutex<()>,
    /// The eventfd the driver's waker writes (rule 5).
    wake_fd: OwnedFd,
    /// The completion operations in flight and their resources (`uring_op.rs`).
    pub(crate) ops: Mutex<OpTable>,
    /// The provided buffers of streams' multishot receives (`uring_stream.rs`); `None` where
    /// the kernel lacks them or streams are refused: streams then take the readiness path.
    /// Declared after `ring`, so it is unmapped after the ring is closed.
    pub(crate) bufs: Option<BufRing>,
}

/// Set by `tether::__private::refuse_io_uring_streams`, or when the kernel refuses a multishot
/// receive (Linux before 6.0): streams stay on the readiness path.
static STREAMS_REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes rings created from now on give streams no buffer ring (`refuse` true), as a kernel
/// without provided-buffer rings would, so streams keep the readiness path; or stops that.
/// Process-wide; for tests.
pub fn refuse_io_uring_streams(refuse: bool) {
    STREAMS_REFUSED.store(refuse, std::sync::atomic::Ordering::SeqCst);
}

/// Whether streams may use completion mode (`uring_stream.rs` rule 1).
pub(crate) fn streams_usable() -> bool {
    !STREAMS_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The kernel refused a multishot receive: no stream uses completion mode from now on.
pub(crate) fn refuse_streams_for_good() {
    STREAMS_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Set by `tether::__private::refuse_io_uring`: the probe answers this reason instead of
/// asking the kernel (for tests of the fallback).
static REFUSAL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The verdict on what this kernel supports (opcodes, features, multishot poll), found by the
/// first ring of the process. Failures to create a ring are not cached: they can be transient.
static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();

/// Whether this kernel runs the completion operations of `uring_op.rs` (the opcodes of
/// [`OP_CODES`] and reads at the file position): decided with `VERDICT`. A kernel that lacks
/// one keeps the readiness driver, and files and owned buffers take the blocking pool or the
/// readiness path instead.
static OPS_VERDICT: OnceLock<Result<(), String>> = OnceLock::new();

/// Set by `tether::__private::refuse_io_uring_ops`; read by every operation, so an atomic
/// rather than a lock.
static OPS_REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The opcodes the completion operations use.
const OP_CODES: [(u8, &str); 6] = [
    (opcode::Read::CODE, "IORING_OP_READ"),
    (opcode::Write::CODE, "IORING_OP_WRITE"),
    (opcode::Recv::CODE, "IORING_OP_RECV"),
    (opcode::Send::CODE, "IORING_OP_SEND"),
    (opcode::OpenAt::CODE, "IORING_OP_OPENAT"),
    (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
];

/// Makes every later probe refuse io_uring with `reason` (or stop refusing, with `None`), as a
/// kernel without io_uring, or a seccomp profile that blocks it, would. Process-wide; for tests.
pub fn refuse_io_uring(reason: Option<&str>) {
    *REFUSAL.lock().unwrap_or_else(|e| e.into_inner()) = reason.map(str::to_owned);
}

/// Makes the io_uring driver refuse its completion operations (`Some(reason)`: the reason is
/// the caller's, such as a missing opcode's name), as a kernel that lacks one of their opcodes
/// would, or use them again (`None`): files then take the blocking pool and owned buffers the
/// readiness path. Process-wide; for tests.
pub fn refuse_io_uring_ops(reason: Option<&str>) {
    OPS_REFUSED.store(reason.is_some(), std::sync::atomic::Ordering::SeqCst);
}

/// Whether completion operations may be used (`OPS_VERDICT`, `OPS_REFUSED`); takes no lock.
pub(crate) fn ops_usable() -> bool {
    !OPS_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
        && matches!(OPS_VERDICT.get(), Some(Ok(())))
}

/// The poll mask of a registration's interest (the bits mio asks epoll for).
pub(crate) fn poll_mask(interest: mio::Interest) -> u32 {
    let mut m = 0;
    if interest.is_readable() {
        m |= (libc::POLLIN | libc::POLLRDHUP) as u16 as u32;
    }
    if interest.is_writable() {
        m |= libc::POLLOUT as u16 as u32;
    }
    if interest.is_priority() {
        m |= libc::POLLPRI as u16 as u32;
    }
    m
}

fn poll_entry(fd: RawFd, mask: u32, data: u64) -> squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), mask)
        .multi(true)
        .build()
        .user_data(data)
}

/// The removal of the poll whose `user_data` is `token` (rule 3): `ASYNC_CANCEL`, not
/// `POLL_REMOVE`, which fails with `EALREADY` and leaves a multishot poll armed while that poll's
/// completion is being posted (a poll armed on a ready socket and removed in the same submission
/// does that); a cancellation marks the poll and its pending completion ends it.
pub(crate) fn remove_entry(token: Token) -> squeue::Entry {
    opcode::AsyncCancel::new(token.0 as u64)
        .build()
        .user_data(REMOVE_DATA)
}

/// The multishot poll of registration `token` on `fd` (rule 3).
pub(crate) fn arm_entry(fd: RawFd, mask: u32, token: Token) -> squeue::Entry {
    poll_entry(fd, mask, token.0 as u64)
}

impl Ring {
    /// Creates a ring with its waker, after checking (once per process) that the kernel has what
    /// this driver uses. `Err` holds the reason io_uring cannot be used, for the fallback.
    pub(crate) fn open() -> Result<Ring, String> {
        Ring::open_sized(SQ_ENTRIES, CQ_ENTRIES)
    }

    pub(crate) fn open_sized(sq_entries: u32, cq_entries: u32) -> Result<Ring, String> {
        if let Some(reason) = REFUSAL.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(reason);
        }
        if cfg!(miri) {
            return Err(
                "io_uring is not available under Miri (its system calls are not emulated)".into(),
            );
        }
        if let Some(Err(reason)) = VERDICT.get() {
            return Err(reason.clone());
        }
        let ring = IoUring::builder()
            .setup_cqsize(cq_entries)
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(sq_entries)
            .map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::ENOSYS) => " (the kernel has no io_uring)",
                    Some(libc::EPERM) => {
                        " (blocked: a seccomp profile, or the sysctl kernel.io_uring_disabled)"
                    }
                    _ => "",
                };
                format!("io_uring_setup failed: {e}{hint}")
            })?;
        // SAFETY: `eventfd` has no memory-safety preconditions; its result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(format!(
                "eventfd for the io_uring waker failed: {}",
                io::Error::last_os_error()
            ));
        }
        // SAFETY: `efd` is a new descriptor that nothing else owns.
        let wake_fd = unsafe { OwnedFd::from_raw_fd(efd) };
        // Provided buffers (Linux 5.19), for streams (`uring_stream.rs` rule 1); without them
        // streams take the readiness path.
        let bufs = match streams_usable() {
            true => BufRing::register(&ring).ok(),
            false => None,
        };
        let ring = Ring {
            ring,
            sq: Mutex::new(()),
            wake_fd,
            ops: Mutex::new(OpTable::new()),
            bufs,
        };
        match VERDICT.get() {
            Some(_) => ring
                .arm_waker()
                .map_err(|e| format!("arming the waker failed: {e}"))?,
            None => {
                let verdict = ring.check_kernel();
                let verdict = VERDICT.get_or_init(|| verdict).clone();
                verdict?;
            }
        }
        Ok(ring)
    }

    /// The once-per-process checks: the features and opcodes used, and that a multishot poll
    /// stays armed after a completion (Linux 5.13). Leaves the waker armed.
    fn check_kernel(&self) -> Result<(), String> {
        let p = self.ring.params();
        if !p.is_feature_ext_arg() {
            return Err(
                "io_uring lacks IORING_FEAT_EXT_ARG (a wait with a timeout; Linux 5.11)".into(),
            );
        }
        if !p.is_feature_nodrop() {
            return Err("io_uring lacks IORING_FEAT_NODROP (Linux 5.5)".into());
        }
        let mut probe = io_uring::Probe::new();
        self.ring
            .submitter()
            .register_probe(&mut probe)
            .map_err(|e| format!("io_uring probe failed: {e} (Linux 5.6 or later needed)"))?;
        for (code, name) in [
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
            (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
        ] {
            if !probe.is_supported(code) {
                return Err(format!("io_uring does not support {name}"));
            }
        }
        let ops = OP_CODES
            .iter()
            .find(|(code, _)| !probe.is_supported(*code))
            .map(|(_, name)| Err(format!("io_uring does not support {name}")))
            .unwrap_or(Ok(()))
            .and_then(|()| match p.is_feature_rw_cur_pos() {
                true => Ok(()),
                false => Err("io_uring lacks IORING_FEAT_RW_CUR_POS (Linux 5.6)".into()),
            });
        let _ = OPS_VERDICT.set(ops);
        self.arm_waker()
            .map_err(|e| format!("arming the waker failed: {e}"))?;
        // One wake through the waker's poll: the completion must say the poll stays armed.
        self.wake();
        let ts = types::Timespec::from(Duration::from_secs(5));
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) => return Err(format!("io_uring_enter failed: {e}")),
        }
        // SAFETY: no driver exists yet for this ring: this thread is its only reader (rule 1).
        let cq = unsafe { self.ring.completion_shared() };
        let mut seen = None;
        for cqe in cq {
            if cqe.user_data() == WAKE_DATA {
                seen = Some((cqe.result(), cqe.flags()));
            }
        }
        // Reset the counter the test wake left (the poll does not depend on it: rule 5).
        let mut buf = 0u64;
        // SAFETY: reads 8 bytes into `buf`, which is 8 bytes long.
        unsafe { libc::read(self.wake_fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
        match seen {
            Some((res, flags)) if res > 0 && cqueue::more(flags) => Ok(()),
            Some((res, _)) if res < 0 => Err(format!(
                "io_uring multishot poll refused: {} (Linux 5.13 or later needed)",
                io::Error::from_raw_os_error(-res)
            )),
            Some(_) => Err(
                "io_uring multishot poll ended after one completion (Linux 5.13 or later needed)"
                    .into(),
            ),
            None => {
                Err("io_uring multishot poll posted no completion for a written eventfd".into())
            }
        }
    }

    /// Arms (or re-arms) the waker's multishot poll (rule 5).
    fn arm_waker(&self) -> io::Result<()> {
        let mask = libc::POLLIN as u16 as u32;
        self.push(&poll_entry(self.wake_fd.as_raw_fd(), mask, WAKE_DATA))?;
        self.submit()
    }

    /// Queues `entry`, submitting what is queued first if the queue is full (rules 2, 7).
    /// `entry` points at no memory (a poll, a cancellation).
    pub(crate) fn push(&self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the entries pushed here (poll add, cancellations) point at no memory.
        unsafe { self.push_op(entry) }
    }

    /// Queues `entry` as `push` does.
    ///
    /// # Safety
    ///
    /// The memory `entry` points at stays valid until its completion is dispatched: the
    /// operation table owns it (`uring_op.rs` rule 2).
    pub(crate) unsafe fn push_op(&self, entry: &squeue::Entry) -> io::Result<()> {
        let _sq = self.sq.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..3 {
            // SAFETY: the submission queue is pushed only under `sq` (rule 2), so this is its only
            // producer now.
            let mut sq = unsafe { self.ring.submission_shared() };
            // SAFETY: the caller keeps the memory the entry points at valid until its completion.
            if unsafe { sq.push(entry) }.is_ok() {
                return Ok(());
            }
            drop(sq);
            match self.ring.submitter().submit() {
                Ok(_) => {}
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "tether: the io_uring submission queue stays full",
        ))
    }

    /// Submits what is queued, now (rule 4).
    pub(crate) fn submit(&self) -> io::Result<()> {
        match self.ring.submitter().submit() {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Wakes the driver if it waits in `io_uring_enter` (rule 5).
    pub(crate) fn wake(&self) {
        let one = 1u64;
        loop {
            // SAFETY: writes the 8 bytes of `one`.
            let n =
                unsafe { libc::write(self.wake_fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
            if n == 8 {
                return;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {
                    // The counter is full (after 2^64 - 2 wakes): reset it and write again.
                    let mut buf = 0u64;
                    // SAFETY: reads 8 bytes into `buf`, which is 8 bytes long.
                    unsafe {
                        libc::read(self.wake_fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8)
                    };
                }
                _ => {
                    debug_assert!(false, "tether: failed to wake the io_uring reactor: {e}");
                    return;
                }
            }
        }
    }

    /// Whether a turn that may not wait must still enter the kernel: entries are queued, or
    /// completions wait in the kernel's overflow list.
    fn needs_enter(&self) -> bool {
        // Under `sq` (rule 2), though it only reads: the queue's view writes its tail back when
        // dropped, and a view taken without the lock would write back a tail from before a
        // concurrent push, erasing that entry (a registration whose poll never arms).
        let _sq = self.sq.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `sq` is held, so this view is the queue's only user-side producer (rule 2);
        // it pushes nothing, and the tail its drop stores is the one it read.
        let sq = unsafe { self.ring.submission_shared() };
        !sq.is_empty() || sq.cq_overflow() || sq.taskrun()
    }
}

impl Drop for Ring {
    /// `uring_op.rs` rule 5: operations still in the table are cancelled and reaped before the
    /// ring's memory and their resources go.
    fn drop(&mut self) {
        let ring = &self.ring;
        let sq = &self.sq;
        let leaked = crate::io::uring_op::drain_at_drop(
            &self.ops,
            crate::io::uring_op::REAP_DEADLINE,
            |data| {
                let _sq = sq.lock().unwrap_or_else(|e| e.into_inner());
                for _ in 0..3 {
                    // SAFETY: `sq` is held (rule 2); a cancellation points at no memory.
                    if unsafe { ring.submission_shared().push(&cancel_entry(data)) }.is_ok() {
                        return Ok(());
                    }
                    let _ = ring.submitter().submit();
                }
                Err(io::ErrorKind::WouldBlock.into())
            },
            |wait| {
                let ts = types::Timespec::from(wait);
                let args = types::SubmitArgs::new().timespec(&ts);
                let _ = ring.submitter().submit_with_args(1, &args);
                // SAFETY: the ring is being dropped: this thread is its only user (rule 1).
                let cq = unsafe { ring.completion_shared() };
                cq.map(|c| (c.user_data(), c.result(), c.flags())).collect()
            },
        );
        if leaked > 0 {
            // A receive may still write into the buffers: they are leaked with the operations.
            std::mem::forget(self.bufs.take());
        }
    }
}

/// Errors after which entries stay queued for a later `io_uring_enter`.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ETIME)
    )
}

/// The driver's half: waits on the ring and takes its completions (rule 1).
pub(crate) struct Completions {
    pub(crate) ring: std::sync::Arc<Ring>,
    /// The completions of the current turn: `(user_data, result, flags)`.
    pub(crate) batch: Vec<(u64, i32, u32)>,
    /// Re-arms that could not be queued (rule 7).
    pub(crate) backlog: Vec<Token>,
    /// The completions of handled operations in the current turn (`uring_op.rs` rule 8),
    /// kept to reuse the allocation.
    #[allow(clippy::type_complexity)]
    pub(crate) handled: Vec<(
        std::sync::Arc<dyn crate::io::uring_op::Completion>,
        u8,
        i32,
        u32,
        bool,
    )>,
    /// Whether the waker's poll must be re-armed.
    waker_ended: bool,
}

impl Completions {
    pub(crate) fn new(ring: std::sync::Arc<Ring>) -> Completions {
        Completions {
            ring,
            batch: Vec::with_capacity(256),
            backlog: Vec::new(),
            handled: Vec::new(),
            waker_ended: false,
        }
    }

    /// Submits what is queued, waits up to `timeout` (forever if `None`) for a completion, and
    /// takes every completion into `batch`.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) {
        self.batch.clear();
        if self.waker_ended {
            // Queued here, submitted by the enter below.
            let mask = libc::POLLIN as u16 as u32;
            let entry = poll_entry(self.ring.wake_fd.as_raw_fd(), mask, WAKE_DATA);
            self.waker_ended = self.ring.push(&entry).is_err();
        }
        let sub = self.ring.ring.submitter();
        let res = match timeout {
            Some(Duration::ZERO) if self.ring.needs_enter() => sub.submit(),
            Some(Duration::ZERO) => Ok(0),
            Some(d) => {
                let ts = types::Timespec::from(d);
                sub.submit_with_args(1, &types::SubmitArgs::new().timespec(&ts))
            }
            None => sub.submit_and_wait(1),
        };
        match res {
            Ok(_) => {}
            Err(e) if is_transient(&e) => {}
            Err(e) => panic!("tether: the reactor failed to wait for events (io_uring_enter): {e}"),
        }
        // SAFETY: only the thread turning the driver reads the completion queue (rule 1), and
        // `&mut self` is that turn.
        let cq = unsafe { self.ring.ring.completion_shared() };
        for cqe in cq {
            if cqe.user_data() == WAKE_DATA {
                if !cqueue::more(cqe.flags()) {
                    self.waker_ended = true;
                }
                continue;
            }
            if cqe.user_data() == REMOVE_DATA {
                continue;
            }
            self.batch
                .push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
    }
}
