//! Type names and coercions in the analyzer: PostgreSQL's `typenameType`,
//! `coerce_type`, `coerce_to_boolean` and `select_common_type`.
//!
//! A string literal (type unknown) takes the type its context asks for by going
//! through that type's input function right here, so a bad literal fails during
//! analysis with its own position, as in PostgreSQL. Any other conversion becomes
//! a [`ExprKind::Cast`] node, computed later (and reported without a position).

use pg_query::protobuf::{self, a_const};
use pg_query::NodeEnum;

use super::analyze::{str_value, Analyzer};
use super::cast::{can_cast, cast_datum, CastContext};
use super::expr::{Expr, ExprKind};
use super::types::{
    char_typmod, numeric_typmod, SqlType, MAX_CHAR_LENGTH, NUMERIC_MAX_PRECISION,
    NUMERIC_MAX_SCALE, NUMERIC_MIN_SCALE,
};
use super::value::OutputFormat;
use crate::error::{sqlstate, QuillError, QuillResult};

/// Types PostgreSQL has and Quill does not support yet: named in a
/// "not supported" error instead of "does not exist".
const KNOWN_UNSUPPORTED_TYPES: &[&str] = &[
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "bytea",
    "json",
    "jsonb",
    "uuid",
    "oid",
    "char",
    "money",
    "inet",
    "cidr",
    "macaddr",
    "xml",
    "bit",
    "varbit",
    "point",
    "regclass",
    "regproc",
    "tsvector",
    "tsquery",
    "record",
];

impl Analyzer<'_> {
    /// Resolves a written type name and its modifiers to (type, typmod).
    pub fn type_name(&self, t: &protobuf::TypeName) -> QuillResult<(SqlType, i32)> {
        let names: Vec<&str> = t.names.iter().map(str_value).collect();
        let last = names.last().copied().unwrap_or("");
        let qualified = names.len() > 1 && names[0] != "pg_catalog";
        if t.pct_type || t.setof {
            return Err(self.unsupported("%TYPE and SETOF", t.location));
        }
        let ty = match SqlType::from_sql_name(last).filter(|_| !qualified) {
            Some(ty) => ty,
            None if !qualified && KNOWN_UNSUPPORTED_TYPES.contains(&last) => {
                return Err(self.unsupported(&format!("type {last}"), t.location));
            }
            None => {
                return Err(self.at(
                    QuillError::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("type \"{}\" does not exist", names.join(".")),
                    ),
                    t.location,
                ))
            }
        };
        if !t.array_bounds.is_empty() {
            return Err(self.unsupported_plural("arrays", t.location));
        }
        if t.typmods.is_empty() {
            return Ok((ty, -1));
        }
        let typmod = self.typmod(ty, &t.typmods, t.location)?;
        Ok((ty, typmod))
    }

    /// Checks and encodes `(n)` / `(p, s)` modifiers.
    fn typmod(&self, ty: SqlType, mods: &[pg_query::Node], location: i32) -> QuillResult<i32> {
        let invalid = |message: String| {
            self.at(
                QuillError::new(sqlstate::INVALID_PARAMETER_VALUE, message),
                location,
            )
        };
        let mut values = Vec::with_capacity(mods.len());
        for m in mods {
            match &m.node {
                Some(NodeEnum::AConst(protobuf::AConst {
                    val: Some(a_const::Val::Ival(i)),
                    ..
                })) => values.push(i.ival),
                _ => {
                    return Err(self.at(
                        QuillError::syntax(
                            "type modifiers must be simple constants or identifiers",
                            None,
                        ),
                        location,
                    ))
                }
            }
        }
        match (ty, values.as_slice()) {
            (SqlType::Varchar | SqlType::Bpchar, &[n]) => {
                let short = if ty == SqlType::Varchar {
                    "varchar"
                } else {
                    "char"
                };
                if n < 1 {
                    return Err(invalid(format!(
                        "length for type {short} must be at least 1"
                    )));
                }
                if n > MAX_CHAR_LENGTH {
                    return Err(invalid(format!(
                        "length for type {short} cannot exceed {MAX_CHAR_LENGTH}"
                    )));
                }
                Ok(char_typmod(n))
            }
            (SqlType::Numeric, &[p]) | (SqlType::Numeric, &[p, _]) => {
                let s = values.get(1).copied().unwrap_or(0);
                if !(1..=NUMERIC_MAX_PRECISION).contains(&p) {
                    return Err(invalid(format!(
                        "NUMERIC precision {p} must be between 1 and {NUMERIC_MAX_PRECISION}"
                    )));
                }
                if !(NUMERIC_MIN_SCALE..=NUMERIC_MAX_SCALE).contains(&s) {
                    return Err(invalid(format!(
                        "NUMERIC scale {s} must be between {NUMERIC_MIN_SCALE} and {NUMERIC_MAX_SCALE}"
                    )));
                }
                Ok(numeric_typmod(p, s))
            }
            (SqlType::Numeric, _) => Err(invalid("invalid NUMERIC type modifier".into())),
            (SqlType::Varchar | SqlType::Bpchar, _) => Err(invalid(format!(
                "invalid type modifier for type {}",
                ty.internal_name()
            ))),
            _ => Err(self.at(
                QuillError::syntax(
                    format!(
                        "type modifier is not allowed for type \"{}\"",
                        ty.internal_name()
                    ),
                    None,
                ),
                location,
            )),
        }
    }

    /// A written cast (`x::t`, `CAST(x AS t)`); `location` is the cast's own.
    pub fn explicit_cast(
        &self,
        expr: Expr,
        ty: SqlType,
        typmod: i32,
        location: i32,
    ) -> QuillResult<Expr> {
        if expr.ty == SqlType::Unknown {
            // Literal input ignores the typmod; applying it is a separate step.
            let converted = self.coerce(expr, ty, -1, CastContext::Explicit, location)?;
            return Ok(self.apply_typmod(converted, typmod, true));
        }
        if expr.ty == ty && typmod < 0 {
            return Ok(expr);
        }
        self.coerce(expr, ty, typmod, CastContext::Explicit, location)
    }

    fn apply_typmod(&self, expr: Expr, typmod: i32, explicit: bool) -> Expr {
        if typmod < 0 {
            return expr;
        }
        let (ty, location) = (expr.ty, expr.location);
        let kind = ExprKind::Cast {
            arg: Box::new(expr),
            explicit,
        };
        Expr::new(kind, ty, typmod, location)
    }

    /// Converts `expr` to `ty` if a cast exists in `context`; otherwise
    /// PostgreSQL's "cannot cast type" error at `location`.
    pub fn coerce(
        &self,
        expr: Expr,
        ty: SqlType,
        typmod: i32,
        context: CastContext,
        location: i32,
    ) -> QuillResult<Expr> {
        if expr.ty == ty && (typmod < 0 || typmod == expr.typmod) {
            return Ok(expr);
        }
        if let (SqlType::Unknown, ExprKind::Param(number)) = (expr.ty, &expr.kind) {
            // An undecided parameter takes the type asked for, with no cast.
            self.decide_param(*number, ty);
            let param = Expr::new(ExprKind::Param(*number), ty, -1, expr.location);
            return Ok(self.apply_typmod(param, typmod, context == CastContext::Explicit));
        }
        if let (SqlType::Unknown, ExprKind::Const(datum)) = (expr.ty, &expr.kind) {
            let explicit = context == CastContext::Explicit;
            // An unknown literal goes through `ty`'s input function only: no output
            // function runs, so the session's output settings do not matter.
            let value = cast_datum(
                datum.clone(),
                SqlType::Unknown,
                ty,
                typmod,
                explicit,
                OutputFormat::DEFAULT,
            )
            .map_err(|e| self.at(e, expr.location))?;
            return Ok(Expr::constant(value, ty, typmod, expr.location));
        }
        if !can_cast(expr.ty, ty, context) {
            return Err(self.at(
                QuillError::new(
                    sqlstate::CANNOT_COERCE,
                    format!(
                        "cannot cast type {} to {}",
                        expr.ty.display_name(),
                        ty.display_name()
                    ),
                ),
                location,
            ));
        }
        let location = expr.location;
        let kind = ExprKind::Cast {
            arg: Box::new(expr),
            explicit: context == CastContext::Explicit,
        };
        Ok(Expr::new(kind, ty, typmod, location))
    }

    /// Implicit conversion the analyzer has already proven possible (operator
    /// and function arguments).
    pub fn coerce_implicit(&self, expr: Expr, ty: SqlType) -> QuillResult<Expr> {
        let location = expr.location;
        self.coerce(expr, ty, -1, CastContext::Implicit, location)
    }

    /// PostgreSQL's `transformAssignedExpr`: converts a value for column `column`
    /// of type `ty`/`typmod` (INSERT VALUES, UPDATE SET) with an assignment cast.
    /// A string literal goes through the type's input function (errors carry its
    /// position); the typmod (e.g. varchar's length) is applied later, when the
    /// value is computed, so "value too long" has no position, as in PostgreSQL.
    pub fn coerce_for_assignment(
        &self,
        expr: Expr,
        ty: SqlType,
        typmod: i32,
        column: &str,
    ) -> QuillResult<Expr> {
        if expr.ty == SqlType::Unknown {
            let location = expr.location;
            let converted = self.coerce(expr, ty, -1, CastContext::Assignment, location)?;
            return Ok(self.apply_typmod(converted, typmod, false));
        }
        if expr.ty != ty && !can_cast(expr.ty, ty, CastContext::Assignment) {
            return Err(self.at(
                QuillError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "column \"{column}\" is of type {} but expression is of type {}",
                        ty.display_name(),
                        expr.ty.display_name()
                    ),
                )
                .with_hint("You will need to rewrite or cast the expression."),
                expr.location,
            ));
        }
        let location = expr.location;
        self.coerce(expr, ty, typmod, CastContext::Assignment, location)
    }

    /// PostgreSQL's `coerce_to_boolean`: `construct` names the clause in the
    /// error ("WHERE", "AND", "CASE/WHEN").
    pub fn coerce_to_boolean(&self, expr: Expr, construct: &str) -> QuillResult<Expr> {
        match expr.ty {
            SqlType::Bool => Ok(expr),
            other if can_cast(other, SqlType::Bool, CastContext::Assignment) => {
                let location = expr.location;
                self.coerce(expr, SqlType::Bool, -1, CastContext::Assignment, location)
            }
            other => Err(self.at(
                QuillError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "argument of {construct} must be type boolean, not type {}",
                        other.display_name()
                    ),
                ),
                expr.location,
            )),
        }
    }

    /// Resolves a leftover unknown literal to text (select-list outputs).
    pub fn resolve_unknown(&self, expr: Expr) -> QuillResult<Expr> {
        if expr.ty == SqlType::Unknown {
            self.coerce_implicit(expr, SqlType::Text)
        } else {
            Ok(expr)
        }
    }

    /// PostgreSQL's `select_common_type` + `select_common_typmod`.
    pub fn common_type(&self, exprs: &[Expr], construct: &str) -> QuillResult<(SqlType, i32)> {
        let Some(first) = exprs.first() else {
            return Ok((SqlType::Text, -1));
        };
        let mut ptype = first.ty;
        for next in &exprs[1..] {
            let ntype = next.ty;
            if ntype == SqlType::Unknown || ntype == ptype {
                continue;
            }
            if ptype == SqlType::Unknown {
                ptype = ntype;
            } else if ntype.category() != ptype.category() {
                return Err(self.at(
                    QuillError::new(
                        sqlstate::DATATYPE_MISMATCH,
                        format!(
                            "{construct} types {} and {} cannot be matched",
                            ptype.display_name(),
                            ntype.display_name()
                        ),
                    ),
                    next.location,
                ));
            } else if !ptype.is_preferred()
                && ptype.implicitly_casts_to(ntype)
                && !ntype.implicitly_casts_to(ptype)
            {
                ptype = ntype;
            }
        }
        if ptype == SqlType::Unknown {
            ptype = SqlType::Text;
        }
        let mut typmod = None;
        for e in exprs {
            if e.ty != ptype || typmod.is_some_and(|t| t != e.typmod) {
                return Ok((ptype, -1));
            }
            typmod = Some(e.typmod);
        }
        Ok((ptype, typmod.unwrap_or(-1)))
    }

    /// PostgreSQL's `coerce_to_common_type`.
    pub fn coerce_to_common(
        &self,
        expr: Expr,
        ty: SqlType,
        _typmod: i32,
        construct: &str,
    ) -> QuillResult<Expr> {
        if expr.ty == ty {
            return Ok(expr);
        }
        if !can_cast(expr.ty, ty, CastContext::Implicit) {
            return Err(self.at(
                QuillError::new(
                    sqlstate::CANNOT_COERCE,
                    format!(
                        "{construct} could not convert type {} to {}",
                        expr.ty.display_name(),
                        ty.display_name()
                    ),
                ),
                expr.location,
            ));
        }
        self.coerce_implicit(expr, ty)
    }
}
