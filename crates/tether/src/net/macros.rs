//! Code shared by the socket types: the stream types' (`TcpStream`, `UnixStream`) common
//! methods, their `futures-io` trait impls (and tokio's, feature `tokio-io`) and their split
//! halves (`stream_common!`, `split_halves!`); the readiness methods every registered socket has
//! (`readiness_methods!`); and the descriptor traits (`fd_impls!`). A socket type is a struct
//! with an `io: PollEvented<mio socket>` field; these macros give it the rest.

/// Implements `AsyncRead` for `$target`, reaching the stream as `$stream` (with `self` bound
/// to `$this`): `futures-io`'s, and with feature `tokio-io` tokio's, which reads straight into
/// the unfilled part of the `ReadBuf` without zero-filling it.
macro_rules! async_read_impl {
    ($target:ty, $this:ident => $stream:expr) => {
        impl futures_io::AsyncRead for $target {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = self;
                $stream.poll_read_priv(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $target {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                $stream.poll_read_buf_priv(cx, buf)
            }
        }
    };
}

/// Implements `AsyncWrite` for `$target` like `async_read_impl` (`futures-io`'s, and tokio's
/// with feature `tokio-io`). Flushing waits for the bytes written to be sent (at once on the
/// readiness path, where writes go straight to the socket; see `uring_stream.rs` for io_uring's
/// write-behind); closing (tokio: shutting down) flushes and shuts down the write direction.
macro_rules! async_write_impl {
    ($target:ty, $this:ident => $stream:expr) => {
        impl futures_io::AsyncWrite for $target {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = self;
                $stream.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = self;
                $stream.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                $stream.poll_flush_priv(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                $stream.poll_close_priv(cx)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $target {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = self;
                $stream.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = self;
                $stream.poll_write_vectored_priv(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                $stream.poll_flush_priv(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                $stream.poll_close_priv(cx)
            }
        }
    };
}

/// The readiness methods of every registered socket type `$t` (`ready`, `readable`,
/// `writable`, their `poll_*` forms, `try_io`, `async_io`); `$ready_example` is the code of
/// `ready`'s doc example.
macro_rules! readiness_methods {
    ($t:ident, $ready_example:expr) => {
        readiness_methods!($t, $ready_example, own_read_wait);

        impl $t {
            /// Whether a read-readiness wait needs the registration's io_uring poll armed: a
            /// socket that is not a stream has no receive of its own to wait on.
            #[inline]
            fn prepare_read_wait(&self) -> bool {
                true
            }
        }
    };
    // `own_read_wait`: the type defines `prepare_read_wait` itself (the streams).
    ($t:ident, $ready_example:expr, own_read_wait) => {
        impl $t {
            /// Waits until the socket is ready for `interest` (readable, writable, or either) and
            /// returns the readiness found.
            ///
            /// Readiness is a hint: the `try_*` call that follows may still return
            /// `WouldBlock`, and then clears the readiness it acted on (unless a newer event
            /// came meanwhile), so the next `ready` waits for a new event. Loop until the
            /// operation succeeds, as below. Cancel-safe: dropping the future loses nothing.
            ///
            /// # Errors
            ///
            /// Fails once the socket's runtime has shut down.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = $ready_example]
            /// ```
            pub async fn ready(
                &self,
                interest: crate::io::Interest,
            ) -> std::io::Result<crate::io::Ready> {
                self.io.ready_interest(interest).await
            }

            /// Waits until the socket may be readable: `ready(Interest::READABLE)` without the
            /// result. Readiness can be spurious: a following `try_*` read may still return
            /// `WouldBlock`.
            ///
            /// # Errors
            ///
            /// Fails once the socket's runtime has shut down.
            ///
            /// `readable()` followed by `try_read` into a buffer taken only then is how a
            /// server keeps idle connections small: nothing of the caller's is held while it
            /// waits. On the io_uring driver, once the stream has read through its receive
            /// queue (an `AsyncRead` read), waiting here keeps that receive armed and needs no
            /// poll; before that, the bytes stay in the socket.
            pub async fn readable(&self) -> std::io::Result<()> {
                let arm_poll = self.prepare_read_wait();
                self.io
                    .ready_arming(crate::io::scheduled_io::Direction::Read, arm_poll)
                    .await
            }

            /// Waits until the socket may be writable; see `readable`.
            ///
            /// # Errors
            ///
            /// Fails once the socket's runtime has shut down.
            pub async fn writable(&self) -> std::io::Result<()> {
                self.io
                    .ready(crate::io::scheduled_io::Direction::Write)
                    .await
            }

            /// Polls for read readiness. The waker stays registered until the next read event
            /// (or until the socket is dropped), even if the caller stops polling; every task
            /// that polled is woken then.
            ///
            /// # Errors
            ///
            /// Fails once the socket's runtime has shut down.
            pub fn poll_read_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let arm_poll = self.prepare_read_wait();
                self.io
                    .poll_ready_arming(cx, crate::io::scheduled_io::Direction::Read, arm_poll)
                    .map_ok(|_| ())
            }

            /// Polls for write readiness; see `poll_read_ready`.
            ///
            /// # Errors
            ///
            /// Fails once the socket's runtime has shut down.
            pub fn poll_write_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io
                    .poll_ready(cx, crate::io::scheduled_io::Direction::Write)
                    .map_ok(|_| ())
            }

            /// Runs `f`, an operation on the socket's descriptor (through
            /// [`AsFd`](std::os::fd::AsFd), `socket2::SockRef`, `libc`, ...), if the socket
            /// looks ready for `interest`; returns `WouldBlock` without calling it otherwise.
            ///
            /// When `f` returns `WouldBlock`, the readiness it acted on is cleared (unless a
            /// newer event arrived meanwhile), so a later `ready` or `async_io` waits for a new
            /// event: `f` must return `WouldBlock` only when the operation really would block,
            /// or the socket may wait for an event that never comes.
            ///
            /// On the io_uring driver, a stream that has read or written through tether's own
            /// methods receives into a queue of its own (completion mode): reading the
            /// descriptor in `f` then misses the bytes already queued. Use either this or the
            /// stream's reads on one stream, not both.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when not ready, or what `f` returns.
            pub fn try_io<R>(
                &self,
                interest: crate::io::Interest,
                f: impl FnOnce() -> std::io::Result<R>,
            ) -> std::io::Result<R> {
                self.io.try_io_interest(interest, f)
            }

            /// Runs `f` until it returns something other than `WouldBlock`, waiting for
            /// readiness for `interest` before each try; see `try_io` for `f`'s contract.
            ///
            /// # Errors
            ///
            /// What `f` returns, or an error once the socket's runtime has shut down.
            pub async fn async_io<R>(
                &self,
                interest: crate::io::Interest,
                f: impl FnMut() -> std::io::Result<R>,
            ) -> std::io::Result<R> {
                self.io.async_io_interest(interest, f).await
            }
        }
    };
}

/// The descriptor traits of the registered socket type `$t`, whose standard counterpart is
/// `$std` and which has `fn from_std_as($std, what: &'static str) -> io::Result<$t>`:
/// `AsRawFd`, `AsFd`, `IntoRawFd` (deregisters), `FromRawFd` (registers with the current
/// runtime) on Unix, their `*Socket` counterparts on Windows, and `TryFrom<$std>`.
macro_rules! fd_impls {
    ($t:ident, $std:ty) => {
        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(crate::net::OsSocket::as_os(self.io.get_ref()))
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(crate::net::OsSocket::as_os(self.io.get_ref()))
            }
        }

        /// Deregisters the socket from its runtime and gives up its descriptor (still in
        /// non-blocking mode), which the caller must close.
        #[cfg(unix)]
        impl std::os::fd::IntoRawFd for $t {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                let os = crate::net::OsSocket::into_os(self.io.into_inner())
                    .unwrap_or_else(|e| panic!("tether: {}::into_raw_fd: {e}", stringify!($t)));
                std::os::fd::IntoRawFd::into_raw_fd(os)
            }
        }

        /// Takes ownership of a descriptor, switches it to non-blocking mode and registers it
        /// with the current runtime, as `from_std` does.
        ///
        /// tokio has no `FromRawFd` on its registered socket types (the conversion cannot
        /// return an error); tether offers it for code that receives descriptors (systemd
        /// socket activation, `SCM_RIGHTS`), and panics where `from_std` would return an error.
        /// Prefer `from_std` when the error should be handled.
        ///
        /// # Safety
        ///
        /// `fd` must be an open socket of this type's kind, owned by nobody else: the value
        /// closes it when dropped.
        ///
        /// # Panics
        ///
        /// Outside a tether runtime, or if the descriptor cannot be made non-blocking or
        /// registered with the reactor.
        #[cfg(unix)]
        impl std::os::fd::FromRawFd for $t {
            #[track_caller]
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $t {
                // SAFETY: this function's contract: `fd` is an open socket of the right kind
                // that nobody else owns, so the standard type may own and close it.
                let std = unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                match $t::from_std_as(std, concat!(stringify!($t), "::from_raw_fd")) {
                    Ok(s) => s,
                    Err(e) => panic!(
                        "tether: {}::from_raw_fd could not register descriptor {fd} with the \
                         runtime: {e}; use {}::from_std to handle this error",
                        stringify!($t),
                        stringify!($t),
                    ),
                }
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsRawSocket for $t {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::AsRawSocket::as_raw_socket(crate::net::OsSocket::as_os(
                    self.io.get_ref(),
                ))
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsSocket for $t {
            fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
                std::os::windows::io::AsSocket::as_socket(crate::net::OsSocket::as_os(
                    self.io.get_ref(),
                ))
            }
        }

        /// Deregisters the socket from its runtime and gives up its handle (still in
        /// non-blocking mode), which the caller must close.
        #[cfg(windows)]
        impl std::os::windows::io::IntoRawSocket for $t {
            fn into_raw_socket(self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::IntoRawSocket::into_raw_socket(
                    crate::net::OsSocket::into_os(self.io.into_inner()).unwrap_or_else(|e| {
                        panic!("tether: {}::into_raw_socket: {e}", stringify!($t))
                    }),
                )
            }
        }

        /// Takes ownership of a socket handle, switches it to non-blocking mode and registers
        /// it with the current runtime, as `from_std` does (the Windows counterpart of
        /// `FromRawFd`; same reasons, same panics).
        ///
        /// # Safety
        ///
        /// `socket` must be an open socket of this type's kind, owned by nobody else: the value
        /// closes it when dropped.
        ///
        /// # Panics
        ///
        /// Outside a tether runtime, or if the socket cannot be made non-blocking or registered
        /// with the reactor.
        #[cfg(windows)]
        impl std::os::windows::io::FromRawSocket for $t {
            #[track_caller]
            unsafe fn from_raw_socket(socket: std::os::windows::io::RawSocket) -> $t {
                // SAFETY: this function's contract: `socket` is an open socket of the right
                // kind that nobody else owns, so the standard type may own and close it.
                let std = unsafe {
                    <$std as std::os::windows::io::FromRawSocket>::from_raw_socket(socket)
                };
                match $t::from_std_as(std, concat!(stringify!($t), "::from_raw_socket")) {
                    Ok(s) => s,
                    Err(e) => panic!(
                        "tether: {}::from_raw_socket could not register socket {socket} with \
                         the runtime: {e}; use {}::from_std to handle this error",
                        stringify!($t),
                        stringify!($t),
                    ),
                }
            }
        }

        /// `from_std`, for `?` and generic code.
        impl TryFrom<$std> for $t {
            type Error = std::io::Error;

            #[track_caller]
            fn try_from(s: $std) -> std::io::Result<$t> {
                $t::from_std_as(s, concat!(stringify!($t), "::try_from"))
            }
        }
    };
}

/// The methods every stream type (a struct with an `io: PollEvented<mio stream>` field) has in
/// common besides `readiness_methods!`, and its `futures-io` impls for `$t` and `&$t`.
macro_rules! stream_common {
    ($t:ident, $pair:literal) => {
        impl $t {
            /// Before a read-readiness wait: if the stream reads through its receive queue
            /// (completion mode, and an `AsyncRead` read armed a receive before), arms the
            /// receive if none is (its completions set the read readiness); returns whether the
            /// wait still needs the registration's poll. A wait never starts receiving by
            /// itself: code that waits here and then reads the descriptor its own way
            /// (`try_io`, as tether-hyper does) must find the bytes in the socket.
            #[inline]
            fn prepare_read_wait(&self) -> bool {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    return !s.arm_for_wait();
                }
                true
            }
        }

        readiness_methods!(
            $t,
            concat!(
                "use tether::io::Interest;\n",
                $pair,
                r#"
    b.writable().await?;
    b.try_write(b"hi")?;
    let mut buf = [0u8; 8];
    loop {
        let ready = a.ready(Interest::READABLE | Interest::WRITABLE).await?;
        if ready.is_readable() {
            match a.try_read(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], b"hi");
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        assert!(ready.is_writable()); // nothing to read yet, but room to write
        a.readable().await?;
    }
    Ok(())
}"#
            ),
            own_read_wait
        );

        impl $t {
            /// Reads what is available without waiting: `WouldBlock` when nothing is (then the
            /// read readiness is cleared, see `ready`). `Ok(0)` means end-of-stream (or an
            /// empty `buf`).
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = $pair]
            ///     let mut buf = [0u8; 8];
            ///     let err = a.try_read(&mut buf).unwrap_err(); // nothing sent yet
            ///     assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
            ///     b.writable().await?;
            ///     assert_eq!(b.try_write(b"abc")?, 3);
            ///     let n = loop {
            ///         a.readable().await?;
            ///         match a.try_read(&mut buf) {
            ///             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            ///             res => break res?,
            ///         }
            ///     };
            ///     assert_eq!(&buf[..n], b"abc");
            ///     Ok(())
            /// }
            /// ```
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::Read;
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    let len = buf.len();
                    let seen = self.io.read_ready_now();
                    let mut dst = crate::io::uring_stream::SliceDst {
                        buf: &mut *buf,
                        filled: 0,
                    };
                    let mut drained = false;
                    if let Some(r) = s.try_read(&mut dst, &mut drained) {
                        match (&r, seen) {
                            // A short read drained the queue, as on the readiness path.
                            (Ok(n), Some(ev))
                                if *n > 0 && *n < len && drained =>
                            {
                                self.io.clear_read_after_short_read(ev)
                            }
                            // Only the readiness seen before the queue was found empty: a
                            // completion that came since (another worker) keeps its wake-up.
                            (Err(e), Some(ev)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                self.io.clear_read_seen(ev)
                            }
                            _ => {}
                        }
                        return r;
                    }
                }
                let len = buf.len();
                self.io.try_read_io(len, |s| (&*s).read(buf))
            }

            /// Like `try_read`, scattering into several buffers in one system call.
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error.
            pub fn try_read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                use std::io::Read;
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    let mut n = 0;
                    for b in bufs.iter_mut() {
                        let mut dst = crate::io::uring_stream::SliceDst {
                            buf: &mut **b,
                            filled: 0,
                        };
                        match s.try_read(&mut dst, &mut false) {
                            None if n == 0 => break,
                            None | Some(Ok(0)) => return Ok(n),
                            Some(Ok(k)) => n += k,
                            Some(Err(e)) if n == 0 => return self.clear_if_would_block(Err(e)),
                            Some(Err(_)) => return Ok(n),
                        }
                        if dst.filled < dst.buf.len() {
                            return Ok(n);
                        }
                    }
                    if n > 0 {
                        return Ok(n);
                    }
                }
                self.io
                    .try_io(crate::io::scheduled_io::Direction::Read, |s| {
                        (&*s).read_vectored(bufs)
                    })
            }

            /// Writes what fits without waiting: `WouldBlock` when the send buffer is full
            /// (then the write readiness is cleared, see `ready`).
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error (`BrokenPipe` once the peer is gone).
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::io::Write;
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    if let Some(r) = s.try_write(&[std::io::IoSlice::new(buf)]) {
                        return r;
                    }
                }
                self.io
                    .try_io(crate::io::scheduled_io::Direction::Write, |s| (&*s).write(buf))
            }

            /// Like `try_write`, gathering from several buffers in one system call (on Linux a
            /// `sendmsg`, which unlike `writev` raises no `SIGPIPE` when the peer is gone).
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error.
            pub fn try_write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    if let Some(r) = s.try_write(bufs) {
                        return r;
                    }
                }
                self.io
                    .try_io(crate::io::scheduled_io::Direction::Write, |s| {
                        crate::net::SockRw::sock_write_vectored(s, bufs)
                    })
            }

            /// Takes the socket's pending error (`SO_ERROR`), if any.
            ///
            /// # Errors
            ///
            /// Fails if the option cannot be read.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.io.get_ref().take_error()
            }

            /// Shuts down the write direction; already-closed connections are fine.
            pub(crate) fn shutdown_write(&self) -> std::io::Result<()> {
                match self.io.get_ref().shutdown(std::net::Shutdown::Write) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    r => r,
                }
            }

            /// `try_read`'s `WouldBlock` from the receive queue clears the read readiness, as
            /// the readiness path's does (so `readable()` waits for the next completion).
            #[cfg(target_os = "linux")]
            fn clear_if_would_block(
                &self,
                r: std::io::Result<usize>,
            ) -> std::io::Result<usize> {
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self
                        .io
                        .try_io(crate::io::scheduled_io::Direction::Read, |_| Err(e)),
                    r => r,
                }
            }

            /// Flushes: waits until the bytes written are sent (io_uring's write-behind);
            /// nothing to wait for on the readiness path.
            pub(crate) fn poll_flush_priv(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    return s.poll_flush(cx);
                }
                let _ = cx;
                std::task::Poll::Ready(Ok(()))
            }

            /// Closes the write direction once the bytes written are sent.
            pub(crate) fn poll_close_priv(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    return s.poll_close(cx);
                }
                let _ = cx;
                std::task::Poll::Ready(self.shutdown_write())
            }

            /// A write half's drop: shut down the write direction (after the bytes written
            /// are sent, on io_uring).
            pub(crate) fn shutdown_write_on_drop(&self) {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.active() {
                    return s.shutdown_after_flush();
                }
                let _ = self.shutdown_write();
            }

            pub(crate) fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.get(&self.io) {
                    let mut dst = crate::io::uring_stream::SliceDst {
                        buf: &mut *buf,
                        filled: 0,
                    };
                    let rt = self.io.runtime();
                    if let crate::io::uring_stream::ReadStep::Done(p) = s.poll_read(cx, &mut dst, rt) {
                        return p;
                    }
                }
                let len = buf.len();
                self.io
                    .poll_read_io(cx, len, |s| crate::net::SockRw::sock_read(s, buf))
            }

            /// `poll_read_priv` into the unfilled part of a tokio `ReadBuf`, not zero-filled
            /// first (see `read_into_buf`).
            #[cfg(feature = "tokio-io")]
            pub(crate) fn poll_read_buf_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.get(&self.io) {
                    let rt = self.io.runtime();
                    if let crate::io::uring_stream::ReadStep::Done(p) = s.poll_read(cx, buf, rt) {
                        return p.map_ok(|_| ());
                    }
                }
                let len = buf.remaining();
                self.io
                    .poll_read_io(cx, len, |s| crate::net::ReadIntoBuf::read_buf(s, buf))
                    .map_ok(|_| ())
            }

            pub(crate) fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.get(&self.io) {
                    return s.poll_write(cx, &[std::io::IoSlice::new(buf)]);
                }
                self.io
                    .poll_io(cx, crate::io::scheduled_io::Direction::Write, |s| {
                        crate::net::SockRw::sock_write(s, buf)
                    })
            }

            pub(crate) fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                #[cfg(target_os = "linux")]
                if let Some(s) = self.mode.get(&self.io) {
                    return s.poll_write(cx, bufs);
                }
                self.io.poll_io(cx, crate::io::scheduled_io::Direction::Write, |s| {
                    crate::net::SockRw::sock_write_vectored(s, bufs)
                })
            }
        }

        async_read_impl!($t, this => this);
        async_read_impl!(&$t, this => this);
        async_write_impl!($t, this => this);
        async_write_impl!(&$t, this => this);
    };
}

/// The methods every half (`$half`, which has `fn stream(&self) -> &Stream`) takes from its
/// stream, as tokio's halves have them: the addresses and `ready` (see `read_half_methods!`).
macro_rules! half_methods {
    ($half:ty, $addr:ty) => {
        impl $half {
            /// The local address of the stream this half belongs to.
            ///
            /// # Errors
            ///
            /// The OS's error.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.stream().local_addr()
            }

            /// The peer's address of the stream this half belongs to.
            ///
            /// # Errors
            ///
            /// The OS's error (`NotConnected` once the peer is gone, on some systems).
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.stream().peer_addr()
            }

            /// Waits until the stream is ready for `interest` and returns the readiness found;
            /// the stream's `ready`. A read half usually asks for `Interest::READABLE`, a write
            /// half for `Interest::WRITABLE`.
            ///
            /// # Errors
            ///
            /// Fails once the stream's runtime has shut down.
            pub async fn ready(
                &self,
                interest: crate::io::Interest,
            ) -> std::io::Result<crate::io::Ready> {
                self.stream().ready(interest).await
            }
        }
    };
}

/// The methods a read half (`$half`, which has `fn stream(&self) -> &Stream`) takes from its
/// stream, as tokio's halves have them: the addresses (of type `$addr`), `ready`, `readable`,
/// `try_read`, `try_read_vectored`. Each delegates to the stream's method of the same name,
/// which on io_uring reads the stream's receive queue when it has one: a half never touches the
/// descriptor itself. `$pair` is the start of the doc example (see `stream_common!`), and
/// `$split` the line of it that makes the half `rd` from the stream `a`.
macro_rules! read_half_methods {
    ($half:ty, $addr:ty, $pair:literal, $split:literal) => {
        half_methods!($half, $addr);

        impl $half {
            /// Waits until the stream may be readable; the stream's `readable`. Readiness can
            /// be spurious: the `try_read` that follows may still return `WouldBlock`.
            ///
            /// # Errors
            ///
            /// Fails once the stream's runtime has shut down.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.stream().readable().await
            }

            /// Reads what is available without waiting; the stream's `try_read`. `Ok(0)` means
            /// end-of-stream (or an empty `buf`).
            ///
            /// # Errors
            ///
            /// `WouldBlock` when nothing is available (the read readiness is cleared then, so
            /// `readable` waits for new bytes), or the OS's error.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = $pair]
            #[doc = $split]
            ///     b.writable().await?;
            ///     b.try_write(b"hey")?;
            ///     let mut buf = [0u8; 8];
            ///     let n = loop {
            ///         rd.readable().await?;
            ///         match rd.try_read(&mut buf) {
            ///             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            ///             res => break res?,
            ///         }
            ///     };
            ///     assert_eq!(&buf[..n], b"hey");
            ///     Ok(())
            /// }
            /// ```
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.stream().try_read(buf)
            }

            /// Like `try_read`, scattering into several buffers; the stream's
            /// `try_read_vectored`.
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error.
            pub fn try_read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.stream().try_read_vectored(bufs)
            }
        }
    };
}

/// The methods a write half (`$half`, which has `fn stream(&self) -> &Stream`) takes from its
/// stream, as tokio's halves have them: the addresses, `ready`, `writable`, `try_write`,
/// `try_write_vectored`; see `read_half_methods!`.
macro_rules! write_half_methods {
    ($half:ty, $addr:ty) => {
        half_methods!($half, $addr);

        impl $half {
            /// Waits until the stream may be writable; the stream's `writable`.
            ///
            /// # Errors
            ///
            /// Fails once the stream's runtime has shut down.
            pub async fn writable(&self) -> std::io::Result<()> {
                self.stream().writable().await
            }

            /// Writes what fits without waiting; the stream's `try_write`.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when the send buffer is full (the write readiness is cleared then),
            /// or the OS's error (`BrokenPipe` once the peer is gone).
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.stream().try_write(buf)
            }

            /// Like `try_write`, gathering from several buffers; the stream's
            /// `try_write_vectored`.
            ///
            /// # Errors
            ///
            /// `WouldBlock`, or the OS's error.
            pub fn try_write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                self.stream().try_write_vectored(bufs)
            }
        }
    };
}

/// Defines `ReadHalf`, `WriteHalf`, `OwnedReadHalf`, `OwnedWriteHalf` and `ReuniteError` for
/// the stream type `$t` (whose addresses are `$addr`) in the calling module, with their
/// `futures-io` impls and the stream methods tokio's halves have (`read_half_methods!`,
/// `write_half_methods!`). `$pair` starts the doc examples with two connected streams `a` and
/// `b` (see `stream_common!`).
macro_rules! split_halves {
    ($t:ident, $name:literal, $addr:ty, $pair:literal) => {
        /// The reading half of a borrowed
        #[doc = $name]
        /// from `split`.
        #[derive(Debug)]
        pub struct ReadHalf<'a>(&'a $t);

        /// The writing half of a borrowed
        #[doc = $name]
        /// from `split`. Closing it shuts down the write direction.
        #[derive(Debug)]
        pub struct WriteHalf<'a>(&'a $t);

        /// The owned reading half of a
        #[doc = $name]
        /// from `into_split`; it can move to another task.
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            inner: std::sync::Arc<$t>,
        }

        /// The owned writing half of a
        #[doc = $name]
        /// from `into_split`; it can move to another task. Dropping it shuts down the write
        /// direction, so the peer sees end-of-stream.
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            inner: std::sync::Arc<$t>,
            shutdown_on_drop: bool,
        }

        /// The error of `OwnedReadHalf::reunite`: the two halves came from different streams.
        /// It gives both halves back.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tried to reunite halves that came from different streams")
            }
        }

        impl std::error::Error for ReuniteError {}

        pub(crate) fn split(stream: &mut $t) -> (ReadHalf<'_>, WriteHalf<'_>) {
            (ReadHalf(&*stream), WriteHalf(&*stream))
        }

        pub(crate) fn into_split(stream: $t) -> (OwnedReadHalf, OwnedWriteHalf) {
            let inner = std::sync::Arc::new(stream);
            (
                OwnedReadHalf {
                    inner: inner.clone(),
                },
                OwnedWriteHalf {
                    inner,
                    shutdown_on_drop: true,
                },
            )
        }

        impl OwnedReadHalf {
            /// Puts the stream back together from its two halves.
            ///
            /// # Errors
            ///
            /// Fails, giving both halves back, if they did not come from the same stream.
            pub fn reunite(self, other: OwnedWriteHalf) -> Result<$t, ReuniteError> {
                if !std::sync::Arc::ptr_eq(&self.inner, &other.inner) {
                    return Err(ReuniteError(self, other));
                }
                let mut other = other;
                other.shutdown_on_drop = false;
                let inner = other.inner.clone();
                drop(other);
                drop(self);
                Ok(std::sync::Arc::try_unwrap(inner)
                    .expect("tether: both halves were given back, so no other reference exists"))
            }
        }

        impl OwnedWriteHalf {
            /// Puts the stream back together; see [`OwnedReadHalf::reunite`].
            ///
            /// # Errors
            ///
            /// Fails if the halves did not come from the same stream.
            pub fn reunite(self, other: OwnedReadHalf) -> Result<$t, ReuniteError> {
                other.reunite(self)
            }

            /// Drops this half without shutting down the write direction, as tokio's `forget`:
            /// the peer sees no end-of-stream from it. The stream stays open while the read
            /// half lives, and closes (both directions) when that is dropped too; if it already
            /// was, the stream closes now.
            ///
            /// # Examples
            ///
            /// ```
            /// use tether::io::AsyncReadExt;
            ///
            #[doc = $pair]
            ///     let (mut rd, wr) = a.into_split();
            ///     wr.forget(); // no end-of-stream yet: `rd` keeps the stream open
            ///     b.writable().await?;
            ///     b.try_write(b"still open")?;
            ///     let mut buf = [0u8; 10];
            ///     rd.read_exact(&mut buf).await?;
            ///     drop(rd); // now the stream closes
            ///     let mut b = b;
            ///     assert_eq!(b.read(&mut buf).await?, 0);
            ///     Ok(())
            /// }
            /// ```
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
                drop(self);
            }
        }

        impl ReadHalf<'_> {
            /// The stream this half reads.
            fn stream(&self) -> &$t {
                self.0
            }
        }

        impl WriteHalf<'_> {
            /// The stream this half writes.
            fn stream(&self) -> &$t {
                self.0
            }
        }

        impl OwnedReadHalf {
            /// The stream this half reads.
            fn stream(&self) -> &$t {
                &self.inner
            }
        }

        impl OwnedWriteHalf {
            /// The stream this half writes.
            fn stream(&self) -> &$t {
                &self.inner
            }
        }

        read_half_methods!(
            ReadHalf<'_>,
            $addr,
            $pair,
            "    let mut a = a;\n    let (rd, _wr) = a.split();"
        );
        read_half_methods!(
            OwnedReadHalf,
            $addr,
            $pair,
            "    let (rd, _wr) = a.into_split();"
        );
        write_half_methods!(WriteHalf<'_>, $addr);
        write_half_methods!(OwnedWriteHalf, $addr);

        impl AsRef<$t> for OwnedReadHalf {
            fn as_ref(&self) -> &$t {
                &self.inner
            }
        }

        impl AsRef<$t> for OwnedWriteHalf {
            fn as_ref(&self) -> &$t {
                &self.inner
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    self.inner.shutdown_write_on_drop();
                }
            }
        }

        async_read_impl!(ReadHalf<'_>, this => this.0);
        async_read_impl!(OwnedReadHalf, this => this.inner);
        async_write_impl!(WriteHalf<'_>, this => this.0);
        async_write_impl!(OwnedWriteHalf, this => this.inner);
    };
}
