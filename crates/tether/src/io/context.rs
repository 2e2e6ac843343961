//! OS errors that carry what tether was doing when they happened (`bind`, `connect`, `spawn`):
//! the message names the address or program, the kind is the OS error's, and the OS error itself
//! is the [`source`](std::error::Error::source), so its code stays within reach
//! ([`os_error_of`]).

use std::io;

/// An OS error with a message saying what was attempted: `Display` shows the message, and
/// [`source`](std::error::Error::source) gives the OS error itself, whose `raw_os_error()` the
/// wrapper does not have (see [`os_error_of`]).
#[derive(Debug)]
pub(crate) struct Contextual {
    message: String,
    os: io::Error,
}

impl std::fmt::Display for Contextual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Contextual {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.os)
    }
}

/// `e` with `message` (which should include `e`'s own text), keeping its kind, and `e` as the
/// source.
pub(crate) fn contextual(e: io::Error, message: String) -> io::Error {
    io::Error::new(e.kind(), Contextual { message, os: e })
}

/// The OS error code of `e`, or of the OS error inside a message tether added to it (`bind`,
/// `connect` and `spawn` errors name what they tried; their `raw_os_error()` is `None`).
///
/// # Examples
///
/// ```
/// #[tether::main]
/// async fn main() {
///     let taken = tether::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let e = tether::net::TcpListener::bind(taken.local_addr().unwrap()).await.unwrap_err();
///     assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
///     assert!(e.to_string().contains("127.0.0.1"), "{e}");
///     # #[cfg(unix)]
///     assert_eq!(tether::io::os_error_of(&e), Some(libc::EADDRINUSE));
/// }
/// ```
pub fn os_error_of(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Contextual>())
            .and_then(|c| c.os.raw_os_error())
    })
}
