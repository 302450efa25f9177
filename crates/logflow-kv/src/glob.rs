//! Glob patterns for clearing cache keys (`metrics:*`): `*` matches any run of bytes, `?` exactly
//! one byte, every other character itself.
//!
//! Redis's `SCAN MATCH` also gives `[...]` and `\` a meaning; [`to_redis`] escapes them so that a
//! pattern selects the same keys in memory and on Redis. Matching is by byte, as Redis does it.

/// Whether `text` matches `pattern`.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: the pattern index after it and the text index it has
    // consumed up to. Backtracking only to the last star is enough: an earlier star could only
    // absorb what the later one can.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi + 1, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `pattern` for `SCAN MATCH`, keeping `*` and `?` and making every other character literal.
pub(crate) fn to_redis(pattern: &str) -> String {
    escape(pattern, b"[]\\")
}

/// `literal` for `SCAN MATCH`, with no character special.
pub(crate) fn escape_redis(literal: &str) -> String {
    escape(literal, b"*?[]\\")
}

fn escape(s: &str, special: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark() {
        assert!(matches("metrics:*", "metrics:overview"));
        assert!(matches("metrics:*", "metrics:"));
        assert!(!matches("metrics:*", "metric:overview"));
        assert!(matches("*", ""));
        assert!(matches("*:service:*", "metrics:service:api"));
        assert!(!matches("*:service:*", "metrics:system"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("a*b*c", "abbbc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(!matches("", "x"));
    }

    #[test]
    fn brackets_and_backslashes_are_literal() {
        assert!(matches("k[1]", "k[1]"));
        assert!(!matches("k[1]", "k1"));
        assert_eq!(to_redis("a[b]\\*?"), "a\\[b\\]\\\\*?");
        assert_eq!(escape_redis("ip:[::1]*?"), "ip:\\[::1\\]\\*\\?");
    }
}
