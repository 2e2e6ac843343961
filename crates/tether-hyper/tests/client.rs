//! `tether_hyper::Client` against `tether_hyper::serve` and `serve_tls` on loopback: GET and
//! POST over http and https (a certificate generated here with rcgen), HTTP/2 by ALPN and by
//! prior knowledge, connections reused from the pool (accepts counted on the server), the
//! connect timeout against a listener whose backlog is full (on a paused clock), and the errors
//! a user sees for a refused connection, an untrusted certificate, a bad scheme and a relative
//! URI.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tether::net::{TcpListener, TcpSocket, TcpStream};
use tether_hyper::server::{Accept, Plain};
use tether_hyper::{Client, ShutdownSummary};

/// Runs `test` on a current-thread runtime (`test(true)`) and on a multi-thread one.
fn on_both_flavors<F, Fut>(test: F)
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tether::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(test(true));
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(test(false));
}

/// `/` says hello, `/echo` returns the body it was posted, `/version` names the protocol.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/version",
            get(|req: Request<axum::body::Body>| async move { format!("{:?}", req.version()) }),
        )
}

/// An [`Accept`] that counts the connections the server accepted.
#[derive(Clone)]
struct Counting<A> {
    inner: A,
    accepted: Arc<AtomicUsize>,
}

impl<A: Accept> Accept for Counting<A> {
    type Stream = A::Stream;
    type Future = A::Future;

    fn accept(&self, stream: TcpStream) -> A::Future {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        self.inner.accept(stream)
    }
}

/// A running server: its address, its accept count, and how to stop it.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: tether::sync::oneshot::Sender<()>,
    done: tether::task::JoinHandle<ShutdownSummary>,
}

impl Server {
    async fn start<A: Accept>(acceptor: A) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counting = Counting {
            inner: acceptor,
            accepted: accepted.clone(),
        };
        let (stop, stopped) = tether::sync::oneshot::channel::<()>();
        let done = tether::spawn(
            tether_hyper::serve_with(listener, counting, app())
                .grace_period(Duration::from_secs(5))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        Server {
            addr,
            accepted,
            stop,
            done,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops the server; nothing may have been cut off.
    async fn stop(self) {
        self.stop.send(()).unwrap();
        let summary = self.done.await.unwrap();
        assert!(summary.cut_off.is_empty(), "{summary}");
    }
}

/// A certificate for `localhost` and 127.0.0.1, and a server TLS acceptor with it.
fn tls_server() -> (CertificateDer<'static>, tokio_rustls::TlsAcceptor) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let cert = generated.cert.der().clone();
    let config = tether_hyper::tls::server_config(vec![cert.clone()], key.into()).unwrap();
    (cert, Arc::new(config).into())
}

/// Reads the body whole, then lets the runtime's other tasks run once.
///
/// hyper-util's pool takes an HTTP/1 connection back in a task of its own, spawned with the
/// response, once the connection is ready for the next request; a request sent before that task
/// ran opens a second connection (as on tokio). On a current-thread runtime, yielding once puts
/// this task behind it; on a multi-thread runtime it may still be running on another worker, so
/// the tests count HTTP/1 reuse exactly only on the current-thread runtime (HTTP/2 connections
/// are shared from the start, on both).
async fn body_text(res: http::Response<hyper::body::Incoming>) -> String {
    let body = res.into_body().collect().await.unwrap().to_bytes();
    tether::task::yield_now().await;
    String::from_utf8(body.to_vec()).unwrap()
}

/// GET, POST and the protocol seen by the server, through `client` at `base`.
async fn get_post_version(client: &Client, base: &str, version: Version) {
    let res = client
        .get(format!("{base}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), version);
    assert_eq!(body_text(res).await, "hello");

    let payload = "x".repeat(100_000);
    let req = Request::post(format!("{base}/echo"))
        .body(Full::new(Bytes::from(payload.clone())))
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_text(res).await, payload);

    let res = client
        .get(format!("{base}/version").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(body_text(res).await, format!("{version:?}"));
}

#[test]
fn get_and_post_over_http1_reuse_one_connection() {
    on_both_flavors(|current_thread| async move {
        let server = Server::start(Plain).await;
        let client = Client::new();
        let base = format!("http://{}", server.addr);
        get_post_version(&client, &base, Version::HTTP_11).await;
        // Three requests one after the other, one connection from the pool (see `body_text`).
        if current_thread {
            assert_eq!(server.accepted(), 1);
        } else {
            assert!((1..=3).contains(&server.accepted()));
        }
        server.stop().await;
    });
}

#[test]
fn http2_prior_knowledge_multiplexes_on_one_connection() {
    on_both_flavors(|_| async move {
        let server = Server::start(Plain).await;
        let client: Client = Client::builder().http2_prior_knowledge().build();
        let base = format!("http://{}", server.addr);
        get_post_version(&client, &base, Version::HTTP_2).await;
        // Concurrent requests share the connection's streams.
        let uri: http::Uri = format!("{base}/").parse().unwrap();
        let (a, b) = tether::join!(client.get(uri.clone()), client.get(uri));
        assert_eq!(a.unwrap().status(), StatusCode::OK);
        assert_eq!(b.unwrap().status(), StatusCode::OK);
        assert_eq!(server.accepted(), 1);
        server.stop().await;
    });
}

#[test]
fn https_negotiates_http2_by_alpn_and_reuses_the_connection() {
    on_both_flavors(|_| async move {
        let (cert, acceptor) = tls_server();
        let server = Server::start(acceptor).await;
        let client: Client = Client::builder().add_root_certificate(cert).build();
        // `localhost`: resolved on the blocking pool, checked against the certificate's name.
        let base = format!("https://localhost:{}", server.addr.port());
        get_post_version(&client, &base, Version::HTTP_2).await;
        assert_eq!(server.accepted(), 1);
        server.stop().await;
    });
}

#[test]
fn https_speaks_http1_when_the_client_offers_only_http1() {
    on_both_flavors(|current_thread| async move {
        let (cert, acceptor) = tls_server();
        let server = Server::start(acceptor).await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut config = tether_hyper::tls::client_config(roots);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client: Client = Client::builder().tls_config(config).build();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        get_post_version(&client, &base, Version::HTTP_11).await;
        if current_thread {
            assert_eq!(server.accepted(), 1);
        }
        server.stop().await;
    });
}

#[test]
fn an_untrusted_certificate_is_a_connect_error_carrying_rustls_error() {
    on_both_flavors(|_| async move {
        let (_cert, acceptor) = tls_server();
        let server = Server::start(acceptor).await;
        // webpki-roots only: the generated certificate is not trusted.
        let client = Client::new();
        let err = client
            .get(
                format!("https://localhost:{}/", server.addr.port())
                    .parse()
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("TLS with localhost") && msg.contains("invalid peer certificate"),
            "{msg}"
        );
        let rustls_err = err
            .io_error()
            .and_then(|e| e.get_ref())
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("no rustls::Error under {err:?}"));
        assert!(
            matches!(rustls_err, rustls::Error::InvalidCertificate(_)),
            "{rustls_err:?}"
        );
        server.stop().await;
    });
}

#[test]
fn a_refused_connection_names_the_address() {
    on_both_flavors(|_| async move {
        // A port nothing listens on: bind one, note it, close it.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let err = Client::new()
            .get(format!("http://{addr}/").parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.is_connect() && !err.is_timeout(), "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert_eq!(
            err.io_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
    });
}

#[test]
fn a_scheme_other_than_http_is_refused_with_a_clear_message() {
    on_both_flavors(|_| async move {
        let err = Client::new()
            .get("ftp://127.0.0.1:21/file".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
        assert!(err.to_string().contains("use http:// or https://"), "{err}");
    });
}

/// A listener with a backlog of 0 holds one connection nobody accepts; then it is full and the
/// kernel drops further SYNs, so a connection attempt hangs until the client gives up. The
/// clock is paused: the timeout fires as soon as the runtime has nothing else to do.
#[tether::test(start_paused = true)]
async fn the_connect_timeout_names_the_address() {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let _filler = TcpStream::connect(addr).await.unwrap();

    let client: Client = Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .build();
    let started = tether::time::Instant::now();
    let res = tether::time::timeout(
        Duration::from_secs(60),
        client.get(format!("http://{addr}/").parse().unwrap()),
    )
    .await
    .expect("the request ended before the test's own bound");
    let err = res.unwrap_err();
    assert!(err.is_connect() && err.is_timeout(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{addr}: connect timed out after 3s")),
        "{msg}"
    );
    // Virtual time: exactly the timeout went by.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    drop(listener);
}

/// A relative URI (`/path`, no scheme or host) is refused with a message that says what to
/// use instead (hyper-util's alone names only `UserAbsoluteUriRequired`).
#[test]
fn a_relative_uri_is_refused_with_a_clear_message() {
    on_both_flavors(|_| async move {
        let err = Client::new()
            .get("/path".parse().unwrap())
            .await
            .unwrap_err();
        assert!(!err.is_connect(), "{err}");
        assert!(
            err.to_string()
                .contains("use an absolute URI such as http://host:port/path"),
            "{err}"
        );
    });
}
