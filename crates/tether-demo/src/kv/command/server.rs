//! Connection and server commands: `PING`, `ECHO`, `QUIT`, `SELECT`, `DBSIZE`, `FLUSHALL`, and
//! what clients ask at start: `CONFIG GET`, `COMMAND`, `HELLO`.

use super::{arity_error, put_help, unknown_subcommand, Ctx, COMMANDS, SYNTAX};
use crate::kv::resp::{self, parse_int, put_array_header, put_bulk, put_int, Args};

pub(super) fn ping(ctx: &mut Ctx<'_>, args: Args<'_>) {
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

pub(super) fn echo(ctx: &mut Ctx<'_>, args: Args<'_>) {
    put_bulk(ctx.out, args.get(1));
}

pub(super) fn quit(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    ctx.out.extend_from_slice(resp::OK);
    ctx.close = true;
}

pub(super) fn select(ctx: &mut Ctx<'_>, args: Args<'_>) {
    match ctx.int_arg(&args, 1) {
        Some(0) => ctx.out.extend_from_slice(resp::OK),
        // One database: the others do not exist (CONFIG GET databases says 1).
        Some(_) => ctx.error("ERR DB index is out of range"),
        None => {}
    }
}

pub(super) fn dbsize(ctx: &mut Ctx<'_>, _args: Args<'_>) {
    let mut n = 0;
    ctx.db.lock_all().for_each(|s| n += s.len());
    put_int(ctx.out, n as i64);
}

pub(super) fn flushall(ctx: &mut Ctx<'_>, args: Args<'_>) {
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
pub(super) fn config(ctx: &mut Ctx<'_>, args: Args<'_>) {
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
pub(super) fn command(ctx: &mut Ctx<'_>, args: Args<'_>) {
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
pub(super) fn hello(ctx: &mut Ctx<'_>, args: Args<'_>) {
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
