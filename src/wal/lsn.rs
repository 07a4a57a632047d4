//! Log sequence numbers: byte positions in the write-ahead log.

use std::fmt;

/// A byte position in the WAL stream (PostgreSQL's XLogRecPtr). Printed as PostgreSQL
/// does, `X/XXXXXXXX` (high and low 32 bits in hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The invalid LSN (no WAL position).
    pub const INVALID: Lsn = Lsn(0);

    pub fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// Parses `X/XXXXXXXX`.
    pub fn parse(text: &str) -> Option<Lsn> {
        let (hi, lo) = text.split_once('/')?;
        let hi = u32::from_str_radix(hi, 16).ok()?;
        let lo = u32::from_str_radix(lo, 16).ok()?;
        Some(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_like_postgres() {
        let lsn = Lsn(0x1_0000_0028);
        assert_eq!(lsn.to_string(), "1/28");
        assert_eq!(Lsn::parse("1/28"), Some(lsn));
        assert_eq!(Lsn::parse("0/16B3740").unwrap().0, 0x16B_3740);
        assert_eq!(Lsn::parse("nope"), None);
    }
}
