//! String commands: `GET`, `SET` (with its options), `INCR`/`INCRBY`/`DECR`/`DECRBY`, `MGET`,
//! `MSET`.

use super::keys::{deadline_from_unix_ms, deadline_in_ms};
use super::{arity_error, Ctx, NOT_INTEGER, OVERFLOW, SYNTAX, WRONGTYPE};
use crate::kv::resp::{self, parse_int, put_array_header, put_bulk, put_error, put_int, Args};
use crate::kv::store::{Now, Value};

pub(super) fn get(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let out = &mut *ctx.out;
    let key = args.get(1);
    ctx.db
        .with_shard(key, |s| match s.get_mut(key, &mut Now::new()) {
            None => out.extend_from_slice(resp::NULL),
            Some(e) => match &e.value {
                Value::Str(v) => put_bulk(out, v),
                Value::List(_) => put_error(out, WRONGTYPE),
            },
        });
}

/// How a `SET` expires its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetExpiry {
    Ex,
    Px,
    ExAt,
    PxAt,
}

pub(super) fn set(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let (key, value) = (args.get(1), args.get(2));
    let (mut nx, mut xx, mut get_old, mut keep_ttl) = (false, false, false, false);
    let mut expiry: Option<(SetExpiry, &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let next = (i + 1 < args.len()).then(|| args.get(i + 1));
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        let kind = expiry.map(|(k, _)| k);
        if is("nx") && !xx {
            nx = true;
        } else if is("xx") && !nx {
            xx = true;
        } else if is("get") {
            get_old = true;
        } else if is("keepttl") && expiry.is_none() {
            keep_ttl = true;
        } else if let (Some(v), false, Some(k)) = (
            next,
            keep_ttl,
            [
                ("ex", SetExpiry::Ex),
                ("px", SetExpiry::Px),
                ("exat", SetExpiry::ExAt),
                ("pxat", SetExpiry::PxAt),
            ]
            .into_iter()
            .find(|(n, _)| is(n))
            .map(|(_, k)| k),
        ) {
            // Redis lets the same unit be repeated (the last wins), not two units.
            if kind.is_some_and(|prev| prev != k) {
                ctx.error(SYNTAX);
                return;
            }
            expiry = Some((k, v));
            i += 1;
        } else {
            ctx.error(SYNTAX);
            return;
        }
        i += 1;
    }
    // The deadline: `None` for none, `Some(None)` for one already past.
    let deadline = match expiry {
        None => None,
        Some((kind, v)) => {
            let Some(n) = parse_int(v) else {
                ctx.error(NOT_INTEGER);
                return;
            };
            let seconds = matches!(kind, SetExpiry::Ex | SetExpiry::ExAt);
            if n <= 0 || (seconds && n > i64::MAX / 1000) {
                ctx.error("ERR invalid expire time in 'set' command");
                return;
            }
            let ms = if seconds { n * 1000 } else { n };
            let deadline = match kind {
                SetExpiry::Ex | SetExpiry::Px => deadline_in_ms(ms),
                SetExpiry::ExAt | SetExpiry::PxAt => deadline_from_unix_ms(ms),
            };
            match deadline {
                Some(d) => Some(d),
                None => {
                    ctx.error("ERR invalid expire time in 'set' command");
                    return;
                }
            }
        }
    };
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let mut now = Now::new();
        let old = s.get_mut(key, &mut now);
        let found = old.is_some();
        if get_old {
            match old.map(|e| &e.value) {
                None => out.extend_from_slice(resp::NULL),
                Some(Value::Str(v)) => put_bulk(out, v),
                Some(Value::List(_)) => {
                    put_error(out, WRONGTYPE);
                    return;
                }
            }
        }
        if (nx && found) || (xx && !found) {
            if !get_old {
                out.extend_from_slice(resp::NULL);
            }
            return;
        }
        s.set_str(key, value, keep_ttl);
        match deadline {
            None => {}
            Some(None) => {
                s.remove(key);
            }
            Some(Some(at)) => {
                s.set_expiry(key, Some(at));
            }
        }
        if !get_old {
            out.extend_from_slice(resp::OK);
        }
    });
}

pub(super) fn incrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some(by) = ctx.int_arg(&args, 2) {
        incr_by(ctx, args, by);
    }
}

pub(super) fn decrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.int_arg(&args, 2) {
        Some(i64::MIN) => ctx.error("ERR decrement would overflow"),
        Some(by) => incr_by(ctx, args, -by),
        None => {}
    }
}

pub(super) fn incr_by(ctx: &mut Ctx<'_>, args: Args<'_>, by: i64) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let current = match s.get_mut(key, &mut Now::new()) {
            None => None,
            Some(e) => match &mut e.value {
                Value::Str(v) => Some(v),
                Value::List(_) => return put_error(out, WRONGTYPE),
            },
        };
        let old = match &current {
            None => 0,
            Some(v) => match parse_int(v) {
                Some(n) => n,
                None => return put_error(out, NOT_INTEGER),
            },
        };
        let Some(new) = old.checked_add(by) else {
            return put_error(out, OVERFLOW);
        };
        match current {
            // In place: the key keeps its deadline, as in Redis.
            Some(v) => {
                v.clear();
                resp::put_decimal(v, new);
            }
            None => {
                let mut digits = Vec::with_capacity(20);
                resp::put_decimal(&mut digits, new);
                s.insert(key, Value::Str(digits));
            }
        }
        put_int(out, new);
    });
}

pub(super) fn mget(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut shards = ctx.db.lock_shards(args.iter_from(1));
    let mut now = Now::new();
    put_array_header(ctx.out, args.len() - 1);
    for key in args.iter_from(1) {
        match shards.shard(key).get_mut(key, &mut now).map(|e| &e.value) {
            Some(Value::Str(v)) => put_bulk(ctx.out, v),
            // A list reads as nil in MGET, as in Redis.
            _ => ctx.out.extend_from_slice(resp::NULL),
        }
    }
}

pub(super) fn mset(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() % 2 == 0 {
        arity_error(ctx, "mset");
        return;
    }
    let mut shards = ctx.db.lock_shards(args.iter_from(1).step_by(2));
    for i in (1..args.len()).step_by(2) {
        let key = args.get(i);
        shards.shard(key).set_str(key, args.get(i + 1), false);
    }
    ctx.out.extend_from_slice(resp::OK);
}
