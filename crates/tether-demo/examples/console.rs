//! The live console on a small server under load, with a task that blocks its worker now and
//! then.
//!
//! ```text
//! cargo run --example console                          # from the workspace root
//! cargo run --example console -- --idle-tasks 10000    # and 10,000 waiting tasks
//! ```
//!
//! It prints `tether console: http://127.0.0.1:6669/ (read-only, loopback)`; open that address.
//! The page shows:
//!
//! - `server` (a root task) running a scope of `conn` tasks, one per connection, and `load`
//!   running a join set of client tasks that talk to the server all the time;
//! - `blocker`, which every two seconds calls `std::thread::sleep` for 300 ms inside a poll (a
//!   mistake on purpose): its worker is blocked, the watchdog reports it while it blocks, and
//!   the report shows in the stall timeline, linked to the task;
//! - `checksum` jobs on the blocking pool, `ticker` on a timer;
//! - with `--idle-tasks N`, an `idle-owner` task running a scope of N `idle` children that
//!   wait (to see the page keep up with a large tree).
//!
//! Options: `--addr HOST:PORT` (default `127.0.0.1:6669`; port 0 picks a free one),
//! `--idle-tasks N`, `--workers N` (default 2), `--seconds S` (exit after S seconds; default:
//! run until Ctrl-C). The browser test (`crates/tether-demo/browser/console_test.mjs`) runs it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};
use tether::task::{Builder as TaskBuilder, JoinSet};

struct Options {
    addr: String,
    idle_tasks: usize,
    workers: usize,
    seconds: Option<u64>,
}

fn options() -> Options {
    let mut o = Options {
        addr: "127.0.0.1:6669".to_string(),
        idle_tasks: 0,
        workers: 2,
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("console example: {a} needs a value"))
        };
        match a.as_str() {
            "--addr" => o.addr = value(),
            "--idle-tasks" => o.idle_tasks = value().parse().expect("--idle-tasks N"),
            "--workers" => o.workers = value().parse().expect("--workers N"),
            "--seconds" => o.seconds = Some(value().parse().expect("--seconds S")),
            other => panic!(
                "console example: unknown argument {other:?} (options: --addr HOST:PORT, \
                 --idle-tasks N, --workers N, --seconds S)"
            ),
        }
    }
    o
}

fn main() {
    let o = options();
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(o.workers)
        .console(o.addr.as_str())
        // The blocker's reports go to the console's stall timeline; on stderr they would
        // drown the output.
        .on_diagnostic(|_| {})
        .build()
        .expect("console example: could not build the runtime (is the port in use? try --addr 127.0.0.1:0)");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = listener.local_addr().unwrap();
        let _server = TaskBuilder::new().name("server").spawn(serve(listener));
        let _load = TaskBuilder::new().name("load").spawn(load(server_addr));
        let _blocker = TaskBuilder::new().name("blocker").spawn(blocker());
        let _ticker = TaskBuilder::new().name("ticker").spawn(async {
            let mut tick = tether::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
            }
        });
        let _checksums = TaskBuilder::new().name("checksums").spawn(async {
            loop {
                tether::time::sleep(Duration::from_millis(700)).await;
                tether::task::spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(400));
                })
                .await
                .unwrap();
            }
        });
        if o.idle_tasks > 0 {
            let n = o.idle_tasks;
            let _idle = TaskBuilder::new().name("idle-owner").spawn(async move {
                tether::scope::scope(|s| async move {
                    for _ in 0..n {
                        s.spawn_named("idle", std::future::pending::<Result<(), ()>>())
                            .await;
                    }
                    std::future::pending::<Result<(), ()>>().await
                })
                .await
            });
        }
        println!(
            "console example: serving on {server_addr}, {} idle tasks",
            o.idle_tasks
        );
        let _ = std::io::stdout().flush();
        match o.seconds {
            Some(s) => tether::time::sleep(Duration::from_secs(s)).await,
            None => tether::signal::ctrl_c().await.unwrap(),
        }
    });
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// The server: a scope with one `conn` task per connection, each answering every line with
/// its length.
async fn serve(listener: TcpListener) {
    let _ = tether::scope::scope(|s| async move {
        loop {
            let (conn, _) = listener.accept().await?;
            let _: &tether::scope::Scope<std::io::Error> = &s;
            s.spawn_named("conn", async move {
                let _ = answer(conn).await;
                Ok(())
            })
            .await;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    })
    .await;
}

async fn answer(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 512];
    loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&(n as u32).to_le_bytes()).await?;
    }
}

/// The load: a join set of eight client tasks (unnamed: the page shows their spawn site),
/// each sending a request every few milliseconds.
async fn load(server: SocketAddr) {
    let mut clients = JoinSet::new();
    for i in 0..8u64 {
        clients.spawn(async move {
            let mut conn = TcpStream::connect(server).await?;
            let mut reply = [0u8; 4];
            loop {
                conn.write_all(b"GET /item HTTP/1.1\r\n\r\n").await?;
                conn.read_exact(&mut reply).await?;
                tether::time::sleep(Duration::from_millis(2 + i)).await;
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
    }
    while clients.join_next().await.is_some() {}
}

/// The mistake on purpose: a blocking sleep inside a poll, every two seconds.
async fn blocker() {
    loop {
        tether::time::sleep(Duration::from_secs(2)).await;
        println!("blocker: blocking its worker for 300 ms");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(300));
    }
}
