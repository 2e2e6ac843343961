//! Which workers are parked or searching for work, and waking one when work appears.
//!
//! # Protocol
//!
//! 1. A worker that found nothing parks: it adds itself to `sleepers` (under the lock) and
//!    increments `num_idle`, then, after a SeqCst fence, checks every queue once more before it
//!    really parks.
//! 2. Whoever makes work available (pushes to the injector, or to a worker's run queue that others
//!    can steal from) issues a SeqCst fence and calls `notify_one`: if some worker is searching,
//!    that one will find the work; else if some worker is idle, it is taken off `sleepers`, counted
//!    as searching, and unparked. With rule 1 this means no work is left with every worker asleep.
//! 3. At most half the workers search at once (`try_start_searching`), so a burst of work does
//!    not wake every thread to fight over one task.
//! 4. A searcher that stops searching because it found work, and was the last one searching,
//!    calls `notify_one` (the work it found may have come in a batch); one that stops because it
//!    found nothing and was the last, re-checks the queues before parking (rule 1 covers it).
//! 5. A parked worker that wakes up checks whether it is still in `sleepers`: if so it woke on
//!    its own (reactor event, timer) and removes itself; if not, a notifier took it out and counted
//!    it as searching.
//!
//! The loom models at the end of this file check rules 1-5 with the worker's steps of
//! `worker.rs` mirrored on two workers and the real `Parker`: a task pushed while the workers
//! give up searching and park is always run, and the idle and searching counts come back to zero.

use crate::loom::lock;
use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

/// See the module protocol.
pub(crate) struct Idle {
    /// Workers currently searching for work (rule 3).
    num_searching: AtomicUsize,
    /// Workers in `sleepers` (rule 1).
    num_idle: AtomicUsize,
    /// Indices of parked workers. Holding the lock means the set cannot change.
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            num_searching: AtomicUsize::new(0),
            num_idle: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    /// Rule 2: picks a parked worker to wake, if work might otherwise be missed. Returns the
    /// worker's index; the caller unparks it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        fence(Ordering::SeqCst);
        if self.num_searching.load(Ordering::SeqCst) != 0
            || self.num_idle.load(Ordering::SeqCst) == 0
        {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if self.num_searching.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let index = sleepers.pop()?;
        self.num_idle.fetch_sub(1, Ordering::SeqCst);
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        Some(index)
    }

    /// Rule 3: becomes a searcher unless half the workers already search.
    pub(crate) fn try_start_searching(&self) -> bool {
        let searching = self.num_searching.load(Ordering::SeqCst);
        if 2 * searching >= self.num_workers.max(2) {
            return false;
        }
        self.num_searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Rule 4: stops searching; returns whether this was the last searcher.
    pub(crate) fn stop_searching(&self) -> bool {
        self.num_searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Rule 1: registers worker `index` as parked.
    pub(crate) fn park(&self, index: usize) {
        let mut sleepers = lock(&self.sleepers);
        sleepers.push(index);
        self.num_idle.fetch_add(1, Ordering::SeqCst);
        drop(sleepers);
        fence(Ordering::SeqCst);
    }

    /// Rule 5: after waking, returns true if a notifier woke this worker (it is now searching),
    /// false if it woke on its own (it was removed from `sleepers` here).
    pub(crate) fn unpark_self(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.num_idle.fetch_sub(1, Ordering::SeqCst);
                false
            }
            None => true,
        }
    }

    /// Workers parked now.
    #[cfg(all(test, not(tether_loom)))]
    pub(crate) fn num_idle(&self) -> usize {
        self.num_idle.load(Ordering::SeqCst)
    }

    /// Workers searching now.
    #[cfg(all(test, not(tether_loom)))]
    pub(crate) fn num_searching(&self) -> usize {
        self.num_searching.load(Ordering::SeqCst)
    }
}

#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_a_sleeper_and_counts_it_as_searching() {
        let idle = Idle::new(2);
        idle.park(1);
        assert_eq!(idle.worker_to_notify(), Some(1));
        // Worker 1 is now searching; nobody else is woken while it searches.
        idle.park(0);
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.unpark_self(1), "worker 1 was woken by a notifier");
        assert!(idle.stop_searching());
        assert_eq!(idle.worker_to_notify(), Some(0));
    }

    #[test]
    fn self_woken_worker_removes_itself() {
        let idle = Idle::new(2);
        idle.park(0);
        assert!(!idle.unpark_self(0));
        assert_eq!(idle.num_idle(), 0);
        assert_eq!(idle.worker_to_notify(), None);
    }

    #[test]
    fn at_most_half_the_workers_search() {
        let idle = Idle::new(4);
        assert!(idle.try_start_searching());
        assert!(idle.try_start_searching());
        assert!(!idle.try_start_searching());
    }
}

#[cfg(all(test, tether_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// Rules 1 and 2: a worker going to sleep while another thread publishes work either sees
    /// the work in its re-check or is chosen to be woken; never neither.
    #[test]
    fn loom_work_is_never_left_with_every_worker_asleep() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let work = Arc::new(AtomicBool::new(false));
            let (idle2, work2) = (idle.clone(), work.clone());
            let pusher = thread::spawn(move || {
                work2.store(true, Ordering::SeqCst);
                idle2.worker_to_notify()
            });
            idle.park(0);
            let saw_work = work.load(Ordering::SeqCst);
            let notified = pusher.join().unwrap();
            assert!(saw_work || notified == Some(0), "a wake-up was lost");
        });
    }

    /// A model of two workers around `Idle` and their `Parker`s, taking the same steps in the
    /// same order as `worker.rs` (take a task; else become a searcher and look again; else
    /// park: stop searching, register, re-check, park, settle with `unpark_self`), over one
    /// shared queue that stands for every run queue.
    struct Workers {
        idle: Idle,
        parkers: [crate::sched::multi_thread::park::Parker; 2],
        /// Tasks waiting in the queue.
        queued: loom::sync::atomic::AtomicUsize,
        /// Tasks run.
        ran: loom::sync::atomic::AtomicUsize,
        /// Set once the one task ran: the workers leave their loops (the model's shutdown).
        done: AtomicBool,
    }

    impl Workers {
        fn new() -> Workers {
            use crate::sched::multi_thread::park::Parker;
            Workers {
                idle: Idle::new(2),
                parkers: [Parker::new(), Parker::new()],
                queued: loom::sync::atomic::AtomicUsize::new(0),
                ran: loom::sync::atomic::AtomicUsize::new(0),
                done: AtomicBool::new(false),
            }
        }

        /// Rule 2, as `MultiThreadShared::notify_one`.
        fn notify_one(&self) {
            if let Some(i) = self.idle.worker_to_notify() {
                self.parkers[i].unpark(|| unreachable!("no reactor in this model"));
            }
        }

        fn take(&self) -> bool {
            self.queued
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        }

        /// A worker's run loop (`worker.rs`), until `done`.
        fn run(&self, index: usize, mut searching: bool) {
            while !self.done.load(Ordering::SeqCst) {
                // `next_task`, then `steal` (which needs to be a searcher, rule 3).
                let mut found = self.take();
                if !found && (searching || self.idle.try_start_searching()) {
                    searching = true;
                    found = self.take();
                }
                if found {
                    // `run_task`: rule 4.
                    if searching {
                        searching = false;
                        if self.idle.stop_searching() {
                            self.notify_one();
                        }
                    }
                    self.ran.fetch_add(1, Ordering::SeqCst);
                    // The model's shutdown: every worker is unparked and leaves.
                    self.done.store(true, Ordering::SeqCst);
                    for p in &self.parkers {
                        p.unpark(|| unreachable!("no reactor in this model"));
                    }
                    continue;
                }
                // `park`: rules 1 and 5.
                if searching {
                    searching = false;
                    self.idle.stop_searching();
                }
                self.idle.park(index);
                if self.queued.load(Ordering::SeqCst) == 0 && !self.done.load(Ordering::SeqCst) {
                    self.parkers[index].park(None);
                }
                if self.idle.unpark_self(index) {
                    searching = true;
                }
            }
            // Leaving, the worker gives back its share of the searching count.
            if searching {
                self.idle.stop_searching();
            }
        }
    }

    /// Rules 1-5 with two workers, one of them searching at the start, and a thread that pushes
    /// one task: the task is always run (a lost wake-up would leave both workers parked forever,
    /// which loom reports as a deadlock), and afterwards no worker is counted as idle or
    /// searching.
    fn model_two_workers_and_a_push(first_searching: bool) {
        let mut model = loom::model::Builder::new();
        model.preemption_bound.get_or_insert(3);
        model.check(move || {
            let w = Arc::new(Workers::new());
            if first_searching {
                assert!(w.idle.try_start_searching());
            }
            let workers: Vec<_> = (0..2)
                .map(|i| {
                    let w = w.clone();
                    thread::spawn(move || w.run(i, first_searching && i == 0))
                })
                .collect();
            // The pusher (a foreign thread or a worker making work stealable): rule 2.
            w.queued.fetch_add(1, Ordering::SeqCst);
            w.notify_one();
            for t in workers {
                t.join().unwrap();
            }
            assert_eq!(w.ran.load(Ordering::SeqCst), 1);
            assert_eq!(w.idle.num_searching.load(Ordering::SeqCst), 0);
            assert_eq!(w.idle.num_idle.load(Ordering::SeqCst), 0);
            assert!(lock(&w.idle.sleepers).is_empty());
        });
    }

    #[test]
    fn loom_a_task_pushed_while_a_searcher_gives_up_is_run() {
        model_two_workers_and_a_push(true);
    }

    #[test]
    fn loom_a_task_pushed_while_both_workers_park_is_run() {
        model_two_workers_and_a_push(false);
    }
}
