//! Offline and control commands behind the `quill` executable's subcommands:
//! creating a data directory ([`initdb`]) and controlling a running server
//! ([`ctl`]: stop, status), in the manner of initdb and pg_ctl.

pub mod controldata;
pub mod ctl;
pub mod initdb;
pub mod verify;
pub mod waldump;
