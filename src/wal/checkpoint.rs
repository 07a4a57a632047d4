//! Checkpoints (DESIGN.md §4): the point from which recovery replays.
//!
//! A checkpoint (1) fixes its redo point at the current insert position — every
//! change after it is in WAL after it, (2) writes every dirty buffer (each write
//! obeys log-before-data in the buffer manager), (3) fsyncs the data files written,
//! (4) inserts a checkpoint record and flushes it, (5) rewrites `pg_control` to point
//! at the record, and (6) removes WAL segments wholly before the redo point, which no
//! recovery can need any more. If the server crashes at any step before (5), the
//! previous checkpoint is still the one recovery starts from, and its WAL is still
//! there because (6) comes last.

use std::path::Path;
use std::time::Instant;

use crate::error::{sqlstate, QuillError, QuillResult};
use crate::storage::file_io::FileIo;
use crate::wal::control::{now_epoch_seconds, CheckpointInfo, ControlFile, DbState};
use crate::wal::record::{RecordBuilder, RmgrId};
use crate::wal::segment::{parse_segment_file_name, segno_of, TimeLineId};
use crate::wal::xlog::{Wal, WAL_DIR};
use crate::wal::Lsn;

/// xl_info of a shutdown checkpoint (also written at the end of recovery).
pub const XLOG_CHECKPOINT_SHUTDOWN: u8 = 0x00;
/// xl_info of an online (timed or requested) checkpoint.
pub const XLOG_CHECKPOINT_ONLINE: u8 = 0x10;

/// xl_info of a NEXTOID record: OIDs below the value it carries may be in use.
pub const XLOG_NEXTOID: u8 = 0x30;

/// How many OIDs one NEXTOID record covers (PostgreSQL's `VAR_OID_PREFETCH`).
pub const OID_PREFETCH: u32 = 8192;

/// A NEXTOID record: written before any OID below `next_oid` is handed out, so
/// recovery never hands one out again (its only data is the 4-byte value).
pub fn next_oid_record(next_oid: &[u8; 4]) -> RecordBuilder<'_> {
    let mut record = RecordBuilder::new(RmgrId::Xlog, XLOG_NEXTOID, 0);
    record.main_data(next_oid);
    record
}

/// The value of a NEXTOID record, `None` for any other record.
pub fn decode_next_oid(rmgr: RmgrId, info: u8, main_data: &[u8]) -> Option<u32> {
    if rmgr != RmgrId::Xlog || info & 0xF0 != XLOG_NEXTOID {
        return None;
    }
    Some(u32::from_le_bytes(main_data.get(..4)?.try_into().ok()?))
}

const CHECKPOINT_DATA_LEN: usize = 32;

impl CheckpointInfo {
    pub fn encode(&self) -> [u8; CHECKPOINT_DATA_LEN] {
        let mut out = [0u8; CHECKPOINT_DATA_LEN];
        out[0..8].copy_from_slice(&self.redo.0.to_le_bytes());
        out[8..12].copy_from_slice(&self.timeline.0.to_le_bytes());
        out[12..16].copy_from_slice(&self.next_xid.to_le_bytes());
        out[16..20].copy_from_slice(&self.next_oid.to_le_bytes());
        out[24..32].copy_from_slice(&self.time.to_le_bytes());
        out
    }

    pub fn decode(data: &[u8]) -> Option<CheckpointInfo> {
        if data.len() != CHECKPOINT_DATA_LEN {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4"));
        let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().expect("8"));
        Some(CheckpointInfo {
            redo: Lsn(u64_at(0)),
            timeline: TimeLineId(u32_at(8)),
            next_xid: u32_at(12),
            next_oid: u32_at(16),
            time: u64_at(24) as i64,
        })
    }
}

/// Why a checkpoint runs (PostgreSQL's log wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointReason {
    Shutdown,
    EndOfRecovery,
    Time,
    Wal,
    Immediate,
}

impl CheckpointReason {
    fn describe(self) -> &'static str {
        match self {
            CheckpointReason::Shutdown => "shutdown immediate",
            CheckpointReason::EndOfRecovery => "end-of-recovery immediate wait",
            CheckpointReason::Time => "time",
            CheckpointReason::Wal => "wal",
            CheckpointReason::Immediate => "immediate force wait",
        }
    }

    fn is_shutdown(self) -> bool {
        matches!(
            self,
            CheckpointReason::Shutdown | CheckpointReason::EndOfRecovery
        )
    }
}

/// What a checkpoint did, for the `log_checkpoints` line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointStats {
    pub buffers_written: usize,
    pub segments_removed: usize,
    pub write_ms: u128,
    pub sync_ms: u128,
    pub total_ms: u128,
    pub lsn: Lsn,
    pub redo: Lsn,
}

/// The data-page side of a checkpoint, supplied by the buffer manager: write every
/// dirty buffer (obeying rule 1), and fsync the files written.
pub trait CheckpointWork {
    /// `(next_xid, next_oid)` for the checkpoint record, read after the redo point is
    /// fixed: an xid or OID handed out before that point but after the caller read
    /// its counters would otherwise be missing from both the record and the WAL that
    /// recovery replays. `None` (the default) keeps the request's values.
    fn counters_after_redo(&self) -> Option<(u32, u32)> {
        None
    }
    /// Called right after the redo point is fixed: waits for commits whose record
    /// may precede it but whose clog update is not done (so clog written by this
    /// checkpoint would miss it). None by default (no concurrent committers).
    fn wait_for_commits_in_flight(&self) {}
    fn write_dirty_buffers(&self) -> QuillResult<usize>;
    fn sync_data_files(&self) -> QuillResult<()>;
}

/// No data pages yet (a server without a buffer pool, or tests).
pub struct NoDataPages;

impl CheckpointWork for NoDataPages {
    fn write_dirty_buffers(&self) -> QuillResult<usize> {
        Ok(0)
    }

    fn sync_data_files(&self) -> QuillResult<()> {
        Ok(())
    }
}

/// What a checkpoint is asked to record.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointRequest {
    pub reason: CheckpointReason,
    /// Counters the checkpoint record carries for the next startup.
    pub next_xid: u32,
    pub next_oid: u32,
    /// `log_checkpoints`.
    pub log: bool,
}

/// Runs one checkpoint and updates `control` (in memory and on disk).
pub fn create_checkpoint(
    wal: &Wal,
    io: &dyn FileIo,
    control: &mut ControlFile,
    request: &CheckpointRequest,
    work: &dyn CheckpointWork,
) -> QuillResult<CheckpointStats> {
    let CheckpointRequest {
        reason,
        next_xid,
        next_oid,
        log: log_checkpoints,
    } = *request;
    let started = Instant::now();
    if log_checkpoints && reason != CheckpointReason::EndOfRecovery {
        log::info!("checkpoint starting: {}", reason.describe());
    }
    let redo = wal.begin_checkpoint();
    work.wait_for_commits_in_flight();
    let (next_xid, next_oid) = work.counters_after_redo().unwrap_or((next_xid, next_oid));
    let buffers_written = work.write_dirty_buffers()?;
    let write_ms = started.elapsed().as_millis();
    let sync_started = Instant::now();
    work.sync_data_files()?;
    let sync_ms = sync_started.elapsed().as_millis();

    let info = CheckpointInfo {
        redo,
        timeline: control.checkpoint_info.timeline,
        next_xid,
        next_oid,
        time: now_epoch_seconds(),
    };
    let data = info.encode();
    let mut record = RecordBuilder::new(
        RmgrId::Xlog,
        if reason.is_shutdown() {
            XLOG_CHECKPOINT_SHUTDOWN
        } else {
            XLOG_CHECKPOINT_ONLINE
        },
        0,
    );
    record.main_data(&data);
    let (start, end) = wal.insert(&record)?;
    wal.flush(end)?;
    // A shutdown checkpoint must be the last record: its redo point is itself.
    let info = if reason.is_shutdown() {
        CheckpointInfo {
            redo: start,
            ..info
        }
    } else {
        info
    };
    *control = ControlFile {
        state: if reason == CheckpointReason::Shutdown {
            DbState::Shutdowned
        } else {
            DbState::InProduction
        },
        time: now_epoch_seconds(),
        checkpoint: start,
        checkpoint_info: info,
        ..*control
    };
    control
        .write(io)
        .map_err(|e| QuillError::io("could not write control file \"global/pg_control\"", &e))?;
    let segments_removed = remove_old_segments(io, info.redo)?;
    let stats = CheckpointStats {
        buffers_written,
        segments_removed,
        write_ms,
        sync_ms,
        total_ms: started.elapsed().as_millis(),
        lsn: start,
        redo: info.redo,
    };
    if log_checkpoints {
        log_checkpoint_complete(reason, &stats);
    }
    Ok(stats)
}

fn log_checkpoint_complete(reason: CheckpointReason, s: &CheckpointStats) {
    let what = if reason == CheckpointReason::EndOfRecovery {
        "end-of-recovery checkpoint complete"
    } else {
        "checkpoint complete"
    };
    log::info!(
        "{what}: wrote {} buffers; 0 WAL file(s) added, {} removed, 0 recycled; write={}.{:03} s, sync={}.{:03} s, total={}.{:03} s; lsn={}, redo lsn={}",
        s.buffers_written,
        s.segments_removed,
        s.write_ms / 1000,
        s.write_ms % 1000,
        s.sync_ms / 1000,
        s.sync_ms % 1000,
        s.total_ms / 1000,
        s.total_ms % 1000,
        s.lsn,
        s.redo
    );
}

/// Removes WAL segment files wholly before the one holding `redo`.
pub fn remove_old_segments(io: &dyn FileIo, redo: Lsn) -> QuillResult<usize> {
    let keep_from = segno_of(redo);
    let names = io
        .list_dir(Path::new(WAL_DIR))
        .map_err(|e| QuillError::io("could not read directory \"pg_wal\"", &e))?;
    let mut removed = 0;
    for name in names {
        if let Some((_, segno)) = parse_segment_file_name(&name) {
            if segno < keep_from {
                io.remove(&Path::new(WAL_DIR).join(&name)).map_err(|e| {
                    QuillError::new(
                        sqlstate::IO_ERROR,
                        format!("could not remove file \"pg_wal/{name}\": {e}"),
                    )
                })?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        let _ = io.sync_dir(Path::new(WAL_DIR));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_data_round_trips() {
        let info = CheckpointInfo {
            redo: Lsn(0x1_2345_6789),
            timeline: TimeLineId::FIRST,
            next_xid: 1000,
            next_oid: 16400,
            time: 1_764_000_000,
        };
        assert_eq!(CheckpointInfo::decode(&info.encode()), Some(info));
        assert_eq!(CheckpointInfo::decode(&[0; 5]), None);
    }
}
