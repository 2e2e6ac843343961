//! `tether::join!` and `tether::try_join!`: outputs in the order written whatever the order of
//! completion, concurrency (on the paused clock: the time of the slowest, not the sum), the
//! early return and the drop of the other branches on the first error, the round-robin order of
//! polling (and `biased;`), the cooperative budget, and both runtime flavors.

mod support;

use std::cell::RefCell;
use std::future::{pending, ready, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use support::on_drop::OnDrop;
use tether::time::{sleep, Instant};

/// Operations a task may perform per poll (documented in `tether::task`).
const BUDGET: usize = 128;

async fn after<T>(ms: u64, value: T) -> T {
    sleep(Duration::from_millis(ms)).await;
    value
}

#[tether::test(start_paused = true)]
async fn outputs_come_in_the_order_written_after_the_slowest_completes() {
    let start = Instant::now();
    let (a, b, c) = tether::join!(after(300, 'a'), after(100, "b"), after(200, 3u8));
    assert_eq!((a, b, c), ('a', "b", 3));
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tether::test]
async fn empty_and_single_joins() {
    let () = tether::join!();
    let r: Result<(), ()> = tether::try_join!();
    assert_eq!(r, Ok(()));
    assert_eq!(tether::join!(ready(1)), (1,));
    assert_eq!(tether::try_join!(ready(Ok::<_, ()>(1)),), Ok((1,)));
    // Anything `IntoFuture` is accepted, as by `.await`.
    let handle = tether::spawn(async { 5 });
    let (joined,) = tether::join!(handle);
    assert_eq!(joined.unwrap(), 5);
}

#[tether::test(start_paused = true)]
async fn try_join_returns_every_value_when_all_succeed() {
    let start = Instant::now();
    let r = tether::try_join!(
        after(200, Ok::<_, String>(1)),
        after(100, Ok("two")),
        ready(Ok(3.0))
    );
    assert_eq!(r, Ok((1, "two", 3.0)));
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

#[tether::test(start_paused = true)]
async fn try_join_returns_the_first_error_at_once_and_drops_the_rest() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
    let start = Instant::now();
    let r: Result<(u32, u32, u32), &str> = tether::try_join!(
        async move {
            let _guard = d1;
            after(3_600_000, Ok(1)).await
        },
        after(100, Err("first")),
        async move {
            let _guard = d2;
            after(200, Err("second")).await
        },
    );
    assert_eq!(r, Err("first"));
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "the other branches outlived try_join!"
    );
}

#[tether::test]
async fn join_waits_for_every_branch_even_when_some_fail() {
    let (a, b) = tether::join!(ready(Err::<u32, _>("no")), async {
        tether::task::yield_now().await;
        Ok::<_, &str>(2)
    });
    assert_eq!((a, b), (Err("no"), Ok(2)));
}

/// A future that records its index in `log` on every poll and completes on its `polls`th poll.
struct Logged {
    index: usize,
    polls_left: usize,
    log: Rc<RefCell<Vec<usize>>>,
}

impl Future for Logged {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.log.borrow_mut().push(self.index);
        self.polls_left -= 1;
        if self.polls_left == 0 {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn logged(index: usize, polls: usize, log: &Rc<RefCell<Vec<usize>>>) -> Logged {
    Logged {
        index,
        polls_left: polls,
        log: log.clone(),
    }
}

#[tether::test]
async fn each_poll_starts_one_branch_later_unless_biased() {
    let log = Rc::new(RefCell::new(Vec::new()));
    tether::join!(logged(0, 3, &log), logged(1, 3, &log), logged(2, 3, &log));
    assert_eq!(*log.borrow(), [0, 1, 2, 1, 2, 0, 2, 0, 1]);

    log.borrow_mut().clear();
    tether::join!(biased; logged(0, 3, &log), logged(1, 3, &log), logged(2, 3, &log));
    assert_eq!(*log.borrow(), [0, 1, 2, 0, 1, 2, 0, 1, 2]);

    // A complete branch is not polled again.
    log.borrow_mut().clear();
    tether::join!(biased; logged(0, 1, &log), logged(1, 3, &log));
    assert_eq!(*log.borrow(), [0, 1, 1, 1]);
}

#[tether::test]
async fn a_loop_of_ready_joins_yields_to_other_tasks() {
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    let busy = tether::spawn(async move {
        let mut iterations = 0usize;
        while !flag.load(Ordering::SeqCst) {
            let (_, _) = tether::join!(ready(1), ready(2));
            let _ = tether::try_join!(ready(Ok::<_, ()>(1)));
            iterations += 1;
            assert!(iterations < 100_000, "the loop never yielded");
        }
        iterations
    });
    tether::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
    // Two units per iteration (one per macro): half the budget's worth, then the join! that
    // found the budget spent yields, and the iteration finishes once the task runs again.
    assert_eq!(busy.await.unwrap(), BUDGET / 2 + 1);
}

#[tether::test]
async fn dropping_a_join_drops_every_branch() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
    let join = async move {
        tether::join!(
            async move {
                let _guard = d1;
            },
            async move {
                let _guard = d2;
                pending::<()>().await
            },
        )
    };
    let outcome = tether::select! {
        _ = join => false,
        _ = tether::task::yield_now() => true,
    };
    assert!(outcome);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_worker_threads_branches_woken_from_other_threads_complete() {
    let (tx1, rx1) = tether::sync::oneshot::channel::<u32>();
    let (tx2, rx2) = tether::sync::oneshot::channel::<u32>();
    let sender = tether::spawn(async move {
        tether::task::yield_now().await;
        tx2.send(2).unwrap();
        tx1.send(1).unwrap();
    });
    let joined = tether::spawn(async move { tether::try_join!(rx1, rx2) });
    assert_eq!(joined.await.unwrap().unwrap(), (1, 2));
    sender.await.unwrap();
    let sums = tether::spawn(async {
        tether::join!(
            tether::spawn(async { (1..=100u32).sum::<u32>() }),
            tether::spawn(async { (1..=10u32).product::<u32>() }),
        )
    });
    let (a, b) = sums.await.unwrap();
    assert_eq!((a.unwrap(), b.unwrap()), (5050, 3_628_800));
}
