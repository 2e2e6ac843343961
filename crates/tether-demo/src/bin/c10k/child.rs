//! The demo's client process, from the parent's side: [`ChildGuard`] owns it, so that it is
//! killed and reaped however the run ends, forwards its output lines as [`Event`]s, waits for it
//! until a deadline, or stops it after Ctrl-C. Every way out reaps the child: the demo never
//! leaves a zombie or a load generator behind.

use std::io::{self, BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::run::Event;

/// The child process: killed and reaped when dropped, whatever happened.
pub(crate) struct ChildGuard(pub(crate) Option<Child>);

/// How the child ended.
pub(crate) enum Reaped {
    /// It exited by itself (or of a signal from elsewhere), with this status.
    Exited(std::process::ExitStatus),
    /// It overstayed its deadline and was killed.
    Killed,
    /// Waiting for it failed; it was killed and reaped.
    Lost(io::Error),
}

impl std::fmt::Display for Reaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reaped::Exited(s) => write!(f, "{s}"),
            Reaped::Killed => write!(f, "killed after overstaying"),
            Reaped::Lost(e) => write!(f, "could not wait for it: {e}"),
        }
    }
}

impl ChildGuard {
    /// Stops the child now: reaps it if it has exited, otherwise kills it (by its pid, through
    /// `Child::kill`) and reaps it. Says which.
    pub(crate) fn stop(&mut self) -> String {
        let Some(mut child) = self.0.take() else {
            return "was already reaped".to_string();
        };
        if let Ok(Some(status)) = child.try_wait() {
            return format!("had already exited ({status})");
        }
        let _ = child.kill();
        match child.wait() {
            // It was on its way out: a Ctrl-C in the terminal reaches it too.
            Ok(status) if status.signal() == Some(libc::SIGINT) => {
                format!("stopped on the Ctrl-C itself ({status})")
            }
            Ok(status) => format!("was still running: stopped and reaped ({status})"),
            Err(e) => format!("was still running, and could not be reaped: {e}"),
        }
    }

    /// Starts a thread per output pipe that forwards its lines to `tx`.
    pub(crate) fn take_pipes(&mut self, tx: mpsc::Sender<Event>) -> Vec<thread::JoinHandle<()>> {
        let child = self.0.as_mut().expect("not reaped yet");
        let mut handles = Vec::new();
        if let Some(out) = child.stdout.take() {
            let tx = tx.clone();
            handles.push(thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Out(line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Event::OutClosed);
            }));
        }
        if let Some(err) = child.stderr.take() {
            handles.push(thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Event::Err(line)).is_err() {
                        return;
                    }
                }
            }));
        }
        handles
    }

    /// Waits for the child until `deadline`, then kills it; reaps it either way.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> Reaped {
        let Some(mut child) = self.0.take() else {
            return Reaped::Lost(io::Error::other("already reaped"));
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Reaped::Exited(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Reaped::Killed;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Reaped::Lost(e);
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
