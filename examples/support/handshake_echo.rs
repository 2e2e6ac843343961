//! The echo server of seed 002 (`002_0839374704fe9389.txt`), on tether.
//!
//! Protocol: a client first sends the line `hello` (a trailing `\r` and surrounding spaces are
//! allowed); the server answers `hello\n` and from then on echoes every byte it receives. A
//! client whose first line is anything else, or that sends no line within the handshake
//! timeout, is disconnected.
//!
//! Shared by `examples/echo.rs`, the seeds' integration tests and the descriptor-exhaustion
//! test, so all of them exercise the same code.

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{is_resource_exhausted, TcpListener, TcpStream};
use tether::time::{sleep, timeout};

/// The longest first line accepted as a handshake.
const MAX_HANDSHAKE: usize = 64;
/// How long a client has to say hello.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the accept loop pauses when the process is out of descriptors.
pub const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);

/// What a server counted, for logs and tests.
#[derive(Default, Debug)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub accept_errors: AtomicU64,
    pub exhausted: AtomicU64,
}

/// Serves connections from `listener` forever. Accept errors never stop the loop: running out
/// of descriptors pauses it briefly (so the loop does not spin), other errors are logged.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>, log: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
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
            Err(e) if is_resource_exhausted(&e) => {
                stats.exhausted.fetch_add(1, Ordering::Relaxed);
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("accept: {e}; pausing {EXHAUSTED_BACKOFF:?} so connections can close");
                sleep(EXHAUSTED_BACKOFF).await;
            }
            Err(e) => {
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("accept: {e}");
            }
        }
    }
}

/// One connection: handshake, then echo until the client closes.
pub async fn handle(mut stream: TcpStream, stats: &Stats) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let (line_end, filled) =
        match timeout(HANDSHAKE_TIMEOUT, read_line(&mut stream, &mut buf)).await {
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
    stream.write_all(b"hello\n").await?;
    // Bytes that arrived after the handshake line are echoed first.
    if filled > line_end + 1 {
        stream.write_all(&buf[line_end + 1..filled]).await?;
    }
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Reads until the first `\n`; returns (index of `\n`, bytes read), or `None` if the client
/// closed or sent more than `MAX_HANDSHAKE` bytes without a newline.
async fn read_line(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Option<(usize, usize)>> {
    let mut filled = 0;
    loop {
        if let Some(pos) = buf[..filled].iter().position(|&b| b == b'\n') {
            return Ok(Some((pos, filled)));
        }
        if filled >= MAX_HANDSHAKE {
            return Ok(None);
        }
        let n = stream.read(&mut buf[filled..]).await?;
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
