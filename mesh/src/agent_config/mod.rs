//! Consul's agent configuration files, HCL and JSON, as data: one file's
//! text decoded against the table of every key Consul knows
//! (the `schema` module drives it), files merged with Consul's rules, and the
//! keys the agent acts on read out as [`AgentSettings`].
//!
//! It lives in the domain core because the agent's service loader
//! (`ConfigFile::parse`) reads the same files on every start and reload and
//! must accept exactly what the CLI accepts: one table of keys for both, so
//! a key is never known to one and unknown to the other. Reading files,
//! the command line and turning settings into an agent's configuration is
//! the CLI's (`cli/src/agent_config.rs`).
//!
//! Rules, from Consul's `agent/config` (see docs/consul-compatibility.md):
//! keys match ignoring ASCII case (mapstructure), `null` is absent, a key
//! Consul does not know is `invalid config key <dotted.path>` (all of a
//! file's are reported together), a wrong type is mapstructure's message;
//! in a merge a later file's scalar wins, lists append, maps overlay key by
//! key, blocks merge field by field, and `service`/`check` accumulate into
//! the definitions lists. Keys of later work are refused by name.

mod schema;
mod settings;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Map;
use serde_json::Value;

use crate::catalog::duration::go as go_duration;
use crate::catalog::CheckDefinition;
use crate::catalog::ServiceDefinition;
use schema::Key;
use schema::Kind;
use schema::Note;
pub use settings::*;

/// A config file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Hcl,
}

impl Format {
    /// `-config-format`'s values.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "hcl" => Some(Format::Hcl),
            _ => None,
        }
    }

    /// The format a file's extension names (`.json`, `.hcl`), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Format::Json),
            Some("hcl") => Some(Format::Hcl),
            _ => None,
        }
    }

    /// The format of a file without being told: JSON if the text starts
    /// with `{` (an HCL body cannot) or the name ends in `.json`, else HCL.
    pub fn sniff(path: &Path, text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            return Format::Json;
        }
        Format::from_path(path).unwrap_or(Format::Hcl)
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON or HCL at all: the parser's message.
    Syntax(String),
    /// Keys that are unknown, of the wrong type, bad values or later work;
    /// displayed as Go's multierror lists them.
    Keys(Vec<String>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax(message) => f.write_str(message),
            ParseError::Keys(errors) if errors.len() == 1 => write!(f, "1 error occurred:\n\t* {}", errors[0]),
            ParseError::Keys(errors) => {
                write!(f, "{} errors occurred:", errors.len())?;
                for error in errors {
                    write!(f, "\n\t* {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// One file's configuration, or several merged.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    /// The agent keys, under their canonical names, types checked.
    values: Map<String, Value>,
    /// `service` and `services`, in file order.
    pub services: Vec<ServiceDefinition>,
    /// `check` and `checks`, in file order.
    pub checks: Vec<CheckDefinition>,
    /// Deprecation and Enterprise warnings, as Consul words them.
    pub warnings: Vec<String>,
    /// Dotted paths of the keys given that are accepted but not acted on.
    ignored: Vec<String>,
}

/// Decodes one file's text. Empty text is an empty configuration (Consul
/// skips empty files).
pub fn parse(text: &str, format: Format) -> Result<FileConfig, ParseError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let root: Value = match format {
        Format::Json => serde_json::from_str(text).map_err(|e| ParseError::Syntax(e.to_string()))?,
        Format::Hcl => hcl::from_str(&crate::hcl1::split_one_line_attributes(text))
            .map_err(|e| ParseError::Syntax(e.to_string().trim().to_string()))?,
    };
    let Value::Object(object) = root else {
        return Err(ParseError::Syntax(format!(
            "a config file holds an object of keys, not {}",
            go_kind(&root, format)
        )));
    };
    let mut walk = Walk { format: Some(format), ..Walk::default() };
    let values = walk.block(schema::TOP, "", object);
    if !walk.errors.is_empty() {
        return Err(ParseError::Keys(walk.errors));
    }
    Ok(FileConfig {
        values,
        services: walk.services,
        checks: walk.checks,
        warnings: walk.warnings,
        ignored: walk.ignored,
    })
}

impl FileConfig {
    /// Merges `later` over this one, as a later file in Consul's order.
    pub fn merge(&mut self, later: FileConfig) {
        merge_block(schema::TOP, &mut self.values, later.values);
        self.services.extend(later.services);
        self.checks.extend(later.checks);
        self.warnings.extend(later.warnings);
        self.ignored.extend(later.ignored);
    }

    /// The agent keys as decoded, under canonical names.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// The keys given that are accepted but not acted on yet, sorted.
    pub fn ignored(&self) -> Vec<String> {
        let mut keys = self.ignored.clone();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The keys the agent acts on.
    pub fn settings(&self) -> Result<AgentSettings, String> {
        serde_json::from_value(Value::Object(self.values.clone())).map_err(|e| e.to_string())
    }
}

/// Consul's datacenter rule (also `primary_datacenter`): lower-cased, then
/// `^[a-z0-9_-]+$`. `key` names the setting in the error.
pub fn datacenter(key: &str, value: &str) -> Result<String, String> {
    let lower = value.to_lowercase();
    let valid = !lower.is_empty()
        && lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    match valid {
        true => Ok(lower),
        false => Err(format!(
            "{key} can only contain lowercase alphanumeric, - or _ characters. received: {}",
            go_duration::quote(&lower)
        )),
    }
}

/// Consul's node metadata rules, in its words.
pub fn validate_node_meta(meta: &BTreeMap<String, String>) -> Result<(), String> {
    const MAX_PAIRS: usize = 64;
    let invalid = |reason: String| Err(format!("node_meta invalid: {reason}"));
    if meta.len() > MAX_PAIRS {
        return invalid(format!("Node metadata cannot contain more than {MAX_PAIRS} key/value pairs"));
    }
    for (key, value) in meta {
        if key.is_empty() {
            return invalid("Key cannot be blank".into());
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return invalid(format!("Key contains invalid characters: {}", go_duration::quote(key)));
        }
        if key.len() > 128 {
            return invalid("Key is too long (limit: 128 characters)".into());
        }
        if key.starts_with("consul-") {
            return invalid("Key prefix 'consul-' is reserved for internal use".into());
        }
        if value.len() > 512 {
            return invalid("Value is too long (limit: 512 characters)".into());
        }
    }
    Ok(())
}

#[derive(Default)]
struct Walk {
    format: Option<Format>,
    errors: Vec<String>,
    warnings: Vec<String>,
    ignored: Vec<String>,
    services: Vec<ServiceDefinition>,
    checks: Vec<CheckDefinition>,
}

fn join(parent: &str, name: &str) -> String {
    match parent {
        "" => name.to_string(),
        _ => format!("{parent}.{name}"),
    }
}

impl Walk {
    fn format(&self) -> Format {
        self.format.unwrap_or(Format::Json)
    }

    /// One block's keys, canonical, checked; problems go to `errors`.
    fn block(&mut self, keys: &'static [Key], parent: &str, object: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (raw, value) in object {
            let Some(key) = schema::find(keys, &raw) else {
                self.errors.push(format!("invalid config key {}", join(parent, &raw)));
                continue;
            };
            let path = join(parent, key.name);
            if value.is_null() {
                continue;
            }
            if let Note::Later(what) = key.note {
                self.errors.push(format!("{path}: not supported yet (later work: {what})"));
                continue;
            }
            let Some(value) = self.value(key, &path, value) else {
                continue;
            };
            if let Some(check) = key.check {
                if let Err(e) = check(&value) {
                    self.errors.push(format!("{path}: {e}"));
                    continue;
                }
            }
            let leaf = !matches!(key.kind, Kind::Block(_));
            match key.note {
                Note::Ignored if leaf => self.ignored.push(path.clone()),
                Note::Enterprise => {
                    self.warnings.push(format!(
                        "{} is a Consul Enterprise configuration and will have no effect",
                        go_duration::quote(&path)
                    ));
                    if leaf {
                        self.ignored.push(path.clone());
                    }
                }
                Note::Deprecated(warning) => self.warnings.push(warning.to_string()),
                _ => {}
            }
            match key.kind {
                Kind::StartJoin => merge_entry(keys, &mut out, "retry_join".into(), value),
                _ => merge_entry(keys, &mut out, key.name.to_string(), value),
            }
        }
        out
    }

    /// `value` checked against `key`'s kind; None when refused (or taken
    /// into the definitions lists).
    fn value(&mut self, key: &'static Key, path: &str, value: Value) -> Option<Value> {
        match key.kind {
            Kind::Str => self.scalar(path, "string", value, Value::is_string),
            Kind::Bool => self.scalar(path, "bool", value, Value::is_boolean),
            Kind::Float => self.scalar(path, "float64", value, Value::is_number),
            Kind::Int => self.int(path, value),
            Kind::Port => {
                let port = self.int(path, value)?;
                match port.as_i64() {
                    Some(n) if n > 65535 => {
                        self.errors.push(format!("{path}: invalid port: {n}"));
                        None
                    }
                    _ => Some(port),
                }
            }
            Kind::Duration => {
                let text = self.scalar(path, "string", value, Value::is_string)?;
                let raw = text.as_str().unwrap_or_default();
                match go_duration::parse(raw) {
                    Ok(_) => Some(text),
                    Err(e) => {
                        self.errors.push(format!("{path}: invalid duration: {}: {e}", go_duration::quote(raw)));
                        None
                    }
                }
            }
            Kind::StrList | Kind::StartJoin => {
                let Value::Array(items) = value else {
                    self.errors.push(format!(
                        "'{path}': source data must be an array or slice, got {}",
                        go_kind(&value, self.format())
                    ));
                    return None;
                };
                let mut out = Vec::new();
                for (i, item) in items.into_iter().enumerate() {
                    out.extend(self.scalar(&format!("{path}[{i}]"), "string", item, Value::is_string));
                }
                Some(Value::Array(out))
            }
            Kind::AnyList => match value {
                Value::Array(_) => Some(value),
                Value::Object(_) => Some(Value::Array(vec![value])),
                other => {
                    self.errors.push(format!(
                        "'{path}': source data must be an array or slice, got {}",
                        go_kind(&other, self.format())
                    ));
                    None
                }
            },
            Kind::StrMap | Kind::AnyMap => {
                let object = self.object(path, value)?;
                if matches!(key.kind, Kind::AnyMap) {
                    return Some(Value::Object(object));
                }
                let mut out = Map::new();
                for (k, v) in object {
                    if v.is_null() {
                        continue;
                    }
                    if let Some(v) = self.scalar(&format!("{path}[{k}]"), "string", v, Value::is_string) {
                        out.insert(k, v);
                    }
                }
                Some(Value::Object(out))
            }
            Kind::Any => Some(value),
            Kind::Block(keys) => {
                let object = self.object(path, value)?;
                Some(Value::Object(self.block(keys, path, object)))
            }
            Kind::Services => {
                for (at, item) in self.definitions(path, value) {
                    match crate::decode::from_value::<ServiceDefinition>(item.clone()) {
                        Ok(service) => self.services.push(service),
                        Err(e) => self.errors.push(definition_error(&at, &item, &e)),
                    }
                }
                None
            }
            Kind::Checks => {
                for (at, item) in self.definitions(path, value) {
                    match crate::decode::from_value::<CheckDefinition>(item.clone()) {
                        Ok(check) => self.checks.push(check),
                        Err(e) => self.errors.push(definition_error(&at, &item, &e)),
                    }
                }
                None
            }
        }
    }

    fn scalar(&mut self, path: &str, want: &str, value: Value, ok: fn(&Value) -> bool) -> Option<Value> {
        if ok(&value) {
            return Some(value);
        }
        self.type_error(path, want, &value);
        None
    }

    /// An integer; JSON numbers are floats, so a whole float is taken.
    fn int(&mut self, path: &str, value: Value) -> Option<Value> {
        if let Some(n) = value.as_i64() {
            return Some(Value::from(n));
        }
        match value.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some(Value::from(f as i64)),
            _ => {
                self.type_error(path, "int", &value);
                None
            }
        }
    }

    /// A block's object; HCL's repeated-block list of one is unwrapped
    /// (Consul's HookWeakDecodeFromSlice).
    fn object(&mut self, path: &str, value: Value) -> Option<Map<String, Value>> {
        match value {
            Value::Object(object) => Some(object),
            Value::Array(mut items) if items.len() == 1 && items[0].is_object() => match items.remove(0) {
                Value::Object(object) => Some(object),
                _ => None,
            },
            other => {
                self.errors.push(format!("'{path}' expected a map, got '{}'", go_kind(&other, self.format())));
                None
            }
        }
    }

    /// Each definition given under `service(s)` / `check(s)`, one object or
    /// a list, with its path, shapes normalized.
    fn definitions(&mut self, path: &str, value: Value) -> Vec<(String, Value)> {
        let items: Vec<(String, Value)> = match value {
            Value::Object(_) => vec![(path.to_string(), value)],
            Value::Array(items) => items.into_iter().enumerate().map(|(i, v)| (format!("{path}[{i}]"), v)).collect(),
            other => {
                self.errors.push(format!("'{path}' expected a map, got '{}'", go_kind(&other, self.format())));
                return Vec::new();
            }
        };
        items
            .into_iter()
            .filter_map(|(at, mut item)| {
                if !item.is_object() {
                    self.errors.push(format!("'{at}' expected a map, got '{}'", go_kind(&item, self.format())));
                    return None;
                }
                normalize_shapes(&mut item);
                Some((at, item))
            })
            .collect()
    }

    fn type_error(&mut self, path: &str, want: &str, got: &Value) {
        let shown = match got {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.errors.push(format!(
            "'{path}' expected type '{want}', got unconvertible type '{}', value: '{shown}'",
            go_type(got, self.format())
        ));
    }
}

/// Adds one canonical entry to `into` with the merge rules of its kind.
fn merge_entry(keys: &'static [Key], into: &mut Map<String, Value>, name: String, value: Value) {
    let kind = schema::find(keys, &name).map(|k| k.kind);
    match (kind, into.get_mut(&name), value) {
        (Some(Kind::Block(inner)), Some(Value::Object(existing)), Value::Object(later)) => {
            merge_block(inner, existing, later)
        }
        (Some(Kind::StrList | Kind::AnyList | Kind::StartJoin), Some(Value::Array(existing)), Value::Array(later)) => {
            existing.extend(later)
        }
        (Some(Kind::StrMap | Kind::AnyMap), Some(Value::Object(existing)), Value::Object(later)) => {
            existing.extend(later)
        }
        (_, Some(slot), later) => *slot = later,
        (_, None, later) => {
            into.insert(name, later);
        }
    }
}

fn merge_block(keys: &'static [Key], into: &mut Map<String, Value>, later: Map<String, Value>) {
    for (name, value) in later {
        merge_entry(keys, into, name, value);
    }
}

/// Go's type name for a decoded value, as mapstructure prints it.
fn go_type(value: &Value, format: Format) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if format == Format::Hcl && (n.is_i64() || n.is_u64()) => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's reflect kind name, as mapstructure prints it for containers.
fn go_kind(value: &Value, format: Format) -> &'static str {
    match value {
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
        other => go_type(other, format),
    }
}

/// A key as `tessera_mesh::decode` matches definition fields: case and
/// underscores ignored.
fn fold(key: &str) -> String {
    key.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

/// Keys of definitions whose values are data, not fields.
const FREE_FORM: &[&str] = &[
    "meta",
    "config",
    "header",
    "taggedaddresses",
    "locality",
    "meshgateway",
    "expose",
    "transparentproxy",
    "accesslogs",
];

/// HCL writes a block once as an object and repeated as a list: lists of
/// one block are unwrapped where a definition wants one, single blocks
/// wrapped where it wants a list (Consul's HookWeakDecodeFromSlice).
fn normalize_shapes(value: &mut Value) {
    const LISTS: &[&str] = &["checks", "upstreams"];
    const SINGLES: &[&str] = &["check", "connect", "proxy", "sidecarservice", "weights"];
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let folded = fold(key);
                if FREE_FORM.contains(&folded.as_str()) {
                    continue;
                }
                if LISTS.contains(&folded.as_str()) && v.is_object() {
                    *v = Value::Array(vec![v.take()]);
                }
                if SINGLES.contains(&folded.as_str()) {
                    if let Value::Array(items) = v {
                        if items.len() == 1 && items[0].is_object() {
                            *v = items.remove(0);
                        }
                    }
                }
                normalize_shapes(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_shapes),
        _ => {}
    }
}

/// A definition's decoding error: an unknown field as Consul names it
/// (`invalid config key services[0].connect.prot`), else the error at
/// the definition's path.
fn definition_error(path: &str, item: &Value, e: &serde_json::Error) -> String {
    let text = e.to_string();
    let unknown = text.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`')).map(|(field, _)| field);
    match unknown {
        Some(field) => {
            let at = find_key(item, field).unwrap_or_else(|| format!(".{field}"));
            format!("invalid config key {path}{at}")
        }
        None => format!("{path}: {text}"),
    }
}

/// Where `field` is a key in `value` (shallowest first, outside data maps):
/// `.a.b[1].field`.
fn find_key(value: &Value, field: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.contains_key(field) {
                return Some(format!(".{field}"));
            }
            map.iter()
                .filter(|(k, _)| !FREE_FORM.contains(&fold(k).as_str()))
                .find_map(|(k, v)| find_key(v, field).map(|sub| format!(".{k}{sub}")))
        }
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| find_key(v, field).map(|sub| format!("[{i}]{sub}")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
