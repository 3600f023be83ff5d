//! Consul's ACL rules language, HCL or JSON, into [`Rules`].
//!
//! Text starting with `{` is JSON (Consul's HCL decoder does the same),
//! anything else HCL. Both shapes decode to one JSON value first, then one
//! walk reads it, so the forms Consul accepts read the same:
//!
//! - blocks: `service "web" { policy = "write" }`;
//! - objects: `{"service": {"web": {"policy": "write"}}}` or
//!   `service = { web = { policy = "write" } }`;
//! - lists, as repeated blocks and HCL list syntax produce:
//!   `{"service": [{"web": {...}}, {"db": {...}}]}`, `{"web": [{...}, {...}]}`.
//!
//! Errors read as Consul's: `Failed to parse ACL rules: ...` for what does
//! not decode, `Invalid <keyword> policy: ...` for a level that is not
//! one (checked in Consul's order, so the first reported is Consul's).
//! Stricter than Consul, whose decoder skips them: an unknown resource or
//! an unknown field inside a rule is refused, since it is always a typo
//! that would otherwise silently grant nothing.

use std::fmt;

use serde_json::Map;
use serde_json::Value;

use super::rules::Level;
use super::rules::NamedRule;
use super::rules::Resource;
use super::rules::Rules;
use super::rules::Section;

/// Why rules text was refused; `Display` is Consul's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesError {
    /// The text does not decode as rules: `Failed to parse ACL rules: <why>`.
    Syntax(String),
    /// A level that is not one: the whole message, e.g.
    /// `Invalid service policy: &acl.ServiceRule{Name:"web", ...}`.
    InvalidPolicy(String),
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::Syntax(why) => write!(f, "Failed to parse ACL rules: {why}"),
            RulesError::InvalidPolicy(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for RulesError {}

/// Brackets a rules text may nest (a real policy nests 3 deep at most).
/// The HCL parser backtracks on unclosed brackets in expressions, taking
/// about twice as long per level: 19 levels in 300 bytes took a second
/// (found by `fuzz/fuzz_targets/acl_rules.rs`), so rules come through the
/// API only under this bound.
pub const MAX_NESTING: usize = 8;

/// Parses one policy's rules text. Empty text is an empty policy.
pub fn parse(text: &str) -> Result<Rules, RulesError> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Rules::default());
    }
    if nesting(text) > MAX_NESTING {
        return Err(RulesError::Syntax(format!("rules nest brackets more than {MAX_NESTING} deep")));
    }
    let root: Value = if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?
    } else {
        hcl::from_str(&crate::hcl1::split_one_line_attributes(text)).map_err(hcl_error)?
    };
    let raw = RawRules::read(root)?;
    raw.validate()
}

/// The deepest nesting of `{`, `[` and `(` outside quoted strings (an
/// unclosed one counts as open to the end).
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[' | b'(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b'}' | b']' | b')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// HCL's parse error as `At line:column: message` (the shape of Consul's
/// own HCL errors), not hcl-rs's multi-line rendering.
fn hcl_error(e: hcl::Error) -> RulesError {
    match e {
        hcl::Error::Parse(p) => {
            RulesError::Syntax(format!("At {}:{}: {}", p.location().line(), p.location().column(), p.message()))
        }
        other => RulesError::Syntax(other.to_string().trim().to_string()),
    }
}

/// A rule as written, before its levels are checked.
struct RawRule {
    section: Section,
    name: String,
    policy: String,
    intentions: String,
}

/// The scalars a policy can set, in the order Consul checks them after the
/// named rules (`acl` is checked first of all).
const SCALARS: [Resource; 5] =
    [Resource::Acl, Resource::Keyring, Resource::Operator, Resource::Mesh, Resource::Peering];

#[derive(Default)]
struct RawRules {
    scalars: Vec<(Resource, String)>,
    named: Vec<RawRule>,
}

impl RawRules {
    fn read(root: Value) -> Result<RawRules, RulesError> {
        let Value::Object(top) = root else {
            return Err(syntax(format!("rules are an object of resources, not {}", kind(&root))));
        };
        let mut raw = RawRules::default();
        for (key, value) in top {
            if let Some(resource) = SCALARS.into_iter().find(|r| r.as_str() == key) {
                raw.scalars.push((resource, scalar_string(&key, value)?));
            } else if let Some(section) = Section::from_keyword(&key) {
                raw.read_section(section, value)?;
            } else {
                return Err(syntax(format!("unknown resource {key:?}")));
            }
        }
        Ok(raw)
    }

    /// A section's rules: an object of name → body (or list of bodies, as
    /// repeated blocks give), or a list of such objects.
    fn read_section(&mut self, section: Section, value: Value) -> Result<(), RulesError> {
        match value {
            Value::Object(names) => {
                for (name, body) in names {
                    self.read_bodies(section, name, body)?;
                }
                Ok(())
            }
            Value::Array(items) => items.into_iter().try_for_each(|item| match item {
                Value::Object(_) => self.read_section(section, item),
                other => Err(syntax(format!("{} expects named blocks, not {}", section.keyword(), kind(&other)))),
            }),
            other => Err(syntax(format!("{} expects named blocks, not {}", section.keyword(), kind(&other)))),
        }
    }

    fn read_bodies(&mut self, section: Section, name: String, body: Value) -> Result<(), RulesError> {
        match body {
            Value::Object(fields) => {
                let rule = read_body(section, name, fields)?;
                self.named.push(rule);
                Ok(())
            }
            Value::Array(items) => items.into_iter().try_for_each(|item| self.read_bodies(section, name.clone(), item)),
            other => Err(syntax(format!("{} {name:?} expects a block, not {}", section.keyword(), kind(&other)))),
        }
    }

    /// Checks every level and builds the rules. When several are wrong, the error is the one Consul reports
    /// first: `acl`, then the sections in Consul's order, then the other
    /// scalars.
    fn validate(self) -> Result<Rules, RulesError> {
        let mut rules = Rules::default();
        let named: Vec<Result<NamedRule, RulesError>> = self.named.iter().map(named_level).collect();
        let scalars: Vec<(Resource, Result<Option<Level>, RulesError>)> =
            self.scalars.iter().map(|(r, word)| (*r, scalar_level(*r, word))).collect();
        if let Some((_, Err(e))) = scalars.iter().find(|(r, l)| *r == Resource::Acl && l.is_err()) {
            return Err(e.clone());
        }
        for section in Section::ALL {
            let first = named.iter().zip(&self.named).find(|(l, raw)| raw.section == section && l.is_err());
            if let Some((Err(e), _)) = first {
                return Err(e.clone());
            }
        }
        for resource in SCALARS {
            if let Some((_, Err(e))) = scalars.iter().find(|(r, l)| *r == resource && l.is_err()) {
                return Err(e.clone());
            }
        }
        for (resource, level) in scalars {
            if let (Some(slot), Ok(level)) = (rules.scalar_mut(resource), level) {
                *slot = level;
            }
        }
        rules.named = named.into_iter().collect::<Result<_, _>>()?;
        Ok(rules)
    }
}

fn read_body(section: Section, name: String, fields: Map<String, Value>) -> Result<RawRule, RulesError> {
    let mut rule = RawRule { section, name, policy: String::new(), intentions: String::new() };
    for (field, value) in fields {
        let at = format!("{} {:?}", section.keyword(), rule.name);
        match field.as_str() {
            "policy" => rule.policy = field_string(&at, &field, value)?,
            "intentions" if section.resource() == Resource::Service => {
                rule.intentions = field_string(&at, &field, value)?
            }
            _ => return Err(syntax(format!("unknown field {field:?} in {at}"))),
        }
    }
    Ok(rule)
}

fn scalar_string(key: &str, value: Value) -> Result<String, RulesError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(syntax(format!("{key} expects a string, not {}", kind(&other)))),
    }
}

fn field_string(at: &str, field: &str, value: Value) -> Result<String, RulesError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(syntax(format!("{field} in {at} expects a string, not {}", kind(&other)))),
    }
}

/// A scalar's level: `""` means unset, `list` is refused (keys only).
fn scalar_level(resource: Resource, word: &str) -> Result<Option<Level>, RulesError> {
    if word.is_empty() {
        return Ok(None);
    }
    match Level::from_word(word) {
        Some(level) if level != Level::List => Ok(Some(level)),
        _ => Err(RulesError::InvalidPolicy(format!("Invalid {resource} policy: {word:?}"))),
    }
}

fn named_level(raw: &RawRule) -> Result<NamedRule, RulesError> {
    let allow_list = raw.section.resource() == Resource::Key;
    let level = Level::from_word(&raw.policy).filter(|l| allow_list || *l != Level::List);
    let Some(level) = level else {
        return Err(invalid(raw, ""));
    };
    let intentions = match raw.intentions.as_str() {
        "" => None,
        word => match Level::from_word(word) {
            Some(l) if l != Level::List => Some(l),
            _ => return Err(invalid(raw, " intentions")),
        },
    };
    Ok(NamedRule { section: raw.section, name: raw.name.clone(), level, intentions })
}

/// Consul's message for a bad level, with the rule shown as Go's `%#v`
/// shows Consul's rule struct.
fn invalid(raw: &RawRule, what: &str) -> RulesError {
    RulesError::InvalidPolicy(format!("Invalid {}{what} policy: {}", raw.section.keyword(), go_rule(raw)))
}

fn go_rule(raw: &RawRule) -> String {
    const ENT: &str = ", EnterpriseRule:acl.EnterpriseRule{}";
    let (name, policy) = (&raw.name, &raw.policy);
    match raw.section.resource() {
        Resource::Agent => format!("&acl.AgentRule{{Node:{name:?}, Policy:{policy:?}}}"),
        Resource::Key => format!("&acl.KeyRule{{Prefix:{name:?}, Policy:{policy:?}{ENT}}}"),
        Resource::Node => format!("&acl.NodeRule{{Name:{name:?}, Policy:{policy:?}{ENT}}}"),
        Resource::Service => {
            format!("&acl.ServiceRule{{Name:{name:?}, Policy:{policy:?}, Intentions:{:?}{ENT}}}", raw.intentions)
        }
        Resource::Session => format!("&acl.SessionRule{{Node:{name:?}, Policy:{policy:?}}}"),
        Resource::Event => format!("&acl.EventRule{{Event:{name:?}, Policy:{policy:?}}}"),
        _ => format!("&acl.PreparedQueryRule{{Prefix:{name:?}, Policy:{policy:?}}}"),
    }
}

fn syntax(why: String) -> RulesError {
    RulesError::Syntax(why)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
