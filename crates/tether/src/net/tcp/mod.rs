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
    split_halves!(TcpStream, "`TcpStream`");
}
