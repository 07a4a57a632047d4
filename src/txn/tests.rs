//! Tests of the transaction subsystem: clog pages, eviction and log-before-data,
//! xid assignment, commit/abort records and their redo, snapshots with the heap's
//! visibility rules. Crash and multi-process tests are in `tests_crash.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::clog::*;
use super::snapshot::{get_snapshot, take_snapshot, ClogOracle};
use super::xact::*;
use super::xid::*;
use super::*;
use crate::access::heap::tuple::{HeapTupleHeader, TransactionId};
use crate::access::heap::visibility::{heap_tuple_satisfies_mvcc, XidStatus, XidStatusOracle};
use crate::shmem::procarray::ProcSlot;
use crate::shmem::TestSegment;
use crate::storage::buffer::test_support::ObservedIo;
use crate::storage::fault::{SimulatedDisk, XorShift64Star};
use crate::storage::file_io::FileIo;
use crate::wal::record::DecodedRecord;

// ---------------------------------------------------------------- fixtures

/// A WAL that keeps records in memory: LSNs grow by the record length; `flush`
/// raises the flushed position (shared with [`recording_io`]) and is logged.
pub(super) struct FakeWal {
    pub state: Mutex<FakeWalState>,
    pub flushed: Arc<AtomicU64>,
}

#[derive(Default)]
pub(super) struct FakeWalState {
    pub next: u64,
    /// (end LSN, encoded record)
    pub records: Vec<(Lsn, Vec<u8>)>,
    pub flush_calls: Vec<Lsn>,
    pub async_commit: Lsn,
    /// Each commit flush's `commit_delay` wait, and whether waiting was worthwhile.
    pub commit_delays: Vec<(std::time::Duration, bool)>,
}

impl FakeWal {
    pub fn new() -> Arc<FakeWal> {
        Arc::new(FakeWal {
            state: Mutex::new(FakeWalState {
                next: 0x100_0000,
                ..FakeWalState::default()
            }),
            flushed: Arc::new(AtomicU64::new(0)),
        })
    }

    fn records(&self) -> Vec<(Lsn, Vec<u8>)> {
        self.state.lock().unwrap().records.clone()
    }
}

impl WalFlush for FakeWal {
    fn flush(&self, upto: Lsn) -> QuillResult<()> {
        self.state.lock().unwrap().flush_calls.push(upto);
        self.flushed.fetch_max(upto.0, Ordering::SeqCst);
        Ok(())
    }

    fn flushed_lsn(&self) -> Lsn {
        Lsn(self.flushed.load(Ordering::SeqCst))
    }
}

impl WalInsert for FakeWal {
    fn insert(&self, record: &RecordBuilder<'_>) -> QuillResult<(Lsn, Lsn)> {
        let mut bytes = Vec::new();
        record.encode(Lsn::INVALID, &mut bytes).unwrap();
        let mut state = self.state.lock().unwrap();
        let start = Lsn(state.next);
        state.next += (bytes.len() as u64).div_ceil(8) * 8;
        let end = Lsn(state.next);
        state.records.push((end, bytes));
        Ok((start, end))
    }

    fn note_async_commit(&self, end: Lsn) {
        let mut state = self.state.lock().unwrap();
        state.async_commit = state.async_commit.max(end);
    }

    fn flush_commit(&self, end: Lsn, delay: &crate::wal::xlog::CommitDelay<'_>) -> QuillResult<()> {
        let worthwhile = (delay.worthwhile)();
        self.state
            .lock()
            .unwrap()
            .commit_delays
            .push((delay.wait, worthwhile));
        self.flush(end)
    }
}

/// One clog page write seen by [`recording_io`]: where, what, and how far WAL was
/// flushed at that moment.
#[derive(Clone)]
struct PageWrite {
    path: PathBuf,
    offset: u64,
    bytes: Vec<u8>,
    flushed_at: u64,
}

/// A [`FileIo`] that records every write together with the fake WAL's flushed position.
fn recording_io(
    inner: Arc<dyn FileIo>,
    flushed: Arc<AtomicU64>,
    writes: Arc<Mutex<Vec<PageWrite>>>,
) -> Arc<dyn FileIo> {
    Arc::new(ObservedIo::with_write_hook(
        inner,
        Arc::new(move |path: &Path, offset: u64, buf: &[u8]| {
            writes.lock().unwrap().push(PageWrite {
                path: path.to_path_buf(),
                offset,
                bytes: buf.to_vec(),
                flushed_at: flushed.load(Ordering::SeqCst),
            });
        }),
    ))
}

/// A fresh zeroed [`TxnShared`] (leaked: shared memory lives for the process).
pub(super) fn new_txn_shared() -> &'static TxnShared {
    let segment = Box::leak(Box::new(TestSegment::new(SHMEM_BYTES)));
    segment.struct_at::<TxnShared>(0)
}

pub(super) fn new_disk() -> (SimulatedDisk, Arc<dyn FileIo>) {
    let disk = SimulatedDisk::new();
    let io: Arc<dyn FileIo> = Arc::new(disk.clone());
    Clog::create_dir(io.as_ref()).unwrap();
    io.create_dir_all(Path::new("pg_wal")).unwrap();
    io.create_dir_all(Path::new("global")).unwrap();
    (disk, io)
}

fn seeds() -> u64 {
    std::env::var("QUILL_TXN_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn random_status(rng: &mut XorShift64Star) -> TransactionStatus {
    match rng.below(3) {
        0 => TransactionStatus::Committed,
        1 => TransactionStatus::Aborted,
        _ => TransactionStatus::SubCommitted,
    }
}

// ---------------------------------------------------------------- clog

#[test]
fn clog_layout_matches_postgres() {
    assert_eq!(CLOG_XACTS_PER_PAGE, 32768);
    assert_eq!(page_of(32767), 0);
    assert_eq!(page_of(32768), 1);
    assert_eq!(segment_path(31), Path::new("pg_xact/0000"));
    assert_eq!(segment_path(32), Path::new("pg_xact/0001"));
    assert_eq!(segment_path(page_of(u32::MAX)), Path::new("pg_xact/0FFF"));
    assert!(is_first_on_page(3) && is_first_on_page(65536) && !is_first_on_page(4));
}

/// Statuses of random xids over ~100 pages (4 segment files, far more pages than the
/// 16 slots) read back through eviction, and again from disk in a fresh cache.
#[test]
fn clog_statuses_survive_eviction_and_reread_across_segments() {
    for seed in 0..seeds() {
        eprintln!("seed {seed}");
        let mut rng = XorShift64Star::new(seed);
        let (_disk, io) = new_disk();
        let wal = FakeWal::new();
        let clog = Clog::attach(&new_txn_shared().clog, Arc::clone(&io), wal.clone());
        let pages = 100 + rng.below(30) as u32;
        for page in 0..pages {
            clog.extend_for(page.max(1) * CLOG_XACTS_PER_PAGE, wal.as_ref())
                .unwrap();
        }
        clog.extend_for(FIRST_NORMAL_TRANSACTION_ID, wal.as_ref())
            .unwrap();
        let mut expected = HashMap::new();
        for _ in 0..3000 {
            let xid = 3 + rng.below(u64::from(pages * CLOG_XACTS_PER_PAGE - 3)) as u32;
            if expected.contains_key(&xid) {
                continue;
            }
            let status = random_status(&mut rng);
            clog.set_status(xid, status, Lsn::INVALID).unwrap();
            expected.insert(xid, status);
        }
        for (&xid, &status) in &expected {
            assert_eq!(
                clog.get_status(xid).unwrap(),
                status,
                "seed {seed} xid {xid}"
            );
        }
        assert!(clog.pages_written() > 0, "seed {seed}: nothing was evicted");
        clog.flush_all().unwrap();
        for segment in 0..pages / SLRU_PAGES_PER_SEGMENT {
            assert!(io.exists(&segment_path(segment * SLRU_PAGES_PER_SEGMENT)));
        }
        let fresh = Clog::attach(&new_txn_shared().clog, Arc::clone(&io), wal.clone());
        for (&xid, &status) in &expected {
            assert_eq!(
                fresh.get_status(xid).unwrap(),
                status,
                "seed {seed} xid {xid}"
            );
        }
        // Neighbours never set are still in progress.
        let untouched = (3..pages * CLOG_XACTS_PER_PAGE)
            .step_by(997)
            .find(|x| !expected.contains_key(x))
            .unwrap();
        assert_eq!(
            fresh.get_status(untouched).unwrap(),
            TransactionStatus::InProgress
        );
    }
}

#[test]
fn missing_page_is_an_error_except_in_recovery() {
    let (_disk, io) = new_disk();
    let shared = &new_txn_shared().clog;
    let mut clog = Clog::attach(shared, Arc::clone(&io), FakeWal::new());
    let err = clog.get_status(5 * CLOG_XACTS_PER_PAGE + 7).unwrap_err();
    assert!(err
        .message
        .contains("could not access status of transaction"));
    clog.set_in_recovery(true);
    assert_eq!(
        clog.get_status(5 * CLOG_XACTS_PER_PAGE + 7).unwrap(),
        TransactionStatus::InProgress
    );
}

#[test]
fn committed_never_becomes_aborted_outside_recovery() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let clog = Clog::attach(&new_txn_shared().clog, io, wal.clone());
    clog.extend_for(3, wal.as_ref()).unwrap();
    clog.set_status(10, TransactionStatus::Committed, Lsn(1))
        .unwrap();
    clog.set_status(10, TransactionStatus::Committed, Lsn(1))
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        clog.set_status(10, TransactionStatus::Aborted, Lsn::INVALID)
    }));
    assert!(result.is_err(), "a committed xid was turned into aborted");
}

/// Log before data: every clog page write happens only after WAL was flushed up to
/// the commit LSN of every COMMITTED status on the page, through eviction and
/// checkpoint alike.
#[test]
fn clog_page_is_never_written_before_wal_of_its_commits_is_flushed() {
    for seed in 0..seeds().div_ceil(4) {
        eprintln!("seed {seed}");
        let mut rng = XorShift64Star::new(seed ^ 0x10b);
        let (_disk, inner) = new_disk();
        let wal = FakeWal::new();
        let writes = Arc::new(Mutex::new(Vec::new()));
        let io = recording_io(inner, Arc::clone(&wal.flushed), Arc::clone(&writes));
        let clog = Clog::attach(&new_txn_shared().clog, io, wal.clone());
        let pages = 40u32;
        for page in 1..pages {
            clog.extend_for(page * CLOG_XACTS_PER_PAGE, wal.as_ref())
                .unwrap();
        }
        let mut commit_lsn = HashMap::new();
        let mut lsn = 0x200_0000u64;
        for step in 0..1200 {
            let xid = CLOG_XACTS_PER_PAGE
                + rng.below(u64::from((pages - 1) * CLOG_XACTS_PER_PAGE)) as u32;
            if commit_lsn.contains_key(&xid) {
                continue;
            }
            lsn += 8 + rng.below(200);
            clog.set_status(xid, TransactionStatus::Committed, Lsn(lsn))
                .unwrap();
            commit_lsn.insert(xid, lsn);
            if step % 400 == 399 {
                clog.flush_all().unwrap();
            }
        }
        clog.flush_all().unwrap();
        let writes = writes.lock().unwrap().clone();
        assert!(
            writes.len() > 40,
            "seed {seed}: too few page writes to test"
        );
        let mut checked = 0;
        for write in &writes {
            let segment =
                u32::from_str_radix(write.path.file_name().unwrap().to_str().unwrap(), 16).unwrap();
            let page = segment * SLRU_PAGES_PER_SEGMENT + (write.offset / 8192) as u32;
            for (index, byte) in write.bytes.iter().enumerate() {
                for slot in 0..4 {
                    if (byte >> (slot * 2)) & 3 == TransactionStatus::Committed as u8 {
                        let xid = page * CLOG_XACTS_PER_PAGE + index as u32 * 4 + slot;
                        let needed = commit_lsn[&xid];
                        assert!(
                            needed <= write.flushed_at,
                            "seed {seed}: page {page} written with xid {xid} committed at \
                             {needed:#x} while WAL was flushed only to {:#x}",
                            write.flushed_at
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 0);
        assert!(!wal.state.lock().unwrap().flush_calls.is_empty());
    }
}

#[test]
fn extend_logs_one_zero_page_record_per_page_and_redo_zeroes_it() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let clog = Clog::attach(&new_txn_shared().clog, Arc::clone(&io), wal.clone());
    clog.extend_for(3, wal.as_ref()).unwrap();
    clog.extend_for(4, wal.as_ref()).unwrap(); // not first on its page
    clog.extend_for(3, wal.as_ref()).unwrap(); // already the newest page
    clog.extend_for(CLOG_XACTS_PER_PAGE, wal.as_ref()).unwrap();
    let records = wal.records();
    assert_eq!(records.len(), 2);
    let pages: Vec<u32> = records
        .iter()
        .map(|(_, bytes)| {
            let record = DecodedRecord::decode(bytes).unwrap();
            assert_eq!(record.rmgr(), RmgrId::Clog);
            assert_eq!(record.info() & 0xF0, CLOG_ZEROPAGE);
            u32::from_le_bytes(record.main_data().try_into().unwrap())
        })
        .collect();
    assert_eq!(pages, vec![0, 1]);
    // Redo of the zero-page record wipes whatever a stale page held.
    clog.set_status(
        CLOG_XACTS_PER_PAGE + 5,
        TransactionStatus::Aborted,
        Lsn::INVALID,
    )
    .unwrap();
    let (end, bytes) = &records[1];
    clog.redo(*end, &DecodedRecord::decode(bytes).unwrap())
        .unwrap();
    assert_eq!(
        clog.get_status(CLOG_XACTS_PER_PAGE + 5).unwrap(),
        TransactionStatus::InProgress
    );
}

// ---------------------------------------------------------------- xids

#[test]
fn xid_after_skips_special_xids_at_wraparound() {
    assert_eq!(xid_after(3), 4);
    assert_eq!(xid_after(u32::MAX), FIRST_NORMAL_TRANSACTION_ID);
    assert!(xid_follows(3, u32::MAX));
    assert!(xid_precedes_or_equals(7, 7) && xid_follows_or_equals(7, 7));
    assert!(!xid_follows(u32::MAX, 3));
}

/// Crossing a page boundary: the zero-page record for the new page is in WAL before
/// the xid comes back, and the xid is in the caller's proc slot before `next_xid`
/// moves past it.
#[test]
fn assign_xid_extends_clog_before_handing_out_the_first_xid_of_a_page() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let txn = new_txn_shared();
    let clog = Clog::attach(&txn.clog, io, wal.clone());
    clog.trim_after_recovery(CLOG_XACTS_PER_PAGE - 2).unwrap();
    let next_xid = AtomicU32::new(CLOG_XACTS_PER_PAGE - 2);
    let slot = ProcSlot::default();
    let mut got = Vec::new();
    for _ in 0..4 {
        let xid = assign_xid(&txn.xid_gen_lock, &next_xid, &slot, &clog, wal.as_ref()).unwrap();
        assert_eq!(slot.xid.load(Ordering::SeqCst), xid);
        if xid == CLOG_XACTS_PER_PAGE {
            let (_, bytes) = wal.records().last().unwrap().clone();
            let record = DecodedRecord::decode(&bytes).unwrap();
            assert_eq!(
                (record.rmgr(), record.main_data()),
                (RmgrId::Clog, &1u32.to_le_bytes()[..]),
                "zero page logged before xid {xid} is handed out"
            );
        }
        commit(xid, wal.as_ref(), &clog, true).unwrap();
        end_transaction(&txn.proc_array_lock, &slot);
        got.push(xid);
    }
    let first = CLOG_XACTS_PER_PAGE - 2;
    assert_eq!(got, vec![first, first + 1, first + 2, first + 3]);
    for xid in got {
        assert_eq!(clog.get_status(xid).unwrap(), TransactionStatus::Committed);
    }
    // Wraparound: after 2^32 - 1 comes 3, on a freshly zeroed page 0.
    next_xid.store(u32::MAX, Ordering::SeqCst);
    clog.trim_after_recovery(u32::MAX).unwrap();
    let last = assign_xid(&txn.xid_gen_lock, &next_xid, &slot, &clog, wal.as_ref()).unwrap();
    end_transaction(&txn.proc_array_lock, &slot);
    let wrapped = assign_xid(&txn.xid_gen_lock, &next_xid, &slot, &clog, wal.as_ref()).unwrap();
    assert_eq!((last, wrapped), (u32::MAX, FIRST_NORMAL_TRANSACTION_ID));
    let (_, bytes) = wal.records().last().unwrap().clone();
    let record = DecodedRecord::decode(&bytes).unwrap();
    assert_eq!(
        (record.rmgr(), record.main_data()),
        (RmgrId::Clog, &0u32.to_le_bytes()[..])
    );
}

#[test]
fn redo_advances_next_xid_past_every_xid_seen() {
    let next = AtomicU32::new(100);
    advance_next_xid_past(&next, 50);
    assert_eq!(next.load(Ordering::SeqCst), 100);
    advance_next_xid_past(&next, 100);
    assert_eq!(next.load(Ordering::SeqCst), 101);
    advance_next_xid_past(&next, 0);
    assert_eq!(next.load(Ordering::SeqCst), 101);
    next.store(u32::MAX - 1, Ordering::SeqCst);
    advance_next_xid_past(&next, u32::MAX);
    assert_eq!(next.load(Ordering::SeqCst), FIRST_NORMAL_TRANSACTION_ID);
}

// ---------------------------------------------------------------- xact

#[test]
fn xact_records_round_trip_and_reject_garbage() {
    for kind in [XactKind::Commit, XactKind::Abort] {
        let record = XactRecord {
            kind,
            xid: 4242,
            xact_time: 831_000_000_123_456,
        };
        let data = record.encode();
        assert_eq!(XactRecord::decode(kind.info(), &data), Some(record));
        let mut bytes = Vec::new();
        record.builder(&data).encode(Lsn(8), &mut bytes).unwrap();
        let decoded = DecodedRecord::decode(&bytes).unwrap();
        assert_eq!(decoded.xid(), 4242);
        assert_eq!(XactRecord::from_record(&decoded).unwrap(), record);
    }
    assert_eq!(XactRecord::decode(0x10, &[0; 12]), None);
    assert_eq!(XactRecord::decode(XLOG_XACT_COMMIT, &[0; 11]), None);
    // Header xid and data xid must agree.
    let data = XactRecord {
        kind: XactKind::Commit,
        xid: 7,
        xact_time: 0,
    }
    .encode();
    let mut builder = RecordBuilder::new(RmgrId::Xact, XLOG_XACT_COMMIT, 8);
    builder.main_data(&data);
    let mut bytes = Vec::new();
    builder.encode(Lsn(8), &mut bytes).unwrap();
    assert!(XactRecord::from_record(&DecodedRecord::decode(&bytes).unwrap()).is_err());
    let describe = XactRecord {
        kind: XactKind::Commit,
        xid: 3,
        xact_time: 1_000_001,
    }
    .describe();
    assert_eq!(describe, "COMMIT 2000-01-01 00:00:01.000001 UTC");
}

#[test]
fn synchronous_commit_flushes_its_record_and_async_commit_only_notes_it() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let clog = Clog::attach(&new_txn_shared().clog, io, wal.clone());
    clog.extend_for(3, wal.as_ref()).unwrap();
    let end = commit(3, wal.as_ref(), &clog, true).unwrap();
    assert_eq!(wal.state.lock().unwrap().flush_calls, vec![end]);
    let async_end = commit(4, wal.as_ref(), &clog, false).unwrap();
    let aborted_end = abort(5, wal.as_ref(), &clog).unwrap();
    let state = wal.state.lock().unwrap();
    assert_eq!(
        state.flush_calls,
        vec![end],
        "only the synchronous commit flushed"
    );
    assert_eq!(state.async_commit, async_end);
    assert!(aborted_end > async_end);
    drop(state);
    assert_eq!(clog.get_status(3).unwrap(), TransactionStatus::Committed);
    assert_eq!(clog.get_status(4).unwrap(), TransactionStatus::Committed);
    assert_eq!(clog.get_status(5).unwrap(), TransactionStatus::Aborted);
}

/// commit_delay reaches the WAL's flush with PostgreSQL's commit_siblings test: the
/// wait is worthwhile only if at least that many *other* transactions are running.
#[test]
fn commit_delay_waits_only_with_enough_other_running_transactions() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let clog = Clog::attach(&new_txn_shared().clog, io, wal.clone());
    clog.extend_for(3, wal.as_ref()).unwrap();
    let procs: Vec<ProcSlot> = (0..4).map(|_| ProcSlot::default()).collect();
    procs[0].xid.store(10, Ordering::SeqCst); // the committer itself
    procs[2].xid.store(11, Ordering::SeqCst);
    let settings = CommitSettings {
        synchronous_commit: true,
        commit_delay_us: 300,
        commit_siblings: 2,
    };
    commit_with(10, wal.as_ref(), &clog, &settings, &procs, &[]).unwrap();
    procs[3].xid.store(12, Ordering::SeqCst);
    commit_with(10, wal.as_ref(), &clog, &settings, &procs, &[]).unwrap();
    let asynchronous = CommitSettings {
        synchronous_commit: false,
        ..settings
    };
    commit_with(10, wal.as_ref(), &clog, &asynchronous, &procs, &[]).unwrap();
    let wait = std::time::Duration::from_micros(300);
    assert_eq!(
        wal.state.lock().unwrap().commit_delays,
        vec![(wait, false), (wait, true)]
    );
    assert!(other_transactions_at_least(&procs, 10, 0));
    assert!(!other_transactions_at_least(&procs, 10, 3));
    assert!(other_transactions_at_least(&procs, 99, 3));
}

/// Redo of a seeded history of zero-page, commit and abort records: applying every
/// record twice leaves exactly what applying it once does.
#[test]
fn redo_applied_twice_equals_redo_applied_once() {
    for seed in 0..seeds() {
        eprintln!("seed {seed}");
        let mut rng = XorShift64Star::new(seed ^ 0xbeef);
        let (_disk, io) = new_disk();
        let wal = FakeWal::new();
        let txn = new_txn_shared();
        let clog = Clog::attach(&txn.clog, Arc::clone(&io), wal.clone());
        let next_xid = AtomicU32::new(3);
        let slot = ProcSlot::default();
        let mut expected = HashMap::new();
        for _ in 0..300 {
            if rng.chance(1, 40) {
                let page = page_of(next_xid.load(Ordering::SeqCst)) + 1;
                next_xid.store(page * CLOG_XACTS_PER_PAGE, Ordering::SeqCst);
            }
            let xid = assign_xid(&txn.xid_gen_lock, &next_xid, &slot, &clog, wal.as_ref()).unwrap();
            let status = match rng.below(3) {
                0 => {
                    abort(xid, wal.as_ref(), &clog).unwrap();
                    TransactionStatus::Aborted
                }
                1 => {
                    commit(xid, wal.as_ref(), &clog, rng.chance(1, 2)).unwrap();
                    TransactionStatus::Committed
                }
                _ => TransactionStatus::InProgress,
            };
            end_transaction(&txn.proc_array_lock, &slot);
            expected.insert(xid, status);
        }
        let records = wal.records();
        let replay = |times: usize| {
            let mut clog = Clog::attach(
                &new_txn_shared().clog,
                Arc::clone(&io),
                Arc::new(RecoveryWalFlush),
            );
            clog.set_in_recovery(true);
            let next = AtomicU32::new(3);
            for (end, bytes) in &records {
                for _ in 0..times {
                    let record = DecodedRecord::decode(bytes).unwrap();
                    assert!(redo_record(&clog, &next, *end, &record).unwrap());
                }
            }
            let statuses: Vec<_> = expected
                .keys()
                .map(|&xid| (xid, clog.get_status(xid).unwrap()))
                .collect();
            (statuses, next.load(Ordering::SeqCst))
        };
        let once = replay(1);
        let twice = replay(2);
        assert_eq!(once, twice, "seed {seed}");
        for (xid, status) in &once.0 {
            assert_eq!(*status, expected[xid], "seed {seed} xid {xid}");
        }
        let max_finished = expected
            .iter()
            .filter(|(_, s)| **s != TransactionStatus::InProgress)
            .map(|(x, _)| *x)
            .max()
            .unwrap();
        assert!(once.1 > max_finished, "seed {seed}: next_xid not advanced");
    }
}

#[test]
fn end_of_recovery_aborts_in_progress_xids_and_trims_the_current_page() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let mut clog = Clog::attach(&new_txn_shared().clog, io, wal.clone());
    clog.set_in_recovery(true);
    clog.extend_for(3, wal.as_ref()).unwrap();
    clog.set_status(3, TransactionStatus::Committed, Lsn(1))
        .unwrap();
    clog.set_status(5, TransactionStatus::Aborted, Lsn::INVALID)
        .unwrap();
    // A status past next_xid whose WAL was lost (an unflushed abort).
    clog.set_status(9, TransactionStatus::Aborted, Lsn::INVALID)
        .unwrap();
    clog.trim_after_recovery(8).unwrap();
    assert_eq!(clog.get_status(9).unwrap(), TransactionStatus::InProgress);
    let aborted = abort_in_progress_after_recovery(&clog, FIRST_NORMAL_TRANSACTION_ID, 8).unwrap();
    assert_eq!(aborted, 3); // 4, 6, 7
    let statuses: Vec<_> = (3..10).map(|x| clog.get_status(x).unwrap()).collect();
    use TransactionStatus::*;
    assert_eq!(
        statuses,
        vec![Committed, Aborted, Aborted, Aborted, Aborted, InProgress, InProgress]
    );
}

// ---------------------------------------------------------------- snapshots

#[test]
fn snapshot_lists_other_running_xids_below_next_xid() {
    let procs: Vec<ProcSlot> = (0..5).map(|_| ProcSlot::default()).collect();
    for (slot, xid) in procs.iter().zip([0, 110, 105, 130, 200]) {
        slot.xid.store(xid, Ordering::SeqCst);
    }
    let snap = take_snapshot(&procs, 150, 130);
    assert_eq!((snap.xmin, snap.xmax), (105, 150));
    assert_eq!(snap.xip, vec![110, 105]); // not mine (130), not 200 (>= xmax)
    let idle = take_snapshot(&procs[..1], 150, 0);
    assert_eq!((idle.xmin, idle.xmax, idle.xip.len()), (150, 150, 0));

    let txn = new_txn_shared();
    let next = AtomicU32::new(150);
    let snap = get_snapshot(&txn.proc_array_lock, &procs, &next, &procs[3]);
    assert_eq!(snap.xip, vec![110, 105]);
    assert_eq!(procs[3].xmin.load(Ordering::SeqCst), 105);
    end_transaction(&txn.proc_array_lock, &procs[3]);
    assert_eq!(procs[3].xid.load(Ordering::SeqCst), 0);
    assert_eq!(procs[3].xmin.load(Ordering::SeqCst), 0);
}

/// The heap's visibility rules over real clog and proc-array snapshots: committed
/// before the snapshot is visible; running, aborted, crashed, or committed after
/// the snapshot is not; our own earlier command is.
#[test]
fn snapshot_and_clog_oracle_drive_heap_visibility() {
    let (_disk, io) = new_disk();
    let wal = FakeWal::new();
    let txn = new_txn_shared();
    let clog = Clog::attach(&txn.clog, io, wal.clone());
    let next_xid = AtomicU32::new(3);
    let procs: Vec<ProcSlot> = (0..4).map(|_| ProcSlot::default()).collect();
    let assign = |slot: &ProcSlot| {
        assign_xid(&txn.xid_gen_lock, &next_xid, slot, &clog, wal.as_ref()).unwrap()
    };
    let committed = assign(&procs[0]);
    commit(committed, wal.as_ref(), &clog, true).unwrap();
    end_transaction(&txn.proc_array_lock, &procs[0]);
    let aborted = assign(&procs[0]);
    abort(aborted, wal.as_ref(), &clog).unwrap();
    end_transaction(&txn.proc_array_lock, &procs[0]);
    let running = assign(&procs[1]);
    let late = assign(&procs[2]); // commits after the snapshot
    let me = assign(&procs[3]);

    let mut snap = get_snapshot(&txn.proc_array_lock, &procs, &next_xid, &procs[3]);
    snap.curcid = 2;
    commit(late, wal.as_ref(), &clog, true).unwrap();
    end_transaction(&txn.proc_array_lock, &procs[2]);
    let after = assign(&procs[0]); // started after the snapshot, committed
    commit(after, wal.as_ref(), &clog, true).unwrap();
    end_transaction(&txn.proc_array_lock, &procs[0]);

    let oracle = ClogOracle::new(&clog, me);
    let visible =
        |xmin: TransactionId, cid: u32, snap: &crate::access::heap::visibility::Snapshot| {
            heap_tuple_satisfies_mvcc(&HeapTupleHeader::for_insert(xmin, cid), snap, &oracle)
                .unwrap()
                .visible
        };
    assert!(
        visible(committed, 0, &snap),
        "committed before the snapshot"
    );
    assert!(!visible(aborted, 0, &snap), "aborted");
    assert!(!visible(running, 0, &snap), "in progress");
    assert!(!visible(late, 0, &snap), "committed after the snapshot");
    assert!(!visible(after, 0, &snap), "started after the snapshot");
    assert!(visible(me, 1, &snap), "our own earlier command");
    assert!(!visible(me, 2, &snap), "our own current command");
    // A new snapshot (READ COMMITTED's next statement) sees the later commits.
    let fresh = get_snapshot(&txn.proc_array_lock, &procs, &next_xid, &procs[3]);
    assert!(visible(late, 0, &fresh) && visible(after, 0, &fresh));
    assert!(!visible(running, 0, &fresh));
    assert_eq!(oracle.status(committed), XidStatus::Committed);
    assert_eq!(oracle.status(running), XidStatus::InProgress);
}
