//! Allocation-free writers for the NDJSON fast path: JSON strings, hex/base32 ids, numbers and
//! RFC 3339 timestamps, all appended to a caller-owned `String`.
//!
//! `serde_json` would be simpler but builds a `Value` tree per log; for `logflow bench` we need
//! hundreds of thousands of logs per second on one core, so the hot path writes bytes directly.

use chrono::{DateTime, Utc};
use std::fmt::Write;

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Crockford base32 (the ULID alphabet: no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Append `s` as a quoted JSON string.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_inner(out, s);
    out.push('"');
}

/// Append the JSON-escaped body of `s` (no quotes). Generated values almost never need escaping,
/// so the common case is one scan plus one `push_str`.
pub fn push_json_inner(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Append the low `digits` nibbles of `v` as lowercase hex (W3C trace/span id style).
pub fn push_hex(out: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize] as char);
    }
}

/// Append `chars` Crockford base32 characters of `v`, most significant first.
pub fn push_base32(out: &mut String, v: u128, chars: u32) {
    for i in (0..chars).rev() {
        out.push(CROCKFORD[((v >> (i * 5)) & 0x1f) as usize] as char);
    }
}

/// Append an unsigned integer without going through `core::fmt` (measurably faster in the
/// hot loop, and this is called several times per log).
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Append `v` zero-padded to `width` digits (for seconds and fractions).
fn push_padded(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut x = v;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.push_str(std::str::from_utf8(&buf[..width]).unwrap_or("0"));
}

/// Append `cents / 100` as a decimal with two places (`49.90`).
pub fn push_cents(out: &mut String, cents: u64) {
    push_u64(out, cents / 100);
    out.push('.');
    push_padded(out, cents % 100, 2);
}

/// Formats timestamps as `2025-10-24T08:30:00.123456Z` (the format LogFlow itself writes).
///
/// Calendar maths is the expensive part of formatting a date, and consecutive logs almost always
/// share the same minute, so the `YYYY-MM-DDTHH:MM:` prefix is cached per minute.
#[derive(Debug, Default)]
pub struct TsFormatter {
    minute: i64,
    prefix: String,
}

impl TsFormatter {
    pub fn push(&mut self, out: &mut String, micros: i64) {
        let minute = micros.div_euclid(60_000_000);
        if self.prefix.is_empty() || minute != self.minute {
            self.minute = minute;
            self.prefix.clear();
            let dt = DateTime::<Utc>::from_timestamp(minute * 60, 0).unwrap_or_default();
            let _ = write!(self.prefix, "{}", dt.format("%Y-%m-%dT%H:%M:"));
        }
        let in_minute = micros.rem_euclid(60_000_000) as u64;
        out.push_str(&self.prefix);
        push_padded(out, in_minute / 1_000_000, 2);
        out.push('.');
        push_padded(out, in_minute % 1_000_000, 6);
        out.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;

    #[test]
    fn timestamps_match_chrono() {
        let mut f = TsFormatter::default();
        for micros in [0i64, 1_761_294_600_123_456, 1_761_294_659_999_999, 1_761_294_660_000_001] {
            let mut s = String::new();
            f.push(&mut s, micros);
            let want =
                DateTime::<Utc>::from_timestamp_micros(micros).unwrap().to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn json_escaping_and_numbers() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
        s.clear();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_cents(&mut s, 4905);
        s.push(' ');
        push_hex(&mut s, 0xabc, 6);
        assert_eq!(s, "0 18446744073709551615 49.05 000abc");
    }
}
