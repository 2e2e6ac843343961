//! Running out of file descriptors while accepting: the server survives, does not spin, and
//! accepts again once descriptors are freed.
//!
//! The test runs the handshake echo server ([`tether_demo::echo_server`]) in a child process
//! (this test binary re-executed with `TETHER_EMFILE_CHILD=1`) whose `RLIMIT_NOFILE` is lowered
//! to 64, then opens more connections than the child can hold.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tether_demo::echo_server;

const CHILD_ENV: &str = "TETHER_EMFILE_CHILD";
const FD_LIMIT: u64 = 64;
const CLIENTS: usize = 90;

/// The server side. A no-op unless run as the child of `server_survives_descriptor_exhaustion`.
#[test]
fn emfile_child_server() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let lim = libc::rlimit {
        rlim_cur: FD_LIMIT,
        rlim_max: FD_LIMIT,
    };
    // SAFETY: `setrlimit` reads the struct we pass by reference and has no other effect on memory.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit failed");
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (addr, stats) = echo_server::start("127.0.0.1:0", false).await.unwrap();
        println!("PORT {}", addr.port());
        std::io::stdout().flush().unwrap();
        // Serve until the parent closes our stdin (bounded: at most 60 s).
        let stdin_closed = tether::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        });
        let _ = tether::time::timeout(Duration::from_secs(60), stdin_closed).await;
        println!(
            "STATS accepted={} exhausted={}",
            stats.accepted.load(Ordering::SeqCst),
            stats.exhausted.load(Ordering::SeqCst)
        );
    });
}

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted from `state` = field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Tries to read the 6-byte handshake reply within `wait`; returns whether it arrived.
fn got_reply(c: &mut TcpStream, got: &mut usize, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 6];
    while *got < 6 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match c.read(&mut buf[..6 - *got]) {
            Ok(0) => panic!("server closed a connection that said hello"),
            Ok(n) => *got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(e) => panic!("client read failed: {e}"),
        }
    }
    true
}

#[test]
fn server_survives_descriptor_exhaustion() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "emfile_child_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port: u16 = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before printing its port"
        );
        // The test harness may print `test emfile_child_server ... ` on the same line.
        if let Some(p) = line.split("PORT ").nth(1) {
            break p.trim().parse().unwrap();
        }
    };
    let addr = ("127.0.0.1", port);

    // More clients than the child has descriptors for; all of them say hello.
    let mut clients: Vec<(TcpStream, usize)> = (0..CLIENTS)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"hello\n").unwrap();
            (c, 0)
        })
        .collect();

    // Let the server accept what fits; the rest stay in the listen backlog.
    std::thread::sleep(Duration::from_millis(500));
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, (c, got)) in clients.iter_mut().enumerate() {
        if got_reply(c, got, Duration::from_millis(20)) {
            served.push(i);
        } else {
            waiting.push(i);
        }
    }
    assert!(
        served.len() >= 20 && !waiting.is_empty(),
        "expected exhaustion: {} served, {} waiting",
        served.len(),
        waiting.len()
    );

    // While exhausted, the accept loop must back off rather than spin.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used * 2 < hz,
        "the exhausted server used {used} of {hz} CPU ticks in 1 s: its accept loop spins"
    );

    // Free descriptors: close served clients; the waiting ones must now be served.
    let close: Vec<usize> = served.iter().copied().take(waiting.len() + 5).collect();
    for &i in close.iter().rev() {
        clients.remove(i);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all_served = false;
    while Instant::now() < deadline {
        all_served = clients
            .iter_mut()
            .all(|(c, got)| *got == 6 || got_reply(c, got, Duration::from_millis(50)));
        if all_served {
            break;
        }
    }
    assert!(
        all_served,
        "clients queued during exhaustion were never accepted"
    );

    // A client accepted after the exhaustion is echoed normally.
    let (c, _) = clients.last_mut().unwrap();
    c.write_all(b"still echoing").unwrap();
    let mut back = [0u8; 13];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"still echoing");

    drop(clients);
    drop(child.stdin.take());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "child failed: {status}\n{err}");
    assert!(err.contains("Too many open files"), "child stderr: {err}");
    let exhausted: u64 = rest
        .split_whitespace()
        .find_map(|w| w.strip_prefix("exhausted="))
        .and_then(|n| n.parse().ok())
        .expect("child printed its stats");
    assert!(exhausted >= 1);
}
