//! `OpenOptions`: how to open a [`File`].

use std::io;
use std::path::Path;

use super::{annotate, asyncify, File};

/// Options for opening a [`File`]: which access is wanted, and what to do when the file exists
/// or does not.
///
/// The same builder as [`std::fs::OpenOptions`]; [`open`](OpenOptions::open) runs on the
/// blocking pool. [`File::open`] and [`File::create`] cover the two common cases;
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
    create_new: bool,
}

impl OpenOptions {
    /// Options with every flag off: set at least `read`, `write` or `append` before opening.
    pub fn new() -> OpenOptions {
        OpenOptions {
            std: std::fs::OpenOptions::new(),
            read: false,
            write: false,
            append: false,
            create_new: false,
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
        self.std.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist. Needs write or append access.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
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
        let (std, p) = (self.std.clone(), path.clone());
        match asyncify(move || std.open(p)).await {
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
