//! Test doubles for the [`FileIo`] trait: a disk that can lose power, and a wrapper that
//! makes the disk fail (DESIGN.md §9, "simulated power loss", in the style of SQLite's
//! crash tests). Production code never sees these types; it only sees `dyn FileIo`.
//!
//! # [`SimulatedDisk`]: what survives power loss
//! An in-memory file system. Each file has a *durable image* (what the platter holds)
//! and a *current image* (what reads see: durable + page cache), plus the list of
//! writes and truncations issued since its last `sync_data`/`sync_all`. A sync applies
//! that list to the durable image. [`SimulatedDisk::crash`] is the power cut: for each
//! file, in issue order, a seeded choice per un-synced write
//! * drops it (it never left the page cache),
//! * keeps it, or
//! * tears it: the write is cut into pieces at absolute file offsets that are multiples
//!   of 512 bytes (a sector) or 4 KiB (a file-system page, chosen per write), and each
//!   piece independently survives or not;
//!
//! and each un-synced truncation survives with probability ½. Because every write gets
//! its own choice, a later write can survive while an earlier one is lost — the
//! reordering a disk cache produces. Overlapping writes never *regress* a sector to an
//! older version after a newer one survived, since the page cache writes back current
//! contents; a sector therefore ends up holding some version it had since the last
//! sync. **Synced data always survives**, unless a later un-synced write overwrote it.
//!
//! Directory entries follow the same discipline: `open` with create, `rename` and
//! `remove` change the current namespace at once, and change the durable namespace only
//! when `sync_dir` runs on the entry's parent (for a rename across directories, each
//! half when its directory is synced). At a crash, a seeded prefix of the still-pending
//! directory operations survives, in order, as a journaling file system replays its
//! journal. A file reachable by no durable name after the crash is gone, data and all.
//! Directories themselves are durable as soon as `create_dir_all` returns (simplification:
//! Quill creates directories only at initdb and CREATE DATABASE, which fsync them).
//!
//! After a crash, handles opened before it fail (the process that held them is dead);
//! reopen through the disk. Everything is deterministic for a given seed and call
//! sequence: maps are ordered and the only randomness is [`XorShift64Star`].
//!
//! # [`FaultInjectingIo`]: EIO and ENOSPC
//! Wraps any `Arc<dyn FileIo>` — [`OsFileIo`](super::file_io::OsFileIo) to test the real
//! server on a "full" disk, or a [`SimulatedDisk`] — and fails chosen operations by
//! [`FaultRule`]s: which kinds of operation, under which path, after how many matching
//! successes, how many times. A failed operation does not reach the inner layer: a
//! failed write writes nothing, a failed sync syncs nothing (the writes stay un-synced
//! and a later crash may drop them). Linux can instead forget the dirty pages and let
//! the *next* fsync succeed; Quill must PANIC on a failed fsync either way, and that is
//! what tests built on this assert.
//!
//! `sim_disk.rs` holds the simulated disk and `inject.rs` the fault-injecting
//! wrapper; the seeded generator, [`XorShift64Star`], is here for every test to use.

mod inject;
mod sim_disk;
#[cfg(test)]
mod tests;

pub use inject::{FaultInjectingIo, FaultKind, FaultOps, FaultRule};
pub use sim_disk::{CrashReport, SimulatedDisk};

/// xorshift64* (Vigna): a tiny, fast, deterministic PRNG for seeded tests.
#[derive(Debug, Clone)]
pub struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    /// A generator for `seed`; every seed (0 included) gives a distinct, usable stream.
    pub fn new(seed: u64) -> XorShift64Star {
        // One splitmix64 step spreads nearby seeds apart and never leaves state 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift64Star {
            state: if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z },
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `0..n` (`n > 0`; modulo bias is irrelevant for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "XorShift64Star::below(0)");
        self.next_u64() % n
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
