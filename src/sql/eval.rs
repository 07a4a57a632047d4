//! Evaluating analyzed expressions, and folding their constant parts first —
//! PostgreSQL's `ExecEvalExpr` and `eval_const_expressions`.
//!
//! Folding happens once per statement before any row is produced, as
//! PostgreSQL's planner does, so it decides which errors appear: an immutable
//! operator or function whose inputs are all constants is computed then (so
//! `SELECT 1/0 WHERE false` fails), while the simplifications PostgreSQL makes
//! skip code that can never run: AND stops at a constant false, OR at a
//! constant true, COALESCE at a non-NULL constant, and a CASE arm whose
//! condition is constant false is dropped without folding its result.
//! Stable and volatile functions (`version()`, `pg_sleep`) are never folded.
//!
//! Column references ([`ExprKind::Column`]) are never folded: they are read from
//! the row [`eval_row`] is given.
//!
//! Evaluation uses SQL's three-valued logic and short-circuits AND/OR/CASE/
//! COALESCE left to right.
//!
//! Both take the statement's [`OutputFormat`], read from the session once per
//! statement: a cast to text prints its value with it.

use super::arith::{self, CmpOp, Operator};
use super::cast::cast_datum;
use super::expr::{BoolTest, Expr, ExprKind};
use super::funcs::{self, Volatility};
use super::types::SqlType;
use super::value::{Datum, OutputFormat};
use super::SessionContext;
use crate::error::QuillResult;

/// Computes the value of an expression that reads no columns.
pub fn eval(expr: &Expr, ctx: &mut dyn SessionContext, format: OutputFormat) -> QuillResult<Datum> {
    eval_row(expr, &[], ctx, format)
}

/// Computes an expression's value for one row: [`ExprKind::Column`]`(i)` reads
/// `row[i]` (the row's values in the relation's column order).
pub fn eval_row(
    expr: &Expr,
    row: &[Datum],
    ctx: &mut dyn SessionContext,
    format: OutputFormat,
) -> QuillResult<Datum> {
    Evaluator {
        ctx,
        format,
        row,
        case_values: Vec::new(),
    }
    .eval(expr)
}

struct Evaluator<'c, 'r> {
    ctx: &'c mut dyn SessionContext,
    format: OutputFormat,
    /// The current row's values.
    row: &'r [Datum],
    /// Operands of the simple CASEs being evaluated, innermost last.
    case_values: Vec<Datum>,
}

fn bool_of(d: &Datum) -> Option<bool> {
    match d {
        Datum::Bool(b) => Some(*b),
        _ => None,
    }
}

impl Evaluator<'_, '_> {
    fn eval_all(&mut self, exprs: &[Expr]) -> QuillResult<Vec<Datum>> {
        exprs.iter().map(|e| self.eval(e)).collect()
    }

    fn eval(&mut self, expr: &Expr) -> QuillResult<Datum> {
        Ok(match &expr.kind {
            ExprKind::Const(d) => d.clone(),
            ExprKind::Column(i) => self.row.get(*i).cloned().ok_or_else(|| {
                crate::error::QuillError::internal(format!(
                    "column {i} read from a row of {} values",
                    self.row.len()
                ))
            })?,
            ExprKind::Aggregate(_) => {
                return Err(crate::error::QuillError::internal(
                    "aggregate evaluated outside its group",
                ))
            }
            ExprKind::CaseTest => self.case_values.last().cloned().unwrap_or(Datum::Null),
            ExprKind::Param(n) => {
                return Err(crate::error::QuillError::internal(format!(
                    "parameter ${n} evaluated before it was bound"
                )))
            }
            ExprKind::Cast { arg, explicit } => {
                let value = self.eval(arg)?;
                cast_datum(value, arg.ty, expr.ty, expr.typmod, *explicit, self.format)?
            }
            ExprKind::Op { op, args } => {
                let values = self.eval_all(args)?;
                if op.is_strict() && values.iter().any(Datum::is_null) {
                    Datum::Null
                } else {
                    arith::apply(*op, &values)?
                }
            }
            ExprKind::Func { func, args } => {
                let values = self.eval_all(args)?;
                if func.is_strict() && values.iter().any(Datum::is_null) {
                    Datum::Null
                } else {
                    funcs::call(*func, &values, self.ctx)?
                }
            }
            ExprKind::And(args) => self.and_or(args, false)?,
            ExprKind::Or(args) => self.and_or(args, true)?,
            ExprKind::Not(arg) => match bool_of(&self.eval(arg)?) {
                Some(b) => Datum::Bool(!b),
                None => Datum::Null,
            },
            ExprKind::NullTest { arg, is_null } => {
                Datum::Bool(self.eval(arg)?.is_null() == *is_null)
            }
            ExprKind::BoolTest { arg, test } => {
                Datum::Bool(bool_test(*test, bool_of(&self.eval(arg)?)))
            }
            ExprKind::Case {
                operand,
                whens,
                default,
            } => self.case(operand.as_deref(), whens, default)?,
            ExprKind::Coalesce(args) => {
                for arg in args {
                    let value = self.eval(arg)?;
                    if !value.is_null() {
                        return Ok(value);
                    }
                }
                Datum::Null
            }
            ExprKind::MinMax {
                greatest,
                args,
                bpchar,
            } => {
                let values = self.eval_all(args)?;
                min_max(values, *greatest, *bpchar)
            }
            ExprKind::NullIf { args, op, bpchar } => {
                let [a, b] = args.as_ref();
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                null_if(a, b, *op, *bpchar)?
            }
        })
    }

    /// AND (`stop_on` false) / OR (`stop_on` true) with three-valued logic.
    fn and_or(&mut self, args: &[Expr], stop_on: bool) -> QuillResult<Datum> {
        let mut saw_null = false;
        for arg in args {
            match bool_of(&self.eval(arg)?) {
                Some(b) if b == stop_on => return Ok(Datum::Bool(stop_on)),
                Some(_) => {}
                None => saw_null = true,
            }
        }
        Ok(if saw_null {
            Datum::Null
        } else {
            Datum::Bool(!stop_on)
        })
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        default: &Expr,
    ) -> QuillResult<Datum> {
        let pushed = match operand {
            Some(op) => {
                let value = self.eval(op)?;
                self.case_values.push(value);
                true
            }
            None => false,
        };
        let mut result = None;
        for (condition, value) in whens {
            if bool_of(&self.eval(condition)?) == Some(true) {
                result = Some(self.eval(value));
                break;
            }
        }
        let result = result.unwrap_or_else(|| self.eval(default));
        if pushed {
            self.case_values.pop();
        }
        result
    }
}

/// GREATEST / LEAST of the non-NULL values (NULL if there are none).
fn min_max(values: Vec<Datum>, greatest: bool, bpchar: bool) -> Datum {
    let mut best: Option<Datum> = None;
    for value in values.into_iter().filter(|v| !v.is_null()) {
        let better = best.as_ref().is_none_or(|b| {
            let order = arith::compare(&value, b, bpchar);
            if greatest {
                order.is_gt()
            } else {
                order.is_lt()
            }
        });
        if better {
            best = Some(value);
        }
    }
    best.unwrap_or(Datum::Null)
}

/// NULLIF(a, b): NULL when a = b, otherwise a.
fn null_if(a: Datum, b: Datum, op: CmpOp, bpchar: bool) -> QuillResult<Datum> {
    if a.is_null() || b.is_null() {
        return Ok(a);
    }
    let equal = arith::apply(Operator::Cmp { op, bpchar }, &[a.clone(), b])? == Datum::Bool(true);
    Ok(if equal { Datum::Null } else { a })
}

fn bool_test(test: BoolTest, value: Option<bool>) -> bool {
    match test {
        BoolTest::True => value == Some(true),
        BoolTest::NotTrue => value != Some(true),
        BoolTest::False => value == Some(false),
        BoolTest::NotFalse => value != Some(false),
        BoolTest::Unknown => value.is_none(),
        BoolTest::NotUnknown => value.is_some(),
    }
}

/// Folds the constant parts of `expr` (see the module doc).
pub fn fold(expr: Expr, ctx: &mut dyn SessionContext, format: OutputFormat) -> QuillResult<Expr> {
    Folder {
        ctx,
        format,
        case_value: None,
    }
    .fold(expr)
}

struct Folder<'c> {
    ctx: &'c mut dyn SessionContext,
    format: OutputFormat,
    /// The constant operand of the simple CASE being folded, if it is one.
    case_value: Option<Datum>,
}

impl Folder<'_> {
    fn constant(&mut self, expr: &Expr) -> QuillResult<Expr> {
        let value = eval(expr, self.ctx, self.format)?;
        Ok(Expr::constant(value, expr.ty, expr.typmod, expr.location))
    }

    fn fold(&mut self, expr: Expr) -> QuillResult<Expr> {
        let Expr {
            kind,
            ty,
            typmod,
            location,
        } = expr;
        let shape = (ty, typmod, location);
        match kind {
            ExprKind::CaseTest => Ok(match &self.case_value {
                Some(v) => Expr::constant(v.clone(), ty, typmod, location),
                None => Expr::new(ExprKind::CaseTest, ty, typmod, location),
            }),
            ExprKind::And(args) => self.fold_and_or(args, false, location),
            ExprKind::Or(args) => self.fold_and_or(args, true, location),
            ExprKind::Case {
                operand,
                whens,
                default,
            } => self.fold_case(operand.map(|o| *o), whens, *default, shape),
            ExprKind::Coalesce(args) => self.fold_coalesce(args, shape),
            kind => self.fold_computed(Expr::new(kind, ty, typmod, location)),
        }
    }

    /// A node computed from all its operands: fold them, then compute the node
    /// now if they are all constants and it may run at plan time — or if it is
    /// strict and one of them is a NULL constant.
    fn fold_computed(&mut self, mut expr: Expr) -> QuillResult<Expr> {
        for operand in expr.operands_mut() {
            let placeholder = Expr::constant(Datum::Null, SqlType::Unknown, -1, -1);
            let original = std::mem::replace(operand, placeholder);
            *operand = self.fold(original)?;
        }
        let operands = expr.operands_mut();
        let all_const = operands.iter().all(|o| o.as_const().is_some());
        let any_null = operands
            .iter()
            .any(|o| matches!(o.as_const(), Some(Datum::Null)));
        let foldable = match &expr.kind {
            ExprKind::Const(_)
            | ExprKind::Column(_)
            | ExprKind::Aggregate(_)
            | ExprKind::Param(_) => false,
            ExprKind::Op { op, .. } => all_const || (op.is_strict() && any_null),
            ExprKind::Func { func, .. } => {
                (func.is_strict() && any_null)
                    || (func.volatility() == Volatility::Immutable && all_const)
            }
            _ => all_const,
        };
        if foldable && !all_const {
            // A strict node with a NULL constant operand is NULL, whatever its
            // other operands (which may read columns) are.
            Ok(Expr::constant(
                Datum::Null,
                expr.ty,
                expr.typmod,
                expr.location,
            ))
        } else if foldable {
            self.constant(&expr)
        } else {
            Ok(expr)
        }
    }

    /// PostgreSQL's `simplify_and_arguments` / `simplify_or_arguments`.
    fn fold_and_or(&mut self, args: Vec<Expr>, stop_on: bool, location: i32) -> QuillResult<Expr> {
        let mut kept = Vec::with_capacity(args.len());
        let mut saw_null = false;
        for arg in args {
            let arg = self.fold(arg)?;
            match arg.as_const() {
                Some(Datum::Bool(b)) if *b == stop_on => {
                    return Ok(Expr::constant(
                        Datum::Bool(stop_on),
                        SqlType::Bool,
                        -1,
                        location,
                    ));
                }
                Some(Datum::Bool(_)) => {}
                Some(_) => saw_null = true,
                None => kept.push(arg),
            }
        }
        if kept.is_empty() {
            let value = if saw_null {
                Datum::Null
            } else {
                Datum::Bool(!stop_on)
            };
            return Ok(Expr::constant(value, SqlType::Bool, -1, location));
        }
        if saw_null {
            kept.push(Expr::constant(Datum::Null, SqlType::Bool, -1, -1));
        }
        if kept.len() == 1 {
            return Ok(kept.remove(0));
        }
        let kind = if stop_on {
            ExprKind::Or(kept)
        } else {
            ExprKind::And(kept)
        };
        Ok(Expr::new(kind, SqlType::Bool, -1, location))
    }

    fn fold_case(
        &mut self,
        operand: Option<Expr>,
        whens: Vec<(Expr, Expr)>,
        default: Expr,
        (ty, typmod, location): (SqlType, i32, i32),
    ) -> QuillResult<Expr> {
        let operand = operand.map(|o| self.fold(o)).transpose()?;
        let saved = self.case_value.take();
        self.case_value = operand.as_ref().and_then(|o| o.as_const().cloned());
        let mut kept = Vec::with_capacity(whens.len());
        let mut default = Some(default);
        let mut chosen = None;
        for (condition, result) in whens {
            let condition = self.fold(condition)?;
            match condition.as_const() {
                Some(Datum::Bool(true)) => {
                    chosen = Some(result);
                    break;
                }
                Some(_) => continue, // constant false or NULL: the arm can never run
                None => kept.push((condition, self.fold(result)?)),
            }
        }
        let default = match chosen {
            Some(result) => self.fold(result)?,
            None => self.fold(
                default
                    .take()
                    .unwrap_or_else(|| Expr::constant(Datum::Null, ty, typmod, -1)),
            )?,
        };
        self.case_value = saved;
        if kept.is_empty() {
            return Ok(default);
        }
        let kind = ExprKind::Case {
            operand: operand.map(Box::new),
            whens: kept,
            default: Box::new(default),
        };
        Ok(Expr::new(kind, ty, typmod, location))
    }

    fn fold_coalesce(
        &mut self,
        args: Vec<Expr>,
        (ty, typmod, location): (SqlType, i32, i32),
    ) -> QuillResult<Expr> {
        let mut kept = Vec::with_capacity(args.len());
        for arg in args {
            let arg = self.fold(arg)?;
            match arg.as_const() {
                Some(Datum::Null) => continue,
                Some(_) => {
                    kept.push(arg);
                    break;
                }
                None => kept.push(arg),
            }
        }
        match kept.len() {
            0 => Ok(Expr::constant(Datum::Null, ty, typmod, location)),
            1 => {
                let mut only = kept.remove(0);
                only.location = location;
                Ok(only)
            }
            _ => Ok(Expr::new(ExprKind::Coalesce(kept), ty, typmod, location)),
        }
    }
}
