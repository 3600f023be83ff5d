//! The authorizer against a brute-force reference over random rule sets:
//! the reference scans every rule of every policy for each check, with no
//! merging step and no trie, straight from the precedence as documented.
//! Random policies also go through HCL and JSON text and back.

use rand::rngs::StdRng;
use rand::Rng;
use rand::SeedableRng;

use crate::acl::parse;
use crate::acl::Access;
use crate::acl::Authorizer;
use crate::acl::Decision;
use crate::acl::DefaultPolicy;
use crate::acl::Level;
use crate::acl::NamedRule;
use crate::acl::Resource;
use crate::acl::Rules;
use crate::acl::Section;

const CASES: u64 = 2000;
const CHECKS_PER_CASE: usize = 40;

/// Names from a tiny alphabet, so exact and prefix rules collide often.
fn name(rng: &mut StdRng) -> String {
    let len = rng.gen_range(0..4);
    (0..len).map(|_| ['a', 'b', '/'][rng.gen_range(0..3)]).collect()
}

fn level(rng: &mut StdRng, allow_list: bool) -> Level {
    loop {
        let l = [Level::Deny, Level::Read, Level::List, Level::Write][rng.gen_range(0..4)];
        if allow_list || l != Level::List {
            return l;
        }
    }
}

fn scalar(rng: &mut StdRng) -> Option<Level> {
    if rng.gen_bool(0.5) {
        None
    } else {
        Some(level(rng, false))
    }
}

fn policy(rng: &mut StdRng) -> Rules {
    let mut rules = Rules {
        acl: scalar(rng),
        keyring: scalar(rng),
        operator: scalar(rng),
        mesh: scalar(rng),
        peering: scalar(rng),
        named: Vec::new(),
    };
    for _ in 0..rng.gen_range(0..10) {
        let section = Section::ALL[rng.gen_range(0..Section::ALL.len())];
        let mut rule = NamedRule::new(section, name(rng), level(rng, section.resource() == Resource::Key));
        if section.resource() == Resource::Service && rng.gen_bool(0.4) {
            rule.intentions = Some(level(rng, false));
        }
        rules.named.push(rule);
    }
    rules
}

fn access(rng: &mut StdRng) -> Access {
    [Access::Read, Access::List, Access::Write][rng.gen_range(0..3)]
}

/// The strongest of some levels, by Consul's merge ranking.
fn strongest(levels: impl Iterator<Item = Level>) -> Option<Level> {
    levels.max_by_key(|l| match l {
        Level::Read => 1,
        Level::List => 2,
        Level::Write => 3,
        Level::Deny => 4,
    })
}

fn verdict(level: Option<Level>, access: Access) -> Option<bool> {
    level.map(|l| match l {
        Level::Write => true,
        Level::List => access != Access::Write,
        Level::Read => access == Access::Read,
        Level::Deny => false,
    })
}

/// Every rule of every policy for a named resource (service rules for
/// intentions, carrying their intentions level).
fn all_rules(policies: &[Rules], resource: Resource) -> Vec<&NamedRule> {
    let source = if resource == Resource::Intention { Resource::Service } else { resource };
    policies.iter().flat_map(|p| p.named.iter()).filter(|r| r.section.resource() == source).collect()
}

/// The effective level of the rules with one key (kind and name), merged
/// as documented; intentions derived from the merged service level when
/// none is given.
fn level_at(rules: &[&NamedRule], prefix: bool, key: &str, intentions: bool) -> Option<Level> {
    let same: Vec<&&NamedRule> = rules.iter().filter(|r| r.section.is_prefix() == prefix && r.name == key).collect();
    let policy = strongest(same.iter().map(|r| r.level))?;
    if !intentions {
        return Some(policy);
    }
    strongest(same.iter().filter_map(|r| r.intentions)).or(Some(match policy {
        Level::Read | Level::Write => Level::Read,
        _ => Level::Deny,
    }))
}

/// The rule governing `name`: exact, else the longest covering prefix.
fn governing(rules: &[&NamedRule], name: &str, intentions: bool) -> Option<Level> {
    if rules.iter().any(|r| !r.section.is_prefix() && r.name == name) {
        return level_at(rules, false, name, intentions);
    }
    let longest =
        rules.iter().filter(|r| r.section.is_prefix() && name.starts_with(&r.name)).map(|r| r.name.len()).max()?;
    level_at(rules, true, &name[..longest], intentions)
}

/// Every key (kind, name) that has rules, with its effective level.
fn keys(rules: &[&NamedRule], intentions: bool) -> Vec<(bool, String, Level)> {
    let mut keys: Vec<(bool, String)> = rules.iter().map(|r| (r.section.is_prefix(), r.name.clone())).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(p, k)| {
            let l = level_at(rules, p, &k, intentions).unwrap();
            (p, k, l)
        })
        .collect()
}

fn any_allowed(rules: &[&NamedRule], access: Access, intentions: bool) -> Option<bool> {
    let keys = keys(rules, intentions);
    if keys.iter().any(|(_, _, l)| verdict(Some(*l), access) == Some(true)) {
        return Some(true);
    }
    // Nothing allows: a "" prefix rule (then denying) answers, else none.
    keys.iter().find(|(p, k, _)| *p && k.is_empty()).map(|_| false)
}

fn all_allowed(rules: &[&NamedRule], access: Access, intentions: bool) -> Option<bool> {
    let keys = keys(rules, intentions);
    if keys.iter().any(|(_, _, l)| verdict(Some(*l), access) == Some(false)) {
        return Some(false);
    }
    keys.iter().find(|(p, k, _)| *p && k.is_empty()).map(|_| true)
}

fn fallback(resource: Resource, default: DefaultPolicy) -> bool {
    default == DefaultPolicy::Allow && resource != Resource::Acl
}

fn reference(policies: &[Rules], default: DefaultPolicy, resource: Resource, name: &str, access: Access) -> bool {
    let scalar = |get: fn(&Rules) -> Option<Level>| strongest(policies.iter().filter_map(get));
    let spoke = match resource {
        Resource::Acl => verdict(scalar(|p| p.acl), access),
        Resource::Keyring => verdict(scalar(|p| p.keyring), access),
        Resource::Operator => verdict(scalar(|p| p.operator), access),
        Resource::Mesh => verdict(scalar(|p| p.mesh).or(scalar(|p| p.operator)), access),
        Resource::Peering => verdict(scalar(|p| p.peering).or(scalar(|p| p.operator)), access),
        Resource::Intention if name == "*" => {
            let rules = all_rules(policies, resource);
            match access {
                Access::Write => all_allowed(&rules, access, true),
                _ => any_allowed(&rules, access, true),
            }
        }
        named => {
            let rules = all_rules(policies, named);
            verdict(governing(&rules, name, named == Resource::Intention), access)
        }
    };
    spoke.unwrap_or_else(|| fallback(resource, default))
}

fn reference_write_prefix(policies: &[Rules], default: DefaultPolicy, prefix: &str) -> bool {
    let rules = all_rules(policies, Resource::Key);
    let covering =
        rules.iter().filter(|r| r.section.is_prefix() && prefix.starts_with(&r.name)).map(|r| r.name.len()).max();
    let base = covering.and_then(|len| level_at(&rules, true, &prefix[..len], false));
    if base.is_some_and(|l| l != Level::Write) {
        return false;
    }
    let under = keys(&rules, false).into_iter().any(|(_, k, l)| k.starts_with(prefix) && l != Level::Write);
    if under {
        return false;
    }
    base.is_some() || default == DefaultPolicy::Allow
}

#[test]
fn authorizer_matches_brute_force() {
    for seed in 0..CASES {
        let mut rng = StdRng::seed_from_u64(seed);
        let policies: Vec<Rules> = (0..rng.gen_range(0..4)).map(|_| policy(&mut rng)).collect();
        let default = if rng.gen_bool(0.5) { DefaultPolicy::Allow } else { DefaultPolicy::Deny };
        let authz = Authorizer::new(&policies, default);
        for _ in 0..CHECKS_PER_CASE {
            let resource = Resource::ALL[rng.gen_range(0..Resource::ALL.len())];
            let name =
                if resource == Resource::Intention && rng.gen_bool(0.2) { "*".to_string() } else { name(&mut rng) };
            let access = access(&mut rng);
            let want = reference(&policies, default, resource, &name, access);
            let got = authz.allowed(resource, &name, access) == Decision::Allow;
            assert_eq!(got, want, "seed {seed}: {resource}:{access} on {name:?}\n{policies:#?}\ndefault {default:?}");
        }
        for _ in 0..4 {
            let prefix = name(&mut rng);
            let want = reference_write_prefix(&policies, default, &prefix);
            assert_eq!(
                authz.key_write_prefix(&prefix).is_allowed(),
                want,
                "seed {seed}: write prefix {prefix:?}\n{policies:#?}"
            );
        }
        let services = all_rules(&policies, Resource::Service);
        let nodes = all_rules(&policies, Resource::Node);
        let or_default = |v: Option<bool>| v.unwrap_or(default == DefaultPolicy::Allow);
        assert_eq!(
            authz.service_write_any().is_allowed(),
            or_default(any_allowed(&services, Access::Write, false)),
            "seed {seed}"
        );
        assert_eq!(
            authz.service_read_all().is_allowed(),
            or_default(all_allowed(&services, Access::Read, false)),
            "seed {seed}"
        );
        assert_eq!(
            authz.node_read_all().is_allowed(),
            or_default(all_allowed(&nodes, Access::Read, false)),
            "seed {seed}"
        );
    }
}

/// A policy written out as Consul's HCL blocks.
fn to_hcl(rules: &Rules) -> String {
    let mut out = String::new();
    for (word, level) in [
        ("acl", rules.acl),
        ("keyring", rules.keyring),
        ("operator", rules.operator),
        ("mesh", rules.mesh),
        ("peering", rules.peering),
    ] {
        if let Some(l) = level {
            out.push_str(&format!("{word} = \"{l}\"\n"));
        }
    }
    for r in &rules.named {
        match r.intentions {
            // One line, as Consul's HCL allows.
            Some(i) => out.push_str(&format!(
                "{} {:?} {{ policy = \"{}\" intentions = \"{i}\" }}\n",
                r.section.keyword(),
                r.name,
                r.level
            )),
            None => out.push_str(&format!("{} {:?} {{\n  policy = \"{}\"\n}}\n", r.section.keyword(), r.name, r.level)),
        }
    }
    out
}

/// A policy as JSON, each section a list of one-rule objects (the list
/// form), so repeated names survive.
fn to_json(rules: &Rules) -> String {
    let mut top = serde_json::Map::new();
    for (word, level) in [
        ("acl", rules.acl),
        ("keyring", rules.keyring),
        ("operator", rules.operator),
        ("mesh", rules.mesh),
        ("peering", rules.peering),
    ] {
        if let Some(l) = level {
            top.insert(word.to_string(), l.as_str().into());
        }
    }
    for r in &rules.named {
        let mut body = serde_json::json!({ "policy": r.level.as_str() });
        if let Some(i) = r.intentions {
            body["intentions"] = i.as_str().into();
        }
        let entry = top.entry(r.section.keyword()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
        entry.as_array_mut().unwrap().push(serde_json::json!({ r.name.clone(): body }));
    }
    serde_json::Value::Object(top).to_string()
}

fn sorted(mut rules: Rules) -> Rules {
    rules.named.sort_by(|a, b| {
        (a.section, &a.name, a.level.as_str(), a.intentions.map(Level::as_str)).cmp(&(
            b.section,
            &b.name,
            b.level.as_str(),
            b.intentions.map(Level::as_str),
        ))
    });
    rules
}

#[test]
fn rules_round_trip_through_hcl_and_json() {
    for seed in 0..CASES {
        let mut rng = StdRng::seed_from_u64(seed);
        let rules = policy(&mut rng);
        for text in [to_hcl(&rules), to_json(&rules)] {
            let parsed = parse(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            assert_eq!(sorted(parsed), sorted(rules.clone()), "seed {seed}\n{text}");
        }
    }
}
