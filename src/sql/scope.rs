//! The relation a statement's expressions may name: resolving column references
//! (PostgreSQL's `transformColumnRef` over a one-entry range table).
//!
//! A [`Scope`] is one relation: the name it is referred to by (its alias if it has
//! one, else its own name), its schema, and its columns with their types. A column
//! reference resolves to [`ExprKind::Column`] with the column's index, type and typmod;
//! otherwise the error is PostgreSQL's, with the reference's position:
//!
//! | reference | condition | SQLSTATE, message |
//! |---|---|---|
//! | `x` | no such column | 42703 `column "x" does not exist` |
//! | `t.x` | no such column | 42703 `column t.x does not exist` |
//! | `q.x` | no relation `q` | 42P01 `missing FROM-clause entry for table "q"` |
//! | `t.x` | `t` is aliased `a` | 42P01 `invalid reference to FROM-clause entry for table "t"` + hint |
//!
//! A column whose type Quill lacks (a catalog's `timestamptz`) is in the scope, so
//! the others keep their positions, but naming it — or `*` over it — is 0A000.
//!
//! A scope can also be *invisible* (PostgreSQL's `p_target_rangetblentry` of INSERT,
//! whose VALUES may not name its columns): every reference then fails, with PostgreSQL's
//! hint that the column or table exists but cannot be referenced from there.

use pg_query::protobuf;
use pg_query::NodeEnum;

use super::analyze::{str_value, Analyzer};
use super::expr::{Expr, ExprKind};
use super::types::SqlType;
use crate::error::{sqlstate, QuillError, QuillResult};

/// One column a scope offers.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    pub name: String,
    pub ty: SqlType,
    pub typmod: i32,
    /// The OID of a type Quill cannot compute with (a catalog's `timestamptz`
    /// column): the column exists, but naming it is not supported yet.
    pub unsupported_type: Option<u32>,
}

/// The one relation expressions of a statement may refer to.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The relation's own name.
    pub relname: String,
    /// Its schema's name.
    pub schema: String,
    /// The alias it was given (`FROM t AS a`), if any: then only `a` qualifies it.
    pub alias: Option<String>,
    pub columns: Vec<ScopeColumn>,
    /// False for INSERT's target: its columns exist but may not be referenced.
    pub visible: bool,
}

impl Scope {
    /// The name that qualifies a column (PostgreSQL's `refname`).
    pub fn refname(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.relname)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The expression reading column `index` (0A000 if its type is not supported).
    pub fn column_expr(&self, index: usize, location: i32) -> QuillResult<Expr> {
        let c = &self.columns[index];
        if let Some(type_oid) = c.unsupported_type {
            return Err(QuillError::feature_not_supported(format!(
                "column \"{}\" has type OID {type_oid}, which is not supported yet",
                c.name
            )));
        }
        Ok(Expr::new(ExprKind::Column(index), c.ty, c.typmod, location))
    }
}

impl Analyzer<'_> {
    /// Resolves a column reference (not `*`) against the scope.
    pub(super) fn column_ref(&self, c: &protobuf::ColumnRef) -> QuillResult<Expr> {
        let Some(scope) = self.scope() else {
            return Err(self.column_ref_error(c));
        };
        let loc = c.location;
        let mut parts = Vec::with_capacity(c.fields.len());
        for f in &c.fields {
            match &f.node {
                Some(NodeEnum::String(s)) => parts.push(s.sval.as_str()),
                Some(NodeEnum::AStar(_)) => {
                    return Err(self.at(
                        QuillError::feature_not_supported(
                            "row expansion with * is not supported here yet",
                        ),
                        loc,
                    ))
                }
                _ => return Err(self.unsupported("this column reference", loc)),
            }
        }
        let (qualifier, name) = match parts.as_slice() {
            [name] => (None, *name),
            [rel, name] => (Some((None, *rel)), *name),
            [schema, rel, name] => (Some((Some(*schema), *rel)), *name),
            [_, _, _, _] => {
                return Err(self.at(
                    QuillError::feature_not_supported(format!(
                        "cross-database references are not implemented: {}",
                        parts.join(".")
                    )),
                    loc,
                ))
            }
            _ => {
                return Err(self.at(
                    QuillError::syntax(
                        format!(
                            "improper qualified name (too many dotted names): {}",
                            parts.join(".")
                        ),
                        None,
                    ),
                    loc,
                ))
            }
        };
        if let Some((schema, rel)) = qualifier {
            self.check_qualifier(scope, schema, rel, loc)?;
        }
        match scope.column_index(name) {
            Some(i) if scope.visible => scope.column_expr(i, loc).map_err(|e| self.at(e, loc)),
            Some(_) => Err(self.at(
                QuillError::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("column \"{name}\" does not exist"),
                )
                .with_hint(format!(
                    "There is a column named \"{name}\" in table \"{}\", but it cannot be referenced from this part of the query.",
                    scope.refname()
                )),
                loc,
            )),
            None if qualifier.is_none() && name == scope.refname() && scope.visible => Err(
                self.unsupported_plural("whole-row references", loc),
            ),
            None => {
                let shown = match qualifier {
                    Some(_) => parts.join("."),
                    None => format!("\"{name}\""),
                };
                Err(self.at(
                    QuillError::new(
                        sqlstate::UNDEFINED_COLUMN,
                        format!("column {shown} does not exist"),
                    ),
                    loc,
                ))
            }
        }
    }

    /// Checks that `schema.rel` (or `rel`) names the scope's relation, with
    /// PostgreSQL's errors otherwise.
    pub(super) fn check_qualifier(
        &self,
        scope: &Scope,
        schema: Option<&str>,
        rel: &str,
        loc: i32,
    ) -> QuillResult<()> {
        let matches = match schema {
            // A schema-qualified reference matches only an unaliased relation.
            Some(s) => scope.alias.is_none() && s == scope.schema && rel == scope.relname,
            None => rel == scope.refname(),
        };
        if matches && scope.visible {
            return Ok(());
        }
        let shown = rel;
        if matches {
            return Err(self.at(
                QuillError::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("invalid reference to FROM-clause entry for table \"{shown}\""),
                )
                .with_hint(format!(
                    "There is an entry for table \"{shown}\", but it cannot be referenced from this part of the query."
                )),
                loc,
            ));
        }
        if let Some(alias) = &scope.alias {
            if rel == scope.relname {
                return Err(self.at(
                    QuillError::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!("invalid reference to FROM-clause entry for table \"{shown}\""),
                    )
                    .with_hint(format!(
                        "Perhaps you meant to reference the table alias \"{alias}\"."
                    )),
                    loc,
                ));
            }
        }
        Err(self.at(
            QuillError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("missing FROM-clause entry for table \"{shown}\""),
            ),
            loc,
        ))
    }

    /// The columns a select-list `*` or `t.*` expands to: (output name, expression).
    pub fn star_columns(&self, c: &protobuf::ColumnRef) -> QuillResult<Vec<(String, Expr)>> {
        let scope = self
            .scope()
            .filter(|s| s.visible)
            .ok_or_else(|| self.column_ref_error(c))?;
        let names: Vec<&str> = c.fields.iter().map(str_value).collect();
        match names.as_slice() {
            [_star] => {}
            [rel, _star] => self.check_qualifier(scope, None, rel, c.location)?,
            [schema, rel, _star] => self.check_qualifier(scope, Some(schema), rel, c.location)?,
            _ => return Err(self.unsupported("this column reference", c.location)),
        }
        (0..scope.columns.len())
            .map(|i| {
                let expr = scope
                    .column_expr(i, c.location)
                    .map_err(|e| self.at(e, c.location))?;
                Ok((scope.columns[i].name.clone(), expr))
            })
            .collect()
    }
}

/// Whether a select-list item is `*` or `rel.*`.
pub fn is_star(node: &pg_query::Node) -> Option<&protobuf::ColumnRef> {
    match &node.node {
        Some(NodeEnum::ColumnRef(c))
            if matches!(
                c.fields.last().and_then(|f| f.node.as_ref()),
                Some(NodeEnum::AStar(_))
            ) =>
        {
            Some(c)
        }
        _ => None,
    }
}
