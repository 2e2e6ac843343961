//! The parent's ends of a child's standard streams: non-blocking pipes on the reactor.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use mio::unix::pipe;
use mio::Interest;

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled_io::Direction;

/// The writing end of a child's standard input, from [`Child::stdin`](super::Child::stdin).
///
/// It implements `futures-io`'s [`AsyncWrite`](futures_io::AsyncWrite) (and tokio's with
/// feature `tokio-io`); import [`tether::io::AsyncWriteExt`](crate::io::AsyncWriteExt) for
/// `write_all`. The child sees the end of its input when this end is closed: drop it, or call
/// `close().await`, after which writes fail.
pub struct ChildStdin {
    /// `None` once closed.
    io: Option<PollEvented<pipe::Sender>>,
}

/// The reading end of a child's standard output, from [`Child::stdout`](super::Child::stdout).
///
/// It implements `futures-io`'s [`AsyncRead`](futures_io::AsyncRead) (and tokio's with feature
/// `tokio-io`); import [`tether::io::AsyncReadExt`](crate::io::AsyncReadExt) for
/// `read_to_end`. Reading returns 0 (end of stream) once the child and every process it passed
/// the pipe to have closed it.
pub struct ChildStdout {
    io: PollEvented<pipe::Receiver>,
}

/// The reading end of a child's standard error, from [`Child::stderr`](super::Child::stderr);
/// see [`ChildStdout`].
pub struct ChildStderr {
    io: PollEvented<pipe::Receiver>,
}

const WHAT: &str = "tether::process::Command::spawn";

impl ChildStdin {
    pub(super) fn new(s: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let s = pipe::Sender::from(s);
        s.set_nonblocking(true)?;
        Ok(ChildStdin {
            io: Some(PollEvented::with_interest(s, Interest::WRITABLE, WHAT)?),
        })
    }

    fn live(&self) -> io::Result<&PollEvented<pipe::Sender>> {
        self.io.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "this ChildStdin was closed; the child has already seen the end of its input",
            )
        })
    }
}

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.live() {
            Ok(io) => io.poll_io(cx, Direction::Write, |s| (&*s).write(buf)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.live() {
            Ok(io) => io.poll_io(cx, Direction::Write, |s| (&*s).write_vectored(bufs)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight into the pipe.
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe: the child reads end-of-file once it has read what was written.
    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io = None;
        Poll::Ready(Ok(()))
    }
}

/// tokio's `AsyncWrite` (feature `tokio-io`), as the `futures-io` impl above.
#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self, cx)
    }

    /// Closes the pipe, as `poll_close` does.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self, cx)
    }
}

fn new_receiver(r: pipe::Receiver) -> io::Result<PollEvented<pipe::Receiver>> {
    r.set_nonblocking(true)?;
    PollEvented::with_interest(r, Interest::READABLE, WHAT)
}

fn poll_read(
    io: &PollEvented<pipe::Receiver>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    io.poll_io(cx, Direction::Read, |r| (&*r).read(buf))
}

/// `poll_read` into the unfilled part of a tokio `ReadBuf`, not zero-filled first.
#[cfg(feature = "tokio-io")]
fn poll_read_buf(
    io: &PollEvented<pipe::Receiver>,
    cx: &mut Context<'_>,
    buf: &mut tokio::io::ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    io.poll_io(cx, Direction::Read, |r| {
        crate::io::poll_evented::read_into_buf(r.as_fd(), buf)
    })
    .map_ok(|_| ())
}

/// Deregisters a pipe end and makes it a blocking descriptor another child can inherit: the
/// O_NONBLOCK flag belongs to the open file description, which the next child shares, and most
/// programs expect blocking standard streams.
fn receiver_into_stdio(io: PollEvented<pipe::Receiver>) -> io::Result<Stdio> {
    let r = io.into_inner();
    r.set_nonblocking(false)?;
    Ok(Stdio::from(OwnedFd::from(r)))
}

/// As [`receiver_into_stdio`], for the writing end.
fn sender_into_stdio(io: PollEvented<pipe::Sender>) -> io::Result<Stdio> {
    let s = io.into_inner();
    s.set_nonblocking(false)?;
    Ok(Stdio::from(OwnedFd::from(s)))
}

impl ChildStdout {
    pub(super) fn new(s: std::process::ChildStdout) -> io::Result<ChildStdout> {
        Ok(ChildStdout {
            io: new_receiver(pipe::Receiver::from(s))?,
        })
    }
}

impl ChildStderr {
    pub(super) fn new(s: std::process::ChildStderr) -> io::Result<ChildStderr> {
        Ok(ChildStderr {
            io: new_receiver(pipe::Receiver::from(s))?,
        })
    }
}

impl futures_io::AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self.io, cx, buf)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_buf(&self.io, cx, buf)
    }
}

impl futures_io::AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self.io, cx, buf)
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_buf(&self.io, cx, buf)
    }
}

/// Makes the pipe another child's standard stream, to connect two children (`a | b`): the
/// pipe leaves the reactor and becomes blocking again.
///
/// # Examples
///
/// ```
/// use std::process::Stdio;
/// use tether::process::Command;
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut echo = Command::new("echo").arg("piped").stdout(Stdio::piped()).spawn()?;
///     let into_cat: Stdio = echo.stdout.take().unwrap().try_into()?;
///     let out = Command::new("cat").stdin(into_cat).output().await?;
///     assert_eq!(out.stdout, b"piped\n");
///     echo.wait().await?;
///     Ok(())
/// }
/// ```
impl TryFrom<ChildStdout> for Stdio {
    type Error = io::Error;

    fn try_from(s: ChildStdout) -> io::Result<Stdio> {
        receiver_into_stdio(s.io)
    }
}

/// Makes the pipe another child's standard stream; see
/// [`TryFrom<ChildStdout>`](ChildStdout#impl-TryFrom%3CChildStdout%3E-for-Stdio).
impl TryFrom<ChildStderr> for Stdio {
    type Error = io::Error;

    fn try_from(s: ChildStderr) -> io::Result<Stdio> {
        receiver_into_stdio(s.io)
    }
}

/// Makes the pipe another child's standard output; see
/// [`TryFrom<ChildStdout>`](ChildStdout#impl-TryFrom%3CChildStdout%3E-for-Stdio).
///
/// The [`Command`](super::Command) that receives it keeps a copy of the descriptor until it is
/// dropped, so the reading child sees the end of its input only after that.
///
/// # Errors
///
/// Fails if the pipe was already closed.
impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    fn try_from(mut s: ChildStdin) -> io::Result<Stdio> {
        s.live()?;
        sender_into_stdio(s.io.take().expect("checked by live()"))
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("closed", &self.io.is_none())
            .finish()
    }
}

impl fmt::Debug for ChildStdout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdout").finish_non_exhaustive()
    }
}

impl fmt::Debug for ChildStderr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStderr").finish_non_exhaustive()
    }
}

/// The pipe's descriptor, for `fstat`, `fcntl`, passing it to a library, ...
///
/// # Panics
///
/// After [`close`](crate::io::AsyncWriteExt::close): closing releases the descriptor (the child
/// sees the end of its input at once), so there is none left to lend.
impl AsFd for ChildStdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.io {
            Some(io) => io.get_ref().as_fd(),
            None => panic!(
                "tether: ChildStdin::as_fd after close(): closing released the pipe's descriptor; \
                 borrow the descriptor before closing"
            ),
        }
    }
}

/// The pipe's descriptor; see [`AsFd for ChildStdin`](ChildStdin#impl-AsFd-for-ChildStdin).
///
/// # Panics
///
/// After [`close`](crate::io::AsyncWriteExt::close), as `as_fd`.
impl AsRawFd for ChildStdin {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The pipe's descriptor.
impl AsFd for ChildStdout {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The pipe's descriptor.
impl AsRawFd for ChildStdout {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}

/// The pipe's descriptor.
impl AsFd for ChildStderr {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The pipe's descriptor.
impl AsRawFd for ChildStderr {
    fn as_raw_fd(&self) -> RawFd {
        self.io.get_ref().as_raw_fd()
    }
}
