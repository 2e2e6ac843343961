//! `File`: an open file whose blocking calls run on the pool (or, on the io_uring driver, as
//! io_uring operations: `file/ring.rs`), buffered in both directions.
//!
//! # Protocol
//!
//! The `std::fs::File` is shared, in an `Arc`, between the `File` and at most one blocking job
//! at a time (plus short-lived `metadata` jobs, which only read it). The **buffer** is what moves:
//!
//! - **Idle**: the buffer ([`Buf`]) sits in the `File`. Its [`Mode`] says what it holds:
//!   `Empty`; `Read`: `bytes[pos..]`, read ahead of the logical position (the OS cursor is
//!   `unread()` bytes past it); `Write`: bytes accepted from the caller and not yet given to the
//!   OS (the logical position is `bytes.len()` past the OS cursor, or at the end of the file in
//!   append mode).
//! - **Busy**: the buffer has moved into a blocking [`Job`] with an [`Op`] (or into an io_uring
//!   job, `file/ring.rs`); the job gives it back with what happened ([`Done`]).
//!
//! A seek is no job: one `lseek`, made at once ([`File::seek_now`]) on either path, and only
//! while Idle. `lseek` moves the cursor without waiting for the device, and a seek that is done
//! in the poll that starts it cannot be mistaken for another one: `poll_seek` is given nothing
//! but the position, so a seek left in flight could not tell its own re-poll from a new,
//! identical seek.
//!
//! Rules:
//! 1. At most one job is in flight. Every operation first completes it (`poll_complete`),
//!    whoever started it: an operation whose future was dropped is finished by the next one.
//! 2. The buffer holds one direction at a time. Reading with a `Write` buffer first writes it
//!    out; writing with a `Read` buffer first moves the OS cursor back by the unread bytes. With
//!    an `Empty` buffer the OS cursor is at the logical position.
//! 3. A seek relative to the current position is relative to the *logical* position: with a
//!    `Read` buffer the `lseek` is by `n - unread` and the read-ahead is dropped once it
//!    succeeded (a failed seek changes nothing); a `Write` buffer is written out first. A seek
//!    has happened exactly when its poll returned `Ready` (its future dropped before then only
//!    finishes the write-out it waited for, by rule 1).
//! 4. The error of a job that wrote (the file's contents are then in doubt), or of a job lost to
//!    a panic or to shutdown, is returned by whichever operation completes the job: this is how
//!    the error of a buffered write reaches `flush`. The result of a read, `set_len` or sync goes
//!    to the operation that asked for it, and is dropped if that operation's future was dropped.
//!    A seek's error goes to the seek (or to the read or write whose rewind of rule 2 it was).
//! 5. Each operation that completes spends one unit of the cooperative budget, also when it is
//!    served from the buffer; the job's `JoinHandle` is polled unconstrained, so it costs no
//!    more.
//! 6. Dropping a `File` with bytes in a `Write` buffer hands them to a job on the blocking pool
//!    (written synchronously in `Drop` when no runtime is current); a write job dropped before it
//!    ran (the runtime shut down with it queued) writes its bytes in its own `Drop`, so no
//!    buffered byte is discarded unwritten (see [`File`]'s docs).

use std::fmt;
use std::fs::{File as StdFile, Metadata};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};

use crate::runtime::Handle;
use crate::task::coop::poll_proceed;
use crate::task::{unconstrained, JoinHandle, Unconstrained};

use super::{annotate, asyncify, OpenOptions};

#[cfg(target_os = "linux")]
mod ring;

/// Bytes a read trip asks for at least, and the size at which the write buffer is written out.
const BUF_SIZE: usize = 64 * 1024;

/// The most one read trip asks for, and the most one write call buffers.
const MAX_BUF: usize = 2 * 1024 * 1024;

/// An open file, read and written asynchronously.
///
/// Open one with [`File::open`] (reading), [`File::create`] (writing, emptied) or
/// [`File::options`] ([`OpenOptions`]). `File` implements the `futures-io` traits
/// [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`]: import
/// [`tether::io::{AsyncReadExt, AsyncWriteExt, AsyncSeekExt}`](crate::io) for `read`,
/// `read_to_end`, `write_all`, `flush`, `close`, `seek`...
///
/// # Buffering
///
/// Each system call runs on the runtime's blocking pool (on the io_uring driver: as an
/// io_uring operation, no thread involved), except a seek, which moves the cursor at once
/// (`lseek` does not wait for the device). A trip to the pool costs far more than a small read
/// or write, so a `File` keeps a buffer:
///
/// - a **read** that finds the buffer empty reads at least 64 KiB (up to 2 MiB for larger
///   requests) in one trip, and the following reads are served from the buffer;
/// - a **write** copies its bytes into the buffer and returns at once; the buffer is written in
///   one trip when the next write would make it larger than 64 KiB (a single write buffers up to
///   2 MiB), and on [`flush`](crate::io::AsyncWriteExt::flush),
///   [`close`](crate::io::AsyncWriteExt::close), a seek, a read, [`set_len`](File::set_len),
///   [`sync_all`](File::sync_all), [`sync_data`](File::sync_data) and
///   [`into_std`](File::into_std).
///
/// **Errors of buffered writes surface later**: a `write` that returned `Ok` only means the
/// bytes were buffered. Their error (disk full, file opened read-only...) is returned by the
/// operation that writes the buffer out, normally `flush` or `close`. After such an error the
/// bytes of that buffer are dropped (it is unknown how much of them reached the file). Call
/// `flush` (or `close`) before relying on the data being written, and `sync_all` before relying
/// on it being on disk.
///
/// Seeking accounts for the buffer: `SeekFrom::Current(n)` is relative to the position the
/// reads and writes so far have reached, not to where the operating system's cursor is after
/// reading ahead.
///
/// # Dropping a `File` with unflushed writes
///
/// The buffered bytes are not lost: `Drop` hands them to a job on the blocking pool, which
/// writes them and then closes the file (if no runtime is current on the dropping thread, they
/// are written right there, blocking it; if the runtime shuts down before the job runs, the
/// job writes them while being discarded). But `Drop` cannot wait for that write nor report
/// its error, and the data may not be in the file yet when `drop` returns: `flush` or `close`
/// the file first whenever it matters. An operation in flight when the `File` is dropped still
/// completes in the background.
///
/// # Coming from tokio
///
/// Same names and meanings, with these differences: `set_len`, `sync_all` and `sync_data` take
/// `&mut self` (they write the buffer out first); `into_std` returns an `io::Result` (the
/// buffer's write can fail); a write returns once buffered rather than once handed to a
/// background job, and the buffer is written out when full rather than after every write.
///
/// # Panics
///
/// Operations panic when polled outside a tether runtime: they need its blocking pool.
///
/// # Examples
///
/// ```
/// use std::io::SeekFrom;
/// use tether::fs::File;
/// use tether::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-file-{}", std::process::id()));
///
///     let mut file = File::create(&path).await?;
///     for i in 0..1000 {
///         // Buffered: these 1000 writes make one trip to the blocking pool.
///         file.write_all(format!("line {i}\n").as_bytes()).await?;
///     }
///     file.close().await?; // writes the buffer out; a write error would show here
///
///     let mut file = File::open(&path).await?;
///     file.seek(SeekFrom::Start(5)).await?;
///     let mut first = [0u8; 2];
///     file.read_exact(&mut first).await?;
///     assert_eq!(&first, b"0\n");
///
///     let mut rest = String::new();
///     file.read_to_string(&mut rest).await?;
///     assert!(rest.ends_with("line 999\n"));
///
///     tether::fs::remove_file(&path).await
/// }
/// ```
pub struct File {
    /// Shared with the job in flight (see the module's protocol), and with positioned
    /// operations (`positioned.rs`).
    pub(super) std: Arc<StdFile>,
    state: FileState,
    /// The path the file was opened with, for error messages; `None` after `from_std`.
    path: Option<Arc<Path>>,
}

/// Idle (the buffer is here) or Busy (it is in a job).
enum FileState {
    Idle(Buf),
    Busy(InFlight),
}

/// The job in flight: on the blocking pool, or an io_uring operation (`file/ring.rs`).
enum InFlight {
    Pool(Unconstrained<JoinHandle<(Buf, Done)>>),
    #[cfg(target_os = "linux")]
    Ring(ring::RingJob),
}

/// What the buffer holds (rule 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// Nothing: the OS cursor is at the logical position.
    #[default]
    Empty,
    /// `bytes[pos..]` were read ahead and not yet returned; never empty.
    Read,
    /// `bytes` wait to be written; never empty.
    Write,
}

/// The buffer, in the `File` or in the job in flight.
#[derive(Default)]
struct Buf {
    bytes: Vec<u8>,
    /// In `Read` mode, how many of `bytes` were already returned.
    pos: usize,
    mode: Mode,
}

impl Buf {
    /// Bytes read ahead and not yet returned.
    fn unread(&self) -> usize {
        match self.mode {
            Mode::Read => self.bytes.len() - self.pos,
            Mode::Empty | Mode::Write => 0,
        }
    }

    /// Empties the buffer, keeping its allocation.
    fn clear(&mut self) {
        self.bytes.clear();
        self.pos = 0;
        self.mode = Mode::Empty;
    }

    /// Copies read-ahead bytes into `out`.
    fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.unread());
        out[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.consume(n);
        n
    }

    /// Marks `n` read-ahead bytes returned.
    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.bytes.len() {
            self.clear();
        }
    }
}

/// What a job does.
enum Op {
    /// Read up to this many bytes into the buffer.
    Read(usize),
    /// Write the whole buffer.
    Write,
    SetLen(u64),
    SyncAll,
    SyncData,
}

/// What a job did.
enum Done {
    /// Bytes read into the buffer (0 at the end of the file).
    Read(io::Result<usize>),
    Write(io::Result<()>),
    /// `SetLen`, `SyncAll`, `SyncData`.
    Other(io::Result<()>),
    /// The job panicked or was cancelled by shutdown; the buffer is gone.
    Lost(io::Error),
}

/// A blocking job: the closure's state, so that a write job dropped before it ran can still
/// write its bytes (rule 6).
struct Job {
    std: Arc<StdFile>,
    buf: Buf,
    /// `None` once run.
    op: Option<Op>,
}

impl Job {
    /// Runs on the blocking pool (or inline, from `Drop` outside a runtime).
    fn run(mut self) -> (Buf, Done) {
        let mut buf = std::mem::take(&mut self.buf);
        let Some(op) = self.op.take() else {
            return (buf, Done::Other(Ok(())));
        };
        let mut file = &*self.std;
        let done = match op {
            Op::Read(n) => {
                buf.clear();
                buf.bytes.resize(n, 0);
                let result = loop {
                    match file.read(&mut buf.bytes) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                match &result {
                    Ok(k) => {
                        buf.bytes.truncate(*k);
                        if *k > 0 {
                            buf.mode = Mode::Read;
                        }
                    }
                    Err(_) => buf.clear(),
                }
                Done::Read(result)
            }
            Op::Write => {
                let result = file.write_all(&buf.bytes);
                buf.clear();
                Done::Write(result)
            }
            Op::SetLen(len) => Done::Other(self.std.set_len(len)),
            Op::SyncAll => Done::Other(self.std.sync_all()),
            Op::SyncData => Done::Other(self.std.sync_data()),
        };
        (buf, done)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Rule 6: a write job discarded unrun (queued at shutdown) writes here, best effort.
        if let (Some(Op::Write), Mode::Write) = (&self.op, self.buf.mode) {
            let _ = (&*self.std).write_all(&self.buf.bytes);
        }
    }
}

/// The file's name in error messages: its path, quoted, or "the file".
pub(super) struct Name<'a>(Option<&'a Path>);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{path:?}"),
            None => f.write_str("the file"),
        }
    }
}

impl File {
    /// Opens the file at `path` for reading.
    ///
    /// # Errors
    ///
    /// Fails when the file does not exist or permission is denied, with a message such as
    /// `could not open "/tmp/x/missing.txt" for reading: No such file or directory (os error 2)`.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens the file at `path` for writing, creating it if needed and emptying it if it
    /// exists.
    ///
    /// # Errors
    ///
    /// Fails when the directory does not exist or permission is denied; the message names the
    /// path.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates a new file at `path`, opened for reading and writing, failing with
    /// [`io::ErrorKind::AlreadyExists`] if something is already there.
    ///
    /// # Errors
    ///
    /// As [`create`](File::create), and when `path` exists.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// A new [`OpenOptions`] builder, every option off.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) fn from_parts(std: StdFile, path: Option<Arc<Path>>) -> File {
        File {
            std: Arc::new(std),
            state: FileState::Idle(Buf::default()),
            path,
        }
    }

    /// Wraps an open `std::fs::File`. Reading and writing start at its current position.
    ///
    /// Its path is unknown, so error messages say "the file" instead.
    pub fn from_std(std: StdFile) -> File {
        File::from_parts(std, None)
    }

    /// Completes what is in flight, writes the buffer out and gives back the read-ahead, then
    /// returns the `std::fs::File`, positioned where this `File`'s reads and writes had reached.
    ///
    /// If the future of a [`metadata`](File::metadata) call was dropped while its job still
    /// runs, that job briefly shares the file; the result is then a duplicate of the descriptor
    /// ([`try_clone`](std::fs::File::try_clone): same open file, same position).
    ///
    /// # Errors
    ///
    /// Fails when writing the buffer out fails (the file is closed then).
    pub async fn into_std(mut self) -> io::Result<StdFile> {
        std::future::poll_fn(|cx| self.poll_settle(cx, true)).await?;
        let name = self.name().to_string();
        let std = self.std.clone();
        drop(self); // Idle and empty: nothing left to write.
        match Arc::try_unwrap(std) {
            Ok(std) => Ok(std),
            Err(shared) => shared
                .try_clone()
                .map_err(|e| annotate(e, format_args!("duplicate the descriptor of {name}"))),
        }
    }

    /// Returns the `std::fs::File` at once if nothing is buffered or in flight, or gives this
    /// `File` back.
    pub fn try_into_std(self) -> Result<StdFile, File> {
        match &self.state {
            FileState::Idle(buf) if buf.mode == Mode::Empty => {}
            _ => return Err(self),
        }
        let path = self.path.clone();
        let std = self.std.clone();
        drop(self);
        Arc::try_unwrap(std).map_err(|std| File {
            std,
            state: FileState::Idle(Buf::default()),
            path,
        })
    }

    /// The file's metadata (size, permissions, times...).
    ///
    /// Bytes still in the write buffer are not counted in the size: `flush` first.
    ///
    /// # Errors
    ///
    /// Fails when the operating system cannot examine the file (rare).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata())
            .await
            .map_err(|e| annotate(e, format_args!("read the metadata of {}", self.name())))
    }

    /// A second `File` for the same open file (`std::fs::File::try_clone`, a duplicated
    /// descriptor): both share the operating system's cursor, so a read, write or seek through
    /// one moves it for the other.
    ///
    /// Each `File` keeps its own buffer (see [Buffering](File#buffering)): bytes this one has
    /// buffered are not in the file until it is flushed, and its read-ahead has already moved
    /// the shared cursor past the position its own reads have reached. `flush` this one before
    /// cloning, and do not read ahead through one while positioning with the other, when the
    /// shared position matters. The clone's error messages name the same path.
    ///
    /// # Errors
    ///
    /// Fails when the descriptor cannot be duplicated (too many open files).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::fs::File;
    /// use tether::io::AsyncWriteExt;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let path = std::env::temp_dir().join(format!("tether-doc-clone-{}", std::process::id()));
    ///     let mut first = File::create(&path).await?;
    ///     first.write_all(b"one ").await?;
    ///     first.flush().await?; // the bytes reach the file, and the shared cursor moves past them
    ///     let mut second = first.try_clone().await?;
    ///     second.write_all(b"two").await?; // continues where `first` left off
    ///     second.flush().await?;
    ///     assert_eq!(tether::fs::read_to_string(&path).await?, "one two");
    ///     tether::fs::remove_file(&path).await
    /// }
    /// ```
    pub async fn try_clone(&self) -> io::Result<File> {
        let std = self.std.clone();
        let clone = asyncify(move || std.try_clone()).await.map_err(|e| {
            annotate(
                e,
                format_args!("duplicate the descriptor of {}", self.name()),
            )
        })?;
        Ok(File::from_parts(clone, self.path.clone()))
    }

    /// Changes the file's permissions (`std::fs::File::set_permissions`), as
    /// [`fs::set_permissions`](super::set_permissions) does by path.
    ///
    /// # Errors
    ///
    /// Fails when the caller may not change the file's permissions (it does not own it).
    pub async fn set_permissions(&self, perm: std::fs::Permissions) -> io::Result<()> {
        let std = self.std.clone();
        asyncify(move || std.set_permissions(perm))
            .await
            .map_err(|e| annotate(e, format_args!("set the permissions of {}", self.name())))
    }

    /// Truncates or extends the file to `size` bytes (extending with zeros). The position does
    /// not move: a later write at a position past the new end extends the file again.
    ///
    /// Writes the buffer out first.
    ///
    /// # Errors
    ///
    /// Fails when the file is not open for writing, or when writing the buffer out fails.
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.run(Op::SetLen(size), true).await.map_err(|e| {
            annotate(
                e,
                format_args!("set the length of {} to {size}", self.name()),
            )
        })
    }

    /// Writes the buffer out, then waits until the operating system has written the file's
    /// data and metadata to the storage device (`fsync`).
    ///
    /// # Errors
    ///
    /// Fails when writing the buffer out or syncing fails.
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.run(Op::SyncAll, false)
            .await
            .map_err(|e| annotate(e, format_args!("sync {} to disk", self.name())))
    }

    /// Like [`sync_all`](File::sync_all), but may skip metadata not needed to read the data
    /// back (`fdatasync`).
    ///
    /// # Errors
    ///
    /// As [`sync_all`](File::sync_all).
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.run(Op::SyncData, false)
            .await
            .map_err(|e| annotate(e, format_args!("sync the data of {} to disk", self.name())))
    }

    pub(super) fn name(&self) -> Name<'_> {
        Name(self.path.as_deref())
    }

    /// The buffer; only called once `poll_complete` returned ready.
    fn idle(&mut self) -> &mut Buf {
        match &mut self.state {
            FileState::Idle(buf) => buf,
            FileState::Busy(_) => unreachable!("tether::fs::File: a job is still in flight"),
        }
    }

    /// Moves the buffer into a job running `op` (state Idle → Busy): an io_uring operation when
    /// the runtime's driver runs them (`file/ring.rs`), a blocking job otherwise.
    fn start(&mut self, op: Op) {
        let buf = std::mem::take(self.idle());
        #[cfg(target_os = "linux")]
        let (buf, op) = match crate::runtime::context::current_handle()
            .and_then(|h| crate::io::uring_op::submitter(&h.shared))
        {
            Some(sub) => match ring::RingJob::start(sub, &self.std, buf, op) {
                Ok(job) => {
                    self.state = FileState::Busy(InFlight::Ring(job));
                    return;
                }
                Err(back) => back,
            },
            None => (buf, op),
        };
        let job = Job {
            std: self.std.clone(),
            buf,
            op: Some(op),
        };
        let handle = super::spawn_job(move || job.run());
        self.state = FileState::Busy(InFlight::Pool(unconstrained(handle)));
    }

    /// Rules 1 and 4: completes the job in flight, if any (state Busy → Idle). Returns the
    /// errors of writes, seeks and lost jobs; the other outcomes are for the caller to use or
    /// drop.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Done>>> {
        let FileState::Busy(job) = &mut self.state else {
            return Poll::Ready(Ok(None));
        };
        let (buf, done) = match job {
            InFlight::Pool(handle) => match ready!(Pin::new(handle).poll(cx)) {
                Ok(out) => out,
                Err(e) => (Buf::default(), Done::Lost(io::Error::from(e))),
            },
            #[cfg(target_os = "linux")]
            InFlight::Ring(job) => ready!(Pin::new(job).poll(cx)),
        };
        self.state = FileState::Idle(buf);
        let name = self.name();
        Poll::Ready(match done {
            Done::Write(Err(e)) => Err(annotate(e, format_args!("write to {name}"))),
            Done::Lost(e) => Err(annotate(e, format_args!("finish an operation on {name}"))),
            other => Ok(Some(other)),
        })
    }

    /// Completes the job in flight and writes the buffer out; with `rewind`, also gives back
    /// the read-ahead (rule 2), so that the OS cursor is at the logical position.
    fn poll_settle(&mut self, cx: &mut Context<'_>, rewind: bool) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_complete(cx))?;
            let buf = self.idle();
            match buf.mode {
                Mode::Write => self.start(Op::Write),
                Mode::Read if rewind => {
                    if let Err(e) = self.rewind() {
                        return Poll::Ready(Err(e));
                    }
                }
                Mode::Read | Mode::Empty => return Poll::Ready(Ok(())),
            }
        }
    }

    /// Moves the OS cursor with one `lseek`, at once, on either path (a seek is no job: the
    /// module docs); only called while Idle, so no job moves the cursor meanwhile. With a `Read`
    /// buffer, `to` accounts for the read-ahead, which is dropped once the seek succeeded
    /// (rule 3): a failed seek changes nothing.
    fn seek_now(&mut self, to: SeekFrom) -> io::Result<u64> {
        match (&*self.std).seek(to) {
            Ok(at) => {
                self.idle().clear();
                Ok(at)
            }
            Err(e) => Err(annotate(e, format_args!("seek in {}", self.name()))),
        }
    }

    /// Gives back the read-ahead (rule 2): moves the OS cursor back to the logical position.
    fn rewind(&mut self) -> io::Result<()> {
        let back = self.idle().unread() as i64;
        self.seek_now(SeekFrom::Current(-back)).map(drop)
    }

    /// Settles the buffer, then runs `op` (one of the `Done::Other` kind) and returns its result.
    async fn run(&mut self, op: Op, rewind: bool) -> io::Result<()> {
        let mut op = Some(op);
        std::future::poll_fn(|cx| {
            let coop = ready!(poll_proceed(cx));
            if op.is_some() {
                ready!(self.poll_settle(cx, rewind))?;
                if let Some(op) = op.take() {
                    self.start(op);
                }
            }
            match ready!(self.poll_complete(cx))? {
                Some(Done::Other(result)) => {
                    coop.made_progress();
                    Poll::Ready(result)
                }
                _ => unreachable!("tether::fs::File: the job in flight was not this operation's"),
            }
        })
        .await
    }
}

impl File {
    /// A read for the two `AsyncRead` impls, wanting `want` bytes: `take` copies read-ahead
    /// bytes (there are some) out of the buffer and returns how many.
    fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
        take: impl FnOnce(&mut Buf) -> usize,
    ) -> Poll<io::Result<usize>> {
        let coop = ready!(poll_proceed(cx));
        loop {
            match ready!(self.poll_complete(cx))? {
                Some(Done::Read(Err(e))) => {
                    let name = self.name();
                    return Poll::Ready(Err(annotate(e, format_args!("read from {name}"))));
                }
                Some(Done::Read(Ok(0))) => {
                    coop.made_progress();
                    return Poll::Ready(Ok(0));
                }
                _ => {}
            }
            let buf = self.idle();
            match buf.mode {
                Mode::Read => {
                    let n = take(buf);
                    coop.made_progress();
                    return Poll::Ready(Ok(n));
                }
                Mode::Write => self.start(Op::Write),
                Mode::Empty if want == 0 => {
                    coop.made_progress();
                    return Poll::Ready(Ok(0));
                }
                Mode::Empty => self.start(Op::Read(want.clamp(BUF_SIZE, MAX_BUF))),
            }
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let want = out.len();
        self.get_mut()
            .poll_read_with(cx, want, |buf| buf.take_into(out))
    }
}

/// tokio's `AsyncRead` (feature `tokio-io`), as the `futures-io` impl above; read-ahead bytes
/// are copied into the unfilled part of the `ReadBuf` without zero-filling it first.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let want = out.remaining();
        self.get_mut()
            .poll_read_with(cx, want, |buf| {
                let n = want.min(buf.unread());
                out.put_slice(&buf.bytes[buf.pos..buf.pos + n]);
                buf.consume(n);
                n
            })
            .map_ok(|_| ())
    }
}

impl AsyncWrite for File {
    /// Buffers the bytes and returns; see [`File`]'s docs on when they are written and where
    /// their errors surface.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let coop = ready!(poll_proceed(cx));
        loop {
            ready!(me.poll_complete(cx))?;
            let buf = me.idle();
            match buf.mode {
                Mode::Read => {
                    // Rule 2: write at the logical position, not after the read-ahead.
                    if let Err(e) = me.rewind() {
                        return Poll::Ready(Err(e));
                    }
                }
                Mode::Write if buf.bytes.len() + data.len() > BUF_SIZE => me.start(Op::Write),
                Mode::Write | Mode::Empty => {
                    let n = match buf.mode {
                        Mode::Empty => data.len().min(MAX_BUF),
                        _ => data.len(),
                    };
                    if n > 0 {
                        buf.bytes.extend_from_slice(&data[..n]);
                        buf.mode = Mode::Write;
                    }
                    coop.made_progress();
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    /// Writes the buffer out (one trip to the blocking pool) and returns the error of any
    /// buffered write. Does not wait for the data to reach the disk: see
    /// [`File::sync_all`].
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let coop = ready!(poll_proceed(cx));
        ready!(me.poll_settle(cx, false))?;
        coop.made_progress();
        Poll::Ready(Ok(()))
    }

    /// Flushes. The file itself is closed when the `File` is dropped.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// tokio's `AsyncWrite` (feature `tokio-io`), as the `futures-io` impl above: `poll_shutdown`
/// flushes, like `poll_close` (and tokio's `File`).
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(self, cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(self, cx)
    }
}

impl AsyncSeek for File {
    /// Writes the buffer out, then seeks; `SeekFrom::Current` is relative to the logical
    /// position (rule 3). Returns the new position from the start of the file.
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let me = self.get_mut();
        let coop = ready!(poll_proceed(cx));
        loop {
            ready!(me.poll_complete(cx))?;
            let buf = me.idle();
            if buf.mode == Mode::Write {
                me.start(Op::Write);
                continue;
            }
            let back = buf.unread() as i64;
            let to = match pos {
                SeekFrom::Current(n) => match n.checked_sub(back) {
                    Some(n) => SeekFrom::Current(n),
                    None => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("could not seek in {}: offset overflow", me.name()),
                        )));
                    }
                },
                other => other,
            };
            // Made at once, so this poll is the seek's only one that moves the cursor.
            let at = me.seek_now(to);
            coop.made_progress();
            return Poll::Ready(at);
        }
    }
}

impl Drop for File {
    /// Rule 6; see "Dropping a `File` with unflushed writes" in [`File`]'s docs.
    fn drop(&mut self) {
        // A job in flight is detached by dropping its handle, and completes on its own; an
        // io_uring write is driven to its end by a task (`file/ring.rs`).
        let FileState::Idle(buf) = &mut self.state else {
            #[cfg(target_os = "linux")]
            if let FileState::Busy(InFlight::Ring(job)) = &mut self.state {
                ring::finish_in_background(job);
            }
            return;
        };
        if buf.mode != Mode::Write {
            return;
        }
        let job = Job {
            std: self.std.clone(),
            buf: std::mem::take(buf),
            op: Some(Op::Write),
        };
        match Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(move || job.run())),
            // No runtime to hand the job to: write here.
            Err(_) => drop(job.run()),
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("File");
        d.field("path", &self.path);
        match &self.state {
            FileState::Idle(buf) => d
                .field("buffered", &buf.mode)
                .field("bytes", &(buf.bytes.len() - buf.pos)),
            FileState::Busy(_) => d.field("busy", &true),
        };
        d.finish()
    }
}
