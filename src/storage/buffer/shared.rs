//! The buffer pool's regions of the shared segment and how a process finds them.
//!
//! ```text
//! descriptors region:  [BufferDesc; nbuffers]                       64 B each
//! mapping region:      PoolControl                                  partition + extension
//!                                                                   locks, clock hand,
//!                                                                   pending-sync set
//!                      [MapLink; nbuckets]   bucket heads           4 B each
//!                      [MapLink; nbuffers]   chain links            4 B each
//! pages:               [[u8; 8192]; nbuffers]                       (ShmemLayout's
//!                                                                   `buffers_offset`)
//! ```
//!
//! Every byte is valid when zero (unused buffers, empty table, free locks, hand at 0, no
//! pending syncs), so the postmaster's zeroing at start and at crash restart is the whole
//! initialisation. `nbuffers` is the page region's length / 8192, identical in every
//! process; nothing here is a pointer.

use std::sync::atomic::AtomicU64;

use super::desc::BufferDesc;
use super::mapping::{nbuckets, BufferMapping, MapLink};
use super::pending_sync::PendingSyncTable;
use super::{NUM_BUFFER_PARTITIONS, NUM_EXTENSION_LOCKS};
use crate::shmem::lwlock::{LWLock, LWLocked};
use crate::shmem::{SharedBytes, Shmem, ShmemSafe, TestSegment};
use crate::storage::page::BLCKSZ;

/// An LWLock alone on its cache line, so hot partition locks do not share lines.
#[repr(C, align(64))]
pub(super) struct PaddedLWLock(pub(super) LWLock);

// SAFETY: an LWLock (an AtomicU32) and padding: valid when zero, pointer-free, Sync.
unsafe impl ShmemSafe for PaddedLWLock {}

/// The pool's few global words, at the start of the mapping region.
///
/// - `partition_locks`: the mapping partitions' LWLocks (see `mapping.rs`).
/// - `extension_locks`: one relation-extension LWLock per hash slot of (relation, fork).
/// - `clock_hand`: the clock sweep's next position (`% nbuffers`); advanced by any
///   process with `fetch_add`, no lock.
/// - `pending_syncs`: written by page writers, emptied by the checkpointer, under its
///   LWLock.
#[repr(C)]
pub(super) struct PoolControl {
    pub(super) partition_locks: [PaddedLWLock; NUM_BUFFER_PARTITIONS],
    pub(super) extension_locks: [PaddedLWLock; NUM_EXTENSION_LOCKS],
    pub(super) clock_hand: AtomicU64,
    pub(super) pending_syncs: LWLocked<PendingSyncTable>,
}

// SAFETY: LWLocks, an AtomicU64 and an LWLocked table of plain integers: valid when zero,
// pointer-free, Sync.
unsafe impl ShmemSafe for PoolControl {}

const LINK_SIZE: usize = std::mem::size_of::<MapLink>();

fn heads_offset() -> usize {
    std::mem::size_of::<PoolControl>().next_multiple_of(64)
}

/// Bytes of the descriptors region for `nbuffers` buffers.
pub fn descriptors_len_bytes(nbuffers: usize) -> usize {
    nbuffers * std::mem::size_of::<BufferDesc>()
}

/// Bytes of the mapping region (control words, bucket heads, chain links).
pub fn mapping_len_bytes(nbuffers: usize) -> usize {
    heads_offset() + (nbuckets(nbuffers) + nbuffers) * LINK_SIZE
}

/// One process's view of the pool's shared state: `'static` references into the
/// segment (inherited through fork, identical in every process). Copy.
#[derive(Clone, Copy)]
pub struct BufferPoolShmem {
    pub(super) descriptors: &'static [BufferDesc],
    pub(super) control: &'static PoolControl,
    pub(super) mapping: BufferMapping,
    pub(super) pages: SharedBytes,
}

impl BufferPoolShmem {
    /// The pool of the server's segment ([`Shmem::buffer_descriptors`] and friends).
    pub fn from_shmem(shmem: &Shmem) -> BufferPoolShmem {
        BufferPoolShmem::from_regions(
            shmem.buffer_descriptors(),
            shmem.buffer_mapping(),
            shmem.buffer_pages(),
        )
    }

    /// The pool laid out in the given regions; `pages.len() / 8192` buffers.
    pub fn from_regions(
        descriptors: SharedBytes,
        mapping: SharedBytes,
        pages: SharedBytes,
    ) -> BufferPoolShmem {
        assert!(
            pages.len().is_multiple_of(BLCKSZ) && !pages.is_empty(),
            "buffer pages must be a positive multiple of {BLCKSZ} bytes"
        );
        let nbuffers = pages.len() / BLCKSZ;
        assert!(nbuffers < u32::MAX as usize / 2, "too many buffers");
        assert!(descriptors.len() >= descriptors_len_bytes(nbuffers));
        assert!(mapping.len() >= mapping_len_bytes(nbuffers));
        let descriptors = descriptors.slice_at::<BufferDesc>(0, nbuffers);
        let control = mapping.struct_at::<PoolControl>(0);
        let nbuckets = nbuckets(nbuffers);
        let heads = mapping.slice_at::<MapLink>(heads_offset(), nbuckets);
        let links = mapping.slice_at::<MapLink>(heads_offset() + nbuckets * LINK_SIZE, nbuffers);
        BufferPoolShmem {
            descriptors,
            control,
            mapping: BufferMapping {
                locks: &control.partition_locks,
                heads,
                links,
                descriptors,
            },
            pages,
        }
    }

    /// Bytes a [`TestSegment`] needs for a pool of `nbuffers` (see
    /// [`BufferPoolShmem::from_test_segment`]).
    pub fn test_segment_len_bytes(nbuffers: usize) -> usize {
        let (_, _, pages_offset) = test_offsets(nbuffers);
        pages_offset + nbuffers * BLCKSZ
    }

    /// A pool of `nbuffers` in a stand-alone segment, for tests of this module and of
    /// the access methods built on it (fork after this to share it).
    pub fn from_test_segment(segment: &TestSegment, nbuffers: usize) -> BufferPoolShmem {
        let (descriptors, mapping, pages) = test_offsets(nbuffers);
        BufferPoolShmem::from_regions(
            segment.bytes(descriptors, descriptors_len_bytes(nbuffers)),
            segment.bytes(mapping, mapping_len_bytes(nbuffers)),
            segment.bytes(pages, nbuffers * BLCKSZ),
        )
    }

    /// Number of buffers.
    pub fn nbuffers(&self) -> usize {
        self.descriptors.len()
    }
}

/// Offsets of the three regions in a test segment: descriptors, mapping, pages.
fn test_offsets(nbuffers: usize) -> (usize, usize, usize) {
    let mapping = descriptors_len_bytes(nbuffers).next_multiple_of(4096);
    let pages = (mapping + mapping_len_bytes(nbuffers)).next_multiple_of(BLCKSZ);
    (0, mapping, pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::ShmemLayout;

    #[test]
    fn server_layout_holds_the_pool_regions_before_the_pages() {
        let l = ShmemLayout::compute(100, 128 << 20, 16 << 20);
        let nbuffers = l.buffers_len_bytes / BLCKSZ;
        assert_eq!(nbuffers, 16384);
        assert!(l.buffer_descriptors_offset >= l.wal_control_offset + l.wal_control_len_bytes);
        assert_eq!(l.buffer_descriptors_offset % 64, 0);
        assert_eq!(
            l.buffer_descriptors_len_bytes,
            descriptors_len_bytes(nbuffers)
        );
        assert!(
            l.buffer_mapping_offset >= l.buffer_descriptors_offset + l.buffer_descriptors_len_bytes
        );
        assert_eq!(l.buffer_mapping_len_bytes, mapping_len_bytes(nbuffers));
        // Zeroed by Shmem::reinitialize, which clears everything below buffers_offset.
        assert!(l.buffers_offset >= l.buffer_mapping_offset + l.buffer_mapping_len_bytes);
        assert_eq!(l.buffers_offset % BLCKSZ, 0);
        // About 1.2 MB of bookkeeping for 128 MB of pages.
        assert!(l.buffer_descriptors_len_bytes + l.buffer_mapping_len_bytes < 1_300_000);
    }
}
