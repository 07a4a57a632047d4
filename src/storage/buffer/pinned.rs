//! A pin on a buffer, and the content-lock guards that give access to its page.
//!
//! A [`PinnedBuffer`] is one pin (one unit of the descriptor's refcount): while it lives,
//! the buffer keeps its page and cannot be evicted, re-mapped or invalidated. Dropping it
//! unpins. To look at the bytes, take the content lock through it:
//! [`PinnedBuffer::lock_shared`] gives `&[u8; 8192]`, [`PinnedBuffer::lock_exclusive`]
//! gives `&mut [u8; 8192]` and [`BufferExclusiveGuard::mark_dirty`]. A guard borrows the
//! pin, so the pin always outlives the lock (rule: pin before lock, unlock before unpin).
//!
//! # Why the page references are sound
//! This file holds the module's only `unsafe` dereference of page memory. The page of
//! buffer `id` is `pages[id * 8192 ..][.. 8192]` of the shared segment, which stays mapped
//! for the life of the process. Every access to those bytes, in every process, happens
//! under the buffer's content lock: readers (including the write path, which copies
//! the page) hold it shared and only read; writers (callers changing the page, the read
//! path filling it from disk, `extend` zeroing it) hold it exclusively. The LWLock's
//! acquire/release orders those accesses across processes. Within one process a second
//! exclusive (or mixed) acquisition of the same lock blocks forever (LWLock rule 1)
//! instead of creating a second reference, so a `&mut` is never aliased.

use std::fmt;
use std::ops::{Deref, DerefMut};

use super::desc::{refcount, BufferDesc, BM_VALID};
use super::{BufferId, BufferPoolShmem, BufferTag};
use crate::shmem::lwlock::{LWLockExclusiveGuard, LWLockSharedGuard};
use crate::shmem::SharedBytes;
use crate::storage::page::{PageBytes, BLCKSZ};

/// A pinned buffer; unpinned when dropped (also when an error unwinds past it).
pub struct PinnedBuffer {
    id: BufferId,
    desc: &'static BufferDesc,
    pages: SharedBytes,
}

impl PinnedBuffer {
    /// Takes ownership of a pin this process already added to buffer `id`.
    pub(super) fn adopt(shm: &BufferPoolShmem, id: BufferId) -> PinnedBuffer {
        let desc = &shm.descriptors[id.index()];
        debug_assert!(refcount(desc.state()) > 0, "adopting an unpinned buffer");
        assert!((id.index() + 1) * BLCKSZ <= shm.pages.len());
        PinnedBuffer {
            id,
            desc,
            pages: shm.pages,
        }
    }

    pub fn buffer_id(&self) -> BufferId {
        self.id
    }

    /// The page this buffer holds (stable while pinned).
    pub fn tag(&self) -> BufferTag {
        self.desc.tag()
    }

    /// Takes the content lock shared: read the page.
    pub fn lock_shared(&self) -> BufferSharedGuard<'_> {
        let lock = self.desc.content_lock.lock_shared();
        BufferSharedGuard { buf: self, lock }
    }

    /// Takes the content lock exclusively: change the page, then mark it dirty.
    pub fn lock_exclusive(&self) -> BufferExclusiveGuard<'_> {
        let lock = self.desc.content_lock.lock_exclusive();
        BufferExclusiveGuard { buf: self, lock }
    }

    /// Takes the content lock exclusively if no one holds it (PostgreSQL's
    /// `ConditionalLockBuffer`).
    pub fn try_lock_exclusive(&self) -> Option<BufferExclusiveGuard<'_>> {
        let lock = self.desc.content_lock.try_lock_exclusive()?;
        Some(BufferExclusiveGuard { buf: self, lock })
    }

    pub(super) fn desc(&self) -> &'static BufferDesc {
        self.desc
    }

    /// The page's address. Dereference only under the content lock (module doc).
    pub(super) fn page_ptr(&self) -> *mut PageBytes {
        // SAFETY: in bounds of the page region (asserted in `adopt`); computing the
        // address dereferences nothing.
        unsafe { self.pages.as_ptr().add(self.id.index() * BLCKSZ).cast() }
    }

    /// `&PageBytes` under the content lock held in either mode (`_lock` is the proof).
    pub(super) fn page_under<'a>(&'a self, _lock: &'a impl ContentLockHeld) -> &'a PageBytes {
        // SAFETY: the caller holds the content lock (the guard borrowed for 'a); no one
        // writes the page while it is held in any mode that allows reading (module doc).
        unsafe { &*self.page_ptr() }
    }

    /// `&mut PageBytes` under the exclusive content lock (`_lock` is the proof).
    pub(super) fn page_mut_under<'a>(
        &'a self,
        _lock: &'a mut LWLockExclusiveGuard<'_>,
    ) -> &'a mut PageBytes {
        // SAFETY: the exclusive content lock is held, and borrowed mutably for 'a, so no
        // other reference to the page exists in any process (module doc).
        unsafe { &mut *self.page_ptr() }
    }
}

/// A guard of an LWLock: proof that page reads are allowed.
pub(super) trait ContentLockHeld {}
impl ContentLockHeld for LWLockSharedGuard<'_> {}
impl ContentLockHeld for LWLockExclusiveGuard<'_> {}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        self.desc.unpin();
    }
}

impl fmt::Debug for PinnedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedBuffer")
            .field("id", &self.id)
            .field("tag", &self.tag())
            .finish()
    }
}

/// The content lock held shared; derefs to the page.
#[must_use = "the content lock is released as soon as the guard is dropped"]
pub struct BufferSharedGuard<'a> {
    buf: &'a PinnedBuffer,
    lock: LWLockSharedGuard<'a>,
}

impl Deref for BufferSharedGuard<'_> {
    type Target = PageBytes;
    fn deref(&self) -> &PageBytes {
        self.buf.page_under(&self.lock)
    }
}

impl BufferSharedGuard<'_> {
    pub fn buffer(&self) -> &PinnedBuffer {
        self.buf
    }
}

/// The content lock held exclusively; derefs mutably to the page.
#[must_use = "the content lock is released as soon as the guard is dropped"]
pub struct BufferExclusiveGuard<'a> {
    buf: &'a PinnedBuffer,
    lock: LWLockExclusiveGuard<'a>,
}

impl Deref for BufferExclusiveGuard<'_> {
    type Target = PageBytes;
    fn deref(&self) -> &PageBytes {
        self.buf.page_under(&self.lock)
    }
}

impl DerefMut for BufferExclusiveGuard<'_> {
    fn deref_mut(&mut self) -> &mut PageBytes {
        self.buf.page_mut_under(&mut self.lock)
    }
}

impl BufferExclusiveGuard<'_> {
    pub fn buffer(&self) -> &PinnedBuffer {
        self.buf
    }

    /// Marks the page dirty (PostgreSQL's `MarkBufferDirty`): it will be written, by the
    /// one write path, before the buffer is reused. Only under the exclusive content
    /// lock, which this guard is. In a WAL-logged change, call it after changing the page
    /// and before inserting the WAL record (the recipe in this folder's README).
    pub fn mark_dirty(&mut self) {
        debug_assert!(self.buf.desc.state() & BM_VALID != 0);
        self.buf.desc.set_dirty();
    }
}
