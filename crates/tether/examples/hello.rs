//! tether in thirty lines: spawn, sleep, join, timeout.
//!
//! ```text
//! cargo run --release -p tether --example hello
//! ```

use std::time::Duration;

use tether::time::{sleep, timeout, Instant};

#[tether::main]
async fn main() {
    let start = Instant::now();
    // Three tasks that finish in the reverse of the order they were spawned.
    let tasks: Vec<_> = [("Hi", 30), ("you", 20), ("!", 10)]
        .into_iter()
        .map(|(word, ms)| {
            tether::spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                println!("{word:>4} after {ms} ms");
                word
            })
        })
        .collect();
    let mut words = Vec::new();
    for t in tasks {
        words.push(t.await.expect("task failed"));
    }
    println!("joined in spawn order: {}", words.join(" "));

    // A timeout: stop waiting for a slow task, then cancel it.
    let mut slow = tether::spawn(sleep(Duration::from_secs(60)));
    if let Err(elapsed) = timeout(Duration::from_millis(50), &mut slow).await {
        println!("gave up on the slow task: {elapsed}");
        slow.abort();
        assert!(slow.await.unwrap_err().is_cancelled());
    }
    println!("all done in {:?}", start.elapsed());
}
