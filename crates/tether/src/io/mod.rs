//! Asynchronous I/O: the reactor and the traits streams implement.
//!
//! tether's streams implement the `futures-io` traits [`AsyncRead`], [`AsyncWrite`] (and
//! [`fs::File`](crate::fs::File) also [`AsyncSeek`]), the ecosystem's common vocabulary, so
//! codecs and utilities written for them work unchanged. The convenience methods come from
//! tether's extension traits [`AsyncReadExt`], [`AsyncWriteExt`] and [`AsyncBufReadExt`],
//! implemented for every reader and writer: they carry `futures-lite`'s methods (`read`,
//! `read_exact`, `write_all`, `flush`, `close`, ...) and tokio's (`read_u32` and the other
//! number readers and writers, `shutdown`, `lines().next_line()`), so one import is enough:
//!
//! ```
//! use tether::io::{AsyncReadExt, AsyncWriteExt};
//! use tether::net::{TcpListener, TcpStream};
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tether::spawn(async move {
//!         let (mut conn, _) = listener.accept().await?;
//!         let mut buf = [0u8; 5];
//!         conn.read_exact(&mut buf).await?;
//!         conn.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     });
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"hello").await?;
//!     let mut echoed = [0u8; 5];
//!     client.read_exact(&mut echoed).await?;
//!     assert_eq!(&echoed, b"hello");
//!     Ok(())
//! }
//! ```
//!
//! The extension traits of `futures-lite` and `futures-util` (`futures::io::AsyncReadExt`, ...)
//! work on tether's streams just as well; import one family or the other, not both, or the
//! method names clash.
//!
//! # What to use for what
//!
//! Names and meaning are tokio's. tether does not rewrite what `futures-lite` already does as
//! tokio does; those items are re-exported (and its methods called by tether's traits). tether
//! has its own where tokio's API differs from `futures-lite`'s (`lines`, `split`, the buffered
//! wrappers' `get_pin_mut` and pass-through), where `futures-lite`'s behaves differently
//! (`read_line` and `read_to_string` append to the caller's string, `copy` flushes while its
//! reader waits, `empty`/`repeat`/`sink` spend the cooperative budget), or where `futures-lite`
//! has none.
//!
//! | To ... | use | from |
//! |---|---|---|
//! | read exactly `n` bytes | [`AsyncReadExt::read_exact`] | `futures-lite` |
//! | read everything until EOF | [`AsyncReadExt::read_to_end`] (`futures-lite`), [`read_to_string`][rts] (appends) | tether |
//! | read or write a number (big- or little-endian) | [`read_u32`][ru32], [`write_u32`][wu32], ... `_le` | tether |
//! | write a whole buffer | [`AsyncWriteExt::write_all`], then [`flush`][flush] | `futures-lite` |
//! | end a stream's writing direction | [`AsyncWriteExt::shutdown`] (tokio's name) or [`close`][close] | `futures-lite` |
//! | copy one stream into another until EOF, flushing whenever the reader waits | [`copy`] | tether |
//! | copy from a buffered reader without a second buffer | [`copy_buf`] | tether |
//! | batch small reads or writes | [`BufReader`], [`BufWriter`], both: [`BufStream`] | tether |
//! | read lines | [`AsyncBufReadExt::lines`] then [`next_line`][nl], or [`read_line`][rl] (appends) | tether |
//! | use one socket from two tasks | its `split`/`into_split` ([`net`](crate::net)) | tether |
//! | use any stream from two tasks | [`split`], then [`ReadHalf::unsplit`] | tether |
//! | proxy two streams both ways, closing each side in turn | [`copy_bidirectional`] | tether |
//! | a connected in-memory stream pair, for tests | [`duplex`] | tether |
//! | a reader of nothing, of one byte forever; a writer that drops all | [`empty`], [`repeat`], [`sink`] | tether |
//! | wait for a socket's readiness, then `try_read`/`try_write` | `ready(`[`Interest`]`)` → [`Ready`] on the socket | tether |
//! | read or write through a buffer the operation owns (one io_uring operation, no copy) | [`TcpStream::read_owned`](crate::net::TcpStream::read_owned), [`write_all_owned`](crate::net::TcpStream::write_all_owned), `fs::File::read_at_owned`, `write_at_owned` over an [`IoBuf`]/[`IoBufMut`] | tether |
//!
//! [rts]: AsyncReadExt::read_to_string
//! [ru32]: AsyncReadExt::read_u32
//! [wu32]: AsyncWriteExt::write_u32
//! [flush]: AsyncWriteExt::flush
//! [close]: AsyncWriteExt::close
//! [nl]: Lines::next_line
//! [rl]: AsyncBufReadExt::read_line
//!
//! They combine freely: here lines read through a [`BufReader`] from a [`duplex`] stream.
//!
//! ```
//! use tether::io::{duplex, AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! #[tether::main]
//! async fn main() -> std::io::Result<()> {
//!     let (mut tx, rx) = duplex(4); // writes wait for the reader every 4 bytes
//!     tether::spawn(async move { tx.write_all(b"one\ntwo\n").await }); // drop: EOF
//!
//!     let mut rx = BufReader::new(rx);
//!     let (mut line, mut lines) = (String::new(), Vec::new());
//!     while rx.read_line(&mut line).await? != 0 {
//!         lines.push(line.trim_end().to_owned());
//!         line.clear();
//!     }
//!     assert_eq!(lines, ["one", "two"]);
//!     Ok(())
//! }
//! ```

//! # tokio's traits: feature `tokio-io`
//!
//! Crates written over tokio's I/O traits rather than `futures-io`'s (tokio-util's codecs and
//! `Framed`, tokio-rustls, hyper-util's `TokioIo`, tokio's own `copy`, `split` and extension
//! traits) take tether's streams directly once feature `tokio-io` is on:
//!
//! ```toml
//! tether = { version = "0.1", features = ["tokio-io"] }
//! ```
//!
//! It implements `tokio::io::AsyncRead` and `AsyncWrite` for
//! [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream) (also through
//! `&`), their borrowed and owned halves, [`DuplexStream`], [`fs::File`](crate::fs::File), and
//! the child pipes [`ChildStdin`](crate::process::ChildStdin),
//! [`ChildStdout`](crate::process::ChildStdout), [`ChildStderr`](crate::process::ChildStderr);
//! and `tokio::io::AsyncBufRead` (with `AsyncRead`) for [`BufReader`]. Each mirrors the
//! `futures-io` impl beside it, with the same readiness, budget and error behaviour:
//!
//! - reads go straight into the unfilled part of tokio's `ReadBuf`, which may be uninitialized
//!   memory: a socket or pipe is read with one `read(2)` into it, and the bytes of a `File`'s or
//!   a `DuplexStream`'s buffer are copied into it, never zero-filling it first;
//! - `poll_write_vectored` (and `is_write_vectored() == true`) on sockets and `ChildStdin` is
//!   one `writev(2)`;
//! - `poll_shutdown` is `poll_close`: it shuts down a socket's write direction, closes a
//!   `ChildStdin`, ends a `DuplexStream`'s outgoing direction, and flushes a `File`.
//!
//! The feature brings tokio with its default features off: the traits, not its runtime (for
//! futures that need tokio's reactor, timers or `tokio::spawn`, see feature `tokio-compat`).
//! With both families implemented, import one family's extension traits per module (tether's
//! [`AsyncReadExt`] or `tokio::io::AsyncReadExt`), not both, or the method names clash.
//!
//! ```
//! # #[cfg(feature = "tokio-io")]
//! # mod example {
//! use tether::net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt}; // tokio's, over tether's sockets
//!
//! pub async fn echo_once() -> std::io::Result<()> {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server = tether::spawn(async move {
//!         let (mut conn, _) = listener.accept().await?;
//!         let (mut rd, mut wr) = conn.split();
//!         tokio::io::copy(&mut rd, &mut wr).await
//!     });
//!     let mut client = TcpStream::connect(addr).await?;
//!     client.write_all(b"ping").await?;
//!     client.shutdown().await?;
//!     let mut echoed = Vec::new();
//!     client.read_to_end(&mut echoed).await?;
//!     assert_eq!(echoed, b"ping");
//!     assert_eq!(server.await.unwrap()?, 4);
//!     Ok(())
//! }
//! # }
//! # #[cfg(feature = "tokio-io")]
//! # tether::runtime::Runtime::new().unwrap().block_on(example::echo_once()).unwrap();
//! ```

pub(crate) mod buf;
pub(crate) mod context;
pub(crate) mod driver;
mod interest;
pub(crate) mod owned;
pub(crate) mod poll_evented;
pub(crate) mod scheduled_io;
pub(crate) mod source;
pub(crate) mod stream_mode;
#[cfg(target_os = "linux")]
pub(crate) mod uring;
#[cfg(target_os = "linux")]
pub(crate) mod uring_accept;
#[cfg(target_os = "linux")]
pub(crate) mod uring_op;
#[cfg(target_os = "linux")]
pub(crate) mod uring_stream;
mod util;

pub use buf::{IoBuf, IoBufMut};
pub use context::os_error_of;
pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
pub use futures_lite::io::{AsyncSeekExt, Bytes, Chain, Cursor, Take};
pub use interest::{Interest, Ready};
pub use util::{
    copy, copy_bidirectional, copy_buf, duplex, empty, repeat, sink, split, AsyncBufReadExt,
    AsyncReadExt, AsyncWriteExt, BufReader, BufStream, BufWriter, DuplexStream, Empty, FillBuf,
    Lines, ReadHalf, ReadLine, ReadNum, ReadToString, Repeat, Sink, Split, WriteHalf, WriteNum,
};
