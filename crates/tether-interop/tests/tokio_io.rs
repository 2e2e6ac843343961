//! Feature `tokio-io`: tokio's I/O traits on tether's streams, exercised through the real crates
//! that want them: tokio's own `AsyncReadExt`/`AsyncWriteExt` and `copy`, tokio-util's `Framed`
//! with `LinesCodec`, hyper 1.x's HTTP/1 client and server connections over hyper-util's
//! `TokioIo`, and a TLS handshake with tokio-rustls. Every runtime here is tether's; tokio is
//! there only for its traits and helpers (none of which needs tokio's runtime).
//!
//! The Unix-socket and child-pipe scenarios exist on Unix only.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
#[cfg(unix)]
use tether::net::UnixStream;
use tether::net::{TcpListener, TcpStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tether_test_support::on_both_flavors;

/// A connected pair of loopback TCP streams.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) =
        tether::join!(TcpStream::connect(addr), async { listener.accept().await });
    (client.unwrap(), accepted.unwrap().0)
}

/// A line protocol through tokio-util's `Framed` + `LinesCodec`: the server answers each line
/// in upper case, until the client closes.
async fn framed_lines_round_trip() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tether::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let mut lines = tokio_util::codec::Framed::new(conn, tokio_util::codec::LinesCodec::new());
        let mut answered = 0;
        while let Some(line) = lines.next().await {
            lines.send(line.unwrap().to_uppercase()).await.unwrap();
            answered += 1;
        }
        answered
    });

    let conn = TcpStream::connect(addr).await.unwrap();
    let mut lines = tokio_util::codec::Framed::new(conn, tokio_util::codec::LinesCodec::new());
    for word in ["hello", "tether", "and tokio-util"] {
        lines.send(word).await.unwrap();
        let answer = lines.next().await.unwrap().unwrap();
        assert_eq!(answer, word.to_uppercase());
    }
    drop(lines); // closes the connection: the server's stream of lines ends
    assert_eq!(server.await.unwrap(), 3);
}

/// tokio's `read_exact`, `write_all`, `shutdown`, `read_to_end` and `copy` over a TCP stream,
/// its owned halves (an echo server) and its borrowed halves (the client).
async fn tokio_ext_over_tcp_and_halves() {
    let (mut client, accepted) = tcp_pair().await;
    let echo = tether::spawn(async move {
        let (mut rd, mut wr) = accepted.into_split();
        let copied = tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        wr.shutdown().await.unwrap();
        copied
    });

    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = client.split();
    let (written, echoed) = tether::join!(
        async {
            wr.write_all(&payload).await.unwrap();
            wr.shutdown().await.unwrap(); // the echo's copy sees EOF
        },
        async {
            let mut head = [0u8; 10];
            rd.read_exact(&mut head).await.unwrap();
            let mut rest = Vec::new();
            rd.read_to_end(&mut rest).await.unwrap();
            [&head[..], &rest[..]].concat()
        }
    );
    let () = written;
    assert_eq!(echoed, payload);
    assert_eq!(echo.await.unwrap(), payload.len() as u64);

    // `&TcpStream` is a reader and writer too, as in `futures-io`.
    let (a, b) = tcp_pair().await;
    (&a).write_all(b"by reference").await.unwrap();
    let mut got = [0u8; 12];
    (&b).read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"by reference");
}

/// A Unix stream pair: numbers and a vectored write (one `writev`) through tokio's helpers, and
/// the owned halves moved to two tasks.
#[cfg(unix)]
async fn tokio_ext_over_unix_stream() {
    let (a, mut b) = UnixStream::pair().unwrap();
    assert!(a.is_write_vectored());
    let (mut a_rd, mut a_wr) = a.into_split();
    let writer = tether::spawn(async move {
        a_wr.write_u32(0xdead_beef).await.unwrap();
        let parts = [
            std::io::IoSlice::new(b"gather"),
            std::io::IoSlice::new(b"ed"),
        ];
        let n = a_wr.write_vectored(&parts).await.unwrap();
        assert_eq!(n, 8, "a unix socket takes 8 bytes in one writev");
        a_wr // dropping it would shut down the write direction
    });
    assert_eq!(b.read_u32().await.unwrap(), 0xdead_beef);
    let mut gathered = [0u8; 8];
    b.read_exact(&mut gathered).await.unwrap();
    assert_eq!(&gathered, b"gathered");
    let a_wr = writer.await.unwrap();

    b.write_all(b"back").await.unwrap();
    let mut back = [0u8; 4];
    a_rd.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"back");
    drop(a_wr); // shuts down a's write direction
    let mut rest = Vec::new();
    assert_eq!(b.read_to_end(&mut rest).await.unwrap(), 0);
}

/// A read into a `ReadBuf` over uninitialized memory initializes only the bytes it read: the
/// stream reads straight into the unfilled part instead of zero-filling it first. (On Unix: on
/// Windows tether zero-fills, having no `read(2)` on a descriptor.)
#[cfg(unix)]
async fn read_buf_is_not_zero_filled() {
    use std::mem::MaybeUninit;
    use std::pin::Pin;
    use tokio::io::ReadBuf;

    let (mut a, mut b) = tcp_pair().await;
    a.write_all(b"four").await.unwrap();
    let mut storage = [MaybeUninit::<u8>::uninit(); 64];
    let mut buf = ReadBuf::uninit(&mut storage);
    while buf.filled().len() < 4 {
        std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
            .await
            .unwrap();
    }
    assert_eq!(buf.filled(), b"four");
    assert_eq!(
        buf.initialized().len(),
        4,
        "the read initialized more than it filled: the buffer was zero-filled"
    );

    // The same over a Unix stream and a duplex stream.
    let (mut u, mut v) = UnixStream::pair().unwrap();
    u.write_all(b"unix").await.unwrap();
    let mut storage = [MaybeUninit::<u8>::uninit(); 64];
    let mut buf = ReadBuf::uninit(&mut storage);
    while buf.filled().len() < 4 {
        std::future::poll_fn(|cx| Pin::new(&mut v).poll_read(cx, &mut buf))
            .await
            .unwrap();
    }
    assert_eq!((buf.filled(), buf.initialized().len()), (&b"unix"[..], 4));

    let (mut d, mut e) = tether::io::duplex(64);
    AsyncWriteExt::write_all(&mut d, b"duplex").await.unwrap();
    let mut storage = [MaybeUninit::<u8>::uninit(); 64];
    let mut buf = ReadBuf::uninit(&mut storage);
    std::future::poll_fn(|cx| Pin::new(&mut e).poll_read(cx, &mut buf))
        .await
        .unwrap();
    assert_eq!((buf.filled(), buf.initialized().len()), (&b"duplex"[..], 6));
}

/// `DuplexStream`: tokio's `copy` through a small buffer (backpressure), a shutdown that ends
/// one direction only.
async fn tokio_ext_over_duplex() {
    let (mut near, far) = tether::io::duplex(16);
    let (mut far_rd, mut far_wr) = tokio::io::split(far);
    let echo = tether::spawn(async move {
        let n = tokio::io::copy(&mut far_rd, &mut far_wr).await.unwrap();
        far_wr.shutdown().await.unwrap();
        n
    });
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(&mut near);
    let ((), echoed) = tether::join!(
        async {
            wr.write_all(&payload).await.unwrap();
            wr.shutdown().await.unwrap();
        },
        async {
            let mut out = Vec::new();
            rd.read_to_end(&mut out).await.unwrap();
            out
        }
    );
    assert_eq!(echoed, payload);
    assert_eq!(echo.await.unwrap(), payload.len() as u64);
}

/// `File` and `BufReader`: written with tokio's `write_all` and `shutdown` (which flushes), read
/// back with `read_to_end` and, through tether's `BufReader`, tokio's `lines`.
async fn tokio_ext_over_file_and_buf_reader() {
    let dir = std::env::temp_dir().join(format!("tether-tokio-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("lines-{:?}", std::thread::current().id()));

    let mut file = tether::fs::File::create(&path).await.unwrap();
    for i in 0..1000 {
        file.write_all(format!("line {i}\n").as_bytes())
            .await
            .unwrap();
    }
    file.shutdown().await.unwrap(); // flushes the buffered writes
    drop(file);

    let mut file = tether::fs::File::open(&path).await.unwrap();
    let mut all = String::new();
    file.read_to_string(&mut all).await.unwrap();
    assert_eq!(all.lines().count(), 1000);
    assert!(all.starts_with("line 0\nline 1\n"));

    let file = tether::fs::File::open(&path).await.unwrap();
    let mut lines = tether::io::BufReader::with_capacity(64, file).lines();
    let mut seen = 0;
    while let Some(line) = lines.next_line().await.unwrap() {
        assert_eq!(line, format!("line {seen}"));
        seen += 1;
    }
    assert_eq!(seen, 1000);
    std::fs::remove_file(&path).unwrap();
}

/// A child's pipes: `cat` echoes what tokio's `write_all` sends to its stdin once `shutdown`
/// closes it; a shell writes to stderr.
#[cfg(unix)]
async fn tokio_ext_over_child_pipes() {
    use std::process::Stdio;
    let mut cat = tether::process::Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = cat.stdin.take().unwrap();
    let mut stdout = cat.stdout.take().unwrap();
    assert!(stdin.is_write_vectored());
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let ((), out) = tether::join!(
        async {
            stdin.write_all(&payload).await.unwrap();
            stdin.shutdown().await.unwrap(); // cat sees the end of its input
            let err = stdin.write_all(b"late").await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        },
        async {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).await.unwrap();
            out
        }
    );
    assert_eq!(out, payload);
    assert!(cat.wait().await.unwrap().success());

    let mut sh = tether::process::Command::new("sh")
        .args(["-c", "echo to-stderr >&2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    sh.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!(err, "to-stderr\n");
    assert!(sh.wait().await.unwrap().success());
}

/// hyper 1.x's HTTP/1 server and client connections, each over hyper-util's `TokioIo` wrapping
/// a tether `TcpStream` (HTTP/1 needs no executor): two requests on one keep-alive connection.
async fn hyper_http1_over_tokio_io() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tether::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let service =
            hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await?.to_bytes();
                let answer = format!("{path}: {} bytes", body.len());
                Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
            });
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(conn), service)
            .await
    });

    let conn = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .unwrap();
    let driver = tether::spawn(connection);
    for (path, body) in [("/first", "abc"), ("/second", "hello, hyper")] {
        let req = Request::post(path)
            .header(hyper::header::HOST, addr.to_string())
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        // HTTP/1: the connection takes the next request once it is done with the last one.
        sender.ready().await.unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), hyper::StatusCode::OK);
        let got = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(got, format!("{path}: {} bytes", body.len()));
    }
    drop(sender); // the client connection closes once its sender is gone
    driver.await.unwrap().unwrap();
    server.await.unwrap().unwrap(); // and the server's connection ends cleanly
}

/// A certificate for "localhost" made now, and a TLS server and client configuration trusting
/// it (rustls with the ring provider).
fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// tokio-rustls over tether's `TcpStream`: a handshake against a certificate generated now,
/// then an echo of a payload larger than a TLS record, and a clean close.
async fn tls_echo_over_tokio_rustls() {
    let (server_config, client_config) = tls_configs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tether::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let tls = tokio_rustls::TlsAcceptor::from(server_config)
            .accept(conn)
            .await
            .unwrap();
        let (mut rd, mut wr) = tokio::io::split(tls);
        let n = tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        wr.shutdown().await.unwrap(); // sends close_notify, then shuts the socket down
        n
    });

    let conn = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(client_config)
        .connect(name, conn)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 239) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let ((), echoed) = tether::join!(
        async {
            wr.write_all(&payload).await.unwrap();
            wr.shutdown().await.unwrap();
        },
        async {
            let mut out = Vec::new();
            rd.read_to_end(&mut out).await.unwrap(); // ends at the server's close_notify
            out
        }
    );
    assert_eq!(echoed, payload);
    assert_eq!(server.await.unwrap(), payload.len() as u64);
}

/// A tether `TcpStream` is `Unpin + Send`, as `TokioIo`, `Framed` and tokio-rustls's streams
/// want to be, for tasks on the multi-thread scheduler.
#[test]
fn streams_meet_the_bounds_tokio_crates_ask_for() {
    fn tokio_stream<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>() {}
    fn tokio_reader<T: AsyncRead + Unpin + Send + 'static>() {}
    fn tokio_writer<T: AsyncWrite + Unpin + Send + 'static>() {}
    tokio_stream::<TcpStream>();
    #[cfg(unix)]
    tokio_stream::<UnixStream>();
    tokio_stream::<tether::io::DuplexStream>();
    tokio_stream::<tether::fs::File>();
    tokio_reader::<tether::net::tcp::OwnedReadHalf>();
    tokio_writer::<tether::net::tcp::OwnedWriteHalf>();
    #[cfg(unix)]
    {
        tokio_reader::<tether::net::unix::OwnedReadHalf>();
        tokio_writer::<tether::net::unix::OwnedWriteHalf>();
        tokio_reader::<tether::process::ChildStdout>();
        tokio_reader::<tether::process::ChildStderr>();
        tokio_writer::<tether::process::ChildStdin>();
    }
    fn tokio_buf_reader<T: tokio::io::AsyncBufRead + Unpin>() {}
    tokio_buf_reader::<tether::io::BufReader<TcpStream>>();
    fn borrowed_reader<T: AsyncRead + Unpin + Send>() {}
    fn borrowed_writer<T: AsyncWrite + Unpin + Send>() {}
    borrowed_reader::<tether::net::tcp::ReadHalf<'_>>();
    borrowed_writer::<tether::net::tcp::WriteHalf<'_>>();
    #[cfg(unix)]
    {
        borrowed_reader::<tether::net::unix::ReadHalf<'_>>();
        borrowed_writer::<tether::net::unix::WriteHalf<'_>>();
        borrowed_writer::<&UnixStream>();
    }
    borrowed_reader::<&TcpStream>();
}

on_both_flavors!(
    framed_lines_round_trip,
    tokio_ext_over_tcp_and_halves,
    #[cfg(unix)]
    tokio_ext_over_unix_stream,
    #[cfg(unix)]
    read_buf_is_not_zero_filled,
    tokio_ext_over_duplex,
    tokio_ext_over_file_and_buf_reader,
    #[cfg(unix)]
    tokio_ext_over_child_pipes,
    hyper_http1_over_tokio_io,
    tls_echo_over_tokio_rustls,
);
