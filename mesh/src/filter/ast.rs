//! A parsed filter: the boolean structure and its match expressions, with
//! each value coerced once up front so that evaluating many items never
//! parses a number twice.

use super::strconv;

/// A boolean expression. `and`/`or` chains are flattened (both operators
/// are associative and short-circuit left to right, as go-bexpr does).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Match(Match),
}

impl Expr {
    /// Applies `not`, folding `not not x` to `x` as go-bexpr's parser does.
    pub(super) fn negate(self) -> Expr {
        match self {
            Expr::Not(inner) => *inner,
            other => Expr::Not(Box::new(other)),
        }
    }

    /// Every match expression, in source order (the order go-bexpr
    /// validates them in, so the first bad one is the one reported).
    pub(super) fn match_exprs(&self) -> Vec<&Match> {
        let mut out = Vec::new();
        self.collect_matches(&mut out);
        out
    }

    fn collect_matches<'a>(&'a self, out: &mut Vec<&'a Match>) {
        match self {
            Expr::Or(terms) | Expr::And(terms) => terms.iter().for_each(|t| t.collect_matches(out)),
            Expr::Not(inner) => inner.collect_matches(out),
            Expr::Match(m) => out.push(m),
        }
    }
}

/// `<selector> <op> <value>`, `<value> in <selector>` or `<selector> is empty`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Match {
    pub selector: Selector,
    pub op: MatchOp,
    /// Absent for `is empty` / `is not empty`.
    pub value: Option<Literal>,
}

/// The match operators after parsing: `contains` is `in` with its operands
/// swapped, so both spellings land on `In` / `NotIn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchOp {
    Equal,
    NotEqual,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Matches,
    NotMatches,
}

impl MatchOp {
    /// go-bexpr's name for the operator, which its error messages quote.
    pub(super) fn name(self) -> &'static str {
        match self {
            MatchOp::Equal => "Equal",
            MatchOp::NotEqual => "Not Equal",
            MatchOp::In => "In",
            MatchOp::NotIn => "Not In",
            MatchOp::IsEmpty => "Is Empty",
            MatchOp::IsNotEmpty => "Is Not Empty",
            MatchOp::Matches => "Matches",
            MatchOp::NotMatches => "Not Matches",
        }
    }

    /// The answer when the selector runs into a missing map key (or JSON
    /// `null`): nothing equals, contains or is contained in a missing value,
    /// and it is empty. go-bexpr v0.1.2 lets every other operator answer
    /// true, `matches` included; that is kept for compatibility.
    pub(super) fn when_absent(self) -> bool {
        !matches!(self, MatchOp::Equal | MatchOp::IsNotEmpty | MatchOp::In)
    }

    /// Whether the operator is the negation of the one evaluated.
    pub(super) fn negated(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotIn | MatchOp::IsNotEmpty | MatchOp::NotMatches)
    }
}

/// A dotted path: `Service.Meta.env` and `Service.Meta["env"]` are both
/// `["Service", "Meta", "env"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selector {
    pub path: Box<[Box<str>]>,
}

impl Selector {
    /// The first `len` segments joined with dots, as go-bexpr prints a
    /// selector in its messages (index keys are not re-bracketed).
    pub(super) fn prefix(&self, len: usize) -> String {
        self.path[..len.min(self.path.len())].join(".")
    }

    pub(super) fn dotted(&self) -> String {
        self.prefix(self.path.len())
    }
}

/// A value as written, with its coercions to every field type computed
/// once. go-bexpr coerces to the field's Go type when it builds the
/// evaluator; over JSON the type is only known per item, so all are ready.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Literal {
    /// go-bexpr's `Raw`: the unquoted string, the number's text, or a bare
    /// word (a selector-shaped value joined with dots).
    pub text: Box<str>,
    /// False when escapes produced bytes that are not UTF-8: `text` is then
    /// a lossy rendering and can equal no JSON string.
    pub exact: bool,
    pub int: Result<i64, strconv::NumError>,
    pub uint: Result<u64, strconv::NumError>,
    pub float: Result<f64, strconv::NumError>,
    pub boolean: Result<bool, strconv::NumError>,
}

impl Literal {
    pub(super) fn new(text: String, exact: bool) -> Literal {
        Literal {
            int: strconv::parse_int(&text),
            uint: strconv::parse_uint(&text),
            float: strconv::parse_float(&text),
            boolean: strconv::parse_bool(&text),
            text: text.into_boxed_str(),
            exact,
        }
    }

    /// The string comparisons: a lossy literal matches no real string.
    pub(super) fn as_exact_str(&self) -> Option<&str> {
        self.exact.then_some(&*self.text)
    }
}
