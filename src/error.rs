//! The one error type every layer returns.
//!
//! A `QuillError` carries what PostgreSQL's ErrorResponse carries: severity,
//! SQLSTATE, message, and optionally detail, hint and a 1-based character position
//! into the query text. `?` carries it up to the protocol layer, which turns it into
//! an ErrorResponse. Internal invariant violations are not `QuillError`s: they are
//! assertions that crash the process (the postmaster then does a crash restart).

use std::fmt;

/// How bad an error is, with PostgreSQL's names and effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Aborts the current statement (and transaction block); the session goes on.
    Error,
    /// Ends the session.
    Fatal,
}

impl Severity {
    /// The text sent in the `S` and `V` fields of ErrorResponse.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// SQLSTATE codes Quill raises, with PostgreSQL's condition names.
pub mod sqlstate {
    pub const SUCCESSFUL_COMPLETION: &str = "00000";
    pub const WARNING: &str = "01000";
    pub const CONNECTION_EXCEPTION: &str = "08000";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const INVALID_TRANSACTION_STATE: &str = "25000";
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
    pub const INVALID_AUTHORIZATION_SPECIFICATION: &str = "28000";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
    pub const INVALID_ROW_COUNT_IN_LIMIT_CLAUSE: &str = "2201W";
    pub const INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE: &str = "2201X";
    pub const INVALID_ESCAPE_SEQUENCE: &str = "22025";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const INVALID_NAME: &str = "42602";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const AMBIGUOUS_FUNCTION: &str = "42725";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const CANNOT_COERCE: &str = "42846";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const INVALID_DATABASE_DEFINITION: &str = "42P12";
    pub const RESERVED_NAME: &str = "42939";
    pub const WINDOWING_ERROR: &str = "42P20";
    pub const GROUPING_ERROR: &str = "42803";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const INDETERMINATE_DATATYPE: &str = "42P18";
    pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
    pub const DUPLICATE_CURSOR: &str = "42P03";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const NAME_TOO_LONG: &str = "42622";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const DISK_FULL: &str = "53100";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const CRASH_SHUTDOWN: &str = "57P02";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const CONFIG_FILE_ERROR: &str = "F0000";
    pub const IO_ERROR: &str = "58030";
    pub const UNDEFINED_FILE: &str = "58P01";
    pub const DATA_CORRUPTED: &str = "XX001";
    pub const INTERNAL_ERROR: &str = "XX000";
}

/// An error (or FATAL) to report to the client, PostgreSQL-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuillError {
    pub severity: Severity,
    /// Five-character SQLSTATE, one of [`sqlstate`].
    pub sqlstate: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character (not byte) position in the query string.
    pub position: Option<u32>,
    /// Where the error happened (PostgreSQL's CONTEXT, e.g. `COPY t, line 2`).
    /// Boxed: it is rare, and every `QuillResult` carries the error's size.
    pub context: Option<Box<String>>,
}

pub type QuillResult<T> = Result<T, QuillError>;

impl QuillError {
    /// An ERROR with the given SQLSTATE and message.
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        QuillError {
            severity: Severity::Error,
            sqlstate,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
            context: None,
        }
    }

    /// A FATAL error: the session ends after it is reported.
    pub fn fatal(sqlstate: &'static str, message: impl Into<String>) -> Self {
        QuillError {
            severity: Severity::Fatal,
            ..QuillError::new(sqlstate, message)
        }
    }

    pub fn protocol_violation(message: impl Into<String>) -> Self {
        QuillError::fatal(sqlstate::PROTOCOL_VIOLATION, message)
    }

    pub fn syntax(message: impl Into<String>, position: Option<u32>) -> Self {
        QuillError::new(sqlstate::SYNTAX_ERROR, message).with_position_opt(position)
    }

    pub fn feature_not_supported(message: impl Into<String>) -> Self {
        QuillError::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        QuillError::new(sqlstate::INTERNAL_ERROR, message)
    }

    pub fn io(context: &str, err: &std::io::Error) -> Self {
        let code = if err.raw_os_error() == Some(libc::ENOSPC) {
            sqlstate::DISK_FULL
        } else {
            sqlstate::IO_ERROR
        };
        QuillError::new(code, format!("{context}: {err}"))
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(Box::new(context.into()));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_position(mut self, position: u32) -> Self {
        self.position = Some(position);
        self
    }

    pub fn with_position_opt(mut self, position: Option<u32>) -> Self {
        self.position = position;
        self
    }

    pub fn is_fatal(&self) -> bool {
        self.severity == Severity::Fatal
    }
}

impl fmt::Display for QuillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:  {}", self.severity.as_str(), self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL:  {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT:  {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for QuillError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_severity_detail_and_hint() {
        let e = QuillError::new(sqlstate::DIVISION_BY_ZERO, "division by zero")
            .with_detail("d")
            .with_hint("h");
        assert_eq!(
            e.to_string(),
            "ERROR:  division by zero\nDETAIL:  d\nHINT:  h"
        );
        assert!(!e.is_fatal());
        assert!(QuillError::protocol_violation("x").is_fatal());
    }
}
