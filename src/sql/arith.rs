//! Operators on values: arithmetic with PostgreSQL's overflow and division
//! errors, comparisons with its NaN and blank-padding rules, `||` and LIKE.
//!
//! Operands arrive already converted to the operator's input type (the analyzer
//! inserted the casts), so each operator here sees two values of one type.
//! NULL handling (operators are strict) is the caller's job, except for
//! IS [NOT] DISTINCT FROM.

use std::cmp::Ordering;

use super::float::{check_float4, check_float8};
use super::value::Datum;
use crate::error::{sqlstate, QuillError, QuillResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn from_name(name: &str) -> Option<CmpOp> {
        Some(match name {
            "=" => CmpOp::Eq,
            "<>" | "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
        }
    }
}

/// A resolved operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Arith(ArithOp),
    Neg,
    Abs,
    /// float8 `^`.
    Pow,
    /// float8 `|/`.
    Sqrt,
    /// `bpchar`: compare blank-padded strings ignoring trailing spaces.
    Cmp {
        op: CmpOp,
        bpchar: bool,
    },
    /// IS [NOT] DISTINCT FROM: `=` that treats NULLs as ordinary values.
    Distinct {
        negated: bool,
        bpchar: bool,
    },
    /// text `||` text.
    Concat,
    /// LIKE / ILIKE (`~~`, `~~*`) and their negations.
    Like {
        case_insensitive: bool,
        negated: bool,
    },
}

impl Operator {
    /// Whether a NULL operand makes the result NULL without calling the operator.
    pub fn is_strict(self) -> bool {
        !matches!(self, Operator::Distinct { .. })
    }
}

fn out_of_range(type_name: &str) -> QuillError {
    QuillError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{type_name} out of range"),
    )
}

fn division_by_zero() -> QuillError {
    QuillError::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
}

/// Applies a strict operator to non-NULL operands (or any operator to any).
pub fn apply(op: Operator, args: &[Datum]) -> QuillResult<Datum> {
    match (op, args) {
        (Operator::Arith(a), [x, y]) => arith(a, x, y),
        (Operator::Neg, [x]) => negate(x),
        (Operator::Abs, [x]) => abs(x),
        (Operator::Pow, [Datum::Float8(x), Datum::Float8(y)]) => pow(*x, *y).map(Datum::Float8),
        (Operator::Sqrt, [Datum::Float8(x)]) => sqrt(*x).map(Datum::Float8),
        (Operator::Cmp { op, bpchar }, [x, y]) => Ok(Datum::Bool(op.holds(compare(x, y, bpchar)))),
        (Operator::Distinct { negated, bpchar }, [x, y]) => {
            let distinct = match (x.is_null(), y.is_null()) {
                (true, true) => false,
                (true, false) | (false, true) => true,
                (false, false) => compare(x, y, bpchar) != Ordering::Equal,
            };
            Ok(Datum::Bool(distinct != negated))
        }
        (Operator::Concat, [Datum::Text(x), Datum::Text(y)]) => Ok(Datum::Text(format!("{x}{y}"))),
        (
            Operator::Like {
                case_insensitive,
                negated,
            },
            [Datum::Text(s), Datum::Text(p)],
        ) => Ok(Datum::Bool(like(s, p, case_insensitive)? != negated)),
        _ => Err(QuillError::internal(format!(
            "operator {op:?} applied to unexpected operands {args:?}"
        ))),
    }
}

fn arith(op: ArithOp, x: &Datum, y: &Datum) -> QuillResult<Datum> {
    use Datum::*;
    Ok(match (x, y) {
        (Int2(a), Int2(b)) => Int2(int_arith(op, *a as i64, *b as i64, "smallint")? as i16),
        (Int4(a), Int4(b)) => Int4(int_arith(op, *a as i64, *b as i64, "integer")? as i32),
        (Int8(a), Int8(b)) => Int8(int_arith(op, *a, *b, "bigint")?),
        (Float8(a), Float8(b)) => Float8(float_arith(op, *a, *b)?),
        (Float4(a), Float4(b)) => Float4(float4_arith(op, *a, *b)?),
        (Numeric(a), Numeric(b)) => Numeric(match op {
            ArithOp::Add => a.add(b)?,
            ArithOp::Sub => a.sub(b)?,
            ArithOp::Mul => a.mul(b)?,
            ArithOp::Div => a.div(b)?,
            ArithOp::Mod => a.rem(b)?,
        }),
        _ => {
            return Err(QuillError::internal(format!(
                "arithmetic on mismatched operands {x:?}, {y:?}"
            )))
        }
    })
}

/// Integer arithmetic in the width of `type_name` (values fit the type).
fn int_arith(op: ArithOp, a: i64, b: i64, type_name: &str) -> QuillResult<i64> {
    let (min, max) = match type_name {
        "smallint" => (i16::MIN as i64, i16::MAX as i64),
        "integer" => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    if matches!(op, ArithOp::Div | ArithOp::Mod) && b == 0 {
        return Err(division_by_zero());
    }
    let result = match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => a.checked_div(b),
        // MIN % -1 is 0 in PostgreSQL (and would trap in C and Rust).
        ArithOp::Mod => Some(if b == -1 { 0 } else { a % b }),
    };
    match result {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(out_of_range(type_name)),
    }
}

/// float8 arithmetic with PostgreSQL's overflow/underflow checks
/// (`float8_pl`, `float8_mul`, `float8_div`...).
fn float_arith(op: ArithOp, a: f64, b: f64) -> QuillResult<f64> {
    let inputs_infinite = a.is_infinite() || b.is_infinite();
    match op {
        ArithOp::Add => check_float8(a + b, inputs_infinite, true),
        ArithOp::Sub => check_float8(a - b, inputs_infinite, true),
        ArithOp::Mul => check_float8(a * b, inputs_infinite, a == 0.0 || b == 0.0),
        ArithOp::Div => {
            if b == 0.0 && !a.is_nan() {
                return Err(division_by_zero());
            }
            check_float8(a / b, a.is_infinite(), a == 0.0 || b.is_infinite())
        }
        ArithOp::Mod => Err(QuillError::internal("float % has no implementation")),
    }
}

/// [`float_arith`] computed in single precision (`float4pl`...).
fn float4_arith(op: ArithOp, a: f32, b: f32) -> QuillResult<f32> {
    let inputs_infinite = a.is_infinite() || b.is_infinite();
    match op {
        ArithOp::Add => check_float4(a + b, inputs_infinite, true),
        ArithOp::Sub => check_float4(a - b, inputs_infinite, true),
        ArithOp::Mul => check_float4(a * b, inputs_infinite, a == 0.0 || b == 0.0),
        ArithOp::Div => {
            if b == 0.0 && !a.is_nan() {
                return Err(division_by_zero());
            }
            check_float4(a / b, a.is_infinite(), a == 0.0 || b.is_infinite())
        }
        ArithOp::Mod => Err(QuillError::internal("float % has no implementation")),
    }
}

fn negate(x: &Datum) -> QuillResult<Datum> {
    use Datum::*;
    Ok(match x {
        Int2(v) => Int2(v.checked_neg().ok_or_else(|| out_of_range("smallint"))?),
        Int4(v) => Int4(v.checked_neg().ok_or_else(|| out_of_range("integer"))?),
        Int8(v) => Int8(v.checked_neg().ok_or_else(|| out_of_range("bigint"))?),
        Float4(v) => Float4(-v),
        Float8(v) => Float8(-v),
        Numeric(n) => Numeric(n.neg()),
        _ => return Err(QuillError::internal(format!("cannot negate {x:?}"))),
    })
}

fn abs(x: &Datum) -> QuillResult<Datum> {
    use Datum::*;
    Ok(match x {
        Int2(v) => Int2(v.checked_abs().ok_or_else(|| out_of_range("smallint"))?),
        Int4(v) => Int4(v.checked_abs().ok_or_else(|| out_of_range("integer"))?),
        Int8(v) => Int8(v.checked_abs().ok_or_else(|| out_of_range("bigint"))?),
        Float4(v) => Float4(v.abs()),
        Float8(v) => Float8(v.abs()),
        Numeric(n) => Numeric(n.abs()),
        _ => return Err(QuillError::internal(format!("no abs for {x:?}"))),
    })
}

/// PostgreSQL's `dpow`.
pub fn pow(a: f64, b: f64) -> QuillResult<f64> {
    if a.is_nan() {
        return Ok(if b.is_nan() || b != 0.0 {
            f64::NAN
        } else {
            1.0
        });
    }
    if b.is_nan() {
        return Ok(if a != 1.0 { f64::NAN } else { 1.0 });
    }
    if a == 0.0 && b < 0.0 {
        return Err(QuillError::new(
            sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            "zero raised to a negative power is undefined",
        ));
    }
    if a < 0.0 && b.floor() != b {
        return Err(QuillError::new(
            sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    let result = a.powf(b);
    if a.is_infinite() || b.is_infinite() {
        return Ok(result);
    }
    check_float8(result, false, a == 0.0)
}

/// PostgreSQL's `dsqrt`.
pub fn sqrt(a: f64) -> QuillResult<f64> {
    if a < 0.0 {
        return Err(QuillError::new(
            sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            "cannot take square root of a negative number",
        ));
    }
    check_float8(a.sqrt(), a.is_infinite(), a == 0.0)
}

/// Orders floats as PostgreSQL does: NaN equals NaN and sorts above everything.
fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn as_i64(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int2(v) => Some(*v as i64),
        Datum::Int4(v) => Some(*v as i64),
        Datum::Int8(v) => Some(*v),
        _ => None,
    }
}

/// Compares two non-NULL values of one type (integers of any width compare
/// exactly). Strings compare bytewise (the C collation); `bpchar` ignores
/// trailing spaces.
pub fn compare(x: &Datum, y: &Datum, bpchar: bool) -> Ordering {
    use Datum::*;
    match (x, y) {
        (Float4(a), Float4(b)) => float_cmp(*a as f64, *b as f64),
        (Float8(a), Float8(b)) => float_cmp(*a, *b),
        (Numeric(a), Numeric(b)) => a.sql_cmp(b),
        (Text(a), Text(b)) if bpchar => a.trim_end_matches(' ').cmp(b.trim_end_matches(' ')),
        (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Bool(a), Bool(b)) => a.cmp(b),
        _ => match (as_i64(x), as_i64(y)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => {
                debug_assert!(false, "compare of mismatched values {x:?} {y:?}");
                Ordering::Equal
            }
        },
    }
}

/// SQL LIKE with `%`, `_` and backslash escapes; ILIKE lower-cases both sides.
pub fn like(text: &str, pattern: &str, case_insensitive: bool) -> QuillResult<bool> {
    let fold = |s: &str| -> Vec<char> {
        if case_insensitive {
            s.chars().map(super::funcs::simple_lower).collect()
        } else {
            s.chars().collect()
        }
    };
    let (text, pattern) = (fold(text), fold(pattern));
    if pattern.last() == Some(&'\\') {
        let escapes = pattern.iter().rev().take_while(|&&c| c == '\\').count();
        if escapes % 2 == 1 {
            return Err(QuillError::new(
                sqlstate::INVALID_ESCAPE_SEQUENCE,
                "LIKE pattern must not end with escape character",
            ));
        }
    }
    Ok(like_match(&text, &pattern))
}

fn like_match(text: &[char], pattern: &[char]) -> bool {
    // Iterative matcher with backtracking to the last '%'.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('_') => {
                t += 1;
                p += 1;
                continue;
            }
            Some('\\') if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                t += 1;
                p += 2;
                continue;
            }
            Some(&c) if c != '\\' && c == text[t] => {
                t += 1;
                p += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_overflow_and_division_errors() {
        let add = |a, b| arith(ArithOp::Add, &Datum::Int4(a), &Datum::Int4(b));
        assert_eq!(
            add(2147483647, 1).unwrap_err().message,
            "integer out of range"
        );
        let div = |a, b| arith(ArithOp::Div, &Datum::Int4(a), &Datum::Int4(b));
        assert_eq!(div(7, 2).unwrap(), Datum::Int4(3));
        assert_eq!(div(-7, 2).unwrap(), Datum::Int4(-3));
        assert_eq!(div(1, 0).unwrap_err().sqlstate, "22012");
        assert_eq!(
            div(i32::MIN, -1).unwrap_err().message,
            "integer out of range"
        );
        let m = arith(ArithOp::Mod, &Datum::Int8(i64::MIN), &Datum::Int8(-1)).unwrap();
        assert_eq!(m, Datum::Int8(0));
        let m = arith(ArithOp::Mod, &Datum::Int4(-7), &Datum::Int4(3)).unwrap();
        assert_eq!(m, Datum::Int4(-1));
        let s = arith(ArithOp::Add, &Datum::Int2(32767), &Datum::Int2(1));
        assert_eq!(s.unwrap_err().message, "smallint out of range");
        assert_eq!(
            negate(&Datum::Int2(i16::MIN)).unwrap_err().message,
            "smallint out of range"
        );
    }

    #[test]
    fn float_errors_match_postgres() {
        let mul = |a, b| arith(ArithOp::Mul, &Datum::Float8(a), &Datum::Float8(b));
        assert_eq!(
            mul(1e308, 10.0).unwrap_err().message,
            "value out of range: overflow"
        );
        assert_eq!(
            mul(1e-300, 1e-300).unwrap_err().message,
            "value out of range: underflow"
        );
        assert_eq!(
            mul(f64::INFINITY, 2.0).unwrap(),
            Datum::Float8(f64::INFINITY)
        );
        let div = arith(ArithOp::Div, &Datum::Float8(1.0), &Datum::Float8(0.0));
        assert_eq!(div.unwrap_err().message, "division by zero");
        assert_eq!(pow(2.0, 3.0).unwrap(), 8.0);
        assert_eq!(
            pow(0.0, -1.0).unwrap_err().sqlstate,
            sqlstate::INVALID_ARGUMENT_FOR_POWER_FUNCTION
        );
    }

    #[test]
    fn comparisons_order_nan_last_and_ignore_padding() {
        assert_eq!(
            compare(
                &Datum::Float8(f64::NAN),
                &Datum::Float8(f64::INFINITY),
                false
            ),
            Ordering::Greater
        );
        assert_eq!(
            compare(&Datum::Float8(f64::NAN), &Datum::Float8(f64::NAN), false),
            Ordering::Equal
        );
        let (a, b) = (Datum::Text("ab ".into()), Datum::Text("ab".into()));
        assert_eq!(compare(&a, &b, true), Ordering::Equal);
        assert_eq!(compare(&a, &b, false), Ordering::Greater);
        assert_eq!(
            compare(&Datum::Text("a".into()), &Datum::Text("B".into()), false),
            Ordering::Greater
        );
    }

    #[test]
    fn like_matches_postgres() {
        assert!(like("abc", "a_c", false).unwrap());
        assert!(like("a%", "a\\%", false).unwrap());
        assert!(!like("ab", "a\\%", false).unwrap());
        assert!(!like("ABC", "a%", false).unwrap());
        assert!(like("abc", "A_C", true).unwrap());
        assert!(like("", "%", false).unwrap());
        assert!(like("aXbXc", "%b%c", false).unwrap());
        assert!(!like("abc", "%b", false).unwrap());
        assert_eq!(
            like("a", "a\\", false).unwrap_err().sqlstate,
            sqlstate::INVALID_ESCAPE_SEQUENCE
        );
    }
}
