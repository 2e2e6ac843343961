//! Sockets for the tests: a connected TCP pair over loopback.

use tether::net::{TcpListener, TcpStream};

/// A connected TCP pair over loopback: (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = futures_lite::future::zip(TcpStream::connect(addr), l.accept()).await;
    (c.unwrap(), s.unwrap().0)
}
