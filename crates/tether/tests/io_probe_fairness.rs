//! Probes of fairness on one thread: a task looping on a socket that is always ready (a peer
//! that floods it, or drains it, or keeps connecting) must not starve another task's socket.
//! The cooperative budget must apply to every way of reading, writing and accepting. A
//! starved task hangs, so each case runs under a bound that turns that into a failure.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tether::net::{TcpListener, TcpStream, UdpSocket};
use tether::runtime::Builder;

use support::bounded::within;

const LIMIT: Duration = Duration::from_secs(60);

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}

/// How the busy task uses its socket.
#[derive(Clone, Copy, Debug)]
enum Busy {
    Read,
    ReadableTryRead,
    ReadyTryRead,
    AsyncIoRead,
    Peek,
    Write,
    WritableTryWrite,
    Accept,
    UdpRecv,
}

/// Runs a busy task of kind `busy` and, beside it on the same current-thread runtime, a task
/// that makes 50 round trips on a quiet connection: the quiet one must finish.
fn busy_task_does_not_starve_a_quiet_socket(busy: Busy) {
    within(LIMIT, &format!("{busy:?}"), move || {
        let rt = Builder::new_current_thread().enable_all().build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = rt.block_on(async {
            let (busy_task, feeder) = start_busy(busy, stop.clone()).await;
            let (mut q1, mut q2) = pair().await;
            let quiet = tether::spawn(async move {
                let mut b = [0u8; 1];
                for i in 0..50u8 {
                    q1.write_all(&[i]).await.unwrap();
                    q2.read_exact(&mut b).await.unwrap();
                    q2.write_all(&b).await.unwrap();
                    q1.read_exact(&mut b).await.unwrap();
                    assert_eq!(b[0], i);
                }
            });
            quiet.await.unwrap();
            stop.store(true, Ordering::SeqCst);
            busy_task.abort();
            let _ = busy_task.await;
            feeder
        });
        // The feeder's thread may wait for the busy socket's last bytes, which the runtime
        // sends (on io_uring, write-behind) or closes: join it once the runtime is gone.
        drop(rt);
        drop(feeder);
    });
}

/// A thread outside the runtime that keeps a socket busy until `stop`; joined on drop.
struct Feeder(Option<std::thread::JoinHandle<()>>, Arc<AtomicBool>);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

fn feeder(stop: &Arc<AtomicBool>, f: impl FnMut() -> bool + Send + 'static) -> Feeder {
    let s = stop.clone();
    let mut f = f;
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            if !f() {
                break;
            }
        }
    });
    Feeder(Some(t), stop.clone())
}

async fn start_busy(busy: Busy, stop: Arc<AtomicBool>) -> (tether::task::JoinHandle<()>, Feeder) {
    match busy {
        Busy::Accept => {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            // Connections waiting before the loop starts, and more all the time.
            let mut first = Vec::new();
            for _ in 0..64 {
                first.push(std::net::TcpStream::connect(addr).unwrap());
            }
            let f = feeder(&stop, move || {
                first.clear();
                std::net::TcpStream::connect(addr).is_ok()
            });
            let t = tether::spawn(async move {
                loop {
                    let _ = l.accept().await;
                }
            });
            (t, f)
        }
        Busy::UdpRecv => {
            let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = u.local_addr().unwrap();
            let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for _ in 0..64 {
                tx.send_to(&[1u8; 32], addr).unwrap();
            }
            let f = feeder(&stop, move || tx.send_to(&[1u8; 32], addr).is_ok());
            let t = tether::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    let _ = u.recv_from(&mut buf).await;
                }
            });
            (t, f)
        }
        Busy::Write | Busy::WritableTryWrite => {
            let (a, b) = pair().await;
            let mut b = b.into_std().unwrap();
            b.set_nonblocking(false).unwrap();
            let f = feeder(&stop, move || {
                let mut buf = [0u8; 64 * 1024];
                matches!(b.read(&mut buf), Ok(n) if n > 0)
            });
            let t = tether::spawn(async move {
                let chunk = [7u8; 16];
                loop {
                    match busy {
                        Busy::Write => {
                            (&a).write_all(&chunk).await.unwrap();
                        }
                        _ => {
                            a.writable().await.unwrap();
                            let _ = a.try_write(&chunk);
                        }
                    }
                }
            });
            (t, f)
        }
        _ => {
            let (a, b) = pair().await;
            let mut b = b.into_std().unwrap();
            b.set_nonblocking(false).unwrap();
            b.write_all(&[1u8; 64 * 1024]).unwrap();
            let f = feeder(&stop, move || b.write_all(&[1u8; 64 * 1024]).is_ok());
            let t = tether::spawn(async move {
                let mut buf = [0u8; 16];
                loop {
                    match busy {
                        Busy::Read => {
                            let _ = (&a).read(&mut buf).await;
                        }
                        Busy::ReadableTryRead => {
                            a.readable().await.unwrap();
                            let _ = a.try_read(&mut buf);
                        }
                        Busy::ReadyTryRead => {
                            a.ready(Interest::READABLE).await.unwrap();
                            let _ = a.try_read(&mut buf);
                        }
                        Busy::AsyncIoRead => {
                            let _ = a
                                .async_io(Interest::READABLE, || {
                                    let _ = a.local_addr();
                                    Ok(())
                                })
                                .await;
                        }
                        _ => {
                            let _ = a.peek(&mut buf).await;
                        }
                    }
                }
            });
            (t, f)
        }
    }
}

#[test]
fn busy_read_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::Read);
}

#[test]
fn busy_readable_try_read_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::ReadableTryRead);
}

#[test]
fn busy_ready_try_read_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::ReadyTryRead);
}

#[test]
fn busy_async_io_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::AsyncIoRead);
}

#[test]
fn busy_peek_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::Peek);
}

#[test]
fn busy_write_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::Write);
}

#[test]
fn busy_writable_try_write_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::WritableTryWrite);
}

#[test]
fn busy_accept_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::Accept);
}

#[test]
fn busy_udp_recv_does_not_starve() {
    busy_task_does_not_starve_a_quiet_socket(Busy::UdpRecv);
}
