//! Event time: parsing the timestamps the generator writes (and ISO-8601 variants) into
//! microseconds since the Unix epoch (UTC), and the day and hour buckets the views group by.
//! Calendar arithmetic is Howard Hinnant's days-from-civil, exact for the proleptic Gregorian
//! calendar, so no clock or time-zone database is consulted.

use std::cell::Cell;

/// Microseconds since 1970-01-01 00:00:00 UTC.
pub type Micros = i64;
/// Days since 1970-01-01 (Arrow's Date32).
pub type Day = i32;

/// Microseconds in one hour.
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since the epoch of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if m <= 2 { y + 1 } else { y };
    (
        year,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f{1,9}]` (naive, taken as UTC) and ISO-8601 with `T` and an
/// optional `Z` or `±HH:MM`/`±HHMM`/`±HH` offset, normalised to UTC. Fractions beyond
/// microseconds are truncated. Returns `None` for anything else, including impossible dates.
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    match generator_timestamp(text.as_bytes()) {
        Some(ts) => Some(ts),
        None => any_timestamp(text),
    }
}

/// [`parse_timestamp`] of exactly `YYYY-MM-DD HH:MM:SS.ffffff`, the generator's form and
/// every event's `ts`: fixed positions, no trimming, slicing or fraction loop (the general
/// reading cost ~360 instructions, 2% of a replay). The text is read as three 8-byte words
/// and a 2-byte one, each checked and turned into two-digit numbers at once (byte by byte it
/// was ~180 instructions, 1.2% of a replay). `None` for any other text.
fn generator_timestamp(b: &[u8]) -> Option<Micros> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    /// `(mask, value)`: the separator bytes of a word, and what they must be.
    const fn separators(pattern: &[u8; 8]) -> (u64, u64) {
        let mut mask = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            if pattern[i] != b'0' {
                mask[i] = 0xFF;
            }
            i += 1;
        }
        (
            u64::from_le_bytes(mask),
            u64::from_le_bytes(*pattern) & u64::from_le_bytes(mask),
        )
    }
    const SEPARATORS: [(u64, u64); 3] = [
        separators(b"0000-00-"),
        separators(b"00 00:00"),
        separators(b":00.0000"),
    ];
    /// Each byte's digit, the separators' bytes 0; `None` unless every other byte is a digit
    /// and every separator is right. Flags are exact: a byte outside `0`..`9` sets its own
    /// high bit in one of the three terms, and the carries and borrows that could disturb
    /// a neighbour's come only from such bytes.
    fn digits(word: u64, (mask, value): (u64, u64)) -> Option<u64> {
        if word & mask != value {
            return None;
        }
        let x = (word & !mask) | (mask & (ONES * u64::from(b'0')));
        let outside = x.wrapping_add(ONES * 0x46) | x.wrapping_sub(ONES * u64::from(b'0')) | x;
        (outside & (ONES * 0x80) == 0).then(|| x - ONES * u64::from(b'0'))
    }
    /// Byte k of the result: 10 × digit k + digit k + 1 (at most 99, so no byte carries).
    fn pairs(digits: u64) -> u64 {
        digits * 10 + (digits >> 8)
    }
    let byte = |word: u64, k: u32| ((word >> (8 * k)) & 0xFF) as u32;
    let b = <&[u8; 26]>::try_from(b).ok()?;
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    // "YYYY-MM-", "DD HH:MM", ":SS.ffff" and "ff".
    let (date_word, time_word) = (word(0), word(8));
    let date = pairs(digits(date_word, SEPARATORS[0])?);
    let time = pairs(digits(time_word, SEPARATORS[1])?);
    let rest = pairs(digits(word(16), SEPARATORS[2])?);
    let tail = u64::from(u16::from_le_bytes([b[24], b[25]]));
    let tail = digits(tail | (ONES * u64::from(b'0')) << 16, (0, 0))?;
    let year = i64::from(byte(date, 0) * 100 + byte(date, 2));
    let (month, day) = (byte(date, 5), byte(time, 0));
    let (hour, minute, second) = (byte(time, 3), byte(time, 6), byte(rest, 1));
    let micros = byte(rest, 4) * 10_000 + byte(rest, 6) * 100 + byte(pairs(tail), 0);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // A file's records share a few dates: the last one's day number is kept per thread, keyed
    // by its ten bytes (checked above), so most records skip the calendar.
    let key = (date_word, time_word & 0xFFFF);
    let days = match LAST_DATE.with(Cell::get) {
        (text, days) if text == key => days,
        _ => {
            if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            LAST_DATE.with(|last| last.set((key, days)));
            days
        }
    };
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(secs * 1_000_000 + i64::from(micros))
}

thread_local! {
    /// The date bytes of the last timestamp [`generator_timestamp`] accepted (the first eight,
    /// and the next two), and its day number. No valid date has zero words.
    static LAST_DATE: Cell<((u64, u64), i64)> = const { Cell::new(((0, 0), 0)) };
}

/// [`parse_timestamp`] of any accepted form.
fn any_timestamp(text: &str) -> Option<Micros> {
    let b = text.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros: i64 = 0;
    if let Some(stripped) = rest.strip_prefix(b".") {
        let n = stripped.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, d) in stripped[..n].iter().enumerate() {
            if i < 6 {
                micros = micros * 10 + i64::from(d - b'0');
            }
        }
        for _ in n..6 {
            micros *= 10;
        }
        rest = &stripped[n..];
    }
    let offset_secs: i64 = match rest {
        [] => 0,
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (hh, mm) = match tail {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            let s = i64::from(hh) * 3600 + i64::from(mm) * 60;
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// The UTC day of a timestamp (Spark's `to_date`).
pub fn day_of(ts: Micros) -> Day {
    i32::try_from(ts.div_euclid(MICROS_PER_DAY)).unwrap_or(i32::MAX)
}

/// The timestamp truncated to its hour (Spark's `date_trunc('hour', ts)`).
pub fn hour_of(ts: Micros) -> Micros {
    ts - ts.rem_euclid(MICROS_PER_HOUR)
}

/// Formats as `YYYY-MM-DD HH:MM:SS.ffffff`, the generator's own style.
pub fn format_timestamp(ts: Micros) -> String {
    let days = ts.div_euclid(MICROS_PER_DAY);
    let rem = ts.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        rem % 1_000_000
    )
}

/// Formats a day as `YYYY-MM-DD`.
pub fn format_day(day: Day) -> String {
    let (y, m, d) = civil_from_days(i64::from(day));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_generator_and_iso_forms() {
        let base = parse_timestamp("2026-11-25 01:51:45.226973").unwrap();
        assert_eq!(format_timestamp(base), "2026-11-25 01:51:45.226973");
        assert_eq!(parse_timestamp("2026-11-25T01:51:45.226973"), Some(base));
        assert_eq!(parse_timestamp("2026-11-25T01:51:45.226973Z"), Some(base));
        assert_eq!(
            parse_timestamp("2026-11-25T03:51:45.226973+02:00"),
            Some(base)
        );
        assert_eq!(
            parse_timestamp("2026-11-24T23:51:45.226973-0200"),
            Some(base)
        );
        assert_eq!(parse_timestamp("2026-11-25 01:51:45.226973999"), Some(base));
        assert_eq!(
            parse_timestamp("2026-11-25 01:51:45.2"),
            Some(base - 26_973)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29 00:00:00"),
            Some(1_709_164_800_000_000)
        );
    }

    proptest::proptest! {
        /// The generator's form read at fixed positions gives what the general reading
        /// gives, and takes every timestamp the generator writes; edits that break the form
        /// fall through to the general reading.
        #[test]
        fn generator_form_reads_as_any_form(
            ts in -62_000_000_000_000_000i64..253_000_000_000_000_000,
            later in 0i64..i64::MAX,
            edit in proptest::option::of((0usize..26, proptest::sample::select(vec![
                b'0', b'9', b'/', b':', b'-', b' ', b'T', b'.', b'a', 0xb0,
            ]))),
        ) {
            let text = format_timestamp(ts);
            if (1000..=9999).contains(&text[..4].parse::<i32>().unwrap_or(0)) && text.len() == 26 {
                proptest::prop_assert_eq!(generator_timestamp(text.as_bytes()), Some(ts), "{}", text);
                // Then times of the same day and of the next days (the per-thread day cache
                // hit, and missed by a key that left out the day).
                for next in [ts + later % MICROS_PER_DAY, ts + later % (3 * MICROS_PER_DAY)] {
                    let text = format_timestamp(next);
                    if text.len() == 26 {
                        proptest::prop_assert_eq!(generator_timestamp(text.as_bytes()), Some(next), "{}", text);
                    }
                }
            }
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = edit {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            let Ok(edited) = String::from_utf8(bytes) else { return Ok(()) };
            if let Some(fast) = generator_timestamp(edited.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), any_timestamp(&edited), "{}", edited);
            }
        }
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01 00:00:00",
            "2026-02-30 00:00:00",
            "2025-02-29 00:00:00",
            "2026-11-25 24:00:00",
            "2026-11-25 01:51:45.",
            "2026-11-25 01:51:45.1234567890",
            "2026-11-25 01:51:45+25:00",
            "2026/11/25 01:51:45",
            "2026-11-25 01:51:45 junk",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn buckets_by_day_and_hour() {
        let ts = parse_timestamp("2026-11-25 01:51:45.226973").unwrap();
        assert_eq!(format_day(day_of(ts)), "2026-11-25");
        assert_eq!(format_timestamp(hour_of(ts)), "2026-11-25 01:00:00.000000");
        let before_epoch = parse_timestamp("1969-12-31 23:30:00").unwrap();
        assert_eq!(day_of(before_epoch), -1);
        assert_eq!(
            format_timestamp(hour_of(before_epoch)),
            "1969-12-31 23:00:00.000000"
        );
        for d in [-800_000, -1, 0, 1, 20_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
