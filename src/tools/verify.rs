//! `quill verify -D DIR`: an offline check of a stopped data directory — the
//! after-the-fact proof of log-before-data (DESIGN.md §4 rule 1) and of page
//! integrity. For every relation file under `base/` and `global/` it checks that each
//! non-empty page has a valid header and checksum, and that no page's LSN lies beyond
//! the durable end of WAL (which would mean a data page reached disk before the WAL
//! describing it). Prints what it checked; exits 1 on any violation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::postmaster::pidfile::{process_alive, read_pid, PID_FILE_NAME};
use crate::storage::file_io::{relation_dirs, FileIo, OpenMode, OsFileIo};
use crate::storage::page::{PageBytes, PageRef, BLCKSZ};
use crate::storage::smgr::RELSEG_SIZE;
use crate::wal::control::ControlFile;
use crate::wal::reader::{WalDirectory, WalReader};
use crate::wal::xlog::WAL_DIR;
use crate::wal::Lsn;

/// What a verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub files: usize,
    pub pages: u64,
    pub empty_pages: u64,
    pub end_of_wal: Lsn,
    pub violations: Vec<String>,
}

pub fn run(data_dir: &Path) -> i32 {
    if let Some(pid) = read_pid(&data_dir.join(PID_FILE_NAME)).filter(|&p| process_alive(p)) {
        eprintln!("quill verify: error: a server (PID {pid}) is running on this data directory; stop it first");
        return 1;
    }
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(data_dir));
    match verify(&io) {
        Ok(report) => {
            println!(
                "checked {} relation files, {} pages ({} new/empty); durable end of WAL {}",
                report.files, report.pages, report.empty_pages, report.end_of_wal
            );
            for violation in &report.violations {
                println!("VIOLATION: {violation}");
            }
            if report.violations.is_empty() {
                println!("OK: every page checksum valid, no page LSN beyond the end of WAL");
                0
            } else {
                println!("{} violation(s)", report.violations.len());
                1
            }
        }
        Err(message) => {
            eprintln!("quill verify: error: {message}");
            1
        }
    }
}

/// Checks a stopped data directory through `io`.
pub fn verify(io: &Arc<dyn FileIo>) -> Result<VerifyReport, String> {
    let control = ControlFile::read(io.as_ref()).map_err(|e| e.to_string())?;
    let source = WalDirectory::new(Arc::clone(io), WAL_DIR, control.checkpoint_info.timeline);
    let mut reader = WalReader::new(source, control.checkpoint_info.redo)
        .expect_system_id(control.system_identifier);
    while reader.next_record().map_err(|e| e.to_string())?.is_some() {}
    let mut report = VerifyReport {
        end_of_wal: reader.end_of_valid_wal(),
        ..VerifyReport::default()
    };
    if report.end_of_wal < control.checkpoint {
        report.violations.push(format!(
            "WAL ends at {} before the last checkpoint at {}",
            report.end_of_wal, control.checkpoint
        ));
    }
    for path in relation_files(io.as_ref()) {
        verify_file(io.as_ref(), &path, &mut report)?;
    }
    Ok(report)
}

/// Relation files: names made of a relfilenode, an optional fork suffix and an
/// optional `.segno`.
fn relation_files(io: &dyn FileIo) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in relation_dirs(io) {
        for name in io.list_dir(&dir).unwrap_or_default() {
            if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                files.push(dir.join(name));
            }
        }
    }
    files
}

fn segment_number(path: &Path) -> u64 {
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(|e| e.parse().ok())
        .unwrap_or(0)
}

fn verify_file(io: &dyn FileIo, path: &Path, report: &mut VerifyReport) -> Result<(), String> {
    let file = io
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| format!("could not open \"{}\": {e}", path.display()))?;
    report.files += 1;
    let len = file.len().map_err(|e| e.to_string())?;
    if len % BLCKSZ as u64 != 0 {
        report.violations.push(format!(
            "file \"{}\" has a partial block ({} bytes)",
            path.display(),
            len
        ));
    }
    let first_block = segment_number(path) * u64::from(RELSEG_SIZE);
    let mut page: PageBytes = [0; BLCKSZ];
    for index in 0..len / BLCKSZ as u64 {
        file.read_exact_at(&mut page, index * BLCKSZ as u64)
            .map_err(|e| e.to_string())?;
        report.pages += 1;
        let view = PageRef::new(&page);
        if view.is_all_zeros() {
            report.empty_pages += 1;
            continue;
        }
        let blkno = (first_block + index) as u32;
        if let Err(e) = view.verify(blkno, true) {
            report.violations.push(format!(
                "invalid page in block {blkno} of \"{}\": {e:?}",
                path.display()
            ));
        }
        if view.lsn() > report.end_of_wal {
            report.violations.push(format!(
                "block {blkno} of \"{}\" has LSN {} beyond the durable end of WAL {} (log before data violated)",
                path.display(),
                view.lsn(),
                report.end_of_wal
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;
    use crate::storage::buffer::test_support::test_pool;
    use crate::storage::checksum::set_checksum;
    use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode, DEFAULT_TABLESPACE_OID};
    use crate::storage::page::PageMut;
    use crate::storage::smgr::Smgr;
    use crate::wal::recovery::{startup, RmgrRedo};
    use crate::wal::xlog::{Wal, WalShared};

    fn data_dir() -> (tempfile::TempDir, Arc<dyn FileIo>, Lsn) {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["global", "pg_wal", "base/5"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir.path()));
        let segment = TestSegment::new(crate::shmem::WAL_CONTROL_LEN_BYTES + 16 * 8192);
        let wal = Arc::new(Wal::attach(
            segment.struct_at::<WalShared>(0),
            segment.bytes(crate::shmem::WAL_CONTROL_LEN_BYTES, 16 * 8192),
            Arc::clone(&io),
            false,
        ));
        let pool = test_pool(4, Arc::clone(&io), wal.clone());
        startup(&wal, &io, &pool, &mut RmgrRedo::new(), false).unwrap();
        let end = wal.shared().flushed_upto();
        (dir, io, end)
    }

    fn page_with_lsn(lsn: Lsn, blkno: u32) -> PageBytes {
        let mut bytes: PageBytes = [0; BLCKSZ];
        let mut page = PageMut::new(&mut bytes);
        page.init(0);
        page.set_lsn(lsn);
        set_checksum(&mut bytes, blkno);
        bytes
    }

    #[test]
    fn flags_pages_beyond_the_end_of_wal_and_bad_checksums() {
        let (_dir, io, end) = data_dir();
        let smgr = Smgr::new(Arc::clone(&io));
        let rel = RelFileNode {
            spc_oid: DEFAULT_TABLESPACE_OID,
            db_oid: 5,
            rel_number: 16384,
        };
        smgr.create(rel, ForkNumber::Main).unwrap();
        smgr.extend(
            rel,
            ForkNumber::Main,
            BlockNumber(0),
            &page_with_lsn(end, 0),
        )
        .unwrap();
        smgr.extend(rel, ForkNumber::Main, BlockNumber(1), &[0; BLCKSZ])
            .unwrap();
        let report = verify(&io).unwrap();
        assert_eq!((report.files, report.pages, report.empty_pages), (1, 2, 1));
        assert!(report.violations.is_empty(), "{:?}", report.violations);

        // A page stamped with an LSN the WAL never reached: log before data broken.
        smgr.write(
            rel,
            ForkNumber::Main,
            BlockNumber(1),
            &page_with_lsn(Lsn(end.0 + 8192), 1),
        )
        .unwrap();
        let report = verify(&io).unwrap();
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        assert!(report.violations[0].contains("beyond the durable end of WAL"));

        // A flipped byte: checksum failure.
        let mut bad = page_with_lsn(end, 1);
        bad[100] ^= 1;
        smgr.write(rel, ForkNumber::Main, BlockNumber(1), &bad)
            .unwrap();
        let report = verify(&io).unwrap();
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        assert!(report.violations[0].contains("invalid page in block 1"));
    }
}
