//! Catalog cache invalidation across backends (DESIGN.md §6; PostgreSQL's `inval.c`
//! and `AcceptInvalidationMessages`), over the shared queue of
//! [`crate::shmem::sinval`].
//!
//! # The protocol
//! * A transaction that changed the catalog rows of a relation (CREATE TABLE, DROP
//!   TABLE) remembers the relation's OID ([`PendingInvals`]). At commit, **after** its
//!   commit record is in WAL and clog says COMMITTED, and **before** its xid leaves the
//!   proc array, it appends one message per relation, stamped with its xid
//!   ([`PendingInvals::send`]). An aborted transaction sends nothing: nobody else could
//!   have cached its rows (its own cache is reset at abort).
//! * Every backend, at the start of each statement, **after** taking the statement's
//!   snapshot and before any catalog lookup, reads the messages it has not seen and
//!   drops the cached entries they name ([`InvalReader::accept`]).
//!
//! Why this order is enough without relation locks: if the snapshot sees the sender
//! committed, the sender left the proc array before the snapshot was taken, so its
//! messages were appended before that, and the reader (which reads after its
//! snapshot) gets them. If the snapshot does *not* see the sender committed, the
//! reader may legitimately load and cache the old rows under it; so a message whose
//! sender is still in progress for the reader's snapshot is kept ("deferred") and
//! applied again at every statement until a snapshot sees the sender finished. The
//! deferred list is empty except in that short window.
//!
//! A reader that fell behind by more than the queue holds resets its whole cache,
//! and keeps resetting it until its snapshots see every transaction that had an xid
//! when it noticed (`xmin` ≥ that horizon): a missed message's sender is among them.
//!
//! # Not covered
//! A statement that already runs keeps using what it looked up: without relation
//! locks (PostgreSQL's AccessExclusiveLock on DROP), a scan of a table running while
//! another session's DROP commits can fail to read the removed file.

use crate::access::heap::tuple::TransactionId;
use crate::access::heap::visibility::{xid_precedes, Snapshot};
use crate::shmem::sinval::{SinvalMessage, SinvalRead, SinvalShared};
use crate::storage::ids::Oid;

use super::cache::CatCache;

/// The catalog rows changed by the running transaction, to announce at commit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingInvals {
    relations: Vec<Oid>,
}

impl PendingInvals {
    /// The rows of relation `rel_oid` were inserted or deleted by this transaction.
    pub fn relation_changed(&mut self, rel_oid: Oid) {
        if !self.relations.contains(&rel_oid) {
            self.relations.push(rel_oid);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// The relations named so far.
    pub fn relations(&self) -> &[Oid] {
        &self.relations
    }

    /// Commit: appends the messages (module doc: after clog says COMMITTED, before the
    /// xid leaves the proc array) and drops this backend's own entries for them.
    /// Empties the list.
    pub fn send(
        &mut self,
        queue: &SinvalShared,
        db_oid: Oid,
        xid: TransactionId,
        own_cache: &mut CatCache,
    ) {
        let messages: Vec<SinvalMessage> = self
            .relations
            .iter()
            .map(|&rel| SinvalMessage::relation(db_oid, rel, xid))
            .collect();
        queue.append(&messages);
        for &rel in &self.relations {
            own_cache.invalidate_relation(rel);
        }
        self.relations.clear();
    }

    /// Abort: nothing is announced.
    pub fn discard(&mut self) {
        self.relations.clear();
    }
}

/// A message applied, and applied again until a snapshot sees its sender finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deferred {
    /// Relation `rel` (0: everything) changed in `xid`.
    Relation { rel: Oid, xid: TransactionId },
    /// Unknown messages were missed; their senders all precede `horizon`.
    AllBefore { horizon: TransactionId },
}

impl Deferred {
    fn apply(&self, cache: &mut CatCache) {
        match *self {
            Deferred::Relation { rel: 0, .. } | Deferred::AllBefore { .. } => {
                cache.invalidate_all()
            }
            Deferred::Relation { rel, .. } => cache.invalidate_relation(rel),
        }
    }

    /// Whether `snapshot` sees the sender(s) finished, so a lookup under it reads
    /// the new rows.
    fn settled(&self, snapshot: &Snapshot) -> bool {
        match *self {
            Deferred::Relation { xid, .. } => !snapshot.xid_in_progress(xid),
            Deferred::AllBefore { horizon } => !xid_precedes(snapshot.xmin, horizon),
        }
    }
}

/// One backend's side of the queue: how far it has read, and the deferred messages.
#[derive(Debug, Default)]
pub struct InvalReader {
    /// Number of the next message not yet read; `None` until the first statement.
    next: Option<u64>,
    deferred: Vec<Deferred>,
}

impl InvalReader {
    /// A reader that has seen every message before `position`
    /// ([`SinvalShared::current_position`], read when the backend starts, before its
    /// first snapshot and with an empty cache).
    pub fn starting_at(position: u64) -> InvalReader {
        InvalReader {
            next: Some(position),
            deferred: Vec::new(),
        }
    }

    /// Brings `cache` up to date for a statement running under `snapshot` in database
    /// `db_oid` (module doc). `next_xid` is the shared next xid, read after the queue
    /// (the overflow horizon).
    pub fn accept(
        &mut self,
        queue: &SinvalShared,
        db_oid: Oid,
        snapshot: &Snapshot,
        next_xid: impl Fn() -> TransactionId,
        cache: &mut CatCache,
    ) {
        let from = match self.next {
            Some(from) => from,
            None => {
                // Never positioned ([`InvalReader::starting_at`]): start at the end,
                // and treat what came before as missed (an overflow).
                let next = queue.current_position();
                self.next = Some(next);
                self.deferred.push(Deferred::AllBefore {
                    horizon: next_xid(),
                });
                next
            }
        };
        match queue.read_since(from) {
            SinvalRead::Messages(messages, next) => {
                self.next = Some(next);
                for m in messages {
                    if m.db_oid == db_oid || m.db_oid == 0 {
                        self.deferred.push(Deferred::Relation {
                            rel: if m.db_oid == 0 { 0 } else { m.rel_oid },
                            xid: m.xid,
                        });
                    }
                }
            }
            SinvalRead::Overflowed(next) => {
                self.next = Some(next);
                self.deferred.push(Deferred::AllBefore {
                    horizon: next_xid(),
                });
            }
        }
        if self.deferred.is_empty() {
            return;
        }
        for d in &self.deferred {
            d.apply(cache);
        }
        self.deferred.retain(|d| !d.settled(snapshot));
    }

    /// Messages still applied at every statement (tests, monitoring).
    pub fn deferred_len(&self) -> usize {
        self.deferred.len()
    }
}
