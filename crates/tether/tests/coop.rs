//! The cooperative budget: a task looping over an always-ready resource does not starve the
//! other tasks of its thread.
//!
//! Without the budget these tests would hang (the busy task never returns `Pending`), so each
//! runs under a watchdog that fails the process after a minute instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::runtime::Builder;

fn watchdog(name: &'static str) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        for _ in 0..600 {
            std::thread::sleep(Duration::from_millis(100));
            if d.load(Ordering::SeqCst) {
                return;
            }
        }
        eprintln!("{name}: still running after 60 s: a busy task starved the timer");
        std::process::exit(1);
    });
    done
}

#[test]
#[cfg(unix)]
fn always_readable_socket_does_not_starve_a_timer() {
    use std::io::Write;
    use std::sync::atomic::AtomicU64;
    use tether::io::AsyncReadExt;
    let done = watchdog("always_readable_socket_does_not_starve_a_timer");
    let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Readable before the runtime starts, whatever the feeder thread's timing on a loaded
    // machine: the reader's first poll (it is queued before the timer) reads.
    writer.write_all(&[7u8; 4096]).unwrap();
    // Keep the socket full from a plain thread, so every read finds data.
    let s = stop.clone();
    let feeder = std::thread::spawn(move || {
        let chunk = [7u8; 64 * 1024];
        while !s.load(Ordering::SeqCst) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let rt = Builder::new_current_thread().build().unwrap();
    let reads = rt.block_on(async {
        let mut reader = tether::net::UnixStream::from_std(reader).unwrap();
        let reads = Arc::new(AtomicU64::new(0));
        let (stop2, reads2) = (stop.clone(), reads.clone());
        let busy = tether::spawn(async move {
            let mut byte = [0u8; 1];
            while !stop2.load(Ordering::SeqCst) {
                match reader.read_exact(&mut byte).await {
                    Ok(()) => reads2.fetch_add(1, Ordering::SeqCst),
                    // The reader can catch up with the feeder and wait on an empty socket; the
                    // feeder closes its end only after `stop`, so end-of-stream then is the end.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::UnexpectedEof
                            && stop2.load(Ordering::SeqCst) =>
                    {
                        break;
                    }
                    Err(e) => panic!("read from the always-readable socket failed: {e}"),
                };
            }
        });
        let stop3 = stop.clone();
        let timer = tether::spawn(async move {
            tether::time::sleep(Duration::from_millis(10)).await;
            stop3.store(true, Ordering::SeqCst);
        });
        timer.await.unwrap();
        busy.await.unwrap();
        reads.load(Ordering::SeqCst)
    });
    drop(rt);
    feeder.join().unwrap();
    assert!(reads > 0, "the busy reader ran");
    done.store(true, Ordering::SeqCst);
}

#[test]
fn looping_on_due_timers_does_not_starve_other_tasks() {
    let done = watchdog("looping_on_due_timers_does_not_starve_other_tasks");
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let busy = tether::spawn(async move {
            // A sleep that is already due is always ready: only the budget makes this loop
            // yield.
            while !s.load(Ordering::SeqCst) {
                tether::time::sleep(Duration::ZERO).await;
            }
        });
        let other = tether::spawn(async move { stop.store(true, Ordering::SeqCst) });
        other.await.unwrap();
        busy.await.unwrap();
    });
    done.store(true, Ordering::SeqCst);
}
