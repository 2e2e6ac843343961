//! [`AsyncWriteExt`]: `futures-lite`'s writing methods plus tokio's `shutdown` and number
//! writers, in one trait, so that one import gives a tokio user every method.

use std::fmt;
use std::future::Future;
use std::io;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncWrite;
use futures_lite::io::{
    CloseFuture, FlushFuture, WriteAllFuture, WriteFuture, WriteVectoredFuture,
};

/// Generates the number writers of [`AsyncWriteExt`]: `$method` writes a `$ty` with
/// `$ty::$to_bytes`, described as `$order`.
macro_rules! write_num_methods {
    ($($method:ident => $ty:ident, $to_bytes:ident, $order:literal;)*) => {$(
        #[doc = concat!(
            "Writes `n` as a ", $order, "`", stringify!($ty), "` (", stringify!($ty), "::",
            stringify!($to_bytes), "), waiting until all its bytes are written.\n\n",
            "Nothing is flushed: call [`flush`](AsyncWriteExt::flush) when the writer buffers.\n\n",
            "# Errors\n\n",
            "`WriteZero` if the writer accepts no more bytes, or the writer's error.\n\n",
            "# Cancel safety\n\n",
            "Not cancel-safe: dropping the future may leave part of the number written.",
        )]
        fn $method(&mut self, n: $ty) -> WriteNum<'_, Self>
        where
            Self: Unpin,
        {
            WriteNum::new(self, &n.$to_bytes())
        }
    )*};
}

/// Writing methods for every [`AsyncWrite`]: `futures-lite`'s (`write`, `write_all`, `flush`,
/// `close`, ...), tokio's [`shutdown`](AsyncWriteExt::shutdown), and tokio's number writers
/// (`write_u8` to `write_f64`, big-endian; `_le` for little-endian).
///
/// It is implemented for every `AsyncWrite`, so `use tether::io::AsyncWriteExt;` is all a tokio
/// user needs; import it or `futures-lite`'s / `futures-util`'s trait of the same name, not both.
/// tokio's `write_buf` and `write_all_buf` (for `bytes::Buf`) are not offered: tether does not
/// depend on `bytes`. See [`AsyncReadExt`](crate::io::AsyncReadExt) for an example.
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some bytes of `buf`, returning how many were taken.
    ///
    /// Cancel-safe: if the future is dropped before it completes, nothing was written.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> WriteFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::write(self, buf)
    }

    /// Like [`write`](AsyncWriteExt::write), gathering from several buffers.
    fn write_vectored<'a>(&'a mut self, bufs: &'a [IoSlice<'a>]) -> WriteVectoredFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::write_vectored(self, bufs)
    }

    /// Writes all of `buf`; fails with `WriteZero` if the writer stops taking bytes.
    ///
    /// Not cancel-safe: dropping the future may leave part of `buf` written.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAllFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::write_all(self, buf)
    }

    /// Sends what the writer buffers on to its destination.
    fn flush(&mut self) -> FlushFuture<'_, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::flush(self)
    }

    /// Flushes, then ends the writing direction (a socket shuts down its writing: the peer reads
    /// end-of-stream). This is `futures-io`'s `poll_close`, tokio's `poll_shutdown`.
    fn close(&mut self) -> CloseFuture<'_, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::close(self)
    }

    /// tokio's name for [`close`](AsyncWriteExt::close): flushes, then ends the writing
    /// direction.
    ///
    /// As in tokio, tether's [`TcpStream`](crate::net::TcpStream) and
    /// [`UnixStream`](crate::net::UnixStream) have no inherent `shutdown(how)`, so
    /// `stream.shutdown().await` is this method: on a socket it sends FIN (ends the writing
    /// direction) after flushing. Shutting down the reading direction is not offered (tokio
    /// does not either); `socket2::SockRef::from(&stream).shutdown(Shutdown::Read)` does it.
    fn shutdown(&mut self) -> CloseFuture<'_, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncWriteExt::close(self)
    }

    /// Boxes the writer, erasing its type.
    fn boxed_writer<'a>(self) -> Pin<Box<dyn AsyncWrite + Send + 'a>>
    where
        Self: Sized + Send + 'a,
    {
        futures_lite::AsyncWriteExt::boxed_writer(self)
    }

    write_num_methods! {
        write_u8 => u8, to_be_bytes, "";
        write_i8 => i8, to_be_bytes, "";
        write_u16 => u16, to_be_bytes, "big-endian ";
        write_i16 => i16, to_be_bytes, "big-endian ";
        write_u32 => u32, to_be_bytes, "big-endian ";
        write_i32 => i32, to_be_bytes, "big-endian ";
        write_u64 => u64, to_be_bytes, "big-endian ";
        write_i64 => i64, to_be_bytes, "big-endian ";
        write_u128 => u128, to_be_bytes, "big-endian ";
        write_i128 => i128, to_be_bytes, "big-endian ";
        write_f32 => f32, to_be_bytes, "big-endian ";
        write_f64 => f64, to_be_bytes, "big-endian ";
        write_u16_le => u16, to_le_bytes, "little-endian ";
        write_i16_le => i16, to_le_bytes, "little-endian ";
        write_u32_le => u32, to_le_bytes, "little-endian ";
        write_i32_le => i32, to_le_bytes, "little-endian ";
        write_u64_le => u64, to_le_bytes, "little-endian ";
        write_i64_le => i64, to_le_bytes, "little-endian ";
        write_u128_le => u128, to_le_bytes, "little-endian ";
        write_i128_le => i128, to_le_bytes, "little-endian ";
        write_f32_le => f32, to_le_bytes, "little-endian ";
        write_f64_le => f64, to_le_bytes, "little-endian ";
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// The future of the number writers of [`AsyncWriteExt`] (`write_u32`, `write_f64_le`, ...):
/// writes the number's encoded bytes.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteNum<'a, W: ?Sized> {
    writer: &'a mut W,
    /// The encoded number: `buf[..len]`, of which `buf[..written]` is written.
    buf: [u8; 16],
    written: usize,
    len: usize,
}

impl<'a, W: ?Sized> WriteNum<'a, W> {
    fn new(writer: &'a mut W, bytes: &[u8]) -> Self {
        let mut buf = [0; 16];
        buf[..bytes.len()].copy_from_slice(bytes);
        WriteNum {
            writer,
            buf,
            written: 0,
            len: bytes.len(),
        }
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteNum<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.written < this.len {
            let n = ready!(
                Pin::new(&mut *this.writer).poll_write(cx, &this.buf[this.written..this.len])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "the writer took no more bytes after {} of the {} of a number",
                        this.written, this.len
                    ),
                )));
            }
            this.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: ?Sized> fmt::Debug for WriteNum<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteNum")
            .field("bytes", &&self.buf[..self.len])
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}
