//! The simulated disk's crash rules and the fault injector's rules, each pinned by a
//! seeded test.

use super::*;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::storage::file_io::{FileIo, IoFile, OpenMode};

const SECTOR: usize = 512;

fn disk_with_dir(dir: &str) -> SimulatedDisk {
    let disk = SimulatedDisk::new();
    disk.create_dir_all(Path::new(dir)).unwrap();
    disk
}

fn read_all(io: &dyn FileIo, path: &str) -> Option<Vec<u8>> {
    let file = io.open(Path::new(path), OpenMode::ReadOnly).ok()?;
    let mut buf = vec![0; file.len().unwrap() as usize];
    file.read_exact_at(&mut buf, 0).unwrap();
    Some(buf)
}

#[test]
fn xorshift_is_deterministic_per_seed() {
    let (mut a, mut b, mut c) = (
        XorShift64Star::new(7),
        XorShift64Star::new(7),
        XorShift64Star::new(8),
    );
    let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
    assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
    assert_ne!(xs, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
    assert_ne!(XorShift64Star::new(0).next_u64(), 0);
}

#[test]
fn synced_data_survives_crash_for_every_seed() {
    for seed in 0..500u64 {
        let mut rng = XorShift64Star::new(seed);
        let disk = disk_with_dir("base/5");
        let file = disk
            .open(Path::new("base/5/16384"), OpenMode::CreateNew)
            .unwrap();
        disk.sync_dir(Path::new("base/5")).unwrap();
        let mut synced = vec![0u8; 3 * 8192];
        rng.fill(&mut synced);
        file.write_all_at(&synced[..8192], 0).unwrap();
        file.write_all_at(&synced[8192..], 8192).unwrap();
        file.sync_data().unwrap();
        // Un-synced noise after the sync: an extension, and another new file.
        let mut noise = vec![0u8; 8192];
        rng.fill(&mut noise);
        file.write_all_at(&noise, synced.len() as u64).unwrap();
        let other = disk
            .open(Path::new("base/5/16385"), OpenMode::CreateNew)
            .unwrap();
        other.write_all_at(&noise, 0).unwrap();
        let report = disk.crash(seed);
        let after = read_all(&disk, "base/5/16384")
            .unwrap_or_else(|| panic!("seed {seed}: synced file lost ({report:?})"));
        assert!(
            after.len() >= synced.len() && after[..synced.len()] == synced[..],
            "seed {seed}: synced bytes changed by crash ({report:?})"
        );
        assert!(
            file.len().is_err(),
            "seed {seed}: handle survived the crash"
        );
    }
}

/// Classifies each 512-byte sector of `after` as old or new; panics on a mix.
fn sector_outcomes(seed: u64, old: &[u8], new: &[u8], after: &[u8]) -> (usize, usize) {
    assert_eq!(after.len(), old.len(), "seed {seed}: length changed");
    let (mut old_n, mut new_n) = (0, 0);
    for (i, sector) in after.chunks(SECTOR).enumerate() {
        let range = i * SECTOR..(i + 1) * SECTOR;
        if sector == &new[range.clone()] {
            new_n += 1;
        } else if sector == &old[range] {
            old_n += 1;
        } else {
            panic!("seed {seed}: sector {i} mixes old and new bytes");
        }
    }
    (old_n, new_n)
}

#[test]
fn unsynced_writes_are_dropped_kept_or_torn_at_sector_granularity() {
    let (mut dropped, mut kept, mut torn) = (0, 0, 0);
    for seed in 0..200u64 {
        let disk = disk_with_dir("pg_wal");
        let path = Path::new("pg_wal/000000010000000000000001");
        let file = disk.open(path, OpenMode::CreateNew).unwrap();
        disk.sync_dir(Path::new("pg_wal")).unwrap();
        let old = vec![0xAAu8; 16384];
        let mut new = vec![0u8; 16384];
        XorShift64Star::new(seed ^ 0xFEED).fill(&mut new);
        file.write_all_at(&old, 0).unwrap();
        file.sync_data().unwrap();
        file.write_all_at(&new[..8192], 0).unwrap();
        file.write_all_at(&new[8192..], 8192).unwrap();
        let report = disk.crash(seed);
        assert_eq!(
            report.writes_kept + report.writes_dropped + report.writes_torn,
            2
        );
        let after = read_all(&disk, "pg_wal/000000010000000000000001").unwrap();
        // Each 8 KiB write on its own: all old, all new, or a sector-aligned mix.
        for half in 0..2 {
            let r = half * 8192..(half + 1) * 8192;
            match sector_outcomes(seed, &old[r.clone()], &new[r.clone()], &after[r]) {
                (_, 0) => dropped += 1,
                (0, _) => kept += 1,
                _ => torn += 1,
            }
        }
    }
    assert!(
        dropped > 0 && kept > 0 && torn > 0,
        "{dropped} {kept} {torn}"
    );
}

#[test]
fn crash_is_deterministic_for_a_seed() {
    let run = |seed: u64| {
        let disk = disk_with_dir("d");
        for i in 0..8u64 {
            let f = disk
                .open(Path::new(&format!("d/f{i}")), OpenMode::CreateNew)
                .unwrap();
            f.write_all_at(&[i as u8; 5000], i * 700).unwrap();
            if i % 3 == 0 {
                f.sync_data().unwrap();
            }
        }
        let report = disk.crash(seed);
        let names = disk.list_dir(Path::new("d")).unwrap();
        let contents: Vec<_> = names
            .iter()
            .map(|n| read_all(&disk, &format!("d/{n}")))
            .collect();
        (report, names, contents)
    };
    assert_eq!(run(42), run(42));
}

#[test]
fn extension_is_lost_without_sync_and_holes_read_as_zeros() {
    let mut shorter = false;
    for seed in 0..50u64 {
        let disk = disk_with_dir("d");
        let f = disk.open(Path::new("d/f"), OpenMode::CreateNew).unwrap();
        disk.sync_dir(Path::new("d")).unwrap();
        f.write_all_at(&[1; 4096], 0).unwrap();
        f.sync_data().unwrap();
        f.write_all_at(&[2; 4096], 8192).unwrap();
        assert_eq!(f.len().unwrap(), 12288);
        disk.crash(seed);
        let after = read_all(&disk, "d/f").unwrap();
        assert_eq!(&after[..4096], &[1; 4096][..], "seed {seed}");
        assert!(after[4096..8192.min(after.len())].iter().all(|&b| b == 0));
        shorter |= after.len() == 4096;
    }
    assert!(shorter, "no seed dropped the extension");
}

#[test]
fn new_names_need_sync_dir_to_survive() {
    let (mut lost, mut survived) = (0, 0);
    for seed in 0..100u64 {
        let disk = disk_with_dir("global");
        let synced = disk
            .open(Path::new("global/a"), OpenMode::CreateNew)
            .unwrap();
        synced.write_all_at(b"a", 0).unwrap();
        synced.sync_all().unwrap();
        disk.sync_dir(Path::new("global")).unwrap();
        let unsynced = disk
            .open(Path::new("global/b"), OpenMode::CreateNew)
            .unwrap();
        unsynced.write_all_at(b"b", 0).unwrap();
        unsynced.sync_all().unwrap();
        assert_eq!(disk.unsynced_dir_ops(), 1);
        disk.crash(seed);
        assert_eq!(read_all(&disk, "global/a").unwrap(), b"a", "seed {seed}");
        match read_all(&disk, "global/b") {
            Some(b) => {
                assert_eq!(b, b"b", "seed {seed}");
                survived += 1;
            }
            None => lost += 1,
        }
    }
    assert!(lost > 0 && survived > 0, "lost {lost} survived {survived}");
}

#[test]
fn durable_rename_replaces_atomically() {
    for seed in 0..100u64 {
        let disk = disk_with_dir("global");
        for (name, body) in [("global/pg_control", b"old"), ("global/tmp", b"new")] {
            let f = disk.open(Path::new(name), OpenMode::CreateNew).unwrap();
            f.write_all_at(body, 0).unwrap();
            f.sync_all().unwrap();
        }
        disk.sync_dir(Path::new("global")).unwrap();
        disk.rename(Path::new("global/tmp"), Path::new("global/pg_control"))
            .unwrap();
        let before_sync = seed % 2 == 0;
        if !before_sync {
            disk.sync_dir(Path::new("global")).unwrap();
        }
        disk.crash(seed);
        let control = read_all(&disk, "global/pg_control").unwrap();
        if before_sync {
            assert!(control == b"old" || control == b"new", "seed {seed}");
        } else {
            assert_eq!(control, b"new", "seed {seed}");
            assert!(!disk.exists(Path::new("global/tmp")), "seed {seed}");
        }
    }
}

#[test]
fn namespace_errors_match_posix() {
    let disk = disk_with_dir("base/1");
    let kind = |r: io::Result<Box<dyn IoFile>>| r.err().unwrap().raw_os_error();
    assert_eq!(
        kind(disk.open(Path::new("base/1/x"), OpenMode::ReadWrite)),
        Some(libc::ENOENT)
    );
    assert_eq!(
        kind(disk.open(Path::new("nodir/x"), OpenMode::CreateNew)),
        Some(libc::ENOENT)
    );
    assert_eq!(
        kind(disk.open(Path::new("base"), OpenMode::ReadOnly)),
        Some(libc::EISDIR)
    );
    disk.open(Path::new("base/1/x"), OpenMode::CreateNew)
        .unwrap();
    assert_eq!(
        kind(disk.open(Path::new("base/1/x"), OpenMode::CreateNew)),
        Some(libc::EEXIST)
    );
    let ro = disk
        .open(Path::new("base/1/x"), OpenMode::ReadOnly)
        .unwrap();
    assert_eq!(
        ro.write_all_at(b"x", 0).unwrap_err().raw_os_error(),
        Some(libc::EBADF)
    );
    assert_eq!(disk.list_dir(Path::new("")).unwrap(), vec!["base"]);
    assert_eq!(disk.list_dir(Path::new("base/1")).unwrap(), vec!["x"]);
    disk.remove(Path::new("base/1/x")).unwrap();
    assert!(!disk.exists(Path::new("base/1/x")));
    assert!(disk.exists(Path::new("base/1")));
}

fn errno_of<T>(r: io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn fail_after_injects_enospc_on_writes_and_syncs() {
    let disk: Arc<dyn FileIo> = Arc::new(disk_with_dir("d"));
    let io = FaultInjectingIo::new(disk);
    let f = io.open(Path::new("d/f"), OpenMode::CreateNew).unwrap();
    io.fail_after(2, FaultKind::Enospc);
    f.write_all_at(b"1", 0).unwrap();
    f.sync_data().unwrap();
    assert_eq!(errno_of(f.write_all_at(b"2", 1)), Some(libc::ENOSPC));
    assert_eq!(errno_of(f.sync_data()), Some(libc::ENOSPC));
    assert_eq!(errno_of(f.set_len(0)), Some(libc::ENOSPC));
    assert_eq!(f.len().unwrap(), 1, "failed write must not reach the disk");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 0).unwrap();
    assert_eq!(io.injected(), 3);
    io.clear();
    f.write_all_at(b"2", 1).unwrap();
}

#[test]
fn path_rules_fail_the_nth_matching_op_only() {
    let disk: Arc<dyn FileIo> = Arc::new(disk_with_dir("base/5"));
    disk.create_dir_all(Path::new("pg_wal")).unwrap();
    let io = FaultInjectingIo::new(disk);
    io.add_rule(
        FaultRule::new(FaultKind::Eio, FaultOps::READ)
            .under("base/5")
            .after(1)
            .times(1),
    );
    let data = io.open(Path::new("base/5/1"), OpenMode::CreateNew).unwrap();
    let wal = io
        .open(Path::new("./pg_wal/1"), OpenMode::CreateNew)
        .unwrap();
    let mut b = [0u8; 4];
    for _ in 0..3 {
        wal.read_at(&mut b, 0).unwrap();
    }
    data.read_at(&mut b, 0).unwrap();
    assert_eq!(errno_of(data.read_at(&mut b, 0)), Some(libc::EIO));
    data.read_at(&mut b, 0).unwrap();
    io.add_rule(FaultRule::new(FaultKind::Eio, FaultOps::SYNC | FaultOps::DIR).under("pg_wal"));
    assert_eq!(errno_of(io.sync_dir(Path::new("pg_wal"))), Some(libc::EIO));
    assert_eq!(errno_of(wal.sync_all()), Some(libc::EIO));
    assert_eq!(
        errno_of(io.rename(Path::new("base/5/1"), Path::new("pg_wal/2"))),
        Some(libc::EIO)
    );
    io.sync_dir(Path::new("base/5")).unwrap();
    assert_eq!(io.injected(), 4);
}

#[test]
fn faults_wrap_the_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let os: Arc<dyn FileIo> = Arc::new(super::super::file_io::OsFileIo::new(dir.path()));
    let io = FaultInjectingIo::new(os);
    io.add_rule(FaultRule::new(FaultKind::Enospc, FaultOps::WRITE).after(1));
    let f = io.open(Path::new("f"), OpenMode::CreateNew).unwrap();
    f.write_all_at(&[7; 100], 0).unwrap();
    let err = f.write_all_at(&[8; 100], 100).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    let quill = crate::error::QuillError::io("could not write", &err);
    assert_eq!(quill.sqlstate, crate::error::sqlstate::DISK_FULL);
    assert_eq!(f.len().unwrap(), 100);
}
