//! The server's timeouts cost no allocation per request: the same keep-alive exchange (a raw
//! client, which allocates nothing itself) makes as many allocations per request with the
//! header read and idle timeouts on (the default) as with both off. hyper's own header
//! timeout, which `serve` once used, boxed a new sleep for every request.
//!
//! A binary of its own: the allocation counter is the process's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tether::io::{AsyncReadExt, AsyncWriteExt};
use tether::net::{TcpListener, TcpStream};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are this allocator's; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation goes through it) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: u64 = 500;

/// Allocations per request of `REQUESTS` keep-alive requests, after a warm-up.
async fn per_request(timeouts: bool) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let serve = tether_hyper::serve(listener, app);
    let serve = if timeouts {
        serve
            .header_read_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_secs(120))
    } else {
        serve.header_read_timeout(None).idle_timeout(None)
    };
    let server = tether::spawn(std::future::IntoFuture::into_future(serve));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1024];
    let mut exchange = async |s: &mut TcpStream| {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = 0;
        while !buf[..got].ends_with(b"\r\n\r\nok") {
            let n = s.read(&mut buf[got..]).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            got += n;
        }
    };
    for _ in 0..50 {
        exchange(&mut s).await;
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..REQUESTS {
        exchange(&mut s).await;
    }
    let used = ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(s);
    server.abort();
    let _ = server.await;
    used as f64 / REQUESTS as f64
}

#[test]
fn the_timeouts_cost_no_allocation_per_request() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let without = rt.block_on(per_request(false));
    let with = rt.block_on(per_request(true));
    eprintln!("allocations per request: {with:.2} with the timeouts, {without:.2} without");
    assert!(
        with < without + 0.5,
        "the timeouts cost {:.2} allocations per request",
        with - without
    );
}
