//! `/api/stream`: the viewers of the Server-Sent Events stream, and the sampler that feeds
//! them.
//!
//! # Rules
//!
//! 1. **Sampling only while watched.** The sampler builds a snapshot every [`PERIOD`] (or
//!    longer when snapshots are slow to build: `observer.rs`'s `PERIOD_FACTOR`) while at
//!    least one viewer is connected, and turns the workers' probes on for that time
//!    (`probe.rs` rule 1). With no viewer it waits for one without a timer: an unwatched
//!    console costs the runtime nothing.
//! 2. **A viewer never slows anyone.** Each viewer has a queue of [`QUEUE`] frames. The sampler
//!    offers each new frame with `try_send`: a full queue (a viewer that reads slowly, or not
//!    at all) loses that frame, and the viewer's `dropped` count goes up; the next frame it
//!    does get carries the count (`"dropped_frames"`). The sampler never waits for a viewer,
//!    and the observed runtime never waits for the sampler (it runs on the console's thread).
//! 3. **A viewer that is gone leaves.** Its writer task ends on a write error or when a write
//!    has waited [`WRITE_TIMEOUT`]; the viewer is removed from the list when it ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::observer::{Frame, Observer, ViewerStats};
use crate::sync::mpsc;
use crate::sync::Notify;

/// Time between two snapshots while someone watches.
pub(crate) const PERIOD: Duration = Duration::from_millis(250);
/// Frames a viewer may have waiting before new ones are dropped for it (rule 2).
pub(crate) const QUEUE: usize = 2;
/// How long one write to a viewer may wait before the viewer is dropped (rule 3).
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// One connected viewer.
pub(crate) struct Viewer {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    tx: mpsc::Sender<Arc<Frame>>,
    /// Frames lost for this viewer so far (rule 2).
    pub(crate) dropped: AtomicU64,
    /// Frames written to it.
    pub(crate) sent: AtomicU64,
}

/// Every connected viewer.
#[derive(Default)]
pub(crate) struct Viewers {
    list: Mutex<Vec<Arc<Viewer>>>,
    next_id: AtomicU64,
    frames: AtomicU64,
    /// Notified when a viewer joins (rule 1).
    joined: Notify,
}

impl Viewers {
    /// Adds a viewer; returns it and the receiving end of its queue.
    pub(crate) fn join(&self, peer: SocketAddr) -> (Arc<Viewer>, mpsc::Receiver<Arc<Frame>>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let v = Arc::new(Viewer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            peer,
            tx,
            dropped: AtomicU64::new(0),
            sent: AtomicU64::new(0),
        });
        self.lock().push(v.clone());
        self.joined.notify_one();
        (v, rx)
    }

    /// Removes viewer `id` (rule 3).
    pub(crate) fn leave(&self, id: u64) {
        self.lock().retain(|v| v.id != id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Viewer>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The figures a snapshot reports about the viewers.
    pub(crate) fn stats(&self) -> ViewerStats {
        ViewerStats {
            viewers: self
                .lock()
                .iter()
                .map(|v| {
                    (
                        v.id,
                        v.peer,
                        v.sent.load(Ordering::Relaxed),
                        v.dropped.load(Ordering::Relaxed),
                    )
                })
                .collect(),
            frames: self.frames.load(Ordering::Relaxed),
        }
    }

    /// Offers `frame` to every viewer (rule 2).
    fn broadcast(&self, frame: &Arc<Frame>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        for v in self.lock().iter() {
            if v.tx.try_send(frame.clone()).is_err() {
                v.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The sampler (rule 1): runs on the console's runtime until the console stops.
pub(crate) async fn sample(observer: Arc<Observer>, viewers: Arc<Viewers>) {
    loop {
        loop {
            // Register before looking, so a viewer joining in between is not missed.
            let joined = viewers.joined.notified();
            if !viewers.lock().is_empty() {
                break;
            }
            observer.set_probes(false);
            joined.await;
        }
        observer.set_probes(true);
        let frame = observer.snapshot(&viewers.stats());
        viewers.broadcast(&frame);
        crate::time::sleep(observer.period()).await;
    }
}
