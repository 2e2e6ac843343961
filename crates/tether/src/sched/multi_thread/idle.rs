//! Which workers are parked or searching for work, and waking one when work appears.
//!
//! # Protocol
//!
//! 1. A worker that found nothing parks: it adds itself to `sleepers` (under the lock) and
//!    increments `num_idle`, then, after a SeqCst fence, checks every queue once more before it
//!    really parks.
//! 2. Whoever makes work available (pushes to the injector, or to a local queue that others can
//!    steal from) issues a SeqCst fence and calls `notify_one`: if some worker is searching, that
//!    one will find the work; else if some worker is idle, it is taken off `sleepers`, counted as
//!    searching, and unparked. With rule 1 this means no work is left with every worker asleep.
//! 3. At most half the workers search at once (`try_start_searching`), so a burst of work does
//!    not wake every thread to fight over one task.
//! 4. A searcher that stops searching because it found work, and was the last one searching,
//!    calls `notify_one` (the work it found may have come in a batch); one that stops because it
//!    found nothing and was the last, re-checks the queues before parking (rule 1 covers it).
//! 5. A parked worker that wakes up checks whether it is still in `sleepers`: if so it woke on
//!    its own (reactor event, timer) and removes itself; if not, a notifier took it out and counted
//!    it as searching.

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
    #[cfg(test)]
    pub(crate) fn num_idle(&self) -> usize {
        self.num_idle.load(Ordering::SeqCst)
    }

    /// Workers searching now.
    #[cfg(test)]
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
}
