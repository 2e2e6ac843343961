//! TCP order across a partition's repair (`tether::sim`, net.rs rules 2 and 3): a regression
//! test for a simulator bug found by `tether-demo`'s `sim_echo` sweep (seed 314 of the
//! 100-client scenario: an echo came back with its two halves swapped).
//!
//! A segment that reaches a cut link waits in the link's queue. The repair used to re-send the
//! queue with a fresh latency, so a segment sent *during* the partition and still in flight at
//! the repair arrived first; now the queue is delivered at the repair, in order.

use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sim::{NetConfig, Sim};
use tether::time::sleep;

#[test]
fn a_repaired_partition_keeps_tcp_order() {
    let mut sim = Sim::builder()
        .seed(0)
        .net(NetConfig::default().latency(Duration::from_millis(10)))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7000").await?;
        let (mut s, _) = listener.accept().await?;
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await?;
        s.write_all(&buf).await?;
        std::io::Result::Ok(())
    });
    sim.client("client", async {
        let mut s = TcpStream::connect("server:7000").await?;
        // t = 0: "A" leaves, due at the server at t = 10.
        s.write_all(b"A").await?;
        // t = 5: cut; at t = 10 "A" reaches the cut link and waits.
        sleep(Duration::from_millis(5)).await;
        tether::sim::partition("client", "server");
        // t = 11: "B" leaves, due at t = 21 (the link's last arrival was 10).
        sleep(Duration::from_millis(6)).await;
        s.write_all(b"B").await?;
        // t = 12: repair; "A" is delivered now, before "B" (due at 21).
        sleep(Duration::from_millis(1)).await;
        tether::sim::repair("client", "server");
        let mut back = [0u8; 2];
        s.read_exact(&mut back).await?;
        assert_eq!(&back, b"AB", "the stream was reordered");
        std::io::Result::Ok(())
    });
    sim.run().unwrap_or_else(|e| panic!("{e}"));
}
