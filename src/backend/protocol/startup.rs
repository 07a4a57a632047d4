//! The first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest or
//! CancelRequest (told apart by the version code, as PostgreSQL does).

use bytes::BytesMut;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{DecodeContext, Message, ProtocolVersion};

use crate::error::{sqlstate, QuillError, QuillResult};

pub const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
const SSL_REQUEST_CODE: u32 = (1234 << 16) | 5679;
const GSSENC_REQUEST_CODE: u32 = (1234 << 16) | 5680;

#[derive(Debug, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel {
        pid: i32,
        key: i32,
    },
    Startup {
        major: u16,
        minor: u16,
        /// Parameters in the order the client sent them.
        params: Vec<(String, String)>,
    },
}

/// Parses a complete startup-phase packet (length word included).
pub fn parse_startup_packet(frame: BytesMut) -> QuillResult<StartupPacket> {
    let code = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
    match code {
        // PostgreSQL 15 does not check these two packets' length.
        SSL_REQUEST_CODE => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST_CODE => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST_CODE => {
            if frame.len() != 16 {
                return Err(QuillError::protocol_violation(
                    "invalid length of startup packet",
                ));
            }
            let mut buf = frame;
            match CancelRequest::decode(&mut buf, &ctx) {
                Ok(Some(request)) => match request.secret_key {
                    SecretKey::I32(key) => Ok(StartupPacket::Cancel {
                        pid: request.pid,
                        key,
                    }),
                    SecretKey::Bytes(_) => Err(QuillError::protocol_violation(
                        "invalid length of cancel request",
                    )),
                },
                _ => Err(QuillError::protocol_violation("invalid cancel request")),
            }
        }
        _ => parse_startup_message(frame, code),
    }
}

fn parse_startup_message(frame: BytesMut, code: u32) -> QuillResult<StartupPacket> {
    let major = (code >> 16) as u16;
    let minor = (code & 0xffff) as u16;
    if major != 3 {
        return Err(QuillError::fatal(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"),
        ));
    }
    // PostgreSQL's layout check: the parameter list ends with an empty name, so the
    // packet's last byte is NUL, and every name and value is NUL-terminated.
    let body = &frame[8..];
    if body.last() != Some(&0) {
        return Err(QuillError::protocol_violation(
            "invalid startup packet layout: expected terminator as last byte",
        ));
    }
    let params = split_params(body)?;
    // The layout is checked and split above; the codec is not needed (its map would
    // also lose the order and the repeats PostgreSQL's "last one wins" needs).
    Ok(StartupPacket::Startup {
        major,
        minor,
        params,
    })
}

/// Splits `name\0value\0...\0` into pairs as PostgreSQL's ProcessStartupPacket
/// does: an empty name ends the list and must be the packet's last byte.
fn split_params(body: &[u8]) -> QuillResult<Vec<(String, String)>> {
    let layout_error = || {
        QuillError::protocol_violation(
            "invalid startup packet layout: expected terminator as last byte",
        )
    };
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map_err(|_| QuillError::protocol_violation("invalid byte sequence in startup packet"))
    };
    // Reads the NUL-terminated string at `offset`; None if it runs off the end.
    let cstring_at = |offset: usize| -> Option<(&[u8], usize)> {
        let rest = body.get(offset..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        Some((&rest[..nul], offset + nul + 1))
    };
    let mut params = Vec::new();
    let mut offset = 0;
    while offset < body.len() {
        let (name, after_name) = cstring_at(offset).ok_or_else(layout_error)?;
        if name.is_empty() {
            break;
        }
        let (value, after_value) = cstring_at(after_name).ok_or_else(layout_error)?;
        params.push((text(name)?, text(value)?));
        offset = after_value;
    }
    if offset + 1 != body.len() {
        return Err(layout_error());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u32, body: &[u8]) -> BytesMut {
        let mut v = Vec::new();
        v.extend_from_slice(&((8 + body.len()) as i32).to_be_bytes());
        v.extend_from_slice(&code.to_be_bytes());
        v.extend_from_slice(body);
        BytesMut::from(&v[..])
    }

    #[test]
    fn startup_parameters_keep_order() {
        let p = parse_startup_packet(packet(3 << 16, b"user\0bob\0database\0db\0\0")).unwrap();
        assert_eq!(
            p,
            StartupPacket::Startup {
                major: 3,
                minor: 0,
                params: vec![
                    ("user".into(), "bob".into()),
                    ("database".into(), "db".into())
                ]
            }
        );
    }

    #[test]
    fn bad_packets_are_protocol_violations() {
        let missing_terminator = parse_startup_packet(packet(3 << 16, b"user\0bob")).unwrap_err();
        assert_eq!(missing_terminator.sqlstate, sqlstate::PROTOCOL_VIOLATION);
        let odd = parse_startup_packet(packet(3 << 16, b"user\0\0")).unwrap_err();
        assert!(odd.is_fatal());
        let v2 = parse_startup_packet(packet(2 << 16, b"\0")).unwrap_err();
        assert_eq!(v2.sqlstate, sqlstate::FEATURE_NOT_SUPPORTED);
        assert_eq!(
            parse_startup_packet(packet(SSL_REQUEST_CODE, b"")).unwrap(),
            StartupPacket::SslRequest
        );
        assert!(parse_startup_packet(packet(CANCEL_REQUEST_CODE, b"1234")).is_err());
        assert_eq!(
            parse_startup_packet(packet(CANCEL_REQUEST_CODE, &[0, 0, 0, 7, 0, 0, 0, 9])).unwrap(),
            StartupPacket::Cancel { pid: 7, key: 9 }
        );
    }
}
