//! The `tether::sync` types are `Send` and `Sync` (for `Send` contents), so that they can be
//! shared between the tasks of a multi-thread runtime: checked at compile time.

use tether::sync::{
    broadcast, mpsc, oneshot, watch, AcquireError, Barrier, Mutex, Notify, RwLock, Semaphore,
};

#[test]
fn sync_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<oneshot::Sender<u8>>();
    send_sync::<oneshot::Receiver<u8>>();
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::Receiver<u8>>();
    send_sync::<mpsc::UnboundedSender<u8>>();
    send_sync::<mpsc::UnboundedReceiver<u8>>();
    send_sync::<broadcast::Sender<u8>>();
    send_sync::<broadcast::Receiver<u8>>();
    send_sync::<watch::Sender<u8>>();
    send_sync::<watch::Receiver<u8>>();
    send_sync::<Mutex<u8>>();
    send_sync::<tether::sync::MutexGuard<'static, u8>>();
    send_sync::<tether::sync::OwnedMutexGuard<u8>>();
    send_sync::<RwLock<u8>>();
    send_sync::<Semaphore>();
    send_sync::<tether::sync::SemaphorePermit<'static>>();
    send_sync::<tether::sync::OwnedSemaphorePermit>();
    send_sync::<Notify>();
    send_sync::<Barrier>();
    send_sync::<AcquireError>();
    send_sync::<mpsc::error::SendError<u8>>();
    send_sync::<broadcast::error::RecvError>();
    send_sync::<broadcast::error::Lagged>();
    send_sync::<mpsc::Permit<'static, u8>>();
    send_sync::<mpsc::OwnedPermit<u8>>();
    send_sync::<watch::WatchStream<u8>>();
    send_sync::<tether::sync::Notified<'static>>();
    send_sync::<tether::sync::OnceCell<u8>>();
    send_sync::<tether::sync::SetError<u8>>();
}

/// The streams and receivers can be polled through `Pin::new`, whatever the item type.
#[test]
fn stream_types_are_unpin() {
    fn unpin<T: Unpin>() {}
    struct NotUnpin(std::marker::PhantomPinned);
    unpin::<mpsc::Receiver<NotUnpin>>();
    unpin::<mpsc::UnboundedReceiver<NotUnpin>>();
    unpin::<tether::time::Interval>();
    unpin::<tether::fs::ReadDir>();
}
