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

use std::fmt;

use crc_fast::{CrcAlgorithm, Digest};

use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::{BLCKSZ, SIZE_OF_PAGE_HEADER};
use crate::wal::segment::{read_u16, read_u32, read_u64};
use crate::wal::Lsn;

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

#[derive(Debug, Clone, Copy)]
struct PageImage<'a> {
    page: &'a [u8; BLCKSZ],
    hole_offset: u16,
    hole_length: u16,
}

#[derive(Debug, Clone, Copy)]
struct BlockEntry<'a> {
    block_ref: BlockRef,
    image: Option<PageImage<'a>>,
    data_len: usize,
}

/// Which part of the record a data piece belongs to: a block index, or main data.
const MAIN_DATA: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct DataChunk<'a> {
    owner: usize,
    bytes: &'a [u8],
}

const EMPTY_BLOCK: BlockEntry<'static> = BlockEntry {
    block_ref: BlockRef {
        rel: RelFileNode {
            spc_oid: 0,
            db_oid: 0,
            rel_number: 0,
        },
        fork: ForkNumber::Main,
        block: BlockNumber(0),
        will_init: false,
    },
    image: None,
    data_len: 0,
};
const EMPTY_CHUNK: DataChunk<'static> = DataChunk {
    owner: MAIN_DATA,
    bytes: &[],
};

/// Collects the pieces of one record without copying them, then encodes it into a
/// caller's buffer. Block ids are assigned in [`block`](Self::block) call order;
/// [`image`](Self::image) and [`block_data`](Self::block_data) apply to the latest
/// block. Limits are reported by [`assemble`](Self::assemble)/[`encode`](Self::encode).
///
/// ```ignore
/// RecordBuilder::new(RmgrId::Heap, XLOG_HEAP_INSERT, xid)
///     .block(BlockRef::new(rel, ForkNumber::Main, blkno))
///     .image(&page)
///     .main_data(&xl_heap_insert)
///     .encode(prev, &mut out)?;
/// ```
#[derive(Debug, Clone)]
pub struct RecordBuilder<'a> {
    rmgr: RmgrId,
    info: u8,
    xid: u32,
    blocks: [BlockEntry<'a>; MAX_BLOCK_REFS],
    n_blocks: usize,
    chunks: [DataChunk<'a>; MAX_DATA_CHUNKS],
    n_chunks: usize,
    main_len: usize,
    overflow: Option<EncodeError>,
}

impl<'a> RecordBuilder<'a> {
    pub fn new(rmgr: RmgrId, info: u8, xid: u32) -> RecordBuilder<'a> {
        RecordBuilder {
            rmgr,
            info,
            xid,
            blocks: [EMPTY_BLOCK; MAX_BLOCK_REFS],
            n_blocks: 0,
            chunks: [EMPTY_CHUNK; MAX_DATA_CHUNKS],
            n_chunks: 0,
            main_len: 0,
            overflow: None,
        }
    }

    /// Adds a block reference (the next block id).
    pub fn block(&mut self, block_ref: BlockRef) -> &mut Self {
        if self.overflow.is_none() {
            if self.n_blocks == MAX_BLOCK_REFS {
                self.overflow = Some(EncodeError::TooManyBlockRefs);
            } else {
                self.blocks[self.n_blocks] = BlockEntry {
                    block_ref,
                    ..EMPTY_BLOCK
                };
                self.n_blocks += 1;
            }
        }
        self
    }

    /// Attaches a full-page image of a standard page to the latest block: the hole
    /// between `pd_lower` and `pd_upper` is left out (PostgreSQL's REGBUF_STANDARD).
    /// A page whose header does not describe a hole (e.g. all zeros) is logged whole.
    pub fn image(&mut self, page: &'a [u8; BLCKSZ]) -> &mut Self {
        let lower = usize::from(read_u16(page, PD_LOWER_OFFSET));
        let upper = usize::from(read_u16(page, PD_UPPER_OFFSET));
        if lower >= SIZE_OF_PAGE_HEADER && upper > lower && upper <= BLCKSZ {
            self.set_image(page, lower as u16, (upper - lower) as u16)
        } else {
            self.set_image(page, 0, 0)
        }
    }

    /// Attaches a full-page image of a page without the standard layout, logged whole.
    pub fn image_without_hole(&mut self, page: &'a [u8; BLCKSZ]) -> &mut Self {
        self.set_image(page, 0, 0)
    }

    fn set_image(
        &mut self,
        page: &'a [u8; BLCKSZ],
        hole_offset: u16,
        hole_length: u16,
    ) -> &mut Self {
        if let Some(block) = self.latest_block("image") {
            assert!(
                block.image.is_none(),
                "two images for one WAL block reference"
            );
            block.image = Some(PageImage {
                page,
                hole_offset,
                hole_length,
            });
        }
        self
    }

    /// Appends data for the latest block (several calls concatenate).
    pub fn block_data(&mut self, data: &'a [u8]) -> &mut Self {
        if let Some(block) = self.latest_block("block_data") {
            block.data_len += data.len();
            let owner = self.n_blocks - 1;
            self.push_chunk(owner, data);
        }
        self
    }

    /// Appends to the record's main data (several calls concatenate).
    pub fn main_data(&mut self, data: &'a [u8]) -> &mut Self {
        self.main_len += data.len();
        self.push_chunk(MAIN_DATA, data);
        self
    }

    /// The latest block, `None` once a limit was exceeded. Panics if no block was
    /// added: that is a bug in the caller, not a condition of the data.
    fn latest_block(&mut self, what: &str) -> Option<&mut BlockEntry<'a>> {
        if self.overflow.is_some() {
            return None;
        }
        assert!(
            self.n_blocks > 0,
            "WAL record {what} before any block reference"
        );
        Some(&mut self.blocks[self.n_blocks - 1])
    }

    fn push_chunk(&mut self, owner: usize, bytes: &'a [u8]) {
        if bytes.is_empty() || self.overflow.is_some() {
            return;
        }
        if self.n_chunks == MAX_DATA_CHUNKS {
            self.overflow = Some(EncodeError::TooManyDataChunks);
            return;
        }
        self.chunks[self.n_chunks] = DataChunk { owner, bytes };
        self.n_chunks += 1;
    }

    fn blocks(&self) -> &[BlockEntry<'a>] {
        &self.blocks[..self.n_blocks]
    }

    /// Whether block `i` repeats the relation of block `i - 1` (BKPBLOCK_SAME_REL).
    fn same_rel(&self, i: usize) -> bool {
        i > 0 && self.blocks[i].block_ref.rel == self.blocks[i - 1].block_ref.rel
    }

    /// The encoded length of the record, or the limit it exceeds.
    pub fn total_len(&self) -> Result<u32, EncodeError> {
        if let Some(error) = &self.overflow {
            return Err(error.clone());
        }
        if self.info & !(XLR_RMGR_INFO_MASK | XLR_SPECIAL_REL_UPDATE) != 0 {
            return Err(EncodeError::InvalidInfo { info: self.info });
        }
        let mut len = SIZE_OF_RECORD_HEADER;
        for (i, block) in self.blocks().iter().enumerate() {
            if block.data_len > MAX_BLOCK_DATA {
                let (block_id, len) = (i as u8, block.data_len);
                return Err(EncodeError::BlockDataTooLong { block_id, len });
            }
            len += SIZE_OF_BLOCK_HEADER + SIZE_OF_BLOCK_NUMBER + block.data_len;
            if let Some(image) = &block.image {
                len += SIZE_OF_IMAGE_HEADER + BLCKSZ - usize::from(image.hole_length);
            }
            if !self.same_rel(i) {
                len += SIZE_OF_REL_FILE_NODE;
            }
        }
        if self.main_len > 0 {
            len = len.saturating_add(if self.main_len < 256 { 2 } else { 5 });
            len = len.saturating_add(self.main_len);
        }
        if len > MAX_RECORD_SIZE as usize {
            return Err(EncodeError::RecordTooLong { len });
        }
        Ok(len as u32)
    }

    /// Appends the record to `out` with `xl_prev` and `xl_crc` still zero, and returns
    /// what [`AssembledRecord::finish`] needs to fill them in once the record's
    /// position is reserved. Only `out` may allocate (grow), once.
    pub fn assemble(&self, out: &mut Vec<u8>) -> Result<AssembledRecord, EncodeError> {
        let len = self.total_len()?;
        let start = out.len();
        out.reserve(len as usize);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.xid.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // xl_prev, see finish()
        out.extend_from_slice(&[self.info, self.rmgr as u8, 0, 0]);
        out.extend_from_slice(&[0; 4]); // xl_crc, see finish()
        self.write_block_headers(out);
        if self.main_len >= 256 {
            out.push(XLR_BLOCK_ID_DATA_LONG);
            out.extend_from_slice(&(self.main_len as u32).to_le_bytes());
        } else if self.main_len > 0 {
            out.extend_from_slice(&[XLR_BLOCK_ID_DATA_SHORT, self.main_len as u8]);
        }
        let chunks = &self.chunks[..self.n_chunks];
        for (i, block) in self.blocks().iter().enumerate() {
            if let Some(image) = &block.image {
                let hole_start = usize::from(image.hole_offset);
                let hole_end = hole_start + usize::from(image.hole_length);
                out.extend_from_slice(&image.page[..hole_start]);
                out.extend_from_slice(&image.page[hole_end..]);
            }
            for chunk in chunks.iter().filter(|c| c.owner == i) {
                out.extend_from_slice(chunk.bytes);
            }
        }
        for chunk in chunks.iter().filter(|c| c.owner == MAIN_DATA) {
            out.extend_from_slice(chunk.bytes);
        }
        assert_eq!(
            out.len() - start,
            len as usize,
            "WAL record length miscounted"
        );
        let mut payload_crc = Digest::new(CrcAlgorithm::Crc32Iscsi);
        payload_crc.update(&out[start + SIZE_OF_RECORD_HEADER..]);
        Ok(AssembledRecord { len, payload_crc })
    }

    fn write_block_headers(&self, out: &mut Vec<u8>) {
        for (i, block) in self.blocks().iter().enumerate() {
            let r = &block.block_ref;
            let mut fork_flags = r.fork as u8;
            if block.image.is_some() {
                fork_flags |= BKPBLOCK_HAS_IMAGE;
            }
            if block.data_len > 0 {
                fork_flags |= BKPBLOCK_HAS_DATA;
            }
            if r.will_init {
                fork_flags |= BKPBLOCK_WILL_INIT;
            }
            if self.same_rel(i) {
                fork_flags |= BKPBLOCK_SAME_REL;
            }
            out.extend_from_slice(&[i as u8, fork_flags]);
            out.extend_from_slice(&(block.data_len as u16).to_le_bytes());
            if let Some(image) = &block.image {
                let stored = (BLCKSZ - usize::from(image.hole_length)) as u16;
                let mut bimg_info = BKPIMAGE_APPLY;
                if image.hole_length > 0 {
                    bimg_info |= BKPIMAGE_HAS_HOLE;
                }
                out.extend_from_slice(&stored.to_le_bytes());
                out.extend_from_slice(&image.hole_offset.to_le_bytes());
                out.push(bimg_info);
            }
            if !self.same_rel(i) {
                out.extend_from_slice(&r.rel.spc_oid.to_le_bytes());
                out.extend_from_slice(&r.rel.db_oid.to_le_bytes());
                out.extend_from_slice(&r.rel.rel_number.to_le_bytes());
            }
            out.extend_from_slice(&r.block.0.to_le_bytes());
        }
    }

    /// Appends the complete record, linked to the record at `prev`, to `out`; returns
    /// its length.
    pub fn encode(&self, prev: Lsn, out: &mut Vec<u8>) -> Result<u32, EncodeError> {
        let start = out.len();
        let assembled = self.assemble(out)?;
        assembled.finish(&mut out[start..], prev);
        Ok(assembled.len)
    }
}

/// A record assembled by [`RecordBuilder::assemble`], waiting for its prev-link.
#[derive(Debug, Clone, Copy)]
pub struct AssembledRecord {
    /// `xl_tot_len`: the bytes to reserve in the WAL.
    pub len: u32,
    payload_crc: Digest,
}

impl AssembledRecord {
    /// Sets `xl_prev` and `xl_crc` in `record` (the assembled bytes).
    pub fn finish(&self, record: &mut [u8], prev: Lsn) {
        assert_eq!(record.len(), self.len as usize, "not the assembled record");
        record[XL_PREV..XL_PREV + 8].copy_from_slice(&prev.0.to_le_bytes());
        let mut digest = self.payload_crc;
        digest.update(&record[..XL_CRC]);
        record[XL_CRC..XL_CRC + 4].copy_from_slice(&(digest.finalize() as u32).to_le_bytes());
    }
}

/// A limit a record being built exceeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    TooManyBlockRefs,
    TooManyDataChunks,
    BlockDataTooLong { block_id: u8, len: usize },
    RecordTooLong { len: usize },
    InvalidInfo { info: u8 },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyBlockRefs => write!(
                f,
                "too many registered buffers (at most {MAX_BLOCK_REFS} per WAL record)"
            ),
            EncodeError::TooManyDataChunks => write!(
                f,
                "too much WAL data (at most {MAX_DATA_CHUNKS} pieces per record)"
            ),
            EncodeError::BlockDataTooLong { block_id, len } => write!(
                f,
                "too much WAL data for block {block_id}: {len} bytes (at most {MAX_BLOCK_DATA})"
            ),
            EncodeError::RecordTooLong { len } => write!(
                f,
                "WAL record would be {len} bytes (at most {MAX_RECORD_SIZE})"
            ),
            EncodeError::InvalidInfo { info } => write!(f, "invalid xlog info mask {info:02X}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The fixed header of a record, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub tot_len: u32,
    pub xid: u32,
    pub prev: Lsn,
    pub info: u8,
    pub rmid: u8,
    pub crc: u32,
}

impl RecordHeader {
    /// The header in the first 24 bytes of `bytes`, unvalidated.
    pub fn parse(bytes: &[u8]) -> RecordHeader {
        RecordHeader {
            tot_len: read_u32(bytes, XL_TOT_LEN),
            xid: read_u32(bytes, XL_XID),
            prev: Lsn(read_u64(bytes, XL_PREV)),
            info: bytes[XL_INFO],
            rmid: bytes[XL_RMID],
            crc: read_u32(bytes, XL_CRC),
        }
    }

    /// What the header alone can tell (PostgreSQL's ValidXLogRecordHeader, except the
    /// prev-link, which needs the reader's context): a sane length and a known
    /// resource manager.
    pub fn validate(&self) -> Result<RmgrId, RecordError> {
        check_tot_len(self.tot_len)?;
        RmgrId::from_u8(self.rmid).ok_or(RecordError::InvalidRmgr { rmid: self.rmid })
    }
}

/// Checks `xl_tot_len` alone: the reader does this as soon as the first 4 bytes of a
/// record are in hand, before the rest of the header may be.
pub fn check_tot_len(tot_len: u32) -> Result<(), RecordError> {
    if (tot_len as usize) < SIZE_OF_RECORD_HEADER {
        let wanted = SIZE_OF_RECORD_HEADER as u32;
        return Err(RecordError::InvalidLength {
            wanted,
            got: tot_len,
        });
    }
    if tot_len > MAX_RECORD_SIZE {
        return Err(RecordError::TooLong { len: tot_len });
    }
    Ok(())
}

/// A full-page image as stored in a record: the page with its hole cut out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockImage<'a> {
    /// `BLCKSZ - hole_length` bytes.
    pub bytes: &'a [u8],
    pub hole_offset: u16,
    pub hole_length: u16,
    /// BKPIMAGE_APPLY: redo restores the page from the image.
    pub apply: bool,
}

impl BlockImage<'_> {
    /// Rebuilds the page: the stored bytes around a zeroed hole.
    pub fn restore(&self, page: &mut [u8; BLCKSZ]) {
        let hole_start = usize::from(self.hole_offset);
        let hole_end = hole_start + usize::from(self.hole_length);
        page[..hole_start].copy_from_slice(&self.bytes[..hole_start]);
        page[hole_start..hole_end].fill(0);
        page[hole_end..].copy_from_slice(&self.bytes[hole_start..]);
    }
}

/// One block reference of a decoded record, borrowing from the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedBlock<'a> {
    pub id: u8,
    pub block_ref: BlockRef,
    pub image: Option<BlockImage<'a>>,
    /// Per-block data (empty if none).
    pub data: &'a [u8],
}

const EMPTY_DECODED_BLOCK: DecodedBlock<'static> = DecodedBlock {
    id: 0,
    block_ref: EMPTY_BLOCK.block_ref,
    image: None,
    data: &[],
};

/// A validated record: header fields, block references and main data, all borrowed
/// from the record's bytes (no allocation).
#[derive(Debug, Clone)]
pub struct DecodedRecord<'a> {
    header: RecordHeader,
    rmgr: RmgrId,
    blocks: [DecodedBlock<'a>; MAX_BLOCK_REFS],
    n_blocks: usize,
    main_data: &'a [u8],
}

impl<'a> DecodedRecord<'a> {
    /// Validates and decodes one whole record (`bytes.len()` must be its
    /// `xl_tot_len`): header, CRC, then the block headers, PostgreSQL's
    /// `DecodeXLogRecord` checks.
    pub fn decode(bytes: &'a [u8]) -> Result<DecodedRecord<'a>, RecordError> {
        if bytes.len() < SIZE_OF_RECORD_HEADER {
            return Err(RecordError::ShortData);
        }
        let header = RecordHeader::parse(bytes);
        let rmgr = header.validate()?;
        if header.tot_len as usize != bytes.len() {
            return Err(RecordError::ShortData);
        }
        if record_crc(bytes) != header.crc {
            return Err(RecordError::BadChecksum);
        }
        let mut record = DecodedRecord {
            header,
            rmgr,
            blocks: [EMPTY_DECODED_BLOCK; MAX_BLOCK_REFS],
            n_blocks: 0,
            main_data: &[],
        };
        record.decode_body(bytes)?;
        Ok(record)
    }

    /// Parses the block headers and the main-data header, then hands out the payload
    /// slices in header order.
    fn decode_body(&mut self, bytes: &'a [u8]) -> Result<(), RecordError> {
        let mut cursor = Cursor {
            bytes,
            pos: SIZE_OF_RECORD_HEADER,
        };
        let mut lengths = [(0usize, 0usize); MAX_BLOCK_REFS]; // (image, data) per block
        let mut declared = 0usize;
        let mut main_len = 0usize;
        let mut prev_rel = None;
        while bytes.len() - cursor.pos > declared {
            match cursor.u8()? {
                XLR_BLOCK_ID_DATA_SHORT => main_len = usize::from(cursor.u8()?),
                XLR_BLOCK_ID_DATA_LONG => main_len = cursor.u32()? as usize,
                id if usize::from(id) < MAX_BLOCK_REFS => {
                    if self.blocks().last().is_some_and(|last| id <= last.id) {
                        return Err(RecordError::OutOfOrderBlockId { id });
                    }
                    let (block, image_len, data_len) =
                        parse_block_header(&mut cursor, id, &mut prev_rel)?;
                    lengths[self.n_blocks] = (image_len, data_len);
                    declared += image_len + data_len;
                    self.blocks[self.n_blocks] = block;
                    self.n_blocks += 1;
                    continue;
                }
                id => return Err(RecordError::InvalidBlockId { id }),
            }
            // By convention the main data header is the last header.
            declared += main_len;
            break;
        }
        if bytes.len() - cursor.pos != declared {
            return Err(RecordError::ShortData);
        }
        let mut pos = cursor.pos;
        let mut take = |len: usize| {
            pos += len;
            &bytes[pos - len..pos]
        };
        for (block, (image_len, data_len)) in self.blocks[..self.n_blocks].iter_mut().zip(lengths) {
            if let Some(image) = &mut block.image {
                image.bytes = take(image_len);
            }
            block.data = take(data_len);
        }
        self.main_data = take(main_len);
        Ok(())
    }

    pub fn header(&self) -> &RecordHeader {
        &self.header
    }

    pub fn rmgr(&self) -> RmgrId {
        self.rmgr
    }

    /// The whole `xl_info` byte; the record kind is `info() & XLR_RMGR_INFO_MASK`.
    pub fn info(&self) -> u8 {
        self.header.info
    }

    pub fn xid(&self) -> u32 {
        self.header.xid
    }

    pub fn prev(&self) -> Lsn {
        self.header.prev
    }

    pub fn total_len(&self) -> u32 {
        self.header.tot_len
    }

    pub fn blocks(&self) -> &[DecodedBlock<'a>] {
        &self.blocks[..self.n_blocks]
    }

    /// The block reference with id `id`, if the record has one.
    pub fn block(&self, id: u8) -> Option<&DecodedBlock<'a>> {
        self.blocks().iter().find(|block| block.id == id)
    }

    pub fn main_data(&self) -> &'a [u8] {
        self.main_data
    }
}

/// Reads one block header after its id byte. Returns the block with empty `data` and
/// image `bytes`, and the declared image and data lengths: the caller points the
/// slices at the payload once all headers are read.
fn parse_block_header(
    cursor: &mut Cursor<'_>,
    id: u8,
    prev_rel: &mut Option<RelFileNode>,
) -> Result<(DecodedBlock<'static>, usize, usize), RecordError> {
    let fork_flags = cursor.u8()?;
    let data_len = usize::from(cursor.u16()?);
    let fork_id = fork_flags & BKPBLOCK_FORK_MASK;
    let fork = ForkNumber::from_u8(fork_id).ok_or(RecordError::InvalidFork { fork: fork_id })?;
    match (fork_flags & BKPBLOCK_HAS_DATA != 0, data_len) {
        (true, 0) => return Err(RecordError::DataFlagWithoutData),
        (false, len) if len > 0 => return Err(RecordError::DataWithoutFlag { len }),
        _ => {}
    }
    let mut image = None;
    let mut image_len = 0;
    if fork_flags & BKPBLOCK_HAS_IMAGE != 0 {
        let (len, hole_offset, bimg_info) = (cursor.u16()?, cursor.u16()?, cursor.u8()?);
        let hole_length = check_image_header(len, hole_offset, bimg_info)?;
        image_len = usize::from(len);
        image = Some(BlockImage {
            bytes: &[],
            hole_offset,
            hole_length,
            apply: bimg_info & BKPIMAGE_APPLY != 0,
        });
    }
    let rel = if fork_flags & BKPBLOCK_SAME_REL != 0 {
        prev_rel.ok_or(RecordError::NoPreviousRel)?
    } else {
        RelFileNode {
            spc_oid: cursor.u32()?,
            db_oid: cursor.u32()?,
            rel_number: cursor.u32()?,
        }
    };
    *prev_rel = Some(rel);
    let block_ref = BlockRef {
        rel,
        fork,
        block: BlockNumber(cursor.u32()?),
        will_init: fork_flags & BKPBLOCK_WILL_INIT != 0,
    };
    let block = DecodedBlock {
        id,
        block_ref,
        image,
        data: &[],
    };
    Ok((block, image_len, data_len))
}

/// PostgreSQL's checks of an uncompressed image header; returns the hole length.
fn check_image_header(len: u16, hole_offset: u16, bimg_info: u8) -> Result<u16, RecordError> {
    if bimg_info & !(BKPIMAGE_HAS_HOLE | BKPIMAGE_APPLY) != 0 {
        return Err(RecordError::ImageInfo { info: bimg_info });
    }
    let blcksz = BLCKSZ as u16;
    if bimg_info & BKPIMAGE_HAS_HOLE != 0 {
        let hole_length = blcksz.saturating_sub(len);
        if hole_offset == 0 || hole_length == 0 || hole_offset > len {
            return Err(RecordError::BadHole {
                offset: hole_offset,
                length: hole_length,
                image_len: len,
            });
        }
        Ok(hole_length)
    } else if hole_offset != 0 {
        Err(RecordError::HoleWithoutFlag {
            offset: hole_offset,
        })
    } else if len != blcksz {
        Err(RecordError::ImageLength { len })
    } else {
        Ok(0)
    }
}

/// Bounds-checked little-endian reads; running off the end is PostgreSQL's
/// "record with invalid length".
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<usize, RecordError> {
        if self.bytes.len() - self.pos < n {
            return Err(RecordError::ShortData);
        }
        self.pos += n;
        Ok(self.pos - n)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.bytes[self.take(1)?])
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(read_u16(self.bytes, self.take(2)?))
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(read_u32(self.bytes, self.take(4)?))
    }
}

/// Why a record is invalid. [`RecordError::at`] places it at an LSN for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// `xl_tot_len` below the header size.
    InvalidLength {
        wanted: u32,
        got: u32,
    },
    /// `xl_tot_len` above [`MAX_RECORD_SIZE`].
    TooLong {
        len: u32,
    },
    InvalidRmgr {
        rmid: u8,
    },
    /// `xl_prev` is not the previous record's LSN.
    BadPrevLink {
        prev: Lsn,
    },
    BadChecksum,
    /// The headers and declared payload lengths do not add up to `xl_tot_len`.
    ShortData,
    InvalidBlockId {
        id: u8,
    },
    OutOfOrderBlockId {
        id: u8,
    },
    NoPreviousRel,
    InvalidFork {
        fork: u8,
    },
    DataFlagWithoutData,
    DataWithoutFlag {
        len: usize,
    },
    BadHole {
        offset: u16,
        length: u16,
        image_len: u16,
    },
    HoleWithoutFlag {
        offset: u16,
    },
    ImageLength {
        len: u16,
    },
    ImageInfo {
        info: u8,
    },
}

impl RecordError {
    /// This error in the record at `lsn`, for PostgreSQL's messages.
    pub fn at(self, lsn: Lsn) -> InvalidRecord {
        InvalidRecord { lsn, error: self }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, lsn: Option<Lsn>) -> fmt::Result {
        let at = At(lsn);
        match self {
            RecordError::InvalidLength { wanted, got } => {
                write!(f, "invalid record length{at}: wanted {wanted}, got {got}")
            }
            RecordError::TooLong { len } => write!(f, "record length {len}{at} too long"),
            RecordError::InvalidRmgr { rmid } => {
                write!(f, "invalid resource manager ID {rmid}{at}")
            }
            RecordError::BadPrevLink { prev } => {
                write!(f, "record with incorrect prev-link {prev}{at}")
            }
            RecordError::BadChecksum => {
                write!(f, "incorrect resource manager data checksum in record{at}")
            }
            RecordError::ShortData => write!(f, "record with invalid length{at}"),
            RecordError::InvalidBlockId { id } => write!(f, "invalid block_id {id}{at}"),
            RecordError::OutOfOrderBlockId { id } => write!(f, "out-of-order block_id {id}{at}"),
            RecordError::NoPreviousRel => {
                write!(f, "BKPBLOCK_SAME_REL set but no previous rel{at}")
            }
            RecordError::InvalidFork { fork } => write!(f, "invalid fork number {fork}{at}"),
            RecordError::DataFlagWithoutData => {
                write!(f, "BKPBLOCK_HAS_DATA set, but no data included{at}")
            }
            RecordError::DataWithoutFlag { len } => {
                write!(f, "BKPBLOCK_HAS_DATA not set, but data length is {len}{at}")
            }
            RecordError::BadHole {
                offset,
                length,
                image_len,
            } => write!(
                f,
                "BKPIMAGE_HAS_HOLE set, but hole offset {offset} length {length} \
                 block image length {image_len}{at}"
            ),
            RecordError::HoleWithoutFlag { offset } => write!(
                f,
                "BKPIMAGE_HAS_HOLE not set, but hole offset {offset} length 0{at}"
            ),
            RecordError::ImageLength { len } => write!(
                f,
                "neither BKPIMAGE_HAS_HOLE nor BKPIMAGE_COMPRESSED set, \
                 but block image length is {len}{at}"
            ),
            RecordError::ImageInfo { info } => {
                write!(f, "invalid block image info bits {info:02X}{at}")
            }
        }
    }
}

/// " at X/XXXXXXXX", or nothing when the position is unknown.
struct At(Option<Lsn>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(lsn) => write!(f, " at {lsn}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, None)
    }
}

impl std::error::Error for RecordError {}

/// A [`RecordError`] in the record at `lsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRecord {
    pub lsn: Lsn,
    pub error: RecordError,
}

impl fmt::Display for InvalidRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.write(f, Some(self.lsn))
    }
}

impl std::error::Error for InvalidRecord {}

#[cfg(test)]
mod tests {
    use super::*;

    const REL: RelFileNode = RelFileNode {
        spc_oid: 1663,
        db_oid: 5,
        rel_number: 16384,
    };
    const OTHER_REL: RelFileNode = RelFileNode {
        spc_oid: 1663,
        db_oid: 5,
        rel_number: 16390,
    };

    /// A standard page with pd_lower/pd_upper describing a zeroed hole, the rest
    /// filled with a pattern.
    fn page_with_hole(lower: u16, upper: u16, seed: u8) -> [u8; BLCKSZ] {
        let mut page = [0u8; BLCKSZ];
        for (i, byte) in page.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(31).wrapping_add(seed) | 1;
        }
        page[usize::from(lower)..usize::from(upper)].fill(0);
        page[PD_LOWER_OFFSET..PD_LOWER_OFFSET + 2].copy_from_slice(&lower.to_le_bytes());
        page[PD_UPPER_OFFSET..PD_UPPER_OFFSET + 2].copy_from_slice(&upper.to_le_bytes());
        page
    }

    fn encode(builder: &RecordBuilder<'_>, prev: Lsn) -> Vec<u8> {
        let mut out = Vec::new();
        builder.encode(prev, &mut out).unwrap();
        out
    }

    /// Rewrites the CRC after a test damaged a record on purpose.
    fn fix_crc(record: &mut [u8]) {
        let crc = record_crc(record);
        record[XL_CRC..XL_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    }

    fn heap_record(pages: &[[u8; BLCKSZ]; 2]) -> Vec<u8> {
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0x20, 731);
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(7)))
            .image(&pages[0])
            .block_data(b"tuple ")
            .block_data(b"header");
        builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(8)));
        builder
            .block(BlockRef {
                will_init: true,
                ..BlockRef::new(OTHER_REL, ForkNumber::VisibilityMap, BlockNumber(0))
            })
            .image_without_hole(&pages[1])
            .block_data(&[9; 300]);
        builder.main_data(b"xl_heap_").main_data(b"update");
        encode(&builder, Lsn(0x1_0000_0028))
    }

    #[test]
    fn crc32c_has_the_castagnoli_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn round_trip_keeps_blocks_images_with_holes_and_data() {
        let pages = [page_with_hole(64, 8000, 3), page_with_hole(0, 0, 5)];
        let bytes = heap_record(&pages);
        let record = DecodedRecord::decode(&bytes).unwrap();
        assert_eq!(
            (record.rmgr(), record.info(), record.xid()),
            (RmgrId::Heap, 0x20, 731)
        );
        assert_eq!(record.prev(), Lsn(0x1_0000_0028));
        assert_eq!(record.total_len() as usize, bytes.len());
        assert_eq!(record.main_data(), b"xl_heap_update");
        let blocks = record.blocks();
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            blocks[0].block_ref,
            BlockRef::new(REL, ForkNumber::Main, BlockNumber(7))
        );
        assert_eq!(blocks[0].data, b"tuple header");
        let image = blocks[0].image.unwrap();
        assert_eq!(
            (image.hole_offset, image.hole_length, image.apply),
            (64, 7936, true)
        );
        assert_eq!(image.bytes.len(), BLCKSZ - 7936);
        let mut restored = [0xFFu8; BLCKSZ];
        image.restore(&mut restored);
        assert_eq!(restored, pages[0]);
        assert_eq!(
            (blocks[1].block_ref.block, blocks[1].image, blocks[1].data),
            (BlockNumber(8), None, &[][..])
        );
        assert_eq!(blocks[2].block_ref.rel, OTHER_REL);
        assert!(blocks[2].block_ref.will_init);
        let image = blocks[2].image.unwrap();
        assert_eq!(
            (image.hole_offset, image.hole_length, image.bytes.len()),
            (0, 0, BLCKSZ)
        );
        image.restore(&mut restored);
        assert_eq!(restored, pages[1]);
        assert_eq!(blocks[2].data, &[9; 300][..]);
        assert_eq!(record.block(2), Some(&blocks[2]));
        assert_eq!(record.block(3), None);
    }

    #[test]
    fn header_layout_and_crc_order_match_postgres() {
        let bytes = heap_record(&[page_with_hole(64, 8000, 3), page_with_hole(0, 0, 5)]);
        assert_eq!(read_u32(&bytes, 0) as usize, bytes.len());
        assert_eq!(read_u32(&bytes, 4), 731);
        assert_eq!(read_u64(&bytes, 8), 0x1_0000_0028);
        assert_eq!(&bytes[16..20], &[0x20, RmgrId::Heap as u8, 0, 0]);
        // Payload first, then the header up to xl_crc.
        let crc_input = [&bytes[24..], &bytes[..20]].concat();
        assert_eq!(read_u32(&bytes, 20), crc32c(&crc_input));
        // Block 1 repeats block 0's relation: BKPBLOCK_SAME_REL, no RelFileNode.
        let block1 = 24 + SIZE_OF_BLOCK_HEADER + SIZE_OF_IMAGE_HEADER + 12 + 4;
        assert_eq!(bytes[block1], 1);
        assert_eq!(bytes[block1 + 1], BKPBLOCK_SAME_REL);
    }

    #[test]
    fn empty_and_long_main_data_records_round_trip() {
        let bytes = encode(&RecordBuilder::new(RmgrId::Xlog, 0, 0), Lsn::INVALID);
        assert_eq!(bytes.len(), SIZE_OF_RECORD_HEADER);
        let record = DecodedRecord::decode(&bytes).unwrap();
        assert!(record.blocks().is_empty() && record.main_data().is_empty());

        let main: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let bytes = encode(
            RecordBuilder::new(RmgrId::Xact, 0x10, 9).main_data(&main),
            Lsn(8),
        );
        assert_eq!(bytes[24], XLR_BLOCK_ID_DATA_LONG);
        assert_eq!(bytes.len(), 24 + 5 + 1000);
        assert_eq!(
            DecodedRecord::decode(&bytes).unwrap().main_data(),
            &main[..]
        );
    }

    #[test]
    fn assemble_then_finish_equals_encode() {
        let page = page_with_hole(100, 200, 1);
        let mut builder = RecordBuilder::new(RmgrId::Btree, 0x30, 5);
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)))
            .image(&page);
        builder.main_data(b"split");
        let mut assembled = vec![0xEE; 3]; // appends after what is there
        let record = builder.assemble(&mut assembled).unwrap();
        assert_eq!(record.len, builder.total_len().unwrap());
        record.finish(&mut assembled[3..], Lsn(0x2_0000_0040));
        assert_eq!(&assembled[3..], &encode(&builder, Lsn(0x2_0000_0040))[..]);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let page = page_with_hole(40, 8100, 7);
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0x00, 77);
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(3)))
            .image(&page)
            .block_data(b"row");
        builder.main_data(b"insert");
        let bytes = encode(&builder, Lsn(0x100_0028));
        let mut damaged = bytes.clone();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                damaged[i] ^= 1 << bit;
                assert!(
                    DecodedRecord::decode(&damaged).is_err(),
                    "byte {i} bit {bit}"
                );
                damaged[i] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn limits_are_errors_not_panics() {
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
        for block in 0..=MAX_BLOCK_REFS as u32 {
            builder
                .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(block)))
                .block_data(b"x");
        }
        assert_eq!(builder.total_len(), Err(EncodeError::TooManyBlockRefs));

        let big = vec![0u8; MAX_BLOCK_DATA + 1];
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(0)))
            .block_data(&big);
        let error = builder.encode(Lsn(8), &mut Vec::new()).unwrap_err();
        assert_eq!(
            error,
            EncodeError::BlockDataTooLong {
                block_id: 0,
                len: 65536
            }
        );

        let huge = vec![0u8; MAX_RECORD_SIZE as usize];
        let mut out = Vec::new();
        let result = RecordBuilder::new(RmgrId::Xact, 0, 1)
            .main_data(&huge)
            .encode(Lsn(8), &mut out);
        assert!(matches!(result, Err(EncodeError::RecordTooLong { .. })));
        assert!(
            out.is_empty(),
            "nothing written for a record over the limit"
        );

        let mut builder = RecordBuilder::new(RmgrId::Xact, 0, 1);
        for _ in 0..=MAX_DATA_CHUNKS {
            builder.main_data(b"piece");
        }
        assert_eq!(builder.total_len(), Err(EncodeError::TooManyDataChunks));
        let invalid_info = RecordBuilder::new(RmgrId::Xact, 0x04, 1).total_len();
        assert_eq!(invalid_info, Err(EncodeError::InvalidInfo { info: 0x04 }));
    }

    #[test]
    fn header_errors_read_like_postgres() {
        let at = |error: RecordError| error.at(Lsn(0x300_0060)).to_string();
        let zero = RecordHeader::parse(&[0; 24]).validate().unwrap_err();
        assert_eq!(
            at(zero),
            "invalid record length at 0/3000060: wanted 24, got 0"
        );
        let mut bytes = encode(&RecordBuilder::new(RmgrId::Xlog, 0, 0), Lsn::INVALID);
        bytes[XL_RMID] = 99;
        fix_crc(&mut bytes);
        let bad_rmgr = DecodedRecord::decode(&bytes).unwrap_err();
        assert_eq!(at(bad_rmgr), "invalid resource manager ID 99 at 0/3000060");
        let too_long = check_tot_len(MAX_RECORD_SIZE + 1).unwrap_err();
        assert_eq!(at(too_long), "record length 67108865 at 0/3000060 too long");
        let prev = RecordError::BadPrevLink {
            prev: Lsn(0x300_0028),
        };
        assert_eq!(
            at(prev),
            "record with incorrect prev-link 0/3000028 at 0/3000060"
        );
        assert_eq!(
            at(RecordError::BadChecksum),
            "incorrect resource manager data checksum in record at 0/3000060"
        );
        assert_eq!(
            RecordError::ShortData.to_string(),
            "record with invalid length"
        );
    }

    /// A record with one block (no image unless asked) and main data, whose header
    /// bytes a test then damages (the CRC is fixed up, so the block checks must
    /// catch it).
    fn damaged(with_image: bool, damage: impl FnOnce(&mut Vec<u8>)) -> RecordError {
        let page = page_with_hole(100, 7000, 2);
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
        builder
            .block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)))
            .block_data(b"d");
        if with_image {
            builder.image(&page);
        }
        builder.main_data(b"main");
        let mut bytes = encode(&builder, Lsn(8));
        damage(&mut bytes);
        fix_crc(&mut bytes);
        DecodedRecord::decode(&bytes).unwrap_err()
    }

    #[test]
    fn malformed_block_headers_are_rejected() {
        const FLAGS: usize = 25;
        const IMAGE: usize = 28; // bimg_len u16, hole_offset u16, bimg_info u8
        assert_eq!(
            damaged(false, |b| b[24] = 40),
            RecordError::InvalidBlockId { id: 40 }
        );
        assert_eq!(
            damaged(false, |b| b[FLAGS] |= BKPBLOCK_SAME_REL),
            RecordError::NoPreviousRel
        );
        assert_eq!(
            damaged(false, |b| b[FLAGS] |= 0x07),
            RecordError::InvalidFork { fork: 7 }
        );
        assert_eq!(
            damaged(false, |b| b[FLAGS] &= !BKPBLOCK_HAS_DATA),
            RecordError::DataWithoutFlag { len: 1 }
        );
        assert_eq!(
            damaged(false, |b| b[26] = 0),
            RecordError::DataFlagWithoutData
        );
        assert_eq!(damaged(false, |b| b[26] = 2), RecordError::ShortData);
        assert_eq!(damaged(false, |b| b.push(0)), RecordError::ShortData);
        let hole = |offset: u16, info: u8| {
            move |b: &mut Vec<u8>| {
                b[IMAGE + 2..IMAGE + 4].copy_from_slice(&offset.to_le_bytes());
                b[IMAGE + 4] = info;
            }
        };
        let image_len = (BLCKSZ - 6900) as u16;
        assert_eq!(
            damaged(true, hole(0, BKPIMAGE_HAS_HOLE)),
            RecordError::BadHole {
                offset: 0,
                length: 6900,
                image_len
            }
        );
        assert_eq!(
            damaged(true, hole(100, 0)),
            RecordError::HoleWithoutFlag { offset: 100 }
        );
        assert_eq!(
            damaged(true, hole(0, 0)),
            RecordError::ImageLength { len: image_len }
        );
        assert_eq!(
            damaged(true, hole(100, 0x83)),
            RecordError::ImageInfo { info: 0x83 }
        );
        let message = damaged(true, hole(0, BKPIMAGE_HAS_HOLE))
            .at(Lsn(0x100_0028))
            .to_string();
        assert_eq!(
            message,
            "BKPIMAGE_HAS_HOLE set, but hole offset 0 length 6900 block image length 1292 at 0/1000028"
        );
    }

    #[test]
    fn out_of_order_block_ids_are_rejected() {
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0, 1);
        builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(1)));
        builder.block(BlockRef::new(REL, ForkNumber::Main, BlockNumber(2)));
        let mut bytes = encode(&builder, Lsn(8));
        let second = 24 + SIZE_OF_BLOCK_HEADER + SIZE_OF_REL_FILE_NODE + SIZE_OF_BLOCK_NUMBER;
        bytes[second] = 0;
        fix_crc(&mut bytes);
        let error = DecodedRecord::decode(&bytes).unwrap_err();
        assert_eq!(error, RecordError::OutOfOrderBlockId { id: 0 });
    }

    #[test]
    fn random_records_round_trip() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let pages: Vec<[u8; BLCKSZ]> = (0..4)
            .map(|i| page_with_hole(24 + 8 * i, 8192 - 512 * i, i as u8))
            .collect();
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        for round in 0..500 {
            let mut builder = RecordBuilder::new(RmgrId::ALL[next(8) as usize], 0x10, round);
            let n_blocks = next(5) as u32;
            let mut expected = Vec::new();
            for i in 0..n_blocks {
                let rel = if next(2) == 0 { REL } else { OTHER_REL };
                let block_ref = BlockRef::new(rel, ForkNumber::Main, BlockNumber(i * 3));
                builder.block(block_ref);
                let image = next(3) == 0;
                if image {
                    builder.image(&pages[next(4) as usize]);
                }
                let len = [0, 1, 200, 65535][next(4) as usize];
                builder.block_data(&data[..len]);
                expected.push((block_ref, image, len));
            }
            let main_len = [0, 1, 255, 256, 5000][next(5) as usize];
            builder.main_data(&data[..main_len]);
            let bytes = encode(&builder, Lsn(u64::from(round) * 8));
            let record =
                DecodedRecord::decode(&bytes).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(record.main_data(), &data[..main_len], "round {round}");
            assert_eq!(record.blocks().len(), expected.len());
            for (block, (block_ref, image, len)) in record.blocks().iter().zip(expected) {
                assert_eq!((block.block_ref, block.image.is_some()), (block_ref, image));
                assert_eq!(block.data, &data[..len], "round {round}");
            }
        }
    }
}
