//! The `uring` reference of the echo suites (Linux): the same echo server as the `mio` one, with
//! no runtime and no readiness, written straight on io_uring the way a hand-tuned single-thread
//! server would be. It shows how far below the readiness servers an io_uring server can go on
//! this kernel and this load, the floor tether's io_uring driver is measured against.
//!
//! One thread and one ring, set up with `IORING_SETUP_SINGLE_ISSUER` and
//! `IORING_SETUP_DEFER_TASKRUN` (the kernel's completion work runs only when this thread waits
//! in the ring, in one batch). A multishot accept takes connections. Each connection has one
//! multishot receive that picks its buffer from a provided-buffer ring; a completion's bytes are
//! copied to the connection's outgoing bytes and the buffer goes straight back to the ring. A
//! connection has at most one send in flight; bytes that arrive meanwhile wait for it. Each
//! loop turn is one `io_uring_enter` that submits every send queued by the turn before and waits
//! for at least one completion. A receive that ends because the ring's buffers ran out
//! (`ENOBUFS`), or that ends with bytes, is armed again. Nothing here is shared with tether's
//! driver.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::echo::{accept_failed, LoadRun, Plan, BUF};
use super::Scale;
use crate::runtimes::Flavor;

/// Provided buffers: enough for one turn's receives at 10,000 connections (a buffer goes back
/// to the ring as soon as its bytes are copied out).
const BUFS: u16 = 16_384;
/// The buffer group of the provided-buffer ring.
const GROUP: u16 = 0;

/// What a completion's `user_data` names: the low 32 bits a connection's slot, the bits above
/// the operation.
const ACCEPT: u64 = 1 << 32;
const RECV: u64 = 2 << 32;
const SEND: u64 = 3 << 32;
const WAKE: u64 = 4 << 32;
/// The 10 ms timeout after a failed accept, before the accept is armed again.
const ACCEPT_RETRY: u64 = 5 << 32;
const KIND: u64 = !0 << 32;

struct Conn {
    fd: OwnedFd,
    /// The bytes being sent (their memory must stay put until the send completes).
    sending: Vec<u8>,
    /// How much of `sending` the kernel has taken.
    sent: usize,
    /// Bytes received while a send was in flight.
    queued: Vec<u8>,
    /// A send is in flight.
    in_flight: bool,
    /// The receive ended: close once the send in flight completes.
    recv_ended: bool,
}

/// The provided-buffer ring: its entries (shared with the kernel) and the buffers' memory.
struct Buffers {
    entries: *mut types::BufRingEntry,
    entries_len: usize,
    memory: Vec<u8>,
    tail: u16,
}

impl Buffers {
    fn register(ring: &IoUring) -> io::Result<Buffers> {
        let entries_len = BUFS as usize * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: an anonymous private mapping; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut bufs = Buffers {
            entries: ptr.cast(),
            entries_len,
            memory: vec![0u8; BUFS as usize * BUF],
            tail: 0,
        };
        // SAFETY: the mapping is page-aligned, `BUFS` entries long, and lives (in `bufs`) until
        // after the ring is dropped: `run_uring` drops the ring first.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, BUFS, GROUP, 0)?;
        }
        for bid in 0..BUFS {
            bufs.put(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// Writes buffer `bid` at the tail (published by `publish`).
    fn put(&mut self, bid: u16) {
        let i = (self.tail & (BUFS - 1)) as usize;
        // SAFETY: `i < BUFS`; the entry at the tail is not the kernel's until published.
        let e = unsafe { &mut *self.entries.add(i) };
        // SAFETY: `bid < BUFS`, so the buffer lies inside `memory`.
        e.set_addr(unsafe { self.memory.as_mut_ptr().add(bid as usize * BUF) } as u64);
        e.set_len(BUF as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lies in the first entry of the mapping, 2-byte aligned; the
        // kernel reads it, so it is written with a release store.
        let t = unsafe {
            &*(types::BufRingEntry::tail(self.entries) as *const std::sync::atomic::AtomicU16)
        };
        t.store(self.tail, std::sync::atomic::Ordering::Release);
    }

    fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        &self.memory[bid as usize * BUF..][..len]
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `register`, unmapped once.
        unsafe { libc::munmap(self.entries.cast(), self.entries_len) };
    }
}

/// The ring and its provided buffers; `Err` says what this kernel lacks.
fn setup() -> Result<(IoUring, Buffers), String> {
    let ring = IoUring::builder()
        .setup_cqsize(32_768)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)
        .map_err(|e| {
            format!("io_uring_setup with DEFER_TASKRUN failed: {e} (Linux 6.1 or later)")
        })?;
    let bufs = Buffers::register(&ring)
        .map_err(|e| format!("provided-buffer ring refused: {e} (Linux 5.19 or later)"))?;
    Ok((ring, bufs))
}

/// Queues `entry`, submitting what is queued when the queue is full.
fn push(ring: &mut IoUring, entry: &squeue::Entry) {
    loop {
        // SAFETY: every entry pushed here points at memory that outlives its operation: a
        // connection's `sending` is neither moved nor freed while its send is in flight, and
        // `retry_after` lives until the ring is dropped.
        if unsafe { ring.submission().push(entry) }.is_ok() {
            return;
        }
        ring.submit().expect("uring echo: io_uring_enter");
    }
}

fn recv_entry(fd: RawFd, slot: usize) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(fd), GROUP)
        .build()
        .user_data(RECV | slot as u64)
}

fn send_entry(c: &Conn, slot: usize) -> squeue::Entry {
    let rest = &c.sending[c.sent..];
    opcode::Send::new(
        types::Fd(c.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .build()
    .user_data(SEND | slot as u64)
}

/// Starts sending `c.queued` if nothing is in flight.
fn start_send(ring: &mut IoUring, c: &mut Conn, slot: usize) {
    if c.in_flight || c.queued.is_empty() {
        return;
    }
    std::mem::swap(&mut c.sending, &mut c.queued);
    c.queued.clear();
    c.sent = 0;
    c.in_flight = true;
    push(ring, &send_entry(c, slot));
}

pub(super) fn run_uring(scale: Scale, _flavor: Flavor, conns_wanted: usize) -> Vec<f64> {
    let (ring, bufs) = match setup() {
        Ok(set) => set,
        Err(why) => {
            // As for tether on io_uring where the kernel refuses it: the figures read `n/a`.
            eprintln!("tether-bench: the uring reference: n/a: {why}");
            return vec![f64::NAN; super::echo::ECHO_METRICS.len()];
        }
    };
    // Locals drop in reverse order, unwinding included: the ring goes first (closing it cancels
    // the operations still in flight), then the connections whose bytes a send may point at
    // and the buffers a receive may write into.
    let mut bufs = bufs;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut ring = ring;
    let plan = Plan::new(scale, conns_wanted);
    let listener = TcpListener::bind("127.0.0.1:0").expect("uring echo: bind");
    listener
        .set_nonblocking(true)
        .expect("uring echo: nonblocking");
    let addr: SocketAddr = listener.local_addr().expect("uring echo: local_addr");
    // SAFETY: `eventfd` has no memory-safety preconditions; its result is checked.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(efd >= 0, "uring echo: eventfd");
    // SAFETY: a new descriptor nothing else owns.
    let wake = std::sync::Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
    let remote = std::sync::Arc::clone(&wake);
    let load = LoadRun::start(
        addr,
        plan,
        Some(Box::new(move || {
            let one = 1u64;
            // SAFETY: writes the 8 bytes of `one`.
            unsafe { libc::write(remote.as_raw_fd(), (&one as *const u64).cast(), 8) };
        })),
    );
    let wake_entry = opcode::PollAdd::new(types::Fd(wake.as_raw_fd()), libc::POLLIN as u32)
        .multi(true)
        .build()
        .user_data(WAKE);
    let accept_entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
        .build()
        .user_data(ACCEPT);
    let retry_after = types::Timespec::from(std::time::Duration::from_millis(10));
    let retry_entry = opcode::Timeout::new(&retry_after)
        .build()
        .user_data(ACCEPT_RETRY);
    push(&mut ring, &wake_entry);
    push(&mut ring, &accept_entry);

    let mut free: Vec<usize> = Vec::new();
    let mut done: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    loop {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => panic!("uring echo: io_uring_enter: {e}"),
        }
        done.clear();
        done.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut returned = false;
        for &(data, res, flags) in &done {
            let slot = (data & !KIND) as usize;
            match data & KIND {
                WAKE => {
                    if let Some(figures) = load.try_finish() {
                        return figures;
                    }
                    if !cqueue::more(flags) {
                        push(&mut ring, &wake_entry);
                    }
                }
                ACCEPT => {
                    if res >= 0 {
                        // SAFETY: the accepted descriptor is new and owned here.
                        let fd = unsafe { OwnedFd::from_raw_fd(res) };
                        let on: libc::c_int = 1;
                        // SAFETY: passes a pointer to a live `c_int` and its size.
                        unsafe {
                            libc::setsockopt(
                                fd.as_raw_fd(),
                                libc::IPPROTO_TCP,
                                libc::TCP_NODELAY,
                                (&on as *const libc::c_int).cast(),
                                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                            )
                        };
                        let i = free.pop().unwrap_or_else(|| {
                            conns.push(None);
                            conns.len() - 1
                        });
                        push(&mut ring, &recv_entry(fd.as_raw_fd(), i));
                        conns[i] = Some(Conn {
                            fd,
                            sending: Vec::with_capacity(BUF),
                            sent: 0,
                            queued: Vec::with_capacity(BUF),
                            in_flight: false,
                            recv_ended: false,
                        });
                    } else {
                        accept_failed(&io::Error::from_raw_os_error(-res));
                    }
                    if !cqueue::more(flags) {
                        if res >= 0 {
                            push(&mut ring, &accept_entry);
                        } else {
                            // Accept again after 10 ms, as the other servers do, not at once.
                            push(&mut ring, &retry_entry);
                        }
                    }
                }
                ACCEPT_RETRY => push(&mut ring, &accept_entry),
                RECV => {
                    let Some(c) = conns[slot].as_mut() else {
                        continue;
                    };
                    if res > 0 {
                        let bid = cqueue::buffer_select(flags).expect("a provided buffer");
                        c.queued.extend_from_slice(bufs.bytes(bid, res as usize));
                        bufs.put(bid);
                        returned = true;
                        start_send(&mut ring, c, slot);
                        if !cqueue::more(flags) {
                            push(&mut ring, &recv_entry(c.fd.as_raw_fd(), slot));
                        }
                    } else if res == -libc::ENOBUFS {
                        push(&mut ring, &recv_entry(c.fd.as_raw_fd(), slot));
                    } else {
                        // End of stream or an error: the receive has ended.
                        c.recv_ended = true;
                        if !c.in_flight {
                            conns[slot] = None;
                            free.push(slot);
                        }
                    }
                }
                SEND => {
                    let Some(c) = conns[slot].as_mut() else {
                        continue;
                    };
                    c.in_flight = false;
                    if res < 0 {
                        // The peer is gone: drop what waits and make the receive end too (the
                        // slot is reused only after its receive's last completion).
                        c.queued.clear();
                        // SAFETY: `shutdown` on a descriptor this connection owns.
                        unsafe { libc::shutdown(c.fd.as_raw_fd(), libc::SHUT_RDWR) };
                    } else {
                        c.sent += res as usize;
                        if c.sent < c.sending.len() {
                            c.in_flight = true;
                            push(&mut ring, &send_entry(c, slot));
                            continue;
                        }
                        start_send(&mut ring, c, slot);
                    }
                    if c.recv_ended && !c.in_flight {
                        conns[slot] = None;
                        free.push(slot);
                    }
                }
                _ => unreachable!("uring echo: unknown user_data {data:#x}"),
            }
        }
        if returned {
            bufs.publish();
        }
    }
}
