//! Asynchronous I/O: the reactor and the traits streams implement.
//!
//! tether's streams implement the `futures-io` traits [`AsyncRead`], [`AsyncWrite`] (and
//! [`fs::File`](crate::fs::File) also [`AsyncSeek`]), the ecosystem's common vocabulary, so codecs
//! and utilities written for them work unchanged. The convenience methods (`read`, `read_exact`, `write_all`, `flush`,
//! `close`, `copy`, `BufReader`, `lines`, ...) come from extension traits; tether re-exports those
//! of `futures-lite`, so one import is enough:
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
//! The extension traits of `futures-util` (`futures::io::AsyncReadExt`, ...) work just as well;
//! import one family or the other, not both, or the method names clash.
//!
//! # What to use for what
//!
//! tether does not rewrite what `futures-lite` already does well; those items are re-exported
//! here. It adds only what a runtime's users expect and `futures-lite` lacks.
//!
//! | To ... | use | from |
//! |---|---|---|
//! | read exactly `n` bytes | [`AsyncReadExt::read_exact`] | `futures-lite` |
//! | read everything until EOF | [`AsyncReadExt::read_to_end`], [`read_to_string`][rts] | `futures-lite` |
//! | write a whole buffer | [`AsyncWriteExt::write_all`], then [`flush`][flush] | `futures-lite` |
//! | end a stream's writing direction | [`AsyncWriteExt::close`] | `futures-lite` |
//! | copy one stream into another until EOF | [`copy`] | `futures-lite` |
//! | batch small reads or writes | [`BufReader`], [`BufWriter`] | `futures-lite` |
//! | read lines | [`AsyncBufReadExt::lines`] or [`read_line`][rl] on a [`BufReader`] | `futures-lite` |
//! | use one socket from two tasks | its `split`/`into_split` ([`net`](crate::net)) | tether |
//! | use any stream from two tasks | [`split`] | `futures-lite` |
//! | proxy two streams both ways, closing each side in turn | [`copy_bidirectional`] | tether |
//! | a connected in-memory stream pair, for tests | [`duplex`] | tether |
//!
//! [rts]: AsyncReadExt::read_to_string
//! [flush]: AsyncWriteExt::flush
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

pub(crate) mod driver;
mod interest;
pub(crate) mod poll_evented;
pub(crate) mod scheduled_io;
mod util;

pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
pub use futures_lite::io::{
    copy, empty, repeat, sink, split, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt,
    BufReader, BufWriter, Cursor, ReadHalf, WriteHalf,
};
pub use interest::{Interest, Ready};
pub use util::{copy_bidirectional, duplex, DuplexStream};
