//! Finding, replaying and shrinking failures with `tether::sim::check`, and what PCT finds
//! that uniform random choice does not.

use std::sync::{Arc, Mutex};

use tether::sim::{Builder, Check, FailureKind, Sim, Strategy};

/// A planted race: two withdrawals check the balance, await, then act on the stale check.
fn overdraft(sim: &mut Sim) {
    let balance = Arc::new(Mutex::new(100i64));
    for name in ["alice", "bob"] {
        let balance = balance.clone();
        sim.client(name, async move {
            // Some unrelated work first, so that a failing run has choices to shrink away.
            for _ in 0..5 {
                tether::task::yield_now().await;
            }
            let seen = *balance.lock().unwrap();
            tether::task::yield_now().await;
            if seen >= 100 {
                let mut b = balance.lock().unwrap();
                *b -= 100;
                assert!(*b >= 0, "overdrawn: balance {}", *b);
            }
        });
    }
}

#[test]
fn check_finds_a_planted_race_replays_it_by_seed_and_shrinks_its_tape() {
    let dir = std::env::temp_dir().join(format!("tether-sim-test-{}", std::process::id()));
    let err = Check::new()
        .seeds(1000)
        .tape_dir(&dir)
        .run(overdraft)
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Panic);
    assert!(err.message().contains("overdrawn"), "{err}");
    let report = err.to_string();
    println!("{report}");
    assert!(
        report.contains(&format!("TETHER_SIM_SEED={}", err.seed())),
        "{report}"
    );
    assert!(
        report.contains("last "),
        "the report shows the last events: {report}"
    );

    // The printed seed replays the failure alone, exactly.
    let replay = |b: &mut Builder| {
        let mut sim = b.build();
        overdraft(&mut sim);
        sim.run().unwrap_err()
    };
    let again = replay(Sim::builder().seed(err.seed()));
    assert_eq!(again.kind(), FailureKind::Panic);
    assert!(again.message().contains("overdrawn"));
    let original_len = err.shrunk_from().expect("the tape was shrunk");
    assert!(
        err.tape().len() < original_len,
        "shrunk tape {} is not shorter than the original {original_len}",
        err.tape().len()
    );

    // The shrunk tape replays the (shrunk) failure too, from the file the report names.
    let file = err.tape_file().expect("the tape was written").to_owned();
    // (`TETHER_SIM_TAPE_DIR`, if the caller's environment sets it, overrides `tape_dir`.)
    assert!(
        std::env::var_os("TETHER_SIM_TAPE_DIR").is_some() || file.starts_with(&dir),
        "the tape went to {}, not to the check's tape_dir {}",
        file.display(),
        dir.display()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let draws: Vec<u64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(draws, err.tape());
    let shrunk = replay(Sim::builder().seed(err.seed()).replay(draws));
    assert_eq!(shrunk.kind(), FailureKind::Panic);
    assert_eq!(shrunk.step(), err.step());
    let _ = std::fs::remove_dir_all(dir);
}

/// An ordering bug of depth 3: task A must run 15 of its 20 steps before B starts, B then 15
/// of its steps before A's next, and A must finish before B's last step.
fn ordering_bug(sim: &mut Sim) {
    sim.client("client", async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = |who: char| {
            let log = log.clone();
            tether::spawn(async move {
                for i in 0..20u32 {
                    log.lock().unwrap().push((who, i));
                    tether::task::yield_now().await;
                }
            })
        };
        let (a, b) = (task('a'), task('b'));
        a.await.unwrap();
        b.await.unwrap();
        let log = log.lock().unwrap();
        let pos = |who: char, i: u32| log.iter().position(|e| *e == (who, i)).unwrap();
        let b_first = pos('b', 0);
        let a_before_b = log[..b_first].iter().filter(|e| e.0 == 'a').count();
        let a_next = log[b_first..].iter().position(|e| e.0 == 'a').map(|p| p + b_first);
        // A must still have steps left when B starts (A running first throughout is depth 1).
        let b_before_a_next = a_next.map_or(0, |p| log[b_first..p].iter().filter(|e| e.0 == 'b').count());
        let a_done_before_b_last = pos('a', 19) < pos('b', 19);
        assert!(
            !(a_before_b >= 15 && b_before_a_next >= 15 && a_done_before_b_last),
            "ordering bug: a ran {a_before_b} steps, then b {b_before_a_next}, then a finished first"
        );
    });
}

fn failures(strategy: Strategy, seeds: u64) -> (u64, Option<u64>) {
    let mut found = 0;
    let mut first = None;
    for seed in 0..seeds {
        let mut sim = Sim::builder().seed(seed).strategy(strategy.clone()).build();
        ordering_bug(&mut sim);
        if let Err(e) = sim.run() {
            assert!(e.message().contains("ordering bug"), "{e}");
            found += 1;
            first.get_or_insert(seed);
        }
    }
    (found, first)
}

#[test]
fn pct_finds_a_depth_three_ordering_bug_that_random_choice_misses() {
    const SEEDS: u64 = 2000;
    let (random, _) = failures(Strategy::Random, SEEDS);
    let (pct, first) = failures(
        Strategy::Pct {
            depth: 3,
            steps: 45,
        },
        SEEDS,
    );
    println!(
        "ordering bug of depth 3 in {SEEDS} seeds: random found it {random} times, PCT(d=3) {pct} times (first at seed {first:?})"
    );
    assert!(pct > 0, "PCT did not find the bug in {SEEDS} seeds");
    assert!(
        pct > 10 * random.max(1) || random == 0,
        "random {random}, pct {pct}"
    );
}

/// The body of `the_replay_commands_of_a_report_rerun_its_failure`'s child process: a `check`
/// that fails, run only when that test starts this binary with `TETHER_SIM_TEST_CHILD` set
/// (otherwise it returns at once).
#[test]
fn replay_child() {
    if std::env::var_os("TETHER_SIM_TEST_CHILD").is_none() {
        return;
    }
    tether::sim::check(1000, overdraft);
}

#[test]
fn the_replay_commands_of_a_report_rerun_its_failure() {
    let dir = std::env::temp_dir().join(format!("tether-sim-replay-{}", std::process::id()));
    let child = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["replay_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("TETHER_SIM_TEST_CHILD", "1")
            .env("TETHER_SIM_TAPE_DIR", &dir)
            .env("RUST_BACKTRACE", "0")
            .env_remove("TETHER_SIM_SEED")
            .env_remove("TETHER_SIM_SEEDS")
            .env_remove("TETHER_SIM_TAPE")
            .env_remove("TETHER_SIM_STRATEGY");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "the child was expected to fail");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let field = |text: &str, key: &str| -> String {
        let at = text
            .find(key)
            .unwrap_or_else(|| panic!("no {key} in: {text}"))
            + key.len();
        text[at..].split_whitespace().next().unwrap().to_owned()
    };
    let first = child(&[]);
    let seed = field(&first, "replay: TETHER_SIM_SEED=");
    let tape = field(&first, "TETHER_SIM_TAPE=");
    let step = field(&first, "), step ");

    // The seed alone replays the original failure...
    let by_seed = child(&[("TETHER_SIM_SEED", &seed)]);
    assert!(by_seed.contains("overdrawn"), "{by_seed}");
    assert!(by_seed.contains(&format!("seed {seed} ")), "{by_seed}");
    // ...and the tape file the shrunk one, at the same step.
    let by_tape = child(&[("TETHER_SIM_TAPE", &tape)]);
    assert!(by_tape.contains("overdrawn"), "{by_tape}");
    assert_eq!(field(&by_tape, "), step "), step, "{by_tape}");
    // A malformed variable is refused with the accepted forms.
    let bad = child(&[("TETHER_SIM_STRATEGY", "fifo")]);
    assert!(bad.contains("pct:d=3"), "{bad}");
    let _ = std::fs::remove_dir_all(dir);
}
