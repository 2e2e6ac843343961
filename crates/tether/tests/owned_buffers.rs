//! Owned-buffer I/O (`TcpStream::read_owned`, `write_owned`, `write_all_owned`,
//! `fs::File::read_at_owned`, `write_at_owned`) on the driver `TETHER_IO_DRIVER` selects (run
//! with and without `TETHER_IO_DRIVER=io_uring`): completion operations on io_uring, the
//! readiness path or the blocking pool on epoll. Then cancellation while operations are in
//! flight (a dropped future, an aborted task, dropped sockets, a runtime shut down with
//! thousands pending): every buffer comes back or is freed once the kernel is done, no
//! descriptor leaks (`/proc/self/fd`). These also run under ASAN on io_uring (`.ci/run`).
#![cfg(target_os = "linux")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use tether::fs::File;
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::runtime::IoDriver;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tether-owned-{name}-{}", std::process::id()))
}

/// Checks that the operations since `before` took the path of the runtime's driver: at least
/// `n` completion operations on io_uring, none on epoll (where nothing in this process may
/// start one: `TETHER_IO_DRIVER` is process-wide).
fn assert_path(before: u64, n: u64) {
    let now = tether::__private::io_uring_ops_completed();
    match tether::runtime::Handle::current().metrics().io_driver() {
        IoDriver::IoUring => assert!(now - before >= n, "{} operations, not {n}", now - before),
        _ => assert_eq!(now, 0, "a completion operation ran on epoll"),
    }
}

/// The process's descriptors: the test that counts them holds this exclusively, every other
/// test of this binary shared, so their sockets and files do not come and go in the count.
static DESCRIPTORS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Shared use of the process's descriptors (see `DESCRIPTORS`).
fn descriptors_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner())
}

/// The descriptors open in this process now.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A megabyte goes out in one `write_all_owned` (several sends) and comes back through
/// `read_owned` into buffers of each kind; the readiness-path reads of the same socket see the
/// bytes in order.
#[test]
fn owned_reads_and_writes_carry_every_byte_on_both_flavors() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in support::default_driver_flavors() {
        rt.block_on(async {
            let ops = tether::__private::io_uring_ops_completed();
            let (client, server) = pair().await;
            let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            let expect = data.clone();
            let writer = tether::spawn(async move {
                let (r, back) = client.write_all_owned(data).await;
                r.unwrap();
                assert_eq!(back.len(), 1 << 20, "the buffer comes back whole");
                client
            });
            let mut got = Vec::new();
            let mut boxed: Box<[u8]> = vec![0u8; 4096].into_boxed_slice();
            while got.len() < expect.len() {
                if got.len() % 2 == 0 {
                    let (n, back) = server.read_owned(Vec::with_capacity(8192)).await;
                    let n = n.unwrap();
                    assert!(n > 0);
                    assert_eq!(back.len(), n);
                    got.extend_from_slice(&back);
                } else {
                    let (n, back) = server.read_owned(boxed).await;
                    got.extend_from_slice(&back[..n.unwrap()]);
                    boxed = back;
                }
            }
            assert!(got == expect, "{flavor}: the bytes differ");
            let mut client = writer.await.unwrap();
            // The ordinary paths still work beside the owned ones.
            let (n, _) = client.write_owned(&b"tail"[..]).await;
            assert_eq!(n.unwrap(), 4);
            client.close().await.unwrap();
            let mut server = server;
            let mut tail = Vec::new();
            server.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, b"tail");
            let (n, _) = server.read_owned(vec![0u8; 8]).await;
            assert_eq!(n.unwrap(), 0, "{flavor}: end of stream");
            assert_path(ops, 4);
        });
    }
}

/// Positioned reads and writes hit the offsets asked for, concurrently from many tasks sharing
/// one `File`, without moving the `AsyncRead` side's position; errors name the path.
#[test]
fn positioned_owned_reads_and_writes_hit_their_offsets() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in support::default_driver_flavors() {
        let path = temp_path(&format!("positioned-{flavor}"));
        rt.block_on(async {
            let content: Vec<u8> = (0..256 * 1024).map(|i| (i % 241) as u8).collect();
            tether::fs::write(&path, &content).await.unwrap();
            let file = Arc::new(File::open(&path).await.unwrap());
            let ops = tether::__private::io_uring_ops_completed();
            let tasks: Vec<_> = (0..64u64)
                .map(|i| {
                    let file = file.clone();
                    tether::spawn(async move {
                        let pos = i * 4000;
                        let (n, buf) = file.read_at_owned(vec![0u8; 4096], pos).await;
                        (pos, n.unwrap(), buf)
                    })
                })
                .collect();
            for t in tasks {
                let (pos, n, buf) = t.await.unwrap();
                assert_eq!(n, 4096);
                assert_eq!(&buf[..], &content[pos as usize..pos as usize + 4096]);
            }
            assert_path(ops, 64);
            // Past the end: 0.
            let (n, _) = file.read_at_owned(vec![0u8; 16], 1 << 30).await;
            assert_eq!(n.unwrap(), 0);
            // The AsyncRead side still starts at 0.
            let mut file = Arc::try_unwrap(file).unwrap();
            let mut head = [0u8; 4];
            file.read_exact(&mut head).await.unwrap();
            assert_eq!(&head, &content[..4]);
            // A write needs write access; the error names the path.
            let (e, _) = file.write_at_owned(b"x".to_vec(), 0).await;
            let e = e.unwrap_err();
            assert!(e.to_string().contains("tether-owned-positioned"), "{e}");

            let rw = File::options().write(true).open(&path).await.unwrap();
            let (n, _) = rw.write_at_owned(&b"HELLO"[..], 10).await;
            assert_eq!(n.unwrap(), 5);
            let (n, buf) = rw.write_at_owned(b"world".to_vec(), 100_000).await;
            assert_eq!((n.unwrap(), buf.len()), (5, 5));
            let back = tether::fs::read(&path).await.unwrap();
            assert_eq!(&back[10..15], b"HELLO");
            assert_eq!(&back[100_000..100_005], b"world");
            assert_eq!(back.len(), content.len());
            tether::fs::remove_file(&path).await.unwrap();
        });
    }
}

/// A `read_owned` dropped while it waits on an idle socket (cancelled on io_uring) loses no
/// byte sent afterwards, and the socket reads on; so does a task aborted in `read_owned`.
#[test]
fn a_dropped_or_aborted_owned_read_leaves_the_socket_usable() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in support::default_driver_flavors() {
        rt.block_on(async {
            let (client, server) = pair().await;
            let server = Arc::new(server);
            for _ in 0..20 {
                let timed_out = tether::time::timeout(
                    Duration::from_millis(1),
                    server.read_owned(vec![0u8; 64]),
                )
                .await;
                assert!(timed_out.is_err(), "{flavor}: nothing was sent yet");
            }
            let reader = server.clone();
            let task = tether::spawn(async move { reader.read_owned(vec![0u8; 64]).await });
            tether::time::sleep(Duration::from_millis(5)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            // Give the cancellations a turn to complete before the data arrives.
            tether::time::sleep(Duration::from_millis(20)).await;
            let (r, _) = client.write_all_owned(b"after".to_vec()).await;
            r.unwrap();
            let (n, buf) = server.read_owned(vec![0u8; 64]).await;
            assert_eq!(&buf[..n.unwrap()], b"after", "{flavor}");
        });
    }
}

/// Dropped futures, aborted tasks, sockets dropped with reads in flight, and a runtime shut
/// down with thousands of reads pending (sockets, a file, and on io_uring pipes read as files):
/// every descriptor is closed afterwards. The other tests of this binary wait meanwhile
/// (`DESCRIPTORS`), so that no other test's descriptors come and go in the count.
#[test]
fn cancelled_and_pending_operations_leak_no_descriptor() {
    let _descriptors = DESCRIPTORS.write().unwrap_or_else(|e| e.into_inner());
    const SOCKETS: usize = 500;
    const READS_PER_SOCKET: usize = 4;
    let path = temp_path("pending");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    let before = open_fds();
    let mut pipe_writers = Vec::new();
    for (flavor, rt) in support::default_driver_flavors() {
        let mut peers = Vec::new();
        rt.block_on(async {
            // Sockets dropped while their reads are in flight (the futures dropped first).
            for _ in 0..50 {
                let (client, server) = pair().await;
                let read = server.read_owned(vec![0u8; 128]);
                let _ = tether::time::timeout(Duration::from_micros(100), read).await;
                drop(server);
                drop(client);
            }
            // Tasks aborted in reads.
            let mut tasks = Vec::new();
            for _ in 0..50 {
                let (client, server) = pair().await;
                peers.push(client.into_std().unwrap());
                tasks.push(tether::spawn(async move {
                    let _ = server.read_owned(vec![0u8; 128]).await;
                }));
            }
            tether::task::yield_now().await;
            for t in &tasks {
                t.abort();
            }
            // Thousands of reads left pending at shutdown, on idle sockets...
            for _ in 0..SOCKETS {
                let (client, server) = pair().await;
                peers.push(client.into_std().unwrap());
                let server = Arc::new(server);
                for _ in 0..READS_PER_SOCKET {
                    let server = server.clone();
                    tether::spawn(async move {
                        let _ = server.read_owned(Vec::with_capacity(256)).await;
                    });
                }
            }
            // ...and on a file, in loops still running when the runtime goes.
            let file = Arc::new(File::open(&path).await.unwrap());
            for i in 0..1000u64 {
                let file = file.clone();
                tether::spawn(async move {
                    let mut pos = i * 512;
                    loop {
                        let (n, _) = file.read_at_owned(vec![0u8; 4096], pos % (1 << 20)).await;
                        n.unwrap();
                        pos += 4096;
                    }
                });
            }
            // On io_uring, files whose reads never complete: pipes nobody writes, read
            // through `File`'s `AsyncRead` (an operation each; on epoll each would hold a
            // blocking thread, which the runtime's drop waits for).
            if tether::runtime::Handle::current().metrics().io_driver() == IoDriver::IoUring {
                for _ in 0..500 {
                    let mut fds = [0; 2];
                    // SAFETY: `pipe2` writes two new descriptors into `fds`, owned from here on.
                    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
                    // SAFETY: both descriptors are new and owned by nothing else.
                    let (rd, wr) = unsafe {
                        use std::os::fd::{FromRawFd, OwnedFd};
                        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
                    };
                    pipe_writers.push(std::fs::File::from(wr));
                    let mut f = File::from_std(std::fs::File::from(rd));
                    tether::spawn(async move {
                        let mut buf = [0u8; 64];
                        let _ = f.read(&mut buf).await;
                    });
                }
            }
            tether::time::sleep(Duration::from_millis(10)).await;
        });
        drop(rt);
        // Every pipe's reading end is closed: the operations let go of their files. (The
        // kernel lets go of a file a moment after the completion of an operation whose thread
        // exited, a multi-thread worker's: `io/uring.rs`, the limit of rule 4 at shutdown.)
        for (i, mut w) in pipe_writers.drain(..).enumerate() {
            use std::io::Write;
            let mut tries = 0;
            let e = loop {
                match w.write(b"x") {
                    Err(e) => break e,
                    Ok(_) if tries < 1000 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Ok(_) => panic!("{flavor}: pipe {i}'s reading end is still open after 10 s"),
                }
            };
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "{flavor}: pipe {i}"
            );
        }
        // The peers see every server socket closed.
        for (i, mut c) in peers.into_iter().enumerate() {
            use std::io::Read;
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut buf = [0u8; 1];
            let n = loop {
                match c.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            assert!(
                matches!(n, Ok(0))
                    || n.as_ref()
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
                "{flavor}: connection {i} still open after shutdown: {n:?}"
            );
        }
    }
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        tether::__private::io_uring_ops_leaked(),
        0,
        "operations outlived their runtime's drop"
    );
    let after = open_fds();
    assert!(
        after <= before + 2,
        "descriptors leaked: {before} before, {after} after"
    );
}

/// A simulated socket (feature `sim`) has no descriptor: its owned reads and writes take the
/// readiness path, on whichever driver, and carry the bytes like any other read.
#[test]
fn owned_buffers_run_over_simulated_sockets() {
    let _descriptors = descriptors_shared();
    let mut sim = tether::sim::Sim::new(7);
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", 7000)).await?;
        let (s, _) = listener.accept().await?;
        let mut buf = Vec::with_capacity(64);
        loop {
            let (n, back) = s.read_owned(buf).await;
            if n? == 0 {
                return std::io::Result::Ok(());
            }
            let (r, mut back) = s.write_all_owned(back).await;
            r?;
            back.clear();
            buf = back;
        }
    });
    sim.client("client", async {
        let s = TcpStream::connect("server:7000").await?;
        let (r, _) = s.write_all_owned(b"simulated".to_vec()).await;
        r?;
        let mut got = Vec::new();
        while got.len() < 9 {
            let (n, back) = s.read_owned(vec![0u8; 4]).await;
            got.extend_from_slice(&back[..n?]);
        }
        assert_eq!(got, b"simulated");
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
}
