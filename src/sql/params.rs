//! Statement parameters (`$1`, `$2`, …) of the extended query protocol —
//! PostgreSQL's `ParamListInfo` and the "variable parameters" of
//! `parse_analyze_varparams`.
//!
//! A statement's parameters live in a [`ParamList`] that travels with the
//! [`super::Statement`] and reaches the analyzer through [`QuerySource`]:
//!
//! 1. **Preparing** (Parse, Describe): no values. Each `$n` analyzes to an
//!    [`super::expr::ExprKind::Param`] of the parameter's type; a parameter the
//!    client gave no type (OID 0) starts as `unknown` and takes the first type
//!    its context coerces it to, exactly like an unknown literal would
//!    (`$1 = int4col` makes it int4, `INSERT … VALUES ($1)` the column's type,
//!    a select-list output text). References past the given types extend the
//!    list, as PostgreSQL does. Whatever is still unknown afterwards is the
//!    caller's 42P18 ([`ParamList::undetermined`]).
//! 2. **Executing** (Execute): every type is fixed and every value bound
//!    (converted by the type's input or receive function at Bind). Each `$n`
//!    analyzes to a constant of its type, so constant folding treats it as
//!    PostgreSQL's custom plans do. No SQL text is ever built from a value.

use std::sync::{Mutex, MutexGuard};

use super::types::SqlType;
use super::value::Datum;

/// The parameters of one statement: their types, and the values when bound.
#[derive(Debug, Default)]
pub struct ParamList {
    /// Types of `$1..`; `Unknown` while a preparing statement has not decided one.
    /// (A mutex only so statements stay `Send`; one backend thread uses it.)
    types: Mutex<Vec<SqlType>>,
    /// Bound values, one per type; `None` while preparing.
    values: Option<Vec<Datum>>,
}

/// PostgreSQL's limit on parameters in one statement (the Bind message counts
/// them in 16 bits).
pub const MAX_PARAMS: usize = 65535;

impl ParamList {
    /// For preparing a statement: the types the client declared (`Unknown` for
    /// the ones it left to inference).
    pub fn preparing(types: Vec<SqlType>) -> ParamList {
        ParamList {
            types: Mutex::new(types),
            values: None,
        }
    }

    /// For executing: fixed types and their bound values (same length).
    pub fn bound(types: Vec<SqlType>, values: Vec<Datum>) -> ParamList {
        debug_assert_eq!(types.len(), values.len());
        ParamList {
            types: Mutex::new(types),
            values: Some(values),
        }
    }

    /// The parameter types as decided so far.
    pub fn types(&self) -> Vec<SqlType> {
        self.lock_types().clone()
    }

    /// The first parameter (1-based) whose type is still undecided.
    pub fn undetermined(&self) -> Option<usize> {
        self.lock_types()
            .iter()
            .position(|t| *t == SqlType::Unknown)
            .map(|i| i + 1)
    }

    fn lock_types(&self) -> MutexGuard<'_, Vec<SqlType>> {
        self.types
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether values are bound (executing rather than preparing).
    pub fn is_bound(&self) -> bool {
        self.values.is_some()
    }

    /// `$number`'s type and, when bound, value; `None` if there is no such
    /// parameter. While preparing, a number past the declared ones adds
    /// undecided parameters up to it.
    pub fn reference(&self, number: usize) -> Option<(SqlType, Option<Datum>)> {
        if number == 0 || number > MAX_PARAMS {
            return None;
        }
        let mut types = self.lock_types();
        match &self.values {
            Some(values) => {
                let ty = *types.get(number - 1)?;
                Some((ty, Some(values.get(number - 1)?.clone())))
            }
            None => {
                if types.len() < number {
                    types.resize(number, SqlType::Unknown);
                }
                Some((types[number - 1], None))
            }
        }
    }

    /// Fixes an undecided parameter's type (PostgreSQL's
    /// `variable_coerce_param_hook`). Returns false if it was decided already.
    pub fn decide(&self, number: usize, ty: SqlType) -> bool {
        let mut types = self.lock_types();
        match types.get_mut(number.wrapping_sub(1)) {
            Some(slot) if *slot == SqlType::Unknown => {
                *slot = ty;
                true
            }
            _ => false,
        }
    }
}

/// What the analyzer reads a statement from: its query string (for error
/// positions) and its parameters, if it has any.
#[derive(Debug, Clone, Copy)]
pub struct QuerySource<'a> {
    pub text: &'a str,
    pub params: Option<&'a ParamList>,
}

impl<'a> From<&'a str> for QuerySource<'a> {
    fn from(text: &'a str) -> QuerySource<'a> {
        QuerySource { text, params: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparing_extends_and_decides_once() {
        let params = ParamList::preparing(vec![SqlType::Int4]);
        assert_eq!(params.reference(3), Some((SqlType::Unknown, None)));
        assert_eq!(params.undetermined(), Some(2));
        assert!(params.decide(2, SqlType::Text));
        assert!(!params.decide(2, SqlType::Int8));
        assert!(params.decide(3, SqlType::Bool));
        assert_eq!(params.undetermined(), None);
        assert_eq!(params.reference(0), None);
    }

    #[test]
    fn bound_parameters_give_values_and_no_new_ones() {
        let params = ParamList::bound(vec![SqlType::Int4], vec![Datum::Int4(7)]);
        assert_eq!(
            params.reference(1),
            Some((SqlType::Int4, Some(Datum::Int4(7))))
        );
        assert_eq!(params.reference(2), None);
    }
}
