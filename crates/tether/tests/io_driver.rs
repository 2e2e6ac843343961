//! The I/O driver choice: `Builder::io_driver`, the `TETHER_IO_DRIVER` override, what the
//! metrics and the task dump say, the same program on both drivers, and sockets closed at once
//! (an io_uring poll holds its file until removed) on every path that drops them.
//!
//! `TETHER_IO_DRIVER` is process-wide and overrides the builder, so the tests that need a given
//! driver whatever the environment run again in a child process of this binary with the variable
//! set (`in_child`). The others run on whatever driver the environment selects (the CI matrix
//! runs the whole suite once per driver).
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Command as StdCommand;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use tether::runtime::{Builder, IoDriver, Runtime};

/// Set in a child process this binary starts: the test named runs its body.
const CHILD: &str = "TETHER_IO_DRIVER_TEST_CHILD";

/// The process's descriptors: a test that counts them (`/proc/self/fd`) holds this exclusively,
/// every other test of this binary shared, since their runtimes, sockets and child processes'
/// pipes would otherwise come and go in the count (a run in CI saw 5 more).
static DESCRIPTORS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Shared use of the process's descriptors (see `DESCRIPTORS`).
fn descriptors_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    DESCRIPTORS.read().unwrap_or_else(|e| e.into_inner())
}

/// Whether to test io_uring too: yes unless `TETHER_IO_DRIVER=epoll` says it is not to be used
/// here. A kernel that refuses it otherwise fails the test, naming the reason, so that a broken
/// probe cannot pass as a skip.
fn io_uring_usable() -> bool {
    if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("epoll") {
        return false;
    }
    let rt = Builder::new_current_thread()
        .io_driver(IoDriver::Auto)
        .build()
        .unwrap();
    let m = rt.handle().metrics();
    assert_eq!(
        m.io_driver(),
        IoDriver::IoUring,
        "io_uring refused ({:?}); set TETHER_IO_DRIVER=epoll on a machine without it",
        m.io_driver_fallback()
    );
    true
}

/// Runs test `name` of this binary in a child process with `TETHER_IO_DRIVER` set to `driver`
/// (unset if `None`); returns whether it passed, and its output.
fn in_child(name: &str, driver: Option<&str>) -> (bool, String) {
    let mut cmd = StdCommand::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name);
    match driver {
        Some(d) => cmd.env("TETHER_IO_DRIVER", d),
        None => cmd.env_remove("TETHER_IO_DRIVER"),
    };
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("1 passed"), text)
}

fn is_child(name: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(name)
}

fn flavors(driver: IoDriver) -> [(&'static str, Runtime); 2] {
    [
        (
            "current_thread",
            Builder::new_current_thread()
                .io_driver(driver)
                .build()
                .unwrap(),
        ),
        (
            "multi_thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .io_driver(driver)
                .build()
                .unwrap(),
        ),
    ]
}

/// A program that touches every kind of resource: TCP, UDP, a Unix socket pair, a timer, a
/// child's pipes and its exit, and a signal listener's registration.
async fn every_resource() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tether::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let mut buf = vec![0u8; 100_000];
        conn.read_exact(&mut buf).await?;
        conn.write_all(&buf).await?;
        std::io::Result::Ok(())
    });
    let mut client = TcpStream::connect(addr).await?;
    let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    client.write_all(&sent).await?;
    let mut back = vec![0u8; sent.len()];
    client.read_exact(&mut back).await?;
    assert_eq!(back, sent);
    server.await.unwrap()?;

    let a = UdpSocket::bind("127.0.0.1:0").await?;
    let b = UdpSocket::bind("127.0.0.1:0").await?;
    a.send_to(b"datagram", b.local_addr()?).await?;
    let mut buf = [0u8; 16];
    let (n, from) = b.recv_from(&mut buf).await?;
    assert_eq!((&buf[..n], from), (&b"datagram"[..], a.local_addr()?));

    let (mut x, mut y) = UnixStream::pair()?;
    x.write_all(b"unix").await?;
    drop(x);
    let mut got = Vec::new();
    y.read_to_end(&mut got).await?;
    assert_eq!(got, b"unix");

    tether::time::sleep(Duration::from_millis(1)).await;

    let mut child = tether::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"piped").await?;
    drop(stdin);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).await?;
    assert_eq!(out, b"piped");
    assert!(child.wait().await?.success());

    let mut usr1 = tether::signal::unix::signal(tether::signal::unix::SignalKind::user_defined1())?;
    // SAFETY: raising a signal this process handles (the listener above) has no precondition.
    unsafe { libc::raise(libc::SIGUSR1) };
    assert!(usr1.recv().await.is_some());
    Ok(())
}

fn run_every_resource(driver: IoDriver, expect: IoDriver) {
    for (flavor, rt) in flavors(driver) {
        let m = rt.handle().metrics();
        assert_eq!(m.io_driver(), expect, "{flavor}");
        assert_eq!(m.io_driver_fallback(), None, "{flavor}");
        let dump = rt.handle().dump().to_string();
        let first = dump.lines().next().unwrap();
        assert!(first.contains(&format!(", {expect})")), "{flavor}: {first}");
        let res = rt.block_on(async {
            let task = tether::spawn(every_resource());
            tether::time::timeout(Duration::from_secs(30), task).await
        });
        res.unwrap_or_else(|_| panic!("{flavor} on {expect}: did not finish within 30 s"))
            .unwrap()
            .unwrap_or_else(|e| panic!("{flavor} on {expect}: {e}"));
        assert!(rt.handle().metrics().io_events() > 0, "{flavor}");
    }
}

/// The environment variable picks the driver over the builder's choice, and the same program
/// runs on each, on both flavors.
#[test]
fn the_environment_picks_the_driver_and_the_same_program_runs_on_each() {
    let _descriptors = descriptors_shared();
    let name = "the_environment_picks_the_driver_and_the_same_program_runs_on_each";
    if is_child(name) {
        let expect = match std::env::var("TETHER_IO_DRIVER").as_deref() {
            Ok("io_uring") => IoDriver::IoUring,
            _ => IoDriver::Epoll,
        };
        // The builder says the other one: the environment wins.
        let asked = if expect == IoDriver::Epoll {
            IoDriver::IoUring
        } else {
            IoDriver::Epoll
        };
        run_every_resource(asked, expect);
        return;
    }
    let (ok, out) = in_child(name, Some("epoll"));
    assert!(ok, "on epoll:\n{out}");
    if io_uring_usable() {
        let (ok, out) = in_child(name, Some("io_uring"));
        assert!(ok, "on io_uring:\n{out}");
    }
}

/// Without the variable, the builder decides: epoll by default, io_uring when asked.
#[test]
fn without_the_environment_the_builder_decides() {
    let _descriptors = descriptors_shared();
    let name = "without_the_environment_the_builder_decides";
    if is_child(name) {
        let rt = Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.handle().metrics().io_driver(), IoDriver::Epoll);
        run_every_resource(IoDriver::Epoll, IoDriver::Epoll);
        if std::env::var("EXPECT_IO_URING").is_ok() {
            run_every_resource(IoDriver::IoUring, IoDriver::IoUring);
            run_every_resource(IoDriver::Auto, IoDriver::IoUring);
        }
        return;
    }
    let mut cmd_env = None;
    if io_uring_usable() {
        cmd_env = Some(());
    }
    let mut cmd = StdCommand::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env_remove("TETHER_IO_DRIVER");
    if cmd_env.is_some() {
        cmd.env("EXPECT_IO_URING", "1");
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

/// A misspelt variable fails `build` with a message that lists the valid values.
#[test]
fn an_unknown_driver_name_fails_build_clearly() {
    let _descriptors = descriptors_shared();
    let name = "an_unknown_driver_name_fails_build_clearly";
    if is_child(name) {
        let err = Builder::new_current_thread().build().unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(msg.contains("TETHER_IO_DRIVER=\"kqueue\""), "{msg}");
        assert!(msg.contains("epoll, io_uring or auto"), "{msg}");
        return;
    }
    let (ok, out) = in_child(name, Some("kqueue"));
    assert!(ok, "{out}");
}

/// A blocking read, retried when a signal interrupts it: another test of this binary raises one
/// or reaps a child, and a socket with a read timeout fails with `EINTR` even under `SA_RESTART`.
fn read_through_signals(s: &mut std::net::TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            n => return n,
        }
    }
}

/// A socket dropped in a task, in `block_on`, or on a thread outside the runtime is closed at
/// once: the peer reads EOF (on io_uring the poll's removal is submitted with the drop, not left
/// for a later turn, since the poll holds the file open).
#[test]
fn a_dropped_socket_is_closed_at_once_wherever_it_is_dropped() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in flavors(IoDriver::Auto) {
        let listener = rt
            .block_on(async { TcpListener::bind("127.0.0.1:0").await })
            .unwrap();
        let addr = listener.local_addr().unwrap();
        for place in ["task", "block_on", "foreign thread"] {
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let conn = rt.block_on(async { listener.accept().await.unwrap().0 });
            match place {
                "task" => rt.block_on(async {
                    tether::spawn(async move { drop(conn) }).await.unwrap();
                }),
                "block_on" => rt.block_on(async move { drop(conn) }),
                _ => std::thread::spawn(move || drop(conn)).join().unwrap(),
            }
            // The runtime is idle now (no `block_on`): nothing turns its driver.
            let mut buf = [0u8; 1];
            let n = read_through_signals(&mut client, &mut buf);
            assert!(
                matches!(n, Ok(0)),
                "{flavor}, dropped in {place}: the peer did not see EOF: {n:?}"
            );
        }
    }
}

/// Shutting a runtime down with a thousand connections registered (their tasks waiting in
/// reads) closes every one of them and leaks no descriptor. (On io_uring a few may close a
/// moment after the drop returns: `io/uring.rs`, the limit of rule 4 at shutdown; the blocking
/// reads below wait for it.)
#[test]
fn shutdown_with_a_thousand_waiting_reads_closes_every_socket() {
    let _descriptors = DESCRIPTORS.write().unwrap_or_else(|e| e.into_inner());
    const N: usize = 1000;
    let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    for (flavor, rt) in flavors(IoDriver::Auto) {
        let listener = rt
            .block_on(async { TcpListener::bind("127.0.0.1:0").await })
            .unwrap();
        let addr = listener.local_addr().unwrap();
        // Connect from a thread while the runtime accepts (a backlog may hold fewer than N).
        let connector = std::thread::spawn(move || {
            (0..N)
                .map(|_| {
                    let c = std::net::TcpStream::connect(addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    c
                })
                .collect::<Vec<_>>()
        });
        rt.block_on(async {
            for _ in 0..N {
                let (mut conn, _) = listener.accept().await.unwrap();
                tether::spawn(async move {
                    let mut buf = [0u8; 16];
                    let _ = conn.read(&mut buf).await;
                });
            }
            tether::task::yield_now().await;
        });
        let clients = connector.join().unwrap();
        drop(listener);
        drop(rt);
        for (i, mut c) in clients.into_iter().enumerate() {
            let mut buf = [0u8; 1];
            let n = read_through_signals(&mut c, &mut buf);
            assert!(
                matches!(n, Ok(0))
                    || n.as_ref()
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
                "{flavor}: connection {i} still open after shutdown: {n:?}"
            );
            c.shutdown(Shutdown::Both).ok();
        }
    }
    let fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    assert!(
        fds_after <= fds_before + 2,
        "descriptors leaked: {fds_before} before, {fds_after} after"
    );
}

/// Writes on io_uring surface errors the way they do on epoll: a peer that reset the connection
/// fails the next write.
#[test]
fn a_reset_peer_fails_the_next_write() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in flavors(IoDriver::Auto) {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            // The peer resets after the accept: a connection reset before it is accepted is
            // an accept error on io_uring's multishot accept (`accept_completion.rs`).
            let (accepted_tx, accepted_rx) = std::sync::mpsc::channel::<()>();
            let peer = std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).unwrap();
                accepted_rx.recv().unwrap();
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: sets SO_LINGER on a live socket from a correctly sized `linger`.
                let r = unsafe {
                    libc::setsockopt(
                        std::os::fd::AsRawFd::as_raw_fd(&s),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
                assert_eq!(r, 0);
                drop(s); // RST
            });
            let (mut conn, _) = listener.accept().await.unwrap();
            accepted_tx.send(()).unwrap();
            peer.join().unwrap();
            let mut failed = false;
            for _ in 0..1000 {
                if conn.write_all(&[0u8; 1024]).await.is_err() {
                    failed = true;
                    break;
                }
                tether::time::sleep(Duration::from_millis(1)).await;
            }
            assert!(failed, "{flavor}: writes to a reset peer kept succeeding");
        });
        let _ = std::io::stdout().flush();
    }
}

/// Cancellation while an operation waits in the reactor: a read future dropped while it waits
/// (a timeout) leaves the socket sound, its next read gets the data; a task aborted while it
/// reads drops its socket and the peer sees EOF; a socket dropped by another task while a read
/// of it waits fails nothing else. On io_uring every one of these has a poll in flight; the
/// `.ci/run` AddressSanitizer stage runs this on both drivers.
#[test]
fn cancelled_reads_leave_the_sockets_and_the_runtime_sound() {
    let _descriptors = descriptors_shared();
    for (flavor, rt) in flavors(IoDriver::Auto) {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            for round in 0..50 {
                let mut client = TcpStream::connect(addr).await.unwrap();
                let (mut conn, _) = listener.accept().await.unwrap();
                // 1. A read dropped while it waits.
                let mut buf = [0u8; 8];
                let waited =
                    tether::time::timeout(Duration::from_millis(1), conn.read(&mut buf)).await;
                assert!(waited.is_err(), "{flavor}: nothing was sent yet");
                client.write_all(b"ping").await.unwrap();
                let n = conn.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"ping", "{flavor}, round {round}");
                // 2. A task aborted while it reads: its socket goes with it.
                let reader = tether::spawn(async move {
                    let mut buf = [0u8; 8];
                    conn.read(&mut buf).await
                });
                tether::task::yield_now().await;
                reader.abort();
                assert!(reader.await.unwrap_err().is_cancelled());
                let mut rest = Vec::new();
                client.read_to_end(&mut rest).await.unwrap();
                assert!(
                    rest.is_empty(),
                    "{flavor}: the aborted reader's socket is closed"
                );
            }
            // 3. Many reads waiting, their sockets dropped from another task meanwhile.
            let mut held = Vec::new();
            let mut readers = Vec::new();
            for _ in 0..100 {
                let client = TcpStream::connect(addr).await.unwrap();
                let (conn, _) = listener.accept().await.unwrap();
                let conn = std::sync::Arc::new(conn);
                let c = conn.clone();
                readers.push(tether::spawn(async move { c.readable().await }));
                held.push((client, conn));
            }
            tether::task::yield_now().await;
            readers.iter().for_each(|r| r.abort());
            tether::spawn(async move { drop(held) }).await.unwrap();
            for r in readers {
                assert!(r.await.unwrap_err().is_cancelled());
            }
        });
    }
}
