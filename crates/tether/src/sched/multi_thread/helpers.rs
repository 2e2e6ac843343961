//! The threads that drive lent workers (`lend.rs`), kept for the next `block_in_place`.
//!
//! Starting a thread for every `block_in_place` would cost tens of microseconds a call; a
//! helper that gave its worker back waits instead, for up to [`KEEP_ALIVE`], to be handed the
//! next lent worker.
//!
//! # Protocol
//!
//! All under locks, taken in one order: the pool's, then a helper's state's.
//!
//! 1. **A helper is listed as idle before its lender is told the worker is back.** So a lender
//!    that lends again after taking its worker back finds the helper that just served it: one
//!    task calling `block_in_place` over and over uses one helper thread.
//! 2. **Handing over.** A lender pops a helper from the idle list (under the pool's lock), then,
//!    under the helper's state lock, gives it the job only if the helper is still `Idle`; a
//!    helper that retired or was closed in between is skipped. With no idle helper, a new thread
//!    is started for the job.
//! 3. **Retiring.** A helper idle for `KEEP_ALIVE` takes the pool's lock, then its state's, and
//!    retires (`Exited`, out of the list) only if it is still `Idle`; if a job arrived in
//!    between, it runs it.
//! 4. **Closing.** The runtime's shutdown closes the pool: nothing is listed from then on, and
//!    every idle helper is told to exit. A helper holds the runtime (through its job's loan)
//!    only while it runs a job, so an idle helper never keeps a dropped runtime alive.

use std::time::Duration;

use crate::loom::lock;
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::runtime::builder::{ThreadHooks, ThreadSpawn};

/// What a helper runs: a lent worker (`lend::Job`), or a stand-in in this file's tests.
pub(super) trait HelperJob: Send + 'static {
    /// Drives the lent worker until the lender wants it back, and lets go of it.
    fn drive(&self);
    /// Tells the lender its worker is back; the helper keeps nothing of the job.
    fn give_back(self);
}

/// How long a helper waits for the next job before its thread exits (rule 3).
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The helper threads of one multi-thread runtime.
pub(super) struct HelperPool<J> {
    /// Idle helpers and whether the pool is closed (rules 2-4). Taken before a helper's state.
    inner: Mutex<PoolInner<J>>,
    /// Names the helpers (`PREFIX-helper`) and sizes their stacks.
    spawn: ThreadSpawn,
    hooks: ThreadHooks,
    /// [`KEEP_ALIVE`], but for this file's tests.
    keep_alive: Duration,
}

struct PoolInner<J> {
    idle: Vec<Arc<Helper<J>>>,
    closed: bool,
}

/// One helper thread, as the pool and lenders see it.
struct Helper<J> {
    /// Holding the lock means owning the helper's state (rules 2, 3).
    state: Mutex<HelperState<J>>,
    /// Signalled when a job arrives or the pool closes.
    wake: Condvar,
}

enum HelperState<J> {
    /// Waiting for a job (listed, or popped by a lender about to hand it one).
    Idle,
    /// Handed a job it has not started yet.
    Job(J),
    /// The pool closed: exit.
    Closed,
    /// Retired after `KEEP_ALIVE` without a job.
    Exited,
}

impl<J: HelperJob> HelperPool<J> {
    pub(super) fn new(spawn: ThreadSpawn, hooks: ThreadHooks) -> HelperPool<J> {
        HelperPool {
            inner: Mutex::new(PoolInner {
                idle: Vec::new(),
                closed: false,
            }),
            spawn,
            hooks,
            keep_alive: KEEP_ALIVE,
        }
    }

    /// Rule 2: hands `job` to an idle helper, or starts a helper thread for it. Gives the job
    /// back if no thread could be started.
    pub(super) fn run(pool: &Arc<HelperPool<J>>, job: J) -> Result<(), J> {
        loop {
            let Some(helper) = lock(&pool.inner).idle.pop() else {
                break;
            };
            let mut state = lock(&helper.state);
            if matches!(*state, HelperState::Idle) {
                *state = HelperState::Job(job);
                drop(state);
                helper.wake.notify_one();
                return Ok(());
            }
        }
        // The job travels to the new thread through this slot, so that a failed start gives
        // it back.
        let slot = Arc::new(Mutex::new(Some(job)));
        let theirs = slot.clone();
        let new = pool.spawn.thread("helper");
        if let Some(report) = &new.name_panic {
            // A helper is started on behalf of no runtime it could report to (rule 4).
            crate::diag::report_unattached_text(&format!("tether: {report}"));
        }
        let pool = pool.clone();
        let started = new.builder.spawn(move || {
            let job = lock(&theirs)
                .take()
                .expect("tether: a new helper's job is there");
            HelperPool::helper_main(&pool, job);
        });
        match started {
            Ok(_detached) => Ok(()),
            Err(_) => Err(lock(&slot)
                .take()
                .expect("tether: the thread did not start, so its job is still there")),
        }
    }

    /// Rule 4: no helper is listed from now on, and the idle ones exit.
    pub(super) fn close(&self) {
        let idle = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            std::mem::take(&mut inner.idle)
        };
        for helper in idle {
            let mut state = lock(&helper.state);
            if matches!(*state, HelperState::Idle) {
                *state = HelperState::Closed;
            }
            drop(state);
            helper.wake.notify_one();
        }
    }

    /// A helper thread's body: runs jobs until it retires or the pool closes.
    fn helper_main(pool: &Arc<HelperPool<J>>, first: J) {
        run_hook_outside(&pool.hooks, true);
        let me = Arc::new(Helper {
            state: Mutex::new(HelperState::Idle),
            wake: Condvar::new(),
        });
        let mut job = Some(first);
        while let Some(current) = job.take() {
            current.drive();
            // Rule 1: listed before the lender learns its worker is back.
            let listed = {
                let mut inner = lock(&pool.inner);
                if !inner.closed {
                    *lock(&me.state) = HelperState::Idle;
                    inner.idle.push(me.clone());
                }
                !inner.closed
            };
            current.give_back();
            if listed {
                job = pool.wait_for_job(&me);
            }
        }
        run_hook_outside(&pool.hooks, false);
    }

    /// Rules 3, 4: the next job, or `None` when the helper retires or the pool closed.
    fn wait_for_job(&self, me: &Arc<Helper<J>>) -> Option<J> {
        let mut state = lock(&me.state);
        loop {
            match std::mem::replace(&mut *state, HelperState::Idle) {
                HelperState::Job(job) => return Some(job),
                HelperState::Closed | HelperState::Exited => return None,
                HelperState::Idle => {
                    let (s, waited) = me
                        .wake
                        .wait_timeout(state, self.keep_alive)
                        .unwrap_or_else(|e| e.into_inner());
                    state = s;
                    if waited.timed_out() && matches!(*state, HelperState::Idle) {
                        // Rule 3: the pool's lock first.
                        drop(state);
                        if self.retire(me) {
                            return None;
                        }
                        state = lock(&me.state);
                    }
                }
            }
        }
    }

    /// Rule 3: retires `me` unless a job or the close arrived meanwhile.
    fn retire(&self, me: &Arc<Helper<J>>) -> bool {
        let mut inner = lock(&self.inner);
        let mut state = lock(&me.state);
        if !matches!(*state, HelperState::Idle) {
            return false;
        }
        *state = HelperState::Exited;
        inner.idle.retain(|h| !Arc::ptr_eq(h, me));
        true
    }
}

/// Runs the runtime's thread start or stop hook on a helper thread. Between jobs a helper holds
/// no runtime to report to (rule 4), so a panic in the hook is written to stderr; it does not
/// end the helper.
fn run_hook_outside(hooks: &ThreadHooks, start: bool) {
    let (hook, which) = if start {
        (hooks.on_start.as_deref(), "on_thread_start")
    } else {
        (hooks.on_stop.as_deref(), "on_thread_stop")
    };
    if let Some(f) = hook {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let msg = crate::task::panic_message(payload.as_ref()).unwrap_or("(no message)");
            crate::diag::report_unattached_text(&format!(
                "tether: the {which} hook panicked on a block_in_place helper thread: {msg}"
            ));
        }
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::thread::{self, ThreadId};

    use super::*;

    const BOUND: Duration = Duration::from_secs(30);

    /// Records the thread that drives it, and says when it was given back.
    struct TestJob {
        drove_on: Sender<ThreadId>,
        given_back: Sender<()>,
    }

    impl HelperJob for TestJob {
        fn drive(&self) {
            self.drove_on.send(thread::current().id()).unwrap();
        }

        fn give_back(self) {
            self.given_back.send(()).unwrap();
        }
    }

    struct Rig {
        pool: Arc<HelperPool<TestJob>>,
        drove_on: (Sender<ThreadId>, Receiver<ThreadId>),
        given_back: (Sender<()>, Receiver<()>),
        stopped: Receiver<ThreadId>,
    }

    impl Rig {
        fn new(keep_alive: Duration) -> Rig {
            let (stop_tx, stopped) = channel();
            let stop_tx = std::sync::Mutex::new(stop_tx);
            let hooks = ThreadHooks {
                on_start: None,
                on_stop: Some(std::sync::Arc::new(move || {
                    let _ = stop_tx.lock().unwrap().send(thread::current().id());
                })),
            };
            let mut pool = HelperPool::new(ThreadSpawn::new("rig".to_string()), hooks);
            pool.keep_alive = keep_alive;
            Rig {
                pool: Arc::new(pool),
                drove_on: channel(),
                given_back: channel(),
                stopped,
            }
        }

        /// Hands a job to the pool and waits until it was given back; returns the thread
        /// that drove it.
        fn lend(&self) -> ThreadId {
            let job = TestJob {
                drove_on: self.drove_on.0.clone(),
                given_back: self.given_back.0.clone(),
            };
            assert!(HelperPool::run(&self.pool, job).is_ok());
            let id = self.drove_on.1.recv_timeout(BOUND).unwrap();
            self.given_back.1.recv_timeout(BOUND).unwrap();
            id
        }
    }

    /// Rule 1: the helper is listed before the lender hears back, so lending again finds it.
    #[test]
    fn a_lender_that_lends_again_finds_the_helper_that_served_it() {
        let rig = Rig::new(Duration::from_secs(3600));
        let first = rig.lend();
        for _ in 0..20 {
            assert_eq!(rig.lend(), first);
        }
        rig.pool.close();
    }

    /// Rule 4: closing the pool makes idle helpers exit (the keep-alive is an hour here), and
    /// a job handed over afterwards still runs, on a thread of its own.
    #[test]
    fn closing_the_pool_ends_its_idle_helpers() {
        let rig = Rig::new(Duration::from_secs(3600));
        let helper = rig.lend();
        rig.pool.close();
        assert_eq!(rig.stopped.recv_timeout(BOUND).unwrap(), helper);
        let late = rig.lend();
        assert_ne!(late, helper);
        // It is not listed either: it exits once given back.
        assert_eq!(rig.stopped.recv_timeout(BOUND).unwrap(), late);
    }

    /// Rule 3: a helper retires after its keep-alive; the next job gets a new thread.
    #[test]
    fn a_retired_helper_is_replaced() {
        let rig = Rig::new(Duration::from_millis(1));
        let first = rig.lend();
        assert_eq!(rig.stopped.recv_timeout(BOUND).unwrap(), first);
        let second = rig.lend();
        assert_ne!(second, first);
        rig.pool.close();
    }
}
