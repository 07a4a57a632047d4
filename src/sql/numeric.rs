//! `numeric`: exact decimal arithmetic with PostgreSQL 15's scales and limits.
//!
//! A finite value is a sign, a coefficient of decimal digits and a display scale
//! (`dscale`, the digits shown after the point): 1.50 is coefficient 150, scale 2.
//! Results carry the scale PostgreSQL gives them, so they print identically:
//! * `+`/`-`: the larger input scale; `*`: the sum of the scales (at most 16383);
//! * `/`: `select_div_scale` — at least 16 significant digits, computed from the
//!   inputs' base-10000 weights exactly as PostgreSQL does — rounded half away from
//!   zero; `%`: the larger input scale, sign of the dividend;
//! * input keeps the written scale (`1.50e1` is 15.0), rounding is half away from
//!   zero (`2.5::int` is 3), and `NaN`, `Infinity`, `-Infinity` follow PostgreSQL's
//!   rules (NaN equals itself and sorts above everything).
//!
//! The coefficient is kept in base 10 (one digit per byte): simple and exact;
//! speed can come later with PostgreSQL's base-10000 on-disk form.

use std::cmp::Ordering;
use std::fmt;

use super::digits::{mag_add, mag_cmp, mag_divmod, mag_mul, mag_sub};
use crate::error::{sqlstate, QuillError, QuillResult};

/// Largest number of decimal digits before the point (PostgreSQL: weight 32767
/// in base-10000 digits).
const MAX_INTEGER_DIGITS: i64 = 131_072;
/// Largest display scale (NUMERIC_DSCALE_MAX).
const MAX_DSCALE: u32 = 16_383;
/// Division keeps at least this many significant digits (NUMERIC_MIN_SIG_DIGITS).
const MIN_SIG_DIGITS: i64 = 16;
/// Largest scale division chooses (NUMERIC_MAX_DISPLAY_SCALE).
const MAX_DISPLAY_SCALE: i64 = 1000;

/// A `numeric` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Numeric {
    NaN,
    PosInf,
    NegInf,
    Finite(Decimal),
}

/// A finite decimal: (-1)^negative × coef × 10^-scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// Most significant digit first, no leading zeros; empty means zero.
    coef: Vec<u8>,
    scale: u32,
}

fn overflow() -> QuillError {
    QuillError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

fn division_by_zero() -> QuillError {
    QuillError::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
}

impl Decimal {
    fn new(negative: bool, mut coef: Vec<u8>, scale: u32) -> Decimal {
        let leading = coef.iter().take_while(|&&d| d == 0).count();
        coef.drain(..leading);
        let negative = negative && !coef.is_empty();
        Decimal {
            negative,
            coef,
            scale,
        }
    }

    fn is_zero(&self) -> bool {
        self.coef.is_empty()
    }

    /// Decimal exponent of the first significant digit plus one (digits before the
    /// point for values ≥ 1); meaningless for zero.
    fn integer_digits(&self) -> i64 {
        self.coef.len() as i64 - self.scale as i64
    }

    /// The coefficient rescaled to `scale` (≥ self.scale).
    fn coef_at(&self, scale: u32) -> Vec<u8> {
        let mut c = self.coef.clone();
        if !c.is_empty() {
            c.resize(c.len() + (scale - self.scale) as usize, 0);
        }
        c
    }

    /// Rounds half away from zero to `scale` digits after the point; a negative
    /// scale rounds to tens, hundreds… The result's display scale is max(scale, 0).
    fn round(&self, scale: i32) -> Decimal {
        self.rescale(scale, true)
    }

    /// [`Decimal::round`], or truncation toward zero when `round` is false.
    fn rescale(&self, scale: i32, round: bool) -> Decimal {
        let drop = self.scale as i64 - scale as i64;
        if drop <= 0 {
            return Decimal::new(self.negative, self.coef_at(scale as u32), scale as u32);
        }
        let drop = drop as usize;
        let keep = self.coef.len().saturating_sub(drop);
        let round_up =
            round && self.coef.len() >= drop && self.coef.get(keep).is_some_and(|&d| d >= 5);
        let mut coef = self.coef[..keep].to_vec();
        if round_up {
            coef = mag_add(&coef, &[1]);
        }
        if scale < 0 && !coef.is_empty() {
            coef.resize(coef.len() + (-scale) as usize, 0);
        }
        Decimal::new(self.negative, coef, scale.max(0) as u32)
    }

    /// PostgreSQL's limits on a stored value.
    fn check_limits(self) -> QuillResult<Decimal> {
        if self.scale > MAX_DSCALE
            || (!self.is_zero() && self.integer_digits() > MAX_INTEGER_DIGITS)
        {
            return Err(overflow());
        }
        Ok(self)
    }

    /// The base-10000 weight and first base-10000 digit PostgreSQL's
    /// `select_div_scale` looks at.
    fn nbase_weight_and_first_digit(&self) -> (i64, u32) {
        if self.is_zero() {
            return (0, 0);
        }
        let exp = self.integer_digits() - 1;
        let weight = exp.div_euclid(4);
        let count = (exp - 4 * weight + 1) as usize;
        let first = (0..count).fold(0u32, |acc, i| {
            acc * 10 + *self.coef.get(i).unwrap_or(&0) as u32
        });
        (weight, first)
    }
}

impl Numeric {
    pub fn zero() -> Numeric {
        Numeric::Finite(Decimal::new(false, Vec::new(), 0))
    }

    pub fn from_i64(v: i64) -> Numeric {
        let digits = v
            .unsigned_abs()
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect();
        Numeric::Finite(Decimal::new(v < 0, digits, 0))
    }

    pub fn is_nan(&self) -> bool {
        matches!(self, Numeric::NaN)
    }

    /// PostgreSQL's `numeric_in`.
    pub fn parse(text: &str) -> QuillResult<Numeric> {
        let invalid = || {
            QuillError::new(
                sqlstate::INVALID_TEXT_REPRESENTATION,
                format!("invalid input syntax for type numeric: \"{text}\""),
            )
        };
        let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
        let (negative, unsigned) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        if unsigned.eq_ignore_ascii_case("nan") && unsigned.len() == t.len() {
            return Ok(Numeric::NaN);
        }
        if unsigned.eq_ignore_ascii_case("infinity") || unsigned.eq_ignore_ascii_case("inf") {
            return Ok(if negative {
                Numeric::NegInf
            } else {
                Numeric::PosInf
            });
        }
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(invalid());
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return Err(invalid());
                }
                let magnitude: i64 = digits.parse().unwrap_or(i64::MAX);
                if magnitude > MAX_INTEGER_DIGITS - 4 {
                    return Err(overflow());
                }
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let coef: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let scale = frac_part.len() as i64 - exponent;
        let value = if scale >= 0 {
            Decimal::new(negative, coef, scale as u32)
        } else {
            let mut coef = coef;
            coef.resize(coef.len() + (-scale) as usize, 0);
            Decimal::new(negative, coef, 0)
        };
        value.check_limits().map(Numeric::Finite)
    }

    pub fn neg(&self) -> Numeric {
        match self {
            Numeric::NaN => Numeric::NaN,
            Numeric::PosInf => Numeric::NegInf,
            Numeric::NegInf => Numeric::PosInf,
            Numeric::Finite(d) => {
                Numeric::Finite(Decimal::new(!d.negative, d.coef.clone(), d.scale))
            }
        }
    }

    pub fn abs(&self) -> Numeric {
        match self {
            Numeric::NegInf => Numeric::PosInf,
            Numeric::Finite(d) => Numeric::Finite(Decimal::new(false, d.coef.clone(), d.scale)),
            other => other.clone(),
        }
    }

    /// -1, 0 or 1 (NaN counts as 0, as only infinities ask).
    fn sign(&self) -> i32 {
        match self {
            Numeric::NaN => 0,
            Numeric::PosInf => 1,
            Numeric::NegInf => -1,
            Numeric::Finite(d) if d.is_zero() => 0,
            Numeric::Finite(d) => {
                if d.negative {
                    -1
                } else {
                    1
                }
            }
        }
    }

    pub fn add(&self, other: &Numeric) -> QuillResult<Numeric> {
        use Numeric::*;
        Ok(match (self, other) {
            (NaN, _) | (_, NaN) | (PosInf, NegInf) | (NegInf, PosInf) => NaN,
            (PosInf, _) | (_, PosInf) => PosInf,
            (NegInf, _) | (_, NegInf) => NegInf,
            (Finite(a), Finite(b)) => Finite(add_finite(a, b, false).check_limits()?),
        })
    }

    pub fn sub(&self, other: &Numeric) -> QuillResult<Numeric> {
        match (self, other) {
            (Numeric::Finite(a), Numeric::Finite(b)) => {
                Ok(Numeric::Finite(add_finite(a, b, true).check_limits()?))
            }
            _ => self.add(&other.neg()),
        }
    }

    pub fn mul(&self, other: &Numeric) -> QuillResult<Numeric> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (Finite(a), Finite(b)) => {
                let product = Decimal::new(
                    a.negative != b.negative,
                    mag_mul(&a.coef, &b.coef),
                    a.scale + b.scale,
                );
                let product = if product.scale > MAX_DSCALE {
                    product.round(MAX_DSCALE as i32)
                } else {
                    product
                };
                product.check_limits().map(Finite)
            }
            _ => Ok(match self.sign() * other.sign() {
                0 => NaN,
                1 => PosInf,
                _ => NegInf,
            }),
        }
    }

    pub fn div(&self, other: &Numeric) -> QuillResult<Numeric> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (PosInf | NegInf, PosInf | NegInf) => Ok(NaN),
            (PosInf | NegInf, _) => match other.sign() {
                0 => Err(division_by_zero()),
                s => Ok(if s * self.sign() > 0 { PosInf } else { NegInf }),
            },
            (Finite(_), _) if other.sign() == 0 => Err(division_by_zero()),
            (Finite(_), PosInf | NegInf) => Ok(Numeric::zero()),
            (Finite(a), Finite(b)) => {
                let rscale = select_div_scale(a, b);
                // |a| / |b| scaled to rscale digits: a.coef · 10^(rscale + b.scale - a.scale).
                let mut dividend = a.coef.clone();
                let shift = rscale as i64 + b.scale as i64 - a.scale as i64;
                dividend.resize(dividend.len() + shift.max(0) as usize, 0);
                let (mut quotient, remainder) = mag_divmod(&dividend, &b.coef);
                if mag_cmp(&mag_add(&remainder, &remainder), &b.coef) != Ordering::Less {
                    quotient = mag_add(&quotient, &[1]);
                }
                Decimal::new(a.negative != b.negative, quotient, rscale)
                    .check_limits()
                    .map(Finite)
            }
        }
    }

    pub fn rem(&self, other: &Numeric) -> QuillResult<Numeric> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (PosInf | NegInf, _) => {
                if other.sign() == 0 {
                    Err(division_by_zero())
                } else {
                    Ok(NaN)
                }
            }
            (Finite(_), PosInf | NegInf) => Ok(self.clone()),
            (Finite(a), Finite(b)) => {
                if b.is_zero() {
                    return Err(division_by_zero());
                }
                let scale = a.scale.max(b.scale);
                let (_, remainder) = mag_divmod(&a.coef_at(scale), &b.coef_at(scale));
                Ok(Finite(Decimal::new(a.negative, remainder, scale)))
            }
        }
    }

    /// SQL comparison: NaN equals NaN and is larger than everything else.
    pub fn sql_cmp(&self, other: &Numeric) -> Ordering {
        use Numeric::*;
        let rank = |n: &Numeric| match n {
            NegInf => 0,
            Finite(_) => 1,
            PosInf => 2,
            NaN => 3,
        };
        match (self, other) {
            (Finite(a), Finite(b)) => cmp_finite(a, b),
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// Rounds (half away from zero) to `scale` digits after the point.
    pub fn round(&self, scale: i32) -> Numeric {
        match self {
            Numeric::Finite(d) => Numeric::Finite(d.round(scale.clamp(-(MAX_DSCALE as i32), 1000))),
            other => other.clone(),
        }
    }

    /// Truncates toward zero to `scale` digits after the point.
    pub fn truncate(&self, scale: i32) -> Numeric {
        match self {
            Numeric::Finite(d) => {
                Numeric::Finite(d.rescale(scale.clamp(-(MAX_DSCALE as i32), 1000), false))
            }
            other => other.clone(),
        }
    }

    /// The largest integer not above the value (`floor`).
    pub fn floor(&self) -> Numeric {
        let t = self.truncate(0);
        if self.sql_cmp(&t) == Ordering::Less {
            t.sub(&Numeric::from_i64(1)).unwrap_or(t)
        } else {
            t
        }
    }

    /// The smallest integer not below the value (`ceil`).
    pub fn ceil(&self) -> Numeric {
        let t = self.truncate(0);
        if self.sql_cmp(&t) == Ordering::Greater {
            t.add(&Numeric::from_i64(1)).unwrap_or(t)
        } else {
            t
        }
    }

    /// PostgreSQL's `apply_typmod`: enforce `numeric(precision, scale)`.
    pub fn apply_typmod(&self, precision: i32, scale: i32) -> QuillResult<Numeric> {
        let field_overflow = |detail: String| {
            QuillError::new(
                sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                "numeric field overflow",
            )
            .with_detail(detail)
        };
        match self {
            Numeric::NaN => Ok(Numeric::NaN),
            Numeric::PosInf | Numeric::NegInf => Err(field_overflow(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            ))),
            Numeric::Finite(d) => {
                let rounded = d.round(scale);
                let max_digits = precision as i64 - scale as i64;
                if !rounded.is_zero() && rounded.integer_digits() > max_digits {
                    let bound = if max_digits != 0 {
                        format!("10^{max_digits}")
                    } else {
                        "1".to_string()
                    };
                    return Err(field_overflow(format!(
                        "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
                    )));
                }
                Ok(Numeric::Finite(rounded))
            }
        }
    }

    /// Rounds to an integer (half away from zero) for a cast to `type_name`
    /// ("smallint", "integer", "bigint"); `Ok(None)` if it exceeds i64.
    pub fn to_i64_rounded(&self, type_name: &str) -> QuillResult<Option<i64>> {
        let special = |what: &str| {
            QuillError::feature_not_supported(format!("cannot convert {what} to {type_name}"))
        };
        match self {
            Numeric::NaN => Err(special("NaN")),
            Numeric::PosInf | Numeric::NegInf => Err(special("infinity")),
            Numeric::Finite(d) => {
                let r = d.round(0);
                if r.coef.len() > 19 {
                    return Ok(None);
                }
                let magnitude = r.coef.iter().fold(0i128, |acc, &x| acc * 10 + x as i128);
                let v = if r.negative { -magnitude } else { magnitude };
                Ok(i64::try_from(v).ok())
            }
        }
    }

    /// PostgreSQL's `float8_numeric`: the value printed with 15 significant digits.
    pub fn from_f64(v: f64) -> Numeric {
        if v.is_nan() {
            Numeric::NaN
        } else if v.is_infinite() {
            if v > 0.0 {
                Numeric::PosInf
            } else {
                Numeric::NegInf
            }
        } else {
            Numeric::parse(&super::float::format_g(v, 15)).unwrap_or(Numeric::NaN)
        }
    }

    /// PostgreSQL's `float4_numeric`: 6 significant digits.
    pub fn from_f32(v: f32) -> Numeric {
        if v.is_finite() {
            Numeric::parse(&super::float::format_g(v as f64, 6)).unwrap_or(Numeric::NaN)
        } else {
            Numeric::from_f64(v as f64)
        }
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self {
            Numeric::NaN => return f.write_str("NaN"),
            Numeric::PosInf => return f.write_str("Infinity"),
            Numeric::NegInf => return f.write_str("-Infinity"),
            Numeric::Finite(d) => d,
        };
        let mut out = String::with_capacity(d.coef.len() + 3);
        if d.negative {
            out.push('-');
        }
        let scale = d.scale as usize;
        let digits: String = d.coef.iter().map(|&x| char::from(b'0' + x)).collect();
        if digits.len() > scale {
            out.push_str(&digits[..digits.len() - scale]);
        } else {
            out.push('0');
        }
        if scale > 0 {
            out.push('.');
            for _ in digits.len()..scale {
                out.push('0');
            }
            out.push_str(&digits[digits.len().saturating_sub(scale)..]);
        }
        f.write_str(&out)
    }
}

fn add_finite(a: &Decimal, b: &Decimal, subtract: bool) -> Decimal {
    let scale = a.scale.max(b.scale);
    let (x, y) = (a.coef_at(scale), b.coef_at(scale));
    let b_negative = b.negative != subtract;
    if a.negative == b_negative {
        return Decimal::new(a.negative, mag_add(&x, &y), scale);
    }
    match mag_cmp(&x, &y) {
        Ordering::Less => Decimal::new(b_negative, mag_sub(&y, &x), scale),
        _ => Decimal::new(a.negative, mag_sub(&x, &y), scale),
    }
}

fn cmp_finite(a: &Decimal, b: &Decimal) -> Ordering {
    match (a.is_zero(), b.is_zero()) {
        (true, true) => return Ordering::Equal,
        _ if a.negative != b.negative || a.is_zero() || b.is_zero() => {
            let sign = |d: &Decimal| {
                if d.is_zero() {
                    0
                } else if d.negative {
                    -1
                } else {
                    1
                }
            };
            return sign(a).cmp(&sign(b));
        }
        _ => {}
    }
    let scale = a.scale.max(b.scale);
    let magnitude = mag_cmp(&a.coef_at(scale), &b.coef_at(scale));
    if a.negative {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// PostgreSQL's `select_div_scale`.
fn select_div_scale(a: &Decimal, b: &Decimal) -> u32 {
    let (weight1, first1) = a.nbase_weight_and_first_digit();
    let (weight2, first2) = b.nbase_weight_and_first_digit();
    let mut qweight = weight1 - weight2;
    if first1 <= first2 {
        qweight -= 1;
    }
    let rscale = (MIN_SIG_DIGITS - qweight * 4)
        .max(a.scale as i64)
        .max(b.scale as i64)
        .clamp(0, MAX_DISPLAY_SCALE);
    rscale as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Numeric {
        Numeric::parse(s).unwrap()
    }

    #[test]
    fn input_keeps_written_scale() {
        // PostgreSQL 15: '1.50' → 1.50, '1e5' → 100000, '1.5e-3' → 0.0015.
        for (text, want) in [
            ("1.50", "1.50"),
            ("  1.5  ", "1.5"),
            ("-0.0", "0.0"),
            ("NaN", "NaN"),
            ("1e5", "100000"),
            ("1.5e-3", "0.0015"),
            ("1.50e1", "15.0"),
            ("00012.340", "12.340"),
            (".5", "0.5"),
            ("5.", "5"),
            ("-inf", "-Infinity"),
            ("+Infinity", "Infinity"),
        ] {
            assert_eq!(n(text).to_string(), want, "{text}");
        }
        assert_eq!(
            Numeric::parse("abc").unwrap_err().message,
            "invalid input syntax for type numeric: \"abc\""
        );
        assert_eq!(
            Numeric::parse("1e1000000").unwrap_err().message,
            "value overflows numeric format"
        );
        assert!(Numeric::parse("1.2.3").is_err());
        assert!(Numeric::parse("e5").is_err());
    }

    #[test]
    fn arithmetic_scales_match_postgres() {
        let cases = [
            ("1", "+", "1.5", "2.5"),
            ("1.5", "*", "2", "3.0"),
            ("1.5", "-", "3", "-1.5"),
            ("10", "/", "3.0", "3.3333333333333333"),
            ("1", "/", "3.0", "0.33333333333333333333"),
            ("2.0", "/", "3", "0.66666666666666666667"),
            ("100.0", "/", "7", "14.2857142857142857"),
            ("10.0", "/", "4", "2.5000000000000000"),
            ("1", "/", "7.0", "0.14285714285714285714"),
            ("1e20", "/", "3", "33333333333333333333"),
            ("123456789.0", "/", "0.001", "123456789000.00000000"),
            (
                "1",
                "/",
                "1e20",
                "0.0000000000000000000100000000000000000000",
            ),
            ("0", "/", "3.0", "0.00000000000000000000"),
            (
                "1e-20",
                "/",
                "3",
                "0.0000000000000000000033333333333333333333",
            ),
            ("1.5", "%", "1", "0.5"),
            ("7.5", "%", "2", "1.5"),
            ("-7.5", "%", "2", "-1.5"),
            ("7", "%", "-2.5", "2.0"),
            ("0.0", "%", "3", "0.0"),
            (
                "12345678901234567890",
                "*",
                "98765432109876543210",
                "1219326311370217952237463801111263526900",
            ),
            ("0.1", "*", "0.1", "0.01"),
            ("Infinity", "+", "1", "Infinity"),
            ("Infinity", "-", "Infinity", "NaN"),
            ("inf", "*", "0", "NaN"),
            ("1", "/", "inf", "0"),
        ];
        for (a, op, b, want) in cases {
            let (a, b) = (n(a), n(b));
            let got = match op {
                "+" => a.add(&b),
                "-" => a.sub(&b),
                "*" => a.mul(&b),
                "/" => a.div(&b),
                _ => a.rem(&b),
            }
            .unwrap();
            assert_eq!(got.to_string(), want, "{a} {op} {b}");
        }
        assert_eq!(n("1.5").div(&n("0")).unwrap_err().sqlstate, "22012");
        assert_eq!(n("5").rem(&n("0.0")).unwrap_err().sqlstate, "22012");
    }

    #[test]
    fn comparison_and_rounding() {
        assert_eq!(n("1.0").sql_cmp(&n("1.00")), Ordering::Equal);
        assert_eq!(n("-2").sql_cmp(&n("1")), Ordering::Less);
        assert_eq!(n("-2").sql_cmp(&n("-10")), Ordering::Greater);
        assert_eq!(n("NaN").sql_cmp(&n("1e100")), Ordering::Greater);
        assert_eq!(n("NaN").sql_cmp(&n("NaN")), Ordering::Equal);
        assert_eq!(n("2.5").to_i64_rounded("integer").unwrap(), Some(3));
        assert_eq!(n("-2.5").to_i64_rounded("integer").unwrap(), Some(-3));
        assert_eq!(n("-0.5").to_i64_rounded("integer").unwrap(), Some(-1));
        assert_eq!(
            n("9223372036854775807.5").to_i64_rounded("bigint").unwrap(),
            None
        );
        assert_eq!(
            n("NaN").to_i64_rounded("integer").unwrap_err().message,
            "cannot convert NaN to integer"
        );
        assert_eq!(n("12.345").apply_typmod(5, 2).unwrap().to_string(), "12.35");
        assert_eq!(n("123.45").apply_typmod(5, -1).unwrap().to_string(), "120");
        assert_eq!(n("1").apply_typmod(3, 1).unwrap().to_string(), "1.0");
        let e = n("999.999").apply_typmod(5, 2).unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "A field with precision 5, scale 2 must round to an absolute value less than 10^3."
            )
        );
    }

    #[test]
    fn float_conversions_use_printf_digits() {
        assert_eq!(Numeric::from_f64(0.1 + 0.2).to_string(), "0.3");
        assert_eq!(Numeric::from_f64(1e20).to_string(), "100000000000000000000");
        assert_eq!(Numeric::from_f64(1.5e-10).to_string(), "0.00000000015");
        assert_eq!(
            Numeric::from_f64("123456789.123456789".parse().unwrap()).to_string(),
            "123456789.123457"
        );
        assert_eq!(Numeric::from_f32(0.1).to_string(), "0.1");
        assert_eq!(Numeric::from_f64(f64::INFINITY).to_string(), "Infinity");
    }
}
