//! Reading WAL back, record by record, for crash recovery and `quill waldump`
//! (PostgreSQL's `xlogreader.c`).
//!
//! [`WalReader`] pulls 8 KiB WAL pages from a [`WalPageSource`] — the segment files of
//! a `pg_wal/` directory ([`WalDirectory`]) or an in-memory log ([`InMemoryWal`], also
//! a reference writer for tests) — and reassembles records that span pages and
//! segments. It trusts nothing it reads:
//!
//! * every page header is validated (magic, flags, timeline, system identifier, and
//!   `xlp_pageaddr` equal to the page's own LSN, so a recycled segment's stale pages
//!   end the log instead of being replayed);
//! * a continuation page must say it continues a record (XLP_FIRST_IS_CONTRECORD) and
//!   how many bytes are left (`xlp_rem_len`), and that must match the record header;
//! * every record header is checked (length, resource manager, prev-link equal to the
//!   previous record's LSN), then the CRC over the whole record, then its block headers.
//!
//! **End of WAL** (DESIGN.md §4 rule 6) is the first record that fails any of these
//! checks, is cut short, or reads as zeros, or a page that does not exist (missing
//! segment file). The reader then returns `Ok(None)` and keeps why
//! ([`WalReader::end_reason`], PostgreSQL's words, e.g. "invalid record length at
//! 0/3000060: wanted 24, got 0") and where the valid log ends
//! ([`WalReader::end_of_valid_wal`]). Everything past that point was never
//! acknowledged: recovery stops there and new WAL is written from there. Only genuine
//! I/O errors are `Err`.
//!
//! Each record comes back as a [`WalRecord`]: its LSN, its end LSN (what redo stamps
//! on pages, README rule 5) and the decoded record. The reader owns one page buffer and
//! one record buffer, reused for every record; a record borrows from the record buffer
//! until the next call. Segment files are read through the data directory's `FileIo`
//! (the one I/O trait), so crash tests can read the WAL a simulated disk kept.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::storage::file_io::{FileIo, IoFile, OpenMode};
use crate::wal::record::{
    check_tot_len, DecodedRecord, EncodeError, RecordBuilder, RecordError, RecordHeader,
    SIZE_OF_RECORD_HEADER,
};
use crate::wal::segment::{
    is_valid_record_start, layout_record, maxalign, next_insert_position, page_header_size,
    page_offset, page_start, read_u32, record_end, segment_file_name, segment_offset, segno_of,
    write_page_header, PageHeader, SegmentNo, TimeLineId, MAXIMUM_ALIGNOF, XLOG_BLCKSZ,
    XLP_FIRST_IS_CONTRECORD,
};
use crate::wal::Lsn;

/// Where WAL pages come from.
pub trait WalPageSource {
    /// Reads the page that starts at `page_lsn` into `buf`. `Ok(false)` if the page
    /// does not exist (its segment file is missing or too short): the end of the WAL.
    fn read_page(&mut self, page_lsn: Lsn, buf: &mut [u8; XLOG_BLCKSZ]) -> io::Result<bool>;
}

impl<T: WalPageSource + ?Sized> WalPageSource for &mut T {
    fn read_page(&mut self, page_lsn: Lsn, buf: &mut [u8; XLOG_BLCKSZ]) -> io::Result<bool> {
        (**self).read_page(page_lsn, buf)
    }
}

/// The directory of WAL segment files under the data directory.
pub const PG_WAL_DIR: &str = "pg_wal";

/// The segment files of one timeline in a directory (normally [`PG_WAL_DIR`]), read
/// through the data directory's [`FileIo`], so crash tests can read WAL from a
/// simulated disk. Keeps the current segment open between pages.
pub struct WalDirectory {
    io: Arc<dyn FileIo>,
    dir: PathBuf,
    timeline: TimeLineId,
    open: Option<(SegmentNo, Box<dyn IoFile>)>,
}

impl WalDirectory {
    /// Segments of `timeline` in `dir`, a path relative to `io`'s root (`"pg_wal"`,
    /// or `""` when `io` is rooted at a bare directory of segments).
    pub fn new(io: Arc<dyn FileIo>, dir: impl Into<PathBuf>, timeline: TimeLineId) -> Self {
        WalDirectory {
            io,
            dir: dir.into(),
            timeline,
            open: None,
        }
    }
}

impl WalPageSource for WalDirectory {
    fn read_page(&mut self, page_lsn: Lsn, buf: &mut [u8; XLOG_BLCKSZ]) -> io::Result<bool> {
        let segno = segno_of(page_lsn);
        let file = match self.open.take() {
            Some((open_segno, file)) if open_segno == segno => file,
            _ => {
                let path = self.dir.join(segment_file_name(self.timeline, segno));
                match self.io.open(&path, OpenMode::ReadOnly) {
                    Ok(file) => file,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
                    Err(error) => return Err(error),
                }
            }
        };
        let read = file.read_exact_at(buf, segment_offset(page_lsn));
        self.open = Some((segno, file));
        match read {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// A WAL kept in memory as whole pages from `first_page` on: a page source for tests
/// and tools, and a minimal serial WAL writer (the reference for how records, page
/// headers and continuations are laid out; the server's concurrent insertion must
/// produce the same bytes).
#[derive(Debug, Clone)]
pub struct InMemoryWal {
    timeline: TimeLineId,
    system_id: u64,
    first_page: Lsn,
    bytes: Vec<u8>,
    insert_lsn: Lsn,
    prev_record: Lsn,
    scratch: Vec<u8>,
}

impl InMemoryWal {
    /// An empty log whose first record will go at `start` (a record start, or a page
    /// boundary meaning "after that page's header").
    pub fn new(start: Lsn, timeline: TimeLineId, system_id: u64) -> InMemoryWal {
        let start = next_insert_position(start);
        assert!(
            is_valid_record_start(start),
            "{start} is not a record start"
        );
        let mut wal = InMemoryWal {
            timeline,
            system_id,
            first_page: page_start(start),
            bytes: Vec::new(),
            insert_lsn: start,
            prev_record: Lsn::INVALID,
            scratch: Vec::new(),
        };
        wal.ensure_page(page_start(start), 0);
        wal
    }

    /// Encodes `record` linked to the previous record and appends it; returns its LSN.
    pub fn insert(&mut self, record: &RecordBuilder<'_>) -> Result<Lsn, EncodeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let encoded = record.encode(self.prev_record, &mut scratch);
        let lsn = encoded.map(|_| self.append_raw(&scratch));
        self.scratch = scratch;
        lsn
    }

    /// Appends already encoded record bytes as they are (tests use this to write
    /// damaged records); returns the record's LSN.
    pub fn append_raw(&mut self, record: &[u8]) -> Lsn {
        let start = self.insert_lsn;
        for chunk in layout_record(start, record.len()) {
            self.ensure_page(page_start(chunk.lsn), chunk.contrecord_rem_len.unwrap_or(0));
            let at = self.index(chunk.lsn);
            let piece = &record[chunk.record_offset..chunk.record_offset + chunk.len];
            self.bytes[at..at + chunk.len].copy_from_slice(piece);
        }
        self.prev_record = start;
        self.insert_lsn = next_insert_position(record_end(start, record.len()));
        start
    }

    fn ensure_page(&mut self, page_lsn: Lsn, rem_len: u32) {
        let at = (page_lsn.0 - self.first_page.0) as usize;
        if at == self.bytes.len() {
            self.bytes.resize(at + XLOG_BLCKSZ, 0);
            let page = &mut self.bytes[at..];
            write_page_header(page, page_lsn, self.timeline, rem_len, self.system_id);
        }
        assert!(at < self.bytes.len(), "WAL pages must be added in order");
    }

    fn index(&self, lsn: Lsn) -> usize {
        assert!(
            lsn >= self.first_page && lsn < self.end_of_pages(),
            "{lsn} not in memory"
        );
        (lsn.0 - self.first_page.0) as usize
    }

    /// Where the next record will be inserted.
    pub fn insert_lsn(&self) -> Lsn {
        self.insert_lsn
    }

    /// The LSN of the last record appended (INVALID if none).
    pub fn prev_record(&self) -> Lsn {
        self.prev_record
    }

    /// The LSN just past the last page held.
    pub fn end_of_pages(&self) -> Lsn {
        Lsn(self.first_page.0 + self.bytes.len() as u64)
    }

    /// The byte at `lsn`, for damaging the log on purpose.
    pub fn byte_mut(&mut self, lsn: Lsn) -> &mut u8 {
        let at = self.index(lsn);
        &mut self.bytes[at]
    }

    /// Zeroes everything from `lsn` on (page headers included): WAL that never
    /// reached the disk in a file that did.
    pub fn zero_from(&mut self, lsn: Lsn) {
        let at = self.index(lsn);
        self.bytes[at..].fill(0);
    }

    /// Drops every page from the one at `page_lsn` on: WAL whose pages or segment
    /// files do not exist.
    pub fn drop_pages_from(&mut self, page_lsn: Lsn) {
        assert_eq!(page_offset(page_lsn), 0);
        let at = self.index(page_lsn);
        self.bytes.truncate(at);
    }
}

impl WalPageSource for InMemoryWal {
    fn read_page(&mut self, page_lsn: Lsn, buf: &mut [u8; XLOG_BLCKSZ]) -> io::Result<bool> {
        if page_lsn < self.first_page || page_lsn >= self.end_of_pages() {
            return Ok(false);
        }
        let at = (page_lsn.0 - self.first_page.0) as usize;
        buf.copy_from_slice(&self.bytes[at..at + XLOG_BLCKSZ]);
        Ok(true)
    }
}

/// Why a read stopped: the end of the valid WAL (with the reason), or an I/O error.
enum Stop {
    End(String),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(error: io::Error) -> Stop {
        Stop::Io(error)
    }
}

fn end_at(error: RecordError, lsn: Lsn) -> Stop {
    Stop::End(error.at(lsn).to_string())
}

/// A valid record read from the WAL, borrowing the reader's buffer.
#[derive(Debug, Clone)]
pub struct WalRecord<'a> {
    /// Where the record starts (PostgreSQL's ReadRecPtr): its identity, and the
    /// prev-link of the record after it.
    pub lsn: Lsn,
    /// Where it ends, MAXALIGN'd (PostgreSQL's EndRecPtr, what XLogInsert returns):
    /// the LSN redo stamps on the pages it changes (README rule 5).
    pub end_lsn: Lsn,
    pub record: DecodedRecord<'a>,
}

/// Reads and validates records in LSN order from a start position. See the module doc.
pub struct WalReader<S> {
    source: S,
    timeline: TimeLineId,
    system_id: Option<u64>,
    page: Box<[u8; XLOG_BLCKSZ]>,
    /// The page in `page`, its header validated.
    page_lsn: Option<Lsn>,
    page_header: Option<PageHeader>,
    record: Vec<u8>,
    /// Where the next record starts (MAXALIGN'd end of the last valid record).
    next_lsn: Lsn,
    /// The prev-link the next record must carry; `None` before the first record
    /// unless set by [`expect_prev`](Self::expect_prev).
    expected_prev: Option<Lsn>,
    last_record: Option<Lsn>,
    end_reason: Option<String>,
}

impl<S: WalPageSource> WalReader<S> {
    /// A reader of timeline 1 whose first record starts at `start` (a record start,
    /// or a page boundary).
    pub fn new(source: S, start: Lsn) -> WalReader<S> {
        WalReader {
            source,
            timeline: TimeLineId::FIRST,
            system_id: None,
            page: Box::new([0; XLOG_BLCKSZ]),
            page_lsn: None,
            page_header: None,
            record: Vec::new(),
            next_lsn: start,
            expected_prev: None,
            last_record: None,
            end_reason: None,
        }
    }

    /// The first record's `xl_prev` must be `prev`. Without it the first record's
    /// prev-link is only checked to point backwards (PostgreSQL's random access).
    pub fn expect_prev(mut self, prev: Lsn) -> Self {
        self.expected_prev = Some(prev);
        self
    }

    /// Long page headers must carry this system identifier (pg_control's). Without
    /// it the first long header read sets the identifier for the rest.
    pub fn expect_system_id(mut self, system_id: u64) -> Self {
        self.system_id = Some(system_id);
        self
    }

    /// Pages must belong to `timeline` (default 1).
    pub fn expect_timeline(mut self, timeline: TimeLineId) -> Self {
        self.timeline = timeline;
        self
    }

    /// The next valid record, `Ok(None)` at the end of the valid WAL (and on every
    /// call after), `Err` only for I/O errors (retrying is allowed).
    pub fn next_record(&mut self) -> io::Result<Option<WalRecord<'_>>> {
        if self.end_reason.is_some() {
            return Ok(None);
        }
        let (lsn, end) = match self.read_record() {
            Ok(span) => span,
            Err(Stop::Io(error)) => return Err(error),
            Err(Stop::End(reason)) => {
                self.end_reason = Some(reason);
                return Ok(None);
            }
        };
        match DecodedRecord::decode(&self.record) {
            Ok(record) => {
                let end_lsn = Lsn(maxalign(end.0));
                self.expected_prev = Some(lsn);
                self.last_record = Some(lsn);
                self.next_lsn = end_lsn;
                Ok(Some(WalRecord {
                    lsn,
                    end_lsn,
                    record,
                }))
            }
            Err(error) => {
                self.end_reason = Some(error.at(lsn).to_string());
                Ok(None)
            }
        }
    }

    /// Why reading stopped, once it has (PostgreSQL's message).
    pub fn end_reason(&self) -> Option<&str> {
        self.end_reason.as_deref()
    }

    /// The end of the valid WAL read so far: the MAXALIGN'd end of the last valid
    /// record (the start position before any). Once reading has stopped this is
    /// where new WAL goes: `BytePos::from_lsn(end_of_valid_wal())`.
    pub fn end_of_valid_wal(&self) -> Lsn {
        self.next_lsn
    }

    /// The LSN of the last valid record returned.
    pub fn last_record_lsn(&self) -> Option<Lsn> {
        self.last_record
    }

    pub fn into_source(self) -> S {
        self.source
    }

    /// Loads the page at `page_lsn` and validates its header.
    fn load_page(&mut self, page_lsn: Lsn) -> Result<PageHeader, Stop> {
        if let (Some(loaded), Some(header)) = (self.page_lsn, self.page_header) {
            if loaded == page_lsn {
                return Ok(header);
            }
        }
        self.page_lsn = None;
        self.page_header = None;
        if !self.source.read_page(page_lsn, &mut self.page)? {
            let segment = segment_file_name(self.timeline, segno_of(page_lsn));
            return Err(Stop::End(format!(
                "no WAL page at {page_lsn} (segment {segment} is missing or too short)"
            )));
        }
        let header = PageHeader::decode(&self.page[..]);
        if let Err(error) = header.validate(page_lsn, self.timeline, self.system_id) {
            return Err(Stop::End(error.to_string()));
        }
        if let Some(long) = &header.long {
            self.system_id.get_or_insert(long.system_id);
        }
        self.page_lsn = Some(page_lsn);
        self.page_header = Some(header);
        Ok(header)
    }

    /// PostgreSQL's ValidXLogRecordHeader for the record at `lsn`.
    fn check_header(&self, header_bytes: &[u8], lsn: Lsn) -> Result<(), Stop> {
        let header = RecordHeader::parse(header_bytes);
        header.validate().map_err(|error| end_at(error, lsn))?;
        let linked = match self.expected_prev {
            Some(prev) => header.prev == prev,
            None => header.prev < lsn,
        };
        if !linked {
            return Err(end_at(RecordError::BadPrevLink { prev: header.prev }, lsn));
        }
        Ok(())
    }

    /// Gathers the next record's bytes into `self.record`, checking page headers,
    /// continuations and the record header on the way. Returns the record's LSN and
    /// its end (exclusive).
    fn read_record(&mut self) -> Result<(Lsn, Lsn), Stop> {
        let mut lsn = self.next_lsn;
        if page_offset(lsn) == 0 {
            lsn = Lsn(lsn.0 + page_header_size(lsn) as u64);
        }
        let mut page_lsn = page_start(lsn);
        let header = self.load_page(page_lsn)?;
        let offset = page_offset(lsn);
        if offset < header.size() || !lsn.0.is_multiple_of(MAXIMUM_ALIGNOF) {
            return Err(Stop::End(format!("invalid record offset at {lsn}")));
        }
        if header.info & XLP_FIRST_IS_CONTRECORD != 0 && offset == header.size() {
            return Err(Stop::End(format!("contrecord is requested by {lsn}")));
        }
        // Records are 8-byte aligned, so xl_tot_len is always on this page; the rest
        // of the header may not be.
        let tot_len = read_u32(&self.page[..], offset);
        let on_page = XLOG_BLCKSZ - offset;
        let mut header_checked = on_page >= SIZE_OF_RECORD_HEADER;
        if header_checked {
            self.check_header(&self.page[offset..offset + SIZE_OF_RECORD_HEADER], lsn)?;
        } else {
            check_tot_len(tot_len).map_err(|error| end_at(error, lsn))?;
        }
        let tot_len = tot_len as usize;
        let piece = on_page.min(tot_len);
        self.record.clear();
        self.record
            .extend_from_slice(&self.page[offset..offset + piece]);
        let mut end = Lsn(lsn.0 + piece as u64);
        while self.record.len() < tot_len {
            page_lsn = Lsn(page_lsn.0 + XLOG_BLCKSZ as u64);
            let header = self.load_page(page_lsn)?;
            if header.info & XLP_FIRST_IS_CONTRECORD == 0 {
                return Err(Stop::End(format!("there is no contrecord flag at {lsn}")));
            }
            let wanted = tot_len - self.record.len();
            if header.rem_len as usize != wanted {
                let rem_len = header.rem_len;
                return Err(Stop::End(format!(
                    "invalid contrecord length {rem_len} (expected {wanted}) at {lsn}"
                )));
            }
            let piece = wanted.min(XLOG_BLCKSZ - header.size());
            let data = &self.page[header.size()..header.size() + piece];
            self.record.extend_from_slice(data);
            end = Lsn(page_lsn.0 + (header.size() + piece) as u64);
            if !header_checked && self.record.len() >= SIZE_OF_RECORD_HEADER {
                self.check_header(&self.record[..SIZE_OF_RECORD_HEADER], lsn)?;
                header_checked = true;
            }
        }
        Ok((lsn, end))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::fs::OpenOptions;
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    use super::*;
    use crate::storage::file_io::OsFileIo;
    use crate::wal::record::RmgrId;
    use crate::wal::segment::{lsn_of_segment_start, WAL_SEGMENT_SIZE};

    const SEG: u64 = WAL_SEGMENT_SIZE;
    const PAGE: u64 = XLOG_BLCKSZ as u64;
    const SYSTEM_ID: u64 = 7_310_000_000_000_000_001;

    fn new_wal(start: Lsn) -> InMemoryWal {
        InMemoryWal::new(start, TimeLineId::FIRST, SYSTEM_ID)
    }

    /// Main data of the record with xid `tag`: a pattern reads are checked against.
    fn pattern(tag: u32, len: usize) -> Vec<u8> {
        (0..len).map(|i| (tag as usize + i) as u8).collect()
    }

    /// Inserts a record of exactly `total` bytes (24, or at least 27) with xid `tag`.
    fn insert_record(wal: &mut InMemoryWal, tag: u32, total: usize) -> Lsn {
        let main_len = match total - SIZE_OF_RECORD_HEADER {
            0 => 0,
            n if n - 2 < 256 => n - 2,
            n => n - 5,
        };
        let main = pattern(tag, main_len);
        let mut builder = RecordBuilder::new(RmgrId::Heap, 0, tag);
        assert_eq!(builder.main_data(&main).total_len(), Ok(total as u32));
        wal.insert(&builder).unwrap()
    }

    /// Reads to the end; returns the LSNs read, checking each record's contents.
    fn read_all<S: WalPageSource>(reader: &mut WalReader<S>) -> Vec<Lsn> {
        let mut lsns = Vec::new();
        while let Some(WalRecord {
            lsn,
            end_lsn,
            record,
        }) = reader.next_record().unwrap()
        {
            assert_eq!(end_lsn, record_end(lsn, record.total_len() as usize));
            let main = record.main_data();
            assert_eq!(
                main,
                &pattern(record.xid(), main.len())[..],
                "record at {lsn}"
            );
            lsns.push(lsn);
        }
        lsns
    }

    fn reader_at(wal: &InMemoryWal, start: Lsn) -> WalReader<InMemoryWal> {
        WalReader::new(wal.clone(), start).expect_system_id(SYSTEM_ID)
    }

    /// Three records at the start of segment 1. The second starts 8 bytes before the
    /// end of the first page: its header and body continue on the next page.
    fn three_records() -> (InMemoryWal, [Lsn; 3]) {
        let mut wal = new_wal(Lsn(SEG));
        let first = insert_record(&mut wal, 1, 8184 - 40);
        let second = insert_record(&mut wal, 2, 200);
        let third = insert_record(&mut wal, 3, 100);
        assert_eq!((first, second), (Lsn(SEG + 40), Lsn(SEG + 8184)));
        (wal, [first, second, third])
    }

    /// Reads `wal` from segment 1's first record: exactly `read` come back, then the
    /// reader stops at `end` for `reason`.
    fn expect_stop(wal: &InMemoryWal, read: &[Lsn], end: Lsn, reason: &str) {
        let mut reader = reader_at(wal, Lsn(SEG));
        assert_eq!(read_all(&mut reader), read);
        assert_eq!(reader.end_reason(), Some(reason));
        assert_eq!(reader.end_of_valid_wal(), end);
        assert!(
            reader.next_record().unwrap().is_none(),
            "the end stays the end"
        );
    }

    /// The segment directory of the data directory `data_dir`.
    fn wal_directory(data_dir: &Path) -> WalDirectory {
        let io = Arc::new(OsFileIo::new(data_dir));
        WalDirectory::new(io, PG_WAL_DIR, TimeLineId::FIRST)
    }

    /// Writes the pages of `wal` into 16 MiB segment files in `data_dir/pg_wal`.
    fn write_segments(wal: &InMemoryWal, data_dir: &Path) {
        let dir = data_dir.join(PG_WAL_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lsn = wal.first_page;
        while lsn < wal.end_of_pages() {
            let segno = segno_of(lsn);
            let path = dir.join(segment_file_name(TimeLineId::FIRST, segno));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .unwrap();
            file.set_len(SEG).unwrap();
            let end = lsn_of_segment_start(SegmentNo(segno.0 + 1)).min(wal.end_of_pages());
            let bytes = &wal.bytes[wal.index(lsn)..wal.index(Lsn(end.0 - 1)) + 1];
            file.write_all_at(bytes, segment_offset(lsn)).unwrap();
            lsn = end;
        }
    }

    #[test]
    fn reads_back_every_record_across_pages_and_segments() {
        let mut wal = new_wal(Lsn(SEG));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut inserted = Vec::new();
        let mut tag = 0;
        while wal.insert_lsn() < Lsn(2 * SEG + 3 * PAGE) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let total = [
                24,
                27,
                27 + state as usize % 200,
                300 + state as usize % 20_000,
            ][(state >> 40) as usize % 4];
            tag += 1;
            inserted.push(insert_record(&mut wal, tag, total));
        }
        let mut reader = reader_at(&wal, Lsn(SEG));
        assert_eq!(read_all(&mut reader), inserted);
        assert_eq!(reader.last_record_lsn(), inserted.last().copied());
        assert_eq!(
            next_insert_position(reader.end_of_valid_wal()),
            wal.insert_lsn()
        );
        let zeros = format!(
            "invalid record length at {}: wanted 24, got 0",
            wal.insert_lsn()
        );
        assert_eq!(reader.end_reason(), Some(zeros.as_str()));
    }

    #[test]
    fn zeroed_tail_ends_wal_after_the_last_record() {
        let (wal, lsns) = three_records();
        let end = wal.insert_lsn();
        let reason = format!("invalid record length at {end}: wanted 24, got 0");
        expect_stop(&wal, &lsns, end, &reason);
        assert_eq!(end, Lsn(SEG + PAGE + 24 + 192 + 104));
    }

    #[test]
    fn bad_length_ends_wal_at_that_record() {
        let (wal, [first, second, third]) = three_records();
        let with_length = |tot_len: u32| {
            let mut wal = wal.clone();
            for (i, byte) in tot_len.to_le_bytes().into_iter().enumerate() {
                *wal.byte_mut(Lsn(third.0 + i as u64)) = byte;
            }
            wal
        };
        let read = [first, second];
        let too_long = format!("record length 4294967295 at {third} too long");
        expect_stop(&with_length(u32::MAX), &read, third, &too_long);
        let too_short = format!("invalid record length at {third}: wanted 24, got 12");
        expect_stop(&with_length(12), &read, third, &too_short);
        let crc = format!("incorrect resource manager data checksum in record at {third}");
        expect_stop(&with_length(108), &read, third, &crc);
    }

    #[test]
    fn bad_prev_link_ends_wal_at_that_record() {
        let (mut wal, lsns) = three_records();
        let mut bytes = Vec::new();
        let main = pattern(4, 10);
        let builder = RecordBuilder::new(RmgrId::Xact, 0, 4)
            .main_data(&main)
            .clone();
        builder.encode(Lsn(0xDEAD), &mut bytes).unwrap();
        let bad = wal.append_raw(&bytes);
        insert_record(&mut wal, 5, 50);
        let reason = format!("record with incorrect prev-link 0/DEAD at {bad}");
        expect_stop(&wal, &lsns, bad, &reason);
    }

    #[test]
    fn every_flipped_bit_of_a_record_ends_wal_before_it() {
        let (wal, [first, second, _]) = three_records();
        let mut reader = reader_at(&wal, Lsn(SEG));
        assert_eq!(
            read_all(&mut reader).len(),
            3,
            "undamaged, the split record reads"
        );
        for chunk in layout_record(second, 200) {
            for i in 0..chunk.len as u64 {
                for bit in 0..8 {
                    let mut damaged = wal.clone();
                    *damaged.byte_mut(Lsn(chunk.lsn.0 + i)) ^= 1 << bit;
                    let mut reader = reader_at(&damaged, Lsn(SEG));
                    assert_eq!(
                        read_all(&mut reader),
                        [first],
                        "{chunk:?} byte {i} bit {bit}"
                    );
                    assert_eq!(reader.end_of_valid_wal(), second);
                    assert!(reader.end_reason().is_some());
                }
            }
        }
    }

    #[test]
    fn record_cut_at_a_page_boundary_ends_wal_before_it() {
        let (wal, [first, second, _]) = three_records();
        let next_page = Lsn(SEG + PAGE);
        let mut zeroed = wal.clone();
        zeroed.zero_from(next_page);
        let reason = "invalid magic number 0000 in log segment 000000010000000000000001, \
                      offset 8192";
        expect_stop(&zeroed, &[first], second, reason);
        let mut missing = wal.clone();
        missing.drop_pages_from(next_page);
        let reason = "no WAL page at 0/1002000 (segment 000000010000000000000001 is missing \
                      or too short)";
        expect_stop(&missing, &[first], second, reason);
    }

    #[test]
    fn continuation_page_must_announce_the_rest_of_the_record() {
        let (wal, [first, second, _]) = three_records();
        let info = Lsn(SEG + PAGE + 2);
        let rem_len = Lsn(SEG + PAGE + 16);
        let mut no_flag = wal.clone();
        *no_flag.byte_mut(info) &= !(XLP_FIRST_IS_CONTRECORD as u8);
        let reason = format!("there is no contrecord flag at {second}");
        expect_stop(&no_flag, &[first], second, &reason);
        let mut wrong_len = wal.clone();
        *wrong_len.byte_mut(rem_len) = 5;
        let reason = format!("invalid contrecord length 5 (expected 192) at {second}");
        expect_stop(&wrong_len, &[first], second, &reason);
    }

    #[test]
    fn stale_page_of_a_recycled_segment_is_not_replayed() {
        let mut wal = new_wal(Lsn(2 * SEG - 2 * PAGE));
        let mut lsns = Vec::new();
        while wal.insert_lsn() < Lsn(2 * SEG + PAGE) {
            lsns.push(insert_record(&mut wal, lsns.len() as u32, 3000));
        }
        // Segment 2 on disk is an old segment 1, renamed for reuse and not yet
        // overwritten: valid pages, but for other addresses.
        let mut old = new_wal(Lsn(SEG));
        while old.insert_lsn() < Lsn(SEG + 2 * PAGE) {
            insert_record(&mut old, 99, 3000);
        }
        let dir = tempfile::tempdir().unwrap();
        write_segments(&wal, dir.path());
        let mut stale = old.clone();
        stale.first_page = Lsn(2 * SEG); // write its pages where segment 2's go
        write_segments(&stale, dir.path());
        let mut reader = WalReader::new(wal_directory(dir.path()), lsns[0]);
        let read = read_all(&mut reader);
        let crossing = lsns
            .iter()
            .position(|&lsn| record_end(lsn, 3000) > Lsn(2 * SEG))
            .unwrap();
        assert_eq!(read, lsns[..crossing]);
        assert_eq!(reader.end_of_valid_wal(), lsns[crossing]);
        assert_eq!(
            reader.end_reason(),
            Some("unexpected pageaddr 0/1000000 in log segment 000000010000000000000002, offset 0")
        );
    }

    #[test]
    fn record_cut_at_a_segment_boundary_ends_wal_before_it() {
        let mut wal = new_wal(Lsn(2 * SEG - PAGE));
        let before = insert_record(&mut wal, 1, 8000);
        let crossing = insert_record(&mut wal, 2, 1000);
        insert_record(&mut wal, 3, 100);
        assert!(record_end(crossing, 1000) > Lsn(2 * SEG));
        let dir = tempfile::tempdir().unwrap();
        let mut segment1 = wal.clone();
        segment1.drop_pages_from(Lsn(2 * SEG));
        write_segments(&segment1, dir.path());
        let read = |dir: &Path| {
            let mut reader = WalReader::new(wal_directory(dir), before);
            assert_eq!(read_all(&mut reader), [before]);
            assert_eq!(reader.end_of_valid_wal(), crossing);
            reader.end_reason().unwrap().to_string()
        };
        let missing = "no WAL page at 0/2000000 (segment 000000010000000000000002 is missing \
                       or too short)";
        assert_eq!(read(dir.path()), missing);
        // A preallocated segment 2 that was never written.
        let path = dir.path().join("pg_wal/000000010000000000000002");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap()
            .set_len(SEG)
            .unwrap();
        let zeroed = "invalid magic number 0000 in log segment 000000010000000000000002, offset 0";
        assert_eq!(read(dir.path()), zeroed);
        // Written in full, it reads through.
        write_segments(&wal, dir.path());
        let mut reader = WalReader::new(wal_directory(dir.path()), before);
        assert_eq!(read_all(&mut reader).len(), 3);
    }

    #[test]
    fn first_prev_link_is_checked_when_known() {
        let (wal, [first, second, third]) = three_records();
        let mut reader = reader_at(&wal, second).expect_prev(first);
        assert_eq!(read_all(&mut reader), [second, third]);
        let mut reader = reader_at(&wal, second); // random access: xl_prev < LSN
        assert_eq!(read_all(&mut reader), [second, third]);
        let mut reader = reader_at(&wal, second).expect_prev(Lsn(SEG + 48));
        assert!(read_all(&mut reader).is_empty());
        let reason = format!("record with incorrect prev-link {first} at {second}");
        assert_eq!(reader.end_reason(), Some(reason.as_str()));
        assert_eq!(reader.end_of_valid_wal(), second);
    }

    #[test]
    fn wal_of_another_system_is_not_replayed() {
        let (wal, _) = three_records();
        let mut reader = WalReader::new(wal, Lsn(SEG)).expect_system_id(SYSTEM_ID + 1);
        assert!(reader.next_record().unwrap().is_none());
        let reason = reader.end_reason().unwrap();
        assert!(
            reason.starts_with("WAL file is from different database system"),
            "{reason}"
        );
    }

    #[test]
    fn empty_wal_ends_at_its_start() {
        let wal = new_wal(Lsn(SEG));
        let mut reader = reader_at(&wal, Lsn(SEG));
        assert!(reader.next_record().unwrap().is_none());
        assert_eq!(reader.end_of_valid_wal(), Lsn(SEG));
        let reason = "invalid record length at 0/1000028: wanted 24, got 0";
        assert_eq!(reader.end_reason(), Some(reason));
    }

    struct FlakySource<'a> {
        wal: InMemoryWal,
        fail: &'a Cell<bool>,
    }

    impl WalPageSource for FlakySource<'_> {
        fn read_page(&mut self, lsn: Lsn, buf: &mut [u8; XLOG_BLCKSZ]) -> io::Result<bool> {
            if self.fail.get() {
                return Err(io::Error::other("EIO"));
            }
            self.wal.read_page(lsn, buf)
        }
    }

    #[test]
    fn io_errors_are_errors_not_end_of_wal() {
        let (wal, [first, ..]) = three_records();
        let fail = Cell::new(true);
        let mut reader = WalReader::new(FlakySource { wal, fail: &fail }, Lsn(SEG));
        assert!(reader.next_record().is_err());
        assert_eq!(reader.end_reason(), None);
        fail.set(false);
        assert_eq!(reader.next_record().unwrap().map(|r| r.lsn), Some(first));
    }
}
