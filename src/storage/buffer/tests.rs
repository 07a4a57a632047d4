//! Single-process tests of the buffer manager over a `SimulatedDisk` (seeded, in memory).
//! The cross-process test is in `tests_fork.rs`.

use crate::wal::Lsn;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::desc::{BM_DIRTY, BM_IO_ERROR, BM_VALID};
use super::test_support::{test_pool, Event, EventLog, ObservedIo, TestFlusher};
use super::*;
use crate::error::sqlstate;
use crate::storage::checksum::verify_checksum;
use crate::storage::fault::{SimulatedDisk, XorShift64Star};
use crate::storage::file_io::{FileIo, OpenMode, OsFileIo};
use crate::storage::ids::DEFAULT_TABLESPACE_OID;
use crate::storage::page::{Page, PageBytes, BLCKSZ};
use crate::storage::smgr::Smgr;

const MAIN: ForkNumber = ForkNumber::Main;
/// Where the test pages keep their counter (inside the free space, which verification
/// ignores and the checksum covers).
const VALUE_AT: usize = 4096;

fn rel(n: u32) -> RelFileNode {
    RelFileNode {
        spc_oid: DEFAULT_TABLESPACE_OID,
        db_oid: 5,
        rel_number: n,
    }
}

const REL: RelFileNode = RelFileNode {
    spc_oid: DEFAULT_TABLESPACE_OID,
    db_oid: 5,
    rel_number: 16384,
};

struct Fixture {
    disk: SimulatedDisk,
    log: EventLog,
    flusher: Arc<TestFlusher>,
    io: Arc<ObservedIo>,
    pool: BufferPool,
}

fn fixture(nbuffers: usize) -> Fixture {
    let disk = SimulatedDisk::new();
    disk.create_dir_all(Path::new("base/5")).unwrap();
    let log: EventLog = Arc::new(Mutex::new(Vec::new()));
    let io = Arc::new(ObservedIo::new(Arc::new(disk.clone()), Arc::clone(&log)));
    let flusher = Arc::new(TestFlusher::with_log(Arc::clone(&log)));
    let pool = test_pool(nbuffers, io.clone(), flusher.clone());
    pool.smgr().create(REL, MAIN).unwrap();
    Fixture {
        disk,
        log,
        flusher,
        io,
        pool,
    }
}

/// Formats `page` as an empty heap page holding `value`, last changed by WAL at `lsn`.
fn init_page(page: &mut PageBytes, value: u64, lsn: Lsn) {
    let mut p = Page::new(&mut *page);
    p.init(0);
    p.set_lsn(lsn);
    set_value(page, value);
}

fn value(page: &PageBytes) -> u64 {
    u64::from_le_bytes(page[VALUE_AT..VALUE_AT + 8].try_into().unwrap())
}

fn set_value(page: &mut PageBytes, value: u64) {
    page[VALUE_AT..VALUE_AT + 8].copy_from_slice(&value.to_le_bytes());
}

/// Extends `rel` to `n` blocks, block `b` holding `start(b)`, each dirty with LSN b + 1.
fn populate(pool: &BufferPool, rel: RelFileNode, n: u32, start: impl Fn(u32) -> u64) {
    for b in 0..n {
        let buf = pool.extend(rel, MAIN).unwrap();
        assert_eq!(buf.tag().block, BlockNumber(b));
        let mut page = buf.lock_exclusive();
        init_page(&mut page, start(b), Lsn(u64::from(b) + 1));
        page.mark_dirty();
    }
}

fn read_value(pool: &BufferPool, rel: RelFileNode, block: u32) -> u64 {
    let buf = pool.read_buffer(rel, MAIN, BlockNumber(block)).unwrap();
    let page = buf.lock_shared();
    value(&page)
}

fn assert_no_pins(pool: &BufferPool) {
    assert!(
        pool.pin_counts().iter().all(|&c| c == 0),
        "pins left behind: {:?}",
        pool.pin_counts()
    );
}

fn page_writes(log: &EventLog) -> Vec<(String, u64, Lsn)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Write {
                path,
                offset,
                page_lsn,
            } => Some((path.display().to_string(), *offset, *page_lsn)),
            Event::Flush(_) => None,
        })
        .collect()
}

#[test]
fn tiny_pool_hits_misses_and_evicts_keeping_every_page_intact() {
    let seed = 0x5EED_0001;
    let f = fixture(8);
    let mut model: Vec<u64> = (0..100u64).map(|b| b * 1000 + 7).collect();
    populate(&f.pool, REL, 100, |b| model[b as usize]);

    // A hit: the same buffer twice in a row, no read.
    let first = f.pool.read_buffer(REL, MAIN, BlockNumber(99)).unwrap();
    let id = first.buffer_id();
    drop(first);
    let reads = f.io.reads.load(std::sync::atomic::Ordering::SeqCst);
    let again = f.pool.read_buffer(REL, MAIN, BlockNumber(99)).unwrap();
    assert_eq!(again.buffer_id(), id);
    assert_eq!(f.io.reads.load(std::sync::atomic::Ordering::SeqCst), reads);
    drop(again);

    let mut rng = XorShift64Star::new(seed);
    for step in 0..2000 {
        let block = rng.below(100) as u32;
        let buf = f.pool.read_buffer(REL, MAIN, BlockNumber(block)).unwrap();
        if rng.chance(1, 3) {
            let mut page = buf.lock_exclusive();
            assert_eq!(
                value(&page),
                model[block as usize],
                "seed {seed:#x} step {step}"
            );
            model[block as usize] += 1;
            set_value(&mut page, model[block as usize]);
            page.mark_dirty();
        } else {
            let page = buf.lock_shared();
            assert_eq!(
                value(&page),
                model[block as usize],
                "seed {seed:#x} step {step}"
            );
        }
        let tag = buf.tag();
        drop(buf);
        assert_eq!(f.pool.buffers_holding(tag).len(), 1, "seed {seed:#x}");
    }
    assert_no_pins(&f.pool);
    assert!(
        page_writes(&f.log).len() > 500,
        "evictions wrote dirty pages"
    );

    // After a checkpoint-style flush the files hold exactly the model, with checksums.
    f.pool.flush_all_dirty(|_| {}).unwrap();
    let smgr = Smgr::new(Arc::new(f.disk.clone()));
    for block in 0..100u32 {
        let mut page = [0u8; BLCKSZ];
        smgr.read(REL, MAIN, BlockNumber(block), &mut page).unwrap();
        assert!(verify_checksum(&page, block), "block {block}");
        assert_eq!(value(&page), model[block as usize], "block {block}");
    }
}

#[test]
fn pinned_buffers_are_never_evicted() {
    let f = fixture(8);
    populate(&f.pool, REL, 9, u64::from);
    f.pool.flush_all_dirty(|_| {}).unwrap();
    let pins: Vec<PinnedBuffer> = (0..8)
        .map(|b| f.pool.read_buffer(REL, MAIN, BlockNumber(b)).unwrap())
        .collect();
    let err = f.pool.read_buffer(REL, MAIN, BlockNumber(8)).unwrap_err();
    assert_eq!(err.sqlstate, INSUFFICIENT_RESOURCES);
    assert_eq!(err.message, "no unpinned buffers available");
    for (b, buf) in pins.iter().enumerate() {
        assert_eq!(buf.tag().block, BlockNumber(b as u32));
        assert_eq!(value(&buf.lock_shared()), b as u64);
    }
    // Free one: block 8 takes exactly that buffer.
    let mut pins = pins;
    let freed = pins.remove(3).buffer_id();
    let buf = f.pool.read_buffer(REL, MAIN, BlockNumber(8)).unwrap();
    assert_eq!(buf.buffer_id(), freed);
    assert_eq!(value(&buf.lock_shared()), 8);
    drop(buf);
    drop(pins);
    assert_no_pins(&f.pool);
}

#[test]
fn every_page_write_is_preceded_by_a_wal_flush_covering_its_lsn() {
    let f = fixture(8);
    populate(&f.pool, REL, 40, u64::from);
    let mut rng = XorShift64Star::new(0x5EED_0002);
    for lsn in 100..600u64 {
        let buf = f
            .pool
            .read_buffer(REL, MAIN, BlockNumber(rng.below(40) as u32))
            .unwrap();
        let mut page = buf.lock_exclusive();
        Page::new(&mut *page).set_lsn(Lsn(lsn));
        page.mark_dirty();
    }
    f.pool.flush_all_dirty(|_| {}).unwrap();

    let mut flushed = Lsn(0);
    let mut checked = 0;
    for event in f.log.lock().unwrap().iter() {
        match event {
            Event::Flush(upto) => flushed = flushed.max(*upto),
            Event::Write { page_lsn, path, .. } => {
                assert!(
                    *page_lsn <= flushed,
                    "{} written with LSN {page_lsn} before WAL was flushed past {flushed}",
                    path.display()
                );
                checked += u32::from(page_lsn.is_valid());
            }
        }
    }
    assert!(checked > 400, "only {checked} WAL-logged page writes seen");
}

#[test]
fn a_failed_wal_flush_prevents_the_write_and_propagates() {
    let f = fixture(8);
    populate(&f.pool, REL, 8, u64::from);
    f.pool.flush_all_dirty(|_| {}).unwrap();
    let buf = f.pool.read_buffer(REL, MAIN, BlockNumber(2)).unwrap();
    {
        let mut page = buf.lock_exclusive();
        Page::new(&mut *page).set_lsn(Lsn(5000));
        set_value(&mut page, 4242);
        page.mark_dirty();
    }
    let id = buf.buffer_id();
    drop(buf);
    let writes_before = page_writes(&f.log).len();

    f.flusher.set_failing(true);
    let err = f.pool.write_dirty_buffer(id).unwrap_err();
    assert_eq!(err.sqlstate, sqlstate::IO_ERROR);
    assert!(err.message.contains("could not fsync"), "{}", err.message);
    assert_eq!(
        page_writes(&f.log).len(),
        writes_before,
        "page written anyway"
    );
    let flags = f.pool.flags_of(id);
    assert_eq!(flags & (BM_DIRTY | BM_VALID), BM_DIRTY | BM_VALID);
    assert_ne!(flags & BM_IO_ERROR, 0);

    // Evicting it fails the same way, for the backend that needed the buffer.
    let pins: Vec<PinnedBuffer> = [0, 1, 3, 4, 5, 6, 7]
        .iter()
        .map(|&b| f.pool.read_buffer(REL, MAIN, BlockNumber(b)).unwrap())
        .collect();
    f.pool
        .smgr()
        .extend(REL, MAIN, BlockNumber(8), &[0; BLCKSZ])
        .unwrap();
    let writes_before = page_writes(&f.log).len();
    let err = f.pool.read_buffer(REL, MAIN, BlockNumber(8)).unwrap_err();
    assert_eq!(err.sqlstate, sqlstate::IO_ERROR);
    drop(pins);
    assert_no_pins(&f.pool);
    assert_eq!(page_writes(&f.log).len(), writes_before);

    f.flusher.set_failing(false);
    assert!(f.pool.write_dirty_buffer(id).unwrap());
    assert_eq!(f.pool.flags_of(id) & (BM_DIRTY | BM_IO_ERROR), 0);
    let (path, offset, lsn) = page_writes(&f.log).pop().unwrap();
    assert_eq!(
        (path.as_str(), offset, lsn),
        ("base/5/16384", 2 * 8192, Lsn(5000))
    );
}

#[test]
#[should_panic(expected = "log before data violated")]
fn a_flusher_that_does_not_flush_trips_the_release_assertion() {
    let f = fixture(8);
    let buf = f.pool.extend(REL, MAIN).unwrap();
    {
        let mut page = buf.lock_exclusive();
        init_page(&mut page, 1, Lsn(777));
        page.mark_dirty();
    }
    f.flusher.set_lying(true);
    let id = buf.buffer_id();
    drop(buf);
    let _ = f.pool.write_dirty_buffer(id);
}

#[test]
fn a_corrupt_page_is_an_error_naming_block_and_relation() {
    let f = fixture(8);
    populate(&f.pool, REL, 10, |b| u64::from(b) + 100);
    f.pool.flush_all_dirty(|_| {}).unwrap();
    f.pool.drop_relation_buffers(REL); // clean now: nothing is lost, next reads hit disk

    let file = f
        .disk
        .open(Path::new("base/5/16384"), OpenMode::ReadWrite)
        .unwrap();
    let at = 7 * BLCKSZ as u64 + 5000;
    let mut original = [0u8; 1];
    file.read_exact_at(&mut original, at).unwrap();
    file.write_all_at(&[original[0] ^ 0x20], at).unwrap();

    for _ in 0..2 {
        let err = f.pool.read_buffer(REL, MAIN, BlockNumber(7)).unwrap_err();
        assert_eq!(err.sqlstate, sqlstate::DATA_CORRUPTED);
        assert_eq!(
            err.message,
            "invalid page in block 7 of relation base/5/16384"
        );
        assert!(
            err.detail.as_deref().unwrap_or("").contains("checksum"),
            "{err:?}"
        );
        let tag = BufferTag::new(REL, MAIN, BlockNumber(7));
        let ids = f.pool.buffers_holding(tag);
        assert_eq!(ids.len(), 1);
        let flags = f.pool.flags_of(ids[0]);
        assert_eq!(flags & BM_VALID, 0, "a corrupt page must not be left valid");
        assert_ne!(flags & BM_IO_ERROR, 0);
        assert_no_pins(&f.pool);
    }
    // Neighbours are fine; once the disk is repaired the block reads again.
    assert_eq!(read_value(&f.pool, REL, 6), 106);
    file.write_all_at(&original, at).unwrap();
    assert_eq!(read_value(&f.pool, REL, 7), 107);
}

#[test]
fn reading_past_the_end_is_an_error_and_leaves_nothing_pinned() {
    // Over the real file system: a short read is smgr's error, never a page of zeros.
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir.path()));
    io.create_dir_all(Path::new("base/5")).unwrap();
    let pool = test_pool(8, io, Arc::new(TestFlusher::new()));
    pool.smgr().create(REL, MAIN).unwrap();
    populate(&pool, REL, 3, u64::from);
    let err = pool.read_buffer(REL, MAIN, BlockNumber(5)).unwrap_err();
    assert_eq!(err.sqlstate, sqlstate::DATA_CORRUPTED);
    assert_eq!(
        err.message,
        "could not read block 5 in file \"base/5/16384\": read only 0 of 8192 bytes"
    );
    assert_no_pins(&pool);
    assert_eq!(read_value(&pool, REL, 2), 2);
}

#[test]
fn extend_appends_zeroed_pinned_pages_and_records_the_file_for_sync() {
    let f = fixture(8);
    assert_eq!(f.pool.take_pending_syncs(), PendingSyncs::default());
    for b in 0..3u32 {
        let buf = f.pool.extend(REL, MAIN).unwrap();
        assert_eq!(buf.tag(), BufferTag::new(REL, MAIN, BlockNumber(b)));
        assert!(buf.lock_shared().iter().all(|&x| x == 0));
        assert_eq!(f.pool.pin_counts()[buf.buffer_id().index()], 1);
    }
    assert_no_pins(&f.pool);
    assert_eq!(f.pool.smgr().nblocks(REL, MAIN).unwrap(), 3);
    let syncs = f.pool.take_pending_syncs();
    assert_eq!(syncs.files, vec![(REL, MAIN)]);
    assert!(!syncs.sync_everything);
    assert_eq!(f.pool.take_pending_syncs(), PendingSyncs::default());
}

#[test]
fn drop_relation_buffers_discards_dirty_pages_without_writing_them() {
    let f = fixture(8);
    let other = rel(20000);
    f.pool.smgr().create(other, MAIN).unwrap();
    populate(&f.pool, REL, 3, |_| 1);
    populate(&f.pool, other, 3, |_| 2);
    f.pool.take_pending_syncs();
    let writes_before = page_writes(&f.log).len();

    f.pool.drop_relation_buffers(REL);
    for b in 0..3 {
        assert!(f
            .pool
            .buffers_holding(BufferTag::new(REL, MAIN, BlockNumber(b)))
            .is_empty());
    }
    assert_eq!(
        f.pool.flush_all_dirty(|_| {}).unwrap(),
        3,
        "only the other relation"
    );
    let writes = page_writes(&f.log);
    assert!(writes[writes_before..]
        .iter()
        .all(|(path, _, _)| path == "base/5/20000"));
    assert_eq!(f.pool.take_pending_syncs().files, vec![(other, MAIN)]);
    // The dropped pages were never written: the file still has the extension's zeros.
    let buf = f.pool.read_buffer(REL, MAIN, BlockNumber(1)).unwrap();
    assert!(buf.lock_shared().iter().all(|&x| x == 0));
}

#[test]
fn pending_syncs_overflow_into_sync_everything() {
    let f = fixture(8);
    for n in 0..=PENDING_SYNC_CAPACITY as u32 {
        let r = rel(30000 + n);
        f.pool.smgr().create(r, MAIN).unwrap();
        drop(f.pool.extend(r, MAIN).unwrap());
    }
    let syncs = f.pool.take_pending_syncs();
    assert!(syncs.sync_everything);
    assert_eq!(syncs.files.len(), PENDING_SYNC_CAPACITY);
    assert_eq!(f.pool.take_pending_syncs(), PendingSyncs::default());
}

#[test]
fn flush_all_dirty_writes_each_dirty_buffer_once_and_reports_progress() {
    let f = fixture(8);
    populate(&f.pool, REL, 5, u64::from);
    let mut seen = Vec::new();
    assert_eq!(f.pool.flush_all_dirty(|n| seen.push(n)).unwrap(), 5);
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        f.pool.flush_all_dirty(|_| panic!("nothing dirty")).unwrap(),
        0
    );
    assert_eq!(f.pool.take_pending_syncs().files, vec![(REL, MAIN)]);
}

/// Four threads miss on the same block at once while reads are slow: exactly one reads
/// it, the others wait for that I/O, and all get the same buffer.
#[test]
fn concurrent_misses_on_one_block_read_it_once_into_one_buffer() {
    let disk = SimulatedDisk::new();
    disk.create_dir_all(Path::new("base/5")).unwrap();
    let log: EventLog = Arc::new(Mutex::new(Vec::new()));
    let mut io = ObservedIo::new(Arc::new(disk.clone()), log);
    io.read_delay = Duration::from_millis(30);
    let reads = Arc::clone(&io.reads);
    let pool = test_pool(8, Arc::new(io), Arc::new(TestFlusher::new()));
    pool.smgr().create(REL, MAIN).unwrap();
    populate(&pool, REL, 2, |b| u64::from(b) + 50);
    pool.flush_all_dirty(|_| {}).unwrap();
    pool.drop_relation_buffers(REL);

    let before = reads.load(std::sync::atomic::Ordering::SeqCst);
    let barrier = std::sync::Barrier::new(4);
    let ids: Vec<BufferId> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let buf = pool.read_buffer(REL, MAIN, BlockNumber(1)).unwrap();
                    assert_eq!(value(&buf.lock_shared()), 51);
                    buf.buffer_id()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst) - before, 1);
    assert_no_pins(&pool);
}

#[test]
fn read_buffer_zeroed_extends_through_the_block_without_reading() {
    let f = fixture(8);
    populate(&f.pool, REL, 2, u64::from);
    let reads = f.io.reads.load(std::sync::atomic::Ordering::SeqCst);
    let buf = f
        .pool
        .read_buffer_zeroed(REL, MAIN, BlockNumber(5))
        .unwrap();
    assert_eq!(buf.tag(), BufferTag::new(REL, MAIN, BlockNumber(5)));
    assert_eq!(
        f.pool.smgr().nblocks(REL, MAIN).unwrap(),
        6,
        "blocks 2..=5 appended"
    );
    {
        let mut page = buf.lock_exclusive();
        assert!(page.iter().all(|&x| x == 0));
        init_page(&mut page, 555, Lsn(9));
        page.mark_dirty();
    }
    drop(buf);
    assert_eq!(
        f.io.reads.load(std::sync::atomic::Ordering::SeqCst),
        reads,
        "nothing read"
    );
    assert_eq!(f.pool.take_pending_syncs().files, vec![(REL, MAIN)]);
    // The block is written where the file now has room for it, after the WAL flush.
    f.pool.flush_all_dirty(|_| {}).unwrap();
    assert!(f.log.lock().unwrap().contains(&Event::Flush(Lsn(9))));
    f.pool.drop_relation_buffers(REL);
    assert_eq!(read_value(&f.pool, REL, 5), 555);
    assert_eq!(read_value(&f.pool, REL, 1), 1);
    // The blocks in between are new (all-zero) pages, which verify.
    let buf = f.pool.read_buffer(REL, MAIN, BlockNumber(3)).unwrap();
    assert!(buf.lock_shared().iter().all(|&x| x == 0));
    drop(buf);
    assert_no_pins(&f.pool);
}

#[test]
fn read_buffer_zeroed_maps_a_corrupt_page_without_verifying_it() {
    let f = fixture(8);
    populate(&f.pool, REL, 4, |b| u64::from(b) + 10);
    f.pool.flush_all_dirty(|_| {}).unwrap();
    f.pool.drop_relation_buffers(REL);
    let file = f
        .disk
        .open(Path::new("base/5/16384"), OpenMode::ReadWrite)
        .unwrap();
    file.write_all_at(&[0xFF; 100], 2 * BLCKSZ as u64 + 6000)
        .unwrap();
    // A failed read leaves the buffer mapped but not valid; zeroing takes it over.
    assert!(f.pool.read_buffer(REL, MAIN, BlockNumber(2)).is_err());
    let buf = f
        .pool
        .read_buffer_zeroed(REL, MAIN, BlockNumber(2))
        .unwrap();
    assert_ne!(f.pool.flags_of(buf.buffer_id()) & BM_VALID, 0);
    assert_eq!(f.pool.buffers_holding(buf.tag()).len(), 1);
    {
        let mut page = buf.lock_exclusive();
        assert!(page.iter().all(|&x| x == 0), "zeroed, not read");
        init_page(&mut page, 77, Lsn(20));
        page.mark_dirty();
    }
    drop(buf);
    assert_eq!(f.pool.smgr().nblocks(REL, MAIN).unwrap(), 4, "no extension");
    f.pool.flush_all_dirty(|_| {}).unwrap();
    f.pool.drop_relation_buffers(REL);
    assert_eq!(read_value(&f.pool, REL, 2), 77, "repaired on disk");
    assert_no_pins(&f.pool);
}

#[test]
fn read_buffer_zeroed_returns_a_valid_buffer_as_it_is() {
    let f = fixture(8);
    populate(&f.pool, REL, 3, |b| u64::from(b) + 40);
    let buf = f
        .pool
        .read_buffer_zeroed(REL, MAIN, BlockNumber(1))
        .unwrap();
    assert_eq!(value(&buf.lock_shared()), 41);
    assert_ne!(
        f.pool.flags_of(buf.buffer_id()) & BM_DIRTY,
        0,
        "still dirty"
    );
    drop(buf);
    assert_eq!(f.pool.smgr().nblocks(REL, MAIN).unwrap(), 3);
    assert_no_pins(&f.pool);
}

#[test]
fn with_flusher_shares_the_buffers_but_flushes_through_its_own_wal() {
    let f = fixture(8);
    populate(&f.pool, REL, 2, u64::from);
    let other = Arc::new(TestFlusher::new());
    let handle = f.pool.with_flusher(other.clone());
    assert_eq!(read_value(&handle, REL, 1), 1, "same buffers");
    assert_eq!(handle.flush_all_dirty(|_| {}).unwrap(), 2);
    assert_eq!(other.flushed_lsn(), Lsn(2));
    assert_eq!(
        f.flusher.flushed_lsn(),
        Lsn::INVALID,
        "the first WAL untouched"
    );
    assert_eq!(f.pool.flush_all_dirty(|_| {}).unwrap(), 0, "written once");
}
