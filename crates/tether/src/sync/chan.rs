//! The channel core behind `mpsc`: a queue under a mutex, the receiver's waker, and a
//! first-in-first-out list of senders waiting for room.
//!
//! # Protocol (all under `state`'s lock)
//!
//! 1. A value is pushed only while `queue.len() < cap` and the receiver is open.
//! 2. A sender that finds no room registers in `send_waiters` with its waker and a unique id, and
//!    keeps its place when polled again. When the receiver takes a value it removes the first
//!    waiter and wakes it; that sender then pushes if there is room, or goes back to the front.
//! 3. A sender future dropped after it was woken (its id is no longer listed) passes the wake-up
//!    on to the next waiter, so freed room is never left unclaimed.
//! 4. The receiver stores its waker when the queue is empty; every push takes and wakes it, and
//!    so does dropping the last sender.
//! 5. Closing (`close`, or dropping the receiver) wakes every waiting sender and every `closed()`
//!    waiter; sends fail from then on, values already queued can still be received.
//! 6. Wakers are always woken after the lock is released: waking runs scheduler code that may
//!    drop a task whose destructor uses this channel.
//! 7. The receiver of an unbounded channel takes the whole queue at once into its own `batch`
//!    and receives from there without locking until it is empty, so a fast producer and the
//!    receiver meet at the lock once per batch instead of once per value.
//!
//! Why not `async-channel`: its event-listener machinery dominated a ping-pong profile (about
//! 70% of the time); one short critical section per operation is several times cheaper when, as
//! usual for an mpsc channel, contention is low.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};

/// The channel's queue and waiters, under `Chan::state`'s lock (every rule).
struct ChanState<T> {
    queue: VecDeque<T>,
    /// The receiver's waker while it waits for a value (rule 4).
    rx_waker: Option<Waker>,
    /// Senders waiting for room, oldest first (rule 2).
    send_waiters: VecDeque<(u64, Waker)>,
    next_waiter_id: u64,
    /// `closed()` futures waiting for the receiver to go (rule 5).
    closed_waiters: Vec<Waker>,
    senders: usize,
    rx_closed: bool,
}

/// The channel core that the senders and the receiver share.
struct Chan<T> {
    /// Holding the lock means owning the queue and every waiter list.
    state: Mutex<ChanState<T>>,
    /// `usize::MAX` for an unbounded channel.
    cap: usize,
}

fn new<T>(cap: usize) -> (ChanSender<T>, ChanReceiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(ChanState {
            queue: VecDeque::with_capacity(cap.min(64)),
            rx_waker: None,
            send_waiters: VecDeque::new(),
            next_waiter_id: 0,
            closed_waiters: Vec::new(),
            senders: 1,
            rx_closed: false,
        }),
        cap,
    });
    (
        ChanSender { chan: chan.clone() },
        ChanReceiver {
            chan,
            batch: VecDeque::new(),
        },
    )
}

/// A channel holding at most `cap` values.
pub(crate) fn bounded<T>(cap: usize) -> (ChanSender<T>, ChanReceiver<T>) {
    new(cap)
}

/// A channel whose queue grows as needed.
pub(crate) fn unbounded<T>() -> (ChanSender<T>, ChanReceiver<T>) {
    new(usize::MAX)
}

/// Why `try_send` did not send.
pub(crate) enum TrySendErr<T> {
    Full(T),
    Closed(T),
}

/// Why `try_recv` did not receive.
pub(crate) enum TryRecvErr {
    Empty,
    Closed,
}

/// A sending handle.
pub(crate) struct ChanSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> ChanSender<T> {
    /// Sends, waiting for room (rules 1-3).
    pub(crate) fn send(&self, value: T) -> SendFut<'_, T> {
        SendFut {
            chan: &self.chan,
            value: Some(value),
            waiter: None,
        }
    }

    /// Sends if there is room now.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendErr<T>> {
        let mut st = lock(&self.chan.state);
        if st.rx_closed {
            return Err(TrySendErr::Closed(value));
        }
        if st.queue.len() >= self.chan.cap {
            return Err(TrySendErr::Full(value));
        }
        st.queue.push_back(value);
        let rx = st.rx_waker.take();
        drop(st);
        if let Some(w) = rx {
            w.wake();
        }
        Ok(())
    }

    /// Completes once the receiver is closed or dropped (rule 5).
    pub(crate) fn closed(&self) -> ClosedFut<'_, T> {
        ClosedFut { chan: &self.chan }
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.chan.state).rx_closed
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.chan.state).queue.len()
    }

    /// The bound, or `None` when unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }
}

impl<T> Clone for ChanSender<T> {
    fn clone(&self) -> ChanSender<T> {
        lock(&self.chan.state).senders += 1;
        ChanSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for ChanSender<T> {
    fn drop(&mut self) {
        let rx = {
            let mut st = lock(&self.chan.state);
            st.senders -= 1;
            if st.senders == 0 {
                st.rx_waker.take()
            } else {
                None
            }
        };
        if let Some(w) = rx {
            w.wake();
        }
    }
}

/// The future of [`ChanSender::send`].
pub(crate) struct SendFut<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    /// Our id in `send_waiters`, once registered (rule 2).
    waiter: Option<u64>,
}

impl<T> Unpin for SendFut<'_, T> {}

impl<T> Future for SendFut<'_, T> {
    /// `Err` gives the value back: the receiver is gone.
    type Output = Result<(), T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), T>> {
        let this = &mut *self;
        let mut st = lock(&this.chan.state);
        let value = this
            .value
            .take()
            .expect("tether: a send future was polled after it completed");
        if st.rx_closed {
            this.waiter = None;
            return Poll::Ready(Err(value));
        }
        let listed = this
            .waiter
            .and_then(|id| st.send_waiters.iter().position(|(w, _)| *w == id));
        if st.queue.len() < this.chan.cap {
            if let Some(pos) = listed {
                st.send_waiters.remove(pos);
            }
            this.waiter = None;
            st.queue.push_back(value);
            let rx = st.rx_waker.take();
            drop(st);
            if let Some(w) = rx {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        this.value = Some(value);
        match listed {
            Some(pos) => {
                if !st.send_waiters[pos].1.will_wake(cx.waker()) {
                    st.send_waiters[pos].1 = cx.waker().clone();
                }
            }
            None => {
                // New, or woken but beaten to the room: wait at the front if we were woken.
                let id = st.next_waiter_id;
                st.next_waiter_id += 1;
                if this.waiter.is_some() {
                    st.send_waiters.push_front((id, cx.waker().clone()));
                } else {
                    st.send_waiters.push_back((id, cx.waker().clone()));
                }
                this.waiter = Some(id);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for SendFut<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter else {
            return;
        };
        let next = {
            let mut st = lock(&self.chan.state);
            match st.send_waiters.iter().position(|(w, _)| *w == id) {
                Some(pos) => {
                    st.send_waiters.remove(pos);
                    None
                }
                // Rule 3: we were woken for room we will not use; pass it on.
                None if st.queue.len() < self.chan.cap => {
                    st.send_waiters.pop_front().map(|(_, w)| w)
                }
                None => None,
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// The future of [`ChanSender::closed`].
pub(crate) struct ClosedFut<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Future for ClosedFut<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.chan.state);
        if st.rx_closed {
            return Poll::Ready(());
        }
        if !st.closed_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.closed_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The receiving handle.
pub(crate) struct ChanReceiver<T> {
    chan: Arc<Chan<T>>,
    /// Unbounded channels only (rule 7): values taken from the queue in one go, received from
    /// here without the lock. Always empty for a bounded channel, whose bound counts `queue`.
    batch: VecDeque<T>,
}

impl<T> ChanReceiver<T> {
    /// The next value; `None` once empty with no sender left or after `close` (rules 2, 4).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.recv(Some(cx.waker())) {
            Ok(v) => Poll::Ready(Some(v)),
            Err(TryRecvErr::Closed) => Poll::Ready(None),
            Err(TryRecvErr::Empty) => Poll::Pending,
        }
    }

    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvErr> {
        self.recv(None)
    }

    /// Takes the next value (from the batch, or the queue, waking the first waiting sender);
    /// when there is none and the channel is open, stores `waker` under the same lock (rule 4).
    fn recv(&mut self, waker: Option<&Waker>) -> Result<T, TryRecvErr> {
        if let Some(v) = self.batch.pop_front() {
            return Ok(v);
        }
        let mut st = lock(&self.chan.state);
        if self.chan.cap == usize::MAX && st.queue.len() > 1 {
            // Rule 7: an unbounded channel has no waiting senders to wake.
            std::mem::swap(&mut self.batch, &mut st.queue);
            drop(st);
            return self.batch.pop_front().ok_or(TryRecvErr::Empty);
        }
        if let Some(v) = st.queue.pop_front() {
            let sender = st.send_waiters.pop_front();
            drop(st);
            if let Some((_, w)) = sender {
                w.wake();
            }
            return Ok(v);
        }
        if st.senders == 0 || st.rx_closed {
            return Err(TryRecvErr::Closed);
        }
        if let Some(waker) = waker {
            match &st.rx_waker {
                Some(w) if w.will_wake(waker) => {}
                _ => st.rx_waker = Some(waker.clone()),
            }
        }
        Err(TryRecvErr::Empty)
    }

    /// Refuses further sends; queued values stay receivable (rule 5).
    pub(crate) fn close(&mut self) {
        let wakers = close(&self.chan);
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn is_closed(&self) -> bool {
        let st = lock(&self.chan.state);
        st.rx_closed || st.senders == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.batch.len() + lock(&self.chan.state).queue.len()
    }

    /// The bound, or `None` when unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }
}

/// Marks the channel closed; returns the wakers to wake after the lock is released (rule 6).
fn close<T>(chan: &Chan<T>) -> Vec<Waker> {
    let mut st = lock(&chan.state);
    st.rx_closed = true;
    let mut wakers: Vec<Waker> = st.send_waiters.drain(..).map(|(_, w)| w).collect();
    wakers.append(&mut st.closed_waiters);
    wakers
}

impl<T> Drop for ChanReceiver<T> {
    fn drop(&mut self) {
        let wakers = close(&self.chan);
        // Queued values are dropped outside the lock: their destructors may use the channel.
        let queued = std::mem::take(&mut lock(&self.chan.state).queue);
        drop(queued);
        self.batch.clear();
        wakers.into_iter().for_each(Waker::wake);
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (std::sync::Arc<Count>, Waker) {
        let c = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let w = Waker::from(c.clone());
        (c, w)
    }

    #[test]
    fn full_sender_waits_and_is_woken_in_order() {
        let (tx, mut rx) = bounded::<u32>(1);
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        assert!(tx.try_send(0).is_ok());
        let mut a = tx.send(1);
        let mut b = tx.send(2);
        assert!(Pin::new(&mut a)
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
        assert!(Pin::new(&mut b)
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        let noop = Waker::noop();
        assert_eq!(
            rx.poll_recv(&mut Context::from_waker(noop)),
            Poll::Ready(Some(0))
        );
        assert_eq!(
            (c1.0.load(Ordering::SeqCst), c2.0.load(Ordering::SeqCst)),
            (1, 0)
        );
        assert!(Pin::new(&mut a)
            .poll(&mut Context::from_waker(&w1))
            .is_ready());
    }

    #[test]
    fn dropped_woken_sender_passes_the_room_on() {
        let (tx, mut rx) = bounded::<u32>(1);
        let (_c1, w1) = counter();
        let (c2, w2) = counter();
        assert!(tx.try_send(0).is_ok());
        let mut a = tx.send(1);
        let mut b = tx.send(2);
        assert!(Pin::new(&mut a)
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
        assert!(Pin::new(&mut b)
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        let noop = Waker::noop();
        let _ = rx.poll_recv(&mut Context::from_waker(noop));
        drop(a); // woken, but gone
        assert_eq!(
            c2.0.load(Ordering::SeqCst),
            1,
            "the next sender got the room"
        );
    }

    #[test]
    fn last_sender_dropped_ends_the_receiver() {
        let (tx, mut rx) = unbounded::<u32>();
        let tx2 = tx.clone();
        let noop = Waker::noop();
        tx.try_send(1).ok().unwrap();
        drop(tx);
        drop(tx2);
        let mut cx = Context::from_waker(noop);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }
}
