//! What a scope allocates, counted by a global allocator: a scope that never spawns allocates
//! nothing once its thread has recycled one (the first scope on a thread allocates its state),
//! and a child costs the allocations of a plain `tether::spawn`, byte for byte. A name costs no allocation per
//! task once its thread has spawned a task named alike from the same place.
//!
//! Only allocations made on the test's own thread, between `start` and `stop`, are counted, so
//! the runtime's other threads and the test harness do not disturb the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tether::scope::scope;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note_alloc(layout: Layout) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
            let _ = BYTES.try_with(|b| b.set(b.get() + layout.size() as u64));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; counting touches only const-initialized thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many scopes a test makes after its warm-up, and how many tasks: fewer under Miri, which
/// takes milliseconds for each. Every one after the first runs the same code (a recycled
/// state, a shared name record), so a few cover the paths that a thousand do natively.
const SCOPES: usize = if cfg!(miri) { 20 } else { 1000 };
const TASKS: u64 = if cfg!(miri) { 10 } else { 100 };

/// Counts the allocations made on this thread while `f`'s future runs to completion, which it
/// must do in one poll (nothing in it may wait), so that it stays on this thread.
async fn allocations<F: std::future::Future>(f: impl FnOnce() -> F) -> u64 {
    allocated(f).await.0
}

/// The allocations made on this thread while `f`'s future runs (as for [`allocations`]), and the
/// bytes they asked for.
async fn allocated<F: std::future::Future>(f: impl FnOnce() -> F) -> (u64, u64) {
    ALLOCS.with(|a| a.set(0));
    BYTES.with(|b| b.set(0));
    COUNTING.with(|c| c.set(true));
    f().await;
    COUNTING.with(|c| c.set(false));
    (ALLOCS.with(Cell::get), BYTES.with(Cell::get))
}

async fn empty_scopes(n: usize) {
    for i in 0..n {
        let v = scope(|_s| async move { Ok::<_, ()>(i) }).await.unwrap();
        assert_eq!(v, i);
    }
}

#[test]
fn an_empty_scope_allocates_nothing_once_its_thread_recycled_one() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // The first scope allocates its state (and its parent's list of children grows).
        let first = allocations(|| empty_scopes(1)).await;
        assert!(first > 0);
        let steady = allocations(|| empty_scopes(SCOPES)).await;
        assert_eq!(steady, 0, "{SCOPES} empty scopes in block_on");
    });
}

#[test]
fn empty_scopes_in_a_task_and_nested_allocate_nothing() {
    let rt = tether::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let counts = tether::spawn(async {
            let nested = |n: usize| async move {
                for i in 0..n {
                    let v = scope(|_outer| async move {
                        scope(|_inner| async move { Ok::<_, ()>(i) }).await
                    })
                    .await
                    .unwrap();
                    assert_eq!(v, i);
                }
            };
            // Warm this worker's pool: two scope states.
            nested(1).await;
            let flat = allocations(|| empty_scopes(SCOPES)).await;
            let nested = allocations(|| nested(SCOPES)).await;
            (flat, nested)
        })
        .await
        .unwrap();
        assert_eq!(counts, (0, 0), "(flat, nested) empty scopes in a task");
    });
}

#[test]
fn a_scope_child_allocates_what_a_plain_spawn_allocates() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // Warm up the registry, the run queue and the scope pool.
        let plain = || async {
            for i in 0..TASKS {
                assert_eq!(tether::spawn(async move { i }).await.unwrap(), i);
            }
        };
        let scoped = || async {
            scope(|s| async move {
                for i in 0..TASKS {
                    assert_eq!(s.spawn(async move { Ok::<_, ()>(i) }).await.await, i);
                }
                Ok(())
            })
            .await
            .unwrap();
        };
        plain().await;
        scoped().await;
        // Awaiting a child yields to the runtime, which runs on this same thread.
        let plain = allocated(plain).await;
        let scoped = allocated(scoped).await;
        assert_eq!(plain.0, TASKS, "one allocation per task");
        assert_eq!(
            scoped, plain,
            "a scope's child costs what a task costs: (allocations, bytes)"
        );
    });
}

#[test]
fn named_tasks_spawned_in_a_loop_allocate_only_their_task() {
    let rt = tether::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let scoped = || async {
            scope(|s| async move {
                for i in 0..TASKS {
                    let child = s.spawn_named("worker", async move { Ok::<_, ()>(i) });
                    assert_eq!(child.await.await, i);
                }
                Ok(())
            })
            .await
            .unwrap();
        };
        let builder = tether::task::Builder::new().name("job");
        let built = || {
            let builder = builder.clone();
            async move {
                for i in 0..TASKS {
                    let handle = builder.clone().spawn(async move { i });
                    assert_eq!(handle.await.unwrap(), i);
                }
            }
        };
        // The first of each names its record, which later ones share.
        scoped().await;
        built().await;
        let scoped = allocations(scoped).await;
        let built = allocations(built).await;
        assert_eq!(
            (scoped, built),
            (TASKS, TASKS),
            "one allocation per named task"
        );
    });
}
