//! The handshake echo server of seed 002, on tether.
//!
//! ```text
//! cargo run --release --example echo [ADDR]      # default 127.0.0.1:5566
//! printf 'hello\nsome bytes\n' | nc 127.0.0.1 5566
//! ```
//!
//! A client must first send the line `hello`; the server answers `hello` and then echoes every
//! byte. Any other first line closes the connection. Connects and disconnects are logged.

#[path = "support/handshake_echo.rs"]
mod handshake_echo;

use std::sync::Arc;

#[tether::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5566".to_string());
    let listener = tether::net::TcpListener::bind(&addr).await?;
    println!(
        "echo server listening on {} (say `hello` first); Ctrl-C to stop",
        listener.local_addr()?
    );
    let stats = Arc::new(handshake_echo::Stats::default());
    handshake_echo::serve(listener, stats, true).await;
    Ok(())
}
