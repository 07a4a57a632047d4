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
//! The reader owns one page buffer and one record buffer, reused for every record; a
//! decoded record borrows from the record buffer until the next call.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::wal::record::{
    check_tot_len, DecodedRecord, EncodeError, RecordBuilder, RecordError, RecordHeader,
    SIZE_OF_RECORD_HEADER,
};
use crate::wal::segment::{
    layout_record, maxalign, next_insert_position, page_header_size, page_offset, page_start,
    read_u32, record_end, segment_file_name, segment_offset, segno_of, write_page_header,
    PageHeader, SegmentNo, TimeLineId, XLOG_BLCKSZ, XLP_FIRST_IS_CONTRECORD,
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

/// The segment files of one timeline in a `pg_wal/` directory. Keeps the current
/// segment open between pages.
#[derive(Debug)]
pub struct WalDirectory {
    dir: PathBuf,
    timeline: TimeLineId,
    open: Option<(SegmentNo, File)>,
}

impl WalDirectory {
    pub fn new(pg_wal: impl Into<PathBuf>, timeline: TimeLineId) -> WalDirectory {
        WalDirectory {
            dir: pg_wal.into(),
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
                match File::open(path) {
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

    /// The next valid record and its LSN, `Ok(None)` at the end of the valid WAL
    /// (and every call after), `Err` only for I/O errors (retrying is allowed).
    pub fn next_record(&mut self) -> io::Result<Option<(Lsn, DecodedRecord<'_>)>> {
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
                self.expected_prev = Some(lsn);
                self.last_record = Some(lsn);
                self.next_lsn = Lsn(maxalign(end.0));
                Ok(Some((lsn, record)))
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
        if offset < header.size() || lsn.0 % 8 != 0 {
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
    use super::*;
}
