//! WAL segments and pages: how the endless byte stream of the log is cut into files
//! and pages, and where each record's bytes land (PostgreSQL's `xlog_internal.h` and the
//! position arithmetic of `xlog.c`).
//!
//! An LSN is a byte position in the log. The log is stored in 16 MiB **segment** files
//! in `pg_wal/`, named as PostgreSQL names them (`TTTTTTTTXXXXXXXXYYYYYYYY`: timeline,
//! then the segment number split in a high part and a low part of 256 segments). Each
//! segment is a run of 8 KiB **WAL pages**; every page opens with a header and the rest
//! holds record bytes. A record may span pages and segments: its bytes simply continue
//! after the next page header, and that header says how many bytes of the continued
//! record follow (`xlp_rem_len`).
//!
//! ```text
//!  WAL page (XLOG_BLCKSZ = 8192):
//!  +----------------+-------------------------------------------------------------+
//!  | page header    | record bytes (tail of a continued record, then whole records, |
//!  | 24 B (40 B on  |  each starting MAXALIGN'd (8), the last may continue on the   |
//!  | a segment's    |  next page)                                                  |
//!  | first page)    |                                                              |
//!  +----------------+-------------------------------------------------------------+
//!
//!  XLogPageHeaderData (little-endian):
//!   0  xlp_magic     u16  XLOG_PAGE_MAGIC (0xD110, PostgreSQL 15's)
//!   2  xlp_info      u16  XLP_FIRST_IS_CONTRECORD | XLP_LONG_HEADER
//!   4  xlp_tli       u32  timeline of the page
//!   8  xlp_pageaddr  u64  LSN of the page's first byte
//!  16  xlp_rem_len   u32  bytes of a record continued from the previous page (0: none)
//!  20  (pad)         u32  zero
//!  XLogLongPageHeaderData (first page of each segment) adds:
//!  24  xlp_sysid        u64  database system identifier (from pg_control)
//!  32  xlp_seg_size     u32  WAL_SEGMENT_SIZE
//!  36  xlp_xlog_blcksz  u32  XLOG_BLCKSZ
//! ```
//!
//! `xlp_pageaddr` is what makes recycled segments safe: a recycled file still holds the
//! old pages, whose headers name their old addresses, so the reader sees an "unexpected
//! pageaddr" and stops instead of replaying stale records.
//!
//! **Usable byte positions.** Concurrent inserters reserve WAL space with one atomic add
//! on a counter that counts only record bytes, not page headers ([`BytePos`]); the
//! conversions [`BytePos::to_lsn`], [`BytePos::to_end_lsn`] and [`BytePos::from_lsn`]
//! are PostgreSQL's `XLogBytePosToRecPtr`, `XLogBytePosToEndRecPtr` and
//! `XLogRecPtrToBytePos`. Because both header sizes and the usable bytes of a page are
//! multiples of 8, MAXALIGN in byte-position space equals MAXALIGN in LSN space.
//!
//! Everything here is pure arithmetic and byte manipulation: no I/O, no globals.

use std::fmt;

use crate::wal::Lsn;

/// Size of a WAL page (PostgreSQL's XLOG_BLCKSZ).
pub const XLOG_BLCKSZ: usize = 8192;
/// Size of a WAL segment file (PostgreSQL's default `wal_segment_size`).
pub const WAL_SEGMENT_SIZE: u64 = 16 * 1024 * 1024;
/// WAL pages per segment.
pub const PAGES_PER_SEGMENT: u64 = WAL_SEGMENT_SIZE / XLOG_BLCKSZ as u64;
/// Segments per "xlog id" (the middle 8 hex digits of a segment file name).
pub const SEGMENTS_PER_XLOG_ID: u64 = 0x1_0000_0000 / WAL_SEGMENT_SIZE;
/// `xlp_magic` of every valid page: PostgreSQL 15's XLOG_PAGE_MAGIC.
pub const XLOG_PAGE_MAGIC: u16 = 0xD110;
/// The page starts with the continuation of a record from the previous page.
pub const XLP_FIRST_IS_CONTRECORD: u16 = 0x0001;
/// The page has a long header (the first page of a segment, and only it).
pub const XLP_LONG_HEADER: u16 = 0x0002;
/// Every `xlp_info` bit Quill writes; any other bit marks a damaged page.
pub const XLP_ALL_FLAGS: u16 = XLP_FIRST_IS_CONTRECORD | XLP_LONG_HEADER;
/// `SizeOfXLogShortPHD`.
pub const SIZE_OF_SHORT_PAGE_HEADER: usize = 24;
/// `SizeOfXLogLongPHD`.
pub const SIZE_OF_LONG_PAGE_HEADER: usize = 40;
/// Record start alignment (MAXIMUM_ALIGNOF on 64-bit platforms).
pub const MAXIMUM_ALIGNOF: u64 = 8;
/// Record bytes on a page with a short header.
pub const USABLE_BYTES_IN_PAGE: u64 = (XLOG_BLCKSZ - SIZE_OF_SHORT_PAGE_HEADER) as u64;
/// Record bytes in a segment (its first page has the long header).
pub const USABLE_BYTES_IN_SEGMENT: u64 = PAGES_PER_SEGMENT * USABLE_BYTES_IN_PAGE
    - (SIZE_OF_LONG_PAGE_HEADER - SIZE_OF_SHORT_PAGE_HEADER) as u64;

const _: () = assert!(WAL_SEGMENT_SIZE.is_multiple_of(XLOG_BLCKSZ as u64));
const _: () = assert!(0x1_0000_0000u64.is_multiple_of(WAL_SEGMENT_SIZE));
const _: () = assert!((SIZE_OF_SHORT_PAGE_HEADER as u64).is_multiple_of(MAXIMUM_ALIGNOF));
const _: () = assert!((SIZE_OF_LONG_PAGE_HEADER as u64).is_multiple_of(MAXIMUM_ALIGNOF));
const _: () = assert!(USABLE_BYTES_IN_PAGE.is_multiple_of(MAXIMUM_ALIGNOF));
// xlp_seg_size and xlp_xlog_blcksz are u32 fields.
const _: () = assert!(WAL_SEGMENT_SIZE <= u32::MAX as u64);

// Page header field offsets, checked against the diagram above.
const XLP_MAGIC: usize = 0;
const XLP_INFO: usize = 2;
const XLP_TLI: usize = 4;
const XLP_PAGEADDR: usize = 8;
const XLP_REM_LEN: usize = 16;
const XLP_SYSID: usize = 24;
const XLP_SEG_SIZE: usize = 32;
const XLP_XLOG_BLCKSZ: usize = 36;
const _: () = assert!(XLP_REM_LEN + 4 + 4 == SIZE_OF_SHORT_PAGE_HEADER);
const _: () = assert!(XLP_XLOG_BLCKSZ + 4 == SIZE_OF_LONG_PAGE_HEADER);

/// A timeline (PostgreSQL's TimeLineID). Quill has only timeline 1 so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeLineId(pub u32);

impl TimeLineId {
    /// The timeline initdb creates.
    pub const FIRST: TimeLineId = TimeLineId(1);
}

impl fmt::Display for TimeLineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A segment number (PostgreSQL's XLogSegNo): `lsn / WAL_SEGMENT_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentNo(pub u64);

/// A position counting only record bytes (page headers excluded), the unit in which
/// inserters reserve WAL space (PostgreSQL's `CurrBytePos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BytePos(pub u64);

/// Rounds up to a multiple of 8 (PostgreSQL's MAXALIGN64).
pub const fn maxalign(n: u64) -> u64 {
    (n + MAXIMUM_ALIGNOF - 1) & !(MAXIMUM_ALIGNOF - 1)
}

/// The file name of segment `segno` on `timeline`, e.g. `000000010000000000000001`.
pub fn segment_file_name(timeline: TimeLineId, segno: SegmentNo) -> String {
    format!(
        "{:08X}{:08X}{:08X}",
        timeline.0,
        segno.0 / SEGMENTS_PER_XLOG_ID,
        segno.0 % SEGMENTS_PER_XLOG_ID
    )
}

/// Parses a segment file name (24 upper-case hex digits, PostgreSQL's
/// `IsXLogFileName`). `None` for anything else (`.partial`, `.history`, lower case).
pub fn parse_segment_file_name(name: &str) -> Option<(TimeLineId, SegmentNo)> {
    let upper_hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
    if name.len() != 24 || !name.bytes().all(upper_hex) {
        return None;
    }
    let field = |i: usize| u32::from_str_radix(&name[i * 8..i * 8 + 8], 16).ok();
    let (timeline, xlog_id, low) = (field(0)?, field(1)?, field(2)?);
    if u64::from(low) >= SEGMENTS_PER_XLOG_ID {
        return None;
    }
    let segno = u64::from(xlog_id) * SEGMENTS_PER_XLOG_ID + u64::from(low);
    Some((TimeLineId(timeline), SegmentNo(segno)))
}

/// The segment holding the byte at `lsn` (PostgreSQL's XLByteToSeg).
pub fn segno_of(lsn: Lsn) -> SegmentNo {
    SegmentNo(lsn.0 / WAL_SEGMENT_SIZE)
}

/// The LSN of the first byte of segment `segno`.
pub fn lsn_of_segment_start(segno: SegmentNo) -> Lsn {
    Lsn(segno.0 * WAL_SEGMENT_SIZE)
}

/// Offset of `lsn` within its segment file (PostgreSQL's XLogSegmentOffset).
pub fn segment_offset(lsn: Lsn) -> u64 {
    lsn.0 % WAL_SEGMENT_SIZE
}

/// Offset of `lsn` within its WAL page.
pub fn page_offset(lsn: Lsn) -> usize {
    (lsn.0 % XLOG_BLCKSZ as u64) as usize
}

/// The LSN of the first byte of the WAL page holding `lsn`.
pub fn page_start(lsn: Lsn) -> Lsn {
    Lsn(lsn.0 - lsn.0 % XLOG_BLCKSZ as u64)
}

/// Size of the header of the page holding `lsn`: long on a segment's first page.
pub fn page_header_size(lsn: Lsn) -> usize {
    if segment_offset(lsn) < XLOG_BLCKSZ as u64 {
        SIZE_OF_LONG_PAGE_HEADER
    } else {
        SIZE_OF_SHORT_PAGE_HEADER
    }
}

/// True if a record may start at `lsn`: MAXALIGN'd and past its page's header.
pub fn is_valid_record_start(lsn: Lsn) -> bool {
    lsn.0.is_multiple_of(MAXIMUM_ALIGNOF) && page_offset(lsn) >= page_header_size(lsn)
}

/// Where the next record starts after one that ends (exclusive) at `end`: MAXALIGN'd,
/// and past the page header if that lands on a page boundary.
pub fn next_insert_position(end: Lsn) -> Lsn {
    let aligned = Lsn(maxalign(end.0));
    if page_offset(aligned) == 0 {
        Lsn(aligned.0 + page_header_size(aligned) as u64)
    } else {
        aligned
    }
}

/// The end LSN of a record of `len` bytes starting at `start`: just past its last
/// byte, MAXALIGN'd (PostgreSQL's EndPos/EndRecPtr). A record whose padded bytes fill
/// its last page ends on the next page boundary. This is the LSN a change's pages are
/// stamped with and the position WAL must be flushed to for the record to be durable.
pub fn record_end(start: Lsn, len: usize) -> Lsn {
    BytePos(BytePos::from_lsn(start).0 + maxalign(len as u64)).to_end_lsn()
}

impl BytePos {
    /// The LSN of this byte position as a record start: a position at a page boundary
    /// maps past the page header (PostgreSQL's XLogBytePosToRecPtr).
    pub fn to_lsn(self) -> Lsn {
        self.convert(false)
    }

    /// The LSN of this byte position as a record end: a position at a page boundary
    /// maps to the boundary itself (PostgreSQL's XLogBytePosToEndRecPtr).
    pub fn to_end_lsn(self) -> Lsn {
        self.convert(true)
    }

    fn convert(self, as_end: bool) -> Lsn {
        let full_segments = self.0 / USABLE_BYTES_IN_SEGMENT;
        let mut bytes_left = self.0 % USABLE_BYTES_IN_SEGMENT;
        let first_page_usable = (XLOG_BLCKSZ - SIZE_OF_LONG_PAGE_HEADER) as u64;
        let segment_offset = if bytes_left < first_page_usable {
            if as_end && bytes_left == 0 {
                0
            } else {
                bytes_left + SIZE_OF_LONG_PAGE_HEADER as u64
            }
        } else {
            bytes_left -= first_page_usable;
            let full_pages = bytes_left / USABLE_BYTES_IN_PAGE;
            bytes_left %= USABLE_BYTES_IN_PAGE;
            let page = XLOG_BLCKSZ as u64 * (1 + full_pages);
            if as_end && bytes_left == 0 {
                page
            } else {
                page + bytes_left + SIZE_OF_SHORT_PAGE_HEADER as u64
            }
        };
        Lsn(full_segments * WAL_SEGMENT_SIZE + segment_offset)
    }

    /// The byte position of `lsn`, which must not point inside a page header (a page
    /// boundary is fine). PostgreSQL's XLogRecPtrToBytePos.
    pub fn from_lsn(lsn: Lsn) -> BytePos {
        let full_segments = lsn.0 / WAL_SEGMENT_SIZE;
        let full_pages = segment_offset(lsn) / XLOG_BLCKSZ as u64;
        let offset = page_offset(lsn) as u64;
        debug_assert!(
            offset == 0 || offset >= page_header_size(lsn) as u64,
            "LSN {lsn} points inside a WAL page header"
        );
        let mut pos = full_segments * USABLE_BYTES_IN_SEGMENT;
        if full_pages == 0 {
            if offset > 0 {
                pos += offset - SIZE_OF_LONG_PAGE_HEADER as u64;
            }
        } else {
            pos += (XLOG_BLCKSZ - SIZE_OF_LONG_PAGE_HEADER) as u64
                + (full_pages - 1) * USABLE_BYTES_IN_PAGE;
            if offset > 0 {
                pos += offset - SIZE_OF_SHORT_PAGE_HEADER as u64;
            }
        }
        BytePos(pos)
    }
}

/// One piece of a record that lies on one WAL page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordChunk {
    /// Where the piece is written.
    pub lsn: Lsn,
    /// Offset of the piece within the record's bytes.
    pub record_offset: usize,
    /// Length of the piece.
    pub len: usize,
    /// For a piece that continues the record on a new page: the bytes of the record
    /// still to come from this page on, which that page's header must carry as
    /// `xlp_rem_len` (with XLP_FIRST_IS_CONTRECORD). `None` for the first piece.
    pub contrecord_rem_len: Option<u32>,
}

/// Iterator over the pieces of one record, see [`layout_record`].
#[derive(Debug, Clone)]
pub struct RecordLayout {
    next_lsn: Lsn,
    record_offset: usize,
    len: usize,
}

/// How a record of `len` bytes starting at `start` is split across WAL pages, in
/// order: the pieces to copy, page by page, skipping page headers. `start` must be a
/// valid record start ([`is_valid_record_start`]).
pub fn layout_record(start: Lsn, len: usize) -> RecordLayout {
    assert!(
        is_valid_record_start(start),
        "{start} is not a record start"
    );
    assert!(u32::try_from(len).is_ok(), "record of {len} bytes");
    RecordLayout {
        next_lsn: start,
        record_offset: 0,
        len,
    }
}

impl Iterator for RecordLayout {
    type Item = RecordChunk;

    fn next(&mut self) -> Option<RecordChunk> {
        if self.record_offset >= self.len {
            return None;
        }
        let lsn = self.next_lsn;
        let remaining = self.len - self.record_offset;
        let piece = remaining.min(XLOG_BLCKSZ - page_offset(lsn));
        let chunk = RecordChunk {
            lsn,
            record_offset: self.record_offset,
            len: piece,
            contrecord_rem_len: (self.record_offset > 0).then_some(remaining as u32),
        };
        self.record_offset += piece;
        let next_page = Lsn(page_start(lsn).0 + XLOG_BLCKSZ as u64);
        self.next_lsn = Lsn(next_page.0 + page_header_size(next_page) as u64);
        Some(chunk)
    }
}

/// The long-header fields of a segment's first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPageHeader {
    pub system_id: u64,
    pub seg_size: u32,
    pub xlog_blcksz: u32,
}

/// A WAL page header as stored (see the diagram in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    pub magic: u16,
    pub info: u16,
    pub timeline: TimeLineId,
    pub page_addr: Lsn,
    pub rem_len: u32,
    /// Present when `info` has XLP_LONG_HEADER.
    pub long: Option<LongPageHeader>,
}

impl PageHeader {
    /// The header at the start of `page` (at least 40 bytes), unvalidated.
    pub fn decode(page: &[u8]) -> PageHeader {
        let info = read_u16(page, XLP_INFO);
        PageHeader {
            magic: read_u16(page, XLP_MAGIC),
            info,
            timeline: TimeLineId(read_u32(page, XLP_TLI)),
            page_addr: Lsn(read_u64(page, XLP_PAGEADDR)),
            rem_len: read_u32(page, XLP_REM_LEN),
            long: (info & XLP_LONG_HEADER != 0).then(|| LongPageHeader {
                system_id: read_u64(page, XLP_SYSID),
                seg_size: read_u32(page, XLP_SEG_SIZE),
                xlog_blcksz: read_u32(page, XLP_XLOG_BLCKSZ),
            }),
        }
    }

    /// Size of this header in bytes.
    pub fn size(&self) -> usize {
        if self.long.is_some() {
            SIZE_OF_LONG_PAGE_HEADER
        } else {
            SIZE_OF_SHORT_PAGE_HEADER
        }
    }

    /// Writes the header (padding zeroed) at the start of `page`; returns its size.
    pub fn encode(&self, page: &mut [u8]) -> usize {
        page[XLP_MAGIC..XLP_MAGIC + 2].copy_from_slice(&self.magic.to_le_bytes());
        page[XLP_INFO..XLP_INFO + 2].copy_from_slice(&self.info.to_le_bytes());
        page[XLP_TLI..XLP_TLI + 4].copy_from_slice(&self.timeline.0.to_le_bytes());
        page[XLP_PAGEADDR..XLP_PAGEADDR + 8].copy_from_slice(&self.page_addr.0.to_le_bytes());
        page[XLP_REM_LEN..XLP_REM_LEN + 4].copy_from_slice(&self.rem_len.to_le_bytes());
        page[XLP_REM_LEN + 4..SIZE_OF_SHORT_PAGE_HEADER].fill(0);
        if let Some(long) = &self.long {
            page[XLP_SYSID..XLP_SYSID + 8].copy_from_slice(&long.system_id.to_le_bytes());
            page[XLP_SEG_SIZE..XLP_SEG_SIZE + 4].copy_from_slice(&long.seg_size.to_le_bytes());
            page[XLP_XLOG_BLCKSZ..XLP_XLOG_BLCKSZ + 4]
                .copy_from_slice(&long.xlog_blcksz.to_le_bytes());
        }
        self.size()
    }

    /// Checks the header of the page at `page_lsn` as PostgreSQL's
    /// `XLogReaderValidatePageHeader` does: magic, flag bits, the long header on (and
    /// only on) a segment's first page, the system identifier if one is expected,
    /// `xlp_pageaddr == page_lsn` (a recycled segment fails here) and the timeline.
    pub fn validate(
        &self,
        page_lsn: Lsn,
        timeline: TimeLineId,
        system_id: Option<u64>,
    ) -> Result<(), PageHeaderError> {
        let fail = |kind| {
            Err(PageHeaderError {
                page_lsn,
                timeline,
                kind,
            })
        };
        if self.magic != XLOG_PAGE_MAGIC {
            return fail(PageHeaderErrorKind::BadMagic { magic: self.magic });
        }
        let first_in_segment = segment_offset(page_lsn) == 0;
        if self.info & !XLP_ALL_FLAGS != 0 || first_in_segment != self.long.is_some() {
            return fail(PageHeaderErrorKind::BadInfo { info: self.info });
        }
        if let Some(long) = &self.long {
            if let Some(expected) = system_id.filter(|&id| id != long.system_id) {
                let found = long.system_id;
                return fail(PageHeaderErrorKind::SystemId { found, expected });
            }
            if u64::from(long.seg_size) != WAL_SEGMENT_SIZE {
                return fail(PageHeaderErrorKind::SegmentSize);
            }
            if long.xlog_blcksz as usize != XLOG_BLCKSZ {
                return fail(PageHeaderErrorKind::BlockSize);
            }
        }
        if self.page_addr != page_lsn {
            return fail(PageHeaderErrorKind::PageAddr {
                found: self.page_addr,
            });
        }
        if self.timeline != timeline {
            return fail(PageHeaderErrorKind::Timeline {
                found: self.timeline,
            });
        }
        Ok(())
    }
}

/// Writes the header of a fresh WAL page at `page_lsn` into `page` and returns its
/// size. `rem_len > 0` marks the page as starting with `rem_len` bytes of a record
/// continued from the previous page (XLP_FIRST_IS_CONTRECORD); a segment's first page
/// gets the long header with `system_id`.
pub fn write_page_header(
    page: &mut [u8],
    page_lsn: Lsn,
    timeline: TimeLineId,
    rem_len: u32,
    system_id: u64,
) -> usize {
    assert_eq!(
        page_offset(page_lsn),
        0,
        "{page_lsn} is not a WAL page start"
    );
    let first_in_segment = segment_offset(page_lsn) == 0;
    let mut info = 0;
    if rem_len > 0 {
        info |= XLP_FIRST_IS_CONTRECORD;
    }
    if first_in_segment {
        info |= XLP_LONG_HEADER;
    }
    let header = PageHeader {
        magic: XLOG_PAGE_MAGIC,
        info,
        timeline,
        page_addr: page_lsn,
        rem_len,
        long: first_in_segment.then_some(LongPageHeader {
            system_id,
            seg_size: WAL_SEGMENT_SIZE as u32,
            xlog_blcksz: XLOG_BLCKSZ as u32,
        }),
    };
    header.encode(page)
}

/// A page header that fails validation, located as PostgreSQL reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHeaderError {
    pub page_lsn: Lsn,
    /// The timeline being read (names the segment file in the message).
    pub timeline: TimeLineId,
    pub kind: PageHeaderErrorKind,
}

/// What is wrong with a page header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageHeaderErrorKind {
    BadMagic { magic: u16 },
    BadInfo { info: u16 },
    SystemId { found: u64, expected: u64 },
    SegmentSize,
    BlockSize,
    PageAddr { found: Lsn },
    Timeline { found: TimeLineId },
}

impl fmt::Display for PageHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segment = segment_file_name(self.timeline, segno_of(self.page_lsn));
        let offset = segment_offset(self.page_lsn);
        let place = format!("in log segment {segment}, offset {offset}");
        let other_system = "WAL file is from different database system";
        match &self.kind {
            PageHeaderErrorKind::BadMagic { magic } => {
                write!(f, "invalid magic number {magic:04X} {place}")
            }
            PageHeaderErrorKind::BadInfo { info } => {
                write!(f, "invalid info bits {info:04X} {place}")
            }
            PageHeaderErrorKind::SystemId { found, expected } => write!(
                f,
                "{other_system}: WAL file database system identifier is {found}, \
                 pg_control database system identifier is {expected}"
            ),
            PageHeaderErrorKind::SegmentSize => {
                write!(f, "{other_system}: incorrect segment size in page header")
            }
            PageHeaderErrorKind::BlockSize => {
                write!(f, "{other_system}: incorrect XLOG_BLCKSZ in page header")
            }
            PageHeaderErrorKind::PageAddr { found } => {
                write!(f, "unexpected pageaddr {found} {place}")
            }
            PageHeaderErrorKind::Timeline { found } => {
                write!(f, "unexpected timeline ID {found} {place}")
            }
        }
    }
}

impl std::error::Error for PageHeaderError {}

/// Little-endian field access for the WAL formats; `at + N` must be in bounds.
pub(crate) fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = WAL_SEGMENT_SIZE;
    const PAGE: u64 = XLOG_BLCKSZ as u64;

    #[test]
    fn segment_names_follow_postgres() {
        let name = |segno| segment_file_name(TimeLineId::FIRST, SegmentNo(segno));
        assert_eq!(name(1), "000000010000000000000001");
        assert_eq!(name(255), "0000000100000000000000FF");
        assert_eq!(name(256), "000000010000000100000000");
        assert_eq!(
            segment_file_name(TimeLineId(0x1A), SegmentNo(0x3_0012)),
            "0000001A0000030000000012"
        );
        for segno in [0, 1, 255, 256, 257, 0x3_0012] {
            assert_eq!(
                parse_segment_file_name(&name(segno)),
                Some((TimeLineId::FIRST, SegmentNo(segno)))
            );
        }
    }

    #[test]
    fn parse_rejects_names_postgres_would_not_take() {
        for bad in [
            "00000001000000000000001",       // 23 digits
            "0000000100000000000000010",     // 25
            "00000001000000000000000a",      // lower case
            "000000010000000000000100",      // low part past 0xFF
            "000000010000000000000001.part", // suffix
            "00000001.history",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn segment_numbers_and_offsets_of_lsns() {
        assert_eq!(segno_of(Lsn(SEG - 1)), SegmentNo(0));
        assert_eq!(segno_of(Lsn(SEG)), SegmentNo(1));
        assert_eq!(lsn_of_segment_start(SegmentNo(3)), Lsn(3 * SEG));
        assert_eq!(lsn_of_segment_start(SegmentNo(1)).to_string(), "0/1000000");
        assert_eq!(segment_offset(Lsn(3 * SEG + 40)), 40);
        assert_eq!(page_start(Lsn(SEG + PAGE + 5)), Lsn(SEG + PAGE));
        assert_eq!(page_offset(Lsn(SEG + PAGE + 5)), 5);
        assert_eq!(page_header_size(Lsn(SEG)), SIZE_OF_LONG_PAGE_HEADER);
        assert_eq!(
            page_header_size(Lsn(SEG + PAGE - 1)),
            SIZE_OF_LONG_PAGE_HEADER
        );
        assert_eq!(page_header_size(Lsn(SEG + PAGE)), SIZE_OF_SHORT_PAGE_HEADER);
    }

    #[test]
    fn usable_bytes_match_postgres_arithmetic() {
        assert_eq!(USABLE_BYTES_IN_PAGE, 8168);
        assert_eq!(USABLE_BYTES_IN_SEGMENT, 2048 * 8168 - 16);
    }

    #[test]
    fn byte_positions_map_past_headers_at_boundaries() {
        let first_page = (XLOG_BLCKSZ - SIZE_OF_LONG_PAGE_HEADER) as u64;
        // Start of the log: past segment 0's long header.
        assert_eq!(BytePos(0).to_lsn(), Lsn(40));
        assert_eq!(BytePos(0).to_end_lsn(), Lsn(0));
        // End of the first page: a record start skips the next (short) header, a
        // record end stays on the boundary.
        assert_eq!(BytePos(first_page).to_lsn(), Lsn(PAGE + 24));
        assert_eq!(BytePos(first_page).to_end_lsn(), Lsn(PAGE));
        assert_eq!(BytePos(first_page - 8).to_lsn(), Lsn(PAGE - 8));
        assert_eq!(
            BytePos(first_page + USABLE_BYTES_IN_PAGE).to_lsn(),
            Lsn(2 * PAGE + 24)
        );
        // Segment boundary: the next segment's first page has the long header.
        let seg = BytePos(USABLE_BYTES_IN_SEGMENT);
        assert_eq!(seg.to_lsn(), Lsn(SEG + 40));
        assert_eq!(seg.to_end_lsn(), Lsn(SEG));
        assert_eq!(BytePos(USABLE_BYTES_IN_SEGMENT - 8).to_lsn(), Lsn(SEG - 8));
        assert_eq!(BytePos::from_lsn(Lsn(SEG)), seg);
        assert_eq!(BytePos::from_lsn(Lsn(SEG + 40)), seg);
        assert_eq!(BytePos::from_lsn(Lsn(PAGE)), BytePos(first_page));
        assert_eq!(BytePos::from_lsn(Lsn(PAGE + 24)), BytePos(first_page));
    }

    #[test]
    fn byte_positions_round_trip_across_many_pages_and_segments() {
        let mut pos = 0u64;
        while pos < 3 * USABLE_BYTES_IN_SEGMENT {
            let bp = BytePos(pos);
            let start = bp.to_lsn();
            assert!(is_valid_record_start(start), "{pos}");
            assert_eq!(BytePos::from_lsn(start), bp, "{pos}");
            assert_eq!(BytePos::from_lsn(bp.to_end_lsn()), bp, "{pos}");
            let end = bp.to_end_lsn();
            assert!(end == start || page_offset(end) == 0, "{pos}");
            pos += 4088; // coprime-ish with the page size: hits many offsets
        }
    }

    #[test]
    fn next_insert_position_aligns_and_skips_headers() {
        assert_eq!(next_insert_position(Lsn(SEG + 0x61)), Lsn(SEG + 0x68));
        assert_eq!(next_insert_position(Lsn(SEG + 0x68)), Lsn(SEG + 0x68));
        assert_eq!(
            next_insert_position(Lsn(SEG + PAGE - 3)),
            Lsn(SEG + PAGE + 24)
        );
        assert_eq!(next_insert_position(Lsn(2 * SEG)), Lsn(2 * SEG + 40));
        // The same as reserving MAXALIGN'd space in byte positions.
        let start = Lsn(SEG + PAGE - 48);
        let len = 45;
        let next = BytePos(BytePos::from_lsn(start).0 + maxalign(len as u64)).to_lsn();
        assert_eq!(next_insert_position(record_end(start, len)), next);
    }

    #[test]
    fn record_inside_one_page_is_one_chunk() {
        let start = Lsn(SEG + 40);
        let chunks: Vec<_> = layout_record(start, 100).collect();
        assert_eq!(
            chunks,
            vec![RecordChunk {
                lsn: start,
                record_offset: 0,
                len: 100,
                contrecord_rem_len: None
            }]
        );
        assert_eq!(record_end(start, 100), Lsn(SEG + 144));
    }

    #[test]
    fn record_spanning_pages_continues_after_each_header() {
        let start = Lsn(SEG + PAGE - 16);
        let len = 16 + 8168 + 100;
        let chunks: Vec<_> = layout_record(start, len).collect();
        let expect = |lsn, record_offset, len, rem| RecordChunk {
            lsn: Lsn(lsn),
            record_offset,
            len,
            contrecord_rem_len: rem,
        };
        assert_eq!(
            chunks,
            vec![
                expect(SEG + PAGE - 16, 0, 16, None),
                expect(SEG + PAGE + 24, 16, 8168, Some(8268)),
                expect(SEG + 2 * PAGE + 24, 8184, 100, Some(100)),
            ]
        );
        assert_eq!(record_end(start, len), Lsn(SEG + 2 * PAGE + 128));
    }

    #[test]
    fn record_crossing_a_segment_continues_after_the_long_header() {
        let start = Lsn(2 * SEG - 24);
        let chunks: Vec<_> = layout_record(start, 24 + 10).collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].lsn, Lsn(2 * SEG + 40));
        assert_eq!(chunks[1].contrecord_rem_len, Some(10));
        assert_eq!(record_end(start, 34), Lsn(2 * SEG + 56));
    }

    #[test]
    fn record_filling_its_page_ends_on_the_boundary() {
        let start = Lsn(SEG + PAGE - 64);
        assert_eq!(layout_record(start, 64).count(), 1);
        assert_eq!(record_end(start, 64), Lsn(SEG + PAGE));
        assert_eq!(
            record_end(start, 60),
            Lsn(SEG + PAGE),
            "padding fills the page"
        );
        assert_eq!(next_insert_position(Lsn(SEG + PAGE)), Lsn(SEG + PAGE + 24));
    }

    #[test]
    fn layout_agrees_with_byte_position_arithmetic() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut start = Lsn(SEG + 40);
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 24 + (state % 20_000) as usize;
            let chunks: Vec<_> = layout_record(start, len).collect();
            assert_eq!(chunks.iter().map(|c| c.len).sum::<usize>(), len);
            let last = chunks.last().unwrap();
            let last_byte_end = last.lsn.0 + last.len as u64;
            assert_eq!(Lsn(maxalign(last_byte_end)), record_end(start, len));
            for c in &chunks {
                assert!(page_offset(c.lsn) + c.len <= XLOG_BLCKSZ);
                assert_eq!(
                    BytePos::from_lsn(c.lsn).0,
                    BytePos::from_lsn(start).0 + c.record_offset as u64
                );
            }
            start = next_insert_position(record_end(start, len));
        }
        assert!(
            segno_of(start).0 >= 2,
            "the walk crossed a segment boundary"
        );
    }

    #[test]
    fn page_header_round_trips_and_validates() {
        let mut page = [0xAAu8; XLOG_BLCKSZ];
        let page_lsn = Lsn(2 * SEG);
        assert_eq!(
            write_page_header(&mut page, page_lsn, TimeLineId::FIRST, 7, 42),
            40
        );
        let header = PageHeader::decode(&page);
        assert_eq!(header.info, XLP_FIRST_IS_CONTRECORD | XLP_LONG_HEADER);
        assert_eq!(header.rem_len, 7);
        assert_eq!(header.long.unwrap().system_id, 42);
        assert_eq!(&page[20..24], &[0; 4]);
        assert_eq!(
            header.validate(page_lsn, TimeLineId::FIRST, Some(42)),
            Ok(())
        );

        let mut short = [0u8; XLOG_BLCKSZ];
        assert_eq!(
            write_page_header(&mut short, Lsn(SEG + PAGE), TimeLineId::FIRST, 0, 42),
            24
        );
        let header = PageHeader::decode(&short);
        assert_eq!((header.info, header.long), (0, None));
        assert_eq!(
            header.validate(Lsn(SEG + PAGE), TimeLineId::FIRST, None),
            Ok(())
        );
    }

    #[test]
    fn page_header_errors_speak_postgres() {
        let mut page = [0u8; XLOG_BLCKSZ];
        let at = Lsn(SEG + 2 * PAGE);
        let message = |page: &[u8; XLOG_BLCKSZ], lsn, sysid| {
            PageHeader::decode(page)
                .validate(lsn, TimeLineId::FIRST, sysid)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message(&page, at, None),
            "invalid magic number 0000 in log segment 000000010000000000000001, offset 16384"
        );
        // A recycled segment: a valid page, but from an older position.
        write_page_header(&mut page, Lsn(PAGE * 2), TimeLineId::FIRST, 0, 1);
        assert_eq!(
            message(&page, at, None),
            "unexpected pageaddr 0/4000 in log segment 000000010000000000000001, offset 16384"
        );
        write_page_header(&mut page, at, TimeLineId(2), 0, 1);
        assert_eq!(
            message(&page, at, None),
            "unexpected timeline ID 2 in log segment 000000010000000000000001, offset 16384"
        );
        write_page_header(&mut page, at, TimeLineId::FIRST, 0, 1);
        page[XLP_INFO] = 0x10;
        assert_eq!(
            message(&page, at, None),
            "invalid info bits 0010 in log segment 000000010000000000000001, offset 16384"
        );
        // A segment's first page without the long header.
        write_page_header(&mut page, at, TimeLineId::FIRST, 0, 1);
        assert!(message(&page, Lsn(SEG), None).starts_with("invalid info bits 0000"));
        write_page_header(&mut page, Lsn(SEG), TimeLineId::FIRST, 0, 1);
        assert_eq!(
            message(&page, Lsn(SEG), Some(2)),
            "WAL file is from different database system: WAL file database system \
             identifier is 1, pg_control database system identifier is 2"
        );
        page[XLP_SEG_SIZE] ^= 1;
        assert_eq!(
            message(&page, Lsn(SEG), Some(1)),
            "WAL file is from different database system: incorrect segment size in page header"
        );
        page[XLP_SEG_SIZE] ^= 1;
        page[XLP_XLOG_BLCKSZ] ^= 1;
        assert_eq!(
            message(&page, Lsn(SEG), Some(1)),
            "WAL file is from different database system: incorrect XLOG_BLCKSZ in page header"
        );
    }
}
