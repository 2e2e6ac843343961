//! Asynchronous I/O: the reactor and the traits streams implement.
//!
//! tether's streams implement the `futures-io` traits [`AsyncRead`], [`AsyncWrite`] (and files
//! later [`AsyncSeek`]), the ecosystem's common vocabulary, so codecs and utilities written for
//! them work unchanged. The convenience methods (`read`, `read_exact`, `write_all`, `flush`,
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

pub(crate) mod driver;
pub(crate) mod poll_evented;
pub(crate) mod scheduled_io;

pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
pub use futures_lite::io::{
    copy, empty, repeat, sink, split, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt,
    BufReader, BufWriter, Cursor, ReadHalf, WriteHalf,
};
