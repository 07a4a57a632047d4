//! WAL records: the byte format of one log record, its builder (encode into a caller's
//! buffer) and its decoder (validate and borrow the pieces). PostgreSQL's `XLogRecord`
//! layout (`xlogrecord.h`, `xloginsert.c`, `xlogreader.c`), little-endian, written
//! and read field by field.
//!
//! ```text
//!  XLogRecord header (24 bytes)
//!   0  xl_tot_len  u32   length of the whole record, header included
//!   4  xl_xid      u32   transaction id (0: none)
//!   8  xl_prev     u64   LSN of the previous record (the prev-link)
//!  16  xl_info     u8    high 4 bits: the resource manager's record kind;
//!                        0x01 XLR_SPECIAL_REL_UPDATE
//!  17  xl_rmid     u8    resource manager id (RmgrId)
//!  18  (pad)       u16   zero
//!  20  xl_crc      u32   CRC-32C, see below
//!
//!  then one block header per block reference, in increasing block_id:
//!   0  block_id    u8    0..=31
//!   1  fork_flags  u8    fork number (low 4 bits) | BKPBLOCK_HAS_IMAGE 0x10
//!                        | BKPBLOCK_HAS_DATA 0x20 | BKPBLOCK_WILL_INIT 0x40
//!                        | BKPBLOCK_SAME_REL 0x80
//!   2  data_length u16   bytes of per-block data
//!   [HAS_IMAGE]  bimg_len u16 | hole_offset u16 | bimg_info u8
//!                (BKPIMAGE_HAS_HOLE 0x01, BKPIMAGE_APPLY 0x02)
//!   [not SAME_REL]  spc_oid u32 | db_oid u32 | rel_number u32
//!      block       u32
//!  then, if there is main data, its header:
//!      255 (XLR_BLOCK_ID_DATA_SHORT) | len u8     when len < 256
//!      254 (XLR_BLOCK_ID_DATA_LONG)  | len u32    otherwise
//!  then the payloads, in the same order as the headers:
//!      for each block: image bytes (bimg_len), then block data (data_length)
//!      main data
//! ```
//!
//! **Full-page images** are stored with the page's "hole" (the free space between
//! `pd_lower` and `pd_upper`, which is zero on a standard page) cut out, as PostgreSQL
//! does: `bimg_len = BLCKSZ - hole_length`, and redo puts zeros back
//! ([`BlockImage::restore`]). `BKPBLOCK_SAME_REL` saves the 12 relation bytes when a
//! block belongs to the same relation as the block before it.
//!
//! **CRC.** `xl_crc` is CRC-32C over the bytes after the header (block headers and
//! payloads) first, then the header's first 20 bytes (everything before `xl_crc`,
//! padding included), PostgreSQL's order. The order lets an inserter compute the CRC of
//! the payload before it knows `xl_prev` (which is assigned when WAL space is
//! reserved), and finish it cheaply after: [`RecordBuilder::assemble`] then
//! [`AssembledRecord::finish`].
//!
//! **Limits**, checked on encode and on decode: a record is at most
//! [`MAX_RECORD_SIZE`] (64 MiB: it bounds the reader's buffer; PostgreSQL allows
//! 1020 MiB, Quill's resource managers have no use for more), holds at most
//! [`MAX_BLOCK_REFS`] (32) block references, each with at most 65535 bytes of data, and
//! the builder takes at most [`MAX_DATA_CHUNKS`] data pieces.
//!
//! Decode errors say what PostgreSQL says ("invalid record length at 0/3000060: wanted
//! 24, got 0"); the LSN is known only to the reader, which adds it with
//! [`RecordError::at`]. Everything here is pure: no I/O, no globals, no allocation
//! except growing the caller's output buffer.
//!
//! The builder lives in `builder.rs`, the decoder and its errors in `decode.rs`.

mod builder;
mod decode;
#[cfg(test)]
mod tests;

pub use builder::{AssembledRecord, EncodeError, RecordBuilder};
pub use decode::{
    check_tot_len, BlockImage, DecodedBlock, DecodedRecord, InvalidRecord, RecordError,
    RecordHeader,
};

use crc_fast::{CrcAlgorithm, Digest};

use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::BLCKSZ;

/// Size of the record header (`SizeOfXLogRecord`).
pub const SIZE_OF_RECORD_HEADER: usize = 24;
/// Largest record, header included.
pub const MAX_RECORD_SIZE: u32 = 64 * 1024 * 1024;
/// Most block references in one record (PostgreSQL's XLR_MAX_BLOCK_ID + 1).
pub const MAX_BLOCK_REFS: usize = 32;
/// Most per-block data bytes (the `data_length` field is a u16).
pub const MAX_BLOCK_DATA: usize = u16::MAX as usize;
/// Most data pieces ([`RecordBuilder::block_data`] + [`RecordBuilder::main_data`]
/// calls) in one record.
pub const MAX_DATA_CHUNKS: usize = 32;

/// `xl_info` bits owned by the resource manager (its record kinds).
pub const XLR_RMGR_INFO_MASK: u8 = 0xF0;
/// `xl_info` bit: the record changes a relation outside the normal buffer path.
pub const XLR_SPECIAL_REL_UPDATE: u8 = 0x01;

/// Block-id byte announcing main data with a u8 length.
pub const XLR_BLOCK_ID_DATA_SHORT: u8 = 255;
/// Block-id byte announcing main data with a u32 length.
pub const XLR_BLOCK_ID_DATA_LONG: u8 = 254;
pub const BKPBLOCK_FORK_MASK: u8 = 0x0F;
pub const BKPBLOCK_HAS_IMAGE: u8 = 0x10;
pub const BKPBLOCK_HAS_DATA: u8 = 0x20;
pub const BKPBLOCK_WILL_INIT: u8 = 0x40;
pub const BKPBLOCK_SAME_REL: u8 = 0x80;
pub const BKPIMAGE_HAS_HOLE: u8 = 0x01;
pub const BKPIMAGE_APPLY: u8 = 0x02;

// Header field offsets, checked against the diagram above.
const XL_TOT_LEN: usize = 0;
const XL_XID: usize = 4;
const XL_PREV: usize = 8;
const XL_INFO: usize = 16;
const XL_RMID: usize = 17;
const XL_CRC: usize = 20;
const _: () = assert!(XL_CRC + 4 == SIZE_OF_RECORD_HEADER);
const SIZE_OF_BLOCK_HEADER: usize = 4;
const SIZE_OF_IMAGE_HEADER: usize = 5;
const SIZE_OF_REL_FILE_NODE: usize = 12;
const SIZE_OF_BLOCK_NUMBER: usize = 4;
// Where a standard page keeps pd_lower and pd_upper (storage::page's diagram).
const PD_LOWER_OFFSET: usize = 12;
const PD_UPPER_OFFSET: usize = 14;
// Image lengths and hole offsets are u16 fields.
const _: () = assert!(BLCKSZ <= u16::MAX as usize);
const _: () = assert!(MAX_BLOCK_REFS <= XLR_BLOCK_ID_DATA_LONG as usize);

/// Resource managers: who writes and who replays a record. The numbers are stored in
/// `xl_rmid` and never change; they are PostgreSQL's where PostgreSQL has the same
/// manager. `Relation` (Quill's catalog-level relation DDL) takes slot 7, PostgreSQL's
/// relation mapper, which Quill does not have.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RmgrId {
    /// Checkpoints, end of recovery, and other log-level records.
    Xlog = 0,
    /// Transaction commit and abort.
    Xact = 1,
    /// Relation file create and truncate.
    Storage = 2,
    /// Transaction status pages (pg_xact).
    Clog = 3,
    /// CREATE/DROP DATABASE.
    Database = 4,
    /// Relation DDL not covered by Storage or Heap records.
    Relation = 7,
    Heap = 10,
    Btree = 11,
}

impl RmgrId {
    pub const ALL: [RmgrId; 8] = [
        RmgrId::Xlog,
        RmgrId::Xact,
        RmgrId::Storage,
        RmgrId::Clog,
        RmgrId::Database,
        RmgrId::Relation,
        RmgrId::Heap,
        RmgrId::Btree,
    ];

    pub fn from_u8(id: u8) -> Option<RmgrId> {
        RmgrId::ALL.into_iter().find(|rmgr| *rmgr as u8 == id)
    }

    /// The name pg_waldump prints.
    pub fn name(self) -> &'static str {
        match self {
            RmgrId::Xlog => "XLOG",
            RmgrId::Xact => "Transaction",
            RmgrId::Storage => "Storage",
            RmgrId::Clog => "CLOG",
            RmgrId::Database => "Database",
            RmgrId::Relation => "Relation",
            RmgrId::Heap => "Heap",
            RmgrId::Btree => "Btree",
        }
    }
}

/// A reference from a record to one block of a relation fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub rel: RelFileNode,
    pub fork: ForkNumber,
    pub block: BlockNumber,
    /// Redo initializes the page from scratch (no need to read it first).
    pub will_init: bool,
}

impl BlockRef {
    pub fn new(rel: RelFileNode, fork: ForkNumber, block: BlockNumber) -> BlockRef {
        BlockRef {
            rel,
            fork,
            block,
            will_init: false,
        }
    }
}

/// The all-zero block reference that fills unused slots of the fixed-size arrays.
const EMPTY_BLOCK_REF: BlockRef = BlockRef {
    rel: RelFileNode {
        spc_oid: 0,
        db_oid: 0,
        rel_number: 0,
    },
    fork: ForkNumber::Main,
    block: BlockNumber(0),
    will_init: false,
};

/// CRC-32C (Castagnoli), the WAL's checksum (check value of "123456789": 0xE3069283).
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// The CRC a whole `record` (at least 24 bytes) must carry in `xl_crc`.
pub fn record_crc(record: &[u8]) -> u32 {
    let mut digest = Digest::new(CrcAlgorithm::Crc32Iscsi);
    digest.update(&record[SIZE_OF_RECORD_HEADER..]);
    digest.update(&record[..XL_CRC]);
    digest.finalize() as u32
}
