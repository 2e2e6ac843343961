//! Streams on the io_uring driver (Linux): a multishot receive into the ring's provided
//! buffers, and write-behind sends, under the unchanged `AsyncRead`/`AsyncWrite` of `TcpStream`
//! and `UnixStream`.
//!
//! On the readiness path a request costs a wake-up, a `recv` and a `send`, each a system call.
//! Here a stream's first read arms one `IORING_OP_RECV` with `IORING_RECV_MULTISHOT` and buffer
//! selection: the kernel receives whatever arrives into a buffer it picks from the ring's
//! [`BufRing`] and posts a completion, and the read copies out of that buffer. A write copies
//! into the stream's staging buffer and, if no send is in flight, starts an `IORING_OP_SEND` of
//! it, returning at once (write-behind). The submissions of a turn ride on the driver's one
//! `io_uring_enter`, so a busy server makes about one system call per turn, not three per request.
//! An idle stream holds no buffer: the kernel picks one only when bytes arrive.
//!
//! Rules:
//! 1. A stream switches to this mode at its first `AsyncRead`/`AsyncWrite` poll on an io_uring
//!    runtime whose ring has a buffer ring ([`activate`]); it never switches back. Until then
//!    (and on epoll, in a simulation, on a kernel without multishot receive) the readiness path
//!    serves it. The registration's poll stays armed, so `readable()`, `ready()`, `try_read()`
//!    and `peek()` keep working; they look at the receive queue first (rule 3).
//! 2. Everything a stream's operations touch lives in its [`StreamRing`], behind one lock, and
//!    the operation table holds an `Arc` of it until each operation's last completion
//!    (`uring_op.rs` rule 8): a send's staging buffer and the received buffers outlive the
//!    stream if the kernel still has them. A stream starts its operations under its own lock,
//!    so the lock order is: a stream's, then the operation table's (released before the next),
//!    then `Ring::sq`. The handler runs on the driver's thread after the table's lock is
//!    released, so dispatch never holds the table's lock while taking a stream's.
//! 3. Reads: bytes come out of the queue of received buffers in arrival order, and a buffer
//!    goes back to the ring once read to its end. An empty queue with no receive armed arms
//!    one. The multishot receive ends at end-of-stream, on an error, when the ring's buffers
//!    run out (`ENOBUFS`: that one read takes the readiness path, which has no buffer to
//!    lack), or when the queue holds [`READ_HIGH`] bytes unread (the stream cancels it: a
//!    reader that stops reading does not drain the shared buffers; its peer's next bytes wait in
//!    the kernel until the reader catches up). Each completion also sets the registration's
//!    read readiness, so a task waiting in `readable()` sees the queued bytes. Once a read
//!    (`poll_read`) has armed a receive, `readable()` arms it too (`arm_for_wait`) and
//!    then needs no poll, so a server can wait for bytes holding no buffer at all and
//!    `try_read` into one taken only then. Before that, a readiness wait arms no receive: the
//!    bytes stay in the socket for code that reads the descriptor itself (`try_io`).
//! 4. Writes: a write copies into the staging buffer (up to [`WRITE_CAP`] bytes staged or in
//!    flight, then it waits) and returns the count; at most one send is in flight, and its
//!    completion starts the next with what was staged meanwhile, so bytes leave in write
//!    order. Sends carry `MSG_WAITALL` (the kernel retries a short send itself); a short one
//!    all the same has its rest sent first; once nothing is left to send, a buffer above
//!    `IDLE_SEND_CAPACITY` goes back to the allocator. An error of a send is returned by the
//!    next write, flush or close. `flush` waits until nothing is staged or in flight; `close`
//!    flushes and then shuts down the write direction. Dropping a write half shuts the
//!    direction down once the bytes before it are sent.
//!    Write readiness stays the registration's, in completion mode as on the readiness path:
//!    `writable()`, `ready()` and `poll_write_ready` wait on it, one waiter per direction, so
//!    combined interests work unchanged (`scheduled_io.rs` rule 7). A write that finds
//!    `WRITE_CAP` bytes staged or in flight marks the stream `write_full`; `try_write`'s
//!    `WouldBlock` then clears the write readiness it observed before looking
//!    (`scheduled_io.rs` rule 3: a send completion that came meanwhile, on another worker,
//!    bumped the tick and keeps its readiness). The send completion that leaves room below
//!    `WRITE_CAP` on a stream marked `write_full` sets the write readiness and wakes the
//!    registration's write waiters, as a poll event would (`AsyncWrite`'s writer is woken by
//!    every completion). So a `writable()`/`try_write` loop waits while the buffer is full
//!    instead of spinning on the socket's writability, which has nothing to do with the
//!    staged bytes; a `POLLOUT` event of the socket's own may still wake it early (readiness
//!    is a hint), for one `WouldBlock`.
//! 5. Dropping the stream cancels its receive and gives back its queued buffers; bytes staged
//!    are still sent (write-behind keeps the promise a successful write made, as the kernel's
//!    own send buffer would): the send holds the socket open until it completes, and a peer
//!    that never reads keeps it until the runtime shuts down, which cancels it. Every
//!    submission a dropped stream made is submitted before its descriptor is closed (the
//!    kernel resolves a descriptor at submission).
//! 6. `into_std` refuses a stream in this mode (`WouldBlock`-free conversions need the
//!    kernel's queue to be the only one, and a receive in flight may hold bytes already).
//! 7. Several tasks may read or write through `&stream` at once (the `futures-io` traits are
//!    implemented for `&TcpStream` and `&UnixStream`): each direction keeps the wakers of every
//!    `poll_*` call waiting (once each, by `will_wake`), as the readiness path does
//!    (`scheduled_io.rs` rule 6), and the completion that lets them retry wakes them all.
//! 8. Once the runtime has shut down, every read, peek, write, and a flush with bytes still to
//!    send, fails with the shutdown error, as on the readiness path: each checks the
//!    registration's shutdown bit under the stream's lock, which its wakers are kept under,
//!    and the shutdown sets that bit before it takes those wakers and wakes them
//!    (`uring_op.rs` rule 10). So a task that waits on a stream of a runtime that is dropped
//!    meanwhile (a stream moved to another runtime) is woken with the error instead of
//!    waiting for a completion that no thread will dispatch.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types, IoUring};

use crate::io::scheduled_io::{Direction, ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE};
use crate::io::uring::Ring;
use crate::io::uring_op::{self, cancel_entry, Completion};
use crate::loom::sync::Arc;
use crate::runtime::RuntimeShared;
use crate::task::coop;

/// Bytes a stream's receive queue holds before its multishot receive is cancelled (rule 3).
pub(crate) const READ_HIGH: usize = 64 * 1024;
/// Bytes a stream may have staged or in flight before a write waits (rule 4).
pub(crate) const WRITE_CAP: usize = 128 * 1024;

/// A send buffer larger than this is given back to the allocator when the stream has nothing
/// more to send (rule 4): a burst of writes does not leave every quiet stream holding its peak.
const IDLE_SEND_CAPACITY: usize = 4096;

/// The buffer group of the ring's provided buffers.
const BGID: u16 = 0;
/// Buffers in a ring's buffer ring (at most), and the size of each.
const BUF_COUNT: u16 = 2048;
const BUF_SIZE: u32 = 4096;
/// Buffers given to the kernel at first, and added each time receives run out (`ENOBUFS`), up
/// to `BUF_COUNT`: the kernel takes buffers in ring order, so every buffer given is soon touched
/// (resident); giving only what the load needs keeps a quiet runtime's memory small.
const BUF_STEP: u16 = 64;

/// The operation kinds a stream's handler sees.
const RECV: u8 = 0;
const SEND: u8 = 1;

/// An anonymous private mapping of `len` bytes (zeroed, page-aligned; the kernel backs a page
/// only when it is first touched, so unused buffers cost no memory).
fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// A ring's provided buffers (`IORING_REGISTER_PBUF_RING`): up to [`BUF_COUNT`] buffers of
/// [`BUF_SIZE`] bytes the kernel picks from for multishot receives, and the ring of entries
/// through which they are given back. [`BUF_STEP`] are given at first, as many more each time
/// the kernel runs out ([`BufRing::grow`]).
///
/// The kernel consumes entries from the head; user space adds them at the tail, which it
/// publishes with a release store.
///
/// Where the kernel supports it (6.12), the ring is registered for incremental consumption
/// (`IOU_PBUF_RING_INC`): a receive takes only the bytes it needs from the buffer at the head
/// and the next receive, of any stream, goes on in the same buffer (its completion carries
/// `IORING_CQE_F_BUF_MORE` while the kernel keeps the buffer), so a 64-byte message uses 64
/// bytes of a buffer, not 4 KiB. A buffer is therefore shared: each buffer counts its holders
/// ([`BufMeta`]), the kernel while it may still write into it and every chunk of it queued
/// on a stream, and goes back to the kernel when the count falls to zero
/// ([`BufRing::release`]). Without incremental consumption every completion ends the kernel's
/// hold, and a buffer has one chunk at most.
pub(crate) struct BufRing {
    /// `BUF_COUNT` entries, page-aligned, registered with the kernel.
    entries: *mut types::BufRingEntry,
    /// `BUF_COUNT * BUF_SIZE` bytes.
    bufs: *mut u8,
    /// Each buffer's fill mark and holders.
    meta: Box<[BufMeta]>,
    /// Registered with `IOU_PBUF_RING_INC`.
    incremental: bool,
    /// The next tail to publish, and how many buffers were ever given to the kernel; the lock
    /// serialises the threads that give buffers back or add new ones.
    tail: Mutex<(u16, u16)>,
}

/// One provided buffer's state (see [`BufRing`]).
#[derive(Default)]
struct BufMeta {
    /// Where the kernel's next receive into this buffer starts: completions that name the
    /// buffer come in the order the kernel filled it, and each moves this by its length.
    /// Written by the completions' handler (the driver's thread) and reset when the buffer is
    /// given to the kernel.
    head: std::sync::atomic::AtomicU32,
    /// Holders: 1 while the kernel may write into the buffer, plus 1 per queued chunk of it.
    refs: std::sync::atomic::AtomicU32,
}

/// `IOU_PBUF_RING_INC` (Linux 6.12; the io-uring crate has no name for it).
const IOU_PBUF_RING_INC: u16 = 2;

// SAFETY: the raw pointers are to mappings this value owns; the entries are written only under
// `tail`, and a buffer's bytes only by the kernel while it holds the buffer, and read only by
// the stream a completion gave it to (rule 3).
unsafe impl Send for BufRing {}
// SAFETY: as for `Send`: shared access goes through `tail` or through buffer ownership.
unsafe impl Sync for BufRing {}

impl BufRing {
    fn entries_len() -> usize {
        BUF_COUNT as usize * std::mem::size_of::<types::BufRingEntry>()
    }

    fn bufs_len() -> usize {
        BUF_COUNT as usize * BUF_SIZE as usize
    }

    /// Maps the buffers and registers them with `ring` as group [`BGID`], every buffer given to
    /// the kernel.
    pub(crate) fn register(ring: &IoUring) -> io::Result<BufRing> {
        let entries = map(Self::entries_len())?.cast::<types::BufRingEntry>();
        let bufs = match map(Self::bufs_len()) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: `entries` is the mapping made above, of that length, unused.
                unsafe { libc::munmap(entries.cast(), Self::entries_len()) };
                return Err(e);
            }
        };
        let mut me = BufRing {
            entries,
            bufs,
            meta: (0..BUF_COUNT).map(|_| BufMeta::default()).collect(),
            incremental: true,
            tail: Mutex::new((0, 0)),
        };
        me.grow();
        // SAFETY: `entries` holds `BUF_COUNT` entries and stays mapped until this value's drop,
        // which the ring's drop orders after the ring is closed and its operations reaped
        // (`uring.rs`).
        let registered = unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                BUF_COUNT,
                BGID,
                IOU_PBUF_RING_INC,
            )
        };
        if let Err(e) = registered {
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(e);
            }
            // A kernel before 6.12: whole buffers per completion.
            me.incremental = false;
            // SAFETY: as above.
            unsafe {
                ring.submitter().register_buf_ring_with_flags(
                    entries as u64,
                    BUF_COUNT,
                    BGID,
                    0,
                )?;
            }
        }
        Ok(me)
    }

    /// Writes the entry at ring index `at` to describe buffer `bid`, whole and held by the
    /// kernel alone.
    fn put(&self, at: u16, bid: u16) {
        use std::sync::atomic::Ordering;
        let m = &self.meta[bid as usize];
        debug_assert_eq!(
            m.refs.load(Ordering::Relaxed),
            0,
            "a held buffer given back"
        );
        m.head.store(0, Ordering::Relaxed);
        // Published to the completions' handler by the tail's release store, through the
        // kernel's completion of a receive into it (read with the completion queue's acquire).
        m.refs.store(1, Ordering::Relaxed);
        let i = (at % BUF_COUNT) as usize;
        // SAFETY: `i < BUF_COUNT`; the entry at the tail is not visible to the kernel until the
        // tail is published, and writers of it are serialised by `tail` (or, at registration,
        // nothing else has the ring yet). The buffer's address is within the mapping.
        unsafe {
            let e = &mut *self.entries.add(i);
            e.set_addr(self.bufs.add(bid as usize * BUF_SIZE as usize) as u64);
            e.set_len(BUF_SIZE);
            e.set_bid(bid);
        }
    }

    /// Publishes `tail` to the kernel (a release store: the entries before it are written).
    fn publish(&self, tail: u16) {
        // SAFETY: the tail field lies in the first entry of the mapping, 2-byte aligned; the
        // kernel reads it with acquire loads, so this store must be atomic.
        let t = unsafe {
            &*(types::BufRingEntry::tail(self.entries) as *const std::sync::atomic::AtomicU16)
        };
        t.store(tail, std::sync::atomic::Ordering::Release);
    }

    /// Gives buffers no one holds back to the kernel.
    fn recycle(&self, bids: impl IntoIterator<Item = u16>) {
        let mut guard = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (tail, _) = &mut *guard;
        let start = *tail;
        for bid in bids {
            self.put(*tail, bid);
            *tail = tail.wrapping_add(1);
        }
        if *tail != start {
            self.publish(*tail);
        }
    }

    /// A receive's completion named buffer `bid` for `len` bytes: returns where they start in
    /// it. With `keep`, a chunk of them is queued (one more holder); unless the completion
    /// says the kernel keeps the buffer (`more`), the kernel's hold ends.
    fn received(&self, bid: u16, len: u32, more: bool, keep: bool) -> u32 {
        use std::sync::atomic::Ordering;
        let m = &self.meta[bid as usize];
        let start = m.head.fetch_add(len, Ordering::Relaxed);
        debug_assert!(start + len <= BUF_SIZE, "a receive past its buffer's end");
        if keep {
            m.refs.fetch_add(1, Ordering::Relaxed);
        }
        if !more || !self.incremental {
            self.release([bid]);
        }
        start
    }

    /// Ends one hold on each buffer of `bids`; the buffers no one holds any more go back to
    /// the kernel.
    fn release(&self, bids: impl IntoIterator<Item = u16>) {
        use std::sync::atomic::Ordering;
        let mut free: [u16; 16] = [0; 16];
        let mut n = 0;
        for bid in bids {
            // AcqRel: the reads of the buffer's bytes by earlier holders happen before the
            // last holder gives it back (and the kernel writes into it again).
            if self.meta[bid as usize].refs.fetch_sub(1, Ordering::AcqRel) == 1 {
                free[n] = bid;
                n += 1;
                if n == free.len() {
                    self.recycle(free);
                    n = 0;
                }
            }
        }
        if n > 0 {
            self.recycle(free[..n].iter().copied());
        }
    }

    /// Gives the kernel [`BUF_STEP`] buffers it never had, unless it has had them all.
    fn grow(&self) {
        let mut guard = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (tail, given) = &mut *guard;
        let to = given.saturating_add(BUF_STEP).min(BUF_COUNT);
        for bid in *given..to {
            self.put(*tail, bid);
            *tail = tail.wrapping_add(1);
        }
        if to != *given {
            if *given > 0 {
                GROWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            *given = to;
            self.publish(*tail);
        }
    }

    /// The bytes `start..end` of buffer `bid`.
    ///
    /// # Safety
    ///
    /// The caller holds a chunk of `bid` that spans `start..end` (a completion gave it, and it
    /// was not released since): the kernel wrote those bytes and writes no more there.
    unsafe fn bytes(&self, bid: u16, start: usize, end: usize) -> &[u8] {
        debug_assert!(start <= end && end <= BUF_SIZE as usize && bid < BUF_COUNT);
        // SAFETY: within the mapping (the caller's bounds), and written by the kernel before the
        // completion that gave the buffer was read (the completion queue's acquire).
        unsafe {
            std::slice::from_raw_parts(
                self.bufs.add(bid as usize * BUF_SIZE as usize + start),
                end - start,
            )
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mappings made in `register`, with their lengths; the ring that used them
        // is closed and has no receive in flight (the ring's drop reaps them first, and leaks
        // this value if it could not).
        unsafe {
            libc::munmap(self.bufs.cast(), Self::bufs_len());
            libc::munmap(self.entries.cast(), Self::entries_len());
        }
    }
}

/// Bytes received and not yet read: `start..end` of buffer `bid`.
#[derive(Clone, Copy)]
struct Chunk {
    bid: u16,
    start: u32,
    end: u32,
}

/// A stream's received chunks, in arrival order. The first is kept inline: a stream usually
/// has one chunk at most between a receive and its read, and a `VecDeque` would keep a heap
/// block for it on every quiet stream.
#[derive(Default)]
struct ChunkQueue {
    first: Option<Chunk>,
    rest: VecDeque<Chunk>,
}

impl ChunkQueue {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn push_back(&mut self, c: Chunk) {
        if self.first.is_none() {
            self.first = Some(c);
        } else {
            self.rest.push_back(c);
        }
    }

    fn front_mut(&mut self) -> Option<&mut Chunk> {
        self.first.as_mut()
    }

    fn pop_front(&mut self) -> Option<Chunk> {
        let c = self.first.take();
        self.first = self.rest.pop_front();
        c
    }

    fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.first.iter().chain(self.rest.iter())
    }

    /// Takes every chunk out.
    fn take_all(&mut self) -> impl Iterator<Item = Chunk> + use<> {
        let first = self.first.take();
        let rest = std::mem::take(&mut self.rest);
        first.into_iter().chain(rest)
    }
}

/// Where a stream's multishot receive is (rule 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Recv {
    /// None armed.
    Idle,
    /// Armed, with this `user_data`.
    Armed(u64),
    /// Cancelled (the queue is full, or the stream is gone) and not yet ended.
    Cancelling,
}

struct State {
    recv: Recv,
    /// A read through the stream (`poll_read`) armed a receive once: from then on
    /// its bytes come through the receive queue, and a readiness wait arms the receive too.
    reads: bool,
    queue: ChunkQueue,
    /// Bytes in `queue`.
    queued: usize,
    eof: bool,
    read_err: Option<io::Error>,
    /// The last receive ended for want of buffers: the next read takes the readiness path.
    starved: bool,
    /// The first `poll_read` waiting for bytes (rule 7: the others' are in `more_wakers`).
    reader: Option<Waker>,
    /// Bytes written and not yet handed to a send (rule 4).
    staging: Vec<u8>,
    /// The bytes of the send in flight, if one is (`sending`); the kernel reads them.
    in_flight: Vec<u8>,
    sending: bool,
    write_err: Option<io::Error>,
    /// The write direction is shut down, or will be once the bytes before it are sent.
    shut_wr: bool,
    shutdown_done: bool,
    /// `AsyncWrite`'s first waiter: a write waiting for room, a flush or close waiting for the
    /// sends (rule 7: the others' are in `more_wakers`).
    writer: Option<Waker>,
    /// The waiters beyond the first of each direction, when several tasks use `&stream`.
    more_wakers: Option<Box<MoreWakers>>,
    /// A write found `WRITE_CAP` bytes staged or in flight since the last send completion
    /// that left room: that completion sets the registration's write readiness (rule 4).
    write_full: bool,
    /// The stream is gone (rule 5).
    dropped: bool,
    /// The descriptor sends name: the stream's own, or, once the stream is dropped with bytes
    /// still to send, a duplicate this state owns (`owned`), so the socket stays open for those
    /// sends and closes when the last one completes (rule 5).
    fd: RawFd,
    owned: Option<std::os::fd::OwnedFd>,
}

/// A stream in completion mode (the module's rules); shared by the stream and the operation
/// table (rule 2).
pub(crate) struct StreamRing {
    /// Weak: the ring's operation table holds this stream while its operations are in flight,
    /// and a strong reference back would keep the ring (and the runtime) alive for ever. So
    /// the stream keeps nothing of the runtime's but copies (`scheduling`).
    ring: std::sync::Weak<Ring>,
    /// Which threads batch their submissions (`uring.rs` rule 4).
    scheduling: crate::io::driver::Scheduling,
    sched: Arc<ScheduledIo>,
    fd: RawFd,
    st: Mutex<State>,
}

/// What a read in completion mode did: served, or left to the readiness path (rule 3).
pub(crate) enum ReadStep {
    Done(Poll<io::Result<usize>>),
    Readiness,
}

/// Where a read copies to: a slice, or tokio's `ReadBuf` (no zero-filling).
pub(crate) trait ReadDst {
    fn remaining(&self) -> usize;
    fn put(&mut self, src: &[u8]);
}

/// A slice being filled from its start.
pub(crate) struct SliceDst<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) filled: usize,
}

impl ReadDst for SliceDst<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.filled
    }
    fn put(&mut self, src: &[u8]) {
        self.buf[self.filled..self.filled + src.len()].copy_from_slice(src);
        self.filled += src.len();
    }
}

#[cfg(feature = "tokio-io")]
impl ReadDst for tokio::io::ReadBuf<'_> {
    fn remaining(&self) -> usize {
        tokio::io::ReadBuf::remaining(self)
    }
    fn put(&mut self, src: &[u8]) {
        self.put_slice(src);
    }
}

fn lock(st: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    st.lock().unwrap_or_else(|e| e.into_inner())
}

fn error_of(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

/// Streams switched to completion mode, process-wide (for tests:
/// `tether::__private::io_uring_streams_activated`).
static ACTIVATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Buffer rings grown by [`BUF_STEP`] after their first buffers, process-wide (for tests).
static GROWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times a ring's provided buffers ran out and more were given to the kernel, in this
/// process (for tests: `tether::__private::io_uring_buffer_growths`).
pub fn io_uring_buffer_growths() -> u64 {
    GROWN.load(std::sync::atomic::Ordering::Relaxed)
}

/// How many streams have switched to completion mode in this process.
pub fn io_uring_streams_activated() -> u64 {
    ACTIVATED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The completion mode of a stream on `rt`'s driver, if it has one (rule 1): io_uring, with a
/// buffer ring, and a descriptor (not a simulated socket).
pub(crate) fn activate(
    rt: &Arc<RuntimeShared>,
    sched: &Arc<ScheduledIo>,
    fd: Option<RawFd>,
) -> Option<std::sync::Arc<StreamRing>> {
    let fd = fd?;
    let (ring, _) = rt.io.uring_for_ops()?;
    ring.bufs.as_ref()?;
    let scheduling = rt.io.scheduling()?;
    ACTIVATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(std::sync::Arc::new(StreamRing {
        ring: std::sync::Arc::downgrade(ring),
        scheduling,
        sched: sched.clone(),
        fd,
        st: Mutex::new(State {
            recv: Recv::Idle,
            reads: false,
            queue: ChunkQueue::default(),
            queued: 0,
            eof: false,
            read_err: None,
            starved: false,
            reader: None,
            staging: Vec::new(),
            in_flight: Vec::new(),
            sending: false,
            write_err: None,
            shut_wr: false,
            shutdown_done: false,
            writer: None,
            more_wakers: None,
            write_full: false,
            dropped: false,
            fd,
            owned: None,
        }),
    }))
}

/// A direction of a stream (rule 7's waiters).
#[derive(Clone, Copy)]
enum Side {
    Read,
    Write,
}

/// The wakers of the `poll_*` calls waiting beyond the first in each direction (rule 7); boxed,
/// and only when a second task waits, so a stream's state grows by one word.
#[derive(Default)]
struct MoreWakers {
    read: Vec<Waker>,
    write: Vec<Waker>,
}

impl State {
    /// Keeps `cx`'s waker among `side`'s waiters unless one of them already wakes it (rule 7).
    fn keep_waker(&mut self, side: Side, cx: &Context<'_>) {
        let waker = cx.waker();
        let first = match side {
            Side::Read => &mut self.reader,
            Side::Write => &mut self.writer,
        };
        match first {
            None => *first = Some(waker.clone()),
            Some(w) if w.will_wake(waker) => {}
            Some(_) => {
                let more = self.more_wakers.get_or_insert_with(Box::default);
                let list = match side {
                    Side::Read => &mut more.read,
                    Side::Write => &mut more.write,
                };
                if !list.iter().any(|w| w.will_wake(waker)) {
                    list.push(waker.clone());
                }
            }
        }
    }

    /// Takes every waker of `side`, for waking after the state's lock is released.
    fn take_wakers(&mut self, side: Side) -> impl Iterator<Item = Waker> + use<> {
        let (first, more) = match (side, self.more_wakers.as_deref_mut()) {
            (Side::Read, more) => (
                self.reader.take(),
                more.map(|m| std::mem::take(&mut m.read)),
            ),
            (Side::Write, more) => (
                self.writer.take(),
                more.map(|m| std::mem::take(&mut m.write)),
            ),
        };
        first.into_iter().chain(more.unwrap_or_default())
    }
}

fn bufs(ring: &Ring) -> &BufRing {
    ring.bufs
        .as_ref()
        .expect("a stream ring's ring has buffers")
}

/// Submits what is queued on `ring` now; if that fails, wakes the driver, whose next turn
/// submits it.
fn submit_or_wake(ring: &Ring) {
    if ring.submit().is_err() {
        ring.wake();
    }
}

impl StreamRing {
    /// The ring, unless the runtime is gone (then the caller reports the shutdown).
    fn ring(&self) -> io::Result<std::sync::Arc<Ring>> {
        self.ring
            .upgrade()
            .ok_or_else(crate::io::driver::shutdown_error)
    }

    /// Queues `entry` (whose memory the stream keeps, rule 2) and submits it at once unless the
    /// calling thread batches its submissions (`uring.rs` rule 4).
    fn push(&self, ring: &Ring, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the memory an entry of this module points at (a send's `in_flight` bytes) is
        // owned by this stream's state, which the operation table keeps alive until the last
        // completion (rule 2), and is not touched until then (`sending`).
        unsafe { ring.push_op(entry)? };
        if !crate::io::driver::defers_submission(self.scheduling) {
            submit_or_wake(ring);
        }
        Ok(())
    }

    /// Arms the multishot receive (rule 3).
    fn arm_recv(self: &std::sync::Arc<Self>, ring: &Ring, st: &mut State) -> io::Result<()> {
        st.reads = true;
        let handler: std::sync::Arc<dyn Completion> = self.clone();
        let data = uring_op::lock(&ring.ops).insert_handled(handler, RECV)?;
        let entry = opcode::RecvMulti::new(types::Fd(self.fd), BGID)
            .build()
            .user_data(data);
        if let Err(e) = self.push(ring, &entry) {
            drop(uring_op::lock(&ring.ops).unsubmitted(data));
            return Err(e);
        }
        st.recv = Recv::Armed(data);
        Ok(())
    }

    /// Hands the staged bytes to a send (rule 4); the caller checked none is in flight.
    fn start_send(self: &std::sync::Arc<Self>, ring: &Ring, st: &mut State) {
        debug_assert!(!st.sending && !st.staging.is_empty());
        std::mem::swap(&mut st.in_flight, &mut st.staging);
        st.staging.clear();
        let handler: std::sync::Arc<dyn Completion> = self.clone();
        let started = uring_op::lock(&ring.ops)
            .insert_handled(handler, SEND)
            .and_then(|data| {
                let entry = opcode::Send::new(
                    types::Fd(st.fd),
                    st.in_flight.as_ptr(),
                    st.in_flight.len() as u32,
                )
                .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                .build()
                .user_data(data);
                self.push(ring, &entry).inspect_err(|_| {
                    drop(uring_op::lock(&ring.ops).unsubmitted(data));
                })
            });
        match started {
            Ok(()) => st.sending = true,
            Err(e) => {
                st.in_flight.clear();
                st.write_err.get_or_insert(e);
            }
        }
    }

    /// Copies queued bytes into `dst`; returns how many. Gives back the buffers read to their
    /// end (rule 3).
    fn take_queued(&self, ring: &Ring, st: &mut State, dst: &mut dyn ReadDst) -> usize {
        let bufs = bufs(ring);
        let mut n = 0;
        let mut done: [u16; 16] = [0; 16];
        let mut ndone = 0;
        // (Each chunk read to its end ends its hold on its buffer: `BufRing::release`.)
        while dst.remaining() > 0 {
            let Some(c) = st.queue.front_mut() else { break };
            let take = (c.end - c.start).min(dst.remaining() as u32);
            // SAFETY: the chunk's buffer is this stream's until recycled below, and the kernel
            // wrote `c.end` bytes into it (its completion's count).
            dst.put(unsafe { bufs.bytes(c.bid, c.start as usize, (c.start + take) as usize) });
            c.start += take;
            n += take as usize;
            if c.start == c.end {
                done[ndone] = c.bid;
                ndone += 1;
                st.queue.pop_front();
                if ndone == done.len() {
                    bufs.release(done);
                    ndone = 0;
                }
            }
        }
        if ndone > 0 {
            bufs.release(done[..ndone].iter().copied());
        }
        st.queued -= n;
        n
    }

    /// `AsyncRead::poll_read` in completion mode (rule 3).
    pub(crate) fn poll_read(
        self: &std::sync::Arc<Self>,
        cx: &mut Context<'_>,
        dst: &mut dyn ReadDst,
        rt: &RuntimeShared,
    ) -> ReadStep {
        let coop = match coop::poll_proceed(cx) {
            Poll::Ready(c) => c,
            Poll::Pending => return ReadStep::Done(Poll::Pending),
        };
        let ring = match self.ring() {
            Ok(r) => r,
            Err(e) => return ReadStep::Done(Poll::Ready(Err(e))),
        };
        let mut st = lock(&self.st);
        if self.sched.is_shutdown() {
            // Rule 8: checked under the lock the waker is kept under.
            coop.made_progress();
            return ReadStep::Done(Poll::Ready(Err(crate::io::driver::shutdown_error())));
        }
        if !st.queue.is_empty() {
            let n = self.take_queued(&ring, &mut st, dst);
            coop.made_progress();
            return ReadStep::Done(Poll::Ready(Ok(n)));
        }
        if let Some(e) = st.read_err.take() {
            coop.made_progress();
            return ReadStep::Done(Poll::Ready(Err(e)));
        }
        if st.eof || dst.remaining() == 0 {
            coop.made_progress();
            return ReadStep::Done(Poll::Ready(Ok(0)));
        }
        if st.starved || !crate::io::uring::streams_usable() && st.recv == Recv::Idle {
            st.starved = false;
            return ReadStep::Readiness;
        }
        if st.recv == Recv::Idle {
            if let Err(e) = self.arm_recv(&ring, &mut st) {
                return ReadStep::Done(Poll::Ready(Err(e)));
            }
        }
        st.keep_waker(Side::Read, cx);
        drop(st);
        crate::io::poll_evented::check_driven_elsewhere(rt, "a stream's io_uring receive");
        ReadStep::Done(Poll::Pending)
    }

    /// `try_read` in completion mode: queued bytes, or `None` when the readiness path may read
    /// the socket itself (no receive armed, rule 3).
    ///
    /// `drained` is set when the read emptied the queue while a receive is armed: nothing is
    /// left to read but what a completion will announce. Not so with no receive armed (or one
    /// being cancelled): bytes may be waiting in the socket, and only the readiness path's
    /// `WouldBlock` may clear the readiness then.
    pub(crate) fn try_read(
        &self,
        dst: &mut dyn ReadDst,
        drained: &mut bool,
    ) -> Option<io::Result<usize>> {
        let ring = match self.ring() {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let mut st = lock(&self.st);
        if self.sched.is_shutdown() {
            return Some(Err(crate::io::driver::shutdown_error()));
        }
        if !st.queue.is_empty() {
            let n = self.take_queued(&ring, &mut st, dst);
            *drained = st.queue.is_empty() && matches!(st.recv, Recv::Armed(_));
            return Some(Ok(n));
        }
        if let Some(e) = st.read_err.take() {
            return Some(Err(e));
        }
        if st.eof {
            return Some(Ok(0));
        }
        match st.recv {
            Recv::Idle => None,
            _ => Some(Err(io::ErrorKind::WouldBlock.into())),
        }
    }

    /// Before a wait for read readiness (`readable()`, `poll_read_ready`) of a stream whose
    /// reads already go through the receive queue: arms the receive if none is, since its
    /// completions are what make the stream readable then (rule 3). Returns whether the wait
    /// can rely on them; `false` when the registration's poll must be armed instead (the
    /// stream's reads never used the queue, so its bytes stay in the socket for whoever reads
    /// them; receives refused or out of buffers: the next read takes the readiness path, as
    /// `poll_read` does; or a cancelled receive not yet ended).
    pub(crate) fn arm_for_wait(self: &std::sync::Arc<Self>) -> bool {
        let Ok(ring) = self.ring() else {
            return false;
        };
        let mut st = lock(&self.st);
        if self.sched.is_shutdown() {
            // The wait sees the registration's shutdown at once; nothing to arm.
            return true;
        }
        if !st.reads {
            // Its bytes are read some other way (`try_io` on the descriptor, as tether-hyper
            // does): they must stay in the socket.
            return false;
        }
        if !st.queue.is_empty() || st.eof || st.read_err.is_some() {
            // Readable now: the completion that queued it set the readiness, which only a
            // read that found the queue empty clears.
            return true;
        }
        match st.recv {
            Recv::Armed(_) => true,
            Recv::Cancelling => false,
            Recv::Idle if st.starved || !crate::io::uring::streams_usable() => {
                st.starved = false;
                false
            }
            Recv::Idle => self.arm_recv(&ring, &mut st).is_ok(),
        }
    }

    /// `peek` in completion mode: copies queued bytes without taking them; `None` when nothing
    /// is queued and no receive is armed (the readiness path may peek at the socket).
    pub(crate) fn poll_peek(
        self: &std::sync::Arc<Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Option<Poll<io::Result<usize>>> {
        let ring = match self.ring() {
            Ok(r) => r,
            Err(e) => return Some(Poll::Ready(Err(e))),
        };
        let mut st = lock(&self.st);
        if self.sched.is_shutdown() {
            return Some(Poll::Ready(Err(crate::io::driver::shutdown_error())));
        }
        if !st.queue.is_empty() {
            let mut n = 0;
            for c in st.queue.iter() {
                let take = ((c.end - c.start) as usize).min(buf.len() - n);
                // SAFETY: as in `take_queued`; nothing is recycled here.
                let src =
                    unsafe { bufs(&ring).bytes(c.bid, c.start as usize, c.start as usize + take) };
                buf[n..n + take].copy_from_slice(src);
                n += take;
                if n == buf.len() {
                    break;
                }
            }
            return Some(Poll::Ready(Ok(n)));
        }
        if let Some(e) = st.read_err.take() {
            return Some(Poll::Ready(Err(e)));
        }
        if st.eof {
            return Some(Poll::Ready(Ok(0)));
        }
        match st.recv {
            Recv::Idle => None,
            _ => {
                st.keep_waker(Side::Read, cx);
                Some(Poll::Pending)
            }
        }
    }

    /// `AsyncWrite::poll_write` (and `poll_write_vectored`) in completion mode (rule 4).
    pub(crate) fn poll_write(
        self: &std::sync::Arc<Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let ring = match self.ring() {
            Ok(r) => r,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let mut st = lock(&self.st);
        match self.stage(&ring, &mut st, bufs) {
            Some(r) => {
                coop.made_progress();
                Poll::Ready(r)
            }
            None => {
                st.keep_waker(Side::Write, cx);
                Poll::Pending
            }
        }
    }

    /// Copies what fits of `bufs` into the staging buffer and starts a send if none is in
    /// flight (rule 4); returns the count, or the error a write reports. `None` when
    /// `WRITE_CAP` bytes are staged or in flight already: the stream is marked `write_full`.
    fn stage(
        self: &std::sync::Arc<Self>,
        ring: &Ring,
        st: &mut State,
        bufs: &[io::IoSlice<'_>],
    ) -> Option<io::Result<usize>> {
        if let Some(e) = st.write_err.take() {
            return Some(Err(e));
        }
        if self.sched.is_shutdown() {
            // Rule 8: no send would ever be dispatched.
            return Some(Err(crate::io::driver::shutdown_error()));
        }
        if st.shut_wr {
            return Some(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "tether: write after the stream's write direction was shut down",
            )));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Some(Ok(0));
        }
        let pending = st.staging.len() + st.in_flight.len();
        if pending >= WRITE_CAP {
            st.write_full = true;
            return None;
        }
        let mut room = WRITE_CAP - pending;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(room);
            st.staging.extend_from_slice(&b[..take]);
            n += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        if !st.sending {
            self.start_send(ring, st);
        }
        Some(Ok(n))
    }

    /// Whether this stream has bytes staged or a send in flight, and the error of one, taken.
    fn poll_flushed(&self, cx: &mut Context<'_>, st: &mut State) -> Poll<io::Result<()>> {
        if let Some(e) = st.write_err.take() {
            return Poll::Ready(Err(e));
        }
        if st.sending || !st.staging.is_empty() {
            if self.sched.is_shutdown() {
                // Rule 8: the send's completion will never be dispatched.
                return Poll::Ready(Err(crate::io::driver::shutdown_error()));
            }
            st.keep_waker(Side::Write, cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    /// `AsyncWrite::poll_flush` in completion mode: waits until every byte written is sent.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.st);
        self.poll_flushed(cx, &mut st)
    }

    /// `AsyncWrite::poll_close` in completion mode: flushes, then shuts down the write
    /// direction.
    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.st);
        std::task::ready!(self.poll_flushed(cx, &mut st))?;
        st.shut_wr = true;
        self.shutdown_now(&mut st)
    }

    /// Shuts the write direction down, once (the caller holds the state's lock, so the stream
    /// cannot be dropped and its descriptor closed meanwhile: rule 5).
    fn shutdown_now(&self, st: &mut State) -> Poll<io::Result<()>> {
        if st.shutdown_done || st.dropped {
            return Poll::Ready(Ok(()));
        }
        st.shutdown_done = true;
        // SAFETY: `fd` is the stream's open descriptor: it is closed only after the stream's
        // drop marks `dropped` under this lock.
        let r = unsafe { libc::shutdown(self.fd, libc::SHUT_WR) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOTCONN) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// A write half's drop: shut the write direction down once the bytes written are sent
    /// (rule 4).
    pub(crate) fn shutdown_after_flush(&self) {
        let mut st = lock(&self.st);
        st.shut_wr = true;
        if !st.sending && st.staging.is_empty() {
            let _ = self.shutdown_now(&mut st);
        }
    }

    /// `try_write` in completion mode: stages the bytes behind those waiting, if any (`None`
    /// when nothing waits: the readiness path may write to the socket itself). `WouldBlock`
    /// when `WRITE_CAP` bytes wait; it clears the write readiness seen before, so that
    /// `writable()` waits for the send completion that makes room (rule 4).
    pub(crate) fn try_write(
        self: &std::sync::Arc<Self>,
        bufs: &[io::IoSlice<'_>],
    ) -> Option<io::Result<usize>> {
        // Seen before the state is: a completion that makes room after this bumps the tick.
        let seen = self.sched.ready_now_masked(Direction::Write.mask());
        // Taken before the state's lock and dropped after it: the ring's drop reaps the
        // stream's operations, whose handlers take that lock.
        let ring = self.ring();
        let mut st = lock(&self.st);
        if !st.sending && st.staging.is_empty() && st.write_err.is_none() && !st.shut_wr {
            return None;
        }
        let staged = match &ring {
            Ok(ring) => self.stage(ring, &mut st, bufs),
            Err(_) => Some(Err(crate::io::driver::shutdown_error())),
        };
        drop(st);
        drop(ring);
        Some(staged.unwrap_or_else(|| {
            // Marked `write_full`: the send completion that makes room sets the readiness.
            if let Some(ev) = seen {
                self.sched.clear_readiness(ev);
            }
            Err(io::ErrorKind::WouldBlock.into())
        }))
    }

    /// Whether the stream may leave completion mode (`into_std`, rule 6): nothing queued,
    /// staged, in flight or armed.
    pub(crate) fn is_quiet(&self) -> bool {
        let st = lock(&self.st);
        st.queue.is_empty() && st.recv == Recv::Idle && !st.sending && st.staging.is_empty()
    }

    /// The stream is dropped (rule 5): cancel the receive, give back the buffers, send what is
    /// staged, and submit all of it before the descriptor closes.
    pub(crate) fn release(self: &std::sync::Arc<Self>) {
        let mut st = lock(&self.st);
        st.dropped = true;
        // Without the ring the runtime is gone, and its drop cancelled every operation.
        let Ok(ring) = self.ring() else { return };
        let mut pushed = false;
        if let Recv::Armed(data) = st.recv {
            let _ = ring.push(&cancel_entry(data));
            st.recv = Recv::Cancelling;
            pushed = true;
        }
        st.queued = 0;
        bufs(&ring).release(st.queue.take_all().map(|c| c.bid));
        let (reader, writer) = (st.take_wakers(Side::Read), st.take_wakers(Side::Write));
        if st.write_err.is_none() && (st.sending || !st.staging.is_empty()) {
            // Sends outlive the stream: they get a descriptor of their own (rule 5).
            // SAFETY: `fd` is the stream's open descriptor (the stream's drop closes it only
            // after this returns); `dup` has no other precondition and its result is checked.
            let dup = unsafe { libc::fcntl(st.fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup >= 0 {
                st.fd = dup;
                // SAFETY: `dup` is a new descriptor that nothing else owns.
                st.owned = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) });
            } else {
                // No descriptor left: what was not yet sent is lost with the stream.
                st.staging.clear();
            }
        }
        if !st.sending && !st.staging.is_empty() && st.write_err.is_none() {
            self.start_send(&ring, &mut st);
        }
        pushed |= st.sending;
        drop(st);
        drop((reader, writer));
        if pushed {
            submit_or_wake(&ring);
        }
    }

    fn complete_recv(
        &self,
        ring: &Ring,
        res: i32,
        flags: u32,
        last: bool,
        wakers: &mut Vec<Waker>,
    ) {
        let mut st = lock(&self.st);
        let mut ready = READABLE;
        if last {
            st.recv = Recv::Idle;
        }
        if res > 0 {
            let Some(bid) = io_uring::cqueue::buffer_select(flags) else {
                debug_assert!(false, "tether: a multishot receive without a buffer");
                return;
            };
            let more = io_uring::cqueue::buffer_more(flags);
            let len = res as u32;
            let start = bufs(ring).received(bid, len, more, !st.dropped);
            if st.dropped {
                return;
            }
            st.queue.push_back(Chunk {
                bid,
                start,
                end: start + len,
            });
            st.queued += res as usize;
            if let (Recv::Armed(data), true) = (st.recv, st.queued >= READ_HIGH) {
                // Rule 3: the reader is behind; stop taking buffers for it.
                let _ = ring.push(&cancel_entry(data));
                st.recv = Recv::Cancelling;
            }
        } else if res == 0 {
            st.eof = true;
            ready |= READ_CLOSED;
        } else if res == -libc::ENOBUFS {
            st.starved = true;
            bufs(ring).grow();
        } else if res == -libc::EINVAL && st.queue.is_empty() && !st.eof {
            // A kernel without multishot receive (before 6.0): no stream uses it from now on,
            // and this one's reads take the readiness path.
            crate::io::uring::refuse_streams_for_good();
            st.starved = true;
        } else if res != -libc::ECANCELED {
            st.read_err = Some(error_of(res));
            ready |= ERROR;
        }
        wakers.extend(st.take_wakers(Side::Read));
        drop(st);
        self.sched.set_readiness(ready);
        self.sched.take_wakers(ready, wakers);
    }

    fn complete_send(self: &std::sync::Arc<Self>, ring: &Ring, res: i32, wakers: &mut Vec<Waker>) {
        let mut st = lock(&self.st);
        st.sending = false;
        if res < 0 {
            st.in_flight.clear();
            st.staging.clear();
            if !st.dropped {
                st.write_err.get_or_insert(error_of(res));
            }
        } else if (res as usize) < st.in_flight.len() {
            // Rule 4: the rest goes first.
            let rest = st.in_flight.split_off(res as usize);
            let staged = std::mem::replace(&mut st.staging, rest);
            st.staging.extend_from_slice(&staged);
            st.in_flight.clear();
        } else {
            st.in_flight.clear();
        }
        if st.staging.is_empty() {
            // Rule 4: a quiet stream keeps no large send buffer (the two swap roles).
            let st = &mut *st;
            for v in [&mut st.in_flight, &mut st.staging] {
                if v.capacity() > IDLE_SEND_CAPACITY {
                    *v = Vec::new();
                }
            }
        }
        if !st.staging.is_empty() && st.write_err.is_none() {
            self.start_send(ring, &mut st);
        } else if !st.sending && st.shut_wr && !st.shutdown_done {
            let _ = self.shutdown_now(&mut st);
        }
        wakers.extend(st.take_wakers(Side::Write));
        // Rule 4: room again for a write that found none.
        let room = st.write_full && st.staging.len() + st.in_flight.len() < WRITE_CAP;
        if room {
            st.write_full = false;
        }
        let dropped = st.dropped;
        drop(st);
        if room && !dropped {
            self.sched.set_readiness(WRITABLE);
            self.sched.take_wakers(WRITABLE, wakers);
        }
    }
}

impl Completion for StreamRing {
    fn complete(
        self: std::sync::Arc<Self>,
        ring: &std::sync::Arc<Ring>,
        kind: u8,
        res: i32,
        flags: u32,
        last: bool,
        wakers: &mut Vec<Waker>,
    ) {
        match kind {
            RECV => self.complete_recv(ring, res, flags, last, wakers),
            _ => self.complete_send(ring, res, wakers),
        }
    }

    /// Rule 8: wakes every task waiting to read, write or flush; each finds the shutdown.
    fn shut_down(&self, wakers: &mut Vec<Waker>) {
        let mut st = lock(&self.st);
        wakers.extend(st.take_wakers(Side::Read));
        wakers.extend(st.take_wakers(Side::Write));
    }
}
