//! The key-value server ([`tether_demo::kv`]) in process for a test, and a RESP2 client written
//! here, independent of the server's own parser and encoder.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sync::oneshot;
use tether::task::JoinHandle;
use tether_demo::kv::{Config, Kv, ShutdownSummary};

/// A reply as the client decoded it.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$n` and `n` bytes.
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n` and `n` replies.
    Array(Vec<Reply>),
    /// `*-1`
    NilArray,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(n) => write!(f, ":{n}"),
            Reply::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Nil => f.write_str("(nil)"),
            Reply::Array(v) => f.debug_list().entries(v).finish(),
            Reply::NilArray => f.write_str("(nil array)"),
        }
    }
}

/// Shorthands for expected replies.
pub fn ok() -> Reply {
    Reply::Simple("OK".into())
}

/// A bulk string reply.
pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// An error reply.
pub fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

/// An integer reply.
pub fn int(n: i64) -> Reply {
    Reply::Int(n)
}

/// An array of bulk strings.
pub fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

/// The multibulk encoding of a command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A RESP2 client over a tether `TcpStream`.
pub struct Client {
    /// The connection (public so tests can write raw bytes).
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    chunk: Vec<u8>,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(
            TcpStream::connect(addr)
                .await
                .expect("connect to the server"),
        )
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            buf: Vec::new(),
            pos: 0,
            chunk: Vec::new(),
        }
    }

    /// Sends one command without reading its reply.
    pub async fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&encode(&args)).await.expect("send");
    }

    /// Sends one command and reads its reply.
    pub async fn cmd(&mut self, args: &[&str]) -> Reply {
        self.send(args).await;
        self.reply().await
    }

    /// Sends one command with binary arguments and reads its reply.
    pub async fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.stream.write_all(&encode(args)).await.expect("send");
        self.reply().await
    }

    /// Reads one reply; panics if the server closes first.
    pub async fn reply(&mut self) -> Reply {
        match self.try_reply().await {
            Ok(Some(r)) => r,
            Ok(None) => panic!("the server closed the connection instead of replying"),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads one reply; `None` if the server closed the connection (cleanly or with a reset)
    /// before a complete one. Cancel-safe: dropped before it completes, it loses nothing.
    pub async fn try_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            if let Some((reply, used)) = decode(&self.buf[self.pos..]) {
                self.pos += used;
                if self.pos == self.buf.len() {
                    self.buf.clear();
                    self.pos = 0;
                }
                return Ok(Some(reply));
            }
            // Read into a chunk of its own, so that a read cancelled by a timeout leaves `buf`
            // as it was (this method is cancel-safe).
            self.chunk.resize(64 * 1024, 0);
            let n = match self.stream.read(&mut self.chunk).await {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&self.chunk[..n]);
        }
    }

    /// Reads until the server closes; true if it did (EOF or reset) with nothing else sent.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => self.pos == self.buf.len(),
            Ok(_) => false,
            Err(_) => true,
        }
    }
}

/// Decodes one reply at the front of `buf`: the reply and its length, or `None` if incomplete.
pub fn decode(buf: &[u8]) -> Option<(Reply, usize)> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..line_end]).expect("a header line is text");
    let after = line_end + 2;
    match buf[0] {
        b'+' => Some((Reply::Simple(line.into()), after)),
        b'-' => Some((Reply::Error(line.into()), after)),
        b':' => Some((Reply::Int(line.parse().expect("an integer")), after)),
        b'$' => {
            let n: i64 = line.parse().expect("a bulk length");
            if n < 0 {
                return Some((Reply::Nil, after));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return None;
            }
            assert_eq!(&buf[after + n..after + n + 2], b"\r\n", "bulk terminator");
            Some((Reply::Bulk(buf[after..after + n].to_vec()), after + n + 2))
        }
        b'*' => {
            let n: i64 = line.parse().expect("an array length");
            if n < 0 {
                return Some((Reply::NilArray, after));
            }
            let mut items = Vec::new();
            let mut used = after;
            for _ in 0..n {
                let (r, u) = decode(&buf[used..])?;
                items.push(r);
                used += u;
            }
            Some((Reply::Array(items), used))
        }
        other => panic!("not a RESP2 reply: starts with {:?}", char::from(other)),
    }
}

/// A [`Kv`] server serving on a loopback port of the test's runtime.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server (its counters).
    pub kv: Kv,
    stop: oneshot::Sender<()>,
    task: JoinHandle<ShutdownSummary>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and serves with `config`.
    pub async fn start(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let kv = Kv::new(config);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let server = kv.clone();
        let task = tether::spawn(async move {
            server
                .serve_until(listener, async {
                    let _ = stop_rx.await;
                })
                .await
        });
        TestServer {
            addr,
            kv,
            stop,
            task,
        }
    }

    /// A new client connection.
    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Shuts the server down and returns its report.
    pub async fn stop(self) -> ShutdownSummary {
        let _ = self.stop.send(());
        self.task.await.expect("the server task")
    }
}

/// Runs `test` on a current-thread and on a multi-thread runtime (2 workers).
pub fn on_both_flavors<F, Fut>(test: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(test());
    tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(test());
}
