//! RESP2 framing: the request parser and the reply encoder.
//!
//! # Requests
//!
//! A request is either a *multibulk* (`*<n>\r\n` then `n` bulk strings `$<len>\r\n<bytes>\r\n`,
//! what every client library and `redis-cli` send) or an *inline* command (a line of words,
//! what a person types into `nc` or `telnet`; quoting as Redis's `sdssplitargs`: `"..."` with
//! `\n`, `\r`, `\t`, `\b`, `\a`, `\xHH` escapes, `'...'` with `\'`).
//!
//! [`Request::parse`] works on the connection's read buffer and allocates nothing for a
//! multibulk: the arguments are kept as ranges into the buffer and read back as borrowed slices
//! ([`Args`]). It is incremental: when a command is incomplete it remembers how far it got (the
//! ranges are relative to the command's first byte, so the caller may move the unconsumed bytes
//! to the front of its buffer between calls), and a command that arrives in many reads is parsed
//! once, not once per read. Only inline commands, whose quoting needs unescaping, are copied
//! (into a scratch buffer the request reuses).
//!
//! Limits are checked on the headers, before any byte of the announced size is stored: a bulk
//! longer than [`Limits::max_bulk`] or an array of more than [`Limits::max_args`] elements is a
//! protocol error as soon as its header is read. The messages are Redis's
//! (`Protocol error: invalid bulk length`, ...), so clients report them the same way.
//!
//! Stricter than Redis on one point: the two bytes after a bulk's data must be `\r\n` (Redis
//! skips them unread), so a client that miscounts a length gets an error instead of silently
//! misframed commands.
//!
//! # Replies
//!
//! The `put_*` functions append one RESP2 reply to an output buffer; a connection collects the
//! replies of every command of a read in one buffer and writes it once.

use std::fmt;

/// The longest inline command and the longest `*<n>` or `$<len>` header line, as Redis's
/// `PROTO_INLINE_MAX_SIZE`.
pub const MAX_INLINE: usize = 64 * 1024;

/// Size limits on requests; see [`Limits::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string (one argument) a client may announce, in bytes. Redis's
    /// `proto-max-bulk-len`.
    pub max_bulk: usize,
    /// The most arguments one command may announce.
    pub max_args: usize,
}

impl Default for Limits {
    /// 512 MiB per argument (Redis's default) and 1,048,576 arguments per command (Redis
    /// accepts up to 2^31 - 1; a client that needs more splits its `MSET`).
    fn default() -> Limits {
        Limits {
            max_bulk: 512 * 1024 * 1024,
            max_args: 1024 * 1024,
        }
    }
}

/// A request that breaks the protocol; the connection answers `-ERR Protocol error: ...` and
/// closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(String);

impl ProtocolError {
    fn new(what: impl Into<String>) -> ProtocolError {
        ProtocolError(what.into())
    }

    /// The error as Redis words it, without the `-ERR ` prefix (`Protocol error: ...`).
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// What [`Request::parse`] found at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command of `consumed` bytes; its arguments are in [`Request::args`]. A command
    /// with no argument (an empty line, `*0`) is complete and has no arguments: skip it.
    Command {
        /// How many bytes of the buffer it took.
        consumed: usize,
    },
    /// The command is not complete yet: read more, then call `parse` again on the same bytes
    /// (moved to the front of the buffer or not) followed by the new ones.
    Incomplete,
}

/// How far the parse of an incomplete multibulk got.
#[derive(Debug, Clone, Copy)]
struct Partial {
    /// Bytes of the command parsed so far (headers and complete bulks).
    offset: usize,
    /// Bulks still to come.
    remaining: usize,
}

/// The parser's state for one connection, and the arguments of the last complete command.
#[derive(Debug, Default)]
pub struct Request {
    /// The arguments: byte ranges relative to the command's first byte (multibulk) or into
    /// `scratch` (inline).
    ranges: Vec<(usize, usize)>,
    /// The unescaped words of the last inline command.
    scratch: Vec<u8>,
    inline: bool,
    partial: Option<Partial>,
}

impl Request {
    /// A parser with no command in progress.
    pub fn new() -> Request {
        Request::default()
    }

    /// Parses one command at the front of `buf` (the connection's unconsumed bytes).
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the bytes break the protocol or a header announces more than
    /// `limits` allow. The connection must answer it and close: the stream cannot be
    /// resynchronised.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
        if self.partial.is_none() {
            self.ranges.clear();
            self.inline = false;
            match buf.first() {
                None => return Ok(Parsed::Incomplete),
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some((line, next)) = line_at(buf, 1, "mbulk count")? else {
                return Ok(Parsed::Incomplete);
            };
            let count = match parse_int(line) {
                Some(n) if n <= limits.max_args as i64 => n,
                _ => {
                    return Err(ProtocolError::new(
                        "Protocol error: invalid multibulk length",
                    ))
                }
            };
            if count <= 0 {
                // `*0` and `*-1` are no command at all, as in Redis.
                return Ok(Parsed::Command { consumed: next });
            }
            self.partial = Some(Partial {
                offset: next,
                remaining: count as usize,
            });
        }
        let Some(mut p) = self.partial else {
            unreachable!("a multibulk in progress");
        };
        while p.remaining > 0 {
            match buf.get(p.offset) {
                None => break,
                Some(b'$') => {}
                Some(&c) => {
                    self.partial = None;
                    return Err(ProtocolError::new(format!(
                        "Protocol error: expected '$', got '{}'",
                        char::from(c)
                    )));
                }
            }
            let header = match line_at(buf, p.offset + 1, "bulk count") {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    self.partial = None;
                    return Err(e);
                }
            };
            let (line, data) = header;
            let len = match parse_int(line) {
                Some(n) if n >= 0 && n as u64 <= limits.max_bulk as u64 => n as usize,
                _ => {
                    self.partial = None;
                    return Err(ProtocolError::new("Protocol error: invalid bulk length"));
                }
            };
            let end = data + len;
            if buf.len() < end + 2 {
                break;
            }
            if &buf[end..end + 2] != b"\r\n" {
                self.partial = None;
                return Err(ProtocolError::new(format!(
                    "Protocol error: expected '\\r\\n' after a bulk of {len} bytes"
                )));
            }
            self.ranges.push((data, end));
            p.offset = end + 2;
            p.remaining -= 1;
        }
        if p.remaining == 0 {
            self.partial = None;
            Ok(Parsed::Command { consumed: p.offset })
        } else {
            self.partial = Some(p);
            Ok(Parsed::Incomplete)
        }
    }

    /// An inline command: one line, split into words as Redis does.
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_INLINE {
                return Err(ProtocolError::new("Protocol error: too big inline request"));
            }
            return Ok(Parsed::Incomplete);
        };
        let mut line = &buf[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.inline = true;
        self.scratch.clear();
        if !split_args(line, &mut self.scratch, &mut self.ranges) {
            self.ranges.clear();
            return Err(ProtocolError::new(
                "Protocol error: unbalanced quotes in request",
            ));
        }
        Ok(Parsed::Command { consumed: nl + 1 })
    }

    /// The arguments of the command [`parse`](Self::parse) just completed; `buf` is the same
    /// buffer (starting at the same command) it was given.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        Args {
            base: if self.inline { &self.scratch } else { buf },
            ranges: &self.ranges,
        }
    }

    /// Whether a multibulk is half parsed (bytes of it are waiting in the buffer).
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }
}

/// The arguments of one command (the command's name first), borrowed from the read buffer.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// How many arguments, the name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are none (an empty command, to be skipped).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command's name).
    ///
    /// # Panics
    ///
    /// Panics when `i >= len()`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (a, b) = self.ranges[i];
        &self.base[a..b]
    }

    /// Every argument from `from` on.
    pub fn iter_from(&self, from: usize) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.ranges[from.min(self.ranges.len())..]
            .iter()
            .map(move |&(a, b)| &base[a..b])
    }
}

impl fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter_from(0).map(String::from_utf8_lossy))
            .finish()
    }
}

/// The line that starts at `from` and ends with `\r\n`: `(line, index after the \r\n)`, or
/// `None` if it is not complete yet. `what` names the header in the too-long error.
#[allow(clippy::type_complexity)]
fn line_at<'a>(
    buf: &'a [u8],
    from: usize,
    what: &str,
) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
    let rest = &buf[from.min(buf.len())..];
    match rest.iter().position(|&b| b == b'\r') {
        Some(cr) if cr + 1 < rest.len() => {
            if rest[cr + 1] != b'\n' {
                // A header line has no `\r` inside; what follows must be `\n`.
                return Err(ProtocolError::new(format!(
                    "Protocol error: invalid {}",
                    if what == "bulk count" {
                        "bulk length"
                    } else {
                        "multibulk length"
                    }
                )));
            }
            Ok(Some((&rest[..cr], from + cr + 2)))
        }
        _ if rest.len() > MAX_INLINE => Err(ProtocolError::new(format!(
            "Protocol error: too big {what} string"
        ))),
        _ => Ok(None),
    }
}

/// Parses a decimal `i64` as Redis's `string2ll`: an optional `-`, then digits with no leading
/// zero (`0` alone is fine), nothing else; `None` otherwise or on overflow.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Splits an inline command line as Redis's `sdssplitargs`; the unescaped words go to `out`,
/// their ranges to `ranges`. `false` for unbalanced quotes (or a closing quote followed by
/// something other than a space).
fn split_args(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return true;
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            let next = line.get(i + 1).copied();
            if in_dq {
                match (c, next) {
                    (None, _) => return false,
                    (Some(b'\\'), Some(b'x'))
                        if i + 3 < line.len()
                            && line[i + 2].is_ascii_hexdigit()
                            && line[i + 3].is_ascii_hexdigit() =>
                    {
                        let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                        out.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                        i += 3;
                    }
                    (Some(b'\\'), Some(e)) => {
                        out.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 1;
                    }
                    (Some(b'"'), _) => {
                        if next.is_some_and(|b| !is_space(b)) {
                            return false;
                        }
                        i += 1;
                        break;
                    }
                    (Some(b), _) => out.push(b),
                }
            } else if in_sq {
                match (c, next) {
                    (None, _) => return false,
                    (Some(b'\\'), Some(b'\'')) => {
                        out.push(b'\'');
                        i += 1;
                    }
                    (Some(b'\''), _) => {
                        if next.is_some_and(|b| !is_space(b)) {
                            return false;
                        }
                        i += 1;
                        break;
                    }
                    (Some(b), _) => out.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if is_space(b) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(b) => out.push(b),
                }
            }
            i += 1;
        }
        ranges.push((start, out.len()));
    }
}

/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";
/// The null bulk string, `$-1\r\n` (`(nil)` in `redis-cli`).
pub const NULL: &[u8] = b"$-1\r\n";
/// The null array, `*-1\r\n` (also `(nil)` in `redis-cli`).
pub const NULL_ARRAY: &[u8] = b"*-1\r\n";
/// The empty array, `*0\r\n`.
pub const EMPTY_ARRAY: &[u8] = b"*0\r\n";

/// Appends a simple string reply (`+<s>\r\n`); `s` has no `\r` or `\n`.
pub fn put_simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends an error reply (`-<msg>\r\n`); `msg` starts with its code (`ERR `, `WRONGTYPE `).
/// Line breaks in `msg` become spaces, as Redis does, so the reply stays one line.
pub fn put_error(out: &mut Vec<u8>, msg: &str) {
    out.push(b'-');
    out.extend(
        msg.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Appends an integer reply (`:<n>\r\n`).
pub fn put_int(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    put_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends a bulk string reply (`$<len>\r\n<bytes>\r\n`).
pub fn put_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    put_decimal(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends an array header (`*<n>\r\n`); the `n` elements follow.
pub fn put_array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    put_decimal(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, without allocating.
pub fn put_decimal(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: &Limits) -> Result<Vec<Vec<String>>, ProtocolError> {
        let mut req = Request::new();
        let mut pos = 0;
        let mut cmds = Vec::new();
        loop {
            match req.parse(&input[pos..], limits)? {
                Parsed::Incomplete => return Ok(cmds),
                Parsed::Command { consumed } => {
                    let args = req.args(&input[pos..]);
                    if !args.is_empty() {
                        cmds.push(
                            args.iter_from(0)
                                .map(|a| String::from_utf8_lossy(a).into_owned())
                                .collect(),
                        );
                    }
                    pos += consumed;
                }
            }
        }
    }

    #[test]
    fn multibulk_and_inline_commands_in_one_buffer() {
        let cmds = parse_all(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n*0\r\nSET a \"b c\\x41\" 'd\\'e'\r\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            cmds,
            vec![
                vec!["GET", "k"],
                vec!["PING"],
                vec!["SET", "a", "b cA", "d'e"]
            ]
        );
    }

    #[test]
    fn a_command_split_anywhere_parses_the_same() {
        let whole = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 0..whole.len() {
            let mut req = Request::new();
            let first = req.parse(&whole[..cut], &Limits::default()).unwrap();
            assert_eq!(first, Parsed::Incomplete, "cut at {cut}");
            let Parsed::Command { consumed } = req.parse(whole, &Limits::default()).unwrap() else {
                panic!("complete after the rest arrived (cut at {cut})");
            };
            assert_eq!(consumed, whole.len());
            let args: Vec<&[u8]> = req.args(whole).iter_from(0).collect();
            assert_eq!(args, vec![&b"SET"[..], b"key", b"value"]);
        }
    }

    #[test]
    fn limits_are_checked_on_the_header() {
        let limits = Limits {
            max_bulk: 10,
            max_args: 3,
        };
        let err = |input: &[u8]| parse_all(input, &limits).unwrap_err().0;
        assert_eq!(err(b"*1\r\n$11\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*4\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n$999999999999999999999\r\n"),
            "Protocol error: invalid bulk length"
        );
        assert!(parse_all(b"*1\r\n$10\r\n", &limits).unwrap().is_empty());
    }

    #[test]
    fn protocol_errors_as_redis_words_them() {
        let l = Limits::default();
        let err = |input: &[u8]| parse_all(input, &l).unwrap_err().0;
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\n+foo\r\n"),
            "Protocol error: expected '$', got '+'"
        );
        assert_eq!(err(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$-0\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*01\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"ECHO \"abc\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&[b'x'; MAX_INLINE + 1]),
            "Protocol error: too big inline request"
        );
        let mut long = b"*".to_vec();
        long.extend(std::iter::repeat_n(b'1', MAX_INLINE + 1));
        assert_eq!(err(&long), "Protocol error: too big mbulk count string");
        assert_eq!(
            err(b"*1\r\n$3\r\nabcXY"),
            "Protocol error: expected '\\r\\n' after a bulk of 3 bytes"
        );
    }

    #[test]
    fn integers_parse_as_string2ll() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1.5",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn replies_encode_as_resp2() {
        let mut out = Vec::new();
        put_int(&mut out, i64::MIN);
        put_bulk(&mut out, b"hi");
        put_array_header(&mut out, 2);
        put_error(&mut out, "ERR a\nb");
        put_simple(&mut out, "PONG");
        assert_eq!(
            out,
            b":-9223372036854775808\r\n$2\r\nhi\r\n*2\r\n-ERR a b\r\n+PONG\r\n"
        );
    }
}
