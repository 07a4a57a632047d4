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
