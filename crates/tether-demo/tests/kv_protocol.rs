//! The key-value server's framing: pipelining (every command of a read runs, the replies go
//! out in one write), inline commands, protocol errors (answered, then the connection closes)
//! and size limits refused on the header, before the announced bytes are stored. In process,
//! on both scheduler flavors.

mod support;

use std::sync::atomic::Ordering;

use support::kv::{bulk, encode, ok, on_both_flavors, Reply, TestServer};
use tether::io::AsyncWriteExt;
use tether_demo::kv::{resp, Config, Limits};

/// A thousand commands in one write: every reply comes back, in order, and the server wrote
/// one batch of replies per read (never one per command).
#[test]
fn a_pipelined_batch_runs_every_command_and_replies_in_one_write_per_read() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        let mut batch = Vec::new();
        for i in 0..500 {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            batch.extend(encode(&[b"SET", k.as_bytes(), v.as_bytes()]));
            batch.extend(encode(&[b"GET", k.as_bytes()]));
        }
        c.stream.write_all(&batch).await.unwrap();
        for i in 0..500 {
            assert_eq!(c.reply().await, ok(), "reply to SET k{i}");
            assert_eq!(c.reply().await, bulk(&format!("v{i}")), "reply to GET k{i}");
        }
        drop(c);
        let kv = server.kv.clone();
        server.stop().await;
        let stats = kv.stats();
        let commands = stats.commands.load(Ordering::SeqCst);
        let reads = stats.reads.load(Ordering::SeqCst);
        let writes = stats.batches_written.load(Ordering::SeqCst);
        assert_eq!(commands, 1000);
        assert!(
            writes <= reads && reads < 100,
            "one write per read batch: {reads} reads, {writes} batches written for {commands} \
             commands"
        );
    });
}

/// Inline commands (what a person types into `nc`), with Redis's quoting; empty commands
/// (`*0`, `*-1`, empty lines) are skipped without a reply.
#[test]
fn inline_and_empty_commands() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        c.stream
            .write_all(b"*0\r\n\r\n*-1\r\nSET a \"b c\\x41\"\r\nGET a\nECHO 'it\\'s'\r\nPING\r\n")
            .await
            .unwrap();
        assert_eq!(c.reply().await, ok());
        assert_eq!(c.reply().await, bulk("b cA"));
        assert_eq!(c.reply().await, bulk("it's"));
        assert_eq!(c.reply().await, Reply::Simple("PONG".into()));
        drop(c);
        server.stop().await;
    });
}

/// Each malformed request is answered with Redis's protocol error, after the replies of the
/// commands before it in the same read, and the connection is closed.
#[test]
fn protocol_errors_are_answered_then_the_connection_closes() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut too_long_inline = b"PING\r\n".to_vec();
        too_long_inline.extend(std::iter::repeat_n(b'x', resp::MAX_INLINE + 10));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                b"PING\r\n*x\r\n".to_vec(),
                "ERR Protocol error: invalid multibulk length",
            ),
            (
                b"PING\r\n*1\r\n+foo\r\n".to_vec(),
                "ERR Protocol error: expected '$', got '+'",
            ),
            (
                b"PING\r\n*1\r\n$-1\r\n".to_vec(),
                "ERR Protocol error: invalid bulk length",
            ),
            (
                b"PING\r\nECHO \"abc\r\n".to_vec(),
                "ERR Protocol error: unbalanced quotes in request",
            ),
            (
                b"PING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabcXY".to_vec(),
                "ERR Protocol error: expected '\\r\\n' after a bulk of 3 bytes",
            ),
            (
                too_long_inline,
                "ERR Protocol error: too big inline request",
            ),
        ];
        let n = cases.len() as u64;
        for (input, want) in cases {
            let mut c = server.client().await;
            c.stream.write_all(&input).await.unwrap();
            assert_eq!(c.reply().await, Reply::Simple("PONG".into()));
            assert_eq!(c.reply().await, Reply::Error(want.into()));
            assert!(c.closed_by_server().await, "closed after {want:?}");
        }
        let kv = server.kv.clone();
        server.stop().await;
        assert_eq!(kv.stats().protocol_errors.load(Ordering::SeqCst), n);
    });
}

fn small_limits() -> Config {
    Config {
        limits: Limits {
            resp: resp::Limits {
                max_bulk: 1024,
                max_args: 200,
            },
            max_query: 64 * 1024,
            ..Limits::default()
        },
        ..Config::default()
    }
}

/// A bulk or an array announced beyond the limits is refused as soon as its header arrives,
/// without waiting for (or storing) the announced bytes; what is within the limits works.
#[test]
fn sizes_beyond_the_limits_are_refused_on_the_header() {
    on_both_flavors(|| async {
        let server = TestServer::start(small_limits()).await;
        // Exactly at the limit: fine.
        let mut c = server.client().await;
        let max = vec![b'v'; 1024];
        assert_eq!(c.cmd_bytes(&[b"SET", b"k", &max]).await, ok());
        assert_eq!(c.cmd(&["GET", "k"]).await, Reply::Bulk(max));
        // One byte over, header only: refused at once (the data is never sent).
        c.stream
            .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")
            .await
            .unwrap();
        assert_eq!(
            c.reply().await,
            Reply::Error("ERR Protocol error: invalid bulk length".into())
        );
        assert!(c.closed_by_server().await);
        // A claim of a billion arguments: refused at once.
        let mut c = server.client().await;
        c.stream.write_all(b"*1000000000\r\n").await.unwrap();
        assert_eq!(
            c.reply().await,
            Reply::Error("ERR Protocol error: invalid multibulk length".into())
        );
        assert!(c.closed_by_server().await);
        // Arguments each within the limit, but a command larger than the query buffer limit.
        let mut c = server.client().await;
        let arg = vec![b'a'; 1000];
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        for _ in 0..100 {
            args.push(&arg);
        }
        c.stream.write_all(&encode(&args)).await.unwrap();
        assert_eq!(
            c.reply().await,
            Reply::Error(
                "ERR Protocol error: a command of more than 65536 bytes (the query buffer limit)"
                    .into()
            )
        );
        assert!(c.closed_by_server().await);
        let kv = server.kv.clone();
        server.stop().await;
        assert!(
            kv.peak_buffered_bytes() < 512 * 1024,
            "the server held {} bytes at most; the refused claims were never allocated",
            kv.peak_buffered_bytes()
        );
    });
}

/// A value of several megabytes, sent in pieces, arrives whole (the read buffer grows while the
/// command is incomplete), and the buffer goes back to its resting size afterwards.
#[test]
fn a_large_value_arrives_whole() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        let value: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let request = encode(&[b"SET", b"big", &value]);
        for piece in request.chunks(100_000) {
            c.stream.write_all(piece).await.unwrap();
        }
        assert_eq!(c.reply().await, ok());
        assert_eq!(c.cmd(&["GET", "big"]).await, Reply::Bulk(value));
        assert_eq!(c.cmd(&["PING"]).await, Reply::Simple("PONG".into()));
        assert!(
            server.kv.buffered_bytes() < 256 * 1024,
            "after the large command the buffers shrink back (now {} bytes)",
            server.kv.buffered_bytes()
        );
        drop(c);
        server.stop().await;
    });
}
