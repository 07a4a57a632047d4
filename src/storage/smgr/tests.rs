//! The storage manager on real files and on the simulated disk: segments, extension,
//! truncation, power loss, and I/O errors in PostgreSQL's words.

use super::*;
use crate::storage::fault::{FaultInjectingIo, FaultKind, FaultOps, FaultRule, SimulatedDisk};
use crate::storage::file_io::OsFileIo;
use crate::storage::ids::DEFAULT_TABLESPACE_OID;

const REL: RelFileNode = RelFileNode {
    spc_oid: DEFAULT_TABLESPACE_OID,
    db_oid: 5,
    rel_number: 16384,
};
const MAIN: ForkNumber = ForkNumber::Main;

fn page(tag: u32) -> [u8; BLCKSZ] {
    let mut p = [0u8; BLCKSZ];
    for (i, chunk) in p.chunks_mut(4).enumerate() {
        chunk.copy_from_slice(&(tag.wrapping_mul(7919) ^ i as u32).to_le_bytes());
    }
    p
}

fn os_smgr(blocks_per_segment: u32) -> (tempfile::TempDir, Smgr) {
    let dir = tempfile::tempdir().expect("tempdir");
    let io = Arc::new(OsFileIo::new(dir.path()));
    io.create_dir_all(Path::new("base/5")).unwrap();
    (dir, Smgr::with_blocks_per_segment(io, blocks_per_segment))
}

fn extend_n(smgr: &Smgr, n: u32) {
    for b in 0..n {
        smgr.extend(REL, MAIN, BlockNumber(b), &page(b)).unwrap();
    }
}

fn file_len(smgr: &Smgr, path: &str) -> u64 {
    let f = smgr.file_io().open(Path::new(path), OpenMode::ReadOnly);
    f.unwrap().len().unwrap()
}

#[test]
fn extend_read_write_across_segment_boundaries() {
    let (_dir, smgr) = os_smgr(4);
    smgr.create(REL, MAIN).unwrap();
    smgr.create(REL, MAIN).unwrap();
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 0);
    extend_n(&smgr, 10);
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 10);
    for (path, blocks) in [
        ("base/5/16384", 4),
        ("base/5/16384.1", 4),
        ("base/5/16384.2", 2),
    ] {
        assert_eq!(file_len(&smgr, path), blocks * BLCKSZ as u64, "{path}");
    }
    smgr.write(REL, MAIN, BlockNumber(5), &page(500)).unwrap();
    let mut buf = [0u8; BLCKSZ];
    for b in 0..10 {
        smgr.read(REL, MAIN, BlockNumber(b), &mut buf).unwrap();
        let want = if b == 5 { page(500) } else { page(b) };
        assert!(buf == want, "block {b}");
    }
    // A fresh manager (another process) sees the same relation.
    let other = Smgr::with_blocks_per_segment(Arc::clone(smgr.file_io()), 4);
    assert_eq!(other.nblocks(REL, MAIN).unwrap(), 10);
    smgr.sync(REL, MAIN).unwrap();
}

#[test]
fn reading_past_the_end_names_the_file_and_block() {
    let (_dir, smgr) = os_smgr(RELSEG_SIZE);
    smgr.create(REL, MAIN).unwrap();
    extend_n(&smgr, 3);
    let mut buf = [0u8; BLCKSZ];
    let err = smgr.read(REL, MAIN, BlockNumber(7), &mut buf).unwrap_err();
    assert_eq!(
        err.message(),
        "could not read block 7 in file \"base/5/16384\": read only 0 of 8192 bytes"
    );
    assert_eq!(err.sqlstate(), sqlstate::DATA_CORRUPTED);

    let (_dir, smgr) = os_smgr(4);
    smgr.create(REL, MAIN).unwrap();
    extend_n(&smgr, 5);
    let err = smgr.read(REL, MAIN, BlockNumber(9), &mut buf).unwrap_err();
    assert_eq!(
        err.message(),
        "could not open file \"base/5/16384.2\" (target block 9): No such file or directory"
    );
    let err = smgr.nblocks(REL, ForkNumber::FreeSpaceMap).unwrap_err();
    assert_eq!(
        err.message(),
        "could not open file \"base/5/16384_fsm\": No such file or directory"
    );
    let err = smgr.write(REL, MAIN, BlockNumber(6), &page(6)).unwrap_err();
    assert!(err.message().contains("past the end"), "{}", err.message());
}

#[test]
fn extend_only_appends() {
    let (_dir, smgr) = os_smgr(4);
    smgr.create(REL, MAIN).unwrap();
    extend_n(&smgr, 1);
    let err = smgr
        .extend(REL, MAIN, BlockNumber(3), &page(3))
        .unwrap_err();
    assert_eq!(err.sqlstate(), sqlstate::INTERNAL_ERROR, "{err}");
    let err = smgr
        .extend(REL, MAIN, BlockNumber(4), &page(4))
        .unwrap_err();
    assert_eq!(err.sqlstate(), sqlstate::INTERNAL_ERROR, "{err}");
    let err = smgr
        .extend(REL, MAIN, BlockNumber::INVALID, &page(0))
        .unwrap_err();
    assert_eq!(err.sqlstate(), sqlstate::PROGRAM_LIMIT_EXCEEDED, "{err}");
    let missing = RelFileNode {
        rel_number: 1,
        ..REL
    };
    let err = smgr
        .extend(missing, MAIN, BlockNumber(0), &page(0))
        .unwrap_err();
    assert_eq!(
        err.message(),
        "could not open file \"base/5/1\" (target block 0): No such file or directory"
    );
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 1);
}

#[test]
fn truncate_across_segments_then_extend_again() {
    let (_dir, smgr) = os_smgr(4);
    smgr.create(REL, MAIN).unwrap();
    extend_n(&smgr, 10);
    smgr.truncate(REL, MAIN, 5).unwrap();
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 5);
    assert_eq!(file_len(&smgr, "base/5/16384.1"), BLCKSZ as u64);
    assert_eq!(file_len(&smgr, "base/5/16384.2"), 0);
    let err = smgr.truncate(REL, MAIN, 8).unwrap_err();
    assert_eq!(
        err.message(),
        "could not truncate file \"base/5/16384\" to 8 blocks: it's only 5 blocks now"
    );
    smgr.truncate(REL, MAIN, 4).unwrap();
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 4);
    for b in 4..9 {
        smgr.extend(REL, MAIN, BlockNumber(b), &page(b + 100))
            .unwrap();
    }
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 9);
    let mut buf = [0u8; BLCKSZ];
    smgr.read(REL, MAIN, BlockNumber(8), &mut buf).unwrap();
    assert!(buf == page(108));
    smgr.truncate(REL, MAIN, 0).unwrap();
    assert_eq!(smgr.nblocks(REL, MAIN).unwrap(), 0);
}

#[test]
fn unlink_removes_every_fork_and_segment() {
    let (_dir, smgr) = os_smgr(2);
    smgr.create(REL, MAIN).unwrap();
    smgr.create(REL, ForkNumber::FreeSpaceMap).unwrap();
    extend_n(&smgr, 5);
    assert!(smgr.exists(REL, ForkNumber::FreeSpaceMap));
    assert!(!smgr.exists(REL, ForkNumber::VisibilityMap));
    smgr.unlink(REL).unwrap();
    assert!(!smgr.exists(REL, MAIN));
    assert!(smgr
        .file_io()
        .list_dir(Path::new("base/5"))
        .unwrap()
        .is_empty());
    smgr.unlink(REL).unwrap();
}

#[test]
fn synced_blocks_survive_power_loss_on_the_simulated_disk() {
    for seed in 0..100u64 {
        let disk = Arc::new(SimulatedDisk::new());
        disk.create_dir_all(Path::new("base/5")).unwrap();
        let smgr = Smgr::with_blocks_per_segment(disk.clone(), 4);
        smgr.create(REL, MAIN).unwrap();
        extend_n(&smgr, 6);
        smgr.sync(REL, MAIN).unwrap();
        // After the checkpoint's sync: more extension and an overwrite, unsynced.
        extend_n_from(&smgr, 6, 9);
        smgr.write(REL, MAIN, BlockNumber(1), &page(101)).unwrap();
        disk.crash(seed);
        let mut buf = [0u8; BLCKSZ];
        assert!(
            smgr.read(REL, MAIN, BlockNumber(0), &mut buf).is_err(),
            "seed {seed}: pre-crash handle still usable"
        );
        let smgr = Smgr::with_blocks_per_segment(disk.clone(), 4);
        let n = smgr.nblocks(REL, MAIN).unwrap();
        assert!((6..=9).contains(&n), "seed {seed}: nblocks {n}");
        for b in [0, 2, 3, 4, 5] {
            smgr.read(REL, MAIN, BlockNumber(b), &mut buf).unwrap();
            assert!(buf == page(b), "seed {seed}: synced block {b} damaged");
        }
        smgr.read(REL, MAIN, BlockNumber(1), &mut buf).unwrap();
        let (old, new) = (page(1), page(101));
        for s in (0..BLCKSZ).step_by(512) {
            let sector = &buf[s..s + 512];
            assert!(
                sector == &old[s..s + 512] || sector == &new[s..s + 512],
                "seed {seed}: block 1 sector at {s} is neither old nor new"
            );
        }
    }
}

fn extend_n_from(smgr: &Smgr, from: u32, to: u32) {
    for b in from..to {
        smgr.extend(REL, MAIN, BlockNumber(b), &page(b)).unwrap();
    }
}

#[test]
fn disk_full_and_eio_become_postgres_errors() {
    let disk: Arc<dyn FileIo> = Arc::new(SimulatedDisk::new());
    disk.create_dir_all(Path::new("base/5")).unwrap();
    let faulty = Arc::new(FaultInjectingIo::new(disk));
    let smgr = Smgr::with_blocks_per_segment(faulty.clone(), 4);
    smgr.create(REL, MAIN).unwrap();
    extend_n(&smgr, 1);

    faulty.fail_after(0, FaultKind::Enospc);
    let err = QuillError::from(
        smgr.extend(REL, MAIN, BlockNumber(1), &page(1))
            .unwrap_err(),
    );
    assert_eq!(err.sqlstate, sqlstate::DISK_FULL);
    assert_eq!(
        err.message,
        "could not extend file \"base/5/16384\": No space left on device"
    );
    assert_eq!(err.hint.as_deref(), Some("Check free disk space."));
    faulty.clear();

    faulty.add_rule(FaultRule::new(FaultKind::Eio, FaultOps::SYNC).times(1));
    let err = QuillError::from(smgr.sync(REL, MAIN).unwrap_err());
    assert_eq!(err.sqlstate, sqlstate::IO_ERROR);
    assert_eq!(
        err.message,
        "could not fsync file \"base/5/16384\": Input/output error"
    );
    smgr.sync(REL, MAIN).unwrap();

    faulty.add_rule(FaultRule::new(FaultKind::Eio, FaultOps::READ).under("base/5"));
    let mut buf = [0u8; BLCKSZ];
    let err = smgr.read(REL, MAIN, BlockNumber(0), &mut buf).unwrap_err();
    assert_eq!(err.sqlstate(), sqlstate::IO_ERROR);
    assert_eq!(
        err.to_string(),
        "could not read block 0 in file \"base/5/16384\": Input/output error"
    );
    assert_eq!(
        err.io_error().and_then(io::Error::raw_os_error),
        Some(libc::EIO)
    );
}
