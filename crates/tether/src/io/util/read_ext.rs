//! [`AsyncReadExt`]: `futures-lite`'s reading methods plus tokio's integer and float readers, in
//! one trait, so that one import gives a tokio user every method.
//!
//! `read_to_string` is tether's own ([`ReadToString`]): `futures-lite`'s replaces the caller's
//! `String` with what it read (and asserts, in debug builds, that it was empty), where tokio's
//! and std's append to it.

use std::fmt;
use std::future::Future;
use std::io;
use std::io::IoSliceMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncRead;
use futures_lite::io::{
    Bytes, Chain, ReadExactFuture, ReadFuture, ReadToEndFuture, ReadVectoredFuture, Take,
};

/// Generates the number readers of [`AsyncReadExt`]: `$method` reads a `$ty` with
/// `$ty::$from_bytes`, described as `$order`.
macro_rules! read_num_methods {
    ($($method:ident => $ty:ident, $from_bytes:ident, $order:literal;)*) => {$(
        #[doc = concat!(
            "Reads a ", $order, "`", stringify!($ty), "` (", stringify!($ty), "::",
            stringify!($from_bytes), "), waiting until all its bytes are there.\n\n",
            "# Errors\n\n",
            "`UnexpectedEof` if the stream ends first (the bytes read are lost), or the ",
            "reader's error.\n\n",
            "# Cancel safety\n\n",
            "Not cancel-safe: dropping the future loses the bytes it has read.",
        )]
        fn $method(&mut self) -> ReadNum<'_, Self, $ty>
        where
            Self: Unpin,
        {
            ReadNum::new(self, stringify!($ty), |b| $ty::$from_bytes(array(b)))
        }
    )*};
}

/// Reading methods for every [`AsyncRead`]: `futures-lite`'s (`read`, `read_exact`,
/// `read_to_end`, `read_to_string`, `take`, `chain`, ...) and tokio's number readers
/// (`read_u8` to `read_f64`, big-endian; `_le` for little-endian).
///
/// It is implemented for every `AsyncRead`, so `use tether::io::AsyncReadExt;` is all a tokio
/// user needs. Import it or `futures-lite`'s / `futures-util`'s trait of the same name, not
/// both: the method names would clash. tokio's `read_buf` (for `bytes::BufMut`) is not offered:
/// tether does not depend on `bytes`.
///
/// # Examples
///
/// ```
/// use tether::io::{AsyncReadExt, AsyncWriteExt, Cursor};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let mut frame = Cursor::new(Vec::new());
///     frame.write_u32(0xdead_beef).await?; // big-endian, as tokio
///     frame.write_u16_le(7).await?;
///     frame.write_f64(1.5).await?;
///     frame.write_all(b"tail").await?;
///     assert_eq!(&frame.get_ref()[..6], [0xde, 0xad, 0xbe, 0xef, 7, 0]);
///
///     frame.set_position(0);
///     assert_eq!(frame.read_u32().await?, 0xdead_beef);
///     assert_eq!(frame.read_u16_le().await?, 7);
///     assert_eq!(frame.read_f64().await?, 1.5);
///     let mut rest = String::new();
///     frame.read_to_string(&mut rest).await?;
///     assert_eq!(rest, "tail");
///     // Nothing left: a number cannot be read.
///     let err = frame.read_u8().await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
///     Ok(())
/// }
/// ```
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`, returning how many (0 at end-of-stream, or if `buf` is
    /// empty).
    ///
    /// Cancel-safe: if the future is dropped before it completes, no bytes were read.
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncReadExt::read(self, buf)
    }

    /// Like [`read`](AsyncReadExt::read), scattering into several buffers.
    fn read_vectored<'a>(
        &'a mut self,
        bufs: &'a mut [IoSliceMut<'a>],
    ) -> ReadVectoredFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncReadExt::read_vectored(self, bufs)
    }

    /// Reads until end-of-stream, appending to `buf`; returns the number of bytes read.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEndFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncReadExt::read_to_end(self, buf)
    }

    /// Reads until end-of-stream and appends what it read to `buf`; returns the number of bytes
    /// appended.
    ///
    /// As tokio's and std's, it appends to what `buf` holds.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the bytes read are not UTF-8, or the reader's error; either way `buf`
    /// is left as it was (tokio's behaviour) and the bytes read are lost.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future before it completes loses the bytes it has read;
    /// `buf` is then left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::io::AsyncReadExt;
    ///
    /// #[tether::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let mut r = &b"world"[..];
    ///     let mut text = String::from("hello ");
    ///     assert_eq!(r.read_to_string(&mut text).await?, 5);
    ///     assert_eq!(text, "hello world");
    ///
    ///     let mut bad = &b"\xff"[..];
    ///     let err = bad.read_to_string(&mut text).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    ///     assert_eq!(text, "hello world"); // unchanged
    ///     Ok(())
    /// }
    /// ```
    fn read_to_string<'a>(&'a mut self, buf: &'a mut String) -> ReadToString<'a, Self>
    where
        Self: Unpin,
    {
        ReadToString {
            reader: self,
            buf,
            bytes: Vec::new(),
            filled: 0,
        }
    }

    /// Fills `buf` completely; fails with `UnexpectedEof` if the stream ends first.
    ///
    /// Not cancel-safe: dropping the future loses the bytes it has read.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExactFuture<'a, Self>
    where
        Self: Unpin,
    {
        futures_lite::AsyncReadExt::read_exact(self, buf)
    }

    /// A reader that ends after `limit` bytes.
    fn take(self, limit: u64) -> Take<Self>
    where
        Self: Sized,
    {
        futures_lite::AsyncReadExt::take(self, limit)
    }

    /// A stream of the bytes one by one (wrap the reader in a [`BufReader`](crate::io::BufReader)
    /// first: each byte is one read otherwise).
    fn bytes(self) -> Bytes<Self>
    where
        Self: Sized,
    {
        futures_lite::AsyncReadExt::bytes(self)
    }

    /// A reader that reads `self` to its end, then `next`.
    fn chain<R: AsyncRead>(self, next: R) -> Chain<Self, R>
    where
        Self: Sized,
    {
        futures_lite::AsyncReadExt::chain(self, next)
    }

    /// Boxes the reader, erasing its type.
    fn boxed_reader<'a>(self) -> Pin<Box<dyn AsyncRead + Send + 'a>>
    where
        Self: Sized + Send + 'a,
    {
        futures_lite::AsyncReadExt::boxed_reader(self)
    }

    read_num_methods! {
        read_u8 => u8, from_be_bytes, "";
        read_i8 => i8, from_be_bytes, "";
        read_u16 => u16, from_be_bytes, "big-endian ";
        read_i16 => i16, from_be_bytes, "big-endian ";
        read_u32 => u32, from_be_bytes, "big-endian ";
        read_i32 => i32, from_be_bytes, "big-endian ";
        read_u64 => u64, from_be_bytes, "big-endian ";
        read_i64 => i64, from_be_bytes, "big-endian ";
        read_u128 => u128, from_be_bytes, "big-endian ";
        read_i128 => i128, from_be_bytes, "big-endian ";
        read_f32 => f32, from_be_bytes, "big-endian ";
        read_f64 => f64, from_be_bytes, "big-endian ";
        read_u16_le => u16, from_le_bytes, "little-endian ";
        read_i16_le => i16, from_le_bytes, "little-endian ";
        read_u32_le => u32, from_le_bytes, "little-endian ";
        read_i32_le => i32, from_le_bytes, "little-endian ";
        read_u64_le => u64, from_le_bytes, "little-endian ";
        read_i64_le => i64, from_le_bytes, "little-endian ";
        read_u128_le => u128, from_le_bytes, "little-endian ";
        read_i128_le => i128, from_le_bytes, "little-endian ";
        read_f32_le => f32, from_le_bytes, "little-endian ";
        read_f64_le => f64, from_le_bytes, "little-endian ";
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// The first size `ReadToString` reserves, grown by doubling after it.
const FIRST_READ: usize = 32;

/// The future of [`AsyncReadExt::read_to_string`]: reads to end-of-stream into a buffer of its
/// own, then appends what it read to the caller's `String` once it is known to be UTF-8.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadToString<'a, R: ?Sized> {
    reader: &'a mut R,
    /// The caller's string; touched only when the future completes with success.
    buf: &'a mut String,
    /// `bytes[..filled]` were read; `bytes[filled..]` is zeroed room for the next read (kept
    /// between polls, so that no byte is zeroed twice).
    bytes: Vec<u8>,
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToString<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            if this.filled == this.bytes.len() {
                let room = this.bytes.len().max(FIRST_READ);
                this.bytes.resize(this.bytes.len() + room, 0);
            }
            let n =
                ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.bytes[this.filled..]))?;
            if n == 0 {
                break;
            }
            this.filled += n;
        }
        let mut bytes = std::mem::take(&mut this.bytes);
        bytes.truncate(std::mem::take(&mut this.filled));
        let n = bytes.len();
        match String::from_utf8(bytes) {
            Ok(s) if this.buf.is_empty() => *this.buf = s, // no copy
            Ok(s) => this.buf.push_str(&s),
            Err(e) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "read_to_string: the bytes read are not valid UTF-8 ({}); the string was \
                         left as it was. Use read_to_end to get the bytes",
                        e.utf8_error()
                    ),
                )));
            }
        }
        Poll::Ready(Ok(n))
    }
}

impl<R: ?Sized> fmt::Debug for ReadToString<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadToString")
            .field("read", &self.filled)
            .finish_non_exhaustive()
    }
}

/// `b` (exactly `N` bytes) as an array.
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

/// The future of the number readers of [`AsyncReadExt`] (`read_u32`, `read_f64_le`, ...):
/// reads the number's bytes, then decodes them.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadNum<'a, R: ?Sized, N> {
    reader: &'a mut R,
    /// The bytes read so far (`buf[..filled]`) of the `len` the number needs.
    buf: [u8; 16],
    filled: usize,
    len: usize,
    /// The number's type, for the error message.
    name: &'static str,
    decode: fn(&[u8]) -> N,
}

impl<'a, R: ?Sized, N> ReadNum<'a, R, N> {
    fn new(reader: &'a mut R, name: &'static str, decode: fn(&[u8]) -> N) -> Self {
        ReadNum {
            reader,
            buf: [0; 16],
            filled: 0,
            len: std::mem::size_of::<N>(),
            name,
            decode,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized, N> Future for ReadNum<'_, R, N> {
    type Output = io::Result<N>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<N>> {
        let this = self.get_mut();
        while this.filled < this.len {
            let n = ready!(
                Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[this.filled..this.len])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the stream ended after {} of the {} bytes of a {}",
                        this.filled, this.len, this.name
                    ),
                )));
            }
            this.filled += n;
        }
        Poll::Ready(Ok((this.decode)(&this.buf[..this.len])))
    }
}

impl<R: ?Sized, N> fmt::Debug for ReadNum<'_, R, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadNum")
            .field("type", &self.name)
            .field("filled", &self.filled)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
