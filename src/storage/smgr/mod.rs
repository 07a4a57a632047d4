//! The storage manager (PostgreSQL's smgr/md.c): relation forks as files of 8 KiB
//! blocks, split into 1 GiB segments, read and written through [`FileIo`].
//!
//! # Files
//! Fork `fork` of relation `rel` is the sequence of segment files
//! `base/<db>/<relfilenode>[_fork]`, `….1`, `….2`, … (`global/…` for the global
//! tablespace). Segment `n` holds blocks `n * RELSEG_SIZE .. (n + 1) * RELSEG_SIZE`.
//! Invariant (as md.c): every segment before the last active one holds exactly
//! `RELSEG_SIZE` blocks, so `nblocks` is the sum over segments up to the first one that
//! is not full. Segments past the end may exist with length 0 (left by `truncate`,
//! reused by `extend`). A trailing partial block (a torn extension) does not count.
//!
//! # Who calls what
//! The buffer manager is the only caller of `read`, `write` and `extend` (DESIGN.md §4
//! rule 1: pages reach files only after WAL is flushed to their LSN, and that check
//! lives there). DDL and redo call `create`, `truncate` and `unlink`. Only the
//! checkpointer calls [`Smgr::sync`]; a backend that writes or extends a file hands the
//! fsync request to it instead (the shared request queue), as PostgreSQL does.
//! Nothing here fsyncs on its own: `create`, `extend`, `write`, `truncate` and `unlink`
//! are not durable until the next checkpoint's `sync` — WAL replay redoes them.
//!
//! # Caching and concurrency
//! Each `Smgr` (one per process) keeps open segment handles in a map guarded by a
//! `std::sync::Mutex` held only to look up or insert a handle, never across I/O. That
//! mutex is process-local and the only lock taken here. Another process may unlink or
//! truncate a relation; [`Smgr::close`] (on a relcache invalidation, as `smgrclose`)
//! drops stale handles, and `exists` always re-checks the file system.
//!
//! # Errors
//! [`SmgrError`] carries PostgreSQL's message texts (`could not read block 7 in file
//! "base/5/16384": read only 0 of 8192 bytes`) and SQLSTATE: ENOSPC → 53100 disk_full
//! with the hint "Check free disk space.", other I/O errors → 58030, short reads →
//! XX001 data_corrupted. No page contents are checked here (checksums are `page`'s job).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::file_io::{errno_error, FileIo, IoFile, OpenMode};
use super::ids::{BlockNumber, ForkNumber, RelFileNode};
use super::page::BLCKSZ;
use crate::error::{sqlstate, QuillError};

/// Blocks per segment file: 1 GiB of 8 KiB blocks, as PostgreSQL's default.
pub const RELSEG_SIZE: u32 = 131072;
const _: () = assert!(RELSEG_SIZE as u64 * BLCKSZ as u64 == 1 << 30);

/// Largest valid block number (PostgreSQL's MaxBlockNumber; u32::MAX is invalid).
pub const MAX_BLOCK_NUMBER: u32 = 0xFFFF_FFFE;

const ALL_FORKS: [ForkNumber; 4] = [
    ForkNumber::Main,
    ForkNumber::FreeSpaceMap,
    ForkNumber::VisibilityMap,
    ForkNumber::Init,
];

const DISK_FULL_HINT: &str = "Check free disk space.";

/// A storage-manager failure, with PostgreSQL's message and SQLSTATE.
#[derive(Debug)]
pub struct SmgrError {
    sqlstate: &'static str,
    message: String,
    hint: Option<&'static str>,
    source: Option<io::Error>,
}

pub type SmgrResult<T> = Result<T, SmgrError>;

/// `%m`: the errno text without Rust's " (os error N)" suffix.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => match text.strip_suffix(&format!(" (os error {code})")) {
            Some(stripped) => stripped.to_owned(),
            None => text,
        },
        None => text,
    }
}

impl SmgrError {
    fn new(sqlstate: &'static str, message: String) -> SmgrError {
        SmgrError {
            sqlstate,
            message,
            hint: None,
            source: None,
        }
    }

    /// `"{context}: %m"`, with the SQLSTATE chosen from the errno.
    fn io(context: String, err: io::Error) -> SmgrError {
        let disk_full =
            err.raw_os_error() == Some(libc::ENOSPC) || err.kind() == io::ErrorKind::StorageFull;
        SmgrError {
            sqlstate: if disk_full {
                sqlstate::DISK_FULL
            } else {
                sqlstate::IO_ERROR
            },
            message: format!("{context}: {}", strerror(&err)),
            hint: disk_full.then_some(DISK_FULL_HINT),
            source: Some(err),
        }
    }

    fn with_hint(mut self, hint: &'static str) -> SmgrError {
        self.hint = Some(hint);
        self
    }

    pub fn sqlstate(&self) -> &'static str {
        self.sqlstate
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint
    }

    /// The underlying I/O error, if the failure came from the file system.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for SmgrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SmgrError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<SmgrError> for QuillError {
    fn from(err: SmgrError) -> QuillError {
        let quill = QuillError::new(err.sqlstate, err.message);
        match err.hint {
            Some(hint) => quill.with_hint(hint),
            None => quill,
        }
    }
}

type SegmentKey = (RelFileNode, ForkNumber, u32);

/// The storage manager of one process; see the module doc.
pub struct Smgr {
    io: Arc<dyn FileIo>,
    blocks_per_segment: u32,
    /// Open segment handles; the lock is held only to look up or insert.
    open_segments: Mutex<HashMap<SegmentKey, Arc<dyn IoFile>>>,
}

impl fmt::Debug for Smgr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smgr")
            .field("blocks_per_segment", &self.blocks_per_segment)
            .field("open_segments", &self.lock().len())
            .finish()
    }
}

impl Smgr {
    /// A storage manager with PostgreSQL's 1 GiB segments.
    pub fn new(io: Arc<dyn FileIo>) -> Smgr {
        Smgr::with_blocks_per_segment(io, RELSEG_SIZE)
    }

    /// A storage manager with `blocks_per_segment`-block segments (tests use a few
    /// blocks to cross segment boundaries cheaply; the server uses [`RELSEG_SIZE`]).
    pub fn with_blocks_per_segment(io: Arc<dyn FileIo>, blocks_per_segment: u32) -> Smgr {
        assert!(
            (1..=RELSEG_SIZE).contains(&blocks_per_segment),
            "blocks_per_segment {blocks_per_segment} out of range"
        );
        Smgr {
            io,
            blocks_per_segment,
            open_segments: Mutex::new(HashMap::new()),
        }
    }

    /// The file I/O layer this manager writes through.
    pub fn file_io(&self) -> &Arc<dyn FileIo> {
        &self.io
    }

    /// Path of segment `segno` of a fork, relative to the data directory.
    pub fn segment_path(&self, rel: RelFileNode, fork: ForkNumber, segno: u32) -> String {
        let first = rel.relative_path(fork);
        if segno == 0 {
            first
        } else {
            format!("{first}.{segno}")
        }
    }

    /// Creates the fork's first segment, empty. Creating an existing fork is not an
    /// error (WAL redo of a CREATE repeats it).
    pub fn create(&self, rel: RelFileNode, fork: ForkNumber) -> SmgrResult<()> {
        self.open_segment(rel, fork, 0, OpenMode::CreateIfMissing)
            .map(drop)
            .map_err(|e| {
                let path = self.segment_path(rel, fork, 0);
                SmgrError::io(format!("could not create file \"{path}\""), e)
            })
    }

    /// True if the fork's first segment exists. Drops cached handles of the fork
    /// first, so an unlink by another process is noticed (as md.c's mdexists).
    pub fn exists(&self, rel: RelFileNode, fork: ForkNumber) -> bool {
        self.lock().retain(|key, _| key.0 != rel || key.1 != fork);
        let path = self.segment_path(rel, fork, 0);
        self.io.exists(Path::new(&path))
    }

    /// Number of blocks in the fork: full segments plus the blocks of the first
    /// segment that is not full.
    pub fn nblocks(&self, rel: RelFileNode, fork: ForkNumber) -> SmgrResult<u32> {
        let mut total: u32 = 0;
        let mut segno = 0;
        loop {
            let Some(seg) = self.open_existing(rel, fork, segno, None)? else {
                // The previous segment was full and this one does not exist yet.
                return Ok(total);
            };
            let blocks = self.segment_blocks(seg.as_ref(), rel, fork, segno)?;
            total = total.checked_add(blocks).ok_or_else(|| {
                let path = self.segment_path(rel, fork, 0);
                SmgrError::new(
                    sqlstate::DATA_CORRUPTED,
                    format!("file \"{path}\" has more than {MAX_BLOCK_NUMBER} blocks"),
                )
            })?;
            if blocks < self.blocks_per_segment {
                return Ok(total);
            }
            segno += 1;
        }
    }

    /// Appends `page` as block `block`, which must be the fork's current
    /// [`nblocks`](Self::nblocks). Creates the next segment file when `block` starts
    /// one. Not durable until the checkpointer's [`sync`](Self::sync).
    pub fn extend(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
        page: &[u8; BLCKSZ],
    ) -> SmgrResult<()> {
        let (segno, in_segment) = self.locate(block);
        let path = self.segment_path(rel, fork, segno);
        if block.0 > MAX_BLOCK_NUMBER {
            let first = self.segment_path(rel, fork, 0);
            return Err(SmgrError::new(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!("cannot extend file \"{first}\" beyond {MAX_BLOCK_NUMBER} blocks"),
            ));
        }
        if in_segment == 0 && segno > 0 {
            // Starting a segment: the one before must be exactly full.
            let previous = self.open_existing(rel, fork, segno - 1, Some(block))?;
            let full = match previous {
                Some(seg) => self.segment_blocks(seg.as_ref(), rel, fork, segno - 1)?,
                None => 0,
            };
            if full != self.blocks_per_segment {
                return Err(self.not_next_block(rel, fork, block, (segno - 1, full)));
            }
        }
        let extend_error = |e| {
            SmgrError::io(format!("could not extend file \"{path}\""), e).with_hint(DISK_FULL_HINT)
        };
        // The first segment comes from `create`; later ones are made here.
        let seg = if segno == 0 {
            self.require_segment(rel, fork, segno, block)?
        } else {
            self.open_segment(rel, fork, segno, OpenMode::CreateIfMissing)
                .map_err(extend_error)?
        };
        let current = self.segment_blocks(seg.as_ref(), rel, fork, segno)?;
        if current != in_segment {
            return Err(self.not_next_block(rel, fork, block, (segno, current)));
        }
        seg.write_all_at(page, self.offset_bytes(in_segment))
            .map_err(extend_error)
    }

    /// Reads block `block` into `page`. A block past the end of the fork is an error
    /// naming the segment file and the block, never a zero-filled page.
    pub fn read(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
        page: &mut [u8; BLCKSZ],
    ) -> SmgrResult<()> {
        let (segno, in_segment) = self.locate(block);
        let path = self.segment_path(rel, fork, segno);
        let seg = self.require_segment(rel, fork, segno, block)?;
        let n = seg
            .read_full_at(page, self.offset_bytes(in_segment))
            .map_err(|e| {
                SmgrError::io(
                    format!("could not read block {block} in file \"{path}\""),
                    e,
                )
            })?;
        if n < BLCKSZ {
            return Err(SmgrError::new(
                sqlstate::DATA_CORRUPTED,
                format!(
                    "could not read block {block} in file \"{path}\": read only {n} of {BLCKSZ} bytes"
                ),
            ));
        }
        Ok(())
    }

    /// Overwrites existing block `block` with `page`. Writing past the end is an error
    /// (it would leave a hole); use [`extend`](Self::extend). Not durable until the
    /// checkpointer's [`sync`](Self::sync). The caller (the buffer manager) has already
    /// flushed WAL up to the page's LSN.
    pub fn write(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
        page: &[u8; BLCKSZ],
    ) -> SmgrResult<()> {
        let (segno, in_segment) = self.locate(block);
        let path = self.segment_path(rel, fork, segno);
        let seg = self.require_segment(rel, fork, segno, block)?;
        let blocks = self.segment_blocks(seg.as_ref(), rel, fork, segno)?;
        if in_segment >= blocks {
            return Err(SmgrError::new(
                sqlstate::INTERNAL_ERROR,
                format!(
                    "could not write block {block} in file \"{path}\": block is past the end of the file ({blocks} blocks)"
                ),
            ));
        }
        seg.write_all_at(page, self.offset_bytes(in_segment))
            .map_err(|e| {
                SmgrError::io(
                    format!("could not write block {block} in file \"{path}\""),
                    e,
                )
            })
    }

    /// Shrinks the fork to `nblocks` blocks. Segments wholly past the new end are
    /// truncated to length 0, not removed (as md.c), from the last one down, so an
    /// interrupted truncation still leaves full segments followed by shorter ones.
    pub fn truncate(&self, rel: RelFileNode, fork: ForkNumber, nblocks: u32) -> SmgrResult<()> {
        let current = self.nblocks(rel, fork)?;
        if nblocks > current {
            let path = self.segment_path(rel, fork, 0);
            return Err(SmgrError::new(
                sqlstate::INTERNAL_ERROR,
                format!(
                    "could not truncate file \"{path}\" to {nblocks} blocks: it's only {current} blocks now"
                ),
            ));
        }
        if nblocks == current {
            return Ok(());
        }
        for (segno, seg) in self.existing_segments(rel, fork)?.into_iter().rev() {
            let first_block = segno * self.blocks_per_segment;
            let keep = nblocks.saturating_sub(first_block);
            if keep >= self.blocks_per_segment {
                break; // This and all earlier segments stay full.
            }
            let path = self.segment_path(rel, fork, segno);
            let error = |e| {
                SmgrError::io(
                    format!("could not truncate file \"{path}\" to {nblocks} blocks"),
                    e,
                )
            };
            let target = self.offset_bytes(keep);
            if seg.len().map_err(error)? != target {
                seg.set_len(target).map_err(error)?;
            }
        }
        Ok(())
    }

    /// Removes every segment of every fork of `rel`, last segment first. Missing
    /// forks are skipped. Not durable until the directory is synced.
    pub fn unlink(&self, rel: RelFileNode) -> SmgrResult<()> {
        self.close(rel);
        for fork in ALL_FORKS {
            let mut count = 0;
            while self
                .io
                .exists(Path::new(&self.segment_path(rel, fork, count)))
            {
                count += 1;
            }
            for segno in (0..count).rev() {
                let path = self.segment_path(rel, fork, segno);
                match self.io.remove(Path::new(&path)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(SmgrError::io(
                            format!("could not remove file \"{path}\""),
                            e,
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Makes the fork durable: fdatasync of every segment, then fsync of the directory
    /// holding them (so newly created segments keep their names). The checkpointer's
    /// job only; an error here must become a PANIC (data_sync_retry = off).
    pub fn sync(&self, rel: RelFileNode, fork: ForkNumber) -> SmgrResult<()> {
        for (segno, seg) in self.existing_segments(rel, fork)? {
            seg.sync_data().map_err(|e| {
                let path = self.segment_path(rel, fork, segno);
                SmgrError::io(format!("could not fsync file \"{path}\""), e)
            })?;
        }
        let first = self.segment_path(rel, fork, 0);
        let dir = Path::new(&first).parent().unwrap_or(Path::new(""));
        self.io
            .sync_dir(dir)
            .map_err(|e| SmgrError::io(format!("could not fsync file \"{}\"", dir.display()), e))
    }

    /// Drops this process's cached handles of `rel` (PostgreSQL's smgrclose).
    pub fn close(&self, rel: RelFileNode) {
        self.lock().retain(|key, _| key.0 != rel);
    }

    /// Drops every cached handle.
    pub fn close_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SegmentKey, Arc<dyn IoFile>>> {
        // The map holds only handles; a panic elsewhere cannot leave it inconsistent.
        self.open_segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// (segment number, block within the segment).
    fn locate(&self, block: BlockNumber) -> (u32, u32) {
        (
            block.0 / self.blocks_per_segment,
            block.0 % self.blocks_per_segment,
        )
    }

    fn offset_bytes(&self, block_in_segment: u32) -> u64 {
        block_in_segment as u64 * BLCKSZ as u64
    }

    fn open_segment(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        segno: u32,
        mode: OpenMode,
    ) -> io::Result<Arc<dyn IoFile>> {
        let key = (rel, fork, segno);
        if let Some(handle) = self.lock().get(&key) {
            return Ok(Arc::clone(handle));
        }
        let path = self.segment_path(rel, fork, segno);
        let handle: Arc<dyn IoFile> = Arc::from(self.io.open(Path::new(&path), mode)?);
        // Another thread may have raced us here; either handle is fine.
        Ok(Arc::clone(self.lock().entry(key).or_insert(handle)))
    }

    /// Opens an existing segment; `None` if segment `segno > 0` is missing. A missing
    /// first segment, or any other error, is reported (with the target block if any).
    fn open_existing(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        segno: u32,
        target: Option<BlockNumber>,
    ) -> SmgrResult<Option<Arc<dyn IoFile>>> {
        match self.open_segment(rel, fork, segno, OpenMode::ReadWrite) {
            Ok(seg) => Ok(Some(seg)),
            Err(e) if e.kind() == io::ErrorKind::NotFound && segno > 0 => Ok(None),
            Err(e) => Err(self.open_error(rel, fork, segno, target, e)),
        }
    }

    /// The segment holding `block`, which must exist.
    fn require_segment(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        segno: u32,
        block: BlockNumber,
    ) -> SmgrResult<Arc<dyn IoFile>> {
        match self.open_existing(rel, fork, segno, Some(block))? {
            Some(seg) => Ok(seg),
            None => Err(self.open_error(rel, fork, segno, Some(block), errno_error(libc::ENOENT))),
        }
    }

    fn open_error(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        segno: u32,
        target: Option<BlockNumber>,
        e: io::Error,
    ) -> SmgrError {
        let path = self.segment_path(rel, fork, segno);
        let context = match target {
            Some(block) => format!("could not open file \"{path}\" (target block {block})"),
            None => format!("could not open file \"{path}\""),
        };
        SmgrError::io(context, e)
    }

    /// Every existing segment of the fork, in order, stopping at the first missing one.
    fn existing_segments(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
    ) -> SmgrResult<Vec<(u32, Arc<dyn IoFile>)>> {
        let mut segments = Vec::new();
        let mut segno = 0;
        while let Some(seg) = self.open_existing(rel, fork, segno, None)? {
            segments.push((segno, seg));
            segno += 1;
        }
        Ok(segments)
    }

    /// Whole blocks in one segment file; more than a segment's worth is corruption.
    fn segment_blocks(
        &self,
        seg: &dyn IoFile,
        rel: RelFileNode,
        fork: ForkNumber,
        segno: u32,
    ) -> SmgrResult<u32> {
        let path = self.segment_path(rel, fork, segno);
        let len = seg
            .len()
            .map_err(|e| SmgrError::io(format!("could not seek to end of file \"{path}\""), e))?;
        let blocks = len / BLCKSZ as u64;
        if blocks > self.blocks_per_segment as u64 {
            return Err(SmgrError::new(
                sqlstate::DATA_CORRUPTED,
                format!(
                    "segment \"{path}\" is too big: {blocks} blocks, at most {}",
                    self.blocks_per_segment
                ),
            ));
        }
        Ok(blocks as u32)
    }

    fn not_next_block(
        &self,
        rel: RelFileNode,
        fork: ForkNumber,
        block: BlockNumber,
        (segno, blocks): (u32, u32),
    ) -> SmgrError {
        let path = self.segment_path(rel, fork, segno);
        SmgrError::new(
            sqlstate::INTERNAL_ERROR,
            format!(
                "cannot extend file \"{path}\" at block {block}: the segment has {blocks} blocks"
            ),
        )
    }
}

#[cfg(test)]
mod tests;
