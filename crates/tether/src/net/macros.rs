//! Code shared by the stream types (`TcpStream`, `UnixStream`): their common methods, their
//! `futures-io` trait impls and their split halves. A stream type is a struct with an
//! `io: PollEvented<mio stream>` field; `stream_common!` gives it the rest.

/// Implements `AsyncRead` for `$target`, reaching the stream as `$stream` (with `self` bound
/// to `$this`).
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
    };
}

/// Implements `AsyncWrite` for `$target` like `async_read_impl`. Flushing is a no-op (writes go
/// straight to the socket); closing shuts down the write direction.
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
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = self;
                std::task::Poll::Ready($stream.shutdown_write())
            }
        }
    };
}

/// The methods every stream type (a struct with an `io: PollEvented<mio stream>` field) has in
/// common, and its `futures-io` impls for `$t` and `&$t`.
macro_rules! stream_common {
    ($t:ident) => {
        impl $t {
            /// Waits until the stream may be readable. Readiness can be spurious: a following
            /// `try_read` may still return `WouldBlock`.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.io.ready(crate::io::scheduled_io::Direction::Read).await
            }

            /// Waits until the stream may be writable; see `readable`.
            pub async fn writable(&self) -> std::io::Result<()> {
                self.io
                    .ready(crate::io::scheduled_io::Direction::Write)
                    .await
            }

            /// Reads without waiting: `WouldBlock` when no data is ready.
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::Read;
                self.io
                    .try_io(crate::io::scheduled_io::Direction::Read, |s| (&*s).read(buf))
            }

            /// Writes without waiting: `WouldBlock` when the send buffer is full.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::io::Write;
                self.io
                    .try_io(crate::io::scheduled_io::Direction::Write, |s| (&*s).write(buf))
            }

            /// Shuts down the write direction; already-closed connections are fine.
            pub(crate) fn shutdown_write(&self) -> std::io::Result<()> {
                match self.io.get_ref().shutdown(std::net::Shutdown::Write) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    r => r,
                }
            }

            pub(crate) fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Read;
                let len = buf.len();
                self.io.poll_read_io(cx, len, |s| (&*s).read(buf))
            }

            pub(crate) fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write;
                self.io
                    .poll_io(cx, crate::io::scheduled_io::Direction::Write, |s| (&*s).write(buf))
            }

            pub(crate) fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write;
                self.io.poll_io(cx, crate::io::scheduled_io::Direction::Write, |s| {
                    (&*s).write_vectored(bufs)
                })
            }
        }

        async_read_impl!($t, this => this);
        async_read_impl!(&$t, this => this);
        async_write_impl!($t, this => this);
        async_write_impl!(&$t, this => this);
    };
}

/// Defines `ReadHalf`, `WriteHalf`, `OwnedReadHalf`, `OwnedWriteHalf` and `ReuniteError` for
/// the stream type `$t` in the calling module, with their `futures-io` impls.
macro_rules! split_halves {
    ($t:ident, $name:literal) => {
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
        }

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
                    let _ = self.inner.shutdown_write();
                }
            }
        }

        async_read_impl!(ReadHalf<'_>, this => this.0);
        async_read_impl!(OwnedReadHalf, this => this.inner);
        async_write_impl!(WriteHalf<'_>, this => this.0);
        async_write_impl!(OwnedWriteHalf, this => this.inner);
    };
}
