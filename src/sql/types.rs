//! SQL data types as PostgreSQL numbers and names them.
//!
//! A [`SqlType`] is one row of PostgreSQL's `pg_type` that Quill knows: its OID,
//! length (`typlen`), category and preferred flag (which drive implicit type
//! resolution), and the names PostgreSQL prints for it. A type modifier (`typmod`,
//! e.g. the 10 of `varchar(10)`) travels beside the type as an `i32`, -1 for none,
//! encoded exactly as PostgreSQL encodes it, because clients read it from
//! RowDescription.
//!
//! Nothing here depends on the parse tree: the storage layer uses these types too.

/// PostgreSQL's type OIDs for the types Quill knows.
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const XID: u32 = 28;
    pub const PG_NODE_TREE: u32 = 194;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const NUMERIC: u32 = 1700;
    pub const REGTYPE: u32 = 2206;
    pub const VOID: u32 = 2278;
}

/// A type Quill can compute with and send to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    /// `character(n)`: blank-padded.
    Bpchar,
    /// The 63-byte identifier type (`current_user` returns it).
    Name,
    /// The type of a string literal or NULL whose type is not yet decided.
    Unknown,
    /// The "no value" result of functions like `pg_sleep`.
    Void,
    /// What `pg_typeof` returns; its text form is the type's name.
    RegType,
    /// An object identifier: unsigned 32 bits (held as a non-negative
    /// `Datum::Int8`). Integers convert to it implicitly; it has no arithmetic.
    Oid,
    /// `"char"`: one byte, the catalogs' flag type (`relkind`); held as a
    /// one-character (or, for the zero byte, empty) `Datum::Text`.
    Char,
    /// A transaction id as the catalogs show it (unsigned, `Datum::Int8`).
    Xid,
    /// The catalogs' stored expression trees (`relpartbound`); shown as text.
    PgNodeTree,
}

/// PostgreSQL's `typcategory`: implicit resolution only moves within a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeCategory {
    Boolean,
    Numeric,
    String,
    Unknown,
    Pseudo,
    /// PostgreSQL's user-defined ('U') and internal ('Z') categories: types with
    /// no implicit conversions and no operators Quill offers.
    Other,
}

/// Largest `n` in `varchar(n)` / `char(n)` (PostgreSQL's MaxAttrSize / 1024 … 10485760).
pub const MAX_CHAR_LENGTH: i32 = 10_485_760;
/// Largest precision of `numeric(p, s)`.
pub const NUMERIC_MAX_PRECISION: i32 = 1000;
/// Smallest and largest scale of `numeric(p, s)`.
pub const NUMERIC_MIN_SCALE: i32 = -1000;
pub const NUMERIC_MAX_SCALE: i32 = 1000;
/// The header PostgreSQL adds to every length-type modifier (VARHDRSZ).
const VARHDRSZ: i32 = 4;

impl SqlType {
    pub const fn oid(self) -> u32 {
        match self {
            SqlType::Bool => oid::BOOL,
            SqlType::Int2 => oid::INT2,
            SqlType::Int4 => oid::INT4,
            SqlType::Int8 => oid::INT8,
            SqlType::Float4 => oid::FLOAT4,
            SqlType::Float8 => oid::FLOAT8,
            SqlType::Numeric => oid::NUMERIC,
            SqlType::Text => oid::TEXT,
            SqlType::Varchar => oid::VARCHAR,
            SqlType::Bpchar => oid::BPCHAR,
            SqlType::Name => oid::NAME,
            SqlType::Unknown => oid::UNKNOWN,
            SqlType::Void => oid::VOID,
            SqlType::RegType => oid::REGTYPE,
            SqlType::Oid => oid::OID,
            SqlType::Char => oid::CHAR,
            SqlType::Xid => oid::XID,
            SqlType::PgNodeTree => oid::PG_NODE_TREE,
        }
    }

    pub fn from_oid(type_oid: u32) -> Option<SqlType> {
        ALL_TYPES.iter().copied().find(|t| t.oid() == type_oid)
    }

    /// `typlen`: bytes of a fixed-size value, -1 for varlena, -2 for C strings.
    pub const fn typlen(self) -> i16 {
        match self {
            SqlType::Bool | SqlType::Char => 1,
            SqlType::Int2 => 2,
            SqlType::Int4
            | SqlType::Float4
            | SqlType::Void
            | SqlType::RegType
            | SqlType::Oid
            | SqlType::Xid => 4,
            SqlType::Int8 | SqlType::Float8 => 8,
            SqlType::Name => 64,
            SqlType::Unknown => -2,
            SqlType::Numeric
            | SqlType::Text
            | SqlType::Varchar
            | SqlType::Bpchar
            | SqlType::PgNodeTree => -1,
        }
    }

    /// The name PostgreSQL's `format_type_be` prints in messages ("integer",
    /// "character varying").
    pub const fn display_name(self) -> &'static str {
        match self {
            SqlType::Bool => "boolean",
            SqlType::Int2 => "smallint",
            SqlType::Int4 => "integer",
            SqlType::Int8 => "bigint",
            SqlType::Float4 => "real",
            SqlType::Float8 => "double precision",
            SqlType::Numeric => "numeric",
            SqlType::Text => "text",
            SqlType::Varchar => "character varying",
            SqlType::Bpchar => "character",
            SqlType::Name => "name",
            SqlType::Unknown => "unknown",
            SqlType::Void => "void",
            SqlType::RegType => "regtype",
            SqlType::Oid => "oid",
            SqlType::Char => "\"char\"",
            SqlType::Xid => "xid",
            SqlType::PgNodeTree => "pg_node_tree",
        }
    }

    /// `pg_type.typname` ("int4", "varchar").
    pub const fn internal_name(self) -> &'static str {
        match self {
            SqlType::Bool => "bool",
            SqlType::Int2 => "int2",
            SqlType::Int4 => "int4",
            SqlType::Int8 => "int8",
            SqlType::Float4 => "float4",
            SqlType::Float8 => "float8",
            SqlType::Numeric => "numeric",
            SqlType::Text => "text",
            SqlType::Varchar => "varchar",
            SqlType::Bpchar => "bpchar",
            SqlType::Name => "name",
            SqlType::Unknown => "unknown",
            SqlType::Void => "void",
            SqlType::RegType => "regtype",
            SqlType::Oid => "oid",
            SqlType::Char => "char",
            SqlType::Xid => "xid",
            SqlType::PgNodeTree => "pg_node_tree",
        }
    }

    pub const fn category(self) -> TypeCategory {
        match self {
            SqlType::Bool => TypeCategory::Boolean,
            SqlType::Int2
            | SqlType::Int4
            | SqlType::Int8
            | SqlType::Float4
            | SqlType::Float8
            | SqlType::Numeric
            | SqlType::RegType
            | SqlType::Oid => TypeCategory::Numeric,
            SqlType::Text | SqlType::Varchar | SqlType::Bpchar | SqlType::Name | SqlType::Char => {
                TypeCategory::String
            }
            SqlType::Xid | SqlType::PgNodeTree => TypeCategory::Other,
            SqlType::Unknown => TypeCategory::Unknown,
            SqlType::Void => TypeCategory::Pseudo,
        }
    }

    /// `typispreferred`: the type implicit resolution leans to in its category.
    pub const fn is_preferred(self) -> bool {
        matches!(self, SqlType::Bool | SqlType::Float8 | SqlType::Text)
    }

    pub const fn is_integer(self) -> bool {
        matches!(self, SqlType::Int2 | SqlType::Int4 | SqlType::Int8)
    }

    /// text, varchar, bpchar and name: values are strings compared bytewise.
    pub const fn is_string(self) -> bool {
        matches!(self.category(), TypeCategory::String)
    }

    /// The type behind a name written in SQL (`int`, `int4`, `integer`,
    /// `character varying`, ...), as the grammar leaves it: the last component of a
    /// possibly `pg_catalog`-qualified name. `None` if Quill does not know it.
    pub fn from_sql_name(name: &str) -> Option<SqlType> {
        Some(match name {
            "bool" | "boolean" => SqlType::Bool,
            "int2" | "smallint" => SqlType::Int2,
            "int4" | "int" | "integer" => SqlType::Int4,
            "int8" | "bigint" => SqlType::Int8,
            "float4" | "real" => SqlType::Float4,
            "float8" => SqlType::Float8,
            "numeric" | "decimal" => SqlType::Numeric,
            "text" => SqlType::Text,
            "varchar" => SqlType::Varchar,
            "bpchar" => SqlType::Bpchar,
            "name" => SqlType::Name,
            "unknown" => SqlType::Unknown,
            "void" => SqlType::Void,
            "regtype" => SqlType::RegType,
            "oid" => SqlType::Oid,
            "char" => SqlType::Char,
            "xid" => SqlType::Xid,
            "pg_node_tree" => SqlType::PgNodeTree,
            _ => return None,
        })
    }

    /// Whether values of `self` may silently become `target` (a `pg_cast` entry
    /// with context 'i', or binary coercibility). Drives function and CASE
    /// resolution.
    pub fn implicitly_casts_to(self, target: SqlType) -> bool {
        use SqlType::*;
        if self == target || self == Unknown {
            return true;
        }
        match self {
            Int2 => matches!(target, Int4 | Int8 | Float4 | Float8 | Numeric | Oid),
            Int4 => matches!(target, Int8 | Float4 | Float8 | Numeric | Oid),
            Int8 => matches!(target, Float4 | Float8 | Numeric | Oid),
            Char => target == Text,
            Float4 => target == Float8,
            Numeric => matches!(target, Float4 | Float8),
            Text => matches!(target, Varchar | Bpchar | Name),
            Varchar => matches!(target, Text | Bpchar | Name),
            Bpchar => matches!(target, Text | Varchar | Name),
            Name => target == Text,
            _ => false,
        }
    }
}

/// Every type in [`SqlType`], for lookups by OID.
pub const ALL_TYPES: [SqlType; 18] = [
    SqlType::Bool,
    SqlType::Int2,
    SqlType::Int4,
    SqlType::Int8,
    SqlType::Float4,
    SqlType::Float8,
    SqlType::Numeric,
    SqlType::Text,
    SqlType::Varchar,
    SqlType::Bpchar,
    SqlType::Name,
    SqlType::Unknown,
    SqlType::Void,
    SqlType::RegType,
    SqlType::Oid,
    SqlType::Char,
    SqlType::Xid,
    SqlType::PgNodeTree,
];

/// The typmod of `varchar(n)` / `char(n)`.
pub fn char_typmod(length: i32) -> i32 {
    length + VARHDRSZ
}

/// The `n` of a `varchar(n)` / `char(n)` typmod, `None` for unconstrained.
pub fn char_typmod_length(typmod: i32) -> Option<usize> {
    (typmod >= VARHDRSZ).then(|| (typmod - VARHDRSZ) as usize)
}

/// The typmod of `numeric(precision, scale)`; the scale is kept in 11 bits, as
/// PostgreSQL does, so negative scales survive.
pub fn numeric_typmod(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ
}

/// The (precision, scale) of a `numeric` typmod, `None` for unconstrained.
pub fn numeric_typmod_parts(typmod: i32) -> Option<(i32, i32)> {
    if typmod < VARHDRSZ {
        return None;
    }
    let bits = typmod - VARHDRSZ;
    let precision = (bits >> 16) & 0xffff;
    // Sign-extend the 11-bit scale.
    let scale = ((bits & 0x7ff) ^ 1024) - 1024;
    Some((precision, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_and_lengths_match_pg_type() {
        assert_eq!(SqlType::Int4.oid(), 23);
        assert_eq!(SqlType::Name.typlen(), 64);
        assert_eq!(SqlType::Unknown.typlen(), -2);
        assert_eq!(SqlType::from_oid(1700), Some(SqlType::Numeric));
        assert_eq!(SqlType::from_oid(1), None);
    }

    #[test]
    fn typmods_encode_as_postgres_does() {
        // Values read from PostgreSQL 15's RowDescription.
        assert_eq!(char_typmod(3), 7);
        assert_eq!(numeric_typmod(5, 2), 327686);
        assert_eq!(numeric_typmod(3, 1), 196613);
        assert_eq!(numeric_typmod(5, -1), 329731);
        assert_eq!(numeric_typmod_parts(329731), Some((5, -1)));
        assert_eq!(numeric_typmod_parts(-1), None);
        assert_eq!(char_typmod_length(7), Some(3));
    }

    #[test]
    fn implicit_casts_follow_pg_cast() {
        assert!(SqlType::Int4.implicitly_casts_to(SqlType::Numeric));
        assert!(SqlType::Numeric.implicitly_casts_to(SqlType::Float4));
        assert!(!SqlType::Float4.implicitly_casts_to(SqlType::Numeric));
        assert!(!SqlType::Int8.implicitly_casts_to(SqlType::Int4));
        assert!(!SqlType::Bool.implicitly_casts_to(SqlType::Int4));
    }
}
