//! SQL text → parse trees, through PostgreSQL's own grammar (libpg_query, via the
//! `pg_query` crate), with PostgreSQL's syntax errors.
//!
//! The `pg_query` crate reports a failed parse as a bare message and drops the
//! cursor position, so on failure this module asks libpg_query again through its
//! C API (`pg_query_parse`), whose `PgQueryError` carries `cursorpos`: the 1-based
//! character position PostgreSQL itself would report. That call is the only
//! `unsafe` code in `sql/`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ops::Range;
use std::sync::Arc;

use pg_query::NodeEnum;

use super::params::{ParamList, QuerySource};
use crate::error::{sqlstate, QuillError, QuillResult};

/// One statement of a query string.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The whole query string the statement came from: error positions count
    /// characters from its start, as PostgreSQL's do.
    query: Arc<str>,
    /// Byte range of this statement's text in `query`, without the `;`.
    range: Range<usize>,
    node: NodeEnum,
    /// The parameters (`$n`) of an extended-protocol statement.
    params: Option<Arc<ParamList>>,
}

impl Statement {
    /// The statement's own text (trimmed of surrounding whitespace).
    pub fn text(&self) -> &str {
        self.query[self.range.clone()].trim()
    }

    /// The whole query string the statement is part of.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Byte range of the statement within [`Statement::query`].
    pub fn source_range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The raw parse tree.
    pub fn node(&self) -> &NodeEnum {
        &self.node
    }

    /// The query string and parameters, as the analyzer reads them.
    pub fn source(&self) -> QuerySource<'_> {
        QuerySource {
            text: &self.query,
            params: self.params.as_deref(),
        }
    }

    /// This statement with parameters (preparing or bound).
    pub fn with_params(&self, params: Arc<ParamList>) -> Statement {
        Statement {
            params: Some(params),
            ..self.clone()
        }
    }
}

/// Splits a simple-Query string into parsed statements. An empty string, or
/// one holding only semicolons, whitespace and comments, gives no statements.
pub fn parse_query(sql: &str) -> QuillResult<Vec<Statement>> {
    let parsed = match pg_query::parse(sql, 0) {
        Ok(parsed) => parsed,
        Err(pg_query::Error::Parse(message)) => return Err(syntax_error(sql, message)),
        Err(pg_query::Error::Conversion(_)) => {
            return Err(QuillError::new(
                sqlstate::PROTOCOL_VIOLATION,
                "query string contains a zero byte",
            ))
        }
        // The protobuf decoder behind `pg_query` stops at 100 nested messages
        // (about 50 levels of nested expressions): deeper trees would
        // overflow the stack while decoding, so they are refused cleanly.
        Err(pg_query::Error::Decode(_)) => return Err(QuillError::new(
            sqlstate::STATEMENT_TOO_COMPLEX,
            "statement is nested too deeply (Quill accepts about 50 levels of nested expressions)",
        )),
        Err(other) => return Err(QuillError::internal(format!("parser failed: {other}"))),
    };
    let query: Arc<str> = Arc::from(sql);
    let mut statements = Vec::with_capacity(parsed.protobuf.stmts.len());
    for raw in parsed.protobuf.stmts {
        let Some(node) = raw.stmt.and_then(|n| n.node) else {
            continue;
        };
        let start = (raw.stmt_location.max(0) as usize).min(sql.len());
        let end = if raw.stmt_len > 0 {
            (start + raw.stmt_len as usize).min(sql.len())
        } else {
            sql.len()
        };
        statements.push(Statement {
            query: Arc::clone(&query),
            range: start..end,
            node,
            params: None,
        });
    }
    Ok(statements)
}

/// The 1-based character position of byte `location` in `query`, as PostgreSQL
/// reports positions; `None` for an unknown (negative) location.
pub fn char_position(query: &str, location: i32) -> Option<u32> {
    if location < 0 {
        return None;
    }
    let mut end = (location as usize).min(query.len());
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    Some(query[..end].chars().count() as u32 + 1)
}

/// Builds PostgreSQL's syntax error for a query libpg_query rejected, with the
/// position recovered through the C API.
fn syntax_error(sql: &str, fallback_message: String) -> QuillError {
    let (message, position) = ffi_parse_error(sql).unwrap_or((fallback_message, None));
    let (code, hint) = classify_grammar_error(&message);
    let error = QuillError::new(code, message).with_position_opt(position);
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// The SQLSTATE (and hint) PostgreSQL's grammar attaches to the few errors it
/// raises that are not plain syntax errors; libpg_query passes on only the text.
fn classify_grammar_error(message: &str) -> (&'static str, Option<&'static str>) {
    if message == "LIMIT #,# syntax is not supported" {
        return (
            sqlstate::SYNTAX_ERROR,
            Some("Use separate LIMIT and OFFSET clauses."),
        );
    }
    let code = if message.starts_with("precision for type float")
        || message.starts_with("column number must be in range")
    {
        sqlstate::INVALID_PARAMETER_VALUE
    } else if [
        "not yet implemented",
        "no longer supported",
        "is not supported",
        "not supported on",
        "is only supported for",
        "is not implemented",
        "unsafe use of string constant",
        "cannot be changed",
    ]
    .iter()
    .any(|p| message.contains(p))
    {
        sqlstate::FEATURE_NOT_SUPPORTED
    } else if message.starts_with("frame ") {
        sqlstate::WINDOWING_ERROR
    } else if message.contains("provided more than once") {
        sqlstate::DUPLICATE_OBJECT
    } else if message.contains("role name") {
        sqlstate::RESERVED_NAME
    } else {
        sqlstate::SYNTAX_ERROR
    };
    (code, None)
}

/// libpg_query's `PgQueryError` (pg_query.h).
#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    /// 1-based character position of the error, 0 if none.
    cursorpos: c_int,
    context: *mut c_char,
}

/// libpg_query's `PgQueryParseResult` (pg_query.h).
#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut c_char,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

extern "C" {
    // Linked from the static libpg_query that the pg_query crate builds.
    fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
}

/// Parses `sql` with libpg_query's C API and returns its error message and
/// position, or `None` if it parses (or contains a NUL).
fn ffi_parse_error(sql: &str) -> Option<(String, Option<u32>)> {
    let input = CString::new(sql).ok()?;
    // SAFETY: `input` is a valid NUL-terminated string that outlives the call;
    // pg_query_parse does not keep the pointer.
    let result = unsafe { pg_query_parse(input.as_ptr()) };
    let error = if result.error.is_null() {
        None
    } else {
        // SAFETY: a non-null `error` points to a PgQueryError owned by `result`,
        // whose `message` is a NUL-terminated string; both live until
        // pg_query_free_parse_result below, and we copy out before that.
        let (message, cursor) = unsafe {
            let e = &*result.error;
            let message = if e.message.is_null() {
                String::from("syntax error")
            } else {
                CStr::from_ptr(e.message).to_string_lossy().into_owned()
            };
            (message, e.cursorpos)
        };
        Some((message, (cursor > 0).then_some(cursor as u32)))
    };
    // SAFETY: `result` came from pg_query_parse and is freed exactly once; no
    // pointer into it is used afterwards.
    unsafe { pg_query_free_parse_result(result) };
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(sql: &str) -> QuillError {
        parse_query(sql).unwrap_err()
    }

    #[test]
    fn syntax_errors_carry_postgres_message_and_position() {
        // Messages and positions as PostgreSQL 15 reports them.
        let e = error_of("selec 1");
        assert_eq!(e.sqlstate, "42601");
        assert_eq!(e.message, "syntax error at or near \"selec\"");
        assert_eq!(e.position, Some(1));
        let e = error_of("select 'abc");
        assert_eq!(e.message, "unterminated quoted string at or near \"'abc\"");
        assert_eq!(e.position, Some(8));
        let e = error_of("select 1 +");
        assert_eq!(e.message, "syntax error at end of input");
        assert_eq!(e.position, Some(11));
        let e = error_of("select 'a' 'b'");
        assert_eq!(e.position, Some(12));
        // Positions count characters across the whole string, not bytes.
        let e = error_of("select 'é'; selec 2");
        assert_eq!(e.position, Some(13));
        let e = error_of("select 1 limit 1, 2");
        assert_eq!(
            e.hint.as_deref(),
            Some("Use separate LIMIT and OFFSET clauses.")
        );
        assert_eq!(error_of("select 1::float(54)").sqlstate, "22023");
        let e = error_of("select 1 = 1 = true");
        assert_eq!(e.message, "syntax error at or near \"=\"");
        assert_eq!(e.position, Some(14));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        // Decoding the deepest accepted tree takes up to ~3 MiB of stack in a
        // debug build (under 512 KiB in release), so run where a backend runs:
        // on a main thread's 8 MiB, not a test thread's 2 MiB.
        let check = || {
            let sql = format!("select {}", vec!["1"; 300].join("+"));
            assert_eq!(error_of(&sql).sqlstate, sqlstate::STATEMENT_TOO_COMPLEX);
            let sql = format!("select {}", vec!["1"; 40].join("+"));
            assert_eq!(parse_query(&sql).unwrap().len(), 1);
        };
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(check)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn empty_strings_have_no_statements() {
        for sql in ["", ";;", "  ", "-- just a comment", "/* c */ ;"] {
            assert!(parse_query(sql).unwrap().is_empty(), "{sql:?}");
        }
    }

    #[test]
    fn statements_keep_their_text() {
        let statements = parse_query("select 1; select 2;").unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].text(), "select 1");
        assert_eq!(statements[1].text(), "select 2");
        assert_eq!(statements[1].query(), "select 1; select 2;");
    }

    #[test]
    fn char_positions_count_characters() {
        assert_eq!(char_position("héllo", 3), Some(3));
        assert_eq!(char_position("abc", -1), None);
        assert_eq!(char_position("abc", 0), Some(1));
    }
}
