//! `fs::File` on the driver `TETHER_IO_DRIVER` selects (run with and without
//! `TETHER_IO_DRIVER=io_uring`): on io_uring, opening, reading, writing, seeking and syncing a
//! file are io_uring operations and start no blocking thread; on epoll they run on the blocking
//! pool. Either way the file's semantics (buffering, positions, errors of buffered writes, data
//! written when a `File` is dropped) are the same: `tests/fs.rs` runs on both drivers too.
#![cfg(target_os = "linux")]

mod support;

use std::io::SeekFrom;
use std::time::Duration;

use tether::fs::{File, OpenOptions};
use tether::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tether::runtime::{Handle, IoDriver};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tether-fs-ops-{name}-{}", std::process::id()))
}

/// A file's whole life (create, buffered writes past the buffer's size, flush, seeks, reads
/// that switch the buffer's direction, syncs, reopen, read to the end) gives the same bytes on
/// both drivers, and on io_uring starts no blocking thread.
#[test]
fn file_work_on_io_uring_is_operations_not_blocking_jobs() {
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(flavor);
        let expect: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        rt.block_on(async {
            let ops = tether::__private::io_uring_ops_completed();
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await
                .unwrap();
            for chunk in expect.chunks(7_000) {
                f.write_all(chunk).await.unwrap();
            }
            f.flush().await.unwrap();
            f.seek(SeekFrom::Start(10)).await.unwrap();
            let mut ten = [0u8; 10];
            f.read_exact(&mut ten).await.unwrap();
            assert_eq!(&ten, &expect[10..20]);
            // A write after a read goes to the logical position (20), not past the read-ahead.
            f.write_all(b"XY").await.unwrap();
            assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 22);
            f.sync_all().await.unwrap();
            f.sync_data().await.unwrap();
            drop(f);

            let mut f = File::open(&path).await.unwrap();
            let mut back = Vec::new();
            f.read_to_end(&mut back).await.unwrap();
            let mut want = expect.clone();
            want[20..22].copy_from_slice(b"XY");
            assert!(back == want, "{flavor}: the file's bytes differ");

            // Errors keep their kind and name the path.
            let e = File::open(path.with_extension("missing"))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains("tether-fs-ops"), "{e}");
            let e = File::create_new(&path).await.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);

            let m = Handle::current().metrics();
            let ran = tether::__private::io_uring_ops_completed() - ops;
            match m.io_driver() {
                IoDriver::IoUring => {
                    assert_eq!(m.blocking_threads(), 0, "{flavor}: a blocking job ran");
                    assert!(ran >= 10, "{flavor}: {ran} operations");
                }
                _ => assert!(
                    m.blocking_threads() > 0,
                    "{flavor}: the pool is the epoll path"
                ),
            }
        });
        std::fs::remove_file(&path).unwrap();
    }
}

/// A `File` dropped while its buffer's write is in flight (its `flush` future dropped first)
/// still writes every byte: on io_uring the write operation is detached, not cancelled.
#[test]
fn a_file_dropped_with_its_write_in_flight_writes_every_byte() {
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(&format!("dropped-{flavor}"));
        rt.block_on(async {
            let mut f = File::create(&path).await.unwrap();
            f.write_all(&[9u8; 50_000]).await.unwrap();
            // Start the write-out and give up on it at once.
            let flush = tether::time::timeout(Duration::ZERO, f.flush()).await;
            drop(flush);
            drop(f);
            // The bytes land without anyone awaiting them.
            for _ in 0..500 {
                if std::fs::metadata(&path).unwrap().len() == 50_000 {
                    break;
                }
                tether::time::sleep(Duration::from_millis(10)).await;
            }
        });
        drop(rt);
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), 50_000, "{flavor}: bytes were lost");
        assert!(back.iter().all(|&b| b == 9));
        std::fs::remove_file(&path).unwrap();
    }
}

/// A pipe's writing end wrapped as a `File`: dropped while a write larger than the pipe holds is
/// in flight (the reader not reading yet), it still delivers every byte, then the end-of-file.
/// On io_uring the write goes on in a task of the runtime, past whatever part the kernel takes
/// at once.
#[test]
fn a_file_dropped_while_a_pipe_write_waits_delivers_every_byte() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    const LEN: usize = 1 << 20;
    for (flavor, rt) in support::default_driver_flavors() {
        let mut fds = [0; 2];
        // SAFETY: `pipe2` writes two new descriptors into `fds`, which this test then owns.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut reader = std::fs::File::from(rd);
        rt.block_on(async {
            let mut f = File::from_std(std::fs::File::from(wr));
            f.write_all(&vec![3u8; LEN]).await.unwrap();
            let flush = tether::time::timeout(Duration::from_millis(5), f.flush()).await;
            assert!(
                flush.is_err(),
                "{flavor}: a pipe holds less than a megabyte"
            );
            drop(f);
        });
        // The runtime lives on, idle on another thread's block_on, while this one reads.
        let rt = std::sync::Arc::new(rt);
        let driver = std::thread::spawn({
            let rt = rt.clone();
            move || rt.block_on(async { tether::time::sleep(Duration::from_secs(2)).await })
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), LEN, "{flavor}: bytes were lost");
        driver.join().unwrap();
    }
}

/// A position past `i64::MAX` is refused with `InvalidInput` on both drivers, before anything
/// reaches the kernel: io_uring would read `u64::MAX` (-1) as "at the file's position", reading
/// and writing at the cursor and moving it.
#[test]
fn positioned_io_past_i64_max_is_invalid_input_and_leaves_the_cursor() {
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(&format!("past-i64-max-{flavor}"));
        std::fs::write(&path, b"0123456789").unwrap();
        rt.block_on(async {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .await
                .unwrap();
            for pos in [u64::MAX, i64::MAX as u64 + 1] {
                let (r, buf) = f.read_at_owned(Vec::with_capacity(4), pos).await;
                let e = r.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{flavor}: {e}");
                assert!(e.to_string().contains("beyond i64::MAX"), "{flavor}: {e}");
                assert!(buf.is_empty(), "{flavor}: read {buf:?}");
                let (r, _) = f.write_at_owned(b"XY".to_vec(), pos).await;
                let e = r.unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{flavor}: {e}");
                assert!(e.to_string().contains("beyond i64::MAX"), "{flavor}: {e}");
            }
            // The cursor did not move, and nothing was written.
            assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 0, "{flavor}");
            let mut all = Vec::new();
            f.read_to_end(&mut all).await.unwrap();
            assert_eq!(all, b"0123456789", "{flavor}");
        });
        std::fs::remove_file(&path).unwrap();
    }
}

/// Polls `fut` once: `Ready` with its output, or `Pending` (and the future is dropped).
async fn poll_once<F: std::future::Future>(fut: F) -> std::task::Poll<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await
}

/// A `File` dropped with its buffer's write in flight, then its runtime dropped at once: the
/// write still reaches the file whole (file rule 6). On io_uring the write is an operation
/// detached from the task that would have finished it, which shutdown drops; the ring's drain
/// at shutdown must wait for such a write, not cancel it.
#[test]
fn a_write_in_flight_when_the_runtime_shuts_down_reaches_the_file() {
    const LEN: usize = 1_000_000;
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(&format!("write-at-shutdown-{flavor}"));
        let path2 = path.clone();
        support::bounded::within(Duration::from_secs(30), flavor, move || {
            rt.block_on(async {
                let mut f = File::create(&path2).await.unwrap();
                f.write_all(&vec![7u8; LEN]).await.unwrap();
                let _ = poll_once(f.flush()).await;
                drop(f);
            });
            drop(rt);
        });
        let back = std::fs::read(&path).unwrap();
        assert_eq!(back.len(), LEN, "{flavor}: bytes were lost");
        assert!(back.iter().all(|&b| b == 7), "{flavor}");
        std::fs::remove_file(&path).unwrap();
    }
}

/// A `File` whose read was in flight when its runtime shut down, then read in another runtime,
/// never waits forever. On io_uring the read is an operation whose future (kept in the `File`)
/// outlives the runtime; nobody would ever dispatch its completion, and the next runtime's read
/// waited forever. The shutdown now cancels such an operation and dispatches its completion
/// (`uring_op.rs` rule 9), so the `File` finds its read done and gives the data. On the blocking
/// pool the read is a job, which the shutdown may cancel before it runs: the `File` then says
/// it could not finish it (file rule 1), as it does for any job lost with its runtime.
#[test]
fn a_file_read_in_flight_at_shutdown_is_read_in_the_next_runtime() {
    let expect: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(&format!("read-across-runtimes-{flavor}"));
        std::fs::write(&path, &expect).unwrap();
        let path2 = path.clone();
        let (mut f, on_ring, taken) = rt.block_on(async move {
            let on_ring = Handle::current().metrics().io_driver() == IoDriver::IoUring;
            let mut f = File::open(&path2).await.unwrap();
            let mut b = [0u8; 4];
            // The read may finish within its first poll (a pool thread can be that quick).
            let taken = match poll_once(f.read(&mut b)).await {
                std::task::Poll::Ready(n) => n.unwrap(),
                std::task::Poll::Pending => 0,
            };
            (f, on_ring, taken)
        });
        drop(rt);
        let expect2 = expect[taken..].to_vec();
        support::bounded::within(Duration::from_secs(30), flavor, move || {
            let next = tether::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            next.block_on(async move {
                let mut back = Vec::new();
                match f.read_to_end(&mut back).await {
                    Ok(_) => {
                        assert_eq!(back.len(), expect2.len(), "{flavor}");
                        assert!(back == expect2, "{flavor}: other bytes");
                    }
                    Err(e) => assert!(
                        !on_ring && e.to_string().contains("could not finish an operation"),
                        "{flavor}: {e}"
                    ),
                }
            });
        });
        std::fs::remove_file(&path).unwrap();
    }
}
