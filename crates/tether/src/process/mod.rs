//! Child processes: spawn them, talk to them through pipes, and wait for them without blocking.
//!
//! [`Command`] mirrors [`std::process::Command`] (same builder methods, same [`Stdio`]) and adds
//! [`kill_on_drop`](Command::kill_on_drop); [`spawn`](Command::spawn) gives a [`Child`] whose
//! piped standard streams implement the `futures-io` traits, and whose
//! [`wait`](Child::wait) does not block a thread.
//!
//! ```
//! use tether::process::Command;
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     let output = Command::new("echo").arg("hello").output().await?;
//!     assert!(output.status.success());
//!     assert_eq!(output.stdout, b"hello\n");
//!     Ok(())
//! }
//! ```
//!
//! # How it works
//!
//! - **Pipes** (`Stdio::piped()`) are switched to non-blocking mode and registered with the
//!   reactor of the runtime that spawned the child, like sockets.
//! - **Waiting**: each child gets an *exit descriptor*, registered with the reactor: a pidfd on
//!   Linux (`pidfd_open`, Linux 5.3 and later), a kqueue watching the child's `NOTE_EXIT` on macOS
//!   and FreeBSD. It becomes readable when the child exits, and the child is then reaped with
//!   `waitpid(WNOHANG)`. Where there is none (other Unix systems) or opening it fails (an older
//!   kernel, a sandbox), waiting falls back to trying `waitpid(WNOHANG)` on a timer, backing off
//!   from 1 ms to 50 ms between tries: an exit is noticed at most 50 ms late.
//! - **Dropped children** are never left as zombies: a `Child` dropped before its process was
//!   reaped hands it to a process-wide reaper thread (killing it first if
//!   [`kill_on_drop(true)`](Command::kill_on_drop) was set). See [`Child`].
//!
//! Like sockets, children must be spawned inside a runtime (`block_on`, a task, or
//! `Handle::enter`), and their pipes and `wait` used while that runtime is alive.
//!
//! This module exists on Unix only. On Windows, mio cannot drive the anonymous pipes that
//! `std::process` creates (they are not opened for overlapped I/O), so tether does not offer
//! `process` there yet; use `std::process` on the blocking pool
//! ([`spawn_blocking`](crate::task::spawn_blocking)).
//!
//! No `SIGCHLD` handler is installed; a program that reaps children itself (`waitpid(-1)`)
//! takes their statuses away from tether, and `wait` then fails with `ECHILD`.

mod child;
mod exit_fd;
mod pipe;
mod reaper;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::runtime::context;

/// A builder for a child process, with [`std::process::Command`]'s methods.
///
/// By default the child inherits the parent's environment, working directory and standard
/// streams ([`output`](Command::output) captures stdout and stderr instead). A `Command` can
/// spawn any number of children.
///
/// # Examples
///
/// ```
/// use std::process::Stdio;
/// use tether::io::AsyncReadExt;
/// use tether::process::Command;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut child = Command::new("sh")
///         .args(["-c", "echo \"$GREETING from $PWD\""])
///         .env("GREETING", "hello")
///         .current_dir("/")
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut line = String::new();
///     child.stdout.take().unwrap().read_to_string(&mut line).await?;
///     assert_eq!(line, "hello from /\n");
///     assert!(child.wait().await?.success());
///     Ok(())
/// }
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Whether `stdin`, `stdout`, `stderr` were set through this builder (for `output`'s
    /// defaults).
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command to run `program`, found on `PATH` unless it contains a `/`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus the variables set with `env` after).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// A relative program path is then looked up relative to `dir`, as with `std`; prefer an
    /// absolute path or a bare program name found on `PATH`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's standard input: [`Stdio::piped()`] gives [`Child::stdin`],
    /// [`Stdio::null()`], [`Stdio::inherit()`] (the default for `spawn` and `status`).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's standard output: [`Stdio::piped()`] gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's standard error: [`Stdio::piped()`] gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether to kill the child (`SIGKILL`) when its [`Child`] is dropped before the process
    /// was reaped. Default `false`: the process keeps running, and is reaped in the background
    /// once it exits (see [`Child`]).
    ///
    /// This also covers the futures of [`output`](Command::output) and
    /// [`status`](Command::status): dropping one before it completes (a timeout, for instance)
    /// kills the child when this is set.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// The `std` command inside, to read what was set.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The `std` command inside, for what this builder lacks (`std::os::unix::process::
    /// CommandExt`: `uid`, `process_group`, `pre_exec`...). Standard streams set through it do not
    /// count as set for [`output`](Command::output)'s defaults.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child process.
    ///
    /// # Errors
    ///
    /// Fails when the program cannot be started; the message names the program and, for a
    /// missing program or directory, says what to check.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tether runtime (nothing is started then).
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut child = Command::new("true").spawn()?;
    ///     assert!(child.id().is_some());
    ///     assert!(child.wait().await?.success());
    ///
    ///     let err = Command::new("no-such-program-here").spawn().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     assert!(err.to_string().contains("no-such-program-here"));
    ///     Ok(())
    /// }
    /// ```
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_checked("tether::process::Command::spawn", Location::caller())
    }

    fn spawn_checked(&mut self, what: &str, location: &Location<'_>) -> io::Result<Child> {
        if context::current_handle().is_none() {
            crate::task::no_runtime_panic(what, location);
        }
        self.spawn_inner(!fallback::WAIT_BY_POLLING.load(Ordering::Relaxed))
    }

    /// Spawns without the runtime check; `use_exit_fd: false` forces the timer fallback (tests).
    fn spawn_inner(&mut self, use_exit_fd: bool) -> io::Result<Child> {
        let child = self.std.spawn().map_err(|e| self.spawn_error(e))?;
        Child::new(child, self.kill_on_drop, use_exit_fd)
    }

    /// Names the program in a spawn error and says what to check.
    fn spawn_error(&self, e: io::Error) -> io::Error {
        let program = self.std.get_program().to_string_lossy();
        let hint = match (e.kind(), self.std.get_current_dir()) {
            (io::ErrorKind::NotFound, Some(dir)) => format!(
                "; check that the program exists (on PATH, or at that path from `{}`) and that \
                 the working directory `{}` exists",
                dir.display(),
                dir.display()
            ),
            (io::ErrorKind::NotFound, None) => {
                "; check that the program is installed and on PATH, or give its path".to_string()
            }
            (io::ErrorKind::PermissionDenied, _) => {
                "; check that the file is executable and its directories are searchable".to_string()
            }
            _ => String::new(),
        };
        let message = format!("could not spawn `{program}`: {e}{hint}");
        crate::io::context::contextual(e, message)
    }

    /// Runs the child to completion and collects its output.
    ///
    /// Unless set on this `Command`, stdout and stderr are captured and stdin is empty
    /// ([`Stdio::null()`]), as with `std`. The child is spawned when the future is first polled.
    ///
    /// # Panics
    ///
    /// The future panics when polled outside a tether runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let out = Command::new("sh").args(["-c", "echo oops >&2; exit 2"]).output().await?;
    ///     assert_eq!(out.status.code(), Some(2));
    ///     assert_eq!(out.stderr, b"oops\n");
    ///     Ok(())
    /// }
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        let (stdin, stdout, stderr) = (self.stdin_set, self.stdout_set, self.stderr_set);
        if !stdin {
            self.std.stdin(Stdio::null());
        }
        if !stdout {
            self.std.stdout(Stdio::piped());
        }
        if !stderr {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn_checked("tether::process::Command::output", Location::caller());
        // Back to the defaults of `spawn` (inherit) for whatever the caller did not set.
        if !stdin {
            self.std.stdin(Stdio::inherit());
        }
        if !stdout {
            self.std.stdout(Stdio::inherit());
        }
        if !stderr {
            self.std.stderr(Stdio::inherit());
        }
        child?.wait_with_output().await
    }

    /// Runs the child to completion and returns its exit status.
    ///
    /// The standard streams are inherited unless set; pipes set on this `Command` are closed at
    /// once. The child is spawned when the future is first polled.
    ///
    /// # Panics
    ///
    /// The future panics when polled outside a tether runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     assert!(Command::new("true").status().await?.success());
    ///     assert_eq!(Command::new("false").status().await?.code(), Some(1));
    ///     Ok(())
    /// }
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child =
            self.spawn_checked("tether::process::Command::status", Location::caller())?;
        drop(child.stdin.take());
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().await
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a `std` command. Its standard streams do not count as set for
    /// [`output`](Command::output)'s defaults.
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)?;
        if self.kill_on_drop {
            f.write_str(" (kill on drop)")?;
        }
        Ok(())
    }
}

/// The switch that forces the portable fallback, so that Linux's tests exercise what other Unix
/// systems (and Linux kernels without pidfd) run.
pub(crate) mod fallback {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Whether children spawned from now on skip their exit descriptor: `wait` polls on a timer
    /// and a dropped child goes to the reaper's polled list (rule 2 of `child.rs`, rule 3 of
    /// `reaper.rs`). A process-wide static, std's atomic (it outlives any loom model).
    pub(super) static WAIT_BY_POLLING: AtomicBool = AtomicBool::new(false);

    /// Forces (or stops forcing) the timer fallback for children spawned from now on, in the
    /// whole process. For tests only (`tether::__private::force_wait_by_polling`): a program
    /// gains nothing from it.
    pub fn force_wait_by_polling(on: bool) {
        WAIT_BY_POLLING.store(on, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;

    /// The timer fallback of `Child::wait` (rule 2 of `child.rs`), forced: the exit descriptor
    /// is what the other tests exercise on Linux (`tests/process_fallback.rs` forces the
    /// fallback through the whole public API).
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
    fn wait_without_exit_fd_polls_until_exit() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.2; exit 4"])
                .spawn_inner(false)
                .unwrap();
            assert!(matches!(child.exit_watch_kind(), "backoff"));
            let status = crate::time::timeout(std::time::Duration::from_secs(10), child.wait())
                .await
                .expect("the fallback never noticed the exit")
                .unwrap();
            assert_eq!(status.code(), Some(4));
        });
    }

    /// The switch `tests/process_fallback.rs` relies on: `spawn` honours it, and the exit
    /// descriptor is used again once it is off (on Linux, where the kernel has pidfd).
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
    fn the_forced_fallback_switch_reaches_spawn() {
        let rt = crate::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            fallback::force_wait_by_polling(true);
            let mut forced = Command::new("true").spawn().unwrap();
            fallback::force_wait_by_polling(false);
            let mut normal = Command::new("true").spawn().unwrap();
            assert_eq!(forced.exit_watch_kind(), "backoff");
            if cfg!(target_os = "linux") && super::exit_fd::ExitFd::open(std::process::id()).is_ok()
            {
                assert_eq!(normal.exit_watch_kind(), "descriptor");
            }
            assert!(forced.wait().await.unwrap().success());
            assert!(normal.wait().await.unwrap().success());
        });
    }
}
