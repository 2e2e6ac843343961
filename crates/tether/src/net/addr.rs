//! Address resolution: `ToSocketAddrs` and `lookup_host`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Types that name one or more socket addresses: `SocketAddr`, `(IpAddr, u16)`, `"host:port"`
/// strings, `(&str, u16)`, slices of `SocketAddr`...
///
/// Addresses written as IP literals are used as they are. Host names are resolved with the
/// system resolver on the runtime's blocking pool, never on the event loop.
///
/// This trait is sealed: it cannot be implemented outside tether.
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::*;

    /// What an address turns into: addresses ready to use, or a host name to resolve.
    pub enum Resolved {
        Ready(Vec<SocketAddr>),
        Lookup(String),
    }

    /// The conversion behind [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Sealed {
        #[doc(hidden)]
        fn resolve_now(&self) -> Resolved;
    }
}

use sealed::{Resolved, Sealed};

macro_rules! ready_addr {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl ToSocketAddrs for $t {}
        impl Sealed for $t {
            fn resolve_now(&self) -> Resolved {
                let $v = self;
                Resolved::Ready(vec![$e])
            }
        }
    )*};
}

ready_addr! {
    SocketAddr => |a| *a,
    SocketAddrV4 => |a| SocketAddr::V4(*a),
    SocketAddrV6 => |a| SocketAddr::V6(*a),
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1),
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1),
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1),
    ([u8; 4], u16) => |a| SocketAddr::new(IpAddr::from(a.0), a.1),
}

impl ToSocketAddrs for str {}
impl Sealed for str {
    fn resolve_now(&self) -> Resolved {
        match self.parse::<SocketAddr>() {
            Ok(a) => Resolved::Ready(vec![a]),
            Err(_) => Resolved::Lookup(self.to_string()),
        }
    }
}

impl ToSocketAddrs for String {}
impl Sealed for String {
    fn resolve_now(&self) -> Resolved {
        self.as_str().resolve_now()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn resolve_now(&self) -> Resolved {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Resolved::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Resolved::Lookup(format!("{}:{}", self.0, self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn resolve_now(&self) -> Resolved {
        (self.0.as_str(), self.1).resolve_now()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl Sealed for [SocketAddr] {
    fn resolve_now(&self) -> Resolved {
        Resolved::Ready(self.to_vec())
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {}
impl Sealed for Vec<SocketAddr> {
    fn resolve_now(&self) -> Resolved {
        Resolved::Ready(self.clone())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: Sealed + ?Sized> Sealed for &T {
    fn resolve_now(&self) -> Resolved {
        (**self).resolve_now()
    }
}

/// Resolves `addr` to socket addresses, off the event loop when a lookup is needed.
pub(crate) async fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.resolve_now() {
        Resolved::Ready(v) => v,
        Resolved::Lookup(host) => lookup(host).await?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no socket address to use: the address list given was empty",
        ));
    }
    Ok(addrs)
}

async fn lookup(host: String) -> io::Result<Vec<SocketAddr>> {
    // Inside a simulation, names are the simulation's hosts.
    #[cfg(feature = "sim")]
    if let Some(world) = crate::sim::socket::current_world() {
        let (name, port) = host.rsplit_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("could not resolve {host:?}: expected \"host:port\""),
            )
        })?;
        let port = port.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("could not resolve {host:?}: {port:?} is not a port number"),
            )
        })?;
        return crate::sim::socket::resolve(&world, name, port);
    }
    let job = crate::task::spawn_blocking(move || {
        use std::net::ToSocketAddrs as _;
        match host.to_socket_addrs() {
            Ok(it) => Ok(it.collect::<Vec<_>>()),
            // A well-formed "name:port" whose name is unknown needs no lesson in the format.
            Err(e) if has_port(&host) => Err(io::Error::new(
                e.kind(),
                format!("could not resolve {host:?}: {e}"),
            )),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "could not resolve {host:?}: {e}; expected \"host:port\" or \"ip:port\", for \
                     example \"localhost:8080\" or \"127.0.0.1:8080\""
                ),
            )),
        }
    });
    job.await.map_err(io::Error::from)?
}

/// Whether `host` ends in a port number (`name:port`, `[v6]:port`).
fn has_port(host: &str) -> bool {
    host.rsplit_once(':')
        .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok())
}

/// Resolves a host name to socket addresses with the system resolver, on the blocking pool.
///
/// `host` is anything that names addresses ([`ToSocketAddrs`]), typically `"name:port"`.
///
/// # Errors
///
/// Fails when the name cannot be resolved or has no port; the message names the input.
///
/// # Panics
///
/// Panics when called outside a tether runtime.
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     for addr in tether::net::lookup_host("localhost:80").await? {
///         assert_eq!(addr.port(), 80);
///     }
///     Ok(())
/// }
/// ```
pub async fn lookup_host<A: ToSocketAddrs>(
    host: A,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(resolve(host).await?.into_iter())
}

/// Tries `op` on each address in turn; returns the first success or the last error.
pub(crate) async fn each_addr<T, F, Fut>(addrs: Vec<SocketAddr>, mut op: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match op(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address given")))
}

/// Adds what was attempted to an OS error, keeping its kind, with a hint for common causes.
pub(crate) fn with_context(e: io::Error, action: &str, addr: &dyn std::fmt::Display) -> io::Error {
    let hint = match e.kind() {
        io::ErrorKind::ConnectionRefused => " (nothing is listening at that address)",
        io::ErrorKind::AddrInUse => " (another socket is already bound to that address)",
        io::ErrorKind::AddrNotAvailable => " (that address does not belong to this machine)",
        io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        _ => "",
    };
    let message = format!("{action} {addr}: {e}{hint}");
    crate::io::context::contextual(e, message)
}

#[cfg(test)]
mod tests {
    /// A resolver error gets the format hint only when the input does not end in a port: an
    /// unknown name in a well-formed "name:port" (which tests cannot ask the system resolver
    /// about without leaving loopback) needs no lesson in the format.
    #[test]
    fn the_format_hint_is_for_inputs_without_a_port() {
        assert!(super::has_port("no-such-host.invalid:80"));
        assert!(super::has_port("[::1]:8080"));
        assert!(!super::has_port("localhost"));
        assert!(!super::has_port("localhost:http"));
        assert!(!super::has_port(":80"));
        assert!(!super::has_port("host:99999"));
    }
}
