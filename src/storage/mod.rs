//! Storage: pages, the file I/O layer, and the storage manager (DESIGN.md §3).
//! (Being built for the durable-tables issue; see each file's doc.)

pub mod buffer;
pub mod checksum;
pub mod fault;
pub mod file_io;
pub mod ids;
pub mod page;
pub mod smgr;
