//! `read_dir`: the entries of a directory, read in batches on the blocking pool.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use crate::task::{unconstrained, JoinHandle, Unconstrained};

use super::{annotate, asyncify};

/// Entries read per trip to the blocking pool.
const BATCH: usize = 32;

/// Opens the directory at `path` for listing its entries.
///
/// The entries come in the order the operating system gives them (no particular order), without
/// `.` and `..`. They are read in batches of 32 per trip to the blocking pool.
///
/// # Errors
///
/// Fails when `path` does not exist, is not a directory ([`io::ErrorKind::NotADirectory`]) or
/// cannot be read; the message names the path. Reading an entry can fail too
/// ([`ReadDir::next_entry`]).
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let dir = std::env::temp_dir().join(format!("tether-doc-read-dir-{}", std::process::id()));
///     tether::fs::create_dir_all(&dir).await?;
///     tether::fs::write(dir.join("a.txt"), "a").await?;
///     tether::fs::write(dir.join("b.txt"), "b").await?;
///
///     let mut names = Vec::new();
///     let mut entries = tether::fs::read_dir(&dir).await?;
///     while let Some(entry) = entries.next_entry().await? {
///         assert!(entry.file_type().await?.is_file());
///         names.push(entry.file_name());
///     }
///     names.sort();
///     assert_eq!(names, ["a.txt", "b.txt"]);
///
///     tether::fs::remove_dir_all(&dir).await
/// }
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path: Arc<Path> = path.as_ref().into();
    let p = path.clone();
    let std = asyncify(move || std::fs::read_dir(&p))
        .await
        .map_err(|e| annotate(e, format_args!("read directory {path:?}")))?;
    Ok(ReadDir {
        state: ReadDirState::Idle(Batch {
            std: Some(std),
            entries: VecDeque::new(),
        }),
        path,
    })
}

/// The entries of a directory, from [`read_dir`].
///
/// Take them one at a time with [`next_entry`](ReadDir::next_entry), or use it as a
/// `Stream` of `io::Result<DirEntry>` (it implements `futures_core::Stream`, so the `StreamExt`
/// combinators of `futures-lite` or `futures-util` apply).
pub struct ReadDir {
    /// The directory, for error messages.
    path: Arc<Path>,
    state: ReadDirState,
}

/// Rule: the `std::fs::ReadDir` and the entries read ahead sit in `Idle` between calls, and move
/// into the blocking job (`Busy`) while a batch is read.
// On Windows std's `ReadDir` holds a whole `WIN32_FIND_DATAW` (about 600 bytes); there is one
// state per open `ReadDir`, so boxing it would buy nothing.
#[cfg_attr(windows, allow(clippy::large_enum_variant))]
enum ReadDirState {
    Idle(Batch),
    Busy(Unconstrained<JoinHandle<Batch>>),
}

/// Entries read ahead, and the directory handle (`None` once the end has been reached).
struct Batch {
    std: Option<std::fs::ReadDir>,
    entries: VecDeque<io::Result<DirEntry>>,
}

impl Batch {
    /// Reads up to [`BATCH`] entries (on the blocking pool).
    fn fill(mut self) -> Batch {
        if let Some(std) = &mut self.std {
            for _ in 0..BATCH {
                match std.next() {
                    Some(entry) => self.entries.push_back(entry.map(DirEntry::new)),
                    None => {
                        self.std = None;
                        break;
                    }
                }
            }
        }
        self
    }
}

impl ReadDir {
    /// The next entry, or `None` once every entry has been returned.
    ///
    /// # Errors
    ///
    /// Fails when the operating system could not read an entry (the message names the
    /// directory). Later calls go on with the next entries.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, no entry is lost; the batch
    /// being read is picked up by the next call.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry: `Ready(Ok(None))` once every entry has been returned. The
    /// shape of `Stream::poll_next` with `Option` and `Result` swapped, as in tokio.
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        let coop = ready!(crate::task::coop::poll_proceed(cx));
        loop {
            match &mut self.state {
                ReadDirState::Busy(job) => {
                    let batch = match ready!(Pin::new(job).poll(cx)) {
                        Ok(batch) => batch,
                        Err(e) => Batch {
                            std: None,
                            entries: VecDeque::from([Err(io::Error::from(e))]),
                        },
                    };
                    self.state = ReadDirState::Idle(batch);
                }
                ReadDirState::Idle(batch) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        coop.made_progress();
                        let path = &self.path;
                        return Poll::Ready(match entry {
                            Ok(entry) => Ok(Some(entry)),
                            Err(e) => Err(annotate(
                                e,
                                format_args!("read an entry of directory {path:?}"),
                            )),
                        });
                    }
                    if batch.std.is_none() {
                        coop.made_progress();
                        return Poll::Ready(Ok(None));
                    }
                    let batch = std::mem::replace(
                        batch,
                        Batch {
                            std: None,
                            entries: VecDeque::new(),
                        },
                    );
                    let job = super::spawn_job(move || batch.fill());
                    self.state = ReadDirState::Busy(unconstrained(job));
                }
            }
        }
    }
}

/// The entries, as [`next_entry`](ReadDir::next_entry) returns them (`Option` and `Result`
/// swapped); spends the cooperative budget as `next_entry` does. tokio offers this through
/// tokio-stream's `ReadDirStream` wrapper; here `ReadDir` is the stream.
impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").field("path", &self.path).finish()
    }
}

/// An entry of a directory, from [`ReadDir`].
///
/// The name and path are known without a system call; [`metadata`](DirEntry::metadata) makes
/// one on the blocking pool, and [`file_type`](DirEntry::file_type) does only when the
/// directory listing did not already say (on most Linux file systems it does).
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    /// The file type, when the listing gave it (read on the blocking pool with the entry).
    file_type: Option<FileType>,
}

impl DirEntry {
    /// Runs on the blocking pool, while the batch is read.
    fn new(std: std::fs::DirEntry) -> DirEntry {
        let file_type = std.file_type().ok();
        DirEntry {
            std: Arc::new(std),
            file_type,
        }
    }

    /// The full path of the entry: the directory given to [`read_dir`] joined with the
    /// entry's name.
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name within its directory (the last component of [`path`](DirEntry::path)).
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number.
    #[cfg(unix)]
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.std)
    }

    /// The entry's metadata, without following a symbolic link (like
    /// [`symlink_metadata`](super::symlink_metadata)).
    ///
    /// # Errors
    ///
    /// Fails when the entry no longer exists or cannot be examined; the message names its path.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata())
            .await
            .map_err(|e| annotate(e, format_args!("read the metadata of {:?}", self.path())))
    }

    /// The entry's type (file, directory, symbolic link, ...), without following a symbolic
    /// link. Needs no system call when the directory listing gave it.
    ///
    /// # Errors
    ///
    /// As [`metadata`](DirEntry::metadata).
    pub async fn file_type(&self) -> io::Result<FileType> {
        if let Some(t) = self.file_type {
            return Ok(t);
        }
        let std = self.std.clone();
        asyncify(move || std.file_type())
            .await
            .map_err(|e| annotate(e, format_args!("read the file type of {:?}", self.path())))
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}
