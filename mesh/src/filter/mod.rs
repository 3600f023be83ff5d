//! Consul's `?filter=` expressions (the go-bexpr language), evaluated over
//! the JSON of each element an API answer lists.
//!
//! ```
//! use tessera_mesh::filter::Filter;
//! use serde_json::json;
//!
//! let filter = Filter::parse_for(r#"Service.Tags contains "v2" and Checks.Status == passing"#,
//!                                &["Node", "Service", "Checks"]).unwrap();
//! let entry = json!({
//!     "Node": {"Node": "n1"},
//!     "Service": {"Service": "web", "Tags": ["v2"]},
//!     "Checks": [{"Status": "passing"}],
//! });
//! assert!(filter.matches(&entry).unwrap());
//! ```
//!
//! # Language
//!
//! Consul pins go-bexpr v0.1.2, and this is that version's grammar and
//! behaviour (later go-bexpr releases add JSON-pointer selectors, `.0`
//! list indexes and `any`/`all`; Consul rejects those, so does this).
//!
//! - `and`, `or`, `not` and parentheses; `not` binds tighter than `and`,
//!   which binds tighter than `or`. Word operators need whitespace around
//!   them (`not(x == 1)` does not parse), `==` and `!=` do not.
//! - Matches: `S == v`, `S != v`, `S is empty`, `S is not empty`,
//!   `v in S`, `v not in S`, `S contains v`, `S not contains v`,
//!   `S matches v`, `S not matches v`.
//! - Selectors: `Ident` (`[a-zA-Z][a-zA-Z0-9_]*`) followed by `.Ident` or
//!   `["any key"]` (a quoted string) any number of times; `Meta.env` and
//!   `Meta["env"]` are the same selector.
//! - Values: a bare word (which may itself be dotted: `a.b`), a number
//!   (`-`? digits, optionally `.digits`, ending at whitespace, `)` or the
//!   end), a double-quoted string with Go escapes, or a backquoted raw
//!   string.
//!
//! # Semantics
//!
//! - `==`/`!=` coerce the value to the JSON type found: strings compare
//!   exactly (case-sensitive), numbers numerically (Go's `ParseInt` with
//!   base prefixes such as `"0x50"`, or `ParseFloat`), booleans with Go's
//!   `ParseBool` (`true`, `T`, `1`, ...). A value that cannot be coerced
//!   is an error (`Failed to coerce value ...`).
//! - `in`/`contains`: element of a list, key of an object, substring of a
//!   string. `is empty`: length zero of a string, list or object.
//! - A list met in the middle of a selector means any element:
//!   `Checks.Status == critical` holds if some check is critical.
//! - A missing key or `null`: `==`, `in` and `is not empty` are false,
//!   every other operator true (`Meta.env != prod` holds without `env`).
//!
//! # Where this differs from Consul
//!
//! Consul knows each field's Go type when it builds the evaluator, so an
//! operator a field does not support, or a value that does not coerce, is
//! rejected before any item is seen. Over JSON the type shows only in an
//! item, so those errors (same texts) come from [`Filter::matches`], and
//! only for items that have the field. Also:
//!
//! - JSON cannot tell a struct from a map: `in` and `is empty` work on any
//!   object, where Consul refuses them on structs.
//! - A key absent from the JSON (Go's `omitempty`) counts as missing,
//!   where Consul would see the Go zero value (`Kind == ""`).
//! - An integer field compares equal to a decimal literal of the same value
//!   (`Port == 80.0`), because Go writes whole floats as integers.
//! - `matches` / `not matches` are refused when parsing: regular
//!   expressions are not supported yet (no regex engine is available to
//!   this crate).
//! - Parentheses may nest at most [`MAX_NESTING`] deep.
//!
//! # Errors
//!
//! [`FilterError`]'s text is go-bexpr's message, without the prefix Consul
//! adds: the HTTP layer answers `Failed to create boolean expression
//! evaluator: <message>` (HTTP 500 in Consul).

mod ast;
mod eval;
mod fields;
mod parser;
mod peg;
mod select;
mod strconv;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

pub use parser::MAX_NESTING;

/// A parsed filter expression, ready to evaluate against many items.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: ast::Expr,
    /// The selectors' paths, for [`Filter::matches_item`].
    paths: select::Paths,
}

impl Filter {
    /// Parses `expr` without checking its selectors against any endpoint.
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let expr = parser::parse(expr).map_err(FilterError::Syntax)?;
        reject_regex(&expr)?;
        Ok(Filter::new(expr))
    }

    /// Parses `expr` for an endpoint whose items offer `fields`: dotted
    /// paths (`"Service"`, `"Service.Meta"`, `"TaggedAddresses.*.Port"`)
    /// of which some must be a prefix of every selector. An empty list
    /// allows no selector.
    pub fn parse_for(expr: &str, fields: &[&str]) -> Result<Filter, FilterError> {
        let parsed = parser::parse(expr).map_err(FilterError::Syntax)?;
        // go-bexpr checks each match in turn, selector first.
        for m in parsed.match_exprs() {
            fields::check(&m.selector, fields)?;
            reject_regex_in(m)?;
        }
        Ok(Filter::new(parsed))
    }

    fn new(expr: ast::Expr) -> Filter {
        Filter { paths: select::Paths::of(&expr), expr }
    }

    /// The `?filter=` query parameter: empty means no filter (as Consul
    /// treats it), anything else must parse for `fields`.
    pub fn from_query(expr: &str, fields: &[&str]) -> Result<Option<Filter>, FilterError> {
        if expr.is_empty() {
            return Ok(None);
        }
        Filter::parse_for(expr, fields).map(Some)
    }

    /// Whether `item` (one element of the answer) passes the filter. Errors
    /// are the type mismatches Consul reports when building the evaluator
    /// (see the module documentation).
    pub fn matches(&self, item: &Value) -> Result<bool, FilterError> {
        eval::eval(&self.expr, item)
    }

    /// [`Filter::matches`] over `item`'s JSON (its `Serialize` impl, as an
    /// answer writes it), building only the parts the selectors reach: a
    /// typed answer is filtered without first becoming a whole `Value`.
    pub fn matches_item<T: serde::Serialize + ?Sized>(&self, item: &T) -> Result<bool, FilterError> {
        let seen = self.paths.project(item).map_err(|e| FilterError::Unserializable(e.to_string()))?;
        eval::eval(&self.expr, &seen)
    }
}

fn reject_regex(expr: &ast::Expr) -> Result<(), FilterError> {
    expr.match_exprs().into_iter().try_for_each(reject_regex_in)
}

fn reject_regex_in(m: &ast::Match) -> Result<(), FilterError> {
    match m.op {
        ast::MatchOp::Matches | ast::MatchOp::NotMatches => {
            Err(FilterError::RegexUnsupported { operator: m.op.name(), selector: m.selector.dotted() })
        }
        _ => Ok(()),
    }
}

/// Why a filter was refused. `Display` gives go-bexpr's message (what
/// follows `Failed to create boolean expression evaluator: ` in Consul).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// The expression does not parse; pigeon's message, e.g. `1:14 (13):
    /// no match found, expected: ...` or `1:9 (8): rule "number": Invalid
    /// number literal`, several separated by newlines.
    Syntax(String),
    /// A selector the endpoint does not offer (dotted, up to the first
    /// unknown segment), or one that reaches into a string, number or bool.
    InvalidSelector(String),
    /// An operator the selected value's type does not support.
    InvalidOperator { operator: &'static str, selector: String },
    /// A value that does not convert to the selected field's type.
    Coerce { value: String, selector: String, reason: String },
    /// `matches` / `not matches`: not supported yet.
    RegexUnsupported { operator: &'static str, selector: String },
    /// The item has no JSON form (a map with non-string keys); a bug of the
    /// answer's type rather than of the filter.
    Unserializable(String),
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use strconv::quote;
        match self {
            FilterError::Syntax(message) => f.write_str(message),
            FilterError::InvalidSelector(selector) => write!(f, "Selector {} is not valid", quote(selector)),
            FilterError::InvalidOperator { operator, selector } => {
                write!(f, "Invalid match operator {} for selector {}", quote(operator), quote(selector))
            }
            FilterError::Coerce { value, selector, reason } => {
                write!(f, "Failed to coerce value {} for selector {}: {reason}", quote(value), quote(selector))
            }
            FilterError::RegexUnsupported { operator, selector } => write!(
                f,
                "Match operator {} for selector {}: regular expressions are not supported yet",
                quote(operator),
                quote(selector)
            ),
            FilterError::Unserializable(reason) => write!(f, "the answer cannot be filtered: {reason}"),
        }
    }
}

impl std::error::Error for FilterError {}
