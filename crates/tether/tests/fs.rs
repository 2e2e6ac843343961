//! `tether::fs`: round trips, errors that name their paths and keep their kinds, directories,
//! and `File`'s buffering (few trips to the blocking pool, seeks relative to the logical
//! position, write errors at `flush`, unflushed data on drop).
//!
//! Most scenarios run on both flavors: `current_thread::NAME` and `multi_thread::NAME`.

mod support;

use support::on_both_flavors;

use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tether::fs::{self, File, OpenOptions};
use tether::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tether::runtime::{Builder, Handle};

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-fs-test-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: impl AsRef<std::path::Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Blocking jobs (and tasks) spawned on the current runtime so far: every trip to the blocking
/// pool is one.
fn spawned() -> u64 {
    Handle::current().metrics().spawned_tasks()
}

/// Checks an error's kind and that its message starts with `could not {what}: `.
#[track_caller]
fn assert_error(e: &io::Error, kind: io::ErrorKind, what: &str) {
    assert_eq!(e.kind(), kind, "unexpected kind for {e}");
    let prefix = format!("could not {what}: ");
    assert!(
        e.to_string().starts_with(&prefix),
        "expected a message starting with {prefix:?}, got {:?}",
        e.to_string()
    );
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

on_both_flavors!(
    read_write_round_trip,
    missing_file_is_not_found_and_the_message_names_the_path,
    directory_where_a_file_is_expected,
    #[cfg(unix)]
    permission_denied_names_the_path,
    create_dir_all_rename_and_remove,
    read_dir_lists_every_entry_in_batches,
    copy_metadata_canonicalize_try_exists,
    small_reads_are_served_from_the_buffer,
    small_writes_are_collected_into_few_trips,
    seek_then_read_is_relative_to_the_logical_position,
    write_then_flush_then_read_back,
    append_mode_writes_at_the_end,
    set_len_truncates_and_extends_after_flushing,
    interleaved_reads_and_writes_share_one_position,
    buffered_write_error_surfaces_at_flush,
    into_std_flushes_and_from_std_wraps,
    open_options_create_new_and_truncate,
);

async fn read_write_round_trip() {
    let dir = TempDir::new("round-trip");
    let path = dir.join("data.bin");
    let data = pattern(300_000);
    fs::write(&path, &data).await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), data);

    fs::write(&path, "héllo\n").await.unwrap();
    assert_eq!(fs::read_to_string(&path).await.unwrap(), "héllo\n");

    fs::write(&path, [0xff, 0xfe]).await.unwrap();
    let e = fs::read_to_string(&path).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::InvalidData,
        &format!("read {path:?} as UTF-8 text"),
    );
}

async fn missing_file_is_not_found_and_the_message_names_the_path() {
    let dir = TempDir::new("missing");
    let missing = dir.join("missing.txt");
    let other = dir.join("other.txt");
    let not_found = io::ErrorKind::NotFound;

    let e = File::open(&missing).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "could not open {missing:?} for reading: {}",
            io::Error::from_raw_os_error(libc::ENOENT)
        )
    );
    assert_eq!(e.kind(), not_found);

    let e = fs::read(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("read {missing:?}"));
    let e = fs::read_to_string(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("read {missing:?} as UTF-8 text"));
    let e = fs::metadata(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("read the metadata of {missing:?}"));
    let e = fs::symlink_metadata(&missing).await.unwrap_err();
    assert_error(
        &e,
        not_found,
        &format!("read the metadata of link {missing:?}"),
    );
    let e = fs::remove_file(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("remove file {missing:?}"));
    let e = fs::remove_dir(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("remove directory {missing:?}"));
    let e = fs::canonicalize(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("canonicalize {missing:?}"));
    let e = fs::read_dir(&missing).await.unwrap_err();
    assert_error(&e, not_found, &format!("read directory {missing:?}"));
    let e = fs::rename(&missing, &other).await.unwrap_err();
    assert_error(&e, not_found, &format!("rename {missing:?} to {other:?}"));
    let e = fs::copy(&missing, &other).await.unwrap_err();
    assert_error(&e, not_found, &format!("copy {missing:?} to {other:?}"));
    let deep = dir.join("no/such/dir/file");
    let e = fs::write(&deep, "x").await.unwrap_err();
    assert_error(&e, not_found, &format!("write {deep:?}"));
    let e = File::create(&deep).await.unwrap_err();
    assert_error(&e, not_found, &format!("open {deep:?} for writing"));

    assert!(!fs::try_exists(&missing).await.unwrap());
}

async fn directory_where_a_file_is_expected() {
    let dir = TempDir::new("is-a-dir");
    let sub = dir.join("sub");
    fs::create_dir(&sub).await.unwrap();

    let e = fs::read(&sub).await.unwrap_err();
    assert_error(&e, io::ErrorKind::IsADirectory, &format!("read {sub:?}"));
    let e = fs::write(&sub, "x").await.unwrap_err();
    assert_error(&e, io::ErrorKind::IsADirectory, &format!("write {sub:?}"));
    let e = fs::remove_file(&sub).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::IsADirectory,
        &format!("remove file {sub:?}"),
    );

    // Opening a directory read-only succeeds on Linux; reading it does not.
    let mut f = File::open(&sub).await.unwrap();
    let e = f.read(&mut [0u8; 16]).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::IsADirectory,
        &format!("read from {sub:?}"),
    );

    // And the other way round.
    let file = dir.join("file");
    fs::write(&file, "x").await.unwrap();
    let e = fs::read_dir(&file).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::NotADirectory,
        &format!("read directory {file:?}"),
    );
    let e = fs::create_dir(&sub).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::AlreadyExists,
        &format!("create directory {sub:?}"),
    );
    fs::write(sub.join("inner"), "x").await.unwrap();
    let e = fs::remove_dir(&sub).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::DirectoryNotEmpty,
        &format!("remove directory {sub:?}"),
    );
}

#[cfg(unix)]
async fn permission_denied_names_the_path() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("denied");
    let path = dir.join("secret");
    fs::write(&path, "secret").await.unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        // Mode 000 does not stop root: run the check again in a child process as `nobody`.
        if std::env::var_os(AS_NOBODY).is_none() {
            tether::task::spawn_blocking(run_permission_check_as_nobody)
                .await
                .unwrap();
        } else {
            eprintln!("skipping: mode 000 does not stop this user either");
        }
        return;
    }
    let e = fs::read(&path).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::PermissionDenied,
        &format!("read {path:?}"),
    );
    let e = File::open(&path).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::PermissionDenied,
        &format!("open {path:?} for reading"),
    );
    let e = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::PermissionDenied,
        &format!("open {path:?} for reading and writing"),
    );
    let e = fs::write(&path, "x").await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::PermissionDenied,
        &format!("write {path:?}"),
    );
}

/// Set in the child process that runs the permission check as `nobody`.
#[cfg(unix)]
const AS_NOBODY: &str = "TETHER_FS_TEST_AS_NOBODY";

/// Re-runs `current_thread::permission_denied_names_the_path` in a child process with the uid
/// and gid of `nobody` (65534), or prints why it cannot.
#[cfg(unix)]
fn run_permission_check_as_nobody() {
    use std::os::unix::process::CommandExt;

    let test = "current_thread::permission_denied_names_the_path";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(AS_NOBODY, "1")
        .gid(65534)
        .uid(65534)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipping: running as root, and the test cannot run as nobody: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the permission check failed as nobody:\n{stdout}\n{stderr}"
    );
    if stderr.contains("skipping") {
        eprintln!("{stderr}");
    }
}

async fn create_dir_all_rename_and_remove() {
    let dir = TempDir::new("dirs");
    let deep = dir.join("a/b/c");
    fs::create_dir_all(&deep).await.unwrap();
    fs::create_dir_all(&deep).await.unwrap(); // already there: not an error
    assert!(fs::metadata(&deep).await.unwrap().is_dir());

    let file = deep.join("f.txt");
    fs::write(&file, "moved").await.unwrap();
    let moved = dir.join("a/f.txt");
    fs::rename(&file, &moved).await.unwrap();
    assert!(!fs::try_exists(&file).await.unwrap());
    assert_eq!(fs::read_to_string(&moved).await.unwrap(), "moved");

    let renamed_dir = dir.join("a/renamed");
    fs::rename(dir.join("a/b"), &renamed_dir).await.unwrap();
    assert!(fs::try_exists(renamed_dir.join("c")).await.unwrap());

    fs::remove_file(&moved).await.unwrap();
    fs::remove_dir(renamed_dir.join("c")).await.unwrap();
    fs::write(renamed_dir.join("left.txt"), "x").await.unwrap();
    fs::remove_dir_all(dir.join("a")).await.unwrap();
    assert!(!fs::try_exists(dir.join("a")).await.unwrap());
    let e = fs::remove_dir_all(dir.join("a")).await.unwrap_err();
    let a = dir.join("a");
    assert_error(
        &e,
        io::ErrorKind::NotFound,
        &format!("remove directory {a:?} and its contents"),
    );
}

async fn read_dir_lists_every_entry_in_batches() {
    use futures_lite::StreamExt;

    let dir = TempDir::new("listing");
    for i in 0..100 {
        std::fs::write(dir.join(format!("f{i:03}")), vec![0u8; i]).unwrap();
    }
    std::fs::create_dir(dir.join("sub")).unwrap();

    let before = spawned();
    let mut entries = fs::read_dir(&dir.0).await.unwrap();
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await.unwrap() {
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(entry.path(), dir.join(&name));
        let file_type = entry.file_type().await.unwrap();
        if name == "sub" {
            assert!(file_type.is_dir());
        } else {
            assert!(file_type.is_file());
            let len: u64 = name[1..].parse().unwrap();
            assert_eq!(entry.metadata().await.unwrap().len(), len);
        }
        names.push(name);
    }
    // The end is sticky.
    assert!(entries.next_entry().await.unwrap().is_none());
    names.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("f{i:03}")).collect();
    expected.push("sub".to_string());
    assert_eq!(names, expected);
    // 1 open + 4 batches of 32 + 100 metadata calls (file types came with the listing).
    let trips = spawned() - before;
    assert!(trips <= 1 + 4 + 100, "{trips} trips to the blocking pool");

    // As a Stream.
    let all: Vec<fs::DirEntry> = fs::read_dir(&dir.0)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 101);
}

async fn copy_metadata_canonicalize_try_exists() {
    let dir = TempDir::new("misc");
    let from = dir.join("from");
    let to = dir.join("to");
    fs::write(&from, pattern(5000)).await.unwrap();
    assert_eq!(fs::copy(&from, &to).await.unwrap(), 5000);
    assert_eq!(fs::read(&to).await.unwrap(), pattern(5000));

    let meta = fs::metadata(&to).await.unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), 5000);

    // Through a symbolic link (Unix: on Windows, making one needs a privilege tests lack).
    #[cfg(unix)]
    {
        let link = dir.join("link");
        std::os::unix::fs::symlink(&to, &link).unwrap();
        assert!(fs::symlink_metadata(&link).await.unwrap().is_symlink());
        assert!(fs::metadata(&link).await.unwrap().is_file());
        let canonical = fs::canonicalize(dir.join("link")).await.unwrap();
        assert_eq!(canonical, std::fs::canonicalize(&to).unwrap());

        assert!(fs::try_exists(&link).await.unwrap());
        fs::remove_file(&to).await.unwrap();
        assert!(!fs::try_exists(&link).await.unwrap()); // dangling
    }
}

async fn small_reads_are_served_from_the_buffer() {
    let dir = TempDir::new("small-reads");
    let path = dir.join("big");
    let data = pattern(1 << 20);
    std::fs::write(&path, &data).unwrap();

    let before = spawned();
    let mut file = File::open(&path).await.unwrap();
    let mut read = Vec::with_capacity(data.len());
    let mut byte = [0u8; 1];
    loop {
        match file.read(&mut byte).await.unwrap() {
            0 => break,
            _ => read.push(byte[0]),
        }
    }
    let trips = spawned() - before;
    assert_eq!(read, data);
    // 1 open + 16 reads of 64 KiB + 1 at the end of the file, not a million.
    assert!(
        trips <= 20,
        "{trips} trips to the blocking pool for 1 MiB in 1-byte reads"
    );
}

async fn small_writes_are_collected_into_few_trips() {
    let dir = TempDir::new("small-writes");
    let path = dir.join("out");
    let before = spawned();
    let mut file = File::create(&path).await.unwrap();
    let mut expected = Vec::new();
    for i in 0..100_000u32 {
        let line = format!("{i:09}\n");
        file.write_all(line.as_bytes()).await.unwrap();
        expected.extend_from_slice(line.as_bytes());
    }
    file.flush().await.unwrap();
    let trips = spawned() - before;
    // 1 MB in 10-byte writes: 1 open + 16 writes of about 64 KiB.
    assert!(trips <= 20, "{trips} trips to the blocking pool");
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

async fn seek_then_read_is_relative_to_the_logical_position() {
    let dir = TempDir::new("seek");
    let path = dir.join("data");
    let data = pattern(100_000);
    std::fs::write(&path, &data).unwrap();

    let mut file = File::open(&path).await.unwrap();
    let mut buf = [0u8; 10];
    file.read_exact(&mut buf).await.unwrap(); // the OS cursor is now 64 KiB ahead
    assert_eq!(&buf, &data[..10]);
    assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 10);
    assert_eq!(file.seek(SeekFrom::Current(5)).await.unwrap(), 15);
    let mut one = [0u8; 1];
    file.read_exact(&mut one).await.unwrap();
    assert_eq!(one[0], data[15]);

    file.read_exact(&mut buf).await.unwrap(); // refill the buffer from 16
    assert_eq!(file.seek(SeekFrom::Current(-6)).await.unwrap(), 20);
    file.read_exact(&mut one).await.unwrap();
    assert_eq!(one[0], data[20]);

    assert_eq!(file.seek(SeekFrom::Start(70_000)).await.unwrap(), 70_000);
    file.read_exact(&mut one).await.unwrap();
    assert_eq!(one[0], data[70_000]);

    let end = data.len() as u64;
    assert_eq!(file.seek(SeekFrom::End(-1)).await.unwrap(), end - 1);
    file.read_exact(&mut one).await.unwrap();
    assert_eq!(one[0], data[data.len() - 1]);
    assert_eq!(file.read(&mut one).await.unwrap(), 0);

    file.seek(SeekFrom::Start(3)).await.unwrap();
    let e = file.seek(SeekFrom::Current(-10)).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::InvalidInput,
        &format!("seek in {path:?}"),
    );
}

async fn write_then_flush_then_read_back() {
    let dir = TempDir::new("flush");
    let path = dir.join("out");
    let mut file = File::create(&path).await.unwrap();
    file.write_all(b"hello").await.unwrap();
    // Buffered: nothing reached the file yet.
    assert_eq!(file.metadata().await.unwrap().len(), 0);
    file.flush().await.unwrap();
    assert_eq!(file.metadata().await.unwrap().len(), 5);
    assert_eq!(fs::read(&path).await.unwrap(), b"hello");

    file.write_all(b", world").await.unwrap();
    file.close().await.unwrap();
    assert_eq!(fs::read_to_string(&path).await.unwrap(), "hello, world");

    // A write bigger than the buffer.
    let big = pattern(3 << 20);
    let mut file = File::create(&path).await.unwrap();
    file.write_all(&big).await.unwrap();
    file.sync_all().await.unwrap();
    file.sync_data().await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), big);
}

async fn append_mode_writes_at_the_end() {
    let dir = TempDir::new("append");
    let path = dir.join("log");
    fs::write(&path, "one\n").await.unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).await.unwrap();
    file.write_all(b"two\n").await.unwrap();
    file.seek(SeekFrom::Start(0)).await.unwrap(); // writes still go to the end
    file.write_all(b"three\n").await.unwrap();
    file.close().await.unwrap();
    assert_eq!(
        fs::read_to_string(&path).await.unwrap(),
        "one\ntwo\nthree\n"
    );

    let fresh = dir.join("fresh");
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(&fresh)
        .await
        .unwrap();
    file.write_all(b"created").await.unwrap();
    file.flush().await.unwrap();
    assert_eq!(fs::read_to_string(&fresh).await.unwrap(), "created");
}

async fn set_len_truncates_and_extends_after_flushing() {
    let dir = TempDir::new("set-len");
    let path = dir.join("f");
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .await
        .unwrap();
    file.write_all(b"0123456789").await.unwrap(); // buffered; set_len writes it first
    file.set_len(4).await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"0123");
    file.set_len(6).await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"0123\0\0");

    // With a read buffer: the position stays the logical one.
    file.seek(SeekFrom::Start(1)).await.unwrap();
    let mut two = [0u8; 2];
    file.read_exact(&mut two).await.unwrap();
    assert_eq!(&two, b"12");
    file.set_len(3).await.unwrap();
    assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 3);
    assert_eq!(file.read(&mut two).await.unwrap(), 0);
    assert_eq!(file.metadata().await.unwrap().len(), 3);

    let mut read_only = File::open(&path).await.unwrap();
    let e = read_only.set_len(0).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::InvalidInput,
        &format!("set the length of {path:?} to 0"),
    );
}

async fn interleaved_reads_and_writes_share_one_position() {
    let dir = TempDir::new("interleaved");
    let path = dir.join("f");
    fs::write(&path, "0123456789").await.unwrap();
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(&path)
        .await
        .unwrap();
    let mut three = [0u8; 3];
    file.read_exact(&mut three).await.unwrap();
    assert_eq!(&three, b"012");
    file.write_all(b"ab").await.unwrap(); // at 3, not after the read-ahead
    let mut two = [0u8; 2];
    file.read_exact(&mut two).await.unwrap(); // writes "ab" out, then reads at 5
    assert_eq!(&two, b"56");
    file.write_all(b"XYZ").await.unwrap();
    assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 10);
    file.flush().await.unwrap();
    assert_eq!(fs::read_to_string(&path).await.unwrap(), "012ab56XYZ");
}

async fn buffered_write_error_surfaces_at_flush() {
    let dir = TempDir::new("write-error");
    let path = dir.join("read-only");
    fs::write(&path, "x").await.unwrap();
    let mut file = File::open(&path).await.unwrap(); // not open for writing
    file.write_all(b"buffered").await.unwrap(); // accepted into the buffer
    let e = file.flush().await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("could not write to {path:?}: ")),
        "{e}"
    );
    // Reported once; the buffer was dropped.
    file.flush().await.unwrap();
    assert_eq!(fs::read(&path).await.unwrap(), b"x");

    // The same with a file of unknown path.
    let mut file = File::from_std(std::fs::File::open(&path).unwrap());
    file.write_all(b"y").await.unwrap();
    let e = file.close().await.unwrap_err();
    assert!(
        e.to_string().starts_with("could not write to the file: "),
        "{e}"
    );
}

async fn into_std_flushes_and_from_std_wraps() {
    let dir = TempDir::new("std");
    let path = dir.join("f");
    let mut file = File::create(&path).await.unwrap();
    file.write_all(b"abc").await.unwrap();
    let std_file = file.into_std().await.unwrap();
    assert_eq!(std_file.metadata().unwrap().len(), 3);

    let mut file = File::from_std(std::fs::File::open(&path).unwrap());
    let mut one = [0u8; 1];
    file.read_exact(&mut one).await.unwrap();
    assert_eq!(&one, b"a");
    // The read-ahead is given back: the std file continues at the logical position.
    let mut std_file = file.into_std().await.unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut std_file, &mut rest).unwrap();
    assert_eq!(rest, "bc");

    let file = File::open(&path).await.unwrap();
    assert!(file.try_into_std().is_ok());
    let mut file = File::open(&path).await.unwrap();
    file.read_exact(&mut one).await.unwrap();
    let file = file.try_into_std().unwrap_err(); // bytes read ahead
    drop(file);
}

async fn open_options_create_new_and_truncate() {
    let dir = TempDir::new("options");
    let path = dir.join("f");
    let mut file = File::create_new(&path).await.unwrap();
    file.write_all(b"first").await.unwrap();
    file.close().await.unwrap();
    let e = File::create_new(&path).await.unwrap_err();
    assert_error(
        &e,
        io::ErrorKind::AlreadyExists,
        &format!("create the new file {path:?}"),
    );

    // write without truncate overwrites in place; with truncate, empties first.
    let mut file = OpenOptions::new().write(true).open(&path).await.unwrap();
    file.write_all(b"F").await.unwrap();
    file.close().await.unwrap();
    assert_eq!(fs::read_to_string(&path).await.unwrap(), "First");
    let mut file = File::create(&path).await.unwrap();
    file.write_all(b"2").await.unwrap();
    file.close().await.unwrap();
    assert_eq!(fs::read_to_string(&path).await.unwrap(), "2");

    let e = OpenOptions::new().open(&path).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains(&format!("{path:?}")), "{e}");
}

#[tether::test]
async fn buffered_reads_spend_the_cooperative_budget() {
    let dir = TempDir::new("coop");
    let path = dir.join("f");
    std::fs::write(&path, pattern(60_000)).unwrap();
    let mut file = File::open(&path).await.unwrap();
    let mut one = [0u8; 1];
    file.read_exact(&mut one).await.unwrap(); // the whole file is now buffered

    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    let other = tether::spawn(async move { flag.store(true, Ordering::SeqCst) });
    let mut seen_during_reads = false;
    for _ in 0..10_000 {
        // Each read is ready at once, from the buffer.
        file.read_exact(&mut one).await.unwrap();
        seen_during_reads |= other_ran.load(Ordering::SeqCst);
    }
    assert!(
        seen_during_reads,
        "10,000 buffered reads never let the other task run"
    );
    other.await.unwrap();
}

#[test]
fn dropping_a_file_outside_a_runtime_writes_its_buffer_there() {
    let dir = TempDir::new("drop-outside");
    let path = dir.join("f");
    let rt = Builder::new_current_thread().build().unwrap();
    let file = rt.block_on(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"kept").await.unwrap();
        file
    });
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"",
        "written before the drop"
    );
    drop(file);
    assert_eq!(std::fs::read(&path).unwrap(), b"kept");
}

#[test]
fn dropping_a_file_in_a_runtime_writes_its_buffer_in_the_background() {
    for multi_thread in [false, true] {
        let dir = TempDir::new("drop-inside");
        let path = dir.join("f");
        let rt = if multi_thread {
            Builder::new_multi_thread().worker_threads(2).build()
        } else {
            Builder::new_current_thread().build()
        }
        .unwrap();
        rt.block_on(async {
            let mut file = File::create(&path).await.unwrap();
            file.write_all(b"kept too").await.unwrap();
            drop(file);
        });
        // Dropping the runtime waits for its running blocking jobs; a queued write job writes
        // while being discarded.
        drop(rt);
        assert_eq!(std::fs::read(&path).unwrap(), b"kept too");
    }
}

#[test]
fn a_write_job_discarded_at_shutdown_still_writes_its_bytes() {
    let dir = TempDir::new("drop-queued");
    let path = dir.join("f");
    let rt = Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut file = File::create(&path).await.unwrap();
        file.write_all(b"queued").await.unwrap();
        // Occupy the only pool thread, so that the drop's write job stays queued.
        drop(tether::task::spawn_blocking(|| {
            std::thread::sleep(std::time::Duration::from_millis(300))
        }));
        drop(file);
    });
    // Shutdown discards the queued job; discarding it writes the bytes.
    drop(rt);
    assert_eq!(std::fs::read(&path).unwrap(), b"queued");
}

/// Polls `fut` once: `Ready` with its output, or `Pending` (and the future is dropped).
async fn poll_once<F: std::future::Future>(fut: F) -> std::task::Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// A seek whose future is dropped after one poll, then the same seek again: both happen. The
/// pool's only thread is busy at first, so a seek that waited for a job would still be queued
/// when the second one asks the same thing, and the second one must not take the first one's
/// result for its own (rule 1: an operation dropped in flight is finished, not forgotten).
#[test]
fn a_repeated_relative_seek_after_a_dropped_one_moves_again() {
    let dir = TempDir::new("seek-twice");
    let path = dir.join("f");
    std::fs::write(&path, pattern(100)).unwrap();
    let rt = Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut file = File::open(&path).await.unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let busy = tether::task::spawn_blocking(move || gate.recv());
        let first = poll_once(file.seek(SeekFrom::Current(10))).await;
        assert!(
            matches!(
                first,
                std::task::Poll::Pending | std::task::Poll::Ready(Ok(10))
            ),
            "{first:?}"
        );
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(file.seek(SeekFrom::Current(10)).await.unwrap(), 20);
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 20);

        // A seek that fails changes nothing: the read-ahead stays, and so does the position.
        let mut five = [0u8; 5];
        file.read_exact(&mut five).await.unwrap();
        assert_eq!(&five[..], &pattern(100)[20..25]);
        let e = file.seek(SeekFrom::Current(-1000)).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 25);
    });
}

#[test]
fn public_types_are_send_sync_and_unpin() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<File>();
    check::<OpenOptions>();
    check::<fs::ReadDir>();
    check::<fs::DirEntry>();
}
