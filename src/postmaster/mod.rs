//! The postmaster and the processes it supervises (DESIGN.md §1).
//!
//! Owns: the listen sockets, `postmaster.pid`, the shared-memory segment's creation and
//! re-initialisation, forking a backend per connection, reaping children, shutdown
//! modes and crash restart.
//!
//! Rules:
//! 1. The postmaster is single-threaded (fork after threads is unsafe) and never takes
//!    a shared-memory lock, so a child that dies holding one cannot wedge it. It reads
//!    and writes only atomics there (proc slot release, the quit reason).
//! 2. A child that exits with a signal or an exit code other than 0 or 1 may have left
//!    shared memory inconsistent: every other child is sent SIGQUIT, and once all are
//!    gone shared memory is re-initialised before connections are accepted again
//!    (crash restart).
//! 3. Backends get their proc slot from the postmaster at fork time; the postmaster
//!    frees it after reaping. At most `max_connections` backends hold slots; a
//!    connection beyond that gets FATAL 53300 from a dead-end child.

pub mod aux_process;
pub mod checkpointer;
pub mod listen;
pub mod pidfile;
#[allow(clippy::module_inception)]
pub mod postmaster;
pub mod signals;
pub mod startup;
pub mod walwriter;

pub use postmaster::run;
