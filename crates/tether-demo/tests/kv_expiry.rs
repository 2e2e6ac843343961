//! Expiry on the paused clock: the server runs in process on the test's current-thread
//! runtime, whose clock is paused, so time moves only when every task waits (it jumps to the
//! next timer) and these tests take no real time and always see the same times.
//!
//! Two mechanisms are checked apart: a key read after its deadline is never returned (lazy
//! expiry), and a key nobody reads is removed by the expiry task when its deadline passes
//! (active expiry, counted by `Kv::expired_by_timer`).

mod support;

use std::time::Duration;

use support::kv::{bulk, int, ok, Reply, TestServer};
use tether::time::{sleep, sleep_until, Instant};
use tether_demo::kv::Config;

#[tether::test(start_paused = true)]
async fn a_key_lives_exactly_until_its_deadline() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    let start = Instant::now();
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "1500"]).await, ok());
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(1500));
    assert_eq!(
        c.cmd(&["TTL", "k"]).await,
        int(2),
        "TTL rounds to the nearest second"
    );
    sleep(Duration::from_millis(1499)).await;
    assert_eq!(c.cmd(&["PTTL", "k"]).await, int(1));
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("v"));
    sleep(Duration::from_millis(1)).await;
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        Reply::Nil,
        "never returned at its deadline"
    );
    assert_eq!(c.cmd(&["TTL", "k"]).await, int(-2));
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, int(0));
    drop(c);
    server.stop().await;
}

/// Keys nobody reads are removed when their deadline passes, by the expiry task: `DBSIZE`
/// (which counts keys without looking at deadlines) goes down on its own.
#[tether::test(start_paused = true)]
async fn keys_nobody_reads_are_removed_by_the_timer() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    for i in 0..100 {
        let ms = (100 * (i + 1)).to_string();
        let key = format!("k{i}");
        assert_eq!(c.cmd(&["SET", &key, "v", "PX", &ms]).await, ok());
    }
    assert_eq!(c.cmd(&["SET", "forever", "v"]).await, ok());
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(101));
    let start = Instant::now();
    for step in 1..=100u64 {
        // Halfway between two deadlines: k{step-1} expired at step * 100 ms.
        let at = Duration::from_millis(step * 100 + 50);
        sleep_until(start + at).await;
        assert_eq!(
            c.cmd(&["DBSIZE"]).await,
            int(101 - step as i64),
            "after {at:?}"
        );
    }
    assert_eq!(server.kv.expired_by_timer(), 100);
    assert_eq!(c.cmd(&["GET", "forever"]).await, bulk("v"));
    drop(c);
    server.stop().await;
}

/// An earlier deadline filed while the expiry task sleeps until a later one wakes it early.
#[tether::test(start_paused = true)]
async fn an_earlier_deadline_wakes_the_expiry_task() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    assert_eq!(c.cmd(&["SET", "late", "v", "EX", "3600"]).await, ok());
    sleep(Duration::from_millis(10)).await;
    assert_eq!(c.cmd(&["SET", "early", "v", "PX", "50"]).await, ok());
    sleep(Duration::from_millis(60)).await;
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(1));
    assert_eq!(server.kv.expired_by_timer(), 1);
    sleep(Duration::from_secs(3600)).await;
    assert_eq!(c.cmd(&["DBSIZE"]).await, int(0));
    assert_eq!(server.kv.expired_by_timer(), 2);
    drop(c);
    server.stop().await;
}

/// What changes a deadline: EXPIRE (with its conditions), PEXPIRE, PERSIST, SET without
/// KEEPTTL, MSET; and what keeps it: SET KEEPTTL, INCR, LPUSH onto an existing list.
#[tether::test(start_paused = true)]
async fn commands_that_change_or_keep_a_deadline() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    let cases: &[(&[&str], Reply)] = &[
        (&["SET", "k", "1", "EX", "100"], ok()),
        (&["INCR", "k"], int(2)),
        (&["TTL", "k"], int(100)),
        (&["SET", "k", "v", "KEEPTTL"], ok()),
        (&["TTL", "k"], int(100)),
        (&["EXPIRE", "k", "50", "GT"], int(0)),
        (&["EXPIRE", "k", "50", "LT"], int(1)),
        (&["TTL", "k"], int(50)),
        (&["EXPIRE", "k", "60", "NX"], int(0)),
        (&["EXPIRE", "k", "60", "XX"], int(1)),
        (&["PEXPIRE", "k", "2500"], int(1)),
        (&["PTTL", "k"], int(2500)),
        (&["PERSIST", "k"], int(1)),
        (&["TTL", "k"], int(-1)),
        (&["PERSIST", "k"], int(0)),
        (&["EXPIRE", "k", "10"], int(1)),
        (&["SET", "k", "w"], ok()),
        (&["TTL", "k"], int(-1)),
        (&["EXPIRE", "k", "10"], int(1)),
        (&["MSET", "k", "x"], ok()),
        (&["TTL", "k"], int(-1)),
        (&["RPUSH", "l", "a"], int(1)),
        (&["EXPIRE", "l", "10"], int(1)),
        (&["RPUSH", "l", "b"], int(2)),
        (&["TTL", "l"], int(10)),
        (&["EXPIRE", "l", "0"], int(1)),
        (&["EXISTS", "l"], int(0)),
    ];
    for (cmd, want) in cases {
        assert_eq!(&c.cmd(cmd).await, want, "reply to {cmd:?}");
    }
    // The deadlines removed by PERSIST, SET and MSET do not fire later.
    sleep(Duration::from_secs(200)).await;
    assert_eq!(c.cmd(&["GET", "k"]).await, bulk("x"));
    assert_eq!(server.kv.expired_by_timer(), 0);
    drop(c);
    server.stop().await;
}
