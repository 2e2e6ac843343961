//! tokio 1.x API items a port needs that tether once lacked, each exercised for its behaviour:
//! the methods of the split halves of `TcpStream` and `UnixStream` and the `fs` calls (on both
//! I/O drivers: run with and without `TETHER_IO_DRIVER=io_uring`); `Interval`'s resets and
//! `Timeout`'s accessors (on the paused clock); `oneshot::Receiver::is_terminated`/`is_empty`.

mod support;

use std::future::Future;
use std::io::{IoSlice, IoSliceMut};
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tether::net::TcpStream;

/// Runs `f` under a generous real-time bound, so that a regression hangs no test run.
async fn bounded<F: Future>(f: F) -> F::Output {
    tether::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the test did not finish within 20 s")
}

use crate::support::net::tcp_pair;

/// `try_read` through `read`'s readiness until it gives bytes (or end-of-stream).
macro_rules! read_when_ready {
    ($half:expr, $buf:expr) => {
        loop {
            $half.readable().await.unwrap();
            match $half.try_read($buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                res => break res.unwrap(),
            }
        }
    };
}

/// The addresses, readiness and non-blocking reads and writes of a stream's halves, as tokio's
/// halves have them, for `$rd`/`$wr` of the stream `a` talking to `b`.
macro_rules! check_half_methods {
    ($a_local:expr, $a_peer:expr, $rd:expr, $wr:expr, $b:expr) => {{
        let (rd, wr, b) = ($rd, $wr, $b);
        assert_eq!(format!("{:?}", rd.local_addr().unwrap()), $a_local);
        assert_eq!(format!("{:?}", rd.peer_addr().unwrap()), $a_peer);
        assert_eq!(format!("{:?}", wr.local_addr().unwrap()), $a_local);
        assert_eq!(format!("{:?}", wr.peer_addr().unwrap()), $a_peer);

        // First through `AsyncRead`/`AsyncWrite`: on io_uring this puts the stream in
        // completion mode (a receive queue, write-behind), which the `try_*` calls below must
        // then go through.
        wr.write_all(b"start").await.unwrap();
        wr.flush().await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"start");
        b.write_all(b"go").await.unwrap();
        b.flush().await.unwrap();
        let mut got = [0u8; 2];
        rd.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"go");

        // Nothing more sent: the read half has nothing to give.
        let mut buf = [0u8; 16];
        assert_eq!(
            rd.try_read(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );

        // The write half: readiness, then a plain and a vectored non-blocking write.
        assert!(wr.ready(Interest::WRITABLE).await.unwrap().is_writable());
        wr.writable().await.unwrap();
        assert_eq!(wr.try_write(b"one").unwrap(), 3);
        let parts = [IoSlice::new(b"tw"), IoSlice::new(b"o")];
        assert_eq!(wr.try_write_vectored(&parts).unwrap(), 3);
        let mut got = [0u8; 6];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"onetwo");

        // The read half: readiness, then a plain and a vectored non-blocking read.
        b.write_all(b"abc").await.unwrap();
        b.flush().await.unwrap();
        assert!(rd.ready(Interest::READABLE).await.unwrap().is_readable());
        let mut n = read_when_ready!(rd, &mut buf);
        while n < 3 {
            n += read_when_ready!(rd, &mut buf[n..]);
        }
        assert_eq!(&buf[..n], b"abc");

        b.write_all(b"defgh").await.unwrap();
        b.flush().await.unwrap();
        let (mut x, mut y) = ([0u8; 2], [0u8; 8]);
        let mut got = Vec::new();
        while got.len() < 5 {
            rd.readable().await.unwrap();
            let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
            match rd.try_read_vectored(&mut bufs) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("try_read_vectored: {e}"),
                Ok(k) => {
                    let joined: Vec<u8> = x.iter().chain(y.iter()).copied().collect();
                    got.extend_from_slice(&joined[..k]);
                }
            }
        }
        assert_eq!(got, b"defgh");
    }};
}

#[tether::test]
async fn tcp_owned_halves_have_the_streams_addresses_readiness_and_try_io() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (local, peer) = (
            format!("{:?}", a.local_addr().unwrap()),
            format!("{:?}", a.peer_addr().unwrap()),
        );
        if std::env::var("TETHER_IO_DRIVER").as_deref() == Ok("io_uring") {
            let driver = tether::runtime::Handle::current().metrics().io_driver();
            assert_eq!(driver, tether::runtime::IoDriver::IoUring);
        }
        let (mut rd, mut wr) = a.into_split();
        check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
    })
    .await
}

#[tether::test]
async fn tcp_borrowed_halves_have_the_streams_addresses_readiness_and_try_io() {
    bounded(async {
        let (mut a, mut b) = tcp_pair().await;
        let (local, peer) = (
            format!("{:?}", a.local_addr().unwrap()),
            format!("{:?}", a.peer_addr().unwrap()),
        );
        let (mut rd, mut wr) = a.split();
        check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
    })
    .await
}

#[tether::test]
async fn tcp_read_halves_peek_without_consuming() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (mut rd, _wr) = a.into_split();
        b.write_all(b"HEAD rest").await.unwrap();
        b.flush().await.unwrap();
        let mut head = [0u8; 4];
        let n = rd.peek(&mut head).await.unwrap();
        assert!(n > 0 && head[..n] == b"HEAD"[..n]);
        let mut all = [0u8; 9];
        rd.read_exact(&mut all).await.unwrap();
        assert_eq!(&all, b"HEAD rest");

        let (mut a, mut b) = tcp_pair().await;
        let (mut rd, _wr) = a.split();
        b.write_all(b"xy").await.unwrap();
        b.flush().await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(rd.peek(&mut one).await.unwrap(), 1);
        assert_eq!(&one, b"x");
        let mut two = [0u8; 2];
        rd.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"xy");
    })
    .await
}

/// `forget` drops the write half without shutting down the write direction: the socket still
/// writes (through the read half's stream) and the peer sees no end-of-stream until the read
/// half, the stream's last owner, is dropped.
#[tether::test]
async fn tcp_forgotten_write_half_leaves_the_write_direction_open() {
    bounded(async {
        let (a, mut b) = tcp_pair().await;
        let (rd, wr) = a.into_split();
        wr.forget();
        let stream: &TcpStream = rd.as_ref();
        stream.writable().await.unwrap();
        assert_eq!(stream.try_write(b"after").unwrap(), 5);
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"after");
        drop(rd);
        assert_eq!(b.read(&mut got).await.unwrap(), 0);

        // Forgetting the write half after the read half is gone closes the stream at once.
        let (a, mut b) = tcp_pair().await;
        let (rd, wr) = a.into_split();
        drop(rd);
        wr.forget();
        assert_eq!(b.read(&mut got).await.unwrap(), 0);
    })
    .await
}

#[cfg(unix)]
mod unix_halves {
    use super::*;
    use tether::net::UnixStream;

    #[tether::test]
    async fn unix_owned_halves_have_the_streams_addresses_readiness_and_try_io() {
        bounded(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (local, peer) = (
                format!("{:?}", a.local_addr().unwrap()),
                format!("{:?}", a.peer_addr().unwrap()),
            );
            let (mut rd, mut wr) = a.into_split();
            check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
        })
        .await
    }

    #[tether::test]
    async fn unix_borrowed_halves_have_the_streams_addresses_readiness_and_try_io() {
        bounded(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let (local, peer) = (
                format!("{:?}", a.local_addr().unwrap()),
                format!("{:?}", a.peer_addr().unwrap()),
            );
            let (mut rd, mut wr) = a.split();
            check_half_methods!(local, peer, &mut rd, &mut wr, &mut b);
        })
        .await
    }

    #[tether::test]
    async fn unix_forgotten_write_half_leaves_the_write_direction_open() {
        bounded(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let (rd, wr) = a.into_split();
            wr.forget();
            let stream: &UnixStream = rd.as_ref();
            stream.writable().await.unwrap();
            assert_eq!(stream.try_write(b"after").unwrap(), 5);
            let mut got = [0u8; 5];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"after");
            drop(rd);
            assert_eq!(b.read(&mut got).await.unwrap(), 0);
        })
        .await
    }
}

mod fs_items {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tether::fs::{self, File};

    /// A fresh, empty directory under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("tether-parity-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tether::test]
    async fn hard_link_gives_the_same_file_a_second_name() {
        bounded(async {
            let dir = TempDir::new("hard-link");
            let (original, link) = (dir.join("original"), dir.join("link"));
            fs::write(&original, "first").await.unwrap();
            fs::hard_link(&original, &link).await.unwrap();
            fs::write(&link, "through the link").await.unwrap();
            assert_eq!(
                fs::read_to_string(&original).await.unwrap(),
                "through the link"
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                assert_eq!(fs::metadata(&original).await.unwrap().nlink(), 2);
            }

            // A name already taken: the error keeps its kind and names both paths.
            let err = fs::hard_link(&original, &link).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
            let message = err.to_string();
            assert!(
                message.contains("original") && message.contains("link"),
                "{message}"
            );
        })
        .await
    }

    #[cfg(unix)]
    #[tether::test]
    async fn symlink_read_link_symlink_metadata_canonicalize_and_try_exists() {
        bounded(async {
            let dir = TempDir::new("symlink");
            let (target, link) = (dir.join("target"), dir.join("link"));
            fs::write(&target, "pointed at").await.unwrap();
            fs::symlink("target", &link).await.unwrap();

            assert_eq!(
                fs::read_link(&link).await.unwrap(),
                std::path::Path::new("target")
            );
            assert_eq!(fs::read_to_string(&link).await.unwrap(), "pointed at");
            assert!(fs::symlink_metadata(&link)
                .await
                .unwrap()
                .file_type()
                .is_symlink());
            assert!(fs::metadata(&link).await.unwrap().is_file());
            assert_eq!(
                fs::canonicalize(&link).await.unwrap(),
                std::fs::canonicalize(&target).unwrap()
            );
            assert!(fs::try_exists(&link).await.unwrap());

            // A link whose target is gone dangles: it is there, but does not "exist".
            fs::remove_file(&target).await.unwrap();
            assert!(!fs::try_exists(&link).await.unwrap());
            assert!(fs::symlink_metadata(&link).await.is_ok());
            assert!(fs::canonicalize(&link).await.is_err());

            // Not a link, and a name already taken: errors that name the path.
            let err = fs::read_link(dir.join("missing")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            assert!(err.to_string().contains("missing"), "{err}");
            let err = fs::symlink("elsewhere", &link).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        })
        .await
    }

    #[tether::test]
    async fn set_permissions_by_path_and_on_an_open_file() {
        bounded(async {
            let dir = TempDir::new("perms");
            let path = dir.join("file");
            // Opened for writing before it becomes read-only (Windows changes attributes
            // only through a handle with write access).
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .await
                .unwrap();

            let mut perms = fs::metadata(&path).await.unwrap().permissions();
            perms.set_readonly(true);
            fs::set_permissions(&path, perms).await.unwrap();
            assert!(fs::metadata(&path).await.unwrap().permissions().readonly());

            let mut perms = file.metadata().await.unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            file.set_permissions(perms).await.unwrap();
            assert!(!fs::metadata(&path).await.unwrap().permissions().readonly());

            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let perms = std::fs::Permissions::from_mode(0o640);
                file.set_permissions(perms).await.unwrap();
                let mode = fs::metadata(&path).await.unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o640);
            }

            let perms = fs::metadata(&path).await.unwrap().permissions();
            let err = fs::set_permissions(dir.join("missing"), perms)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            assert!(err.to_string().contains("missing"), "{err}");
        })
        .await
    }

    /// The clone is the same open file: writes through either continue at the shared cursor,
    /// and a seek through one moves the other's next write.
    #[tether::test]
    async fn try_clone_shares_the_open_file_and_its_cursor() {
        use std::io::SeekFrom;
        use tether::io::AsyncSeekExt;
        bounded(async {
            let dir = TempDir::new("try-clone");
            let path = dir.join("file");
            let mut first = File::create(&path).await.unwrap();
            first.write_all(b"one ").await.unwrap();
            first.flush().await.unwrap();

            let mut second = first.try_clone().await.unwrap();
            second.write_all(b"two ").await.unwrap();
            second.flush().await.unwrap();
            first.write_all(b"three").await.unwrap();
            first.flush().await.unwrap();
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "one two three");

            second.seek(SeekFrom::Start(0)).await.unwrap();
            first.write_all(b"ONE").await.unwrap();
            first.flush().await.unwrap();
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "ONE two three");

            // Both stay usable after the other is gone.
            drop(first);
            second.write_all(b"!").await.unwrap();
            second.close().await.unwrap();
            assert_eq!(fs::read_to_string(&path).await.unwrap(), "ONE!two three");
        })
        .await
    }
}

/// `Interval`'s resets (tokio 1.30's) and `Timeout`'s accessors, on the paused clock.
mod time_items {
    use std::pin::Pin;
    use std::time::Duration;
    use tether::time::{interval, sleep, timeout, Instant, MissedTickBehavior};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tether::test(start_paused = true)]
    async fn reset_immediately_ticks_now_then_every_period_from_now() {
        let start = Instant::now();
        let mut every = interval(ms(100));
        assert_eq!(every.tick().await, start);
        sleep(ms(50)).await;
        every.reset_immediately();
        assert_eq!(every.tick().await, start + ms(50));
        assert_eq!(start.elapsed(), ms(50));
        assert_eq!(every.tick().await, start + ms(150));
        assert_eq!(every.tick().await, start + ms(250));
    }

    #[tether::test(start_paused = true)]
    async fn reset_after_moves_the_next_tick_shorter_or_longer_than_a_period() {
        let start = Instant::now();
        let mut every = interval(ms(100));
        every.tick().await;
        sleep(ms(50)).await;
        every.reset_after(ms(30));
        assert_eq!(every.tick().await, start + ms(80));
        assert_eq!(every.tick().await, start + ms(180));

        every.reset_after(ms(250)); // longer than the period: no tick comes before it
        assert_eq!(every.tick().await, start + ms(430));
        assert_eq!(start.elapsed(), ms(430));
        assert_eq!(every.tick().await, start + ms(530));
    }

    #[tether::test(start_paused = true)]
    async fn reset_at_forgets_missed_ticks() {
        let start = Instant::now();
        let mut every = interval(ms(100));
        every.tick().await;
        sleep(ms(450)).await; // four ticks missed; `Burst` would fire them back to back
        every.reset_at(Instant::now() + ms(10));
        assert_eq!(every.tick().await, start + ms(460));
        assert_eq!(every.tick().await, start + ms(560));
        assert_eq!(start.elapsed(), ms(560));
    }

    #[tether::test(start_paused = true)]
    async fn reset_at_a_past_instant_ticks_at_once_then_follows_the_missed_tick_behavior() {
        let start = Instant::now();
        for (behavior, second) in [
            (MissedTickBehavior::Burst, ms(300)),
            (MissedTickBehavior::Delay, ms(1100)),
            (MissedTickBehavior::Skip, ms(1100)),
        ] {
            let base = Instant::now();
            let mut every = interval(ms(100));
            every.set_missed_tick_behavior(behavior);
            every.tick().await;
            sleep(ms(1000)).await;
            every.reset_at(base + ms(200));
            assert_eq!(every.tick().await, base + ms(200), "{behavior:?}");
            assert_eq!(
                base.elapsed(),
                ms(1000),
                "{behavior:?}: the tick was late, not waited"
            );
            assert_eq!(every.tick().await, base + second, "{behavior:?}");
        }
        assert!(start.elapsed() >= ms(3000));
    }

    #[tether::test(start_paused = true)]
    async fn timeout_get_ref_get_mut_and_into_inner_reach_the_wrapped_future() {
        let start = Instant::now();
        let mut bounded = timeout(ms(5_000), sleep(ms(60_000)));
        assert_eq!(bounded.get_ref().deadline(), start + ms(60_000));
        assert!(!bounded.get_ref().is_elapsed());

        // Through `get_mut`: the inner sleep now ends before the deadline.
        Pin::new(bounded.get_mut()).reset(start + ms(2_000));
        assert_eq!(bounded.get_ref().deadline(), start + ms(2_000));
        assert!(bounded.await.is_ok());
        assert_eq!(start.elapsed(), ms(2_000));

        // Unchanged, it runs into the deadline.
        let start = Instant::now();
        assert!(timeout(ms(5_000), sleep(ms(60_000))).await.is_err());
        assert_eq!(start.elapsed(), ms(5_000));

        // `into_inner` abandons the deadline: the inner sleep runs its whole course.
        let start = Instant::now();
        let inner = timeout(ms(5_000), sleep(ms(60_000))).into_inner();
        inner.await;
        assert_eq!(start.elapsed(), ms(60_000));
    }
}

/// `oneshot::Receiver::is_terminated` and `is_empty` (tokio 1.41's).
mod oneshot_items {
    use tether::sync::oneshot::{self, error::TryRecvError};

    #[tether::test]
    async fn a_receiver_terminates_once_it_has_given_the_value() {
        let (tx, mut rx) = oneshot::channel();
        assert!(!rx.is_terminated() && rx.is_empty());

        // Polled and still pending: neither terminated nor holding anything.
        let first = futures_lite::future::poll_once(&mut rx).await;
        assert_eq!(first, None);
        assert!(!rx.is_terminated() && rx.is_empty());

        tx.send(5).unwrap();
        assert!(!rx.is_terminated(), "sent but not received");
        assert!(!rx.is_empty());

        assert_eq!((&mut rx).await, Ok(5));
        assert!(rx.is_terminated() && rx.is_empty());
    }

    #[tether::test]
    async fn a_receiver_terminates_once_it_has_given_the_error() {
        let (tx, mut rx) = oneshot::channel::<u8>();
        drop(tx);
        assert!(
            rx.is_empty(),
            "a sender gone without sending leaves the channel empty"
        );
        assert!(!rx.is_terminated(), "the error is still to be received");
        assert!((&mut rx).await.is_err());
        assert!(rx.is_terminated() && rx.is_empty());
    }

    #[tether::test]
    async fn try_recv_terminates_on_a_value_or_closed_but_not_on_empty() {
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(!rx.is_terminated());
        tx.send("v").unwrap();
        assert_eq!(rx.try_recv(), Ok("v"));
        assert!(rx.is_terminated() && rx.is_empty());

        let (tx, mut rx) = oneshot::channel::<()>();
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert!(rx.is_terminated());
    }

    /// A value sent before `close` is still in the channel, so it is not empty until taken.
    #[tether::test]
    async fn close_keeps_a_value_sent_before_it() {
        let (tx, mut rx) = oneshot::channel();
        tx.send(9).unwrap();
        rx.close();
        assert!(!rx.is_empty() && !rx.is_terminated());
        assert_eq!((&mut rx).await, Ok(9));
        assert!(rx.is_terminated() && rx.is_empty());

        let (tx, mut rx) = oneshot::channel::<u8>();
        rx.close();
        assert!(rx.is_empty() && !rx.is_terminated());
        assert!(tx.send(1).is_err());
        assert!((&mut rx).await.is_err());
        assert!(rx.is_terminated());
    }
}
