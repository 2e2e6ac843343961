//! Running a binary from a test as a bounded child process: its output collected line by line,
//! waits bounded in time, Ctrl-C sent by pid, killed and reaped when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Waits for `child` to exit for at most `limit`; past it, kills it (by its pid, through
/// `Child::kill`), reaps it and returns `None`.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A binary running as a child process, its stdout and stderr lines collected as they come;
/// killed (through `Child::kill`, by its pid) and reaped when dropped if it still runs.
pub struct Running {
    child: Child,
    /// What the messages call it ("server", "demo").
    name: &'static str,
    /// Every stdout line, as they come.
    lines: Receiver<String>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    /// The threads reading stdout and stderr; they end when the child's pipes close.
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts `cmd` with piped output.
    pub fn start(mut cmd: Command, name: &'static str) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name}: {e}"));
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let keep = stdout.clone();
        let out_reader = thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                keep.push(line.clone());
                let _ = tx.send(line);
            }
        });
        let err = child.stderr.take().unwrap();
        let keep = stderr.clone();
        let err_reader = thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                keep.push(line);
            }
        });
        Running {
            child,
            name,
            lines,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {needle:?} from the {} in {limit:?}\n{}",
                    self.name,
                    self.output()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the {} closed its stdout before {needle:?}\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
    }

    /// Sends `SIGINT` to the child's pid only, as Ctrl-C or `kill -INT <pid>` would.
    #[cfg(unix)]
    pub fn interrupt(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: `kill` only sends a signal. `pid` is our child, not yet reaped (we hold its
        // `Child` and have not waited for it), so it cannot name another process.
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill(SIGINT): {}", std::io::Error::last_os_error());
    }

    /// Waits for the child to exit; kills it and fails past `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match wait_bounded(&mut self.child, limit) {
            Some(status) => {
                // The pipes are closed: the readers have seen all the output.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                status
            }
            None => panic!(
                "the {} did not exit within {limit:?} of SIGINT (killed)\n{}",
                self.name,
                self.output()
            ),
        }
    }

    /// Everything the child printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().join("\n")
    }

    /// Both outputs, for failure messages.
    pub fn output(&self) -> String {
        self.log().output()
    }

    /// A handle on the child's output that other threads can read (the line receiver of
    /// [`Running::wait_for_line`] stays here).
    pub fn log(&self) -> Log {
        Log {
            name: self.name,
            stdout: self.stdout.clone(),
            stderr: self.stderr.clone(),
        }
    }
}

/// The output of a [`Running`] child, collected as it comes; cheap to clone, shareable
/// between threads.
#[derive(Clone)]
pub struct Log {
    name: &'static str,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

/// One output stream's lines so far, and a condition variable its reader thread signals at
/// every new line, so that waiters sleep until a line comes.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

impl Lines {
    fn push(&self, line: String) {
        self.lock().push(line);
        self.grew.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap()
    }

    /// Calls `probe` with the lines so far, and again at each new line, until it gives a
    /// value; `None` once `limit` has passed.
    fn wait_until<T>(
        &self,
        limit: Duration,
        mut probe: impl FnMut(&[String]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut lines = self.lock();
        loop {
            if let Some(v) = probe(&lines) {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.grew.wait_timeout(lines, left).unwrap().0;
        }
    }
}

#[allow(dead_code)] // not every test that includes this module needs all of it
impl Log {
    /// Everything the child printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().join("\n")
    }

    /// Everything the child printed on stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().join("\n")
    }

    /// How many stdout lines so far satisfy `pred`.
    pub fn count_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.stdout.lock().iter().filter(|l| pred(l)).count()
    }

    /// How many stderr lines so far satisfy `pred`.
    pub fn count_stderr_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.stderr.lock().iter().filter(|l| pred(l)).count()
    }

    /// Waits until a stdout line satisfies `pred` (woken by each new line), and returns it;
    /// `None` after `limit`. Unlike [`Running::wait_for_line`] it looks at every line printed so far and
    /// consumes nothing, so any number of threads can wait for their own lines.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let mut seen = 0;
        self.stdout.wait_until(limit, |lines| {
            let found = lines[seen..].iter().find(|l| pred(l)).cloned();
            seen = lines.len();
            found
        })
    }

    /// Waits until at least `n` stderr lines satisfy `pred`; false after `limit`.
    pub fn wait_for_stderr_lines(
        &self,
        pred: impl Fn(&str) -> bool,
        n: usize,
        limit: Duration,
    ) -> bool {
        self.stderr
            .wait_until(limit, |lines| {
                (lines.iter().filter(|l| pred(l)).count() >= n).then_some(())
            })
            .is_some()
    }

    /// Both outputs, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- {name} stdout ---\n{}\n--- {name} stderr ---\n{}",
            self.stdout_text(),
            self.stderr_text(),
            name = self.name,
        )
    }
}

impl Running {
    /// Kills and reaps the child if it still runs.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
