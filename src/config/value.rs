//! Parsing and printing of setting values, as PostgreSQL's `guc.c` does it:
//! Booleans (`parse_bool`), integers with memory and time units (`parse_int`,
//! `convert_to_base_unit`), reals (`parse_real`), and SHOW's formatting, which
//! picks the largest unit that divides the value exactly (`128MB`, `5min`).
//!
//! Units are case-sensitive (`MB`, not `mb`), as in PostgreSQL.

/// The base unit of an integer setting; a bare number is in this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Kilobytes,
    Megabytes,
    /// 8 kB data blocks (`shared_buffers`).
    Blocks,
    /// 8 kB WAL blocks (`wal_buffers`).
    WalBlocks,
    Milliseconds,
    Seconds,
    Minutes,
}

const BLOCK_KB: f64 = 8.0;
const KB: f64 = 1024.0;

/// One row of PostgreSQL's unit conversion tables: `value_in_unit * multiplier`
/// is the value in the base unit. Rows for a base unit go from largest to smallest.
struct Conversion {
    unit: &'static str,
    multiplier: f64,
}

const fn conv(unit: &'static str, multiplier: f64) -> Conversion {
    Conversion { unit, multiplier }
}

const BYTES_TABLE: &[Conversion] = &[
    conv("TB", KB * KB * KB * KB),
    conv("GB", KB * KB * KB),
    conv("MB", KB * KB),
    conv("kB", KB),
    conv("B", 1.0),
];
const KB_TABLE: &[Conversion] = &[
    conv("TB", KB * KB * KB),
    conv("GB", KB * KB),
    conv("MB", KB),
    conv("kB", 1.0),
    conv("B", 1.0 / KB),
];
const MB_TABLE: &[Conversion] = &[
    conv("TB", KB * KB),
    conv("GB", KB),
    conv("MB", 1.0),
    conv("kB", 1.0 / KB),
    conv("B", 1.0 / (KB * KB)),
];
const BLOCKS_TABLE: &[Conversion] = &[
    conv("TB", KB * KB * KB / BLOCK_KB),
    conv("GB", KB * KB / BLOCK_KB),
    conv("MB", KB / BLOCK_KB),
    conv("kB", 1.0 / BLOCK_KB),
    conv("B", 1.0 / (BLOCK_KB * KB)),
];
const MS_TABLE: &[Conversion] = &[
    conv("d", 1000.0 * 60.0 * 60.0 * 24.0),
    conv("h", 1000.0 * 60.0 * 60.0),
    conv("min", 1000.0 * 60.0),
    conv("s", 1000.0),
    conv("ms", 1.0),
    conv("us", 1.0 / 1000.0),
];
const S_TABLE: &[Conversion] = &[
    conv("d", 60.0 * 60.0 * 24.0),
    conv("h", 60.0 * 60.0),
    conv("min", 60.0),
    conv("s", 1.0),
    conv("ms", 1.0 / 1000.0),
    conv("us", 1.0 / (1000.0 * 1000.0)),
];
const MIN_TABLE: &[Conversion] = &[
    conv("d", 60.0 * 24.0),
    conv("h", 60.0),
    conv("min", 1.0),
    conv("s", 1.0 / 60.0),
    conv("ms", 1.0 / (1000.0 * 60.0)),
    conv("us", 1.0 / (1000.0 * 1000.0 * 60.0)),
];

const MEMORY_UNITS_HINT: &str =
    "Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".";
const TIME_UNITS_HINT: &str =
    "Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".";
const INTEGER_RANGE_HINT: &str = "Value exceeds integer range.";

impl Unit {
    /// The unit's name in messages and in `pg_settings.unit` ("8kB" for blocks).
    pub fn name(self) -> &'static str {
        match self {
            Unit::Bytes => "B",
            Unit::Kilobytes => "kB",
            Unit::Megabytes => "MB",
            Unit::Blocks | Unit::WalBlocks => "8kB",
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
            Unit::Minutes => "min",
        }
    }

    fn is_memory(self) -> bool {
        !matches!(self, Unit::Milliseconds | Unit::Seconds | Unit::Minutes)
    }

    fn table(self) -> &'static [Conversion] {
        match self {
            Unit::Bytes => BYTES_TABLE,
            Unit::Kilobytes => KB_TABLE,
            Unit::Megabytes => MB_TABLE,
            Unit::Blocks | Unit::WalBlocks => BLOCKS_TABLE,
            Unit::Milliseconds => MS_TABLE,
            Unit::Seconds => S_TABLE,
            Unit::Minutes => MIN_TABLE,
        }
    }

    fn hint(self) -> &'static str {
        if self.is_memory() {
            MEMORY_UNITS_HINT
        } else {
            TIME_UNITS_HINT
        }
    }
}

/// PostgreSQL's `parse_bool`: a non-empty, case-insensitive prefix of `true`,
/// `false`, `yes`, `no`; `on`/`off` need at least two letters; or `1`/`0`.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.to_ascii_lowercase();
    let is_prefix_of = |word: &str| !v.is_empty() && word.starts_with(v.as_str());
    match v.as_bytes().first()? {
        b't' if is_prefix_of("true") => Some(true),
        b'f' if is_prefix_of("false") => Some(false),
        b'y' if is_prefix_of("yes") => Some(true),
        b'n' if is_prefix_of("no") => Some(false),
        b'o' if v.len() >= 2 && is_prefix_of("on") => Some(true),
        b'o' if v.len() >= 2 && is_prefix_of("off") => Some(false),
        b'1' if v.len() == 1 => Some(true),
        b'0' if v.len() == 1 => Some(false),
        _ => None,
    }
}

/// PostgreSQL's `parse_int`: an integer (decimal, `0x` hex or `0` octal) or a
/// decimal fraction, optionally followed by a unit, rounded half-to-even to an
/// `int`. `Err(hint)` carries PostgreSQL's hint, if it gives one.
pub fn parse_int(value: &str, unit: Option<Unit>) -> Result<i32, Option<&'static str>> {
    // Like PostgreSQL, read it as a float only when strtol stopped at a decimal
    // point or an exponent, or overflowed.
    let (mut number, rest) = match c_strtol(value) {
        Strtol::Number(n, rest) if !rest.starts_with(['.', 'e', 'E']) => (n as f64, rest),
        Strtol::Number(..) | Strtol::Overflow => c_strtod(value).ok_or(None)?,
        Strtol::NoDigits if value.starts_with(['.', 'e', 'E']) => c_strtod(value).ok_or(None)?,
        Strtol::NoDigits => return Err(None),
    };
    if number.is_nan() {
        return Err(None);
    }
    let rest = rest.trim_start_matches(is_c_space);
    if !rest.is_empty() {
        let unit = unit.ok_or(None)?;
        number = convert_to_base_unit(number, rest, unit).ok_or(Some(unit.hint()))?;
    }
    let number = number.round_ties_even();
    if number > i32::MAX as f64 || number < i32::MIN as f64 {
        return Err(Some(INTEGER_RANGE_HINT));
    }
    Ok(number as i32)
}

/// PostgreSQL's `parse_real`: a C `strtod` number, optionally with a unit.
pub fn parse_real(value: &str, unit: Option<Unit>) -> Result<f64, Option<&'static str>> {
    let (number, rest) = c_strtod(value).ok_or(None)?;
    if number.is_nan() {
        return Err(None);
    }
    let rest = rest.trim_start_matches(is_c_space);
    if rest.is_empty() {
        return Ok(number);
    }
    let unit = unit.ok_or(None)?;
    convert_to_base_unit(number, rest, unit).ok_or(Some(unit.hint()))
}

/// PostgreSQL's `convert_to_base_unit`. A fractional value is rounded to a whole
/// number of the next smaller unit ("1.5GB" is 1536MB).
fn convert_to_base_unit(value: f64, unit_text: &str, base: Unit) -> Option<f64> {
    const MAX_UNIT_LEN: usize = 3;
    let unit_end = unit_text.find(is_c_space).unwrap_or(unit_text.len());
    let (unit, trailing) = unit_text.split_at(unit_end);
    if unit.len() > MAX_UNIT_LEN || !trailing.trim_start_matches(is_c_space).is_empty() {
        return None;
    }
    let table = base.table();
    let i = table.iter().position(|c| c.unit == unit)?;
    let mut converted = value * table[i].multiplier;
    if let Some(next) = table.get(i + 1) {
        converted = (converted / next.multiplier).round_ties_even() * next.multiplier;
    }
    Some(converted)
}

/// SHOW's form of an integer: positive values with a unit are printed in the
/// largest unit that divides them exactly (`convert_int_from_base_unit`).
pub fn format_int(value: i32, unit: Option<Unit>) -> String {
    let Some(unit) = unit.filter(|_| value > 0) else {
        return value.to_string();
    };
    let value = i64::from(value);
    for c in unit.table() {
        if c.multiplier <= 1.0 || value % (c.multiplier as i64) == 0 {
            let shown = (value as f64 / c.multiplier).round_ties_even() as i64;
            return format!("{shown}{}", c.unit);
        }
    }
    value.to_string()
}

/// C's `%g` (six significant digits, trailing zeros removed), which PostgreSQL
/// uses to show reals and their limits.
pub fn format_g(value: f64) -> String {
    const PRECISION: i32 = 6;
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent after rounding to PRECISION significant digits.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent) as usize;
        strip_fraction_zeros(&format!("{value:.decimals$}")).to_string()
    }
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// C's `isspace` in the "C" locale.
pub fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// What C's `strtol` made of a string.
enum Strtol<'a> {
    /// The value and the unread rest.
    Number(i64, &'a str),
    /// No digits: `end` is the start of the string.
    NoDigits,
    /// ERANGE.
    Overflow,
}

/// C's `strtol(s, &end, 0)` on a 64-bit `long`: leading white space, a sign, then
/// `0x` hex, `0` octal or decimal digits.
fn c_strtol(s: &str) -> Strtol<'_> {
    let body = s.trim_start_matches(is_c_space);
    let (negative, body) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let bytes = body.as_bytes();
    let hex_digits_follow = bytes.len() > 2 && bytes[2].is_ascii_hexdigit();
    let (radix, digits_start) = if bytes.len() >= 2 && bytes[0] == b'0' && (bytes[1] | 0x20) == b'x'
    {
        if hex_digits_follow {
            (16, 2)
        } else {
            // "0x" with no hex digit: strtol reads just the "0".
            return Strtol::Number(0, &body[1..]);
        }
    } else if bytes.first() == Some(&b'0') {
        (8, 0)
    } else {
        (10, 0)
    };
    let digits_len = body[digits_start..]
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if digits_len == 0 {
        return Strtol::NoDigits;
    }
    let digits = &body[digits_start..digits_start + digits_len];
    let Ok(magnitude) = i128::from_str_radix(digits, radix) else {
        return Strtol::Overflow;
    };
    let value = if negative { -magnitude } else { magnitude };
    match i64::try_from(value) {
        Ok(value) => Strtol::Number(value, &body[digits_start + digits_len..]),
        Err(_) => Strtol::Overflow,
    }
}

/// C's `strtod` for decimal input and `inf`/`infinity`/`nan`: the longest numeric
/// prefix. `None` when there is no number or the result is out of range (ERANGE).
fn c_strtod(s: &str) -> Option<(f64, &str)> {
    let body = s.trim_start_matches(is_c_space);
    let start = s.len() - body.len();
    let bytes = body.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let lower = body[i..].to_ascii_lowercase();
    for word in ["infinity", "inf", "nan"] {
        if lower.starts_with(word) {
            let end = i + word.len();
            let value: f64 = if word == "nan" {
                f64::NAN
            } else if bytes[0] == b'-' {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            return Some((value, &s[start + end..]));
        }
    }
    let int_digits = count_digits(&bytes[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        frac_digits = count_digits(&bytes[i + 1..]);
        if int_digits + frac_digits > 0 {
            i += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_digits = count_digits(&bytes[j..]);
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    let text = &body[..i];
    let value: f64 = text.parse().ok()?;
    let mantissa_is_zero = text
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.bytes().all(|b| !(b'1'..=b'9').contains(&b)));
    let out_of_range = value.is_infinite()
        || (value != 0.0 && !value.is_normal())
        || (value == 0.0 && !mantissa_is_zero);
    if out_of_range {
        return None;
    }
    Some((value, &s[start + i..]))
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_accept_postgres_spellings_and_prefixes() {
        for on in ["on", "ON", "true", "t", "tr", "T", "yes", "yES", "y", "1"] {
            assert_eq!(parse_bool(on), Some(true), "{on}");
        }
        for off in ["off", "of", "false", "f", "no", "n", "0"] {
            assert_eq!(parse_bool(off), Some(false), "{off}");
        }
        for bad in ["", "o", " on", "maybe", "truex", "2", "01"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn memory_units_convert_to_the_base_unit() {
        let blocks = Some(Unit::Blocks);
        assert_eq!(parse_int("128MB", blocks), Ok(16384));
        assert_eq!(parse_int("1GB", blocks), Ok(131072));
        assert_eq!(parse_int("8kB", blocks), Ok(1));
        assert_eq!(parse_int("1024", blocks), Ok(1024));
        assert_eq!(parse_int("1 MB", blocks), Ok(128));
        let kb = Some(Unit::Kilobytes);
        assert_eq!(parse_int("1.5MB", kb), Ok(1536));
        assert_eq!(parse_int("100000 B", kb), Ok(98));
        assert_eq!(parse_int("10 B", kb), Ok(0));
        assert_eq!(parse_int("1GB", Some(Unit::Megabytes)), Ok(1024));
        assert_eq!(parse_int("64mb", kb), Err(Some(MEMORY_UNITS_HINT)));
        assert_eq!(parse_int("1 MB x", kb), Err(Some(MEMORY_UNITS_HINT)));
    }

    #[test]
    fn time_units_convert_and_round_half_to_even() {
        let ms = Some(Unit::Milliseconds);
        assert_eq!(parse_int("1s", ms), Ok(1000));
        assert_eq!(parse_int("1.5 s", ms), Ok(1500));
        assert_eq!(parse_int("5min", ms), Ok(300_000));
        assert_eq!(parse_int("2h", ms), Ok(7_200_000));
        assert_eq!(parse_int("1d", ms), Ok(86_400_000));
        assert_eq!(parse_int("1500us", ms), Ok(2));
        assert_eq!(parse_int("1.5", ms), Ok(2));
        assert_eq!(parse_int("0.5", ms), Ok(0));
        assert_eq!(parse_int("5 parsecs", ms), Err(Some(TIME_UNITS_HINT)));
        assert_eq!(parse_int("1min", Some(Unit::Seconds)), Ok(60));
    }

    #[test]
    fn integers_follow_strtol_and_strtod() {
        assert_eq!(parse_int(" 7 ", None), Ok(7));
        assert_eq!(parse_int("0x10", None), Ok(16));
        assert_eq!(parse_int("010", None), Ok(8));
        assert_eq!(parse_int("1e3", None), Ok(1000));
        assert_eq!(parse_int("-5", None), Ok(-5));
        assert_eq!(parse_int("abc", None), Err(None));
        assert_eq!(parse_int("", None), Err(None));
        assert_eq!(parse_int("5 kB", None), Err(None));
        assert_eq!(
            parse_int("100000000000", None),
            Err(Some(INTEGER_RANGE_HINT))
        );
        assert_eq!(parse_int("nan", None), Err(None));
        assert_eq!(parse_int("inf", None), Err(None));
        assert_eq!(parse_int(".5e1", None), Ok(5));
        assert_eq!(parse_int(" .5", None), Err(None));
        assert_eq!(
            parse_int("99999999999999999999999", None),
            Err(Some(INTEGER_RANGE_HINT))
        );
    }

    #[test]
    fn reals_parse_like_strtod() {
        assert_eq!(parse_real("0.9", None), Ok(0.9));
        assert_eq!(parse_real(".5e0", None), Ok(0.5));
        assert_eq!(parse_real("1.", None), Ok(1.0));
        assert_eq!(parse_real("abc", None), Err(None));
        assert_eq!(parse_real("0.5 s", None), Err(None));
        assert_eq!(parse_real("1e400", None), Err(None));
        assert_eq!(parse_real("nan", None), Err(None));
    }

    #[test]
    fn show_picks_the_largest_exact_unit() {
        assert_eq!(format_int(16384, Some(Unit::Blocks)), "128MB");
        assert_eq!(format_int(2048, Some(Unit::WalBlocks)), "16MB");
        assert_eq!(format_int(1000, Some(Unit::Blocks)), "8000kB");
        assert_eq!(format_int(300, Some(Unit::Seconds)), "5min");
        assert_eq!(format_int(60, Some(Unit::Seconds)), "1min");
        assert_eq!(format_int(200, Some(Unit::Milliseconds)), "200ms");
        assert_eq!(format_int(1000, Some(Unit::Milliseconds)), "1s");
        assert_eq!(format_int(1500, Some(Unit::Milliseconds)), "1500ms");
        assert_eq!(format_int(3_600_000, Some(Unit::Milliseconds)), "1h");
        assert_eq!(format_int(1024, Some(Unit::Megabytes)), "1GB");
        assert_eq!(format_int(80, Some(Unit::Megabytes)), "80MB");
        assert_eq!(format_int(16 << 20, Some(Unit::Bytes)), "16MB");
        assert_eq!(format_int(0, Some(Unit::Milliseconds)), "0");
        assert_eq!(format_int(-1, Some(Unit::WalBlocks)), "-1");
        assert_eq!(format_int(5432, None), "5432");
    }

    #[test]
    fn format_g_matches_c() {
        assert_eq!(format_g(0.9), "0.9");
        assert_eq!(format_g(1.0), "1");
        assert_eq!(format_g(0.0), "0");
        assert_eq!(format_g(1.5), "1.5");
        assert_eq!(format_g(-0.00001234567), "-1.23457e-05");
        assert_eq!(format_g(123456789.0), "1.23457e+08");
        assert_eq!(format_g(100000.0), "100000");
        assert_eq!(format_g(0.0001), "0.0001");
    }
}
