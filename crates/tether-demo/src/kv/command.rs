//! The command table: each command's name, arity and handler, and the dispatch that checks
//! them, with Redis's replies and error strings.
//!
//! A handler runs synchronously on the connection's task: it locks the shard(s) it needs
//! (`store`'s rule 1), appends its reply to the connection's output buffer, and returns. Nothing
//! here waits, so a command never holds a lock across an `.await`.
//!
//! Errors are Redis's, word for word, for what clients and tests match on: unknown command,
//! wrong number of arguments, `WRONGTYPE`, not an integer, syntax error, invalid expire time.
//! One deliberate difference: the error for a command not allowed in subscriber mode lists the
//! commands this server allows there (`SUBSCRIBE / UNSUBSCRIBE / PING / QUIT`), not Redis's
//! longer list of pattern and shard commands it does not have.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::pubsub::{PubSub, Subscriptions};
use super::resp::{
    self, parse_int, put_array_header, put_bulk, put_error, put_int, put_simple, Args,
};
use super::store::{Db, Now, Value};
use super::Config;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// What one command runs against, and where its reply goes.
pub struct Ctx<'a> {
    /// The keyspace.
    pub db: &'a Db,
    /// The channels.
    pub pubsub: &'a PubSub,
    /// This connection's subscriptions.
    pub subs: &'a mut Subscriptions,
    /// The server's settings (for `CONFIG GET`).
    pub config: &'a Config,
    /// This connection's id (for `HELLO`).
    pub client_id: u64,
    /// The connection's output buffer.
    pub out: &'a mut Vec<u8>,
    /// Set by `QUIT`: close once the replies are written.
    pub close: bool,
}

impl Ctx<'_> {
    fn error(&mut self, msg: &str) {
        put_error(self.out, msg);
    }

    /// Argument `i` as an integer, or the not-an-integer error.
    fn int_arg(&mut self, args: &Args<'_>, i: usize) -> Option<i64> {
        let v = parse_int(args.get(i));
        if v.is_none() {
            self.error(NOT_INTEGER);
        }
        v
    }
}

/// A command: its name (lower case, as Redis names it in errors), its arity (Redis's
/// convention: `n` exactly `n` arguments counting the name, `-n` at least `n`), whether it is
/// allowed in subscriber mode, and its handler.
struct Command {
    name: &'static str,
    arity: i32,
    in_pubsub: bool,
    run: fn(&mut Ctx<'_>, Args<'_>),
}

const fn cmd(name: &'static str, arity: i32, run: fn(&mut Ctx<'_>, Args<'_>)) -> Command {
    Command {
        name,
        arity,
        in_pubsub: false,
        run,
    }
}

const fn pubsub_cmd(name: &'static str, arity: i32, run: fn(&mut Ctx<'_>, Args<'_>)) -> Command {
    Command {
        name,
        arity,
        in_pubsub: true,
        run,
    }
}

/// Every command, the most frequent first (the lookup is a scan).
static COMMANDS: &[Command] = &[
    cmd("get", 2, get),
    cmd("set", -3, set),
    pubsub_cmd("ping", -1, ping),
    cmd("echo", 2, echo),
    cmd("del", -2, del),
    cmd("exists", -2, exists),
    cmd("incr", 2, |c, a| incr_by(c, a, 1)),
    cmd("decr", 2, |c, a| incr_by(c, a, -1)),
    cmd("incrby", 3, incrby),
    cmd("decrby", 3, decrby),
    cmd("mget", -2, mget),
    cmd("mset", -3, mset),
    cmd("expire", -3, |c, a| expire(c, a, 1000)),
    cmd("pexpire", -3, |c, a| expire(c, a, 1)),
    cmd("ttl", 2, |c, a| ttl(c, a, true)),
    cmd("pttl", 2, |c, a| ttl(c, a, false)),
    cmd("persist", 2, persist),
    cmd("lpush", -3, |c, a| push(c, a, End::Left)),
    cmd("rpush", -3, |c, a| push(c, a, End::Right)),
    cmd("lpop", -2, |c, a| pop(c, a, End::Left)),
    cmd("rpop", -2, |c, a| pop(c, a, End::Right)),
    cmd("llen", 2, llen),
    cmd("lrange", 4, lrange),
    cmd("publish", 3, publish),
    pubsub_cmd("subscribe", -2, subscribe),
    pubsub_cmd("unsubscribe", -1, unsubscribe),
    cmd("dbsize", 1, dbsize),
    cmd("flushall", -1, flushall),
    pubsub_cmd("quit", -1, quit),
    cmd("select", 2, select),
    cmd("config", -2, config),
    cmd("command", -1, command),
    cmd("hello", -1, hello),
];

/// Runs one command (`args[0]` is its name) and appends its reply to `ctx.out`.
pub fn execute(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let name = args.get(0);
    let Some(cmd) = COMMANDS
        .iter()
        .find(|c| c.name.len() == name.len() && c.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        unknown_command(ctx, args);
        return;
    };
    if !arity_ok(cmd.arity, args.len()) {
        arity_error(ctx, cmd.name);
        return;
    }
    if ctx.subs.count() > 0 && !cmd.in_pubsub {
        ctx.error(&format!(
            "ERR Can't execute '{}': only SUBSCRIBE / UNSUBSCRIBE / PING / QUIT are allowed in \
             this context",
            cmd.name
        ));
        return;
    }
    (cmd.run)(ctx, args);
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

fn arity_error(ctx: &mut Ctx<'_>, full_name: &str) {
    ctx.error(&format!(
        "ERR wrong number of arguments for '{full_name}' command"
    ));
}

/// Redis's message: the name and the first arguments, quoted, each followed by a space, up to
/// about 128 characters.
fn unknown_command(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut listed = String::new();
    for a in args.iter_from(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(a);
        let cut: String = text.chars().take(room).collect();
        listed.push('\'');
        listed.push_str(&cut);
        listed.push_str("' ");
    }
    let name: String = String::from_utf8_lossy(args.get(0))
        .chars()
        .take(128)
        .collect();
    ctx.error(&format!(
        "ERR unknown command '{name}', with args beginning with: {listed}"
    ));
}

fn unknown_subcommand(ctx: &mut Ctx<'_>, args: Args<'_>, container: &str) {
    let sub: String = String::from_utf8_lossy(args.get(1))
        .chars()
        .take(128)
        .collect();
    ctx.error(&format!(
        "ERR unknown subcommand '{sub}'. Try {container} HELP."
    ));
}

fn put_help(out: &mut Vec<u8>, lines: &[&str]) {
    put_array_header(out, lines.len());
    for l in lines {
        put_simple(out, l);
    }
}

// ---- connection and server ----

fn ping(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() > 2 {
        arity_error(ctx, "ping");
    } else if ctx.subs.count() > 0 {
        // RESP2 subscriber mode: a message-like array, so a client reading frames can tell it.
        put_array_header(ctx.out, 2);
        put_bulk(ctx.out, b"pong");
        put_bulk(ctx.out, if args.len() == 2 { args.get(1) } else { b"" });
    } else if args.len() == 2 {
        put_bulk(ctx.out, args.get(1));
    } else {
        ctx.out.extend_from_slice(b"+PONG\r\n");
    }
}

fn echo(ctx: &mut Ctx<'_>, args: Args<'_>) {
    put_bulk(ctx.out, args.get(1));
}

fn quit(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    ctx.out.extend_from_slice(resp::OK);
    ctx.close = true;
}

fn select(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.int_arg(&args, 1) {
        Some(0) => ctx.out.extend_from_slice(resp::OK),
        // One database: the others do not exist (CONFIG GET databases says 1).
        Some(_) => ctx.error("ERR DB index is out of range"),
        None => {}
    }
}

fn dbsize(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    let mut n = 0;
    ctx.db.lock_all().for_each(|s| n += s.len());
    put_int(ctx.out, n as i64);
}

fn flushall(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() > 2
        || (args.len() == 2
            && !args.get(1).eq_ignore_ascii_case(b"async")
            && !args.get(1).eq_ignore_ascii_case(b"sync"))
    {
        ctx.error(SYNTAX);
        return;
    }
    ctx.db.lock_all().for_each(|s| s.clear());
    ctx.out.extend_from_slice(resp::OK);
}

/// `CONFIG GET pattern...`: the settings this server has, as (name, value) pairs.
fn config(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"get") {
        if args.len() < 3 {
            arity_error(ctx, "config|get");
            return;
        }
        let settings = ctx.config.settings();
        let matching: Vec<&(&str, String)> = settings
            .iter()
            .filter(|(name, _)| args.iter_from(2).any(|p| glob_match(p, name.as_bytes())))
            .collect();
        put_array_header(ctx.out, matching.len() * 2);
        for (name, value) in matching {
            put_bulk(ctx.out, name.as_bytes());
            put_bulk(ctx.out, value.as_bytes());
        }
    } else if sub.eq_ignore_ascii_case(b"help") && args.len() == 2 {
        put_help(
            ctx.out,
            &[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "HELP",
                "    Print this help.",
            ],
        );
    } else {
        unknown_subcommand(ctx, args, "CONFIG");
    }
}

/// Case-insensitive glob with `*` and `?`, as `CONFIG GET` patterns.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p.eq_ignore_ascii_case(n) => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// `COMMAND`: this server does not describe its commands (`COMMAND` and `COMMAND DOCS` answer
/// an empty array, which `redis-cli` accepts); `COUNT` and `LIST` are answered.
fn command(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() == 1 {
        ctx.out.extend_from_slice(resp::EMPTY_ARRAY);
        return;
    }
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"count") && args.len() == 2 {
        put_int(ctx.out, COMMANDS.len() as i64);
    } else if sub.eq_ignore_ascii_case(b"list") && args.len() == 2 {
        put_array_header(ctx.out, COMMANDS.len());
        for c in COMMANDS {
            put_bulk(ctx.out, c.name.as_bytes());
        }
    } else if sub.eq_ignore_ascii_case(b"docs") {
        ctx.out.extend_from_slice(resp::EMPTY_ARRAY);
    } else if sub.eq_ignore_ascii_case(b"help") && args.len() == 2 {
        put_help(
            ctx.out,
            &[
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return an empty array: this server does not describe its commands.",
                "COUNT",
                "    Return the total number of commands in this server.",
                "LIST",
                "    Return a list of all commands in this server.",
                "DOCS [<command-name> ...]",
                "    Return an empty array: no documentation is served.",
                "HELP",
                "    Print this help.",
            ],
        );
    } else {
        unknown_subcommand(ctx, args, "COMMAND");
    }
}

/// `HELLO [2]`: the RESP2 handshake. RESP3 is not offered: `HELLO 3` gets Redis's `NOPROTO`
/// error, on which clients fall back to RESP2.
fn hello(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() >= 2 {
        match parse_int(args.get(1)) {
            None => {
                ctx.error("ERR Protocol version is not an integer or out of range");
                return;
            }
            Some(2) => {}
            Some(_) => {
                ctx.error("NOPROTO unsupported protocol version");
                return;
            }
        }
        if args.len() > 2 {
            let opt = String::from_utf8_lossy(args.get(2)).into_owned();
            ctx.error(&format!("ERR Syntax error in HELLO option '{opt}'"));
            return;
        }
    }
    put_array_header(ctx.out, 14);
    put_bulk(ctx.out, b"server");
    put_bulk(ctx.out, b"tether-kv");
    // The Redis version whose commands and replies this server follows.
    put_bulk(ctx.out, b"version");
    put_bulk(ctx.out, b"7.0.0");
    put_bulk(ctx.out, b"proto");
    put_int(ctx.out, 2);
    put_bulk(ctx.out, b"id");
    put_int(ctx.out, ctx.client_id as i64);
    put_bulk(ctx.out, b"mode");
    put_bulk(ctx.out, b"standalone");
    put_bulk(ctx.out, b"role");
    put_bulk(ctx.out, b"master");
    put_bulk(ctx.out, b"modules");
    ctx.out.extend_from_slice(resp::EMPTY_ARRAY);
}

// ---- strings ----

fn get(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

fn set(ctx: &mut Ctx<'_>, args: Args<'_>) {
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
            let absolute = match kind {
                SetExpiry::Ex | SetExpiry::Px => unix_ms().checked_add(ms),
                SetExpiry::ExAt | SetExpiry::PxAt => Some(ms),
            };
            match absolute.and_then(deadline_from_unix_ms) {
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

fn incrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if let Some(by) = ctx.int_arg(&args, 2) {
        incr_by(ctx, args, by);
    }
}

fn decrby(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.int_arg(&args, 2) {
        Some(i64::MIN) => ctx.error("ERR decrement would overflow"),
        Some(by) => incr_by(ctx, args, -by),
        None => {}
    }
}

fn incr_by(ctx: &mut Ctx<'_>, args: Args<'_>, by: i64) {
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

fn mget(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

fn mset(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

// ---- keys ----

fn del(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

fn exists(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let mut shards = ctx.db.lock_shards(args.iter_from(1));
    let mut now = Now::new();
    let n = args
        .iter_from(1)
        .filter(|key| shards.shard(key).contains(key, &mut now))
        .count();
    put_int(ctx.out, n as i64);
}

/// `EXPIRE`/`PEXPIRE key time [NX|XX|GT|LT]`; `unit_ms` is 1000 for seconds.
fn expire(ctx: &mut Ctx<'_>, args: Args<'_>, unit_ms: i64) {
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
    let Some(when) = n
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(unix_ms()))
    else {
        ctx.error(&format!("ERR invalid expire time in '{name}' command"));
        return;
    };
    // `None`: already past (the key is deleted).
    let Some(deadline) = deadline_from_unix_ms(when) else {
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

fn ttl(ctx: &mut Ctx<'_>, args: Args<'_>, seconds: bool) {
    let key = args.get(1);
    let out = &mut *ctx.out;
    ctx.db.with_shard(key, |s| {
        let mut now = Now::new();
        let reply = match s.get_mut(key, &mut now).map(|e| e.expires_at()) {
            None => -2,
            Some(None) => -1,
            Some(Some(at)) => {
                let ms = at.duration_since(now.get()).as_millis() as i64;
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

fn persist(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

/// The current Unix time in milliseconds (Redis computes expiry times on it).
fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The runtime-clock deadline of the Unix time `when_ms`: `Some(None)` if it is already past,
/// `None` if it cannot be represented.
fn deadline_from_unix_ms(when_ms: i64) -> Option<Option<tether::time::Instant>> {
    let left = when_ms - unix_ms();
    if left <= 0 {
        return Some(None);
    }
    tether::time::Instant::now()
        .checked_add(Duration::from_millis(left as u64))
        .map(Some)
}

// ---- lists ----

#[derive(Clone, Copy)]
enum End {
    Left,
    Right,
}

fn push(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) {
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

fn pop(ctx: &mut Ctx<'_>, args: Args<'_>, end: End) {
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
        match parse_int(args.get(2)) {
            None => return ctx.error(NOT_INTEGER),
            Some(n) if n < 0 => return ctx.error("ERR value is out of range, must be positive"),
            Some(n) => Some(n as usize),
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

fn llen(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

fn lrange(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

// ---- pub/sub ----

fn publish(ctx: &mut Ctx<'_>, args: Args<'_>) {
    let n = ctx.pubsub.publish(args.get(1), args.get(2));
    put_int(ctx.out, n as i64);
}

fn subscribe(ctx: &mut Ctx<'_>, args: Args<'_>) {
    for channel in args.iter_from(1) {
        ctx.subs.subscribe(channel, ctx.out);
    }
}

fn unsubscribe(ctx: &mut Ctx<'_>, args: Args<'_>) {
    if args.len() == 1 {
        ctx.subs.unsubscribe_all(ctx.out);
    } else {
        for channel in args.iter_from(1) {
            ctx.subs.unsubscribe(channel, ctx.out);
        }
    }
}
