//! Values (`Datum`s) and their text input/output functions — PostgreSQL's
//! `typinput` / `typoutput` for the types in [`SqlType`].
//!
//! A [`Datum`] does not know its SQL type: the type travels beside it (in the
//! analyzed expression, or later in a tuple descriptor), as in PostgreSQL. The
//! string-like types (text, varchar, bpchar, name, unknown) share [`Datum::Text`].
//! Text output is what a client sees in a text-format DataRow; input is what a
//! string literal or a `'…'::type` cast goes through. Input errors carry
//! PostgreSQL's SQLSTATE and message but no position: the caller, which knows where
//! the literal was, adds it.
//!
//! Nothing here depends on the parse tree; the storage layer reuses it.

use super::float::{float4_in, float4_out, float8_in, float8_out};
use super::numeric::Numeric;
use super::types::{char_typmod_length, numeric_typmod_parts, SqlType};
use crate::error::{sqlstate, QuillError, QuillResult};

/// Longest `name` in bytes (PostgreSQL's NAMEDATALEN - 1).
pub const NAME_MAX_BYTES: usize = 63;

/// The session settings PostgreSQL's output functions read (as GUCs) while
/// printing a value. A statement reads them from the session once and passes them
/// down, so printing a row never goes back to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    /// `extra_float_digits`: above 0, floats print their shortest exact digits;
    /// otherwise rounded to 15 (float8) or 6 (float4) plus this many digits.
    pub extra_float_digits: i32,
}

impl OutputFormat {
    /// PostgreSQL's defaults (`extra_float_digits = 1`).
    pub const DEFAULT: OutputFormat = OutputFormat {
        extra_float_digits: 1,
    };
}

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    /// text, varchar, bpchar (already padded), name, unknown literals.
    Text(String),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The value in text format, as PostgreSQL's output functions print it under
    /// `format`; `None` for NULL.
    pub fn to_text(&self, format: OutputFormat) -> Option<String> {
        Some(match self {
            Datum::Null => return None,
            Datum::Bool(b) => if *b { "t" } else { "f" }.to_string(),
            Datum::Int2(v) => v.to_string(),
            Datum::Int4(v) => v.to_string(),
            Datum::Int8(v) => v.to_string(),
            Datum::Float4(v) => float4_out(*v, format.extra_float_digits),
            Datum::Float8(v) => float8_out(*v, format.extra_float_digits),
            Datum::Numeric(n) => n.to_string(),
            Datum::Text(s) => s.clone(),
        })
    }
}

fn invalid_syntax(type_name: &str, text: &str) -> QuillError {
    QuillError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {type_name}: \"{text}\""),
    )
}

/// C's `isspace` in the "C" locale, which PostgreSQL's input functions skip.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// PostgreSQL's type input function for `ty`, then its typmod (if any) as an
/// explicit cast would apply it. `ty` must not be Void.
pub fn datum_from_text(ty: SqlType, typmod: i32, text: &str) -> QuillResult<Datum> {
    Ok(match ty {
        SqlType::Bool => Datum::Bool(parse_bool(text)?),
        SqlType::Int2 => Datum::Int2(parse_int(text, SqlType::Int2)? as i16),
        SqlType::Int4 => Datum::Int4(parse_int(text, SqlType::Int4)? as i32),
        SqlType::Int8 => Datum::Int8(parse_int(text, SqlType::Int8)?),
        SqlType::Float4 => Datum::Float4(float4_in(text)?),
        SqlType::Float8 => Datum::Float8(float8_in(text)?),
        SqlType::Numeric => {
            let n = Numeric::parse(text)?;
            Datum::Numeric(match numeric_typmod_parts(typmod) {
                Some((precision, scale)) => n.apply_typmod(precision, scale)?,
                None => n,
            })
        }
        SqlType::Name => Datum::Text(truncate_name(text)),
        SqlType::Bpchar | SqlType::Varchar => {
            Datum::Text(apply_char_typmod(ty, typmod, text.to_string(), true)?)
        }
        SqlType::Text
        | SqlType::Unknown
        | SqlType::RegType
        | SqlType::Void
        | SqlType::PgNodeTree => Datum::Text(text.to_string()),
        SqlType::Oid => Datum::Int8(parse_oid(text, "oid")?.into()),
        SqlType::Xid => Datum::Int8(parse_oid(text, "xid")?.into()),
        SqlType::Char => Datum::Text(char_in(text)),
    })
}

/// PostgreSQL's `oidin` (and `xidin`): an unsigned 32-bit number; negative
/// values down to -2^31 wrap around, as `strtoul` lets them.
pub fn parse_oid(text: &str, type_name: &str) -> QuillResult<u32> {
    let t = text.trim_matches(is_c_space);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_syntax(type_name, text));
    }
    let out_of_range = || {
        QuillError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{text}\" is out of range for type {type_name}"),
        )
    };
    let value: u64 = digits.parse().map_err(|_| out_of_range())?;
    match (negative, u32::try_from(value)) {
        (false, Ok(v)) => Ok(v),
        (true, _) if value <= 1 << 31 => Ok((value as u32).wrapping_neg()),
        _ => Err(out_of_range()),
    }
}

/// PostgreSQL's `charin`: the first byte of the text (an empty text is the zero
/// byte, shown as an empty string).
pub fn char_in(text: &str) -> String {
    text.chars().next().map(String::from).unwrap_or_default()
}

/// PostgreSQL's `parse_bool_with_len`: t/true/y/yes/on/1 and f/false/n/no/off/0,
/// any unique prefix of the words, case-insensitive, surrounding spaces ignored.
pub fn parse_bool(text: &str) -> QuillResult<bool> {
    let word = text.trim_matches(is_c_space).to_ascii_lowercase();
    let prefix_of = |full: &str, min: usize| word.len() >= min && full.starts_with(&word);
    if prefix_of("true", 1) || prefix_of("yes", 1) || word == "on" || word == "1" {
        Ok(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || word == "0" {
        Ok(false)
    } else {
        Err(invalid_syntax("boolean", text))
    }
}

/// PostgreSQL's `pg_strtoint16/32/64`: optional spaces, sign, decimal digits.
pub fn parse_int(text: &str, ty: SqlType) -> QuillResult<i64> {
    let (min, max) = match ty {
        SqlType::Int2 => (i16::MIN as i64, i16::MAX as i64),
        SqlType::Int4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    let t = text.trim_matches(is_c_space);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_syntax(ty.display_name(), text));
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value * 10 + (b - b'0') as i128;
        if value > i64::MAX as i128 + 1 {
            break;
        }
    }
    let value = if negative { -value } else { value };
    if value < min as i128 || value > max as i128 {
        return Err(QuillError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "value \"{text}\" is out of range for type {}",
                ty.display_name()
            ),
        ));
    }
    Ok(value as i64)
}

/// A `name`: at most 63 bytes, cut at a character boundary.
pub fn truncate_name(text: &str) -> String {
    if text.len() <= NAME_MAX_BYTES {
        return text.to_string();
    }
    let mut end = NAME_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Applies `varchar(n)` / `char(n)` to a string. An explicit cast silently cuts
/// to n characters; otherwise only trailing spaces may be cut (PostgreSQL's
/// "value too long" rule). `char(n)` pads with spaces to n characters.
pub fn apply_char_typmod(
    ty: SqlType,
    typmod: i32,
    mut text: String,
    explicit: bool,
) -> QuillResult<String> {
    let Some(max_chars) = char_typmod_length(typmod) else {
        return Ok(text);
    };
    let char_count = text.chars().count();
    if char_count > max_chars {
        let cut = text
            .char_indices()
            .nth(max_chars)
            .map_or(text.len(), |(i, _)| i);
        if !explicit && text[cut..].chars().any(|c| c != ' ') {
            let type_name = if ty == SqlType::Bpchar {
                "character"
            } else {
                "character varying"
            };
            return Err(QuillError::new(
                sqlstate::STRING_DATA_RIGHT_TRUNCATION,
                format!("value too long for type {type_name}({max_chars})"),
            ));
        }
        text.truncate(cut);
    } else if ty == SqlType::Bpchar {
        text.extend(std::iter::repeat_n(' ', max_chars - char_count));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_postgres_text_format() {
        let text = |d: Datum| d.to_text(OutputFormat::DEFAULT);
        assert_eq!(text(Datum::Bool(true)).unwrap(), "t");
        assert_eq!(text(Datum::Int8(-5)).unwrap(), "-5");
        assert_eq!(text(Datum::Float8(1e15)).unwrap(), "1e+15");
        assert_eq!(text(Datum::Null), None);
        let rounded = OutputFormat {
            extra_float_digits: 0,
        };
        assert_eq!(Datum::Float8(0.1 + 0.2).to_text(rounded).unwrap(), "0.3");
        assert_eq!(Datum::Float4(0.1 + 0.2).to_text(rounded).unwrap(), "0.3");
    }

    #[test]
    fn bool_input_accepts_postgres_spellings() {
        for t in ["t", "true", "yes", "on", "1", " TRUE ", "y", "tr"] {
            assert!(parse_bool(t).unwrap(), "{t}");
        }
        for f in ["f", "no", "off", "0", "of", "FALSE"] {
            assert!(!parse_bool(f).unwrap(), "{f}");
        }
        for bad in ["x", "o", "", "2", "yess"] {
            let e = parse_bool(bad).unwrap_err();
            assert_eq!(
                e.message,
                format!("invalid input syntax for type boolean: \"{bad}\"")
            );
        }
    }

    #[test]
    fn integer_input_messages_match_postgres() {
        assert_eq!(parse_int(" 12 ", SqlType::Int4).unwrap(), 12);
        assert_eq!(parse_int("+3", SqlType::Int4).unwrap(), 3);
        let e = parse_int("1e3", SqlType::Int4).unwrap_err();
        assert_eq!(
            (e.sqlstate, e.message.as_str()),
            ("22P02", "invalid input syntax for type integer: \"1e3\"")
        );
        let e = parse_int("99999999999", SqlType::Int4).unwrap_err();
        assert_eq!(
            e.message,
            "value \"99999999999\" is out of range for type integer"
        );
        let e = parse_int("70000", SqlType::Int2).unwrap_err();
        assert_eq!(
            e.message,
            "value \"70000\" is out of range for type smallint"
        );
        assert_eq!(
            parse_int("-9223372036854775808", SqlType::Int8).unwrap(),
            i64::MIN
        );
        assert!(parse_int("99999999999999999999999", SqlType::Int8).is_err());
        assert_eq!(
            parse_int("abc", SqlType::Int8).unwrap_err().message,
            "invalid input syntax for type bigint: \"abc\""
        );
    }

    #[test]
    fn oid_input_wraps_negatives_like_strtoul() {
        // Checked against PostgreSQL 15's oidin.
        assert_eq!(parse_oid("1259", "oid").unwrap(), 1259);
        assert_eq!(parse_oid(" -1 ", "oid").unwrap(), 4294967295);
        assert_eq!(parse_oid("-2147483648", "oid").unwrap(), 2147483648);
        assert_eq!(parse_oid("4294967295", "oid").unwrap(), u32::MAX);
        assert_eq!(
            parse_oid("-5000000000", "oid").unwrap_err().message,
            "value \"-5000000000\" is out of range for type oid"
        );
        assert_eq!(
            parse_oid("x", "oid").unwrap_err().message,
            "invalid input syntax for type oid: \"x\""
        );
        assert_eq!(
            datum_from_text(SqlType::Oid, -1, "26").unwrap(),
            Datum::Int8(26)
        );
        assert_eq!(char_in("rel"), "r");
        assert_eq!(char_in(""), "");
    }

    #[test]
    fn char_typmods_pad_and_cut() {
        let t = |ty, n, s: &str, explicit| apply_char_typmod(ty, n + 4, s.to_string(), explicit);
        assert_eq!(t(SqlType::Varchar, 2, "abc", true).unwrap(), "ab");
        assert_eq!(t(SqlType::Bpchar, 3, "ab", true).unwrap(), "ab ");
        assert_eq!(t(SqlType::Varchar, 1, "é", true).unwrap(), "é");
        assert_eq!(t(SqlType::Varchar, 2, "ab  ", false).unwrap(), "ab");
        assert_eq!(
            t(SqlType::Varchar, 2, "abc", false).unwrap_err().message,
            "value too long for type character varying(2)"
        );
        assert_eq!(truncate_name(&"x".repeat(70)).len(), 63);
    }
}
