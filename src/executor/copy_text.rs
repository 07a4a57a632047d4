//! COPY's text format, as PostgreSQL's `copyfromparse.c` and `copyto.c` read and
//! write it: one row per line, fields split by a one-byte delimiter, a backslash
//! escaping the byte after it (`\t`, `\n`, `\\`, octal `\123`, hex `\x41`, and
//! any other byte standing for itself), and a field whose raw text equals the
//! NULL string (`\N` by default) meaning NULL.
//!
//! [`LineSplitter`] cuts the byte stream (which CopyData messages split anywhere)
//! into lines; a backslash hides the newline after it, as in PostgreSQL.

use crate::error::{sqlstate, QuillError, QuillResult};

/// PostgreSQL's MAX_COPY_DATA_DISPLAY: longer values in error contexts are cut.
const MAX_COPY_DATA_DISPLAY: usize = 100;

/// Cuts a byte stream into lines (without their `\n` or `\r\n`).
#[derive(Default)]
pub(super) struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes before this offset hold no unescaped line end.
    scanned: usize,
    /// CSV: `(quote, escape)`; a line end inside quotes belongs to the field.
    /// `None`: text format, where a backslash hides the byte after it.
    csv: Option<(u8, u8)>,
    /// CSV: the scan stopped inside a quoted field.
    in_quote: bool,
}

impl LineSplitter {
    pub(super) fn csv(quote: u8, escape: u8) -> LineSplitter {
        LineSplitter {
            csv: Some((quote, escape)),
            ..LineSplitter::default()
        }
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The complete lines buffered so far, removed from the buffer.
    pub(super) fn take_lines(&mut self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let c = self.buf[i];
            if let Some((quote, escape)) = self.csv {
                if self.in_quote {
                    if c == escape && escape != quote {
                        match self.buf.get(i + 1) {
                            None => break,
                            Some(&n) if n == quote || n == escape => i += 2,
                            Some(_) => i += 1,
                        }
                        continue;
                    }
                    if c == quote {
                        self.in_quote = false;
                    }
                    i += 1;
                    continue;
                }
                if c == quote {
                    self.in_quote = true;
                    i += 1;
                    continue;
                }
            }
            match c {
                // The escaped byte may not have arrived yet: wait for it.
                b'\\' if self.csv.is_none() && i + 1 >= self.buf.len() => break,
                b'\\' if self.csv.is_none() => i += 2,
                b'\n' => {
                    lines.push(strip_cr(&self.buf[start..i]).to_vec());
                    i += 1;
                    start = i;
                }
                _ => i += 1,
            }
        }
        self.buf.drain(..start);
        self.scanned = i - start;
        lines
    }

    /// The last line, if the stream ended without a line end.
    pub(super) fn finish(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        self.in_quote = false;
        if self.buf.is_empty() {
            return None;
        }
        Some(strip_cr(&std::mem::take(&mut self.buf)).to_vec())
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits one line into its fields: `None` for NULL, else the de-escaped text.
pub(super) fn parse_line(
    line: &[u8],
    delimiter: u8,
    null: &[u8],
) -> QuillResult<Vec<Option<String>>> {
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        while i < line.len() && line[i] != delimiter {
            let c = line[i];
            i += 1;
            if c != b'\\' || i >= line.len() {
                value.push(c);
                continue;
            }
            let e = line[i];
            i += 1;
            match e {
                b'0'..=b'7' => {
                    let mut byte = u32::from(e - b'0');
                    for _ in 0..2 {
                        match line.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                byte = byte * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    value.push((byte & 0xff) as u8);
                }
                b'x' => match line.get(i).and_then(|&d| hex_value(d)) {
                    Some(first) => {
                        i += 1;
                        let mut byte = first;
                        if let Some(second) = line.get(i).and_then(|&d| hex_value(d)) {
                            byte = byte * 16 + second;
                            i += 1;
                        }
                        value.push(byte);
                    }
                    None => value.push(b'x'),
                },
                b'b' => value.push(0x08),
                b'f' => value.push(0x0c),
                b'n' => value.push(b'\n'),
                b'r' => value.push(b'\r'),
                b't' => value.push(b'\t'),
                b'v' => value.push(0x0b),
                other => value.push(other),
            }
        }
        let is_null = &line[start..i] == null;
        match end_field(&mut fields, line, i, value, is_null)? {
            Some(next) => i = next,
            None => return Ok(fields),
        }
    }
}

/// Splits one CSV line into its fields: an unquoted field equal to the NULL
/// string is NULL; quotes enclose text where `escape` precedes a literal quote
/// (by default the quote doubled).
pub(super) fn parse_csv_line(
    line: &[u8],
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: &[u8],
) -> QuillResult<Vec<Option<String>>> {
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        let mut value = Vec::new();
        let mut quoted = false;
        loop {
            // Outside quotes: up to the delimiter or an opening quote.
            while i < line.len() && line[i] != delimiter && line[i] != quote {
                value.push(line[i]);
                i += 1;
            }
            if i >= line.len() || line[i] == delimiter {
                break;
            }
            // Inside quotes.
            quoted = true;
            i += 1;
            loop {
                let Some(&c) = line.get(i) else {
                    return Err(QuillError::new(
                        sqlstate::BAD_COPY_FILE_FORMAT,
                        "unterminated CSV quoted field",
                    ));
                };
                i += 1;
                if c == escape && line.get(i).is_some_and(|&n| n == quote || n == escape) {
                    value.push(line[i]);
                    i += 1;
                } else if c == quote {
                    break;
                } else {
                    value.push(c);
                }
            }
        }
        let is_null = !quoted && &line[start..i] == null;
        match end_field(&mut fields, line, i, value, is_null)? {
            Some(next) => i = next,
            None => return Ok(fields),
        }
    }
}

/// Ends a field that stops at `i`: NULL, or its decoded bytes. Returns where the
/// next field starts (after the delimiter), or `None` at the end of the line.
fn end_field(
    fields: &mut Vec<Option<String>>,
    line: &[u8],
    i: usize,
    value: Vec<u8>,
    is_null: bool,
) -> QuillResult<Option<usize>> {
    fields.push(if is_null { None } else { Some(utf8(value)?) });
    Ok((i < line.len()).then_some(i + 1))
}

/// Appends one value in CSV format (PostgreSQL's CopyAttributeOutCSV): quoted
/// when it holds the delimiter, quote, escape or a line end, or equals the
/// NULL string (or is `\.` alone on its line).
pub(super) fn csv_escape_into(
    out: &mut Vec<u8>,
    value: &str,
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: &[u8],
    single_column: bool,
) {
    let bytes = value.as_bytes();
    let needs_quote = bytes == null
        || (single_column && bytes == b"\\.")
        || bytes
            .iter()
            .any(|&c| c == delimiter || c == quote || c == escape || c == b'\n' || c == b'\r');
    if !needs_quote {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(quote);
    for &c in bytes {
        if c == quote || c == escape {
            out.push(escape);
        }
        out.push(c);
    }
    out.push(quote);
}

fn hex_value(d: u8) -> Option<u8> {
    (d as char).to_digit(16).map(|v| v as u8)
}

/// Text must be valid UTF-8 (server_encoding is UTF8).
pub(super) fn utf8(bytes: Vec<u8>) -> QuillResult<String> {
    if bytes.contains(&0) {
        return Err(QuillError::new(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let utf8_error = e.utf8_error();
        let bytes = e.into_bytes();
        let bad = &bytes[utf8_error.valid_up_to()..];
        let shown: Vec<String> = bad
            .iter()
            .take(utf8_error.error_len().unwrap_or(bad.len()).max(1))
            .map(|b| format!("0x{b:02x}"))
            .collect();
        QuillError::new(
            sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
            format!(
                "invalid byte sequence for encoding \"UTF8\": {}",
                shown.join(" ")
            ),
        )
    })
}

/// Appends one value in text format (PostgreSQL's CopyAttributeOutText).
pub(super) fn escape_into(out: &mut Vec<u8>, value: &str, delimiter: u8) {
    for &c in value.as_bytes() {
        match c {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c == delimiter => out.extend_from_slice(&[b'\\', c]),
            c => out.push(c),
        }
    }
}

/// A line or value as an error context shows it: at most 100 bytes (on a
/// character boundary), then "...".
pub(super) fn display(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_COPY_DATA_DISPLAY {
        return text.into_owned();
    }
    let mut end = MAX_COPY_DATA_DISPLAY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_pushes_and_escaped_newlines_stay() {
        let mut s = LineSplitter::default();
        s.push(b"1\tab");
        assert!(s.take_lines().is_empty());
        s.push(b"c\n2\tx\\");
        assert_eq!(s.take_lines(), vec![b"1\tabc".to_vec()]);
        s.push(b"\ny\r\n3");
        assert_eq!(s.take_lines(), vec![b"2\tx\\\ny".to_vec()]);
        assert_eq!(s.finish(), Some(b"3".to_vec()));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn fields_are_unescaped_and_null_is_raw() {
        let fields = parse_line(b"\\N\ta\\tb\\\\\t\\101\\x41\\q\t\t\\\\N", b'\t', b"\\N").unwrap();
        assert_eq!(
            fields,
            vec![
                None,
                Some("a\tb\\".to_string()),
                Some("AAq".to_string()),
                Some(String::new()),
                Some("\\N".to_string()),
            ]
        );
        let bad = parse_line(b"\\377", b'\t', b"\\N").unwrap_err();
        assert_eq!(bad.sqlstate, sqlstate::CHARACTER_NOT_IN_REPERTOIRE);
    }

    #[test]
    fn csv_quotes_span_lines_and_fields() {
        let mut s = LineSplitter::csv(b'"', b'"');
        s.push(b"1,\"a\n\"\"b\",\n2,,\"\"\n");
        let lines = s.take_lines();
        assert_eq!(
            lines,
            vec![b"1,\"a\n\"\"b\",".to_vec(), b"2,,\"\"".to_vec()]
        );
        assert_eq!(
            parse_csv_line(&lines[0], b',', b'"', b'"', b"").unwrap(),
            vec![Some("1".into()), Some("a\n\"b".into()), None]
        );
        assert_eq!(
            parse_csv_line(&lines[1], b',', b'"', b'"', b"").unwrap(),
            vec![Some("2".into()), None, Some(String::new())]
        );
        assert!(parse_csv_line(b"\"x", b',', b'"', b'"', b"").is_err());
        let mut out = Vec::new();
        csv_escape_into(&mut out, "q\"z", b',', b'"', b'"', b"", false);
        csv_escape_into(&mut out, "", b',', b'"', b'"', b"", false);
        assert_eq!(out, b"\"q\"\"z\"\"\"");
    }

    #[test]
    fn values_escape_round_trip() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\tb\\c\nd|", b'|');
        assert_eq!(out, b"a\\tb\\\\c\\nd\\|");
        let back = parse_line(&out, b'|', b"\\N").unwrap();
        assert_eq!(back, vec![Some("a\tb\\c\nd|".to_string())]);
    }
}
