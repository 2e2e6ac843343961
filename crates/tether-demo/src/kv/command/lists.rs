//! List commands: `LPUSH`, `RPUSH`, `LPOP`, `RPOP` (with a count), `LLEN`, `LRANGE`.

use std::collections::VecDeque;

use super::{arity_error, Ctx, WRONGTYPE};
use crate::kv::resp::{self, parse_int, put_array_header, put_bulk, put_error, put_int, Args};
use crate::kv::store::{Now, Value};

#[derive(Clone, Copy)]
pub(super) enum End {
    Left,
    Right,
}

pub(super) fn push(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let list = match s.get_mut(key, &mut Now::new()) {
            Some(e) => match &mut e.value {
                Value::List(l) => l,
                Value::Str(_) => return put_error(out, WRONGTYPE),
            },
            None => {
                s.insert(key, Value::List(VecDeque::new()));
                match s.get_mut(key, &mut Now::new()).map(|e| &mut e.value) {
                    Some(Value::List(l)) => l,
                    _ => unreachable!("just inserted"),
                }
            }
        };
        for v in args.iter_from(2) {
            match end {
                End::Left => list.push_front(v.to_vec()),
                End::Right => list.push_back(v.to_vec()),
            }
        }
        put_int(out, list.len() as i64);
    });
}

pub(super) fn pop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) {
    if args.len() > 3 {
        arity_error(
            ctx,
            if matches!(end, End::Left) {
                "lpop"
            } else {
                "rpop"
            },
        );
        return;
    }
    let count = if args.len() == 3 {
        // Redis answers a count that is not a non-negative integer with one message.
        match parse_int(args.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.error("ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let list = match s.get_mut(key, &mut Now::new()) {
            None => {
                return out.extend_from_slice(if count.is_some() {
                    resp::NULL_ARRAY
                } else {
                    resp::NULL
                })
            }
            Some(e) => match &mut e.value {
                Value::List(l) => l,
                Value::Str(_) => return put_error(out, WRONGTYPE),
            },
        };
        let take = |l: &mut VecDeque<Vec<u8>>| match end {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        };
        match count {
            None => match take(list) {
                Some(v) => put_bulk(out, &v),
                None => out.extend_from_slice(resp::NULL),
            },
            Some(n) => {
                let n = n.min(list.len());
                put_array_header(out, n);
                for _ in 0..n {
                    if let Some(v) = take(list) {
                        put_bulk(out, &v);
                    }
                }
            }
        }
        if list.is_empty() {
            s.remove(key);
        }
    });
}

pub(super) fn llen(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        match s.get_mut(key, &mut Now::new()).map(|e| &e.value) {
            None => put_int(out, 0),
            Some(Value::List(l)) => put_int(out, l.len() as i64),
            Some(Value::Str(_)) => put_error(out, WRONGTYPE),
        }
    });
}

pub(super) fn lrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let Some(start) = ctx.int_arg(&args, 2) else {
        return;
    };
    let Some(stop) = ctx.int_arg(&args, 3) else {
        return;
    };
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let list = match s.get_mut(key, &mut Now::new()).map(|e| &e.value) {
            None => return out.extend_from_slice(resp::EMPTY_ARRAY),
            Some(Value::List(l)) => l,
            Some(Value::Str(_)) => return put_error(out, WRONGTYPE),
        };
        let len = list.len() as i64;
        let start = if start < 0 {
            (len + start).max(0)
        } else {
            start
        };
        let stop = if stop < 0 {
            len + stop
        } else {
            stop.min(len - 1)
        };
        if start > stop || start >= len {
            return out.extend_from_slice(resp::EMPTY_ARRAY);
        }
        put_array_header(out, (stop - start + 1) as usize);
        for v in list.range(start as usize..=stop as usize) {
            put_bulk(out, v);
        }
    });
}
