//! Tests of the transaction subsystem.
