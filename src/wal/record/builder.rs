//! [`RecordBuilder`]: collects a record's pieces without copying them and encodes
//! them into a caller's buffer, in the layout of the diagram in `mod.rs`, with the
//! two-step CRC ([`RecordBuilder::assemble`], then [`AssembledRecord::finish`] once
//! the prev-link is known).

use std::fmt;

use crc_fast::{CrcAlgorithm, Digest};

use super::{
    BlockRef, RmgrId, BKPBLOCK_HAS_DATA, BKPBLOCK_HAS_IMAGE, BKPBLOCK_SAME_REL, BKPBLOCK_WILL_INIT,
    BKPIMAGE_APPLY, BKPIMAGE_HAS_HOLE, EMPTY_BLOCK_REF, MAX_BLOCK_DATA, MAX_BLOCK_REFS,
    MAX_DATA_CHUNKS, MAX_RECORD_SIZE, PD_LOWER_OFFSET, PD_UPPER_OFFSET, SIZE_OF_BLOCK_HEADER,
    SIZE_OF_BLOCK_NUMBER, SIZE_OF_IMAGE_HEADER, SIZE_OF_RECORD_HEADER, SIZE_OF_REL_FILE_NODE,
    XLR_BLOCK_ID_DATA_LONG, XLR_BLOCK_ID_DATA_SHORT, XLR_RMGR_INFO_MASK, XLR_SPECIAL_REL_UPDATE,
    XL_CRC, XL_PREV,
};
use crate::storage::page::{BLCKSZ, SIZE_OF_PAGE_HEADER};
use crate::wal::segment::read_u16;
use crate::wal::Lsn;

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
    block_ref: EMPTY_BLOCK_REF,
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
