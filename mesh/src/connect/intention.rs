//! Intentions: which service may open connections to which. Each one names
//! a source and a destination (an exact service name or `*`) and an action.
//! [`evaluate`] is the one decision every component uses: the intentions
//! that match the destination are tried from most to least specific and
//! the first whose source matches decides; with none, the default policy.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::Serialize;

pub const WILDCARD: &str = "*";

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        })
    }
}

impl FromStr for Action {
    type Err = IntentionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "allow" => Ok(Action::Allow),
            "deny" => Ok(Action::Deny),
            _ => Err(IntentionError::BadAction(text.to_string())),
        }
    }
}

/// What decides when no intention matches (`default_intention_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultPolicy {
    #[default]
    Allow,
    Deny,
}

impl FromStr for DefaultPolicy {
    type Err = IntentionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<Action>()? {
            Action::Allow => Ok(DefaultPolicy::Allow),
            Action::Deny => Ok(DefaultPolicy::Deny),
        }
    }
}

impl fmt::Display for DefaultPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultPolicy::Allow => "allow",
            DefaultPolicy::Deny => "deny",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentionError {
    #[error("action must be allow or deny, got {0:?}")]
    BadAction(String),
    #[error("{field}: {reason} (got {value:?})")]
    BadName { field: &'static str, value: String, reason: &'static str },
}

/// One stored intention. The (source, destination) pair is unique.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intention {
    pub id: String,
    pub source: String,
    pub destination: String,
    pub action: Action,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

impl Intention {
    pub fn precedence(&self) -> u32 {
        precedence(&self.source, &self.destination)
    }

    /// `web => db (allow)`, as the CLI and authorize reasons print it.
    pub fn summary(&self) -> String {
        format!("{} => {} ({})", self.source, self.destination, self.action)
    }
}

/// Consul's precedence for the default namespace: an exact destination
/// outranks a wildcard one, then an exact source outranks a wildcard one.
pub fn precedence(source: &str, destination: &str) -> u32 {
    match (source == WILDCARD, destination == WILDCARD) {
        (false, false) => 9,
        (true, false) => 8,
        (false, true) => 6,
        (true, true) => 5,
    }
}

/// A source or destination: an exact service name or `*`, nothing partial.
pub fn validate_name(field: &'static str, value: &str) -> Result<(), IntentionError> {
    let bad = |reason| Err(IntentionError::BadName { field, value: value.to_string(), reason });
    if value.is_empty() {
        return bad("must not be empty");
    }
    if value != WILDCARD && value.contains('*') {
        return bad("a wildcard must be the whole name (\"*\")");
    }
    if value.chars().any(|c| c.is_whitespace() || c == '/') {
        return bad("must not contain spaces or '/'");
    }
    Ok(())
}

/// Does an intention's source or destination `pattern` (a name or `*`) cover `name`?
pub fn name_matches(pattern: &str, name: &str) -> bool {
    pattern == WILDCARD || pattern == name
}

/// Evaluation order: precedence, highest first; ties (only possible between
/// intentions that cannot both match one pair) ordered by name for stable output.
pub fn evaluation_order(a: &Intention, b: &Intention) -> std::cmp::Ordering {
    b.precedence()
        .cmp(&a.precedence())
        .then_with(|| a.source.cmp(&b.source))
        .then_with(|| a.destination.cmp(&b.destination))
}

/// Intentions whose destination matches `name`, in evaluation order.
pub fn matching_destination<'a>(intentions: impl IntoIterator<Item = &'a Intention>, name: &str) -> Vec<&'a Intention> {
    let mut matched: Vec<&Intention> = intentions.into_iter().filter(|i| name_matches(&i.destination, name)).collect();
    matched.sort_by(|a, b| evaluation_order(a, b));
    matched
}

/// Intentions whose source matches `name`, in evaluation order.
pub fn matching_source<'a>(intentions: impl IntoIterator<Item = &'a Intention>, name: &str) -> Vec<&'a Intention> {
    let mut matched: Vec<&Intention> = intentions.into_iter().filter(|i| name_matches(&i.source, name)).collect();
    matched.sort_by(|a, b| evaluation_order(a, b));
    matched
}

/// The answer to "may `source` connect to `destination`?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
    /// The intention that decided, if any did.
    pub matched: Option<Intention>,
}

pub fn evaluate<'a>(
    intentions: impl IntoIterator<Item = &'a Intention>,
    source: &str,
    destination: &str,
    default: DefaultPolicy,
) -> Decision {
    let decisive = matching_destination(intentions, destination).into_iter().find(|i| name_matches(&i.source, source));
    decision(decisive, default)
}

/// The intentions that can decide connections to one destination, in
/// evaluation order: sorted once when they change, then asked for each
/// connection. Answers as [`evaluate`] does.
#[derive(Debug, Clone)]
pub struct DestinationRules {
    ordered: Vec<Intention>,
    default: DefaultPolicy,
}

impl DestinationRules {
    pub fn new(intentions: &[Intention], destination: &str, default: DefaultPolicy) -> Self {
        let ordered = matching_destination(intentions, destination).into_iter().cloned().collect();
        DestinationRules { ordered, default }
    }

    fn decisive(&self, source: &str) -> Option<&Intention> {
        self.ordered.iter().find(|i| name_matches(&i.source, source))
    }

    /// The verdict alone, without building a reason.
    pub fn allows(&self, source: &str) -> bool {
        self.decisive(source).map_or(self.default == DefaultPolicy::Allow, |i| i.action == Action::Allow)
    }

    pub fn decide(&self, source: &str) -> Decision {
        decision(self.decisive(source), self.default)
    }
}

fn decision(decisive: Option<&Intention>, default: DefaultPolicy) -> Decision {
    match decisive {
        Some(intention) => Decision {
            allowed: intention.action == Action::Allow,
            reason: format!("Matched L4 intention: {}", intention.summary()),
            matched: Some(intention.clone()),
        },
        None => Decision {
            allowed: default == DefaultPolicy::Allow,
            // Consul's wording: with ACLs off the default is allow; a deny
            // default is "configured by ACLs" there, by the agent flag here.
            reason: match default {
                DefaultPolicy::Allow => "ACLs disabled, access is allowed by default".to_string(),
                DefaultPolicy::Deny => "Default behavior configured by ACLs".to_string(),
            },
            matched: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intention(source: &str, destination: &str, action: Action) -> Intention {
        Intention {
            id: format!("{source}->{destination}"),
            source: source.into(),
            destination: destination.into(),
            action,
            description: String::new(),
            meta: BTreeMap::new(),
            create_index: 1,
            modify_index: 1,
        }
    }

    #[test]
    fn precedence_table() {
        assert_eq!(precedence("web", "db"), 9);
        assert_eq!(precedence("*", "db"), 8);
        assert_eq!(precedence("web", "*"), 6);
        assert_eq!(precedence("*", "*"), 5);
    }

    #[test]
    fn the_most_specific_match_decides() {
        use Action::*;
        let set = vec![intention("*", "*", Deny), intention("web", "*", Allow), intention("*", "db", Deny)];
        let cases = [
            // (source, destination, allowed, decided by)
            ("web", "db", false, Some("* => db (deny)")),
            ("web", "cache", true, Some("web => * (allow)")),
            ("api", "cache", false, Some("* => * (deny)")),
        ];
        for (source, destination, allowed, by) in cases {
            let d = evaluate(&set, source, destination, DefaultPolicy::Allow);
            assert_eq!(d.allowed, allowed, "{source} -> {destination}");
            assert_eq!(d.matched.map(|i| i.summary()).as_deref(), by, "{source} -> {destination}");
        }
    }

    #[test]
    fn exact_deny_beats_wildcard_allow_and_the_default_applies_without_a_match() {
        use Action::*;
        let set = vec![intention("*", "socat", Allow), intention("web", "socat", Deny)];
        let d = evaluate(&set, "web", "socat", DefaultPolicy::Allow);
        assert!(!d.allowed);
        assert_eq!(d.reason, "Matched L4 intention: web => socat (deny)");
        assert!(evaluate(&set, "api", "socat", DefaultPolicy::Deny).allowed);
        assert!(evaluate(&set, "api", "db", DefaultPolicy::Allow).allowed);
        let none = evaluate(&set, "api", "db", DefaultPolicy::Deny);
        assert!(!none.allowed && none.matched.is_none());
    }

    #[test]
    fn names_are_exact_or_a_whole_wildcard() {
        assert!(validate_name("source", "web").is_ok());
        assert!(validate_name("source", "*").is_ok());
        assert!(validate_name("source", "web*").is_err());
        assert!(validate_name("destination", "").is_err());
        assert!(validate_name("destination", "a b").is_err());
    }

    /// Reference semantics, written independently of `evaluate`: the exact
    /// pair, then a wildcard source, then a wildcard destination, then both
    /// wildcards; the first stored pair decides, else the default.
    fn reference<'a>(set: &'a [Intention], source: &str, destination: &str) -> Option<&'a Intention> {
        [(source, destination), (WILDCARD, destination), (source, WILDCARD), (WILDCARD, WILDCARD)]
            .into_iter()
            .find_map(|(s, d)| set.iter().find(|i| i.source == s && i.destination == d))
    }

    #[test]
    fn evaluate_agrees_with_the_reference_on_random_sets() {
        use rand::rngs::StdRng;
        use rand::seq::SliceRandom;
        use rand::Rng;
        use rand::SeedableRng;

        const POOL: [&str; 4] = ["a", "b", "c", "*"];
        const QUERIES: [&str; 4] = ["a", "b", "c", "d"];
        let mut rng = StdRng::seed_from_u64(0x7e55e7a);
        for case in 0..2_000 {
            // Each (source, destination) pair at most once, in random order.
            let mut set: Vec<Intention> = Vec::new();
            for source in POOL {
                for destination in POOL {
                    if rng.gen_bool(0.4) {
                        let action = if rng.gen_bool(0.5) { Action::Allow } else { Action::Deny };
                        set.push(intention(source, destination, action));
                    }
                }
            }
            set.shuffle(&mut rng);
            let default = if rng.gen_bool(0.5) { DefaultPolicy::Allow } else { DefaultPolicy::Deny };
            for _ in 0..4 {
                let source = *QUERIES.choose(&mut rng).unwrap();
                let destination = *QUERIES.choose(&mut rng).unwrap();
                let want = reference(&set, source, destination);
                let want_allowed = want.map_or(default == DefaultPolicy::Allow, |i| i.action == Action::Allow);
                let got = evaluate(&set, source, destination, default);
                let context = format!("case {case}: {source} -> {destination}, default {default}, set {set:?}");
                assert_eq!(got.allowed, want_allowed, "{context}");
                assert_eq!(got.matched.as_ref(), want, "{context}");
                let rules = DestinationRules::new(&set, destination, default);
                assert_eq!(rules.allows(source), want_allowed, "{context}");
                assert_eq!(rules.decide(source), got, "{context}");
            }
        }
    }
}
