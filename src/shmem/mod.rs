//! The shared-memory segment: one `MAP_SHARED | MAP_ANONYMOUS` mapping created by the
//! postmaster before it forks anything (DESIGN.md §2).
//!
//! Owns: the segment, its layout (control region, proc array, catalog invalidation
//! queue (`sinval.rs`), buffer pool, WAL buffers), and re-initialisation after a crash
//! restart.
//!
//! Rules enforced here:
//! 1. The segment is mapped once, before the first fork, so every child sees it at the
//!    same address. Nothing inside it is a pointer: regions are found by offsets kept in
//!    the process-private [`Shmem`] handle, which children inherit through fork.
//! 2. Only atomics and the cross-process locks of [`spinlock`] and [`lwlock`] live in
//!    the segment. `std::sync` types never do: they are per-process.
//! 3. [`Shmem::reinitialize`] is called only by the postmaster, only when no child is
//!    alive (at start and during crash restart), so it needs no lock.
//!
//! Callers: the postmaster creates and re-initialises; every other process reaches the
//! regions through [`shmem()`] and the typed accessors.

pub mod futex;
pub mod lwlock;
pub mod procarray;
pub mod sinval;
pub mod spinlock;
#[cfg(test)]
pub(crate) mod testing;

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

use procarray::ProcSlot;

/// Size of a data page and of a buffer in the pool.
pub const BLCKSZ: usize = 8192;

/// Processes that are not client backends but hold a proc slot (startup, walwriter,
/// checkpointer, and room for more).
pub const NUM_AUX_PROC_SLOTS: usize = 8;

/// Server-wide state, the first region of the segment.
///
/// Written by: the postmaster at (re)initialisation; later issues add counters that
/// backends advance atomically. Read by anyone without a lock.
#[repr(C)]
pub struct ServerControl {
    /// Incremented by every crash restart; lets a process tell a fresh segment.
    pub generation: AtomicU64,
    /// Next OID to hand out (catalog objects), under the xid generation lock.
    pub next_oid: AtomicU32,
    /// OIDs below this are covered by a NEXTOID record in WAL; handing out one at or
    /// above it writes a new record first (`catalog::allocate_oid`).
    pub oid_logged_limit: AtomicU32,
    /// Next transaction id to hand out. Advanced atomically.
    pub next_xid: AtomicU32,
    /// Checkpoint request flags, set by backends, cleared by the checkpointer.
    pub checkpoint_request: AtomicU32,
    /// Checkpoints completed since the segment was initialised (the checkpointer
    /// increments it; a backend waiting for its CHECKPOINT watches it).
    pub checkpoints_completed: AtomicU64,
    /// Checkpoints begun (incremented by the checkpointer before each one).
    pub checkpoints_started: AtomicU64,
    /// Pid of the checkpointer (written by it when it starts), for CHECKPOINT requests.
    pub checkpointer_pid: std::sync::atomic::AtomicI32,
    /// Why the postmaster sent SIGQUIT ([`QuitReason`]); written by the postmaster just
    /// before it signals, read by the children's SIGQUIT handler.
    pub quit_reason: AtomicU32,
}

/// What a SIGQUIT from the postmaster means, so the child can tell its client.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitReason {
    /// Another process crashed; shared memory may be corrupt (crash restart).
    Crash = 0,
    /// Immediate shutdown was requested.
    ImmediateShutdown = 1,
}

/// Bytes reserved for the WAL's shared control struct (checked by the WAL module at
/// compile time).
pub const WAL_CONTROL_LEN_BYTES: usize = 64 * 1024;

/// Types that may be placed in shared memory and reached through [`Shmem`].
///
/// # Safety
/// Implementors promise: all-zero bytes are a valid (initial) value, the type holds
/// no pointers (every process sees the segment, but pointers into private memory
/// would be meaningless), and all mutation goes through atomics or the
/// cross-process locks of this module (hence `Sync`).
pub unsafe trait ShmemSafe: Sync {}

/// A byte range of the shared segment (e.g. the WAL buffer ring) that several
/// processes read and write under a protocol of their own.
#[derive(Clone, Copy)]
pub struct SharedBytes {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a SharedBytes is an address range in a mapping that lives as long as the
// process; access rules are on the unsafe methods.
unsafe impl Send for SharedBytes {}
// SAFETY: as above.
unsafe impl Sync for SharedBytes {}

impl SharedBytes {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Address of the range's first byte. Dereferencing it is the caller's `unsafe`,
    /// argued by its own locking protocol (e.g. a buffer's content lock).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// A zero-initialised `T` at `offset` of the range (which must be aligned for `T`),
    /// for regions whose owner lays out several structs in them.
    pub fn struct_at<T: ShmemSafe>(&self, offset: usize) -> &'static T {
        struct_at(self.base, self.len, offset)
    }

    /// `count` zero-initialised `T`s starting at `offset` of the range.
    pub fn slice_at<T: ShmemSafe>(&self, offset: usize, count: usize) -> &'static [T] {
        let len_bytes = count
            .checked_mul(std::mem::size_of::<T>())
            .expect("shared slice size overflows");
        assert!(offset + len_bytes <= self.len, "shared slice out of bounds");
        if count == 0 {
            return &[];
        }
        let first: &'static T = struct_at(self.base, self.len, offset);
        // SAFETY: `count` elements lie inside the range (asserted) starting at an aligned
        // `first` (checked by struct_at); T is ShmemSafe (valid when zero, Sync) and the
        // mapping is never unmapped, as for struct_at.
        unsafe { std::slice::from_raw_parts(first as *const T, count) }
    }

    /// Copies `bytes` into the range at `offset`.
    ///
    /// # Safety
    /// No other process or thread may read or write `offset..offset + bytes.len()`
    /// at the same time (the caller's protocol, e.g. WAL space reservation, ensures
    /// it). Bounds are checked.
    pub unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(
            offset + bytes.len() <= self.len,
            "shared write out of bounds"
        );
        // SAFETY: in bounds (asserted); exclusive per the caller's contract.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.as_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    /// Copies the range at `offset` into `out`.
    ///
    /// # Safety
    /// No one may write `offset..offset + out.len()` at the same time.
    pub unsafe fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.len, "shared read out of bounds");
        // SAFETY: in bounds (asserted); no concurrent writer per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
    }

    /// Sets `len` bytes at `offset` to zero.
    ///
    /// # Safety
    /// As [`SharedBytes::write`].
    pub unsafe fn zero(&self, offset: usize, len: usize) {
        assert!(offset + len <= self.len, "shared write out of bounds");
        // SAFETY: in bounds (asserted); exclusive per the caller's contract.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(offset), 0, len) };
    }
}

/// A stand-alone shared anonymous mapping, for unit tests that fork processes
/// around a subsystem's shared state without a whole server. Never unmapped.
pub struct TestSegment {
    base: NonNull<u8>,
    len: usize,
}

impl TestSegment {
    pub fn new(len: usize) -> TestSegment {
        let size = NonZeroUsize::new(len.max(1)).expect("non-zero");
        // SAFETY: a fresh anonymous shared mapping aliases nothing.
        let base = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .expect("mmap test segment");
        TestSegment {
            base: base.cast(),
            len,
        }
    }

    /// A zero-initialised `T` at `offset` (which must be aligned for `T`).
    pub fn struct_at<T: ShmemSafe>(&self, offset: usize) -> &'static T {
        struct_at(self.base, self.len, offset)
    }

    pub fn bytes(&self, offset: usize, len: usize) -> SharedBytes {
        assert!(offset + len <= self.len);
        SharedBytes {
            // SAFETY: in bounds of the mapping (asserted).
            base: unsafe { NonNull::new_unchecked(self.base.as_ptr().add(offset)) },
            len,
        }
    }
}

fn struct_at<T: ShmemSafe>(base: NonNull<u8>, len: usize, offset: usize) -> &'static T {
    assert!(
        offset + std::mem::size_of::<T>() <= len,
        "shared struct out of bounds"
    );
    // SAFETY: in bounds (asserted); the mapping is page-aligned so `offset` decides
    // alignment, checked next; T is valid when zeroed and Sync (ShmemSafe), and the
    // mapping is never unmapped, so a 'static shared reference is sound.
    let ptr = unsafe { base.as_ptr().add(offset) };
    assert_eq!(
        ptr as usize % std::mem::align_of::<T>(),
        0,
        "misaligned shared struct"
    );
    unsafe { &*(ptr.cast::<T>()) }
}

/// Where each region starts, in bytes from the segment base. Computed once from the
/// configuration; identical in every process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmemLayout {
    pub control_offset: usize,
    pub procs_offset: usize,
    pub num_proc_slots: usize,
    /// WAL insertion/flush state ([`crate::wal`]'s shared struct).
    pub wal_control_offset: usize,
    pub wal_control_len_bytes: usize,
    /// Transaction state: xid generation and proc-array locks, clog page cache
    /// ([`crate::txn::TxnShared`]).
    pub txn_control_offset: usize,
    pub txn_control_len_bytes: usize,
    /// The catalog invalidation queue ([`sinval::SinvalShared`]).
    pub sinval_offset: usize,
    pub sinval_len_bytes: usize,
    /// Buffer descriptors and buffer mapping table ([`crate::storage::buffer`] lays
    /// them out; zeroed with the control regions at (re)initialisation).
    pub buffer_descriptors_offset: usize,
    pub buffer_descriptors_len_bytes: usize,
    pub buffer_mapping_offset: usize,
    pub buffer_mapping_len_bytes: usize,
    pub buffers_offset: usize,
    pub buffers_len_bytes: usize,
    pub wal_buffers_offset: usize,
    pub wal_buffers_len_bytes: usize,
    pub total_bytes: usize,
}

fn align_up(value: usize, align: usize) -> usize {
    value.div_ceil(align) * align
}

impl ShmemLayout {
    /// Lays the regions out one after another, each aligned to a page (the buffer pool
    /// and WAL buffers to 8 KiB, so block I/O can use them directly).
    pub fn compute(
        max_connections: usize,
        shared_buffers_bytes: usize,
        wal_buffers_bytes: usize,
    ) -> ShmemLayout {
        let control_offset = 0;
        let procs_offset = align_up(std::mem::size_of::<ServerControl>(), 64);
        let num_proc_slots = max_connections + NUM_AUX_PROC_SLOTS;
        let procs_end = procs_offset + num_proc_slots * std::mem::size_of::<ProcSlot>();
        let wal_control_offset = align_up(procs_end, 4096);
        let wal_control_len_bytes = WAL_CONTROL_LEN_BYTES;
        let buffers_len_bytes = align_up(shared_buffers_bytes.max(16 * BLCKSZ), BLCKSZ);
        let nbuffers = buffers_len_bytes / BLCKSZ;
        let txn_control_offset = align_up(wal_control_offset + wal_control_len_bytes, 4096);
        let txn_control_len_bytes = crate::txn::SHMEM_BYTES;
        let sinval_offset = align_up(txn_control_offset + txn_control_len_bytes, 4096);
        let sinval_len_bytes = sinval::SINVAL_SHMEM_BYTES;
        let buffer_descriptors_offset = align_up(sinval_offset + sinval_len_bytes, 4096);
        let buffer_descriptors_len_bytes = crate::storage::buffer::descriptors_len_bytes(nbuffers);
        let buffer_mapping_offset = align_up(
            buffer_descriptors_offset + buffer_descriptors_len_bytes,
            4096,
        );
        let buffer_mapping_len_bytes = crate::storage::buffer::mapping_len_bytes(nbuffers);
        let buffers_offset = align_up(buffer_mapping_offset + buffer_mapping_len_bytes, BLCKSZ);
        let wal_buffers_offset = buffers_offset + buffers_len_bytes;
        let wal_buffers_len_bytes = align_up(wal_buffers_bytes.max(8 * BLCKSZ), BLCKSZ);
        let total_bytes = wal_buffers_offset + wal_buffers_len_bytes;
        ShmemLayout {
            control_offset,
            procs_offset,
            num_proc_slots,
            wal_control_offset,
            wal_control_len_bytes,
            txn_control_offset,
            txn_control_len_bytes,
            sinval_offset,
            sinval_len_bytes,
            buffer_descriptors_offset,
            buffer_descriptors_len_bytes,
            buffer_mapping_offset,
            buffer_mapping_len_bytes,
            buffers_offset,
            buffers_len_bytes,
            wal_buffers_offset,
            wal_buffers_len_bytes,
            total_bytes,
        }
    }
}

/// Process-private handle on the shared segment. Created by the postmaster, inherited
/// by every child through fork.
pub struct Shmem {
    base: NonNull<u8>,
    layout: ShmemLayout,
}

// SAFETY: the handle is only a base address and offsets; all shared state behind it is
// made of atomics and cross-process locks, which are safe to use from any thread.
unsafe impl Send for Shmem {}
// SAFETY: as above.
unsafe impl Sync for Shmem {}

static SHMEM: OnceLock<Shmem> = OnceLock::new();

/// Creates the segment (postmaster only, before any fork) and initialises it.
pub fn create(layout: ShmemLayout) -> std::io::Result<&'static Shmem> {
    assert!(SHMEM.get().is_none(), "shared memory created twice");
    let len = NonZeroUsize::new(layout.total_bytes).expect("segment size is never zero");
    // SAFETY: a fresh anonymous mapping aliases no Rust object; MAP_SHARED makes the
    // pages shared with children forked later (DESIGN.md §2, CRATES.md).
    let base = unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
    }
    .map_err(std::io::Error::from)?;
    let shmem = Shmem {
        base: base.cast(),
        layout,
    };
    if SHMEM.set(shmem).is_err() {
        unreachable!("checked above");
    }
    let shmem = SHMEM.get().expect("just set");
    shmem.reinitialize();
    Ok(shmem)
}

/// The segment of this server. Panics if called before [`create`], which is a bug.
pub fn shmem() -> &'static Shmem {
    SHMEM.get().expect("shared memory is not attached")
}

/// The segment, if this process has one (tools and unit tests do not).
pub fn try_shmem() -> Option<&'static Shmem> {
    SHMEM.get()
}

impl Shmem {
    pub fn layout(&self) -> &ShmemLayout {
        &self.layout
    }

    /// Resets the control region and the proc array to their initial state.
    ///
    /// Called by the postmaster only, while no child process is alive (rule 3).
    pub fn reinitialize(&self) {
        // SAFETY: the control region and proc array lie inside the mapping (layout
        // computed above) and are made only of atomics, for which all-zero bytes are a
        // valid value; no other process is attached (rule 3), so no reference to them
        // is alive while the bytes are overwritten.
        unsafe {
            let start = self.base.as_ptr();
            let len = self.layout.buffers_offset;
            std::ptr::write_bytes(start, 0, len);
        }
        let control = self.control();
        let generation = control.generation.load(Ordering::Relaxed);
        control.generation.store(generation + 1, Ordering::Relaxed);
    }

    pub fn control(&self) -> &ServerControl {
        // SAFETY: offset 0 is inside the mapping, aligned (the mapping is page
        // aligned), and the region holds a ServerControl of atomics for the life of
        // the process.
        unsafe {
            &*(self
                .base
                .as_ptr()
                .add(self.layout.control_offset)
                .cast::<ServerControl>())
        }
    }

    /// The WAL's shared control struct.
    pub fn wal_control<T: ShmemSafe>(&self) -> &'static T {
        assert!(std::mem::size_of::<T>() <= self.layout.wal_control_len_bytes);
        struct_at(
            self.base,
            self.layout.total_bytes,
            self.layout.wal_control_offset,
        )
    }

    /// The transaction manager's shared struct.
    pub fn txn_control<T: ShmemSafe>(&self) -> &'static T {
        assert!(std::mem::size_of::<T>() <= self.layout.txn_control_len_bytes);
        struct_at(
            self.base,
            self.layout.total_bytes,
            self.layout.txn_control_offset,
        )
    }

    /// The catalog invalidation queue.
    pub fn sinval(&self) -> &'static sinval::SinvalShared {
        struct_at(
            self.base,
            self.layout.total_bytes,
            self.layout.sinval_offset,
        )
    }

    /// The WAL buffer ring.
    pub fn wal_buffers(&self) -> SharedBytes {
        SharedBytes {
            // SAFETY: the region lies inside the mapping (layout).
            base: unsafe {
                NonNull::new_unchecked(self.base.as_ptr().add(self.layout.wal_buffers_offset))
            },
            len: self.layout.wal_buffers_len_bytes,
        }
    }

    /// The buffer descriptors region (typed by [`crate::storage::buffer`]).
    pub fn buffer_descriptors(&self) -> SharedBytes {
        self.region(
            self.layout.buffer_descriptors_offset,
            self.layout.buffer_descriptors_len_bytes,
        )
    }

    /// The buffer mapping region (typed by [`crate::storage::buffer`]).
    pub fn buffer_mapping(&self) -> SharedBytes {
        self.region(
            self.layout.buffer_mapping_offset,
            self.layout.buffer_mapping_len_bytes,
        )
    }

    /// The buffer pool's pages, `BLCKSZ` bytes each.
    pub fn buffer_pages(&self) -> SharedBytes {
        self.region(self.layout.buffers_offset, self.layout.buffers_len_bytes)
    }

    fn region(&self, offset: usize, len: usize) -> SharedBytes {
        assert!(offset + len <= self.layout.total_bytes);
        SharedBytes {
            // SAFETY: the region lies inside the mapping (asserted).
            base: unsafe { NonNull::new_unchecked(self.base.as_ptr().add(offset)) },
            len,
        }
    }

    /// Every proc slot: client backends first, then auxiliary processes.
    pub fn procs(&self) -> &[ProcSlot] {
        // SAFETY: the proc array lies inside the mapping at a 64-byte aligned offset,
        // holds `num_proc_slots` ProcSlots made only of atomics, and lives as long as
        // the process.
        unsafe {
            std::slice::from_raw_parts(
                self.base
                    .as_ptr()
                    .add(self.layout.procs_offset)
                    .cast::<ProcSlot>(),
                self.layout.num_proc_slots,
            )
        }
    }
}

/// The generation of the current segment (0 when this process has none).
pub fn generation() -> u64 {
    try_shmem().map_or(0, |s| s.control().generation.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_regions_do_not_overlap_and_are_aligned() {
        let l = ShmemLayout::compute(100, 128 << 20, 16 << 20);
        assert_eq!(l.num_proc_slots, 100 + NUM_AUX_PROC_SLOTS);
        assert!(l.procs_offset >= std::mem::size_of::<ServerControl>());
        assert!(
            l.buffers_offset >= l.procs_offset + l.num_proc_slots * std::mem::size_of::<ProcSlot>()
        );
        assert_eq!(l.buffers_offset % BLCKSZ, 0);
        assert_eq!(l.buffers_len_bytes, 128 << 20);
        assert_eq!(l.wal_buffers_offset, l.buffers_offset + l.buffers_len_bytes);
        assert_eq!(l.total_bytes, l.wal_buffers_offset + (16 << 20));
    }
}
