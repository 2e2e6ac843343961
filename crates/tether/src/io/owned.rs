//! Owned-buffer reads and writes on a registered socket: one completion operation
//! (`IORING_OP_RECV`, `IORING_OP_SEND`) on the io_uring driver, the readiness retry loop
//! otherwise (epoll, a simulated socket, a kernel without the opcodes), so the same program runs
//! on every driver.
//!
//! The descriptor an operation names stays open until the kernel has taken it: the operation is
//! queued while its future borrows the socket, and the socket's deregistration, which comes
//! before its descriptor is closed, submits the queue at once (`uring.rs` rule 4).

use std::io::{self, Read, Write};

use crate::io::buf::{filled, init_bytes, whole_zeroed, IoBuf, IoBufMut};
use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::io::source::IoSource;

/// Reads once into `buf` (from its first byte, up to its total), returning how many bytes.
pub(crate) async fn read_owned<E, B>(io: &PollEvented<E>, mut buf: B) -> (io::Result<usize>, B)
where
    E: IoSource,
    for<'a> &'a E: Read,
    B: IoBufMut,
{
    #[cfg(target_os = "linux")]
    if let (Some(fd), Some(sub)) = (
        io.get_ref().uring_fd(),
        crate::io::uring_op::submitter(io.runtime()),
    ) {
        use io_uring::{opcode, types};
        let len = buf.bytes_total().min(u32::MAX as usize) as u32;
        let op = sub.start(buf, crate::io::uring_op::Orphan::Ignore, |b| {
            opcode::Recv::new(types::Fd(fd), b.stable_mut_ptr(), len).build()
        });
        return match op {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let out = op.await;
                let mut buf = out.resources;
                let result = out.result.map(|n| n as usize);
                if let Ok(n) = result {
                    filled(&mut buf, n);
                }
                (result, buf)
            }
        };
    }
    let result = io
        .async_io(Direction::Read, |mut s| s.read(whole_zeroed(&mut buf)))
        .await;
    if let Ok(n) = result {
        filled(&mut buf, n);
    }
    (result, buf)
}

/// Writes once from `buf[from..bytes_init]`, returning how many bytes.
async fn write_owned_from<E, B>(io: &PollEvented<E>, buf: B, from: usize) -> (io::Result<usize>, B)
where
    E: IoSource,
    for<'a> &'a E: Write,
    B: IoBuf,
{
    #[cfg(target_os = "linux")]
    if let (Some(fd), Some(sub)) = (
        io.get_ref().uring_fd(),
        crate::io::uring_op::submitter(io.runtime()),
    ) {
        use io_uring::{opcode, types};
        let len = (buf.bytes_init() - from).min(u32::MAX as usize) as u32;
        let op = sub.start(buf, crate::io::uring_op::Orphan::Ignore, |b| {
            // SAFETY: `from <= bytes_init`, so the pointer stays within the buffer.
            let ptr = unsafe { b.stable_ptr().add(from) };
            opcode::Send::new(types::Fd(fd), ptr, len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        });
        return match op {
            Err((e, buf)) => (Err(e), buf),
            Ok(op) => {
                let out = op.await;
                (out.result.map(|n| n as usize), out.resources)
            }
        };
    }
    let result = io
        .async_io(Direction::Write, |mut s| s.write(&init_bytes(&buf)[from..]))
        .await;
    (result, buf)
}

/// Writes once from the buffer's initialized bytes, returning how many were written.
pub(crate) async fn write_owned<E, B>(io: &PollEvented<E>, buf: B) -> (io::Result<usize>, B)
where
    E: IoSource,
    for<'a> &'a E: Write,
    B: IoBuf,
{
    write_owned_from(io, buf, 0).await
}

/// Writes every initialized byte of the buffer; a write of zero bytes is `WriteZero`.
pub(crate) async fn write_all_owned<E, B>(io: &PollEvented<E>, mut buf: B) -> (io::Result<()>, B)
where
    E: IoSource,
    for<'a> &'a E: Write,
    B: IoBuf,
{
    let mut done = 0;
    while done < buf.bytes_init() {
        let (result, back) = write_owned_from(io, buf, done).await;
        buf = back;
        match result {
            Ok(0) => {
                let e = io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                );
                return (Err(e), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
