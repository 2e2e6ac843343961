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

/// A server on a loopback port, stopped by `stop`, its task giving the shutdown summary.
pub struct Server {
    pub addr: SocketAddr,
    pub stop: tether::sync::oneshot::Sender<()>,
    pub task: tether::task::JoinHandle<tether_hyper::ShutdownSummary>,
}

/// Serves `service` on `listener` as `configure` sets it up, until [`Server::shut_down`], in a
/// task named `test-server`.
pub fn start_on<S, B>(
    listener: tether::net::TcpListener,
    service: S,
    configure: impl FnOnce(tether_hyper::Serve<S>) -> tether_hyper::Serve<S>,
) -> Server
where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tether::sync::oneshot::channel::<()>();
    let serve =
        configure(tether_hyper::serve(listener, service)).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
    let task = tether::task::Builder::new()
        .name("test-server")
        .spawn(std::future::IntoFuture::into_future(serve));
    Server { addr, stop, task }
}

impl Server {
    /// Signals the shutdown and waits (at most a minute) for its summary.
    pub async fn shut_down(self) -> tether_hyper::ShutdownSummary {
        let _ = self.stop.send(());
        tether::time::timeout(std::time::Duration::from_secs(60), self.task)
            .await
            .expect("the shutdown finished")
            .unwrap()
    }
}

/// Reads from `s` until `end` has arrived (or the connection closes); what was read.
pub async fn read_until(s: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    use tether::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(end) {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// The inode of the socket behind `fd` (`socket:[N]` in `/proc/self/fd`), to find that one
/// socket in the kernel's tables later whatever port it had.
#[cfg(target_os = "linux")]
pub fn socket_inode(fd: std::os::fd::RawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("the descriptor is open");
    let link = link.to_string_lossy();
    link.strip_prefix("socket:[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("descriptor {fd} is not a socket: {link}"))
}

/// Whether the TCP socket with inode `inode` is listening (state `0A` in `/proc/net/tcp` or
/// `tcp6`). Unlike a connection attempt, it cannot be fooled by another test binding the
/// port as soon as it is free.
#[cfg(target_os = "linux")]
pub fn is_listening(inode: u64) -> bool {
    let inode = inode.to_string();
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let mut fields = line.split_whitespace();
                fields.nth(3) == Some("0A") && fields.nth(5) == Some(inode.as_str())
            })
    })
}
