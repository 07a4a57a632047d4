//! The heap access method: tuples in pages. (Being built.)

pub mod tuple;
pub mod visibility;
