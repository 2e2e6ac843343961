//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`], the halves of a
//! split stream, and `UCred`, the credentials of a stream's peer (on Linux, Android, the Apple
//! systems and the BSDs).

/// Items that exist on the systems whose peer credentials tether reads (`ucred.rs`): `UCred`
/// and `UnixStream::peer_cred`.
macro_rules! cfg_peer_cred {
    ($($item:item)*) => {$(
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos",
            target_os = "visionos",
            target_os = "freebsd",
            target_os = "dragonfly",
            target_os = "netbsd",
            target_os = "openbsd"
        ))]
        $item
    )*};
}

mod datagram;
mod listener;
mod stream;
cfg_peer_cred! {
    mod ucred;
}

pub use datagram::UnixDatagram;
cfg_peer_cred! {
    pub use ucred::UCred;
}

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
    split_halves!(
        UnixStream,
        "`UnixStream`",
        std::os::unix::net::SocketAddr,
        r#"use tether::net::UnixStream;

#[tether::main]
async fn main() -> std::io::Result<()> {
    let (a, b) = UnixStream::pair()?;"#
    );
}
