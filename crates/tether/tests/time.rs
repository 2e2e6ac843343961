//! Timers and the clock: sleep, timeout, interval, the paused clock, and an idle runtime that
//! does not spin.

use std::pin::Pin;
use std::time::Duration;

use tether::runtime::{Builder, Handle};
use tether::time::{self, interval, sleep, sleep_until, timeout, Instant, MissedTickBehavior};

#[tether::test(start_paused = true)]
async fn one_hour_timeout_finishes_at_once_on_the_paused_clock() {
    let start = Instant::now();
    let real = std::time::Instant::now();
    let res = timeout(Duration::from_secs(3600), sleep(Duration::from_secs(7200))).await;
    assert!(res.is_err());
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "the paused clock must not really wait"
    );
}

#[tether::test(start_paused = true)]
async fn sleeps_complete_in_deadline_order() {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut hs = Vec::new();
    for (i, ms) in [(0, 300u64), (1, 100), (2, 200), (3, 100_000), (4, 1)] {
        let log = log.clone();
        hs.push(tether::spawn(async move {
            sleep(Duration::from_millis(ms)).await;
            log.lock().unwrap().push(i);
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*log.lock().unwrap(), vec![4, 1, 2, 0, 3]);
}

#[tether::test(start_paused = true)]
async fn advance_fires_due_timers_before_returning() {
    let start = Instant::now();
    let h = tether::spawn(async move {
        sleep(Duration::from_secs(10)).await;
        Instant::now()
    });
    tether::task::yield_now().await; // let the task file its timer
    time::advance(Duration::from_secs(5)).await;
    assert!(!h.is_finished());
    time::advance(Duration::from_secs(5)).await;
    assert!(h.is_finished());
    assert_eq!(h.await.unwrap() - start, Duration::from_secs(10));
}

#[tether::test(start_paused = true)]
async fn timeout_passes_through_a_fast_future() {
    assert_eq!(timeout(Duration::ZERO, async { 3 }).await.unwrap(), 3);
    let slow = timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
    let err = slow.unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
}

#[tether::test(start_paused = true)]
async fn sleep_reset_moves_the_deadline_both_ways() {
    let start = Instant::now();
    let mut s = sleep(Duration::from_secs(100));
    Pin::new(&mut s).reset(start + Duration::from_secs(3));
    (&mut s).await;
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(s.is_elapsed());
    // Reset after completion: waits again.
    Pin::new(&mut s).reset(start + Duration::from_secs(10));
    assert!(!s.is_elapsed());
    s.await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tether::test(start_paused = true)]
async fn sleep_until_a_past_instant_is_ready_at_once() {
    let past = Instant::now();
    time::advance(Duration::from_secs(1)).await;
    sleep_until(past).await;
}

#[tether::test(start_paused = true)]
async fn interval_ticks_on_schedule_and_bursts_after_a_stall() {
    let start = Instant::now();
    let mut iv = interval(Duration::from_secs(10));
    assert_eq!(iv.tick().await, start);
    assert_eq!(iv.tick().await, start + Duration::from_secs(10));
    // Stall for 35 s: burst catches up on the missed ticks at 20 s and 30 s.
    time::advance(Duration::from_secs(35)).await;
    assert_eq!(iv.tick().await, start + Duration::from_secs(20));
    assert_eq!(iv.tick().await, start + Duration::from_secs(30));
    assert_eq!(Instant::now(), start + Duration::from_secs(45));
    assert_eq!(iv.tick().await, start + Duration::from_secs(40));
    assert_eq!(iv.tick().await, start + Duration::from_secs(50));
}

#[tether::test(start_paused = true)]
async fn interval_skip_and_delay_behaviors() {
    let start = Instant::now();
    let mut skip = interval(Duration::from_secs(10));
    skip.set_missed_tick_behavior(MissedTickBehavior::Skip);
    skip.tick().await;
    time::advance(Duration::from_secs(25)).await;
    assert_eq!(skip.tick().await, start + Duration::from_secs(10));
    // Next is the next multiple of 10 s after now (25 s): 30 s.
    assert_eq!(skip.tick().await, start + Duration::from_secs(30));

    let start = Instant::now();
    let mut delay = interval(Duration::from_secs(10));
    delay.set_missed_tick_behavior(MissedTickBehavior::Delay);
    delay.tick().await;
    time::advance(Duration::from_secs(25)).await;
    delay.tick().await; // late tick at 25 s
    assert_eq!(delay.tick().await, start + Duration::from_secs(35));
}

#[tether::test(start_paused = true)]
async fn dropping_a_sleep_cancels_its_timer() {
    let handle = Handle::current();
    let s = sleep(Duration::from_secs(5));
    let t = tether::spawn(s);
    tether::task::yield_now().await;
    assert_eq!(handle.metrics().active_timers(), 1);
    t.abort();
    let _ = t.await;
    assert_eq!(handle.metrics().active_timers(), 0);
}

#[test]
fn idle_runtime_waiting_on_a_timer_one_second_away_wakes_only_a_handful_of_times() {
    let rt = Builder::new_current_thread().build().unwrap();
    let start = std::time::Instant::now();
    rt.block_on(async { sleep(Duration::from_secs(1)).await });
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "a timer never fires early"
    );
    let parks = rt.handle().metrics().parks();
    assert!(
        parks <= 5,
        "the loop woke {parks} times while idle for 1 s; it must sleep until the timer"
    );
}

#[test]
fn timer_from_another_thread_shortens_the_reactor_sleep() {
    // The runtime sleeps on a 10 s timer; a sleep filed from another thread (polled by a
    // foreign executor) for 20 ms must wake it, not wait the 10 s out.
    let rt = Builder::new_current_thread().build().unwrap();
    let handle = rt.handle().clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let s = {
            let _g = handle.enter();
            sleep(Duration::from_millis(20))
        };
        let start = std::time::Instant::now();
        futures_lite::future::block_on(s);
        start.elapsed()
    });
    rt.block_on(async {
        let _ = timeout(Duration::from_secs(10), async {
            loop {
                sleep(Duration::from_millis(200)).await;
                if t.is_finished() {
                    break;
                }
            }
        })
        .await;
    });
    let waited = t.join().unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "foreign timer waited {waited:?}"
    );
}

/// A `Sleep` is four words (the time driver's rule 5): it sits in every sleeping task's future.
#[test]
#[cfg(target_pointer_width = "64")]
fn a_sleep_is_four_words() {
    assert_eq!(std::mem::size_of::<tether::time::Sleep>(), 32);
}

/// A fired sleep gives its wheel entry back at the poll that sees it fired (the driver's rule
/// 5): a sleep made next takes the same entry, and neither the elapsed sleep's drop, nor
/// polling it again, nor resetting it touches the new one's timer.
#[tether::test(start_paused = true)]
async fn a_fired_sleeps_entry_serves_the_next_sleep_alone() {
    let start = Instant::now();
    let mut first = sleep(Duration::from_millis(10));
    (&mut first).await;
    assert!(first.is_elapsed());
    // Polled again once elapsed, it stays ready.
    (&mut first).await;
    let mut second = sleep(Duration::from_millis(50));
    assert!(!second.is_elapsed());
    // Reset to the past, the first is ready at once and files nothing that fires the second.
    Pin::new(&mut first).reset(start);
    (&mut first).await;
    drop(first);
    assert!(!second.is_elapsed());
    (&mut second).await;
    assert_eq!(start.elapsed(), Duration::from_millis(60));
    assert!(second.is_elapsed());
    // Reset after it fired, it waits for its new deadline.
    Pin::new(&mut second).reset(Instant::now() + Duration::from_millis(5));
    assert!(!second.is_elapsed());
    second.await;
    assert_eq!(start.elapsed(), Duration::from_millis(65));
}

/// A future that spends the task's whole budget on every poll (a loop over a busy channel)
/// does not hide its deadline: the timeout fires.
#[tether::test(start_paused = true)]
async fn a_timeout_fires_around_a_future_that_spends_the_budget() {
    let (tx, mut rx) = tether::sync::mpsc::unbounded_channel::<u32>();
    let mut rounds = 0u64;
    let res = timeout(Duration::ZERO, async {
        loop {
            tx.send(1).unwrap();
            rx.recv().await.unwrap();
            rounds += 1;
            assert!(rounds < 1_000_000, "the timeout never fired");
        }
    })
    .await;
    assert!(res.is_err());
}

/// A period too long to add to an instant ticks once, then never: a disabled keep-alive.
#[tether::test(start_paused = true)]
async fn an_interval_of_duration_max_ticks_once() {
    let start = Instant::now();
    let mut iv = interval(Duration::MAX);
    assert_eq!(iv.tick().await, start);
    assert!(timeout(Duration::from_secs(3600), iv.tick()).await.is_err());
    iv.reset();
    assert!(timeout(Duration::from_secs(3600), iv.tick()).await.is_err());
}

/// A tick a little late (timers fire on millisecond ticks) keeps the schedule: `Delay` only
/// starts again from now after a tick more than 5 ms late.
#[tether::test(start_paused = true)]
async fn a_slightly_late_tick_keeps_the_schedule() {
    let start = Instant::now();
    let mut delay = interval(Duration::from_millis(10));
    delay.set_missed_tick_behavior(MissedTickBehavior::Delay);
    delay.tick().await;
    time::advance(Duration::from_millis(12)).await;
    assert_eq!(delay.tick().await, start + Duration::from_millis(10));
    assert_eq!(
        delay.tick().await,
        start + Duration::from_millis(20),
        "2 ms late is on time"
    );
    time::advance(Duration::from_millis(30)).await; // now 50 ms: the tick due at 30 is 20 late
    assert_eq!(delay.tick().await, start + Duration::from_millis(30));
    assert_eq!(
        delay.tick().await,
        start + Duration::from_millis(60),
        "from now: 50 + 10"
    );
}

/// A filed sleep moved to a deadline that has passed is ready at its next poll, as a new sleep
/// for that deadline is (tokio fires a timer reset into the past at once).
#[tether::test(start_paused = true)]
async fn a_filed_sleep_reset_into_the_past_is_ready_at_its_next_poll() {
    let mut s = sleep(Duration::from_secs(10));
    assert!(futures_lite::future::poll_once(&mut s).await.is_none()); // filed
    let past = Instant::now();
    time::advance(Duration::from_millis(1)).await;
    Pin::new(&mut s).reset(past);
    assert!(futures_lite::future::poll_once(&mut s).await.is_some());
}

/// `time::resume` on a clock that was never paused panics, as tokio's does ("time is not
/// frozen"), instead of doing nothing: the test that calls it believes time was frozen.
#[test]
#[should_panic(expected = "tether::time::resume was called at")]
fn resume_on_a_clock_that_was_never_paused_panics() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async { time::resume() });
}

/// A second `resume` finds the clock running: the same panic, saying what to do instead.
#[test]
#[should_panic(
    expected = "while the clock is not paused (tokio says: \"time is not frozen\"); \
                           resume only a clock stopped by tether::time::pause()"
)]
fn resume_twice_panics() {
    let rt = Builder::new_current_thread()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        time::resume();
        time::resume();
    });
}

/// `advance` on a clock resumed after a pause panics, as on one never paused.
#[test]
#[should_panic(
    expected = "tether::time::advance was called while the clock is running; call \
                           tether::time::pause() first"
)]
fn advance_after_resume_panics() {
    let rt = Builder::new_current_thread()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        time::resume();
        time::advance(Duration::from_secs(1)).await;
    });
}

/// `time::pause` on a clock that is paused already panics, as tokio's does ("time is already
/// frozen"): the caller believes it stopped a running clock.
#[test]
#[should_panic(expected = "tether::time::pause was called at")]
fn pause_on_a_paused_clock_panics() {
    let rt = Builder::new_current_thread()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async { time::pause() });
}

/// A clock paused, resumed and paused again is fine.
#[test]
fn pause_after_resume_stops_the_clock_again() {
    let rt = Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        time::pause();
        time::resume();
        time::pause();
        let t = tether::time::Instant::now();
        time::advance(Duration::from_secs(3)).await;
        assert_eq!(t.elapsed(), Duration::from_secs(3));
    });
}
