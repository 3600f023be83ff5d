//! The rules language: HCL and JSON, good and bad.

use crate::acl::parse;
use crate::acl::Level;
use crate::acl::NamedRule;
use crate::acl::Rules;
use crate::acl::Section;
use crate::acl::GLOBAL_MANAGEMENT_RULES;

fn rule(section: Section, name: &str, level: Level) -> NamedRule {
    NamedRule::new(section, name, level)
}

/// Every resource once, in HCL and in JSON: both give the same rules.
#[test]
fn every_resource_in_hcl_and_json() {
    let hcl = r#"
        acl = "read"
        agent "a" { policy = "read" }
        agent_prefix "" { policy = "write" }
        event "e" { policy = "write" }
        event_prefix "" { policy = "read" }
        key "k/x" { policy = "deny" }
        key_prefix "k/" { policy = "list" }
        keyring = "write"
        mesh = "read"
        peering = "deny"
        node "n" { policy = "write" }
        node_prefix "" { policy = "read" }
        operator = "read"
        query "q" { policy = "write" }
        query_prefix "" { policy = "read" }
        service "web" {
          policy = "write"
          intentions = "write"
        }
        service_prefix "" { policy = "read" }
        session "n" { policy = "write" }
        session_prefix "" { policy = "deny" }
    "#;
    let json = r#"{
        "acl": "read",
        "agent": {"a": {"policy": "read"}},
        "agent_prefix": {"": {"policy": "write"}},
        "event": {"e": {"policy": "write"}},
        "event_prefix": {"": {"policy": "read"}},
        "key": {"k/x": {"policy": "deny"}},
        "key_prefix": {"k/": {"policy": "list"}},
        "keyring": "write",
        "mesh": "read",
        "peering": "deny",
        "node": {"n": {"policy": "write"}},
        "node_prefix": {"": {"policy": "read"}},
        "operator": "read",
        "query": {"q": {"policy": "write"}},
        "query_prefix": {"": {"policy": "read"}},
        "service": {"web": {"policy": "write", "intentions": "write"}},
        "service_prefix": {"": {"policy": "read"}},
        "session": {"n": {"policy": "write"}},
        "session_prefix": {"": {"policy": "deny"}}
    }"#;
    let expected = Rules {
        acl: Some(Level::Read),
        keyring: Some(Level::Write),
        operator: Some(Level::Read),
        mesh: Some(Level::Read),
        peering: Some(Level::Deny),
        named: vec![
            rule(Section::Agent, "a", Level::Read),
            rule(Section::AgentPrefix, "", Level::Write),
            rule(Section::Event, "e", Level::Write),
            rule(Section::EventPrefix, "", Level::Read),
            rule(Section::Key, "k/x", Level::Deny),
            rule(Section::KeyPrefix, "k/", Level::List),
            rule(Section::Node, "n", Level::Write),
            rule(Section::NodePrefix, "", Level::Read),
            rule(Section::Query, "q", Level::Write),
            rule(Section::QueryPrefix, "", Level::Read),
            rule(Section::Service, "web", Level::Write).with_intentions(Level::Write),
            rule(Section::ServicePrefix, "", Level::Read),
            rule(Section::Session, "n", Level::Write),
            rule(Section::SessionPrefix, "", Level::Deny),
        ],
    };
    for (format, text) in [("hcl", hcl), ("json", json)] {
        let mut got = parse(text).unwrap_or_else(|e| panic!("{format}: {e}"));
        got.named.sort_by(|a, b| (a.section, &a.name).cmp(&(b.section, &b.name)));
        let mut want = expected.clone();
        want.named.sort_by(|a, b| (a.section, &a.name).cmp(&(b.section, &b.name)));
        assert_eq!(got, want, "{format}");
    }
}

/// The shapes a section can take all read the same.
#[test]
fn block_object_and_list_forms() {
    let want = vec![rule(Section::Service, "web", Level::Write), rule(Section::Service, "db", Level::Read)];
    let cases = [
        "service \"web\" { policy = \"write\" }\nservice \"db\" { policy = \"read\" }",
        r#"service = { web = { policy = "write" }, db = { policy = "read" } }"#,
        r#"service = [{ web = { policy = "write" } }, { db = { policy = "read" } }]"#,
        r#"{"service": {"web": {"policy": "write"}, "db": {"policy": "read"}}}"#,
        r#"{"service": [{"web": {"policy": "write"}}, {"db": {"policy": "read"}}]}"#,
        r#"{"service": {"web": [{"policy": "write"}], "db": [{"policy": "read"}]}}"#,
    ];
    for text in cases {
        let mut got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).named;
        got.sort_by(|a, b| b.name.cmp(&a.name));
        assert_eq!(got, want, "{text}");
    }
}

/// A repeated block keeps both rules (the merge picks the stronger).
#[test]
fn repeated_block_keeps_both() {
    let got = parse("service \"web\" { policy = \"write\" }\nservice \"web\" { policy = \"deny\" }").unwrap();
    assert_eq!(
        got.named,
        vec![rule(Section::Service, "web", Level::Write), rule(Section::Service, "web", Level::Deny)]
    );
}

/// Consul's HCL takes several attributes on one line.
#[test]
fn one_line_block_with_two_attributes() {
    let got = parse(r#"service "foo" { policy = "write" intentions = "read" }"#).unwrap();
    assert_eq!(got.named, vec![rule(Section::Service, "foo", Level::Write).with_intentions(Level::Read)]);
    // A string holding the same pattern is left alone.
    let got = parse(r#"key "a\" b = c" { policy = "read" }  # x" y = "z"#).unwrap();
    assert_eq!(got.named, vec![rule(Section::Key, "a\" b = c", Level::Read)]);
    // Names are any text.
    let got = parse(r#"node "nœud-é" { policy = "read" } # ü"#).unwrap();
    assert_eq!(got.named, vec![rule(Section::Node, "nœud-é", Level::Read)]);
}

#[test]
fn comments_levels_any_case_and_empty() {
    let text = "# top\n// also\n/* block \"x\" y = */ operator = \"WRITE\"\nkey_prefix \"\" {\n  policy = \"List\" # trailing\n}";
    let got = parse(text).unwrap();
    assert_eq!(got.operator, Some(Level::Write));
    assert_eq!(got.named, vec![rule(Section::KeyPrefix, "", Level::List)]);
    assert_eq!(parse("").unwrap(), Rules::default());
    assert_eq!(parse("  \n ").unwrap(), Rules::default());
    assert_eq!(parse("{}").unwrap(), Rules::default());
    // An empty scalar is unset, as in Consul.
    let got = parse(r#"keyring = "" operator = """#.replace(" operator", "\noperator").as_str()).unwrap();
    assert_eq!(got, Rules::default());
}

#[test]
fn global_management_rules() {
    let rules = parse(GLOBAL_MANAGEMENT_RULES).unwrap();
    for resource in [rules.acl, rules.keyring, rules.operator, rules.mesh, rules.peering] {
        assert_eq!(resource, Some(Level::Write));
    }
    assert_eq!(rules.named.len(), 7);
    assert!(rules.named.iter().all(|r| r.section.is_prefix() && r.name.is_empty() && r.level == Level::Write));
    let service = rules.named.iter().find(|r| r.section == Section::ServicePrefix).unwrap();
    assert_eq!(service.intentions, Some(Level::Write));
}

/// Bad levels: Consul's message, whole, for HCL and JSON alike.
#[test]
fn invalid_levels() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"acl = "list""#, r#"{"acl": "list"}"#, r#"Invalid acl policy: "list""#),
        (
            r#"agent "foo" { policy = "nope" }"#,
            r#"{"agent": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid agent policy: &acl.AgentRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"agent_prefix "foo" { policy = "nope" }"#,
            r#"{"agent_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid agent_prefix policy: &acl.AgentRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"key "foo" { policy = "nope" }"#,
            r#"{"key": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"key_prefix "foo" { policy = "nope" }"#,
            r#"{"key_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid key_prefix policy: &acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"node "foo" { policy = "list" }"#,
            r#"{"node": {"foo": {"policy": "list"}}}"#,
            r#"Invalid node policy: &acl.NodeRule{Name:"foo", Policy:"list", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"node_prefix "foo" { policy = "nope" }"#,
            r#"{"node_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid node_prefix policy: &acl.NodeRule{Name:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service "foo" { policy = "nope" }"#,
            r#"{"service": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid service policy: &acl.ServiceRule{Name:"foo", Policy:"nope", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service_prefix "foo" { policy = "nope" }"#,
            r#"{"service_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid service_prefix policy: &acl.ServiceRule{Name:"foo", Policy:"nope", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service "foo" { policy = "write" intentions = "foo" }"#,
            r#"{"service": {"foo": {"policy": "write", "intentions": "foo"}}}"#,
            r#"Invalid service intentions policy: &acl.ServiceRule{Name:"foo", Policy:"write", Intentions:"foo", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"service_prefix "" { policy = "read" intentions = "list" }"#,
            r#"{"service_prefix": {"": {"policy": "read", "intentions": "list"}}}"#,
            r#"Invalid service_prefix intentions policy: &acl.ServiceRule{Name:"", Policy:"read", Intentions:"list", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
        (
            r#"session "foo" { policy = "nope" }"#,
            r#"{"session": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid session policy: &acl.SessionRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"session_prefix "foo" { policy = "nope" }"#,
            r#"{"session_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid session_prefix policy: &acl.SessionRule{Node:"foo", Policy:"nope"}"#,
        ),
        (
            r#"event "foo" { policy = "nope" }"#,
            r#"{"event": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid event policy: &acl.EventRule{Event:"foo", Policy:"nope"}"#,
        ),
        (
            r#"event_prefix "foo" { policy = "nope" }"#,
            r#"{"event_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid event_prefix policy: &acl.EventRule{Event:"foo", Policy:"nope"}"#,
        ),
        (
            r#"query "foo" { policy = "nope" }"#,
            r#"{"query": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid query policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}"#,
        ),
        (
            r#"query_prefix "foo" { policy = "nope" }"#,
            r#"{"query_prefix": {"foo": {"policy": "nope"}}}"#,
            r#"Invalid query_prefix policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}"#,
        ),
        (r#"keyring = "nope""#, r#"{"keyring": "nope"}"#, r#"Invalid keyring policy: "nope""#),
        (r#"operator = "list""#, r#"{"operator": "list"}"#, r#"Invalid operator policy: "list""#),
        (r#"mesh = "nope""#, r#"{"mesh": "nope"}"#, r#"Invalid mesh policy: "nope""#),
        (r#"peering = "nope""#, r#"{"peering": "nope"}"#, r#"Invalid peering policy: "nope""#),
        // A rule without a policy has the empty one, which is not a level.
        (
            r#"node "foo" {}"#,
            r#"{"node": {"foo": {}}}"#,
            r#"Invalid node policy: &acl.NodeRule{Name:"foo", Policy:"", EnterpriseRule:acl.EnterpriseRule{}}"#,
        ),
    ];
    for (hcl, json, want) in cases {
        for text in [hcl, json] {
            let err = parse(text).expect_err(text);
            assert_eq!(err.to_string(), *want, "{text}");
        }
    }
}

/// With several bad levels, the one Consul checks first is reported.
#[test]
fn first_error_in_consuls_order() {
    let text = "operator = \"x\"\nservice \"s\" { policy = \"x\" }\nagent \"a\" { policy = \"x\" }";
    assert!(parse(text).unwrap_err().to_string().starts_with("Invalid agent policy"));
    let text = "operator = \"x\"\nacl = \"x\"\nagent \"a\" { policy = \"x\" }";
    assert!(parse(text).unwrap_err().to_string().starts_with("Invalid acl policy"));
    let text = "peering = \"x\"\nsession \"s\" { policy = \"x\" }";
    assert!(parse(text).unwrap_err().to_string().starts_with("Invalid session policy"));
}

/// What does not decode: `Failed to parse ACL rules: ...`, naming the
/// problem.
#[test]
fn syntax_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"servce "web" { policy = "read" }"#, r#"unknown resource "servce""#),
        (r#"{"namespace_prefix": {"": {"policy": "read"}}}"#, r#"unknown resource "namespace_prefix""#),
        (r#"service "web" { polcy = "read" }"#, r#"unknown field "polcy" in service "web""#),
        (r#"node "n" { policy = "read" intentions = "read" }"#, r#"unknown field "intentions" in node "n""#),
        (r#"service "a" "b" { policy = "read" }"#, r#"unknown field "b" in service "a""#),
        (r#"service { policy = "read" }"#, r#"service "policy" expects a block, not a string"#),
        (r#"operator = 3"#, "operator expects a string, not a number"),
        (r#"{"key": "x"}"#, "key expects named blocks, not a string"),
        (r#"service "web" { policy = true }"#, r#"policy in service "web" expects a string, not a bool"#),
        ("service \"web\" {", "At "),
        ("operator = \"read\"\noperator = \"write\"", "At 2:1"),
        (r#"{"service": "#, "EOF while parsing"),
        ("[1]", "At 1:1"),
    ];
    for (text, want) in cases {
        let message = parse(text).expect_err(text).to_string();
        assert!(message.starts_with("Failed to parse ACL rules: "), "{text}: {message}");
        assert!(message.contains(want), "{text}: {message} lacks {want}");
    }
}

/// The fuzzer's slow input (19 unclosed brackets in 300 bytes, a second of
/// HCL backtracking) is refused at once; real rules nest 3 deep at most.
#[test]
fn deeply_nested_rules_are_refused_before_parsing() {
    let slow = include_bytes!("../../../../fuzz/slow/acl_rules-c30c6ca5");
    let started = std::time::Instant::now();
    let refused = parse(&String::from_utf8_lossy(slow)).unwrap_err();
    assert!(refused.to_string().contains("nest brackets more than 8 deep"), "{refused}");
    assert!(started.elapsed() < std::time::Duration::from_millis(100));
    let json = r#"{"service": {"web": {"policy": "write"}}, "key_prefix": {"": {"policy": "read"}}}"#;
    assert!(parse(json).is_ok());
    let quoted = "key \"{{{{{{{{{{\" {\n  policy = \"read\"\n}\n";
    assert!(parse(quoted).is_ok(), "brackets inside names do not count");
}
