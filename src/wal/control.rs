//! `global/pg_control`: where recovery starts (DESIGN.md §3, §4).
//!
//! The control file records the cluster's identity, the last checkpoint's location
//! and redo point, and whether the server shut down cleanly. It is small (well under
//! one 512-byte sector of real content) inside an 8 KiB file, protected by a CRC-32C,
//! and written crash-safely: the new contents go to `pg_control.tmp`, are fsynced, and
//! are renamed over the old file, then the directory is fsynced. A reader therefore
//! sees either the old or the new file, and a CRC mismatch means real damage.
//!
//! Layout (little-endian): see [`ControlFile::encode`]; the CRC covers every byte
//! before it.

use std::path::Path;

use crate::storage::file_io::{FileIo, OpenMode};
use crate::wal::record::crc32c;
use crate::wal::segment::TimeLineId;
use crate::wal::Lsn;

pub const CONTROL_FILE_PATH: &str = "global/pg_control";
/// PostgreSQL's PG_CONTROL_FILE_SIZE.
pub const CONTROL_FILE_SIZE: usize = 8192;
/// PostgreSQL 15's PG_CONTROL_VERSION.
pub const PG_CONTROL_VERSION: u32 = 1300;
/// Quill's catalog version (PostgreSQL's CATALOG_VERSION_NO analogue).
pub const CATALOG_VERSION: u32 = 202_611_251;

/// PostgreSQL's DBState.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    Startup = 0,
    Shutdowned = 1,
    ShutdownedInRecovery = 2,
    Shutdowning = 3,
    InCrashRecovery = 4,
    InArchiveRecovery = 5,
    InProduction = 6,
}

impl DbState {
    fn from_u32(value: u32) -> Option<DbState> {
        Some(match value {
            0 => DbState::Startup,
            1 => DbState::Shutdowned,
            2 => DbState::ShutdownedInRecovery,
            3 => DbState::Shutdowning,
            4 => DbState::InCrashRecovery,
            5 => DbState::InArchiveRecovery,
            6 => DbState::InProduction,
            _ => return None,
        })
    }

    /// pg_controldata's wording.
    pub fn describe(self) -> &'static str {
        match self {
            DbState::Startup => "starting up",
            DbState::Shutdowned => "shut down",
            DbState::ShutdownedInRecovery => "shut down in recovery",
            DbState::Shutdowning => "shutting down",
            DbState::InCrashRecovery => "in crash recovery",
            DbState::InArchiveRecovery => "in archive recovery",
            DbState::InProduction => "in production",
        }
    }
}

/// The contents of the latest checkpoint, as its WAL record and pg_control carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Where redo must start to recover from this checkpoint.
    pub redo: Lsn,
    pub timeline: TimeLineId,
    pub next_xid: u32,
    pub next_oid: u32,
    /// Seconds since the Unix epoch.
    pub time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlFile {
    pub system_identifier: u64,
    pub state: DbState,
    /// When the file was last written (epoch seconds).
    pub time: i64,
    /// Start LSN of the last checkpoint record.
    pub checkpoint: Lsn,
    pub checkpoint_info: CheckpointInfo,
    pub data_checksum_version: u32,
}

#[derive(Debug)]
pub enum ControlFileError {
    Io(std::io::Error),
    Crc,
    Version(u32),
    Corrupt(&'static str),
}

impl std::fmt::Display for ControlFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlFileError::Io(e) => write!(f, "could not read file \"{CONTROL_FILE_PATH}\": {e}"),
            ControlFileError::Crc => write!(f, "incorrect checksum in control file"),
            ControlFileError::Version(v) => write!(
                f,
                "database files are incompatible with server: PG_CONTROL_VERSION {v}, server expects {PG_CONTROL_VERSION}"
            ),
            ControlFileError::Corrupt(what) => write!(f, "invalid control file: {what}"),
        }
    }
}

const CRC_OFFSET: usize = 72;

impl ControlFile {
    /// Serialises into the fixed 8 KiB image with its CRC.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CONTROL_FILE_SIZE);
        out.extend_from_slice(&self.system_identifier.to_le_bytes()); // 0
        out.extend_from_slice(&PG_CONTROL_VERSION.to_le_bytes()); // 8
        out.extend_from_slice(&CATALOG_VERSION.to_le_bytes()); // 12
        out.extend_from_slice(&(self.state as u32).to_le_bytes()); // 16
        out.extend_from_slice(&self.data_checksum_version.to_le_bytes()); // 20
        out.extend_from_slice(&self.time.to_le_bytes()); // 24
        out.extend_from_slice(&self.checkpoint.0.to_le_bytes()); // 32
        let info = &self.checkpoint_info;
        out.extend_from_slice(&info.redo.0.to_le_bytes()); // 40
        out.extend_from_slice(&info.timeline.0.to_le_bytes()); // 48
        out.extend_from_slice(&info.next_xid.to_le_bytes()); // 52
        out.extend_from_slice(&info.next_oid.to_le_bytes()); // 56
        out.extend_from_slice(&[0; 4]); // 60 padding
        out.extend_from_slice(&info.time.to_le_bytes()); // 64
        debug_assert_eq!(out.len(), CRC_OFFSET);
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.resize(CONTROL_FILE_SIZE, 0);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<ControlFile, ControlFileError> {
        if bytes.len() < CRC_OFFSET + 4 {
            return Err(ControlFileError::Corrupt("file too short"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != PG_CONTROL_VERSION {
            return Err(ControlFileError::Version(version));
        }
        if crc32c(&bytes[..CRC_OFFSET]) != u32_at(CRC_OFFSET) {
            return Err(ControlFileError::Crc);
        }
        let state = DbState::from_u32(u32_at(16)).ok_or(ControlFileError::Corrupt("bad state"))?;
        Ok(ControlFile {
            system_identifier: u64_at(0),
            state,
            data_checksum_version: u32_at(20),
            time: u64_at(24) as i64,
            checkpoint: Lsn(u64_at(32)),
            checkpoint_info: CheckpointInfo {
                redo: Lsn(u64_at(40)),
                timeline: TimeLineId(u32_at(48)),
                next_xid: u32_at(52),
                next_oid: u32_at(56),
                time: u64_at(64) as i64,
            },
        })
    }

    pub fn read(io: &dyn FileIo) -> Result<ControlFile, ControlFileError> {
        let file = io
            .open(Path::new(CONTROL_FILE_PATH), OpenMode::ReadOnly)
            .map_err(ControlFileError::Io)?;
        let mut bytes = vec![0u8; CONTROL_FILE_SIZE];
        let n = file
            .read_full_at(&mut bytes, 0)
            .map_err(ControlFileError::Io)?;
        ControlFile::decode(&bytes[..n])
    }

    pub fn exists(io: &dyn FileIo) -> bool {
        io.exists(Path::new(CONTROL_FILE_PATH))
    }

    /// Replaces the control file crash-safely (write temp, fsync, rename, fsync dir).
    pub fn write(&self, io: &dyn FileIo) -> std::io::Result<()> {
        let path = Path::new(CONTROL_FILE_PATH);
        let tmp = Path::new("global/pg_control.tmp");
        let _ = io.remove(tmp);
        let file = io.open(tmp, OpenMode::CreateNew)?;
        file.write_all_at(&self.encode(), 0)?;
        file.sync_all()?;
        drop(file);
        io.rename(tmp, path)?;
        io.sync_dir(Path::new("global"))
    }
}

/// A new cluster's system identifier: time-based and unique per init, as initdb's.
pub fn new_system_identifier() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() << 32)
        | (u64::from(now.subsec_micros()) << 12)
        | u64::from(std::process::id() & 0xFFF)
}

pub fn now_epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fault::SimulatedDisk;

    fn sample() -> ControlFile {
        ControlFile {
            system_identifier: 7_000_000_000_123,
            state: DbState::InProduction,
            time: 1_764_000_000,
            checkpoint: Lsn(0x0100_0028),
            checkpoint_info: CheckpointInfo {
                redo: Lsn(0x0100_0028),
                timeline: TimeLineId::FIRST,
                next_xid: 735,
                next_oid: 16384,
                time: 1_764_000_000,
            },
            data_checksum_version: 1,
        }
    }

    #[test]
    fn round_trips_and_detects_damage() {
        let c = sample();
        let mut bytes = c.encode();
        assert_eq!(bytes.len(), CONTROL_FILE_SIZE);
        assert_eq!(ControlFile::decode(&bytes).unwrap(), c);
        for i in 0..CRC_OFFSET + 4 {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(
                ControlFile::decode(&damaged).is_err(),
                "flip at byte {i} not detected"
            );
        }
        bytes[8] = 0;
        assert!(matches!(
            ControlFile::decode(&bytes),
            Err(ControlFileError::Version(_))
        ));
    }

    #[test]
    fn written_file_survives_a_crash_as_old_or_new() {
        let disk = SimulatedDisk::new();
        disk.create_dir_all(Path::new("global")).unwrap();
        let old = sample();
        old.write(&disk).unwrap();
        let mut new = sample();
        new.state = DbState::Shutdowned;
        for seed in 0..50 {
            let disk = disk.clone();
            old.write(&disk).unwrap();
            // Start writing the new file, crash before the rename is durable.
            let tmp = Path::new("global/pg_control.tmp");
            let f = disk.open(tmp, OpenMode::CreateNew).unwrap();
            f.write_all_at(&new.encode(), 0).unwrap();
            drop(f);
            disk.crash(seed);
            assert_eq!(ControlFile::read(&disk).unwrap(), old, "seed {seed}");
        }
        new.write(&disk).unwrap();
        disk.crash(99);
        assert_eq!(ControlFile::read(&disk).unwrap(), new);
    }
}
