//! Running one test of this binary in a child process (the test binary re-executed with that
//! test's name), to read what it prints on stderr, or so that a scenario that would take the
//! whole test run down (an abort, a process-wide panic hook) fails only its test.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child to the name of the test it runs.
const CHILD_ENV: &str = "TETHER_TEST_CHILD";

/// What the child printed.
pub struct Printed {
    pub stdout: String,
    pub stderr: String,
}

/// Runs the test `name` of this binary in a child process (`CHILD_ENV=name`, one test thread,
/// output not captured), asserts that it passed within 60 s, and returns what it printed.
/// Returns `None` when this process is that child: the caller then runs the scenario itself.
pub fn run_in_child(name: &str) -> Option<Printed> {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        return None;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child running {name} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "the child running {name} failed ({status}):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}\n{stderr}"
    );
    Some(Printed { stdout, stderr })
}
