//! The `idle_wakeups` suite: a runtime whose only work is one timer [`TIMER`] away, watched for
//! [`WINDOW`] (quick: [`WINDOW_QUICK`]) by a plain std thread of the same process.
//!
//! The `block_on` future spawns one task that sleeps for [`TIMER`] (setting [`ARMED`] first),
//! then waits on a channel for the observer thread's figures. The observer waits until the
//! timer task has run, lets the runtime settle for [`SETTLE`], then reads the counters, sleeps
//! for the window and reads them again:
//!
//! - **parks**: tether's own count of its scheduler's wake-ups from the reactor wait
//!   (`Handle::metrics().parks()`; every worker's, on the multi-thread flavor). tokio and smol
//!   expose no such counter: `n/a`.
//! - **voluntary context switches**: the sum of `voluntary_ctxt_switches` over
//!   `/proc/self/task/*/status`, every thread of the process but the observer itself (the main
//!   thread, the workers, smol's `async-io` thread). A thread that blocks and is woken counts
//!   one, so this is the like-for-like measure of wake-ups across runtimes.
//!
//! Both are per second of the window; the target is 0.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use super::{Metric, Scale, Suite, BOTH};
use crate::measure;
use crate::runtimes::{self as rt, Flavor};

/// The figures of `idle_wakeups`.
const IDLE_METRICS: &[Metric] = &[
    Metric::lower("parks (tether's counter)", "/s"),
    Metric::lower("voluntary context switches", "/s"),
];

/// The suite's entry in [`SUITES`](super::SUITES).
pub(super) const SUITE: Suite = Suite {
    name: "idle_wakeups",
    about: "a runtime whose only work is one timer 60 s away, watched for 2 s by a plain \
            thread: wake-ups per second, as tether's parks counter and as the process's \
            voluntary context switches (every thread but the observer's); target 0",
    metrics: IDLE_METRICS,
    peak_rss: false,
    flavors: BOTH,
    tether: idle_wakeups_tether,
    tokio: idle_wakeups_tokio,
    smol: idle_wakeups_smol,
    mio: None,
    uring: None,
    in_quick: true,
    io: false,
};

/// How far away the one timer is.
const TIMER: Duration = Duration::from_secs(60);
/// The observation window.
const WINDOW: Duration = Duration::from_secs(2);
const WINDOW_QUICK: Duration = Duration::from_millis(500);
/// How long the observer waits after the timer task ran before the window opens.
const SETTLE: Duration = Duration::from_millis(200);
/// How long the observer waits for the timer task to run at all.
const ARM_LIMIT: Duration = Duration::from_secs(10);

/// Set by the timer task just before it starts sleeping.
static ARMED: AtomicBool = AtomicBool::new(false);

/// A counter read by the observer thread (tether's parks).
type Counter = Box<dyn Fn() -> u64 + Send>;

/// Starts the observer thread; the receiver yields its figures (parks per second, or NaN
/// without `parks`; voluntary context switches per second).
fn observe(scale: Scale, parks: Option<Counter>) -> async_channel::Receiver<Vec<f64>> {
    let window = scale.pick(WINDOW, WINDOW_QUICK);
    let (tx, rx) = async_channel::bounded(1);
    thread::Builder::new()
        .name("idle-observer".to_string())
        .spawn(move || {
            let armed_by = Instant::now() + ARM_LIMIT;
            while !ARMED.load(SeqCst) {
                assert!(
                    Instant::now() < armed_by,
                    "idle_wakeups: the timer task did not run within {} s",
                    ARM_LIMIT.as_secs()
                );
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(SETTLE);
            let me = measure::thread_id();
            let parks0 = parks.as_ref().map(|p| p());
            let csw0 = measure::voluntary_ctxt_switches_except(me);
            let t0 = Instant::now();
            thread::sleep(window);
            let csw1 = measure::voluntary_ctxt_switches_except(me);
            let parks1 = parks.as_ref().map(|p| p());
            let secs = t0.elapsed().as_secs_f64();
            let parks_per_s = match (parks0, parks1) {
                (Some(a), Some(b)) => (b - a) as f64 / secs,
                _ => f64::NAN,
            };
            let _ = tx.try_send(vec![parks_per_s, (csw1 - csw0) as f64 / secs]);
        })
        .expect("idle_wakeups: could not start the observer thread");
    rx
}

async fn figures(rx: async_channel::Receiver<Vec<f64>>) -> Vec<f64> {
    rx.recv()
        .await
        .expect("idle_wakeups: the observer thread failed")
}

pub fn idle_wakeups_tether(scale: Scale, flavor: Flavor) -> Vec<f64> {
    rt::tether(flavor, async move {
        let handle = tether::runtime::Handle::current();
        let _timer = tether::spawn(async {
            ARMED.store(true, SeqCst);
            tether::time::sleep(TIMER).await;
        });
        figures(observe(
            scale,
            Some(Box::new(move || handle.metrics().parks())),
        ))
        .await
    })
}

pub fn idle_wakeups_tokio(scale: Scale, flavor: Flavor) -> Vec<f64> {
    rt::tokio(flavor, async move {
        let _timer = tokio::spawn(async {
            ARMED.store(true, SeqCst);
            tokio::time::sleep(TIMER).await;
        });
        figures(observe(scale, None)).await
    })
}

pub fn idle_wakeups_smol(scale: Scale, flavor: Flavor) -> Vec<f64> {
    rt::smol(flavor, |ex| async move {
        // Dropping a smol task cancels it: hold it until the end.
        let _timer = ex.spawn(async {
            ARMED.store(true, SeqCst);
            smol::Timer::after(TIMER).await;
        });
        figures(observe(scale, None)).await
    })
}
