//! Files and directories, off the event loop.
//!
//! Operating systems offer no readiness-based file I/O that the reactor could wait on, so every
//! call here runs the matching `std::fs` call on the runtime's blocking pool
//! ([`spawn_blocking`](crate::task::spawn_blocking)) and awaits it; except on the io_uring
//! driver (Linux, [`IoDriver::IoUring`](crate::runtime::IoDriver)), where [`File`]'s open,
//! reads, writes and syncs, and its owned-buffer methods
//! ([`read_at_owned`](File::read_at_owned), [`write_at_owned`](File::write_at_owned)), are
//! io_uring operations that need no thread (`metadata`, `set_len` and the path-based functions
//! stay on the pool). The names and meanings are
//! tokio's (and so `std::fs`'s): [`read`], [`write`](write()), [`read_to_string`], [`read_dir`],
//! [`File`], [`OpenOptions`], ...
//!
//! # Errors name the path
//!
//! Every error returned here says what was attempted and on which path(s), and keeps the
//! [`io::ErrorKind`] of the operating system's error, so both a person reading a log and code
//! matching on [`kind`](io::Error::kind) get what they need:
//!
//! ```text
//! could not open "/tmp/x/missing.txt" for reading: No such file or directory (os error 2)
//! could not rename "/tmp/a" to "/tmp/b/c": No such file or directory (os error 2)
//! ```
//!
//! # Files are buffered
//!
//! A trip to the blocking pool costs a few microseconds, far more than copying a few bytes, so
//! [`File`] buffers both directions (64 KiB by default): a read fills the buffer in one trip and
//! the following small reads are served from it; writes are collected and written in one trip
//! when the buffer is full, or on `flush`, `close`, a seek, `set_len`, `sync_all` or
//! `sync_data`. A write returns as soon as its bytes are buffered, so **the error of a buffered
//! write surfaces later**, at the `flush` (or other operation) that writes the buffer out: call
//! `flush` or `close` to know that the data was written. See [`File`] for the details, and for
//! what happens to unflushed data when a `File` is dropped.
//!
//! # Cooperative budget
//!
//! Each completed operation (a free function, a `File` read, write, seek or flush, a directory
//! entry) spends one unit of the task's cooperative budget, also when a `File` serves a read from
//! its buffer without a trip to the pool, so a task reading a file byte by byte still lets the
//! other tasks of its thread run.
//!
//! # Panics
//!
//! Every operation needs a runtime to run its blocking job: awaiting one (or polling a `File`)
//! outside a tether runtime panics with a message saying that a `tether::fs` operation was
//! awaited outside a runtime.

mod file;
mod open_options;
#[cfg(unix)]
mod positioned;
mod read_dir;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use file::File;
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};

/// Adds what was attempted to an error, keeping its kind: `could not {what}: {error}`.
///
/// `what` names the operation and its path(s), as in `open "/tmp/x" for reading`. This is the
/// one place that shapes the module's error messages.
pub(crate) fn annotate(e: io::Error, what: fmt::Arguments<'_>) -> io::Error {
    let message = format!("could not {what}: {e}");
    crate::io::context::contextual(e, message)
}

/// The current runtime, or a panic naming `what` (an operation that needs a runtime was called
/// outside one).
#[cfg(unix)]
#[track_caller]
pub(crate) fn current_runtime(what: &str) -> crate::loom::sync::Arc<crate::runtime::RuntimeShared> {
    match crate::runtime::context::current_handle() {
        Some(h) => h.shared,
        None => crate::task::no_runtime_panic(what, std::panic::Location::caller()),
    }
}

/// Starts `f` on the current runtime's blocking pool: how every operation of this module runs
/// its blocking call.
///
/// # Panics
///
/// Outside a tether runtime, saying that a `tether::fs` operation was awaited there (not that
/// `spawn_blocking` was called at a line of this module, which the caller never wrote).
#[track_caller]
pub(crate) fn spawn_job<T, F>(f: F) -> crate::task::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let location = std::panic::Location::caller();
    crate::runtime::context::with_handle(|h| match h {
        Some(h) => h.spawn_blocking_inner(f, location),
        None => panic!(
            "a tether::fs operation was awaited outside a tether runtime: it runs its blocking \
             call on the runtime's blocking pool. Await it inside Runtime::block_on, from a \
             task, or under Handle::enter(); a runtime is built with tether::runtime::Builder \
             or #[tether::main]."
        ),
    })
}

/// Runs `f` on the blocking pool and returns its result. A job that did not complete (it
/// panicked, or the runtime shut down before it ran) becomes an error of kind `Other`; callers
/// annotate it like any other error.
pub(crate) async fn asyncify<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match spawn_job(f).await {
        Ok(result) => result,
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Reads the whole file at `path` into a byte vector.
///
/// # Errors
///
/// Fails when the file cannot be opened or read (it does not exist, is a directory, permission
/// is denied); the message names the path.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-read-{}", std::process::id()));
///     tether::fs::write(&path, b"some bytes").await?;
///     assert_eq!(tether::fs::read(&path).await?, b"some bytes");
///
///     let missing = tether::fs::read(path.join("missing")).await.unwrap_err();
///     assert!(missing.to_string().contains("missing"));
///
///     tether::fs::remove_file(&path).await
/// }
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::read(p))
        .await
        .map_err(|e| annotate(e, format_args!("read {path:?}")))
}

/// Reads the whole file at `path` into a string.
///
/// # Errors
///
/// As [`read`], and with [`io::ErrorKind::InvalidData`] when the contents are not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::read_to_string(p))
        .await
        .map_err(|e| annotate(e, format_args!("read {path:?} as UTF-8 text")))
}

/// Writes `contents` to the file at `path`, creating it if needed and replacing what it held.
///
/// The bytes are copied before the job is sent to the blocking pool.
///
/// # Errors
///
/// Fails when the file cannot be created or written (its directory does not exist, permission
/// is denied, the disk is full); the message names the path.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-write-{}", std::process::id()));
///     tether::fs::write(&path, "first").await?;
///     tether::fs::write(&path, "second").await?;
///     assert_eq!(tether::fs::read_to_string(&path).await?, "second");
///     tether::fs::remove_file(&path).await
/// }
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(p, contents))
        .await
        .map_err(|e| annotate(e, format_args!("write {path:?}")))
}

/// Creates a directory at `path`; its parent must exist.
///
/// # Errors
///
/// Fails when the parent does not exist, something already exists at `path`
/// ([`io::ErrorKind::AlreadyExists`]) or permission is denied.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::create_dir(p))
        .await
        .map_err(|e| annotate(e, format_args!("create directory {path:?}")))
}

/// Creates a directory at `path` and every missing parent. A directory already there is not an
/// error.
///
/// # Errors
///
/// Fails when some component exists and is not a directory, or permission is denied.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::create_dir_all(p))
        .await
        .map_err(|e| annotate(e, format_args!("create directory {path:?} and its parents")))
}

/// Removes the file (or symbolic link) at `path`.
///
/// # Errors
///
/// Fails when nothing is there, `path` is a directory, or permission is denied.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::remove_file(p))
        .await
        .map_err(|e| annotate(e, format_args!("remove file {path:?}")))
}

/// Removes the empty directory at `path`.
///
/// # Errors
///
/// Fails when nothing is there, `path` is not a directory, the directory is not empty
/// ([`io::ErrorKind::DirectoryNotEmpty`]), or permission is denied.
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::remove_dir(p))
        .await
        .map_err(|e| annotate(e, format_args!("remove directory {path:?}")))
}

/// Removes the directory at `path` and everything in it. Symbolic links inside are removed, not
/// followed.
///
/// # Errors
///
/// Fails when `path` does not exist or is not a directory, or when something inside cannot be
/// removed (what was removed before the failure stays removed).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::remove_dir_all(p))
        .await
        .map_err(|e| {
            annotate(
                e,
                format_args!("remove directory {path:?} and its contents"),
            )
        })
}

/// Renames `from` to `to`, replacing `to` if it is a file. Both must be on the same file
/// system.
///
/// # Errors
///
/// Fails when `from` does not exist, `to`'s parent does not exist, the two are on different
/// file systems ([`io::ErrorKind::CrossesDevices`]) or permission is denied; the message names
/// both paths.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    let (f, t) = (from.clone(), to.clone());
    asyncify(move || std::fs::rename(f, t))
        .await
        .map_err(|e| annotate(e, format_args!("rename {from:?} to {to:?}")))
}

/// Copies the contents and permissions of the file `from` to `to`, replacing `to`'s contents,
/// and returns the number of bytes copied.
///
/// # Errors
///
/// Fails when `from` is not a readable file or `to` cannot be written; the message names both
/// paths.
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    let (f, t) = (from.clone(), to.clone());
    asyncify(move || std::fs::copy(f, t))
        .await
        .map_err(|e| annotate(e, format_args!("copy {from:?} to {to:?}")))
}

/// The metadata of what `path` names, following symbolic links.
///
/// # Errors
///
/// Fails when nothing is there or a parent directory cannot be searched.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::metadata(p))
        .await
        .map_err(|e| annotate(e, format_args!("read the metadata of {path:?}")))
}

/// The metadata of what `path` names, without following a symbolic link: for a link, the
/// link's own metadata.
///
/// # Errors
///
/// As [`metadata`].
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::symlink_metadata(p))
        .await
        .map_err(|e| annotate(e, format_args!("read the metadata of link {path:?}")))
}

/// The absolute form of `path`, with every symbolic link, `.` and `..` resolved.
///
/// # Errors
///
/// Fails when `path` (or a component of it) does not exist.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::canonicalize(p))
        .await
        .map_err(|e| annotate(e, format_args!("canonicalize {path:?}")))
}

/// Whether something exists at `path` (following symbolic links: a dangling link gives
/// `Ok(false)`).
///
/// Unlike [`Path::exists`], errors other than "not found" are reported instead of read as
/// `false`.
///
/// # Errors
///
/// Fails when existence cannot be decided, typically because a parent directory cannot be
/// searched (permission denied).
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || p.try_exists())
        .await
        .map_err(|e| annotate(e, format_args!("check whether {path:?} exists")))
}

/// Creates a new hard link `link` to the file `original`: afterwards both names refer to the
/// same file (`std::fs::hard_link`).
///
/// # Errors
///
/// Fails when `original` does not exist or is a directory, something already exists at `link`
/// ([`io::ErrorKind::AlreadyExists`]), the two are on different file systems, or permission is
/// denied; the message names both paths.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let dir = std::env::temp_dir().join(format!("tether-doc-hard-link-{}", std::process::id()));
///     tether::fs::create_dir_all(&dir).await?;
///     tether::fs::write(dir.join("original"), "shared").await?;
///     tether::fs::hard_link(dir.join("original"), dir.join("link")).await?;
///     // One file, two names: a write through one shows through the other.
///     tether::fs::write(dir.join("link"), "changed").await?;
///     assert_eq!(tether::fs::read_to_string(dir.join("original")).await?, "changed");
///     tether::fs::remove_dir_all(&dir).await
/// }
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    let (o, l) = (original.clone(), link.clone());
    asyncify(move || std::fs::hard_link(o, l))
        .await
        .map_err(|e| annotate(e, format_args!("hard-link {link:?} to {original:?}")))
}

/// Creates a symbolic link `link` that points to `original` (`std::os::unix::fs::symlink`;
/// Unix only, as tokio's `symlink`). `original` need not exist: the link then dangles.
///
/// # Errors
///
/// Fails when something already exists at `link` ([`io::ErrorKind::AlreadyExists`]), its
/// directory does not exist, or permission is denied; the message names both paths.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let dir = std::env::temp_dir().join(format!("tether-doc-symlink-{}", std::process::id()));
///     tether::fs::create_dir_all(&dir).await?;
///     tether::fs::write(dir.join("target"), "pointed at").await?;
///     tether::fs::symlink("target", dir.join("link")).await?; // relative to the link's directory
///     assert_eq!(tether::fs::read_link(dir.join("link")).await?, std::path::Path::new("target"));
///     assert_eq!(tether::fs::read_to_string(dir.join("link")).await?, "pointed at");
///     assert!(tether::fs::symlink_metadata(dir.join("link")).await?.file_type().is_symlink());
///     tether::fs::remove_dir_all(&dir).await
/// }
/// ```
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    let (o, l) = (original.clone(), link.clone());
    asyncify(move || std::os::unix::fs::symlink(o, l))
        .await
        .map_err(|e| {
            annotate(
                e,
                format_args!("create symbolic link {link:?} to {original:?}"),
            )
        })
}

/// Reads the target of the symbolic link at `path`: the path the link holds, as it was written
/// (a relative target stays relative to the link's directory).
///
/// # Errors
///
/// Fails when nothing is at `path`, or it is not a symbolic link
/// ([`io::ErrorKind::InvalidInput`] on Linux); the message names the path.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::read_link(p))
        .await
        .map_err(|e| annotate(e, format_args!("read the symbolic link {path:?}")))
}

/// Changes the permissions of what `path` names, following symbolic links
/// (`std::fs::set_permissions`).
///
/// # Errors
///
/// Fails when nothing is at `path` or the caller may not change its permissions (it does not
/// own it); the message names the path.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-perms-{}", std::process::id()));
///     tether::fs::write(&path, "keep").await?;
///     let mut perms = tether::fs::metadata(&path).await?.permissions();
///     perms.set_readonly(true);
///     tether::fs::set_permissions(&path, perms).await?;
///     assert!(tether::fs::metadata(&path).await?.permissions().readonly());
///
///     let mut perms = tether::fs::metadata(&path).await?.permissions();
///     #[allow(clippy::permissions_set_readonly_false)] // the file is ours, and about to go
///     perms.set_readonly(false);
///     tether::fs::set_permissions(&path, perms).await?;
///     tether::fs::remove_file(&path).await
/// }
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: std::fs::Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let p = path.clone();
    asyncify(move || std::fs::set_permissions(p, perm))
        .await
        .map_err(|e| annotate(e, format_args!("set the permissions of {path:?}")))
}
