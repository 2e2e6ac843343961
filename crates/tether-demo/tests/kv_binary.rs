//! The `kv` binary as a child process, with a plain TCP client (no Redis tools needed; the
//! tests with `redis-cli` and `redis-benchmark` are in `kv_redis_cli.rs` and
//! `kv_redis_benchmark.rs`): it announces its address, serves on both runtime flavors, refuses
//! bad arguments, and shuts down gracefully on `SIGINT`, reporting what it cut off.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::child::{kv_bin, Running};

const START_LIMIT: Duration = Duration::from_secs(30);
const EXIT_LIMIT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `kv 127.0.0.1:0 ARGS...` and reads the address it announces.
fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut cmd = Command::new(kv_bin());
    cmd.arg("127.0.0.1:0").args(args);
    let run = Running::start(cmd, "kv server");
    let line = run.wait_for_line("listening on ", START_LIMIT);
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (run, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    c
}

/// Sends `request` and reads exactly `reply.len()` bytes, which must equal `reply`.
fn round_trip(c: &mut TcpStream, request: &[u8], reply: &[u8]) {
    c.write_all(request).unwrap();
    let mut got = vec![0u8; reply.len()];
    c.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(reply)
    );
}

#[test]
fn serves_on_both_flavors_and_stops_cleanly_on_sigint() {
    // A long grace period: the idle connection closes at once; only a server that failed to
    // close it would wait that long (and the summary would then show it cut off).
    for flavor in [&["--current-thread"][..], &["--workers", "2"][..]] {
        let (mut server, addr) = start(&[flavor, &["--grace-ms", "10000"]].concat());
        let mut c = connect(addr);
        round_trip(&mut c, b"PING\r\n", b"+PONG\r\n");
        round_trip(
            &mut c,
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n",
            b"+OK\r\n$1\r\nv\r\n",
        );
        server.interrupt();
        // The idle connection is closed by the server (FIN, no reset).
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("a clean close");
        assert!(rest.is_empty(), "nothing after the last reply: {rest:?}");
        drop(c);
        let status = server.wait_exit(EXIT_LIMIT);
        assert!(
            status.success(),
            "exit status {status}\n{}",
            server.output()
        );
        let out = server.stdout_text();
        assert!(
            out.contains("1 connection(s) open at the signal; 1 closed cleanly, 0 cut off"),
            "{flavor:?}\n{out}"
        );
    }
}

/// A client that sends requests and never reads their replies keeps its connection writing;
/// at the end of the grace period the server drops it and names it in the summary.
#[test]
fn a_connection_stuck_writing_is_cut_off_after_the_grace_period() {
    let (mut server, addr) = start(&["--grace-ms", "300"]);
    let mut c = connect(addr);
    let value = vec![b'x'; 1 << 20];
    let mut set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    round_trip(&mut c, &set, b"+OK\r\n");
    // 64 MB of replies nobody reads: once the first bytes arrive, the server is writing, and it
    // cannot finish (the socket buffers hold a few MB) until we read, which we never do.
    c.write_all(&b"GET big\r\n".repeat(64)).unwrap();
    let mut first = [0u8; 1];
    assert_eq!(c.peek(&mut first).expect("the replies start"), 1);
    server.interrupt();
    let status = server.wait_exit(EXIT_LIMIT);
    assert!(
        status.success(),
        "exit status {status}\n{}",
        server.output()
    );
    let out = server.stdout_text();
    assert!(
        out.contains("0 closed cleanly, 1 cut off after the 300ms grace period"),
        "{out}"
    );
    assert!(
        out.contains("writing replies (the client was not reading)"),
        "{out}"
    );
}

#[test]
fn bad_arguments_are_refused_with_the_usage() {
    for args in [
        &["--max-bulk", "lots"][..],
        &["--workers", "0"],
        &["--max-query", "100"],
        &["--frobnicate"],
        &["127.0.0.1:1", "127.0.0.1:2"],
    ] {
        let out = Command::new(kv_bin()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    let help = Command::new(kv_bin()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-bulk BYTES"));
}
