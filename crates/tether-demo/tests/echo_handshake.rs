//! The handshake echo server ([`tether_demo::echo_server`]) in process, as a client sees its
//! protocol: a client first says `hello` and gets `hello` back, then every byte it sends is
//! echoed; a client that starts with anything else is disconnected without an echo. The server
//! runs on the test's runtime (`echo_server::start`, one task per connection); the waits for the
//! server to act (close a connection, serve a hundred clients) are bounded by a real-time
//! timeout.

use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::TcpStream;
use tether::time::timeout;
use tether_demo::echo_server;

/// Connects to `addr`, says `hello` and checks the server's `hello` reply.
async fn say_hello(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let mut c = TcpStream::connect(addr).await?;
    c.write_all(b"hello\n").await?;
    let mut reply = [0u8; 6];
    c.read_exact(&mut reply).await?;
    assert_eq!(&reply, b"hello\n");
    Ok(c)
}

/// A client whose first line is not `hello` (here an HTTP request) is disconnected: its read
/// ends (end of file, or an error) without a single byte echoed, and the server counts one
/// rejection.
#[tether::test]
async fn a_client_that_does_not_say_hello_is_disconnected_without_an_echo() {
    let (addr, stats) = echo_server::start("127.0.0.1:0", false).await.unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.0\n").await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(Duration::from_secs(10), c.read(&mut buf))
        .await
        .expect("the server must close the connection, not hang")
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "no byte may be echoed to a client that did not say hello"
    );
    assert_eq!(stats.rejected.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// After the handshake every byte comes back as sent, text or not (a NUL, 255, `\n`, `\r`).
#[tether::test]
async fn after_hello_every_byte_is_echoed() {
    let (addr, _) = echo_server::start("127.0.0.1:0", false).await.unwrap();
    let mut c = say_hello(addr).await.unwrap();
    for msg in [&b"first"[..], b"second message", &[0u8, 255, 10, 13][..]] {
        c.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
}

/// A hundred clients at once, each its own task: each says `hello`, then does ten round trips
/// of a 64-byte message of its own; every echo matches, and the server accepted each client
/// once. Bounded by a minute of real time.
#[tether::test]
async fn a_hundred_concurrent_clients_each_get_their_own_echoes() {
    let (addr, stats) = echo_server::start("127.0.0.1:0", false).await.unwrap();
    let clients: Vec<_> = (0..100u32)
        .map(|i| {
            tether::spawn(async move {
                let mut c = say_hello(addr).await?;
                for round in 0..10u32 {
                    let msg: Vec<u8> = (0..64).map(|k| (i * 31 + round * 7 + k) as u8).collect();
                    c.write_all(&msg).await?;
                    let mut back = vec![0u8; 64];
                    c.read_exact(&mut back).await?;
                    assert_eq!(back, msg, "client {i} round {round}");
                }
                std::io::Result::Ok(())
            })
        })
        .collect();
    let all = async {
        for c in clients {
            c.await.unwrap().unwrap();
        }
    };
    timeout(Duration::from_secs(60), all)
        .await
        .expect("100 clients must be served well within a minute");
    assert_eq!(
        stats.accepted.load(std::sync::atomic::Ordering::SeqCst),
        100
    );
}
