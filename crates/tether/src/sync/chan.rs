//! The channel core behind `mpsc`: a queue under a mutex, the receiver's waker, a
//! first-in-first-out list of senders waiting for room, and the count of slots reserved by
//! permits.
//!
//! # Protocol (all under `state`'s lock)
//!
//! 1. **Room** is `queue.len() + reserved + assigned < cap`: a value is pushed, or a slot
//!    reserved, only while there is room and the receiver is open. A sender that has not
//!    waited (a `try_send`, a `try_reserve`, a new `send` or `reserve`) takes room only when no
//!    sender waits for it (`send_waiters` holds only senders already handed a slot): senders
//!    under backpressure are served first come, first served, and a stream of newcomers
//!    cannot starve one that waits.
//! 2. A sender (a `send` or a `reserve`) that finds no room registers at the back of
//!    `send_waiters` with its waker and a unique id, and keeps its place until it takes a slot
//!    or goes away. Whatever frees a slot (the receiver taking a value, a permit given back
//!    unused, a sender handed one going away) hands it to the first waiting sender that has
//!    none: the slot counts in `assigned` and that sender is woken. The senders handed a slot
//!    are the front of the list (the first `assigned` entries). A sender handed a slot takes it
//!    at its next poll (its entry goes, `assigned` goes down by one, the value or the
//!    reservation takes the slot).
//! 3. A sender future dropped while waiting leaves the list; if it had been handed a slot, the
//!    slot goes to the next waiting sender (rule 2), so freed room is never left unclaimed.
//! 4. The receiver stores its waker when the queue is empty; every push takes and wakes it, and
//!    so does dropping the last sender.
//! 5. Closing (`close`, or dropping the receiver) wakes every waiting sender and every `closed()`
//!    waiter (and empties both lists: `assigned` is 0 again); sends and reservations fail from
//!    then on, values already queued can still be received. A `closed()` future registers
//!    under an id and leaves the list when dropped, so futures that lost a race against
//!    `closed()` do not pile up in a long-lived channel.
//! 6. Wakers are always woken after the lock is released: waking runs scheduler code that may
//!    drop a task whose destructor uses this channel.
//! 7. The receiver of an unbounded channel takes the whole queue at once into its own `batch`
//!    and receives from there without locking until it is empty, so a fast producer and the
//!    receiver meet at the lock once per batch instead of once per value. (An unbounded channel
//!    has no permits and no waiting senders.)
//! 8. **Permits.** A reservation counts its slot in `reserved`, against `cap` like a queued value
//!    (rule 1). The permit's `send` moves the slot from `reserved` to `queue` without a room
//!    check (the slot is its own) and wakes the receiver (rule 4); this works after `close` too,
//!    as in tokio. A permit dropped unused gives the slot back (`reserved -= 1`), which is handed
//!    to the first waiting sender (rule 2).
//! 9. **The end with permits out.** The receiver reports the end (`None`, `Disconnected`, 0 from
//!    `recv_many`) only when the queue is empty, the channel is closed or senderless, *and*
//!    `reserved` is 0: a permit taken before a `close` may still send. So a permit given back
//!    (sent or dropped) after a close wakes the receiver. Every permit holds a sender, so the
//!    last sender's drop leaves `reserved` at 0. Once the receiver is dropped (`rx_dropped`), a
//!    permit's value is dropped at once, outside the lock, instead of being queued for nobody.
//! 10. `recv_many` takes up to `limit` values under one lock and hands a slot to as many
//!     waiting senders as it freed slots (rule 2 once per slot).
//!
//! Loom models (`loom_tests`) check rules 2/8 (a permit given back wakes the waiting sender)
//! and 9 (a closed receiver waits for the permit out) over every interleaving.
//!
//! Why not `async-channel`: its event-listener machinery dominated a ping-pong profile (about
//! 70% of the time); one short critical section per operation is several times cheaper when, as
//! usual for an mpsc channel, contention is low.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex, MutexGuard};

/// The channel's queue and waiters, under `Chan::state`'s lock (every rule).
struct ChanState<T> {
    queue: VecDeque<T>,
    /// Slots reserved by permits that have neither sent nor been dropped (rules 1, 8, 9).
    reserved: usize,
    /// The receiver's waker while it waits for a value (rule 4).
    rx_waker: Option<Waker>,
    /// Senders waiting for room, oldest first; the first `assigned` were handed a slot and
    /// their wakers taken to wake them (rule 2).
    send_waiters: VecDeque<(u64, Option<Waker>)>,
    /// Slots handed to waiting senders that have not taken them yet (rules 1, 2).
    assigned: usize,
    next_waiter_id: u64,
    /// `closed()` futures waiting for the receiver to go, with their ids (rule 5).
    closed_waiters: Vec<(u64, Waker)>,
    senders: usize,
    /// Set by `close` or by dropping the receiver, never cleared (rule 5).
    rx_closed: bool,
    /// The receiver was dropped: nothing will ever be received (rule 9).
    rx_dropped: bool,
}

impl<T> ChanState<T> {
    /// Rule 1: a free slot, not counting the slots handed to waiting senders.
    fn has_room(&self, cap: usize) -> bool {
        self.queue.len() + self.reserved + self.assigned < cap
    }

    /// Rule 1: room for a sender that has not waited: a free slot and nobody waiting for one.
    fn has_room_for_newcomer(&self, cap: usize) -> bool {
        self.send_waiters.len() == self.assigned && self.has_room(cap)
    }

    /// Rule 2: hands a free slot to the first waiting sender that has none; returns its waker,
    /// to wake once the lock is released (rule 6).
    fn hand_out(&mut self, cap: usize) -> Option<Waker> {
        if self.assigned == self.send_waiters.len() || !self.has_room(cap) {
            return None;
        }
        let i = self.assigned;
        self.assigned += 1;
        self.send_waiters[i].1.take()
    }

    /// Rule 9: no value is queued and none can come any more.
    fn ended(&self) -> bool {
        self.queue.is_empty() && (self.senders == 0 || self.rx_closed) && self.reserved == 0
    }
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
            reserved: 0,
            rx_waker: None,
            send_waiters: VecDeque::new(),
            assigned: 0,
            next_waiter_id: 0,
            closed_waiters: Vec::new(),
            senders: 1,
            rx_closed: false,
            rx_dropped: false,
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

/// Why `try_send` or `try_reserve` did not succeed; carries the value (or `()`).
pub(crate) enum TrySendErr<T> {
    Full(T),
    Closed(T),
}

/// Why `try_recv` did not receive.
pub(crate) enum TryRecvErr {
    Empty,
    Closed,
}

/// The channel was closed while a sender waited for room (rule 5).
pub(crate) struct Closed;

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

    /// Reserves a slot, waiting for room (rules 1-3, 8); the caller then owns one unit of
    /// `reserved` and must end it with [`send_reserved`](Self::send_reserved) or
    /// [`release_reserved`](Self::release_reserved).
    pub(crate) fn reserve(&self) -> ReserveFut<'_, T> {
        ReserveFut {
            chan: &self.chan,
            waiter: None,
        }
    }

    /// Sends if there is room now.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendErr<T>> {
        let mut st = lock(&self.chan.state);
        if st.rx_closed {
            return Err(TrySendErr::Closed(value));
        }
        if !st.has_room_for_newcomer(self.chan.cap) {
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

    /// Reserves a slot if there is room now (rules 1, 8); see [`reserve`](Self::reserve).
    pub(crate) fn try_reserve(&self) -> Result<(), TrySendErr<()>> {
        let mut st = lock(&self.chan.state);
        if st.rx_closed {
            return Err(TrySendErr::Closed(()));
        }
        if !st.has_room_for_newcomer(self.chan.cap) {
            return Err(TrySendErr::Full(()));
        }
        st.reserved += 1;
        Ok(())
    }

    /// Sends `value` in a slot reserved earlier (rule 8), or drops it if the receiver is gone
    /// (rule 9).
    pub(crate) fn send_reserved(&self, value: T) {
        let mut st = lock(&self.chan.state);
        st.reserved -= 1;
        if st.rx_dropped {
            drop(st);
            drop(value);
            return;
        }
        st.queue.push_back(value);
        let rx = st.rx_waker.take();
        drop(st);
        if let Some(w) = rx {
            w.wake();
        }
    }

    /// Gives a slot reserved earlier back unused (rule 8), waking the first waiting sender, and
    /// the receiver if the channel is closed (rule 9).
    pub(crate) fn release_reserved(&self) {
        let mut st = lock(&self.chan.state);
        st.reserved -= 1;
        let sender = st.hand_out(self.chan.cap);
        let rx = if st.rx_closed {
            st.rx_waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(w) = sender {
            w.wake();
        }
        if let Some(w) = rx {
            w.wake();
        }
    }

    /// Completes once the receiver is closed or dropped (rule 5).
    pub(crate) fn closed(&self) -> ClosedFut<'_, T> {
        ClosedFut {
            chan: &self.chan,
            id: None,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.chan.state).rx_closed
    }

    /// Whether both handles belong to one channel.
    pub(crate) fn same_channel(&self, other: &ChanSender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.chan.state).queue.len()
    }

    /// The slots free right now: the bound minus queued values and reserved slots (rule 1).
    pub(crate) fn free_slots(&self) -> usize {
        free_slots(&self.chan)
    }

    /// The bound, or `None` when unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }
}

fn free_slots<T>(chan: &Chan<T>) -> usize {
    let st = lock(&chan.state);
    chan.cap
        .saturating_sub(st.queue.len() + st.reserved + st.assigned)
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

/// Waits for room (rules 1-3) for one `send` or `reserve`: returns the locked state with the
/// slot it takes free in it and `waiter` deregistered, or [`Closed`].
fn poll_room<'a, T>(
    chan: &'a Chan<T>,
    waiter: &mut Option<u64>,
    cx: &mut Context<'_>,
) -> Poll<Result<MutexGuard<'a, ChanState<T>>, Closed>> {
    let mut st = lock(&chan.state);
    if st.rx_closed {
        // Rule 5: `close` emptied the list.
        *waiter = None;
        return Poll::Ready(Err(Closed));
    }
    let listed = waiter.and_then(|id| st.send_waiters.iter().position(|(w, _)| *w == id));
    match listed {
        // Handed a slot (rule 2): take it.
        Some(pos) if pos < st.assigned => {
            st.send_waiters.remove(pos);
            st.assigned -= 1;
            *waiter = None;
            Poll::Ready(Ok(st))
        }
        // Still waiting: keep the place, with this poll's waker.
        Some(pos) => {
            let slot = &mut st.send_waiters[pos].1;
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
            Poll::Pending
        }
        None if st.has_room_for_newcomer(chan.cap) => {
            *waiter = None;
            Poll::Ready(Ok(st))
        }
        None => {
            let id = st.next_waiter_id;
            st.next_waiter_id += 1;
            st.send_waiters.push_back((id, Some(cx.waker().clone())));
            *waiter = Some(id);
            Poll::Pending
        }
    }
}

/// A waiting sender goes away (rule 3): leaves the list, passing on the slot it was handed.
fn cancel_wait<T>(chan: &Chan<T>, id: u64) {
    let next = {
        let mut st = lock(&chan.state);
        match st.send_waiters.iter().position(|(w, _)| *w == id) {
            Some(pos) => {
                st.send_waiters.remove(pos);
                if pos < st.assigned {
                    st.assigned -= 1;
                    st.hand_out(chan.cap)
                } else {
                    None
                }
            }
            // Not listed: the channel was closed, which emptied the list.
            None => None,
        }
    };
    if let Some(w) = next {
        w.wake();
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
        assert!(
            this.value.is_some(),
            "tether: a send future was polled after it completed"
        );
        let room = std::task::ready!(poll_room(this.chan, &mut this.waiter, cx));
        let value = this.value.take().expect("checked above");
        let Ok(mut st) = room else {
            return Poll::Ready(Err(value));
        };
        st.queue.push_back(value);
        let rx = st.rx_waker.take();
        drop(st);
        if let Some(w) = rx {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for SendFut<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            cancel_wait(self.chan, id);
        }
    }
}

/// The future of [`ChanSender::reserve`].
pub(crate) struct ReserveFut<'a, T> {
    chan: &'a Chan<T>,
    /// Our id in `send_waiters`, once registered (rule 2).
    waiter: Option<u64>,
}

impl<T> Future for ReserveFut<'_, T> {
    /// `Err`: the receiver is gone.
    type Output = Result<(), Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = &mut *self;
        let mut st = std::task::ready!(poll_room(this.chan, &mut this.waiter, cx))?;
        st.reserved += 1;
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for ReserveFut<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            cancel_wait(self.chan, id);
        }
    }
}

/// The future of [`ChanSender::closed`].
pub(crate) struct ClosedFut<'a, T> {
    chan: &'a Chan<T>,
    /// Our id in `closed_waiters`, once registered (rule 5).
    id: Option<u64>,
}

impl<T> Future for ClosedFut<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = lock(&this.chan.state);
        if st.rx_closed {
            this.id = None;
            return Poll::Ready(());
        }
        let listed = this
            .id
            .and_then(|id| st.closed_waiters.iter_mut().find(|(w, _)| *w == id));
        match listed {
            Some((_, w)) => {
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
            }
            None => {
                let id = st.next_waiter_id;
                st.next_waiter_id += 1;
                st.closed_waiters.push((id, cx.waker().clone()));
                this.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for ClosedFut<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let waker = {
                let mut st = lock(&self.chan.state);
                let pos = st.closed_waiters.iter().position(|(w, _)| *w == id);
                pos.map(|pos| st.closed_waiters.swap_remove(pos))
            };
            // Dropped outside the lock (rule 6).
            drop(waker);
        }
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
    /// The next value; `None` once the channel has ended (rules 2, 4, 9).
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
    /// when there is none and the channel has not ended, stores `waker` under the same lock
    /// (rules 4, 9).
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
            let sender = st.hand_out(self.chan.cap);
            drop(st);
            if let Some(w) = sender {
                w.wake();
            }
            return Ok(v);
        }
        if st.ended() {
            return Err(TryRecvErr::Closed);
        }
        if let Some(waker) = waker {
            store_waker(&mut st.rx_waker, waker);
        }
        Err(TryRecvErr::Empty)
    }

    /// Moves up to `limit` values into `buf` (rule 10); `Ready(0)` once the channel has ended
    /// or when `limit` is 0.
    pub(crate) fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        let from_batch = self.batch.len().min(limit);
        buf.extend(self.batch.drain(..from_batch));
        if from_batch == limit {
            return Poll::Ready(limit);
        }
        let mut st = lock(&self.chan.state);
        let from_queue = st.queue.len().min(limit - from_batch);
        buf.extend(st.queue.drain(..from_queue));
        let taken = from_batch + from_queue;
        if taken > 0 {
            // Rule 10: one waiting sender per freed slot (none for an unbounded channel).
            let wakers: Vec<Waker> = (0..from_queue)
                .map_while(|_| st.hand_out(self.chan.cap))
                .collect();
            drop(st);
            wakers.into_iter().for_each(Waker::wake);
            return Poll::Ready(taken);
        }
        if st.ended() {
            return Poll::Ready(0);
        }
        store_waker(&mut st.rx_waker, cx.waker());
        Poll::Pending
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

    /// The slots free right now; see [`ChanSender::free_slots`].
    pub(crate) fn free_slots(&self) -> usize {
        free_slots(&self.chan)
    }

    /// The bound, or `None` when unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }
}

/// Stores the receiver's waker unless an equivalent one is stored (rule 4).
fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Marks the channel closed; returns the wakers to wake after the lock is released (rule 6).
fn close<T>(chan: &Chan<T>) -> Vec<Waker> {
    let mut st = lock(&chan.state);
    st.rx_closed = true;
    st.assigned = 0;
    let mut wakers: Vec<Waker> = st.send_waiters.drain(..).filter_map(|(_, w)| w).collect();
    wakers.extend(st.closed_waiters.drain(..).map(|(_, w)| w));
    wakers
}

impl<T> Drop for ChanReceiver<T> {
    fn drop(&mut self) {
        let wakers = close(&self.chan);
        // Queued values are dropped outside the lock: their destructors may use the channel.
        let queued = {
            let mut st = lock(&self.chan.state);
            st.rx_dropped = true;
            std::mem::take(&mut st.queue)
        };
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

    #[test]
    fn a_reserved_slot_counts_and_a_dropped_permit_wakes_the_waiting_sender() {
        let (tx, _rx) = bounded::<u32>(1);
        let (c1, w1) = counter();
        let mut reserve = tx.reserve();
        assert!(matches!(
            Pin::new(&mut reserve).poll(&mut Context::from_waker(&w1)),
            Poll::Ready(Ok(()))
        ));
        drop(reserve);
        assert_eq!(tx.free_slots(), 0, "rule 1: the reserved slot counts");
        assert!(matches!(tx.try_send(1), Err(TrySendErr::Full(1))));
        let mut send = tx.send(2);
        assert!(Pin::new(&mut send)
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
        tx.release_reserved(); // rule 8: the permit is dropped unused
        assert_eq!(
            c1.0.load(Ordering::SeqCst),
            1,
            "the waiting sender was woken"
        );
        assert!(matches!(
            Pin::new(&mut send).poll(&mut Context::from_waker(&w1)),
            Poll::Ready(Ok(()))
        ));
    }

    #[test]
    fn a_closed_channel_ends_only_once_its_permits_are_spent() {
        let (tx, mut rx) = bounded::<u32>(2);
        assert!(tx.try_reserve().is_ok());
        assert!(tx.try_reserve().is_ok());
        rx.close();
        assert!(matches!(tx.try_reserve(), Err(TrySendErr::Closed(()))));
        let (c, w) = counter();
        let mut cx = Context::from_waker(&w);
        assert_eq!(
            rx.poll_recv(&mut cx),
            Poll::Pending,
            "rule 9: permits are out"
        );
        tx.send_reserved(7);
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(
            rx.poll_recv(&mut cx),
            Poll::Pending,
            "one permit is still out"
        );
        tx.release_reserved();
        assert_eq!(
            c.0.load(Ordering::SeqCst),
            2,
            "rule 9: the receiver is woken"
        );
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// Wakes the loom thread that waits in [`block_on`] (a std `Arc`: `Wake` requires it).
    struct Unpark(thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls `fut` on this loom thread, parking between polls: a lost wake-up leaves the
    /// thread parked, which loom reports as a deadlock.
    fn block_on<F: Future>(fut: F) -> F::Output {
        let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    /// Rules 2 and 8: a permit given back unused while a sender waits for room wakes that
    /// sender, whichever of the two gets the lock first (a lost wake-up leaves `block_on`
    /// parked, which loom reports as a deadlock).
    #[test]
    fn loom_a_dropped_permit_wakes_the_waiting_sender() {
        loom::model(|| {
            let (tx, mut rx) = bounded::<u32>(1);
            assert!(tx.try_reserve().is_ok());
            let holder = tx.clone();
            let releaser = thread::spawn(move || holder.release_reserved());
            assert!(block_on(tx.send(5)).is_ok());
            releaser.join().unwrap();
            assert!(matches!(rx.try_recv(), Ok(5)));
        });
    }

    /// Rules 1 and 2: a slot the receiver frees while a sender waits is handed to it, and a
    /// newcomer's `try_send` racing them neither takes a handed slot nor strands the waiter:
    /// the waiting sender completes (a lost hand-out leaves `block_on` parked, which loom
    /// reports as a deadlock) and every value is received once. (Which of the two gets in
    /// first depends on whether the newcomer came before the sender waited; the tests in
    /// `tests/sync_mpsc.rs` pin the order down.)
    #[test]
    fn loom_a_freed_slot_goes_to_the_waiting_sender_not_a_newcomer() {
        loom::model(|| {
            let (tx, mut rx) = bounded::<u32>(1);
            assert!(tx.try_send(0).is_ok());
            let newcomer = tx.clone();
            let receiver = thread::spawn(move || {
                let first = block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
                let second = block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
                (first, second, rx)
            });
            let late = thread::spawn(move || newcomer.try_send(2).is_ok());
            assert!(block_on(tx.send(1)).is_ok());
            let newcomer_in = late.join().unwrap();
            let (first, second, mut rx) = receiver.join().unwrap();
            assert_eq!(first, Some(0));
            if newcomer_in {
                assert!(second == Some(2) || second == Some(1));
                let third = rx.try_recv().ok();
                assert!(matches!(
                    (second, third),
                    (Some(2), Some(1)) | (Some(1), Some(2))
                ));
            } else {
                assert_eq!(second, Some(1));
            }
        });
    }

    /// Rule 9: after `close`, a receiver with a permit out waits for it; the permit's value
    /// (or its return unused) ends the wait, whatever the interleaving.
    #[test]
    fn loom_a_closed_receiver_waits_for_the_permit_out() {
        for send in [true, false] {
            loom::model(move || {
                let (tx, mut rx) = bounded::<u32>(1);
                assert!(tx.try_reserve().is_ok());
                let permit = thread::spawn(move || {
                    if send {
                        tx.send_reserved(7);
                    } else {
                        tx.release_reserved();
                    }
                });
                rx.close();
                let first = block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
                assert_eq!(first, send.then_some(7));
                permit.join().unwrap();
                assert!(matches!(rx.try_recv(), Err(TryRecvErr::Closed)));
            });
        }
    }
}
