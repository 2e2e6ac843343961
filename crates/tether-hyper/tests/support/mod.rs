//! Helpers tether-hyper's integration tests share: an HTTP client written with hyper over
//! tether (HTTP/1.1 and HTTP/2 prior knowledge), and running the crate's examples as bounded
//! child processes.
//!
//! Each test binary compiles this module and uses part of it.
#![allow(dead_code, unused_imports)]

pub mod child;

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use tether::net::TcpStream;
use tether_hyper::{TetherExecutor, TetherIo, TetherTimer};

/// Which protocol a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    /// HTTP/2 with prior knowledge (no upgrade, no TLS).
    Http2,
}

/// One connection's request sender.
pub enum Client {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// A reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: String,
}

impl Client {
    /// Connects to `addr` and does the handshake; the connection's task runs in the root scope.
    pub async fn connect(addr: SocketAddr, proto: Proto) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let io = TetherIo::new(stream);
        match proto {
            Proto::Http1 => {
                let (send, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .expect("HTTP/1 handshake");
                tether::task::Builder::new()
                    .name("test-client-h1")
                    .spawn(async move {
                        let _ = conn.await;
                    });
                Client::Http1(send)
            }
            Proto::Http2 => {
                let (send, conn) = hyper::client::conn::http2::Builder::new(TetherExecutor::new())
                    .timer(TetherTimer)
                    .handshake(io)
                    .await
                    .expect("HTTP/2 handshake");
                tether::task::Builder::new()
                    .name("test-client-h2")
                    .spawn(async move {
                        let _ = conn.await;
                    });
                Client::Http2(send)
            }
        }
    }

    /// Sends a request with an optional JSON body and reads the whole reply.
    pub async fn request(&mut self, method: &str, path: &str, json: Option<&str>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Client::Http1(_) = self {
            req = req.header("host", "localhost");
        } else {
            req = req.uri(format!("http://localhost{path}"));
        }
        if json.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(json.unwrap_or("").to_string()));
        let req = req.body(body).expect("request");
        let res = match self {
            Client::Http1(s) => {
                s.ready().await.expect("HTTP/1 connection ready");
                s.send_request(req).await
            }
            Client::Http2(s) => {
                s.ready().await.expect("HTTP/2 connection ready");
                s.send_request(req).await
            }
        }
        .expect("response");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            content_type,
            body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        }
    }
}

/// Task names the server gives its connections and HTTP/2 streams.
pub fn is_server_task(name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with("http-conn") || n == "http2-stream")
}

/// The server's connection and stream tasks alive on this runtime.
pub fn server_tasks() -> Vec<String> {
    tether::runtime::Handle::current()
        .live_tasks()
        .into_iter()
        .filter(|t| is_server_task(t.name()))
        .map(|t| t.name().unwrap_or_default().to_string())
        .collect()
}

/// Waits (in steps of 10 ms, on the runtime's clock) until no connection or stream task of the
/// server is alive; fails with the dump after `limit` steps.
pub async fn wait_no_server_tasks(limit: u32) {
    for _ in 0..limit {
        if server_tasks().is_empty() {
            return;
        }
        tether::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "server tasks still alive: {:?}\n{}",
        server_tasks(),
        tether::runtime::Handle::current().dump()
    );
}
