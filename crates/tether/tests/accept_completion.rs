//! Listeners on the io_uring driver accept through one multishot accept
//! (`io/uring_accept.rs`): every connection arrives once, with its peer's address, however
//! many tasks accept at once; connections queued when the listener is dropped are closed, not
//! leaked; and running out of descriptors is an error of one `accept`, after which accepting
//! goes on. Every test builds its runtimes on io_uring explicitly.
#![cfg(target_os = "linux")]

mod support;

use std::collections::HashSet;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use support::uring::open_sockets;

/// One test at a time: one lowers the process's descriptor limit, another counts descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` on both flavors on io_uring, one test at a time.
fn on_each<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    support::uring::on_each(&SERIAL, f)
}

#[test]
fn every_connection_is_accepted_once_with_its_peer_address() {
    on_each(|| async {
        const CONNS: usize = 300;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let before = tether::__private::io_uring_listeners_activated();
        let clients = tether::spawn(async move {
            let mut locals = HashSet::new();
            let mut streams = Vec::new();
            for i in 0..CONNS {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&(i as u32).to_le_bytes()).await.unwrap();
                locals.insert(s.local_addr().unwrap());
                streams.push(s);
            }
            (locals, streams)
        });
        let mut seen = HashSet::new();
        let mut peers = HashSet::new();
        for _ in 0..CONNS {
            let (mut s, peer) = listener.accept().await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), peer);
            let mut id = [0u8; 4];
            s.read_exact(&mut id).await.unwrap();
            assert!(
                seen.insert(u32::from_le_bytes(id)),
                "a connection accepted twice"
            );
            peers.insert(peer);
        }
        let (locals, _streams) = clients.await.unwrap();
        assert_eq!(peers, locals, "the peer addresses are the clients' own");
        assert!(
            tether::__private::io_uring_listeners_activated() > before,
            "the listener did not switch to the multishot accept"
        );
    });
}

#[test]
fn several_tasks_accepting_at_once_share_the_connections() {
    on_each(|| async {
        const CONNS: usize = 200;
        const ACCEPTORS: usize = 4;
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tether::sync::mpsc::channel(CONNS);
        let mut acceptors = Vec::new();
        for _ in 0..ACCEPTORS {
            let listener = listener.clone();
            let tx = tx.clone();
            acceptors.push(tether::spawn(async move {
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut id = [0u8; 4];
                    s.read_exact(&mut id).await.unwrap();
                    if tx.send(u32::from_le_bytes(id)).await.is_err() {
                        return;
                    }
                }
            }));
        }
        drop(tx);
        let mut streams = Vec::new();
        for i in 0..CONNS as u32 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&i.to_le_bytes()).await.unwrap();
            streams.push(s);
        }
        let mut rx = rx;
        let mut got = HashSet::new();
        for _ in 0..CONNS {
            let id = rx.recv().await.unwrap();
            assert!(got.insert(id), "connection {id} accepted twice");
        }
        assert_eq!(got.len(), CONNS);
        for a in acceptors {
            a.abort();
        }
    });
}

#[test]
fn a_dropped_listener_closes_the_connections_it_had_queued() {
    on_each(|| async {
        let baseline = open_sockets();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The first accept arms the multishot accept; the connections after it are accepted
        // by the kernel and queued, never taken.
        let first = TcpStream::connect(addr).await.unwrap();
        let (taken, _) = listener.accept().await.unwrap();
        let mut queued = Vec::new();
        for _ in 0..20 {
            queued.push(TcpStream::connect(addr).await.unwrap());
        }
        // Let the accept's completions arrive (they are taken by the driver's turns).
        tether::time::sleep(Duration::from_millis(50)).await;
        drop(listener);
        for mut c in queued {
            let mut buf = [0u8; 1];
            // The server end was closed: end-of-stream or a reset, never a hang.
            let r = tether::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                .await
                .expect("a queued connection was left open");
            assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        }
        drop((first, taken));
        // A socket's close goes through the ring: wait for it, boundedly (a leak never ends).
        for _ in 0..500 {
            if open_sockets() <= baseline {
                break;
            }
            tether::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            open_sockets() <= baseline,
            "sockets leaked: {} open, {baseline} before",
            open_sockets()
        );
    });
}

/// The process's soft descriptor limit, lowered until this value drops (also when a test
/// panics, so the next test runs with the old limit).
struct LoweredLimit(libc::rlimit);

impl LoweredLimit {
    fn to(soft: u64) -> LoweredLimit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` writes the struct we pass by reference, nothing else.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        };
        // SAFETY: `setrlimit` reads the struct we pass by reference, nothing else.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
        LoweredLimit(old)
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        // SAFETY: as in `to`; the old limit back.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.0) };
    }
}

/// A blocking TCP socket, not yet connected (its descriptor is taken now, while there are
/// descriptors to take).
fn raw_socket() -> std::os::fd::OwnedFd {
    // SAFETY: `socket` has no memory preconditions; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a new descriptor that nothing else owns.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// Connects `fd` to `addr` (IPv4), blocking until the kernel completes the handshake.
fn raw_connect(fd: &std::os::fd::OwnedFd, addr: std::net::SocketAddr) {
    use std::os::fd::AsRawFd;
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sa` is a valid `sockaddr_in` for the duration of the call, and its size is
    // passed with it.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
}

#[test]
fn running_out_of_descriptors_fails_one_accept_and_accepting_goes_on() {
    on_each(|| async {
        const CLIENTS: usize = 4;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The clients' descriptors are taken before the limit comes down; they connect after.
        let clients: Vec<_> = (0..CLIENTS).map(|_| raw_socket()).collect();
        // Fill every free descriptor number below the highest in use, so that the limit below
        // leaves exactly one free.
        let highest = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .max()
            .unwrap();
        let mut fillers = Vec::new();
        loop {
            // SAFETY: `dup` of an open descriptor (stderr) has no memory preconditions.
            let fd = unsafe { libc::dup(2) };
            assert!(fd >= 0);
            if fd > highest {
                // SAFETY: `fd` is the duplicate just made, owned by nothing else.
                unsafe { libc::close(fd) };
                break;
            }
            // SAFETY: as above; the value owns the duplicate and closes it.
            fillers.push(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        }
        // The kernel reads the limit when an accept is submitted, so the multishot accept is
        // armed (by the first `accept` below) under the lowered one.
        let limit = LoweredLimit::to(highest as u64 + 2);
        for c in &clients {
            raw_connect(c, addr);
        }
        let mut accepted = Vec::new();
        let err = loop {
            match listener.accept().await {
                Ok((s, _)) => accepted.push(s),
                Err(e) => break e,
            }
            assert!(
                accepted.len() < CLIENTS,
                "the limit did not stop the accepts"
            );
        };
        drop(limit);
        drop(fillers);
        assert!(
            tether::net::is_resource_exhausted(&err),
            "not EMFILE/ENFILE: {err}"
        );
        // With descriptors to spare again, the connections still waiting are accepted.
        while accepted.len() < CLIENTS {
            let (s, _) = tether::time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .expect("accepting did not resume after EMFILE")
                .unwrap();
            accepted.push(s);
        }
        drop(clients);
    });
}

#[test]
fn a_connection_reset_before_its_accept_is_an_aborted_connection_and_accepting_goes_on() {
    // Multishot accept gives no peer address; `getpeername` on a connection its peer already
    // reset fails, so `accept` reports it as aborted (as BSD's accept does), and the next
    // connection is accepted as usual.
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Arm the multishot accept.
        let _c0 = TcpStream::connect(addr).await.unwrap();
        let _s0 = listener.accept().await.unwrap();
        let reset = std::net::TcpStream::connect(addr).unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: sets SO_LINGER on a live socket from a correctly sized `linger`.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&reset),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        // Let the kernel accept it before the reset.
        tether::time::sleep(Duration::from_millis(50)).await;
        drop(reset); // RST
        let good = TcpStream::connect(addr).await.unwrap();
        let mut results = Vec::new();
        loop {
            match listener.accept().await {
                Ok((_, peer)) => {
                    results.push(Ok(peer));
                    if peer == good.local_addr().unwrap() {
                        break;
                    }
                }
                Err(e) => results.push(Err(e.kind())),
            }
        }
        // The reset one is either already gone from the queue's point of view (an error), or
        // was accepted with its address before the reset arrived; never a hang.
        for r in &results[..results.len() - 1] {
            assert!(
                matches!(r, Err(std::io::ErrorKind::ConnectionAborted) | Ok(_)),
                "{results:?}"
            );
        }
    });
}

#[test]
fn unix_listeners_accept_through_the_multishot_accept_too() {
    on_each(|| async {
        let dir = std::env::temp_dir().join(format!("tether-accept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:?}.sock", std::thread::current().id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let before = tether::__private::io_uring_listeners_activated();
        for i in 0..20u8 {
            let mut c = UnixStream::connect(&path).await.unwrap();
            c.write_all(&[i]).await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            assert_eq!(b[0], i);
        }
        assert!(tether::__private::io_uring_listeners_activated() > before);
        drop(listener);
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn into_std_works_between_accepts_and_is_refused_while_connections_are_queued() {
    on_each(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _c = TcpStream::connect(addr).await.unwrap();
        let _s = listener.accept().await.unwrap();
        // A connection the multishot accept takes and nobody accepts yet.
        let _queued = TcpStream::connect(addr).await.unwrap();
        tether::time::sleep(Duration::from_millis(50)).await;
        let err = listener.into_std().unwrap_err();
        assert!(err.to_string().contains("accept them first"), "{err}");

        // Nothing queued: the listener leaves the runtime and keeps listening.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _c = TcpStream::connect(addr).await.unwrap();
        let _s = listener.accept().await.unwrap();
        let std_listener = listener.into_std().unwrap();
        let next = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        std_listener.set_nonblocking(false).unwrap();
        let (_s2, peer) = std_listener.accept().unwrap();
        assert_eq!(peer, next.join().unwrap().local_addr().unwrap());
    });
}
