//! The key-value server's commands, one by one, as a RESP2 client sees them: replies and
//! Redis's exact error strings. The server runs in process ([`support::kv::TestServer`]); each
//! test runs on both scheduler flavors. Expiry in time is in `kv_expiry.rs` (paused clock).

mod support;

use support::kv::{bulk, bulks, err, int, ok, on_both_flavors, Client, Reply, TestServer};
use tether_demo::kv::Config;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// Sends each command and compares its reply with the expected one.
async fn expect(c: &mut Client, cases: &[(&[&str], Reply)]) {
    for (cmd, want) in cases {
        let got = c.cmd(cmd).await;
        assert_eq!(&got, want, "reply to {cmd:?}");
    }
}

#[test]
fn connection_commands() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["PING"], Reply::Simple("PONG".into())),
                (&["ping", "hello"], bulk("hello")),
                (
                    &["PING", "a", "b"],
                    err("ERR wrong number of arguments for 'ping' command"),
                ),
                (&["ECHO", "hi there"], bulk("hi there")),
                (
                    &["ECHO"],
                    err("ERR wrong number of arguments for 'echo' command"),
                ),
                (&["SELECT", "0"], ok()),
                (&["SELECT", "1"], err("ERR DB index is out of range")),
                (&["SELECT", "x"], err(NOT_INTEGER)),
                (
                    &["FOO", "a", "b"],
                    err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
                ),
                (
                    &["foo"],
                    err("ERR unknown command 'foo', with args beginning with: "),
                ),
            ],
        )
        .await;
        assert_eq!(c.cmd(&["QUIT"]).await, ok());
        assert!(c.closed_by_server().await, "QUIT closes the connection");
        drop(c);
        server.stop().await;
    });
}

#[test]
fn what_redis_cli_and_redis_benchmark_ask_at_start() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["CONFIG", "GET", "save"], bulks(&["save", ""])),
                (
                    &["CONFIG", "GET", "appendonly"],
                    bulks(&["appendonly", "no"]),
                ),
                (
                    &["CONFIG", "GET", "save", "appendonly"],
                    bulks(&["save", "", "appendonly", "no"]),
                ),
                (&["config", "get", "APPEND*"], bulks(&["appendonly", "no"])),
                (&["CONFIG", "GET", "nosuch"], Reply::Array(vec![])),
                (
                    &["CONFIG", "GET"],
                    err("ERR wrong number of arguments for 'config|get' command"),
                ),
                (
                    &["CONFIG", "SET", "save", ""],
                    err("ERR unknown subcommand 'SET'. Try CONFIG HELP."),
                ),
                (&["COMMAND"], Reply::Array(vec![])),
                (&["COMMAND", "DOCS"], Reply::Array(vec![])),
                (&["COMMAND", "DOCS", "get"], Reply::Array(vec![])),
                (&["HELLO", "3"], err("NOPROTO unsupported protocol version")),
                (
                    &["HELLO", "x"],
                    err("ERR Protocol version is not an integer or out of range"),
                ),
            ],
        )
        .await;
        let Reply::Int(count) = c.cmd(&["COMMAND", "COUNT"]).await else {
            panic!("COMMAND COUNT is an integer");
        };
        let Reply::Array(names) = c.cmd(&["COMMAND", "LIST"]).await else {
            panic!("COMMAND LIST is an array");
        };
        assert_eq!(names.len() as i64, count);
        assert!(names.contains(&bulk("set")) && names.contains(&bulk("subscribe")));
        let Reply::Array(hello) = c.cmd(&["HELLO", "2"]).await else {
            panic!("HELLO 2 is an array");
        };
        assert_eq!(hello[4..6], [bulk("proto"), int(2)]);
        drop(c);
        server.stop().await;
    });
}

#[test]
fn strings() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["GET", "k"], Reply::Nil),
                (&["SET", "k", "v"], ok()),
                (&["GET", "k"], bulk("v")),
                (&["SET", "k", "v2", "XX"], ok()),
                (&["SET", "k", "v3", "NX"], Reply::Nil),
                (&["GET", "k"], bulk("v2")),
                (&["SET", "n", "1", "XX"], Reply::Nil),
                (&["SET", "n", "1", "nx"], ok()),
                (&["SET", "k", "w", "GET"], bulk("v2")),
                (&["SET", "new", "x", "NX", "GET"], Reply::Nil),
                (&["GET", "new"], bulk("x")),
                (&["SET", "k", "v", "NX", "XX"], err(SYNTAX)),
                (&["SET", "k", "v", "foo"], err(SYNTAX)),
                (&["SET", "k", "v", "EX"], err(SYNTAX)),
                (&["SET", "k", "v", "EX", "10", "PX", "100"], err(SYNTAX)),
                (&["SET", "k", "v", "EX", "10", "KEEPTTL"], err(SYNTAX)),
                (&["SET", "k", "v", "EX", "abc"], err(NOT_INTEGER)),
                (
                    &["SET", "k", "v", "EX", "0"],
                    err("ERR invalid expire time in 'set' command"),
                ),
                (
                    &["SET", "k", "v", "PX", "-5"],
                    err("ERR invalid expire time in 'set' command"),
                ),
                (
                    &["SET", "k", "v", "PX", "9223372036854775807"],
                    err("ERR invalid expire time in 'set' command"),
                ),
                (
                    &["SET", "k", "v", "EX", "9223372036854775"],
                    err("ERR invalid expire time in 'set' command"),
                ),
                (&["SET", "past", "v", "EXAT", "1"], ok()),
                (&["GET", "past"], Reply::Nil),
                (
                    &["SET"],
                    err("ERR wrong number of arguments for 'set' command"),
                ),
                (
                    &["GET"],
                    err("ERR wrong number of arguments for 'get' command"),
                ),
                (&["MSET", "a", "1", "b", "2"], ok()),
                (
                    &["MGET", "a", "b", "nope"],
                    Reply::Array(vec![bulk("1"), bulk("2"), Reply::Nil]),
                ),
                (
                    &["MSET", "a"],
                    err("ERR wrong number of arguments for 'mset' command"),
                ),
                (
                    &["MSET", "a", "1", "b"],
                    err("ERR wrong number of arguments for 'mset' command"),
                ),
            ],
        )
        .await;
        // Binary-safe keys and values.
        let key: &[u8] = b"\x00\xffkey\r\n";
        let value: &[u8] = b"\r\n\x00bytes";
        assert_eq!(c.cmd_bytes(&[b"SET", key, value]).await, ok());
        assert_eq!(
            c.cmd_bytes(&[b"GET", key]).await,
            Reply::Bulk(value.to_vec())
        );
        drop(c);
        server.stop().await;
    });
}

#[test]
fn counters() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["INCR", "c"], int(1)),
                (&["INCRBY", "c", "10"], int(11)),
                (&["DECR", "c"], int(10)),
                (&["DECRBY", "c", "15"], int(-5)),
                (&["GET", "c"], bulk("-5")),
                (&["INCRBY", "c", "x"], err(NOT_INTEGER)),
                (&["SET", "s", "abc"], ok()),
                (&["INCR", "s"], err(NOT_INTEGER)),
                (&["SET", "s", " 12"], ok()),
                (&["INCR", "s"], err(NOT_INTEGER)),
                (&["SET", "s", "012"], ok()),
                (&["INCR", "s"], err(NOT_INTEGER)),
                (&["SET", "max", "9223372036854775807"], ok()),
                (
                    &["INCR", "max"],
                    err("ERR increment or decrement would overflow"),
                ),
                (
                    &["DECRBY", "max", "-9223372036854775808"],
                    err("ERR decrement would overflow"),
                ),
                (&["LPUSH", "l", "a"], int(1)),
                (&["INCR", "l"], err(WRONGTYPE)),
                (
                    &["INCR"],
                    err("ERR wrong number of arguments for 'incr' command"),
                ),
            ],
        )
        .await;
        drop(c);
        server.stop().await;
    });
}

#[test]
fn keys() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["MSET", "a", "1", "b", "2"], ok()),
                (&["RPUSH", "l", "x"], int(1)),
                (&["EXISTS", "a", "a", "nope", "l"], int(3)),
                (&["DBSIZE"], int(3)),
                (
                    &["DBSIZE", "x"],
                    err("ERR wrong number of arguments for 'dbsize' command"),
                ),
                (&["DEL", "a", "a", "nope"], int(1)),
                (&["EXISTS", "a"], int(0)),
                (&["DBSIZE"], int(2)),
                (&["FLUSHALL", "foo"], err(SYNTAX)),
                (&["FLUSHALL"], ok()),
                (&["DBSIZE"], int(0)),
                (&["SET", "a", "1"], ok()),
                (&["FLUSHALL", "SYNC"], ok()),
                (&["DBSIZE"], int(0)),
                // Deadlines that are not about time passing (those are in kv_expiry.rs).
                (&["SET", "t", "v"], ok()),
                (&["TTL", "t"], int(-1)),
                (&["PTTL", "nope"], int(-2)),
                (&["EXPIRE", "t", "abc"], err(NOT_INTEGER)),
                (
                    &["EXPIRE", "t", "10", "nx", "xx"],
                    err("ERR NX and XX, GT or LT options at the same time are not compatible"),
                ),
                (
                    &["EXPIRE", "t", "10", "gt", "lt"],
                    err("ERR GT and LT options at the same time are not compatible"),
                ),
                (
                    &["EXPIRE", "t", "10", "foo"],
                    err("ERR Unsupported option foo"),
                ),
                (
                    &["EXPIRE", "t", "9223372036854775807"],
                    err("ERR invalid expire time in 'expire' command"),
                ),
                (
                    &["PEXPIRE", "t", "9223372036854775807"],
                    err("ERR invalid expire time in 'pexpire' command"),
                ),
                (&["EXPIRE", "t", "10", "GT"], int(0)),
                (&["EXPIRE", "t", "10", "XX"], int(0)),
                (&["EXPIRE", "nope", "10"], int(0)),
                (&["EXPIRE", "t", "-1"], int(1)),
                (&["EXISTS", "t"], int(0)),
                (&["PERSIST", "nope"], int(0)),
            ],
        )
        .await;
        drop(c);
        server.stop().await;
    });
}

#[test]
fn lists() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut c = server.client().await;
        expect(
            &mut c,
            &[
                (&["LPUSH", "l", "a", "b", "c"], int(3)),
                (&["RPUSH", "l", "d"], int(4)),
                (&["LRANGE", "l", "0", "-1"], bulks(&["c", "b", "a", "d"])),
                (
                    &["LRANGE", "l", "-100", "100"],
                    bulks(&["c", "b", "a", "d"]),
                ),
                (&["LRANGE", "l", "1", "2"], bulks(&["b", "a"])),
                (&["LRANGE", "l", "-2", "-1"], bulks(&["a", "d"])),
                (&["LRANGE", "l", "2", "1"], bulks(&[])),
                (&["LRANGE", "l", "10", "20"], bulks(&[])),
                (&["LRANGE", "l", "a", "b"], err(NOT_INTEGER)),
                (&["LRANGE", "nope", "0", "-1"], bulks(&[])),
                (&["LLEN", "l"], int(4)),
                (&["LLEN", "nope"], int(0)),
                (&["LPOP", "l"], bulk("c")),
                (&["RPOP", "l"], bulk("d")),
                (&["LPOP", "l", "0"], bulks(&[])),
                (
                    &["LPOP", "l", "-1"],
                    err("ERR value is out of range, must be positive"),
                ),
                // As Redis: any count that is not a non-negative integer.
                (
                    &["LPOP", "l", "x"],
                    err("ERR value is out of range, must be positive"),
                ),
                (
                    &["LPOP", "l", "1", "2"],
                    err("ERR wrong number of arguments for 'lpop' command"),
                ),
                (&["RPOP", "l", "5"], bulks(&["a", "b"])),
                // The list is empty: the key is gone.
                (&["EXISTS", "l"], int(0)),
                (&["LPOP", "l"], Reply::Nil),
                (&["LPOP", "l", "2"], Reply::NilArray),
                (&["LPOP", "l", "0"], Reply::NilArray),
                (&["SET", "s", "v"], ok()),
                (&["LPUSH", "s", "x"], err(WRONGTYPE)),
                (&["LPOP", "s"], err(WRONGTYPE)),
                (&["LLEN", "s"], err(WRONGTYPE)),
                (&["LRANGE", "s", "0", "1"], err(WRONGTYPE)),
                (&["RPUSH", "q", "x"], int(1)),
                (&["GET", "q"], err(WRONGTYPE)),
                (
                    &["MGET", "q", "s"],
                    Reply::Array(vec![Reply::Nil, bulk("v")]),
                ),
                (&["SET", "q", "now a string"], ok()),
                (&["GET", "q"], bulk("now a string")),
            ],
        )
        .await;
        drop(c);
        server.stop().await;
    });
}

/// Two clients: a subscriber receives what the other publishes, in order, on every channel it
/// subscribed to; while subscribed only (UN)SUBSCRIBE, PING and QUIT are allowed.
#[test]
fn publish_and_subscribe() {
    on_both_flavors(|| async {
        let server = TestServer::start(Config::default()).await;
        let mut sub = server.client().await;
        let mut publisher = server.client().await;
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "early"]).await, int(0));
        sub.send(&["SUBSCRIBE", "news", "sport"]).await;
        let confirm =
            |kind: &str, ch: &str, n: i64| Reply::Array(vec![bulk(kind), bulk(ch), int(n)]);
        assert_eq!(sub.reply().await, confirm("subscribe", "news", 1));
        assert_eq!(sub.reply().await, confirm("subscribe", "sport", 2));
        let message = |ch: &str, m: &str| bulks(&["message", ch, m]);
        for i in 0..100 {
            let m = format!("m{i}");
            assert_eq!(publisher.cmd(&["PUBLISH", "news", &m]).await, int(1));
        }
        assert_eq!(publisher.cmd(&["PUBLISH", "sport", "goal"]).await, int(1));
        for i in 0..100 {
            assert_eq!(sub.reply().await, message("news", &format!("m{i}")));
        }
        assert_eq!(sub.reply().await, message("sport", "goal"));
        // Subscriber mode.
        assert_eq!(
            sub.cmd(&["GET", "k"]).await,
            err(
                "ERR Can't execute 'get': only SUBSCRIBE / UNSUBSCRIBE / PING / QUIT are \
                 allowed in this context"
            )
        );
        assert_eq!(sub.cmd(&["PING"]).await, bulks(&["pong", ""]));
        assert_eq!(sub.cmd(&["PING", "hi"]).await, bulks(&["pong", "hi"]));
        assert_eq!(
            sub.cmd(&["UNSUBSCRIBE", "news"]).await,
            confirm("unsubscribe", "news", 1)
        );
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "x"]).await, int(0));
        sub.send(&["UNSUBSCRIBE"]).await;
        assert_eq!(sub.reply().await, confirm("unsubscribe", "sport", 0));
        assert_eq!(
            sub.cmd(&["UNSUBSCRIBE"]).await,
            Reply::Array(vec![bulk("unsubscribe"), Reply::Nil, int(0)])
        );
        // Out of subscriber mode: every command again.
        assert_eq!(sub.cmd(&["SET", "k", "v"]).await, ok());
        // A subscriber that disconnects is no longer counted.
        sub.send(&["SUBSCRIBE", "news"]).await;
        assert_eq!(sub.reply().await, confirm("subscribe", "news", 1));
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "y"]).await, int(1));
        drop(sub);
        let left = tether::time::timeout(std::time::Duration::from_secs(60), async {
            while publisher.cmd(&["PUBLISH", "news", "z"]).await != int(0) {
                tether::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
        .await;
        assert!(left.is_ok(), "a closed subscriber leaves its channels");
        drop(publisher);
        server.stop().await;
    });
}
