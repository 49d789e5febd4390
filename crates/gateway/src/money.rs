//! Money: nano-dollar amounts ([`NanoUsd`]) and prices per million tokens ([`NanosPerMTok`]),
//! always integers, read exactly from decimal text and shown as exact decimals. A leaf: the
//! catalog, the config, keys, the ledger and the pipeline all use it; it uses nothing of theirs.

use serde::{Deserialize, Deserializer};

/// A price in nano-dollars (10⁻⁹ USD) per million tokens: $2.50 per million tokens is
/// `NanosPerMTok(2_500_000_000)`, $0.075 is `NanosPerMTok(75_000_000)`. Read exactly from decimal
/// text with [`NanosPerMTok::parse`]; displayed as dollars per million tokens (`2.5`). Never a
/// float: see [`PriceText`] for how a TOML float becomes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NanosPerMTok(pub i64);

impl NanosPerMTok {
    /// Dollars per million tokens written in decimal (`2.5`, `0.075`, `10`): exact, not
    /// negative, at most nine decimal places (more are accepted only as trailing zeros).
    pub fn parse(text: &str) -> Result<NanosPerMTok, DecimalError> {
        nanos_from_decimal(text).map(NanosPerMTok)
    }
}

impl std::fmt::Display for NanosPerMTok {
    /// Dollars per million tokens, as short as exact: `2.5`, `10`, `0.075`. Honours width.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&decimal_from_nanos(self.0))
    }
}

impl<'de> Deserialize<'de> for NanosPerMTok {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = PriceText::deserialize(deserializer)?;
        NanosPerMTok::parse(&text.0).map_err(|e| serde::de::Error::custom(format!("price {e}")))
    }
}

/// A price as written in a config or the catalog, before it is checked: the text of a string
/// (`"2.5"`), an integer (`3`) or a float (`2.5`). TOML hands a float over as an `f64`; its
/// text is Rust's shortest decimal form of that `f64` (`format!("{f}")`, which never uses an
/// exponent), and that is what was written for any price of up to 15 significant digits, so
/// `0.075` reads as `"0.075"` and then as exactly 75,000,000 nano-dollars. No arithmetic is
/// done on the float. A string is taken as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceText(pub String);

impl<'de> Deserialize<'de> for PriceText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = PriceText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a price in dollars per million tokens: a number such as 2.5, or a string such as \"2.5\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PriceText, E> {
                Ok(PriceText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PriceText, E> {
                Ok(PriceText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PriceText, E> {
                Ok(PriceText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PriceText, E> {
                // `{}` of an f64 is its shortest round-trip decimal, without an exponent.
                Ok(PriceText(format!("{v}")))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

/// Money: nano-dollars (10⁻⁹ USD), always an integer. Parsed from and shown as exact decimal
/// dollars; no `f64` on the way in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NanoUsd(pub i64);

impl NanoUsd {
    /// Dollars written in decimal (`"0.1"` → 100,000,000), exactly; see [`nanos_from_decimal`].
    pub fn parse(dollars: &str) -> Result<NanoUsd, DecimalError> {
        nanos_from_decimal(dollars).map(NanoUsd)
    }

    /// Dollars to `places` decimal places (at most 9), rounded half up: `0.000240`, `0.1000`.
    pub fn rounded(self, places: u32) -> String {
        let places = places.min(9);
        let unit = 10i128.pow(9 - places);
        let rounded = (i128::from(self.0) + unit / 2).div_euclid(unit);
        let sign = if rounded < 0 { "-" } else { "" };
        let scale = 10u128.pow(places);
        let (whole, frac) = (rounded.unsigned_abs() / scale, rounded.unsigned_abs() % scale);
        if places == 0 {
            return format!("{sign}{whole}");
        }
        format!("{sign}{whole}.{frac:0width$}", width = places as usize)
    }

    /// Dollars as a JSON number for a reply: the exact decimal text (`0.00024`) read as a JSON
    /// number, so it is the double nearest the exact amount (JSON readers hold numbers as
    /// doubles); send the integer alongside for an exact figure.
    pub fn json_number(self) -> serde_json::Number {
        self.to_string().parse().unwrap_or_else(|_| serde_json::Number::from(self.0 / 1_000_000_000))
    }
}

impl std::fmt::Display for NanoUsd {
    /// Dollars, as short as exact: `0.00008`, `1.5`, `100000`. Honours width.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&decimal_from_nanos(self.0))
    }
}

/// Why decimal text is not an exact, non-negative amount of nano-units. Quotes at most 40
/// characters of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("`{0}` is not a decimal number such as 2.5")]
    NotDecimal(String),
    #[error("`{0}` is negative")]
    Negative(String),
    #[error("`{0}` has more than 9 decimal places (amounts are exact to a nano-dollar)")]
    TooPrecise(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// Nano-units (10⁻⁹) in decimal text, exactly: `"2.5"` → 2,500,000,000, `"0.075"` →
/// 75,000,000, `"1e-3"` → 1,000,000. Digits with an optional fraction and an optional exponent
/// (JSON's number grammar without the minus sign); no sign, spaces or underscores. Trailing
/// zeros past the ninth decimal place are fine; any other digit there is
/// [`DecimalError::TooPrecise`]. Past `i64::MAX` nano-units is [`DecimalError::TooLarge`].
pub fn nanos_from_decimal(text: &str) -> Result<i64, DecimalError> {
    let quoted = || {
        let mut q: String = text.chars().take(40).collect();
        if q.len() < text.len() {
            q.push('…');
        }
        q
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (unsigned, negative) = match text.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !digits(int) || (mantissa.contains('.') && !digits(frac)) {
        return Err(DecimalError::NotDecimal(quoted()));
    }
    // Exponents past a million only matter for zero; clamp so the arithmetic below is small.
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (magnitude, sign) = match e.strip_prefix('-') {
                Some(m) => (m, -1),
                None => (e.strip_prefix('+').unwrap_or(e), 1),
            };
            if !digits(magnitude) {
                return Err(DecimalError::NotDecimal(quoted()));
            }
            sign * magnitude.parse::<i64>().map_or(1_000_000, |m| m.min(1_000_000))
        }
    };
    if negative {
        return Err(DecimalError::Negative(quoted()));
    }
    // The value is 0.<significant> × 10^point.
    let all = [int.as_bytes(), frac.as_bytes()].concat();
    let leading = all.iter().take_while(|&&b| b == b'0').count();
    let point = int.len() as i64 + exponent - leading as i64;
    let significant = &all[leading..];
    let trailing = significant.iter().rev().take_while(|&&b| b == b'0').count();
    let significant = &significant[..significant.len() - trailing];
    if significant.is_empty() {
        return Ok(0);
    }
    let len = significant.len() as i64;
    let shift = point + 9 - len; // nano-units = significant × 10^shift
    if shift < 0 {
        return Err(DecimalError::TooPrecise(quoted()));
    }
    if len + shift > 19 {
        return Err(DecimalError::TooLarge(quoted()));
    }
    let mut n: i64 = 0;
    let digit_values = significant.iter().map(|b| i64::from(b - b'0')).chain((0..shift).map(|_| 0));
    for d in digit_values {
        n = n.checked_mul(10).and_then(|n| n.checked_add(d)).ok_or_else(|| DecimalError::TooLarge(quoted()))?;
    }
    Ok(n)
}

/// Nano-units as the shortest exact decimal: 2,500,000,000 → `2.5`, 75 → `0.000000075`, 0 →
/// `0`. Integer arithmetic only.
pub fn decimal_from_nanos(nanos: i64) -> String {
    let abs = nanos.unsigned_abs();
    let (whole, frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
    let mut out = String::with_capacity(24);
    if nanos < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(whole));
    if frac != 0 {
        // Nine digits with leading zeros, then without the trailing ones.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(frac + 1_000_000_000);
        out.push('.');
        out.push_str(digits[1..].trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_reads_exactly_to_the_nano() {
        for (text, nanos) in [
            ("2.5", 2_500_000_000),
            ("0.075", 75_000_000),
            ("10", 10_000_000_000),
            ("0", 0),
            ("0.000000001", 1),
            ("0.1000000000000", 100_000_000), // trailing zeros past the ninth place are fine
            ("007.50", 7_500_000_000),
            ("1e-9", 1),
            ("2.5E+3", 2_500_000_000_000),
            ("0e999999999999999999999", 0),
            ("9223372036.854775807", i64::MAX),
            ("1234567.123456789", 1_234_567_123_456_789),
        ] {
            assert_eq!(nanos_from_decimal(text), Ok(nanos), "{text}");
            assert_eq!(nanos_from_decimal(&decimal_from_nanos(nanos)), Ok(nanos), "round trip of {text}");
        }
        let too_precise = |t: &str| matches!(nanos_from_decimal(t), Err(DecimalError::TooPrecise(_)));
        let too_large = |t: &str| matches!(nanos_from_decimal(t), Err(DecimalError::TooLarge(_)));
        let not_decimal = |t: &str| matches!(nanos_from_decimal(t), Err(DecimalError::NotDecimal(_)));
        assert!(too_precise("0.0000000001") && too_precise("2.1234567891") && too_precise("1e-10"));
        assert!(too_large("9223372036.854775808") && too_large("1e20") && too_large("99999999999"));
        assert!(too_large("1e999999999999999999999"));
        for bad in ["", ".", ".5", "5.", "+5", " 5", "5 ", "1_000", "2,5", "1e", "1e+", "0x10", "inf", "NaN", "--1"] {
            assert!(not_decimal(bad), "{bad:?}");
        }
        assert_eq!(nanos_from_decimal("-2.5"), Err(DecimalError::Negative("-2.5".into())));
        let long = "1".repeat(100);
        let err = nanos_from_decimal(&long).unwrap_err().to_string();
        assert!(err.len() < 80 && err.contains('…'), "{err}");
    }

    #[test]
    fn money_shows_as_exact_or_rounded_dollars() {
        assert_eq!(NanosPerMTok(2_500_000_000).to_string(), "2.5");
        assert_eq!(format!("{:>6}|", NanosPerMTok(10_000_000_000)), "    10|");
        assert_eq!(NanosPerMTok::parse("0.075"), Ok(NanosPerMTok(75_000_000)));
        assert_eq!(NanoUsd(80_000).to_string(), "0.00008");
        assert_eq!(NanoUsd(240_000).rounded(6), "0.000240");
        assert_eq!(NanoUsd(1_500).rounded(6), "0.000002", "half rounds up");
        assert_eq!(NanoUsd(1_499).rounded(6), "0.000001");
        assert_eq!(NanoUsd(100_000_000).rounded(4), "0.1000");
        assert_eq!(NanoUsd(0).rounded(4), "0.0000");
        assert_eq!(NanoUsd(2_499_999_999).rounded(0), "2");
        assert_eq!(NanoUsd(i64::MAX).rounded(9), "9223372036.854775807");
        assert_eq!(NanoUsd(-1_500).rounded(6), "-0.000001");
        assert_eq!(NanoUsd::parse("0.021"), Ok(NanoUsd(21_000_000)));
        assert_eq!(serde_json::json!(NanoUsd(240_000).json_number()).to_string(), "0.00024");
        assert_eq!(serde_json::json!(NanoUsd(5_000_000_000).json_number()).to_string(), "5");
        assert_eq!(NanoUsd(1).json_number().as_f64(), Some(1e-9));
    }
}
