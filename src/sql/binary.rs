//! Binary format (format code 1) of the extended query protocol: PostgreSQL's
//! `typreceive` / `typsend` for the types in [`SqlType`].
//!
//! Receive mirrors PostgreSQL's `pq_getmsg*` over the parameter's bytes: reading
//! past the end is 08P01 "insufficient data left in message"; bytes left over
//! are the caller's 22P03 "incorrect binary data format in bind parameter N"
//! ([`BinaryInput::leftover`]). Numeric goes through its text form, digit group
//! by digit group, so no precision is lost either way.

use super::numeric::Numeric;
use super::types::SqlType;
use super::value::{datum_from_text, Datum, NAME_MAX_BYTES};
use crate::error::{sqlstate, QuillError, QuillResult};

/// The outcome of receiving one value: the value, and whether bytes were left
/// over (an error the caller reports with the parameter's number).
pub struct BinaryInput {
    pub value: Datum,
    pub leftover: bool,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> QuillResult<&'a [u8]> {
        if self.bytes.len() - self.pos < n {
            return Err(QuillError::new(
                sqlstate::PROTOCOL_VIOLATION,
                "insufficient data left in message",
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> QuillResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }
}

/// Text from the client must be valid UTF-8 (the server encoding), as
/// PostgreSQL's `pq_getmsgtext` checks.
fn utf8(bytes: &[u8]) -> QuillResult<String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let bad = &bytes[e.valid_up_to()..];
            let shown: Vec<String> = bad
                .iter()
                .take(e.error_len().unwrap_or(bad.len()).max(1))
                .map(|b| format!("0x{b:02x}"))
                .collect();
            Err(QuillError::new(
                sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                format!(
                    "invalid byte sequence for encoding \"UTF8\": {}",
                    shown.join(" ")
                ),
            ))
        }
    }
}

/// PostgreSQL's receive function for `ty` over one parameter's bytes.
pub fn datum_from_binary(ty: SqlType, bytes: &[u8]) -> QuillResult<BinaryInput> {
    let mut r = Reader { bytes, pos: 0 };
    let value = match ty {
        SqlType::Bool => Datum::Bool(r.array::<1>()?[0] != 0),
        SqlType::Int2 => Datum::Int2(i16::from_be_bytes(r.array()?)),
        SqlType::Int4 => Datum::Int4(i32::from_be_bytes(r.array()?)),
        SqlType::Int8 => Datum::Int8(i64::from_be_bytes(r.array()?)),
        SqlType::Float4 => Datum::Float4(f32::from_bits(u32::from_be_bytes(r.array()?))),
        SqlType::Float8 => Datum::Float8(f64::from_bits(u64::from_be_bytes(r.array()?))),
        SqlType::Text | SqlType::Varchar | SqlType::Bpchar | SqlType::Unknown => {
            Datum::Text(utf8(r.rest())?)
        }
        SqlType::Name => {
            let text = utf8(r.rest())?;
            if text.len() > NAME_MAX_BYTES {
                return Err(
                    QuillError::new(sqlstate::NAME_TOO_LONG, "identifier too long")
                        .with_detail("Identifier must be less than 64 characters."),
                );
            }
            Datum::Text(text)
        }
        SqlType::Numeric => numeric_recv(&mut r)?,
        // oid and xid are unsigned 32-bit, held as int8; "char" is one byte.
        SqlType::Oid | SqlType::Xid => Datum::Int8(u32::from_be_bytes(r.array()?).into()),
        SqlType::Char => {
            let byte = r.array::<1>()?[0];
            Datum::Text(if byte == 0 {
                String::new()
            } else {
                char::from(byte).to_string()
            })
        }
        SqlType::Void | SqlType::RegType | SqlType::PgNodeTree => {
            return Err(QuillError::feature_not_supported(format!(
                "binary input of type {} is not supported yet",
                ty.display_name()
            )))
        }
    };
    Ok(BinaryInput {
        value,
        leftover: r.pos != bytes.len(),
    })
}

/// PostgreSQL's send function for `ty`: the value's bytes in binary format.
/// `text` is the value's text output (what Quill's executor produces): for
/// every type here it reads back as exactly the value.
pub fn text_to_binary(ty: SqlType, text: &str) -> QuillResult<Vec<u8>> {
    let datum = match ty {
        SqlType::Numeric => return numeric_send(text),
        SqlType::Void => return Ok(Vec::new()),
        SqlType::Oid | SqlType::Xid => {
            let Datum::Int8(v) = datum_from_text(ty, -1, text)? else {
                return Err(QuillError::internal("oid held as something else than int8"));
            };
            return Ok((v as u32).to_be_bytes().to_vec());
        }
        SqlType::Char => return Ok(text.bytes().take(1).collect()),
        SqlType::RegType | SqlType::PgNodeTree => {
            return Err(QuillError::feature_not_supported(format!(
                "binary output of type {} is not supported yet",
                ty.display_name()
            )))
        }
        _ => datum_from_text(ty, -1, text)?,
    };
    Ok(match datum {
        Datum::Null => Vec::new(),
        Datum::Bool(b) => vec![u8::from(b)],
        Datum::Int2(v) => v.to_be_bytes().to_vec(),
        Datum::Int4(v) => v.to_be_bytes().to_vec(),
        Datum::Int8(v) => v.to_be_bytes().to_vec(),
        Datum::Float4(v) => v.to_bits().to_be_bytes().to_vec(),
        Datum::Float8(v) => v.to_bits().to_be_bytes().to_vec(),
        Datum::Numeric(n) => return numeric_send(&n.to_string()),
        Datum::Text(s) => s.into_bytes(),
    })
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// PostgreSQL's NUMERIC_MAX_DISPLAY_SCALE (and the largest dscale it accepts).
const NUMERIC_MAX_DSCALE: u16 = 0x3FFF;

fn invalid_numeric(what: &str) -> QuillError {
    QuillError::new(
        sqlstate::INVALID_BINARY_REPRESENTATION,
        format!("invalid {what} in external \"numeric\" value"),
    )
}

/// `numeric_recv`: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric_recv(r: &mut Reader<'_>) -> QuillResult<Datum> {
    let ndigits = i16::from_be_bytes(r.array()?);
    if ndigits < 0 {
        return Err(invalid_numeric("length"));
    }
    let weight = i16::from_be_bytes(r.array()?) as i32;
    let sign = u16::from_be_bytes(r.array()?);
    let dscale = u16::from_be_bytes(r.array()?);
    let special = match sign {
        NUMERIC_POS | NUMERIC_NEG => None,
        NUMERIC_NAN => Some("NaN"),
        NUMERIC_PINF => Some("Infinity"),
        NUMERIC_NINF => Some("-Infinity"),
        _ => return Err(invalid_numeric("sign")),
    };
    if dscale > NUMERIC_MAX_DSCALE {
        return Err(invalid_numeric("scale"));
    }
    let mut digits = Vec::with_capacity(ndigits as usize);
    for _ in 0..ndigits {
        let d = i16::from_be_bytes(r.array()?);
        if !(0..10000).contains(&d) {
            return Err(invalid_numeric("digit"));
        }
        digits.push(d as u32);
    }
    if let Some(special) = special {
        return Numeric::parse(special).map(Datum::Numeric);
    }
    // Spell the value in decimal: integer groups (weight 0 is the units group),
    // then `dscale` fraction digits.
    let mut int_part = String::new();
    for g in 0..=weight.max(-1) {
        let d = digits.get(g as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut g = weight + 1;
    while frac.len() < dscale as usize {
        let d = if g < 0 {
            0
        } else {
            digits.get(g as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        g += 1;
    }
    frac.truncate(dscale as usize);
    let mut text = String::new();
    if sign == NUMERIC_NEG {
        text.push('-');
    }
    text.push_str(&int_part);
    if !frac.is_empty() {
        text.push('.');
        text.push_str(&frac);
    }
    Numeric::parse(&text).map(Datum::Numeric)
}

/// `numeric_send` from the value's text form ("-12.3400", "NaN", "Infinity").
fn numeric_send(text: &str) -> QuillResult<Vec<u8>> {
    let header = |ndigits: i16, weight: i16, sign: u16, dscale: u16| {
        let mut out = Vec::with_capacity(8 + 2 * ndigits.max(0) as usize);
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        out
    };
    match text {
        "NaN" => return Ok(header(0, 0, NUMERIC_NAN, 0)),
        "Infinity" => return Ok(header(0, 0, NUMERIC_PINF, 0)),
        "-Infinity" => return Ok(header(0, 0, NUMERIC_NINF, 0)),
        _ => {}
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_digits, frac_digits) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if !int_digits
        .bytes()
        .chain(frac_digits.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(QuillError::internal(format!(
            "numeric output \"{text}\" is not plain decimal"
        )));
    }
    let dscale = u16::try_from(frac_digits.len()).unwrap_or(NUMERIC_MAX_DSCALE);
    // Pad the integer part on the left and the fraction on the right to whole
    // groups of four decimal digits.
    let int_pad = (4 - int_digits.len() % 4) % 4;
    let frac_pad = (4 - frac_digits.len() % 4) % 4;
    let all: String = "0".repeat(int_pad) + int_digits + frac_digits + &"0".repeat(frac_pad);
    let mut groups: Vec<i16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0')))
        .collect();
    let int_groups = (int_digits.len() + int_pad) / 4;
    let mut weight = int_groups as i32 - 1;
    // Strip leading and trailing zero groups, as PostgreSQL stores them.
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let (sign, weight) = if groups.is_empty() {
        (NUMERIC_POS, 0)
    } else if negative {
        (NUMERIC_NEG, weight)
    } else {
        (NUMERIC_POS, weight)
    };
    let weight = i16::try_from(weight).map_err(|_| {
        QuillError::feature_not_supported(
            "binary output of this numeric value is not supported yet",
        )
    })?;
    let mut out = header(groups.len() as i16, weight, sign, dscale);
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let bytes = numeric_send(text).unwrap();
        let input = datum_from_binary(SqlType::Numeric, &bytes).unwrap();
        assert!(!input.leftover);
        match input.value {
            Datum::Numeric(n) => n.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numeric_binary_matches_postgres_layout() {
        // SELECT numeric_send(12345.678) in PostgreSQL 15.
        assert_eq!(
            numeric_send("12345.678").unwrap(),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        assert_eq!(numeric_send("0").unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0]);
        for text in [
            "0",
            "1",
            "-1",
            "10000",
            "0.0001",
            "-12345.678",
            "0.50",
            "NaN",
            "123456789012345678901234567890.123",
        ] {
            assert_eq!(roundtrip(text), text);
        }
    }

    #[test]
    fn short_and_long_inputs() {
        assert_eq!(
            datum_from_binary(SqlType::Int4, &[0, 0, 1])
                .err()
                .unwrap()
                .sqlstate,
            sqlstate::PROTOCOL_VIOLATION
        );
        assert!(
            datum_from_binary(SqlType::Int4, &[0, 0, 0, 0, 0, 0, 0, 1])
                .unwrap()
                .leftover
        );
        let v = datum_from_binary(SqlType::Int8, &7i64.to_be_bytes()).unwrap();
        assert_eq!(v.value, Datum::Int8(7));
        assert_eq!(text_to_binary(SqlType::Bool, "t").unwrap(), vec![1]);
        assert_eq!(
            text_to_binary(SqlType::Float8, "1.5").unwrap(),
            1.5f64.to_bits().to_be_bytes()
        );
    }
}
