//! Allocations per request (a benchmark, not a test): the same axum `Router` served by
//! `tether_hyper::serve` and by `axum::serve` on tokio (both current-thread), driven over one
//! HTTP/1.1 keep-alive connection by a client that allocates nothing (a blocking std socket
//! and a fixed buffer), with a counting global allocator. tether serves `app().with_state(())`,
//! the router `axum::serve` makes of `app()` for each connection (see `tether_hyper::serve`).
//!
//! `cargo run --release -p tether-hyper --example http_allocs [REQUESTS]`
//!
//! Every allocation in the process during the measured requests is counted: the runtime's,
//! hyper's, axum's and the adapters'. `tether, no header timeout` serves like `axum::serve`
//! (which sets no timer): the difference to `tether` is hyper's own header-timer allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use axum::routing::get;
use axum::Router;

/// The system allocator, counting allocations (`alloc`, `alloc_zeroed`, `realloc`).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so each
// keeps `GlobalAlloc`'s contract exactly as `System` does; counting touches no memory of theirs.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout (see the impl's SAFETY).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` and `layout` come from this allocator, which got them from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which got them from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn app() -> Router {
    Router::new().route("/", get(|| async { "Hello, World!" }))
}

/// Starts a server on its own thread; returns its address.
fn start(which: &'static str) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || match which {
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                axum::serve(l, app()).await.unwrap();
            });
        }
        _ => {
            let rt = tether::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let l = tether::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                let mut serve = tether_hyper::serve(l, app().with_state(()));
                if which == "tether-no-header-timeout" {
                    serve = serve.header_read_timeout(None);
                }
                serve.await.unwrap();
            });
        }
    });
    rx.recv().unwrap()
}

/// Sends `n` keep-alive requests, each answered before the next; allocates nothing.
fn drive(s: &mut std::net::TcpStream, buf: &mut [u8], n: u64) {
    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..n {
        s.write_all(REQ).unwrap();
        let mut got = 0;
        while !buf[..got].ends_with(b"Hello, World!") {
            let k = s.read(&mut buf[got..]).unwrap();
            assert!(k > 0, "the server closed the connection");
            got += k;
        }
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(20_000);
    println!("| server | allocations per request |");
    println!("|---|---:|");
    for (which, label) in [
        ("tether", "tether_hyper::serve (tether current-thread)"),
        (
            "tether-no-header-timeout",
            "tether_hyper::serve, no header timeout",
        ),
        ("tokio", "axum::serve (tokio current-thread)"),
    ] {
        let addr = start(which);
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 4096];
        drive(&mut s, &mut buf, 1_000); // warm-up: buffers grown, caches filled
        let before = ALLOCS.load(Ordering::Relaxed);
        drive(&mut s, &mut buf, n);
        let per = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64;
        println!("| {label} | {per:.2} |");
    }
}
