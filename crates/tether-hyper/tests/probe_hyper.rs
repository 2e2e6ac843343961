//! Probes of `tether_hyper::serve` and `Client` where a program moved from axum-on-tokio would
//! hit their edges: accept errors, upgrades, `max_connections`, graceful shutdown with requests
//! in flight, idle and stalled clients, bodies that must arrive whole, and the client's pool.
//! On the real clock with short timeouts (real sockets), each bounded to a few seconds.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::StatusCode;
use support::{read_until, start_on, Client, Proto, Server};
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sync::oneshot;
use tether::time::{sleep, timeout, Instant};
use tether_hyper::Serve;

/// The size of `/big`'s body: far more than loopback's socket buffers hold.
const BIG: usize = 32 << 20;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

async fn start(configure: impl FnOnce(Serve<Router>) -> Serve<Router>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, app(), configure)
}

/// Waits (at most `limit`) for the server to close `s`, reading and discarding what it sends;
/// how long that took, or `None` if it was still open.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// CPU time (user and system) of the calling thread.
fn thread_cpu_time() -> Duration {
    // SAFETY: `getrusage` writes the struct it is given; an all-zero `rusage` is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// An accept that fails for a reason other than the connection's own, and keeps failing (here
/// a listener shut down under the server: Linux then fails every `accept` with `EINVAL` and
/// reports the socket readable), does not make the accept loop spin: `axum::serve` sleeps
/// after such an error. The server runs on this thread (current-thread runtime), so this
/// thread's CPU time over half a second of waiting is the accept loop's.
#[cfg(target_os = "linux")]
#[tether::test]
async fn a_persistent_accept_error_does_not_spin() {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fd = listener.as_raw_fd();
    let server = start_on(listener, app(), |s| s);
    // Let the accept loop start waiting on the listener.
    sleep(Duration::from_millis(50)).await;
    // SAFETY: `fd` is the server's listener, still open (the server owns it).
    assert_eq!(unsafe { libc::shutdown(fd, libc::SHUT_RD) }, 0);
    let before = thread_cpu_time();
    sleep(Duration::from_millis(500)).await;
    let spent = thread_cpu_time() - before;
    assert!(
        spent < Duration::from_millis(50),
        "the accept loop spun: {spent:?} of CPU in 500 ms"
    );
    let summary = server.shut_down().await;
    assert!(summary.cut_off.is_empty(), "{summary}");
}

/// Echoes what the client sends on an upgraded connection until it closes.
async fn echo_upgraded(mut up: hyper::upgrade::Upgraded) -> std::io::Result<()> {
    use hyper::rt::{Read, Write};
    use std::pin::Pin;
    use std::task::Poll;
    let mut data = [0u8; 1024];
    loop {
        let n = std::future::poll_fn(|cx| {
            let mut rb = hyper::rt::ReadBuf::new(&mut data);
            std::task::ready!(Pin::new(&mut up).poll_read(cx, rb.unfilled()))?;
            Poll::Ready(Ok::<_, std::io::Error>(rb.filled().len()))
        })
        .await?;
        if n == 0 {
            return Ok(());
        }
        let mut at = 0;
        while at < n {
            at += std::future::poll_fn(|cx| Pin::new(&mut up).poll_write(cx, &data[at..n])).await?;
        }
        std::future::poll_fn(|cx| Pin::new(&mut up).poll_flush(cx)).await?;
    }
}

/// A request with `Upgrade: probe` is switched to the echo protocol (as a WebSocket handshake
/// is): the service answers 101 and a task of its own takes the connection over.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_works_through_serve() {
    let service = tether_hyper::HyperService(hyper::service::service_fn(
        |mut req: hyper::Request<hyper::body::Incoming>| async move {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tether::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    let _ = echo_upgraded(up).await;
                }
            });
            Ok::<_, Infallible>(
                hyper::Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header("connection", "upgrade")
                    .header("upgrade", "probe")
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap(),
            )
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = start_on(listener, service, |s| {
        s.header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_millis(300))
    });
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: probe\r\n\r\n")
        .await
        .unwrap();
    let head = timeout(Duration::from_secs(3), read_until(&mut s, b"\r\n\r\n"))
        .await
        .expect("the 101 arrived");
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    // Quiet for longer than both timeouts: the upgraded connection is no longer HTTP's.
    sleep(Duration::from_millis(700)).await;
    for word in [&b"ping"[..], b"pong"] {
        s.write_all(word).await.unwrap();
        let mut got = vec![0u8; word.len()];
        timeout(Duration::from_secs(3), s.read_exact(&mut got))
            .await
            .expect("the echo arrived")
            .unwrap();
        assert_eq!(got, word);
    }
    drop(s);
    server.shut_down().await;
}

/// `max_connections(1)`: a second client waits while the first is open and is served as soon
/// as the first closes (its place is given back).
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_bounds_and_gives_places_back() {
    let server = start(|s| s.max_connections(1)).await;
    let mut first = Client::connect(server.addr, Proto::Http1).await;
    assert_eq!(first.request("GET", "/", None).await.status, StatusCode::OK);
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(
        timeout(Duration::from_millis(300), second.read(&mut buf))
            .await
            .is_err(),
        "the second connection was served while the first was open"
    );
    drop(first);
    let reply = timeout(Duration::from_secs(3), read_until(&mut second, b"ok"))
        .await
        .expect("the second connection was served once the first closed");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    drop(second);
    server.shut_down().await;
}

/// A graceful shutdown lets a request in flight finish (HTTP/1 and HTTP/2), and the summary
/// says so: one connection open at the signal, closed cleanly, none cut off.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_lets_requests_in_flight_finish() {
    for proto in [Proto::Http1, Proto::Http2] {
        let server = start(|s| s.grace_period(Duration::from_secs(3))).await;
        let mut c = Client::connect(server.addr, proto).await;
        let req = tether::spawn(async move { c.request("GET", "/slow", None).await });
        sleep(Duration::from_millis(100)).await;
        let summary = server.shut_down().await;
        let reply = timeout(Duration::from_secs(3), req)
            .await
            .expect("the reply arrived")
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{proto:?}");
        assert_eq!(reply.body, "slow", "{proto:?}");
        assert_eq!(summary.open_at_signal, 1, "{proto:?}: {summary}");
        assert_eq!(summary.closed_cleanly, 1, "{proto:?}: {summary}");
        assert!(summary.cut_off.is_empty(), "{proto:?}: {summary}");
        assert!(
            summary.took < Duration::from_secs(2),
            "{proto:?}: {summary}"
        );
    }
}

/// An idle keep-alive connection does not hold a graceful shutdown for its grace period
/// (HTTP/1 closes it at once; HTTP/2 sends GOAWAY and the client closes).
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_does_not_wait_for_idle_connections() {
    for proto in [Proto::Http1, Proto::Http2] {
        let server = start(|s| s.grace_period(Duration::from_secs(5))).await;
        let mut c = Client::connect(server.addr, proto).await;
        assert_eq!(c.request("GET", "/", None).await.status, StatusCode::OK);
        let summary = server.shut_down().await;
        assert!(summary.cut_off.is_empty(), "{proto:?}: {summary}");
        assert!(
            summary.took < Duration::from_secs(2),
            "{proto:?}: {summary}"
        );
        drop(c);
    }
}

/// A client that stops reading a large response: the idle timeout shuts the connection down
/// and the grace period drops it; its task is gone.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped() {
    let server = start(|s| {
        s.idle_timeout(Duration::from_millis(200))
            .header_read_timeout(Duration::from_millis(200))
            .grace_period(Duration::from_millis(200))
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let _ = read_until(&mut s, b"\r\n\r\n").await;
    // Not reading any more: the server's writes stall.
    support::wait_no_server_tasks(300).await;
    drop(s);
    server.shut_down().await;
}

/// Rule 7's timer resets: a keep-alive connection used every 150 ms stays open past its idle
/// timeout (300 ms) many times over, then, quiet, is closed within two idle timeouts.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timer_reset_by_activity_still_fires_once_quiet() {
    let server = start(|s| {
        s.idle_timeout(Duration::from_millis(300))
            .header_read_timeout(None)
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..8 {
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let reply = timeout(Duration::from_secs(2), read_until(&mut s, b"ok"))
            .await
            .expect("a reply");
        assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
        sleep(Duration::from_millis(150)).await;
    }
    let closed = closed_within(&mut s, Duration::from_secs(3)).await;
    let closed = closed.expect("the quiet connection was closed");
    assert!(closed <= Duration::from_millis(900), "{closed:?}");
    server.shut_down().await;
}

/// A large request body is echoed whole, over HTTP/1 and HTTP/2.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_is_echoed_whole() {
    let server = start(|s| s).await;
    let body: String = (0..(1 << 20))
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    for proto in [Proto::Http1, Proto::Http2] {
        let mut c = Client::connect(server.addr, proto).await;
        let reply = timeout(
            Duration::from_secs(5),
            c.request("POST", "/echo", Some(&body)),
        )
        .await
        .expect("the echo arrived");
        assert_eq!(reply.status, StatusCode::OK, "{proto:?}");
        assert!(
            reply.body == body,
            "{proto:?}: {} bytes back",
            reply.body.len()
        );
    }
    server.shut_down().await;
}

/// The client's pool closes a connection left unused for its idle timeout: the server sees
/// it go (the server's own timeouts are off).
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_pool_closes_idle_connections() {
    let server = start(|s| s.idle_timeout(None).header_read_timeout(None)).await;
    let client: tether_hyper::Client = tether_hyper::Client::builder()
        .pool_idle_timeout(Duration::from_millis(200))
        .build();
    let res = client
        .get(format!("http://{}/", server.addr).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
    assert!(!support::server_tasks().is_empty());
    support::wait_no_server_tasks(300).await;
    let res = client
        .request(
            hyper::Request::post(format!("http://{}/echo", server.addr))
                .body(Full::new(Bytes::from("again")))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "again");
    drop(client);
    server.shut_down().await;
}

/// A graceful shutdown does not wait for a TLS handshake that is not going anywhere (a client
/// that connected and said nothing): the handshake ends at once, and nothing is cut off.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_ends_a_tls_handshake_at_once() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config =
        tether_hyper::tls::server_config(vec![generated.cert.der().clone()], key.into()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = tether_hyper::serve_tls(listener, std::sync::Arc::new(config).into(), app())
        .grace_period(Duration::from_secs(5))
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
    let task = tether::spawn(std::future::IntoFuture::into_future(serve));
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Half a ClientHello's record header, then nothing.
    silent.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    let summary = timeout(Duration::from_secs(3), task)
        .await
        .expect("the shutdown did not wait for the handshake")
        .unwrap();
    assert!(summary.cut_off.is_empty(), "{summary}");
    assert!(summary.took < Duration::from_secs(1), "{summary}");
    assert!(closed_within(&mut silent, Duration::from_secs(1))
        .await
        .is_some());
}

/// A response whose body the client drops unread does not leave the client's connection open
/// (the server's own timeouts are off, so only the client can close it).
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_response_body_does_not_leak_the_clients_connection() {
    let server = start(|s| s.idle_timeout(None).header_read_timeout(None)).await;
    let client = tether_hyper::Client::new();
    let res = client
        .get(format!("http://{}/big", server.addr).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(res);
    support::wait_no_server_tasks(300).await;
    drop(client);
    server.shut_down().await;
}

/// Pipelined HTTP/1.1 requests (sent together, before any reply) are all answered, in order.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered() {
    let server = start(|s| s).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n\
          POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
          GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    timeout(Duration::from_secs(3), s.read_to_end(&mut got))
        .await
        .expect("all answered and closed")
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    let bodies: Vec<&str> = got
        .split("HTTP/1.1 200 OK")
        .skip(1)
        .map(|r| r.rsplit("\r\n\r\n").next().unwrap())
        .collect();
    assert_eq!(bodies, ["slow", "hello", "ok"], "{got}");
    server.shut_down().await;
}

/// A request whose body the client stops sending holds its connection past a graceful
/// shutdown's grace period: the connection is cut off, and the summary says it had that
/// request in flight.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_at_shutdown_is_cut_off_and_reported() {
    let server = start(|s| s.grace_period(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\nonly ten b")
        .await
        .unwrap();
    sleep(Duration::from_millis(100)).await;
    let summary = server.shut_down().await;
    assert_eq!(summary.open_at_signal, 1, "{summary}");
    assert_eq!(summary.cut_off.len(), 1, "{summary}");
    assert_eq!(summary.cut_off[0].requests_in_flight, 1, "{summary}");
    assert!(summary.took < Duration::from_secs(2), "{summary}");
}

/// A `serve` future dropped (raced against a signal in a `select!`, as axum programs often
/// do) returns at once, closes its listener, and leaves no connection task behind.
///
/// The listener is found closed by its socket's inode in the kernel's table, not by a
/// connection attempt: the tests of this binary run at once, and one of them may bind the
/// port the moment it is free (the check by connecting failed once in CI that way, or by a
/// self-connection). On io_uring the kernel ends the listener's multishot accept, which holds
/// the socket, on the thread that armed it, so the socket can outlive its descriptor for a
/// moment: the check waits for it, boundedly.
#[cfg(target_os = "linux")]
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_serve_future_stops_serving() {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inode = support::socket_inode(listener.as_raw_fd());
    let serve = tether_hyper::serve(listener, app()).grace_period(Duration::from_secs(1));
    let mut c = Client::connect(addr, Proto::Http1).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tether::spawn(async move {
        tether::select! {
            _ = std::future::IntoFuture::into_future(serve) => {}
            _ = stopped => {}
        }
    });
    assert_eq!(c.request("GET", "/", None).await.status, StatusCode::OK);
    assert!(
        support::is_listening(inode),
        "the table lists the serving listener"
    );
    let _ = stop.send(());
    timeout(Duration::from_secs(1), server)
        .await
        .expect("the dropped server returned at once")
        .unwrap();
    support::wait_no_server_tasks(300).await;
    for _ in 0..300 {
        if !support::is_listening(inode) {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert!(!support::is_listening(inode), "the listener still listens");
    drop(c);
}

/// A client built in a scope lets the scope end once it is dropped, after requests over
/// HTTP/1 and HTTP/2 left pooled connections.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_client_lets_its_scope_end_once_dropped() {
    let server = start(|s| s.idle_timeout(None).header_read_timeout(None)).await;
    let addr = server.addr;
    let ended = timeout(
        Duration::from_secs(3),
        tether::scope::scope(|s| async move {
            for h2 in [false, true] {
                let mut b = tether_hyper::Client::builder();
                if h2 {
                    b = b.http2_prior_knowledge();
                }
                let client: tether_hyper::Client = b.build_in(&s);
                let res = client
                    .get(format!("http://{addr}/").parse().unwrap())
                    .await
                    .unwrap();
                let body = res.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, "ok");
                drop(client);
            }
            Ok::<_, Infallible>(())
        }),
    )
    .await;
    assert!(ended.is_ok(), "the scope waited for the dropped clients");
    server.shut_down().await;
}

/// Rule 7 under load, across worker threads: fifty keep-alive connections, each used a few
/// times within its idle timeout, then quiet, are all closed within two idle timeouts (and
/// some slack); none waits on a lost wake-up.
#[tether::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_connections_going_quiet_are_all_closed() {
    let server = start(|s| {
        s.idle_timeout(Duration::from_millis(200))
            .header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut clients = Vec::new();
    for i in 0..50u64 {
        let addr = server.addr;
        clients.push(tether::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for _ in 0..3 {
                s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                    .await
                    .unwrap();
                let reply = read_until(&mut s, b"ok").await;
                assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
                sleep(Duration::from_millis(50 + i % 7 * 10)).await;
            }
            closed_within(&mut s, Duration::from_secs(3)).await
        }));
    }
    for c in clients {
        let closed = c
            .await
            .unwrap()
            .expect("a quiet connection was never closed");
        assert!(closed <= Duration::from_millis(1500), "{closed:?}");
    }
    server.shut_down().await;
}

/// A graceful shutdown with fifty requests in flight over HTTP/1 and HTTP/2 lets all of them
/// finish and reports each connection closed cleanly.
#[tether::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_shutdown_with_many_requests_in_flight_loses_none() {
    let server = start(|s| s.grace_period(Duration::from_secs(3))).await;
    let mut reqs = Vec::new();
    for i in 0..50 {
        let proto = if i % 2 == 0 {
            Proto::Http1
        } else {
            Proto::Http2
        };
        let mut c = Client::connect(server.addr, proto).await;
        reqs.push(tether::spawn(async move {
            c.request("GET", "/slow", None).await
        }));
    }
    sleep(Duration::from_millis(150)).await;
    let summary = server.shut_down().await;
    for r in reqs {
        let reply = r.await.unwrap();
        assert_eq!(reply.body, "slow");
    }
    assert_eq!(summary.open_at_signal, 50, "{summary}");
    assert_eq!(summary.closed_cleanly, 50, "{summary}");
    assert!(summary.cut_off.is_empty(), "{summary}");
    assert_eq!(summary.streams_cut_off, 0, "{summary}");
}
