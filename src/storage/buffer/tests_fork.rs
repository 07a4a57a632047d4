//! The buffer pool across forked processes, as backends use it: children inherit one
//! `MAP_SHARED` segment and a real file system (a tempdir under `OsFileIo`), and hammer a
//! tiny pool so that eviction, write-back, concurrent misses and I/O waits happen all the
//! time.

use crate::wal::Lsn;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::test_support::test_pool;
use super::*;
use crate::shmem::testing::{fork_children, wait_children};
use crate::shmem::{ShmemSafe, TestSegment};
use crate::storage::checksum::verify_checksum;
use crate::storage::fault::XorShift64Star;
use crate::storage::file_io::{FileIo, OsFileIo};
use crate::storage::ids::DEFAULT_TABLESPACE_OID;
use crate::storage::page::{Page, PageBytes, BLCKSZ};
use crate::storage::smgr::Smgr;

const MAIN: ForkNumber = ForkNumber::Main;
const REL: RelFileNode = RelFileNode {
    spc_oid: DEFAULT_TABLESPACE_OID,
    db_oid: 5,
    rel_number: 16384,
};
const COUNTER_AT: usize = 4096;

/// A stand-in WAL in shared memory: `inserted` hands out record LSNs, `flushed` is raised
/// by `flush`. Every process's page writes therefore check rule 1 against one position.
#[repr(C)]
struct SharedWal {
    inserted: AtomicU64,
    flushed: AtomicU64,
    flush_calls: AtomicU64,
    /// Children that have started; they begin work together, when all are up.
    started: AtomicU64,
}

// SAFETY: atomics only: valid when zero, pointer-free, Sync.
unsafe impl ShmemSafe for SharedWal {}

struct SharedWalFlusher(&'static SharedWal);

impl WalFlusher for SharedWalFlusher {
    fn flush(&self, upto: Lsn) -> crate::error::QuillResult<()> {
        assert!(upto.0 <= self.0.inserted.load(Ordering::SeqCst) + 1000);
        self.0.flush_calls.fetch_add(1, Ordering::SeqCst);
        self.0.flushed.fetch_max(upto.0, Ordering::SeqCst);
        Ok(())
    }

    fn flushed_lsn(&self) -> Lsn {
        Lsn(self.0.flushed.load(Ordering::SeqCst))
    }
}

fn counter(page: &PageBytes) -> u64 {
    u64::from_le_bytes(page[COUNTER_AT..COUNTER_AT + 8].try_into().unwrap())
}

#[test]
fn forked_backends_increment_counters_without_lost_updates_or_duplicate_buffers() {
    const CHILDREN: usize = 4;
    const OPS_PER_CHILD: u64 = 2500;
    const BLOCKS: u32 = 20;
    const NBUFFERS: usize = 8;
    let seed: u64 = 0x5EED_F0C5;

    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir.path()));
    io.create_dir_all(Path::new("base/5")).unwrap();
    let wal: &'static SharedWal = TestSegment::new(4096).struct_at(0);
    let pool = test_pool(NBUFFERS, Arc::clone(&io), Arc::new(SharedWalFlusher(wal)));
    pool.smgr().create(REL, MAIN).unwrap();
    for _ in 0..BLOCKS {
        let buf = pool.extend(REL, MAIN).unwrap();
        let mut page = buf.lock_exclusive();
        Page::new(&mut *page).init(0);
        page.mark_dirty();
    }
    pool.flush_all_dirty(|_| {}).unwrap();

    let pids = fork_children(CHILDREN, |child| {
        let mut rng = XorShift64Star::new(seed ^ child as u64);
        wal.started.fetch_add(1, Ordering::SeqCst);
        while wal.started.load(Ordering::SeqCst) < CHILDREN as u64 {
            std::hint::spin_loop();
        }
        for _ in 0..OPS_PER_CHILD {
            let block = BlockNumber(rng.below(u64::from(BLOCKS)) as u32);
            let buf = pool.read_buffer(REL, MAIN, block).expect("read_buffer");
            assert_eq!(buf.tag().block, block);
            {
                let mut page = buf.lock_exclusive();
                let next = counter(&page) + 1;
                page[COUNTER_AT..COUNTER_AT + 8].copy_from_slice(&next.to_le_bytes());
                // A WAL-logged change: the record's LSN goes into pd_lsn.
                let lsn = wal.inserted.fetch_add(8, Ordering::SeqCst) + 8;
                Page::new(&mut *page).set_lsn(Lsn(lsn));
                page.mark_dirty();
            }
            drop(buf);
            if rng.chance(1, 40) {
                let id = BufferId(rng.below(NBUFFERS as u64) as u32);
                pool.write_dirty_buffer(id).expect("write_dirty_buffer");
            }
            if rng.chance(1, 400) {
                pool.flush_all_dirty(|_| {}).expect("flush_all_dirty");
            }
        }
    });
    wait_children(pids);

    for b in 0..BLOCKS {
        let tag = BufferTag::new(REL, MAIN, BlockNumber(b));
        assert!(
            pool.buffers_holding(tag).len() <= 1,
            "seed {seed:#x}: {tag}"
        );
    }
    assert!(pool.pin_counts().iter().all(|&c| c == 0), "seed {seed:#x}");
    // Through the pool (hits and misses alike) ...
    let mut in_pool = 0;
    for b in 0..BLOCKS {
        let buf = pool.read_buffer(REL, MAIN, BlockNumber(b)).unwrap();
        in_pool += counter(&buf.lock_shared());
    }
    assert_eq!(
        in_pool,
        CHILDREN as u64 * OPS_PER_CHILD,
        "seed {seed:#x}: lost updates"
    );
    pool.flush_all_dirty(|_| {}).unwrap();

    // ... and in the files: every increment, every page with a valid checksum and an
    // LSN the WAL had flushed.
    let smgr = Smgr::new(io);
    let mut total = 0;
    for b in 0..BLOCKS {
        let mut page = [0u8; BLCKSZ];
        smgr.read(REL, MAIN, BlockNumber(b), &mut page).unwrap();
        assert!(verify_checksum(&page, b), "seed {seed:#x}: block {b}");
        assert!(Page::new(&page).lsn().0 <= wal.flushed.load(Ordering::SeqCst));
        total += counter(&page);
    }
    assert_eq!(
        total,
        CHILDREN as u64 * OPS_PER_CHILD,
        "seed {seed:#x}: lost or duplicated updates"
    );
    assert!(
        wal.flush_calls.load(Ordering::SeqCst) > 100,
        "write-back happened"
    );
}
