//! Identifiers of on-disk relation data: which file (RelFileNode + fork) and which
//! block in it.

use std::fmt;

/// Object identifier, as PostgreSQL's `Oid`.
pub type Oid = u32;

/// Block number within one fork of a relation (0-based, 8 KiB blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockNumber(pub u32);

impl BlockNumber {
    pub const INVALID: BlockNumber = BlockNumber(u32::MAX);
}

impl fmt::Display for BlockNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which physical file of a relation (PostgreSQL's ForkNumber).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForkNumber {
    Main = 0,
    FreeSpaceMap = 1,
    VisibilityMap = 2,
    Init = 3,
}

impl ForkNumber {
    pub fn from_u8(value: u8) -> Option<ForkNumber> {
        match value {
            0 => Some(ForkNumber::Main),
            1 => Some(ForkNumber::FreeSpaceMap),
            2 => Some(ForkNumber::VisibilityMap),
            3 => Some(ForkNumber::Init),
            _ => None,
        }
    }

    /// File-name suffix (`""`, `"_fsm"`, `"_vm"`, `"_init"`).
    pub fn suffix(self) -> &'static str {
        match self {
            ForkNumber::Main => "",
            ForkNumber::FreeSpaceMap => "_fsm",
            ForkNumber::VisibilityMap => "_vm",
            ForkNumber::Init => "_init",
        }
    }
}

/// The physical identity of a relation's files: tablespace, database, relfilenode.
/// The default tablespace is 1663 (`pg_default`), whose files live in `base/<db>/`;
/// global catalogs use tablespace 1664 (`pg_global`), in `global/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelFileNode {
    pub spc_oid: Oid,
    pub db_oid: Oid,
    pub rel_number: Oid,
}

pub const DEFAULT_TABLESPACE_OID: Oid = 1663;
pub const GLOBAL_TABLESPACE_OID: Oid = 1664;

impl RelFileNode {
    /// Path of the relation's first segment of `fork`, relative to the data directory.
    pub fn relative_path(&self, fork: ForkNumber) -> String {
        if self.spc_oid == GLOBAL_TABLESPACE_OID {
            format!("global/{}{}", self.rel_number, fork.suffix())
        } else {
            format!("base/{}/{}{}", self.db_oid, self.rel_number, fork.suffix())
        }
    }
}

impl fmt::Display for RelFileNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.spc_oid, self.db_oid, self.rel_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_postgres() {
        let rel = RelFileNode {
            spc_oid: DEFAULT_TABLESPACE_OID,
            db_oid: 5,
            rel_number: 16384,
        };
        assert_eq!(rel.relative_path(ForkNumber::Main), "base/5/16384");
        assert_eq!(
            rel.relative_path(ForkNumber::FreeSpaceMap),
            "base/5/16384_fsm"
        );
        let global = RelFileNode {
            spc_oid: GLOBAL_TABLESPACE_OID,
            db_oid: 0,
            rel_number: 1262,
        };
        assert_eq!(global.relative_path(ForkNumber::Main), "global/1262");
    }
}
