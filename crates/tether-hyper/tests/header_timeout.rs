//! The header read timeout of `tether_hyper::serve` (the connection's own, rule 1 of
//! `server/conn.rs`), on the paused clock: what it closes (a connection that sends no head, a
//! keep-alive connection that goes quiet after a response, between one and two timeouts) and
//! what it leaves alone (a slow handler, a response body that streams for longer than the
//! timeout, an HTTP/2 connection between its requests). The idle timeout is off in each, so
//! only the header timeout can close a connection.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use hyper::body::{Bytes, Frame};
use hyper::StatusCode;
use support::{read_until, Client, Proto};
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::time::{sleep, Instant, Sleep};

const TIMEOUT: Duration = Duration::from_secs(1);

/// A body of `left` chunks, one per second.
struct Ticking {
    left: u32,
    tick: Sleep,
}

impl http_body::Body for Ticking {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        std::task::ready!(Pin::new(&mut self.tick).poll(cx));
        self.left -= 1;
        let next = Instant::now() + Duration::from_secs(1);
        Pin::new(&mut self.tick).reset(next);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"tick\n")))))
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                sleep(5 * TIMEOUT).await;
                "slow"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                Body::new(Ticking {
                    left: 5,
                    tick: sleep(Duration::from_secs(1)),
                })
            }),
        )
}

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tether_hyper::serve(listener, app())
        .header_read_timeout(TIMEOUT)
        .idle_timeout(None);
    tether::task::Builder::new()
        .name("test-server")
        .spawn(std::future::IntoFuture::into_future(serve));
    addr
}

/// Waits for the server to close `s`; how long that took.
async fn closed_after(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match s.read(&mut buf).await {
        Ok(0) | Err(_) => start.elapsed(),
        Ok(n) => panic!("the server sent {:?}", String::from_utf8_lossy(&buf[..n])),
    }
}

#[tether::test(start_paused = true)]
async fn a_connection_that_sends_no_head_is_closed_at_the_timeout() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HT").await.unwrap();
    assert_eq!(closed_after(&mut s).await, TIMEOUT);
}

#[tether::test(start_paused = true)]
async fn a_keep_alive_connection_quiet_after_a_response_is_closed_within_two_timeouts() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        // Requests a little apart keep it open.
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let reply = read_until(&mut s, b"ok").await;
        assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
        sleep(TIMEOUT / 2).await;
    }
    let quiet = closed_after(&mut s).await + TIMEOUT / 2;
    assert!(
        quiet >= TIMEOUT && quiet <= 2 * TIMEOUT,
        "closed {quiet:?} after the last response"
    );
}

#[tether::test(start_paused = true)]
async fn a_slow_handler_and_a_long_streamed_body_are_not_cut() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until(&mut s, b"slow").await;
    assert!(reply.starts_with(b"HTTP/1.1 200"), "{reply:?}");
    // On the same connection, a body that takes five timeouts to stream.
    let start = Instant::now();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = read_until(&mut s, b"0\r\n\r\n").await;
    let text = String::from_utf8_lossy(&reply);
    assert_eq!(text.matches("tick").count(), 5, "{text}");
    assert_eq!(start.elapsed(), 5 * TIMEOUT);
    // And then the quiet connection is closed as any other.
    let quiet = closed_after(&mut s).await;
    assert!(quiet >= TIMEOUT && quiet <= 2 * TIMEOUT, "{quiet:?}");
}

#[tether::test(start_paused = true)]
async fn an_http2_connection_is_not_closed_between_its_requests() {
    let addr = start().await;
    let mut c = Client::connect(addr, Proto::Http2).await;
    for _ in 0..3 {
        assert_eq!(c.request("GET", "/", None).await.status, StatusCode::OK);
        sleep(5 * TIMEOUT).await;
    }
    assert_eq!(c.request("GET", "/", None).await.status, StatusCode::OK);
}
