//! Parse tree → analyzed expressions: PostgreSQL's `transformExpr`.
//!
//! The analyzer decides every node's type, resolves operators and functions
//! (with the rules in [`super::operators`] and [`super::funcs`]), converts string
//! literals to the type their context needs (`coerce.rs`), and reports errors with
//! PostgreSQL's SQLSTATE, message and position. It does not evaluate anything
//! except literal input, which PostgreSQL also does while parsing — so
//! `'abc'::int` fails here, with the literal's position, and `1/0` does not.
//!
//! Column references resolve against the analyzer's optional [`Scope`] (one
//! relation, `scope.rs`); without one every column reference is an error, as in a
//! SELECT without FROM. Aggregate calls go to the analyzer's optional
//! [`AggCollector`] (`aggregate.rs`), which says whether the clause being analyzed
//! allows them.

use pg_query::protobuf::{self, a_const, BoolExprType, BoolTestType, NullTestType};
use pg_query::{Node, NodeEnum};

use super::aggregate::AggCollector;
use super::expr::{BoolTest, Expr, ExprKind};
use super::numeric::Numeric;
use super::params::{ParamList, QuerySource};
use super::parse::char_position;
use super::scope::Scope;
use super::types::SqlType;
use super::value::Datum;
use crate::error::{sqlstate, QuillError, QuillResult};

/// Turns parse-tree expressions of one query string into [`Expr`]s.
pub struct Analyzer<'a> {
    /// The whole query string: node locations are byte offsets into it.
    query: &'a str,
    /// The statement's parameters (`$n`), if it has any.
    params: Option<&'a ParamList>,
    /// The relation column references resolve against, if any.
    scope: Option<&'a Scope>,
    /// Where aggregate calls go (and whether the clause allows them); without
    /// one they are not supported.
    aggregates: Option<&'a AggCollector>,
}

/// The location stored in a parse node, -1 if it has none.
pub fn node_location(node: &Node) -> i32 {
    node.node.as_ref().map_or(-1, node_enum_location)
}

fn node_enum_location(node: &NodeEnum) -> i32 {
    match node {
        NodeEnum::AConst(c) => c.location,
        NodeEnum::ColumnRef(c) => c.location,
        NodeEnum::ParamRef(p) => p.location,
        NodeEnum::AExpr(a) => match (&a.lexpr, a.location) {
            (Some(l), loc) => Expr::leftmost(node_location(l), loc),
            (None, loc) => loc,
        },
        NodeEnum::TypeCast(t) => match &t.arg {
            Some(arg) => Expr::leftmost(node_location(arg), t.location),
            None => t.location,
        },
        NodeEnum::FuncCall(f) => f.location,
        NodeEnum::BoolExpr(b) => match b.args.first() {
            Some(first) => Expr::leftmost(node_location(first), b.location),
            None => b.location,
        },
        NodeEnum::NullTest(n) => n
            .arg
            .as_deref()
            .map_or(n.location, |a| Expr::leftmost(node_location(a), n.location)),
        NodeEnum::BooleanTest(n) => n
            .arg
            .as_deref()
            .map_or(n.location, |a| Expr::leftmost(node_location(a), n.location)),
        NodeEnum::CaseExpr(c) => c.location,
        NodeEnum::CoalesceExpr(c) => c.location,
        NodeEnum::MinMaxExpr(m) => m.location,
        NodeEnum::SqlvalueFunction(s) => s.location,
        NodeEnum::SubLink(s) => s.location,
        NodeEnum::ResTarget(r) => r.location,
        NodeEnum::AArrayExpr(a) => a.location,
        NodeEnum::RowExpr(r) => r.location,
        NodeEnum::CollateClause(c) => c.location,
        _ => -1,
    }
}

/// The string inside a `String` node ("" for anything else).
pub fn str_value(node: &Node) -> &str {
    match &node.node {
        Some(NodeEnum::String(s)) => &s.sval,
        _ => "",
    }
}

impl<'a> Analyzer<'a> {
    pub fn new(source: impl Into<QuerySource<'a>>) -> Analyzer<'a> {
        let source = source.into();
        Analyzer {
            query: source.text,
            params: source.params,
            scope: None,
            aggregates: None,
        }
    }

    /// An analyzer whose column references resolve against `scope`.
    pub fn with_scope(source: impl Into<QuerySource<'a>>, scope: &'a Scope) -> Analyzer<'a> {
        let source = source.into();
        Analyzer {
            query: source.text,
            params: source.params,
            scope: Some(scope),
            aggregates: None,
        }
    }

    /// The same analyzer, recording aggregate calls in `collector`.
    pub fn with_aggregates(self, collector: &'a AggCollector) -> Analyzer<'a> {
        Analyzer {
            aggregates: Some(collector),
            ..self
        }
    }

    pub fn aggregates(&self) -> Option<&'a AggCollector> {
        self.aggregates
    }

    /// `$n`: a constant when the statement's parameters are bound, otherwise a
    /// [`ExprKind::Param`] of the parameter's type so far (`unknown` until a
    /// context decides it, see [`Analyzer::decide_param`]).
    fn param_ref(&self, p: &protobuf::ParamRef) -> QuillResult<Expr> {
        let reference = usize::try_from(p.number)
            .ok()
            .and_then(|n| self.params.and_then(|params| params.reference(n)));
        match reference {
            Some((ty, Some(value))) => Ok(Expr::constant(value, ty, -1, p.location)),
            Some((ty, None)) => Ok(Expr::new(
                ExprKind::Param(p.number as usize),
                ty,
                -1,
                p.location,
            )),
            None => Err(self.at(
                QuillError::new(
                    sqlstate::UNDEFINED_PARAMETER,
                    format!("there is no parameter ${}", p.number),
                ),
                p.location,
            )),
        }
    }

    /// An undecided parameter met a context that needs type `ty`: from now on
    /// it has that type (PostgreSQL's `variable_coerce_param_hook`).
    pub(super) fn decide_param(&self, number: usize, ty: SqlType) {
        if let Some(params) = self.params {
            params.decide(number, ty);
        }
    }

    pub fn scope(&self) -> Option<&'a Scope> {
        self.scope
    }

    /// Adds the character position of byte `location` to `error`, unless it has
    /// one already or the location is unknown.
    pub fn at(&self, error: QuillError, location: i32) -> QuillError {
        if error.position.is_some() {
            return error;
        }
        match char_position(self.query, location) {
            Some(position) => error.with_position(position),
            None => error,
        }
    }

    /// "<what> is not supported yet" (0A000) at `location`.
    pub fn unsupported(&self, what: &str, location: i32) -> QuillError {
        self.at(
            QuillError::feature_not_supported(format!("{what} is not supported yet")),
            location,
        )
    }

    /// "<what> are not supported yet" (0A000) at `location`, for plural nouns.
    pub fn unsupported_plural(&self, what: &str, location: i32) -> QuillError {
        self.at(
            QuillError::feature_not_supported(format!("{what} are not supported yet")),
            location,
        )
    }

    /// Analyzes one expression.
    pub fn expr(&self, node: &Node) -> QuillResult<Expr> {
        let Some(inner) = &node.node else {
            return Err(QuillError::internal("empty expression node"));
        };
        match inner {
            NodeEnum::AConst(c) => self.constant(c),
            NodeEnum::ColumnRef(c) => self.column_ref(c),
            NodeEnum::ParamRef(p) => self.param_ref(p),
            NodeEnum::TypeCast(t) => self.type_cast(t),
            NodeEnum::AExpr(a) => self.a_expr(a),
            NodeEnum::BoolExpr(b) => self.bool_expr(b),
            NodeEnum::NullTest(n) => self.null_test(n),
            NodeEnum::BooleanTest(b) => self.boolean_test(b),
            NodeEnum::CaseExpr(c) => self.case_expr(c),
            NodeEnum::CoalesceExpr(c) => self.coalesce(c),
            NodeEnum::MinMaxExpr(m) => self.min_max(m),
            NodeEnum::FuncCall(f) => self.func_call(f),
            NodeEnum::SqlvalueFunction(s) => self.sql_value_function(s),
            NodeEnum::SubLink(s) => Err(self.unsupported_plural("subqueries", s.location)),
            NodeEnum::AArrayExpr(a) => Err(self.unsupported_plural("arrays", a.location)),
            NodeEnum::RowExpr(r) => Err(self.unsupported_plural("row constructors", r.location)),
            NodeEnum::CollateClause(c) => Err(self.unsupported("COLLATE", c.location)),
            other => Err(self.unsupported("this kind of expression", node_enum_location(other))),
        }
    }

    /// A literal: integers that fit are int4, other integers int8 or numeric,
    /// decimals numeric, strings and NULL of unknown type until context decides.
    fn constant(&self, c: &protobuf::AConst) -> QuillResult<Expr> {
        let loc = c.location;
        if c.isnull {
            return Ok(Expr::constant(Datum::Null, SqlType::Unknown, -1, loc));
        }
        let (datum, ty) = match &c.val {
            Some(a_const::Val::Ival(i)) => (Datum::Int4(i.ival), SqlType::Int4),
            Some(a_const::Val::Fval(f)) => match integer_literal(&f.fval) {
                Some(v) => match i32::try_from(v) {
                    Ok(v) => (Datum::Int4(v), SqlType::Int4),
                    Err(_) => (Datum::Int8(v), SqlType::Int8),
                },
                None => {
                    let n = Numeric::parse(&f.fval).map_err(|e| self.at(e, loc))?;
                    (Datum::Numeric(n), SqlType::Numeric)
                }
            },
            Some(a_const::Val::Sval(s)) => (Datum::Text(s.sval.clone()), SqlType::Unknown),
            Some(a_const::Val::Boolval(b)) => (Datum::Bool(b.boolval), SqlType::Bool),
            Some(a_const::Val::Bsval(_)) => return Err(self.unsupported_plural("bit strings", loc)),
            None => (Datum::Null, SqlType::Unknown),
        };
        Ok(Expr::constant(datum, ty, -1, loc))
    }

    /// The error for a column reference when there is no relation to resolve it in.
    pub(super) fn column_ref_error(&self, c: &protobuf::ColumnRef) -> QuillError {
        let names: Vec<&str> = c.fields.iter().map(str_value).collect();
        let star = c
            .fields
            .iter()
            .any(|f| matches!(f.node, Some(NodeEnum::AStar(_))));
        let error = if star && names.len() == 1 {
            QuillError::syntax("SELECT * with no tables specified is not valid", None)
        } else if names.len() >= 2 {
            QuillError::new(
                sqlstate::UNDEFINED_TABLE,
                format!(
                    "missing FROM-clause entry for table \"{}\"",
                    names[names.len() - 2]
                ),
            )
        } else {
            QuillError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "column \"{}\" does not exist",
                    names.first().copied().unwrap_or("")
                ),
            )
        };
        self.at(error, c.location)
    }

    fn type_cast(&self, t: &protobuf::TypeCast) -> QuillResult<Expr> {
        let arg = t
            .arg
            .as_deref()
            .ok_or_else(|| QuillError::internal("TypeCast without argument"))?;
        let type_name = t
            .type_name
            .as_ref()
            .ok_or_else(|| QuillError::internal("TypeCast without type"))?;
        let expr = self.expr(arg)?;
        let (ty, typmod) = self.type_name(type_name)?;
        let location = Expr::leftmost(expr.location, t.location);
        let mut cast = self.explicit_cast(expr, ty, typmod, t.location)?;
        cast.location = location;
        Ok(cast)
    }

    fn bool_expr(&self, b: &protobuf::BoolExpr) -> QuillResult<Expr> {
        let kind = BoolExprType::try_from(b.boolop).unwrap_or(BoolExprType::Undefined);
        let construct = match kind {
            BoolExprType::AndExpr => "AND",
            BoolExprType::OrExpr => "OR",
            _ => "NOT",
        };
        let mut args = Vec::with_capacity(b.args.len());
        for arg in &b.args {
            let e = self.expr(arg)?;
            args.push(self.coerce_to_boolean(e, construct)?);
        }
        let location = args
            .iter()
            .fold(b.location, |loc, a| Expr::leftmost(loc, a.location));
        let kind = match kind {
            BoolExprType::AndExpr => ExprKind::And(args),
            BoolExprType::OrExpr => ExprKind::Or(args),
            _ => ExprKind::Not(Box::new(
                args.into_iter()
                    .next()
                    .ok_or_else(|| QuillError::internal("NOT without argument"))?,
            )),
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    fn null_test(&self, n: &protobuf::NullTest) -> QuillResult<Expr> {
        let arg = self.required(&n.arg)?;
        let location = Expr::leftmost(arg.location, n.location);
        let is_null = NullTestType::try_from(n.nulltesttype) == Ok(NullTestType::IsNull);
        let kind = ExprKind::NullTest {
            arg: Box::new(arg),
            is_null,
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    fn boolean_test(&self, b: &protobuf::BooleanTest) -> QuillResult<Expr> {
        let (test, construct) = match BoolTestType::try_from(b.booltesttype) {
            Ok(BoolTestType::IsTrue) => (BoolTest::True, "IS TRUE"),
            Ok(BoolTestType::IsNotTrue) => (BoolTest::NotTrue, "IS NOT TRUE"),
            Ok(BoolTestType::IsFalse) => (BoolTest::False, "IS FALSE"),
            Ok(BoolTestType::IsNotFalse) => (BoolTest::NotFalse, "IS NOT FALSE"),
            Ok(BoolTestType::IsUnknown) => (BoolTest::Unknown, "IS UNKNOWN"),
            _ => (BoolTest::NotUnknown, "IS NOT UNKNOWN"),
        };
        let arg = self.required(&b.arg)?;
        let arg = self.coerce_to_boolean(arg, construct)?;
        let location = Expr::leftmost(arg.location, b.location);
        let kind = ExprKind::BoolTest {
            arg: Box::new(arg),
            test,
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    /// Analyzes a child the grammar always fills in.
    pub fn required(&self, node: &Option<Box<Node>>) -> QuillResult<Expr> {
        match node {
            Some(n) => self.expr(n),
            None => Err(QuillError::internal("missing expression in parse tree")),
        }
    }

    fn case_expr(&self, c: &protobuf::CaseExpr) -> QuillResult<Expr> {
        let operand = match &c.arg {
            Some(arg) => {
                let e = self.expr(arg)?;
                // A bare unknown literal operand becomes text, as in PostgreSQL.
                Some(self.resolve_unknown(e)?)
            }
            None => None,
        };
        let mut conditions = Vec::with_capacity(c.args.len());
        let mut results = Vec::with_capacity(c.args.len() + 1);
        for when in &c.args {
            let Some(NodeEnum::CaseWhen(w)) = &when.node else {
                return Err(QuillError::internal("CASE arm is not a WHEN"));
            };
            let value = self.required(&w.expr)?;
            let condition = match &operand {
                Some(op) => {
                    let test = Expr::new(ExprKind::CaseTest, op.ty, op.typmod, op.location);
                    self.comparison("=", test, value, w.location)?
                }
                None => value,
            };
            conditions.push(self.coerce_to_boolean(condition, "CASE/WHEN")?);
            results.push(self.required(&w.result)?);
        }
        let default = match &c.defresult {
            Some(d) => self.expr(d)?,
            None => Expr::constant(Datum::Null, SqlType::Unknown, -1, -1),
        };
        // PostgreSQL puts the default first when choosing the common type.
        results.insert(0, default);
        let (ty, typmod) = self.common_type(&results, "CASE")?;
        let mut coerced = Vec::with_capacity(results.len());
        for r in results {
            coerced.push(self.coerce_to_common(r, ty, typmod, "CASE")?);
        }
        let default = coerced.remove(0);
        let kind = ExprKind::Case {
            operand: operand.map(Box::new),
            whens: conditions.into_iter().zip(coerced).collect(),
            default: Box::new(default),
        };
        Ok(Expr::new(kind, ty, typmod, c.location))
    }

    fn coalesce(&self, c: &protobuf::CoalesceExpr) -> QuillResult<Expr> {
        let args = self.common_args(&c.args, "COALESCE")?;
        let (ty, typmod) = args
            .first()
            .map_or((SqlType::Text, -1), |a| (a.ty, a.typmod));
        Ok(Expr::new(ExprKind::Coalesce(args), ty, typmod, c.location))
    }

    fn min_max(&self, m: &protobuf::MinMaxExpr) -> QuillResult<Expr> {
        let greatest = m.op == protobuf::MinMaxOp::IsGreatest as i32;
        let construct = if greatest { "GREATEST" } else { "LEAST" };
        let args = self.common_args(&m.args, construct)?;
        let (ty, typmod) = args
            .first()
            .map_or((SqlType::Text, -1), |a| (a.ty, a.typmod));
        if !(ty.category() == super::types::TypeCategory::Numeric
            || ty.is_string()
            || ty == SqlType::Bool)
        {
            return Err(self.at(
                QuillError::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!(
                        "could not identify a comparison function for type {}",
                        ty.display_name()
                    ),
                ),
                m.location,
            ));
        }
        let kind = ExprKind::MinMax {
            greatest,
            args,
            bpchar: ty == SqlType::Bpchar,
        };
        Ok(Expr::new(kind, ty, typmod, m.location))
    }

    /// Analyzes arguments and coerces them all to their common type.
    fn common_args(&self, nodes: &[Node], construct: &str) -> QuillResult<Vec<Expr>> {
        let mut args = Vec::with_capacity(nodes.len());
        for n in nodes {
            args.push(self.expr(n)?);
        }
        let (ty, typmod) = self.common_type(&args, construct)?;
        args.into_iter()
            .map(|a| self.coerce_to_common(a, ty, typmod, construct))
            .collect()
    }

    fn sql_value_function(&self, s: &protobuf::SqlValueFunction) -> QuillResult<Expr> {
        use super::funcs::Func;
        use protobuf::SqlValueFunctionOp as Op;
        let func = match Op::try_from(s.op) {
            Ok(Op::SvfopCurrentRole | Op::SvfopCurrentUser | Op::SvfopUser) => Func::CurrentUser,
            Ok(Op::SvfopSessionUser) => Func::SessionUser,
            Ok(Op::SvfopCurrentCatalog) => Func::CurrentDatabase,
            Ok(Op::SvfopCurrentSchema) => Func::CurrentSchema,
            _ => return Err(self.unsupported_plural("date/time types", s.location)),
        };
        let kind = ExprKind::Func {
            func,
            args: Vec::new(),
        };
        Ok(Expr::new(kind, SqlType::Name, -1, s.location))
    }
}

/// The value of an integer literal the lexer passed on as a float because it
/// does not fit int4 (PostgreSQL makes those int8 when they fit).
fn integer_literal(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
