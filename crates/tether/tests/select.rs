//! `tether::select!`: which branch wins and what happens to the others (dropped before the
//! handler runs, observed through drop guards), patterns that do not match, preconditions,
//! `else`, `biased;`, fairness (counted over many iterations, never timed), reuse of a future
//! across iterations with `&mut`, control flow out of handlers, the cooperative budget, and the
//! same on the multi-thread runtime.
//!
//! Timed tests run on the paused clock, so durations are virtual and exact.

mod support;

use std::future::{pending, ready, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use support::on_drop::OnDrop;
use tether::sync::{mpsc, oneshot};
use tether::task::yield_now;
use tether::time::{sleep, timeout, Instant};

/// Operations a task may perform per poll (documented in `tether::task`).
const BUDGET: usize = 128;

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn get(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// A future that counts its polls and completes with `output` on poll number `ready_on`
/// (never, if `None`).
struct Counted<T> {
    polls: Arc<AtomicUsize>,
    ready_on: Option<usize>,
    output: Option<T>,
}

impl<T: Unpin> Future for Counted<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.ready_on == Some(n) {
            Poll::Ready(self.output.take().expect("polled after completion"))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn counted<T>(polls: &Arc<AtomicUsize>, ready_on: Option<usize>, output: T) -> Counted<T> {
    Counted {
        polls: polls.clone(),
        ready_on,
        output: Some(output),
    }
}

#[tether::test]
async fn the_ready_branch_wins_and_every_future_is_dropped_before_its_handler() {
    let drops = counter();
    let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
    let won = tether::select! {
        v = async move {
            let _guard = d1;
            pending::<u32>().await
        } => v,
        v = async move {
            let _guard = d2;
            yield_now().await;
            7
        } => {
            // Both futures are gone: the loser cancelled, the winner finished and dropped.
            assert_eq!(get(&drops), 2, "a future outlived the select!");
            v
        }
    };
    assert_eq!(won, 7);
}

#[tether::test(start_paused = true)]
async fn a_sleep_loses_to_a_shorter_one_and_is_cancelled() {
    let start = Instant::now();
    let drops = counter();
    let guard = OnDrop(drops.clone());
    let which = tether::select! {
        _ = async move {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).await;
        } => "hour",
        _ = sleep(Duration::from_secs(1)) => "second",
    };
    assert_eq!(which, "second");
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(get(&drops), 1);
}

#[tether::test]
async fn an_output_that_does_not_match_disables_its_branch_and_the_others_go_on() {
    let first_polls = counter();
    let second_polls = counter();
    let got = tether::select! {
        biased;
        Some(v) = counted(&first_polls, Some(1), None::<u32>) => v,
        v = counted(&second_polls, Some(3), 30u32) => v + 1,
    };
    assert_eq!(got, 31);
    // The first branch completed (with `None`) on its first poll and was never polled again;
    // a `Counted` polled after completion panics.
    assert_eq!(get(&first_polls), 1);
    assert_eq!(get(&second_polls), 3);
}

#[tether::test]
async fn patterns_bind_by_value_with_mut_ref_tuples_and_alternatives() {
    let v = tether::select! { mut v = ready(vec![1]) => { v.push(2); v } };
    assert_eq!(v, [1, 2]);
    let s = tether::select! { ref s = ready(String::from("abc")) => s.len() };
    assert_eq!(s, 3);
    let sum = tether::select! { (a, b) = ready((1, 2)) => a + b };
    assert_eq!(sum, 3);
    let n = tether::select! {
        Ok(n) | Err(n) = ready(Err::<u32, u32>(5)) => n,
    };
    assert_eq!(n, 5);
    // A string moved out of the output, which a by-reference match could not do.
    let owned: String =
        tether::select! { Some(s) = ready(Some(String::from("x"))) => s, else => String::new() };
    assert_eq!(owned, "x");
    // Outputs holding references: `&` patterns below them.
    static FIVE: u32 = 5;
    let five = tether::select! { Some(&n) = ready(Some(&FIVE)) => n, else => 0 };
    assert_eq!(five, 5);
    // A branch that can never complete: its handler is unreachable, and that is no warning.
    let never = tether::select! {
        v = pending::<std::convert::Infallible>() => match v {},
        v = ready(8) => v,
    };
    assert_eq!(never, 8);
    // A constant in a pattern is compared, not bound.
    const LIMIT: u32 = 3;
    let hit = tether::select! { LIMIT = ready(4u32) => true, else => false };
    assert!(!hit);
}

#[tether::test]
async fn a_false_precondition_disables_its_branch_but_its_future_is_still_created() {
    let created = counter();
    let polls = counter();
    let make = || {
        created.fetch_add(1, Ordering::SeqCst);
        counted(&polls, Some(1), 1u32)
    };
    let enabled = false;
    let got = tether::select! {
        v = make(), if enabled => v,
        v = ready(2u32) => v,
    };
    assert_eq!(got, 2);
    assert_eq!(
        get(&created),
        1,
        "the future expression of a disabled branch is evaluated"
    );
    assert_eq!(get(&polls), 0, "a disabled branch is never polled");
}

#[tether::test]
async fn preconditions_are_evaluated_before_any_future_expression() {
    let log = std::cell::RefCell::new(Vec::new());
    let note = |what: &'static str| log.borrow_mut().push(what);
    tether::select! {
        _ = { note("future 1"); ready(()) }, if { note("condition 1"); true } => {}
        _ = { note("future 2"); ready(()) }, if { note("condition 2"); true } => {}
    }
    assert_eq!(
        *log.borrow(),
        ["condition 1", "condition 2", "future 1", "future 2"]
    );
}

#[tether::test]
async fn else_runs_when_every_branch_is_disabled() {
    // By preconditions: no future is polled.
    let polls = counter();
    let got = tether::select! {
        v = counted(&polls, Some(1), 1), if false => v,
        v = counted(&polls, Some(1), 2), if 1 > 2 => v,
        else => 0,
    };
    assert_eq!(got, 0);
    assert_eq!(get(&polls), 0);
    // By outputs that do not match.
    let got = tether::select! {
        Some(v) = ready(None::<u32>) => v,
        Ok(v) = ready(Err::<u32, ()>(())) => v,
        else => 99,
    };
    assert_eq!(got, 99);
}

#[tether::test]
#[should_panic(expected = "every branch is disabled")]
async fn every_branch_disabled_without_else_panics() {
    tether::select! {
        Some(v) = ready(None::<u32>) => assert_eq!(v, 0),
        _ = ready(()), if false => {}
    }
}

#[tether::test]
async fn biased_polls_the_branches_in_the_order_written() {
    for _ in 0..200 {
        let order = std::cell::RefCell::new(Vec::new());
        let branch = |i: usize| {
            let order = &order;
            async move {
                order.borrow_mut().push(i);
                pending::<()>().await
            }
        };
        tether::select! {
            biased;
            _ = branch(0) => {}
            _ = branch(1) => {}
            _ = branch(2) => {}
            _ = ready(()) => {}
        }
        assert_eq!(*order.borrow(), [0, 1, 2]);
        // With both ready, the first written always wins.
        let won = tether::select! { biased; _ = ready(()) => 0, _ = ready(()) => 1 };
        assert_eq!(won, 0);
    }
}

/// Counts how often each of `N` always-ready branches wins over `rounds` selects.
async fn wins_of_four_ready_branches(rounds: usize) -> [usize; 4] {
    let mut wins = [0usize; 4];
    for _ in 0..rounds {
        let i = tether::select! {
            _ = ready(()) => 0,
            _ = ready(()) => 1,
            _ = ready(()) => 2,
            _ = ready(()) => 3,
        };
        wins[i] += 1;
    }
    wins
}

#[tether::test]
async fn unbiased_select_gives_every_ready_branch_its_turn() {
    // 4,000 rounds: each branch is expected 1,000 times (standard deviation about 27).
    let wins = wins_of_four_ready_branches(4_000).await;
    for (i, &w) in wins.iter().enumerate() {
        assert!(
            (700..=1_300).contains(&w),
            "branch {i} won {w} of 4000: {wins:?}"
        );
    }
    // Two branches, one written first: neither is favoured.
    let mut first = 0;
    for _ in 0..2_000 {
        first += tether::select! { _ = ready(()) => 1, _ = ready(()) => 0 };
    }
    assert!(
        (700..=1_300).contains(&first),
        "the first branch won {first} of 2000"
    );
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbiased_select_is_fair_on_worker_threads_too() {
    let wins = tether::spawn(wins_of_four_ready_branches(4_000))
        .await
        .unwrap();
    for (i, &w) in wins.iter().enumerate() {
        assert!(
            (700..=1_300).contains(&w),
            "branch {i} won {w} of 4000: {wins:?}"
        );
    }
}

#[tether::test]
async fn an_always_ready_branch_does_not_starve_a_channel() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for n in 0..100u32 {
        tx.send(n).unwrap();
    }
    let (mut received, mut idle) = (0, 0);
    while received < 100 {
        tether::select! {
            Some(_) = rx.recv() => received += 1,
            _ = ready(()) => idle += 1,
        }
        assert!(idle < 10_000, "the channel branch never won");
    }
}

#[tether::test(start_paused = true)]
async fn a_future_kept_with_mut_survives_the_iterations_it_loses() {
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    tether::spawn(async move {
        for n in 1..=5 {
            sleep(Duration::from_secs(1)).await;
            tx.send(n).await.unwrap();
        }
    });
    let start = Instant::now();
    // An `Unpin` future by `&mut`, and a `!Unpin` one pinned on the stack first.
    let mut deadline = sleep(Duration::from_millis(3_500));
    let drops = counter();
    let guard = OnDrop(drops.clone());
    let mut pinned = pin!(async move {
        let _guard = guard;
        pending::<()>().await
    });
    let mut got = Vec::new();
    loop {
        tether::select! {
            _ = &mut deadline => break,
            _ = &mut pinned => unreachable!(),
            Some(n) = rx.recv() => got.push(n),
        }
    }
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(start.elapsed(), Duration::from_millis(3_500));
    assert_eq!(
        get(&drops),
        0,
        "a future passed by `&mut` belongs to the caller"
    );
}

#[tether::test]
async fn a_completed_future_kept_with_mut_is_disabled_by_a_precondition() {
    let (tx, mut stop) = oneshot::channel::<()>();
    tx.send(()).unwrap();
    let mut stopped = false;
    let mut ticks = 0;
    while ticks < 3 {
        tether::select! {
            biased;
            _ = &mut stop, if !stopped => stopped = true,
            _ = ready(()) => ticks += 1,
        }
    }
    assert!(stopped);
}

/// Control flow in handlers acts on the enclosing function and loops: `skip` continues the
/// outer loop, `stop` returns, `twice` continues the inner loop once and then records how many
/// tries it took, a number is parsed with `?` and ends the inner loop with `break`.
async fn control_flow(input: &[&str]) -> Result<Vec<u32>, std::num::ParseIntError> {
    let mut out = Vec::new();
    'lines: for line in input {
        let mut tries = 0;
        loop {
            tries += 1;
            tether::select! {
                biased;
                _ = ready(()), if *line == "skip" => continue 'lines,
                _ = ready(()), if *line == "stop" => return Ok(out),
                _ = ready(()), if *line == "twice" && tries < 2 => continue,
                n = ready(line.parse::<u32>()), if *line != "twice" => {
                    out.push(n?);
                    break;
                }
                else => {
                    out.push(tries);
                    break;
                }
            }
        }
    }
    Ok(out)
}

#[tether::test]
async fn return_question_mark_break_and_continue_act_on_the_enclosing_code() {
    assert_eq!(control_flow(&["1", "skip", "2"]).await, Ok(vec![1, 2]));
    assert_eq!(
        control_flow(&["1", "twice", "stop", "2"]).await,
        Ok(vec![1, 2])
    );
    assert!(control_flow(&["1", "x"]).await.is_err());
}

#[tether::test]
async fn a_handler_may_use_what_the_futures_borrowed_and_await() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let pair = tether::select! {
        // `rx.recv()` borrowed `rx` mutably; the future is gone when the handler runs.
        Some(a) = rx.recv() => (a, rx.recv().await.unwrap()),
        else => (0, 0),
    };
    assert_eq!(pair, (1, 2));
}

#[tether::test]
async fn a_select_can_be_nested_in_a_branch_and_in_a_handler() {
    let inner = async {
        tether::select! {
            v = ready(1) => v,
            _ = pending::<()>() => 0,
        }
    };
    let v = tether::select! {
        v = inner => tether::select! { w = ready(10) => v + w },
        _ = pending::<()>() => 0,
    };
    assert_eq!(v, 11);
}

#[tether::test(start_paused = true)]
async fn dropping_the_select_drops_every_branch() {
    let drops = counter();
    let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
    let outcome = timeout(Duration::from_secs(1), async move {
        tether::select! {
            _ = async move { let _g = d1; pending::<()>().await } => {}
            _ = async move { let _g = d2; sleep(Duration::from_secs(60)).await } => {}
        }
    })
    .await;
    assert!(outcome.is_err());
    assert_eq!(get(&drops), 2);
}

#[tether::test]
async fn a_loop_of_always_ready_selects_yields_to_other_tasks() {
    // Futures that know nothing of the budget: only the select! itself spends it.
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    let busy = tether::spawn(async move {
        let mut iterations = 0usize;
        while !flag.load(Ordering::SeqCst) {
            tether::select! {
                _ = ready(()) => {}
                _ = pending::<()>() => {}
            }
            iterations += 1;
            assert!(iterations < 100_000, "the loop never yielded");
        }
        iterations
    });
    tether::spawn(async move { other_ran.store(true, Ordering::SeqCst) });
    // One unit per select!: the budget's worth, then the select! that found it spent yields
    // and completes once the task is polled again.
    assert_eq!(busy.await.unwrap(), BUDGET + 1);
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_worker_threads_every_message_of_two_producers_is_received() {
    let (tx1, mut rx1) = mpsc::channel::<u32>(8);
    let (tx2, mut rx2) = mpsc::channel::<u32>(8);
    let p1 = tether::spawn(async move {
        for n in 0..1_000 {
            tx1.send(n).await.unwrap();
        }
    });
    let p2 = tether::spawn(async move {
        for n in 0..1_000 {
            tx2.send(n * 2).await.unwrap();
        }
    });
    let consumer = tether::spawn(async move {
        let (mut sum, mut count) = (0u64, 0);
        loop {
            tether::select! {
                Some(v) = rx1.recv() => { sum += u64::from(v); count += 1; }
                Some(v) = rx2.recv() => { sum += u64::from(v); count += 1; }
                else => break,
            }
        }
        (sum, count)
    });
    p1.await.unwrap();
    p2.await.unwrap();
    let (sum, count) = consumer.await.unwrap();
    assert_eq!(count, 2_000);
    assert_eq!(sum, 999 * 1_000 / 2 * 3);
}

#[tether::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_worker_threads_a_shutdown_signal_stops_a_busy_loop() {
    let (stop_tx, mut stop) = oneshot::channel::<()>();
    let handled = counter();
    let h = handled.clone();
    let worker = tether::spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        loop {
            let _ = tx.send(());
            tether::select! {
                biased;
                _ = &mut stop => break,
                Some(()) = rx.recv() => { h.fetch_add(1, Ordering::SeqCst); }
            }
        }
    });
    while get(&handled) < 100 {
        yield_now().await;
    }
    stop_tx.send(()).unwrap();
    worker.await.unwrap();
}

/// Patterns tokio's `select!` accepts compile here too: a `ref mut` binding (the output is
/// matched by a mutable binding) and an open range (`1..`, which a slice pattern does not allow
/// bare).
#[tether::test]
async fn ref_mut_bindings_and_open_ranges_are_patterns() {
    let v = tether::select! {
        Some(ref mut x) = async { Some(String::from("b")) } => {
            x.push('c');
            x.clone()
        }
    };
    assert_eq!(v, "bc");
    let n = tether::select! {
        n @ 1.. = async { 4u32 } => n,
        else => 0,
    };
    assert_eq!(n, 4);
    let n = tether::select! {
        n @ 1.. = async { 0u32 } => n,
        else => 7,
    };
    assert_eq!(n, 7);
}
