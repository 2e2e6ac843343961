//! `OpenOptions`: how to open a [`File`].

use std::io;
use std::path::Path;

use super::{annotate, asyncify, File};

/// Options for opening a [`File`]: which access is wanted, and what to do when the file exists
/// or does not.
///
/// The same builder as [`std::fs::OpenOptions`]; [`open`](OpenOptions::open) is one
/// `IORING_OP_OPENAT` on the io_uring driver, and runs on the blocking pool otherwise. [`File::open`] and [`File::create`] cover the two common cases;
/// [`File::options`] starts a builder.
///
/// # Examples
///
/// ```
/// use tether::fs::OpenOptions;
/// use tether::io::AsyncWriteExt;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let path = std::env::temp_dir().join(format!("tether-doc-options-{}", std::process::id()));
///     let mut log = OpenOptions::new().create(true).append(true).open(&path).await?;
///     log.write_all(b"one line\n").await?;
///     log.close().await?;
///     tether::fs::remove_file(&path).await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    std: std::fs::OpenOptions,
    /// The flags again, for the error message (`std` has no getters).
    read: bool,
    write: bool,
    append: bool,
    create: bool,
    truncate: bool,
    create_new: bool,
    /// The permission bits of a created file (`mode`), for `IORING_OP_OPENAT`.
    #[cfg(unix)]
    mode: u32,
}

impl OpenOptions {
    /// Options with every flag off: set at least `read`, `write` or `append` before opening.
    pub fn new() -> OpenOptions {
        OpenOptions {
            std: std::fs::OpenOptions::new(),
            read: false,
            write: false,
            append: false,
            create: false,
            truncate: false,
            create_new: false,
            #[cfg(unix)]
            mode: 0o666,
        }
    }

    /// Opens for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.read = read;
        self.std.read(read);
        self
    }

    /// Opens for writing, starting at the beginning of the file (without removing what it
    /// holds; see [`truncate`](OpenOptions::truncate)).
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.write = write;
        self.std.write(write);
        self
    }

    /// Opens for appending: every write goes to the end of the file, whatever the position.
    /// Implies write access.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.append = append;
        self.std.append(append);
        self
    }

    /// Empties the file when it is opened. Needs write access.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.truncate = truncate;
        self.std.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist. Needs write or append access.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.create = create;
        self.std.create(create);
        self
    }

    /// Creates the file, failing with [`io::ErrorKind::AlreadyExists`] if something is already
    /// there (atomically: no other process can create it in between). `create` and `truncate`
    /// are then ignored. Needs write or append access.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.create_new = create_new;
        self.std.create_new(create_new);
        self
    }

    /// The permission bits a newly created file gets (before the process's umask applies);
    /// `0o666` by default.
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.mode = mode;
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.std, mode);
        self
    }

    /// Opens the file at `path` with these options.
    ///
    /// # Errors
    ///
    /// Fails when the options contradict each other, the file does not exist (without
    /// `create`), exists (with `create_new`), or permission is denied; the message names the path
    /// and the access asked for, as in
    /// `could not open "/tmp/x/missing.txt" for reading: No such file or directory (os error 2)`.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        #[cfg(target_os = "linux")]
        let opened = match self.open_on_ring(&path) {
            Some(opening) => opening.await,
            None => self.open_on_pool(&path).await,
        };
        #[cfg(not(target_os = "linux"))]
        let opened = self.open_on_pool(&path).await;
        match opened {
            Ok(file) => Ok(File::from_parts(file, Some(path.into()))),
            Err(e) if self.create_new => {
                Err(annotate(e, format_args!("create the new file {path:?}")))
            }
            Err(e) => Err(annotate(
                e,
                format_args!("open {path:?} for {}", self.access()),
            )),
        }
    }

    /// Opens on the blocking pool.
    async fn open_on_pool(&self, path: &Path) -> io::Result<std::fs::File> {
        let (std, p) = (self.std.clone(), path.to_owned());
        asyncify(move || std.open(p)).await
    }

    /// An `IORING_OP_OPENAT` of `path` when the current runtime's driver runs operations and the
    /// options make sense (otherwise `std` is asked, on the pool, and says what is wrong).
    #[cfg(target_os = "linux")]
    fn open_on_ring(
        &self,
        path: &Path,
    ) -> Option<impl std::future::Future<Output = io::Result<std::fs::File>>> {
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;

        use crate::io::uring_op::Orphan;

        let flags = self.open_flags()?;
        let sub = crate::runtime::context::current_handle()
            .and_then(|h| crate::io::uring_op::submitter(&h.shared))?;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let mode = self.mode;
        Some(async move {
            let op = sub
                .start(c_path, Orphan::CloseFd, |p| {
                    io_uring::opcode::OpenAt::new(io_uring::types::Fd(libc::AT_FDCWD), p.as_ptr())
                        .flags(flags)
                        .mode(mode)
                        .build()
                })
                .map_err(|(e, _)| e)?;
            let fd = op.await.result?;
            // SAFETY: the kernel just opened `fd` for this call; nothing else owns it.
            Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
        })
    }

    /// The `open(2)` flags these options ask for, as `std` computes them; `None` for a
    /// combination `std` refuses (its error is the one to report).
    #[cfg(target_os = "linux")]
    fn open_flags(&self) -> Option<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return None,
        };
        if !self.write && !self.append && (self.truncate || self.create || self.create_new) {
            return None;
        }
        if self.append && self.truncate && !self.create_new {
            return None;
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        };
        Some(access | creation | libc::O_CLOEXEC)
    }

    /// The access asked for, in words.
    fn access(&self) -> &'static str {
        match (self.read, self.write, self.append) {
            (true, false, false) => "reading",
            (false, true, false) => "writing",
            (false, _, true) => "appending",
            (true, _, true) => "reading and appending",
            (true, true, false) => "reading and writing",
            (false, false, false) => "no access (set read, write or append)",
        }
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}
