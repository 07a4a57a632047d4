//! Grouped queries: GROUP BY items (PostgreSQL's `transformGroupClause`), the
//! check that every output expression is computable from a group
//! (`parseCheckAggregates` / `check_ungrouped_columns`), hash aggregation, and the
//! value identity GROUP BY, DISTINCT and `count(DISTINCT …)` share ([`GroupKey`]).
//!
//! # The grouped row
//! A grouped query computes, per group, one *grouped row*: the values of the GROUP
//! BY expressions, then the result of each aggregate call. [`rewrite_grouped`]
//! turns an expression analyzed over table rows into one over grouped rows: a
//! subexpression equal to a GROUP BY expression reads that key, an
//! [`ExprKind::Aggregate`] reads its result, and any other column reference is
//! PostgreSQL's 42803 `column "t.x" must appear in the GROUP BY clause or be used in
//! an aggregate function`, at the reference. So the select list, HAVING and ORDER
//! BY of a grouped query are evaluated with the ordinary evaluator over grouped
//! rows.
//!
//! # Order
//! Groups come out in the order their first row was seen; PostgreSQL's
//! HashAggregate order is unspecified, so only ORDER BY fixes an order. With no
//! GROUP BY there is exactly one group, even over no rows (`count(*)` = 0).

use std::collections::{HashMap, HashSet};

use pg_query::protobuf::a_const;
use pg_query::{Node, NodeEnum};

use super::aggregate::{AggCall, AggState};
use super::analyze::{node_location, str_value, Analyzer};
use super::eval::eval_row;
use super::expr::{Expr, ExprKind};
use super::types::SqlType;
use super::value::{Datum, OutputFormat};
use super::SessionContext;
use crate::error::{sqlstate, QuillError, QuillResult};

/// A value as GROUP BY and DISTINCT compare it: equal keys are equal under the
/// type's `=` (1.0 and 1.00 are one numeric, -0 and 0 one float, NaN equals NaN
/// as in PostgreSQL's sort order, `char(n)` ignores trailing spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Numeric(String),
    Text(String),
}

impl GroupKey {
    /// The key of `value`; `bpchar` when it is a `character(n)`.
    pub fn of(value: &Datum, bpchar: bool) -> GroupKey {
        match value {
            Datum::Null => GroupKey::Null,
            Datum::Bool(b) => GroupKey::Bool(*b),
            Datum::Int2(v) => GroupKey::Int((*v).into()),
            Datum::Int4(v) => GroupKey::Int((*v).into()),
            Datum::Int8(v) => GroupKey::Int(*v),
            Datum::Float4(v) => GroupKey::float(f64::from(*v)),
            Datum::Float8(v) => GroupKey::float(*v),
            Datum::Numeric(n) => {
                let text = n.to_string();
                let text = if text.contains('.') {
                    text.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    text
                };
                GroupKey::Numeric(text)
            }
            Datum::Text(s) if bpchar => GroupKey::Text(s.trim_end_matches(' ').to_string()),
            Datum::Text(s) => GroupKey::Text(s.clone()),
        }
    }

    fn float(v: f64) -> GroupKey {
        if v.is_nan() {
            GroupKey::Float(f64::NAN.to_bits())
        } else if v == 0.0 {
            GroupKey::Float(0.0f64.to_bits())
        } else {
            GroupKey::Float(v.to_bits())
        }
    }
}

/// The keys of a row of values of the given types.
pub fn row_key(values: &[Datum], types: &[SqlType]) -> Vec<GroupKey> {
    values
        .iter()
        .zip(types)
        .map(|(v, ty)| GroupKey::of(v, *ty == SqlType::Bpchar))
        .collect()
}

/// Keeps the first of each set of rows with equal keys (`key` picks the values
/// compared), in order.
pub fn keep_distinct<T>(rows: Vec<T>, mut key: impl FnMut(&T) -> Vec<GroupKey>) -> Vec<T> {
    let mut seen = HashSet::new();
    rows.into_iter().filter(|r| seen.insert(key(r))).collect()
}

/// Resolves the GROUP BY items against the select list (`targets`): PostgreSQL's
/// SQL92 rules first (a position, or an output column name that is not also a
/// table column), then any expression over the table. Aggregates are refused
/// there by the caller's collector.
pub fn group_by_clause(
    an: &Analyzer,
    items: &[Node],
    targets: &[(String, Expr)],
) -> QuillResult<Vec<Expr>> {
    let mut keys: Vec<Expr> = Vec::with_capacity(items.len());
    for item in items {
        let key = group_by_item(an, item, targets)?;
        if !keys.iter().any(|k| k.same_as(&key)) {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn group_by_item(an: &Analyzer, node: &Node, targets: &[(String, Expr)]) -> QuillResult<Expr> {
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) if i.ival >= 1 && i.ival as usize <= targets.len() => {
                Ok(targets[i.ival as usize - 1].1.clone())
            }
            Some(a_const::Val::Ival(i)) => Err(an.at(
                QuillError::new(
                    sqlstate::INVALID_COLUMN_REFERENCE,
                    format!("GROUP BY position {} is not in select list", i.ival),
                ),
                c.location,
            )),
            _ => Err(an.at(
                QuillError::syntax("non-integer constant in GROUP BY", None),
                c.location,
            )),
        },
        Some(NodeEnum::ColumnRef(c)) if c.fields.len() == 1 => {
            let name = str_value(&c.fields[0]);
            let is_input_column = an
                .scope()
                .is_some_and(|s| s.visible && s.column_index(name).is_some());
            let mut named = targets.iter().filter(|(n, _)| n == name).map(|(_, e)| e);
            match named.next() {
                Some(first) if !is_input_column => {
                    if named.any(|other| !other.same_as(first)) {
                        return Err(an.at(
                            QuillError::new(
                                sqlstate::AMBIGUOUS_COLUMN,
                                format!("GROUP BY \"{name}\" is ambiguous"),
                            ),
                            node_location(node),
                        ));
                    }
                    Ok(first.clone())
                }
                _ => an.resolve_unknown(an.expr(node)?),
            }
        }
        _ => an.resolve_unknown(an.expr(node)?),
    }
}

/// Rewrites `expr` (over table rows) to read the grouped row whose first values
/// are `keys` and whose next values are the aggregate results (module doc).
pub fn rewrite_grouped(an: &Analyzer, expr: &mut Expr, keys: &[Expr]) -> QuillResult<()> {
    if let Some(k) = keys.iter().position(|key| key.same_as(expr)) {
        expr.kind = ExprKind::Column(k);
        return Ok(());
    }
    match expr.kind {
        ExprKind::Aggregate(i) => {
            expr.kind = ExprKind::Column(keys.len() + i);
            Ok(())
        }
        ExprKind::Column(i) => {
            let (rel, column) = match an.scope() {
                Some(scope) if i < scope.columns.len() => {
                    (scope.refname().to_string(), scope.columns[i].name.clone())
                }
                _ => return Err(QuillError::internal("ungrouped column outside the scope")),
            };
            Err(an.at(
                QuillError::new(
                    sqlstate::GROUPING_ERROR,
                    format!(
                        "column \"{rel}.{column}\" must appear in the GROUP BY clause or be used in an aggregate function"
                    ),
                ),
                expr.location,
            ))
        }
        _ => {
            for child in expr.children_mut() {
                rewrite_grouped(an, child, keys)?;
            }
            Ok(())
        }
    }
}

/// What a grouped query computes per group: its keys and its aggregate calls,
/// both over table rows (already folded).
#[derive(Debug, Clone)]
pub struct Grouping {
    pub keys: Vec<Expr>,
    pub calls: Vec<AggCall>,
}

/// Hash aggregation: rows go in with [`HashAggregate::add`], grouped rows come out
/// of [`HashAggregate::finish`].
pub struct HashAggregate<'g> {
    grouping: &'g Grouping,
    key_types: Vec<SqlType>,
    index: HashMap<Vec<GroupKey>, usize>,
    /// Per group: its key values (those of its first row) and its states.
    groups: Vec<(Vec<Datum>, Vec<AggState>)>,
}

impl<'g> HashAggregate<'g> {
    pub fn new(grouping: &'g Grouping) -> HashAggregate<'g> {
        HashAggregate {
            key_types: grouping.keys.iter().map(|k| k.ty).collect(),
            grouping,
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }

    fn fresh_states(&self) -> Vec<AggState> {
        self.grouping.calls.iter().map(AggState::new).collect()
    }

    /// Aggregates one table row into its group.
    pub fn add(
        &mut self,
        row: &[Datum],
        session: &mut dyn SessionContext,
        format: OutputFormat,
    ) -> QuillResult<()> {
        let mut values = Vec::with_capacity(self.grouping.keys.len());
        for key in &self.grouping.keys {
            values.push(eval_row(key, row, session, format)?);
        }
        let key = row_key(&values, &self.key_types);
        let group = match self.index.get(&key) {
            Some(&g) => g,
            None => {
                let states = self.fresh_states();
                self.groups.push((values, states));
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let states = &mut self.groups[group].1;
        for (call, state) in self.grouping.calls.iter().zip(states.iter_mut()) {
            if let Some(filter) = &call.filter {
                if eval_row(filter, row, session, format)? != Datum::Bool(true) {
                    continue;
                }
            }
            let input = match &call.arg {
                Some(arg) => Some(eval_row(arg, row, session, format)?),
                None => None,
            };
            state.advance(call, input)?;
        }
        Ok(())
    }

    /// The grouped rows: key values, then aggregate results.
    pub fn finish(mut self) -> QuillResult<Vec<Vec<Datum>>> {
        if self.grouping.keys.is_empty() && self.groups.is_empty() {
            let states = self.fresh_states();
            self.groups.push((Vec::new(), states));
        }
        let calls = &self.grouping.calls;
        let mut rows = Vec::with_capacity(self.groups.len());
        for (mut values, states) in self.groups {
            for (call, state) in calls.iter().zip(states) {
                values.push(state.finish(call)?);
            }
            rows.push(values);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::numeric::Numeric;

    #[test]
    fn keys_follow_type_equality() {
        let n = |s: &str| Datum::Numeric(Numeric::parse(s).unwrap());
        assert_eq!(
            GroupKey::of(&n("1.0"), false),
            GroupKey::of(&n("1.00"), false)
        );
        assert_ne!(GroupKey::of(&n("10"), false), GroupKey::of(&n("1"), false));
        assert_eq!(
            GroupKey::of(&Datum::Float8(-0.0), false),
            GroupKey::of(&Datum::Float8(0.0), false)
        );
        assert_eq!(
            GroupKey::of(&Datum::Text("a  ".into()), true),
            GroupKey::of(&Datum::Text("a".into()), true)
        );
        assert_ne!(
            GroupKey::of(&Datum::Text("a  ".into()), false),
            GroupKey::of(&Datum::Text("a".into()), false)
        );
    }

    #[test]
    fn distinct_keeps_first_of_each() {
        let rows = vec![1, 2, 1, 3, 2];
        let kept = keep_distinct(rows, |r| vec![GroupKey::Int(*r)]);
        assert_eq!(kept, vec![1, 2, 3]);
    }
}
