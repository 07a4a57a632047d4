//! Operator expressions (`A_Expr`): choosing the operator for the operand types,
//! as PostgreSQL's `oper()` / `func_select_candidate` do for the built-in
//! operators, and the sugar built from them (BETWEEN, IN, NULLIF, IS DISTINCT FROM).
//!
//! Resolution rules, checked against PostgreSQL 15:
//! * an unknown literal beside a known type takes that type (`'1' + 1` adds
//!   two int4s); two unknowns are ambiguous for arithmetic (42725) and text
//!   for comparisons;
//! * numbers meet at the wider type: int2 < int4 < int8; any float with a
//!   non-float4 partner gives float8; numeric with integers stays numeric
//!   (`1::float4 + 1` is float8, `1 + 1.5` numeric); `%` has no float form;
//! * strings compare as text (bpchar with bpchar ignores trailing blanks);
//! * `||` takes text on at least one side and turns the other into text.

use pg_query::protobuf::{self, AExprKind};
use pg_query::{Node, NodeEnum};

use super::analyze::{str_value, Analyzer};
use super::arith::{ArithOp, CmpOp, Operator};
use super::cast::CastContext;
use super::expr::{Expr, ExprKind};
use super::types::{SqlType, TypeCategory};
use crate::error::{sqlstate, QuillError, QuillResult};

/// Built-in PostgreSQL operators Quill does not implement yet: these get a
/// "not supported" error rather than "does not exist".
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "&", "|", "#", "~", "<<", ">>", "||/", "!~", "~*", "!~*", "@>", "<@", "&&", "->", "->>", "#>",
];

fn is_number(t: SqlType) -> bool {
    t.category() == TypeCategory::Numeric && !matches!(t, SqlType::RegType | SqlType::Oid)
}

/// Whether `l` and `r` compare as oids: an oid with an oid or an integer (which
/// converts to oid implicitly, as PostgreSQL resolves `relnamespace = 2200`).
fn oid_comparison(l: SqlType, r: SqlType) -> bool {
    let oidish = |t: SqlType| t == SqlType::Oid || t.is_integer();
    (l == SqlType::Oid || r == SqlType::Oid) && oidish(l) && oidish(r)
}

/// The type two numbers meet at (the result type of `+`).
fn numeric_common(a: SqlType, b: SqlType) -> SqlType {
    use SqlType::*;
    let rank = |t: SqlType| match t {
        Int2 => 0,
        Int4 => 1,
        Int8 => 2,
        _ => 3,
    };
    if a == b {
        a
    } else if a.is_integer() && b.is_integer() {
        if rank(a) > rank(b) {
            a
        } else {
            b
        }
    } else if matches!(a, Float4 | Float8) || matches!(b, Float4 | Float8) {
        Float8
    } else {
        Numeric
    }
}

/// An unknown operand takes its partner's type.
fn settle_unknowns(l: SqlType, r: SqlType) -> (SqlType, SqlType) {
    match (l, r) {
        (SqlType::Unknown, t) | (t, SqlType::Unknown) => (t, t),
        other => other,
    }
}

impl Analyzer<'_> {
    fn operator_error(&self, name: &str, l: Option<SqlType>, r: SqlType, loc: i32) -> QuillError {
        let signature = match l {
            Some(l) => format!("{} {name} {}", l.display_name(), r.display_name()),
            None => format!("{name} {}", r.display_name()),
        };
        let ambiguous = r == SqlType::Unknown && l.is_none_or(|l| l == SqlType::Unknown);
        let error = if ambiguous {
            QuillError::new(sqlstate::AMBIGUOUS_FUNCTION, format!("operator is not unique: {signature}"))
                .with_hint("Could not choose a best candidate operator. You might need to add explicit type casts.")
        } else if UNSUPPORTED_OPERATORS.contains(&name) {
            QuillError::feature_not_supported(format!("operator {name} is not supported yet"))
        } else {
            let hint = if l.is_some() {
                "No operator matches the given name and argument types. You might need to add explicit type casts."
            } else {
                "No operator matches the given name and argument type. You might need to add an explicit type cast."
            };
            QuillError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!("operator does not exist: {signature}"),
            )
            .with_hint(hint)
        };
        self.at(error, loc)
    }

    pub fn a_expr(&self, a: &protobuf::AExpr) -> QuillResult<Expr> {
        let name = a.name.last().map(str_value).unwrap_or("");
        let kind = AExprKind::try_from(a.kind).unwrap_or(AExprKind::Undefined);
        let loc = a.location;
        match kind {
            AExprKind::AexprOp | AExprKind::AexprLike | AExprKind::AexprIlike => match &a.lexpr {
                None => {
                    let operand = self.required(&a.rexpr)?;
                    self.unary(name, operand, loc)
                }
                Some(l) => {
                    let left = self.expr(l)?;
                    let right = self.required(&a.rexpr)?;
                    self.binary(name, left, right, loc)
                }
            },
            AExprKind::AexprDistinct | AExprKind::AexprNotDistinct => {
                let (left, right) = (self.required(&a.lexpr)?, self.required(&a.rexpr)?);
                let location = Expr::leftmost(left.location, loc);
                let (l, r, bpchar) = self.comparison_operands("=", left, right, loc)?;
                let negated = kind == AExprKind::AexprNotDistinct;
                let op = Operator::Distinct { negated, bpchar };
                Ok(Expr::new(
                    ExprKind::Op {
                        op,
                        args: vec![l, r],
                    },
                    SqlType::Bool,
                    -1,
                    location,
                ))
            }
            AExprKind::AexprNullif => {
                let (left, right) = (self.required(&a.lexpr)?, self.required(&a.rexpr)?);
                let (l, r, bpchar) = self.comparison_operands("=", left, right, loc)?;
                let (ty, typmod) = (l.ty, l.typmod);
                let kind = ExprKind::NullIf {
                    args: Box::new([l, r]),
                    op: CmpOp::Eq,
                    bpchar,
                };
                Ok(Expr::new(kind, ty, typmod, loc))
            }
            AExprKind::AexprIn => self.in_list(name, a, loc),
            AExprKind::AexprBetween
            | AExprKind::AexprNotBetween
            | AExprKind::AexprBetweenSym
            | AExprKind::AexprNotBetweenSym => self.between(kind, a, loc),
            AExprKind::AexprOpAny | AExprKind::AexprOpAll => {
                Err(self.unsupported("ANY/ALL with arrays", loc))
            }
            AExprKind::AexprSimilar => Err(self.unsupported("SIMILAR TO", loc)),
            AExprKind::Undefined => Err(QuillError::internal("A_Expr of undefined kind")),
        }
    }

    /// A prefix operator.
    fn unary(&self, name: &str, operand: Expr, loc: i32) -> QuillResult<Expr> {
        let ty = operand.ty;
        let location = Expr::leftmost(loc, operand.location);
        if !is_number(ty) || !matches!(name, "-" | "+" | "@" | "|/") {
            return Err(self.operator_error(name, None, ty, loc));
        }
        let (op, operand, result) = match name {
            "+" => {
                let mut same = operand;
                same.location = location;
                return Ok(same);
            }
            "-" => (Operator::Neg, operand, ty),
            "@" => (Operator::Abs, operand, ty),
            _ => (
                Operator::Sqrt,
                self.coerce_implicit(operand, SqlType::Float8)?,
                SqlType::Float8,
            ),
        };
        let kind = ExprKind::Op {
            op,
            args: vec![operand],
        };
        Ok(Expr::new(kind, result, -1, location))
    }

    /// An infix operator.
    pub fn binary(&self, name: &str, left: Expr, right: Expr, loc: i32) -> QuillResult<Expr> {
        let location = Expr::leftmost(left.location, loc);
        let (lt, rt) = (left.ty, right.ty);
        let fail = || self.operator_error(name, Some(lt), rt, loc);
        if CmpOp::from_name(name).is_some() {
            return self.comparison(name, left, right, loc);
        }
        let (op, operand_type, result_type) = match name {
            "+" | "-" | "*" | "/" | "%" => {
                let (l, r) = settle_unknowns(lt, rt);
                if l == SqlType::Unknown || !is_number(l) || !is_number(r) {
                    return Err(fail());
                }
                let common = numeric_common(l, r);
                let arith = match name {
                    "+" => ArithOp::Add,
                    "-" => ArithOp::Sub,
                    "*" => ArithOp::Mul,
                    "/" => ArithOp::Div,
                    _ => ArithOp::Mod,
                };
                if arith == ArithOp::Mod && matches!(common, SqlType::Float4 | SqlType::Float8) {
                    return Err(fail());
                }
                (Operator::Arith(arith), common, common)
            }
            "^" => {
                let (l, r) = settle_unknowns(lt, rt);
                if l == SqlType::Unknown || !is_number(l) || !is_number(r) {
                    return Err(fail());
                }
                let any_float = [l, r]
                    .iter()
                    .any(|t| matches!(t, SqlType::Float4 | SqlType::Float8));
                if !any_float && (l == SqlType::Numeric || r == SqlType::Numeric) {
                    return Err(self.unsupported("numeric exponentiation", loc));
                }
                (Operator::Pow, SqlType::Float8, SqlType::Float8)
            }
            "||" => {
                let stringish = |t: SqlType| t.is_string() || t == SqlType::Unknown;
                if !stringish(lt) && !stringish(rt) {
                    return Err(fail());
                }
                let l = self.to_text(left, loc)?;
                let r = self.to_text(right, loc)?;
                let kind = ExprKind::Op {
                    op: Operator::Concat,
                    args: vec![l, r],
                };
                return Ok(Expr::new(kind, SqlType::Text, -1, location));
            }
            "~~" | "!~~" | "~~*" | "!~~*" => {
                let stringish = |t: SqlType| t.is_string() || t == SqlType::Unknown;
                if !stringish(lt) || !stringish(rt) {
                    return Err(fail());
                }
                let op = Operator::Like {
                    case_insensitive: name.ends_with('*'),
                    negated: name.starts_with('!'),
                };
                (op, SqlType::Text, SqlType::Bool)
            }
            _ => return Err(fail()),
        };
        let args = vec![
            self.coerce_implicit(left, operand_type)?,
            self.coerce_implicit(right, operand_type)?,
        ];
        Ok(Expr::new(
            ExprKind::Op { op, args },
            result_type,
            -1,
            location,
        ))
    }

    /// Any value as text for `||` (bool becomes 'true', numbers their output).
    fn to_text(&self, expr: Expr, loc: i32) -> QuillResult<Expr> {
        if expr.ty.is_string() || expr.ty == SqlType::Unknown {
            self.coerce_implicit(expr, SqlType::Text)
        } else {
            self.coerce(expr, SqlType::Text, -1, CastContext::Explicit, loc)
        }
    }

    /// Chooses the comparison operator's input type and converts both operands
    /// to it; also says whether they compare as blank-padded `bpchar`.
    fn comparison_operands(
        &self,
        name: &str,
        left: Expr,
        right: Expr,
        loc: i32,
    ) -> QuillResult<(Expr, Expr, bool)> {
        let (lt, rt) = (left.ty, right.ty);
        let common = match settle_unknowns(lt, rt) {
            (SqlType::Unknown, _) => SqlType::Text,
            (l, r) if oid_comparison(l, r) => SqlType::Oid,
            (SqlType::Xid, SqlType::Xid) if matches!(name, "=" | "<>" | "!=") => SqlType::Xid,
            (l, r) if is_number(l) && is_number(r) => numeric_common(l, r),
            (SqlType::Bpchar, SqlType::Bpchar) => SqlType::Bpchar,
            (l, r) if l.is_string() && r.is_string() => SqlType::Text,
            (SqlType::Bool, SqlType::Bool) => SqlType::Bool,
            _ => return Err(self.operator_error(name, Some(lt), rt, loc)),
        };
        let l = self.coerce_implicit(left, common)?;
        let r = self.coerce_implicit(right, common)?;
        Ok((l, r, common == SqlType::Bpchar))
    }

    /// `left <name> right` for a comparison operator name (=, <>, <, ...).
    pub fn comparison(&self, name: &str, left: Expr, right: Expr, loc: i32) -> QuillResult<Expr> {
        let location = Expr::leftmost(left.location, loc);
        let op = CmpOp::from_name(name).ok_or_else(|| QuillError::internal("not a comparison"))?;
        let (l, r, bpchar) = self.comparison_operands(name, left, right, loc)?;
        let kind = ExprKind::Op {
            op: Operator::Cmp { op, bpchar },
            args: vec![l, r],
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    /// `x IN (a, b)` as `x = a OR x = b`; `NOT IN` as `x <> a AND x <> b`.
    fn in_list(&self, name: &str, a: &protobuf::AExpr, loc: i32) -> QuillResult<Expr> {
        let left = self.required(&a.lexpr)?;
        let items = list_items(&a.rexpr);
        if items.is_empty() {
            return Err(self.unsupported("IN with a subquery", loc));
        }
        let mut tests = Vec::with_capacity(items.len());
        for item in items {
            let right = self.expr(item)?;
            tests.push(self.comparison(name, left.clone(), right, loc)?);
        }
        let location = Expr::leftmost(left.location, loc);
        let kind = if name == "<>" {
            ExprKind::And(tests)
        } else {
            ExprKind::Or(tests)
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    /// BETWEEN [SYMMETRIC] as the comparisons PostgreSQL rewrites it into.
    fn between(&self, kind: AExprKind, a: &protobuf::AExpr, loc: i32) -> QuillResult<Expr> {
        let x = self.required(&a.lexpr)?;
        let bounds = list_items(&a.rexpr);
        let [low, high] = bounds.as_slice() else {
            return Err(QuillError::internal("BETWEEN without two bounds"));
        };
        let (low, high) = (self.expr(low)?, self.expr(high)?);
        let location = Expr::leftmost(x.location, loc);
        let both = |kind: ExprKind| Expr::new(kind, SqlType::Bool, -1, location);
        let inside = |lo: &Expr, hi: &Expr| -> QuillResult<Expr> {
            Ok(both(ExprKind::And(vec![
                self.comparison(">=", x.clone(), lo.clone(), loc)?,
                self.comparison("<=", x.clone(), hi.clone(), loc)?,
            ])))
        };
        let outside = |lo: &Expr, hi: &Expr| -> QuillResult<Expr> {
            Ok(both(ExprKind::Or(vec![
                self.comparison("<", x.clone(), lo.clone(), loc)?,
                self.comparison(">", x.clone(), hi.clone(), loc)?,
            ])))
        };
        Ok(match kind {
            AExprKind::AexprBetween => inside(&low, &high)?,
            AExprKind::AexprNotBetween => outside(&low, &high)?,
            AExprKind::AexprBetweenSym => both(ExprKind::Or(vec![
                inside(&low, &high)?,
                inside(&high, &low)?,
            ])),
            _ => both(ExprKind::And(vec![
                outside(&low, &high)?,
                outside(&high, &low)?,
            ])),
        })
    }
}

/// The elements of a `List` node (IN lists, BETWEEN bounds).
fn list_items(node: &Option<Box<Node>>) -> Vec<&Node> {
    match node.as_deref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::List(list)) => list.items.iter().collect(),
        _ => Vec::new(),
    }
}
