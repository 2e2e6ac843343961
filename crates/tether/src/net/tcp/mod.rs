//! TCP: [`TcpListener`], [`TcpStream`], [`TcpSocket`] (options before connecting or
//! listening), and the halves of a split stream.

mod listener;
mod socket;
mod stream;

pub use listener::TcpListener;
pub use socket::TcpSocket;
pub use stream::TcpStream;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};

/// The halves of a split [`TcpStream`].
pub(crate) mod split {
    use super::TcpStream;
    split_halves!(
        TcpStream,
        "`TcpStream`",
        std::net::SocketAddr,
        r#"use tether::net::{TcpListener, TcpStream};

#[tether::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let a = TcpStream::connect(listener.local_addr()?).await?;
    let (b, _) = listener.accept().await?;"#
    );

    impl ReadHalf<'_> {
        /// Reads data without removing it from the socket's receive queue; the stream's
        /// [`peek`](TcpStream::peek): waits until data (or end-of-stream, `Ok(0)`) is there,
        /// and the next read returns the same bytes.
        ///
        /// # Errors
        ///
        /// The OS's error, or an error once the runtime has shut down.
        pub async fn peek(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.peek(buf).await
        }
    }

    impl OwnedReadHalf {
        /// Reads data without removing it from the socket's receive queue; the stream's
        /// [`peek`](TcpStream::peek).
        ///
        /// # Errors
        ///
        /// The OS's error, or an error once the runtime has shut down.
        ///
        /// # Examples
        ///
        /// ```
        /// use tether::io::{AsyncReadExt, AsyncWriteExt};
        /// use tether::net::{TcpListener, TcpStream};
        ///
        /// #[tether::main]
        /// async fn main() -> std::io::Result<()> {
        ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
        ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
        ///     let (server, _) = listener.accept().await?;
        ///     let (mut rd, _wr) = server.into_split();
        ///     client.write_all(b"PING").await?;
        ///     let mut head = [0u8; 4];
        ///     let n = rd.peek(&mut head).await?;
        ///     assert_eq!(&head[..n], &b"PING"[..n]);
        ///     rd.read_exact(&mut head).await?; // the peeked bytes are still there
        ///     assert_eq!(&head, b"PING");
        ///     Ok(())
        /// }
        /// ```
        pub async fn peek(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.inner.peek(buf).await
        }
    }
}
