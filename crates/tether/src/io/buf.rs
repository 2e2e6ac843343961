//! Owned buffers: [`IoBuf`] and [`IoBufMut`], the buffers a read or write takes by value and
//! gives back with its result (`TcpStream::read_owned`, `File::read_at_owned`, ...).
//!
//! On the io_uring driver the kernel reads or writes such a buffer after the call that started
//! the operation has returned, perhaps after its future was dropped: so the operation owns the
//! buffer (the driver keeps it until the kernel is done, `uring_op.rs`), and the buffer's bytes
//! must not move while it is owned. That is what the traits promise; they are `unsafe` to
//! implement for that reason. The names and meanings are those of tokio-uring and monoio.

/// A buffer whose bytes stay at one address while the value moves (a heap allocation, or
/// static memory), and that can be sent to the thread that completes the operation.
///
/// A write takes the buffer's first [`bytes_init`](IoBuf::bytes_init) bytes.
///
/// # Safety
///
/// [`stable_ptr`](IoBuf::stable_ptr) must point at [`bytes_total`](IoBuf::bytes_total) bytes
/// that stay valid, at the same address, while the value lives, even when the value is moved,
/// and that nothing else writes while an operation owns the value; the first
/// [`bytes_init`](IoBuf::bytes_init) of them are initialized.
///
/// # Examples
///
/// ```
/// use tether::io::IoBuf;
///
/// let v = b"hello".to_vec();
/// assert_eq!(v.bytes_init(), 5);
/// let s: &'static [u8] = b"static bytes";
/// assert_eq!(s.bytes_total(), 12);
/// ```
pub unsafe trait IoBuf: Unpin + Send + 'static {
    /// The address of the first byte.
    fn stable_ptr(&self) -> *const u8;

    /// How many bytes, from the first, are initialized (what a write sends).
    fn bytes_init(&self) -> usize;

    /// How many bytes the buffer holds, initialized or not (what a read may fill).
    fn bytes_total(&self) -> usize;
}

/// A buffer an owned read fills, from its first byte, up to
/// [`bytes_total`](IoBuf::bytes_total) bytes.
///
/// After a read of `n` bytes, [`set_init`](IoBufMut::set_init)`(n)` is called: a `Vec<u8>`'s
/// length becomes at least `n` (it is never shortened), so `&buf[..n]` holds what was read.
///
/// # Safety
///
/// [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) is [`stable_ptr`](IoBuf::stable_ptr), writable
/// for [`bytes_total`](IoBuf::bytes_total) bytes, with the same stability promise.
///
/// # Examples
///
/// ```
/// use tether::io::AsyncWriteExt;
/// use tether::net::{TcpListener, TcpStream};
///
/// #[tether::main]
/// async fn main() -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///
///     // The buffer goes in by value and comes back with the result.
///     let (n, buf) = server.read_owned(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..n?], b"ping");
///     Ok(())
/// }
/// ```
pub unsafe trait IoBufMut: IoBuf {
    /// The address of the first byte, writable.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Marks the first `pos` bytes initialized (after a read filled them).
    ///
    /// # Safety
    ///
    /// The first `pos` bytes (at most [`bytes_total`](IoBuf::bytes_total)) were written.
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a `Vec`'s bytes live in its heap allocation, which does not move with the `Vec`;
// its first `len` bytes are initialized, `capacity` are allocated.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `IoBuf`: the allocation is writable up to its capacity.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller wrote the first `pos` bytes, within the capacity.
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice's bytes live in its heap allocation; all of them are initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `IoBuf`; every byte is already initialized.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }

    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: static memory never moves nor is freed, and a shared slice is never written.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for `&'static [u8]`.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len()
    }

    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// The buffer's initialized bytes (what a write sends).
pub(crate) fn init_bytes<B: IoBuf>(buf: &B) -> &[u8] {
    // SAFETY: `IoBuf`'s contract: `bytes_init` bytes at `stable_ptr` are initialized and live
    // as long as `buf`.
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), buf.bytes_init()) }
}

/// The whole buffer as a slice to read into, its uninitialized tail zeroed first (for the
/// readiness path and the blocking pool, which read through `&mut [u8]`).
pub(crate) fn whole_zeroed<B: IoBufMut>(buf: &mut B) -> &mut [u8] {
    let (init, total) = (buf.bytes_init(), buf.bytes_total());
    let ptr = buf.stable_mut_ptr();
    if total > init {
        // SAFETY: `IoBufMut`'s contract: `total` bytes at `ptr` are writable; this writes the
        // `total - init` past the initialized ones.
        unsafe { ptr.add(init).write_bytes(0, total - init) };
    }
    // SAFETY: every one of the `total` bytes is initialized now, and borrowed with `buf`.
    unsafe { std::slice::from_raw_parts_mut(ptr, total) }
}

/// Marks `n` bytes read into `buf` (at most its total).
pub(crate) fn filled<B: IoBufMut>(buf: &mut B, n: usize) {
    debug_assert!(n <= buf.bytes_total());
    // SAFETY: the read that returned `n` wrote the first `n` bytes, within `bytes_total`.
    unsafe { buf.set_init(n.min(buf.bytes_total())) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vec_is_filled_from_its_start_and_never_shortened() {
        let mut v = Vec::with_capacity(8);
        whole_zeroed(&mut v)[..3].copy_from_slice(b"abc");
        filled(&mut v, 3);
        assert_eq!(v, b"abc");
        let mut v = vec![7u8; 6];
        whole_zeroed(&mut v)[..2].copy_from_slice(b"xy");
        filled(&mut v, 2);
        assert_eq!(v, b"xy\x07\x07\x07\x07", "a longer Vec keeps its length");
        let mut b: Box<[u8]> = vec![0u8; 4].into_boxed_slice();
        assert_eq!(whole_zeroed(&mut b).len(), 4);
        filled(&mut b, 4);
        assert_eq!(init_bytes(&b"hi".as_slice()), b"hi");
    }
}
