//! Deterministic simulation (`tether::sim`): the same seed replays the same run, different
//! seeds explore different ones, virtual time, the simulated network and its faults.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::sim::echo_server;
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpStream, UdpSocket};
use tether::sim::{FailureKind, NetConfig, Sim};

/// A simulation of `clients` echo clients, each logging what it saw into `log`.
fn echo_sim(seed: u64, clients: usize, log: Arc<Mutex<Vec<String>>>) -> Sim {
    let mut sim = Sim::builder()
        .seed(seed)
        .net(
            NetConfig::default()
                .latency(Duration::from_millis(2))
                .jitter(Duration::from_millis(3)),
        )
        .build();
    sim.host("server", || echo_server(7000));
    for i in 0..clients {
        let log = log.clone();
        sim.client(&format!("client-{i}"), async move {
            let mut s = TcpStream::connect("server:7000").await?;
            for round in 0..3 {
                let msg = format!("c{i} r{round}");
                s.write_all(msg.as_bytes()).await?;
                let mut buf = vec![0; msg.len()];
                s.read_exact(&mut buf).await?;
                assert_eq!(buf, msg.as_bytes());
                log.lock()
                    .unwrap()
                    .push(format!("{msg} at {:?}", tether::time::Instant::now()));
            }
            std::io::Result::Ok(())
        });
    }
    sim
}

#[test]
fn the_same_seed_replays_the_same_run_and_other_seeds_differ() {
    let mut hashes = std::collections::HashSet::new();
    for seed in 0..100 {
        let (l1, l2) = (Arc::default(), Arc::default());
        let a = echo_sim(seed, 5, Arc::clone(&l1)).run().unwrap();
        let b = echo_sim(seed, 5, Arc::clone(&l2)).run().unwrap();
        assert_eq!(a.trace_hash(), b.trace_hash(), "seed {seed} did not replay");
        assert_eq!(a.steps(), b.steps());
        let order = |l: &Arc<Mutex<Vec<String>>>| {
            l.lock()
                .unwrap()
                .iter()
                .map(|s| s.split(" at ").next().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&l1), order(&l2), "seed {seed}: the output differs");
        assert_eq!(l1.lock().unwrap().len(), 15);
        hashes.insert(a.trace_hash());
    }
    assert!(
        hashes.len() > 15,
        "20 seeds gave only {} different runs",
        hashes.len()
    );
}

#[test]
fn virtual_time_jumps_over_sleeps() {
    let mut sim = Sim::new(1);
    sim.client("sleeper", async {
        for _ in 0..3600 {
            tether::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = std::time::Instant::now();
    let report = sim.run().unwrap();
    assert_eq!(report.virtual_elapsed(), Duration::from_secs(3600));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_panic_in_a_task_fails_the_run_with_its_message() {
    let mut sim = Sim::new(3);
    sim.host("server", || async {
        tether::time::sleep(Duration::from_millis(5)).await;
        if tether::sim::is_simulation() {
            panic!("server bug");
        }
    });
    sim.client("client", async {
        tether::time::sleep(Duration::from_secs(1)).await;
    });
    let err = sim.run().unwrap_err();
    assert_eq!(err.kind(), FailureKind::Panic);
    assert!(err.message().contains("server bug"), "{err}");
    assert_eq!(err.seed(), 3);
}

#[test]
fn a_deadlock_is_reported_with_the_waiting_clients() {
    let mut sim = Sim::new(0);
    sim.client("waiter", async {
        let (_tx, rx) = tether::sync::oneshot::channel::<()>();
        let _ = rx.await;
    });
    let err = sim.run().unwrap_err();
    assert_eq!(err.kind(), FailureKind::Deadlock);
    assert!(err.message().contains("\"waiter\""), "{err}");
}

#[test]
fn connecting_where_nothing_listens_is_refused() {
    let mut sim = Sim::new(0);
    sim.host("server", || async {});
    sim.client("client", async {
        let err = TcpStream::connect("server:9").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        let err = TcpStream::connect("nowhere:9").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    });
    sim.run().unwrap();
}

#[test]
fn a_crashed_host_resets_its_connections_and_restarts() {
    let mut sim = Sim::new(5);
    sim.host("server", || echo_server(7000));
    sim.client("client", async {
        let mut s = TcpStream::connect("server:7000").await?;
        s.write_all(b"ping").await?;
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await?;
        tether::sim::crash("server");
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        let refused = TcpStream::connect("server:7000").await.unwrap_err();
        assert_eq!(
            refused.kind(),
            std::io::ErrorKind::TimedOut,
            "a crashed host answers nothing"
        );
        tether::sim::restart("server");
        let mut s = TcpStream::connect("server:7000").await?;
        s.write_all(b"pong").await?;
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"pong");
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_partition_holds_tcp_until_repaired_and_resets_after_the_timeout() {
    let mut sim = Sim::builder()
        .seed(2)
        .net(NetConfig::default().reset_after(Duration::from_secs(5)))
        .build();
    sim.host("server", || echo_server(7000));
    sim.client("client", async {
        let mut s = TcpStream::connect("server:7000").await?;
        tether::sim::partition("client", "server");
        s.write_all(b"held").await?;
        let mut buf = [0; 4];
        let t0 = tether::time::Instant::now();
        let repair = tether::spawn(async {
            tether::time::sleep(Duration::from_secs(1)).await;
            tether::sim::repair("client", "server");
        });
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"held");
        assert!(t0.elapsed() >= Duration::from_secs(1));
        repair.await.unwrap();
        // A partition longer than reset_after resets the connection.
        tether::sim::partition("client", "server");
        s.write_all(b"lost").await?;
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn udp_datagrams_are_lost_at_the_configured_rate() {
    let lost = Arc::new(AtomicU64::new(0));
    let l = lost.clone();
    let mut sim = Sim::builder()
        .seed(9)
        .net(NetConfig::default().loss(0.3))
        .build();
    sim.host("sink", || async {
        let s = UdpSocket::bind("0.0.0.0:5000").await?;
        let mut buf = [0; 16];
        loop {
            let (n, from) = s.recv_from(&mut buf).await?;
            s.send_to(&buf[..n], from).await?;
        }
        #[allow(unreachable_code)]
        std::io::Result::Ok(())
    });
    sim.client("source", async move {
        let s = UdpSocket::bind("0.0.0.0:0").await?;
        let mut buf = [0; 16];
        for i in 0..1000u32 {
            s.send_to(&i.to_le_bytes(), "sink:5000").await?;
            match tether::time::timeout(Duration::from_millis(50), s.recv_from(&mut buf)).await {
                Ok(r) => {
                    r?;
                }
                Err(_) => {
                    l.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
    // Two independent 30% chances per round trip: about 51% lost.
    let lost = lost.load(Ordering::Relaxed);
    assert!(
        (400..620).contains(&lost),
        "{lost} of 1000 round trips lost"
    );
}

#[test]
fn select_start_order_and_spawn_blocking_replay_under_the_seed() {
    fn run(seed: u64) -> (Vec<u8>, u64) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        let mut sim = Sim::new(seed);
        sim.client("client", async move {
            for _ in 0..16 {
                // Both branches are ready: which one wins is select!'s random start.
                let won = tether::select! {
                    _ = std::future::ready(()) => 0u8,
                    _ = std::future::ready(()) => 1u8,
                };
                let doubled = tether::task::spawn_blocking(move || won * 2).await.unwrap();
                o.lock().unwrap().push(doubled);
            }
        });
        let report = sim.run().unwrap();
        let v = out.lock().unwrap().clone();
        (v, report.trace_hash())
    }
    let (a, ha) = run(11);
    let (b, hb) = run(11);
    assert_eq!(a, b);
    assert_eq!(ha, hb);
    assert!(
        a.contains(&0) && a.contains(&2),
        "select! always took one branch: {a:?}"
    );
    let others: std::collections::HashSet<Vec<u8>> = (0..8).map(|s| run(s).0).collect();
    assert!(
        others.len() > 1,
        "select!'s start order does not depend on the seed"
    );
}

#[test]
fn a_hold_delays_one_direction_without_losing_anything() {
    let mut sim = Sim::builder()
        .seed(4)
        .net(NetConfig::default().reset_after(Duration::from_secs(1)))
        .build();
    sim.host("server", || echo_server(7000));
    sim.client("client", async {
        let mut s = TcpStream::connect("server:7000").await?;
        tether::sim::hold("server", "client");
        let t0 = tether::time::Instant::now();
        tether::spawn(async {
            // Longer than reset_after: a hold never resets a connection.
            tether::time::sleep(Duration::from_secs(30)).await;
            tether::sim::release("server", "client");
        });
        s.write_all(b"abcd").await?;
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"abcd");
        assert!(t0.elapsed() >= Duration::from_secs(30));
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn bandwidth_limits_how_fast_bytes_arrive() {
    let mut sim = Sim::builder()
        .seed(0)
        .net(
            NetConfig::default()
                .latency(Duration::ZERO)
                .bandwidth(1_000_000),
        )
        .build();
    sim.host("server", || echo_server(7000));
    sim.client("client", async {
        let s = TcpStream::connect("server:7000").await?;
        let (mut r, mut w) = s.into_split();
        let t0 = tether::time::Instant::now();
        let writer = tether::spawn(async move {
            w.write_all(&vec![7u8; 500_000]).await?;
            std::io::Result::Ok(w)
        });
        let mut got = vec![0; 500_000];
        r.read_exact(&mut got).await?;
        // 500 kB each way over 1 MB/s links: at least half a second.
        assert!(
            t0.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        assert!(got.iter().all(|&b| b == 7));
        writer.await.unwrap()?;
        std::io::Result::Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn a_failed_invariant_fails_the_run_at_its_step() {
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    let mut sim = Sim::builder()
        .seed(1)
        .invariant(move || match c.load(Ordering::Relaxed) {
            n if n > 3 => Err(format!("counter reached {n}")),
            _ => Ok(()),
        })
        .build();
    sim.client("client", async move {
        for _ in 0..10 {
            counter.fetch_add(1, Ordering::Relaxed);
            tether::task::yield_now().await;
        }
    });
    let err = sim.run().unwrap_err();
    assert_eq!(err.kind(), FailureKind::Invariant);
    assert_eq!(err.message(), "counter reached 4");
    assert_eq!(err.step(), 4);

    let mut sim = Sim::builder()
        .invariant_at_end(|| Err("checked at the end".into()))
        .build();
    sim.client("client", async {});
    assert_eq!(sim.run().unwrap_err().kind(), FailureKind::Invariant);
}

#[test]
fn random_faults_partition_and_crash_under_the_seed() {
    let run = |seed| {
        let mut sim = Sim::builder()
            .seed(seed)
            .faults(
                tether::sim::Faults::new()
                    .every(Duration::from_millis(100))
                    .down_for(Duration::from_millis(50))
                    .partitions(true)
                    .crashes(&["server"]),
            )
            .build();
        sim.host("server", || echo_server(7000));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (o, f) = (ok.clone(), failed.clone());
        sim.client("client", async move {
            // A client that reconnects: every round trip either completes or fails cleanly.
            for i in 0..100u32 {
                let attempt = async {
                    let mut s = TcpStream::connect("server:7000").await?;
                    s.write_all(&i.to_le_bytes()).await?;
                    let mut buf = [0; 4];
                    s.read_exact(&mut buf).await?;
                    assert_eq!(buf, i.to_le_bytes(), "an echo came back wrong");
                    std::io::Result::Ok(())
                };
                match tether::time::timeout(Duration::from_secs(1), attempt).await {
                    Ok(Ok(())) => o.fetch_add(1, Ordering::Relaxed),
                    _ => f.fetch_add(1, Ordering::Relaxed),
                };
                tether::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let report = sim.run().unwrap();
        (
            report.trace_hash(),
            ok.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
        )
    };
    let (h1, ok1, failed1) = run(21);
    let (h2, ok2, failed2) = run(21);
    assert_eq!(
        (h1, ok1, failed1),
        (h2, ok2, failed2),
        "the fault schedule did not replay"
    );
    assert_eq!(ok1 + failed1, 100);
    assert!(
        ok1 > 0 && failed1 > 0,
        "faults should cost some round trips, not all: {ok1} ok, {failed1} failed"
    );
}

/// A measurement, not a check: what a simulation step costs beside a real poll, on the same
/// yield loop (`cargo test --release -p tether --test sim -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn step_cost_beside_a_real_poll() {
    const YIELDS: u32 = 1_000_000;
    let work = || async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                tether::spawn(async {
                    for _ in 0..YIELDS / 4 {
                        tether::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let t0 = std::time::Instant::now();
    rt.block_on(work());
    let real = t0.elapsed();
    let mut sim = Sim::new(0);
    sim.client("client", work());
    let t0 = std::time::Instant::now();
    let report = sim.run().unwrap();
    let simulated = t0.elapsed();
    println!(
        "{YIELDS} yields: real runtime {:.1} ns/poll, simulation {:.1} ns/step ({} steps): {:.2}x",
        real.as_nanos() as f64 / f64::from(YIELDS),
        simulated.as_nanos() as f64 / report.steps() as f64,
        report.steps(),
        (simulated.as_nanos() as f64 / report.steps() as f64)
            / (real.as_nanos() as f64 / f64::from(YIELDS))
    );
}

#[test]
fn a_link_can_have_a_latency_of_its_own() {
    let mut sim = Sim::builder()
        .net(NetConfig::default().latency(Duration::from_millis(1)))
        .build();
    sim.host("server", || echo_server(7000));
    for (name, expect_ms) in [("near", 2u128), ("far", 200)] {
        sim.client(name, async move {
            let mut s = TcpStream::connect("server:7000").await?;
            let t0 = tether::time::Instant::now();
            s.write_all(b"x").await?;
            s.read_exact(&mut [0]).await?;
            assert_eq!(t0.elapsed().as_millis(), expect_ms);
            std::io::Result::Ok(())
        });
    }
    sim.link(
        "far",
        "server",
        NetConfig::default().latency(Duration::from_millis(100)),
    );
    sim.run().unwrap();
}
