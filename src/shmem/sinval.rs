//! The shared catalog invalidation queue (DESIGN.md §2 "invalidation queue", §6;
//! PostgreSQL's `sinvaladt.c`, reduced): a fixed ring of messages "the catalog rows of
//! relation R in database D changed", appended by a committing transaction and read by
//! every backend before it uses its catalog cache.
//!
//! # Layout
//! ```text
//!  SinvalShared
//!   max_msg_num  AtomicU64            messages ever appended = the next one's number
//!   ring         LWLocked<SinvalRing> message m lives at index m % SINVAL_QUEUE_LEN
//! ```
//! Message numbers only grow (a u64 does not wrap). A reader remembers the number of
//! the next message it has not seen. If the writers got more than
//! [`SINVAL_QUEUE_LEN`] messages ahead of it, the ones it missed are overwritten:
//! [`SinvalRead::Overflowed`] tells it to reset its whole cache (PostgreSQL's
//! "catchup reset"), which is always correct.
//!
//! # Who writes and reads
//! * `ring` is written under its lock held exclusive (by [`SinvalShared::append`]), read
//!   under it held shared ([`SinvalShared::read_since`]).
//! * `max_msg_num` is stored only under the exclusive lock, after the messages it
//!   covers (Release); anyone may load it without the lock (Acquire) to see, with one
//!   atomic load per statement, that nothing is new.
//!
//! The lock is taken alone (no other lock is held with it; `README.md` rule 11). What
//! a message means and when it must be sent (before the sender's commit becomes
//! visible) is the catalog's business: `crate::catalog::inval`.
//!
//! All-zero bytes are the valid initial state: no message, a free lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::lwlock::LWLocked;
use super::ShmemSafe;

/// Messages the ring holds; a reader further behind resets its cache.
pub const SINVAL_QUEUE_LEN: usize = 4096;

/// One invalidation: the catalog rows of relation `rel_oid` of database `db_oid`
/// changed in transaction `xid` (committed). `rel_oid` 0 means "everything".
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinvalMessage {
    pub db_oid: u32,
    pub rel_oid: u32,
    pub xid: u32,
    /// Zero (keeps the struct 16 bytes).
    pub reserved: u32,
}

const _: () = assert!(std::mem::size_of::<SinvalMessage>() == 16);

impl SinvalMessage {
    pub fn relation(db_oid: u32, rel_oid: u32, xid: u32) -> SinvalMessage {
        SinvalMessage {
            db_oid,
            rel_oid,
            xid,
            reserved: 0,
        }
    }
}

/// The ring's slots (plain data under `SinvalShared::ring`'s lock).
#[repr(C)]
pub struct SinvalRing {
    messages: [SinvalMessage; SINVAL_QUEUE_LEN],
}

/// The queue's shared region (module doc).
#[repr(C)]
pub struct SinvalShared {
    /// Number of messages ever appended. Stored by `append` under the exclusive lock
    /// (Release); loaded by anyone, with or without the lock (Acquire).
    max_msg_num: AtomicU64,
    /// The messages; written under the exclusive lock, read under the shared lock.
    ring: LWLocked<SinvalRing>,
}

// SAFETY: an atomic and an LWLocked plain-data array: valid when all bytes are zero
// (no message, free lock), no pointers, every access through the atomic or the
// cross-process lock (hence Sync).
unsafe impl ShmemSafe for SinvalShared {}

/// Bytes of shared memory the queue needs.
pub const SINVAL_SHMEM_BYTES: usize = std::mem::size_of::<SinvalShared>();

/// What a reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinvalRead {
    /// Every message since the reader's position, oldest first, and the new position.
    Messages(Vec<SinvalMessage>, u64),
    /// Messages the reader had not seen were overwritten: reset everything. The new
    /// position.
    Overflowed(u64),
}

impl SinvalShared {
    /// The number the next appended message will get: a new reader starts here (it
    /// has no cache yet, so nothing earlier concerns it).
    pub fn current_position(&self) -> u64 {
        self.max_msg_num.load(Ordering::Acquire)
    }

    /// Appends `messages` (one transaction's). A batch of more than half the ring is
    /// replaced by one message `db_oid = 0, rel_oid = 0`, which every reader treats
    /// as "reset everything".
    pub fn append(&self, messages: &[SinvalMessage]) {
        if messages.is_empty() {
            return;
        }
        let reset;
        let messages = if messages.len() > SINVAL_QUEUE_LEN / 2 {
            reset = [SinvalMessage::relation(0, 0, messages[0].xid)];
            &reset[..]
        } else {
            messages
        };
        let mut ring = self.ring.lock_exclusive();
        let mut next = self.max_msg_num.load(Ordering::Acquire);
        for m in messages {
            ring.messages[(next % SINVAL_QUEUE_LEN as u64) as usize] = *m;
            next += 1;
        }
        self.max_msg_num.store(next, Ordering::Release);
    }

    /// The messages numbered `from..` (module doc). Cheap when there are none: one
    /// atomic load, no lock.
    pub fn read_since(&self, from: u64) -> SinvalRead {
        if self.max_msg_num.load(Ordering::Acquire) == from {
            return SinvalRead::Messages(Vec::new(), from);
        }
        let ring = self.ring.lock_shared();
        let max = self.max_msg_num.load(Ordering::Acquire);
        if from > max || max - from > SINVAL_QUEUE_LEN as u64 {
            // Behind by more than the ring (or a position from before a crash
            // restart zeroed the queue): what it missed is gone.
            return SinvalRead::Overflowed(max);
        }
        let messages = (from..max)
            .map(|m| ring.messages[(m % SINVAL_QUEUE_LEN as u64) as usize])
            .collect();
        SinvalRead::Messages(messages, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::TestSegment;

    fn queue() -> &'static SinvalShared {
        let segment = Box::leak(Box::new(TestSegment::new(SINVAL_SHMEM_BYTES)));
        segment.struct_at::<SinvalShared>(0)
    }

    #[test]
    fn a_reader_sees_each_message_once_in_order() {
        let q = queue();
        let start = q.current_position();
        assert_eq!(q.read_since(start), SinvalRead::Messages(vec![], start));
        let a = SinvalMessage::relation(5, 16384, 10);
        let b = SinvalMessage::relation(5, 16385, 11);
        q.append(&[a]);
        q.append(&[b]);
        let SinvalRead::Messages(got, pos) = q.read_since(start) else {
            panic!("no overflow expected");
        };
        assert_eq!(got, vec![a, b]);
        assert_eq!(q.read_since(pos), SinvalRead::Messages(vec![], pos));
    }

    #[test]
    fn a_reader_left_behind_by_more_than_the_ring_must_reset() {
        let q = queue();
        let start = q.current_position();
        for i in 0..(SINVAL_QUEUE_LEN as u32 + 1) {
            q.append(&[SinvalMessage::relation(5, 16384 + i, 10)]);
        }
        assert_eq!(
            q.read_since(start),
            SinvalRead::Overflowed(start + SINVAL_QUEUE_LEN as u64 + 1)
        );
        // Exactly a ring behind is still readable.
        let pos = q.current_position() - SINVAL_QUEUE_LEN as u64;
        let SinvalRead::Messages(got, _) = q.read_since(pos) else {
            panic!("a full ring is readable");
        };
        assert_eq!(got.len(), SINVAL_QUEUE_LEN);
        assert_eq!(got[0].rel_oid, 16385);
    }

    #[test]
    fn a_huge_batch_becomes_one_reset_message() {
        let q = queue();
        let start = q.current_position();
        let many: Vec<_> = (0..SINVAL_QUEUE_LEN as u32)
            .map(|i| SinvalMessage::relation(5, 20000 + i, 12))
            .collect();
        q.append(&many);
        assert_eq!(
            q.read_since(start),
            SinvalRead::Messages(vec![SinvalMessage::relation(0, 0, 12)], start + 1)
        );
    }
}
