//! `tether::sync::Barrier` on the current-thread runtime: it releases nobody before the last of
//! its tasks arrives, makes exactly one of them the leader, and is ready for the next round; a
//! barrier for zero tasks releases at once, as the leader.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tether::sync::Barrier;

#[tether::test]
async fn barrier_releases_nobody_before_the_last_arrives_and_chooses_one_leader() {
    let barrier = Arc::new(Barrier::new(3));
    let arrived = Arc::new(AtomicUsize::new(0));
    for round in 1..=2 {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                tether::spawn(async move {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let leader = barrier.wait().await.is_leader();
                    assert_eq!(arrived.load(Ordering::SeqCst), 3 * round);
                    leader
                })
            })
            .collect();
        let mut leaders = 0;
        for t in tasks {
            leaders += usize::from(t.await.unwrap());
        }
        assert_eq!(leaders, 1, "round {round}");
    }
    assert!(Barrier::new(0).wait().await.is_leader());
}
