//! Quill: a PostgreSQL-style database server.
//!
//! The crate is laid out as DESIGN.md §8 describes, one folder per subsystem.
//! Dependencies point one way: `backend` (protocol) → `sql` → storage layers, and
//! everything may use `error`, `config` and `shmem` through their narrow APIs.

pub mod access;
pub mod backend;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod executor;
pub mod logging;
pub mod postmaster;
pub mod shmem;
pub mod sql;
pub mod storage;
pub mod tools;
pub mod txn;
pub mod wal;

pub use error::{QuillError, QuillResult};
