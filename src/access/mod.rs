//! Access methods: how rows are laid out in pages (heap) and found (indexes, later).

pub mod heap;
