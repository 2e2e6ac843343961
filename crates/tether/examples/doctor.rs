//! tether's diagnostics at work: a task that blocks its worker is named while it is still
//! blocking, then the live task tree and the runtime's metrics are printed.
//!
//! ```text
//! cargo run -p tether --example doctor
//! ```
//!
//! The runtime keeps its default diagnostics: a poll longer than 10 ms is reported as slow when
//! it returns, and the watchdog reports a poll still running after 100 ms (and again at 200 ms,
//! 400 ms, ...), on stderr. The example ends by itself in about a second.

use std::time::Duration;

use tether::runtime::{Builder, Handle};
use tether::task;
use tether::time::sleep;

/// A small service: a scope of connection handlers that wake up now and then.
async fn serve() -> Result<(), tether::scope::ScopeError<std::io::Error>> {
    tether::scope::scope(|s| async move {
        for i in 0..3 {
            s.spawn_named(&format!("conn-{i}"), async move {
                while !task::is_cancelled() {
                    sleep(Duration::from_millis(30 + 10 * i)).await;
                }
                Ok(())
            })
            .await;
        }
        std::future::pending::<()>().await;
        Ok::<(), std::io::Error>(())
    })
    .await
}

fn main() -> std::io::Result<()> {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("doctor")
        .build()?;
    rt.block_on(async {
        let server = task::Builder::new().name("server").spawn(serve());
        let heartbeat = task::Builder::new().name("heartbeat").spawn(async {
            loop {
                sleep(Duration::from_millis(50)).await;
            }
        });
        // A blocking job on the blocking pool: where blocking work belongs.
        let compress = task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(600)));
        sleep(Duration::from_millis(100)).await;

        println!("== 1. a task blocks its worker for 350 ms (the watchdog names it on stderr) ==");
        let store = task::Builder::new().name("store").spawn(async {
            // The bad citizen: a blocking call inside a task.
            std::thread::sleep(Duration::from_millis(350));
        });
        store.await.expect("store failed");

        println!("\n== 2. the live task tree (Handle::dump) ==");
        // From another thread, as an admin endpoint or a signal handler would take it.
        let handle = Handle::current();
        let dump = std::thread::spawn(move || handle.dump())
            .join()
            .expect("dump thread");
        print!("{dump}");

        println!("\n== 3. the runtime's metrics (Handle::metrics) ==");
        let m = Handle::current().metrics();
        println!(
            "workers {}, live tasks {}, queue depths {:?}, injector {}, polls {}, steals {}, \
             parks {}, timers pending {}, blocking threads {} ({} idle), slow polls {}, \
             watchdog reports {}",
            m.workers(),
            m.live_tasks(),
            m.worker_queue_depths(),
            m.injector_depth(),
            m.polls(),
            m.steals(),
            m.parks(),
            m.active_timers(),
            m.blocking_threads(),
            m.idle_blocking_threads(),
            m.slow_polls(),
            m.watchdog_reports(),
        );

        server.abort();
        heartbeat.abort();
        let _ = compress.await;
    });
    Ok(())
}
