//! A multi-producer, single-consumer channel: many tasks send values, one task receives them in
//! order.
//!
//! - [`channel`]`(capacity)` is **bounded**: it holds at most `capacity` values, and
//!   [`Sender::send`] waits while it is full. That wait is the channel's *backpressure*: a fast
//!   producer is slowed down to the pace of its consumer instead of filling memory.
//! - [`unbounded_channel`] never makes a sender wait; [`UnboundedSender::send`] is a plain
//!   function. Use it only when something else bounds how much is sent.
//!
//! Senders are cheap to clone. When every sender is dropped, the receiver still gets the values
//! already sent, then `recv` returns `None`. When the receiver is dropped (or
//! [`close`](Receiver::close)d), sends fail and give the value back.
//!
//! A bounded sender can also *reserve* a slot first ([`Sender::reserve`] returns a [`Permit`])
//! and fill it later without waiting: a way to wait for room before producing the value, or to
//! hold room across a `select!`. A reserved slot counts against the capacity until the permit
//! sends or is dropped.
//!
//! The receivers implement [`Stream`](futures_core::Stream) directly (tokio keeps that in the
//! `tokio-stream` crate's `ReceiverStream` and `UnboundedReceiverStream` wrappers: a port drops
//! the wrapper). Synchronous code on other threads uses [`Sender::blocking_send`] and
//! [`Receiver::blocking_recv`].
//!
//! Own code (`super::chan`, whose module docs state the protocol): a queue under a mutex with a
//! first-in-first-out list of waiting senders. The cooperative budget: `recv`, `recv_many`, each
//! item of the `Stream`, a bounded `send` and `reserve` spend one unit when they complete;
//! `try_*`, the unbounded `send` and a permit's `send` spend nothing.
//!
//! Differences from tokio: no `WeakSender`, `reserve_many`, `send_timeout` or
//! `sender_strong_count`.

use std::task::{Context, Poll};

use super::chan;
use crate::task::coop;

mod bounded;
pub mod error;
mod unbounded;

pub use bounded::{channel, OwnedPermit, Permit, Receiver, Sender};
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use error::TryRecvError;

/// What both receivers do: the channel core's receiver plus the cooperative budget.
struct RecvHalf<T> {
    rx: chan::ChanReceiver<T>,
}

impl<T> RecvHalf<T> {
    fn new(rx: chan::ChanReceiver<T>) -> RecvHalf<T> {
        RecvHalf { rx }
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let out = std::task::ready!(self.rx.poll_recv(cx));
        coop.made_progress();
        Poll::Ready(out)
    }

    fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let coop = std::task::ready!(coop::poll_proceed(cx));
        let out = std::task::ready!(self.rx.poll_recv_many(cx, buf, limit));
        coop.made_progress();
        Poll::Ready(out)
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.rx.try_recv().map_err(|e| match e {
            chan::TryRecvErr::Empty => TryRecvError::Empty,
            chan::TryRecvErr::Closed => TryRecvError::Disconnected,
        })
    }
}
