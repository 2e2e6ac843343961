//! When spawned and awaited work runs, shown by the small programs one writes first on an async
//! runtime: tasks that print a word, tasks that sleep before they print, two pings awaited one
//! after the other, and a task that spawns the next generation. Each program logs what it
//! "prints", and the test checks the log: tether runs a spawned task only after its spawner
//! waits or yields, tasks in the order they were spawned, sleepers in the order of their
//! deadlines. The sleeping programs run on the paused clock, so they take no real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::time::{sleep, Instant};

/// What a program printed, line by line.
type Log = Arc<Mutex<Vec<String>>>;

/// Prints `s` to `log`.
fn print(log: &Log, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

/// What was printed so far.
fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// `spawn(say("Hi")); spawn(say("you")); print("!")`, then both tasks awaited. tether
/// guarantees: a spawned task never runs before `spawn` returns, and tasks run in the order they
/// were spawned, once the spawner waits or yields. So the spawner's own `!` comes first, then
/// `Hi`, then `you`.
#[tether::test]
async fn spawned_tasks_run_after_the_spawner_waits_in_spawn_order() {
    let log = Log::default();
    let say = |word: &'static str| {
        let log = log.clone();
        async move { print(&log, word) }
    };
    let hi = tether::spawn(say("Hi"));
    let you = tether::spawn(say("you"));
    print(&log, "!");
    hi.await.unwrap();
    you.await.unwrap();
    assert_eq!(lines(&log), ["!", "Hi", "you"]);
}

/// The same words, each task awaited as soon as it is spawned (`spawn(say(word)).await`), then
/// `print("!")`: each task has run by the time its `await` returns, so the output is `Hi you !`.
#[tether::test]
async fn each_spawned_task_awaited_at_once_runs_before_the_next_line() {
    let log = Log::default();
    for word in ["Hi", "you"] {
        let l = log.clone();
        tether::spawn(async move { print(&l, word) }).await.unwrap();
    }
    print(&log, "!");
    assert_eq!(lines(&log), ["Hi", "you", "!"]);
}

/// `spawn(say_after("you", 2)); spawn(say_after("!", 3)); spawn(say_after("Hi", 1))`, where
/// `say_after` sleeps that many seconds and then prints: the tasks wake in the order of their
/// deadlines, not of their spawns, so it prints `Hi you !` after 3 s of the test's clock; the
/// paused clock jumps to each deadline, so it takes no real time.
#[tether::test(start_paused = true)]
async fn sleeping_tasks_print_in_deadline_order_at_once_on_the_paused_clock() {
    let log = Log::default();
    let start = Instant::now();
    let real = std::time::Instant::now();
    let say_after = |word: &'static str, secs: u64| {
        let log = log.clone();
        async move {
            sleep(Duration::from_secs(secs)).await;
            print(&log, word);
        }
    };
    let tasks = [
        tether::spawn(say_after("you", 2)),
        tether::spawn(say_after("!", 3)),
        tether::spawn(say_after("Hi", 1)),
    ];
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(lines(&log), ["Hi", "you", "!"]);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "the paused clock must not wait"
    );
}

/// `ping_db().await; ping_url().await`, each sleeping for a while before it prints: awaited one
/// after the other, they run in sequence whichever sleeps longer, and together they take the
/// sum of their sleeps.
#[tether::test(start_paused = true)]
async fn futures_awaited_one_after_the_other_run_in_sequence() {
    for (db_secs, url_secs) in [(5, 1), (1, 5), (3, 3)] {
        let log = Log::default();
        let ping_db = {
            let log = log.clone();
            async move {
                sleep(Duration::from_secs(db_secs)).await;
                print(&log, "DB pinged");
            }
        };
        let ping_url = {
            let log = log.clone();
            async move {
                sleep(Duration::from_secs(url_secs)).await;
                print(&log, "URL pinged");
            }
        };
        let start = Instant::now();
        ping_db.await;
        ping_url.await;
        assert_eq!(lines(&log), ["DB pinged", "URL pinged"]);
        assert_eq!(start.elapsed(), Duration::from_secs(db_secs + url_secs));
    }
}

/// A generation's result and the handle of the generation it started, if any.
struct Generation(u32, Option<tether::task::JoinHandle<Generation>>);

/// Spawns generation `generation`: it prints a greeting, spawns the next generation (up to
/// generation 100), prints that it is done, and returns the next generation's handle.
fn task(generation: u32, log: Log) -> tether::task::JoinHandle<Generation> {
    tether::spawn(async move {
        print(&log, format!("Hello from generation {generation}"));
        let next = (generation < 100).then(|| {
            print(&log, format!("Adding task from generation {generation}"));
            task(generation + 1, log.clone())
        });
        print(&log, format!("Generation {generation} is done"));
        Generation(generation, next)
    })
}

/// A task that spawns the next generation, a hundred times over: the test awaits each
/// generation's handle and then the handle it returned; every generation, 0 to 100, runs once
/// and returns, and the log holds each one's three lines (two for the last), from generation 0's
/// greeting to generation 100's end.
#[tether::test]
async fn a_task_spawning_the_next_generation_runs_every_generation() {
    let log = Log::default();
    let mut results = Vec::new();
    let mut handle = task(0, log.clone());
    loop {
        let Generation(generation, next) = handle.await.unwrap();
        results.push(generation);
        match next {
            Some(n) => handle = n,
            None => break,
        }
    }
    assert_eq!(results, (0..=100).collect::<Vec<_>>());
    let log = lines(&log);
    assert_eq!(log.len(), 101 * 2 + 100);
    assert_eq!(log[0], "Hello from generation 0");
    assert_eq!(log[log.len() - 1], "Generation 100 is done");
}
