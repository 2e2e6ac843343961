//! Graceful shutdown of the `echo` binary, end to end: the server runs as a child process,
//! clients echo through it, the test sends it `SIGINT`, and checks that it stops accepting, that
//! every client saw only complete echoes before the server closed, that what was cut off is
//! reported, and that it exits with status 0.
//!
//! Cargo builds the `echo` binary for this test, in the test's profile. Everything is bounded
//! in time, and a server still running when a test ends is killed.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::child::{echo_bin, Running};

/// Clients of the main test.
const CLIENTS: usize = 20;
/// The size of one echoed message.
const MSG: usize = 64;
/// Echoes every client completes before the signal.
const ECHOES_BEFORE_SIGNAL: usize = 10;
/// Bounds how long the server may take to print its address, and to exit after the signal.
const START_LIMIT: Duration = Duration::from_secs(30);
const EXIT_LIMIT: Duration = Duration::from_secs(20);
/// Bounds a client's whole run, and each of its socket operations.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The `echo` binary running as a child; killed when dropped if still running.
struct Server {
    run: Running,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(echo_bin());
        cmd.arg("127.0.0.1:0").args(args);
        let run = Running::start(cmd, "server");
        let line = run.wait_for_line("listening on ", START_LIMIT);
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok());
        let addr = addr.unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { run, addr }
    }

    fn wait_exit(&mut self) -> ExitStatus {
        self.run.wait_exit(EXIT_LIMIT)
    }
}

impl std::ops::Deref for Server {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.run
    }
}

/// How a client's run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed the connection between two echoes.
    CleanClose,
    /// The server closed the connection after `got` bytes of an echo: a half-written echo.
    HalfEcho { got: usize },
    /// An echo differed from the message.
    Mismatch { echo: usize },
    /// A socket error (a reset, a timeout).
    Error(String),
    /// The server never closed the connection.
    TooLong,
}

#[derive(Debug)]
struct Report {
    id: usize,
    echoes: usize,
    end: End,
}

/// The message number `k` of client `id`: different for every client and every round.
fn message(id: usize, k: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (j, b) in m.iter_mut().enumerate() {
        *b = (id * 131 + k * 7 + j) as u8;
    }
    m[..8].copy_from_slice(&(k as u64).to_le_bytes());
    m
}

/// Connects and says hello; `Err` with the reason.
fn say_hello(addr: SocketAddr) -> Result<TcpStream, String> {
    let mut c =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    c.write_all(b"hello\n")
        .map_err(|e| format!("handshake: {e}"))?;
    let mut reply = [0u8; 6];
    c.read_exact(&mut reply)
        .map_err(|e| format!("handshake reply: {e}"))?;
    if &reply != b"hello\n" {
        return Err(format!("handshake reply {reply:?}"));
    }
    Ok(c)
}

/// A client: hello, then 64-byte messages echoed one at a time until the server closes.
/// `echoes` counts the complete echoes.
fn client(id: usize, addr: SocketAddr, echoes: Arc<AtomicUsize>) -> Report {
    let report = |end| Report {
        id,
        echoes: echoes.load(Ordering::SeqCst),
        end,
    };
    let mut c = match say_hello(addr) {
        Ok(c) => c,
        Err(e) => return report(End::Error(e)),
    };
    let deadline = Instant::now() + CLIENT_LIMIT;
    let mut k = 0;
    while Instant::now() < deadline {
        let msg = message(id, k);
        // The server keeps reading after it stopped echoing (it waits for us to close), so a
        // write never fails in a clean shutdown.
        if let Err(e) = c.write_all(&msg) {
            return report(End::Error(format!("write of message {k}: {e}")));
        }
        let mut back = [0u8; MSG];
        let mut got = 0;
        while got < MSG {
            match c.read(&mut back[got..]) {
                Ok(0) if got == 0 => return report(End::CleanClose),
                Ok(0) => return report(End::HalfEcho { got }),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return report(End::Error(format!("read of echo {k}: {e}"))),
            }
        }
        if back != msg {
            return report(End::Mismatch { echo: k });
        }
        echoes.fetch_add(1, Ordering::SeqCst);
        k += 1;
    }
    report(End::TooLong)
}

/// Starts `n` clients (ids from `first`) in threads.
fn start_clients(
    addr: SocketAddr,
    first: usize,
    n: usize,
) -> Vec<(Arc<AtomicUsize>, JoinHandle<Report>)> {
    (first..first + n)
        .map(|id| {
            let echoes = Arc::new(AtomicUsize::new(0));
            let count = echoes.clone();
            let t = thread::Builder::new()
                .name(format!("client-{id}"))
                .spawn(move || client(id, addr, count))
                .expect("spawn a client thread");
            (echoes, t)
        })
        .collect()
}

/// Waits until every client completed `ECHOES_BEFORE_SIGNAL` echoes.
fn wait_for_echoes(server: &Server, clients: &[(Arc<AtomicUsize>, JoinHandle<Report>)]) {
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if clients
            .iter()
            .all(|(n, _)| n.load(Ordering::SeqCst) >= ECHOES_BEFORE_SIGNAL)
        {
            return;
        }
        if let Some((_, t)) = clients.iter().find(|(_, t)| t.is_finished()) {
            panic!(
                "{} ended before the signal\n{}",
                t.thread().name().unwrap_or("a client"),
                server.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the clients did not complete {ECHOES_BEFORE_SIGNAL} echoes each in {START_LIMIT:?}\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Joins the clients (each bounded by `CLIENT_LIMIT`) and checks that every one saw only
/// complete, correct echoes and then a clean close.
fn check_clients(server: &Server, clients: Vec<(Arc<AtomicUsize>, JoinHandle<Report>)>) {
    for (_, t) in clients {
        let r = t.join().expect("a client thread panicked");
        assert_eq!(
            r.end,
            End::CleanClose,
            "client {} (after {} complete echoes)\n{}",
            r.id,
            r.echoes,
            server.output()
        );
        assert!(r.echoes >= ECHOES_BEFORE_SIGNAL);
    }
}

#[test]
fn ctrl_c_closes_every_connection_between_echoes_and_exits_0() {
    let mut server = Server::start(&["--grace-ms", "5000"]);
    let clients = start_clients(server.addr, 0, CLIENTS);
    wait_for_echoes(&server, &clients);

    server.interrupt();
    let status = server.wait_exit();
    check_clients(&server, clients);
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.output());
    let out = server.stdout_text();
    let summary = format!(
        "shutdown summary: {CLIENTS} connection(s) open at the signal; {CLIENTS} closed cleanly, \
         0 cut off"
    );
    assert!(
        out.contains(&summary),
        "no {summary:?} in\n{}",
        server.output()
    );
    assert!(!out.contains("cut off: "), "{}", server.output());
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_the_grace_period_and_reported() {
    let mut server = Server::start(&["--grace-ms", "1500"]);
    let clients = start_clients(server.addr, 100, 2);
    wait_for_echoes(&server, &clients);

    // A client that sends without reading: once both socket buffers are full, the server's
    // connection task is stuck writing an echo, and cannot stop between echoes.
    let mut stuck = say_hello(server.addr).expect("the stuck client's handshake");
    let stuck_port = stuck.local_addr().unwrap().port();
    stuck
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    loop {
        match stuck.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("the stuck client's write failed: {e}"),
        }
        assert!(
            sent < 1 << 30,
            "1 GiB sent and the server still reads: it is not echoing"
        );
    }

    let signalled = Instant::now();
    server.interrupt();
    server.wait_for_line("shutting down", EXIT_LIMIT);
    // Still in the grace period (the stuck connection holds the server up to 1.5 s): the
    // listener is closed already.
    let refused = TcpStream::connect_timeout(&server.addr, IO_TIMEOUT);
    if signalled.elapsed() < Duration::from_millis(1000) {
        let err = refused.expect_err("the server accepted a connection after SIGINT");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    }
    let status = server.wait_exit();
    assert!(
        signalled.elapsed() >= Duration::from_millis(1400),
        "the server exited before the grace period ended\n{}",
        server.output()
    );
    drop(stuck);
    check_clients(&server, clients);
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.output());

    let out = server.stdout_text();
    let summary =
        "shutdown summary: 3 connection(s) open at the signal; 2 closed cleanly, 1 cut off";
    assert!(
        out.contains(summary),
        "no {summary:?} in\n{}",
        server.output()
    );
    let cut = out
        .lines()
        .find(|l| l.contains("cut off: task "))
        .unwrap_or_else(|| panic!("no cut-off connection listed\n{}", server.output()));
    assert!(
        cut.contains(&format!("\"echo-conn 127.0.0.1:{stuck_port}\""))
            && cut.contains("writing an echo"),
        "the cut-off line does not name the stuck client's task: {cut:?}"
    );
}

#[test]
fn ctrl_c_with_no_connection_exits_0_at_once() {
    let mut server = Server::start(&[]);
    let signalled = Instant::now();
    server.interrupt();
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.output());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "an idle server waited for its grace period\n{}",
        server.output()
    );
    assert!(
        server.stdout_text().contains(
            "shutdown summary: 0 connection(s) open at the signal; 0 closed cleanly, 0 cut off"
        ),
        "{}",
        server.output()
    );
}
