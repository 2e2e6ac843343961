//! The `kv` binary driven by the real `redis-cli`: every command's reply as `redis-cli` prints
//! it, pub/sub between two `redis-cli` processes, `redis-cli --pipe` (ten thousand pipelined
//! commands), and the same command script run against `redis-server` itself, whose output must
//! match except where this server differs on purpose.
//!
//! These tests need Debian's `redis-tools` (and `redis-server` for the comparison), so they are
//! ignored by a plain `cargo test`; `.ci/run`'s kv stage installs the tools and runs them with
//! `cargo test -p tether-demo --test kv_redis_cli -- --ignored`. Run that way without the tools,
//! they fail and say how to install them.

mod support;

use std::process::Command;
use std::time::Duration;

use support::child::Running;
use support::redis_tools::{cli, require, run, KvServer, RedisServer};

/// Each command as typed on `redis-cli`'s command line, and what `redis-cli` prints for it
/// (`--no-raw`, the format it uses on a terminal). Run in order on one server. `A..B` in an
/// expected integer accepts any value from A to B: a time to live counts down in real time
/// between two `redis-cli` runs (see [`same_reply`]).
const SCRIPT: &[(&[&str], &str)] = &[
    (&["FLUSHALL"], "OK"),
    (&["PING"], "PONG"),
    (&["PING", "hello"], "\"hello\""),
    (&["ECHO", "hello world"], "\"hello world\""),
    (&["SET", "k", "v"], "OK"),
    (&["GET", "k"], "\"v\""),
    (&["GET", "nokey"], "(nil)"),
    (&["SET", "k", "v2", "XX"], "OK"),
    (&["SET", "k", "v3", "NX"], "(nil)"),
    (&["GET", "k"], "\"v2\""),
    (&["SET", "fresh", "v", "NX"], "OK"),
    (&["SET", "k", "v", "EX", "100"], "OK"),
    (&["TTL", "k"], "(integer) 99..100"),
    (&["SET", "k", "v", "PX", "100000", "XX"], "OK"),
    (&["TTL", "k"], "(integer) 99..100"),
    (
        &["SET", "k", "v", "EX", "0"],
        "(error) ERR invalid expire time in 'set' command",
    ),
    (&["SET", "k", "v", "NX", "XX"], "(error) ERR syntax error"),
    (
        &["SET", "k"],
        "(error) ERR wrong number of arguments for 'set' command",
    ),
    (&["INCR", "counter"], "(integer) 1"),
    (&["INCRBY", "counter", "41"], "(integer) 42"),
    (&["DECR", "counter"], "(integer) 41"),
    (
        &["INCR", "k"],
        "(error) ERR value is not an integer or out of range",
    ),
    (&["MSET", "a", "1", "b", "2"], "OK"),
    (&["MGET", "a", "b", "nokey"], "1) \"1\"\n2) \"2\"\n3) (nil)"),
    (&["EXISTS", "a", "b", "nokey"], "(integer) 2"),
    (&["DEL", "a", "nokey"], "(integer) 1"),
    (&["EXPIRE", "b", "100"], "(integer) 1"),
    (&["TTL", "b"], "(integer) 99..100"),
    (&["PEXPIRE", "b", "200000"], "(integer) 1"),
    (&["TTL", "b"], "(integer) 199..200"),
    (&["EXPIRE", "nokey", "10"], "(integer) 0"),
    (&["TTL", "nokey"], "(integer) -2"),
    (&["PTTL", "nokey"], "(integer) -2"),
    (&["PTTL", "fresh"], "(integer) -1"),
    (&["LPUSH", "list", "a", "b", "c"], "(integer) 3"),
    (&["RPUSH", "list", "d"], "(integer) 4"),
    (
        &["LRANGE", "list", "0", "-1"],
        "1) \"c\"\n2) \"b\"\n3) \"a\"\n4) \"d\"",
    ),
    (&["LLEN", "list"], "(integer) 4"),
    (&["LPOP", "list"], "\"c\""),
    (&["RPOP", "list"], "\"d\""),
    (&["LPOP", "list", "5"], "1) \"b\"\n2) \"a\""),
    (&["LRANGE", "list", "0", "-1"], "(empty array)"),
    (&["RPOP", "list"], "(nil)"),
    (
        &["LPUSH", "k", "x"],
        "(error) WRONGTYPE Operation against a key holding the wrong kind of value",
    ),
    (&["PUBLISH", "nobody", "hello"], "(integer) 0"),
    (&["DBSIZE"], "(integer) 4"),
    (&["CONFIG", "GET", "save"], "1) \"save\"\n2) \"\""),
    (
        &["CONFIG", "GET", "appendonly"],
        "1) \"appendonly\"\n2) \"no\"",
    ),
    (&["COMMAND", "DOCS"], "(empty array)"),
    (
        &["HELLO", "3"],
        "(error) NOPROTO unsupported protocol version",
    ),
    (
        &["NOSUCH", "a", "b"],
        "(error) ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ",
    ),
    (&["QUIT"], "OK"),
    (&["FLUSHALL"], "OK"),
    (&["DBSIZE"], "(integer) 0"),
];

/// Whether `got` is the expected output `want`: equal, or for `(integer) A..B`, an integer in
/// that range. Times to live are the only replies that depend on when the command ran: a
/// second `redis-cli` process may start half a second later on a busy machine.
fn same_reply(want: &str, got: &str) -> bool {
    let range = want
        .strip_prefix("(integer) ")
        .and_then(|r| r.split_once(".."));
    match range {
        Some((lo, hi)) => got
            .strip_prefix("(integer) ")
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| lo.parse::<i64>().unwrap() <= n && n <= hi.parse::<i64>().unwrap()),
        None => want == got,
    }
}

/// Whether two servers' replies to `args` agree: equal, except that a time to live may differ
/// by what elapsed between the two runs (up to a second, or a thousand milliseconds).
fn agree(args: &[&str], a: &str, b: &str) -> bool {
    let slack = match args.first().map(|c| c.to_ascii_uppercase()) {
        Some(c) if c == "TTL" => 1,
        Some(c) if c == "PTTL" => 1000,
        _ => return a == b,
    };
    let int = |s: &str| s.strip_prefix("(integer) ")?.parse::<i64>().ok();
    match (int(a), int(b)) {
        (Some(x), Some(y)) if x >= 0 && y >= 0 => (x - y).abs() <= slack,
        _ => a == b,
    }
}

#[test]
#[ignore = "needs redis-cli (redis-tools): run by .ci/run's kv stage, or with -- --ignored"]
fn every_command_as_redis_cli_prints_it() {
    require("redis-cli");
    for flavor in [&["--current-thread"][..], &[][..]] {
        let server = KvServer::start(flavor);
        for (args, want) in SCRIPT {
            let got = cli(server.port(), args);
            assert!(
                same_reply(want, &got),
                "redis-cli {args:?} ({flavor:?}): printed {got:?}, expected {want:?}"
            );
        }
    }
}

/// `redis-cli SUBSCRIBE` in one process receives what `redis-cli PUBLISH` sends from another.
#[test]
#[ignore = "needs redis-cli (redis-tools): run by .ci/run's kv stage, or with -- --ignored"]
fn pub_sub_between_two_redis_cli_processes() {
    let cli_path = require("redis-cli");
    let server = KvServer::start(&[]);
    let port = server.port().to_string();
    let mut cmd = Command::new(cli_path);
    cmd.args(["-p", &port, "--no-raw", "SUBSCRIBE", "news", "sport"]);
    let subscriber = Running::start(cmd, "redis-cli SUBSCRIBE");
    let limit = Duration::from_secs(30);
    subscriber.wait_for_line("\"sport\"", limit);
    subscriber.wait_for_line("(integer) 2", limit);
    assert_eq!(
        cli(
            server.port(),
            &["PUBLISH", "news", "hello from the publisher"]
        ),
        "(integer) 1"
    );
    assert_eq!(
        cli(server.port(), &["PUBLISH", "sport", "goal"]),
        "(integer) 1"
    );
    assert_eq!(
        cli(server.port(), &["PUBLISH", "weather", "rain"]),
        "(integer) 0"
    );
    subscriber.wait_for_line("\"hello from the publisher\"", limit);
    subscriber.wait_for_line("\"goal\"", limit);
    let out = subscriber.stdout_text();
    assert!(
        out.contains("1) \"message\"\n2) \"news\"\n3) \"hello from the publisher\""),
        "{out}"
    );
    assert!(!out.contains("rain"), "{out}");
    drop(subscriber); // killed by its pid
}

/// `redis-cli --pipe` streams ten thousand commands without waiting for replies, then an
/// `ECHO` it waits for: every reply arrives and none is an error.
#[test]
#[ignore = "needs redis-cli (redis-tools): run by .ci/run's kv stage, or with -- --ignored"]
fn redis_cli_pipe_mode() {
    require("redis-cli");
    let server = KvServer::start(&[]);
    let mut input = String::new();
    for i in 0..10_000 {
        input.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n${}\r\nkey{i}\r\n${}\r\nvalue{i}\r\n",
            format!("key{i}").len(),
            format!("value{i}").len()
        ));
    }
    let out = run(
        "redis-cli",
        &["-p", &server.port().to_string(), "--pipe"],
        input.as_bytes(),
    );
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("errors: 0, replies: 10000"),
        "{}",
        out.stdout
    );
    assert_eq!(cli(server.port(), &["DBSIZE"]), "(integer) 10000");
    assert_eq!(cli(server.port(), &["GET", "key9999"]), "\"value9999\"");
}

/// The same script through `redis-cli` against `redis-server` and against `kv`: the outputs
/// match line for line, except where `kv` differs on purpose (one database; no RESP3).
#[test]
#[ignore = "needs redis-cli and redis-server: run by .ci/run's kv stage, or with -- --ignored"]
fn the_same_script_prints_the_same_on_redis_server() {
    require("redis-cli");
    let redis = RedisServer::start();
    let kv = KvServer::start(&[]);
    let differs_on_purpose = |args: &[&str]| {
        matches!(
            args,
            ["HELLO", "3"] | ["SELECT", "1"] | ["COMMAND", ..] | ["CONFIG", "GET", "*"]
        )
    };
    let mut script: Vec<&[&str]> = SCRIPT.iter().map(|(args, _)| *args).collect();
    let extra: &[&[&str]] = &[
        &["SET", "t", "v", "EX", "abc"],
        &["SET", "t", "v", "PX", "9223372036854775807"],
        &["SET", "t", "1", "EX", "100"],
        &["SET", "t", "v", "KEEPTTL"],
        &["TTL", "t"],
        &["SET", "t", "w", "GET"],
        &["INCR", "t"],
        &["SET", "t", "5"],
        &["EXPIRE", "t", "100", "XX"],
        &["EXPIRE", "t", "50", "GT"],
        &["EXPIRE", "t", "50", "LT"],
        &["EXPIRE", "t", "50", "NX", "XX"],
        &["EXPIRE", "t", "50", "GT", "LT"],
        &["EXPIRE", "t", "50", "FOO"],
        &["EXPIRE", "t", "9223372036854775807"],
        &["TTL", "t"],
        &["PERSIST", "t"],
        &["DECRBY", "t", "-9223372036854775808"],
        &["RPUSH", "l", "1", "2", "3"],
        &["LPOP", "l", "0"],
        &["LPOP", "l", "-1"],
        &["LPOP", "nolist", "2"],
        &["LRANGE", "l", "-100", "100"],
        &["LRANGE", "l", "a", "b"],
        &["MSET", "a"],
        &["MGET", "l", "t"],
        &["FLUSHALL", "foo"],
        &["DBSIZE", "x"],
        &["CONFIG", "GET", "nosuch"],
        &["CONFIG", "GET"],
        &["CONFIG"],
        &["CONFIG", "FOO"],
        &["SELECT", "0"],
        &["SELECT", "x"],
        &["HELLO", "4"],
        &["HELLO", "abc"],
        &["UNSUBSCRIBE"],
        &["SUBSCRIBE"],
        &["PING", "a", "b"],
        &["foo"],
        &["FLUSHALL"],
    ];
    script.extend_from_slice(extra);
    for args in script {
        if differs_on_purpose(args) {
            continue;
        }
        let want = cli(redis.port, args);
        let got = cli(kv.port(), args);
        assert!(
            agree(args, &got, &want),
            "redis-cli {args:?}: kv printed {got:?}, redis-server {want:?}"
        );
    }
}
