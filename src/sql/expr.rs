//! The analyzed expression tree: what [`super::analyze`] produces from the parse
//! tree and [`super::eval`] computes.
//!
//! Every node already has its result type and typmod decided, and every operand
//! already has the type its operator or function takes (implicit casts are explicit
//! nodes), so evaluation never resolves types. `location` is the byte offset of the
//! expression's leftmost token in the query string (-1 if none), PostgreSQL's
//! `exprLocation`, used for error positions found after the node was built.

use super::arith::{CmpOp, Operator};
use super::funcs::Func;
use super::types::SqlType;
use super::value::Datum;

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: SqlType,
    pub typmod: i32,
    pub location: i32,
}

/// IS [NOT] TRUE / FALSE / UNKNOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolTest {
    True,
    NotTrue,
    False,
    NotFalse,
    Unknown,
    NotUnknown,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Const(Datum),
    /// The value of column `index` (0-based, in the relation's attribute order) of
    /// the row being evaluated — PostgreSQL's `Var`. Never folded.
    Column(usize),
    /// The result of the statement's aggregate call `index`
    /// ([`super::aggregate::AggCollector`]): only between analysis and the
    /// grouping rewrite, which turns it into a column of the grouped row.
    Aggregate(usize),
    /// Statement parameter `$n` (1-based) while a statement is being prepared:
    /// it has no value yet (see `params.rs`; executing statements get constants
    /// instead). Never folded, never evaluated.
    Param(usize),
    /// The operand of a simple `CASE x WHEN …`, evaluated once (PostgreSQL's
    /// CaseTestExpr).
    CaseTest,
    /// A type conversion to `Expr::ty` / `Expr::typmod`.
    Cast {
        arg: Box<Expr>,
        explicit: bool,
    },
    /// An operator; its operands already have the operator's input type.
    Op {
        op: Operator,
        args: Vec<Expr>,
    },
    Func {
        func: Func,
        args: Vec<Expr>,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    NullTest {
        arg: Box<Expr>,
        is_null: bool,
    },
    BoolTest {
        arg: Box<Expr>,
        test: BoolTest,
    },
    /// `CASE`; with an operand, each WHEN condition compares [`ExprKind::CaseTest`].
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        default: Box<Expr>,
    },
    Coalesce(Vec<Expr>),
    /// GREATEST / LEAST: NULLs are ignored; `bpchar` says how strings compare.
    MinMax {
        greatest: bool,
        args: Vec<Expr>,
        bpchar: bool,
    },
    /// NULLIF(a, b): NULL if a = b under `op`, else a.
    NullIf {
        args: Box<[Expr; 2]>,
        op: CmpOp,
        bpchar: bool,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, ty: SqlType, typmod: i32, location: i32) -> Expr {
        Expr {
            kind,
            ty,
            typmod,
            location,
        }
    }

    pub fn constant(value: Datum, ty: SqlType, typmod: i32, location: i32) -> Expr {
        Expr::new(ExprKind::Const(value), ty, typmod, location)
    }

    pub fn as_const(&self) -> Option<&Datum> {
        match &self.kind {
            ExprKind::Const(d) => Some(d),
            _ => None,
        }
    }

    /// The direct sub-expressions a node is computed from, for nodes that
    /// evaluate all of them (not AND/OR/CASE/COALESCE, which may skip some).
    pub fn operands_mut(&mut self) -> Vec<&mut Expr> {
        match &mut self.kind {
            ExprKind::Cast { arg, .. }
            | ExprKind::Not(arg)
            | ExprKind::NullTest { arg, .. }
            | ExprKind::BoolTest { arg, .. } => vec![arg.as_mut()],
            ExprKind::Op { args, .. }
            | ExprKind::Func { args, .. }
            | ExprKind::MinMax { args, .. } => args.iter_mut().collect(),
            ExprKind::NullIf { args, .. } => args.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    /// Every direct sub-expression, including those evaluated conditionally.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        if !matches!(
            self.kind,
            ExprKind::And(_) | ExprKind::Or(_) | ExprKind::Coalesce(_) | ExprKind::Case { .. }
        ) {
            return self.operands_mut();
        }
        match &mut self.kind {
            ExprKind::And(args) | ExprKind::Or(args) | ExprKind::Coalesce(args) => {
                args.iter_mut().collect()
            }
            ExprKind::Case {
                operand,
                whens,
                default,
            } => {
                let mut all: Vec<&mut Expr> = operand.iter_mut().map(|o| o.as_mut()).collect();
                for (condition, result) in whens {
                    all.push(condition);
                    all.push(result);
                }
                all.push(default.as_mut());
                all
            }
            _ => Vec::new(),
        }
    }

    /// Whether two expressions compute the same thing (PostgreSQL's `equal`,
    /// which ignores locations).
    pub fn same_as(&self, other: &Expr) -> bool {
        fn strip(e: &mut Expr) {
            e.location = -1;
            for c in e.children_mut() {
                strip(c);
            }
        }
        let (mut a, mut b) = (self.clone(), other.clone());
        strip(&mut a);
        strip(&mut b);
        a == b
    }

    /// The leftmost of two locations, ignoring unknown (-1) ones (PostgreSQL's
    /// `leftmostLoc`).
    pub fn leftmost(a: i32, b: i32) -> i32 {
        match (a < 0, b < 0) {
            (true, _) => b,
            (_, true) => a,
            _ => a.min(b),
        }
    }
}
