//! A simulated echo server the simulation tests share (`tether::sim`).

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::TcpListener;

/// An echo server on `port` that serves each connection in a task of its own.
pub async fn echo_server(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (mut s, _) = listener.accept().await?;
        tether::spawn(async move {
            let mut buf = vec![0; 1024];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return std::io::Result::Ok(());
                }
                s.write_all(&buf[..n]).await?;
            }
        });
    }
}
