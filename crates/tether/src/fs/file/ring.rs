//! A `File`'s jobs as io_uring operations, when the runtime's driver runs them: a read or write
//! at the file's position (`IORING_OP_READ`/`WRITE` at offset -1, which uses and moves it as
//! `read(2)`/`write(2)` do), `fsync`/`fdatasync` (`IORING_OP_FSYNC`). `set_len` stays on the
//! blocking pool; a seek is no job on either path (`file.rs` makes it at once).
//!
//! A [`RingJob`] stands where the pool's `JoinHandle` stands in the file's protocol (its rules
//! 1-6 hold unchanged): it owns the buffer until it gives it back with the [`Done`]. The
//! operation's resources are the buffer and an `Arc` of the file, held by the driver until the
//! kernel is done (`io/uring_op.rs` rule 2), so dropping a job frees nothing the kernel may
//! still write. A dropped read is cancelled; a dropped write or sync is detached and completes
//! in the background (file rule 6: no buffered byte is discarded unwritten), even when its
//! runtime shuts down meanwhile: the ring's drain waits for a detached operation rather than
//! cancelling it (`io/uring_op.rs` rules 3, 5). A `File` dropped with a write in flight hands
//! the job to a task ([`finish_in_background`]), which also writes the rest of a write the
//! kernel took only in part; a job dropped anywhere else (its task dropped at shutdown) leaves
//! that rest unwritten.

use std::fs::File as StdFile;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use io_uring::{opcode, types};

use crate::io::uring_op::{Op, OpSubmitter, Orphan};

use super::{Buf, Done, Mode, Op as FileOp};

/// The offset that means "at the file's position" (`IORING_FEAT_RW_CUR_POS`).
const AT_POSITION: u64 = u64::MAX;

/// The resources of a file operation.
type Res = (Buf, Arc<StdFile>);

/// A file job on the ring (see the module docs).
pub(super) struct RingJob {
    sub: OpSubmitter,
    state: State,
}

enum State {
    /// Done (the operation's output, not taken yet).
    Ready(Option<(Buf, Done)>),
    Read(Op<Res>),
    /// `written` bytes of the buffer are written.
    Write {
        op: Op<Res>,
        written: usize,
    },
    Sync(Op<Res>),
    Gone,
}

impl RingJob {
    /// Starts `op` on `buf`, or gives both back if the ring does not take it (the caller runs it
    /// on the pool instead): `set_len`, or a submission refused.
    pub(super) fn start(
        sub: OpSubmitter,
        file: &Arc<StdFile>,
        buf: Buf,
        op: FileOp,
    ) -> Result<RingJob, (Buf, FileOp)> {
        let state = match op {
            FileOp::Read(n) => {
                let mut buf = buf;
                buf.clear();
                buf.bytes.reserve(n);
                let len = n.min(u32::MAX as usize) as u32;
                let fd = file.as_raw_fd();
                match sub.start((buf, file.clone()), Orphan::Ignore, |r| {
                    opcode::Read::new(types::Fd(fd), r.0.bytes.as_mut_ptr(), len)
                        .offset(AT_POSITION)
                        .build()
                }) {
                    Ok(op) => State::Read(op),
                    Err((_, (buf, _))) => return Err((buf, FileOp::Read(n))),
                }
            }
            FileOp::Write => match write_op(&sub, file, buf, 0) {
                Ok(op) => State::Write { op, written: 0 },
                Err(buf) => return Err((buf, FileOp::Write)),
            },
            FileOp::SyncAll | FileOp::SyncData => {
                let flags = match op {
                    FileOp::SyncData => types::FsyncFlags::DATASYNC,
                    _ => types::FsyncFlags::empty(),
                };
                let fd = file.as_raw_fd();
                match sub.start((buf, file.clone()), Orphan::Ignore, |_| {
                    opcode::Fsync::new(types::Fd(fd)).flags(flags).build()
                }) {
                    Ok(op) => State::Sync(op),
                    Err((_, (buf, _))) => return Err((buf, op)),
                }
            }
            FileOp::SetLen(_) => return Err((buf, op)),
        };
        Ok(RingJob { sub, state })
    }
}

/// Writes `buf.bytes[from..]` at the file's position.
fn write_op(sub: &OpSubmitter, file: &Arc<StdFile>, buf: Buf, from: usize) -> Result<Op<Res>, Buf> {
    let len = (buf.bytes.len() - from).min(u32::MAX as usize) as u32;
    let fd = file.as_raw_fd();
    sub.start((buf, file.clone()), Orphan::Ignore, |r| {
        // SAFETY: `from <= len`: the pointer stays within the buffer's bytes.
        let ptr = unsafe { r.0.bytes.as_ptr().add(from) };
        opcode::Write::new(types::Fd(fd), ptr, len)
            .offset(AT_POSITION)
            .build()
    })
    .map_err(|(_, (buf, _))| buf)
}

impl Future for RingJob {
    type Output = (Buf, Done);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(Buf, Done)> {
        let me = self.get_mut();
        loop {
            match &mut me.state {
                State::Ready(out) => {
                    let out = out
                        .take()
                        .expect("tether: a file job polled after it completed");
                    me.state = State::Gone;
                    return Poll::Ready(out);
                }
                State::Read(op) => {
                    let out = ready!(Pin::new(op).poll(cx));
                    let (mut buf, _file) = out.resources;
                    let result = out.result.map(|k| k as usize);
                    if let Ok(k) = result {
                        // SAFETY: the kernel wrote the first `k` bytes of the reserved capacity.
                        unsafe { buf.bytes.set_len(k) };
                        if k > 0 {
                            buf.mode = Mode::Read;
                        }
                    }
                    me.state = State::Ready(Some((buf, Done::Read(result))));
                }
                State::Write { op, written } => {
                    let out = ready!(Pin::new(op).poll(cx));
                    let (mut buf, file) = out.resources;
                    let done = match out.result {
                        Ok(0) => Some(Err(io::ErrorKind::WriteZero.into())),
                        Ok(k) if *written + k as usize == buf.bytes.len() => Some(Ok(())),
                        Ok(k) => {
                            *written += k as usize;
                            None
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                        Err(e) => Some(Err(e)),
                    };
                    if let Some(result) = done {
                        buf.clear();
                        me.state = State::Ready(Some((buf, Done::Write(result))));
                        continue;
                    }
                    let from = *written;
                    me.state = match write_op(&me.sub, &file, buf, from) {
                        Ok(op) => State::Write { op, written: from },
                        Err(mut buf) => {
                            buf.clear();
                            let e = io::Error::other("the io_uring driver refused the write");
                            State::Ready(Some((buf, Done::Write(Err(e)))))
                        }
                    };
                }
                State::Sync(op) => {
                    let out = ready!(Pin::new(op).poll(cx));
                    let result = out.result.map(|_| ());
                    me.state = State::Ready(Some((out.resources.0, Done::Other(result))));
                }
                State::Gone => panic!("tether: a file job polled after it completed"),
            }
        }
    }
}

/// For a `File` dropped with `job` in flight (its rule 6): a write is moved into a task of the
/// current runtime that drives it to its end, so that the rest of a write the kernel took in
/// part is written too; without a runtime (or for a read or sync) dropping the job is enough.
pub(super) fn finish_in_background(job: &mut RingJob) {
    if !matches!(job.state, State::Write { .. }) {
        return;
    }
    let Ok(handle) = crate::runtime::Handle::try_current() else {
        return;
    };
    let job = RingJob {
        sub: job.sub.clone(),
        state: std::mem::replace(&mut job.state, State::Gone),
    };
    drop(handle.spawn(job));
}

impl Drop for RingJob {
    fn drop(&mut self) {
        // A read is cancelled by its `Op`'s drop; a write or sync completes (module docs).
        match std::mem::replace(&mut self.state, State::Gone) {
            State::Write { op, .. } | State::Sync(op) => op.detach(),
            _ => {}
        }
    }
}
