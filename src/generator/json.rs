//! Python `json.dumps` output, byte for byte: `", "`/`": "` separators, `ensure_ascii`
//! string escapes (`"Caff\u00e8"`), floats in Python's shortest round-trip `repr` (`5.7`,
//! `10.0`, `1e-05`), and Python's `round(x, n)`. The original generator's files are written
//! this way, and bronze keeps the raw text, so our files must match it exactly.

use std::fmt::Write;

/// Appends `x` as Python's `repr(float)` (which `json.dumps` uses): the shortest digits that
/// round-trip, always with a `.0` or an exponent, exponent form outside `1e-4 ≤ |x| < 1e16`.
pub fn push_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let magnitude = x.abs();
    if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) {
        let start = out.len();
        // Rust's `Display` for f64 also prints the shortest round-trip digits, never with an
        // exponent; only the `.0` of integral values differs from Python.
        let _ = write!(out, "{x}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
        return;
    }
    // Rust: `1e16`, `1.5e-5`; Python: `1e+16`, `1.5e-05`.
    let formatted = format!("{x:e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exponent),
    };
    out.push_str(mantissa);
    out.push('e');
    out.push(sign);
    if digits.len() < 2 {
        out.push('0');
    }
    out.push_str(digits);
}

/// Python's `round(x, digits)` for the small `digits` the model uses: correctly rounded,
/// ties to even on the exact binary value (Rust's fixed-precision formatting does the same).
pub fn py_round(x: f64, digits: usize) -> f64 {
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// Appends `s` as a JSON string with `ensure_ascii=True` escaping: `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\f`, and `\uXXXX` (lowercase hex, UTF-16 surrogate pairs) for every other
/// byte outside printable ASCII.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (at, ch) in s.char_indices() {
        let escape: Option<&str> = match ch {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            ' '..='~' => continue,
            _ => None,
        };
        out.push_str(&s[plain_from..at]);
        plain_from = at + ch.len_utf8();
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// `s` as a JSON string literal (see [`push_str`]).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(x: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, x);
        s
    }

    #[test]
    fn floats_match_python_repr() {
        // Expected strings are Python 3's repr() of the same values.
        let cases = [
            (5.7, "5.7"),
            (10.0, "10.0"),
            (37.75652885088034, "37.75652885088034"),
            (-122.3573986634699, "-122.3573986634699"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345e20, "1.2345e+20"),
            (9.47, "9.47"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "repr({x:?})");
        }
    }

    #[test]
    fn round_is_half_even_on_exact_values() {
        // Python: round(6.25, 1) == 6.2, round(0.35, 1) == 0.3, round(12.5, 1) == 12.5.
        assert_eq!(py_round(6.25, 1), 6.2);
        assert_eq!(py_round(0.35, 1), 0.3);
        assert_eq!(py_round(12.5, 1), 12.5);
        assert_eq!(py_round(10.449999, 1), 10.4);
    }

    #[test]
    fn strings_are_ensure_ascii() {
        assert_eq!(quoted("Caffè Latte"), r#""Caff\u00e8 Latte""#);
        assert_eq!(quoted("Açaí"), r#""A\u00e7a\u00ed""#);
        assert_eq!(
            quoted("a\"b\\c\n\t\u{1}\u{7f}"),
            r#""a\"b\\c\n\t\u0001\u007f""#
        );
        assert_eq!(quoted("🍣"), r#""\ud83c\udf63""#);
    }
}
