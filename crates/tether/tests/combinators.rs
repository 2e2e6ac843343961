//! `tether::future`: each combinator's result and its order, cancellation of the losers (observed
//! through drop guards, and through the runtime's live task count for the `*_joined` variants),
//! the cooperative budget, and `Promise`.
//!
//! Everything runs on the current-thread runtime; timed tests use the paused clock, so the
//! durations asserted are virtual and exact.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tether::future::{
    all, all_joined, all_settled, all_settled_joined, any, any_joined, race, race_joined,
    AggregateError, Joined, Promise, PromiseError, TaskError,
};
use tether::runtime::Handle;
use tether::task::{yield_now, JoinHandle};
use tether::time::{sleep, timeout, Instant};

const HOUR: u64 = 3_600_000;

/// Operations a task may perform per poll (documented in `tether::task`).
const BUDGET: usize = 128;

/// A shared counter: of guards dropped, of inputs finished, of polls.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn incr(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// A guard that increments this counter when it is dropped.
    fn guard(&self) -> DropGuard {
        DropGuard(self.clone())
    }
}

struct DropGuard(Counter);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.incr();
    }
}

/// An input that holds a drop guard from the moment it is created, sleeps `ms` milliseconds,
/// counts itself finished and returns `out`. Every call has the same type, so inputs fit in one
/// `Vec` (and, being `Send + 'static`, can be spawned).
fn job<T>(
    ms: u64,
    out: T,
    drops: &Counter,
    finished: &Counter,
) -> impl Future<Output = T> + use<T> {
    let guard = drops.guard();
    let finished = finished.clone();
    async move {
        let _guard = guard;
        sleep(Duration::from_millis(ms)).await;
        finished.incr();
        out
    }
}

/// Lets every other ready task run until it waits (the run queue is FIFO on this flavor).
async fn settle() {
    for _ in 0..16 {
        yield_now().await;
    }
}

fn live_tasks() -> u64 {
    Handle::current().metrics().live_tasks()
}

// ---- all -----------------------------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn all_returns_every_value_in_input_order() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let start = Instant::now();
    let inputs =
        [(30, 0), (10, 1), (20, 2)].map(|(ms, v)| job(ms, Ok::<u32, String>(v), &drops, &finished));
    assert_eq!(all(inputs).await, Ok(vec![0, 1, 2]));
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(30),
        "the inputs ran concurrently"
    );
    assert_eq!((finished.get(), drops.get()), (3, 3));
}

/// JavaScript's `Promise.all` settles on the first rejection but leaves the other promises
/// running, so their side effects still happen after the caller moved on. tether's `all` returns
/// the first error with every other input already dropped, and none of them ever finishes
/// afterwards.
#[tether::test(start_paused = true)]
async fn all_short_circuit_leaves_nothing_running() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let start = Instant::now();
    let inputs = vec![
        job(HOUR, Ok(0), &drops, &finished),
        job(40, Ok(1), &drops, &finished),
        job(20, Err("input 2 failed".to_string()), &drops, &finished),
        job(HOUR, Ok(3), &drops, &finished),
    ];
    // Awaited through `&mut`, so the combinator outlives its result: the drops observed
    // below happened inside `all`, before it returned, not when it was dropped.
    let mut combinator = all(inputs);
    let err = (&mut combinator).await.unwrap_err();
    assert_eq!(err, "input 2 failed");
    assert_eq!(start.elapsed(), Duration::from_millis(20), "failed fast");
    // By the time `all` returned, every guard was dropped: the failing input's on completion,
    // the three others' by cancellation.
    assert_eq!(drops.get(), 4);
    assert_eq!(finished.get(), 1);
    // Nothing is left running in the background.
    sleep(Duration::from_millis(2 * HOUR)).await;
    assert_eq!(finished.get(), 1);
}

#[tether::test(start_paused = true)]
async fn all_fails_with_the_first_error_in_time_not_in_input_order() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let inputs = vec![
        job(30, Err("late"), &drops, &finished),
        job(5, Ok(1), &drops, &finished),
        job(10, Err("early"), &drops, &finished),
    ];
    assert_eq!(all(inputs).await, Err("early"));
    assert_eq!((finished.get(), drops.get()), (2, 3));
}

#[tether::test]
async fn all_of_no_futures_is_an_empty_vec() {
    let none: Vec<std::future::Ready<Result<u32, String>>> = Vec::new();
    assert_eq!(all(none).await, Ok(vec![]));
}

#[tether::test(start_paused = true)]
async fn dropping_all_before_it_completes_drops_every_input() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let inputs = (0..5).map(|i| job(HOUR, Ok::<u32, ()>(i), &drops, &finished));
    let out = timeout(Duration::from_millis(10), all(inputs)).await;
    assert!(out.is_err(), "the timeout expired first");
    assert_eq!((finished.get(), drops.get()), (0, 5));
}

// ---- all_settled ---------------------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn all_settled_keeps_every_outcome_in_input_order() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let start = Instant::now();
    let inputs = vec![
        job(40, Ok(0), &drops, &finished),
        job(10, Err("one"), &drops, &finished),
        job(30, Ok(2), &drops, &finished),
        job(20, Err("three"), &drops, &finished),
    ];
    let outcomes = all_settled(inputs).await;
    assert_eq!(outcomes, [Ok(0), Err("one"), Ok(2), Err("three")]);
    assert_eq!(start.elapsed(), Duration::from_millis(40));
    // An error cancels nothing: every input finished.
    assert_eq!((finished.get(), drops.get()), (4, 4));
}

#[tether::test]
async fn all_settled_of_no_futures_is_empty() {
    let none: Vec<std::future::Ready<u8>> = Vec::new();
    assert!(all_settled(none).await.is_empty());
}

// ---- race ----------------------------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn race_returns_the_first_to_settle_and_drops_the_losers() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let start = Instant::now();
    let inputs =
        [(30, 0), (10, 1), (20, 2)].map(|(ms, v)| job(ms, Ok::<u32, String>(v), &drops, &finished));
    let mut combinator = race(inputs);
    assert_eq!((&mut combinator).await, Ok(1));
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    assert_eq!(
        (finished.get(), drops.get()),
        (1, 3),
        "the losers were dropped"
    );
    sleep(Duration::from_millis(HOUR)).await;
    assert_eq!(finished.get(), 1, "no loser kept running");
}

#[tether::test(start_paused = true)]
async fn race_is_won_by_an_error_too() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let inputs = vec![
        job(20, Ok(0), &drops, &finished),
        job(5, Err("refused"), &drops, &finished),
    ];
    assert_eq!(race(inputs).await, Err("refused"));
    assert_eq!((finished.get(), drops.get()), (1, 2));
}

#[tether::test]
async fn race_tie_goes_to_the_earliest_input() {
    let inputs = [3, 1, 2].map(|v| std::future::ready(Ok::<u32, ()>(v)));
    assert_eq!(race(inputs).await, Ok(3));
}

#[test]
#[should_panic(expected = "tether::future::race was called at")]
fn race_with_no_futures_panics_with_a_clear_message() {
    drop(race(Vec::<std::future::Ready<u32>>::new()));
}

#[test]
#[should_panic(expected = "with no futures: a race with no runner never finishes")]
fn race_joined_with_no_tasks_panics_with_a_clear_message() {
    drop(race_joined(Vec::<JoinHandle<Result<u32, ()>>>::new()));
}

// ---- any -----------------------------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn any_returns_the_first_success_and_drops_the_rest() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let start = Instant::now();
    let inputs = vec![
        job(5, Err("down"), &drops, &finished),
        job(30, Ok("slow mirror"), &drops, &finished),
        job(20, Ok("fast mirror"), &drops, &finished),
        job(HOUR, Err("never"), &drops, &finished),
    ];
    let mut combinator = any(inputs);
    assert_eq!((&mut combinator).await, Ok("fast mirror"));
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    // The failure and the winner finished; the two others were dropped before `any` returned.
    assert_eq!((finished.get(), drops.get()), (2, 4));
    sleep(Duration::from_millis(2 * HOUR)).await;
    assert_eq!(finished.get(), 2);
}

#[tether::test(start_paused = true)]
async fn any_aggregates_every_error_in_input_order_when_all_fail() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let inputs = [(30, "e0"), (10, "e1"), (20, "e2")]
        .map(|(ms, e)| job(ms, Err::<(), _>(e), &drops, &finished));
    let err: AggregateError<&str> = any(inputs).await.unwrap_err();
    assert_eq!(err.errors(), ["e0", "e1", "e2"]);
    assert_eq!(
        err.to_string(),
        "all 3 futures failed: [0] e0; [1] e1; [2] e2"
    );
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.to_string().starts_with("all 3 futures failed"));
    assert_eq!(err.into_errors(), vec!["e0", "e1", "e2"]);
    assert_eq!((finished.get(), drops.get()), (3, 3));
}

#[tether::test]
async fn any_of_no_futures_fails_with_an_empty_aggregate() {
    let none: Vec<std::future::Ready<Result<u32, String>>> = Vec::new();
    let err = any(none).await.unwrap_err();
    assert!(err.errors().is_empty());
    assert!(err.to_string().contains("empty input"), "{err}");
}

// ---- polling and the cooperative budget ----------------------------------------------------

#[tether::test]
async fn combinators_poll_only_the_woken_inputs() {
    let idle_polls = Counter::default();
    let busy_polls = Counter::default();
    let busy = {
        let polls = busy_polls.clone();
        Box::pin(async move {
            for _ in 0..10 {
                polls.incr();
                yield_now().await; // wakes itself ten times
            }
            polls.incr();
            "busy"
        }) as Pin<Box<dyn Future<Output = &str>>>
    };
    let idle = |polls: Counter| {
        Box::pin(std::future::poll_fn(move |_| {
            polls.incr();
            Poll::Pending
        })) as Pin<Box<dyn Future<Output = &str>>>
    };
    let inputs = vec![idle(idle_polls.clone()), busy, idle(idle_polls.clone())];
    assert_eq!(race(inputs).await, "busy");
    assert_eq!(busy_polls.get(), 11);
    assert_eq!(
        idle_polls.get(),
        2,
        "each idle input was polled once, never woken again"
    );
}

#[tether::test]
async fn a_combinator_over_many_ready_inputs_yields_to_other_tasks() {
    let completed = Counter::default();
    let c = completed.clone();
    let worker = tether::spawn(async move {
        let inputs = (0..1_000u32).map(|i| {
            let c = c.clone();
            async move {
                c.incr();
                Ok::<u32, ()>(i)
            }
        });
        all(inputs).await
    });
    // Runs after the worker's first poll, which must stop when its budget is spent.
    let c = completed.clone();
    let observer = tether::spawn(async move { c.get() });
    let values = worker.await.unwrap().unwrap();
    assert_eq!(values, (0..1_000).collect::<Vec<_>>());
    assert_eq!(
        observer.await.unwrap(),
        BUDGET,
        "one unit per completed input"
    );
}

// ---- the *_joined variants -----------------------------------------------------------------

#[tether::test(start_paused = true)]
async fn all_joined_returns_values_in_input_order() {
    let (drops, finished) = (Counter::default(), Counter::default());
    let tasks = [(30, 0), (10, 1), (20, 2)]
        .map(|(ms, v)| tether::spawn(job(ms, Ok::<u32, String>(v), &drops, &finished)));
    assert_eq!(all_joined(tasks).await.unwrap(), [0, 1, 2]);
    assert_eq!((finished.get(), drops.get()), (3, 3));
}

#[tether::test(start_paused = true)]
async fn all_joined_short_circuit_aborts_the_other_tasks() {
    let baseline = live_tasks();
    let (drops, finished) = (Counter::default(), Counter::default());
    let tasks = vec![
        tether::spawn(job(HOUR, Ok(0), &drops, &finished)),
        tether::spawn(job(10, Err("disk full".to_string()), &drops, &finished)),
        tether::spawn(job(HOUR, Ok(2), &drops, &finished)),
    ];
    assert_eq!(live_tasks(), baseline + 3);
    let mut combinator = all_joined(tasks);
    let err = (&mut combinator).await.unwrap_err();
    assert!(
        matches!(&err, TaskError::Failed(msg) if msg == "disk full"),
        "{err}"
    );
    assert_eq!(err.to_string(), "the task failed: disk full");
    settle().await; // aborted tasks are dropped when the scheduler gets to them
    assert_eq!(
        (finished.get(), drops.get()),
        (1, 3),
        "the other tasks were aborted"
    );
    assert_eq!(live_tasks(), baseline, "no task is left running");
}

#[tether::test(start_paused = true)]
async fn race_joined_aborts_the_losing_tasks() {
    let baseline = live_tasks();
    let (drops, finished) = (Counter::default(), Counter::default());
    let tasks = [(HOUR, "primary"), (15, "hedge"), (HOUR, "backup")]
        .map(|(ms, v)| tether::spawn(job(ms, Ok::<_, String>(v), &drops, &finished)));
    let mut combinator = race_joined(tasks);
    assert_eq!((&mut combinator).await.unwrap(), "hedge");
    settle().await;
    assert_eq!((finished.get(), drops.get()), (1, 3));
    assert_eq!(live_tasks(), baseline);
}

#[tether::test(start_paused = true)]
async fn any_joined_aborts_the_rest_on_success() {
    let baseline = live_tasks();
    let (drops, finished) = (Counter::default(), Counter::default());
    let tasks = vec![
        tether::spawn(job(5, Err("cache miss"), &drops, &finished)),
        tether::spawn(job(10, Ok("from the database"), &drops, &finished)),
        tether::spawn(job(HOUR, Ok("from the archive"), &drops, &finished)),
    ];
    let mut combinator = any_joined(tasks);
    assert_eq!((&mut combinator).await.unwrap(), "from the database");
    settle().await;
    assert_eq!((finished.get(), drops.get()), (2, 3));
    assert_eq!(live_tasks(), baseline);
}

#[tether::test]
async fn any_joined_aggregates_failures_panics_and_cancellations_in_input_order() {
    let cancelled = tether::spawn(std::future::pending::<Result<(), String>>());
    cancelled.abort();
    let tasks = vec![
        tether::spawn(async { Err("refused".to_string()) }),
        tether::spawn(async { panic!("bug in handler") }),
        cancelled,
    ];
    let err = any_joined(tasks).await.unwrap_err();
    let errors = err.errors();
    assert!(matches!(&errors[0], TaskError::Failed(msg) if msg == "refused"));
    assert!(errors[1].is_panic());
    assert!(errors[2].is_cancelled());
    let text = err.to_string();
    assert!(
        text.starts_with("all 3 futures failed: [0] the task failed: refused; [1] task"),
        "{text}"
    );
    assert!(text.contains("bug in handler"), "{text}");
    assert!(text.contains("was cancelled"), "{text}");
    use std::error::Error as _;
    assert!(
        errors[1].source().is_some(),
        "a panic's source is its JoinError"
    );
    assert!(errors[0].source().is_none());
}

#[tether::test(start_paused = true)]
async fn all_settled_joined_reports_every_outcome_in_input_order() {
    let tasks = vec![
        tether::spawn(async {
            sleep(Duration::from_millis(20)).await;
            Ok::<u32, String>(0)
        }),
        tether::spawn(async { panic!("boom") }),
        tether::spawn(async { Err("no".to_string()) }),
    ];
    let outcomes = all_settled_joined(tasks).await;
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0].as_ref().ok(), Some(&0));
    assert!(outcomes[1].as_ref().unwrap_err().is_panic());
    assert!(matches!(&outcomes[2], Err(TaskError::Failed(msg)) if msg == "no"));
}

#[tether::test(start_paused = true)]
async fn dropping_a_joined_combinator_aborts_every_task() {
    let baseline = live_tasks();
    let (drops, finished) = (Counter::default(), Counter::default());
    let tasks: Vec<_> = (0..4)
        .map(|i| tether::spawn(job(HOUR, Ok::<u32, ()>(i), &drops, &finished)))
        .collect();
    assert!(
        timeout(Duration::from_millis(10), all_settled_joined(tasks))
            .await
            .is_err()
    );
    settle().await;
    assert_eq!((finished.get(), drops.get()), (0, 4));
    assert_eq!(live_tasks(), baseline);
}

#[tether::test]
async fn dropping_a_joined_aborts_its_task_where_dropping_the_handle_detaches_it() {
    let baseline = live_tasks();
    let drops = Counter::default();
    let spawn_idle = || {
        let guard = drops.guard();
        tether::spawn(async move {
            let _guard = guard;
            std::future::pending::<Result<(), ()>>().await
        })
    };
    let detached = spawn_idle();
    let aborted = Joined::new(spawn_idle());
    settle().await;
    drop(detached);
    drop(aborted);
    settle().await;
    assert_eq!(drops.get(), 1, "only the Joined task was stopped");
    assert_eq!(live_tasks(), baseline + 1, "the detached task still runs");
}

// ---- Promise -------------------------------------------------------------------------------

#[tether::test]
async fn promise_clones_all_receive_the_value() {
    let (promise, resolver) = Promise::<String, String>::new();
    let waiters: Vec<_> = (0..3).map(|_| tether::spawn(promise.clone())).collect();
    settle().await; // every waiter is waiting now
    assert!(waiters.iter().all(|w| !w.is_finished()));
    resolver.resolve("v1".to_string());
    for w in waiters {
        assert_eq!(w.await.unwrap(), Ok("v1".to_string()));
    }
    // A clone awaited after settling gets the value at once, as does the original.
    assert_eq!(promise.clone().await, Ok("v1".to_string()));
    assert_eq!(promise.await, Ok("v1".to_string()));
}

#[tether::test]
async fn promise_rejection_reaches_every_clone() {
    let (promise, resolver) = Promise::<u32, &str>::new();
    let waiters: Vec<_> = (0..2).map(|_| tether::spawn(promise.clone())).collect();
    settle().await;
    resolver.reject("quorum lost");
    for w in waiters {
        assert_eq!(w.await.unwrap(), Err(PromiseError::Rejected("quorum lost")));
    }
    let err = promise.await.unwrap_err();
    assert!(err.is_rejected());
    assert_eq!(err.to_string(), "the promise was rejected: quorum lost");
}

#[tether::test]
async fn promise_is_abandoned_when_its_resolver_is_dropped() {
    let (promise, resolver) = Promise::<u32, String>::new();
    let waiter = tether::spawn(promise.clone());
    settle().await;
    drop(resolver);
    let err = waiter.await.unwrap().unwrap_err();
    assert_eq!(err, PromiseError::Abandoned);
    assert!(err.is_abandoned());
    assert!(err.to_string().contains("resolver was dropped"), "{err}");
    assert!(promise.is_settled());
    assert_eq!(promise.try_get(), Some(Err(PromiseError::Abandoned)));
}

/// A second settlement cannot be written (`resolve` and `reject` consume the resolver); what can
/// be checked is that the state moves once from unsettled to settled and then never changes.
#[tether::test]
async fn promise_settles_exactly_once() {
    let (promise, resolver) = Promise::<u32, String>::new();
    assert!(!promise.is_settled());
    assert_eq!(promise.try_get(), None);
    assert_eq!(format!("{promise:?}"), r#"Promise { state: "pending" }"#);
    resolver.resolve(7); // consumes the resolver; its drop does not abandon the promise
    for _ in 0..3 {
        assert!(promise.is_settled());
        assert_eq!(promise.try_get(), Some(Ok(7)));
    }
    assert_eq!(format!("{promise:?}"), r#"Promise { state: "resolved" }"#);
    assert_eq!(promise.clone().await, Ok(7));
    assert_eq!(promise.try_get(), Some(Ok(7)));
}

#[tether::test]
async fn promise_resolved_from_another_thread_wakes_its_waiter() {
    let (promise, resolver) = Promise::<u64, ()>::new();
    let thread = std::thread::spawn(move || resolver.resolve(99));
    assert_eq!(promise.await, Ok(99));
    thread.join().unwrap();
}

#[tether::test(start_paused = true)]
async fn promises_work_as_combinator_inputs() {
    let (first, first_resolver) = Promise::<u32, String>::new();
    let (second, second_resolver) = Promise::<u32, String>::new();
    tether::spawn(async move {
        sleep(Duration::from_millis(10)).await;
        second_resolver.resolve(2);
        sleep(Duration::from_millis(10)).await;
        first_resolver.resolve(1);
    });
    assert_eq!(race([first.clone(), second.clone()]).await, Ok(2));
    assert_eq!(all([first, second]).await, Ok(vec![1, 2]));
}

// ---- types ---------------------------------------------------------------------------------

#[test]
fn futures_and_promises_are_send_when_their_contents_are() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    type Input = std::future::Ready<Result<u32, String>>;
    assert_send::<tether::future::All<Input>>();
    assert_send::<tether::future::AllSettled<Input>>();
    assert_send::<tether::future::Race<Input>>();
    assert_send::<tether::future::Any<Input>>();
    assert_send::<Joined<u32, String>>();
    assert_send::<Promise<u32, String>>();
    assert_send::<tether::future::Resolver<u32, String>>();
    assert_sync::<tether::future::Resolver<u32, String>>();
    assert_send::<TaskError<String>>();
    assert_sync::<AggregateError<String>>();
}
