//! The shared buffer manager: PostgreSQL's `bufmgr.c`/`buf_table.c`/`freelist.c`, reduced.
//!
//! # What it owns
//! Every data page that any process reads or changes lives, while in use, in one of the
//! N = `shared_buffers / 8192` buffers of the shared segment (DESIGN.md §2). This module
//! owns those buffers, their descriptors, the mapping table from a page's identity
//! ([`BufferTag`]: relation, fork, block) to its buffer, the clock-sweep replacement, and
//! the **single place where a data page is written to its file**
//! ([`BufferPool::write_dirty_buffer`], PostgreSQL's `FlushBuffer`). Nothing else calls
//! `Smgr::write`/`Smgr::extend`/`Smgr::read` for relation data.
//!
//! | file | idea |
//! |---|---|
//! | `shared.rs` | the shared regions (descriptors, mapping region) and their sizes; [`BufferPoolShmem`] |
//! | `desc.rs` | a buffer descriptor: the atomic state word (pin count, usage count, flags), the header lock bit, I/O-in-progress and its futex wait |
//! | `mapping.rs` | the tag → buffer hash table, chained through buffer ids, in 16 partitions with one LWLock each |
//! | `pool.rs` | [`BufferPool`]: `read_buffer`, `extend`, victim selection (clock sweep) and re-mapping |
//! | `write.rs` | the one write path, `flush_all_dirty` (checkpointer), `drop_relation_buffers` (DROP TABLE) |
//! | `pinned.rs` | [`PinnedBuffer`] (a pin, released on drop) and its content-lock guards |
//! | `pending_sync.rs` | the shared set of files written since the last checkpoint |
//!
//! # DESIGN.md rules enforced here
//! * §4 rule 1, **log before data**: [`BufferPool::write_dirty_buffer`] reads the page's
//!   `pd_lsn` from a copy taken under the content lock, calls [`WalFlusher::flush`] up to
//!   it, and asserts — in release builds too — that [`WalFlusher::flushed_lsn`] covers it,
//!   before `Smgr::write`. A failed flush is an error and nothing is written. The failure
//!   this prevents: a page on disk that reflects a change whose WAL record was lost in a
//!   crash, so redo cannot undo or complete it.
//! * Pages are verified after every read (header and checksum: `page.verify(blkno, true)`),
//!   and get their checksum set on the private copy just before every write. A page that
//!   fails verification is an ERROR (`invalid page in block 7 of relation base/5/16384`,
//!   XX001) and its buffer is not left valid.
//! * §3 / storage rule 4, **only the checkpointer fsyncs**: writing a page records its
//!   (relation, fork) in the shared pending-sync set ([`BufferPool::take_pending_syncs`]);
//!   the set is updated *before* the buffer stops being dirty, so a checkpointer that
//!   wrote (or waited for) every dirty buffer and then takes the set misses no file.
//!
//! # Locks, in the order a process may take them
//! 1. Content locks of buffers (one LWLock per buffer), which a caller holds while it
//!    reads or changes the page. A caller holding several takes them in a consistent
//!    order (by block number, as PostgreSQL's heap does). A process that holds a content
//!    lock may call `read_buffer`/`extend` for another page.
//! 2. The relation extension locks (16 LWLocks hashed by relation and fork), held by
//!    [`BufferPool::extend`] while it asks smgr for the size, appends and maps the page.
//! 3. Buffer-mapping partition LWLocks (16), lower index first when two are needed. Held
//!    only for a hash lookup or a re-mapping: **never across I/O, never while waiting for
//!    a content lock or for I/O of a buffer**. That is why (1) and (2) may come before
//!    them although PostgreSQL's lock table lists partitions first: nothing that holds a
//!    partition lock ever waits for a content lock (a dirty victim is written before the
//!    partition locks are taken, under a content lock obtained with a non-blocking try).
//! 4. The buffer header lock (a bit of the descriptor's state word, a spinlock),
//!    innermost: a few loads and stores, nothing else, never two at once.
//!
//! While flushing a page the writer holds its content lock (shared) and then takes the
//! WAL's flush locks (content → WAL, as `src/shmem/README.md` lists).
//!
//! # Errors and crashes
//! Pins, content locks, partition locks and the I/O-in-progress mark are all held through
//! RAII values ([`PinnedBuffer`], [`BufferSharedGuard`], [`BufferExclusiveGuard`], and
//! private guards), so a backend whose statement fails unwinds them on the way out with
//! `?`: an ERROR leaves no pin, lock or stuck I/O behind (PostgreSQL's resource owners).
//! A process that dies holding any of them is a crash; the postmaster's crash restart
//! zeroes the regions, which is their valid initial state.
//!
//! # Callers
//! Access methods (heap, btree) read, lock, change and mark pages dirty through
//! [`BufferPool`]; the checkpointer calls [`BufferPool::flush_all_dirty`] and
//! [`BufferPool::take_pending_syncs`]; DROP TABLE calls
//! [`BufferPool::drop_relation_buffers`] before unlinking. The WAL is reached only
//! through the [`WalFlusher`] trait, implemented for `crate::wal::xlog::Wal`.

mod checkpoint_work;
mod desc;
mod mapping;
mod pending_sync;
mod pinned;
mod pool;
mod shared;
mod write;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fork;

use std::fmt;

use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};

pub use pending_sync::{PendingSyncs, PENDING_SYNC_CAPACITY};
pub use pinned::{BufferExclusiveGuard, BufferSharedGuard, PinnedBuffer};
pub use pool::BufferPool;
pub use shared::{descriptors_len_bytes, mapping_len_bytes, BufferPoolShmem};

/// Partitions of the buffer mapping table, each with its own LWLock (PostgreSQL uses 128).
pub const NUM_BUFFER_PARTITIONS: usize = 16;

/// Relation extension locks; relations and forks hash onto them.
pub const NUM_EXTENSION_LOCKS: usize = 16;

/// Largest usage count of the clock sweep (PostgreSQL's BM_MAX_USAGE_COUNT).
pub const BM_MAX_USAGE_COUNT: u32 = 5;

/// SQLSTATE 53000 insufficient_resources, for "no unpinned buffers available".
/// (PostgreSQL raises that message with `elog`, i.e. XX000; 53000 says what it is.)
pub const INSUFFICIENT_RESOURCES: &str = "53000";

/// Index of a buffer in the pool, `0..nbuffers` (PostgreSQL's `Buffer` minus one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BufferId(pub u32);

impl BufferId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for BufferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which page a buffer holds (PostgreSQL's BufferTag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferTag {
    pub rel: RelFileNode,
    pub fork: ForkNumber,
    pub block: BlockNumber,
}

impl BufferTag {
    pub fn new(rel: RelFileNode, fork: ForkNumber, block: BlockNumber) -> BufferTag {
        BufferTag { rel, fork, block }
    }
}

impl fmt::Display for BufferTag {
    /// `block 7 of relation base/5/16384`, as PostgreSQL's messages name a page.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block {} of relation {}",
            self.block,
            self.rel.relative_path(self.fork)
        )
    }
}

/// The WAL's flush interface the one write path calls first (rule 1).
pub use crate::wal::WalFlusher;
