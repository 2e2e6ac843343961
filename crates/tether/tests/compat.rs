//! Feature `tokio-compat`: futures that need tokio's runtime (its timers, its reactor,
//! `tokio::spawn`, and reqwest, which uses all three) run from tether tasks through
//! `tether::compat`, and panic without it, as the module docs say.
//!
//! The reqwest scenarios are left out of `.ci/run`'s cross-checks of other platforms
//! (`--cfg tether_cross_check`: reqwest's TLS builds C code, and those checks have no C compiler
//! for the target).

mod support;

use std::time::Duration;

use tether::compat::{Compat, CompatExt};
use tether::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tether::net::TcpListener;

use support::on_both_flavors;

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// tokio's timer and `tokio::spawn` from a tether task: the future's own code runs on the
/// tether worker, the spawned task on the background runtime's thread.
async fn sleep_and_spawn_complete() {
    let (own, spawned) = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let own = thread_name();
        let spawned = tokio::spawn(async { thread_name() }).await.unwrap();
        (own, spawned)
    }
    .compat()
    .await;
    // The wrapped future runs where tether polls it (the test's thread, or a tether worker).
    assert_ne!(own, "tether-compat-tokio");
    assert_eq!(spawned, "tether-compat-tokio");
    // Outside the wrapper no tokio runtime is current.
    assert!(tokio::runtime::Handle::try_current().is_err());
}

/// A tokio `TcpStream` (registered with the background reactor) talks to a tether listener.
async fn tokio_socket_talks_to_tether_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tether::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let (rd, mut wr) = conn.into_split();
        let mut line = String::new();
        BufReader::new(rd).read_line(&mut line).await.unwrap();
        wr.write_all(line.to_uppercase().as_bytes()).await.unwrap();
    });
    let answer = Compat::new(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(addr).await?;
        conn.write_all(b"over tokio's reactor\n").await?;
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await?;
        std::io::Result::Ok(answer)
    })
    .await
    .unwrap();
    assert_eq!(answer, "OVER TOKIO'S REACTOR\n");
    server.await.unwrap();
}

/// A tiny HTTP/1.1 responder on a tether listener: answers `n` requests, one per connection,
/// with the request's path in the body, then closes each connection.
#[cfg(not(tether_cross_check))]
fn serve_http(listener: TcpListener, n: usize) -> tether::task::JoinHandle<()> {
    tether::spawn(async move {
        for _ in 0..n {
            let (conn, _) = listener.accept().await.unwrap();
            let (rd, mut wr) = conn.into_split();
            let mut rd = BufReader::new(rd);
            let mut request_line = String::new();
            rd.read_line(&mut request_line).await.unwrap();
            loop {
                let mut header = String::new();
                rd.read_line(&mut header).await.unwrap();
                if header == "\r\n" || header.is_empty() {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("?").to_owned();
            let body = format!("tether served {path}");
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            wr.write_all(response.as_bytes()).await.unwrap();
        }
    })
}

/// reqwest through `compat`: a GET to a local tether HTTP server.
#[cfg(not(tether_cross_check))]
async fn reqwest_get_through_compat() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_http(listener, 2);
    let client = reqwest::Client::new();
    for path in ["/hello", "/again"] {
        let url = format!("http://{addr}{path}");
        let body = async {
            client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
        .compat()
        .await
        .unwrap();
        assert_eq!(body, format!("tether served {path}"));
    }
    // The client (and its pool, whose tasks live on the background runtime) is dropped in the
    // runtime's context too.
    Compat::new(async move { drop(client) }).await;
    server.await.unwrap();
}

/// Without `compat`, the same reqwest call panics with tokio's "no reactor running" (the
/// message the module docs quote).
#[cfg(not(tether_cross_check))]
async fn reqwest_without_compat_panics_no_reactor() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let attempt = tether::spawn(async move {
        let client = reqwest::Client::new();
        let _ = client.get(format!("http://{addr}/")).send().await;
    });
    let err = attempt.await.unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("there is no reactor running"),
        "unexpected panic: {message:?}"
    );
    let docs = include_str!("../src/compat.rs");
    assert!(docs.contains(
        "there is no reactor running, must be called from the context of a Tokio 1.x runtime"
    ));
    assert!(message.contains("must be called from the context of a Tokio 1.x runtime"));
    drop(listener);
}

/// A `Compat` dropped before completion enters the runtime for the future's destructors (a
/// destructor that calls `tokio::spawn`, as connection pools do to close connections, works),
/// and a nested `Compat` works (it enters the same runtime again).
async fn drop_and_nesting_stay_in_context() {
    struct SpawnsOnDrop(Option<tokio::sync::oneshot::Sender<&'static str>>);
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let tx = self.0.take().unwrap();
            tokio::spawn(async move { tx.send("cleaned up on the background runtime") });
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pending = Compat::new(async move {
        let _guard = SpawnsOnDrop(Some(tx));
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let raced = tether::time::timeout(Duration::from_millis(20), pending).await;
    assert!(raced.is_err()); // the timeout dropped it, with its guard and its timer
    assert_eq!(rx.await.unwrap(), "cleaned up on the background runtime");

    let nested = async {
        async { tokio::spawn(async { 7 }).await.unwrap() }
            .compat()
            .await
    }
    .compat()
    .await;
    assert_eq!(nested, 7);
}

on_both_flavors!(
    sleep_and_spawn_complete,
    tokio_socket_talks_to_tether_listener,
    #[cfg(not(tether_cross_check))]
    reqwest_get_through_compat,
    #[cfg(not(tether_cross_check))]
    reqwest_without_compat_panics_no_reactor,
    drop_and_nesting_stay_in_context,
);
