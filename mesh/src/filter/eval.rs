//! Evaluating a parsed filter against one item's JSON, with go-bexpr
//! v0.1.2's semantics:
//!
//! - a selector walks objects by key (exact case); a missing key or a
//!   `null` answers with the operator's [`MatchOp::when_absent`];
//! - a list met before the selector ends means "any element": the rest of
//!   the selector is tried on each and one match suffices (so
//!   `Checks.Status != passing` holds when some check is not passing, and
//!   never for an empty list);
//! - at the selector's end the JSON type decides: the value is coerced to
//!   the field's type, and an operator the type does not support is an
//!   error, worded as go-bexpr words it when building the evaluator.
//!
//! Nothing here allocates unless it reports an error.

use serde_json::{Number, Value};

use super::ast::{Expr, Literal, Match, MatchOp};
use super::strconv::{self, NumError};
use super::FilterError;

pub(super) fn eval(expr: &Expr, item: &Value) -> Result<bool, FilterError> {
    match expr {
        Expr::Or(terms) => {
            for term in terms {
                if eval(term, item)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::And(terms) => {
            for term in terms {
                if !eval(term, item)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Not(inner) => Ok(!eval(inner, item)?),
        Expr::Match(m) => walk(m, item, 0),
    }
}

/// Follows `m`'s selector from segment `depth` on, inside `value`.
fn walk(m: &Match, value: &Value, depth: usize) -> Result<bool, FilterError> {
    let Some(segment) = m.selector.path.get(depth) else { return apply(m, value) };
    match value {
        Value::Object(map) => match map.get(&**segment) {
            Some(next) => walk(m, next, depth + 1),
            None => Ok(m.op.when_absent()),
        },
        Value::Array(items) => {
            for item in items {
                if walk(m, item, depth)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Value::Null => Ok(m.op.when_absent()),
        // A scalar has no fields: go-bexpr rejects such a selector.
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            Err(FilterError::InvalidSelector(m.selector.prefix(depth + 1)))
        }
    }
}

/// Applies `m`'s operator to the value its selector reached.
fn apply(m: &Match, value: &Value) -> Result<bool, FilterError> {
    if value.is_null() {
        return Ok(m.op.when_absent());
    }
    let positive = match (m.op, &m.value) {
        (MatchOp::Equal | MatchOp::NotEqual, Some(lit)) => equals(m, lit, value)?,
        (MatchOp::In | MatchOp::NotIn, Some(lit)) => contains(m, lit, value)?,
        (MatchOp::IsEmpty | MatchOp::IsNotEmpty, _) => is_empty(m, value)?,
        (MatchOp::Matches | MatchOp::NotMatches, _) => {
            return Err(FilterError::RegexUnsupported { operator: m.op.name(), selector: m.selector.dotted() })
        }
        // The parser gives every other operator a value.
        (_, None) => return Err(invalid_operator(m)),
    };
    Ok(positive != m.op.negated())
}

/// `==` on a scalar, with the literal coerced to the scalar's type.
fn equals(m: &Match, lit: &Literal, value: &Value) -> Result<bool, FilterError> {
    match value {
        Value::String(s) => Ok(lit.as_exact_str() == Some(s.as_str())),
        Value::Number(n) => number_equals(m, lit, n),
        Value::Bool(b) => bool_equals(m, lit, *b),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(invalid_operator(m)),
    }
}

/// `in`: a key of an object, an element of a list, a substring of a string.
fn contains(m: &Match, lit: &Literal, value: &Value) -> Result<bool, FilterError> {
    match value {
        Value::Object(map) => Ok(lit.as_exact_str().is_some_and(|key| map.contains_key(key))),
        Value::String(s) => Ok(lit.as_exact_str().is_some_and(|needle| s.contains(needle))),
        Value::Array(items) => list_contains(m, lit, items),
        Value::Null | Value::Bool(_) | Value::Number(_) => Err(invalid_operator(m)),
    }
}

// Each element is compared as its own type; a list of objects or lists
// supports only emptiness checks.
fn list_contains(m: &Match, lit: &Literal, items: &[Value]) -> Result<bool, FilterError> {
    for item in items {
        let found = match item {
            Value::String(s) => lit.as_exact_str() == Some(s.as_str()),
            Value::Number(n) => number_equals(m, lit, n)?,
            Value::Bool(b) => bool_equals(m, lit, *b)?,
            Value::Null => false,
            Value::Array(_) | Value::Object(_) => return Err(invalid_operator(m)),
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_empty(m: &Match, value: &Value) -> Result<bool, FilterError> {
    match value {
        Value::String(s) => Ok(s.is_empty()),
        Value::Array(items) => Ok(items.is_empty()),
        Value::Object(map) => Ok(map.is_empty()),
        Value::Null => Ok(true),
        Value::Bool(_) | Value::Number(_) => Err(invalid_operator(m)),
    }
}

/// A JSON integer came from a Go int or uint field (ParseInt / ParseUint);
/// anything else from a float field (ParseFloat). A Go float that holds a
/// whole number is written as an integer, so an integer also compares
/// equal to a decimal literal of the same value instead of failing.
fn number_equals(m: &Match, lit: &Literal, n: &Number) -> Result<bool, FilterError> {
    let integer = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match integer {
        Some(have) => match (lit.int, lit.uint, lit.float) {
            (Ok(want), _, _) => Ok(have == i128::from(want)),
            (_, Ok(want), _) => Ok(have == i128::from(want)),
            (Err(NumError::Syntax), _, Ok(want)) => Ok(have as f64 == want),
            (Err(err), _, _) => Err(coerce_error(m, lit, "ParseInt", err)),
        },
        None => match lit.float {
            Ok(want) => Ok(n.as_f64() == Some(want)),
            Err(err) => Err(coerce_error(m, lit, "ParseFloat", err)),
        },
    }
}

fn bool_equals(m: &Match, lit: &Literal, have: bool) -> Result<bool, FilterError> {
    match lit.boolean {
        Ok(want) => Ok(have == want),
        Err(err) => Err(coerce_error(m, lit, "ParseBool", err)),
    }
}

fn invalid_operator(m: &Match) -> FilterError {
    FilterError::InvalidOperator { operator: m.op.name(), selector: m.selector.dotted() }
}

fn coerce_error(m: &Match, lit: &Literal, func: &str, err: NumError) -> FilterError {
    FilterError::Coerce {
        value: lit.text.to_string(),
        selector: m.selector.dotted(),
        reason: strconv::num_error_text(func, &lit.text, err),
    }
}
