//! The portable fallback of child processes, forced on Linux: without an exit descriptor (no
//! pidfd, as on a Linux before 5.3, a sandbox refusing `pidfd_open`, or a Unix system with
//! neither pidfd nor kqueue), `wait` polls `waitpid(WNOHANG)` on a backing-off timer and a dropped
//! child goes to the reaper's polled list. Every test here runs with the fallback forced
//! (`tether::__private::force_wait_by_polling`, process-wide, so this file is its own binary).
//!
//! Nothing here reads `/proc`: a child counts as reaped once `kill(pid, 0)` says `ESRCH` (a
//! zombie still answers), which holds on every Unix system.
#![cfg(unix)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::process::Command;
use tether::runtime::Builder;

/// Forces the fallback for the children this test spawns (idempotent: every test sets it).
fn force_fallback() {
    tether::__private::force_wait_by_polling(true);
}

/// Runs `make()`'s future on a current-thread and on a multi-thread runtime, each bounded to
/// 30 s.
fn on_both_flavors<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    force_fallback();
    let runtimes = [
        ("current_thread", Builder::new_current_thread().build()),
        (
            "multi_thread",
            Builder::new_multi_thread().worker_threads(2).build(),
        ),
    ];
    for (flavor, rt) in runtimes {
        let rt = rt.unwrap();
        let fut = make();
        let task =
            rt.spawn(async move { tether::time::timeout(Duration::from_secs(30), fut).await });
        match rt.block_on(task) {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{flavor}: did not finish within 30 s"),
            Err(e) => panic!("{flavor}: {e}"),
        }
    }
}

/// Whether process `pid` no longer exists: reaped (a zombie still answers `kill(pid, 0)`).
fn is_reaped(pid: u32) -> bool {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Waits (10 s at most) until `pid` has been reaped by someone else (the reaper).
fn wait_reaped(pid: u32, what: &str) {
    let what = format!("{what}: process {pid} reaped");
    support::bounded::wait_until(&what, Duration::from_secs(10), || is_reaped(pid));
}

#[test]
fn wait_notices_the_exit_by_polling() {
    on_both_flavors(|| async {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 0.1; exit 5"])
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        assert_eq!(child.wait().await.unwrap().code(), Some(5));
        assert_eq!(child.id(), None);
        assert!(is_reaped(pid), "wait reaped the child");
        // A second wait returns the same status at once.
        assert_eq!(child.wait().await.unwrap().code(), Some(5));
    });
}

#[test]
fn kill_then_wait_reports_the_signal() {
    on_both_flavors(|| async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        child.kill().await.unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
}

#[test]
fn pipes_and_wait_with_output_work_alongside_polling() {
    on_both_flavors(|| async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"through the fallback").await.unwrap();
        drop(stdin);
        let mut echoed = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut echoed)
            .await
            .unwrap();
        assert_eq!(echoed, "through the fallback");
        assert!(child.wait().await.unwrap().success());

        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 2"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

/// Rule 3 of the reaper: a child dropped while running, without a descriptor, is polled until
/// it exits and then reaped, killed first or not.
#[test]
fn dropped_children_are_reaped_from_the_polled_list() {
    on_both_flavors(|| async {
        let killed = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let killed_pid = killed.id().unwrap();
        let exiting = Command::new("sh")
            .args(["-c", "sleep 0.1"])
            .spawn()
            .unwrap();
        let exiting_pid = exiting.id().unwrap();
        drop(killed);
        drop(exiting);
        tether::task::spawn_blocking(move || {
            wait_reaped(killed_pid, "killed on drop");
            wait_reaped(exiting_pid, "exited after drop");
        })
        .await
        .unwrap();
    });
}

/// A child dropped while running is reaped after its runtime is gone: the reaper belongs to
/// no runtime.
#[test]
fn child_outliving_its_runtime_is_reaped() {
    force_fallback();
    let rt = Builder::new_current_thread().build().unwrap();
    let pid = rt.block_on(async {
        let child = Command::new("sh")
            .args(["-c", "sleep 0.1"])
            .spawn()
            .unwrap();
        child.id().unwrap()
    });
    drop(rt);
    wait_reaped(pid, "outlived its runtime");
}
