//! `quill init`: creates a data directory (DESIGN.md §3).
//!
//! The directory counts as initialised once `PG_VERSION` exists; it is written last,
//! so an interrupted init leaves a directory `quill start` refuses rather than one
//! it half-trusts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::catalog::{POSTGRES_OID, TEMPLATE0_OID, TEMPLATE1_OID};

pub const PG_VERSION: &str = "15";

/// True if `dir` holds an initialised data directory.
pub fn is_initialized(dir: &Path) -> bool {
    dir.join("PG_VERSION").is_file()
}

/// True if `dir` is missing or empty, so `init` may create a data directory there.
pub fn is_missing_or_empty(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The OS user running us: the default superuser name, as initdb uses.
pub fn os_user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "postgres".to_string())
}

/// Creates a new data directory at `dir` owned by superuser `superuser`.
pub fn init_data_directory(dir: &Path, superuser: &str) -> Result<(), String> {
    if !is_missing_or_empty(dir) {
        return Err(format!(
            "directory \"{}\" exists but is not empty\nIf you want to create a new database system, either remove or empty the directory \"{}\" or run quill init with an argument other than \"{}\".",
            dir.display(),
            dir.display(),
            dir.display()
        ));
    }
    if superuser.is_empty() || superuser.len() > 63 {
        return Err(format!("superuser name \"{superuser}\" is invalid"));
    }
    let io = |what: &str, e: std::io::Error| format!("could not {what}: {e}");
    fs::create_dir_all(dir)
        .map_err(|e| io(&format!("create directory \"{}\"", dir.display()), e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io("change permissions of data directory", e))?;
    for sub in [
        "global".to_string(),
        "pg_wal".to_string(),
        "pg_xact".to_string(),
        format!("base/{TEMPLATE1_OID}"),
        format!("base/{TEMPLATE0_OID}"),
        format!("base/{POSTGRES_OID}"),
    ] {
        fs::create_dir_all(dir.join(&sub))
            .map_err(|e| io(&format!("create directory \"{sub}\""), e))?;
    }
    fs::write(dir.join("postgresql.conf"), crate::config::DEFAULT_CONF)
        .map_err(|e| io("write postgresql.conf", e))?;
    bootstrap_wal_and_catalogs(dir, superuser)?;
    sync_dir_tree(dir);
    fs::write(dir.join("PG_VERSION"), format!("{PG_VERSION}\n"))
        .map_err(|e| io("write PG_VERSION", e))?;
    sync_dir_tree(dir);
    Ok(())
}

/// Buffers and WAL buffers init uses (it runs alone, in private shared memory).
const INIT_BUFFERS: usize = 256;
const INIT_WAL_PAGES: usize = 128;

/// Creates the first WAL segment and checkpoint, writes the system catalogs as heap
/// tables (every row WAL-logged), and ends with a shutdown checkpoint, so the first
/// `quill start` finds a cleanly shut down cluster — what initdb's bootstrap does.
/// A crash in here leaves no PG_VERSION, so the directory is never taken for a
/// finished one.
fn bootstrap_wal_and_catalogs(dir: &Path, superuser: &str) -> Result<(), String> {
    use std::sync::Arc;

    use crate::shmem::{TestSegment, WAL_CONTROL_LEN_BYTES};
    use crate::storage::buffer::{BufferPool, BufferPoolShmem, WalFlusher};
    use crate::storage::file_io::{FileIo, OsFileIo};
    use crate::storage::smgr::Smgr;
    use crate::wal::checkpoint::{create_checkpoint, CheckpointReason, CheckpointRequest};
    use crate::wal::recovery::{startup, RmgrRedo};
    use crate::wal::xlog::{Wal, WalShared};

    let fail = |e: crate::error::QuillError| e.message;
    let io: Arc<dyn FileIo> = Arc::new(OsFileIo::new(dir));
    let wal_segment = TestSegment::new(WAL_CONTROL_LEN_BYTES + INIT_WAL_PAGES * 8192);
    let wal = Arc::new(Wal::attach(
        wal_segment.struct_at::<WalShared>(0),
        wal_segment.bytes(WAL_CONTROL_LEN_BYTES, INIT_WAL_PAGES * 8192),
        Arc::clone(&io),
        true,
    ));
    let buffer_segment = TestSegment::new(BufferPoolShmem::test_segment_len_bytes(INIT_BUFFERS));
    let pool = BufferPool::attach(
        BufferPoolShmem::from_test_segment(&buffer_segment, INIT_BUFFERS),
        Arc::new(Smgr::new(Arc::clone(&io))),
        Arc::clone(&wal) as Arc<dyn WalFlusher>,
    );
    let outcome = startup(&wal, &io, &pool, &mut RmgrRedo::new(), false).map_err(fail)?;
    crate::catalog::bootstrap_catalogs(&pool, &wal, superuser, true).map_err(fail)?;
    let mut control = outcome.control;
    let info = control.checkpoint_info;
    create_checkpoint(
        &wal,
        io.as_ref(),
        &mut control,
        &CheckpointRequest {
            reason: CheckpointReason::Shutdown,
            next_xid: info.next_xid,
            next_oid: info.next_oid,
            log: false,
        },
        &pool,
    )
    .map_err(fail)?;
    Ok(())
}

/// fsyncs every file and directory of a new data directory so a crash right after
/// init cannot leave it half-written.
fn sync_dir_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sync_dir_tree(&path);
            } else if let Ok(file) = fs::File::open(&path) {
                let _ = file.sync_all();
            }
        }
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_layout_and_refuses_non_empty_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        init_data_directory(&dir, "alice").unwrap();
        assert!(is_initialized(&dir));
        for sub in [
            "global",
            "pg_wal",
            "pg_xact",
            "base/1",
            "base/5",
            "postgresql.conf",
        ] {
            assert!(dir.join(sub).exists(), "{sub}");
        }
        // The catalogs are heap tables, and the cluster is cleanly shut down.
        assert!(dir.join("global/1260").exists() && dir.join("base/5/1259").exists());
        let io = crate::storage::file_io::OsFileIo::new(&dir);
        let control = crate::wal::control::ControlFile::read(&io).unwrap();
        assert_eq!(control.state, crate::wal::control::DbState::Shutdowned);
        let err = init_data_directory(&dir, "alice").unwrap_err();
        assert!(err.contains("exists but is not empty"), "{err}");
    }
}
