//! The write-ahead log (DESIGN.md §4). (Being built for the durable-tables issue.)

pub mod lsn;
pub mod reader;
pub mod record;
pub mod segment;

pub use lsn::Lsn;
pub mod checkpoint;
pub mod control;
pub mod recovery;
pub mod xlog;

use crate::error::QuillResult;

/// How the buffer manager makes WAL durable before it writes a page (DESIGN.md §4 rule 1).
///
/// Implemented by the WAL (`crate::wal::xlog::Wal`); tests use fakes. Called while the
/// caller holds a buffer's content lock in shared mode, so an implementation must not
/// take buffer content locks.
pub trait WalFlusher: Send + Sync {
    /// Makes WAL durable at least up to `upto` (PostgreSQL's `XLogFlush`). Returns at once
    /// when it already is (including `upto` = [`Lsn::INVALID`] for pages never WAL-logged).
    /// An error means nothing is known to be durable beyond the previous flush; the
    /// page is then not written.
    fn flush(&self, upto: Lsn) -> QuillResult<()>;

    /// The position up to which WAL is known durable now.
    fn flushed_lsn(&self) -> Lsn;
}
