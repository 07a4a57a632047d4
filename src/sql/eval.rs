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
//! Evaluation uses SQL's three-valued logic and short-circuits AND/OR/CASE/
//! COALESCE left to right.

use super::arith::{self, Operator};
use super::cast::cast_datum;
use super::expr::{BoolTest, Expr, ExprKind};
use super::funcs::{self, Volatility};
use super::types::SqlType;
use super::value::Datum;
use super::SessionContext;
use crate::error::QuillResult;

/// Computes an expression's value.
pub fn eval(expr: &Expr, ctx: &mut dyn SessionContext) -> QuillResult<Datum> {
    Evaluator {
        ctx,
        case_values: Vec::new(),
    }
    .eval(expr)
}

struct Evaluator<'c> {
    ctx: &'c mut dyn SessionContext,
    /// Operands of the simple CASEs being evaluated, innermost last.
    case_values: Vec<Datum>,
}

fn bool_of(d: &Datum) -> Option<bool> {
    match d {
        Datum::Bool(b) => Some(*b),
        _ => None,
    }
}

impl Evaluator<'_> {
    fn eval_all(&mut self, exprs: &[Expr]) -> QuillResult<Vec<Datum>> {
        exprs.iter().map(|e| self.eval(e)).collect()
    }

    fn eval(&mut self, expr: &Expr) -> QuillResult<Datum> {
        Ok(match &expr.kind {
            ExprKind::Const(d) => d.clone(),
            ExprKind::CaseTest => self.case_values.last().cloned().unwrap_or(Datum::Null),
            ExprKind::Cast { arg, explicit } => {
                let value = self.eval(arg)?;
                cast_datum(value, arg.ty, expr.ty, expr.typmod, *explicit)?
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
                let mut best: Option<Datum> = None;
                for value in self.eval_all(args)?.into_iter().filter(|v| !v.is_null()) {
                    let better = best.as_ref().is_none_or(|b| {
                        let order = arith::compare(&value, b, *bpchar);
                        if *greatest {
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
            ExprKind::NullIf { args, op, bpchar } => {
                let [a, b] = args.as_ref();
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let cmp = Operator::Cmp {
                    op: *op,
                    bpchar: *bpchar,
                };
                let equal = !a.is_null()
                    && !b.is_null()
                    && arith::apply(cmp, &[a.clone(), b])? == Datum::Bool(true);
                if equal {
                    Datum::Null
                } else {
                    a
                }
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

fn bool_test(test: BoolTest, value: Option<bool>) -> bool {
    match test {
        BoolTest::IsTrue => value == Some(true),
        BoolTest::IsNotTrue => value != Some(true),
        BoolTest::IsFalse => value == Some(false),
        BoolTest::IsNotFalse => value != Some(false),
        BoolTest::IsUnknown => value.is_none(),
        BoolTest::IsNotUnknown => value.is_some(),
    }
}

/// Folds the constant parts of `expr` (see the module doc).
pub fn fold(expr: Expr, ctx: &mut dyn SessionContext) -> QuillResult<Expr> {
    Folder {
        ctx,
        case_value: None,
    }
    .fold(expr)
}

struct Folder<'c> {
    ctx: &'c mut dyn SessionContext,
    /// The constant operand of the simple CASE being folded, if it is one.
    case_value: Option<Datum>,
}

impl Folder<'_> {
    fn constant(&mut self, expr: &Expr) -> QuillResult<Expr> {
        let value = eval(expr, self.ctx)?;
        Ok(Expr::constant(value, expr.ty, expr.typmod, expr.location))
    }

    fn fold_all(&mut self, args: Vec<Expr>) -> QuillResult<Vec<Expr>> {
        args.into_iter().map(|a| self.fold(a)).collect()
    }

    fn fold(&mut self, expr: Expr) -> QuillResult<Expr> {
        let Expr {
            kind,
            ty,
            typmod,
            location,
        } = expr;
        let rebuilt = |kind| Expr::new(kind, ty, typmod, location);
        let all_const = |args: &[Expr]| args.iter().all(|a| a.as_const().is_some());
        let any_null = |args: &[Expr]| {
            args.iter()
                .any(|a| matches!(a.as_const(), Some(Datum::Null)))
        };
        match kind {
            ExprKind::CaseTest => match &self.case_value {
                Some(v) => Ok(Expr::constant(v.clone(), ty, typmod, location)),
                None => Ok(rebuilt(ExprKind::CaseTest)),
            },
            ExprKind::Cast { arg, explicit } => {
                let arg = Box::new(self.fold(*arg)?);
                let folded = rebuilt(ExprKind::Cast { arg, explicit });
                match &folded.kind {
                    ExprKind::Cast { arg, .. } if arg.as_const().is_some() => {
                        self.constant(&folded)
                    }
                    _ => Ok(folded),
                }
            }
            ExprKind::Op { op, args } => {
                let args = self.fold_all(args)?;
                let foldable = all_const(&args) || (op.is_strict() && any_null(&args));
                let folded = rebuilt(ExprKind::Op { op, args });
                if foldable {
                    self.constant(&folded)
                } else {
                    Ok(folded)
                }
            }
            ExprKind::Func { func, args } => {
                let args = self.fold_all(args)?;
                let foldable = (func.is_strict() && any_null(&args))
                    || (func.volatility() == Volatility::Immutable && all_const(&args));
                let folded = rebuilt(ExprKind::Func { func, args });
                if foldable {
                    self.constant(&folded)
                } else {
                    Ok(folded)
                }
            }
            ExprKind::And(args) => self.fold_and_or(args, false, location),
            ExprKind::Or(args) => self.fold_and_or(args, true, location),
            ExprKind::Not(arg) => {
                self.fold_unary(*arg, ty, location, |arg| ExprKind::Not(Box::new(arg)))
            }
            ExprKind::NullTest { arg, is_null } => {
                self.fold_unary(*arg, ty, location, |arg| ExprKind::NullTest {
                    arg: Box::new(arg),
                    is_null,
                })
            }
            ExprKind::BoolTest { arg, test } => {
                self.fold_unary(*arg, ty, location, |arg| ExprKind::BoolTest {
                    arg: Box::new(arg),
                    test,
                })
            }
            ExprKind::Case {
                operand,
                whens,
                default,
            } => self.fold_case(operand.map(|o| *o), whens, *default, (ty, typmod, location)),
            ExprKind::Coalesce(args) => self.fold_coalesce(args, (ty, typmod, location)),
            ExprKind::MinMax {
                greatest,
                args,
                bpchar,
            } => {
                let args = self.fold_all(args)?;
                let foldable = all_const(&args);
                let folded = rebuilt(ExprKind::MinMax {
                    greatest,
                    args,
                    bpchar,
                });
                if foldable {
                    self.constant(&folded)
                } else {
                    Ok(folded)
                }
            }
            ExprKind::NullIf { args, op, bpchar } => {
                let [a, b] = *args;
                let args = Box::new([self.fold(a)?, self.fold(b)?]);
                let foldable = all_const(args.as_ref());
                let folded = rebuilt(ExprKind::NullIf { args, op, bpchar });
                if foldable {
                    self.constant(&folded)
                } else {
                    Ok(folded)
                }
            }
            kind @ ExprKind::Const(_) => Ok(rebuilt(kind)),
        }
    }

    fn fold_unary(
        &mut self,
        arg: Expr,
        ty: SqlType,
        location: i32,
        make: impl FnOnce(Expr) -> ExprKind,
    ) -> QuillResult<Expr> {
        let arg = self.fold(arg)?;
        let is_const = arg.as_const().is_some();
        let folded = Expr::new(make(arg), ty, -1, location);
        if is_const {
            self.constant(&folded)
        } else {
            Ok(folded)
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
