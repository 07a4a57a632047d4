//! Crash and multi-process tests of the transaction subsystem: power loss on the
//! simulated disk with real WAL and recovery, and xid assignment plus commit from
//! forked processes sharing one segment.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::clog::{page_of, Clog, TransactionStatus, CLOG_XACTS_PER_PAGE};
use super::tests::{new_disk, new_txn_shared};
use super::xact::{abort, abort_in_progress_after_recovery, commit, end_transaction};
use super::xid::{assign_xid, FIRST_NORMAL_TRANSACTION_ID};
use super::*;
use crate::access::heap::tuple::TransactionId;
use crate::shmem::procarray::ProcSlot;
use crate::shmem::testing::{fork_children, wait_children};
use crate::shmem::TestSegment;
use crate::storage::buffer::test_support::test_pool;
use crate::storage::buffer::BufferPool;
use crate::storage::fault::XorShift64Star;
use crate::storage::file_io::{FileIo, OsFileIo};
use crate::wal::recovery::{startup, RedoHandler, RmgrRedo};
use crate::wal::segment::{TimeLineId, WAL_SEGMENT_SIZE};
use crate::wal::xlog::{Wal, WalShared, WalStart, WAL_DIR};

const RING_PAGES: usize = 16;
const WAL_REGION: usize = crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * 8192;

fn new_wal(io: &Arc<dyn FileIo>, fsync: bool) -> Wal {
    let segment = Box::leak(Box::new(TestSegment::new(WAL_REGION)));
    Wal::attach(
        segment.struct_at::<WalShared>(0),
        segment.bytes(crate::shmem::WAL_CONTROL_LEN_BYTES, RING_PAGES * 8192),
        Arc::clone(io),
        fsync,
    )
}

/// The startup process's redo for these tests: clog and xact records, xlog ignored.
struct TxnRedo<'a> {
    clog: &'a Clog,
    next_xid: &'a AtomicU32,
}

impl RedoHandler for TxnRedo<'_> {
    fn redo(
        &mut self,
        _pool: &BufferPool,
        _lsn: Lsn,
        end_lsn: Lsn,
        record: &DecodedRecord<'_>,
    ) -> QuillResult<()> {
        redo_record(self.clog, self.next_xid, end_lsn, record).map(|_| ())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// `commit` with synchronous_commit = on returned: must survive.
    Acknowledged,
    /// Asynchronous commit with this end LSN: survives if WAL was flushed past it.
    Async(Lsn),
    Aborted,
    /// Still running at the crash.
    Running,
}

/// Power loss after a seeded mix of synchronous, asynchronous, aborted and unfinished
/// transactions over many clog pages (with evictions and checkpoints that write and
/// fsync clog): recovery from WAL alone restores every acknowledged commit, even when
/// the clog pages were lost or torn, and every unfinished xid ends up aborted.
/// Seeds: QUILL_TXN_POWER_LOSS_ROUNDS (default 12; each round creates a 16 MiB WAL
/// segment on the simulated disk, so use more in long runs).
#[test]
fn power_loss_keeps_every_acknowledged_commit_in_clog_after_redo() {
    let rounds: u64 = std::env::var("QUILL_TXN_POWER_LOSS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut rounds_with_clog_writes = 0;
    for seed in 0..rounds {
        eprintln!("seed {seed}");
        let mut rng = XorShift64Star::new(seed.wrapping_mul(0x9E37) + 7);
        let (disk, io) = new_disk();
        // Life 1: bootstrap, then a workload.
        let wal = Arc::new(new_wal(&io, true));
        let pool = test_pool(4, Arc::clone(&io), wal.clone());
        startup(&wal, &io, &pool, &mut RmgrRedo::new(), false).unwrap();
        let txn = new_txn_shared();
        let clog = Clog::attach(&txn.clog, Arc::clone(&io), wal.clone());
        let next_xid = AtomicU32::new(FIRST_NORMAL_TRANSACTION_ID);
        let slot = ProcSlot::default();
        let mut outcomes: HashMap<TransactionId, Outcome> = HashMap::new();
        let total = 40 + rng.below(120);
        for _ in 0..total {
            if rng.chance(1, 5) {
                // Skip ahead to a later page: many pages, evictions.
                let page = page_of(next_xid.load(Ordering::SeqCst)) + 1 + rng.below(2) as u32;
                next_xid.store(page * CLOG_XACTS_PER_PAGE, Ordering::SeqCst);
            }
            let xid = assign_xid(&txn.xid_gen_lock, &next_xid, &slot, &clog, wal.as_ref()).unwrap();
            let outcome = match rng.below(8) {
                0..=3 => {
                    commit(xid, wal.as_ref(), &clog, true).unwrap();
                    Outcome::Acknowledged
                }
                4 | 5 => Outcome::Async(commit(xid, wal.as_ref(), &clog, false).unwrap()),
                6 => {
                    abort(xid, wal.as_ref(), &clog).unwrap();
                    Outcome::Aborted
                }
                _ => Outcome::Running,
            };
            end_transaction(&txn.proc_array_lock, &slot);
            outcomes.insert(xid, outcome);
            if rng.chance(1, 30) {
                clog.flush_all().unwrap();
            }
            if rng.chance(1, 10) {
                wal.background_flush().unwrap(); // the walwriter
            }
        }
        if clog.pages_written() > 0 {
            rounds_with_clog_writes += 1;
        }
        let flushed_at_crash = wal.shared().flushed_upto();
        disk.crash(seed);

        // Life 2: recovery from WAL into an empty clog cache.
        let wal2 = Arc::new(new_wal(&io, true));
        let txn2 = new_txn_shared();
        let mut clog2 = Clog::attach(&txn2.clog, Arc::clone(&io), Arc::new(RecoveryWalFlush));
        clog2.set_in_recovery(true);
        let next2 = AtomicU32::new(FIRST_NORMAL_TRANSACTION_ID);
        let mut redo = TxnRedo {
            clog: &clog2,
            next_xid: &next2,
        };
        let pool2 = test_pool(4, Arc::clone(&io), wal2.clone());
        let outcome = startup(&wal2, &io, &pool2, &mut redo, false).unwrap();
        assert!(outcome.crash_recovery, "seed {seed}");
        let next = next2.load(Ordering::SeqCst);
        clog2.trim_after_recovery(next).unwrap();
        abort_in_progress_after_recovery(&clog2, FIRST_NORMAL_TRANSACTION_ID, next).unwrap();
        for (&xid, &expected) in &outcomes {
            let recovered = if xid_precedes_next(xid, next) {
                clog2.get_status(xid).unwrap()
            } else {
                TransactionStatus::InProgress // never reached WAL: a fresh xid again
            };
            let ok = match expected {
                Outcome::Acknowledged => recovered == TransactionStatus::Committed,
                Outcome::Async(end) if end <= flushed_at_crash => {
                    recovered == TransactionStatus::Committed
                }
                Outcome::Async(_) => recovered != TransactionStatus::SubCommitted,
                Outcome::Aborted | Outcome::Running => recovered != TransactionStatus::Committed,
            };
            assert!(
                ok,
                "seed {seed}: xid {xid} was {expected:?}, recovered {recovered:?}"
            );
            if xid_precedes_next(xid, next) {
                assert_ne!(
                    recovered,
                    TransactionStatus::InProgress,
                    "seed {seed}: xid {xid}"
                );
            }
        }
        // The recovered clog can be written out by a checkpoint.
        clog2.flush_all().unwrap();
    }
    assert!(
        rounds_with_clog_writes * 2 >= rounds,
        "too few rounds wrote clog pages before the crash"
    );
}

fn xid_precedes_next(xid: TransactionId, next: TransactionId) -> bool {
    crate::access::heap::visibility::xid_precedes(xid, next)
}

/// What the forked test shares besides the clog and WAL.
#[repr(C)]
struct ForkShared {
    next_xid: AtomicU32,
    slots: [ProcSlot; CHILDREN],
    xids: [[AtomicU32; PER_CHILD]; CHILDREN],
    committed: [[AtomicU32; PER_CHILD]; CHILDREN],
}

// SAFETY: atomics only; valid when zero.
unsafe impl crate::shmem::ShmemSafe for ForkShared {}

const CHILDREN: usize = 4;
const PER_CHILD: usize = 300;

/// 4 forked processes assign xids and commit or abort them concurrently over one
/// shared clog and WAL, crossing a clog page boundary: every xid is unique, they are
/// exactly the xids handed out, and clog holds every outcome; redo of the WAL they
/// wrote rebuilds the same statuses.
#[test]
fn forked_processes_assign_unique_xids_and_record_every_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir.path()));
    io.create_dir_all(Path::new(WAL_DIR)).unwrap();
    Clog::create_dir(io.as_ref()).unwrap();
    let txn_bytes = SHMEM_BYTES.div_ceil(4096) * 4096;
    let fork_bytes = std::mem::size_of::<ForkShared>().div_ceil(4096) * 4096;
    let segment = Box::leak(Box::new(TestSegment::new(
        txn_bytes + fork_bytes + WAL_REGION,
    )));
    let txn = segment.struct_at::<TxnShared>(0);
    let shared = segment.struct_at::<ForkShared>(txn_bytes);
    let wal_at = txn_bytes + fork_bytes;
    let attach_wal = || {
        Arc::new(Wal::attach(
            segment.struct_at::<WalShared>(wal_at),
            segment.bytes(
                wal_at + crate::shmem::WAL_CONTROL_LEN_BYTES,
                RING_PAGES * 8192,
            ),
            Arc::clone(&io),
            false,
        ))
    };
    let wal = attach_wal();
    wal.initialize(WalStart {
        end_of_wal: Lsn(WAL_SEGMENT_SIZE),
        prev_record: Lsn::INVALID,
        timeline: TimeLineId::FIRST,
        system_id: 7,
    })
    .unwrap();
    let first = 2 * CLOG_XACTS_PER_PAGE - 500;
    shared.next_xid.store(first, Ordering::SeqCst);
    Clog::attach(&txn.clog, Arc::clone(&io), wal.clone())
        .trim_after_recovery(first)
        .unwrap();

    let pids = fork_children(CHILDREN, |child| {
        let wal = attach_wal();
        let clog = Clog::attach(&txn.clog, Arc::clone(&io), wal.clone());
        let slot = &shared.slots[child];
        for i in 0..PER_CHILD {
            let xid = assign_xid(
                &txn.xid_gen_lock,
                &shared.next_xid,
                slot,
                &clog,
                wal.as_ref(),
            )
            .unwrap();
            let commit_it = !(xid as usize + i).is_multiple_of(3);
            if commit_it {
                commit(xid, wal.as_ref(), &clog, i % 2 == 0).unwrap();
            } else {
                abort(xid, wal.as_ref(), &clog).unwrap();
            }
            end_transaction(&txn.proc_array_lock, slot);
            shared.committed[child][i].store(u32::from(commit_it), Ordering::SeqCst);
            shared.xids[child][i].store(xid, Ordering::SeqCst);
        }
    });
    wait_children(pids);

    let clog = Clog::attach(&txn.clog, Arc::clone(&io), wal.clone());
    let mut all = Vec::new();
    for child in 0..CHILDREN {
        for i in 0..PER_CHILD {
            let xid = shared.xids[child][i].load(Ordering::SeqCst);
            let want = if shared.committed[child][i].load(Ordering::SeqCst) == 1 {
                TransactionStatus::Committed
            } else {
                TransactionStatus::Aborted
            };
            assert_eq!(clog.get_status(xid).unwrap(), want, "xid {xid}");
            all.push(xid);
        }
    }
    all.sort_unstable();
    let n = (CHILDREN * PER_CHILD) as u32;
    assert_eq!(
        all,
        (first..first + n).collect::<Vec<_>>(),
        "xids unique and dense"
    );
    assert_eq!(shared.next_xid.load(Ordering::SeqCst), first + n);

    // Redo of what the children logged rebuilds the same statuses from nothing.
    wal.flush(wal.shared().reserved_end()).unwrap();
    let mut replayed = Clog::attach(
        &new_txn_shared().clog,
        Arc::clone(&io),
        Arc::new(RecoveryWalFlush),
    );
    replayed.set_in_recovery(true);
    let next = AtomicU32::new(FIRST_NORMAL_TRANSACTION_ID);
    let source = crate::wal::reader::WalDirectory::new(Arc::clone(&io), WAL_DIR, TimeLineId::FIRST);
    let mut reader =
        crate::wal::reader::WalReader::new(source, Lsn(WAL_SEGMENT_SIZE + 40)).expect_system_id(7);
    let mut zero_pages = 0;
    while let Some(rec) = reader.next_record().unwrap() {
        if rec.record.rmgr() == RmgrId::Clog {
            zero_pages += 1;
        }
        redo_record(&replayed, &next, rec.end_lsn, &rec.record).unwrap();
    }
    assert_eq!(zero_pages, 1, "one new clog page (page 2) was WAL-logged");
    assert_eq!(next.load(Ordering::SeqCst), first + n);
    for &xid in &all {
        assert_eq!(
            replayed.get_status(xid).unwrap(),
            clog.get_status(xid).unwrap(),
            "xid {xid}"
        );
    }
    assert!(clog.flush_all().unwrap() >= 2);
}
