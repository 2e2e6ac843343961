//! The benchmark's server: one axum `Router` ("Hello, World!" at `/`, a small JSON document at
//! `/json`) served by `tether_hyper::serve` or by `axum::serve` on tokio, current-thread or
//! multi-thread (2 workers). Used by `scripts/http_vs_tokio.sh`.
//!
//! `http_bench_server RUNTIME [ADDR] [--no-timeouts]`, RUNTIME one of `tether-ct`, `tether-mt`,
//! `tokio-ct`, `tokio-mt`; prints `listening on http://ADDR` first (tether then the I/O driver
//! it runs, `epoll driver` or `io_uring driver`: `TETHER_IO_DRIVER` chooses); runs until killed.
//! `--no-timeouts` (tether only): no header-read or idle timeout, as `axum::serve`.

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
    match runtime.as_str() {
        "tether-ct" | "tether-mt" => {
            let rt = if runtime == "tether-ct" {
                tether::runtime::Builder::new_current_thread().build()?
            } else {
                tether::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()?
            };
            let no_timeouts = args.next().as_deref() == Some("--no-timeouts");
            rt.block_on(async {
                let listener = tether::net::TcpListener::bind(&addr).await?;
                println!("listening on http://{}", listener.local_addr()?);
                let driver = tether::runtime::Handle::current().metrics().io_driver();
                println!("{driver} driver");
                // `with_state(())`: each handler becomes a route once, as `axum::serve` does.
                let serve = tether_hyper::serve(listener, app().with_state(()));
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
                axum::serve(listener, app()).await
            })
        }
        other => {
            eprintln!("unknown runtime {other:?}: tether-ct, tether-mt, tokio-ct or tokio-mt");
            std::process::exit(2);
        }
    }
}
