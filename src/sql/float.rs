//! `float4` / `float8` text input and output, PostgreSQL 15's way.
//!
//! Output depends on the session's `extra_float_digits`, as in PostgreSQL's
//! `float8out_internal` / `float4out`:
//! * above 0 (the default is 1): the shortest decimal that reads back as the same
//!   value — Ryu's digits, from the `ryu` crate — laid out as PostgreSQL's
//!   `d2s.c`/`f2s.c` do: fixed notation when the decimal exponent of the first
//!   digit is in -4..15 (float8) or -4..6 (float4), otherwise `d.ddde+XX`;
//! * 0 or below: C's `%.*g` with `DBL_DIG` (15) + `extra_float_digits`
//!   significant digits for float8, `FLT_DIG` (6) + `extra_float_digits` for
//!   float4, at least one ([`format_g`]); so `0.1::float8 + 0.2::float8` prints
//!   `0.3` at 0.
//!
//! One subtlety: PostgreSQL's Ryu never accepts a decimal lying exactly on the
//! boundary between two floats (`acceptBounds = false`), while the `ryu` crate
//! does when the mantissa is even. So `1e23::float8` prints as PostgreSQL's
//! `9.999999999999999e+22`, not `1e+23`. [`on_rounding_boundary`] detects that case
//! with exact big-integer arithmetic, and the output then takes the shortest
//! correctly rounded digit string that is strictly inside the rounding interval.

use crate::error::{sqlstate, QuillError, QuillResult};

/// PostgreSQL's `DBL_DIG`: the significant digits `%g` output starts from for float8.
const DBL_DIG: i32 = 15;
/// PostgreSQL's `FLT_DIG`: the same for float4.
const FLT_DIG: i32 = 6;

/// A finite float's significant decimal digits (no leading or trailing zeros) and
/// the decimal exponent of the first digit: value = 0.d1d2… × 10^(exp + 1).
struct Digits {
    digits: Vec<u8>,
    exp: i32,
}

/// PostgreSQL's `float8out` under the given `extra_float_digits` (module doc).
pub fn float8_out(value: f64, extra_float_digits: i32) -> String {
    if extra_float_digits > 0 {
        shortest_float8_out(value)
    } else {
        rounded_out(value, DBL_DIG + extra_float_digits)
    }
}

/// PostgreSQL's `float4out` under the given `extra_float_digits` (module doc).
pub fn float4_out(value: f32, extra_float_digits: i32) -> String {
    if extra_float_digits > 0 {
        shortest_float4_out(value)
    } else {
        rounded_out(value as f64, FLT_DIG + extra_float_digits)
    }
}

/// PostgreSQL's `pg_strfromd`: `%.*g` with `precision` significant digits (at
/// least one), and PostgreSQL's spellings of NaN and the infinities.
fn rounded_out(value: f64, precision: i32) -> String {
    if let Some(special) = special_out(value.is_nan(), value.is_infinite(), value < 0.0) {
        return special.to_string();
    }
    format_g(value, precision.max(1) as usize)
}

/// The shortest exact float8 output (`extra_float_digits` > 0).
fn shortest_float8_out(value: f64) -> String {
    if let Some(special) = special_out(value.is_nan(), value.is_infinite(), value < 0.0) {
        return special.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let mut digits = parse_digits(ryu::Buffer::new().format_finite(value));
    if on_rounding_boundary(&digits, value.abs(), false) {
        digits = shortest_inside(value.abs(), false, digits.digits.len() + 1, 17, |n| {
            parse_digits(&format!("{:.*e}", n - 1, value.abs()))
        });
    }
    layout(value < 0.0, &digits, 15)
}

/// The shortest exact float4 output (`extra_float_digits` > 0).
fn shortest_float4_out(value: f32) -> String {
    if let Some(special) = special_out(value.is_nan(), value.is_infinite(), value < 0.0) {
        return special.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let mut digits = parse_digits(ryu::Buffer::new().format_finite(value));
    if on_rounding_boundary(&digits, value.abs() as f64, true) {
        let abs = value.abs();
        digits = shortest_inside(abs as f64, true, digits.digits.len() + 1, 9, |n| {
            parse_digits(&format!("{:.*e}", n - 1, abs))
        });
    }
    layout(value < 0.0, &digits, 6)
}

fn special_out(nan: bool, infinite: bool, negative: bool) -> Option<&'static str> {
    if nan {
        Some("NaN")
    } else if infinite {
        Some(if negative { "-Infinity" } else { "Infinity" })
    } else {
        None
    }
}

/// The first correctly rounded digit string of `from..=to` digits that is not on
/// a rounding boundary (the 17/9-digit one always round-trips strictly inside).
fn shortest_inside(
    abs: f64,
    single: bool,
    from: usize,
    to: usize,
    round_to: impl Fn(usize) -> Digits,
) -> Digits {
    for n in from..to {
        let candidate = round_to(n);
        if !on_rounding_boundary(&candidate, abs, single) {
            return candidate;
        }
    }
    round_to(to)
}

/// Reads the digits and exponent out of a string like "1.5e-7", "123.0", "0.001".
fn parse_digits(text: &str) -> Digits {
    let text = text.trim_start_matches('-');
    let (mantissa, exp_part) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let point = mantissa.find('.').unwrap_or(mantissa.len());
    let mut all: Vec<u8> = Vec::with_capacity(mantissa.len());
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        all.push(b - b'0');
    }
    let leading = all.iter().take_while(|&&d| d == 0).count();
    let mut digits = all[leading..].to_vec();
    while digits.last() == Some(&0) {
        digits.pop();
    }
    // The first significant digit sits `point - leading - 1` places left of 10^0.
    let exp = point as i32 - leading as i32 - 1 + exp_part;
    Digits { digits, exp }
}

/// PostgreSQL's layout of shortest digits (`to_chars` in d2s.c / f2s.c).
fn layout(negative: bool, d: &Digits, fixed_below: i32) -> String {
    let mut out = String::with_capacity(24);
    if negative {
        out.push('-');
    }
    let digit = |i: usize| char::from(b'0' + d.digits[i]);
    let n = d.digits.len() as i32;
    if d.exp >= -4 && d.exp < fixed_below {
        if d.exp < 0 {
            out.push_str("0.");
            for _ in 0..(-d.exp - 1) {
                out.push('0');
            }
            (0..d.digits.len()).for_each(|i| out.push(digit(i)));
        } else {
            for i in 0..n.max(d.exp + 1) {
                if i == d.exp + 1 {
                    out.push('.');
                }
                out.push(if i < n { digit(i as usize) } else { '0' });
            }
        }
    } else {
        out.push(digit(0));
        if n > 1 {
            out.push('.');
            (1..d.digits.len()).for_each(|i| out.push(digit(i)));
        }
        out.push('e');
        out.push(if d.exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", d.exp.abs()));
    }
    out
}

/// Whether the decimal `d` equals, exactly, the midpoint between `abs` and one of
/// its neighbouring floats (of f32 precision if `single`).
fn on_rounding_boundary(d: &Digits, abs: f64, single: bool) -> bool {
    let (mantissa, exp2, mantissa_bits, min_exp2) = if single {
        let bits = (abs as f32).to_bits();
        let (e, m) = ((bits >> 23) & 0xff, (bits & 0x7f_ffff) as u64);
        if e == 0 {
            (m, -149, 23, -149)
        } else {
            (m | 1 << 23, e as i32 - 150, 23, -149)
        }
    } else {
        let bits = abs.to_bits();
        let (e, m) = ((bits >> 52) & 0x7ff, bits & 0xf_ffff_ffff_ffff);
        if e == 0 {
            (m, -1074, 52, -1074)
        } else {
            (m | 1 << 52, e as i32 - 1075, 52, -1074)
        }
    };
    // Upper midpoint: (2m + 1) · 2^(e-1). Lower: (2m - 1) · 2^(e-1), or
    // (4m - 1) · 2^(e-2) when m is a power of two (the gap below is half as wide).
    let mut midpoints = vec![((2 * mantissa + 1) as u128, exp2 - 1)];
    if mantissa == 1 << mantissa_bits && exp2 > min_exp2 {
        midpoints.push(((4 * mantissa - 1) as u128, exp2 - 2));
    } else {
        midpoints.push(((2 * mantissa - 1) as u128, exp2 - 1));
    }
    // d = D · 10^k with D the digit string as an integer.
    let k = d.exp + 1 - d.digits.len() as i32;
    midpoints
        .into_iter()
        .any(|(m, e)| decimal_equals_binary(&d.digits, k, m, e))
}

/// Exact test of D · 10^k == m · 2^e.
fn decimal_equals_binary(digits: &[u8], k: i32, m: u128, e: i32) -> bool {
    // D · 5^k⁺ · 2^k⁺ == m · 5^k⁻ · 2^(e + k⁻) with k⁺ = max(k, 0), k⁻ = max(-k, 0).
    let mut left = BigUint::from_digits(digits);
    let mut right = BigUint::from_u128(m);
    for _ in 0..k.max(0) {
        left.mul_small(5);
    }
    for _ in 0..(-k).max(0) {
        right.mul_small(5);
    }
    let (left_shift, right_shift) = (k.max(0), e + (-k).max(0));
    let common = left_shift.min(right_shift);
    left.shl((left_shift - common) as u32);
    right.shl((right_shift - common) as u32);
    left.limbs == right.limbs
}

/// Just enough of an arbitrary-precision unsigned integer for the boundary test.
struct BigUint {
    /// Little-endian base-2^32 limbs, no high zero limbs.
    limbs: Vec<u32>,
}

impl BigUint {
    fn from_u128(v: u128) -> BigUint {
        let mut n = BigUint {
            limbs: (0..4).map(|i| (v >> (32 * i)) as u32).collect(),
        };
        n.trim();
        n
    }

    fn from_digits(digits: &[u8]) -> BigUint {
        let mut n = BigUint { limbs: Vec::new() };
        for &d in digits {
            n.mul_small(10);
            n.add_small(d as u32);
        }
        n
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let v = *limb as u64 * factor as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn add_small(&mut self, addend: u32) {
        let mut carry = addend as u64;
        for limb in &mut self.limbs {
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
            if carry == 0 {
                return;
            }
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    fn shl(&mut self, bits: u32) {
        if self.limbs.is_empty() {
            return;
        }
        let (whole, part) = ((bits / 32) as usize, bits % 32);
        if part != 0 {
            let mut carry = 0u32;
            for limb in &mut self.limbs {
                let v = *limb;
                *limb = (v << part) | carry;
                carry = v >> (32 - part);
            }
            if carry != 0 {
                self.limbs.push(carry);
            }
        }
        self.limbs.splice(0..0, std::iter::repeat_n(0, whole));
    }
}

fn out_of_range(text: &str, type_name: &str) -> QuillError {
    QuillError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("\"{text}\" is out of range for type {type_name}"),
    )
}

fn invalid_syntax(text: &str, type_name: &str) -> QuillError {
    QuillError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{text}\""),
    )
}

/// Parses what C's `strtod` accepts (decimal forms, `NaN`, `Infinity`, `inf`),
/// with surrounding whitespace; `None` on a syntax error. Also reports whether the
/// written mantissa was zero, to tell underflow from a real zero.
fn parse_strtod(text: &str) -> Option<(f64, bool)> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "nan" | "inf" | "infinity") {
        let v = t.parse::<f64>().ok()?;
        return Some((v, false));
    }
    let mut seen_digit = false;
    let mut nonzero = false;
    let mut chars = unsigned.char_indices().peekable();
    let mut seen_point = false;
    while let Some(&(_, c)) = chars.peek() {
        match c {
            '0'..='9' => {
                seen_digit = true;
                nonzero |= c != '0';
            }
            '.' if !seen_point => seen_point = true,
            _ => break,
        }
        chars.next();
    }
    if !seen_digit {
        return None;
    }
    if let Some(&(i, c)) = chars.peek() {
        if c != 'e' && c != 'E' {
            return None;
        }
        let exp = unsigned[i + 1..]
            .strip_prefix(['+', '-'])
            .unwrap_or(&unsigned[i + 1..]);
        if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let v = t.parse::<f64>().ok()?;
    Some((v, !nonzero))
}

/// PostgreSQL's `float8in`.
pub fn float8_in(text: &str) -> QuillResult<f64> {
    let (v, zero_mantissa) =
        parse_strtod(text).ok_or_else(|| invalid_syntax(text, "double precision"))?;
    let literal_infinite = is_infinity_word(text);
    if (v.is_infinite() && !literal_infinite) || (v == 0.0 && !zero_mantissa && !v.is_nan()) {
        return Err(out_of_range(text, "double precision"));
    }
    Ok(v)
}

/// PostgreSQL's `float4in` (C's `strtof`: one correct rounding to f32).
pub fn float4_in(text: &str) -> QuillResult<f32> {
    if parse_strtod(text).is_none() {
        return Err(invalid_syntax(text, "real"));
    }
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let v: f32 = t.parse().map_err(|_| invalid_syntax(text, "real"))?;
    let zero_mantissa = parse_strtod(text).is_some_and(|(_, z)| z);
    if (v.is_infinite() && !is_infinity_word(text)) || (v == 0.0 && !zero_mantissa && !v.is_nan()) {
        return Err(out_of_range(text, "real"));
    }
    Ok(v)
}

fn is_infinity_word(text: &str) -> bool {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity")
}

/// C's `printf("%.*g", precision, value)` for finite values and `precision` >= 1:
/// what PostgreSQL uses to turn a float into `numeric` (precision 15 for float8, 6
/// for float4) and to print one when `extra_float_digits` <= 0. Rust's `{:e}` rounds
/// the exact binary value half to even, as glibc's printf does.
pub fn format_g(value: f64, precision: usize) -> String {
    debug_assert!(precision >= 1, "%g precision {precision}");
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, value)).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// PostgreSQL's float overflow / underflow checks after an operation.
pub fn check_float8(result: f64, inputs_infinite: bool, zero_allowed: bool) -> QuillResult<f64> {
    if result.is_infinite() && !inputs_infinite {
        return Err(QuillError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: overflow",
        ));
    }
    if result == 0.0 && !zero_allowed {
        return Err(QuillError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            "value out of range: underflow",
        ));
    }
    Ok(result)
}

/// [`check_float8`] for `real` results.
pub fn check_float4(result: f32, inputs_infinite: bool, zero_allowed: bool) -> QuillResult<f32> {
    check_float8(result as f64, inputs_infinite, zero_allowed).map(|_| result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float8_output_matches_postgres() {
        // Every expected string below was printed by PostgreSQL 15.
        let cases: &[(f64, &str)] = &[
            (1e100, "1e+100"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5, "1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e15 + 0.3, "1.0000000000000002e+15"),
            (1e22, "1e+22"),
            (1e23, "9.999999999999999e+22"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (100.0, "100"),
            (0.000123, "0.000123"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (3.399999952144364e39, "3.399999952144364e+39"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(v, want) in cases {
            assert_eq!(float8_out(v, 1), want, "{v:e}");
        }
    }

    #[test]
    fn float4_output_matches_postgres() {
        assert_eq!(float4_out(1.1, 1), "1.1");
        assert_eq!(float4_out(1e6, 1), "1e+06");
        assert_eq!(float4_out(1e5, 1), "100000");
        assert_eq!(float4_out(123456.7, 1), "123456.7");
        assert_eq!(float4_out(0.1 + 0.2, 1), "0.3");
    }

    #[test]
    fn extra_float_digits_above_zero_all_print_shortest_digits() {
        for extra in 1..=3 {
            assert_eq!(float8_out(0.1 + 0.2, extra), "0.30000000000000004");
            assert_eq!(float4_out(1.1, extra), "1.1");
        }
    }

    #[test]
    fn extra_float_digits_zero_or_below_print_rounded_digits() {
        // Every expected string below was printed by PostgreSQL 15.
        let float8_cases: &[(i32, f64, &str)] = &[
            (0, 0.1 + 0.2, "0.3"),
            (0, 1.0 / 3.0, "0.333333333333333"),
            (0, -0.0, "-0"),
            (0, f64::NAN, "NaN"),
            (0, f64::NEG_INFINITY, "-Infinity"),
            (0, 1e-5, "1e-05"),
            (0, 123456789012345678.0, "1.23456789012346e+17"),
            (0, 0.0001, "0.0001"),
            (0, 1e15, "1e+15"),
            (0, 1e14, "100000000000000"),
            (0, 2.5e-5, "2.5e-05"),
            (0, 1.1f32 as f64, "1.10000002384186"),
            (-3, 0.1 + 0.2, "0.3"),
            (-3, 1.0 / 3.0, "0.333333333333"),
            (-3, 1e16, "1e+16"),
            (-14, 0.1 + 0.2, "0.3"),
            (-14, 95.0, "1e+02"),
            // DBL_DIG - 15 = 0 digits: C's %g takes that as 1 and rounds half to even.
            (-15, 1.0 / 3.0, "0.3"),
            (-15, 2.5, "2"),
            (-15, 3.5, "4"),
            (-15, 12345.0, "1e+04"),
        ];
        for &(extra, v, want) in float8_cases {
            assert_eq!(float8_out(v, extra), want, "{v:e} at {extra}");
        }
        let float4_cases: &[(i32, f32, &str)] = &[
            (0, -0.0, "-0"),
            (0, f32::NAN, "NaN"),
            (0, 1.1, "1.1"),
            (0, 1e6, "1e+06"),
            (0, 100000.0, "100000"),
            (0, 123456.7, "123457"),
            (0, 0.1 + 0.2, "0.3"),
            (0, 3.4e38, "3.4e+38"),
            (0, 1e-40, "9.99995e-41"),
            (-5, 1.1, "1"),
            (-5, 1234.5, "1e+03"),
            (-5, 0.3, "0.3"),
            (-15, 1.1, "1"),
            (-15, 5.0, "5"),
        ];
        for &(extra, v, want) in float4_cases {
            assert_eq!(float4_out(v, extra), want, "{v:e} at {extra}");
        }
    }

    #[test]
    fn float_input_accepts_strtod_forms_and_reports_range() {
        assert_eq!(float8_in(" 1.5 ").unwrap(), 1.5);
        assert_eq!(float8_in("-inf").unwrap(), f64::NEG_INFINITY);
        assert!(float8_in("NaN").unwrap().is_nan());
        assert_eq!(float8_in("5.").unwrap(), 5.0);
        assert_eq!(float8_in(".5e1").unwrap(), 5.0);
        let e = float8_in("abc").unwrap_err();
        assert_eq!(e.sqlstate, "22P02");
        assert_eq!(
            e.message,
            "invalid input syntax for type double precision: \"abc\""
        );
        let e = float8_in("1e400").unwrap_err();
        assert_eq!(
            e.message,
            "\"1e400\" is out of range for type double precision"
        );
        assert!(float8_in("1e-400").is_err());
        assert_eq!(float8_in("0e-400").unwrap(), 0.0);
        assert_eq!(
            float4_in("1e39").unwrap_err().message,
            "\"1e39\" is out of range for type real"
        );
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(0.1 + 0.2, 15), "0.3");
        assert_eq!(format_g(1e20, 15), "1e+20");
        assert_eq!(format_g(1.5e-10, 15), "1.5e-10");
        let v: f64 = "123456789.123456789".parse().unwrap();
        assert_eq!(format_g(v, 15), "123456789.123457");
        assert_eq!(format_g(100.0, 15), "100");
        assert_eq!(format_g(0.1f32 as f64, 6), "0.1");
    }
}
