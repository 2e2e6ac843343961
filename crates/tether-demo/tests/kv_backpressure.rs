//! Clients that do not read: the key-value server's memory stays bounded and other clients are
//! served meanwhile. In process, on both scheduler flavors; real-time bounds only catch hangs.
//!
//! The bound is checked on `Kv::peak_buffered_bytes`, the most bytes the server ever held at
//! once in connection buffers and subscriber outboxes: a server that buffered what a
//! non-reading client asked for would reach tens of megabytes, whatever the timing.

mod support;

use std::time::Duration;

use support::kv::{int, ok, on_both_flavors, Client, Reply, TestServer};
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::time::timeout;
use tether_demo::kv::{Config, Limits};

const LIMIT: Duration = Duration::from_secs(30);

/// A client asks for 50 MB of replies without reading them. The server stops reading its
/// requests once a batch's output cannot be written (TCP then holds the client back), so it
/// holds at most about one reply plus the flush threshold for it; another client is served all
/// along; and once the slow client reads, it gets every reply, intact and in order.
#[test]
fn a_client_that_stops_reading_is_not_read_and_holds_up_no_one() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut slow = server.client().await;
        let value: Vec<u8> = (0..128 * 1024u32).map(|i| (i % 253) as u8).collect();
        assert_eq!(slow.cmd_bytes(&[b"SET", b"big", &value]).await, ok());
        const GETS: usize = 400;
        let requests = b"GET big\r\n".repeat(GETS);
        slow.stream.write_all(&requests).await.unwrap();
        // Give the server time to do its worst (the assertions below do not depend on it).
        tether::time::sleep(Duration::from_millis(100)).await;
        let mut other = server.client().await;
        timeout(LIMIT, async {
            for i in 0..100 {
                let k = format!("k{i}");
                assert_eq!(other.cmd(&["SET", &k, "v"]).await, ok());
                assert_eq!(other.cmd(&["INCR", "n"]).await, int(i + 1));
            }
        })
        .await
        .expect("another client is served while the slow one does not read");
        timeout(LIMIT, async {
            for i in 0..GETS {
                match slow.reply().await {
                    Reply::Bulk(v) => assert!(v == value, "reply {i} differs"),
                    other => panic!("reply {i}: {other:?}"),
                }
            }
        })
        .await
        .expect("the slow client gets all its replies once it reads");
        drop((slow, other));
        let kv = server.kv.clone();
        server.stop().await;
        let peak = kv.peak_buffered_bytes();
        assert!(
            peak < 2 * 1024 * 1024,
            "the server held {peak} bytes at most for {} MB of replies",
            (GETS * value.len()) >> 20
        );
    });
}

/// A subscriber that never reads: messages for it pile up in its bounded outbox until the
/// limit, then it is disconnected (and unsubscribed); the publisher is never held up, and the
/// server's memory stays near the limit.
#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_the_limit() {
    on_both_flavors(|| async {
        let config = Config {
            limits: Limits {
                pubsub_outbox: 64 * 1024,
                ..Limits::default()
            },
            ..Config::default()
        };
        let server = TestServer::start(config).await;
        let mut subscriber = small_receive_buffer_client(server.addr);
        subscriber.send(&["SUBSCRIBE", "ch"]).await;
        assert_eq!(
            subscriber.reply().await,
            Reply::Array(vec![
                Reply::Bulk(b"subscribe".to_vec()),
                Reply::Bulk(b"ch".to_vec()),
                int(1)
            ])
        );
        let mut publisher = server.client().await;
        let message = "m".repeat(1024);
        let (mut delivered, mut dropped_at) = (0, None);
        timeout(LIMIT, async {
            for i in 0..100_000 {
                match publisher.cmd(&["PUBLISH", "ch", &message]).await {
                    Reply::Int(1) => delivered += 1,
                    Reply::Int(0) => {
                        dropped_at = Some(i);
                        break;
                    }
                    other => panic!("PUBLISH: {other:?}"),
                }
            }
        })
        .await
        .expect("the publisher is never held up by the subscriber");
        assert!(
            dropped_at.is_some(),
            "the subscriber was still receiving after {delivered} messages of 1 KiB"
        );
        // The subscriber's connection is closed: it reads what was sent, then the end.
        let drained = timeout(LIMIT, async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match subscriber.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(drained.is_ok(), "the subscriber's connection was closed");
        assert_eq!(publisher.cmd(&["PUBLISH", "ch", "x"]).await, int(0));
        assert_eq!(publisher.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
        drop(publisher);
        let kv = server.kv.clone();
        server.stop().await;
        assert_eq!(kv.slow_subscribers_disconnected(), 1);
        let peak = kv.peak_buffered_bytes();
        assert!(
            peak < 512 * 1024,
            "the server held {peak} bytes at most (outbox limit 64 KiB)"
        );
    });
}

/// The server scope is bounded by `max_clients`: a client beyond it is accepted by the kernel
/// but not served (its command waits) until a served client leaves. On the paused clock, so
/// "not served" is decided by the runtime having nothing left to do, not by a real-time wait.
#[tether::test(start_paused = true)]
async fn clients_beyond_max_clients_wait_for_a_place() {
    let config = Config {
        max_clients: 2,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut first = server.client().await;
    let mut second = server.client().await;
    assert_eq!(first.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    assert_eq!(second.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    let mut third = server.client().await;
    third.send(&["PING"]).await;
    let waited = timeout(Duration::from_secs(3600), third.reply()).await;
    assert!(
        waited.is_err(),
        "a third client is not served while two are"
    );
    drop(first);
    assert_eq!(third.reply().await, Reply::Simple("PONG".into()));
    assert_eq!(second.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
    drop((second, third));
    server.stop().await;
}

/// A client whose socket receives into a small buffer, so that a subscriber that does not read
/// fills up quickly.
fn small_receive_buffer_client(addr: std::net::SocketAddr) -> Client {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream = tether::net::TcpStream::from_std(socket.into()).unwrap();
    Client::from_stream(stream)
}

/// A client that writes a whole pipeline before it reads any reply (as redis-py's pipelines
/// do): about 10 MB of requests whose replies are as large. The server keeps reading requests
/// while its replies wait for the client, so the client finishes writing, then reads every
/// reply; the requests wait in the read buffer, not as replies in memory.
#[test]
fn a_client_that_writes_a_whole_pipeline_before_reading_gets_every_reply() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut client = server.client().await;
        let value = "v".repeat(1024);
        const SETS: usize = 10_000;
        let mut pipeline = Vec::new();
        for i in 0..SETS {
            let key = format!("k{}", i % 100);
            let set = format!(
                "*4\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1024\r\n{value}\r\n$3\r\nGET\r\n",
                key.len()
            );
            pipeline.extend_from_slice(set.as_bytes());
        }
        timeout(LIMIT, client.stream.write_all(&pipeline))
            .await
            .expect("the server reads the pipeline while its replies wait")
            .unwrap();
        timeout(LIMIT, async {
            for i in 0..SETS {
                // `SET .. GET` answers the key's previous value: nil for the first hundred.
                match client.reply().await {
                    Reply::Nil if i < 100 => {}
                    Reply::Bulk(v) if i >= 100 => assert_eq!(v, value.as_bytes(), "reply {i}"),
                    other => panic!("reply {i}: {other:?}"),
                }
            }
        })
        .await
        .expect("every reply arrives");
        drop(client);
        let kv = server.kv.clone();
        server.stop().await;
        let peak = kv.peak_buffered_bytes();
        assert!(
            peak < 32 * 1024 * 1024,
            "the server held {peak} bytes at most for a 10 MB pipeline"
        );
    });
}
