//! `FutureSet`: the futures a combinator owns, and which of them were woken since its last poll.
//!
//! A combinator (`All`, `AllSettled`, `Race`, `Any`) keeps its inputs here, each boxed so that it
//! stays pinned while the `Vec` holding it moves, and polls them in place: nothing is spawned.
//! Each input gets its own waker (a `ChildWaker` naming its index), so a poll of the combinator
//! polls only the inputs woken since the previous poll, not every pending one.
//!
//! # Protocol
//!
//! `Wakeups::state` is shared by the set (polled by one task at a time) and the inputs' wakers
//! (woken from any thread). Holding its lock means owning every field of `WakeState`.
//!
//! 1. `woken` lists, each at most once, the inputs woken since the set last took the list;
//!    `queued[i]` is true exactly while `i` is listed. A new set lists every input, in input
//!    order, so the first poll polls them all. The invariant that makes rule 2 safe: while an
//!    index is listed, either the task was woken after it was listed, or no waker was stored
//!    since the list was last taken (so the next poll takes the list before it can wait).
//! 2. A `ChildWaker` lists its index unless it is listed already, then takes `parent` and wakes
//!    it after releasing the lock: one wake-up of the combinator's task is enough until the task
//!    polls the set again. An index that is already listed needs no wake-up: whoever listed it
//!    woke the task, and the task has not taken the list since.
//! 3. `refill` stores the polling task's waker in `parent` *before* taking the list, under the
//!    same lock: a wake-up that comes after the list was taken finds that waker, so none is lost.
//! 4. `poll_next` takes the list at most once per call. An input that wakes itself while it is
//!    polled (`yield_now`, a spent budget) is polled again on the task's next poll, not in a loop
//!    inside this one.
//! 5. A completed or dropped input's slot is `None`; an index left for it in `batch` or `woken`
//!    is skipped. An index may be both in `batch` and listed (woken again before it was polled):
//!    the input is then polled twice, which is harmless.
//! 6. The cooperative budget: before polling an input the set checks that the task has budget
//!    left (it spends a unit and gives it back at once). When none is left it stops, keeps the
//!    rest of `batch` for the next poll and returns `Pending` (the budget check already woke the
//!    task). An input that completes spends one unit. An input that stays pending costs nothing.
//!
//! Cost: building a set allocates each input's box and waker once (O(n)); each poll costs
//! O(inputs woken since the last poll), plus one lock per wake-up.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::lock;
use crate::loom::sync::{Arc, Mutex};
use crate::task::coop;

/// The inputs of a combinator and the bookkeeping to poll only the woken ones.
///
/// Polled by one task at a time (it is behind `&mut`); only `wakeups` is shared.
pub(crate) struct FutureSet<F> {
    /// The inputs in input order; `None` once an input completed or was dropped (rule 5).
    slots: Vec<Option<Pin<Box<F>>>>,
    /// `wakers[i]` is input `i`'s waker, made once.
    wakers: Vec<Waker>,
    /// What the wakers share with the set (rules 1 to 3).
    wakeups: Arc<Wakeups>,
    /// Indices taken from `woken` and not polled yet (rules 4, 6).
    batch: VecDeque<usize>,
    /// Inputs neither completed nor dropped.
    pending: usize,
}

/// The state the inputs' wakers share with their set.
struct Wakeups {
    state: Mutex<WakeState>,
}

/// See the protocol in the module docs; holding `Wakeups::state` means owning every field.
struct WakeState {
    /// Inputs woken since the set last took the list, each listed once (rule 1).
    woken: Vec<usize>,
    /// `queued[i]`: whether `i` is in `woken` (rule 1).
    queued: Vec<bool>,
    /// The waker of the task that last polled the set; taken by the first wake-up (rules 2, 3).
    parent: Option<Waker>,
}

/// The waker given to one input: it lists the input's index and wakes the combinator's task.
///
/// It lives in a `std::sync::Arc` because `Waker::from` takes one; its shared state comes from
/// `crate::loom`.
struct ChildWaker {
    index: usize,
    wakeups: Arc<Wakeups>,
}

impl Wake for ChildWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let parent = {
            let mut state = lock(&self.wakeups.state);
            if state.queued[self.index] {
                return; // rule 2: whoever listed it woke the task
            }
            state.queued[self.index] = true;
            state.woken.push(self.index);
            state.parent.take()
        };
        // Rule 2: woken after the lock is released (waking may re-enter the scheduler).
        if let Some(parent) = parent {
            parent.wake();
        }
    }
}

impl<F: Future> FutureSet<F> {
    /// Takes every input of `futures`, in order; none is polled yet.
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> FutureSet<F> {
        let slots: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
        let n = slots.len();
        let wakeups = Arc::new(Wakeups {
            state: Mutex::new(WakeState {
                woken: (0..n).collect(), // rule 1: the first poll polls every input
                queued: vec![true; n],
                parent: None,
            }),
        });
        let wakers = (0..n)
            .map(|index| {
                Waker::from(std::sync::Arc::new(ChildWaker {
                    index,
                    wakeups: wakeups.clone(),
                }))
            })
            .collect();
        FutureSet {
            slots,
            wakers,
            wakeups,
            batch: VecDeque::new(),
            pending: n,
        }
    }

    /// How many inputs the set was built with.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many inputs have neither completed nor been dropped.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Polls the inputs woken since the last call and returns the next one to complete, with its
    /// index: `Ready(None)` once none is pending; `Pending` when every woken input is pending
    /// (the task is woken when one of them is woken) or the task's budget is spent.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        let mut refilled = false;
        loop {
            let Some(index) = self.batch.pop_front() else {
                if self.pending == 0 {
                    return Poll::Ready(None);
                }
                if refilled {
                    return Poll::Pending; // rule 4
                }
                self.refill(cx.waker());
                refilled = true;
                continue;
            };
            let Some(future) = self.slots[index].as_mut() else {
                continue; // rule 5
            };
            // Rule 6: a check, not a spending; the unit is given back when `unit` drops.
            match coop::poll_proceed(cx) {
                Poll::Ready(unit) => drop(unit),
                Poll::Pending => {
                    self.batch.push_front(index);
                    return Poll::Pending;
                }
            }
            let mut input_cx = Context::from_waker(&self.wakers[index]);
            if let Poll::Ready(out) = future.as_mut().poll(&mut input_cx) {
                self.slots[index] = None;
                self.pending -= 1;
                if let Poll::Ready(unit) = coop::poll_proceed(cx) {
                    unit.made_progress(); // rule 6: a completion spends a unit
                }
                return Poll::Ready(Some((index, out)));
            }
        }
    }

    /// Drops every input still pending, in input order: cancels them.
    pub(crate) fn cancel_pending(&mut self) {
        self.batch.clear();
        self.pending = 0;
        for slot in &mut self.slots {
            drop(slot.take());
        }
    }

    /// Stores the task's waker, then moves the listed indices to `batch` (rule 3).
    fn refill(&mut self, waker: &Waker) {
        let mut guard = lock(&self.wakeups.state);
        let WakeState {
            woken,
            queued,
            parent,
        } = &mut *guard;
        match parent {
            Some(w) if w.will_wake(waker) => {}
            _ => *parent = Some(waker.clone()),
        }
        for index in woken.drain(..) {
            queued[index] = false;
            self.batch.push_back(index);
        }
    }
}

impl<F> Drop for FutureSet<F> {
    fn drop(&mut self) {
        // An input's waker may outlive the set (kept by a resource the input registered with,
        // or by another thread): let it not keep the combinator's task alive too.
        let parent = lock(&self.wakeups.state).parent.take();
        drop(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A future that counts its polls and completes when `ready` is set.
    struct Probe {
        polls: Rc<Cell<usize>>,
        ready: Rc<Cell<bool>>,
        waker: Rc<std::cell::RefCell<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.ready.get() {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn only_woken_inputs_are_polled_again() {
        let probes: Vec<_> = (0..3)
            .map(|_| {
                (
                    Rc::new(Cell::new(0)),
                    Rc::new(Cell::new(false)),
                    Rc::new(std::cell::RefCell::new(None::<Waker>)),
                )
            })
            .collect();
        let mut set = FutureSet::new(probes.iter().map(|(p, r, w)| Probe {
            polls: p.clone(),
            ready: r.clone(),
            waker: w.clone(),
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(
            probes.iter().map(|p| p.0.get()).collect::<Vec<_>>(),
            [1, 1, 1]
        );

        // Not woken: nothing is polled.
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(
            probes.iter().map(|p| p.0.get()).collect::<Vec<_>>(),
            [1, 1, 1]
        );

        // Input 1 woken (twice: listed once) and ready.
        probes[1].1.set(true);
        let w = probes[1].2.borrow_mut().take().unwrap();
        w.wake_by_ref();
        w.wake();
        match set.poll_next(&mut cx) {
            Poll::Ready(Some((1, ()))) => {}
            _ => panic!("input 1 should complete"),
        }
        assert_eq!(set.pending(), 2);
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(
            probes.iter().map(|p| p.0.get()).collect::<Vec<_>>(),
            [1, 2, 1]
        );

        set.cancel_pending();
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(None)));
        assert_eq!(set.len(), 3);
    }

    /// A waker that counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_wake_up_before_the_first_poll_does_not_swallow_later_ones() {
        let (polls, ready, waker) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(false)),
            Rc::new(std::cell::RefCell::new(None::<Waker>)),
        );
        let mut set = FutureSet::new([Probe {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: waker.clone(),
        }]);
        // Woken before the set was ever polled (by whoever holds a clone of its waker).
        set.wakers[0].wake_by_ref();

        let count = std::sync::Arc::new(Count(0.into()));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        assert!(set.poll_next(&mut cx).is_pending());
        assert_eq!(polls.get(), 1);

        // Rule 1's invariant: this wake-up must reach the task.
        waker.borrow_mut().take().unwrap().wake();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        ready.set(true);
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(Some((0, ())))));
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn an_input_that_wakes_itself_is_polled_once_per_poll() {
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        let mut set = FutureSet::new([std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        })]);
        let mut cx = Context::from_waker(Waker::noop());
        for round in 1..=3 {
            assert!(set.poll_next(&mut cx).is_pending());
            assert_eq!(polls.get(), round);
        }
    }
}
