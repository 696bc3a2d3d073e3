//! Fixed-point money. Every amount inside the dataflow is an integer count of micro-dollars
//! (1 USD = 1,000,000 units), so sums are exact and never depend on arrival order, batching
//! or worker count. Amounts become `f64` only in sinks, through [`Money::to_f64`].

use serde::{Deserialize, Serialize};

/// Units of [`Money`] per US dollar (scale 10^-6).
pub const MICROS_PER_USD: i64 = 1_000_000;

/// An amount of money in micro-dollars (1e-6 USD).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Money(pub i64);

/// Why a decimal text is not a valid amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a decimal number (`"abc"`, `"1e"`, empty).
    NotANumber,
    /// More than the representable range of micro-dollars.
    OutOfRange,
}

impl std::fmt::Display for MoneyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoneyError::NotANumber => write!(f, "not a decimal number"),
            MoneyError::OutOfRange => write!(f, "amount out of range"),
        }
    }
}

impl Money {
    /// Zero dollars.
    pub const ZERO: Money = Money(0);

    /// Parses the decimal text of a JSON number (`9.47`, `-3`, `1.5e2`, `17.550000001`) straight
    /// into micro-dollars without a float round trip. Digits beyond the sixth decimal are rounded
    /// half away from zero, which is the only rounding this type ever does.
    pub fn parse_decimal(text: &str) -> Result<Money, MoneyError> {
        match Money::parse_plain(text.as_bytes()) {
            Some(money) => Ok(money),
            None => Money::parse_any(text),
        }
    }

    /// [`Money::parse_decimal`] of `-?[0-9]{1,12}(\.[0-9]{1,6})?`, the form every generated
    /// price takes, in one pass without rounding or allocation; `None` for any other text. The
    /// general reading allocated and scaled digit by digit: ~570 instructions a price, 1% of a
    /// replay.
    pub fn parse_plain(b: &[u8]) -> Option<Money> {
        let (negative, b) = match b.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, b),
        };
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if int_len == 0 || int_len > 12 {
            return None;
        }
        let digits = |run: &[u8]| run.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        let mut value = digits(&b[..int_len]) * MICROS_PER_USD;
        if let Some(rest) = b.get(int_len..).filter(|rest| !rest.is_empty()) {
            let fraction = rest.strip_prefix(b".")?;
            if fraction.is_empty() || fraction.len() > 6 || !fraction.iter().all(u8::is_ascii_digit)
            {
                return None;
            }
            let scale = 10i64.pow(6 - u32::try_from(fraction.len()).ok()?);
            value += digits(fraction) * scale;
        }
        Some(Money(if negative { -value } else { value }))
    }

    /// [`Money::parse_decimal`] of any decimal text.
    fn parse_any(text: &str) -> Result<Money, MoneyError> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => {
                let exp: i32 = rest[at + 1..].parse().map_err(|_| MoneyError::NotANumber)?;
                (&rest[..at], exp)
            }
            None => (rest, 0),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(MoneyError::NotANumber);
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::NotANumber);
        }
        // All digits as one string, with the decimal point `point` digits from the left.
        let digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let point = i64::try_from(int_part.len()).map_err(|_| MoneyError::OutOfRange)?
            + i64::from(exponent);
        // Keep digits up to six places after the point; the next digit decides rounding.
        let keep = point + 6;
        let mut value: i128 = 0;
        for (i, d) in digits.iter().enumerate() {
            let i = i64::try_from(i).map_err(|_| MoneyError::OutOfRange)?;
            if i >= keep {
                break;
            }
            value = value * 10 + i128::from(*d);
            if value > i128::from(i64::MAX) {
                return Err(MoneyError::OutOfRange);
            }
        }
        let len = i64::try_from(digits.len()).map_err(|_| MoneyError::OutOfRange)?;
        if keep > len {
            for _ in 0..(keep - len) {
                value *= 10;
                if value > i128::from(i64::MAX) {
                    return Err(MoneyError::OutOfRange);
                }
            }
        } else if keep >= 0 {
            let next = usize::try_from(keep).map_err(|_| MoneyError::OutOfRange)?;
            if digits.get(next).is_some_and(|d| *d >= 5) {
                value += 1;
            }
        }
        let value = i64::try_from(value).map_err(|_| MoneyError::OutOfRange)?;
        Ok(Money(if negative { -value } else { value }))
    }

    /// Dollars as the nearest `f64`; for sinks only.
    pub fn to_f64(self) -> f64 {
        // i64 -> f64 is exact below 2^53 micro-dollars (~9 billion USD); division rounds once.
        #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
        let units = self.0 as f64;
        units / 1_000_000.0
    }

    /// This amount times an integer quantity, or `None` on overflow.
    pub fn checked_mul(self, qty: i64) -> Option<Money> {
        self.0.checked_mul(qty).map(Money)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!(Money::parse_decimal("9.47"), Ok(Money(9_470_000)));
        assert_eq!(Money::parse_decimal("19.99"), Ok(Money(19_990_000)));
        assert_eq!(Money::parse_decimal("0.1"), Ok(Money(100_000)));
        assert_eq!(Money::parse_decimal("17"), Ok(Money(17_000_000)));
        assert_eq!(Money::parse_decimal("-2.5"), Ok(Money(-2_500_000)));
        assert_eq!(Money::parse_decimal("1.5e2"), Ok(Money(150_000_000)));
        assert_eq!(Money::parse_decimal("25E-1"), Ok(Money(2_500_000)));
        assert_eq!(Money::parse_decimal(".5"), Ok(Money(500_000)));
        // Seventh decimal rounds half away from zero.
        assert_eq!(Money::parse_decimal("0.0000005"), Ok(Money(1)));
        assert_eq!(Money::parse_decimal("0.0000004"), Ok(Money(0)));
        assert_eq!(Money::parse_decimal("-0.0000005"), Ok(Money(-1)));
        assert_eq!(Money::parse_decimal("1e-9"), Ok(Money(0)));
    }

    proptest::proptest! {
        /// The one-pass reading of plain decimals gives what the general one gives, and
        /// takes every price of that form.
        #[test]
        fn plain_decimals_read_as_any_decimal(
            text in "[-+ ]?[0-9]{0,14}(\\.[0-9]{0,8})?[eE ]?[0-9]?",
        ) {
            let plain = Money::parse_plain(text.as_bytes());
            if let Some(money) = plain {
                proptest::prop_assert_eq!(Ok(money), Money::parse_any(&text), "{}", text);
            }
            let shape = |s: &str| {
                let s = s.strip_prefix('-').unwrap_or(s);
                let (int, fraction) = s.split_once('.').unwrap_or((s, "1"));
                (1..=12).contains(&int.len())
                    && (1..=6).contains(&fraction.len())
                    && int.bytes().chain(fraction.bytes()).all(|c| c.is_ascii_digit())
            };
            proptest::prop_assert_eq!(plain.is_some(), shape(&text), "{}", text);
        }
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in ["", "abc", "1.2.3", "1e", "--1", ".", "1,5", "NaN", "1e99"] {
            assert!(Money::parse_decimal(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn converts_to_nearest_double() {
        assert_eq!(Money(9_470_000).to_f64(), 9.47);
        assert_eq!(Money(19_990_000).to_f64(), 19.99);
        assert_eq!(Money(1).to_string(), "0.000001");
        assert_eq!(Money(-2_500_000).to_string(), "-2.500000");
    }
}
