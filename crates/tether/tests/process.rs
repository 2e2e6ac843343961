//! Child processes: output, exit codes, pipes, kill, many children at once, and no zombies,
//! whether children are awaited, dropped, or outlive their runtime.
//!
//! The tests of this file run one at a time (`SERIAL`), so that counting this process's
//! zombies is exact: another test's child briefly between its exit and its reaping would
//! otherwise count.
//!
//! Linux only: it counts zombies through `/proc` (`tests/process_fallback.rs` checks reaping
//! on any Unix system).
#![cfg(target_os = "linux")]

mod support;

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::process::Command;
use tether::runtime::{Builder, Runtime};
use tether::time::timeout;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Runs `make()`'s future as a task on a current-thread and on a multi-thread runtime, each
/// bounded to 30 s.
fn on_both_flavors<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for (flavor, rt) in [
        ("current_thread", current_thread()),
        ("multi_thread", multi_thread()),
    ] {
        let fut = make();
        let task = rt.spawn(async move { timeout(Duration::from_secs(30), fut).await });
        match rt.block_on(task) {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{flavor}: did not finish within 30 s"),
            Err(e) => panic!("{flavor}: {e}"),
        }
    }
}

/// The children of this process that are zombies (exited, not reaped), from `/proc`.
fn zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone meanwhile
        };
        // `pid (comm) state ppid ...`; `comm` may contain spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            found.push(pid);
        }
    }
    found
}

/// Whether the process `pid` is gone: reaped (or never a zombie of ours).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // A reused pid (another parent) counts as gone too.
            let after = &stat[stat.rfind(')').unwrap() + 1..];
            let ppid = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            ppid != Some(std::process::id())
        }
    }
}

/// Waits (10 s at most) until `pid` is gone.
fn wait_gone(pid: u32, what: &str) {
    let what = format!("{what}: process {pid} gone");
    support::bounded::wait_until(&what, Duration::from_secs(10), || is_gone(pid));
}

#[test]
fn echo_output_is_captured() {
    let _serial = serial();
    on_both_flavors(|| async {
        let out = Command::new("echo").arg("hello").output().await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello\n");
        assert!(out.stderr.is_empty());
    });
}

#[test]
fn exit_codes_are_reported() {
    let _serial = serial();
    on_both_flavors(|| async {
        assert_eq!(Command::new("true").status().await.unwrap().code(), Some(0));
        assert_eq!(
            Command::new("false").status().await.unwrap().code(),
            Some(1)
        );
        let status = Command::new("sh")
            .args(["-c", "exit 42"])
            .status()
            .await
            .unwrap();
        assert_eq!(status.code(), Some(42));
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!(
            (out.status.code(), &out.stdout[..], &out.stderr[..]),
            (Some(3), &b"out\n"[..], &b"err\n"[..])
        );
    });
}

#[test]
fn stdin_piped_to_cat_comes_back() {
    let _serial = serial();
    on_both_flavors(|| async {
        // 1 MiB: far more than a pipe holds, so writing and reading must interleave.
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let sent = data.clone();
        let writer = tether::spawn(async move {
            stdin.write_all(&sent).await.unwrap();
            stdin.close().await.unwrap(); // `cat` sees the end of its input
        });
        let mut echoed = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut echoed)
            .await
            .unwrap();
        writer.await.unwrap();
        assert!(echoed == data, "cat gave back {} bytes", echoed.len());
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn kill_stops_a_sleeping_child() {
    let _serial = serial();
    on_both_flavors(|| async {
        let start = Instant::now();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().await.unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(child.id(), None);
        assert!(start.elapsed() < Duration::from_secs(10));
        child.start_kill().unwrap(); // reaped already: nothing is signalled
    });
}

#[test]
fn two_hundred_children_leave_no_zombies() {
    let _serial = serial();
    on_both_flavors(|| async {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let mut child = Command::new("true").spawn().unwrap();
                tether::spawn(async move { child.wait().await.unwrap() })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().success());
        }
        assert_eq!(zombies(), Vec::<u32>::new());
    });
}

/// The zombie count above is worth something: it does see a child nobody reaped.
#[test]
fn zombie_detector_sees_an_unreaped_child() {
    let _serial = serial();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !zombies().contains(&pid) {
        assert!(
            Instant::now() < deadline,
            "the unreaped child never showed as a zombie"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait().unwrap();
    assert_eq!(zombies(), Vec::<u32>::new());
}

#[test]
fn dropped_running_child_is_reaped() {
    let _serial = serial();
    let rt = current_thread();
    let pid = rt.block_on(async {
        let child = Command::new("sleep")
            .arg("0.3")
            .kill_on_drop(false)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        drop(child);
        // Not killed: still running a moment later.
        tether::time::sleep(Duration::from_millis(100)).await;
        assert!(!is_gone(pid), "the child was killed");
        pid
    });
    wait_gone(pid, "a dropped child");
    assert_eq!(zombies(), Vec::<u32>::new());
}

#[test]
fn kill_on_drop_kills_the_child() {
    let _serial = serial();
    let rt = multi_thread();
    let pid = rt.block_on(async {
        let child = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        child.id().unwrap()
    });
    wait_gone(pid, "a child dropped with kill_on_drop");
    assert_eq!(zombies(), Vec::<u32>::new());
}

#[test]
fn child_outliving_its_runtime_is_reaped() {
    let _serial = serial();
    let rt = current_thread();
    let (child, pid) = rt.block_on(async {
        let child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = child.id().unwrap();
        (child, pid)
    });
    drop(rt);
    drop(child); // its runtime is gone
    wait_gone(pid, "a child dropped after its runtime");
    assert_eq!(zombies(), Vec::<u32>::new());
}

#[test]
fn dropped_output_future_with_kill_on_drop_kills_the_child() {
    let _serial = serial();
    current_thread().block_on(async {
        let mut cmd = Command::new("sleep");
        cmd.arg("30").kill_on_drop(true);
        let res = timeout(Duration::from_millis(100), cmd.output()).await;
        assert!(res.is_err());
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !zombies().is_empty() || children_named("sleep") > 0 {
        assert!(
            Instant::now() < deadline,
            "the sleep child survived its dropped future"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many live children of this process run `comm`.
fn children_named(comm: &str) -> usize {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                return false;
            };
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            &stat[open + 1..close] == comm && ppid == Some(&me.to_string())
        })
        .count()
}

#[test]
fn missing_program_error_names_it() {
    let _serial = serial();
    current_thread().block_on(async {
        let err = Command::new("tether-no-such-program")
            .arg("x")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(msg.contains("`tether-no-such-program`"), "{msg}");
        assert!(msg.contains("PATH"), "{msg}");
        // The OS error is kept as the message's source, with its code.
        assert_eq!(tether::io::os_error_of(&err), Some(libc::ENOENT));
        let source = std::error::Error::source(err.get_ref().unwrap()).unwrap();
        assert!(source.to_string().contains("No such file"), "{source}");

        let err = Command::new("true")
            .current_dir("/tether/no/such/dir")
            .output()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/tether/no/such/dir"), "{err}");
    });
}

#[test]
fn environment_and_directory_are_applied() {
    let _serial = serial();
    current_thread().block_on(async {
        let out = Command::new("sh")
            .args(["-c", "echo \"$A-$B-${HOME:-unset}\"; pwd"])
            .env_clear()
            .envs([("A", "1"), ("B", "2")])
            .env("PATH", std::env::var_os("PATH").unwrap())
            .current_dir("/")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "1-2-unset\n/\n");

        let out = Command::new("sh")
            .args(["-c", "echo \"${TETHER_GONE:-removed}\""])
            .env("TETHER_GONE", "present")
            .env_remove("TETHER_GONE")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"removed\n");
    });
}

#[test]
fn children_can_be_piped_together() {
    let _serial = serial();
    current_thread().block_on(async {
        let mut echo = Command::new("echo")
            .arg("through a pipe")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdio: Stdio = echo.stdout.take().unwrap().try_into().unwrap();
        let out = Command::new("cat").stdin(stdio).output().await.unwrap();
        assert_eq!(out.stdout, b"through a pipe\n");
        assert!(echo.wait().await.unwrap().success());
    });
}

#[test]
fn spawn_outside_a_runtime_panics_without_starting_anything() {
    let _serial = serial();
    let err = std::panic::catch_unwind(|| Command::new("true").spawn()).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("outside a tether runtime"), "{msg}");
    assert_eq!(children_named("true"), 0);
}
