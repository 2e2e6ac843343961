//! Publish/subscribe: channels, the subscribers of each, and each subscriber's bounded outbox.
//!
//! # Protocol
//!
//! 1. **A publisher never waits for a subscriber.** `PUBLISH` encodes the message frame once
//!    per subscriber straight into that subscriber's `Outbox` (under the outbox's lock) and
//!    returns; the subscriber's connection task writes it out when it can.
//! 2. **An outbox is bounded.** When a frame would take it past its limit (Redis's
//!    `client-output-buffer-limit pubsub`), the outbox is marked *overflowed*: its bytes are
//!    freed at once, it accepts nothing more, and its connection is told to close. A subscriber
//!    that does not read therefore costs at most the limit, and is disconnected.
//! 3. **Wake-ups**: a publisher notifies the subscriber's `Notify` when it puts the first bytes
//!    into an empty outbox, and when it marks the outbox overflowed. The connection takes the
//!    whole outbox ([`Subscriber::take`]) before every wait, so a notification consumed while it
//!    was busy loses nothing: `Notify` stores one permit, and the outbox is looked at again
//!    before the next wait.
//! 4. **Registry**: `PubSub::channels` maps a channel to its subscribers; a connection's
//!    [`Subscriptions`] removes it from every channel when dropped, however the connection ends
//!    (closed, protocol error, cut off by the server's shutdown).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tether::sync::Notify;

use super::resp::{put_array_header, put_bulk, put_int};
use super::Gauge;

/// An outbox whose buffer grew past this is given back to the allocator once emptied.
const SHRINK_ABOVE: usize = 64 * 1024;

/// What [`Subscriber::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// The pending frames were appended to the caller's buffer (possibly none).
    Frames,
    /// The outbox overflowed (rule 2): close the connection.
    Overflowed,
}

/// A subscriber's pending frames (rule 2). Holding the lock means owning both fields.
#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    overflowed: bool,
}

/// One subscribed connection, as publishers see it.
#[derive(Debug)]
pub struct Subscriber {
    id: u64,
    outbox: Mutex<Outbox>,
    notify: Notify,
    limit: usize,
    gauge: Arc<Gauge>,
}

impl Subscriber {
    /// Waits until a publisher put frames in the outbox or marked it overflowed (rule 3);
    /// completes at once if it did so since the last wait.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Appends the pending frames to `out` and empties the outbox, or reports the overflow.
    pub fn take(&self, out: &mut Vec<u8>) -> Taken {
        let mut outbox = self.lock();
        if outbox.overflowed {
            return Taken::Overflowed;
        }
        out.extend_from_slice(&outbox.bytes);
        outbox.bytes.clear();
        if outbox.bytes.capacity() > SHRINK_ABOVE {
            let freed = std::mem::take(&mut outbox.bytes);
            self.gauge.resized(freed.capacity(), 0);
        }
        Taken::Frames
    }

    /// Whether the outbox overflowed.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// Queues a `message` frame; `false` if the outbox overflowed (now or before).
    fn push(&self, channel: &[u8], message: &[u8]) -> bool {
        let frame_len = 7 + 13 + 2 * 24 + channel.len() + message.len();
        let mut outbox = self.lock();
        if outbox.overflowed {
            return false;
        }
        if outbox.bytes.len() + frame_len > self.limit {
            outbox.overflowed = true;
            let freed = std::mem::take(&mut outbox.bytes);
            drop(outbox);
            self.gauge.resized(freed.capacity(), 0);
            self.notify.notify_one();
            return false;
        }
        let was_empty = outbox.bytes.is_empty();
        let before = outbox.bytes.capacity();
        put_array_header(&mut outbox.bytes, 3);
        put_bulk(&mut outbox.bytes, b"message");
        put_bulk(&mut outbox.bytes, channel);
        put_bulk(&mut outbox.bytes, message);
        let after = outbox.bytes.capacity();
        drop(outbox);
        self.gauge.resized(before, after);
        if was_empty {
            self.notify.notify_one();
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let cap = self.lock().bytes.capacity();
        self.gauge.resized(cap, 0);
    }
}

/// Each channel's subscribers (rule 4).
type Channels = HashMap<Box<[u8]>, Vec<Arc<Subscriber>>>;

/// The channels and their subscribers (rule 4).
#[derive(Debug)]
pub struct PubSub {
    channels: Mutex<Channels>,
    next_id: AtomicU64,
    /// The outbox limit of each subscriber, in bytes.
    limit: usize,
    gauge: Arc<Gauge>,
    /// Subscribers disconnected because their outbox overflowed.
    overflowed: AtomicU64,
}

impl PubSub {
    /// No channels; each subscriber's outbox holds at most `limit` bytes.
    pub fn new(limit: usize, gauge: Arc<Gauge>) -> PubSub {
        PubSub {
            channels: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            limit,
            gauge,
            overflowed: AtomicU64::new(0),
        }
    }

    /// Sends `message` to every subscriber of `channel`; how many received it (subscribers
    /// whose outbox overflowed do not count).
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let channels = self.lock();
        let Some(subs) = channels.get(channel) else {
            return 0;
        };
        let mut received = 0;
        for s in subs {
            if s.push(channel, message) {
                received += 1;
            }
        }
        received
    }

    /// Counts a subscriber disconnected for overflowing.
    pub fn count_overflow(&self) {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
    }

    /// Subscribers disconnected so far because their outbox overflowed.
    pub fn overflow_disconnects(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// How many channels have at least one subscriber.
    pub fn channel_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Channels> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's subscriptions; unsubscribes from everything when dropped (rule 4).
#[derive(Debug)]
pub struct Subscriptions {
    pubsub: Arc<PubSub>,
    /// Created on the first `SUBSCRIBE`.
    me: Option<Arc<Subscriber>>,
    /// The channels, in byte order (the order of an `UNSUBSCRIBE` of everything).
    channels: BTreeSet<Box<[u8]>>,
}

impl Subscriptions {
    /// No subscription yet.
    pub fn new(pubsub: Arc<PubSub>) -> Subscriptions {
        Subscriptions {
            pubsub,
            me: None,
            channels: BTreeSet::new(),
        }
    }

    /// The connection as a subscriber, once it subscribed to something.
    pub fn subscriber(&self) -> Option<&Arc<Subscriber>> {
        if self.channels.is_empty() {
            None
        } else {
            self.me.as_ref()
        }
    }

    /// How many channels the connection is subscribed to; subscriber mode when not zero.
    pub fn count(&self) -> usize {
        self.channels.len()
    }

    /// Subscribes to `channel` (nothing if already subscribed); replies as Redis does.
    pub fn subscribe(&mut self, channel: &[u8], out: &mut Vec<u8>) {
        if !self.channels.contains(channel) {
            let me = self
                .me
                .get_or_insert_with(|| {
                    Arc::new(Subscriber {
                        id: self.pubsub.next_id.fetch_add(1, Ordering::Relaxed),
                        outbox: Mutex::new(Outbox::default()),
                        notify: Notify::new(),
                        limit: self.pubsub.limit,
                        gauge: self.pubsub.gauge.clone(),
                    })
                })
                .clone();
            self.pubsub
                .lock()
                .entry(channel.into())
                .or_default()
                .push(me);
            self.channels.insert(channel.into());
        }
        put_array_header(out, 3);
        put_bulk(out, b"subscribe");
        put_bulk(out, channel);
        put_int(out, self.channels.len() as i64);
    }

    /// Unsubscribes from `channel`; replies as Redis does (also when not subscribed).
    pub fn unsubscribe(&mut self, channel: &[u8], out: &mut Vec<u8>) {
        if self.channels.remove(channel) {
            self.leave(channel);
        }
        put_array_header(out, 3);
        put_bulk(out, b"unsubscribe");
        put_bulk(out, channel);
        put_int(out, self.channels.len() as i64);
    }

    /// Unsubscribes from every channel, one reply each; one reply with a nil channel when
    /// there were none.
    pub fn unsubscribe_all(&mut self, out: &mut Vec<u8>) {
        if self.channels.is_empty() {
            put_array_header(out, 3);
            put_bulk(out, b"unsubscribe");
            out.extend_from_slice(super::resp::NULL);
            put_int(out, 0);
            return;
        }
        while let Some(channel) = self.channels.pop_first() {
            self.leave(&channel);
            put_array_header(out, 3);
            put_bulk(out, b"unsubscribe");
            put_bulk(out, &channel);
            put_int(out, self.channels.len() as i64);
        }
    }

    /// Takes this connection out of `channel`'s subscribers.
    fn leave(&self, channel: &[u8]) {
        let Some(me) = &self.me else {
            return;
        };
        let mut channels = self.pubsub.lock();
        if let Some(subs) = channels.get_mut(channel) {
            subs.retain(|s| s.id != me.id);
            if subs.is_empty() {
                channels.remove(channel);
            }
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        while let Some(channel) = self.channels.pop_first() {
            self.leave(&channel);
        }
    }
}
