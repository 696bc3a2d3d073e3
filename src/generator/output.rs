//! Landing-directory output: JSON-array files written atomically (a `.`-prefixed `.tmp` name,
//! fsync, rename, so a reader never sees half a file), file names derived from simulated time
//! and a counter (never the wall clock, so runs with `--now` are byte-identical, names
//! included), and the `--chaos-*` test-data faults: duplicated events, late events and
//! malformed records, each decided by a hash of the event id and so deterministic by seed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use caspers_dataflows::time::{format_timestamp, Micros};

use super::events::GeneratedEvent;
use super::seeding::{fnv1a, mix};
use super::GeneratorError;

/// Writes `bytes` to `path` atomically: a hidden temp file in the same directory, fsync,
/// rename. The temp name starts with `.` and ends with `.tmp`, both of which the reader skips.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), GeneratorError> {
    let io = |source| GeneratorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Faults to inject into test data, each a probability per event.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Chaos {
    /// Probability that an event is written twice (identical copies, as an at-least-once
    /// producer would).
    pub duplicate_rate: f64,
    /// Probability that an event is held back and written in a later file than its
    /// neighbours (backfill: after all on-time files; live: in the next flush).
    pub late_rate: f64,
    /// Probability that a malformed record (bad timestamp, unknown event type, wrong type,
    /// missing field or unparsable body) is written next to the event. The event itself is
    /// still written, so the good data stays complete and views are unaffected.
    pub malformed_rate: f64,
}

/// What chaos does to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fate {
    /// Write the event twice.
    pub duplicate: bool,
    /// Hold the event for a later file.
    pub late: bool,
    /// A malformed record to write next to it.
    pub malformed: Option<String>,
}

impl Chaos {
    /// Whether any fault is enabled.
    pub fn enabled(&self) -> bool {
        self.duplicate_rate > 0.0 || self.late_rate > 0.0 || self.malformed_rate > 0.0
    }

    /// The fate of an event, from independent hashes of its id (itself drawn from the seed).
    pub fn fate(&self, event: &GeneratedEvent, json: &str) -> Fate {
        let h = fnv1a(&event.event_id);
        let unit = |salt: u64| (mix(h, salt) >> 11) as f64 / (1u64 << 53) as f64;
        let malformed = (unit(3) < self.malformed_rate).then(|| malform(json, mix(h, 4)));
        Fate {
            duplicate: unit(1) < self.duplicate_rate,
            late: unit(2) < self.late_rate,
            malformed,
        }
    }
}

/// A malformed copy of an event's JSON object: still valid JSON (so the rest of the file
/// parses), but a record the reader must dead-letter.
fn malform(json: &str, pick: u64) -> String {
    let replace_value = |field: &str, value: &str| -> String {
        let key = format!("\"{field}\": ");
        let Some(at) = json.find(&key) else {
            return json.to_string();
        };
        let start = at + key.len();
        let rest = &json[start..];
        let len = if rest.starts_with('"') {
            // A string value; the event's own fields never contain escaped quotes except in
            // `body`, which is handled by scanning for the closing unescaped quote.
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i + 1
        } else {
            rest.find([',', '}']).unwrap_or(rest.len())
        };
        format!("{}{value}{}", &json[..start], &rest[len.min(rest.len())..])
    };
    match pick % 5 {
        0 => replace_value("ts", "\"not a timestamp\""),
        1 => replace_value("event_type", "\"order_teleported\""),
        2 => replace_value("sequence", "\"six\""),
        3 => replace_value("order_id", "null"),
        _ => replace_value("body", "\"{\\\"customer_lat\\\": \""),
    }
}

/// Names output files `<YYYYmmdd-HHMMSS.ffffff>-<tag>-<counter>.json` from simulated time, so
/// names sort in write order and repeat exactly across identical runs.
#[derive(Debug)]
pub struct FileNamer {
    counter: u64,
}

impl FileNamer {
    /// A namer starting at counter 0.
    pub fn new() -> FileNamer {
        FileNamer { counter: 0 }
    }

    /// The next file name for simulated time `at`.
    pub fn next(&mut self, at: Micros, tag: &str) -> String {
        let ts = format_timestamp(at);
        // "2026-11-28 16:41:33.681079" → "20261128-164133.681079", the original's shape.
        let compact: String = ts
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        self.counter += 1;
        format!("{compact}-{tag}-{:06}.json", self.counter)
    }
}

impl Default for FileNamer {
    fn default() -> Self {
        FileNamer::new()
    }
}

/// Totals of what a sink wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Event records written (duplicates and malformed records included).
    pub records: u64,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Buffers encoded events and writes them as JSON-array files into the landing directory.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    tag: String,
    namer: FileNamer,
    chaos: Chaos,
    /// Encoded objects waiting for the next file.
    buffer: Vec<String>,
    /// Late events held back for a later file.
    late: Vec<String>,
    /// What has been written so far.
    pub written: Written,
    /// Background writer, if any: files go to it so fsync overlaps with generation.
    background: Option<Background>,
}

/// A thread that writes files handed to it, in order, stopping at the first error.
#[derive(Debug)]
struct Background {
    tx: crossbeam_channel::Sender<(PathBuf, Vec<u8>)>,
    handle: std::thread::JoinHandle<Result<(), GeneratorError>>,
}

impl Background {
    fn spawn() -> Background {
        // Two files in flight: enough to keep the disk busy, little memory.
        let (tx, rx) = crossbeam_channel::bounded::<(PathBuf, Vec<u8>)>(2);
        let handle = std::thread::Builder::new()
            .name("generate-writer".to_string())
            .spawn(move || {
                for (path, bytes) in rx {
                    write_atomically(&path, &bytes)?;
                }
                Ok(())
            })
            .expect("spawning a thread");
        Background { tx, handle }
    }

    fn join(self) -> Result<(), GeneratorError> {
        drop(self.tx);
        self.handle.join().unwrap_or_else(|_| {
            Err(GeneratorError::Io {
                path: PathBuf::from("<writer thread>"),
                source: std::io::Error::other("the writer thread panicked"),
            })
        })
    }
}

impl FileSink {
    /// A sink writing into `dir`, naming files with `tag`.
    pub fn new(dir: &Path, tag: &str, chaos: Chaos) -> FileSink {
        FileSink {
            dir: dir.to_path_buf(),
            tag: tag.to_string(),
            namer: FileNamer::new(),
            chaos,
            buffer: Vec::new(),
            late: Vec::new(),
            written: Written::default(),
            background: None,
        }
    }

    /// Writes files on a background thread from now on (call [`FileSink::finish`] to wait
    /// for them and collect errors).
    pub fn in_background(mut self) -> FileSink {
        self.background = Some(Background::spawn());
        self
    }

    /// Adds one event (already in write order), applying chaos.
    pub fn push(&mut self, event: &GeneratedEvent) {
        let json = event.to_json();
        self.push_encoded(event, json);
    }

    /// Adds one event whose JSON object is already encoded.
    pub fn push_encoded(&mut self, event: &GeneratedEvent, json: String) {
        if !self.chaos.enabled() {
            self.buffer.push(json);
            return;
        }
        let fate = self.chaos.fate(event, &json);
        if let Some(bad) = fate.malformed {
            self.buffer.push(bad);
        }
        if fate.duplicate {
            self.buffer.push(json.clone());
        }
        if fate.late {
            self.late.push(json);
        } else {
            self.buffer.push(json);
        }
    }

    /// Number of records waiting for the next file.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Writes every full file of `file_events` records, keeping the remainder buffered.
    pub fn write_full(&mut self, file_events: usize, at: Micros) -> Result<(), GeneratorError> {
        let size = file_events.max(1);
        while self.buffer.len() >= size {
            let rest = self.buffer.split_off(size);
            let batch = std::mem::replace(&mut self.buffer, rest);
            self.write_file(&batch, at)?;
        }
        Ok(())
    }

    /// Writes everything buffered as one file (nothing if empty); records held late so far
    /// join the buffer for the next flush, so they always land in a later file.
    pub fn flush(&mut self, at: Micros) -> Result<(), GeneratorError> {
        let batch = std::mem::take(&mut self.buffer);
        if !batch.is_empty() {
            self.write_file(&batch, at)?;
        }
        self.buffer.append(&mut self.late);
        Ok(())
    }

    /// Writes the buffer and then the late records, in files of at most `file_events`.
    pub fn finish(&mut self, file_events: usize, at: Micros) -> Result<(), GeneratorError> {
        self.write_full(file_events, at)?;
        self.flush(at)?;
        self.write_full(file_events, at)?;
        self.flush(at)?;
        match self.background.take() {
            Some(background) => background.join(),
            None => Ok(()),
        }
    }

    fn write_file(&mut self, records: &[String], at: Micros) -> Result<(), GeneratorError> {
        let len = records.iter().map(|r| r.len() + 2).sum::<usize>();
        let mut bytes = Vec::with_capacity(len + 2);
        bytes.push(b'[');
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                bytes.extend_from_slice(b", ");
            }
            bytes.extend_from_slice(record.as_bytes());
        }
        bytes.push(b']');
        let path = self.dir.join(self.namer.next(at, &self.tag));
        self.written.records += u64::try_from(records.len()).unwrap_or(u64::MAX);
        self.written.files += 1;
        self.written.bytes += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        match &self.background {
            Some(background) => {
                if background.tx.send((path, bytes)).is_err() {
                    // The writer stopped at an error; `finish` reports it.
                    if let Some(background) = self.background.take() {
                        background.join()?;
                    }
                }
                Ok(())
            }
            None => write_atomically(&path, &bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_simulated_time() {
        let at = caspers_dataflows::time::parse_timestamp("2026-11-28 16:41:33.681079").unwrap();
        let mut namer = FileNamer::new();
        assert_eq!(
            namer.next(at, "backfill"),
            "20261128-164133.681079-backfill-000001.json"
        );
        assert_eq!(
            namer.next(at, "backfill"),
            "20261128-164133.681079-backfill-000002.json"
        );
    }

    #[test]
    fn malformed_records_stay_valid_json_but_break_the_record() {
        let json = r#"{"event_id": "ab", "event_type": "delivered", "ts": "2026-11-25 02:23:55.564585", "gk_id": "g", "location": "sf", "order_id": "o", "sequence": 15, "body": "{\"delivered_lat\": 1.0}"}"#;
        for pick in 0..5 {
            let bad = malform(json, pick);
            assert_ne!(bad, json);
            let value: serde_json::Value = serde_json::from_str(&bad).unwrap();
            assert_eq!(value["event_id"], "ab", "{bad}");
        }
    }
}
