//! A process-wide event that any number of listeners wait for, each seeing every occurrence
//! (coalesced between two of its polls). Windows' console handler uses it for Ctrl-C; it is
//! portable, and its tests run everywhere.
//!
//! Unlike a Unix signal handler, the code that reports the event (the console control handler,
//! which Windows runs on a thread of its own) may lock and wake directly: no socket, reactor or
//! driver stands between it and the listeners.
//!
//! # Protocol
//!
//! 1. The reporter ([`EventBroadcast::notify`]) bumps `generation`, then takes the `listeners`
//!    lock and wakes every waker stored there.
//! 2. A listener remembers the `generation` it has reported. It reads `generation` under the
//!    `listeners` lock and, if unchanged, stores its waker there before releasing it: the
//!    reporter bumps before taking the lock, so the listener either sees the bump or its waker
//!    is taken (the same rule as the Unix registry's rule 4).
//! 3. A listener starts from the `generation` current when it was created: occurrences before
//!    that are not reported to it.

use std::future::Future;
use std::pin::Pin;
// std's primitives, not the loom shim's: the broadcast lives in a process-wide static, which
// outlives any loom model.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::lock;

/// An event that listeners wait for (see the module protocol).
pub(super) struct EventBroadcast {
    /// How many times the event occurred (rules 1, 2).
    generation: AtomicU64,
    /// The waker of each waiting listener, by listener key. Holding the lock means the reporter
    /// cannot take the wakers (rule 2).
    listeners: Mutex<Slab<Option<Waker>>>,
}

impl EventBroadcast {
    /// An event that has not occurred, with no listeners.
    pub(super) const fn new() -> EventBroadcast {
        EventBroadcast {
            generation: AtomicU64::new(0),
            listeners: Mutex::new(Slab::new()),
        }
    }

    /// Reports one occurrence to every listener (rule 1).
    pub(super) fn notify(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let wakers: Vec<Waker> = lock(&self.listeners)
            .iter_mut()
            .filter_map(|(_, w)| w.take())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A listener that reports the occurrences from now on (rule 3).
    pub(super) fn listen(&'static self) -> EventListener {
        let mut listeners = lock(&self.listeners);
        let key = listeners.insert(None);
        EventListener {
            event: self,
            key,
            seen: self.generation.load(Ordering::SeqCst),
        }
    }
}

/// One listener of an [`EventBroadcast`]: a future that completes at the next occurrence, and
/// can be polled again (after completing) for the one after.
pub(super) struct EventListener {
    event: &'static EventBroadcast,
    /// This listener's entry in `listeners`.
    key: usize,
    /// The `generation` this listener has reported (rule 2).
    seen: u64,
}

impl EventListener {
    /// Ready once the event occurred since the last `Ready` (or since `listen`), rule 2.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut listeners = lock(&self.event.listeners);
        let generation = self.event.generation.load(Ordering::SeqCst);
        if generation != self.seen {
            self.seen = generation;
            return Poll::Ready(());
        }
        let waiting = &mut listeners[self.key];
        match waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Future for EventListener {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_next(cx)
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        lock(&self.event.listeners).remove(self.key);
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    /// Rules 1-3: occurrences before `listen` are not reported; one after wakes every waiting
    /// listener, and each reports it once.
    #[test]
    fn every_listener_sees_each_occurrence_after_it_started() {
        static EVENT: EventBroadcast = EventBroadcast::new();
        EVENT.notify();
        let (count, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut first = EVENT.listen();
        let mut second = EVENT.listen();
        assert!(
            first.poll_next(&mut cx).is_pending(),
            "an earlier occurrence leaked"
        );
        assert!(second.poll_next(&mut cx).is_pending());
        EVENT.notify();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "both waiting listeners are woken"
        );
        assert!(first.poll_next(&mut cx).is_ready());
        assert!(second.poll_next(&mut cx).is_ready());
        assert!(first.poll_next(&mut cx).is_pending(), "reported once");
    }

    /// Occurrences between two polls coalesce into one report.
    #[test]
    fn occurrences_between_polls_coalesce() {
        static EVENT: EventBroadcast = EventBroadcast::new();
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut listener = EVENT.listen();
        EVENT.notify();
        EVENT.notify();
        assert!(listener.poll_next(&mut cx).is_ready());
        assert!(listener.poll_next(&mut cx).is_pending());
    }

    /// A reporter on another thread (as Windows runs the console handler) wakes a listener
    /// blocked in `block_on`; rule 2 guarantees no lost wake-up whatever the interleaving.
    #[test]
    fn a_report_from_another_thread_wakes_the_listener() {
        static EVENT: EventBroadcast = EventBroadcast::new();
        // Under Miri, whose scheduler varies the interleaving, 10 rounds (9 s for 100 there).
        for _ in 0..if cfg!(miri) { 10 } else { 100 } {
            let listener = EVENT.listen();
            let reporter = std::thread::spawn(|| EVENT.notify());
            futures_lite::future::block_on(listener);
            reporter.join().unwrap();
        }
    }

    /// A dropped listener leaves no waker behind.
    #[test]
    fn a_dropped_listener_is_forgotten() {
        static EVENT: EventBroadcast = EventBroadcast::new();
        let (count, waker) = counting_waker();
        let mut listener = EVENT.listen();
        assert!(listener
            .poll_next(&mut Context::from_waker(&waker))
            .is_pending());
        drop(listener);
        EVENT.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert!(lock(&EVENT.listeners).is_empty());
    }
}
