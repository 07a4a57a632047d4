//! Command-line entry (being written).
pub fn main() {}
