//! A spawn-and-await loop for counting instructions per task under a counter such as
//! `valgrind --tool=callgrind` (run it with two task counts: the difference of the totals
//! divided by the difference of the counts is the cost per task, start-up excluded).
//!
//! ```text
//! cargo build --release -p tether-bench --example spawn_icount
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/spawn_icount WHAT FLAVOR N
//! ```
//!
//! `WHAT`: `tether` (`tether::spawn`), `tether-nodiag` (the same with the runtime's
//! diagnostics off), `scope` (`tether::scope` children), `smol`, `tokio`;
//! `FLAVOR`: `ct` or `mt` (2 workers); `N`: the task count.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("tether");
    let mt = args.get(2).map(String::as_str) == Some("mt");
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let sum = match what {
        "tether" | "tether-nodiag" | "scope" => {
            let mut b = if mt {
                let mut b = tether::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            } else {
                tether::runtime::Builder::new_current_thread()
            };
            let rt = b
                .diagnostics(what != "tether-nodiag")
                .build()
                .expect("runtime");
            let scoped = what == "scope";
            rt.block_on(async move {
                if scoped {
                    tether::scope::scope(|s| async move {
                        let mut hs = Vec::with_capacity(n as usize);
                        for i in 0..n {
                            hs.push(s.spawn(async move { Ok::<_, ()>(i) }).await);
                        }
                        let mut sum = 0;
                        for h in hs {
                            sum += h.await;
                        }
                        Ok::<_, ()>(sum)
                    })
                    .await
                    .expect("scope")
                } else {
                    let hs: Vec<_> = (0..n).map(|i| tether::spawn(async move { i })).collect();
                    let mut sum = 0;
                    for h in hs {
                        sum += h.await.expect("task");
                    }
                    sum
                }
            })
        }
        "tokio" => {
            let rt = if mt {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .build()
            } else {
                tokio::runtime::Builder::new_current_thread().build()
            }
            .expect("runtime");
            rt.block_on(async move {
                let hs: Vec<_> = (0..n).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await.expect("task");
                }
                sum
            })
        }
        "smol" => {
            let ex = smol::LocalExecutor::new();
            smol::block_on(ex.run(async {
                let hs: Vec<_> = (0..n).map(|i| ex.spawn(async move { i })).collect();
                let mut sum = 0;
                for h in hs {
                    sum += h.await;
                }
                sum
            }))
        }
        other => panic!("spawn_icount: unknown WHAT {other:?}: tether, scope, tokio or smol"),
    };
    assert_eq!(sum, n * (n.saturating_sub(1)) / 2);
}
