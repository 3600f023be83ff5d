//! go-bexpr v0.1.2's grammar (the version Consul pins), rule by rule and
//! alternative by alternative in its order, so that both what parses and
//! what a failure reports match Consul. Each function names the rule it
//! implements; the grammar reads:
//!
//! ```text
//! Input       <- _? "(" _? Or _? ")" _? EOF / _? Or _? EOF
//! Or          <- And _ "or" _ Or / And
//! And         <- Not _ "and" _ And / Not
//! Not         <- "not" _ Not / Paren
//! Paren       <- "(" _? Or _? ")" / Match / "(" _? Or _? !")" &{"Unmatched parentheses"}
//! Match       <- Selector (== / != / contains / not contains / matches / not matches) Value
//!              / Selector (is empty / is not empty)
//!              / Value (in / not in) Selector / Value (in / not in) !Selector &{"Invalid selector"}
//! Selector    <- Ident ("." Ident / Index)*
//! Ident       <- [a-zA-Z] [a-zA-Z0-9_]*
//! Index       <- "[" _? String _? "]" / "[" _? !String &{"Invalid index"}
//!              / "[" _? String _? !"]" &{"Unclosed index expression"}
//! Value       <- Selector / Number / String
//! Number      <- "-"? ("0" / [1-9][0-9]*) ("." [0-9]+)? (&After / !After &{"Invalid number literal"})
//! After       <- &(_ / EOF / ")")
//! String      <- ("`" (!"`" .)* "`" / '"' (!'"' .)* '"') {strconv.Unquote}
//!              / ("`" (!"`" .)* / '"' (!'"' .)*) EOF &{"Unterminated string literal"}
//! _           <- [ \t\r\n]+
//! ```
//!
//! `==` and `!=` take optional whitespace around them, the word operators
//! require it. The recursive rules are written as loops that parse each
//! operand once: pigeon re-parses the shared prefix of two alternatives,
//! which is exponential in nesting depth, and re-parsing the same input
//! records nothing new, so the answers are the same.

use super::ast::{Expr, Literal, Match, MatchOp, Selector};
use super::peg::{Class, Lit, Scanner};
use super::strconv;

/// How deep parentheses may nest. Consul sets no limit; this one keeps the
/// recursion (here and in evaluation) far from the stack's end.
pub const MAX_NESTING: usize = 100;

macro_rules! lit {
    ($name:ident, $text:literal) => {
        const $name: Lit = Lit { text: $text, shown: concat!("\"", $text, "\"") };
    };
}

lit!(OPEN, "(");
lit!(CLOSE, ")");
lit!(OR, "or");
lit!(AND, "and");
lit!(NOT, "not");
lit!(EQ, "==");
lit!(NE, "!=");
lit!(IS, "is");
lit!(EMPTY, "empty");
lit!(IN, "in");
lit!(CONTAINS, "contains");
lit!(MATCHES, "matches");
lit!(DOT, ".");
lit!(OPEN_INDEX, "[");
lit!(CLOSE_INDEX, "]");
lit!(MINUS, "-");
lit!(ZERO, "0");
lit!(BACKTICK, "`");
const QUOTE: Lit = Lit { text: "\"", shown: "\"\\\"\"" };

// Display names of the rules that raise errors, quoted as pigeon prints them.
const RULE_GROUPING: &str = "\"grouping\"";
const RULE_MATCH: &str = "\"match\"";
const RULE_INDEX: &str = "\"index\"";
const RULE_NUMBER: &str = "\"number\"";
const RULE_STRING: &str = "\"string\"";

/// One step of an operator: whitespace (required or optional) or a word.
#[derive(Clone, Copy)]
enum Step {
    Ws,
    OptWs,
    Word(Lit),
}

use Step::{OptWs, Word, Ws};

const OP_EQUAL: &[Step] = &[OptWs, Word(EQ), OptWs];
const OP_NOT_EQUAL: &[Step] = &[OptWs, Word(NE), OptWs];
const OP_CONTAINS: &[Step] = &[Ws, Word(CONTAINS), Ws];
const OP_NOT_CONTAINS: &[Step] = &[Ws, Word(NOT), Ws, Word(CONTAINS), Ws];
const OP_MATCHES: &[Step] = &[Ws, Word(MATCHES), Ws];
const OP_NOT_MATCHES: &[Step] = &[Ws, Word(NOT), Ws, Word(MATCHES), Ws];
const OP_IS_EMPTY: &[Step] = &[Ws, Word(IS), Ws, Word(EMPTY)];
const OP_IS_NOT_EMPTY: &[Step] = &[Ws, Word(IS), Ws, Word(NOT), Ws, Word(EMPTY)];
const OP_IN: &[Step] = &[Ws, Word(IN), Ws];
const OP_NOT_IN: &[Step] = &[Ws, Word(NOT), Ws, Word(IN), Ws];

/// The operators after a selector that take a value, in grammar order.
const VALUE_OPS: &[(&[Step], MatchOp)] = &[
    (OP_EQUAL, MatchOp::Equal),
    (OP_NOT_EQUAL, MatchOp::NotEqual),
    (OP_CONTAINS, MatchOp::In),
    (OP_NOT_CONTAINS, MatchOp::NotIn),
    (OP_MATCHES, MatchOp::Matches),
    (OP_NOT_MATCHES, MatchOp::NotMatches),
];
const EMPTY_OPS: &[(&[Step], MatchOp)] = &[(OP_IS_EMPTY, MatchOp::IsEmpty), (OP_IS_NOT_EMPTY, MatchOp::IsNotEmpty)];
const IN_OPS: &[(&[Step], MatchOp)] = &[(OP_IN, MatchOp::In), (OP_NOT_IN, MatchOp::NotIn)];

/// Parses a whole filter expression; the error is go-bexpr's message.
pub(super) fn parse(src: &str) -> Result<Expr, String> {
    let mut parser = Parser { s: Scanner::new(src), depth: 0 };
    let result = parser.input();
    parser.s.finish(result)
}

struct Parser<'a> {
    s: Scanner<'a>,
    depth: usize,
}

impl Parser<'_> {
    /// Input: the whole text, optionally wrapped in one pair of parentheses.
    fn input(&mut self) -> Option<Expr> {
        let start = self.s.pos;
        if let Some(expr) = self.input_parenthesized() {
            return Some(expr);
        }
        self.s.pos = start;
        self.opt_ws();
        let Some(expr) = self.or_expr() else { return self.fail(start) };
        self.opt_ws();
        if self.eof() {
            return Some(expr);
        }
        self.fail(start)
    }

    fn input_parenthesized(&mut self) -> Option<Expr> {
        self.opt_ws();
        if !self.s.lit(OPEN) {
            return None;
        }
        self.opt_ws();
        let expr = self.or_expr()?;
        self.opt_ws();
        if !self.s.lit(CLOSE) {
            return None;
        }
        self.opt_ws();
        self.eof().then_some(expr)
    }

    /// Or: `And (_ "or" _ And)*`.
    fn or_expr(&mut self) -> Option<Expr> {
        let mut terms = vec![self.and_expr()?];
        while let Some(term) = self.next_operand(OR, Self::and_expr) {
            terms.push(term);
        }
        Some(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    /// And: `Not (_ "and" _ Not)*`.
    fn and_expr(&mut self) -> Option<Expr> {
        let mut terms = vec![self.not_expr()?];
        while let Some(term) = self.next_operand(AND, Self::not_expr) {
            terms.push(term);
        }
        Some(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    /// `_ word _ operand`, or nothing consumed.
    fn next_operand(&mut self, word: Lit, operand: fn(&mut Self) -> Option<Expr>) -> Option<Expr> {
        let start = self.s.pos;
        if self.ws() && self.s.lit(word) && self.ws() {
            if let Some(expr) = operand(self) {
                return Some(expr);
            }
        }
        self.fail(start)
    }

    /// Not: any number of `"not" _`, then Paren. If Paren fails after the
    /// last `not`, that `not` may be a selector's start (`not in Tags`), so
    /// shorter prefixes are tried in turn, as the recursive rule would.
    fn not_expr(&mut self) -> Option<Expr> {
        let mut starts = vec![self.s.pos];
        loop {
            let here = self.s.pos;
            if self.s.lit(NOT) && self.ws() {
                starts.push(self.s.pos);
            } else {
                self.s.pos = here;
                break;
            }
        }
        for (nots, &at) in starts.iter().enumerate().rev() {
            self.s.pos = at;
            if let Some(expr) = self.paren_expr() {
                return Some((0..nots).fold(expr, |e, _| e.negate()));
            }
        }
        self.fail(starts[0])
    }

    /// Paren ("grouping").
    fn paren_expr(&mut self) -> Option<Expr> {
        let start = self.s.pos;
        // The first and third alternatives share `"(" _? Or _?`: parse it once.
        let mut unclosed_at = None;
        if self.s.lit(OPEN) {
            if self.depth >= MAX_NESTING {
                let message = format!("Parentheses nest deeper than {MAX_NESTING} levels");
                self.s.abort(start, RULE_GROUPING, &message);
                return None;
            }
            self.opt_ws();
            self.depth += 1;
            let inner = self.or_expr();
            self.depth -= 1;
            if let Some(expr) = inner {
                self.opt_ws();
                let before_close = self.s.pos;
                if self.s.lit(CLOSE) {
                    return Some(expr);
                }
                unclosed_at = Some(before_close);
            }
        }
        self.s.pos = start;
        if let Some(expr) = self.match_expr() {
            return Some(Expr::Match(expr));
        }
        if let Some(at) = unclosed_at {
            // `!")"` holds (it just failed there) and the predicate raises.
            self.s.error(at, RULE_GROUPING, "Unmatched parentheses");
        }
        self.fail(start)
    }

    /// Match ("match"): the three forms, in grammar order.
    fn match_expr(&mut self) -> Option<Match> {
        if let Some(m) = self.selector_op_value() {
            return Some(m);
        }
        if let Some(m) = self.selector_op() {
            return Some(m);
        }
        self.value_op_selector()
    }

    fn selector_op_value(&mut self) -> Option<Match> {
        let start = self.s.pos;
        let Some(selector) = self.selector() else { return self.fail(start) };
        let Some(op) = self.operator(VALUE_OPS) else { return self.fail(start) };
        let Some(value) = self.value() else { return self.fail(start) };
        Some(Match { selector, op, value: Some(value) })
    }

    fn selector_op(&mut self) -> Option<Match> {
        let start = self.s.pos;
        let Some(selector) = self.selector() else { return self.fail(start) };
        let Some(op) = self.operator(EMPTY_OPS) else { return self.fail(start) };
        Some(Match { selector, op, value: None })
    }

    fn value_op_selector(&mut self) -> Option<Match> {
        let start = self.s.pos;
        if let Some(value) = self.value() {
            if let Some(op) = self.operator(IN_OPS) {
                if let Some(selector) = self.selector() {
                    return Some(Match { selector, op, value: Some(value) });
                }
            }
        }
        // Second alternative: `Value op !Selector &{"Invalid selector"}`.
        self.s.pos = start;
        if self.value().is_some() && self.operator(IN_OPS).is_some() {
            let at = self.s.pos;
            if self.not_ahead(|p| p.selector().is_some()) {
                self.s.error(at, RULE_MATCH, "Invalid selector");
            }
        }
        self.fail(start)
    }

    /// The first of `ops` whose steps all match.
    fn operator(&mut self, ops: &[(&[Step], MatchOp)]) -> Option<MatchOp> {
        ops.iter().find_map(|&(steps, op)| self.steps(steps).then_some(op))
    }

    fn steps(&mut self, steps: &[Step]) -> bool {
        let start = self.s.pos;
        let ok = steps.iter().all(|&step| match step {
            Step::Ws => self.ws(),
            Step::OptWs => {
                self.opt_ws();
                true
            }
            Step::Word(word) => self.s.lit(word),
        });
        if !ok {
            self.s.pos = start;
        }
        ok
    }

    /// Selector ("selector").
    fn selector(&mut self) -> Option<Selector> {
        let mut path = vec![self.identifier()?];
        while let Some(segment) = self.selector_segment() {
            path.push(segment);
        }
        Some(Selector { path: path.into_iter().map(String::into_boxed_str).collect() })
    }

    /// `"." Ident / Index`.
    fn selector_segment(&mut self) -> Option<String> {
        let start = self.s.pos;
        if self.s.lit(DOT) {
            if let Some(ident) = self.identifier() {
                return Some(ident);
            }
        }
        self.s.pos = start;
        if let Some(key) = self.index() {
            return Some(key);
        }
        self.fail(start)
    }

    /// Ident: `[a-zA-Z] [a-zA-Z0-9_]*`.
    fn identifier(&mut self) -> Option<String> {
        let start = self.s.pos;
        if !self.s.class(Class::Letter) {
            return None;
        }
        self.s.many(Class::IdentRest);
        Some(self.s.source()[start..self.s.pos].to_string())
    }

    /// Index ("index"): `["key"]`, with its two error alternatives.
    fn index(&mut self) -> Option<String> {
        let start = self.s.pos;
        if self.s.lit(OPEN_INDEX) {
            self.opt_ws();
            if let Some(key) = self.string() {
                self.opt_ws();
                if self.s.lit(CLOSE_INDEX) {
                    return Some(key.0);
                }
            }
        }
        self.s.pos = start;
        if self.s.lit(OPEN_INDEX) {
            self.opt_ws();
            let at = self.s.pos;
            if self.not_ahead(|p| p.string().is_some()) {
                self.s.error(at, RULE_INDEX, "Invalid index");
                return self.fail(start);
            }
        }
        self.s.pos = start;
        if self.s.lit(OPEN_INDEX) {
            self.opt_ws();
            if self.string().is_some() {
                self.opt_ws();
                let at = self.s.pos;
                if self.not_ahead(|p| p.s.lit(CLOSE_INDEX)) {
                    self.s.error(at, RULE_INDEX, "Unclosed index expression");
                }
            }
        }
        self.fail(start)
    }

    /// Value ("value"): a bare word is its dotted path.
    fn value(&mut self) -> Option<Literal> {
        if let Some(selector) = self.selector() {
            return Some(Literal::new(selector.dotted(), true));
        }
        if let Some(number) = self.number() {
            return Some(Literal::new(number, true));
        }
        let (text, exact) = self.string()?;
        Some(Literal::new(text, exact))
    }

    /// Number ("number"): the literal's text, which must end at whitespace,
    /// `)` or the end.
    fn number(&mut self) -> Option<String> {
        let start = self.s.pos;
        if self.number_body() && self.and_ahead(Self::after_number) {
            return Some(self.s.source()[start..self.s.pos].to_string());
        }
        self.s.pos = start;
        if self.number_body() && self.not_ahead(Self::after_number) {
            let at = self.s.pos;
            self.s.error(at, RULE_NUMBER, "Invalid number literal");
        }
        self.fail(start)
    }

    /// `"-"? ("0" / [1-9][0-9]*) ("." [0-9]+)?`
    fn number_body(&mut self) -> bool {
        let start = self.s.pos;
        self.s.lit(MINUS);
        let integer = self.s.lit(ZERO) || {
            let ok = self.s.class(Class::NonZero);
            if ok {
                self.s.many(Class::Digit);
            }
            ok
        };
        if !integer {
            self.s.pos = start;
            return false;
        }
        let before_fraction = self.s.pos;
        if !(self.s.lit(DOT) && self.s.class(Class::Digit)) {
            self.s.pos = before_fraction;
            return true;
        }
        self.s.many(Class::Digit);
        true
    }

    /// `_ / EOF / ")"`
    fn after_number(&mut self) -> bool {
        self.ws() || self.eof() || self.s.lit(CLOSE)
    }

    /// String ("string"): the unquoted text, and whether it is exact (see
    /// [`Literal::exact`]).
    fn string(&mut self) -> Option<(String, bool)> {
        let start = self.s.pos;
        if let Some(quoted) = self.quoted(true) {
            return Some(self.unquote(start, quoted));
        }
        self.s.pos = start;
        if self.quoted(false).is_some() && self.eof() {
            let at = self.s.pos;
            self.s.error(at, RULE_STRING, "Unterminated string literal");
        }
        self.fail(start)
    }

    /// A backquoted or double-quoted literal; with `closed` false, only its
    /// opening quote and body. Returns the body and whether it was raw.
    fn quoted(&mut self, closed: bool) -> Option<(usize, usize, bool)> {
        let start = self.s.pos;
        for (quote, raw) in [(BACKTICK, true), (QUOTE, false)] {
            if self.s.lit(quote) {
                let body = self.s.pos;
                while self.string_char(quote) {}
                let end = self.s.pos;
                if !closed || self.s.lit(quote) {
                    return Some((body, end, raw));
                }
            }
            self.s.pos = start;
        }
        None
    }

    /// `!quote .`
    fn string_char(&mut self, quote: Lit) -> bool {
        let start = self.s.pos;
        if self.not_ahead(|p| p.s.lit(quote)) && self.s.any() {
            return true;
        }
        self.s.pos = start;
        false
    }

    // The rule's action: strconv.Unquote, whose failure is reported as
    // pigeon reports any action error (the parse itself goes on).
    fn unquote(&mut self, start: usize, (body, end, raw): (usize, usize, bool)) -> (String, bool) {
        let inner = &self.s.source()[body..end];
        if raw {
            return (strconv::unquote_raw(inner), true);
        }
        match strconv::unquote_double(inner) {
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => (text, true),
                Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), false),
            },
            None => {
                self.s.error(start, RULE_STRING, "invalid syntax");
                (String::new(), true)
            }
        }
    }

    /// `_`: one or more whitespace characters.
    fn ws(&mut self) -> bool {
        if !self.s.class(Class::Space) {
            return false;
        }
        self.s.many(Class::Space);
        true
    }

    /// `_?`
    fn opt_ws(&mut self) {
        self.ws();
    }

    /// EOF: `!.`
    fn eof(&mut self) -> bool {
        self.not_ahead(|p| p.s.any())
    }

    /// `!x`: succeeds, consuming nothing, where `x` fails.
    fn not_ahead(&mut self, x: impl FnOnce(&mut Self) -> bool) -> bool {
        let start = self.s.pos;
        self.s.flip();
        let matched = x(self);
        self.s.flip();
        self.s.pos = start;
        !matched
    }

    /// `&x`: succeeds, consuming nothing, where `x` succeeds.
    fn and_ahead(&mut self, x: impl FnOnce(&mut Self) -> bool) -> bool {
        let start = self.s.pos;
        let matched = x(self);
        self.s.pos = start;
        matched
    }

    /// Backtracks to `start`; always `None`, to return from a failed rule.
    fn fail<T>(&mut self, start: usize) -> Option<T> {
        self.s.pos = start;
        None
    }
}
