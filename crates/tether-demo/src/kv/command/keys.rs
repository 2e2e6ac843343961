//! Key commands: `DEL`, `EXISTS`, and deadlines: `EXPIRE`, `PEXPIRE`, `TTL`, `PTTL`,
//! `PERSIST`. Deadlines are computed as Redis does, on the Unix time in milliseconds (so the
//! same arguments overflow the same way), then filed on the runtime's clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Ctx;
use crate::kv::resp::{put_int, Args};
use crate::kv::store::Now;

pub(super) fn del(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut shards = ctx.db.lock_shards(args.iter_from(1));
    let mut now = Now::new();
    let mut n = 0;
    for key in args.iter_from(1) {
        let s = shards.shard(key);
        if s.contains(key, &mut now) {
            s.remove(key);
            n += 1;
        }
    }
    put_int(ctx.out, n);
}

pub(super) fn exists(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut shards = ctx.db.lock_shards(args.iter_from(1));
    let mut now = Now::new();
    let n = args
        .iter_from(1)
        .filter(|key| shards.shard(key).contains(key, &mut now))
        .count();
    put_int(ctx.out, n as i64);
}

/// `EXPIRE`/`PEXPIRE key time [NX|XX|GT|LT]`; `unit_ms` is 1000 for seconds.
pub(super) fn expire(ctx: &mut Ctx<'_>, args: Args<'_>, unit_ms: i64) {
    let name = if unit_ms == 1 { "pexpire" } else { "expire" };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args.iter_from(3) {
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("nx") {
            nx = true;
        } else if is("xx") {
            xx = true;
        } else if is("gt") {
            gt = true;
        } else if is("lt") {
            lt = true;
        } else {
            let opt = String::from_utf8_lossy(opt).into_owned();
            ctx.error(&format!("ERR Unsupported option {opt}"));
            return;
        }
    }
    if nx && (xx || gt || lt) {
        ctx.error("ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if gt && lt {
        ctx.error("ERR GT and LT options at the same time are not compatible");
        return;
    }
    let Some(n) = ctx.int_arg(&args, 2) else {
        return;
    };
    // `None`: already past (the key is deleted).
    let Some(deadline) = n.checked_mul(unit_ms).and_then(deadline_in_ms) else {
        ctx.error(&format!("ERR invalid expire time in '{name}' command"));
        return;
    };
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let Some(e) = s.get_mut(key, &mut Now::new()) else {
            return put_int(out, 0);
        };
        let current = e.expires_at();
        let refused = (nx && current.is_some())
            || (xx && current.is_none())
            || (gt && current.is_none_or(|c| deadline.is_none_or(|d| d <= c)))
            || (lt && current.is_some_and(|c| deadline.is_some_and(|d| d >= c)));
        if refused {
            return put_int(out, 0);
        }
        match deadline {
            None => {
                s.remove(key);
            }
            Some(at) => {
                s.set_expiry(key, Some(at));
            }
        }
        put_int(out, 1);
    });
}

/// A key's time to live in whole milliseconds, rounded up, as Redis keeps it: a key set to
/// expire in 10 s reads back 10,000 ms a moment later (not 9,999), and `TTL` then rounds a
/// remaining 1.5 s to 2.
fn remaining_ms(left: std::time::Duration) -> i64 {
    i64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX)
}

pub(super) fn ttl(ctx: &mut Ctx<'_>, args: Args<'_>, seconds: bool) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let mut now = Now::new();
        let reply = match s.get_mut(key, &mut now).map(|e| e.expires_at()) {
            None => -2,
            Some(None) => -1,
            Some(Some(at)) => {
                let ms = remaining_ms(at.duration_since(now.get()));
                if seconds {
                    (ms + 500) / 1000
                } else {
                    ms
                }
            }
        };
        put_int(out, reply);
    });
}

pub(super) fn persist(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let had = s
            .get_mut(key, &mut Now::new())
            .is_some_and(|e| e.expires_at().is_some());
        if had {
            s.set_expiry(key, None);
        }
        put_int(out, i64::from(had));
    });
}

#[cfg(test)]
thread_local! {
    /// A wall clock for tests that moves one millisecond each time it is read (`None`: the
    /// real one).
    pub(super) static TICKING_WALL: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// The current Unix time in milliseconds (Redis computes expiry times on it).
pub(super) fn unix_ms() -> i64 {
    #[cfg(test)]
    if let Some(ms) = TICKING_WALL.get() {
        TICKING_WALL.set(Some(ms + 1));
        return ms;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The runtime-clock deadline of the Unix time `when_ms` (`EXAT`, `PXAT`): `Some(None)` if it
/// is already past, `None` if it cannot be represented.
pub(super) fn deadline_from_unix_ms(when_ms: i64) -> Option<Option<tether::time::Instant>> {
    deadline_in_ms(when_ms - unix_ms())
}

/// The runtime-clock deadline `ms` milliseconds from now (`EX`, `PX`, `EXPIRE`, `PEXPIRE`):
/// `Some(None)` if `ms` is not positive (already past), `None` if it cannot be represented
/// (Redis refuses a deadline whose Unix time overflows, and so does this).
///
/// A relative time never goes through the wall clock: reading it twice (once to make the
/// deadline absolute, once to turn it back) lost a millisecond whenever the wall clock ticked
/// between the reads, and under simulation made a run depend on the real time.
pub(super) fn deadline_in_ms(ms: i64) -> Option<Option<tether::time::Instant>> {
    unix_ms().checked_add(ms)?;
    if ms <= 0 {
        return Some(None);
    }
    tether::time::Instant::now()
        .checked_add(Duration::from_millis(ms as u64))
        .map(Some)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::remaining_ms;

    /// A moment after `SET .. EX 10` the key has 10,000 ms left, as on Redis.
    #[test]
    fn time_left_rounds_up_to_whole_milliseconds() {
        assert_eq!(remaining_ms(Duration::from_nanos(9_999_999_999)), 10_000);
        assert_eq!(remaining_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(remaining_ms(Duration::from_nanos(1)), 1);
        assert_eq!(remaining_ms(Duration::ZERO), 0);
    }
}
