//! Splitting a file into record-sized pieces *before* any JSON parsing, so one malformed record
//! cannot hide the good ones after it: a JSON array into its top-level elements, a stream of
//! (possibly multi-line) JSON objects into values, JSON Lines into lines.
//!
//! The scanners only track strings, escapes and bracket depth; they never validate JSON (each
//! piece is parsed on its own later). Strings are skipped with `memchr2`, since in the
//! original's files most bytes sit inside the string-encoded `body`. Nothing here indexes
//! without a bounds check: input is untrusted.

use memchr::{memchr, memchr2};

/// JSON whitespace (RFC 8259), the only bytes allowed between tokens.
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Index of the first non-whitespace byte at or after `from`, or `bytes.len()`.
pub(crate) fn skip_ws(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while bytes.get(i).is_some_and(|b| is_ws(*b)) {
        i += 1;
    }
    i
}

/// `bytes[start..end]` without trailing whitespace, as a range.
fn trim_end(bytes: &[u8], start: usize, mut end: usize) -> (usize, usize) {
    while end > start && bytes.get(end - 1).is_some_and(|b| is_ws(*b)) {
        end -= 1;
    }
    (start, end)
}

/// Skips a JSON string whose opening quote is at `open`; returns the index just past the
/// closing quote, or `None` when the input ends first.
fn skip_string(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let rest = bytes.get(i..)?;
        let at = memchr2(b'"', b'\\', rest)?;
        let j = i + at;
        if bytes.get(j) == Some(&b'"') {
            return Some(j + 1);
        }
        // A backslash escapes exactly the next byte (`\"`, `\\`, `\u…` whose hex digits
        // need no special care).
        i = j + 2;
    }
}

/// One piece of a JSON array file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArrayPiece {
    /// A complete top-level element (trimmed byte range), to be parsed on its own.
    Element {
        /// 0-based element index across the whole file.
        index: usize,
        /// Byte range of the element in the file.
        range: (usize, usize),
    },
    /// Nothing between two separators (`[a,,b]`, `[a,]`).
    Empty {
        /// Index the missing element would have had.
        index: usize,
        /// Byte range from the separator before to the one after (for the raw excerpt).
        range: (usize, usize),
    },
    /// The file ends inside an element (range = the partial element, possibly empty when
    /// the file ends right after a `,` or the opening `[`).
    Truncated {
        /// Index of the cut element.
        index: usize,
        /// Byte range of the partial element.
        range: (usize, usize),
    },
    /// The file ends after a complete element but before the closing `]`.
    Unclosed {
        /// Index the next element would have had.
        index: usize,
    },
    /// Non-whitespace after the closing `]` that does not start another array.
    Trailing {
        /// Index the next element would have had.
        index: usize,
        /// Byte range of the trailing text.
        range: (usize, usize),
    },
}

/// How one element scan ended.
enum ElementEnd {
    /// At a top-level `,` (at this index); more elements follow.
    Comma(usize),
    /// At the array's closing `]` (at this index).
    Close(usize),
    /// Input ended with the element balanced (depth 0, not inside a string).
    EofBalanced,
    /// Input ended inside a string or a nested value.
    EofInside,
}

/// Scans one array element starting at `start` (the first non-whitespace byte).
fn scan_element(bytes: &[u8], start: usize) -> ElementEnd {
    let mut depth: usize = 0;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => match skip_string(bytes, i) {
                Some(next) => {
                    i = next;
                    continue;
                }
                None => return ElementEnd::EofInside,
            },
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    if b == b']' {
                        return ElementEnd::Close(i);
                    }
                    // A stray `}` at depth 0 stays part of this (malformed) element.
                } else {
                    depth -= 1;
                }
            }
            b',' if depth == 0 => return ElementEnd::Comma(i),
            _ => {}
        }
        i += 1;
    }
    if depth == 0 {
        ElementEnd::EofBalanced
    } else {
        ElementEnd::EofInside
    }
}

/// Splits a file that starts (after whitespace) with `[` into its elements. Arrays written
/// back to back (`[…][…]`, e.g. files concatenated with `cat`) continue the index numbering.
pub(crate) fn split_array(bytes: &[u8], open: usize) -> Vec<ArrayPiece> {
    let mut pieces = Vec::new();
    let mut index = 0;
    // `open` is the index of a `[`.
    let mut i = open + 1;
    'arrays: loop {
        // At the start of an array: `]` right away means an empty array.
        let first = skip_ws(bytes, i);
        if bytes.get(first) == Some(&b']') {
            i = first + 1;
        } else {
            i = first;
            loop {
                let start = skip_ws(bytes, i);
                if start >= bytes.len() {
                    pieces.push(ArrayPiece::Truncated {
                        index,
                        range: (start, start),
                    });
                    break 'arrays;
                }
                let end = scan_element(bytes, start);
                match end {
                    ElementEnd::Comma(at) | ElementEnd::Close(at) => {
                        let range = trim_end(bytes, start, at);
                        if range.0 == range.1 {
                            pieces.push(ArrayPiece::Empty {
                                index,
                                range: (i.saturating_sub(1), at + 1),
                            });
                        } else {
                            pieces.push(ArrayPiece::Element { index, range });
                        }
                        index += 1;
                        i = at + 1;
                        if matches!(end, ElementEnd::Close(_)) {
                            break;
                        }
                    }
                    ElementEnd::EofBalanced => {
                        pieces.push(ArrayPiece::Element {
                            index,
                            range: trim_end(bytes, start, bytes.len()),
                        });
                        pieces.push(ArrayPiece::Unclosed { index: index + 1 });
                        break 'arrays;
                    }
                    ElementEnd::EofInside => {
                        pieces.push(ArrayPiece::Truncated {
                            index,
                            range: (start, bytes.len()),
                        });
                        break 'arrays;
                    }
                }
            }
        }
        // After a closing `]`: end of input, another array, or trailing garbage.
        let next = skip_ws(bytes, i);
        match bytes.get(next) {
            None => break,
            Some(b'[') => i = next + 1,
            Some(_) => {
                pieces.push(ArrayPiece::Trailing {
                    index,
                    range: trim_end(bytes, next, bytes.len()),
                });
                break;
            }
        }
    }
    pieces
}

/// One piece of a stream of JSON values (pretty-printed objects one after another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValuePiece {
    /// A balanced value, or a line of text that does not start one (for the parser to reject).
    Value {
        /// Byte range of the value.
        range: (usize, usize),
    },
    /// The input ended inside a value.
    Truncated {
        /// Byte range of the partial value.
        range: (usize, usize),
    },
}

/// End (exclusive) of the balanced value starting with `{` or `[` at `start`, or `None` if the
/// input ends inside it.
pub(crate) fn balanced_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth: usize = 0;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i = skip_string(bytes, i)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits a stream of JSON values. A piece that does not open with `{` or `[` runs to the end
/// of its line, so garbage costs one dead letter per line and resynchronises at the next one.
pub(crate) fn split_values(bytes: &[u8], from: usize) -> Vec<ValuePiece> {
    let mut pieces = Vec::new();
    let mut i = skip_ws(bytes, from);
    while i < bytes.len() {
        let opens = matches!(bytes.get(i), Some(b'{' | b'['));
        if opens {
            match balanced_end(bytes, i) {
                Some(end) => {
                    pieces.push(ValuePiece::Value { range: (i, end) });
                    i = end;
                }
                None => {
                    pieces.push(ValuePiece::Truncated {
                        range: trim_end(bytes, i, bytes.len()),
                    });
                    break;
                }
            }
        } else {
            let end = bytes
                .get(i..)
                .and_then(|rest| memchr(b'\n', rest))
                .map_or(bytes.len(), |at| i + at);
            pieces.push(ValuePiece::Value {
                range: trim_end(bytes, i, end),
            });
            i = end;
        }
        i = skip_ws(bytes, i);
    }
    pieces
}

/// Where a resumable scan stands relative to JSON strings, so a chunk boundary may fall
/// anywhere, even between a backslash and the byte it escapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Quote {
    #[default]
    Outside,
    Inside,
    /// Inside, right after a backslash: the next byte is taken whatever it is.
    Escaped,
}

/// Carries `quote` (not `Outside`) through `bytes[from..]`; returns the index just past the
/// closing quote, or `None` when the bytes run out first (the state says where they stopped).
fn resume_string(quote: &mut Quote, bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        if *quote == Quote::Escaped {
            bytes.get(i)?;
            i += 1;
            *quote = Quote::Inside;
        }
        let at = i + memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes.get(at) == Some(&b'"') {
            *quote = Quote::Outside;
            return Some(at + 1);
        }
        *quote = Quote::Escaped;
        i = at + 1;
    }
}

/// Where [`ElementScan::resume`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementStop {
    /// At a top-level `,` (at this index).
    Comma(usize),
    /// At the array's closing `]` (at this index).
    Close(usize),
}

/// [`scan_element`] fed in pieces: the same rules, with the state kept between calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ElementScan {
    depth: usize,
    quote: Quote,
}

impl ElementScan {
    /// Scans `bytes[from..]`; `None` when they run out before the element ends.
    pub(crate) fn resume(&mut self, bytes: &[u8], from: usize) -> Option<ElementStop> {
        let mut i = from;
        loop {
            if self.quote != Quote::Outside {
                i = resume_string(&mut self.quote, bytes, i)?;
                continue;
            }
            let b = *bytes.get(i)?;
            match b {
                b'"' => self.quote = Quote::Inside,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    if self.depth == 0 {
                        if b == b']' {
                            return Some(ElementStop::Close(i));
                        }
                    } else {
                        self.depth -= 1;
                    }
                }
                b',' if self.depth == 0 => return Some(ElementStop::Comma(i)),
                _ => {}
            }
            i += 1;
        }
    }

    /// Whether input ending here leaves the element whole ([`ElementEnd::EofBalanced`]).
    pub(crate) fn is_balanced(&self) -> bool {
        self.depth == 0 && self.quote == Quote::Outside
    }
}

/// [`balanced_end`] fed in pieces, starting at the value's opening bracket.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BalanceScan {
    depth: usize,
    quote: Quote,
}

impl BalanceScan {
    /// Scans `bytes[from..]`; the index just past the value's end, or `None` when the bytes
    /// run out first.
    pub(crate) fn resume(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        loop {
            if self.quote != Quote::Outside {
                i = resume_string(&mut self.quote, bytes, i)?;
                continue;
            }
            match *bytes.get(i)? {
                b'"' => self.quote = Quote::Inside,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// Iterates the lines of `bytes` as `(1-based line number, start, end)` byte ranges without
/// the newline, trimmed of whitespace (so `\r\n` files work), skipping blank lines.
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, (usize, usize))> + '_ {
    let mut start = 0;
    let mut line = 0;
    std::iter::from_fn(move || loop {
        if start >= bytes.len() {
            return None;
        }
        line += 1;
        let rest = bytes.get(start..)?;
        let end = memchr(b'\n', rest).map_or(bytes.len(), |at| start + at);
        let first = skip_ws(bytes, start).min(end);
        let range = trim_end(bytes, first, end);
        start = end + 1;
        if range.0 < range.1 {
            return Some((line, range));
        }
    })
}

/// Number of `\n` in `bytes[from..to]` (for line positions of multi-line values).
pub(crate) fn count_newlines(bytes: &[u8], from: usize, to: usize) -> usize {
    bytes
        .get(from..to)
        .map_or(0, |s| memchr::memchr_iter(b'\n', s).count())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn texts(bytes: &[u8]) -> Vec<String> {
        split_array(bytes, 0)
            .into_iter()
            .map(|p| match p {
                ArrayPiece::Element { index, range } => {
                    format!(
                        "{index}:{}",
                        String::from_utf8_lossy(&bytes[range.0..range.1])
                    )
                }
                ArrayPiece::Empty { index, .. } => format!("{index}:EMPTY"),
                ArrayPiece::Truncated { index, range } => {
                    format!(
                        "{index}:TRUNC:{}",
                        String::from_utf8_lossy(&bytes[range.0..range.1])
                    )
                }
                ArrayPiece::Unclosed { index } => format!("{index}:UNCLOSED"),
                ArrayPiece::Trailing { index, range } => {
                    format!(
                        "{index}:TRAIL:{}",
                        String::from_utf8_lossy(&bytes[range.0..range.1])
                    )
                }
            })
            .collect()
    }

    #[test]
    fn splits_top_level_elements_only() {
        let text = br#"[{"a": "x,]\"}", "b": [1, 2]} , {"c": {"d": "}"}}]"#;
        assert_eq!(
            texts(text),
            [
                r#"0:{"a": "x,]\"}", "b": [1, 2]}"#,
                r#"1:{"c": {"d": "}"}}"#
            ]
        );
    }

    #[test]
    fn handles_empty_and_odd_arrays() {
        assert!(texts(b"[]").is_empty());
        assert!(texts(b"[ ]  \n").is_empty());
        assert_eq!(texts(b"[1,,2]"), ["0:1", "1:EMPTY", "2:2"]);
        assert_eq!(texts(b"[1,]"), ["0:1", "1:EMPTY"]);
        assert_eq!(texts(b"[1][2]"), ["0:1", "1:2"]);
        assert_eq!(texts(b"[1] x"), ["0:1", "1:TRAIL:x"]);
    }

    #[test]
    fn reports_truncation() {
        assert_eq!(texts(b"["), ["0:TRUNC:"]);
        assert_eq!(texts(b"[{\"a\": 1},"), ["0:{\"a\": 1}", "1:TRUNC:"]);
        assert_eq!(texts(b"[{\"a\": 1}"), ["0:{\"a\": 1}", "1:UNCLOSED"]);
        assert_eq!(
            texts(b"[{\"a\": 1}, {\"b\": \"x"),
            ["0:{\"a\": 1}", "1:TRUNC:{\"b\": \"x"]
        );
        assert_eq!(texts(b"[{\"a\": \"\\"), ["0:TRUNC:{\"a\": \"\\"]);
    }

    #[test]
    fn splits_value_streams_and_lines() {
        let text = b"{\n \"a\": 1\n}\n\n{\"b\": \"}\"}\ngarbage\n{\"c\": ";
        let got: Vec<_> = split_values(text, 0);
        assert_eq!(got.len(), 4);
        assert!(matches!(got[3], ValuePiece::Truncated { .. }));
        let lines: Vec<_> = lines(b"a\r\n\n  \nb\nc").map(|(n, _)| n).collect();
        assert_eq!(lines, [1, 4, 5]);
        assert_eq!(count_newlines(text, 0, 12), 3);
    }

    /// Where pieces of `bytes` cut at `cuts` (any order, repeats allowed) end.
    fn piece_ends(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<usize> {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        ends.push(bytes.len());
        ends.sort_unstable();
        ends
    }

    proptest! {
        /// Cut anywhere, even between a backslash and what it escapes, the resumable scanners
        /// stop where the whole-buffer ones do.
        #[test]
        fn resumable_scans_match_whole_buffer_scans(
            bytes in proptest::collection::vec(
                prop::sample::select(b"[]{}\",\\ x\n".to_vec()),
                0..64,
            ),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut element = ElementScan::default();
            let mut balance = BalanceScan::default();
            let (mut element_stop, mut balance_stop) = (None, None);
            let mut from = 0;
            for end in piece_ends(&bytes, &cuts) {
                // Each piece is scanned with the bytes before it present but already consumed,
                // as the streaming reader's chunks are (offsets stay file offsets).
                let piece = &bytes[..end];
                if element_stop.is_none() {
                    element_stop = element.resume(piece, from);
                }
                if balance_stop.is_none() {
                    balance_stop = balance.resume(piece, from);
                }
                from = end;
            }
            let whole = match scan_element(&bytes, 0) {
                ElementEnd::Comma(at) => Some(ElementStop::Comma(at)),
                ElementEnd::Close(at) => Some(ElementStop::Close(at)),
                ElementEnd::EofBalanced | ElementEnd::EofInside => None,
            };
            prop_assert_eq!(element_stop, whole);
            if whole.is_none() {
                let balanced = matches!(scan_element(&bytes, 0), ElementEnd::EofBalanced);
                prop_assert_eq!(element.is_balanced(), balanced);
            }
            prop_assert_eq!(balance_stop, balanced_end(&bytes, 0));
        }
    }
}
