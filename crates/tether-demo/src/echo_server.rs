//! The handshake echo server, on tether: one task per connection, written as straight-line
//! `async` code.
//!
//! Protocol: a client first sends the line `hello` (a trailing `\r` and surrounding spaces are
//! allowed); the server answers `hello\n` and from then on echoes every byte it receives. A
//! client whose first line is anything else, longer than 64 bytes, or not complete within the
//! handshake timeout (counted from the accept, however slowly the bytes trickle in), is
//! disconnected. Once past the handshake, a connection holds one 16 KiB buffer while it has
//! bytes in hand, and none while it waits for them ([`buf_pool`]): the echo of one read is
//! written before the next read, so a client that does not read its echoes stops the server
//! reading from it.
//!
//! Shared by the `echo` binary, the C10k demo, and the tests that drive it in process
//! (`tests/echo_handshake.rs`, `tests/c10k.rs`, `tests/emfile.rs`), so all of them exercise the
//! same code.
//!
//! Two ways to run it: [`serve`] (or [`start`]) serves forever, each connection a detached task;
//! [`serve_until`] runs the accept loop and every connection in one scope and shuts down
//! gracefully when a future completes (Ctrl-C in the `echo` binary):
//!
//! 1. the accept loop stops and the listener is closed: no new connection is accepted;
//! 2. the scope is cancelled: every connection task sees `tether::task::cancelled()`. A
//!    connection only stops *between* echoes: it finishes the write in flight, sends FIN
//!    (`shutdown(Write)`), reads and discards until the client closes (at most `grace / 2`) so
//!    that closing does not reset the connection, then closes. A client therefore never sees a
//!    half-written echo from a connection that stopped on the signal;
//! 3. after the grace period, the scope drops the connections still alive (typically ones stuck
//!    writing to a client that stopped reading: those may have written part of an echo);
//! 4. [`serve_until`] returns a [`ShutdownSummary`]: how many connections closed cleanly, and
//!    which ones were cut off (task, peer, age, what it was doing).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::time::timeout;

use crate::buf_pool;
use crate::serving::{accept_next, close_gracefully, AcceptCounters, Conns};
pub use crate::serving::{CutOff, ShutdownSummary, EXHAUSTED_BACKOFF};

/// The longest first line accepted as a handshake.
const MAX_HANDSHAKE: usize = 64;
/// How long a client has to say hello, unless [`ServeOptions`] says otherwise.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a server counted, for logs and tests.
#[derive(Default, Debug)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed for a bad or late handshake.
    pub rejected: AtomicU64,
    /// Accept errors other than running out of descriptors.
    pub accept_errors: AtomicU64,
    /// Accepts that failed because the process or system ran out of descriptors.
    pub exhausted: AtomicU64,
}

/// Serves connections from `listener` forever. Accept errors never stop the loop: running out
/// of descriptors pauses it briefly (so the loop does not spin), other errors are logged.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>, log: bool) {
    loop {
        let Some((stream, peer)) = accept_next(&listener, &*stats).await else {
            continue;
        };
        let stats = stats.clone();
        tether::task::Builder::new()
            .name("echo-conn")
            .spawn(async move {
                if log {
                    println!("connect    {peer}");
                }
                let res = handle(stream, &stats).await;
                if log {
                    match res {
                        Ok(()) => println!("disconnect {peer}"),
                        Err(e) => println!("disconnect {peer}: {e}"),
                    }
                }
            });
    }
}

impl AcceptCounters for Stats {
    fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    fn accept_failed(&self, exhausted: bool) {
        if exhausted {
            self.exhausted.fetch_add(1, Ordering::Relaxed);
        }
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One connection: handshake, then echo until the client closes.
pub async fn handle(mut stream: TcpStream, stats: &Stats) -> io::Result<()> {
    echo(
        &mut stream,
        stats,
        HANDSHAKE_TIMEOUT,
        &mut std::future::pending(),
        None,
    )
    .await
    .map(|_| ())
}

/// How [`echo`] ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The client closed its side.
    ClientClosed,
    /// `stop` completed; the last echo, if any, was written completely.
    Stopped,
}

/// What a connection of [`serve_until`] is doing, for the report of the ones cut off.
const HANDSHAKE: u8 = 0;
const READING: u8 = 1;
const WRITING: u8 = 2;
const CLOSING: u8 = 3;

fn phase_text(phase: u8) -> &'static str {
    match phase {
        HANDSHAKE => "waiting for the handshake",
        READING => "waiting for bytes to echo",
        WRITING => "writing an echo (the client was not reading)",
        _ => "waiting for the client to close",
    }
}

/// The protocol: handshake (within `handshake_timeout`), then echo until the client closes or
/// `stop` completes. `stop` is only looked at before a read (it is polled first, so a client
/// that keeps sending cannot delay it), never during a write: the connection stops between
/// complete echoes.
///
/// A connection waits for bytes with `readable()` and holds a read buffer ([`buf_pool`]) only
/// from the `try_read` until its echo is written: an idle connection holds none.
async fn echo<S>(
    stream: &mut TcpStream,
    stats: &Stats,
    handshake_timeout: Duration,
    stop: &mut S,
    phase: Option<&AtomicU8>,
) -> io::Result<Ended>
where
    S: Future<Output = ()> + Unpin,
{
    let set_phase = |p: u8| {
        if let Some(ph) = phase {
            ph.store(p, Ordering::Relaxed);
        }
    };
    // Boxed: the handshake's state (its timer, the line so far) lives only while it runs,
    // instead of enlarging every connection's task for its whole life.
    let handshake = tether::select! {
        biased;
        _ = &mut *stop => return Ok(Ended::Stopped),
        line = Box::pin(timeout(handshake_timeout, read_line(stream))) => line,
    };
    let (buf, line_end, filled) = match handshake {
        Ok(Ok(Some(v))) => v,
        Ok(Ok(None)) | Err(_) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "no handshake"));
        }
        Ok(Err(e)) => return Err(e),
    };
    let line = String::from_utf8_lossy(&buf[..line_end]);
    if line.trim() != "hello" {
        stats.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad handshake {:?}", line.trim()),
        ));
    }
    set_phase(WRITING);
    stream.write_all(b"hello\n").await?;
    // Bytes that arrived after the handshake line are echoed first.
    if filled > line_end + 1 {
        stream.write_all(&buf[line_end + 1..filled]).await?;
    }
    drop(buf);
    loop {
        set_phase(READING);
        tether::select! {
            biased;
            _ = &mut *stop => return Ok(Ended::Stopped),
            ready = stream.readable() => ready?,
        };
        let mut buf = buf_pool::take();
        let n = match stream.try_read(&mut buf) {
            Ok(0) => return Ok(Ended::ClientClosed),
            Ok(n) => n,
            // Readiness is a hint: wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        set_phase(WRITING);
        stream.write_all(&buf[..n]).await?;
    }
}

/// Reads until the first `\n`; returns the line and what came after it in a read buffer, the
/// index of the `\n` and the bytes read, or `None` if the client closed or sent more than
/// `MAX_HANDSHAKE` bytes without a newline. It reads with `AsyncRead` into a small buffer of its
/// own (boxed with the handshake, so no connection carries it afterwards): on io_uring that
/// puts the stream's reads on its receive queue, where `readable()` then waits without a poll.
async fn read_line(stream: &mut TcpStream) -> io::Result<Option<(buf_pool::Lease, usize, usize)>> {
    let mut line = [0u8; MAX_HANDSHAKE];
    let mut filled = 0;
    loop {
        if let Some(pos) = line[..filled].iter().position(|&b| b == b'\n') {
            let mut buf = buf_pool::take();
            buf[..filled].copy_from_slice(&line[..filled]);
            return Ok(Some((buf, pos, filled)));
        }
        if filled == MAX_HANDSHAKE {
            return Ok(None);
        }
        let n = stream.read(&mut line[filled..]).await?;
        if n == 0 {
            return Ok(None);
        }
        filled += n;
    }
}

/// Binds and serves on `addr` in a background task; returns the bound address.
pub async fn start(addr: &str, log: bool) -> io::Result<(SocketAddr, Arc<Stats>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let stats = Arc::new(Stats::default());
    let s = stats.clone();
    tether::task::Builder::new()
        .name("echo-accept")
        .spawn(serve(listener, s, log));
    Ok((local, stats))
}

/// How [`serve_until`] serves.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Print a line for every connect and disconnect (with the error that ended it, if any).
    pub log: bool,
    /// How long connections may take to finish once the shutdown begins.
    pub grace: Duration,
    /// How long a client has, from the accept, to complete its handshake line.
    pub handshake_timeout: Duration,
}

impl ServeOptions {
    /// No logging, the given grace period, the default [`HANDSHAKE_TIMEOUT`].
    pub fn new(grace: Duration) -> ServeOptions {
        ServeOptions {
            log: false,
            grace,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

/// Serves connections from `listener` until `shutdown` completes, then shuts down gracefully
/// within `opts.grace` (see the [module docs](self)) and reports how it went.
///
/// The accept loop is the body of a scope and every connection is a child of it, so nothing
/// started here outlives the call. Accept errors are handled as in [`serve`]. A connection's
/// I/O error only ends that connection. Connections spawned here are named `echo-conn <peer>`.
pub async fn serve_until<S>(
    listener: TcpListener,
    stats: Arc<Stats>,
    shutdown: S,
    opts: ServeOptions,
) -> ShutdownSummary
where
    S: Future<Output = ()>,
{
    let ServeOptions {
        log,
        grace,
        handshake_timeout: _,
    } = opts;
    let conns = Arc::new(Conns::new(phase_text));
    let body_conns = conns.clone();
    let res = tether::scope::Builder::new()
        .grace_period(grace)
        .run(|s: tether::scope::Scope<Infallible>| async move {
            let conns = body_conns;
            let mut shutdown = std::pin::pin!(shutdown);
            let mut next_key = 0u64;
            loop {
                let accepted = tether::select! {
                    biased;
                    _ = shutdown.as_mut() => break,
                    accepted = accept_next(&listener, &*stats) => accepted,
                };
                let Some((stream, peer)) = accepted else {
                    continue;
                };
                let name = format!("echo-conn {peer}");
                let key = next_key;
                next_key += 1;
                let phase = conns.register(key, name.clone(), peer, HANDSHAKE);
                let conn = connection(stream, peer, stats.clone(), opts, conns.clone(), key, phase);
                s.spawn_named(&name, conn).await;
            }
            // Stop accepting first: connections arriving from now on are refused.
            drop(listener);
            let open = conns.signal();
            if log {
                println!(
                    "shutting down: stopped accepting; asking {open} connection(s) to finish \
                     (grace period {grace:?})"
                );
            }
            s.cancel();
            Ok(())
        })
        .await;
    // The body always ends by cancelling the scope (or the scope was cancelled from outside),
    // and no child returns an error (`Infallible`): `res` is a cancellation, nothing more.
    drop(res);
    conns.summary(grace)
}

/// One connection of [`serve_until`]: the protocol until the client closes or the scope is
/// cancelled; on cancellation, a graceful close (lingering at most half the grace period).
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    stats: Arc<Stats>,
    opts: ServeOptions,
    conns: Arc<Conns>,
    key: u64,
    phase: Arc<AtomicU8>,
) -> Result<(), Infallible> {
    conns.started(key);
    let log = opts.log;
    if log {
        println!("connect    {peer}");
    }
    let mut stop = tether::task::cancelled();
    let res = echo(
        &mut stream,
        &stats,
        opts.handshake_timeout,
        &mut stop,
        Some(&phase),
    )
    .await;
    if let Ok(Ended::Stopped) = res {
        phase.store(CLOSING, Ordering::Relaxed);
        // Boxed for the reason the handshake is (`echo`).
        Box::pin(close_gracefully(
            stream,
            &mut buf_pool::take(),
            opts.grace / 2,
        ))
        .await;
    } else {
        drop(stream);
    }
    if log {
        match res {
            Ok(Ended::ClientClosed) => println!("disconnect {peer}"),
            Ok(Ended::Stopped) => println!("disconnect {peer} (server shutting down)"),
            Err(e) => println!("disconnect {peer}: {e}"),
        }
    }
    conns.finished(key, tether::task::is_cancelled());
    Ok(())
}
