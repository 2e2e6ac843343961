//! `IoSource`: what a resource must offer to register with either reactor.
//!
//! The epoll driver registers a resource through its `mio::event::Source` impl. The io_uring
//! driver polls the resource's descriptor with `IORING_OP_POLL_ADD` instead, so it needs the
//! descriptor itself, which `Source` does not give: [`IoSource::uring_fd`] does. A resource
//! without a descriptor (a simulated socket of `tether::sim`, whose readiness the simulation
//! sets) answers `None` and gets a registration with no poll behind it, as its no-op `Source`
//! impl gets under epoll.

use mio::event::Source;

/// A resource the reactor can register (see the module docs).
pub(crate) trait IoSource: Source {
    /// The descriptor the io_uring driver polls, or `None` if there is none to poll.
    #[cfg(target_os = "linux")]
    fn uring_fd(&self) -> Option<std::os::fd::RawFd>;
}

/// Implements `IoSource` for types whose descriptor is their `AsRawFd`.
macro_rules! by_raw_fd {
    ($($(#[$m:meta])* $t:ty),* $(,)?) => {$(
        $(#[$m])*
        impl IoSource for $t {
            #[cfg(target_os = "linux")]
            fn uring_fd(&self) -> Option<std::os::fd::RawFd> {
                Some(std::os::fd::AsRawFd::as_raw_fd(self))
            }
        }
    )*};
}

by_raw_fd!(
    mio::net::TcpStream,
    mio::net::TcpListener,
    mio::net::UdpSocket,
    #[cfg(unix)]
    mio::net::UnixStream,
    #[cfg(unix)]
    mio::net::UnixListener,
    #[cfg(unix)]
    mio::net::UnixDatagram,
    #[cfg(unix)]
    mio::unix::pipe::Sender,
    #[cfg(unix)]
    mio::unix::pipe::Receiver,
);
