//! Startup and crash recovery (DESIGN.md §4 "Recovery", rules 5 and 6).
//!
//! 1. Read `pg_control`. None yet (a new data directory): write the first WAL
//!    segment's checkpoint and the control file — the cluster's bootstrap.
//! 2. Read the last checkpoint record. After a clean shutdown it is the last record
//!    in WAL and nothing needs replaying.
//! 3. Otherwise replay every valid record from the checkpoint's redo point through
//!    its resource manager (redo is idempotent: a block change applies only to a page
//!    whose LSN is older than the record, rule 5), until the first invalid, torn or
//!    missing record — the end of WAL (rule 6).
//! 4. Cut WAL at that end: zero the rest of the segment and remove later segments, so
//!    stale records written before the crash can never be mistaken for new ones.
//! 5. Let insertion continue at the end, and write an end-of-recovery checkpoint.
//!
//! # Pages during replay (log before data)
//! Redo changes pages in the shared buffer pool, and a replayed page may be evicted
//! (written) before replay ends. The WAL cannot be flushed then — insertion has not
//! been initialised — and need not be: every record replayed so far was read from
//! `pg_wal`. So replay goes through a handle on the pool
//! ([`BufferPool::with_flusher`]) whose flusher is a [`RecoveryFlusher`]: WAL counts
//! as durable up to the end of the record being replayed, and a page whose LSN is
//! beyond it is an error (corruption), never written. The end-of-recovery checkpoint
//! then writes the remaining replayed pages through the caller's pool, which flushes
//! the real WAL (already durable up to the end of replay).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::access::heap::heap_wal::heap_redo;
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::buffer::{BufferPool, WalFlusher};
use crate::storage::file_io::{relation_dirs, sync_files_in, FileIo, OpenMode};
use crate::txn::clog::Clog;
use crate::wal::checkpoint::{
    create_checkpoint, decode_next_oid, CheckpointReason, CheckpointRequest,
};
use crate::wal::control::{
    new_system_identifier, now_epoch_seconds, CheckpointInfo, ControlFile, DbState,
};
use crate::wal::reader::{WalDirectory, WalReader};
use crate::wal::record::{DecodedRecord, RmgrId};
use crate::wal::segment::{
    lsn_of_segment_start, parse_segment_file_name, segment_file_name, segno_of, SegmentNo,
    TimeLineId, WAL_SEGMENT_SIZE,
};
use crate::wal::xlog::{Wal, WalStart, WAL_DIR};
use crate::wal::Lsn;

/// PostgreSQL's FirstNormalTransactionId and FirstNormalObjectId.
pub const FIRST_NORMAL_XID: u32 = 3;
pub const FIRST_NORMAL_OID: u32 = 16384;

/// What startup found and left behind.
#[derive(Debug, Clone, Copy)]
pub struct StartupOutcome {
    pub control: ControlFile,
    /// Records replayed (0 after a clean shutdown).
    pub records_replayed: u64,
    pub crash_recovery: bool,
}

/// Applies one WAL record during recovery, through the resource manager it belongs
/// to. `pool` is the startup process's handle on the buffer pool for replay (its WAL
/// flusher is a [`RecoveryFlusher`]); redo routines change pages only through it.
pub trait RedoHandler {
    fn redo(
        &mut self,
        pool: &BufferPool,
        lsn: Lsn,
        end_lsn: Lsn,
        record: &DecodedRecord<'_>,
    ) -> QuillResult<()>;

    /// Runs once after crash-recovery replay, before the end-of-recovery checkpoint:
    /// settles what replay leaves open (transactions without a commit or abort record
    /// are aborted) and makes it durable. Returns the next xid the checkpoint must
    /// record, if the handler tracks xids.
    fn finish_replay(&mut self, _checkpoint_next_xid: u32) -> QuillResult<Option<u32>> {
        Ok(None)
    }
}

fn no_redo_routine(rmgr: RmgrId, lsn: Lsn) -> QuillError {
    QuillError::internal(format!(
        "no redo routine for resource manager {} (record at {lsn})",
        rmgr.name()
    ))
}

/// What the transaction subsystem's redo ([`crate::txn::redo_record`]) works on: the
/// clog (in recovery mode, flushing through [`crate::txn::RecoveryWalFlush`]) and the
/// next xid, advanced past every xid seen in WAL.
pub struct TxnRedoTarget<'a> {
    pub clog: &'a Clog,
    pub next_xid: &'a AtomicU32,
}

/// The startup process's resource-manager table (PostgreSQL's `RmgrTable`, redo
/// side): xlog records change nothing, heap records go to [`heap_redo`], xact and clog
/// records to [`crate::txn::redo_record`] when a clog is attached; any other resource
/// manager is an error (recovery cannot skip a record it cannot apply).
pub struct RmgrRedo<'a> {
    txn: Option<TxnRedoTarget<'a>>,
}

impl<'a> RmgrRedo<'a> {
    /// Without a clog: an xact or clog record is an error.
    pub fn new() -> RmgrRedo<'a> {
        RmgrRedo { txn: None }
    }

    /// With the transaction subsystem's redo. The caller finishes it after
    /// [`startup`] returns (`Clog::trim_after_recovery`,
    /// `xact::abort_in_progress_after_recovery`; see [`crate::txn::redo_record`]).
    pub fn with_txn(txn: TxnRedoTarget<'a>) -> RmgrRedo<'a> {
        RmgrRedo { txn: Some(txn) }
    }
}

impl Default for RmgrRedo<'_> {
    fn default() -> Self {
        RmgrRedo::new()
    }
}

impl RedoHandler for RmgrRedo<'_> {
    fn finish_replay(&mut self, checkpoint_next_xid: u32) -> QuillResult<Option<u32>> {
        let Some(txn) = &self.txn else {
            return Ok(None);
        };
        let replayed = txn.next_xid.load(std::sync::atomic::Ordering::SeqCst);
        let next_xid = if crate::txn::xid::xid_follows(replayed, checkpoint_next_xid) {
            replayed
        } else {
            checkpoint_next_xid
        };
        txn.next_xid
            .store(next_xid, std::sync::atomic::Ordering::SeqCst);
        txn.clog.trim_after_recovery(next_xid)?;
        crate::txn::xact::abort_in_progress_after_recovery(txn.clog, FIRST_NORMAL_XID, next_xid)?;
        txn.clog.flush_all()?;
        Ok(Some(next_xid))
    }

    fn redo(
        &mut self,
        pool: &BufferPool,
        lsn: Lsn,
        end_lsn: Lsn,
        record: &DecodedRecord<'_>,
    ) -> QuillResult<()> {
        if let Some(txn) = &self.txn {
            // Advances next_xid for every record; applies xact and clog records.
            if crate::txn::redo_record(txn.clog, txn.next_xid, end_lsn, record)? {
                // Files a commit (DROP) or abort (CREATE) record lists go too.
                return crate::txn::xact_rels::redo_relation_files(pool, record);
            }
        }
        match record.rmgr() {
            RmgrId::Xlog => Ok(()),
            RmgrId::Heap => heap_redo(pool, lsn, end_lsn, record),
            rmgr @ (RmgrId::Xact | RmgrId::Clog) => Err(no_redo_routine(rmgr, lsn)
                .with_detail("the transaction subsystem's redo needs a clog (RmgrRedo::with_txn)")),
            other => Err(no_redo_routine(other, lsn)),
        }
    }
}

/// The startup process's [`WalFlusher`] while it replays WAL: every record up to the
/// one being replayed was read from `pg_wal`, so WAL counts as durable up to that
/// record's end (the replay position) and a page changed by replay may be written
/// without flushing anything (PostgreSQL's `XLogFlush` in recovery only moves the
/// minimum recovery point). A page LSN beyond the replay position cannot come from
/// replayed WAL: flushing up to it is an error (corruption) and the page is not
/// written. Never use it once insertion has started.
#[derive(Debug, Default)]
pub struct RecoveryFlusher {
    replayed_upto: AtomicU64,
}

impl RecoveryFlusher {
    /// Replay has not started: nothing counts as durable but pages never WAL-logged.
    pub fn new() -> RecoveryFlusher {
        RecoveryFlusher::default()
    }

    /// The record ending at `end_lsn` has been read in full and is about to be (or
    /// has been) replayed. Never moves backwards.
    pub fn advance(&self, end_lsn: Lsn) {
        self.replayed_upto.fetch_max(end_lsn.0, Ordering::AcqRel);
    }
}

impl WalFlusher for RecoveryFlusher {
    fn flush(&self, upto: Lsn) -> QuillResult<()> {
        let replayed = self.flushed_lsn();
        if upto <= replayed {
            return Ok(());
        }
        Err(QuillError::new(
            sqlstate::DATA_CORRUPTED,
            format!("page LSN {upto} is beyond the replayed WAL, which ends at {replayed}"),
        )
        .with_detail("A data page changed during recovery is newer than the WAL that changed it."))
    }

    fn flushed_lsn(&self) -> Lsn {
        Lsn(self.replayed_upto.load(Ordering::Acquire))
    }
}

fn fatal(message: impl Into<String>) -> QuillError {
    QuillError::fatal(sqlstate::DATA_CORRUPTED, message)
}

/// Runs startup: bootstrap, clean start or crash recovery. On return the WAL accepts
/// insertions and `pg_control` says the system is in production.
///
/// `pool` is this process's handle on the buffer pool, flushing WAL through `wal`.
/// Replay goes through `pool.with_flusher(RecoveryFlusher)` (module doc); the
/// end-of-recovery (or bootstrap) checkpoint writes every dirty buffer through `pool`
/// itself, so each write obeys log before data against the real WAL.
pub fn startup(
    wal: &Wal,
    io: &Arc<dyn FileIo>,
    pool: &BufferPool,
    redo: &mut dyn RedoHandler,
    log_checkpoints: bool,
) -> QuillResult<StartupOutcome> {
    if !ControlFile::exists(io.as_ref()) {
        return bootstrap(wal, io.as_ref(), pool);
    }
    let mut control = ControlFile::read(io.as_ref()).map_err(|e| fatal(e.to_string()))?;
    let last_up = format_time(control.time);
    match control.state {
        DbState::Shutdowned => log::info!("database system was shut down at {last_up}"),
        _ => log::info!("database system was interrupted; last known up at {last_up}"),
    }
    let source = WalDirectory::new(Arc::clone(io), WAL_DIR, control.checkpoint_info.timeline);
    let mut reader =
        WalReader::new(source, control.checkpoint).expect_system_id(control.system_identifier);
    let (checkpoint_end, checkpoint_info) = match reader.next_record().map_err(|e| io_fatal(&e))? {
        Some(rec) if rec.record.rmgr() == RmgrId::Xlog => {
            let info = CheckpointInfo::decode(rec.record.main_data())
                .ok_or_else(|| fatal("invalid checkpoint record"))?;
            (rec.end_lsn, info)
        }
        _ => {
            return Err(fatal(format!(
                "could not locate a valid checkpoint record at {}",
                control.checkpoint
            )))
        }
    };
    let clean = control.state == DbState::Shutdowned
        && reader.next_record().map_err(|e| io_fatal(&e))?.is_none()
        && checkpoint_info.redo == control.checkpoint;
    let timeline = checkpoint_info.timeline;
    let mut next_xid = checkpoint_info.next_xid;
    let mut next_oid = checkpoint_info.next_oid;
    let (end, prev, replayed) = if clean {
        (checkpoint_end, control.checkpoint, 0)
    } else {
        log::info!("database system was not properly shut down; automatic recovery in progress");
        sync_data_directory(io.as_ref())?;
        let replayed = replay(io, pool, &control, checkpoint_info.redo, redo)?;
        if let Some(xid) = redo.finish_replay(checkpoint_info.next_xid)? {
            next_xid = xid;
        }
        // NEXTOID records after the redo point supersede the checkpoint's value
        // (online checkpoint records met during replay do not: PostgreSQL's rule).
        next_oid = replayed.next_oid.unwrap_or(next_oid);
        (replayed.end, replayed.prev, replayed.records)
    };
    if !clean {
        cut_wal_at(io.as_ref(), timeline, end)?;
    }
    wal.initialize(WalStart {
        end_of_wal: end,
        prev_record: prev,
        timeline,
        system_id: control.system_identifier,
    })?;
    wal.set_redo_ptr(checkpoint_info.redo);
    if clean {
        control.state = DbState::InProduction;
        control.time = now_epoch_seconds();
        control
            .write(io.as_ref())
            .map_err(|e| QuillError::io("could not write control file", &e))?;
    } else {
        create_checkpoint(
            wal,
            io.as_ref(),
            &mut control,
            &CheckpointRequest {
                reason: CheckpointReason::EndOfRecovery,
                next_xid,
                next_oid,
                log: log_checkpoints,
            },
            pool,
        )?;
    }
    Ok(StartupOutcome {
        control,
        records_replayed: replayed,
        crash_recovery: !clean,
    })
}

/// Replays from `redo` to the end of valid WAL through a handle on `pool` whose
/// flusher is a [`RecoveryFlusher`]; returns (end of WAL, last record's start,
/// records replayed).
fn replay(
    io: &Arc<dyn FileIo>,
    pool: &BufferPool,
    control: &ControlFile,
    redo_lsn: Lsn,
    redo: &mut dyn RedoHandler,
) -> QuillResult<Replayed> {
    let started = Instant::now();
    let source = WalDirectory::new(Arc::clone(io), WAL_DIR, control.checkpoint_info.timeline);
    let mut reader = WalReader::new(source, redo_lsn).expect_system_id(control.system_identifier);
    let flusher = Arc::new(RecoveryFlusher::new());
    let replay_pool = pool.with_flusher(Arc::clone(&flusher) as Arc<dyn WalFlusher>);
    let mut replayed = 0u64;
    let mut next_oid = None;
    let mut last = Lsn::INVALID;
    while let Some(rec) = reader.next_record().map_err(|e| io_fatal(&e))? {
        if replayed == 0 {
            log::info!("redo starts at {}", rec.lsn);
        }
        // Read in full and CRC-checked: durable up to its end, before its redo may
        // evict a page it has already changed (a two-block update).
        flusher.advance(rec.end_lsn);
        redo.redo(&replay_pool, rec.lsn, rec.end_lsn, &rec.record)?;
        let record = &rec.record;
        if let Some(oid) = decode_next_oid(record.rmgr(), record.info(), record.main_data()) {
            next_oid = Some(oid);
        }
        last = rec.lsn;
        replayed += 1;
    }
    if let Some(reason) = reader.end_reason() {
        log::info!("{reason}");
    }
    if replayed == 0 {
        log::info!("redo is not required");
    } else {
        let elapsed = started.elapsed();
        log::info!(
            "redo done at {last} system usage: elapsed: {}.{:02} s; {replayed} records",
            elapsed.as_secs(),
            elapsed.subsec_millis() / 10
        );
    }
    Ok(Replayed {
        end: reader.end_of_valid_wal(),
        prev: reader.last_record_lsn().unwrap_or(control.checkpoint),
        records: replayed,
        next_oid,
    })
}

/// What replay found: the end of valid WAL, the last record's start, how many
/// records were applied, and the last NEXTOID value (the OID counter recovery must
/// start from, if any was logged after the redo point).
struct Replayed {
    end: Lsn,
    prev: Lsn,
    records: u64,
    next_oid: Option<u32>,
}

/// fsyncs every file of the data directory before replay (PostgreSQL's
/// SyncDataDirectory). After a crash of the server (not of the machine) WAL that was
/// written but never fsynced — asynchronous commits, a backend killed between write
/// and fdatasync — is readable from the page cache; replay would apply it and the
/// end-of-recovery checkpoint would then trust it. Making it durable first keeps
/// "no page LSN beyond durable WAL" true if the machine crashes next.
fn sync_data_directory(io: &dyn FileIo) -> QuillResult<()> {
    let mut dirs = vec![PathBuf::from(WAL_DIR), PathBuf::from("pg_xact")];
    dirs.extend(relation_dirs(io));
    sync_files_in(io, &dirs)
}

/// Zeroes WAL after `end` in its segment and removes every later segment, so nothing
/// written before the crash beyond the end of valid WAL survives to be misread.
fn cut_wal_at(io: &dyn FileIo, timeline: TimeLineId, end: Lsn) -> QuillResult<()> {
    let segno = segno_of(end);
    let path = Path::new(WAL_DIR).join(segment_file_name(timeline, segno));
    if io.exists(&path) {
        let file = io
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| QuillError::io("could not open WAL segment", &e))?;
        let zeroes = vec![0u8; 1 << 20];
        let mut offset = end.0 - lsn_of_segment_start(segno).0;
        while offset < WAL_SEGMENT_SIZE {
            let n = (WAL_SEGMENT_SIZE - offset).min(zeroes.len() as u64) as usize;
            file.write_all_at(&zeroes[..n], offset)
                .map_err(|e| QuillError::io("could not zero WAL segment", &e))?;
            offset += n as u64;
        }
        file.sync_data()
            .map_err(|e| QuillError::io("could not fsync WAL segment", &e))?;
    }
    let names = io
        .list_dir(Path::new(WAL_DIR))
        .map_err(|e| QuillError::io("could not read directory \"pg_wal\"", &e))?;
    for name in names {
        if let Some((_, other)) = parse_segment_file_name(&name) {
            if other > segno {
                io.remove(&Path::new(WAL_DIR).join(&name))
                    .map_err(|e| QuillError::io("could not remove WAL segment", &e))?;
            }
        }
    }
    io.sync_dir(Path::new(WAL_DIR))
        .map_err(|e| QuillError::io("could not fsync directory \"pg_wal\"", &e))
}

/// A new data directory: WAL starts in segment 1 with a shutdown checkpoint.
fn bootstrap(wal: &Wal, io: &dyn FileIo, pool: &BufferPool) -> QuillResult<StartupOutcome> {
    let system_id = new_system_identifier();
    wal.initialize(WalStart {
        end_of_wal: lsn_of_segment_start(SegmentNo(1)),
        prev_record: Lsn::INVALID,
        timeline: TimeLineId::FIRST,
        system_id,
    })?;
    let mut control = ControlFile {
        system_identifier: system_id,
        state: DbState::Startup,
        time: now_epoch_seconds(),
        checkpoint: Lsn::INVALID,
        checkpoint_info: CheckpointInfo {
            redo: Lsn::INVALID,
            timeline: TimeLineId::FIRST,
            next_xid: FIRST_NORMAL_XID,
            next_oid: FIRST_NORMAL_OID,
            time: now_epoch_seconds(),
        },
        data_checksum_version: 1,
    };
    create_checkpoint(
        wal,
        io,
        &mut control,
        &CheckpointRequest {
            reason: CheckpointReason::EndOfRecovery,
            next_xid: FIRST_NORMAL_XID,
            next_oid: FIRST_NORMAL_OID,
            log: false,
        },
        pool,
    )?;
    log::info!(
        "database system was initialized; first checkpoint at {}",
        control.checkpoint
    );
    Ok(StartupOutcome {
        control,
        records_replayed: 0,
        crash_recovery: false,
    })
}

fn io_fatal(e: &std::io::Error) -> QuillError {
    QuillError::io("could not read WAL", e)
}

/// `2026-11-25 22:40:01 UTC` for log lines.
pub fn format_time(epoch_seconds: i64) -> String {
    let days = epoch_seconds.div_euclid(86_400);
    let rem = epoch_seconds.rem_euclid(86_400);
    let (y, m, d) = crate::logging::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;
    use crate::storage::buffer::test_support::test_pool;
    use crate::storage::fault::SimulatedDisk;
    use crate::wal::checkpoint::NoDataPages;
    use crate::wal::record::RecordBuilder;
    use crate::wal::xlog::WalShared;

    const RING_PAGES: usize = 16;

    /// A fresh "server life": new shared memory over the same disk.
    fn new_wal(disk: &Arc<dyn FileIo>) -> Arc<Wal> {
        let segment = TestSegment::new(crate::shmem::WAL_CONTROL_LEN_BYTES + RING_PAGES * 8192);
        Arc::new(Wal::attach(
            segment.struct_at::<WalShared>(0),
            segment.bytes(crate::shmem::WAL_CONTROL_LEN_BYTES, RING_PAGES * 8192),
            Arc::clone(disk),
            true,
        ))
    }

    fn new_disk() -> (SimulatedDisk, Arc<dyn FileIo>) {
        let disk = SimulatedDisk::new();
        disk.create_dir_all(Path::new("global")).unwrap();
        disk.create_dir_all(Path::new(WAL_DIR)).unwrap();
        disk.sync_dir(Path::new("")).unwrap();
        let io: Arc<dyn FileIo> = Arc::new(disk.clone());
        (disk, io)
    }

    /// Collects the payload records (heap rmgr) replayed.
    #[derive(Default)]
    struct Collect(Vec<u32>);

    impl RedoHandler for Collect {
        fn redo(
            &mut self,
            _pool: &BufferPool,
            _lsn: Lsn,
            _end: Lsn,
            record: &DecodedRecord<'_>,
        ) -> QuillResult<()> {
            if record.rmgr() == RmgrId::Heap {
                let data = record.main_data();
                self.0
                    .push(u32::from_le_bytes(data[..4].try_into().unwrap()));
            }
            Ok(())
        }
    }

    fn insert(wal: &Wal, n: u32) -> Lsn {
        let mut data = vec![(n % 200) as u8; 100 + (n as usize * 37) % 3000];
        data[..4].copy_from_slice(&n.to_le_bytes());
        let mut record = RecordBuilder::new(RmgrId::Heap, 0, n);
        record.main_data(&data);
        wal.insert(&record).unwrap().1
    }

    fn start(io: &Arc<dyn FileIo>) -> (Arc<Wal>, StartupOutcome, Vec<u32>) {
        let wal = new_wal(io);
        let pool = test_pool(4, Arc::clone(io), wal.clone());
        let mut collect = Collect::default();
        let outcome = startup(&wal, io, &pool, &mut collect, false).unwrap();
        (wal, outcome, collect.0)
    }

    #[test]
    fn recovery_flusher_counts_replayed_wal_as_durable_and_nothing_beyond() {
        let flusher = RecoveryFlusher::new();
        assert_eq!(flusher.flushed_lsn(), Lsn::INVALID);
        flusher.flush(Lsn::INVALID).unwrap(); // a page never WAL-logged
        assert!(flusher.flush(Lsn(0x100_0028)).is_err());
        flusher.advance(Lsn(0x100_0100));
        flusher.advance(Lsn(0x100_0080)); // never backwards
        assert_eq!(flusher.flushed_lsn(), Lsn(0x100_0100));
        flusher.flush(Lsn(0x100_0100)).unwrap();
        let err = flusher.flush(Lsn(0x100_0101)).unwrap_err();
        assert_eq!(err.sqlstate, sqlstate::DATA_CORRUPTED);
        assert_eq!(
            err.message,
            "page LSN 0/1000101 is beyond the replayed WAL, which ends at 0/1000100"
        );
    }

    #[test]
    fn rmgr_redo_applies_xlog_and_rejects_what_it_cannot_apply() {
        let (_disk, io) = new_disk();
        let wal = new_wal(&io);
        let pool = test_pool(4, Arc::clone(&io), wal.clone());
        let mut redo = RmgrRedo::new();
        let mut check = |rmgr: RmgrId| {
            let mut builder = RecordBuilder::new(rmgr, 0, 0);
            builder.main_data(&[0; 8]);
            let mut bytes = Vec::new();
            builder
                .assemble(&mut bytes)
                .unwrap()
                .finish(&mut bytes, Lsn::INVALID);
            let record = DecodedRecord::decode(&bytes).unwrap();
            redo.redo(&pool, Lsn(0x100_0028), Lsn(0x100_0050), &record)
        };
        check(RmgrId::Xlog).unwrap();
        let err = check(RmgrId::Xact).unwrap_err();
        assert!(
            err.message
                .starts_with("no redo routine for resource manager"),
            "{err:?}"
        );
        assert!(check(RmgrId::Clog).is_err());
        assert!(check(RmgrId::Btree).is_err());
    }

    #[test]
    fn new_cluster_bootstraps_then_restarts_cleanly_after_shutdown_checkpoint() {
        let (_disk, io) = new_disk();
        let (wal, outcome, _) = start(&io);
        assert!(!outcome.crash_recovery);
        let mut control = outcome.control;
        assert_eq!(control.state, DbState::InProduction);
        for n in 0..10 {
            insert(&wal, n);
        }
        create_checkpoint(
            &wal,
            io.as_ref(),
            &mut control,
            &CheckpointRequest {
                reason: CheckpointReason::Shutdown,
                next_xid: 5,
                next_oid: 16400,
                log: false,
            },
            &NoDataPages,
        )
        .unwrap();
        let (_wal2, outcome2, replayed) = start(&io);
        assert!(!outcome2.crash_recovery);
        assert!(replayed.is_empty());
        assert_eq!(outcome2.control.checkpoint_info.next_oid, 16400);
    }

    #[test]
    fn crash_recovery_replays_flushed_records_and_wal_continues_after_them() {
        let (_disk, io) = new_disk();
        let (wal, _, _) = start(&io);
        let mut end = Lsn::INVALID;
        for n in 0..50 {
            end = insert(&wal, n);
        }
        wal.flush(end).unwrap();
        // Crash: no shutdown checkpoint; shared memory is gone.
        let (wal2, outcome, replayed) = start(&io);
        assert!(outcome.crash_recovery);
        assert_eq!(replayed, (0..50).collect::<Vec<_>>());
        // New records follow; a second crash replays old and new (checkpoint moved
        // the redo point past the first 50).
        let mut end = Lsn::INVALID;
        for n in 50..60 {
            end = insert(&wal2, n);
        }
        wal2.flush(end).unwrap();
        let (_wal3, _, replayed) = start(&io);
        assert_eq!(replayed, (50..60).collect::<Vec<_>>());
    }

    /// Power loss at a random point: every record whose flush returned survives, the
    /// replayed records are a prefix of those inserted (no holes, no stale records),
    /// and the server can run and crash again. Seeds: QUILL_POWER_LOSS_ROUNDS (default
    /// 200).
    #[test]
    fn power_loss_keeps_every_flushed_record_and_only_a_prefix_of_the_rest() {
        let rounds: u64 = std::env::var("QUILL_POWER_LOSS_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        for seed in 0..rounds {
            let (disk, io) = new_disk();
            let (wal, _, _) = start(&io);
            let mut rng = crate::storage::fault::XorShift64Star::new(seed + 1);
            let mut next = 0u32;
            let mut acknowledged = 0u32;
            let total = 20 + rng.below(80) as u32;
            while next < total {
                let end = insert(&wal, next);
                next += 1;
                if rng.chance(1, 4) {
                    wal.flush(end).unwrap();
                    acknowledged = next;
                }
            }
            disk.crash(seed);
            let (wal2, outcome, replayed) = start(&io);
            assert!(outcome.crash_recovery, "seed {seed}");
            assert!(
                replayed.len() >= acknowledged as usize,
                "seed {seed}: lost acknowledged records"
            );
            assert_eq!(
                replayed,
                (0..replayed.len() as u32).collect::<Vec<_>>(),
                "seed {seed}"
            );
            // Life goes on: a new record after recovery, another crash, still there.
            let end = insert(&wal2, 1000);
            wal2.flush(end).unwrap();
            disk.crash(seed ^ 0xABCD);
            let (_, _, replayed) = start(&io);
            assert_eq!(replayed, vec![1000], "seed {seed}");
        }
    }
}
