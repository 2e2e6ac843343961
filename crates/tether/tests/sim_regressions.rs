//! Regression tests for `tether::sim` from a review of the simulator: each failed before its
//! fix (TCP close with unread data, a restart racing the crashed host's old sockets, abandoned
//! and timed-out connects, tape replay of `select!`, shrinking that kept another bug, panicking
//! invariants, tasks spawned by a crashed host's destructors).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::sim::echo_server;
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::sim::{Check, NetConfig, Sim};

/// R1: a socket closed with unread data never releases a writer blocked on the window.
#[test]
fn closing_with_unread_data_releases_a_blocked_writer() {
    let mut sim = Sim::builder()
        .seed(1)
        .net(NetConfig::default().window(16))
        .build();
    sim.host("server", || async {
        let l = TcpListener::bind("0.0.0.0:7000").await?;
        let (s, _) = l.accept().await?;
        tether::time::sleep(Duration::from_millis(50)).await;
        drop(s); // closes without reading what the client sent
        std::future::pending::<()>().await;
        std::io::Result::Ok(())
    });
    sim.client("client", async {
        let mut s = TcpStream::connect("server:7000").await?;
        let r = s.write_all(&[7u8; 64]).await;
        assert!(r.is_err(), "peer closed with unread data: {r:?}");
        std::io::Result::Ok(())
    });
    if let Err(e) = sim.run() {
        panic!("{e}");
    }
}

/// R2: `crash` then `restart` in the same step: the old host's listener, dropped after the new
/// host bound the same port, unbinds the new one.
#[test]
fn a_restart_right_after_a_crash_keeps_the_new_listener() {
    let r = Check::new().seeds(30).shrink(false, 0).run(|sim| {
        sim.host("server", || echo_server(7000));
        sim.client("client", async {
            let mut s = TcpStream::connect("server:7000").await?;
            s.write_all(b"ping").await?;
            let mut buf = [0; 4];
            s.read_exact(&mut buf).await?;
            tether::sim::crash("server");
            tether::sim::restart("server");
            tether::time::sleep(Duration::from_millis(10)).await;
            let mut s = TcpStream::connect("server:7000").await?;
            s.write_all(b"pong").await?;
            s.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"pong");
            std::io::Result::Ok(())
        });
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// R3: a connect abandoned before its answer (a `timeout` around `connect`) leaves the server
/// an established connection that never ends.
#[test]
fn an_abandoned_connect_does_not_leave_a_connection_hanging_at_the_server() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let mut sim = Sim::builder()
        .seed(1)
        .net(NetConfig::default().latency(Duration::from_millis(50)))
        .build();
    let (a, e) = (accepted.clone(), ended.clone());
    sim.host("server", move || {
        let (a, e) = (a.clone(), e.clone());
        async move {
            let l = TcpListener::bind("0.0.0.0:7000").await?;
            loop {
                let (mut s, _) = l.accept().await?;
                a.fetch_add(1, Ordering::SeqCst);
                let e = e.clone();
                tether::spawn(async move {
                    let mut buf = [0; 1];
                    let _ = s.read(&mut buf).await; // EOF or reset: the client is gone
                    e.fetch_add(1, Ordering::SeqCst);
                });
            }
            #[allow(unreachable_code)]
            std::io::Result::Ok(())
        }
    });
    let (a, e) = (accepted.clone(), ended.clone());
    sim.client("client", async move {
        let r = tether::time::timeout(Duration::from_millis(10), TcpStream::connect("server:7000"))
            .await;
        assert!(r.is_err(), "the connect should time out");
        tether::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            a.load(Ordering::SeqCst),
            e.load(Ordering::SeqCst),
            "the server still has a connection whose client gave up 30 s ago"
        );
    });
    if let Err(e) = sim.run() {
        panic!("{e}");
    }
}

/// R4: the server accepts (late) a connection whose client's connect timed out before the
/// SYN-ACK arrived: `tcp_accept` indexes a removed connection.
#[test]
fn accepting_a_connection_whose_connect_timed_out_does_not_panic() {
    let mut sim = Sim::builder()
        .seed(1)
        .net(
            NetConfig::default()
                .latency(Duration::from_millis(600))
                .connect_timeout(Duration::from_secs(1)),
        )
        .build();
    sim.host("server", || async {
        let l = TcpListener::bind("0.0.0.0:7000").await?;
        tether::time::sleep(Duration::from_secs(2)).await;
        let r = l.accept().await;
        eprintln!("accept: {:?}", r.as_ref().map(|(_, a)| *a));
        std::future::pending::<()>().await;
        std::io::Result::Ok(())
    });
    sim.client("client", async {
        let e = TcpStream::connect("server:7000").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        tether::time::sleep(Duration::from_secs(3)).await;
        std::io::Result::Ok(())
    });
    if let Err(e) = sim.run() {
        panic!("{e}");
    }
}

fn select_sim(seed: u64, tape: Option<Vec<u64>>, log: Arc<Mutex<Vec<u8>>>) -> Sim {
    let mut b = Sim::builder();
    b.seed(seed);
    if let Some(t) = tape {
        b.replay(t);
    }
    let mut sim = b.build();
    sim.client("client", async move {
        for _ in 0..32 {
            tether::select! {
                _ = std::future::ready(()) => log.lock().unwrap().push(b'a'),
                _ = std::future::ready(()) => log.lock().unwrap().push(b'b'),
            }
        }
    });
    sim
}

/// R5: docs: "`Builder::replay(tape)` replays it exactly, whatever the seed". `select!`'s start
/// order is drawn from the seed, not the tape.
#[test]
fn a_tape_replays_the_run_whatever_the_seed() {
    let (l1, l2) = (Arc::default(), Arc::default());
    let report = select_sim(5, None, Arc::clone(&l1)).run().unwrap();
    select_sim(0, Some(report.tape().to_vec()), Arc::clone(&l2))
        .run()
        .unwrap();
    assert_eq!(
        String::from_utf8(l1.lock().unwrap().clone()).unwrap(),
        String::from_utf8(l2.lock().unwrap().clone()).unwrap(),
        "the replayed tape took other select! branches"
    );
}

fn two_bugs(sim: &mut Sim) {
    let order = Arc::new(Mutex::new(Vec::new()));
    for name in ["a", "b"] {
        let order = order.clone();
        sim.client(name, async move {
            tether::task::yield_now().await;
            order.lock().unwrap().push(name);
        });
    }
    let order = order.clone();
    sim.client("checker", async move {
        while order.lock().unwrap().len() < 2 {
            tether::task::yield_now().await;
        }
        let o = order.lock().unwrap().clone();
        if o == ["b", "a"] {
            panic!("bug REVERSED");
        }
        if o.len() == 2 {
            panic!("bug PLAIN");
        }
    });
}

/// R6: the shrinker keeps any failure of the same kind: a seed that found one bug is reported,
/// shrunk, as another.
#[test]
fn shrinking_keeps_the_failure_it_was_given() {
    let seed = (0..50)
        .find(|&s| {
            let e = Check::new()
                .first_seed(s)
                .seeds(1)
                .shrink(false, 0)
                .run(two_bugs)
                .unwrap_err();
            e.message().contains("REVERSED")
        })
        .expect("some seed runs b before a");
    let e = Check::new()
        .first_seed(seed)
        .seeds(1)
        .run(two_bugs)
        .unwrap_err();
    assert!(
        e.message().contains("REVERSED"),
        "seed {seed} failed with REVERSED, its shrunk report says: {}",
        e.message()
    );
}

/// R7: an invariant that panics (assert!) escapes `check` with no seed, tape or replay command.
#[test]
fn a_panicking_invariant_is_reported_as_a_failure() {
    let r = std::panic::catch_unwind(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let mut b = Sim::builder();
        b.invariant(move || {
            assert!(!f2.load(Ordering::SeqCst), "invariant broken");
            Ok(())
        });
        Check::new().builder(b).seeds(3).run(move |sim| {
            let flag = flag.clone();
            sim.client("c", async move {
                flag.store(true, Ordering::SeqCst);
            });
        })
    });
    match r {
        Ok(Err(e)) => assert!(e.message().contains("invariant broken"), "{e}"),
        Ok(Ok(_)) => panic!("the invariant did not fail the run"),
        Err(_) => panic!("the invariant's panic escaped Check::run with no seed or replay info"),
    }
}

struct SpawnOnDrop(Arc<AtomicUsize>);
impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let ticks = self.0.clone();
        tether::spawn(async move {
            loop {
                tether::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// R8: a task spawned while a crashed host's tasks are being dropped belongs to the crashed
/// host but is never cancelled: it keeps running while the host is down.
#[test]
fn nothing_of_a_crashed_host_runs_while_it_is_down() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let mut sim = Sim::new(1);
    let t = ticks.clone();
    sim.host("server", move || {
        let guard = SpawnOnDrop(t.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }
    });
    let t = ticks.clone();
    sim.client("client", async move {
        tether::time::sleep(Duration::from_millis(5)).await;
        tether::sim::crash("server");
        tether::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            t.load(Ordering::SeqCst),
            0,
            "a task of the crashed host ran"
        );
    });
    if let Err(e) = sim.run() {
        panic!("{e}");
    }
}
