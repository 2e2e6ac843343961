//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`], and the halves of a
//! split stream.

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;

/// The address of the socket `path` names. On Linux and Android a path whose first byte is NUL
/// names an abstract socket (the bytes after it), as in tokio; otherwise it is a pathname.
fn socket_addr(path: &std::path::Path) -> std::io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        if let Some((0, name)) = path.as_os_str().as_bytes().split_first() {
            return std::os::unix::net::SocketAddr::from_abstract_name(name);
        }
    }
    std::os::unix::net::SocketAddr::from_pathname(path)
}
pub use listener::UnixListener;
pub use stream::UnixStream;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};

/// The halves of a split [`UnixStream`].
pub(crate) mod split {
    use super::UnixStream;
    split_halves!(UnixStream, "`UnixStream`");
}
