//! Tests of the streaming reader that need more than the whole-file oracle: records far
//! larger than memory (produced as they are read) and files that grow while read. Memory is
//! checked twice: by the reader's own `ReadStats` and by a counting allocator it cannot
//! influence.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use super::*;
use crate::source::parse_bytes_with_limit;

// What a test's thread has allocated and not freed, and the most it ever had: an account
// of memory the reader cannot get wrong, unlike its own `ReadStats`. Per thread, since
// tests run in parallel.
thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: allocations still happen while a thread's locals are torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(delta);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

/// The system allocator, counting into [`LIVE`] and [`PEAK`].
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counting touches only
// thread-locals that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            track(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            track(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        track(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            track(size(new_size) - size(layout.size()));
        }
        new
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Runs `f` and returns its result with the most memory it held at once, in bytes.
fn peak_allocated<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    let peak = PEAK.with(Cell::get) - start;
    (result, usize::try_from(peak).unwrap_or(0))
}

/// A file made of literal text and long repetitions of a pattern, produced as it is read:
/// its records can be far larger than memory.
struct Lazy {
    /// `(pattern, times)`: literal text is a pattern repeated once.
    parts: Vec<(Vec<u8>, u64)>,
    pos: u64,
}

impl Lazy {
    fn new(parts: Vec<(Vec<u8>, u64)>) -> Self {
        Lazy { parts, pos: 0 }
    }

    fn len(&self) -> u64 {
        self.parts.iter().map(|(p, n)| p.len() as u64 * n).sum()
    }
}

impl Read for Lazy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut start = 0;
        for (pattern, times) in &self.parts {
            let len = pattern.len() as u64 * times;
            if self.pos < start + len {
                let offset = self.pos - start;
                let left = usize::try_from(len - offset).unwrap_or(usize::MAX);
                let n = buf.len().min(left);
                let mut phase = usize::try_from(offset % pattern.len() as u64).unwrap();
                let mut done = 0;
                // One copy per repetition, not a loop per byte: debug builds run this.
                while done < n {
                    let k = (n - done).min(pattern.len() - phase);
                    buf[done..done + k].copy_from_slice(&pattern[phase..phase + k]);
                    done += k;
                    phase = 0;
                }
                self.pos += n as u64;
                return Ok(n);
            }
            start += len;
        }
        Ok(0)
    }
}

impl Seek for Lazy {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(at) => at,
            SeekFrom::Current(by) => self.pos.saturating_add_signed(by),
            SeekFrom::End(by) => self.len().saturating_add_signed(by),
        };
        Ok(self.pos)
    }
}

fn good(i: usize) -> String {
    format!(
        r#"{{"event_id": "good-{i}", "event_type": "gk_ready", "ts": "2026-11-25 01:51:45", "gk_id": "g", "location": "sf", "order_id": "o{i}", "sequence": {i}, "body": "{{}}"}}"#
    )
}

/// Inside the huge record's body string: escaped backslashes and quotes and brackets, so
/// chunk boundaries cut escapes in two.
const PAD: &[u8] = br#"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\\"]}"#;
const HUGE: &str = r#"{"event_id": "huge", "event_type": "gk_ready", "ts": "2026-11-25 01:51:45", "gk_id": "g", "location": "sf", "order_id": "o", "sequence": 1, "body": "{\"pad\": \""#;

fn text(s: &str) -> (Vec<u8>, u64) {
    (s.as_bytes().to_vec(), 1)
}

/// Streams a file whose record at `position` is `pad_bytes` long (never in memory),
/// between good events; checks the result, and that neither the reader's account nor the
/// allocator saw more than a chunk plus the limit (plus a little) held at once.
fn check_huge_record(parts: Vec<(Vec<u8>, u64)>, position: &str, reads: impl Fn(u64) -> bool) {
    const LIMIT: usize = 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let lazy = Lazy::new(parts);
    let len = lazy.len();
    let mut buf = Vec::new();
    let ((parsed, stats), allocated) =
        peak_allocated(|| parse_reader(lazy, "huge.json", LIMIT, CHUNK, &mut buf).unwrap());
    let ids: Vec<&str> = parsed.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["good-0", "good-2", "good-3"]);
    assert_eq!(parsed.dead_letters.len(), 1, "{:?}", parsed.dead_letters);
    let letter = &parsed.dead_letters[0];
    assert_eq!(
        (letter.reason.as_str(), letter.position.as_str()),
        ("too_large", position)
    );
    assert!(
        letter.detail.contains("measured while streaming"),
        "{}",
        letter.detail
    );
    assert!(letter.raw.starts_with(r#"{"event_id": "huge""#) || letter.raw.starts_with("{\n"));
    assert_eq!(letter.raw.len(), MAX_RAW_BYTES);
    assert!(
        reads(stats.bytes_read),
        "read {} of {len}",
        stats.bytes_read
    );
    // The bound the module promises, with room for the empty-element buffer and the
    // events and dead letter themselves.
    let bound = LIMIT + CHUNK + 64 * 1024;
    assert!(stats.peak_buffered_bytes < bound, "{stats:?}");
    assert!(allocated < bound, "allocated {allocated} bytes at peak");
}

#[test]
fn huge_array_element_is_dead_lettered_without_being_held() {
    let pad_bytes: u64 = 300 * 1024 * 1024;
    let parts = vec![
        text(&format!("[{}, {HUGE}", good(0))),
        (PAD.to_vec(), pad_bytes / PAD.len() as u64),
        text(&format!("\\\"}}\"}}, {}, {}]", good(2), good(3))),
    ];
    let size = parts[1..]
        .iter()
        .map(|(p, n)| p.len() as u64 * n)
        .sum::<u64>()
        + HUGE.len() as u64;
    check_huge_record(parts, "index 1", |read| read > size);
}

#[test]
fn huge_line_and_huge_first_pretty_object_are_dead_lettered_without_being_held() {
    let pad_bytes: u64 = 40 * 1024 * 1024;
    let pad = (PAD.to_vec(), pad_bytes / PAD.len() as u64);
    let lines = vec![
        text(&format!("{}\n{HUGE}", good(0))),
        pad.clone(),
        text(&format!("\\\"}}\"}}\n{}\r\n\n{}", good(2), good(3))),
    ];
    check_huge_record(lines, "line 2", |_| true);

    // The first object spans lines and closes only 40 MB on: the reader scans to its end
    // to learn the format, then goes back to it once.
    let huge = HUGE.replace(", ", ",\n  ");
    let pretty = vec![
        text(&format!("\n\n{huge}")),
        pad,
        text(&format!(
            "\\\"}}\"\n}}\n{}\n{}\n{}",
            good(0),
            good(2),
            good(3)
        )),
    ];
    let len = Lazy::new(pretty.clone()).len();
    check_huge_record(pretty, "line 3", |read| read > len + pad_bytes);
}

/// A file's length is taken when it is opened; one still being written can be longer by
/// the time it is read. Reading stops one byte past the limit and streams the rest, with
/// the bytes already read as the first chunk, going back into them when the probe needs to.
#[test]
fn a_file_that_grew_after_its_length_was_taken_is_streamed() {
    let array = format!("[{}, {}, {}]", good(0), good(1), good(2));
    let pretty = format!(
        "\n{}\n{}\n",
        good(0).replace(", ", ",\n  "),
        good(1).replace(", ", ",\n  ")
    );
    for (text, limit) in [(&array, good(0).len() + 8), (&pretty, 64)] {
        let whole = parse_bytes_with_limit("g.json", text.as_bytes(), limit);
        for said in [0, u64::try_from(limit).unwrap()] {
            let mut buf = Vec::new();
            let reader = Cursor::new(text.as_bytes());
            let (parsed, stats) =
                read_sized(reader, said, "g.json", limit, 7, &mut buf, Vec::new()).unwrap();
            assert!(stats.streamed);
            if *text == pretty {
                // The first object is longer than the bytes read before streaming.
                assert!(stats.bytes_read > text.len() as u64, "{stats:?}");
            }
            assert_eq!(parsed.events, whole.events);
            let reasons = |p: &ParsedFile| -> Vec<(String, String)> {
                let letters = p.dead_letters.iter();
                letters
                    .map(|d| (d.reason.clone(), d.position.clone()))
                    .collect()
            };
            assert_eq!(reasons(&parsed), reasons(&whole));
        }
    }
    // Within the limit: read whole, as before.
    let limit = array.len();
    let said = u64::try_from(limit).unwrap();
    let reader = Cursor::new(array.as_bytes());
    let (parsed, stats) = read_sized(
        reader,
        said,
        "g.json",
        limit,
        7,
        &mut Vec::new(),
        Vec::new(),
    )
    .unwrap();
    assert!(!stats.streamed);
    assert_eq!(parsed.events.len(), 3);
}
