//! Casts between types: which exist in which context (PostgreSQL's `pg_cast`
//! plus its automatic I/O-conversion casts), and converting a value.
//!
//! Contexts, as in PostgreSQL: an *implicit* cast may be inserted silently
//! anywhere (int4 → int8), an *assignment* cast only when storing into a column
//! (int8 → int4), an *explicit* cast only when written (`int4::bool`). Any type
//! converts to the string types through its output function (assignment), and
//! the string types convert to any type through its input function (explicit).

use super::float::{check_float8, float4_in, float8_in};
use super::numeric::Numeric;
use super::types::{numeric_typmod_parts, SqlType};
use super::value::{
    apply_char_typmod, char_in, datum_from_text, truncate_name, Datum, OutputFormat,
};
use crate::error::{sqlstate, QuillError, QuillResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CastContext {
    Implicit,
    Assignment,
    Explicit,
}

/// The weakest context in which `from` casts to `to`, `None` if no cast exists.
pub fn cast_context(from: SqlType, to: SqlType) -> Option<CastContext> {
    use CastContext::*;
    use SqlType::*;
    if from == to || from == Unknown || from.implicitly_casts_to(to) {
        return Some(Implicit);
    }
    Some(match (from, to) {
        (Void, _) | (_, Void | Unknown) => return None,
        (Int4, Bool) | (Bool, Int4) => Explicit,
        (Int4, Char) | (Char, Int4) => Explicit,
        (Oid, Int4 | Int8) => Assignment,
        (Text | Varchar | Bpchar, Char) => Assignment,
        (Int8 | Int4, Int2) | (Int8, Int4) => Assignment,
        (Float4 | Float8 | Numeric, Int2 | Int4 | Int8) => Assignment,
        (Float8, Float4) | (Float4 | Float8, Numeric) => Assignment,
        (Name, Varchar | Bpchar) => Assignment,
        (_, Text | Varchar | Bpchar | Name) => Assignment,
        (Text | Varchar | Bpchar | Name, RegType) => return None,
        (Text | Varchar | Bpchar | Name, _) => Explicit,
        _ => return None,
    })
}

/// Whether `from` may become `to` in `context`.
pub fn can_cast(from: SqlType, to: SqlType, context: CastContext) -> bool {
    cast_context(from, to).is_some_and(|needed| needed <= context)
}

fn out_of_range(to: SqlType) -> QuillError {
    let name = match to {
        SqlType::Int2 => "smallint",
        SqlType::Int4 => "integer",
        _ => "bigint",
    };
    QuillError::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

fn int_in_range(v: i64, to: SqlType) -> QuillResult<Datum> {
    match to {
        SqlType::Int2 => i16::try_from(v)
            .map(Datum::Int2)
            .map_err(|_| out_of_range(to)),
        SqlType::Int4 => i32::try_from(v)
            .map(Datum::Int4)
            .map_err(|_| out_of_range(to)),
        _ => Ok(Datum::Int8(v)),
    }
}

/// PostgreSQL's `dtoi4` family: round half to even, then range-check.
fn float_to_int(v: f64, to: SqlType) -> QuillResult<Datum> {
    // 2^63: the first float beyond i64 (i64::MAX itself rounds up to it).
    const TWO_POW_63: f64 = (1u64 << 63) as f64;
    let r = v.round_ties_even();
    if r.is_nan() || !(-TWO_POW_63..TWO_POW_63).contains(&r) {
        return Err(out_of_range(to));
    }
    int_in_range(r as i64, to)
}

/// The text a value of type `from` converts to (its output function under
/// `format`, except that bool becomes 'true'/'false' and bpchar loses its
/// padding, as PostgreSQL's `booltext` / `rtrim1` casts do).
fn to_text(value: &Datum, from: SqlType, format: OutputFormat) -> String {
    match (value, from) {
        (Datum::Bool(b), _) => if *b { "true" } else { "false" }.to_string(),
        (Datum::Text(s), SqlType::Bpchar) => s.trim_end_matches(' ').to_string(),
        _ => value.to_text(format).unwrap_or_default(),
    }
}

/// Converts a non-NULL value of type `from` to `to` with `typmod`. The cast
/// must exist (see [`can_cast`]); `explicit` makes string typmods cut instead of
/// failing. `format` is how a cast to a string type prints the value.
pub fn cast_datum(
    value: Datum,
    from: SqlType,
    to: SqlType,
    typmod: i32,
    explicit: bool,
    format: OutputFormat,
) -> QuillResult<Datum> {
    use SqlType::*;
    if value.is_null() {
        return Ok(Datum::Null);
    }
    match (&value, from, to) {
        // "char" and integers convert through the byte's value.
        (Datum::Text(s), Char, Int4) => {
            return Ok(Datum::Int4(s.bytes().next().map_or(0, |b| b as i8 as i32)))
        }
        (Datum::Int4(v), Int4, Char) => {
            return match u8::try_from(*v) {
                Ok(0) => Ok(Datum::Text(String::new())),
                Ok(b) if b.is_ascii() => Ok(Datum::Text((b as char).to_string())),
                _ => Err(QuillError::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "\"char\" out of range",
                )),
            }
        }
        // oid → int4 reinterprets the bits (4294967295 is -1), as PostgreSQL's
        // binary-coercible cast does.
        (Datum::Int8(v), Oid, Int4) => return Ok(Datum::Int4(*v as u32 as i32)),
        (Datum::Int8(v), Oid, Int8) => return Ok(Datum::Int8(*v)),
        _ => {}
    }
    if from == Unknown || (from.is_string() && !to.is_string()) {
        let text = to_text(&value, from, format);
        return datum_from_text(to, typmod, &text);
    }
    let converted = match (&value, to) {
        (_, Text | Varchar | Bpchar | Name) => {
            let text = to_text(&value, from, format);
            return match to {
                Name => Ok(Datum::Text(truncate_name(&text))),
                Text => Ok(Datum::Text(text)),
                _ => apply_char_typmod(to, typmod, text, explicit).map(Datum::Text),
            };
        }
        (_, Char) => Datum::Text(char_in(&to_text(&value, from, format))),
        (Datum::Int2(_) | Datum::Int4(_) | Datum::Int8(_), _) => int_to(&value, to)?,
        (Datum::Float4(v), _) => float_to(*v as f64, true, to)?,
        (Datum::Float8(v), _) => float_to(*v, false, to)?,
        (Datum::Numeric(n), _) => numeric_to(n, to)?,
        (Datum::Bool(b), Int4) => Datum::Int4(*b as i32),
        _ => {
            return Err(QuillError::internal(format!(
                "no conversion from {} to {}",
                from.display_name(),
                to.display_name()
            )))
        }
    };
    match (converted, numeric_typmod_parts(typmod)) {
        (Datum::Numeric(n), Some((precision, scale))) if to == Numeric => {
            n.apply_typmod(precision, scale).map(Datum::Numeric)
        }
        (converted, _) => Ok(converted),
    }
}

fn int_to(value: &Datum, to: SqlType) -> QuillResult<Datum> {
    let v = match value {
        Datum::Int2(v) => *v as i64,
        Datum::Int4(v) => *v as i64,
        Datum::Int8(v) => *v,
        _ => unreachable!("int_to called with {value:?}"),
    };
    Ok(match to {
        SqlType::Int2 | SqlType::Int4 | SqlType::Int8 => int_in_range(v, to)?,
        SqlType::Float4 => Datum::Float4(v as f32),
        SqlType::Float8 => Datum::Float8(v as f64),
        SqlType::Numeric => Datum::Numeric(Numeric::from_i64(v)),
        SqlType::Bool => Datum::Bool(v != 0),
        // int2/int4 wrap around (PostgreSQL reinterprets the bits); int8 must fit.
        SqlType::Oid => match (value, u32::try_from(v)) {
            (_, Ok(oid)) => Datum::Int8(oid.into()),
            (Datum::Int2(_) | Datum::Int4(_), Err(_)) => Datum::Int8((v as u32).into()),
            _ => {
                return Err(QuillError::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "OID out of range",
                ))
            }
        },
        _ => return Err(QuillError::internal(format!("no integer cast to {to:?}"))),
    })
}

fn float_to(v: f64, single: bool, to: SqlType) -> QuillResult<Datum> {
    Ok(match to {
        SqlType::Int2 | SqlType::Int4 | SqlType::Int8 => float_to_int(v, to)?,
        SqlType::Float8 => Datum::Float8(v),
        SqlType::Float4 => {
            let r = v as f32;
            // PostgreSQL's float8_to_float4 overflow/underflow checks.
            check_float8(r as f64, v.is_infinite(), v == 0.0)?;
            Datum::Float4(r)
        }
        SqlType::Numeric if single => Datum::Numeric(Numeric::from_f32(v as f32)),
        SqlType::Numeric => Datum::Numeric(Numeric::from_f64(v)),
        _ => return Err(QuillError::internal(format!("no float cast to {to:?}"))),
    })
}

fn numeric_to(n: &Numeric, to: SqlType) -> QuillResult<Datum> {
    Ok(match to {
        SqlType::Int2 | SqlType::Int4 | SqlType::Int8 => {
            match n.to_i64_rounded(to.display_name())? {
                Some(v) => int_in_range(v, to)?,
                None => return Err(out_of_range(to)),
            }
        }
        // PostgreSQL converts through the decimal text, with float8in's checks.
        SqlType::Float8 => Datum::Float8(float8_in(&n.to_string())?),
        SqlType::Float4 => Datum::Float4(float4_in(&n.to_string())?),
        SqlType::Numeric => Datum::Numeric(n.clone()),
        _ => return Err(QuillError::internal(format!("no numeric cast to {to:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(value: Datum, from: SqlType, to: SqlType) -> QuillResult<Datum> {
        cast_datum(value, from, to, -1, true, OutputFormat::DEFAULT)
    }

    #[test]
    fn oid_and_char_casts_follow_pg_cast() {
        use SqlType::*;
        // Results checked against PostgreSQL 15.
        assert_eq!(cast_context(Int4, Oid), Some(CastContext::Implicit));
        assert_eq!(cast_context(Oid, Int4), Some(CastContext::Assignment));
        assert_eq!(cast_context(Char, Text), Some(CastContext::Implicit));
        assert_eq!(cast_context(Text, Char), Some(CastContext::Assignment));
        assert_eq!(cast_context(Oid, Float8), None);
        assert_eq!(
            cast(Datum::Int4(-1), Int4, Oid).unwrap(),
            Datum::Int8(4294967295)
        );
        assert_eq!(
            cast(Datum::Int8(4294967295), Oid, Int4).unwrap(),
            Datum::Int4(-1)
        );
        assert_eq!(
            cast(Datum::Int8(-1), Int8, Oid).unwrap_err().message,
            "OID out of range"
        );
        assert_eq!(
            cast(Datum::Text("A".into()), Char, Int4).unwrap(),
            Datum::Int4(65)
        );
        assert_eq!(
            cast(Datum::Int4(65), Int4, Char).unwrap(),
            Datum::Text("A".into())
        );
        assert_eq!(
            cast(Datum::Text("rel".into()), Text, Char).unwrap(),
            Datum::Text("r".into())
        );
        assert_eq!(
            cast(Datum::Int8(1259), Oid, Text).unwrap(),
            Datum::Text("1259".into())
        );
    }

    #[test]
    fn cast_contexts_follow_pg_cast() {
        use SqlType::*;
        assert_eq!(cast_context(Int4, Int8), Some(CastContext::Implicit));
        assert_eq!(cast_context(Int8, Int4), Some(CastContext::Assignment));
        assert_eq!(cast_context(Int4, Bool), Some(CastContext::Explicit));
        assert_eq!(cast_context(Int8, Bool), None);
        assert_eq!(cast_context(Numeric, Bool), None);
        assert_eq!(cast_context(Bool, Text), Some(CastContext::Assignment));
        assert_eq!(cast_context(Text, Int4), Some(CastContext::Explicit));
        assert!(!can_cast(Float8, Int4, CastContext::Implicit));
    }

    #[test]
    fn numeric_conversions_round_like_postgres() {
        use SqlType::*;
        let num = |s: &str| Datum::Numeric(super::Numeric::parse(s).unwrap());
        assert_eq!(cast(num("1.5"), Numeric, Int4).unwrap(), Datum::Int4(2));
        assert_eq!(cast(num("2.5"), Numeric, Int4).unwrap(), Datum::Int4(3));
        assert_eq!(
            cast(Datum::Float8(2.5), Float8, Int4).unwrap(),
            Datum::Int4(2)
        );
        assert_eq!(
            cast(Datum::Float8(3.5), Float8, Int8).unwrap(),
            Datum::Int8(4)
        );
        let e = cast(Datum::Float8(f64::NAN), Float8, Int8).unwrap_err();
        assert_eq!(e.message, "bigint out of range");
        let e = cast(num("2147483647.5"), Numeric, Int4).unwrap_err();
        assert_eq!(e.message, "integer out of range");
        let e = cast(num("1e39"), Numeric, Float4).unwrap_err();
        assert_eq!(
            e.message,
            "\"1000000000000000000000000000000000000000\" is out of range for type real"
        );
    }

    #[test]
    fn string_conversions() {
        use SqlType::*;
        assert_eq!(
            cast(Datum::Bool(true), Bool, Text).unwrap(),
            Datum::Text("true".into())
        );
        let padded = Datum::Text("ab ".into());
        assert_eq!(
            cast(padded, Bpchar, Text).unwrap(),
            Datum::Text("ab".into())
        );
        assert_eq!(
            cast_datum(
                Datum::Int4(123),
                Int4,
                Varchar,
                6,
                true,
                OutputFormat::DEFAULT
            )
            .unwrap(),
            Datum::Text("12".into())
        );
        let e = cast(Datum::Text("abc".into()), Text, Int4).unwrap_err();
        assert_eq!(e.message, "invalid input syntax for type integer: \"abc\"");
    }
}
