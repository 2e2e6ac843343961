//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`], and the halves of a
//! split stream.

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};

/// The halves of a split [`UnixStream`].
pub(crate) mod split {
    use super::UnixStream;
    split_halves!(UnixStream, "`UnixStream`");
}
