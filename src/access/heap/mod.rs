//! The heap access method: tuples in pages. (Being built.)

pub mod heap_wal;
pub mod heapam;
pub mod tuple;
pub mod visibility;
