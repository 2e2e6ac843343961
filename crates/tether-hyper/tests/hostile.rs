//! Bad clients against `tether_hyper::serve`: each gets hyper's error response or a timeout,
//! the server keeps serving others (a fresh request is answered afterwards), and once the bad
//! clients are gone no connection or stream task of theirs is left in the runtime's registry.
//!
//! The descriptor tests run the server in a child process (this test binary re-executed with
//! `TETHER_HYPER_HOSTILE_CHILD` set) so that the server and the clients each have their own
//! descriptor table; the child reports its live server tasks on request.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use hyper::StatusCode;
use support::{server_tasks, wait_no_server_tasks, Client, Proto};
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sync::oneshot;
use tether::task::JoinHandle;
use tether_hyper::{Serve, ShutdownSummary};

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/big", get(|| async { vec![b'x'; 1 << 20] }))
}

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<ShutdownSummary>,
}

impl Server {
    async fn start(configure: impl FnOnce(Serve<Router>) -> Serve<Router>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = configure(tether_hyper::serve(listener, app()))
            .grace_period(Duration::from_secs(1))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
        let task = tether::task::Builder::new()
            .name("test-server")
            .spawn(std::future::IntoFuture::into_future(serve));
        Server { addr, stop, task }
    }

    /// A fresh client is served.
    async fn assert_serves(&self) {
        for proto in [Proto::Http1, Proto::Http2] {
            let mut c = Client::connect(self.addr, proto).await;
            let reply = c.request("GET", "/", None).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.body, "ok");
        }
    }

    async fn stop(self) -> ShutdownSummary {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// Sends `bytes` on a new connection and reads until the server closes it.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut reply = Vec::new();
    // A reset after the reply (the server closed with our bytes unread) ends the read too.
    let _ = s.read_to_end(&mut reply).await;
    String::from_utf8_lossy(&reply).into_owned()
}

#[tether::test]
async fn malformed_requests_get_400_and_the_server_goes_on() {
    let server = Server::start(|s| s).await;
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let reply = raw_exchange(server.addr, bad).await;
        assert!(
            reply.starts_with("HTTP/1.1 400"),
            "{:?} -> {reply:?}",
            String::from_utf8_lossy(bad)
        );
    }
    server.assert_serves().await;
    wait_no_server_tasks(500).await;
    let summary = server.stop().await;
    assert!(summary.cut_off.is_empty(), "{summary}");
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_and_the_server_goes_on() {
    let server = Server::start(|s| s).await;
    let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    // Far past hyper's largest read buffer (about 400 KiB).
    for i in 0..2_000 {
        req.extend_from_slice(format!("x-filler-{i}: {}\r\n", "y".repeat(300)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let reply = raw_exchange(server.addr, &req).await;
    assert!(
        reply.starts_with("HTTP/1.1 431"),
        "reply to 600 KB of headers: {reply:?}"
    );
    server.assert_serves().await;
    wait_no_server_tasks(500).await;
    server.stop().await;
}

/// A client that sends its request head one byte per 100 ms (virtual time) is closed at the
/// header read timeout (1 s), long before it is done; a client served meanwhile is unaffected.
#[tether::test(start_paused = true)]
async fn a_client_trickling_its_headers_is_closed_at_the_header_timeout() {
    let server = Server::start(|s| s.header_read_timeout(Duration::from_secs(1))).await;
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let mut sent = 0;
    let mut closed_after = None;
    let mut other_served = false;
    for &b in head.iter() {
        if slow.write_all(&[b]).await.is_err() {
            closed_after = Some(sent);
            break;
        }
        sent += 1;
        if sent == 3 {
            // Others are served while the slow one trickles.
            let mut c = Client::connect(server.addr, Proto::Http1).await;
            assert_eq!(c.request("GET", "/", None).await.status, StatusCode::OK);
            other_served = true;
        }
        tether::time::sleep(Duration::from_millis(100)).await;
        // Closed by the server? A read sees the end (or a reset) at once if so.
        let mut buf = [0u8; 64];
        if let Ok(Ok(n)) =
            tether::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await
        {
            assert_eq!(n, 0, "the server answered a half-sent request");
            closed_after = Some(sent);
            break;
        }
    }
    assert!(other_served);
    let closed_after = closed_after.expect("the trickling client was never closed");
    assert!(
        closed_after < head.len(),
        "closed only after the whole head ({closed_after} bytes)"
    );
    drop(slow);
    server.assert_serves().await;
    wait_no_server_tasks(500).await;
    server.stop().await;
}

/// An HTTP/2 client that opens streams for large bodies and never reads them: flow control
/// holds the server's streams (at most a window each), the server keeps serving others, and
/// when the client goes away its stream tasks end.
#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_never_reads_does_not_stop_the_server() {
    let server = Server::start(|s| s).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::Builder::new(tether_hyper::TetherExecutor::new())
            .timer(tether_hyper::TetherTimer)
            .handshake::<_, http_body_util::Empty<hyper::body::Bytes>>(tether_hyper::TetherIo::new(
                stream,
            ))
            .await
            .unwrap();
    let conn = tether::spawn(conn);
    let mut stalled = Vec::new();
    for _ in 0..8 {
        send.ready().await.unwrap();
        let req = hyper::Request::get("http://localhost/big")
            .body(http_body_util::Empty::new())
            .unwrap();
        // The response head arrives; its 1 MiB body is never read.
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        stalled.push(res);
    }
    // The server holds those streams, blocked on the client's flow-control window.
    let streams = server_tasks()
        .iter()
        .filter(|n| *n == "http2-stream")
        .count();
    assert!(streams > 0, "no stalled stream tasks: {:?}", server_tasks());
    server.assert_serves().await;
    // The client goes away.
    drop(stalled);
    drop(send);
    conn.abort();
    let _ = conn.await;
    wait_no_server_tasks(1_000).await;
    server.assert_serves().await;
    wait_no_server_tasks(1_000).await;
    server.stop().await;
}

/// Connections with nothing to say (not even a request) are closed at the idle timeout.
#[tether::test(start_paused = true)]
async fn silent_connections_are_closed_at_the_idle_timeout() {
    let server = Server::start(|s| s.idle_timeout(Duration::from_secs(5))).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut keep_alive = Client::connect(server.addr, Proto::Http1).await;
    assert_eq!(
        keep_alive.request("GET", "/", None).await.status,
        StatusCode::OK
    );
    // Past two idle timeouts, every one of them has been closed by the server.
    tether::time::sleep(Duration::from_secs(11)).await;
    for s in &mut silent {
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    }
    wait_no_server_tasks(500).await;
    server.assert_serves().await;
    server.stop().await;
}

// ---- descriptor tests: the server in a child process ----

const CHILD_ENV: &str = "TETHER_HYPER_HOSTILE_CHILD";

/// The server side of the descriptor tests; a no-op unless run as their child.
/// `TETHER_HYPER_HOSTILE_CHILD` is `raise` (soft descriptor limit raised to the hard one) or a
/// number (the limit lowered to it). Prints `ADDR <addr>`; answers each stdin line with
/// `TASKS <n>` (its live connection and stream tasks); shuts down when stdin closes.
#[test]
fn hostile_child_server() {
    let Some(mode) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mode = mode.to_str().unwrap().to_string();
    if mode == "raise" {
        raise_fd_limit();
    } else {
        let n: u64 = mode.parse().unwrap();
        set_fd_limit(n);
    }
    let rt = tether::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("ADDR {}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() {
                    break;
                }
                let n = handle
                    .live_tasks()
                    .iter()
                    .filter(|t| support::is_server_task(t.name()))
                    .count();
                println!("TASKS {n}");
                std::io::stdout().flush().unwrap();
            }
            let _ = stop.send(());
        });
        let summary = tether_hyper::serve(listener, app())
            .grace_period(Duration::from_secs(1))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        println!("{summary}");
    });
}

fn set_fd_limit(n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: `setrlimit` reads the struct we pass by reference and has no other effect on memory.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit failed");
}

/// Raises the soft descriptor limit to the hard one; returns it.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes into the struct we pass by reference, nothing else.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: as above, `setrlimit` only reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    lim.rlim_cur
}

struct ChildServer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ChildServer {
    fn start(mode: &str) -> ChildServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "hostile_child_server",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the child exited");
            // The harness prints `test NAME ... ` on the same line first.
            if let Some((_, a)) = line.trim().split_once("ADDR ") {
                break a.parse().unwrap();
            }
        };
        ChildServer {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    /// The child's live connection and stream tasks.
    fn tasks(&mut self) -> usize {
        writeln!(self.stdin.as_mut().unwrap(), "tasks").unwrap();
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the child exited"
            );
            if let Some((_, n)) = line.trim().split_once("TASKS ") {
                return n.parse().unwrap();
            }
        }
    }

    /// Waits (bounded: 3,000 checks 10 ms apart) until the child has `n` server tasks.
    fn wait_tasks(&mut self, n: usize) {
        let mut last = 0;
        for _ in 0..3_000 {
            last = self.tasks();
            if last == n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server still has {last} connection tasks, expected {n}");
    }

    fn stop(mut self) -> String {
        drop(self.stdin.take());
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let status = support::child::wait_bounded(&mut self.child, Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "child: {status:?}\n{rest}"
        );
        rest
    }
}

/// One keep-alive request on a blocking socket; returns whether it was answered `200`.
fn get_keep_alive(s: &mut std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    // The reply is small; read until its body ("ok") has come.
    while !got.ends_with(b"\r\n\r\nok") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

fn fresh_request_served(addr: SocketAddr) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    assert!(get_keep_alive(&mut s), "a fresh request was not served");
}

#[test]
fn ten_thousand_idle_keep_alive_connections() {
    const IDLE: usize = 10_000;
    let limit = raise_fd_limit();
    assert!(
        limit >= IDLE as u64 + 200,
        "the hard descriptor limit ({limit}) is below {IDLE} connections"
    );
    let mut server = ChildServer::start("raise");
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        assert!(get_keep_alive(&mut s), "connection {i} was not served");
        idle.push(s);
    }
    assert_eq!(server.tasks(), IDLE);
    fresh_request_served(server.addr);
    // Every idle connection is still usable.
    for s in idle.iter_mut().step_by(1_000) {
        assert!(get_keep_alive(s));
    }
    drop(idle);
    server.wait_tasks(0);
    fresh_request_served(server.addr);
    let out = server.stop();
    assert!(out.contains("0 cut off"), "{out}");
}

#[test]
fn connections_past_the_descriptor_limit_wait_and_are_served_once_descriptors_free() {
    const LIMIT: u64 = 64;
    const CLIENTS: usize = 100;
    let mut server = ChildServer::start(&LIMIT.to_string());
    // Past the child's limit, connections complete in the kernel's backlog while accept fails
    // with EMFILE; the server pauses and retries without spinning.
    let mut clients: Vec<std::net::TcpStream> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(server.addr).unwrap())
        .collect();
    // The first ones are served.
    assert!(get_keep_alive(&mut clients[0]));
    // Free descriptors: close the first half; the waiting ones are accepted and served.
    let rest = clients.split_off(CLIENTS / 2);
    drop(clients);
    for (i, mut s) in rest.into_iter().enumerate() {
        assert!(
            get_keep_alive(&mut s),
            "waiting connection {i} was not served"
        );
    }
    server.wait_tasks(0);
    fresh_request_served(server.addr);
    server.stop();
}
