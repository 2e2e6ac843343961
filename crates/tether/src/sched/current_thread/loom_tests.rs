//! Loom models of the current-thread scheduler's park protocol: rule 3 with the driver's real
//! steps (`announce_sleep`, the remote `Inbox`) and a model of the reactor: the eventfd is a
//! flag under a mutex, and `epoll_wait` returns once the flag is set, also when it was set
//! before the wait (the eventfd keeps its count). A lost wake-up leaves the driver blocked,
//! which loom reports as a deadlock.

use std::collections::VecDeque;

use loom::thread;

use super::announce_sleep;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};
use crate::sched::inbox::Inbox;

/// The driver's sleep flag and its eventfd.
struct Reactor {
    sleeping: AtomicBool,
    eventfd: Mutex<bool>,
    readable: Condvar,
}

impl Reactor {
    fn new() -> Arc<Reactor> {
        Arc::new(Reactor {
            sleeping: AtomicBool::new(false),
            eventfd: Mutex::new(false),
            readable: Condvar::new(),
        })
    }

    /// `Unparker::unpark` (io/driver.rs), what a waking thread does after publishing its
    /// work: the same swap, then the eventfd write.
    fn unpark(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            *lock(&self.eventfd) = true;
            self.readable.notify_one();
        }
    }

    /// `Core::park` without timers: announce, re-check, then wait in the reactor.
    fn park(&self, work_arrived: impl FnOnce() -> bool) {
        if announce_sleep(&self.sleeping, work_arrived) {
            let mut written = lock(&self.eventfd);
            while !*written {
                written = self.readable.wait(written).unwrap();
            }
            *written = false;
            drop(written);
            super::end_sleep(&self.sleeping);
        }
    }
}

/// The driver's loop: take remote tasks and the main future's wake-up until it has seen
/// `tasks` tasks and (if `main`) the wake-up, parking whenever there is nothing to do.
fn drive(reactor: &Reactor, inbox: &Inbox<u32>, main_woken: &AtomicBool, tasks: usize, main: bool) {
    let mut run_queue = VecDeque::new();
    let (mut got, mut woken) = (0, !main);
    while got < tasks || !woken {
        if let Some(_task) = inbox.pop_all_into(&mut run_queue) {
            got += 1 + run_queue.drain(..).count();
            continue;
        }
        if main_woken.swap(false, Ordering::SeqCst) {
            woken = true;
            continue;
        }
        reactor.park(|| inbox.is_pending() || main_woken.load(Ordering::SeqCst));
    }
}

/// A task pushed from another thread while the driver goes to park is never missed: the
/// driver either sees `pending` on its re-check or is woken through the eventfd.
#[test]
fn loom_a_remote_push_racing_the_driver_going_to_park_wakes_it() {
    loom::model(|| {
        let reactor = Reactor::new();
        let inbox = Arc::new(Inbox::new());
        let main_woken = AtomicBool::new(false);
        let pusher = {
            let (reactor, inbox) = (reactor.clone(), inbox.clone());
            thread::spawn(move || {
                inbox.push(1).unwrap();
                reactor.unpark();
            })
        };
        drive(&reactor, &inbox, &main_woken, 1, false);
        pusher.join().unwrap();
    });
}

/// Two wake-ups from two threads (a remote push and the `block_on` future's waker) while
/// the driver parks, possibly more than once: neither is lost. Three threads: checked up to
/// three preemptions.
#[test]
fn loom_a_remote_push_and_a_main_wake_racing_two_parks_are_both_seen() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound.get_or_insert(4);
    model.check(|| {
        let reactor = Reactor::new();
        let inbox = Arc::new(Inbox::new());
        let main_woken = Arc::new(AtomicBool::new(false));
        let pusher = {
            let (reactor, inbox) = (reactor.clone(), inbox.clone());
            thread::spawn(move || {
                inbox.push(1).unwrap();
                reactor.unpark();
            })
        };
        let waker = {
            let (reactor, main_woken) = (reactor.clone(), main_woken.clone());
            thread::spawn(move || {
                // `MainWaker::wake_by_ref`.
                main_woken.swap(true, Ordering::SeqCst);
                reactor.unpark();
            })
        };
        drive(&reactor, &inbox, &main_woken, 1, true);
        pusher.join().unwrap();
        waker.join().unwrap();
    });
}
