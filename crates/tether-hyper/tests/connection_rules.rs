//! The per-connection rules of `tether_hyper::serve` (`server/conn.rs`) where a production
//! server would hit their edges, on the paused clock: a slow handler is not idle (HTTP/1 and
//! HTTP/2); a slowly read large response is not a wait for the next head; a request that only
//! starts like HTTP/2's preface (`PRI `) is still under the header read timeout; at shutdown a
//! half-sent head is closed at once and a connection cut off reports its requests in flight; a
//! TLS client that connects and says nothing meets the idle timeout; the client's connect
//! timeout bounds its TLS handshake; HTTP/2 clients that hold a connection without using it
//! (granting no flow-control window, trickling a header block, only pinging) are ended; and a
//! request whose service fails leaves the connection's counts, so the connection can go idle.
//! Also: accepted connections set `TCP_NODELAY` unless `tcp_nodelay(false)` says not to.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hyper::body::Bytes;
use hyper::StatusCode;
use support::{start_on, Client, Proto, Server};
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::task::JoinHandle;
use tether::time::{sleep, Instant};
use tether_hyper::Serve;

/// The size of `/big`'s one-chunk body.
const BIG: usize = 32 << 20;

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_secs(5)).await;
                "slow"
            }),
        )
        .route(
            "/forever",
            get(|| async {
                sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route(
            "/stream",
            get(|| async {
                axum::body::Body::new(Chunks {
                    left: 1024,
                    chunk: Bytes::from(vec![b'y'; 16 * 1024]),
                })
            }),
        )
}

/// A body of `left` chunks, each ready at once.
struct Chunks {
    left: usize,
    chunk: Bytes,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.clone()))))
    }
}

async fn start(configure: impl FnOnce(Serve<Router>) -> Serve<Router>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, app(), configure)
}

/// An HTTP/2 connection by prior knowledge, driven by a task of its own.
async fn http2(
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(tether_hyper::TetherExecutor::new())
            .timer(tether_hyper::TetherTimer)
            .handshake(tether_hyper::TetherIo::new(stream))
            .await
            .unwrap();
    tether::spawn(conn);
    send
}

fn get_request(path: &str) -> hyper::Request<http_body_util::Empty<Bytes>> {
    hyper::Request::get(format!("http://localhost{path}"))
        .body(http_body_util::Empty::new())
        .unwrap()
}

/// A handler that takes longer than the idle timeout is not an idle connection: its response
/// arrives (HTTP/1 and HTTP/2). Before, no byte moving for the idle timeout shut the
/// connection down and the grace period then cut the request.
#[tether::test(start_paused = true)]
async fn a_slow_handler_outlives_the_idle_timeout() {
    let server = start(|s| {
        s.idle_timeout(Duration::from_secs(1))
            .header_read_timeout(None)
            .grace_period(Duration::from_secs(1))
    })
    .await;
    let mut h1 = TcpStream::connect(server.addr).await.unwrap();
    h1.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    h1.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
    assert!(reply.ends_with("slow"), "{reply:?}");

    let mut h2 = http2(server.addr).await;
    let res = h2
        .send_request(get_request("/slow"))
        .await
        .expect("HTTP/2 reply");
    assert_eq!(res.status(), StatusCode::OK);
}

/// A large one-chunk response read slowly is still being written: the header read timeout
/// leaves it alone (hyper drops such a body as soon as it is queued, so only the writes show
/// that the response is not done).
#[tether::test(start_paused = true)]
async fn a_slowly_read_large_response_is_not_a_wait_for_a_head() {
    let server = start(|s| {
        s.header_read_timeout(Duration::from_secs(1))
            .idle_timeout(None)
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
        // About 2.5 MB/s: a dozen header timeouts for the whole response.
        sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(2));
    assert!(
        total > BIG,
        "the whole response (head and {BIG} bytes) arrived: {total}"
    );
}

/// A request that starts with `PRI ` but is not HTTP/2's whole preface is HTTP/1 to hyper,
/// and so to the header read timeout: trickled a byte at a time, it is closed.
#[tether::test(start_paused = true)]
async fn a_request_starting_like_http2s_preface_is_under_the_header_timeout() {
    let server = start(|s| {
        s.header_read_timeout(Duration::from_secs(1))
            .idle_timeout(Duration::from_secs(1))
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"PRI / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = tether::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 64];
        loop {
            sleep(Duration::from_millis(500)).await;
            if s.write_all(b"a").await.is_err() {
                return;
            }
            if let Ok(r) = tether::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
                match r {
                    Ok(0) | Err(_) => return,
                    Ok(n) => panic!("a reply: {:?}", String::from_utf8_lossy(&buf[..n])),
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the trickling client was never closed");
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// At shutdown, connections waiting for a head close at once, also one in the middle of a
/// head (hyper alone would wait for it to complete, for the whole grace period).
#[tether::test(start_paused = true)]
async fn shutdown_closes_a_half_sent_head_at_once() {
    let server = start(|s| s.grace_period(Duration::from_secs(5))).await;
    let mut h1 = Client::connect(server.addr, Proto::Http1).await;
    assert_eq!(h1.request("GET", "/", None).await.status, StatusCode::OK);
    let mut h2 = Client::connect(server.addr, Proto::Http2).await;
    assert_eq!(h2.request("GET", "/", None).await.status, StatusCode::OK);
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let silent = TcpStream::connect(server.addr).await.unwrap();
    sleep(Duration::from_millis(200)).await;
    let summary = server.shut_down().await;
    assert!(summary.took < Duration::from_millis(100), "{summary}");
    assert_eq!(summary.closed_cleanly, 4, "{summary}");
    assert!(summary.cut_off.is_empty(), "{summary}");
    drop((h1, h2, partial, silent));
}

/// A connection cut off at the end of the grace period reports the requests it had in flight
/// (HTTP/1 and HTTP/2), counted before their futures are dropped with it.
#[tether::test(start_paused = true)]
async fn a_connection_cut_off_reports_its_requests_in_flight() {
    let server = start(|s| s.grace_period(Duration::from_millis(500))).await;
    let mut h1 = TcpStream::connect(server.addr).await.unwrap();
    h1.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut h2 = http2(server.addr).await;
    let h2_request = tether::spawn(async move { h2.send_request(get_request("/forever")).await });
    sleep(Duration::from_millis(300)).await;
    let summary = server.shut_down().await;
    assert_eq!(summary.cut_off.len(), 2, "{summary}");
    for c in &summary.cut_off {
        assert_eq!(c.requests_in_flight, 1, "{summary}");
    }
    assert!(
        h2_request.await.unwrap().is_err(),
        "the HTTP/2 request was cut off"
    );
    drop(h1);
}

/// A TLS server without a header read timeout still ends a client that connects and sends
/// nothing, by its idle timeout (the handshake is bounded by it).
#[tether::test(start_paused = true)]
async fn a_silent_tls_client_meets_the_idle_timeout() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config =
        tether_hyper::tls::server_config(vec![generated.cert.der().clone()], key.into()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tether_hyper::serve_tls(listener, std::sync::Arc::new(config).into(), app())
        .header_read_timeout(None)
        .idle_timeout(Duration::from_secs(1));
    tether::spawn(std::future::IntoFuture::into_future(serve));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let closed = tether::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}

/// The client's connect timeout bounds the TLS handshake too: a server that accepts and
/// never answers fails the request with a timeout instead of hanging it.
#[tether::test(start_paused = true)]
async fn the_clients_connect_timeout_bounds_its_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _holder = tether::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            held.push(s);
        }
    });
    let client: tether_hyper::Client = tether_hyper::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .build();
    let started = Instant::now();
    let res = tether::time::timeout(
        Duration::from_secs(600),
        client.get(format!("https://{addr}/").parse().unwrap()),
    )
    .await
    .expect("the request ended");
    let err = res.expect_err("no server answered");
    assert!(
        format!("{err:?}").contains("timed out"),
        "the error says it timed out: {err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// An HTTP/2 client whose windows are one 16 KiB frame, so that a response it does not read
/// stops at once.
async fn http2_small_window(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    JoinHandle<()>,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(tether_hyper::TetherExecutor::new())
            .timer(tether_hyper::TetherTimer)
            .initial_stream_window_size(16 * 1024)
            .initial_connection_window_size(16 * 1024)
            .handshake(tether_hyper::TetherIo::new(stream))
            .await
            .unwrap();
    let conn = tether::spawn(async move {
        let _ = conn.await;
    });
    (send, conn)
}

/// An HTTP/2 client that stops granting flow-control window (it never reads a streamed
/// response's body) is waiting for nothing the server can do: it is shut down at the idle
/// timeout and dropped after the grace period, as an HTTP/1 client that stopped reading is.
/// Before, the response body being alive looked like a stream with nothing to send yet.
#[tether::test(start_paused = true)]
async fn an_http2_client_that_stops_granting_window_is_idle() {
    let server = start(|s| {
        s.idle_timeout(Duration::from_secs(1))
            .header_read_timeout(None)
            .grace_period(Duration::from_secs(1))
    })
    .await;
    let (mut send, conn) = http2_small_window(server.addr).await;
    let res = send.send_request(get_request("/stream")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let started = Instant::now();
    // The body is held, never read.
    let ended = tether::time::timeout(Duration::from_secs(30), conn).await;
    assert!(ended.is_ok(), "the connection was never closed");
    assert!(
        started.elapsed() <= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(res);
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// HTTP/2 slowloris: a client that trickles a header block (a HEADERS frame without
/// END_HEADERS, one byte every 100 ms) never completes a request head: it is ended at the
/// header read timeout, and its `max_connections` place goes to the next client. Before, HTTP/2
/// was exempt from the header read timeout and every byte counted as activity. (On the real
/// clock: the trickle must reach the server between the timers' looks.)
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_trickling_a_header_block_is_ended() {
    let server = start(|s| {
        s.max_connections(1)
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_millis(300))
            .grace_period(Duration::from_millis(300))
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    // HEADERS, 200 bytes announced, stream 1, no flags.
    s.write_all(&[0, 0, 200, 1, 0, 0, 0, 0, 1]).await.unwrap();
    let trickle = tether::spawn(async move {
        for _ in 0..50 {
            if s.write_all(&[0x82]).await.is_err() {
                return true;
            }
            sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let mut other = Client::connect(server.addr, Proto::Http1).await;
    let reply = tether::time::timeout(Duration::from_secs(3), other.request("GET", "/", None))
        .await
        .expect("the other client was served");
    assert_eq!(reply.status, StatusCode::OK);
    assert!(trickle.await.unwrap(), "the trickling client was ended");
}

/// An HTTP/2 client that only pings (no request, or none since its last) is not active: it is
/// ended at the header read timeout before its first request, at the idle timeout after one.
#[tether::test(start_paused = true)]
async fn an_http2_client_that_only_pings_is_ended() {
    let server = start(|s| {
        s.header_read_timeout(Duration::from_secs(1))
            .idle_timeout(Duration::from_secs(2))
            .grace_period(Duration::from_secs(1))
    })
    .await;
    // No request at all: ended at the header read timeout.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    let lasted = pings_until_closed(&mut s).await;
    assert!(lasted <= Duration::from_secs(2), "{lasted:?}");
    // One request (`GET /`: HEADERS with END_STREAM and END_HEADERS, :method GET, :scheme
    // http, :path / from HPACK's static table), then only pings: ended at the idle timeout.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(H2_PREFACE).await.unwrap();
    s.write_all(&[0, 0, 3, 1, 5, 0, 0, 0, 1, 0x82, 0x86, 0x84])
        .await
        .unwrap();
    let lasted = pings_until_closed(&mut s).await;
    assert!(
        lasted >= Duration::from_secs(2) && lasted <= Duration::from_secs(6),
        "{lasted:?}"
    );
}

/// Sends an HTTP/2 PING every 500 ms (reading the acknowledgements) until the server closes
/// `s`; how long that took (at most 30 s).
async fn pings_until_closed(s: &mut TcpStream) -> Duration {
    let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    while started.elapsed() < Duration::from_secs(30) {
        if s.write_all(&ping).await.is_err() {
            return started.elapsed();
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while let Ok(r) = tether::time::timeout_at(deadline, s.read(&mut buf)).await {
            if matches!(r, Ok(0) | Err(_)) {
                return started.elapsed();
            }
        }
    }
    panic!("the pinging client was never closed");
}

/// A service whose every call fails.
#[derive(Clone)]
struct Failing;

impl tower_service::Service<hyper::Request<hyper::body::Incoming>> for Failing {
    type Response = hyper::Response<http_body_util::Empty<Bytes>>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, std::io::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), std::io::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        std::future::ready(Err(std::io::Error::other("refused")))
    }
}

/// A request whose service fails leaves the connection's counts of requests in flight and
/// open: the HTTP/2 connection it was on (hyper resets the stream, the connection stays) is
/// then idle and is shut down by the idle timeout. Were the failed request still counted, the
/// connection would look busy forever.
#[tether::test(start_paused = true)]
async fn a_failed_request_leaves_the_connections_counts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tether_hyper::serve(listener, Failing)
        .header_read_timeout(None)
        .idle_timeout(Duration::from_secs(1));
    tether::spawn(std::future::IntoFuture::into_future(serve));
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::Builder::new(tether_hyper::TetherExecutor::new())
            .timer(tether_hyper::TetherTimer)
            .handshake(tether_hyper::TetherIo::new(stream))
            .await
            .unwrap();
    let conn = tether::spawn(conn);
    for _ in 0..3 {
        let res = send.send_request(get_request("/")).await;
        assert!(res.is_err(), "the service failed the request: {res:?}");
    }
    let ended = tether::time::timeout(Duration::from_secs(30), conn).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "the idle connection was shut down: {ended:?}"
    );
}

/// An acceptor that reports each accepted socket's `TCP_NODELAY`, then serves HTTP on it as it
/// is.
#[derive(Clone)]
struct NodelayProbe(tether::sync::mpsc::UnboundedSender<bool>);

impl tether_hyper::server::Accept for NodelayProbe {
    type Stream = TcpStream;
    type Future = std::future::Ready<std::io::Result<TcpStream>>;

    fn accept(&self, stream: TcpStream) -> Self::Future {
        let _ = self.0.send(stream.nodelay().unwrap());
        std::future::ready(Ok(stream))
    }
}

/// Accepted connections set `TCP_NODELAY` by default and with `tcp_nodelay(true)`, and leave it
/// unset with `tcp_nodelay(false)`.
#[tether::test]
async fn accepted_connections_set_tcp_nodelay_unless_told_not_to() {
    for (setting, expected) in [(None, true), (Some(true), true), (Some(false), false)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tether::sync::mpsc::unbounded_channel();
        let mut serve = tether_hyper::serve_with(listener, NodelayProbe(tx), app());
        if let Some(on) = setting {
            serve = serve.tcp_nodelay(on);
        }
        let server = tether::spawn(std::future::IntoFuture::into_future(serve));
        let _client = TcpStream::connect(addr).await.unwrap();
        let seen = tether::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(
            seen,
            Ok(Some(expected)),
            "TCP_NODELAY of the accepted socket with tcp_nodelay({setting:?})"
        );
        server.abort();
    }
}
