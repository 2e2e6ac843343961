//! A chat server: every line a client sends goes to every other client, prefixed with the
//! sender's address.
//!
//! ```text
//! cargo run --release -p tether-demo --bin chat [ADDR]     # default 127.0.0.1:6142
//! nc 127.0.0.1 6142                                        # in two or more terminals
//! ```
//!
//! This is the chat server of tokio's tutorial pattern (one `broadcast` channel shared by every
//! client; a task per client that selects between the client's next line and the next message
//! on the channel), ported to tether by renaming imports: the `tokio::` paths became `tether::`
//! and nothing else changed (`#[tether::main(flavor = "multi_thread")]` keeps tokio's
//! multi-thread default). It is kept in tokio's style on purpose, detached tasks included; the
//! `kv` server shows the structured style tether recommends for new code.
//!
//! The first line printed is `listening on ADDR`, so `127.0.0.1:0` is usable by scripts.

use std::net::SocketAddr;

use tether::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tether::net::TcpListener;
use tether::sync::broadcast;

#[tether::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6142".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    // Every client's lines go through one channel; each client task also subscribes to it.
    let (tx, _) = broadcast::channel::<(String, SocketAddr)>(1024);
    loop {
        let (socket, peer) = listener.accept().await?;
        let tx = tx.clone();
        let mut rx = tx.subscribe();
        // Announced once subscribed: from here on, every line sent reaches this client.
        println!("{peer} joined");
        tether::spawn(async move {
            let (reader, mut writer) = socket.into_split();
            let mut lines = BufReader::new(reader).lines();
            loop {
                tether::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(line)) => {
                            // No receiver at the moment is fine: nobody else is connected.
                            let _ = tx.send((line, peer));
                        }
                        // End of stream or a read error: the client is gone.
                        Ok(None) | Err(_) => break,
                    },
                    message = rx.recv() => match message {
                        Ok((line, from)) if from != peer => {
                            let text = format!("{from}: {line}\n");
                            if writer.write_all(text.as_bytes()).await.is_err() {
                                break;
                            }
                        }
                        // Our own line, or messages we were too slow to receive: skip them.
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            println!("{peer} left");
        });
    }
}
