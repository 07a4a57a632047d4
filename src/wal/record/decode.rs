//! Decoding: [`DecodedRecord::decode`] validates one whole record (length, resource
//! manager, CRC, every block header, PostgreSQL's `DecodeXLogRecord` checks) and
//! borrows its pieces without copying; [`RecordError`] says what is wrong in
//! PostgreSQL's words.

use std::fmt;

use super::{
    record_crc, BlockRef, RmgrId, BKPBLOCK_FORK_MASK, BKPBLOCK_HAS_DATA, BKPBLOCK_HAS_IMAGE,
    BKPBLOCK_SAME_REL, BKPBLOCK_WILL_INIT, BKPIMAGE_APPLY, BKPIMAGE_HAS_HOLE, EMPTY_BLOCK_REF,
    MAX_BLOCK_REFS, MAX_RECORD_SIZE, SIZE_OF_RECORD_HEADER, XLR_BLOCK_ID_DATA_LONG,
    XLR_BLOCK_ID_DATA_SHORT, XL_CRC, XL_INFO, XL_PREV, XL_RMID, XL_TOT_LEN, XL_XID,
};
use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};
use crate::storage::page::BLCKSZ;
use crate::wal::segment::{read_u16, read_u32, read_u64};
use crate::wal::Lsn;

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
    block_ref: EMPTY_BLOCK_REF,
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
