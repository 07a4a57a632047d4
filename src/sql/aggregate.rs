//! Aggregate functions: their catalog (PostgreSQL's `pg_aggregate` for `count`,
//! `sum`, `avg`, `min`, `max`, `bool_and`, `bool_or`, `every`), the analysis of an
//! aggregate call (PostgreSQL's `transformAggregateCall` and
//! `check_agglevels_and_constraints`), and the transition states that compute them.
//!
//! # Analysis
//! An aggregate call may appear only where its statement allows one: the
//! [`AggCollector`] a statement hands its [`Analyzer`] says which clause is being
//! analyzed. In the select list, HAVING and ORDER BY the call is recorded in the
//! collector and becomes [`ExprKind::Aggregate`]`(i)`; in WHERE, GROUP BY, LIMIT, …
//! it is 42803 `aggregate functions are not allowed in WHERE` at the call. A call
//! inside another's arguments is 42803 `aggregate function calls cannot be nested`.
//! Statements that have no collector keep reporting aggregates as not supported.
//!
//! Result types are PostgreSQL's (`\df sum`): `sum(int2|int4)` → bigint,
//! `sum(int8|numeric)` → numeric, `sum(float4)` → real, `avg` of integers and
//! numeric → numeric, `avg(float4|float8)` → double precision, `min`/`max` keep the
//! argument's type (varchar and name go through text), `count` → bigint.
//!
//! # Computing
//! [`AggState`] is one group's transition state for one call: it accumulates with
//! the same operators SQL arithmetic uses (so overflow errors are PostgreSQL's:
//! `sum(int4)` adds in bigint, `sum(int8)` in numeric, float sums check overflow) and
//! [`AggState::finish`] makes the result: NULL for `sum`/`avg`/`min`/`max` over no
//! non-NULL input, 0 for `count`. `DISTINCT` keeps the set of values seen
//! ([`super::grouping::GroupKey`]); `FILTER (WHERE …)` is evaluated by the caller.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use pg_query::protobuf;

use super::analyze::Analyzer;
use super::arith::{self, ArithOp, Operator};
use super::expr::{Expr, ExprKind};
use super::funcs::{best_candidates, Func, Signature};
use super::grouping::GroupKey;
use super::numeric::Numeric;
use super::types::SqlType;
use super::value::Datum;
use crate::error::{sqlstate, QuillError, QuillResult};

/// An aggregate Quill computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `count(*)` (no argument) or `count(x)`.
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `bool_and` and its SQL-standard spelling `every`.
    BoolAnd,
    BoolOr,
}

impl AggFunc {
    /// The aggregate an unqualified (or `pg_catalog.`) function name denotes.
    pub fn by_name(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "bool_and" | "every" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            _ => return None,
        })
    }
}

use SqlType::{Bool, Bpchar, Float4, Float8, Int2, Int4, Int8, Numeric as Num, Oid, Text};

const fn agg(name: &'static str, arg: &'static [SqlType], result: SqlType) -> Signature {
    Signature {
        name,
        args: arg,
        result,
        func: Func::Unsupported,
        volatility: super::funcs::Volatility::Immutable,
    }
}

/// PostgreSQL's aggregate signatures (those over types Quill has). `count` takes
/// "any" and is handled apart.
#[rustfmt::skip]
const AGGREGATE_SIGNATURES: &[Signature] = &[
    agg("sum", &[Int2], Int8), agg("sum", &[Int4], Int8), agg("sum", &[Int8], Num),
    agg("sum", &[Float4], Float4), agg("sum", &[Float8], Float8), agg("sum", &[Num], Num),
    agg("avg", &[Int2], Num), agg("avg", &[Int4], Num), agg("avg", &[Int8], Num),
    agg("avg", &[Float4], Float8), agg("avg", &[Float8], Float8), agg("avg", &[Num], Num),
    agg("min", &[Int2], Int2), agg("min", &[Int4], Int4), agg("min", &[Int8], Int8),
    agg("min", &[Float4], Float4), agg("min", &[Float8], Float8), agg("min", &[Num], Num),
    agg("min", &[Text], Text), agg("min", &[Bpchar], Bpchar),
    agg("max", &[Int2], Int2), agg("max", &[Int4], Int4), agg("max", &[Int8], Int8),
    agg("max", &[Float4], Float4), agg("max", &[Float8], Float8), agg("max", &[Num], Num),
    agg("max", &[Text], Text), agg("max", &[Bpchar], Bpchar),
    agg("min", &[Oid], Oid), agg("max", &[Oid], Oid),
    agg("bool_and", &[Bool], Bool), agg("every", &[Bool], Bool), agg("bool_or", &[Bool], Bool),
];

/// One aggregate call of a statement, analyzed: its argument (none for
/// `count(*)`) has the type the aggregate takes.
#[derive(Debug, Clone, PartialEq)]
pub struct AggCall {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub distinct: bool,
    /// `FILTER (WHERE …)`: only rows where it is true are aggregated.
    pub filter: Option<Expr>,
    pub result: SqlType,
}

/// The aggregate calls of one statement, and which clause is being analyzed.
#[derive(Debug, Default)]
pub struct AggCollector {
    calls: RefCell<Vec<AggCall>>,
    /// `None` while aggregates are allowed, else the clause named in the error.
    forbidden_in: Cell<Option<&'static str>>,
    /// Set while an aggregate's arguments are analyzed.
    in_aggregate: Cell<bool>,
}

impl AggCollector {
    pub fn new() -> AggCollector {
        AggCollector::default()
    }

    /// A collector for a clause where no aggregate may appear ("VALUES", "UPDATE").
    pub fn forbidding(clause: &'static str) -> AggCollector {
        let c = AggCollector::default();
        c.forbidden_in.set(Some(clause));
        c
    }

    /// From now on aggregates are refused as being in `clause` (`None`: allowed).
    pub fn set_clause(&self, clause: Option<&'static str>) {
        self.forbidden_in.set(clause);
    }

    pub fn has_aggregates(&self) -> bool {
        !self.calls.borrow().is_empty()
    }

    pub fn take_calls(&self) -> Vec<AggCall> {
        self.calls.take()
    }
}

impl Analyzer<'_> {
    /// An aggregate call (`f` names one of [`AggFunc`]).
    pub(super) fn aggregate_call(
        &self,
        f: &protobuf::FuncCall,
        func: AggFunc,
        name: &str,
    ) -> QuillResult<Expr> {
        let loc = f.location;
        if f.over.is_some() {
            return Err(self.unsupported_plural("window functions", loc));
        }
        let Some(collector) = self.aggregates() else {
            return Err(self.unsupported_plural("aggregate functions here", loc));
        };
        if collector.in_aggregate.get() {
            return Err(self.at(
                QuillError::new(
                    sqlstate::GROUPING_ERROR,
                    "aggregate function calls cannot be nested",
                ),
                loc,
            ));
        }
        if let Some(clause) = collector.forbidden_in.get() {
            return Err(self.at(
                QuillError::new(
                    sqlstate::GROUPING_ERROR,
                    format!("aggregate functions are not allowed in {clause}"),
                ),
                loc,
            ));
        }
        if !f.agg_order.is_empty() {
            return Err(self.unsupported("ORDER BY in aggregate calls", loc));
        }
        collector.in_aggregate.set(true);
        let analyzed = self.aggregate_parts(f, func, name, collector);
        collector.in_aggregate.set(false);
        let call = analyzed?;
        let result = call.result;
        let mut calls = collector.calls.borrow_mut();
        calls.push(call);
        Ok(Expr::new(
            ExprKind::Aggregate(calls.len() - 1),
            result,
            -1,
            loc,
        ))
    }

    /// The argument, result type and FILTER of an aggregate call.
    fn aggregate_parts(
        &self,
        f: &protobuf::FuncCall,
        func: AggFunc,
        name: &str,
        collector: &AggCollector,
    ) -> QuillResult<AggCall> {
        let loc = f.location;
        let mut args = Vec::with_capacity(f.args.len());
        for a in &f.args {
            args.push(self.expr(a)?);
        }
        let filter = match &f.agg_filter {
            Some(node) => {
                let saved = collector.forbidden_in.replace(Some("FILTER"));
                collector.in_aggregate.set(false);
                let analyzed = self.expr(node);
                collector.in_aggregate.set(true);
                collector.forbidden_in.set(saved);
                Some(self.coerce_to_boolean(analyzed?, "FILTER")?)
            }
            None => None,
        };
        let types: Vec<SqlType> = args.iter().map(|a| a.ty).collect();
        let no_such = |shown: String| {
            self.at(
                QuillError::new(
                    sqlstate::UNDEFINED_FUNCTION,
                    format!("function {shown} does not exist"),
                )
                .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."),
                loc,
            )
        };
        let shown = || {
            let list: Vec<&str> = types.iter().map(|t| t.display_name()).collect();
            format!("{name}({})", list.join(", "))
        };
        if f.agg_star {
            if func != AggFunc::Count {
                return Err(no_such(format!("{name}()")));
            }
            return Ok(AggCall {
                func,
                arg: None,
                distinct: false,
                filter,
                result: SqlType::Int8,
            });
        }
        if func == AggFunc::Count {
            let [arg] = <[Expr; 1]>::try_from(args).map_err(|_| no_such(shown()))?;
            return Ok(AggCall {
                func,
                arg: Some(self.resolve_unknown(arg)?),
                distinct: f.agg_distinct,
                filter,
                result: SqlType::Int8,
            });
        }
        // sum and avg also take interval and money, which Quill lacks: an unknown
        // literal cannot choose among categories there (PostgreSQL: "not unique").
        if matches!(func, AggFunc::Sum | AggFunc::Avg) && types == [SqlType::Unknown] {
            return Err(self.at(
                QuillError::new(
                    sqlstate::AMBIGUOUS_FUNCTION,
                    format!("function {} is not unique", shown()),
                )
                .with_hint("Could not choose a best candidate function. You might need to add explicit type casts."),
                loc,
            ));
        }
        let sig = match best_candidates(AGGREGATE_SIGNATURES, name, &types).as_slice() {
            [one] => *one,
            _ => return Err(no_such(shown())),
        };
        let arg = args
            .into_iter()
            .next()
            .ok_or_else(|| QuillError::internal("aggregate without argument"))?;
        Ok(AggCall {
            func,
            arg: Some(self.coerce_implicit(arg, sig.args[0])?),
            distinct: f.agg_distinct,
            filter,
            result: sig.result,
        })
    }
}

/// One group's transition state for one aggregate call.
#[derive(Debug, Clone)]
pub struct AggState {
    /// Non-NULL inputs aggregated so far (rows, for `count(*)`).
    count: i64,
    /// The running sum, extreme value or boolean; NULL before the first input.
    value: Datum,
    /// The values seen, for `DISTINCT`.
    seen: Option<HashSet<GroupKey>>,
}

impl AggState {
    pub fn new(call: &AggCall) -> AggState {
        AggState {
            count: 0,
            value: Datum::Null,
            seen: call.distinct.then(HashSet::new),
        }
    }

    /// Adds one input row's argument (`None` for `count(*)`).
    pub fn advance(&mut self, call: &AggCall, input: Option<Datum>) -> QuillResult<()> {
        let Some(input) = input else {
            self.count += 1;
            return Ok(());
        };
        if input.is_null() {
            return Ok(());
        }
        if let Some(seen) = &mut self.seen {
            let bpchar = call.arg.as_ref().is_some_and(|a| a.ty == SqlType::Bpchar);
            if !seen.insert(GroupKey::of(&input, bpchar)) {
                return Ok(());
            }
        }
        self.count += 1;
        let add = |acc: Datum, x: Datum| {
            if acc.is_null() {
                Ok(x)
            } else {
                arith::apply(Operator::Arith(ArithOp::Add), &[acc, x])
            }
        };
        let value = std::mem::replace(&mut self.value, Datum::Null);
        self.value = match call.func {
            AggFunc::Count => value,
            AggFunc::Sum | AggFunc::Avg => add(value, transition_input(call, input))?,
            AggFunc::Min | AggFunc::Max => {
                let bpchar = call.result == SqlType::Bpchar;
                let replace = value.is_null() || {
                    let order = arith::compare(&input, &value, bpchar);
                    match call.func {
                        AggFunc::Min => order.is_lt(),
                        _ => order.is_gt(),
                    }
                };
                if replace {
                    input
                } else {
                    value
                }
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => match (&value, &input) {
                (Datum::Bool(a), Datum::Bool(b)) if call.func == AggFunc::BoolAnd => {
                    Datum::Bool(*a && *b)
                }
                (Datum::Bool(a), Datum::Bool(b)) => Datum::Bool(*a || *b),
                _ => input,
            },
        };
        Ok(())
    }

    /// The aggregate's result for the group.
    pub fn finish(self, call: &AggCall) -> QuillResult<Datum> {
        match call.func {
            AggFunc::Count => Ok(Datum::Int8(self.count)),
            AggFunc::Avg if self.count > 0 => match self.value {
                Datum::Float8(sum) => Ok(Datum::Float8(sum / self.count as f64)),
                sum => arith::apply(
                    Operator::Arith(ArithOp::Div),
                    &[sum, Datum::Numeric(Numeric::from_i64(self.count))],
                ),
            },
            AggFunc::Avg => Ok(Datum::Null),
            _ => Ok(self.value),
        }
    }
}

/// The value a `sum`/`avg` transition adds for one input: integers add in bigint
/// (`sum(int4)`) or numeric (`sum(int8)`, integer `avg`), `avg` of floats in float8.
fn transition_input(call: &AggCall, input: Datum) -> Datum {
    match (call.func, call.result, input) {
        (_, SqlType::Int8, Datum::Int2(v)) => Datum::Int8(v.into()),
        (_, SqlType::Int8, Datum::Int4(v)) => Datum::Int8(v.into()),
        (_, SqlType::Numeric, Datum::Int2(v)) => Datum::Numeric(Numeric::from_i64(v.into())),
        (_, SqlType::Numeric, Datum::Int4(v)) => Datum::Numeric(Numeric::from_i64(v.into())),
        (_, SqlType::Numeric, Datum::Int8(v)) => Datum::Numeric(Numeric::from_i64(v)),
        (AggFunc::Avg, SqlType::Float8, Datum::Float4(v)) => Datum::Float8(v.into()),
        (_, _, other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: AggFunc, arg_ty: SqlType, result: SqlType) -> AggCall {
        AggCall {
            func,
            arg: Some(Expr::new(ExprKind::Column(0), arg_ty, -1, -1)),
            distinct: false,
            filter: None,
            result,
        }
    }

    fn run(call: &AggCall, inputs: &[Datum]) -> Datum {
        let mut state = AggState::new(call);
        for i in inputs {
            state.advance(call, Some(i.clone())).unwrap();
        }
        state.finish(call).unwrap()
    }

    #[test]
    fn sums_use_postgres_result_types() {
        let ints = [Datum::Int4(1), Datum::Null, Datum::Int4(2)];
        assert_eq!(run(&call(AggFunc::Sum, Int4, Int8), &ints), Datum::Int8(3));
        let big = [Datum::Int8(i64::MAX), Datum::Int8(1)];
        assert_eq!(
            run(&call(AggFunc::Sum, Int8, Num), &big),
            Datum::Numeric(Numeric::parse("9223372036854775808").unwrap())
        );
        assert_eq!(run(&call(AggFunc::Sum, Int4, Int8), &[]), Datum::Null);
    }

    #[test]
    fn avg_divides_as_numeric() {
        let ints = [Datum::Int4(1), Datum::Int4(2), Datum::Int4(2)];
        let avg = run(&call(AggFunc::Avg, Int4, Num), &ints);
        assert_eq!(
            avg.to_text(super::super::value::OutputFormat::DEFAULT)
                .unwrap(),
            "1.6666666666666667"
        );
        let floats = [Datum::Float4(1.5), Datum::Float4(2.5)];
        assert_eq!(
            run(&call(AggFunc::Avg, Float4, Float8), &floats),
            Datum::Float8(2.0)
        );
    }

    #[test]
    fn count_distinct_and_extremes() {
        let mut c = call(AggFunc::Count, Text, Int8);
        c.distinct = true;
        let words = [
            Datum::Text("b".into()),
            Datum::Text("a".into()),
            Datum::Text("b".into()),
            Datum::Null,
        ];
        assert_eq!(run(&c, &words), Datum::Int8(2));
        assert_eq!(
            run(&call(AggFunc::Min, Text, Text), &words),
            Datum::Text("a".into())
        );
        assert_eq!(
            run(&call(AggFunc::Max, Text, Text), &words),
            Datum::Text("b".into())
        );
        let bools = [Datum::Bool(true), Datum::Null, Datum::Bool(false)];
        assert_eq!(
            run(&call(AggFunc::BoolAnd, Bool, Bool), &bools),
            Datum::Bool(false)
        );
        assert_eq!(
            run(&call(AggFunc::BoolOr, Bool, Bool), &bools),
            Datum::Bool(true)
        );
    }

    #[test]
    fn int_sum_overflow_is_bigint_out_of_range() {
        let c = call(AggFunc::Sum, Int8, Int8);
        let mut state = AggState::new(&c);
        state.advance(&c, Some(Datum::Int8(i64::MAX))).unwrap();
        let e = state.advance(&c, Some(Datum::Int8(1))).unwrap_err();
        assert_eq!(e.sqlstate, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
    }
}
