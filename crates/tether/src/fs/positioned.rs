//! Positioned reads and writes of owned buffers (`File::read_at_owned`, `write_at_owned`): one
//! io_uring operation when the runtime's driver runs them, one `pread`/`pwrite` on the blocking
//! pool otherwise.
//!
//! On io_uring the operation's resources are the buffer and an `Arc` of the file, so the
//! descriptor stays open until the kernel is done with it, whatever happens to the `File` or the
//! future (`io/uring_op.rs` rules 2, 3). On the pool the buffer moves into the job and back; a
//! job that never ran (the runtime shut down with it queued) hands it back through its slot.
//!
//! A position past `i64::MAX` is refused up front, on both paths (`check_pos`): the kernel's
//! offsets are signed, and io_uring reads `u64::MAX` (-1) as "at the file's position", which
//! would read or write at the cursor of the `AsyncRead`/`AsyncWrite` side and move it.

use std::fs::File as StdFile;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::panic::Location;
use std::sync::{Arc, Mutex};

use super::{annotate, current_runtime, File};
use crate::io::buf::{filled, init_bytes, whole_zeroed};
use crate::io::{IoBuf, IoBufMut};
use crate::runtime::{Handle, RuntimeShared};

type Shared = crate::loom::sync::Arc<RuntimeShared>;

impl File {
    /// Reads once from the file at offset `pos` into an owned buffer, which comes back with
    /// the result: up to [`bytes_total`](IoBuf::bytes_total) bytes, from the buffer's first
    /// byte (a `Vec`'s length becomes at least the count read). `Ok(0)` is the end of the file.
    ///
    /// Positioned I/O goes straight to the file: it neither uses nor moves the position of the
    /// `AsyncRead`/`AsyncWrite` side, and does not see bytes written through `AsyncWrite` that
    /// are still buffered (`flush` first). It takes `&self`, so many reads of one file can be in
    /// flight at once (share the `File` with an `Arc`).
    ///
    /// On the io_uring driver this is one `IORING_OP_READ` into the buffer, no thread involved;
    /// the driver owns the buffer (and keeps the file open) until the kernel is done, even if
    /// the future is dropped. Elsewhere it is one `pread` on the blocking pool.
    ///
    /// # Errors
    ///
    /// The OS's error (the file is not open for reading, ...), naming the path;
    /// [`io::ErrorKind::InvalidInput`] when `pos` is beyond `i64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::fs::File;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let path = std::env::temp_dir().join(format!("tether-doc-read-at-{}", std::process::id()));
    ///     tether::fs::write(&path, b"0123456789").await?;
    ///     let file = File::open(&path).await?;
    ///     let (n, buf) = file.read_at_owned(Vec::with_capacity(4), 3).await;
    ///     assert_eq!(&buf[..n?], b"3456");
    ///     tether::fs::remove_file(&path).await
    /// }
    /// ```
    #[cfg(unix)]
    #[track_caller]
    pub fn read_at_owned<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        let rt = current_runtime("File::read_at_owned");
        async move {
            let (result, buf) = read_at(&rt, &self.std, buf, pos).await;
            let result =
                result.map_err(|e| annotate(e, format_args!("read from {} at {pos}", self.name())));
            (result, buf)
        }
    }

    /// Writes once, at offset `pos`, the initialized bytes of an owned buffer
    /// ([`bytes_init`](IoBuf::bytes_init)), which comes back with the count written (a regular
    /// file takes them all unless the disk is full or an error occurs).
    ///
    /// As [`read_at_owned`](File::read_at_owned): the position of the `AsyncWrite` side is
    /// neither used nor moved, and its buffered bytes are not written first. One
    /// `IORING_OP_WRITE` on the io_uring driver, one `pwrite` on the blocking pool elsewhere.
    /// (On a file opened for appending, Linux appends whatever `pos` says.)
    ///
    /// # Errors
    ///
    /// The OS's error (the file is not open for writing, the disk is full...), naming the path;
    /// [`io::ErrorKind::InvalidInput`] when `pos` is beyond `i64::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::fs::File;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let path = std::env::temp_dir().join(format!("tether-doc-write-at-{}", std::process::id()));
    ///     tether::fs::write(&path, b"..........").await?;
    ///     let file = File::options().write(true).open(&path).await?;
    ///     let (n, _buf) = file.write_at_owned(b"abc".to_vec(), 4).await;
    ///     assert_eq!(n?, 3);
    ///     assert_eq!(tether::fs::read(&path).await?, b"....abc...");
    ///     tether::fs::remove_file(&path).await
    /// }
    /// ```
    #[cfg(unix)]
    #[track_caller]
    pub fn write_at_owned<B: IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = (io::Result<usize>, B)> + '_ {
        let rt = current_runtime("File::write_at_owned");
        async move {
            let (result, buf) = write_at(&rt, &self.std, buf, pos).await;
            let result =
                result.map_err(|e| annotate(e, format_args!("write to {} at {pos}", self.name())));
            (result, buf)
        }
    }
}

/// Reads once at `pos` into `buf`.
pub(crate) async fn read_at<B: IoBufMut>(
    rt: &Shared,
    file: &Arc<StdFile>,
    buf: B,
    pos: u64,
) -> (io::Result<usize>, B) {
    if let Err(e) = check_pos(pos) {
        return (Err(e), buf);
    }
    #[cfg(target_os = "linux")]
    if let Some(sub) = crate::io::uring_op::submitter(rt) {
        use io_uring::{opcode, types};
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let len = buf.bytes_total().min(u32::MAX as usize) as u32;
        let op = sub.start(
            (buf, file.clone()),
            crate::io::uring_op::Orphan::Ignore,
            |r| {
                opcode::Read::new(types::Fd(fd), r.0.stable_mut_ptr(), len)
                    .offset(pos)
                    .build()
            },
        );
        return match op {
            Err((e, (buf, _))) => (Err(e), buf),
            Ok(op) => {
                let out = op.await;
                let (mut buf, _file) = out.resources;
                let result = out.result.map(|n| n as usize);
                if let Ok(n) = result {
                    filled(&mut buf, n);
                }
                (result, buf)
            }
        };
    }
    let file = file.clone();
    on_pool(rt, buf, move |buf| {
        let result = retry(|| file.read_at(whole_zeroed(buf), pos));
        if let Ok(n) = result {
            filled(buf, n);
        }
        result
    })
    .await
}

/// Writes once at `pos` from `buf`'s initialized bytes.
pub(crate) async fn write_at<B: IoBuf>(
    rt: &Shared,
    file: &Arc<StdFile>,
    buf: B,
    pos: u64,
) -> (io::Result<usize>, B) {
    if let Err(e) = check_pos(pos) {
        return (Err(e), buf);
    }
    #[cfg(target_os = "linux")]
    if let Some(sub) = crate::io::uring_op::submitter(rt) {
        use io_uring::{opcode, types};
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let len = buf.bytes_init().min(u32::MAX as usize) as u32;
        let op = sub.start(
            (buf, file.clone()),
            crate::io::uring_op::Orphan::Ignore,
            |r| {
                opcode::Write::new(types::Fd(fd), r.0.stable_ptr(), len)
                    .offset(pos)
                    .build()
            },
        );
        return match op {
            Err((e, (buf, _))) => (Err(e), buf),
            Ok(op) => {
                let out = op.await;
                (out.result.map(|n| n as usize), out.resources.0)
            }
        };
    }
    let file = file.clone();
    on_pool(rt, buf, move |buf| {
        retry(|| file.write_at(init_bytes(buf), pos))
    })
    .await
}

/// Refuses a position the kernel's signed offsets cannot hold. On io_uring `u64::MAX` would
/// even be taken for "at the file's position" (`IORING_FEAT_RW_CUR_POS`).
fn check_pos(pos: u64) -> io::Result<()> {
    if pos > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the position is beyond i64::MAX, the largest file offset",
        ));
    }
    Ok(())
}

/// Retries `f` while it is interrupted by a signal.
fn retry(mut f: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Runs `f` on `buf` on the blocking pool and gives the buffer back. The buffer waits in a
/// slot the job borrows, so a job discarded unrun (the runtime shut down) still returns it.
async fn on_pool<B: Send + 'static>(
    rt: &Shared,
    buf: B,
    f: impl FnOnce(&mut B) -> io::Result<usize> + Send + 'static,
) -> (io::Result<usize>, B) {
    let slot = Arc::new(Mutex::new(Some(buf)));
    let job_slot = slot.clone();
    let handle = Handle { shared: rt.clone() };
    let job = handle.spawn_blocking_inner(
        move || {
            let mut guard = job_slot.lock().unwrap_or_else(|e| e.into_inner());
            let buf = guard.as_mut().expect("the buffer is in its slot");
            f(buf)
        },
        Location::caller(),
    );
    let result = match job.await {
        Ok(result) => result,
        Err(e) => Err(io::Error::from(e)),
    };
    let buf = slot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the blocking job gives the buffer back");
    (result, buf)
}
