//! hyper 1.x and axum on tether.
//!
//! - [`serve`]: serves an axum `Router` (or any tower service of
//!   `Request<hyper::body::Incoming>`, or a hyper service through [`HyperService`]) over
//!   HTTP/1.1 and HTTP/2, the way `axum::serve` does on tokio, with tether's server shape: the
//!   accept loop and every connection in a scope, [`max_connections`](Serve::max_connections)
//!   as backpressure, a graceful shutdown that reports what it cut off ([`ShutdownSummary`]),
//!   descriptor exhaustion handled without spinning, and timeouts for slow and idle clients.
//! - [`serve_tls`]: the same over TLS (rustls), HTTP/2 or HTTP/1.1 as ALPN decides; [`tls`]
//!   has the configurations and the TLS stream.
//! - [`Client`]: an HTTP/1.1 and HTTP/2 client with a connection pool, over TCP or TLS
//!   (hyper-util's pooled client with a tether connector: names resolved on the blocking pool,
//!   a connect timeout, rustls with webpki-roots or roots of your own).
//! - [`rt`]: hyper's runtime traits, for using hyper's and hyper-util's builders directly:
//!   [`TetherExecutor`] (tasks as named tether tasks), [`TetherTimer`] (tether's timers and
//!   clock) and [`TetherIo`] (hyper's I/O straight over tether's sockets, reading into hyper's
//!   buffer without zero-filling it).
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::get, Router};
//!
//! #[tether::main(flavor = "multi_thread")]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().route("/", get(|| async { "Hello, World!" }));
//!     let listener = tether::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     let summary = tether_hyper::serve(listener, app)
//!         .with_graceful_shutdown(async {
//!             let _ = tether::signal::ctrl_c().await;
//!         })
//!         .await;
//!     println!("{summary}");
//!     Ok(())
//! }
//! ```
//!
//! # Coming from tokio
//!
//! `axum::serve(listener, app)` becomes `tether_hyper::serve(listener, app)` with a
//! `tether::net::TcpListener`; `hyper_util::rt::{TokioExecutor, TokioTimer, TokioIo}` become
//! [`TetherExecutor`], [`TetherTimer`], [`TetherIo`]. Differences: the graceful shutdown has a
//! grace period after which connections are dropped (axum's waits forever) and returns a
//! summary instead of `io::Result<()>`; connections have idle and header timeouts by default;
//! a `Router` is served as it is (a per-connection make-service such as
//! `into_make_service_with_connect_info` is not taken).

#![doc(test(attr(deny(warnings))))]

pub mod client;
pub mod rt;
pub mod server;
mod service;
#[cfg(feature = "rustls")]
pub mod tls;

pub use client::{Client, ClientBuilder};
pub use rt::{TetherExecutor, TetherIo, TetherStream, TetherTimer};
#[cfg(feature = "rustls")]
pub use server::serve_tls;
pub use server::{serve, serve_with, CutOff, Serve, ShutdownSummary, WithGracefulShutdown};
pub use service::HyperService;
