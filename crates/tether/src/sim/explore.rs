//! How a simulation makes its choices: which ready task runs next, and every other random
//! value (latency jitter, loss, `select!`'s start order, fault times).
//!
//! Every choice is a *draw*: a `u64` from the seeded generator, recorded on the run's *tape*.
//! Replaying a tape returns its draws in order (and zeros after its end), so a tape reproduces
//! its run exactly, whatever the seed; zero is every choice's plainest value (the oldest ready
//! task, no jitter, no loss), which is what lets the shrinker (`check.rs`) simplify a tape by
//! zeroing and cutting it.

use std::collections::HashMap;

use crate::task::Id;

/// A small, fast, seedable generator (SplitMix64): good statistical quality for choosing, and
/// its whole state is one `u64`.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `draw` reduced to `0..n` (n > 0), multiply-shift: no division, zero stays zero.
pub(crate) fn below(draw: u64, n: usize) -> usize {
    ((u128::from(draw) * n as u128) >> 64) as usize
}

/// Which task runs next when several are ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Uniformly random among the ready tasks at every step.
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): every task gets a
    /// random priority when it first becomes ready; the highest-priority ready task runs; at
    /// `depth - 1` random steps the running task's priority drops below every other. A bug
    /// that needs `depth` specific orderings is found in one run with probability at least
    /// 1 / (tasks × steps^(depth-1)), far better than uniform choice for deep bugs.
    Pct {
        /// The bug depth aimed at (`d`); 1 is "a priority order", 3 is a common choice.
        depth: u32,
        /// How many steps a run is expected to take: the priority-change points are drawn
        /// from `0..steps`.
        steps: u64,
    },
}

impl Strategy {
    /// Parses `random`, `pct`, `pct:d=3` or `pct:d=3,steps=5000` (the syntax of
    /// `TETHER_SIM_STRATEGY`).
    ///
    /// # Errors
    ///
    /// A message naming the accepted forms.
    pub fn parse(s: &str) -> Result<Strategy, String> {
        let s = s.trim();
        if s == "random" {
            return Ok(Strategy::Random);
        }
        let bad = || {
            format!(
                "tether::sim: unknown strategy {s:?}; use \"random\", \"pct\", \"pct:d=3\" or \
                 \"pct:d=3,steps=5000\""
            )
        };
        let Some(rest) = s.strip_prefix("pct") else {
            return Err(bad());
        };
        let (mut depth, mut steps) = (3, 10_000);
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        for part in rest.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(bad)?;
            match k.trim() {
                "d" | "depth" => depth = v.trim().parse().map_err(|_| bad())?,
                "steps" => steps = v.trim().parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            }
        }
        if depth == 0 || steps == 0 {
            return Err(bad());
        }
        Ok(Strategy::Pct { depth, steps })
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Random => f.write_str("random"),
            Strategy::Pct { depth, steps } => write!(f, "pct:d={depth},steps={steps}"),
        }
    }
}

/// Where draws come from: the generator, or a tape being replayed.
enum Source {
    Seeded(Rng),
    Replay { tape: Vec<u64>, pos: usize },
}

/// PCT's state: each task's priority and the steps at which the running task is demoted.
struct Pct {
    priorities: HashMap<Id, u64>,
    /// Steps (sorted) at which the task chosen is demoted, with the priority it gets.
    change_points: Vec<u64>,
    next_change: usize,
}

/// Makes a run's choices and records them (see the module docs).
pub(crate) struct Explorer {
    source: Source,
    tape: Vec<u64>,
    strategy: Strategy,
    pct: Option<Pct>,
}

impl Explorer {
    pub(crate) fn new(seed: u64, strategy: Strategy, replay: Option<Vec<u64>>) -> Explorer {
        let source = match replay {
            Some(tape) => Source::Replay { tape, pos: 0 },
            None => Source::Seeded(Rng::new(seed)),
        };
        let mut ex = Explorer {
            source,
            tape: Vec::new(),
            strategy: strategy.clone(),
            pct: None,
        };
        if let Strategy::Pct { depth, steps } = strategy {
            let mut change_points: Vec<u64> = (1..depth)
                .map(|_| below(ex.draw(), steps as usize) as u64)
                .collect();
            change_points.sort_unstable();
            ex.pct = Some(Pct {
                priorities: HashMap::new(),
                change_points,
                next_change: 0,
            });
        }
        ex
    }

    /// The next draw (recorded on the tape).
    pub(crate) fn draw(&mut self) -> u64 {
        let v = match &mut self.source {
            Source::Seeded(rng) => rng.next_u64(),
            Source::Replay { tape, pos } => {
                let v = tape.get(*pos).copied().unwrap_or(0);
                *pos += 1;
                v
            }
        };
        self.tape.push(v);
        v
    }

    /// Which of the `n` ready tasks (oldest first; `id(i)` is the `i`th one's id) runs at
    /// `step`.
    pub(crate) fn pick(&mut self, n: usize, step: u64, id: &dyn Fn(usize) -> Id) -> usize {
        if n == 1 && self.pct.is_none() {
            // No choice to make: nothing is drawn, which keeps tapes short.
            return 0;
        }
        if self.pct.is_none() {
            return below(self.draw(), n);
        }
        // PCT: priorities are drawn the first time a task is seen, in queue order.
        for i in 0..n {
            let task = id(i);
            if !self
                .pct
                .as_ref()
                .expect("pct")
                .priorities
                .contains_key(&task)
            {
                // Initial priorities lie above every demoted one (`depth` and below).
                let p = (self.draw() >> 1) | (1 << 62);
                self.pct.as_mut().expect("pct").priorities.insert(task, p);
            }
        }
        let pct = self.pct.as_mut().expect("pct");
        let best = (0..n)
            .max_by_key(|&i| (pct.priorities[&id(i)], std::cmp::Reverse(i)))
            .expect("n > 0");
        if pct.change_points.get(pct.next_change) == Some(&step) {
            // Demote the chosen task below all others: the (d - 1 - k)th change point gives
            // priority d - 1 - k, so later demotions rank lower still.
            let rank = (pct.change_points.len() - pct.next_change) as u64;
            pct.priorities.insert(id(best), rank);
            while pct.change_points.get(pct.next_change) == Some(&step) {
                pct.next_change += 1;
            }
            return (0..n)
                .max_by_key(|&i| (pct.priorities[&id(i)], std::cmp::Reverse(i)))
                .expect("n > 0");
        }
        best
    }

    /// Forgets a finished task (PCT keeps a priority per live task).
    pub(crate) fn forget(&mut self, task: Id) {
        if let Some(p) = &mut self.pct {
            p.priorities.remove(&task);
        }
    }

    pub(crate) fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The draws made so far.
    pub(crate) fn tape(&self) -> &[u64] {
        &self.tape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tape_replays_the_draws_of_its_run() {
        let mut a = Explorer::new(7, Strategy::Random, None);
        let draws: Vec<u64> = (0..5).map(|_| a.draw()).collect();
        let mut b = Explorer::new(99, Strategy::Random, Some(a.tape().to_vec()));
        let replayed: Vec<u64> = (0..5).map(|_| b.draw()).collect();
        assert_eq!(draws, replayed);
        assert_eq!(
            b.draw(),
            0,
            "past the tape's end every draw is the plainest choice"
        );
    }

    #[test]
    fn below_maps_zero_to_the_first_choice_and_stays_in_range() {
        assert_eq!(below(0, 5), 0);
        assert_eq!(below(u64::MAX, 5), 4);
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| below(r.next_u64(), 3) < 3));
    }

    #[test]
    fn strategies_parse_from_their_environment_syntax() {
        assert_eq!(Strategy::parse("random"), Ok(Strategy::Random));
        assert_eq!(
            Strategy::parse("pct:d=2"),
            Ok(Strategy::Pct {
                depth: 2,
                steps: 10_000
            })
        );
        assert!(Strategy::parse("pct:q=1").unwrap_err().contains("pct:d=3"));
        assert!(Strategy::parse("fifo").is_err());
    }
}
