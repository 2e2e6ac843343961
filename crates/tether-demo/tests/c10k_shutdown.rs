//! Ctrl-C in the C10k demo (the `c10k` binary), end to end: the demo runs as a child process
//! with 200 connections and a 30 s echo phase; once its connections are open the test sends
//! `SIGINT` to the demo's own pid (not to its client process), and checks that it exits with
//! status 0 within a bounded time, that it says it was interrupted and prints the server's
//! shutdown summary, and that its client process was stopped and reaped, not left behind.
//!
//! Cargo builds the `c10k` binary for this test, in the test's profile. Everything is bounded
//! in time; a demo or client still running when the test fails is killed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use support::child::{c10k_bin, Running};

/// Connections the demo opens, and the length of its echo phase (never reached: Ctrl-C comes
/// first).
const CONNS: u32 = 200;
const SECS: u32 = 30;
/// Bounds the demo's start and connect phase (its own connect phase gives up after 30 s).
const OPEN_LIMIT: Duration = Duration::from_secs(60);
/// Bounds the demo's exit after the signal (its shutdown takes at most a few seconds).
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// A process as `/proc/<pid>/stat` and `/proc/<pid>/cmdline` show it; `None` if there is no
/// such process.
struct ProcInfo {
    ppid: u32,
    /// `Z` for a zombie: exited, not yet reaped.
    state: char,
    /// The arguments (empty for a zombie).
    args: Vec<String>,
}

fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; `comm` may hold spaces and parentheses.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcInfo { ppid, state, args })
}

/// Every process id in `/proc`.
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether `args` is the demo's client mode (`<bin> --client <addr> ...`).
fn is_client_of(args: &[String], bin: &Path, addr: &str) -> bool {
    args.first().is_some_and(|a| Path::new(a) == bin)
        && args.windows(2).any(|w| w[0] == "--client" && w[1] == addr)
}

/// Makes this process the reaper of its orphaned descendants: a client process the demo did not
/// reap would become our child when the demo exits, alive or (killed by its parent-death signal)
/// a zombie, instead of disappearing into init.
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and changes only this process's
    // settings.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "prctl(PR_SET_CHILD_SUBREAPER): {}",
        std::io::Error::last_os_error()
    );
}

/// The demo running as a child; killed when dropped if still running, with any client process
/// left behind.
struct Demo {
    run: Running,
    bin: PathBuf,
    /// The client processes seen while the demo ran, and the server address they use.
    clients: Vec<u32>,
    addr: String,
}

impl Demo {
    fn start(bin: PathBuf, args: &[&str]) -> Demo {
        let mut cmd = Command::new(&bin);
        cmd.args(args);
        Demo {
            run: Running::start(cmd, "demo"),
            bin,
            clients: Vec::new(),
            addr: String::new(),
        }
    }

    /// The demo's client processes: its children in client mode.
    fn find_clients(&mut self) {
        let pid = self.run.pid();
        self.clients = all_pids()
            .into_iter()
            .filter(|&p| {
                proc_info(p)
                    .is_some_and(|i| i.ppid == pid && is_client_of(&i.args, &self.bin, &self.addr))
            })
            .collect();
    }

    /// Waits for the demo to exit; kills it and fails past `EXIT_LIMIT`.
    fn wait_exit(&mut self) -> ExitStatus {
        self.run.wait_exit(EXIT_LIMIT)
    }

    /// The demo's client processes that still exist: running anywhere, or orphaned to us (alive
    /// or a zombie, see [`become_subreaper`]).
    fn leftover_clients(&self) -> Vec<String> {
        let me = std::process::id();
        let mut left = Vec::new();
        for &pid in &self.clients {
            if let Some(i) = proc_info(pid) {
                if i.ppid == me || is_client_of(&i.args, &self.bin, &self.addr) {
                    left.push(format!("pid {pid}, state {}, parent {}", i.state, i.ppid));
                }
            }
        }
        for pid in all_pids() {
            if self.clients.contains(&pid) {
                continue;
            }
            if let Some(i) = proc_info(pid) {
                if is_client_of(&i.args, &self.bin, &self.addr) {
                    left.push(format!("pid {pid}, state {}, parent {}", i.state, i.ppid));
                }
            }
        }
        left
    }
}

impl std::ops::Deref for Demo {
    type Target = Running;

    fn deref(&self) -> &Running {
        &self.run
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.run.stop();
        // A client left behind: kill it if it still runs the client, reap it if it is ours.
        let me = std::process::id();
        for &pid in &self.clients {
            let Some(i) = proc_info(pid) else { continue };
            let ours = i.ppid == me;
            if ours || is_client_of(&i.args, &self.bin, &self.addr) {
                let pid = pid as libc::pid_t;
                // SAFETY: `kill` and `waitpid` only signal and reap; `pid` was checked just now
                // to be the demo's client (or our own orphaned child).
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    if ours {
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                }
            }
        }
    }
}

#[test]
fn ctrl_c_stops_the_server_and_the_client_and_exits_0() {
    become_subreaper();
    let bin = c10k_bin();
    let (conns, secs) = (CONNS.to_string(), SECS.to_string());
    let mut demo = Demo::start(bin, &["--conns", &conns, "--secs", &secs]);

    // "c10k: 200 connections to the handshake echo server on 127.0.0.1:PORT (...)"
    let first = demo.wait_for_line("handshake echo server on ", OPEN_LIMIT);
    demo.addr = first
        .split("server on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    // "200 connections open (0 failed) in 0.05 s; echoing for 30 s": the echo phase has begun.
    let open = demo.wait_for_line("connections open (", OPEN_LIMIT);
    assert!(
        open.starts_with(&format!("{CONNS} connections open (0 failed)")),
        "{open:?}\n{}",
        demo.output()
    );
    demo.find_clients();
    assert_eq!(
        demo.clients.len(),
        1,
        "expected one client process of the demo, found {:?}\n{}",
        demo.clients,
        demo.output()
    );
    thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    demo.interrupt();
    let status = demo.wait_exit();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status}\n{}", demo.output());

    let out = demo.stdout_text();
    assert!(
        out.contains("c10k interrupted by Ctrl-C after ")
            && out.contains(" into the 30 s echo phase"),
        "no interruption notice\n{}",
        demo.output()
    );
    assert!(
        !out.contains("c10k report:"),
        "the full report was printed after Ctrl-C\n{}",
        demo.output()
    );
    assert!(
        out.contains("  client        the load process "),
        "nothing said about the client process\n{}",
        demo.output()
    );
    // The client still ran while the server shut down: every connection was open at the signal,
    // saw the server close it between two echoes, and closed.
    let summary = format!(
        "shutdown summary: {CONNS} connection(s) open at the signal; {CONNS} closed cleanly, 0 \
         cut off"
    );
    assert!(out.contains(&summary), "no {summary:?}\n{}", demo.output());
    let lines: Vec<&str> = out.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    assert!(
        at("c10k interrupted by Ctrl-C") < at("shutdown summary:"),
        "the summary comes after the partial results\n{}",
        demo.output()
    );

    let left = demo.leftover_clients();
    assert!(
        left.is_empty(),
        "client processes left behind after the demo exited: {left:?}\n{}",
        demo.output()
    );
    assert!(
        took < EXIT_LIMIT,
        "took {took:?} to exit\n{}",
        demo.output()
    );
}
