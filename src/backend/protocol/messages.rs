//! Builders for the backend messages Quill sends, on top of `pgwire`'s types.

use bytes::{BufMut, BytesMut};
use pgwire::messages::data::{
    DataRow, FieldDescription, NoData, ParameterDescription, RowDescription,
};
use pgwire::messages::extendedquery::{
    BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse, ReadyForQuery,
    TransactionStatus,
};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus, SecretKey,
};
use pgwire::messages::PgWireBackendMessage;

use crate::error::QuillError;
use crate::sql::Column;

/// ErrorResponse fields in the order PostgreSQL sends them: S, V, C, M, D, H, P.
fn error_fields(error: &QuillError, severity: &str) -> Vec<(u8, String)> {
    let mut fields = vec![
        (b'S', severity.to_string()),
        (b'V', severity.to_string()),
        (b'C', error.sqlstate.to_string()),
        (b'M', error.message.clone()),
    ];
    if let Some(detail) = &error.detail {
        fields.push((b'D', detail.clone()));
    }
    if let Some(hint) = &error.hint {
        fields.push((b'H', hint.clone()));
    }
    if let Some(position) = error.position {
        fields.push((b'P', position.to_string()));
    }
    if let Some(context) = &error.context {
        fields.push((b'W', context.to_string()));
    }
    fields
}

pub fn error_response(error: &QuillError) -> PgWireBackendMessage {
    PgWireBackendMessage::ErrorResponse(ErrorResponse::new(error_fields(
        error,
        error.severity.as_str(),
    )))
}

/// A NoticeResponse (`WARNING`, `NOTICE`, ...) carrying the error's fields.
pub fn notice_response(severity: &str, notice: &QuillError) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(NoticeResponse::new(error_fields(notice, severity)))
}

/// The bytes of a notice, encoded ahead of time (for the SIGQUIT handler, which may
/// not allocate).
pub fn encode_notice(severity: &str, notice: &QuillError) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let _ = notice_response(severity, notice).encode(&mut buf);
    buf.to_vec()
}

pub fn row_description(columns: &[Column]) -> PgWireBackendMessage {
    row_description_with_formats(columns, &[])
}

/// RowDescription whose columns carry these format codes (missing ones: text).
pub fn row_description_with_formats(columns: &[Column], formats: &[i16]) -> PgWireBackendMessage {
    let fields = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let format = formats.get(i).copied().unwrap_or(0);
            FieldDescription::new(
                c.name.clone(),
                0,
                0,
                c.type_oid,
                c.type_len,
                c.type_mod,
                format,
            )
        })
        .collect();
    PgWireBackendMessage::RowDescription(RowDescription::new(fields))
}

/// A DataRow of already-encoded values (text or binary; None = NULL).
pub fn data_row_bytes(values: &[Option<Vec<u8>>]) -> PgWireBackendMessage {
    let mut data = BytesMut::new();
    for value in values {
        match value {
            None => data.put_i32(-1),
            Some(bytes) => {
                data.put_i32(bytes.len() as i32);
                data.put_slice(bytes);
            }
        }
    }
    PgWireBackendMessage::DataRow(DataRow::new(data, values.len() as i16))
}

pub fn parse_complete() -> PgWireBackendMessage {
    PgWireBackendMessage::ParseComplete(ParseComplete::new())
}

pub fn bind_complete() -> PgWireBackendMessage {
    PgWireBackendMessage::BindComplete(BindComplete::new())
}

pub fn close_complete() -> PgWireBackendMessage {
    PgWireBackendMessage::CloseComplete(CloseComplete::new())
}

pub fn portal_suspended() -> PgWireBackendMessage {
    PgWireBackendMessage::PortalSuspended(PortalSuspended::new())
}

pub fn no_data() -> PgWireBackendMessage {
    PgWireBackendMessage::NoData(NoData::new())
}

pub fn parameter_description(type_oids: Vec<u32>) -> PgWireBackendMessage {
    PgWireBackendMessage::ParameterDescription(ParameterDescription::new(type_oids))
}

/// A DataRow of text-format values (None = NULL).
pub fn data_row(values: &[Option<String>]) -> PgWireBackendMessage {
    let mut data = BytesMut::new();
    for value in values {
        match value {
            None => data.put_i32(-1),
            Some(text) => {
                data.put_i32(text.len() as i32);
                data.put_slice(text.as_bytes());
            }
        }
    }
    PgWireBackendMessage::DataRow(DataRow::new(data, values.len() as i16))
}

pub fn command_complete(tag: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::CommandComplete(CommandComplete::new(tag.to_string()))
}

pub fn empty_query_response() -> PgWireBackendMessage {
    PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())
}

/// Transaction status byte of ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    Idle,
    InBlock,
    Failed,
}

pub fn ready_for_query(status: TxnStatus) -> PgWireBackendMessage {
    let status = match status {
        TxnStatus::Idle => TransactionStatus::Idle,
        TxnStatus::InBlock => TransactionStatus::Transaction,
        TxnStatus::Failed => TransactionStatus::Error,
    };
    PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status))
}

pub fn parameter_status(name: &str, value: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name.to_string(), value.to_string()))
}

pub fn backend_key_data(pid: i32, key: i32) -> PgWireBackendMessage {
    PgWireBackendMessage::BackendKeyData(BackendKeyData::new(pid, SecretKey::I32(key)))
}

pub fn authentication_ok() -> PgWireBackendMessage {
    PgWireBackendMessage::Authentication(Authentication::Ok)
}

/// NegotiateProtocolVersion: the newest version served (PostgreSQL 15 sends the whole
/// version number, 3.0) and the `_pq_.` options it does not know.
pub fn negotiate_protocol_version(unsupported: Vec<String>) -> PgWireBackendMessage {
    PgWireBackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion::new(
        3 << 16,
        unsupported,
    ))
}
