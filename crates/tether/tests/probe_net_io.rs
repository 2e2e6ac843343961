//! Probes of the stream utilities (`io::util`) and the sockets (`net`) on the default driver,
//! from a tokio user's side: what each method promises (tether's docs, or tokio's for the same
//! name) checked against what it does. Each test is named for the behaviour it pins; every wait
//! is bounded, so a lost wake-up fails the test instead of hanging it.

mod support;

use std::time::Duration;

use tether::time::timeout;

/// The bound on each wait: far above any real wait on loopback, only there to turn a hang into
/// a failure.
const HANG: Duration = Duration::from_secs(20);

#[allow(dead_code)]
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match timeout(HANG, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still waiting after {HANG:?} (a lost wake-up?)"),
    }
}

/// `try_write_vectored` to a stream whose peer is gone fails with `BrokenPipe` and raises no
/// `SIGPIPE`, as every other write of a stream (`net` module: "No write raises `SIGPIPE`").
/// `SIGPIPE` is blocked on this thread while the write runs, so one raised stays pending here
/// instead of reaching a handler (or killing the process).
#[cfg(target_os = "linux")]
#[test]
fn try_write_vectored_to_a_closed_stream_raises_no_sigpipe() {
    use std::io::{self, IoSlice};

    use tether::net::UnixStream;

    /// Blocks `SIGPIPE` on this thread; returns whether one is pending after `f`, taking it.
    fn sigpipe_raised_by(f: impl FnOnce()) -> bool {
        // SAFETY: the `sigset_t`s are plain values, initialized by `sigemptyset` before use;
        // the calls change only this thread's mask (restored below) and take only `SIGPIPE`,
        // which this function blocked, so no other code's signal is consumed.
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old), 0);
            f();
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            assert_eq!(libc::sigpending(&mut pending), 0);
            let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            if raised {
                let none = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &none);
            }
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()),
                0
            );
            raised
        }
    }

    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        bounded("writable", a.writable()).await.unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b"cd")];
        let mut result = None;
        let raised = sigpipe_raised_by(|| result = Some(a.try_write_vectored(&bufs)));
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err:?}");
        assert!(!raised, "try_write_vectored raised SIGPIPE");
    });
}
