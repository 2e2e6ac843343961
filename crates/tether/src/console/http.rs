//! The console's HTTP/1.1 server: just enough HTTP for a page, a JSON API and a Server-Sent
//! Events stream, read-only.
//!
//! - **Methods**: `GET` and `HEAD`; anything else is answered `405 Method Not Allowed` with
//!   `Allow: GET, HEAD`. No endpoint changes the program.
//! - **Routes**: `/` (the page), `/api/snapshot`, `/api/tasks/ID`, `/api/stream`; anything
//!   else is `404`. A query string is ignored.
//! - **Limits**: a request head of at most [`MAX_HEAD`] bytes (`431` beyond), no request body
//!   (`400` when one is announced), at most [`MAX_CONNECTIONS`] connections at once (`503`
//!   beyond), [`HEAD_TIMEOUT`] to send a request head, [`IDLE_TIMEOUT`] between requests on a
//!   kept-alive connection, [`MAX_REQUESTS`] requests per connection, [`WRITE_TIMEOUT`] per
//!   response.
//! - **Connections**: HTTP/1.1 keeps the connection open unless the request says
//!   `Connection: close`; HTTP/1.0 closes it unless the request says `keep-alive`. Pipelined
//!   requests are answered in order. The stream's response has no length and ends with the
//!   connection (`Connection: close`).
//! - **Loopback guard**: on a loopback address (whatever `console_allow_remote` says), a request
//!   whose `Host` is not a loopback name (`localhost`, `127.0.0.0/8`, `[::1]`, with a numeric
//!   port or none) is refused with `403`: a web page on another site cannot read the console
//!   through a DNS name rebound to 127.0.0.1.
//! - **Strict heads**: a header name that is not an HTTP token (whitespace before the colon,
//!   for one) or a second `Host` is refused with `400`, so no front proxy that reads the head
//!   differently can slip a second request into a first one's body. A head ends at its first
//!   blank line, whether its lines end in CRLF or LF.
//! - **Shared bytes**: a snapshot is written from the frame every response shares, not from a
//!   copy per connection, so clients that do not read hold no more than a response head each.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::observer::{Frame, Miss, Observer};
use super::stream::{self, Viewers};
use crate::io::{AsyncReadExt, AsyncWriteExt};
use crate::net::TcpStream;

/// The largest request head accepted.
pub(crate) const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// Time a new connection has to send its first request head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a kept-alive connection may stay idle between requests.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests served on one connection before it is closed.
pub(crate) const MAX_REQUESTS: usize = 1000;
/// Time one response (not the stream) may take to write.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The send buffer of a stream connection: bounds what the kernel holds for a viewer that does
/// not read, so its frames are dropped (and counted) soon rather than after megabytes.
const STREAM_SNDBUF: usize = 64 * 1024;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// What every connection task shares.
pub(crate) struct Server {
    pub(crate) observer: Arc<Observer>,
    pub(crate) viewers: Arc<Viewers>,
    /// The console listens on a loopback address: the `Host` guard applies.
    pub(crate) loopback: bool,
    pub(crate) connections: AtomicUsize,
}

/// A parsed request head.
struct Request {
    method: String,
    path: String,
    keep_alive: bool,
    host: Option<String>,
}

/// Why a request head was refused.
struct Refusal {
    status: u16,
    message: &'static str,
}

fn refuse(status: u16, message: &'static str) -> Refusal {
    Refusal { status, message }
}

/// Counts a connection for [`MAX_CONNECTIONS`] while alive.
struct ConnectionSlot<'a>(&'a AtomicUsize);

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection until it closes, fails or times out.
pub(crate) async fn serve(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    if server.connections.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
        server.connections.fetch_sub(1, Ordering::Relaxed);
        let body = "tether console: too many connections\n";
        let head = response(503, "text/plain", body.len(), false, "");
        let _ = write_timed(&mut stream, head.as_bytes()).await;
        let _ = write_timed(&mut stream, body.as_bytes()).await;
        return;
    }
    let _slot = ConnectionSlot(&server.connections);
    let mut buf = Vec::with_capacity(1024);
    for n in 0..MAX_REQUESTS {
        let limit = if n == 0 { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
        let req = match crate::time::timeout(limit, read_head(&mut stream, &mut buf)).await {
            Err(_elapsed) => return,
            Ok(Err(_io)) => return,
            Ok(Ok(None)) => return,
            Ok(Ok(Some(Err(r)))) => {
                let _ = send(&mut stream, r.status, "text/plain", r.message, false, false).await;
                linger(&mut stream).await;
                return;
            }
            Ok(Ok(Some(Ok(req)))) => req,
        };
        let keep_alive = req.keep_alive && n + 1 < MAX_REQUESTS;
        let head_only = req.method == "HEAD";
        if server.loopback && !req.host.as_deref().is_some_and(is_loopback_host) {
            let msg = "tether console: this Host is not a loopback name, refused (the console \
                       listens on loopback only; open it as http://127.0.0.1:PORT/)\n";
            let _ = send(&mut stream, 403, "text/plain", msg, false, head_only).await;
            return;
        }
        let path = req.path.split('?').next().unwrap_or("");
        let ok = match path {
            "/" | "/index.html" => {
                send(
                    &mut stream,
                    200,
                    "text/html; charset=utf-8",
                    PAGE,
                    keep_alive,
                    head_only,
                )
                .await
            }
            "/api/snapshot" => {
                let frame = server.observer.recent(&server.viewers.stats());
                send_frame(&mut stream, &frame, keep_alive, head_only).await
            }
            "/api/stream" => {
                if !head_only {
                    serve_stream(&server, stream, peer).await;
                    return;
                }
                let head = response(200, "text/event-stream", 0, false, "");
                let _ = write_timed(&mut stream, head.as_bytes()).await;
                return;
            }
            p if p.starts_with("/api/tasks/") => {
                let id = p["/api/tasks/".len()..].parse::<u64>().ok();
                let detail = match id {
                    Some(id) => server.observer.task_detail(id, &server.viewers.stats()),
                    None => Err(Miss::NotLive),
                };
                match detail {
                    Ok(doc) => send(&mut stream, 200, JSON, &doc, keep_alive, head_only).await,
                    Err(Miss::NotLive) => {
                        let msg = "{\"error\":\"no live task with this id\"}";
                        send(&mut stream, 404, JSON, msg, keep_alive, head_only).await
                    }
                    Err(Miss::Busy) => {
                        let msg = "{\"error\":\"this task is not among those the snapshot \
                                   lists, and a lookup of such a task runs at most every 100 ms: \
                                   retry\"}";
                        let retry = "Retry-After: 1\r\n";
                        let mut out = response(503, JSON, msg.len(), keep_alive, retry);
                        if !head_only {
                            out.push_str(msg);
                        }
                        write_timed(&mut stream, out.as_bytes()).await
                    }
                }
            }
            _ => {
                let msg = "tether console: not found (routes: /, /api/snapshot, /api/stream, \
                           /api/tasks/ID)\n";
                send(&mut stream, 404, "text/plain", msg, keep_alive, head_only).await
            }
        };
        if ok.is_err() || !keep_alive {
            return;
        }
    }
}

const JSON: &str = "application/json";

/// The stream: headers, then one event per frame (stream.rs rules 2 and 3).
async fn serve_stream(server: &Server, mut stream: TcpStream, peer: SocketAddr) {
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(STREAM_SNDBUF);
    let head = response(200, "text/event-stream", 0, false, "");
    let head = head.replace("Content-Length: 0\r\n", "");
    if write_timed(&mut stream, head.as_bytes()).await.is_err()
        || write_timed(&mut stream, b"retry: 1000\n\n").await.is_err()
    {
        return;
    }
    let (viewer, mut frames) = server.viewers.join(peer);
    // Leaves the list however this ends (rule 3).
    struct Leave<'a>(&'a Viewers, u64);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.leave(self.1);
        }
    }
    let _leave = Leave(&server.viewers, viewer.id);
    while let Some(frame) = frames.recv().await {
        let dropped = viewer.dropped.load(Ordering::Relaxed);
        let tail = format!(",\"dropped_frames\":{dropped}}}\n\n");
        // The frame's bytes are shared with every viewer and request that sends them.
        let write = async {
            stream.write_all(frame.open_event().as_bytes()).await?;
            stream.write_all(tail.as_bytes()).await
        };
        match crate::time::timeout(stream::WRITE_TIMEOUT, write).await {
            Ok(Ok(())) => {
                viewer.sent.fetch_add(1, Ordering::Relaxed);
            }
            _ => return,
        }
    }
}

/// Closes our side and reads what the client still sends, for a moment, before the socket
/// closes: closing with unread bytes would reset the connection, and the client might lose
/// the error response it has not read yet.
async fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = crate::time::timeout(Duration::from_secs(1), drain).await;
}

/// Reads one request head into `buf` (which may already hold pipelined bytes) and parses it.
/// `None` when the peer closed the connection between requests.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<Request, Refusal>>> {
    loop {
        if let Some(end) = find_head_end(buf) {
            let head = buf.drain(..end).collect::<Vec<u8>>();
            return Ok(Some(parse_head(&head)));
        }
        if buf.len() >= MAX_HEAD {
            return Ok(Some(Err(refuse(
                431,
                "tether console: request head too large (limit 8 KiB)\n",
            ))));
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(if buf.is_empty() {
                None
            } else {
                Some(Err(refuse(400, "tether console: incomplete request\n")))
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the head (through its first blank line) at the start of `buf`, if complete.
/// A line ends in LF, with or without a CR before it: the head ends at the first LF that is
/// followed by an empty line (`LF LF` or `LF CR LF`), so a head whose lines end in LF is never
/// merged with a pipelined one that ends in CRLF.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let lim = buf.len().min(MAX_HEAD + 4);
    let buf = &buf[..lim];
    buf.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        match buf.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        }
    })
}

/// Whether `name` is an HTTP token (RFC 9110 section 5.6.2), as a header's name must be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    let bad = || refuse(400, "tether console: malformed request\n");
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or_else(bad)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => {
            return Err(refuse(505, "tether console: only HTTP/1.0 and HTTP/1.1\n"));
        }
        _ => return Err(bad()),
    };
    if !target.starts_with('/') {
        return Err(bad());
    }
    let mut keep_alive = http11;
    let mut host = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        if !is_token(name) {
            // Whitespace before the colon (RFC 9112 section 5.1), a folded line, or worse: a
            // proxy might read this head differently.
            return Err(bad());
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(refuse(400, "tether console: more than one Host header\n"));
            }
            host = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            return Err(refuse(400, "tether console: requests have no body here\n"));
        }
    }
    if method != "GET" && method != "HEAD" {
        return Err(refuse(
            405,
            "tether console: read-only, only GET and HEAD are served\n",
        ));
    }
    Ok(Request {
        method: method.to_owned(),
        path: target.to_owned(),
        keep_alive,
        host,
    })
}

/// Whether a `Host` header names this machine's loopback interface.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let port_ok = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, "")) => name,
            Some((name, after)) => match after.strip_prefix(':') {
                Some(port) if port_ok(port) => name,
                _ => return false,
            },
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port_ok(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A response head.
fn response(status: u16, content_type: &str, len: usize, keep_alive: bool, extra: &str) -> String {
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; \
         style-src 'unsafe-inline'; img-src data:; connect-src 'self'\r\n\
         {allow}{extra}Connection: {}\r\n\r\n",
        reason(status),
        if keep_alive { "keep-alive" } else { "close" },
    )
}

/// Writes a whole response (head, and body unless `head_only`).
async fn send(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = response(status, content_type, body.len(), keep_alive, "").into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    write_timed(stream, &out).await
}

/// Writes a snapshot response from `frame`'s shared bytes: the head, the document without its
/// last byte, and that byte.
async fn send_frame(
    stream: &mut TcpStream,
    frame: &Frame,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    let json = frame.open_json();
    let head = response(200, JSON, json.len() + 1, keep_alive, "");
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        if !head_only {
            stream.write_all(json.as_bytes()).await?;
            stream.write_all(b"}").await?;
        }
        Ok(())
    };
    match crate::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "tether console: write timed out",
    )
}

async fn write_timed(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    match crate::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(timed_out()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_refuse() {
        let r = parse_head(b"GET /api/snapshot?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
            .ok()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/api/snapshot?x=1")
        );
        assert!(r.keep_alive);
        let r = parse_head(b"GET / HTTP/1.0\r\n\r\n").ok().unwrap();
        assert!(!r.keep_alive);
        let r = parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .ok()
            .unwrap();
        assert!(!r.keep_alive);
        let status = |h: &[u8]| parse_head(h).err().map(|r| r.status);
        assert_eq!(status(b"POST / HTTP/1.1\r\n\r\n"), Some(405));
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status(b"GET /\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\nbroken\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            Some(400)
        );
        // Header names are tokens (RFC 9112 section 5.1: no whitespace before the colon).
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"),
            Some(400)
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\n: x\r\n\r\n"), Some(400));
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            Some(400)
        );
        assert!(parse_head(b"GET / HTTP/1.1\r\nX-A_b.c~1!: v\r\n\r\n").is_ok());
    }

    #[test]
    fn a_head_ends_at_its_first_blank_line() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"),
            Some(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nrest"), Some(21));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\nrest"), Some(23));
        // An LF head before a CRLF one: the first ends first.
        let two = b"GET /x HTTP/1.1\nA: b\n\nGET /y HTTP/1.1\r\n\r\n";
        assert_eq!(find_head_end(two), Some(22));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:80",
            "127.0.0.1:5",
            "127.1.2.3",
            "[::1]:7",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "evil.localhost.example:1",
            "10.0.0.1:5",
            "[::2]:1",
            "[::1",
            "[::1]evil.example",
            "[::1]:80x",
            "localhost:evil",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
