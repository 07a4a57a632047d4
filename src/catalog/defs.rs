//! The bootstrap catalogs' definitions: `include/catalog.txt` (compiled in with
//! `include_str!`) parsed into [`CatalogDefs`] — each catalog's OID, columns, column
//! types and initial rows — and the typed values ([`Datum`]) rows are made of.
//!
//! The file is part of the binary, so a syntax error in it is a bug: the unit tests
//! parse it, and [`catalog_defs`] panics if it does not parse. Column types are
//! resolved against the file's own `pg_type` rows, which is how the bootstrap can form
//! tuples before any catalog exists on disk (PostgreSQL's BKI bootstrap mode has the
//! same chicken-and-egg problem and the same answer: a built-in type table).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::access::heap::tuple::{AttrDesc, HeapValue, ValueKind};
use crate::storage::ids::{Oid, DEFAULT_TABLESPACE_OID, GLOBAL_TABLESPACE_OID};

/// The definitions file, as compiled into the binary.
pub const CATALOG_TXT: &str = include_str!("../../include/catalog.txt");

/// PostgreSQL's catalog OIDs (= their relfilenodes at bootstrap, see the module doc of
/// `bootstrap.rs`).
pub const PG_TYPE_OID: Oid = 1247;
pub const PG_ATTRIBUTE_OID: Oid = 1249;
pub const PG_CLASS_OID: Oid = 1259;
pub const PG_AUTHID_OID: Oid = 1260;
pub const PG_DATABASE_OID: Oid = 1262;
pub const PG_NAMESPACE_OID: Oid = 2615;

/// Namespaces and the bootstrap superuser (PostgreSQL's OIDs).
pub const PG_CATALOG_NAMESPACE: Oid = 11;
pub const PG_TOAST_NAMESPACE: Oid = 99;
pub const PUBLIC_NAMESPACE: Oid = 2200;
pub const BOOTSTRAP_SUPERUSER_ID: Oid = 10;
/// `pg_am` row of the heap access method.
pub const HEAP_TABLE_AM_OID: Oid = 2;

/// Type OIDs used by the catalog code itself.
pub const BOOLOID: Oid = 16;
pub const CHAROID: Oid = 18;
pub const NAMEOID: Oid = 19;
pub const INT4OID: Oid = 23;
pub const TEXTOID: Oid = 25;
pub const FLOAT4OID: Oid = 700;
pub const FLOAT8OID: Oid = 701;

/// Bytes of a `name` value, NUL padding included (PostgreSQL's NAMEDATALEN).
pub const NAMEDATALEN: usize = 64;

/// The placeholder replaced by the bootstrap superuser's name.
pub const SUPERUSER_PLACEHOLDER: &str = "$superuser";

/// An owned attribute value of a catalog row.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Bool(bool),
    Char(u8),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// Varlena payload, or fixed-length bytes (`name` is 64 bytes, NUL padded).
    Bytes(Vec<u8>),
}

impl Datum {
    /// An `oid` (stored as int4 bits).
    pub fn oid(oid: Oid) -> Datum {
        Datum::Int4(oid as i32)
    }

    /// A `name`: `s` NUL-padded to 64 bytes. Errors if it does not fit (63 bytes max).
    pub fn name(s: &str) -> Result<Datum, String> {
        if s.len() >= NAMEDATALEN || s.contains('\0') {
            return Err(format!("invalid name \"{s}\": at most 63 bytes, no NUL"));
        }
        let mut bytes = vec![0u8; NAMEDATALEN];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Datum::Bytes(bytes))
    }

    pub fn as_heap_value(&self) -> HeapValue<'_> {
        match self {
            Datum::Null => HeapValue::Null,
            Datum::Bool(v) => HeapValue::Bool(*v),
            Datum::Char(v) => HeapValue::Char(*v),
            Datum::Int2(v) => HeapValue::Int2(*v),
            Datum::Int4(v) => HeapValue::Int4(*v),
            Datum::Int8(v) => HeapValue::Int8(*v),
            Datum::Float4(v) => HeapValue::Float4(*v),
            Datum::Float8(v) => HeapValue::Float8(*v),
            Datum::Bytes(v) => HeapValue::Bytes(v),
        }
    }
}

/// What storing a value of a type needs (a slice of a pg_type row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDesc {
    pub oid: Oid,
    pub name: String,
    pub typlen: i16,
    pub typbyval: bool,
    pub typalign: u8,
    pub typstorage: u8,
    pub typcollation: Oid,
}

impl TypeDesc {
    /// How the heap's tuple code stores a column of this type.
    pub fn attr_desc(&self) -> AttrDesc {
        attr_desc(
            self.oid,
            self.typlen,
            self.typbyval,
            self.typalign,
            self.typstorage,
        )
    }
}

/// The tuple descriptor entry for a column of type `type_oid`.
pub fn attr_desc(type_oid: Oid, typlen: i16, byval: bool, align: u8, storage: u8) -> AttrDesc {
    let kind = match (type_oid, typlen, byval) {
        (BOOLOID, _, _) => ValueKind::Bool,
        (CHAROID, _, _) => ValueKind::Char,
        (FLOAT4OID, _, _) => ValueKind::Float4,
        (FLOAT8OID, _, _) => ValueKind::Float8,
        (_, 2, true) => ValueKind::Int2,
        (_, 4, true) => ValueKind::Int4,
        (_, 8, true) => ValueKind::Int8,
        _ => ValueKind::Bytes,
    };
    AttrDesc {
        typlen,
        typalign: align,
        typstorage: storage,
        kind,
    }
}

/// One column of a bootstrap catalog.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub type_oid: Oid,
    pub attr: AttrDesc,
    pub typbyval: bool,
    /// The value a row that does not name this column gets (`None`: it must).
    pub default: Option<String>,
    pub nullable: bool,
}

/// One bootstrap catalog: identity, columns, and the rows the file lists.
#[derive(Debug, Clone)]
pub struct CatalogDef {
    pub name: String,
    pub oid: Oid,
    /// OID of its composite row type (pg_type), 0 if none.
    pub rowtype_oid: Oid,
    /// Shared across databases (tablespace pg_global, files under `global/`).
    pub shared: bool,
    pub columns: Vec<ColumnDef>,
    /// Rows as (column, text value) pairs.
    pub rows: Vec<Vec<(String, String)>>,
    /// `columns`' tuple descriptor, for `form_tuple`/`deform_tuple`.
    pub attrs: Vec<AttrDesc>,
}

impl CatalogDef {
    /// Tablespace of the catalog's files.
    pub fn tablespace(&self) -> Oid {
        if self.shared {
            GLOBAL_TABLESPACE_OID
        } else {
            DEFAULT_TABLESPACE_OID
        }
    }

    /// Index of column `name` (a bug if absent: callers name columns of the file).
    pub fn column_index(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("catalog {} has no column {name}", self.name))
    }

    /// The values of one row given as (column, text) pairs, as the file writes them;
    /// `superuser` replaces [`SUPERUSER_PLACEHOLDER`].
    pub fn form_values(
        &self,
        fields: &[(String, String)],
        superuser: &str,
    ) -> Result<Vec<Datum>, String> {
        let mut given = Vec::with_capacity(fields.len());
        for (name, text) in fields {
            let col = self
                .columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| format!("catalog {} has no column \"{name}\"", self.name))?;
            let text = if text == SUPERUSER_PLACEHOLDER {
                superuser
            } else {
                text
            };
            let value =
                parse_value(col, text).map_err(|e| format!("{}.{}: {e}", self.name, col.name))?;
            given.push((name.as_str(), value));
        }
        self.values_from(given)
    }

    /// The values of one row from typed (column, value) pairs; columns not given
    /// take their default. Errors on an unknown column, a missing value without a
    /// default, or a NULL in a column that may not be null.
    pub fn values_from(&self, mut given: Vec<(&str, Datum)>) -> Result<Vec<Datum>, String> {
        for (name, _) in &given {
            if !self.columns.iter().any(|c| &c.name == name) {
                return Err(format!("catalog {} has no column \"{name}\"", self.name));
            }
        }
        self.columns
            .iter()
            .map(|col| {
                let value = match given.iter().rposition(|(c, _)| *c == col.name) {
                    Some(i) => given.swap_remove(i).1,
                    None => {
                        let text = col.default.as_deref().ok_or_else(|| {
                            format!("{}.{}: no value and no default", self.name, col.name)
                        })?;
                        parse_value(col, text)
                            .map_err(|e| format!("{}.{}: {e}", self.name, col.name))?
                    }
                };
                if value == Datum::Null && !col.nullable {
                    return Err(format!("{}.{} may not be null", self.name, col.name));
                }
                Ok(value)
            })
            .collect()
    }
}

/// Parses `text` as a value of `col`'s type.
fn parse_value(col: &ColumnDef, text: &str) -> Result<Datum, String> {
    if text == "_null_" {
        return Ok(Datum::Null);
    }
    let bad = || format!("invalid value \"{text}\"");
    Ok(match col.attr.kind {
        ValueKind::Bool => match text {
            "t" => Datum::Bool(true),
            "f" => Datum::Bool(false),
            _ => return Err(bad()),
        },
        ValueKind::Char => match text.as_bytes() {
            b"''" => Datum::Char(0),
            [c] => Datum::Char(*c),
            _ => return Err(bad()),
        },
        ValueKind::Int2 => Datum::Int2(text.parse().map_err(|_| bad())?),
        // Unsigned types (oid, xid) are stored as the bits of an int4.
        ValueKind::Int4 => match text.parse::<i32>() {
            Ok(v) => Datum::Int4(v),
            Err(_) => Datum::Int4(text.parse::<u32>().map_err(|_| bad())? as i32),
        },
        ValueKind::Int8 => Datum::Int8(text.parse().map_err(|_| bad())?),
        ValueKind::Float4 => Datum::Float4(text.parse().map_err(|_| bad())?),
        ValueKind::Float8 => Datum::Float8(text.parse().map_err(|_| bad())?),
        ValueKind::Bytes if col.type_oid == NAMEOID => Datum::name(text)?,
        ValueKind::Bytes if col.attr.typlen == -1 => Datum::Bytes(text.as_bytes().to_vec()),
        ValueKind::Bytes => return Err(format!("no text input for type {}", col.type_oid)),
    })
}

/// Every bootstrap catalog, and the built-in types by OID.
#[derive(Debug, Clone)]
pub struct CatalogDefs {
    pub catalogs: Vec<CatalogDef>,
    pub types: HashMap<Oid, TypeDesc>,
}

impl CatalogDefs {
    /// The catalog named `name` (a bug if absent).
    pub fn catalog(&self, name: &str) -> &CatalogDef {
        self.catalogs
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no bootstrap catalog {name}"))
    }

    pub fn catalog_by_oid(&self, oid: Oid) -> Option<&CatalogDef> {
        self.catalogs.iter().find(|c| c.oid == oid)
    }

    /// Parses a definitions file (module doc; format in the file's header).
    pub fn parse(text: &str) -> Result<CatalogDefs, String> {
        let raw = parse_raw(text)?;
        let types = type_table(&raw)?;
        let by_name: HashMap<&str, &TypeDesc> =
            types.values().map(|t| (t.name.as_str(), t)).collect();
        let mut catalogs = Vec::new();
        for cat in raw {
            let mut columns = Vec::new();
            for (name, type_name, default, nullable) in cat.columns {
                let ty = by_name
                    .get(type_name.as_str())
                    .ok_or_else(|| format!("{}.{name}: unknown type {type_name}", cat.name))?;
                columns.push(ColumnDef {
                    name,
                    type_oid: ty.oid,
                    attr: ty.attr_desc(),
                    typbyval: ty.typbyval,
                    default,
                    nullable,
                });
            }
            let attrs = columns.iter().map(|c| c.attr).collect();
            let def = CatalogDef {
                name: cat.name,
                oid: cat.oid,
                rowtype_oid: cat.rowtype_oid,
                shared: cat.shared,
                columns,
                rows: cat.rows,
                attrs,
            };
            for row in &def.rows {
                def.form_values(row, "postgres")?;
            }
            catalogs.push(def);
        }
        Ok(CatalogDefs { catalogs, types })
    }
}

/// The compiled-in definitions, parsed once per process.
pub fn catalog_defs() -> &'static CatalogDefs {
    static DEFS: OnceLock<CatalogDefs> = OnceLock::new();
    DEFS.get_or_init(|| {
        CatalogDefs::parse(CATALOG_TXT)
            .unwrap_or_else(|e| panic!("include/catalog.txt is invalid: {e}"))
    })
}

/// A catalog as written in the file, before its column types are resolved.
struct RawCatalog {
    name: String,
    oid: Oid,
    rowtype_oid: Oid,
    shared: bool,
    /// (name, type name, default, nullable)
    columns: Vec<(String, String, Option<String>, bool)>,
    rows: Vec<Vec<(String, String)>>,
}

fn key_value(token: &str, line_no: usize) -> Result<(String, String), String> {
    token
        .split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("line {line_no}: expected COLUMN=VALUE, found \"{token}\""))
}

fn parse_raw(text: &str) -> Result<Vec<RawCatalog>, String> {
    let mut catalogs = Vec::new();
    let mut current: Option<RawCatalog> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let mut tokens = line.split_whitespace();
        let Some(keyword) = tokens.next() else {
            continue;
        };
        let rest: Vec<&str> = tokens.collect();
        let err = |what: &str| format!("line {line_no}: {what}");
        match (keyword, current.as_mut()) {
            (k, _) if k.starts_with('#') => {}
            ("catalog", None) => {
                let (name, attrs) = rest
                    .split_first()
                    .ok_or_else(|| err("catalog needs a name"))?;
                let mut cat = RawCatalog {
                    name: name.to_string(),
                    oid: 0,
                    rowtype_oid: 0,
                    shared: false,
                    columns: Vec::new(),
                    rows: Vec::new(),
                };
                for attr in attrs {
                    if *attr == "shared" {
                        cat.shared = true;
                        continue;
                    }
                    let (k, v) = key_value(attr, line_no)?;
                    let v: Oid = v.parse().map_err(|_| err("bad oid"))?;
                    match k.as_str() {
                        "oid" => cat.oid = v,
                        "rowtype" => cat.rowtype_oid = v,
                        _ => return Err(err("unknown catalog attribute")),
                    }
                }
                if cat.oid == 0 {
                    return Err(err("catalog needs oid=N"));
                }
                current = Some(cat);
            }
            ("column", Some(cat)) => {
                let [name, type_name, opts @ ..] = rest.as_slice() else {
                    return Err(err("column needs a name and a type"));
                };
                let (mut default, mut nullable) = (None, false);
                for opt in opts {
                    match key_value(opt, line_no) {
                        Ok((k, v)) if k == "default" => default = Some(v),
                        _ if *opt == "nullable" => nullable = true,
                        _ => return Err(err("unknown column option")),
                    }
                }
                cat.columns
                    .push((name.to_string(), type_name.to_string(), default, nullable));
            }
            ("row", Some(cat)) => {
                let fields = rest
                    .iter()
                    .map(|t| key_value(t, line_no))
                    .collect::<Result<_, _>>()?;
                cat.rows.push(fields);
            }
            ("end", Some(_)) => catalogs.extend(current.take()),
            _ => return Err(err(&format!("unexpected \"{keyword}\""))),
        }
    }
    if current.is_some() {
        return Err("missing \"end\" at end of file".into());
    }
    Ok(catalogs)
}

/// The built-in types, from the file's pg_type rows (their defaults applied).
fn type_table(raw: &[RawCatalog]) -> Result<HashMap<Oid, TypeDesc>, String> {
    let pg_type = raw
        .iter()
        .find(|c| c.name == "pg_type")
        .ok_or("no pg_type catalog")?;
    let mut types = HashMap::new();
    for row in &pg_type.rows {
        let get = |col: &str| -> Result<String, String> {
            row.iter()
                .rev()
                .find(|(c, _)| c == col)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    pg_type
                        .columns
                        .iter()
                        .find(|c| c.0 == col)
                        .and_then(|c| c.2.clone())
                })
                .ok_or_else(|| format!("pg_type row {row:?}: no {col}"))
        };
        let bad = |col: &str| format!("pg_type row {row:?}: bad {col}");
        let first_byte =
            |col: &str| -> Result<u8, String> { get(col)?.bytes().next().ok_or_else(|| bad(col)) };
        let ty = TypeDesc {
            oid: get("oid")?.parse().map_err(|_| bad("oid"))?,
            name: get("typname")?,
            typlen: get("typlen")?.parse().map_err(|_| bad("typlen"))?,
            typbyval: get("typbyval")? == "t",
            typalign: first_byte("typalign")?,
            typstorage: first_byte("typstorage")?,
            typcollation: get("typcollation")?
                .parse()
                .map_err(|_| bad("typcollation"))?,
        };
        if types.insert(ty.oid, ty).is_some() {
            return Err(format!("pg_type row {row:?}: duplicate oid"));
        }
    }
    Ok(types)
}
