//! The buffer pool's part in a checkpoint (DESIGN.md §4): write every dirty buffer
//! (each through the one write path, which flushes WAL first), then fsync every data
//! file written since the last checkpoint. Only the checkpointer (and the startup
//! process, for the end-of-recovery checkpoint) calls this.
//!
//! Why the pending set is complete: it is taken after all dirty buffers were written,
//! so every write of a change older than the checkpoint's redo point — by the
//! checkpointer or by a backend evicting a page — was recorded before it is taken.

use super::BufferPool;
use crate::error::QuillResult;
use crate::storage::file_io::{relation_dirs, sync_files_in};
use crate::wal::checkpoint::CheckpointWork;

impl CheckpointWork for BufferPool {
    fn write_dirty_buffers(&self) -> QuillResult<usize> {
        self.flush_all_dirty(|_| {})
    }

    fn sync_data_files(&self) -> QuillResult<()> {
        let pending = self.take_pending_syncs();
        if pending.sync_everything {
            let io = self.smgr().file_io().as_ref();
            return sync_files_in(io, &relation_dirs(io));
        }
        for (rel, fork) in pending.files {
            self.smgr().sync(rel, fork)?;
        }
        Ok(())
    }
}
