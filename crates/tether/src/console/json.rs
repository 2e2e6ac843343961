//! A small JSON writer for the console's API: objects, arrays, strings with correct escaping,
//! numbers. No serde: the console's JSON is written in one pass into one `String`.
//!
//! The writer tracks whether a comma is due, so callers write keys and values in order and
//! never punctuation. It emits no whitespace and no newline (a Server-Sent Events `data:` line
//! holds a whole document).

use std::fmt::Write as _;

/// Writes one JSON document into a `String`.
pub(crate) struct Json {
    out: String,
    /// Whether the next value in the current object or array needs a comma before it.
    comma: bool,
}

impl Json {
    pub(crate) fn with_capacity(n: usize) -> Json {
        Json {
            out: String::with_capacity(n),
            comma: false,
        }
    }

    /// The text written so far.
    pub(crate) fn into_string(self) -> String {
        self.out
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
        self.comma = true;
    }

    /// Starts an object (as a value).
    pub(crate) fn begin_object(&mut self) -> &mut Json {
        self.sep();
        self.out.push('{');
        self.comma = false;
        self
    }

    pub(crate) fn end_object(&mut self) -> &mut Json {
        self.out.push('}');
        self.comma = true;
        self
    }

    /// Starts an array (as a value).
    pub(crate) fn begin_array(&mut self) -> &mut Json {
        self.sep();
        self.out.push('[');
        self.comma = false;
        self
    }

    pub(crate) fn end_array(&mut self) -> &mut Json {
        self.out.push(']');
        self.comma = true;
        self
    }

    /// Writes a key of the current object; the next call writes its value.
    pub(crate) fn key(&mut self, k: &str) -> &mut Json {
        self.sep();
        write_str(&mut self.out, k);
        self.out.push(':');
        self.comma = false;
        self
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut Json {
        self.sep();
        write_str(&mut self.out, s);
        self
    }

    /// A string, or `null`.
    pub(crate) fn opt_str(&mut self, s: Option<&str>) -> &mut Json {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// Anything `Display` as a string (a source location, for one), without an intermediate
    /// `String` unless it needs escaping.
    pub(crate) fn display(&mut self, v: impl std::fmt::Display) -> &mut Json {
        self.sep();
        let start = self.out.len();
        let _ = write!(self.out, "{v}");
        if self.out[start..].bytes().any(needs_escape) {
            let raw = self.out.split_off(start);
            write_str(&mut self.out, &raw);
        } else {
            self.out.insert(start, '"');
            self.out.push('"');
        }
        self
    }

    pub(crate) fn u64(&mut self, n: u64) -> &mut Json {
        self.sep();
        let _ = write!(self.out, "{n}");
        self
    }

    /// A number, or `null`.
    pub(crate) fn opt_u64(&mut self, n: Option<u64>) -> &mut Json {
        match n {
            Some(n) => self.u64(n),
            None => self.null(),
        }
    }

    /// A finite number with at most 4 decimals (non-finite values are written as 0, which JSON
    /// cannot otherwise hold).
    pub(crate) fn f64(&mut self, x: f64) -> &mut Json {
        self.sep();
        let x = if x.is_finite() { x } else { 0.0 };
        let _ = write!(self.out, "{}", (x * 1e4).round() / 1e4);
        self
    }

    pub(crate) fn bool(&mut self, b: bool) -> &mut Json {
        self.sep();
        self.out.push_str(if b { "true" } else { "false" });
        self
    }

    pub(crate) fn null(&mut self) -> &mut Json {
        self.sep();
        self.out.push_str("null");
        self
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Writes `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, ... or
/// `\u00XX`. Everything else (any Unicode) is written as is, which JSON allows.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é"#.to_string() + "\u{2028}\"");
    }

    #[test]
    fn commas_are_placed() {
        let mut j = Json::with_capacity(64);
        j.begin_object();
        j.key("a").u64(1);
        j.key("b").begin_array();
        j.u64(2).str("x").null().begin_object().end_object();
        j.end_array();
        j.key("c").display(format_args!("src/{}.rs:1", "q\""));
        j.key("d").f64(0.123_456).key("e").f64(f64::NAN);
        j.end_object();
        assert_eq!(
            j.into_string(),
            r#"{"a":1,"b":[2,"x",null,{}],"c":"src/q\".rs:1","d":0.1235,"e":0}"#
        );
    }
}
