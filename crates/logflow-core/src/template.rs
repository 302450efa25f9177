//! Message templates: a log message with its variable parts replaced by placeholders, so that
//! messages differing only in ids, numbers or quoted values group together (the "top error
//! messages" of the metrics endpoints).
//!
//! | in the message | becomes |
//! |---|---|
//! | integers, decimals, `-3`, `1e-5`, `0x1f`, `95%`, durations and sizes (`250ms`, `1m30s`, `10MB`) | `<num>` |
//! | UUIDs, ULIDs, hex ids (6+ hex digits mixing letters and digits), other words mixing letters and digits (5+ chars) | `<id>` |
//! | IPv4 (`10.0.0.1`, `10.0.0.1:8080`, `10.0.0.0/8`), IPv6 (`fe80::1`, `[::1]:443`) | `<ip>` |
//! | e-mail addresses | `<email>` |
//! | RFC 3339 timestamps and dates (`2025-10-24T08:30:00Z`) | `<ts>` |
//! | `'quoted'` and `"quoted"` values | `<str>` |
//! | values of `key=value` pairs and of URL query parameters | the value's kind, else `<val>` |
//!
//! Words stay as they are, and so does their case. A word ending in digits keeps its letters
//! (`worker7` -> `worker<num>`); separators inside a token stay, so paths keep their shape
//! (`/api/users/42/orders` -> `/api/users/<num>/orders`), as do `host:port` (`db:<num>`) and
//! `order-42` (`order-<num>`). Placeholders of one kind joined by `.`, `-`, `:`, `_` or `,` fold into
//! one (`1.2.3` and `1,2,3` -> `<num>`), so lists and versions of any length group together. Runs of
//! whitespace become one space. A JSON key (`"user":`) stays, its value does not.
//!
//! It runs at ingest on every record: one pass over the message, no regular expressions, one
//! allocation, and the output is at most [`MAX_TEMPLATE_LEN`] bytes (a longer template is cut and
//! ends with `…`).

/// Upper bound of a template's length in bytes.
pub const MAX_TEMPLATE_LEN: usize = 200;

const NUM: &str = "<num>";
const ID: &str = "<id>";
const IP: &str = "<ip>";
const EMAIL: &str = "<email>";
const TS: &str = "<ts>";
const STR: &str = "<str>";
const VAL: &str = "<val>";

/// Marks a template cut at [`MAX_TEMPLATE_LEN`].
const ELLIPSIS: char = '…';

/// Unit suffixes that keep a number a number (`250ms`, `10MB`, `3x`, `2nd`); case-insensitive.
const UNITS: &[&str] = &[
    "ns", "us", "µs", "ms", "s", "sec", "secs", "m", "min", "mins", "h", "hr", "hrs", "d", "w", "b", "k", "kb", "mb",
    "gb", "tb", "pb", "kib", "mib", "gib", "tib", "g", "x", "st", "nd", "rd", "th",
];

/// The template of `message` (see the module docs for the rules).
///
/// ```
/// use logflow_core::template::message_template;
/// assert_eq!(
///     message_template("payment 8f3a9c2b1d failed after 250ms for user 'alice'"),
///     "payment <id> failed after <num> for user <str>",
/// );
/// assert_eq!(message_template("GET /api/users/42/orders from 10.0.0.7:51234"), "GET /api/users/<num>/orders from <ip>");
/// ```
pub fn message_template(message: &str) -> String {
    let mut t = Templater { out: String::with_capacity(message.len().min(MAX_TEMPLATE_LEN) + 8) };
    t.message(message);
    t.finish()
}

struct Templater {
    out: String,
}

impl Templater {
    fn message(&mut self, msg: &str) {
        let b = msg.as_bytes();
        let mut i = 0;
        let mut space = false;
        // Stops once the output is over the limit: the rest would be cut anyway.
        while i < b.len() && self.out.len() <= MAX_TEMPLATE_LEN {
            let c = b[i];
            if c.is_ascii_whitespace() {
                space = !self.out.is_empty();
                i += 1;
                continue;
            }
            if std::mem::take(&mut space) {
                self.out.push(' ');
            }
            if is_quote_opener(b, i) {
                if let Some(end) = closing_quote(b, i) {
                    self.quoted(&msg[i + 1..end], &msg[i..=end], b.get(end + 1) == Some(&b':'));
                    i = end + 1;
                    continue;
                }
            }
            if c == b',' || c == b';' {
                self.out.push(c as char);
                i += 1;
                continue;
            }
            // A token runs to the next delimiter; delimiters are ASCII, so slicing stays on char
            // boundaries even when the token holds multi-byte characters.
            let start = i;
            i += 1;
            while i < b.len() && !ends_token(b, i) {
                i += 1;
            }
            self.token(&msg[start..i]);
        }
    }

    fn finish(mut self) -> String {
        if self.out.len() > MAX_TEMPLATE_LEN {
            let mut cut = MAX_TEMPLATE_LEN - ELLIPSIS.len_utf8();
            while !self.out.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.truncate(cut);
            self.out.push(ELLIPSIS);
        }
        self.out
    }

    /// A quoted value; kept only when it is a JSON-style key (`"user":`).
    fn quoted(&mut self, inner: &str, whole: &str, before_colon: bool) {
        if before_colon && is_key(inner) {
            self.out.push_str(whole);
        } else {
            self.placeholder(STR);
        }
    }

    /// A token without whitespace: brackets and trailing punctuation stay around its core.
    fn token(&mut self, tok: &str) {
        let mut lead = tok.len() - tok.trim_start_matches(['(', '[', '{', '<']).len();
        if lead > 0 && tok.as_bytes()[lead - 1] == b'[' && tok[lead..].contains("]:") {
            lead -= 1; // `[::1]:443`: the bracket belongs to the address
        }
        let (lead, core) = tok.split_at(lead);
        self.out.push_str(lead);
        let trimmed = core.trim_end_matches(['.', ':', '!', '?', ')', ']', '}', '>', '\'', '"']);
        if !trimmed.is_empty() {
            self.core(trimmed);
        }
        self.out.push_str(&core[trimmed.len()..]);
    }

    fn core(&mut self, c: &str) {
        let shape = Shape::of(c);
        if shape.has(b':') {
            if let Some((scheme, rest)) = c.split_once("://") {
                if is_scheme(scheme) {
                    return self.url(scheme, rest);
                }
            }
        }
        if c.starts_with('/') {
            return self.path(c);
        }
        if shape.has(b'=') {
            if let Some((key, value)) = key_value(c) {
                self.out.push_str(key);
                self.out.push('=');
                // An empty value is followed by a quoted one, which becomes `<str>` on its own.
                if !value.is_empty() {
                    self.placeholder(kind_of(value, &Shape::of(value)).unwrap_or(VAL));
                }
                return;
            }
        }
        if shape.digits == 0 && !shape.has(b'@') {
            // The common case, plain words: nothing in them can be a value.
            return self.out.push_str(c);
        }
        match kind_of(c, &shape) {
            Some(kind) => self.placeholder(kind),
            None => self.parts(c),
        }
    }

    /// Scheme and host stay, the port and the path go through [`Templater::parts`], query values
    /// become `<val>` (see [`Templater::path`]). Credentials in the authority are dropped.
    fn url(&mut self, scheme: &str, rest: &str) {
        self.out.push_str(scheme);
        self.out.push_str("://");
        let (auth, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let host = auth.rsplit_once('@').map_or(auth, |(_, host)| host);
        if is_ip(host) {
            self.placeholder(IP);
        } else {
            self.parts(host);
        }
        self.path(tail);
    }

    /// A URL path with its optional query and fragment.
    fn path(&mut self, path: &str) {
        let (path, fragment) = path.split_once('#').map_or((path, None), |(p, f)| (p, Some(f)));
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        self.parts(path);
        if let Some(query) = query {
            self.out.push('?');
            for (n, pair) in query.split('&').enumerate() {
                if n > 0 {
                    self.out.push('&');
                }
                if let Some((key, _)) = pair.split_once('=') {
                    self.out.push_str(key);
                    self.out.push('=');
                }
                self.out.push_str(VAL);
            }
        }
        if let Some(fragment) = fragment {
            self.out.push('#');
            self.parts(fragment);
        }
    }

    /// Words (runs of letters, digits and non-ASCII characters) one by one; separators stay.
    fn parts(&mut self, s: &str) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if is_word_byte(b[i]) {
                let start = i;
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                self.word(&s[start..i]);
            } else {
                self.out.push(b[i] as char); // not a word byte, so ASCII
                i += 1;
            }
        }
    }

    fn word(&mut self, w: &str) {
        match classify_word(w) {
            Word::Literal => self.out.push_str(w),
            Word::Variable(kind) => self.placeholder(kind),
            Word::Numbered(letters) => {
                self.out.push_str(&w[..letters]);
                self.placeholder(NUM);
            }
        }
    }

    /// Append a placeholder, folding it into the same one just before it (directly or across one
    /// separator), so `1.2.3`, `a1b2c3d4-0011` and `1,2,3` each leave one placeholder.
    fn placeholder(&mut self, kind: &'static str) {
        if self.out.ends_with(kind) {
            return;
        }
        if let Some(before) = self.out.strip_suffix(['.', '-', ':', '_', ',']) {
            if before.ends_with(kind) {
                self.out.pop();
                return;
            }
        }
        self.out.push_str(kind);
    }
}

/// What a word (no separators inside) is.
enum Word {
    Literal,
    Variable(&'static str),
    /// Letters followed by digits: the letters (this many bytes) stay, the number goes.
    Numbered(usize),
}

fn classify_word(w: &str) -> Word {
    let b = w.as_bytes();
    let digits = b.iter().filter(|x| x.is_ascii_digit()).count();
    if digits == 0 {
        return Word::Literal;
    }
    if digits == b.len() || is_hex_literal(w) || is_number_with_units(w) {
        return Word::Variable(NUM);
    }
    if b.len() >= 6 && b.iter().all(u8::is_ascii_hexdigit) {
        return Word::Variable(ID);
    }
    let letters = b.iter().take_while(|x| x.is_ascii_alphabetic()).count();
    if letters > 0 && b[letters..].iter().all(u8::is_ascii_digit) {
        return Word::Numbered(letters);
    }
    // Interleaved letters and digits: ids (ULIDs, pod suffixes) when long enough; short ones
    // (`k8s`, `2fa`, `5xx`) are names more often than values.
    if b.len() >= 5 {
        Word::Variable(ID)
    } else {
        Word::Literal
    }
}

/// What one pass over a token tells: enough to skip the checks that cannot match.
struct Shape {
    digits: usize,
    /// Bit `b` is set when ASCII punctuation byte `b` occurs.
    punct: u128,
    /// Only letters, digits and non-ASCII characters.
    one_word: bool,
}

impl Shape {
    fn of(s: &str) -> Shape {
        let mut shape = Shape { digits: 0, punct: 0, one_word: true };
        for b in s.bytes() {
            if b.is_ascii_digit() {
                shape.digits += 1;
            } else if !is_word_byte(b) {
                shape.punct |= 1 << b;
                shape.one_word = false;
            }
        }
        shape
    }

    fn has(&self, b: u8) -> bool {
        self.punct & (1 << b) != 0
    }
}

/// The placeholder for a whole token that is one value, if it is one.
fn kind_of(s: &str, shape: &Shape) -> Option<&'static str> {
    if shape.has(b'@') {
        return is_email(s).then_some(EMAIL);
    }
    if shape.digits == 0 {
        return None;
    }
    if shape.one_word {
        return match classify_word(s) {
            Word::Variable(kind) => Some(kind),
            Word::Literal | Word::Numbered(_) => None,
        };
    }
    if is_number(s) {
        Some(NUM)
    } else if shape.has(b'-') && is_timestamp(s) {
        Some(TS)
    } else if is_uuid(s) {
        Some(ID)
    } else if (shape.has(b'.') || shape.has(b':')) && is_ip(s) {
        Some(IP)
    } else {
        None
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// A quote opens a quoted value unless it follows a letter or digit (`can't`, `users'`).
fn is_quote_opener(b: &[u8], i: usize) -> bool {
    matches!(b[i], b'"' | b'\'') && (i == 0 || !is_word_byte(b[i - 1]))
}

/// The matching quote: the next unescaped one not followed by a letter or digit (so the
/// apostrophe of `'can't connect'` does not close it).
fn closing_quote(b: &[u8], open: usize) -> Option<usize> {
    let quote = b[open];
    let mut j = open + 1;
    while let Some(k) = memchr::memchr2(quote, b'\\', &b[j..]) {
        let at = j + k;
        if b[at] == b'\\' {
            j = at + 2;
        } else if b.get(at + 1).is_none_or(|&next| !is_word_byte(next)) {
            return Some(at);
        } else {
            j = at + 1;
        }
        if j >= b.len() {
            break;
        }
    }
    None
}

fn ends_token(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_whitespace() || b[i] == b',' || b[i] == b';' || is_quote_opener(b, i)
}

/// A JSON-style key worth keeping: short, identifier-like.
fn is_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn is_scheme(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `key=value` with an identifier-like key (`user_id=42`, `db.host=x`); not `==` or `=>`.
fn key_value(s: &str) -> Option<(&str, &str)> {
    let (key, value) = s.split_once('=')?;
    let key_ok = key.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    (key_ok && !value.starts_with(['=', '>'])).then_some((key, value))
}

fn is_unit(s: &str) -> bool {
    UNITS.iter().any(|u| u.eq_ignore_ascii_case(s))
}

/// `-3`, `+4.5`, `.5`, `1e-5`, `95%`, `2.5GB`.
fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let skip_digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = skip_digits(i);
    let mut digits = int_end - i;
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = skip_digits(i + 1);
        digits += frac_end - i - 1;
        i = frac_end;
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'-' | b'+')));
        let exp_end = skip_digits(i + 1 + sign);
        if exp_end > i + 1 + sign {
            i = exp_end;
        }
    }
    let rest = &s[i..];
    rest.is_empty() || rest == "%" || is_unit(rest)
}

/// `0x1f`.
fn is_hex_literal(w: &str) -> bool {
    w.strip_prefix("0x")
        .or_else(|| w.strip_prefix("0X"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Numbers with unit suffixes, possibly chained like a Go duration: `250ms`, `1h30m`, `1m30`.
fn is_number_with_units(w: &str) -> bool {
    let b = w.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        let unit_start = i;
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i > unit_start && !is_unit(&w[unit_start..i]) {
            return false;
        }
    }
    true
}

/// A date `YYYY-MM-DD`, optionally followed by a time and offset (`T08:30:00.123+02:00`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    b.len() >= 10
        && [0, 1, 2, 3, 5, 6, 8, 9].into_iter().all(digit_at)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10..]
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'T' | b't' | b'Z' | b'z' | b':' | b'.' | b'+' | b'-'))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// IPv4 with an optional `:port` or `/prefix`; IPv6, bracketed with an optional port.
fn is_ip(s: &str) -> bool {
    if let Some((addr, rest)) = s.strip_prefix('[').unwrap_or(s).split_once(']') {
        return is_ipv6(addr) && (rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port));
    }
    if is_ipv6(s) {
        return true;
    }
    match s.find([':', '/']) {
        Some(k) => is_ipv4(&s[..k]) && is_port(&s[k + 1..]),
        None => is_ipv4(s),
    }
}

fn is_port(s: &str) -> bool {
    (1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_ipv4(s: &str) -> bool {
    let mut octets = 0;
    for part in s.split('.') {
        octets += 1;
        if part.is_empty()
            || part.len() > 3
            || !part.bytes().all(|b| b.is_ascii_digit())
            || part.parse::<u16>().is_ok_and(|n| n > 255)
        {
            return false;
        }
    }
    octets == 4
}

/// Full (eight groups) or compressed (`::`) IPv6, possibly ending in an IPv4 (`::ffff:1.2.3.4`).
/// Requires a digit, so `a::b`-like words are not addresses; `12:30:45` is neither form.
fn is_ipv6(s: &str) -> bool {
    let groups = s.split(':').count();
    if !(s.contains("::") || groups == 8) || groups > 8 || !s.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let last = s.rsplit(':').next().unwrap_or_default();
    let head = &s[..s.len() - last.len()];
    let hex_group = |g: &str| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit());
    head.split(':').all(hex_group) && (hex_group(last) || is_ipv4(last))
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-'))
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        message_template(s)
    }

    #[track_caller]
    fn same(a: &str, b: &str, want: &str) {
        assert_eq!(t(a), want, "template of {a:?}");
        assert_eq!(t(b), want, "template of {b:?}");
    }

    #[track_caller]
    fn differ(a: &str, b: &str) {
        assert_ne!(t(a), t(b), "{a:?} and {b:?} must not share a template");
    }

    #[test]
    fn numbers_of_every_shape() {
        let cases = [
            ("retry 3 of 5", "retry <num> of <num>"),
            ("balance -42.50 after 1e-5 fee", "balance <num> after <num> fee"),
            ("pointer 0x7ffd5e8c is null", "pointer <num> is null"),
            ("disk 95% full", "disk <num> full"),
            ("took 250ms, 1.5s, 1m30s and 2h", "took <num>, <num>, <num> and <num>"),
            ("heap 512MB of 2GiB, 10k objects, 3x slower", "heap <num> of <num>, <num> objects, <num> slower"),
            ("ids 1,2,3 and 4, 5", "ids <num> and <num>, <num>"),
            ("version 1.2.3 and v2.0.1", "version <num> and v<num>"),
            ("worker7 and worker-12 and shard_3", "worker<num> and worker-<num> and shard_<num>"),
            ("the 2nd attempt", "the <num> attempt"),
        ];
        for (msg, want) in cases {
            assert_eq!(t(msg), want, "{msg}");
        }
    }

    #[test]
    fn ids() {
        let cases = [
            ("request 550e8400-e29b-41d4-a716-446655440000 failed", "request <id> failed"),
            ("log 01JAB3C4D5E6F7G8H9JKMNPQRS stored", "log <id> stored"),
            ("cache miss deadbeef1234", "cache miss <id>"),
            ("commit 3f2a9c1 reverted", "commit <id> reverted"),
            ("trace=4bf92f3577b34da6a3ce929d0e0e4736 done", "trace=<id> done"),
            ("pod api-7d9f8b6c5-x2k4p restarted", "pod api-<id> restarted"),
            ("order ord-8f3a9c2b1d shipped", "order ord-<id> shipped"),
        ];
        for (msg, want) in cases {
            assert_eq!(t(msg), want, "{msg}");
        }
    }

    #[test]
    fn network_values() {
        let cases = [
            ("from 10.0.0.1", "from <ip>"),
            ("connect 192.168.1.20:5432 refused", "connect <ip> refused"),
            ("allow 10.0.0.0/8", "allow <ip>"),
            ("peer [::1]:8443 reset", "peer <ip> reset"),
            ("peer fe80::1ff:fe23:4567:890a up", "peer <ip> up"),
            ("peer 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up", "peer <ip> up"),
            ("mapped ::ffff:10.1.2.3 ok", "mapped <ip> ok"),
            ("db db.internal:5432 down", "db db.internal:<num> down"),
            ("mail to bob.smith+tag@mail.example.co.uk bounced", "mail to <email> bounced"),
            ("reply to <alice@example.com>", "reply to <<email>>"),
            ("at 12:30:45 exactly", "at <num> exactly"),
        ];
        for (msg, want) in cases {
            assert_eq!(t(msg), want, "{msg}");
        }
    }

    #[test]
    fn urls_keep_shape_and_drop_query_values() {
        assert_eq!(
            t("GET https://api.example.com:8443/v1/users/42/orders?page=2&sort=asc&debug failed"),
            "GET https://api.example.com:<num>/v<num>/users/<num>/orders?page=<val>&sort=<val>&<val> failed"
        );
        assert_eq!(t("call http://user:secret@10.0.0.5:80/health#top ok"), "call http://<ip>/health#top ok");
        assert_eq!(t("GET /api/users/42/orders/7 returned 404."), "GET /api/users/<num>/orders/<num> returned <num>.");
        assert_eq!(t("open /var/log/app.log failed"), "open /var/log/app.log failed");
    }

    #[test]
    fn quoted_and_key_values() {
        let cases = [
            ("user 'alice' not found", "user <str> not found"),
            (r#"invalid value "a b c" for field "x""#, "invalid value <str> for field <str>"),
            (r#"bad input "say \"hi\"" rejected"#, "bad input <str> rejected"),
            ("can't open 'it's here' now", "can't open <str> now"),
            ("the users' sessions expired", "the users' sessions expired"),
            ("attempt=3 delay=1.5s status=failed host=10.0.0.1", "attempt=<num> delay=<num> status=<val> host=<ip>"),
            ("user=\"bob smith\" role='admin'", "user=<str> role=<str>"),
            ("a=1,b=x;c=2", "a=<num>,b=<val>;c=<num>"),
            ("check x == y and a => b", "check x == y and a => b"),
            (
                r#"payload {"user":"bob","id":42,"tags":["a","b"]}"#,
                r#"payload {"user":<str>,"id":<num>,"tags":[<str>]}"#,
            ),
            ("unterminated 'quote here", "unterminated 'quote here"),
            ("at 2025-10-24T08:30:00.123456Z and 2024-01-01", "at <ts> and <ts>"),
        ];
        for (msg, want) in cases {
            assert_eq!(t(msg), want, "{msg}");
        }
    }

    #[test]
    fn messages_differing_only_in_values_share_a_template() {
        same(
            "User 12345 logged in from 10.0.0.1",
            "User 7 logged in from 192.168.100.254",
            "User <num> logged in from <ip>",
        );
        same(
            "Payment failed for order ord-8f3a9c2b1d: timeout after 250ms",
            "Payment failed for order ord-0a1b2c3d4e5f: timeout after 3.5s",
            "Payment failed for order ord-<id>: timeout after <num>",
        );
        same(
            "Request 550e8400-e29b-41d4-a716-446655440000 from user 'alice' failed",
            "Request 123e4567-e89b-12d3-a456-426614174000 from user 'bob smith' failed",
            "Request <id> from user <str> failed",
        );
        same(
            "GET /api/v1/orders/42?expand=items&page=1 returned 500",
            "GET /api/v1/orders/977?expand=customer&page=12 returned 503",
            "GET /api/v<num>/orders/<num>?expand=<val>&page=<val> returned <num>",
        );
        same(
            "db query took 1520ms rows=42 table=orders",
            "db query took 3s rows=0 table=users",
            "db query took <num> rows=<num> table=<val>",
        );
        same(
            "Connection to  db-1:5432\trefused\n",
            "Connection to db-1:6543 refused",
            "Connection to db-<num> refused",
        );
        same("ids [1, 2, 3]", "ids [4, 5, 6]", "ids [<num>, <num>, <num>]");
        same("notify alice@example.com", "notify bob@corp.io", "notify <email>");
        same("job 01JAB3C4D5E6F7G8H9JKMNPQRS done", "job 01JAB3D9ZZ00000000000000AB done", "job <id> done");
    }

    #[test]
    fn messages_differing_in_words_do_not() {
        differ("Payment failed", "Payment succeeded");
        differ("connection refused", "connection reset");
        differ("GET /api/users/42", "POST /api/users/42");
        differ("GET /api/users/42", "GET /api/orders/42");
        differ("status=failed", "state=failed");
        differ("timeout after 5s", "timeout before 5s");
        differ("cache deadbeef", "cache cafebabe"); // hex-looking words without digits stay words
        differ("user 'alice' not found", "user alice not found");
        differ("https://a.example.com/x", "https://b.example.com/x");
        differ("Connection refused", "connection refused"); // case is kept
    }

    #[test]
    fn output_is_bounded_and_valid_utf8() {
        assert_eq!(t(""), "");
        assert_eq!(t(" \n\t "), "");
        let long = "word ".repeat(500);
        let got = t(&long);
        assert!(got.len() <= MAX_TEMPLATE_LEN, "{}", got.len());
        assert!(got.ends_with(ELLIPSIS));
        // Multi-byte characters across the cut.
        let wide = "é".repeat(300);
        let got = t(&wide);
        assert!(got.len() <= MAX_TEMPLATE_LEN && got.ends_with(ELLIPSIS));
        assert!(got.starts_with("éé"));
        // A message whose template fits exactly is not cut.
        let exact = "a".repeat(MAX_TEMPLATE_LEN);
        assert_eq!(t(&exact), exact);
        // Huge quoted values collapse before the limit is reached.
        let quoted = format!("value '{}' rejected", "x".repeat(10_000));
        assert_eq!(t(&quoted), "value <str> rejected");
    }

    #[test]
    fn non_ascii_words_stay() {
        assert_eq!(t("Zahlung für Bestellung 42 fehlgeschlagen"), "Zahlung für Bestellung <num> fehlgeschlagen");
        assert_eq!(t("延迟 250ms 超时"), "延迟 <num> 超时");
    }
}
