//! A listener backs off after an accept that ran out of file descriptors: the next accept
//! waits 50 ms first, so a server loop that only logs the error does not spin (the pending
//! connection stays queued, and accepting again at once fails the same way). Once descriptors
//! are free again, the queued connections are accepted.
//!
//! A file of its own: it lowers the process's descriptor limit, which would fail any test
//! running beside it in the same process. Linux only (it reads `RLIMIT_NOFILE` with libc). On
//! the paused clock, so the 50 ms are virtual: the test measures them, it never waits them.

#![cfg(target_os = "linux")]

use std::os::fd::OwnedFd;
use std::time::Duration;

use tether::net::{is_resource_exhausted, TcpListener};
use tether::time::{timeout, Instant};

fn set_soft_nofile(n: u64) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid `rlimit` for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    let old = r.rlim_cur;
    r.rlim_cur = n;
    // SAFETY: `r` is a valid `rlimit`; lowering the soft limit needs no privilege.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
    old
}

/// Opens `/dev/null` until the process is out of descriptors; returns them.
fn exhaust() -> Vec<OwnedFd> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(OwnedFd::from(f)),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}

#[tether::test(start_paused = true)]
async fn an_accept_out_of_descriptors_makes_the_next_one_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Client sockets made while descriptors are left; connected once they are not.
    let clients: Vec<_> = (0..2)
        .map(|_| socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap())
        .collect();
    let old = set_soft_nofile(256);
    let mut held = exhaust();
    for c in &clients {
        c.connect(&addr.into()).unwrap();
    }

    let first = timeout(Duration::from_secs(5), listener.accept()).await;
    let err = first.expect("accept returned").unwrap_err();
    assert!(is_resource_exhausted(&err), "{err}");
    let failed_at = Instant::now();
    // A loop that only logs: the next accept waits before it tries.
    let second = timeout(Duration::from_secs(5), listener.accept()).await;
    let err = second.expect("accept returned").unwrap_err();
    assert!(is_resource_exhausted(&err), "{err}");
    assert!(
        failed_at.elapsed() >= Duration::from_millis(50),
        "the second accept tried again after {:?}",
        failed_at.elapsed()
    );

    // A connect out of descriptors says so too, through the message tether adds to it.
    let err = tether::net::TcpStream::connect(addr).await.unwrap_err();
    assert!(is_resource_exhausted(&err), "{err}");
    assert_eq!(tether::io::os_error_of(&err), Some(libc::EMFILE), "{err}");

    // Descriptors freed: the queued connections are accepted.
    held.truncate(held.len().saturating_sub(8));
    for i in 0..clients.len() {
        timeout(Duration::from_secs(5), listener.accept())
            .await
            .unwrap_or_else(|_| panic!("accept {i} hung once descriptors were free"))
            .unwrap();
    }
    drop(held);
    set_soft_nofile(old);
}
