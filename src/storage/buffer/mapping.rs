//! The buffer mapping table (PostgreSQL's `buf_table.c`): which buffer holds a page.
//!
//! # Shape
//! A fixed array of `nbuckets` (≥ 2 × nbuffers, a multiple of [`NUM_BUFFER_PARTITIONS`])
//! bucket heads, each the id + 1 of the first buffer in its chain (0 = empty), and one
//! link per buffer (`links[id]` = id + 1 of the next buffer in the same chain, 0 = end).
//! The buffers themselves are the entries: a buffer is in the chain of the bucket of its
//! tag exactly when its `TAG_VALID` flag is set, and in no other chain. So the table can
//! never overflow (it holds at most nbuffers entries), and it stores no pointers.
//!
//! # Partitions
//! Bucket `b` belongs to partition `b % NUM_BUFFER_PARTITIONS`; each partition has an
//! LWLock. A lookup holds its partition shared; inserting or removing holds it
//! exclusively, and a buffer's tag is only written while the partitions of its old and
//! new tag are held exclusively (so a lookup reads stable tags along its chain). Two
//! partitions are locked lower index first. Partition locks are held for the table
//! operation only, never across I/O or a wait for a content lock.
//!
//! The guards below are the only way to reach the table, so every operation provably
//! runs under the right lock.

use std::sync::atomic::{AtomicU32, Ordering};

use super::desc::{BufferDesc, BM_TAG_VALID};
use super::shared::PaddedLWLock;
use super::{BufferId, BufferTag, NUM_BUFFER_PARTITIONS};
use crate::shmem::lwlock::{LWLockExclusiveGuard, LWLockSharedGuard};
use crate::shmem::ShmemSafe;

/// A chain link: buffer id + 1, 0 for none. Written under the exclusive partition lock of
/// its chain; read under the partition lock (shared or exclusive).
#[repr(C)]
pub(super) struct MapLink(AtomicU32);

// SAFETY: one AtomicU32: valid when zero (no buffer), pointer-free, Sync.
unsafe impl ShmemSafe for MapLink {}

impl MapLink {
    fn get(&self) -> Option<usize> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n as usize - 1),
        }
    }

    fn set(&self, id: Option<usize>) {
        self.0
            .store(id.map_or(0, |id| id as u32 + 1), Ordering::Relaxed);
    }
}

/// Number of buckets for `nbuffers` buffers.
pub(super) fn nbuckets(nbuffers: usize) -> usize {
    (2 * nbuffers)
        .max(NUM_BUFFER_PARTITIONS)
        .div_ceil(NUM_BUFFER_PARTITIONS)
        * NUM_BUFFER_PARTITIONS
}

/// A hash of the tag's five words (multiply–xorshift; only needs to spread blocks and
/// relations over buckets, deterministically in every process).
fn hash_tag(tag: &BufferTag) -> u64 {
    let words = [
        tag.rel.spc_oid,
        tag.rel.db_oid,
        tag.rel.rel_number,
        tag.fork as u32,
        tag.block.0,
    ];
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for w in words {
        h = (h ^ u64::from(w)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 29;
    }
    h
}

/// The process's view of the table (all `'static` references into the segment).
#[derive(Clone, Copy)]
pub(super) struct BufferMapping {
    pub(super) locks: &'static [PaddedLWLock],
    pub(super) heads: &'static [MapLink],
    pub(super) links: &'static [MapLink],
    pub(super) descriptors: &'static [BufferDesc],
}

impl BufferMapping {
    pub(super) fn bucket_of(&self, tag: &BufferTag) -> usize {
        (hash_tag(tag) % self.heads.len() as u64) as usize
    }

    /// The partition whose lock guards `tag`'s bucket.
    pub(super) fn partition_of(&self, tag: &BufferTag) -> usize {
        self.bucket_of(tag) % NUM_BUFFER_PARTITIONS
    }

    pub(super) fn lock_shared(&self, tag: &BufferTag) -> SharedPartition<'_> {
        let partition = self.partition_of(tag);
        SharedPartition {
            map: self,
            partition,
            _guard: self.locks[partition].0.lock_shared(),
        }
    }

    pub(super) fn lock_exclusive(&self, tag: &BufferTag) -> ExclusivePartitions<'_> {
        self.lock_exclusive_pair(tag, None)
    }

    /// Locks the partitions of `tag` and of `other` (if any) exclusively, lower index
    /// first; one lock when they coincide.
    pub(super) fn lock_exclusive_pair(
        &self,
        tag: &BufferTag,
        other: Option<&BufferTag>,
    ) -> ExclusivePartitions<'_> {
        let a = self.partition_of(tag);
        let b = other.map_or(a, |t| self.partition_of(t));
        let (low, high) = (a.min(b), a.max(b));
        let first = self.locks[low].0.lock_exclusive();
        let second = (high != low).then(|| self.locks[high].0.lock_exclusive());
        ExclusivePartitions {
            map: self,
            held: [low, high],
            _first: first,
            _second: second,
        }
    }

    /// The buffer whose tag is `tag` in its chain. The caller holds the partition.
    fn lookup(&self, tag: &BufferTag) -> Option<BufferId> {
        let mut next = self.heads[self.bucket_of(tag)].get();
        let mut steps = 0;
        while let Some(id) = next {
            let desc = &self.descriptors[id];
            debug_assert!(desc.state() & BM_TAG_VALID != 0, "untagged buffer in chain");
            if desc.tag() == *tag {
                return Some(BufferId(id as u32));
            }
            steps += 1;
            assert!(steps <= self.links.len(), "cycle in buffer mapping chain");
            next = self.links[id].get();
        }
        None
    }

    fn insert(&self, tag: &BufferTag, id: BufferId) {
        debug_assert!(self.lookup(tag).is_none(), "tag mapped twice");

        let head = &self.heads[self.bucket_of(tag)];
        self.links[id.index()].set(head.get());
        head.set(Some(id.index()));
    }

    fn remove(&self, tag: &BufferTag, id: BufferId) {
        let head = &self.heads[self.bucket_of(tag)];
        let target = id.index();
        let after = self.links[target].get();
        if head.get() == Some(target) {
            head.set(after);
        } else {
            let mut current = head.get();
            let mut steps = 0;
            loop {
                let prev = current.expect("buffer missing from its mapping chain");
                if self.links[prev].get() == Some(target) {
                    self.links[prev].set(after);
                    break;
                }
                steps += 1;
                assert!(steps <= self.links.len(), "cycle in buffer mapping chain");
                current = self.links[prev].get();
            }
        }
        self.links[target].set(None);
    }
}

/// A mapping partition held shared: lookups only.
pub(super) struct SharedPartition<'a> {
    map: &'a BufferMapping,
    partition: usize,
    _guard: LWLockSharedGuard<'a>,
}

impl SharedPartition<'_> {
    pub(super) fn lookup(&self, tag: &BufferTag) -> Option<BufferId> {
        assert_eq!(self.map.partition_of(tag), self.partition);
        self.map.lookup(tag)
    }
}

/// One or two mapping partitions held exclusively: lookups, inserts and removals of tags
/// in them.
pub(super) struct ExclusivePartitions<'a> {
    map: &'a BufferMapping,
    held: [usize; 2],
    _first: LWLockExclusiveGuard<'a>,
    _second: Option<LWLockExclusiveGuard<'a>>,
}

impl ExclusivePartitions<'_> {
    fn check(&self, tag: &BufferTag) {
        let p = self.map.partition_of(tag);
        assert!(self.held.contains(&p), "partition {p} not held");
    }

    pub(super) fn lookup(&self, tag: &BufferTag) -> Option<BufferId> {
        self.check(tag);
        self.map.lookup(tag)
    }

    /// Adds `id` under `tag`. The caller is setting the buffer's tag to `tag` under its
    /// header lock.
    pub(super) fn insert(&self, tag: &BufferTag, id: BufferId) {
        self.check(tag);
        self.map.insert(tag, id);
    }

    /// Removes `id` from `tag`'s chain. The buffer's tag is `tag` and is being changed
    /// or cleared under its header lock.
    pub(super) fn remove(&self, tag: &BufferTag, id: BufferId) {
        self.check(tag);
        self.map.remove(tag, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;
    use crate::storage::buffer::shared::BufferPoolShmem;
    use crate::storage::ids::{BlockNumber, ForkNumber, RelFileNode};

    fn tag(rel: u32, block: u32) -> BufferTag {
        BufferTag {
            rel: RelFileNode {
                spc_oid: 1663,
                db_oid: 5,
                rel_number: rel,
            },
            fork: ForkNumber::Main,
            block: BlockNumber(block),
        }
    }

    /// Tags buffers directly (as the pool does under the header lock) and checks that
    /// chains find, keep and lose them.
    #[test]
    fn insert_lookup_remove_through_shared_chains() {
        let nbuffers = 64;
        let segment = TestSegment::new(BufferPoolShmem::test_segment_len_bytes(nbuffers));
        let shm = BufferPoolShmem::from_test_segment(&segment, nbuffers);
        let map = shm.mapping;
        assert_eq!(map.heads.len(), 128);
        let mut tags = Vec::new();
        for id in 0..nbuffers {
            let t = tag(16384 + (id as u32 % 3), id as u32 * 7);
            let parts = map.lock_exclusive(&t);
            let header = map.descriptors[id].lock_header();
            map.descriptors[id].set_tag(&header, Some(t));
            let mut header = header;
            header.state |= BM_TAG_VALID;
            drop(header);
            parts.insert(&t, BufferId(id as u32));
            tags.push(t);
        }
        for (id, t) in tags.iter().enumerate() {
            assert_eq!(map.lock_shared(t).lookup(t), Some(BufferId(id as u32)));
        }
        assert_eq!(map.lock_shared(&tag(1, 1)).lookup(&tag(1, 1)), None);
        // Remove every other buffer; the rest stay reachable.
        for id in (0..nbuffers).step_by(2) {
            let t = tags[id];
            let parts = map.lock_exclusive(&t);
            parts.remove(&t, BufferId(id as u32));
            let mut header = map.descriptors[id].lock_header();
            header.state &= !BM_TAG_VALID;
            map.descriptors[id].set_tag(&header, None);
        }
        for (id, t) in tags.iter().enumerate() {
            let found = map.lock_shared(t).lookup(t);
            let expected = (id % 2 == 1).then_some(BufferId(id as u32));
            assert_eq!(found, expected, "buffer {id}");
        }
    }

    #[test]
    fn pair_locks_one_partition_when_tags_share_it() {
        let segment = TestSegment::new(BufferPoolShmem::test_segment_len_bytes(8));
        let shm = BufferPoolShmem::from_test_segment(&segment, 8);
        let map = shm.mapping;
        let a = tag(1, 1);
        let same = (0..1000)
            .map(|b| tag(2, b))
            .find(|t| map.partition_of(t) == map.partition_of(&a))
            .unwrap();
        let guard = map.lock_exclusive_pair(&a, Some(&same));
        assert!(guard._second.is_none());
        drop(guard);
        let other = (0..1000)
            .map(|b| tag(2, b))
            .find(|t| map.partition_of(t) != map.partition_of(&a))
            .unwrap();
        let guard = map.lock_exclusive_pair(&other, Some(&a));
        assert!(guard._second.is_some());
        assert!(guard.held[0] < guard.held[1]);
    }
}
