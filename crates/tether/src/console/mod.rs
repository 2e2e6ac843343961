//! The live console (feature `console`): a read-only web page and JSON API that show a running
//! runtime's task tree, workers, stalls and metrics, served by the runtime itself.
//!
//! [`Builder::console`](crate::runtime::Builder::console) starts it when the runtime is built;
//! docs/console.md is the user's guide and documents the JSON API field by field.
//!
//! # Design
//!
//! - **Its own thread and runtime.** The server runs on a thread of its own (`NAME-console`)
//!   with a small current-thread tether runtime of its own, so it keeps answering while the
//!   observed runtime's workers are blocked (which is when one looks), and none of its tasks is
//!   in the observed runtime: the task tree shows the program's tasks only.
//! - **Read through the observation APIs** (`observer.rs`): `Handle::dump`, `Handle::metrics`,
//!   the reporting path's tap (`stalls.rs`), and per-worker probes for what the runtime does
//!   not keep (`probe.rs`), which cost nothing per task and, unwatched, one relaxed load per
//!   poll.
//! - **Bounded everywhere** (`stream.rs`, `http.rs`): per-viewer queues that drop and count,
//!   a request-size limit, timeouts, a connection limit, snapshots at most every 100 ms for
//!   `/api/snapshot` however often it is asked.
//! - **Loopback unless told otherwise**: a non-loopback address needs
//!   [`Builder::console_allow_remote`](crate::runtime::Builder::console_allow_remote); without
//!   it, requests naming a non-loopback `Host` are refused too (`http.rs`).
//!
//! # Lifecycle
//!
//! 1. `start` (from `Builder::build`, after the workers started) binds the listener on the
//!    building thread (so a bad address fails `build`), installs the stall tap, starts the
//!    thread, and prints the address (unless the runtime is quiet).
//! 2. The runtime's shutdown calls [`ConsoleServer::stop`] first: the console's runtime is
//!    told to stop, its block_on returns, its scope and with it every connection is dropped,
//!    and the thread is joined. The thread holds a `Handle` of the observed runtime until
//!    then.

pub(crate) mod http;
pub(crate) mod json;
pub(crate) mod observer;
pub(crate) mod probe;
pub(crate) mod stalls;
pub(crate) mod stream;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::runtime::Handle;
use observer::Observer;
use stalls::StallLog;
use stream::Viewers;

/// What the builder holds about the console.
#[derive(Clone, Debug)]
pub(crate) struct ConsoleConfig {
    /// The address to listen on, or why it could not be resolved; `None` when only
    /// `console_allow_remote` was called.
    pub(crate) addr: Option<Result<SocketAddr, String>>,
    /// `Builder::console_allow_remote`.
    pub(crate) allow_remote: bool,
}

/// A running console, owned by its runtime's `RuntimeShared`.
pub(crate) struct ConsoleServer {
    addr: SocketAddr,
    stop: Mutex<Option<crate::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ConsoleServer {
    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and joins its thread (lifecycle step 2). Idempotent.
    pub(crate) fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// Starts the console for the runtime of `handle` (lifecycle step 1).
pub(crate) fn start(
    handle: &Handle,
    config: &ConsoleConfig,
    thread_name: &str,
) -> io::Result<ConsoleServer> {
    let addr = match config.addr.clone() {
        Some(Ok(addr)) => addr,
        Some(Err(e)) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the console address does not resolve: {e}"),
            ));
        }
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Builder::console_allow_remote was called without Builder::console(addr); \
                 call console(addr) to start the console",
            ));
        }
    };
    if !addr.ip().is_loopback() && !config.allow_remote {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the console address {addr} is not a loopback address; the console shows \
                 every task's name and spawn site to whoever connects, so it listens on \
                 loopback (127.0.0.1) unless Builder::console_allow_remote(true) says otherwise"
            ),
        ));
    }
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("the console could not listen on {addr}: {e}"),
        )
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;

    let stalls = Arc::new(StallLog::default());
    let tap = stalls.clone();
    handle
        .shared
        .reporter
        .set_console_tap(Box::new(move |d| tap.record(d)));
    let server = Arc::new(http::Server {
        observer: Arc::new(Observer::new(handle.clone(), stalls)),
        viewers: Arc::new(Viewers::default()),
        loopback: local.ip().is_loopback(),
        connections: AtomicUsize::new(0),
    });
    let (stop_tx, stop_rx) = crate::sync::oneshot::channel::<()>();
    let name = format!("{thread_name}-console");
    let console_rt = crate::runtime::Builder::new_current_thread()
        .thread_name(name.clone())
        .diagnostics(false)
        .build()?;
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(console_rt, listener, server, stop_rx))
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the console's thread could not start: {e}"),
            )
        })?;
    let kind = if local.ip().is_loopback() {
        "read-only, loopback"
    } else {
        "read-only, REMOTE ACCESS ALLOWED"
    };
    handle
        .shared
        .reporter
        .notice(&format!("tether console: http://{local}/ ({kind})"));
    Ok(ConsoleServer {
        addr: local,
        stop: Mutex::new(Some(stop_tx)),
        thread: Mutex::new(Some(thread)),
    })
}

/// The console's thread: serves until told to stop.
fn run(
    rt: crate::runtime::Runtime,
    listener: std::net::TcpListener,
    server: Arc<http::Server>,
    stop: crate::sync::oneshot::Receiver<()>,
) {
    rt.block_on(async move {
        let serving = crate::scope::scope(|s| async move {
            let listener = crate::net::TcpListener::from_std(listener)?;
            let sampler = stream::sample(server.observer.clone(), server.viewers.clone());
            s.spawn(async move {
                sampler.await;
                Ok(())
            })
            .await;
            loop {
                // Accept errors (a full descriptor table) are waited out, not spun on.
                match listener.accept().await {
                    Ok((conn, peer)) => {
                        let server = server.clone();
                        s.spawn(async move {
                            http::serve(server, conn, peer).await;
                            Ok(())
                        })
                        .await;
                    }
                    Err(_) => crate::time::sleep(std::time::Duration::from_millis(100)).await,
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), io::Error>(())
        });
        futures_lite::future::or(
            async {
                let _ = stop.await;
            },
            async {
                let _ = serving.await;
            },
        )
        .await;
    });
    // Dropping the runtime here drops every connection still open.
    drop(rt);
}
