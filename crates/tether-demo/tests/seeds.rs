//! The programs of the seed essays (`../shared/seeds/`), run on tether. Each test names the seed
//! file it comes from. All are bounded in time: the sleeping ones run on the paused clock, the
//! networked ones under a real-time timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::TcpStream;
use tether::time::{sleep, timeout, Instant};
use tether_demo::echo_server;

type Log = Arc<Mutex<Vec<String>>>;

fn print(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

// ---- 003_cb15d5b9c256ba2d.txt: "What Is Async Anyway" ----

/// `spawn(say("Hi")); spawn(say("you")); print("!")`. tether guarantees: a spawned task never
/// runs before `spawn` returns, and tasks run in the order they were spawned, once the spawner
/// waits or yields. So the spawner's own `!` comes first, then `Hi`, then `you`.
#[tether::test]
async fn seed_003_spawn_say_order_without_waiting() {
    let log = Log::default();
    let say = |word: &'static str| {
        let log = log.clone();
        async move { print(&log, word) }
    };
    let hi = tether::spawn(say("Hi"));
    let you = tether::spawn(say("you"));
    print(&log, "!");
    hi.await.unwrap();
    you.await.unwrap();
    assert_eq!(lines(&log), ["!", "Hi", "you"]);
}

/// The seed's `await spawn(...)` yields to the loop after each spawn, which in tether means
/// awaiting the task: the output is the seed's `Hi you !`.
#[tether::test]
async fn seed_003_spawn_say_awaited_prints_hi_you_bang() {
    let log = Log::default();
    for word in ["Hi", "you"] {
        let l = log.clone();
        tether::spawn(async move { print(&l, word) }).await.unwrap();
    }
    print(&log, "!");
    assert_eq!(lines(&log), ["Hi", "you", "!"]);
}

/// `spawn(say_after("you", 2)); spawn(say_after("!", 3)); spawn(say_after("Hi", 1))` prints
/// `Hi you !`, and on the paused clock it takes no real time.
#[tether::test(start_paused = true)]
async fn seed_003_say_after_prints_in_deadline_order_at_once() {
    let log = Log::default();
    let start = Instant::now();
    let real = std::time::Instant::now();
    let say_after = |word: &'static str, secs: u64| {
        let log = log.clone();
        async move {
            sleep(Duration::from_secs(secs)).await;
            print(&log, word);
        }
    };
    let tasks = [
        tether::spawn(say_after("you", 2)),
        tether::spawn(say_after("!", 3)),
        tether::spawn(say_after("Hi", 1)),
    ];
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(lines(&log), ["Hi", "you", "!"]);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "the paused clock must not wait"
    );
}

/// `await ping_db(); await ping_url()` run in sequence whatever their sleep durations.
#[tether::test(start_paused = true)]
async fn seed_003_awaited_in_sequence_runs_in_sequence() {
    for (db_secs, url_secs) in [(5, 1), (1, 5), (3, 3)] {
        let log = Log::default();
        let ping_db = {
            let log = log.clone();
            async move {
                sleep(Duration::from_secs(db_secs)).await;
                print(&log, "DB pinged");
            }
        };
        let ping_url = {
            let log = log.clone();
            async move {
                sleep(Duration::from_secs(url_secs)).await;
                print(&log, "URL pinged");
            }
        };
        let start = Instant::now();
        ping_db.await;
        ping_url.await;
        assert_eq!(lines(&log), ["DB pinged", "URL pinged"]);
        assert_eq!(start.elapsed(), Duration::from_secs(db_secs + url_secs));
    }
}

// ---- 002_0839374704fe9389.txt: the echo server with the `hello` handshake ----

async fn say_hello(addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let mut c = TcpStream::connect(addr).await?;
    c.write_all(b"hello\n").await?;
    let mut reply = [0u8; 6];
    c.read_exact(&mut reply).await?;
    assert_eq!(&reply, b"hello\n");
    Ok(c)
}

#[tether::test]
async fn seed_002_client_without_hello_is_disconnected() {
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

#[tether::test]
async fn seed_002_hello_then_bytes_are_echoed() {
    let (addr, _) = echo_server::start("127.0.0.1:0", false).await.unwrap();
    let mut c = say_hello(addr).await.unwrap();
    for msg in [&b"first"[..], b"second message", &[0u8, 255, 10, 13][..]] {
        c.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
    }
}

#[tether::test]
async fn seed_002_hundred_concurrent_clients() {
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

// ---- 000_aade67065ebde1a2.txt: a task that spawns the next generation ----

/// A generation's result and the handle of the generation it started, if any.
struct Generation(u32, Option<tether::task::JoinHandle<Generation>>);

fn task(generation: u32, log: Log) -> tether::task::JoinHandle<Generation> {
    tether::spawn(async move {
        print(&log, format!("Hello from generation {generation}"));
        let next = (generation < 100).then(|| {
            print(&log, format!("Adding task from generation {generation}"));
            task(generation + 1, log.clone())
        });
        print(&log, format!("Generation {generation} is done"));
        Generation(generation, next)
    })
}

#[tether::test]
async fn seed_000_hundred_generations_all_run_and_report() {
    let log = Log::default();
    let mut results = Vec::new();
    let mut handle = task(0, log.clone());
    loop {
        let Generation(generation, next) = handle.await.unwrap();
        results.push(generation);
        match next {
            Some(n) => handle = n,
            None => break,
        }
    }
    assert_eq!(results, (0..=100).collect::<Vec<_>>());
    let log = lines(&log);
    assert_eq!(log.len(), 101 * 2 + 100);
    assert_eq!(log[0], "Hello from generation 0");
    assert_eq!(log[log.len() - 1], "Generation 100 is done");
}
