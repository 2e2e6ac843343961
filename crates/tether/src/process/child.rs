//! `Child`: a running child process, its pipes, and waiting for its exit.
//!
//! # How the exit is awaited
//!
//! 1. At spawn, the child gets an exit descriptor (`exit_fd.rs`: a pidfd on Linux, a kqueue
//!    watching `NOTE_EXIT` on macOS and FreeBSD), registered with the runtime's reactor for
//!    readability; the kernel makes it readable when the child exits. `wait` sleeps on that
//!    readiness, then reaps with `waitpid(WNOHANG)` (`std::process::Child::try_wait`): no thread
//!    blocks, no timer runs, no `SIGCHLD` handler is needed.
//! 2. Without an exit descriptor (a Unix system with neither, Linux before 5.3, a sandbox
//!    refusing the call, or a child that exited before its kqueue filter was added), `wait` tries
//!    `try_wait` on a timer instead, backing off from 1 ms to 50 ms between tries: an exit is
//!    noticed at most 50 ms late, and a long wait costs 20 wake-ups a second. With a paused
//!    clock (`start_paused`) a pause is real time instead, a sleep on the blocking pool
//!    ([`Pause::Pool`]): a timer would let the clock auto-advance straight to its deadline, over
//!    and over, spinning the thread through hours of virtual time while the child runs; a
//!    running blocking job holds auto-advance back, so the clock stands still meanwhile.
//! 3. `status` caches the exit status once reaped; from then on `id` is `None`, because the
//!    kernel may give the pid to another process.
//! 4. Dropping a `Child` whose process has not been reaped hands the pid (and exit descriptor) to the
//!    process-wide reaper (`reaper.rs`), after killing it if `kill_on_drop` was set: a dropped
//!    child never stays a zombie.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Output};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::AsyncReadExt;
use mio::Interest;

use super::exit_fd::ExitFd;
use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use super::reaper;
use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;
use crate::task::JoinHandle;
use crate::time::Sleep;

/// The first and the longest pause between two `try_wait`s without an exit descriptor (rule 2).
const BACKOFF_FIRST: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_millis(50);

/// A child process spawned by [`Command::spawn`](super::Command::spawn).
///
/// Its standard streams, when they were set to [`Stdio::piped()`](std::process::Stdio::piped),
/// are in the public fields, ready to be taken (`child.stdout.take()`).
///
/// # Dropping a running child
///
/// Dropping a `Child` does not wait for the process. If
/// [`kill_on_drop(true)`](super::Command::kill_on_drop) was set, the process is killed
/// (`SIGKILL`); otherwise it keeps running. Either way it is **reaped** once it exits, by a
/// process-wide thread (`tether-reaper`, started the first time a running child is dropped, and
/// asleep in the OS poll (`epoll`, `kqueue`) while it has nothing to do), so it never stays a zombie, even after
/// the runtime is gone. Dropping the `Child` also closes the pipes it still holds.
///
/// # Examples
///
/// ```
/// use std::process::Stdio;
/// use tether::io::{AsyncReadExt, AsyncWriteExt};
/// use tether::process::Command;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"round trip").await?;
///     drop(stdin); // `cat` sees the end of its input and exits
///     let mut echoed = String::new();
///     child.stdout.take().unwrap().read_to_string(&mut echoed).await?;
///     assert_eq!(echoed, "round trip");
///     assert!(child.wait().await?.success());
///     Ok(())
/// }
/// ```
pub struct Child {
    /// The child's standard input, if it was piped: write to it, drop it to close it.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
    /// The process; its standard streams have been moved to the fields above.
    std: std::process::Child,
    /// How the exit is noticed (rules 1, 2).
    exit: ExitWatch,
    /// Set once reaped (rule 3).
    status: Option<ExitStatus>,
    /// Kill the child when the `Child` is dropped unreaped (rule 4).
    kill_on_drop: bool,
}

/// How a `Child` learns that its process exited.
enum ExitWatch {
    /// The child's exit descriptor on the reactor (rule 1).
    Descriptor(PollEvented<ExitFd>),
    /// No exit descriptor: the pause between tries, and the length of the next one (rule 2).
    Backoff {
        pause: Option<Pause>,
        next: Duration,
    },
    /// Handed to the reaper (only inside `drop`).
    Released,
}

/// A pause between two tries of rule 2.
enum Pause {
    /// A timer of the runtime.
    Timer(Sleep),
    /// With a paused clock: a real-time sleep on the blocking pool, which keeps the clock from
    /// auto-advancing while it runs (rule 2).
    Pool(JoinHandle<()>),
}

impl Pause {
    /// Starts a pause of `len`, on the current runtime.
    fn start(len: Duration) -> Pause {
        if let Ok(handle) = crate::runtime::Handle::try_current() {
            if handle.shared.time.is_paused() {
                return Pause::Pool(handle.spawn_blocking(move || std::thread::sleep(len)));
            }
        }
        Pause::Timer(crate::time::sleep(len))
    }

    /// Ready once the pause is over. A sleep job the pool refused or cancelled (it shut down)
    /// gives way to a timer for the rest of this pause, so that a wait polled then does not
    /// spin from refused job to refused job.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Pause::Pool(job) = self {
            if ready!(Pin::new(job).poll(cx)).is_ok() {
                return Poll::Ready(());
            }
            *self = Pause::Timer(crate::time::sleep(BACKOFF_MAX));
        }
        match self {
            Pause::Timer(sleep) => Pin::new(sleep).poll(cx),
            Pause::Pool(_) => unreachable!("a refused sleep job became a timer"),
        }
    }
}

impl Child {
    /// Wraps a freshly spawned process: exit descriptor and pipes onto the current runtime's reactor.
    ///
    /// On error the partly built `Child` is dropped, which kills and reaps the process: the
    /// caller never sees it, so it must not keep running.
    pub(super) fn new(
        std: std::process::Child,
        kill_on_drop: bool,
        use_exit_fd: bool,
    ) -> io::Result<Child> {
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            std,
            exit: ExitWatch::Backoff {
                pause: None,
                next: BACKOFF_FIRST,
            },
            status: None,
            kill_on_drop: true,
        };
        if use_exit_fd {
            // Any failure falls back to rule 2 (see `exit_fd.rs`).
            if let Ok(fd) = ExitFd::open(child.std.id()) {
                child.exit = ExitWatch::Descriptor(PollEvented::with_interest(
                    fd,
                    Interest::READABLE,
                    "tether::process::Command::spawn",
                )?);
            }
        }
        if let Some(s) = child.std.stdin.take() {
            child.stdin = Some(ChildStdin::new(s)?);
        }
        if let Some(s) = child.std.stdout.take() {
            child.stdout = Some(ChildStdout::new(s)?);
        }
        if let Some(s) = child.std.stderr.take() {
            child.stderr = Some(ChildStderr::new(s)?);
        }
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    /// Which of rules 1 and 2 applies (for tests).
    #[cfg(all(test, not(tether_loom)))]
    pub(super) fn exit_watch_kind(&self) -> &'static str {
        match self.exit {
            ExitWatch::Descriptor(_) => "descriptor",
            ExitWatch::Backoff { .. } => "backoff",
            ExitWatch::Released => "released",
        }
    }

    /// The child's process id, or `None` once it has been reaped (by `wait`, `try_wait` and the
    /// like), after which the kernel may reuse the id for another process.
    pub fn id(&self) -> Option<u32> {
        match self.status {
            Some(_) => None,
            None => Some(self.std.id()),
        }
    }

    /// Waits for the child to exit and returns its exit status, without blocking a thread.
    ///
    /// Closes the child's standard input first (if it is still in [`Child::stdin`]), so that a
    /// child reading its input to the end can finish. Keep reading piped output meanwhile (or
    /// use [`wait_with_output`](Child::wait_with_output)): a child blocked on a full pipe never
    /// exits. Once the child exited, later calls return the same status at once. Cancelling the
    /// wait is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut child = Command::new("sh").args(["-c", "exit 7"]).spawn()?;
    ///     let status = child.wait().await?;
    ///     assert_eq!(status.code(), Some(7));
    ///     assert_eq!(child.id(), None); // reaped
    ///     Ok(())
    /// }
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Rules 1-3.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let Child {
            std, exit, status, ..
        } = self;
        let res = match exit {
            ExitWatch::Descriptor(fd) => ready!(fd.poll_io(cx, Direction::Read, |_| {
                match std.try_wait() {
                    Ok(Some(status)) => Ok(status),
                    // Readable means exited; a spurious wake-up just waits again.
                    Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                    Err(e) => Err(e),
                }
            })),
            ExitWatch::Backoff { pause, next } => loop {
                match std.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) => {}
                    Err(e) => break Err(e),
                }
                let current = pause.get_or_insert_with(|| {
                    let len = *next;
                    *next = (len * 2).min(BACKOFF_MAX);
                    Pause::start(len)
                });
                ready!(current.poll(cx));
                *pause = None;
            },
            ExitWatch::Released => unreachable!("a Child is only released while dropped"),
        };
        if let Ok(s) = &res {
            *status = Some(*s);
        }
        Poll::Ready(res)
    }

    /// Reaps the child if it has exited, without waiting: `Ok(None)` while it runs.
    ///
    /// Unlike [`wait`](Child::wait), it leaves the standard input open.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.std.try_wait()?;
        self.status = status;
        Ok(status)
    }

    /// Sends the child `SIGKILL` and returns without waiting for it to die; [`wait`] then
    /// returns its status (killed by signal 9, unless it exited first).
    ///
    /// A child that has already been reaped is not signalled (its id may belong to another
    /// process by now): `Ok(())`.
    ///
    /// [`wait`]: Child::wait
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std.kill()
    }

    /// Kills the child (`SIGKILL`) and waits until it is reaped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut child = Command::new("sleep").arg("30").spawn()?;
    ///     child.kill().await?;
    ///     assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    ///     Ok(())
    /// }
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await?;
        Ok(())
    }

    /// Waits for the child to exit while collecting all of its standard output and error (those
    /// that are piped; the others come back empty).
    ///
    /// Closes the standard input first, as [`wait`](Child::wait) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Stdio;
    /// use tether::process::Command;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let child = Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2; exit 3"])
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::piped())
    ///         .spawn()?;
    ///     let output = child.wait_with_output().await?;
    ///     assert_eq!(output.status.code(), Some(3));
    ///     assert_eq!(output.stdout, b"out\n");
    ///     assert_eq!(output.stderr, b"err\n");
    ///     Ok(())
    /// }
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stdout = read_all(self.stdout.take());
        let stderr = read_all(self.stderr.take());
        let ((stdout, stderr), status) = futures_lite::future::try_zip(
            futures_lite::future::try_zip(stdout, stderr),
            self.wait(),
        )
        .await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Everything `pipe` yields until its end; nothing if there is no pipe.
async fn read_all<R: futures_io::AsyncRead + Unpin>(pipe: Option<R>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

impl Drop for Child {
    /// Rule 4: kill if asked, then hand an unreaped child to the reaper.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        match self.std.try_wait() {
            Ok(None) => {}
            // Reaped just now, or not ours to reap (`ECHILD`).
            Ok(Some(_)) | Err(_) => return,
        }
        if self.kill_on_drop {
            // Fails only if the process is gone, and then the reaper finds it at once.
            let _ = self.std.kill();
        }
        let exit_fd = match std::mem::replace(&mut self.exit, ExitWatch::Released) {
            ExitWatch::Descriptor(fd) => Some(fd.into_inner()),
            _ => None,
        };
        reaper::adopt(self.std.id(), exit_fd);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.std.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
