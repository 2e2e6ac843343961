//! The benchmark's server: one axum `Router` ("Hello, World!" at `/`, a small JSON document at
//! `/json`) served by `tether_hyper::serve` or by `axum::serve` on tokio, current-thread or
//! multi-thread (2 workers). Used by `scripts/http_vs_tokio.sh`.
//!
//! `http_bench_server RUNTIME [ADDR] [--no-timeouts] [--nagle]`, RUNTIME one of `tether-ct`,
//! `tether-mt`, `tokio-ct`, `tokio-mt`; prints `listening on http://ADDR` first (tether then the
//! I/O driver it runs, `epoll driver` or `io_uring driver`: `TETHER_IO_DRIVER` chooses); runs
//! until killed. `--no-timeouts` (tether only): no header-read or idle timeout, as `axum::serve`.
//!
//! Both servers' connections set `TCP_NODELAY`, so that the runtimes are compared on the same
//! sockets: `tether_hyper::serve` does by default, and `axum::serve` does when its listener is
//! tapped (`ListenerExt::tap_io`: a closure run on each accepted socket). `--nagle`: neither does
//! (`tcp_nodelay(false)`; `axum::serve`'s default). Nagle's algorithm coalesces the small
//! writes of HTTP/2 connections with many streams in flight: tokio's server took about 10%
//! less CPU per request with it than without it (BENCHMARKS.md).

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route(
            "/json",
            get(|| async {
                Json(Message {
                    message: "Hello, World!",
                })
            }),
        )
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let runtime = args.next().unwrap_or_else(|| "tether-ct".to_string());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_string());
    let flags: Vec<String> = args.collect();
    let no_timeouts = flags.iter().any(|f| f == "--no-timeouts");
    let nagle = flags.iter().any(|f| f == "--nagle");
    match runtime.as_str() {
        "tether-ct" | "tether-mt" => {
            let rt = if runtime == "tether-ct" {
                tether::runtime::Builder::new_current_thread().build()?
            } else {
                tether::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()?
            };
            rt.block_on(async {
                let listener = tether::net::TcpListener::bind(&addr).await?;
                println!("listening on http://{}", listener.local_addr()?);
                let driver = tether::runtime::Handle::current().metrics().io_driver();
                println!("{driver} driver");
                // `with_state(())`: each handler becomes a route once, as `axum::serve` does.
                let serve = tether_hyper::serve(listener, app().with_state(())).tcp_nodelay(!nagle);
                if no_timeouts {
                    // As `axum::serve`: no header-read or idle timeout.
                    serve.header_read_timeout(None).idle_timeout(None).await
                } else {
                    serve.await
                }
            })
        }
        "tokio-ct" | "tokio-mt" => {
            let rt = if runtime == "tokio-ct" {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?
            };
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&addr).await?;
                println!("listening on http://{}", listener.local_addr()?);
                if nagle {
                    axum::serve(listener, app()).await
                } else {
                    use axum::serve::ListenerExt;
                    let listener = listener.tap_io(|stream| {
                        if let Err(e) = stream.set_nodelay(true) {
                            eprintln!("TCP_NODELAY: {e}");
                        }
                    });
                    axum::serve(listener, app()).await
                }
            })
        }
        other => {
            eprintln!("unknown runtime {other:?}: tether-ct, tether-mt, tokio-ct or tokio-mt");
            std::process::exit(2);
        }
    }
}
