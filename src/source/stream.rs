//! Reading a landing file in bounded memory, however large its records.
//!
//! [`parse_file`] reads a file no larger than the record limit whole and hands it to
//! [`parse_bytes_with_limit`], as before: that is the replay hot path. A larger file is read in
//! chunks ([`parse_reader`]) and cut into records by resumable twins of `split`'s scanners,
//! which carry string, escape and bracket state across chunk boundaries. A record no larger
//! than the limit is decoded exactly as the whole-file path decodes it. A larger one is scanned
//! to its end but not kept: only its first [`MAX_RAW_BYTES`] survive, for the dead letter. So
//! the file's bytes held at once stay within about one chunk plus one record limit, and the
//! result is the whole-file path's, record for record (a property test checks it), except
//! that a `too_large` detail says the size was measured while streaming.
//!
//! One decision needs the input twice. A file whose first value is a `{` spanning several
//! lines is a stream of pretty-printed objects only if that object closes; if the file ends
//! inside it, the file is JSON Lines with a cut first line. When the answer is not in the
//! chunk the object starts in, the reader scans on without keeping anything, then seeks back
//! to the object, which is why readers must be [`Seek`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use memchr::memchr;

use super::error::ReadError;
use super::parse::{
    after_array, empty_element, parse_bytes_into, truncated_element, truncated_line,
    truncated_value, unclosed_array, Collector, Parsed, ParsedFile, Position, MAX_RAW_BYTES,
};
use super::record::EventSink;
use super::split::{count_newlines, is_ws, skip_ws, BalanceScan, ElementScan, ElementStop};

/// Bytes read at a time when streaming: enough that system calls and the copies of records
/// cut by a chunk boundary cost nothing measurable, and small beside the record limit.
pub const DEFAULT_CHUNK_BYTES: usize = 1024 * 1024;

/// How a file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Whether the file was read in chunks (it was larger than the record limit) instead of
    /// whole.
    pub streamed: bool,
    /// Most bytes allocated at once to hold the file's bytes: the read buffer plus the record
    /// being assembled (capacities, not lengths). Decoded events and dead letters are not
    /// counted.
    pub peak_buffered_bytes: usize,
    /// Bytes read from the reader: the file's length, or more when the reader went back to
    /// the first value (see the module header).
    pub bytes_read: u64,
}

/// Parses the file at `path`, with `source_file` (its path relative to the landing dir) in
/// dead letters, rejecting records longer than `max_record_bytes` as `too_large`. `buf` is
/// reused across calls to save allocations. Errors are the file's own (missing, unreadable),
/// never its contents'.
pub fn parse_file(
    path: &Path,
    source_file: &str,
    max_record_bytes: usize,
    buf: &mut Vec<u8>,
) -> io::Result<ParsedFile> {
    parse_file_into(path, source_file, max_record_bytes, buf, Vec::new())
}

/// [`parse_file`] into `events`.
pub fn parse_file_into<S: EventSink>(
    path: &Path,
    source_file: &str,
    max_record_bytes: usize,
    buf: &mut Vec<u8>,
    events: S,
) -> io::Result<Parsed<S>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let (parsed, _) = read_sized(
        &mut file,
        len,
        source_file,
        max_record_bytes,
        DEFAULT_CHUNK_BYTES,
        buf,
        events,
    )?;
    Ok(parsed)
}

/// Parses what `reader` yields from its current position on, `chunk_bytes` at a time, always
/// streaming (whatever its size), with `buf` as the read buffer. [`parse_file`] calls this
/// for files larger than `max_record_bytes`; tests call it with tiny chunks so boundaries fall
/// everywhere.
pub fn parse_reader<R: Read + Seek>(
    reader: R,
    source_file: &str,
    max_record_bytes: usize,
    chunk_bytes: usize,
    buf: &mut Vec<u8>,
) -> io::Result<(ParsedFile, ReadStats)> {
    buf.clear();
    stream(
        reader,
        source_file,
        max_record_bytes,
        chunk_bytes,
        buf,
        Vec::new(),
    )
}

/// Reads whole when `len` (the file's length when opened) is within the limit, else streams.
fn read_sized<R: Read + Seek, S: EventSink>(
    mut reader: R,
    len: u64,
    source_file: &str,
    max_record_bytes: usize,
    chunk_bytes: usize,
    buf: &mut Vec<u8>,
    events: S,
) -> io::Result<(Parsed<S>, ReadStats)> {
    buf.clear();
    let small = usize::try_from(len).ok().filter(|&n| n <= max_record_bytes);
    if let Some(len) = small {
        // A file still being written can outgrow its length before it is read: read at most
        // one byte past the limit, and stream the rest if that byte comes.
        buf.reserve(len.saturating_add(1));
        let cap = u64::try_from(max_record_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        (&mut reader).take(cap).read_to_end(buf)?;
        if buf.len() <= max_record_bytes {
            let stats = ReadStats {
                streamed: false,
                peak_buffered_bytes: buf.capacity(),
                bytes_read: u64::try_from(buf.len()).unwrap_or(u64::MAX),
            };
            return Ok((
                parse_bytes_into(source_file, buf, max_record_bytes, events),
                stats,
            ));
        }
    }
    stream(
        reader,
        source_file,
        max_record_bytes,
        chunk_bytes,
        buf,
        events,
    )
}

/// The streaming driver. `buf` may already hold the first bytes of the input (read by
/// [`read_sized`]); `reader` is positioned just after them.
fn stream<R: Read + Seek, S: EventSink>(
    mut reader: R,
    source_file: &str,
    max_record_bytes: usize,
    chunk_bytes: usize,
    buf: &mut Vec<u8>,
    events: S,
) -> io::Result<(Parsed<S>, ReadStats)> {
    let chunk_bytes = chunk_bytes.max(1);
    let mut read = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    // Where the input's offset 0 is in the reader, for going back to the first value.
    let origin = reader.stream_position()?.saturating_sub(read);
    // The BOM test needs the first three bytes at hand, whatever the chunk size.
    let mut filled = buf.len();
    if filled < 3 {
        buf.resize(3, 0);
        while filled < 3 {
            let n = read_some(&mut reader, buf.get_mut(filled..3).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        read = u64::try_from(filled).unwrap_or(u64::MAX);
        buf.truncate(filled);
    }
    let mut machine = Machine::new(source_file, max_record_bytes, events);
    let mut peak = 0;
    // File offset of `buf[0]`, and where in `buf` the unscanned bytes start.
    let mut base: usize = 0;
    let mut from = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    loop {
        let mut rewind = None;
        if from < filled {
            let data = buf.get(from..filled).unwrap_or_default();
            rewind = machine.feed(data, base + from);
        } else if filled == 0 {
            rewind = machine.finish();
            if rewind.is_none() {
                peak = peak.max(buf.capacity() + machine.buffered());
                break;
            }
        }
        peak = peak.max(buf.capacity() + machine.buffered());
        match rewind {
            Some(to) => {
                let at = origin.saturating_add(u64::try_from(to).unwrap_or(u64::MAX));
                reader.seek(SeekFrom::Start(at))?;
                base = to;
            }
            None => base += filled,
        }
        if buf.len() != chunk_bytes {
            buf.resize(chunk_bytes, 0);
        }
        filled = read_some(&mut reader, buf)?;
        from = 0;
        read = read.saturating_add(u64::try_from(filled).unwrap_or(u64::MAX));
    }
    let stats = ReadStats {
        streamed: true,
        peak_buffered_bytes: peak,
        bytes_read: read,
    };
    Ok((machine.out.parsed, stats))
}

/// One `read`, retried when interrupted; 0 means the end of the input.
fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// Where the streaming reader is in the file. Each state is the streaming twin of a step of
/// [`super::parse`]'s whole-file reader (named in its comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Skipping whitespace before the first value (format detection).
    Detect,
    /// Scanning a first value that opens with `{` to its end (`starts_multi_line_object`).
    Probe,
    /// Just after an array's `[` (`split_array`, before the first element).
    ArrayOpen,
    /// Just after a `,` between elements.
    ArrayGap,
    /// Inside an element (`scan_element`).
    Element,
    /// After an array's `]`: the end, another array, or trailing text.
    AfterArray,
    /// Trailing text after the last `]`, running to the end of the file.
    Trailing,
    /// Between values of a value stream (`split_values`).
    ValuesGap,
    /// Inside a value that opened with `{` or `[` (`balanced_end`).
    Value,
    /// Inside a piece that does not open a value: it runs to the end of its line.
    ValueLine,
    /// At the start of a JSON Lines line (`lines`), skipping its leading whitespace.
    LineStart,
    /// Inside a line's text.
    Line,
}

impl Phase {
    /// Whether the scan is inside a record whose bytes go to [`Piece`].
    fn in_record(self) -> bool {
        matches!(
            self,
            Phase::Element | Phase::Trailing | Phase::Value | Phase::ValueLine | Phase::Line
        )
    }
}

/// The streaming reader's state between chunks.
struct Machine<'a, S> {
    out: Collector<'a, S>,
    phase: Phase,
    /// File offset of the current chunk's first byte.
    base: usize,
    /// File offset of the first non-whitespace byte, where the scan restarts once the probe
    /// has decided the format.
    first: usize,
    /// Set by the probe: the file offset to continue from.
    rewind: Option<usize>,
    /// `\n` bytes before the scan position (value streams and JSON Lines number by line).
    newlines: usize,
    /// Line the current record starts on.
    line: usize,
    /// 0-based index of the current (or next) array element.
    index: usize,
    element: ElementScan,
    balance: BalanceScan,
    /// Probe: whether the first value spans a `\n` so far.
    multi_line: bool,
    /// JSON Lines: whether the current line opens with `{`, so it is cut if the file ends
    /// before `balance` finds its end.
    line_opens: bool,
    /// Whether `balance` has found the end of the current line's object.
    line_balanced: bool,
    /// The current record's bytes from earlier chunks.
    piece: Piece,
    /// Index in the current chunk where the current record's bytes not yet in `piece` start.
    mark: usize,
    /// An empty array element's raw text so far: the byte before it (a `,`, `[` or
    /// whitespace) and the whitespace after, at most [`MAX_RAW_BYTES`].
    gap: Vec<u8>,
    /// The last byte scanned before an array's first element, which starts the raw text of
    /// an empty first element.
    last: u8,
}

impl<'a, S: EventSink> Machine<'a, S> {
    fn new(source_file: &'a str, max_record_bytes: usize, events: S) -> Self {
        Machine {
            out: Collector::new(source_file, max_record_bytes, events),
            phase: Phase::Detect,
            base: 0,
            first: 0,
            rewind: None,
            newlines: 0,
            line: 1,
            index: 0,
            element: ElementScan::default(),
            balance: BalanceScan::default(),
            multi_line: false,
            line_opens: false,
            line_balanced: false,
            piece: Piece::new(max_record_bytes),
            mark: 0,
            gap: Vec::new(),
            last: b'[',
        }
    }

    /// Bytes of the file held outside the read buffer.
    fn buffered(&self) -> usize {
        self.piece.bytes.capacity() + self.gap.capacity()
    }

    /// Scans one chunk, whose first byte is at file offset `base`. Returns the offset to
    /// read on from when the probe needs bytes from an earlier chunk again.
    fn feed(&mut self, data: &[u8], base: usize) -> Option<usize> {
        self.base = base;
        self.mark = 0;
        let mut i = 0;
        while i < data.len() {
            i = self.step(data, i);
            if let Some(to) = self.rewind.take() {
                match to.checked_sub(base) {
                    Some(at) if at <= data.len() => i = at,
                    _ => return Some(to),
                }
            }
        }
        if self.phase.in_record() {
            self.piece.push(data.get(self.mark..).unwrap_or_default());
        }
        None
    }

    /// Scans from `data[i]` until the phase changes or the chunk ends; returns where it
    /// stopped.
    fn step(&mut self, data: &[u8], i: usize) -> usize {
        let end = data.len();
        match self.phase {
            Phase::Detect => {
                let at = skip_ws_counting(data, i, &mut self.newlines);
                let Some(&b) = data.get(at) else { return at };
                self.first = self.base + at;
                match b {
                    b'[' => {
                        self.phase = Phase::ArrayOpen;
                        self.last = b'[';
                        at + 1
                    }
                    b'{' => {
                        self.phase = Phase::Probe;
                        self.balance = BalanceScan::default();
                        self.multi_line = false;
                        at
                    }
                    _ => {
                        self.phase = Phase::LineStart;
                        at
                    }
                }
            }
            Phase::Probe => {
                let stop = self.balance.resume(data, i);
                let to = stop.unwrap_or(end);
                self.multi_line |= data.get(i..to).is_some_and(|s| memchr(b'\n', s).is_some());
                if stop.is_some() {
                    self.decide(self.multi_line);
                }
                to
            }
            Phase::ArrayOpen => {
                let at = skip_ws(data, i);
                if let Some(&b) = at
                    .checked_sub(1)
                    .filter(|&p| p >= i)
                    .and_then(|p| data.get(p))
                {
                    self.last = b;
                }
                match data.get(at) {
                    None => at,
                    Some(b']') => {
                        self.phase = Phase::AfterArray;
                        at + 1
                    }
                    Some(_) => {
                        self.gap.clear();
                        self.gap.push(self.last);
                        self.start_element(data, at)
                    }
                }
            }
            Phase::ArrayGap => {
                let at = skip_ws(data, i);
                let room = MAX_RAW_BYTES.saturating_sub(self.gap.len());
                let ws = data.get(i..at).unwrap_or_default();
                self.gap.extend_from_slice(ws.get(..room).unwrap_or(ws));
                if at < end {
                    self.start_element(data, at)
                } else {
                    at
                }
            }
            Phase::Element => match self.element.resume(data, i) {
                None => end,
                Some(stop) => {
                    let (at, close) = match stop {
                        ElementStop::Comma(at) => (at, false),
                        ElementStop::Close(at) => (at, true),
                    };
                    self.finish_record(data, at, Position::Index(self.index));
                    self.index += 1;
                    self.after_separator(close);
                    at + 1
                }
            },
            Phase::AfterArray => {
                let at = skip_ws(data, i);
                match data.get(at) {
                    None => at,
                    Some(b'[') => {
                        self.phase = Phase::ArrayOpen;
                        self.last = b'[';
                        at + 1
                    }
                    Some(_) => {
                        self.start_record(at, Phase::Trailing);
                        end
                    }
                }
            }
            Phase::Trailing => end,
            Phase::ValuesGap => {
                let at = skip_ws_counting(data, i, &mut self.newlines);
                let Some(&b) = data.get(at) else { return at };
                self.line = self.newlines + 1;
                if b == b'{' || b == b'[' {
                    self.balance = BalanceScan::default();
                    self.start_record(at, Phase::Value);
                } else {
                    self.start_record(at, Phase::ValueLine);
                }
                at
            }
            Phase::Value => {
                let stop = self.balance.resume(data, i);
                let to = stop.unwrap_or(end);
                self.newlines += count_newlines(data, i, to);
                if stop.is_some() {
                    self.finish_record(data, to, Position::Line(self.line));
                    self.phase = Phase::ValuesGap;
                }
                to
            }
            Phase::ValueLine => match data.get(i..).and_then(|rest| memchr(b'\n', rest)) {
                None => end,
                Some(at) => {
                    self.finish_record(data, i + at, Position::Line(self.line));
                    self.phase = Phase::ValuesGap;
                    i + at
                }
            },
            Phase::LineStart => {
                let at = skip_ws_counting(data, i, &mut self.newlines);
                let Some(&b) = data.get(at) else { return at };
                self.line = self.newlines + 1;
                self.line_opens = b == b'{';
                self.line_balanced = false;
                self.balance = BalanceScan::default();
                self.start_record(at, Phase::Line);
                at
            }
            Phase::Line => {
                let newline = data.get(i..).and_then(|rest| memchr(b'\n', rest));
                let to = newline.map_or(end, |at| i + at);
                if self.line_opens && !self.line_balanced {
                    let line = data.get(..to).unwrap_or_default();
                    self.line_balanced = self.balance.resume(line, i).is_some();
                }
                if newline.is_some() {
                    self.finish_record(data, to, Position::Line(self.line));
                    self.phase = Phase::LineStart;
                }
                to
            }
        }
    }

    /// The probe's verdict, as `parse_bytes_with_limit` reaches it: a stream of pretty-printed
    /// `values` when the first object closes and spans lines, JSON Lines otherwise. Either
    /// way the scan restarts at the first value, with the lines before it already counted.
    fn decide(&mut self, values: bool) {
        self.phase = if values {
            Phase::ValuesGap
        } else {
            Phase::LineStart
        };
        self.rewind = Some(self.first);
    }

    /// At the first non-whitespace byte after a `,` or an array's `[`: an empty element or
    /// the start of one.
    fn start_element(&mut self, data: &[u8], at: usize) -> usize {
        match data.get(at) {
            Some(&b @ (b',' | b']')) => {
                self.gap.push(b);
                let position = Position::Index(self.index);
                self.out.reject(position, &self.gap, &empty_element());
                self.index += 1;
                self.after_separator(b == b']');
                at + 1
            }
            _ => {
                self.element = ElementScan::default();
                self.start_record(at, Phase::Element);
                at
            }
        }
    }

    /// Just past a top-level `,` (`close` false) or `]`.
    fn after_separator(&mut self, close: bool) {
        if close {
            self.phase = Phase::AfterArray;
        } else {
            self.gap.clear();
            self.gap.push(b',');
            self.phase = Phase::ArrayGap;
        }
    }

    fn start_record(&mut self, at: usize, phase: Phase) {
        self.piece.clear();
        self.mark = at;
        self.phase = phase;
    }

    /// The current record ends at `data[end]` (exclusive): decode or dead-letter it.
    fn finish_record(&mut self, data: &[u8], end: usize, position: Position) {
        let tail = data.get(self.mark..end).unwrap_or_default();
        let record = self.piece.finish(tail);
        record_piece(&mut self.out, position, record);
    }

    /// The end of the input: settles the record or gap it ends in. Returns the offset to read
    /// on from when the probe reached the end undecided.
    fn finish(&mut self) -> Option<usize> {
        let record = self.piece.view();
        match self.phase {
            Phase::Detect => self
                .out
                .reject(Position::Line(1), b"", &ReadError::EmptyFile),
            Phase::Probe => {
                self.decide(false);
                return self.rewind.take();
            }
            Phase::ArrayOpen | Phase::ArrayGap => {
                let error = truncated_element(self.index, false);
                self.out.reject(Position::Index(self.index), b"", &error);
            }
            Phase::Element if self.element.is_balanced() => {
                record_piece(&mut self.out, Position::Index(self.index), record);
                let next = Position::Index(self.index + 1);
                self.out.reject(next, b"", &unclosed_array());
            }
            Phase::Element => {
                // The whole-file reader's range for a cut element runs to the end of the file,
                // untrimmed.
                let error = truncated_element(self.index, true);
                self.out
                    .reject(Position::Index(self.index), record.bytes, &error);
            }
            Phase::Trailing => {
                let position = Position::Index(self.index);
                self.out.reject(position, record.trimmed(), &after_array());
            }
            Phase::Value => {
                let position = Position::Line(self.line);
                self.out
                    .reject(position, record.trimmed(), &truncated_value());
            }
            Phase::Line if self.line_opens && !self.line_balanced => {
                let position = Position::Line(self.line);
                self.out
                    .reject(position, record.trimmed(), &truncated_line());
            }
            Phase::ValueLine | Phase::Line => {
                record_piece(&mut self.out, Position::Line(self.line), record);
            }
            Phase::AfterArray | Phase::ValuesGap | Phase::LineStart => {}
        }
        None
    }
}

/// Decodes a record, or dead-letters it as `too_large` from what was kept of it.
fn record_piece<S: EventSink>(
    out: &mut Collector<'_, S>,
    position: Position,
    record: PieceView<'_>,
) {
    let limit = out.max_record_bytes;
    if record.content_len > limit {
        let error = ReadError::TooLarge {
            size: record.content_len,
            limit,
        };
        let detail = format!("{error} (measured while streaming the file)");
        out.reject_with_detail(position, record.trimmed(), &error, detail);
    } else {
        out.record(position, record.trimmed());
    }
}

/// Like [`skip_ws`], counting the `\n` bytes skipped.
fn skip_ws_counting(data: &[u8], from: usize, newlines: &mut usize) -> usize {
    let at = skip_ws(data, from);
    *newlines += count_newlines(data, from, at);
    at
}

/// The bytes of one record (or of any text a dead letter quotes) that reach past a chunk
/// boundary.
///
/// It keeps the whole record only while the record can still be decoded. Once the record's
/// trimmed length passes the limit it keeps the first [`MAX_RAW_BYTES`] (all `raw` needs) and
/// only counts the rest. The whole-file reader trims records, so whitespace after the last
/// non-whitespace byte does not count towards the limit; once it takes the length past the
/// limit it can be dropped, since a later non-whitespace byte would put the record itself
/// past the limit.
struct Piece {
    /// A prefix of the record: all of it up to `keep()` bytes (see there).
    bytes: Vec<u8>,
    /// Bytes seen.
    len: usize,
    /// Length without trailing whitespace: the record's size as the whole-file reader
    /// measures it.
    content_len: usize,
    limit: usize,
}

/// A finished record: `bytes` holds all of it up to `content_len` when that is within the
/// limit, and at least its first [`MAX_RAW_BYTES`] (or all of it) in any case.
#[derive(Clone, Copy)]
struct PieceView<'b> {
    bytes: &'b [u8],
    content_len: usize,
}

impl PieceView<'_> {
    /// The record without trailing whitespace, or its head when it is too large.
    fn trimmed(&self) -> &[u8] {
        self.bytes.get(..self.content_len).unwrap_or(self.bytes)
    }
}

impl Piece {
    fn new(limit: usize) -> Self {
        Piece {
            bytes: Vec::new(),
            len: 0,
            content_len: 0,
            limit,
        }
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.len = 0;
        self.content_len = 0;
    }

    /// How many leading bytes must be kept: the record while it may still be decoded (all
    /// bytes while the length is within the limit, then the trimmed record and the raw head),
    /// only the raw head once it is too large. Never more than the larger of the limit and
    /// [`MAX_RAW_BYTES`], and never less than what was kept before unless the record just went
    /// past the limit, so bytes dropped earlier are never needed again.
    fn keep(&self) -> usize {
        let keep = if self.content_len > self.limit {
            MAX_RAW_BYTES
        } else if self.len <= self.limit {
            self.len
        } else {
            self.content_len.max(MAX_RAW_BYTES)
        };
        keep.min(self.len)
    }

    fn push(&mut self, more: &[u8]) {
        let before = self.len;
        self.len = before.saturating_add(more.len());
        if let Some(last) = more.iter().rposition(|b| !is_ws(*b)) {
            self.content_len = before + last + 1;
        }
        let keep = self.keep();
        if self.bytes.len() >= keep {
            self.bytes.truncate(keep);
            return;
        }
        // `keep` only grows while nothing was dropped, so what is missing lies in `more`.
        let from = self.bytes.len().saturating_sub(before);
        let Some(part) = more.get(from..keep.saturating_sub(before)) else {
            return;
        };
        let needed = keep;
        if needed > self.bytes.capacity() {
            // Grow geometrically, but never past the most `keep` can ask for.
            let most = self.limit.max(MAX_RAW_BYTES);
            let target = needed
                .max(self.bytes.capacity().saturating_mul(2))
                .min(most);
            self.bytes
                .reserve_exact(target.saturating_sub(self.bytes.len()));
        }
        self.bytes.extend_from_slice(part);
    }

    fn view(&self) -> PieceView<'_> {
        PieceView {
            bytes: &self.bytes,
            content_len: self.content_len,
        }
    }

    /// The record ends with `tail` (from the current chunk). A record that started in this
    /// chunk is used in place, without a copy.
    fn finish<'b>(&'b mut self, tail: &'b [u8]) -> PieceView<'b> {
        if self.len == 0 {
            let content_len = tail
                .iter()
                .rposition(|b| !is_ws(*b))
                .map_or(0, |last| last + 1);
            return PieceView {
                bytes: tail,
                content_len,
            };
        }
        self.push(tail);
        self.view()
    }
}

#[cfg(test)]
mod tests;
