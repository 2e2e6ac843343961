//! Read buffers lent to connections only while they have bytes in hand.
//!
//! A server that gives every connection its own read buffer pays for it on every idle
//! connection: 10,000 quiet clients hold 10,000 buffers. The echo server instead waits with
//! `readable()`, which holds nothing (on io_uring the kernel keeps the bytes in the ring's
//! provided buffers until then), takes a [`Lease`] from this pool, `try_read`s into it, writes
//! the echo, and gives the buffer back: the buffers in use are the connections that are busy
//! right now, not the connections that are open.
//!
//! Each thread keeps its own short list of free buffers ([`KEEP`] at most): taking and giving
//! back touch no lock and no shared cache line. A lease given back on another thread than it
//! was taken on (a task that moved between workers) joins that thread's list; beyond [`KEEP`],
//! buffers go back to the allocator.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// The size of every buffer.
pub const BUF_SIZE: usize = 16 * 1024;
/// Free buffers a thread keeps for the next lease.
pub const KEEP: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of [`BUF_SIZE`] bytes, back in the pool when dropped.
///
/// ```
/// let mut buf = tether_demo::buf_pool::take();
/// buf[..5].copy_from_slice(b"hello");
/// assert_eq!(buf.len(), tether_demo::buf_pool::BUF_SIZE);
/// drop(buf); // the next take() on this thread reuses it
/// ```
pub struct Lease(Option<Box<[u8]>>);

/// Takes a buffer from this thread's free list, or allocates one. Its contents are whatever
/// the last holder left: read into it before looking.
pub fn take() -> Lease {
    let reused = FREE.try_with(|f| f.borrow_mut().pop()).ok().flatten();
    Lease(Some(
        reused.unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice()),
    ))
}

impl Deref for Lease {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or(&mut [])
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(buf) = self.0.take() {
            // A thread being torn down has no list any more: the buffer is simply freed.
            let _ = FREE.try_with(|f| {
                let mut f = f.borrow_mut();
                if f.len() < KEEP {
                    f.push(buf);
                }
            });
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_back_buffer_is_lent_again_and_the_list_is_bounded() {
        let a = take();
        let addr = a.as_ptr();
        drop(a);
        let b = take();
        assert_eq!(
            b.as_ptr(),
            addr,
            "the buffer given back is the next one lent"
        );
        drop(b);
        let many: Vec<Lease> = (0..KEEP + 10).map(|_| take()).collect();
        drop(many);
        let kept = FREE.with(|f| f.borrow().len());
        assert_eq!(kept, KEEP, "beyond KEEP, buffers go back to the allocator");
    }
}
