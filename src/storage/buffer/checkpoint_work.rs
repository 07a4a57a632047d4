//! The buffer pool's part in a checkpoint (DESIGN.md §4): write every dirty buffer
//! (each through the one write path, which flushes WAL first), then fsync every data
//! file written since the last checkpoint. Only the checkpointer (and the startup
//! process, for the end-of-recovery checkpoint) calls this.
//!
//! Why the pending set is complete: it is taken after all dirty buffers were written,
//! so every write of a change older than the checkpoint's redo point — by the
//! checkpointer or by a backend evicting a page — was recorded before it is taken.

use std::path::Path;

use super::BufferPool;
use crate::error::{QuillError, QuillResult};
use crate::storage::file_io::{FileIo, OpenMode};
use crate::wal::checkpoint::CheckpointWork;

impl CheckpointWork for BufferPool {
    fn write_dirty_buffers(&self) -> QuillResult<usize> {
        self.flush_all_dirty(|_| {})
    }

    fn sync_data_files(&self) -> QuillResult<()> {
        let pending = self.take_pending_syncs();
        if pending.sync_everything {
            return sync_all_relation_files(self.smgr().file_io().as_ref());
        }
        for (rel, fork) in pending.files {
            self.smgr().sync(rel, fork)?;
        }
        Ok(())
    }
}

/// fsyncs every file under `base/*/` and `global/` (the pending set overflowed).
fn sync_all_relation_files(io: &dyn FileIo) -> QuillResult<()> {
    let mut dirs = vec![Path::new("global").to_path_buf()];
    for db in io.list_dir(Path::new("base")).unwrap_or_default() {
        dirs.push(Path::new("base").join(db));
    }
    for dir in dirs {
        for name in io.list_dir(&dir).unwrap_or_default() {
            let path = dir.join(&name);
            if let Ok(file) = io.open(&path, OpenMode::ReadWrite) {
                file.sync_data().map_err(|e| {
                    QuillError::io(&format!("could not fsync file \"{}\"", path.display()), &e)
                })?;
            }
        }
    }
    Ok(())
}
