//! Checking selectors against what an endpoint lets users select.
//!
//! Consul derives the selectable fields from the Go type it filters and
//! rejects any other selector when it builds the evaluator, naming the
//! selector up to the first segment that is not a field:
//! `Selector "Service.Foo" is not valid`. Here an endpoint lists its
//! fields as dotted paths; a selector is valid when one of them is a
//! prefix of it, segment by segment, `*` standing for any one segment.
//! Listing just the top-level names (`"Node"`, `"Service"`, `"Checks"`)
//! checks only the first segment; deeper entries check deeper.

use super::ast::Selector;
use super::FilterError;

/// Ok when some entry of `fields` is a prefix of `selector`.
pub(super) fn check(selector: &Selector, fields: &[&str]) -> Result<(), FilterError> {
    let mut deepest = 0;
    for field in fields {
        match matched_segments(selector, field) {
            Coverage::Prefix => return Ok(()),
            Coverage::Partial(n) => deepest = deepest.max(n),
        }
    }
    Err(FilterError::InvalidSelector(selector.prefix(deepest + 1)))
}

enum Coverage {
    /// Every segment of the field matched: the selector is inside it.
    Prefix,
    /// The selector's first n segments matched, then it left the field.
    Partial(usize),
}

fn matched_segments(selector: &Selector, field: &str) -> Coverage {
    let mut matched = 0;
    for want in field.split('.') {
        match selector.path.get(matched) {
            Some(have) if want == "*" || want == &**have => matched += 1,
            _ => return Coverage::Partial(matched),
        }
    }
    Coverage::Prefix
}
