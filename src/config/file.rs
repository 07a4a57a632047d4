//! The `postgresql.conf` reader: PostgreSQL's `guc-file.l` lexer and
//! `ParseConfigFp` parser, byte for byte.
//!
//! One setting per line: `name = value` or `name value`, `#` starts a comment.
//! A name is an identifier or `prefix.identifier`. A value is an identifier, a
//! number with an optional unit glued to it (`128MB`), an unquoted string of
//! letters, digits and `-._:/`, or a single-quoted string in which `''` and `\'`
//! are quotes and `\n`, `\t`, `\b`, `\f`, `\r` and `\ooo` (octal) are escapes.
//! Syntax errors are reported per line like PostgreSQL (`syntax error in file
//! "…" line 3, near token "x"`), and the whole file is then rejected.
//! `include`, `include_if_exists` and `include_dir` are not supported.

/// One `name = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileItem {
    pub name: String,
    pub value: String,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Eol,
    Id,
    QualifiedId,
    String,
    UnquotedString,
    Integer,
    Real,
    Equals,
    Error,
}

/// PostgreSQL stops complaining after this many syntax errors in one file.
const MAX_SYNTAX_ERRORS: usize = 100;

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    /// PostgreSQL's `ConfigFileLineno`: 1 + the number of newlines read so far.
    line: u32,
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_letter_or_digit(b: u8) -> bool {
    is_letter(b) || b.is_ascii_digit()
}

impl<'a> Lexer<'a> {
    /// The next token and its text; `None` at end of input.
    fn next(&mut self) -> Option<(Token, &'a [u8])> {
        loop {
            let rest = &self.text[self.pos..];
            let &first = rest.first()?;
            match first {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Some((Token::Eol, &rest[..1]));
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => {
                    let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    self.pos += len;
                }
                _ => {
                    let (token, len) = longest_match(rest);
                    self.pos += len;
                    return Some((token, &rest[..len]));
                }
            }
        }
    }
}

/// Flex semantics: the longest match wins; among equally long matches the rule
/// listed first (ID, QUALIFIED_ID, STRING, UNQUOTED_STRING, INTEGER, REAL, `=`).
/// Anything else is a one-character error token.
fn longest_match(s: &[u8]) -> (Token, usize) {
    let candidates = [
        (Token::Id, match_id(s)),
        (Token::QualifiedId, match_qualified_id(s)),
        (Token::String, match_string(s)),
        (Token::UnquotedString, match_unquoted_string(s)),
        (Token::Integer, match_integer(s)),
        (Token::Real, match_real(s)),
        (Token::Equals, usize::from(s[0] == b'=')),
    ];
    let mut best = (Token::Error, 1);
    let mut best_len = 0;
    for (token, len) in candidates {
        if len > best_len {
            best = (token, len);
            best_len = len;
        }
    }
    if best_len == 0 {
        // One character (a whole UTF-8 sequence, so the text stays printable).
        let len = std::str::from_utf8(&s[..s.len().min(4)])
            .map(|t| t.chars().next().map_or(1, char::len_utf8))
            .unwrap_or(1);
        return (Token::Error, len);
    }
    best
}

/// `{LETTER}{LETTER_OR_DIGIT}*`
fn match_id(s: &[u8]) -> usize {
    if !is_letter(s[0]) {
        return 0;
    }
    1 + s[1..]
        .iter()
        .take_while(|&&b| is_letter_or_digit(b))
        .count()
}

/// `{ID}"."{ID}`
fn match_qualified_id(s: &[u8]) -> usize {
    let first = match_id(s);
    if first == 0 || s.get(first) != Some(&b'.') {
        return 0;
    }
    let second = match_id(&s[first + 1..]);
    if second == 0 {
        return 0;
    }
    first + 1 + second
}

/// `{LETTER}({LETTER_OR_DIGIT}|[-._:/])*`
fn match_unquoted_string(s: &[u8]) -> usize {
    if !is_letter(s[0]) {
        return 0;
    }
    let more = s[1..]
        .iter()
        .take_while(|&&b| is_letter_or_digit(b) || b"-._:/".contains(&b))
        .count();
    1 + more
}

/// `\'([^'\\\n]|\\.|\'\')*\'`: the longest prefix that ends in a closing quote.
fn match_string(s: &[u8]) -> usize {
    if s[0] != b'\'' {
        return 0;
    }
    let mut longest = 0;
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'\n' => break,
            b'\\' => {
                if i + 1 >= s.len() || s[i + 1] == b'\n' {
                    break;
                }
                i += 2;
            }
            b'\'' => {
                longest = i + 1;
                if s.get(i + 1) == Some(&b'\'') {
                    i += 2; // a doubled quote, or a close followed by an open
                } else {
                    break;
                }
            }
            _ => i += 1,
        }
    }
    longest
}

fn count(s: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    s.iter().take_while(|&&b| pred(b)).count()
}

/// `{SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*`
fn match_integer(s: &[u8]) -> usize {
    let sign = usize::from(matches!(s[0], b'+' | b'-'));
    let body = &s[sign..];
    let decimal = count(body, |b| b.is_ascii_digit());
    let hex = if body.starts_with(b"0x") {
        let digits = count(&body[2..], |b| b.is_ascii_hexdigit());
        if digits > 0 {
            2 + digits
        } else {
            0
        }
    } else {
        0
    };
    let number = decimal.max(hex);
    if number == 0 {
        return 0;
    }
    sign + number + count(&body[number..], |b| b.is_ascii_alphabetic())
}

/// `{SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?` with `EXPONENT = [Ee]{SIGN}?{DIGIT}+`
fn match_real(s: &[u8]) -> usize {
    let mut i = usize::from(matches!(s[0], b'+' | b'-'));
    i += count(&s[i..], |b| b.is_ascii_digit());
    if s.get(i) != Some(&b'.') {
        return 0;
    }
    i += 1;
    i += count(&s[i..], |b| b.is_ascii_digit());
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits = count(&s[j..], |b| b.is_ascii_digit());
        if digits > 0 {
            i = j + digits;
        }
    }
    i
}

/// PostgreSQL's `DeescapeQuotedString`: strips the quotes and resolves escapes.
fn deescape_quoted(token: &[u8]) -> Vec<u8> {
    let inner = &token[1..token.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b == b'\\' && i + 1 < inner.len() {
            i += 1;
            match inner[i] {
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let digits = count(&inner[i..], |d| (b'0'..=b'7').contains(&d)).min(3);
                    let value = inner[i..i + digits]
                        .iter()
                        .fold(0u32, |acc, d| (acc << 3) + u32::from(d - b'0'));
                    out.push(value as u8);
                    i += digits - 1;
                }
                other => out.push(other),
            }
        } else if b == b'\'' && inner.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 1;
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses a whole configuration file. `path` is only used in messages. On any
/// syntax error, returns every error message (as PostgreSQL logs them) instead.
pub(crate) fn parse_config(contents: &[u8], path: &str) -> Result<Vec<FileItem>, Vec<String>> {
    let mut lexer = Lexer {
        text: contents,
        pos: 0,
        line: 1,
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    while let Some((first, name)) = lexer.next() {
        if first == Token::Eol {
            continue;
        }
        match parse_line(&mut lexer, first, name) {
            Ok((name, value, at_eof)) => {
                let line = lexer.line - 1;
                if is_include_directive(&name) {
                    errors.push(format!(
                        "configuration file directive \"{name}\" is not supported in file \"{path}\" line {line}"
                    ));
                } else {
                    items.push(FileItem { name, value, line });
                }
                if at_eof {
                    break;
                }
            }
            Err((bad, bad_text)) => {
                errors.push(match bad {
                    None | Some(Token::Eol) => format!(
                        "syntax error in file \"{path}\" line {}, near end of line",
                        lexer.line - 1
                    ),
                    Some(_) => format!(
                        "syntax error in file \"{path}\" line {}, near token \"{}\"",
                        lexer.line,
                        text(bad_text)
                    ),
                });
                if errors.len() >= MAX_SYNTAX_ERRORS {
                    errors.push(format!(
                        "too many syntax errors found, abandoning file \"{path}\""
                    ));
                    break;
                }
                // Resynchronize at the next end of line.
                let mut token = bad;
                while !matches!(token, None | Some(Token::Eol)) {
                    token = lexer.next().map(|(t, _)| t);
                }
                if token.is_none() {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

type LineResult<'a> = Result<(String, String, bool), (Option<Token>, &'a [u8])>;

/// One `name [=] value` line after its first token. Returns the name, the value
/// and whether the line ended at end of input; or the offending token.
fn parse_line<'a>(lexer: &mut Lexer<'a>, first: Token, name: &'a [u8]) -> LineResult<'a> {
    if !matches!(first, Token::Id | Token::QualifiedId) {
        return Err((Some(first), name));
    }
    let mut next = lexer.next();
    if matches!(next, Some((Token::Equals, _))) {
        next = lexer.next();
    }
    let value = match next {
        Some((Token::String, raw)) => deescape_quoted(raw),
        Some((Token::Id | Token::Integer | Token::Real | Token::UnquotedString, raw)) => {
            raw.to_vec()
        }
        Some((token, raw)) => return Err((Some(token), raw)),
        None => return Err((None, b"")),
    };
    let at_eof = match lexer.next() {
        Some((Token::Eol, _)) => false,
        None => {
            // Treat end of input like a newline, for line numbering.
            lexer.line += 1;
            true
        }
        Some((token, raw)) => return Err((Some(token), raw)),
    };
    Ok((text(name), text(&value), at_eof))
}

fn is_include_directive(name: &str) -> bool {
    ["include", "include_if_exists", "include_dir"]
        .iter()
        .any(|d| d.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<(String, String, u32)>, Vec<String>> {
        parse_config(s.as_bytes(), "/x/postgresql.conf").map(|items| {
            items
                .into_iter()
                .map(|i| (i.name, i.value, i.line))
                .collect()
        })
    }

    fn item(name: &str, value: &str, line: u32) -> (String, String, u32) {
        (name.into(), value.into(), line)
    }

    #[test]
    fn reads_names_values_comments_and_line_numbers() {
        let conf = "# comment\n\nport = 5433   # trailing\nshared_buffers 128MB\n\
                    listen_addresses='*'\nmyapp.x = on\nckpt_like = 0.9\nwal = -1\n\
                    path = a/b:c\nlast = 1";
        assert_eq!(
            parse(conf).unwrap(),
            vec![
                item("port", "5433", 3),
                item("shared_buffers", "128MB", 4),
                item("listen_addresses", "*", 5),
                item("myapp.x", "on", 6),
                item("ckpt_like", "0.9", 7),
                item("wal", "-1", 8),
                item("path", "a/b:c", 9),
                item("last", "1", 10),
            ]
        );
    }

    #[test]
    fn quoted_strings_resolve_escapes() {
        let items = parse("a = 'it''s'' x'\nb = 'a\\'b\\n'\nc = ''\nd = '\\101\\tx'\n").unwrap();
        let values: Vec<&str> = items.iter().map(|i| i.1.as_str()).collect();
        assert_eq!(values, ["it's' x", "a'b\n", "", "A\tx"]);
    }

    #[test]
    fn syntax_errors_name_file_line_and_token() {
        assert_eq!(
            parse("port = 5433 junk\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 1, near token \"junk\""]
        );
        assert_eq!(
            parse("# c\nport =\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 2, near end of line"]
        );
        assert_eq!(
            parse("a = 'abc\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 1, near token \"'\""]
        );
        // PostgreSQL says line 0 for a name at end of input without a newline.
        assert_eq!(
            parse("port").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 0, near end of line"]
        );
        assert_eq!(
            parse("x = 1e-5\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 1, near token \"-5\""]
        );
        assert_eq!(
            parse("unix_socket_directories = /tmp\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 1, near token \"/\""]
        );
        assert_eq!(
            parse("x = 1.5GB\n").unwrap_err(),
            ["syntax error in file \"/x/postgresql.conf\" line 1, near token \"GB\""]
        );
    }

    #[test]
    fn every_bad_line_is_reported() {
        let errors = parse("a = 1 2\nb = 3\n= 4\nc = 5 6\n").unwrap_err();
        assert_eq!(errors.len(), 3);
        assert!(errors[1].contains("line 3, near token \"=\""));
        assert!(errors[2].contains("line 4, near token \"6\""));
    }

    #[test]
    fn include_directives_are_refused() {
        let errors = parse("include 'other.conf'\n").unwrap_err();
        assert_eq!(
            errors,
            ["configuration file directive \"include\" is not supported in file \"/x/postgresql.conf\" line 1"]
        );
    }
}
