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
//! (`#[tether::main(flavor = "multi_thread")]` keeps tokio's multi-thread default). It is kept
//! in tokio's style on purpose, detached tasks included; the `kv` server shows the structured
//! style tether recommends for new code. Three changes from the tutorial make it fit to face
//! clients nobody vetted: an accept error (out of descriptors) is logged and the loop goes on
//! (the listener itself pauses after one); a line is at most `MAX_LINE` bytes (a longer one
//! disconnects its client, so one client cannot grow the server by the size of its line times
//! the number of clients); and a line that is not UTF-8 is passed on with replacement
//! characters instead of ending the client. Lines go through the channel as `Arc<str>`, one
//! copy for every receiver.
//!
//! The first line printed is `listening on ADDR`, so `127.0.0.1:0` is usable by scripts.

use std::net::SocketAddr;
use std::sync::Arc;

use tether::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tether::net::TcpListener;
use tether::sync::broadcast;

/// The longest line a client may send, newline excluded.
const MAX_LINE: usize = 8 * 1024;

#[tether::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6142".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    // Every client's lines go through one channel; each client task also subscribes to it.
    let (tx, _) = broadcast::channel::<(Arc<str>, SocketAddr)>(1024);
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of descriptors, say: the clients already here go on, and the listener waits
            // a moment before its next accept, so this loop does not spin.
            // (Logged with the joins and leaves, on stdout.)
            Err(e) => {
                println!("accept: {e}");
                continue;
            }
        };
        let tx = tx.clone();
        let mut rx = tx.subscribe();
        // Announced once subscribed: from here on, every line sent reaches this client.
        println!("{peer} joined");
        tether::spawn(async move {
            let (reader, mut writer) = socket.into_split();
            let mut reader = BufReader::new(reader);
            // The line read so far: bytes stay here when the other branch wins.
            let mut line = Vec::new();
            loop {
                let room = (MAX_LINE + 1).saturating_sub(line.len()) as u64;
                let mut limited = (&mut reader).take(room);
                tether::select! {
                    read = limited.read_until(b'\n', &mut line) => match read {
                        // End of stream or a read error: the client is gone.
                        Ok(0) | Err(_) => break,
                        Ok(_) if line.last() == Some(&b'\n') => {
                            line.pop();
                            let text: Arc<str> = String::from_utf8_lossy(&line).into();
                            line.clear();
                            // No receiver at the moment is fine: nobody else is connected.
                            let _ = tx.send((text, peer));
                        }
                        Ok(_) if line.len() > MAX_LINE => {
                            eprintln!("{peer}: a line longer than {MAX_LINE} bytes; disconnecting");
                            break;
                        }
                        // Part of a line; the rest comes with the next read.
                        Ok(_) => {}
                    },
                    message = rx.recv() => match message {
                        Ok((text, from)) if from != peer => {
                            let head = format!("{from}: ");
                            let sent = async {
                                writer.write_all(head.as_bytes()).await?;
                                writer.write_all(text.as_bytes()).await?;
                                writer.write_all(b"\n").await
                            };
                            if sent.await.is_err() {
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
