//! A stream's switch to completion mode on the io_uring driver (`uring_stream.rs` rule 1): the
//! field `TcpStream` and `UnixStream` carry beside their registration; and a listener's switch
//! to a multishot accept (`uring_accept.rs` rule 1), the field of `TcpListener` and
//! `UnixListener`. Empty elsewhere.

#[cfg(target_os = "linux")]
use crate::io::poll_evented::PollEvented;
#[cfg(target_os = "linux")]
use crate::io::source::IoSource;
#[cfg(target_os = "linux")]
use crate::io::uring_stream::StreamRing;

/// Whether a stream runs in completion mode, decided at its first read or write.
pub(crate) struct StreamMode {
    #[cfg(target_os = "linux")]
    slot: std::sync::OnceLock<Option<std::sync::Arc<StreamRing>>>,
}

impl StreamMode {
    pub(crate) fn new() -> StreamMode {
        StreamMode {
            #[cfg(target_os = "linux")]
            slot: std::sync::OnceLock::new(),
        }
    }

    /// The stream's completion mode, switched on now if its runtime offers it (the stream's
    /// first read or write); `None` keeps the readiness path.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn get<E: IoSource>(
        &self,
        io: &PollEvented<E>,
    ) -> Option<&std::sync::Arc<StreamRing>> {
        self.slot
            .get_or_init(|| {
                crate::io::uring_stream::activate(
                    io.runtime(),
                    io.scheduled_io(),
                    io.get_ref().uring_fd(),
                )
            })
            .as_ref()
    }

    /// The stream's completion mode if it is on (switching nothing).
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn active(&self) -> Option<&std::sync::Arc<StreamRing>> {
        self.slot.get().and_then(Option::as_ref)
    }

    /// Whether the stream can leave its runtime (`into_std`): not while in completion mode
    /// with anything queued, staged or armed (`uring_stream.rs` rule 6).
    pub(crate) fn check_detachable(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(s) = self.active() {
            if !s.is_quiet() {
                return Err(std::io::Error::other(
                    "tether: this stream reads and writes through io_uring operations, which may \
                     hold bytes already received or not yet sent, so it cannot become a std \
                     stream; call into_std before its first read or write, or run the runtime \
                     on epoll (Builder::io_driver)",
                ));
            }
        }
        Ok(())
    }
}

impl Drop for StreamMode {
    /// Runs before the stream's registration is dropped (the field is declared first), so its
    /// submissions are made while the descriptor is open (`uring_stream.rs` rule 5).
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(s) = self.active() {
            s.release();
        }
    }
}

impl std::fmt::Debug for StreamMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(target_os = "linux")]
        let on = self.active().is_some();
        #[cfg(not(target_os = "linux"))]
        let on = false;
        f.write_str(if on { "io_uring" } else { "readiness" })
    }
}

/// Whether a listener accepts through a multishot accept, decided at its first accept.
pub(crate) struct ListenerMode {
    #[cfg(target_os = "linux")]
    slot: std::sync::OnceLock<Option<std::sync::Arc<crate::io::uring_accept::AcceptRing>>>,
}

impl ListenerMode {
    pub(crate) fn new() -> ListenerMode {
        ListenerMode {
            #[cfg(target_os = "linux")]
            slot: std::sync::OnceLock::new(),
        }
    }

    /// The listener's multishot accept, switched on now if its runtime offers it (the
    /// listener's first accept); `None` keeps the readiness path.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn get<E: IoSource>(
        &self,
        io: &PollEvented<E>,
    ) -> Option<&std::sync::Arc<crate::io::uring_accept::AcceptRing>> {
        self.slot
            .get_or_init(|| {
                crate::io::uring_accept::activate(
                    io.runtime(),
                    io.scheduled_io(),
                    io.get_ref().uring_fd(),
                )
            })
            .as_ref()
    }

    /// An accept through the multishot accept, the connection made into a stream by
    /// `accepted`; `None` when the listener takes the readiness path (rule 1).
    #[cfg(target_os = "linux")]
    pub(crate) async fn accept<E: IoSource, S>(
        &self,
        io: &PollEvented<E>,
        accepted: impl FnOnce(std::os::fd::OwnedFd) -> std::io::Result<S>,
    ) -> Option<std::io::Result<S>> {
        let a = self.get(io)?;
        match io.completed(|| a.step()).await {
            Err(e) => Some(Err(e)),
            Ok(taken) => taken.map(|fd| fd.and_then(accepted)),
        }
    }

    /// `accept` for `poll_accept` (its waker stays registered until the next completion).
    #[cfg(target_os = "linux")]
    pub(crate) fn poll_accept<E: IoSource, S>(
        &self,
        io: &PollEvented<E>,
        cx: &mut std::task::Context<'_>,
        accepted: impl FnOnce(std::os::fd::OwnedFd) -> std::io::Result<S>,
    ) -> Option<std::task::Poll<std::io::Result<S>>> {
        use std::task::Poll;
        let a = self.get(io)?;
        match io.poll_completed(cx, || a.step()) {
            Poll::Pending => Some(Poll::Pending),
            Poll::Ready(Err(e)) => Some(Poll::Ready(Err(e))),
            Poll::Ready(Ok(taken)) => taken.map(|fd| Poll::Ready(fd.and_then(accepted))),
        }
    }

    /// Before the listener leaves its runtime (`into_std`): refused while its multishot accept
    /// holds connections not yet accepted; otherwise the accept is cancelled now, before the
    /// descriptor is handed over (`uring_accept.rs` rule 4).
    pub(crate) fn detach(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(Some(a)) = self.slot.get() {
            a.check_detachable()?;
            a.release();
        }
        Ok(())
    }
}

impl Drop for ListenerMode {
    /// Runs before the listener's registration is dropped (the field is declared first).
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(Some(a)) = self.slot.get() {
            a.release();
        }
    }
}

impl std::fmt::Debug for ListenerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(target_os = "linux")]
        let on = self.slot.get().is_some_and(Option::is_some);
        #[cfg(not(target_os = "linux"))]
        let on = false;
        f.write_str(if on {
            "io_uring multishot accept"
        } else {
            "readiness"
        })
    }
}
