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
//!
//! The handlers live by group, one file each: `server.rs` (connection and server commands),
//! `strings.rs`, `keys.rs` (existence and deadlines), `lists.rs`; the three pub/sub commands are
//! at the end of this file.

mod keys;
mod lists;
mod server;
mod strings;

use super::pubsub::{PubSub, Subscriptions};
use super::resp::{parse_int, put_array_header, put_error, put_int, put_simple, Args};
use super::store::Db;
use super::Config;
use lists::End;

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
    cmd("get", 2, strings::get),
    cmd("set", -3, strings::set),
    pubsub_cmd("ping", -1, server::ping),
    cmd("echo", 2, server::echo),
    cmd("del", -2, keys::del),
    cmd("exists", -2, keys::exists),
    cmd("incr", 2, |c, a| strings::incr_by(c, a, 1)),
    cmd("decr", 2, |c, a| strings::incr_by(c, a, -1)),
    cmd("incrby", 3, strings::incrby),
    cmd("decrby", 3, strings::decrby),
    cmd("mget", -2, strings::mget),
    cmd("mset", -3, strings::mset),
    cmd("expire", -3, |c, a| keys::expire(c, a, 1000)),
    cmd("pexpire", -3, |c, a| keys::expire(c, a, 1)),
    cmd("ttl", 2, |c, a| keys::ttl(c, a, true)),
    cmd("pttl", 2, |c, a| keys::ttl(c, a, false)),
    cmd("persist", 2, keys::persist),
    cmd("lpush", -3, |c, a| lists::push(c, a, End::Left)),
    cmd("rpush", -3, |c, a| lists::push(c, a, End::Right)),
    cmd("lpop", -2, |c, a| lists::pop(c, a, End::Left)),
    cmd("rpop", -2, |c, a| lists::pop(c, a, End::Right)),
    cmd("llen", 2, lists::llen),
    cmd("lrange", 4, lists::lrange),
    cmd("publish", 3, publish),
    pubsub_cmd("subscribe", -2, subscribe),
    pubsub_cmd("unsubscribe", -1, unsubscribe),
    cmd("dbsize", 1, server::dbsize),
    cmd("flushall", -1, server::flushall),
    pubsub_cmd("quit", -1, server::quit),
    cmd("select", 2, server::select),
    cmd("config", -2, server::config),
    cmd("command", -1, server::command),
    cmd("hello", -1, server::hello),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kv::resp::{Limits, Parsed, Request};

    /// Runs one inline command against `db`; its reply.
    fn run(db: &Db, line: &str) -> String {
        let pubsub = Arc::new(PubSub::new(1 << 20, Arc::default()));
        let mut subs = Subscriptions::new(pubsub.clone());
        let config = Config::default();
        let buf = format!("{line}\r\n").into_bytes();
        let mut req = Request::new();
        let parsed = req
            .parse(&buf, &Limits::default())
            .expect("a valid command");
        assert!(matches!(parsed, Parsed::Command { .. }), "{line}");
        let mut out = Vec::new();
        let mut ctx = Ctx {
            db,
            pubsub: &pubsub,
            subs: &mut subs,
            config: &config,
            client_id: 1,
            out: &mut out,
            close: false,
        };
        execute(&mut ctx, req.args(&buf));
        String::from_utf8(out).expect("a UTF-8 reply")
    }

    /// A relative expiry is exactly that long on the runtime's clock, however the wall clock
    /// moves: with a wall clock that ticks on every read, each of `EX`, `PX`, `EXPIRE` and
    /// `PEXPIRE` leaves exactly 1,000 ms (the server once read the wall clock twice, to make the
    /// time absolute and back, and lost a millisecond whenever it ticked in between). `PXAT`
    /// reads it (once): its deadline is on the wall clock by definition.
    #[test]
    fn relative_expiries_do_not_depend_on_the_wall_clock() {
        let rt = tether::runtime::Builder::new_current_thread()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            keys::TICKING_WALL.set(Some(1_000_000));
            let db = Db::new(1);
            assert_eq!(run(&db, "SET e v"), "+OK\r\n");
            for cmd in [
                "SET k v PX 1000",
                "SET k v EX 1",
                "PEXPIRE e 1000",
                "EXPIRE e 1",
            ] {
                let key = cmd.split(' ').nth(1).unwrap();
                assert!(
                    matches!(run(&db, cmd).as_str(), "+OK\r\n" | ":1\r\n"),
                    "{cmd}"
                );
                assert_eq!(run(&db, &format!("PTTL {key}")), ":1000\r\n", "after {cmd}");
            }
            // An absolute time: the wall clock read once, at 1,000,004 after the four reads above.
            assert_eq!(run(&db, "SET a v PXAT 1002004"), "+OK\r\n");
            assert_eq!(run(&db, "PTTL a"), ":2000\r\n");
            keys::TICKING_WALL.set(None);
        });
    }
}
