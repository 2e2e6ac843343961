//! [`Interest`] (what a task waits for on a socket) and [`Ready`] (what it found): the vocabulary
//! of `ready(interest)`, `try_io` and `async_io` on tether's sockets, with tokio's names.
//!
//! Both are bit sets over the readiness bits of `scheduled_io` (the same values), so turning the
//! reactor's state into a [`Ready`] is a mask, not a translation.

use std::fmt;
use std::ops;

use crate::io::scheduled_io::{Direction, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

/// The readiness a task waits for: [`READABLE`](Interest::READABLE),
/// [`WRITABLE`](Interest::WRITABLE), [`ERROR`](Interest::ERROR), or a union of them built with
/// `|` or [`add`](Interest::add).
///
/// Passed to `ready`, `try_io` and `async_io` of the socket types (for example
/// [`TcpStream::ready`](crate::net::TcpStream::ready)).
///
/// Unlike tokio, tether has no `Interest::PRIORITY` (Linux's `EPOLLPRI`, out-of-band data):
/// sockets register for reading and writing only.
///
/// # Examples
///
/// ```
/// use tether::io::Interest;
///
/// const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);
/// assert!(BOTH.is_readable() && BOTH.is_writable());
/// assert_eq!(BOTH.remove(Interest::READABLE), Some(Interest::WRITABLE));
/// assert_eq!(Interest::READABLE | Interest::WRITABLE, BOTH);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(usize);

impl Interest {
    /// Interest in reading, end-of-stream included (a read then returns 0).
    pub const READABLE: Interest = Interest(READABLE);

    /// Interest in writing, the peer's closing included (a write then fails).
    pub const WRITABLE: Interest = Interest(WRITABLE);

    /// Interest in error events only (on Linux, `EPOLLERR`: for example a refused connection, or
    /// a message on a socket's error queue). Readable and writable interest already wake on
    /// errors, since the next operation returns the error.
    pub const ERROR: Interest = Interest(ERROR);

    /// Whether the set includes readable interest.
    pub const fn is_readable(self) -> bool {
        self.0 & READABLE != 0
    }

    /// Whether the set includes writable interest.
    pub const fn is_writable(self) -> bool {
        self.0 & WRITABLE != 0
    }

    /// Whether the set includes error interest.
    pub const fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }

    /// The union of two sets; usable in `const` items.
    #[must_use = "this returns the union, without modifying `self`"]
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// `self` without `other`; `None` if nothing is left (an interest is never empty).
    #[must_use = "this returns the difference, without modifying `self`"]
    pub fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        (left != 0).then_some(Interest(left))
    }

    /// The readiness bits that satisfy this interest when waiting on `dir`'s waiters: a
    /// direction's own bits (its closed bit and errors included), plus the error bit alone for
    /// error interest, which waits among the readers. 0 when the interest does not wait there.
    pub(crate) fn mask_for(self, dir: Direction) -> usize {
        match dir {
            Direction::Read => {
                let mut mask = 0;
                if self.is_readable() {
                    mask |= READABLE | READ_CLOSED | ERROR;
                }
                if self.is_error() {
                    mask |= ERROR;
                }
                mask
            }
            Direction::Write if self.is_writable() => WRITABLE | WRITE_CLOSED | ERROR,
            Direction::Write => 0,
        }
    }

    /// Every readiness bit that satisfies this interest, whichever waiters see it.
    pub(crate) fn mask(self) -> usize {
        self.mask_for(Direction::Read) | self.mask_for(Direction::Write)
    }
}

impl ops::BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl ops::BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_flags(
            f,
            self.0,
            &[
                (READABLE, "READABLE"),
                (WRITABLE, "WRITABLE"),
                (ERROR, "ERROR"),
            ],
        )
    }
}

/// The readiness a socket was found in, as returned by `ready(interest)` (for example
/// [`TcpStream::ready`](crate::net::TcpStream::ready)).
///
/// Readiness is a hint, not a promise: the operation that follows may still return
/// `WouldBlock` (another task got there first, or the event was spurious). The socket's `try_*`
/// methods then clear the readiness they acted on, so the next `ready` waits for a new event.
///
/// The result holds the bits of the interest asked for. An error (`is_error`) is reported with
/// readable or writable interest too: the next read or write returns it, so a task waiting to
/// read must be woken by it.
///
/// # Examples
///
/// ```
/// use tether::io::Ready;
///
/// let r = Ready::READABLE | Ready::READ_CLOSED;
/// assert!(r.is_readable() && r.is_read_closed());
/// assert!(!r.is_writable());
/// assert!((r - Ready::READ_CLOSED) == Ready::READABLE);
/// assert!(Ready::EMPTY.is_empty());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ready(usize);

impl Ready {
    /// No readiness.
    pub const EMPTY: Ready = Ready(0);

    /// Reading may make progress.
    pub const READABLE: Ready = Ready(READABLE);

    /// Writing may make progress.
    pub const WRITABLE: Ready = Ready(WRITABLE);

    /// The read direction was closed (the peer shut down its writing): reads return what is
    /// buffered, then 0.
    pub const READ_CLOSED: Ready = Ready(READ_CLOSED);

    /// The write direction was closed (the peer is gone): writes fail.
    pub const WRITE_CLOSED: Ready = Ready(WRITE_CLOSED);

    /// An error is pending on the socket; the next operation returns it.
    pub const ERROR: Ready = Ready(ERROR);

    /// Every kind of readiness.
    pub const ALL: Ready = Ready(READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR);

    /// Readiness from the reactor's bits (the `scheduled_io` constants).
    pub(crate) fn from_bits(bits: usize) -> Ready {
        Ready(bits & Ready::ALL.0)
    }

    /// Whether no readiness is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether reading may make progress (readable, or read-closed).
    pub fn is_readable(self) -> bool {
        self.0 & (READABLE | READ_CLOSED) != 0
    }

    /// Whether writing may make progress (writable, or write-closed).
    pub fn is_writable(self) -> bool {
        self.0 & (WRITABLE | WRITE_CLOSED) != 0
    }

    /// Whether the read direction was closed.
    pub fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// Whether the write direction was closed.
    pub fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }

    /// Whether an error is pending.
    pub fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }
}

impl ops::BitOr for Ready {
    type Output = Ready;

    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl ops::BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        self.0 |= other.0;
    }
}

impl ops::BitAnd for Ready {
    type Output = Ready;

    fn bitand(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }
}

impl ops::Sub for Ready {
    type Output = Ready;

    fn sub(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_flags(
            f,
            self.0,
            &[
                (READABLE, "READABLE"),
                (WRITABLE, "WRITABLE"),
                (READ_CLOSED, "READ_CLOSED"),
                (WRITE_CLOSED, "WRITE_CLOSED"),
                (ERROR, "ERROR"),
            ],
        )
    }
}

/// Writes the names of the flags set in `bits`, joined by ` | ` (`EMPTY` for none).
fn write_flags(f: &mut fmt::Formatter<'_>, bits: usize, names: &[(usize, &str)]) -> fmt::Result {
    let mut first = true;
    for &(bit, name) in names {
        if bits & bit != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    if first {
        f.write_str("EMPTY")?;
    }
    Ok(())
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;

    #[test]
    fn interest_set_operations() {
        let both = Interest::READABLE | Interest::WRITABLE;
        assert!(both.is_readable() && both.is_writable() && !both.is_error());
        assert_eq!(both.remove(Interest::WRITABLE), Some(Interest::READABLE));
        assert_eq!(both.remove(both), None);
        let mut i = Interest::ERROR;
        i |= Interest::READABLE;
        assert_eq!(format!("{i:?}"), "READABLE | ERROR");
    }

    #[test]
    fn interest_masks_follow_the_directions() {
        assert_eq!(Interest::READABLE.mask_for(Direction::Write), 0);
        assert_eq!(
            Interest::READABLE.mask_for(Direction::Read),
            Direction::Read.mask()
        );
        assert_eq!(
            Interest::WRITABLE.mask_for(Direction::Write),
            Direction::Write.mask()
        );
        assert_eq!(Interest::ERROR.mask(), ERROR);
    }

    #[test]
    fn ready_predicates_and_debug() {
        let r = Ready::from_bits(READ_CLOSED | ERROR | (1 << 20));
        assert!(r.is_readable() && r.is_read_closed() && r.is_error());
        assert!(!r.is_writable());
        assert_eq!(format!("{r:?}"), "READ_CLOSED | ERROR");
        assert_eq!(format!("{:?}", Ready::EMPTY), "EMPTY");
        assert_eq!(Ready::ALL - Ready::ALL, Ready::EMPTY);
        assert_eq!(Ready::ALL & Ready::WRITABLE, Ready::WRITABLE);
    }
}
