//! Commit and abort records that carry relation files to remove — PostgreSQL's
//! `XLOG_XACT_HAS_INFO` + `XACT_XINFO_HAS_RELFILENODES` extension of `xl_xact_commit`
//! / `xl_xact_abort` (xact.c `XactLogCommitRecord`, `xact_redo_commit`).
//!
//! A DROP TABLE removes the relation's files only once its transaction has committed
//! (PostgreSQL's pending deletes, `storage.c`); a CREATE TABLE that aborts removes the
//! file it created. So that replay ends in the same state, the commit (or abort)
//! record lists those files, and redo removes them after setting the clog. Records
//! without files are exactly `xact.rs`'s.
//!
//! # Layout (main data, little-endian)
//! ```text
//!  xl_info  XLOG_XACT_COMMIT | XLOG_XACT_ABORT, plus XLOG_XACT_HAS_INFO (0x80)
//!   0  xact_time  i64   as xact.rs
//!   8  xid        u32   as xact.rs
//!  12  xinfo      u32   XACT_XINFO_HAS_RELFILENODES (1 << 2)
//!  16  nrels      u32
//!  20  nrels × (spc_oid u32, db_oid u32, rel_number u32)
//! ```
//!
//! The commit and abort steps are `xact.rs`'s (record → flush per
//! `synchronous_commit` → clog, in a critical section), with this record instead.
//! Removing the files is the caller's, after the commit (`xact::commit_with` with the files) returned and the
//! transaction left the proc array: a crash in between leaves them to redo.

use crate::access::heap::tuple::TransactionId;
use crate::error::{QuillError, QuillResult};
use crate::storage::buffer::BufferPool;
use crate::storage::ids::RelFileNode;
use crate::wal::record::{DecodedRecord, RecordBuilder, RmgrId};
use crate::wal::Lsn;

use super::xact::{now_timestamp, XactKind, XactRecord, XACT_DATA_LEN};
use super::WalInsert;

/// The bits of `xl_info` that say commit or abort (PostgreSQL's `XLOG_XACT_OPMASK`).
pub const XLOG_XACT_OPMASK: u8 = 0x70;
/// `xl_info` flag: an `xinfo` word follows the fixed part.
pub const XLOG_XACT_HAS_INFO: u8 = 0x80;
/// `xinfo` flag: a list of relation files to remove follows (PostgreSQL's value).
pub const XACT_XINFO_HAS_RELFILENODES: u32 = 1 << 2;

/// Bytes of one listed file.
const RELFILENODE_LEN: usize = 12;

/// The record's main data: the fixed part, then `xinfo`, `nrels` and the files.
pub fn encode_with_rels(record: &XactRecord, rels: &[RelFileNode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(XACT_DATA_LEN + 8 + rels.len() * RELFILENODE_LEN);
    out.extend_from_slice(&record.encode());
    out.extend_from_slice(&XACT_XINFO_HAS_RELFILENODES.to_le_bytes());
    out.extend_from_slice(&(rels.len() as u32).to_le_bytes());
    for rel in rels {
        out.extend_from_slice(&rel.spc_oid.to_le_bytes());
        out.extend_from_slice(&rel.db_oid.to_le_bytes());
        out.extend_from_slice(&rel.rel_number.to_le_bytes());
    }
    out
}

/// The files an xact record lists (none for a record without the extension), or
/// `None` if the extension is malformed.
pub fn decode_rels(info: u8, data: &[u8]) -> Option<Vec<RelFileNode>> {
    if info & XLOG_XACT_HAS_INFO == 0 {
        return (data.len() == XACT_DATA_LEN).then(Vec::new);
    }
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let xinfo = word(XACT_DATA_LEN)?;
    if xinfo != XACT_XINFO_HAS_RELFILENODES {
        return None;
    }
    let nrels = word(XACT_DATA_LEN + 4)? as usize;
    let start = XACT_DATA_LEN + 8;
    if data.len() != start + nrels.checked_mul(RELFILENODE_LEN)? {
        return None;
    }
    (0..nrels)
        .map(|i| {
            let at = start + i * RELFILENODE_LEN;
            Some(RelFileNode {
                spc_oid: word(at)?,
                db_oid: word(at + 4)?,
                rel_number: word(at + 8)?,
            })
        })
        .collect()
}

pub(super) fn insert(
    kind: XactKind,
    xid: TransactionId,
    wal: &dyn WalInsert,
    rels: &[RelFileNode],
) -> QuillResult<Lsn> {
    let record = XactRecord {
        kind,
        xid,
        xact_time: now_timestamp(),
    };
    let data = encode_with_rels(&record, rels);
    let mut builder = RecordBuilder::new(RmgrId::Xact, kind.info() | XLOG_XACT_HAS_INFO, xid);
    builder.main_data(&data);
    let (_, end) = wal.insert(&builder)?;
    Ok(end)
}

/// Removes `rel`'s files: its buffers are discarded unwritten, then every fork is
/// unlinked (PostgreSQL's `smgrdounlinkall`). A file already gone is no error.
///
/// Without relation locks, a statement of another session whose snapshot predates
/// the DROP may still read a page of `rel` into a buffer between the first discard
/// and the unlink; the second discard removes such a buffer, so no buffer is left
/// to be written to a file that no longer exists.
pub fn remove_relation_files(pool: &BufferPool, rel: RelFileNode) -> QuillResult<()> {
    pool.drop_relation_buffers(rel);
    pool.smgr().unlink(rel)?;
    pool.drop_relation_buffers(rel);
    Ok(())
}

/// Redo of the files an xact record lists (after `xact::xact_redo` set the clog):
/// they are removed, so replay ends with them gone, as the original transaction did.
pub fn redo_relation_files(pool: &BufferPool, record: &DecodedRecord<'_>) -> QuillResult<()> {
    if record.rmgr() != RmgrId::Xact {
        return Ok(());
    }
    let rels = decode_rels(record.info(), record.main_data())
        .ok_or_else(|| QuillError::internal("invalid transaction record"))?;
    for rel in rels {
        remove_relation_files(pool, rel)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::xact::XLOG_XACT_COMMIT;

    fn rel(n: u32) -> RelFileNode {
        RelFileNode {
            spc_oid: 1663,
            db_oid: 5,
            rel_number: n,
        }
    }

    #[test]
    fn extended_records_round_trip_and_still_decode_as_xact_records() {
        let record = XactRecord {
            kind: XactKind::Commit,
            xid: 742,
            xact_time: 123_456,
        };
        let rels = [rel(16384), rel(16390)];
        let data = encode_with_rels(&record, &rels);
        let info = XLOG_XACT_COMMIT | XLOG_XACT_HAS_INFO;
        assert_eq!(decode_rels(info, &data), Some(rels.to_vec()));
        assert_eq!(XactRecord::decode(info, &data), Some(record));
        // The plain record lists nothing; a plain record may not carry extra bytes.
        assert_eq!(
            decode_rels(XLOG_XACT_COMMIT, &record.encode()),
            Some(vec![])
        );
        assert_eq!(XactRecord::decode(XLOG_XACT_COMMIT, &data), None);
    }

    #[test]
    fn malformed_extensions_are_rejected() {
        let record = XactRecord {
            kind: XactKind::Abort,
            xid: 9,
            xact_time: 0,
        };
        let info = super::super::xact::XLOG_XACT_ABORT | XLOG_XACT_HAS_INFO;
        let data = encode_with_rels(&record, &[rel(20000)]);
        assert_eq!(decode_rels(info, &data[..data.len() - 1]), None);
        let mut bad_count = data.clone();
        bad_count[16] = 200;
        assert_eq!(decode_rels(info, &bad_count), None);
        let mut bad_xinfo = data;
        bad_xinfo[12] = 1;
        assert_eq!(decode_rels(info, &bad_xinfo), None);
        assert_eq!(decode_rels(info, &record.encode()), None);
    }
}
