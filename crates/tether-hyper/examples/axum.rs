//! A small JSON API with axum, served by tether: `cargo run --release -p tether-hyper --example
//! axum [ADDR]` (default `127.0.0.1:3000`; `127.0.0.1:0` picks a free port). The first line
//! printed is `listening on http://ADDR`. Ctrl-C shuts it down gracefully and prints what was
//! cut off.
//!
//! The routes are in `examples/api/mod.rs` (shared with the `https` example).
//!
//! ```text
//! $ curl -s localhost:3000/items -d '{"name":"tea"}' -H 'content-type: application/json'
//! {"id":1,"name":"tea"}
//! $ curl -s --http2-prior-knowledge localhost:3000/items/1
//! {"id":1,"name":"tea"}
//! ```

mod api;

use api::app;

#[tether::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_string());
    let listener = tether::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let summary = tether_hyper::serve(listener, app())
        .with_graceful_shutdown(async {
            let _ = tether::signal::ctrl_c().await;
            println!("Ctrl-C: shutting down");
        })
        .await;
    println!("{summary}");
    Ok(())
}
