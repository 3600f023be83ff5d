//! Tests for the filter language. Syntax-error texts marked "go-bexpr" are
//! copied from go-bexpr v0.1.2's own grammar tests (the parser Consul
//! uses); the others follow from its grammar and pigeon's rules.

use serde_json::{json, Value};

use super::ast::{Expr, Literal, Match, MatchOp, Selector};
use super::strconv::{self, NumError};
use super::{Filter, FilterError};

// ---------------------------------------------------------------- items

/// A `/v1/health/service/redis` entry.
fn health_entry() -> Value {
    json!({
        "Node": {
            "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
            "Node": "foobar",
            "Address": "10.1.10.12",
            "Datacenter": "dc1",
            "TaggedAddresses": {"lan": "10.1.10.12", "wan": "10.1.10.12"},
            "Meta": {"instance_type": "t2.medium", "env": "prod"}
        },
        "Service": {
            "ID": "redis",
            "Service": "redis",
            "Kind": "",
            "Tags": ["primary", "v1"],
            "Address": "10.1.10.12",
            "TaggedAddresses": {
                "lan": {"Address": "10.1.10.12", "Port": 8000},
                "wan": {"Address": "198.18.0.1", "Port": 80}
            },
            "Meta": {"redis_version": "4.0"},
            "Port": 8000,
            "Weights": {"Passing": 10, "Warning": 1},
            "EnableTagOverride": false
        },
        "Checks": [
            {
                "Node": "foobar",
                "CheckID": "serfHealth",
                "Name": "Serf Health Status",
                "Status": "passing",
                "Notes": "",
                "Output": "Agent alive and reachable",
                "ServiceID": "",
                "ServiceName": "",
                "ServiceTags": []
            },
            {
                "Node": "foobar",
                "CheckID": "service:redis",
                "Name": "Service 'redis' check",
                "Status": "warning",
                "Notes": "",
                "Output": "",
                "ServiceID": "redis",
                "ServiceName": "redis",
                "ServiceTags": ["primary"]
            }
        ]
    })
}

/// A `/v1/agent/services` value: a sidecar proxy.
fn agent_service() -> Value {
    json!({
        "Kind": "connect-proxy",
        "ID": "web-sidecar-proxy",
        "Service": "web-sidecar-proxy",
        "Tags": ["v2", "canary"],
        "Meta": {"version": "2.0", "team": "payments"},
        "Port": 21000,
        "Address": "",
        "TaggedAddresses": {"lan_ipv4": {"Address": "10.0.0.5", "Port": 21000}},
        "Weights": {"Passing": 1, "Warning": 1},
        "EnableTagOverride": true,
        "Proxy": {
            "DestinationServiceName": "web",
            "DestinationServiceID": "web",
            "LocalServiceAddress": "127.0.0.1",
            "LocalServicePort": 8080,
            "Mode": "",
            "MeshGateway": {},
            "Upstreams": [
                {"DestinationType": "service", "DestinationName": "db", "LocalBindPort": 9191},
                {"DestinationType": "service", "DestinationName": "cache", "LocalBindPort": 9192, "Datacenter": "dc2"}
            ]
        },
        "Datacenter": "dc1"
    })
}

/// A service whose Go nil slice and map came out as `null`.
fn bare_service() -> Value {
    json!({"ID": "db", "Service": "db", "Tags": null, "Meta": null, "Port": 5432})
}

/// A `/v1/catalog/nodes` element with keys only an index can select.
fn catalog_node() -> Value {
    json!({
        "ID": "b2a4",
        "Node": "n1",
        "Address": "10.0.0.1",
        "Datacenter": "dc1",
        "Meta": {"rack-id": "r1", "a.b": "dotted", "ünï": "çødé", "": "blank"},
        "TaggedAddresses": {}
    })
}

/// Numbers of every JSON flavour.
fn numbers() -> Value {
    json!({"Score": 1.5, "Neg": -3, "Big": 18446744073709551615u64, "Zero": 0})
}

// ---------------------------------------------------------------- helpers

fn check_all(item: &Value, cases: &[(&str, bool)]) {
    for &(expr, want) in cases {
        let filter = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}"));
        let got = filter.matches(item).unwrap_or_else(|e| panic!("{expr:?} failed: {e}"));
        assert_eq!(got, want, "{expr:?}");
    }
}

fn eval_errors(item: &Value, cases: &[(&str, &str)]) {
    for &(expr, want) in cases {
        let filter = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}"));
        match filter.matches(item) {
            Ok(got) => panic!("{expr:?} gave {got}, wanted error {want:?}"),
            Err(err) => assert_eq!(err.to_string(), want, "{expr:?}"),
        }
    }
}

fn syntax_error(expr: &str) -> String {
    match Filter::parse(expr) {
        Ok(filter) => panic!("{expr:?} parsed as {filter:?}"),
        Err(FilterError::Syntax(message)) => message,
        Err(other) => panic!("{expr:?}: not a syntax error: {other:?}"),
    }
}

fn parsed(expr: &str) -> Expr {
    Filter::parse(expr).unwrap_or_else(|e| panic!("{expr:?} does not parse: {e}")).expr
}

fn sel(path: &str) -> Selector {
    Selector { path: path.split('.').map(Into::into).collect() }
}

fn m(selector: &str, op: MatchOp, value: Option<&str>) -> Expr {
    Expr::Match(Match { selector: sel(selector), op, value: value.map(|v| Literal::new(v.to_string(), true)) })
}

fn eq(selector: &str, value: &str) -> Expr {
    m(selector, MatchOp::Equal, Some(value))
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

const HEALTH_FIELDS: &[&str] = &[
    "Node.ID",
    "Node.Node",
    "Node.Address",
    "Node.Datacenter",
    "Node.Meta",
    "Node.TaggedAddresses",
    "Service",
    "Checks",
];

const AGENT_SERVICE_FIELDS: &[&str] = &[
    "ID",
    "Service",
    "Kind",
    "Address",
    "Port",
    "Tags",
    "Meta",
    "TaggedAddresses.*.Address",
    "TaggedAddresses.*.Port",
    "Weights.Passing",
    "Weights.Warning",
    "EnableTagOverride",
    "Connect.Native",
    "Proxy",
];

// ---------------------------------------------------------------- operators

#[test]
fn equality_on_strings_is_exact_and_case_sensitive() {
    check_all(
        &health_entry(),
        &[
            ("Service.Service == redis", true),
            ("Service.Service == Redis", false),
            ("Service.Service == \"redis\"", true),
            ("Service.Service == `redis`", true),
            ("Service.Service == redi", false),
            ("Service.Service != redis", false),
            ("Service.Service != web", true),
            ("Node.Node == foobar", true),
            ("Service.Kind == \"\"", true),
            ("Service.Kind != \"\"", false),
            ("Node.Address == \"10.1.10.12\"", true),
            // A bare dotted word is a value too.
            ("Node.Meta.instance_type == t2.medium", true),
            // A number's text compares with a string field.
            ("Service.Meta.redis_version == 4.0", true),
            ("Service.Meta.redis_version == 4", false),
        ],
    );
}

#[test]
fn equality_coerces_to_numbers() {
    check_all(
        &health_entry(),
        &[
            ("Service.Port == 8000", true),
            ("Service.Port == 8001", false),
            ("Service.Port != 8000", false),
            ("Service.Port != 80", true),
            ("Service.Port == \"8000\"", true),
            // Go's ParseInt with base 0: prefixes and underscores.
            ("Service.Port == \"0x1F40\"", true),
            ("Service.Port == \"0o17500\"", true),
            ("Service.Port == \"017500\"", true),
            ("Service.Port == \"8_000\"", true),
            ("Service.Port == \"+8000\"", true),
            // Whole floats are written as integers by Go.
            ("Service.Port == 8000.0", true),
            ("Service.Port == 8000.5", false),
            ("Service.Weights.Passing == 10", true),
            ("Service.Weights.Warning == 1", true),
            ("Service.TaggedAddresses.lan.Port == 8000", true),
        ],
    );
    check_all(
        &numbers(),
        &[
            ("Score == 1.5", true),
            ("Score == 1.50", true),
            ("Score == \"15e-1\"", true),
            ("Score == \"1_5e-1\"", true),
            ("Score == 2", false),
            ("Score != 1.5", false),
            ("Neg == -3", true),
            ("Neg == \"-0x3\"", true),
            ("Neg != -3", false),
            ("Big == 18446744073709551615", true),
            ("Big == 18446744073709551614", false),
            ("Zero == 0", true),
            ("Zero == -0", true),
        ],
    );
}

#[test]
fn equality_coerces_to_booleans_as_go_parse_bool() {
    let service = health_entry();
    let cases: Vec<(String, bool)> = ["false", "f", "F", "0", "FALSE", "False"]
        .iter()
        .map(|v| (format!("Service.EnableTagOverride == {v}"), true))
        .chain(
            ["true", "t", "T", "1", "TRUE", "True"]
                .iter()
                .map(|v| (format!("Service.EnableTagOverride == {v}"), false)),
        )
        .chain([("Service.EnableTagOverride != true".to_string(), true)])
        .collect();
    let cases: Vec<(&str, bool)> = cases.iter().map(|(e, w)| (e.as_str(), *w)).collect();
    check_all(&service, &cases);
    check_all(&agent_service(), &[("EnableTagOverride == true", true), ("EnableTagOverride == \"true\"", true)]);
}

#[test]
fn in_and_contains_on_lists_test_membership() {
    check_all(
        &health_entry(),
        &[
            ("primary in Service.Tags", true),
            ("\"v1\" in Service.Tags", true),
            ("`v1` in Service.Tags", true),
            ("v3 in Service.Tags", false),
            ("prim in Service.Tags", false),
            ("Primary in Service.Tags", false),
            ("v3 not in Service.Tags", true),
            ("v1 not in Service.Tags", false),
            ("Service.Tags contains primary", true),
            ("Service.Tags contains \"v3\"", false),
            ("Service.Tags not contains v1", false),
            ("Service.Tags not contains v3", true),
        ],
    );
    check_all(
        &json!({"Ports": [80, 443], "Flags": [true]}),
        &[
            ("443 in Ports", true),
            ("\"0x50\" in Ports", true),
            ("8080 in Ports", false),
            ("Flags contains true", true),
            ("Flags contains F", false),
        ],
    );
}

#[test]
fn in_and_contains_on_maps_test_keys() {
    check_all(
        &health_entry(),
        &[
            ("env in Node.Meta", true),
            ("prod in Node.Meta", false),
            ("Node.Meta contains instance_type", true),
            ("Env in Node.Meta", false),
            ("region not in Node.Meta", true),
            ("lan in Service.TaggedAddresses", true),
            ("lan_ipv6 in Service.TaggedAddresses", false),
        ],
    );
}

#[test]
fn in_and_contains_on_strings_test_substrings() {
    check_all(
        &health_entry(),
        &[
            ("\"10.1\" in Node.Address", true),
            ("Node.Address contains \".10.\"", true),
            ("Node.Address contains \"192.168\"", false),
            ("Node.Address not contains \"192.168\"", true),
            ("Service.Meta.redis_version contains \"4.\"", true),
            ("dis in Service.Service", true),
            ("DIS in Service.Service", false),
            ("\"\" in Service.Kind", true),
        ],
    );
}

#[test]
fn emptiness_of_strings_lists_and_maps() {
    check_all(
        &health_entry(),
        &[
            ("Service.Tags is empty", false),
            ("Service.Tags is not empty", true),
            ("Node.Meta is not empty", true),
            ("Service.Kind is empty", true),
            ("Service.Service is empty", false),
            ("Checks is empty", false),
            ("Checks is not empty", true),
            ("Checks.ServiceTags is empty", true),
            ("Checks.ServiceTags is not empty", true),
        ],
    );
    check_all(&catalog_node(), &[("TaggedAddresses is empty", true), ("Meta is empty", false)]);
}

#[test]
fn whitespace_around_operators() {
    check_all(
        &agent_service(),
        &[
            ("Port==21000", true),
            ("Port!=21000", false),
            ("Port== 21000", true),
            ("\t\r\n  Port \t\r\n == \t\r\n 21000 \t\r\n", true),
            ("\n Tags \n contains \n canary \n and \n Port \n != \n 1 \n", true),
            ("\t\r\n ( \t\r\n Port \t\r\n == \t\r\n 21000 \t\r\n ) \t\r\n", true),
            ("canary\tin\tTags", true),
        ],
    );
}

// ---------------------------------------------------------------- selectors

#[test]
fn selectors_reach_into_nested_objects() {
    check_all(
        &agent_service(),
        &[
            ("Kind == \"connect-proxy\"", true),
            ("Proxy.DestinationServiceName == web", true),
            ("Proxy.LocalServicePort == 8080", true),
            ("Proxy.MeshGateway is empty", true),
            ("TaggedAddresses.lan_ipv4.Address == \"10.0.0.5\"", true),
            ("TaggedAddresses.lan_ipv4.Port == 21000", true),
            ("Weights.Passing == 1 and Weights.Warning == 1", true),
        ],
    );
}

#[test]
fn map_indexing_has_two_spellings() {
    check_all(
        &health_entry(),
        &[
            ("Node.Meta.env == prod", true),
            ("Node.Meta[\"env\"] == prod", true),
            ("Node.Meta[`env`] == prod", true),
            ("Node.Meta[ \"env\" ] == prod", true),
            ("Node[\"Meta\"][\"env\"] == prod", true),
            ("Service.TaggedAddresses[\"wan\"].Port == 80", true),
        ],
    );
    check_all(
        &catalog_node(),
        &[
            ("Meta[\"rack-id\"] == r1", true),
            ("Meta[`rack-id`] == `r1`", true),
            ("Meta[\"a.b\"] == dotted", true),
            // Dots split segments: this looks for Meta.a.b.
            ("Meta.a.b == dotted", false),
            ("Meta[\"ünï\"] == \"çødé\"", true),
            ("Meta[\"\"] == blank", true),
            ("Meta[\"rack\\x2did\"] == \"r\\u0031\"", true),
        ],
    );
}

#[test]
fn lists_in_the_middle_of_a_selector_mean_any_element() {
    check_all(
        &health_entry(),
        &[
            ("Checks.Status == passing", true),
            ("Checks.Status == warning", true),
            ("Checks.Status == critical", false),
            // Some check is not passing.
            ("Checks.Status != passing", true),
            ("Checks.Status != critical", true),
            ("Checks.CheckID == serfHealth", true),
            ("Checks.ServiceTags contains primary", true),
            ("primary in Checks.ServiceTags", true),
            ("Checks.ServiceName == redis and Checks.Status == passing", true),
        ],
    );
    check_all(
        &agent_service(),
        &[
            ("Proxy.Upstreams.DestinationName == db", true),
            ("Proxy.Upstreams.DestinationName == api", false),
            ("Proxy.Upstreams.LocalBindPort == 9192", true),
            ("Proxy.Upstreams.Datacenter == dc2", true),
            // The first upstream has no Datacenter, which is "not dc2".
            ("Proxy.Upstreams.Datacenter != dc2", true),
            ("Proxy.Upstreams is not empty", true),
        ],
    );
    let no_checks = json!({"Checks": []});
    check_all(
        &no_checks,
        &[("Checks.Status == passing", false), ("Checks.Status != passing", false), ("Checks is empty", true)],
    );
    let nested = json!({"Groups": [[{"Name": "a"}], [{"Name": "b"}]]});
    check_all(&nested, &[("Groups.Name == b", true), ("Groups.Name == c", false)]);
}

#[test]
fn missing_keys_and_nulls_answer_like_go_bexpr() {
    let health = health_entry();
    check_all(
        &health,
        &[
            ("Node.Meta.region == x", false),
            ("Node.Meta.region != x", true),
            ("Node.Meta.region is empty", true),
            ("Node.Meta.region is not empty", false),
            ("x in Node.Meta.region", false),
            ("x not in Node.Meta.region", true),
            ("Node.Meta.region contains x", false),
            ("Service.Connect.Native == true", false),
            ("Service.Connect.Native != true", true),
            // Case matters for keys too.
            ("Node.meta.env == prod", false),
        ],
    );
    check_all(
        &bare_service(),
        &[
            ("Tags is empty", true),
            ("Tags is not empty", false),
            ("x in Tags", false),
            ("x not in Tags", true),
            ("Meta is empty", true),
            ("Meta.env == prod", false),
            ("Meta.env != prod", true),
            ("env in Meta", false),
        ],
    );
}

// ---------------------------------------------------------------- structure

#[test]
fn precedence_is_not_then_and_then_or() {
    assert_eq!(
        parsed("a == 1 or b == 2 and not c == 3"),
        Expr::Or(vec![eq("a", "1"), Expr::And(vec![eq("b", "2"), not(eq("c", "3"))])])
    );
    // go-bexpr: "x in foo and not str == something or list is empty".
    assert_eq!(
        parsed("x in foo and not str == something or list is empty"),
        Expr::Or(vec![
            Expr::And(vec![m("foo", MatchOp::In, Some("x")), not(eq("str", "something"))]),
            m("list", MatchOp::IsEmpty, None),
        ])
    );
    check_all(
        &health_entry(),
        &[
            // (false and false) or true; "and" binding looser would give false.
            ("Service.Service == nope and Node.Node == nope or Checks is not empty", true),
            // (not true) and false; "not" over the "and" would give true.
            ("not Service.Service == redis and Node.Node == nope", false),
            ("Node.Node == nope or Node.Node == foobar and Service.Port == 8000", true),
        ],
    );
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        parsed("x in foo and not (str == something or list is empty)"),
        Expr::And(vec![
            m("foo", MatchOp::In, Some("x")),
            not(Expr::Or(vec![eq("str", "something"), m("list", MatchOp::IsEmpty, None)])),
        ])
    );
    assert_eq!(parsed("((a == 1))"), eq("a", "1"));
    assert_eq!(parsed("(a == 1) and (b == 2)"), Expr::And(vec![eq("a", "1"), eq("b", "2")]));
    check_all(
        &health_entry(),
        &[
            ("Service.Service == nope and (Node.Node == nope or Checks is not empty)", false),
            ("(Service.Service == redis or Node.Node == nope) and Checks is empty", false),
            ("(Service.Service == redis or Node.Node == nope) and not (Checks is empty)", true),
            ("((((Service.Port == 8000))))", true),
        ],
    );
}

#[test]
fn not_folds_and_needs_whitespace() {
    assert_eq!(parsed("not not foo == 3"), eq("foo", "3"));
    assert_eq!(parsed("not not not foo == 3"), not(eq("foo", "3")));
    assert_eq!(parsed("not (not foo == 3)"), eq("foo", "3"));
    // "not" starting a word is part of the word.
    assert_eq!(parsed("notes == x"), eq("notes", "x"));
    // "not" as the value of an "in".
    assert_eq!(parsed("not in x"), m("x", MatchOp::In, Some("not")));
    check_all(&health_entry(), &[("not Service.Service == web", true), ("not not Service.Service == web", false)]);
}

#[test]
fn contains_is_in_reversed() {
    assert_eq!(parsed("Tags contains v2"), parsed("v2 in Tags"));
    assert_eq!(parsed("Tags not contains v2"), parsed("v2 not in Tags"));
    assert_eq!(parsed("Tags contains v2"), m("Tags", MatchOp::In, Some("v2")));
}

#[test]
fn selector_forms_parse_to_the_same_path() {
    let want = m("foo.bar.meta.tags.ENV", MatchOp::In, Some("environment"));
    // go-bexpr's "Selector Path", "Selector All Indexes", "Selector All Dotted".
    assert_eq!(parsed("`environment` in foo.bar[\"meta\"].tags[\t`ENV` ]"), want);
    assert_eq!(parsed("environment in foo[\"bar\"][\"meta\"][\"tags\"][\"ENV\"]"), want);
    assert_eq!(parsed("environment in foo.bar.meta.tags.ENV"), want);
    assert_eq!(
        parsed("environment in foo[\"abc-def ghi åß∂ƒ\"]"),
        Expr::Match(Match {
            selector: Selector {
                path: vec![Box::<str>::from("foo"), Box::from("abc-def ghi åß∂ƒ")].into_boxed_slice()
            },
            op: MatchOp::In,
            value: Some(Literal::new("environment".into(), true)),
        })
    );
    // Identifiers may hold digits and underscores after the first letter.
    assert_eq!(parsed("a_1.B2 == x"), eq("a_1.B2", "x"));
}

#[test]
fn literal_forms() {
    let value_of = |expr: &str| match parsed(expr) {
        Expr::Match(Match { value: Some(lit), .. }) => (lit.text.to_string(), lit.exact),
        other => panic!("{expr:?} parsed as {other:?}"),
    };
    let cases = [
        ("x == 3", "3"),
        ("x == -3", "-3"),
        ("x == 0", "0"),
        ("x == 0.2", "0.2"),
        ("x == 11.11", "11.11"),
        ("x == -0.2", "-0.2"),
        ("x == true", "true"),
        ("x == word", "word"),
        ("x == dotted.word", "dotted.word"),
        ("x == idx[\"key\"]", "idx.key"),
        ("x == \"quoted string\"", "quoted string"),
        ("x == \"\"", ""),
        ("x == ``", ""),
        ("x == `raw \\n \"string\"`", "raw \\n \"string\""),
        ("x == `line\r\nbreak`", "line\nbreak"),
        ("x == \"tab\\there\"", "tab\there"),
        ("x == \"\\a\\b\\f\\n\\r\\t\\v\\\\\"", "\u{7}\u{8}\u{c}\n\r\t\u{b}\\"),
        ("x == \"\\x41\\101\\u00e9\\U0001F600\"", "AAé😀"),
        ("x == \"é literal\"", "é literal"),
        ("(x == 3)", "3"),
    ];
    for (expr, want) in cases {
        assert_eq!(value_of(expr), (want.to_string(), true), "{expr:?}");
    }
    // Escapes can make bytes no JSON string holds: such a value equals nothing.
    assert_eq!(value_of("x == \"\\xff\""), ("\u{fffd}".to_string(), false));
    check_all(
        &json!({"x": "\u{fffd}", "y": "a\u{fffd}b"}),
        &[("x == \"\\xff\"", false), ("\"\\xff\" in y", false), ("x != \"\\xff\"", true)],
    );
}

// ---------------------------------------------------------------- syntax errors

#[test]
fn syntax_errors_match_go_bexpr() {
    let cases = [
        // go-bexpr
        ("foo == \"12x", "1:12 (11): rule \"string\": Unterminated string literal"),
        ("foo == `12x", "1:12 (11): rule \"string\": Unterminated string literal"),
        ("foo == 3x", "1:9 (8): rule \"number\": Invalid number literal"),
        ("foo[3] == abc", "1:5 (4): rule \"index\": Invalid index"),
        ("x in foo[\"abc\"", "1:15 (14): rule \"index\": Unclosed index expression"),
        ("foo[\"abc\" == 3", "1:11 (10): rule \"index\": Unclosed index expression"),
        ("x in 32", "1:6 (5): rule \"match\": Invalid selector"),
        ("32 == 32", "1:4 (3): no match found, expected: \"in\", \"not\" or [ \\t\\r\\n]"),
        ("32 is empty", "1:4 (3): no match found, expected: \"in\", \"not\" or [ \\t\\r\\n]"),
        ("x in foo abc", "1:10 (9): no match found, expected: \"and\", \"or\", [ \\t\\r\\n] or EOF"),
        (
            "x in foo and ",
            "1:14 (13): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]",
        ),
        (
            "x in foo or ",
            "1:13 (12): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]",
        ),
        (
            "x in foo or not ",
            "1:17 (16): no match found, expected: \"!=\", \"(\", \"-\", \"0\", \"==\", \"\\\"\", \"`\", \"contains\", \"in\", \"is\", \"matches\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]",
        ),
        ("(foo == 4", "1:10 (9): rule \"grouping\": Unmatched parentheses"),
    ];
    for (expr, want) in cases {
        assert_eq!(syntax_error(expr), want, "{expr:?}");
    }
}

#[test]
fn syntax_errors_for_common_mistakes() {
    let cases = [
        // The example in Consul issues (a selector followed by `=`).
        ("Tag=prod", "1:4 (3): no match found, expected: \"!=\", \".\", \"==\", \"[\", [ \\t\\r\\n] or [a-zA-Z0-9_]"),
        // Unquoted values must look like identifiers.
        ("Node == host-name", "1:13 (12): no match found, expected: \".\", \"[\", [ \\t\\r\\n], [a-zA-Z0-9_] or EOF"),
        ("Address == 10.1.2.3", "1:16 (15): rule \"number\": Invalid number literal"),
        ("Port == 0x50", "1:10 (9): rule \"number\": Invalid number literal"),
        // Unknown operators.
        (
            "Port > 80",
            "1:6 (5): no match found, expected: \"!=\", \"==\", \"contains\", \"in\", \"is\", \"matches\", \"not\" or [ \\t\\r\\n]",
        ),
        (
            "Port = 80",
            "1:6 (5): no match found, expected: \"!=\", \"==\", \"contains\", \"in\", \"is\", \"matches\", \"not\" or [ \\t\\r\\n]",
        ),
        ("Tags has v2", "1:6 (5): no match found, expected: \"!=\", \"==\", \"contains\", \"in\", \"is\", \"matches\", \"not\" or [ \\t\\r\\n]"),
        // Trailing garbage and unbalanced parentheses.
        ("Port == 80 garbage", "1:12 (11): no match found, expected: \"and\", \"or\", [ \\t\\r\\n] or EOF"),
        ("Port == 80)", "1:11 (10): no match found, expected: \".\", [ \\t\\r\\n], [0-9] or EOF"),
        ("(Port == 80", "1:12 (11): rule \"grouping\": Unmatched parentheses"),
        ("((((x == 1", "1:11 (10): rule \"grouping\": Unmatched parentheses"),
        ("((x == 1) and (y == 2)", "1:23 (22): rule \"grouping\": Unmatched parentheses"),
        // Word operators need whitespace.
        ("not(Port == 80)", "1:4 (3): no match found, expected: \"!=\", \".\", \"==\", \"[\", [ \\t\\r\\n] or [a-zA-Z0-9_]"),
        // Bad escapes are reported by strconv.Unquote.
        ("Service == \"a\\qb\"", "1:12 (11): rule \"string\": invalid syntax"),
        ("Service == \"it\\'s\"", "1:12 (11): rule \"string\": invalid syntax"),
        ("Service == \"\\400\"", "1:12 (11): rule \"string\": invalid syntax"),
        ("Service == \"\\ud800\"", "1:12 (11): rule \"string\": invalid syntax"),
        ("Service == \"two\nlines\"", "1:12 (11): rule \"string\": invalid syntax"),
        ("Meta[\"a\\q\"] == x", "1:6 (5): rule \"string\": invalid syntax"),
        // Index keys must be strings.
        ("Meta[env] == x", "1:6 (5): rule \"index\": Invalid index"),
        ("Meta[\"env\" == x", "1:12 (11): rule \"index\": Unclosed index expression"),
        ("Meta[\"env == x", "1:15 (14): rule \"string\": Unterminated string literal\n1:6 (5): rule \"index\": Invalid index"),
        // "in" needs a selector on its right.
        ("v2 in \"Tags\"", "1:7 (6): rule \"match\": Invalid selector"),
        // Nothing at all.
        ("", "1:1 (0): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"),
        ("   ", "1:4 (3): no match found, expected: \"(\", \"-\", \"0\", \"\\\"\", \"`\", \"not\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"),
        // Positions count lines and characters.
        ("Port == 80\nand Foo ==", "2:11 (21): no match found, expected: \"-\", \"0\", \"\\\"\", \"`\", [ \\t\\r\\n], [1-9] or [a-zA-Z]"),
        ("Name == \"äö", "1:12 (13): rule \"string\": Unterminated string literal"),
        // Every error raised along the way is reported, in order.
        (
            "Foo == \"a\\q\" or Bar == 12x",
            "1:8 (7): rule \"string\": invalid syntax\n1:26 (25): rule \"number\": Invalid number literal",
        ),
        // Later go-bexpr syntax that Consul's v0.1.2 does not have.
        ("Tags.0 == v2", "1:6 (5): no match found, expected: [a-zA-Z]"),
        ("\"/Meta/env\" == prod", "1:13 (12): no match found, expected: \"in\", \"not\" or [ \\t\\r\\n]"),
        ("any Tags as t { t == v2 }", "1:5 (4): no match found, expected: \"!=\", \"==\", \"contains\", \"in\", \"is\", \"matches\", \"not\" or [ \\t\\r\\n]"),
    ];
    for (expr, want) in cases {
        assert_eq!(syntax_error(expr), want, "{expr:?}");
    }
}

#[test]
fn nesting_is_linear_and_bounded() {
    let deep = format!("{}x == 1{}", "(".repeat(90), ")".repeat(90));
    assert_eq!(parsed(&deep), eq("x", "1"));
    let unclosed = format!("{}x == 1", "(".repeat(90));
    assert_eq!(syntax_error(&unclosed), format!("1:97 (96): rule \"grouping\": Unmatched parentheses"));
    let chain = vec!["x == 1"; 2000].join(" or ");
    assert!(Filter::parse(&chain).is_ok());
    let nots = format!("{}x == 1", "not ".repeat(2001));
    assert_eq!(parsed(&nots), not(eq("x", "1")));
    let too_deep = format!("{}x == 1{}", "(".repeat(150), ")".repeat(150));
    assert_eq!(syntax_error(&too_deep), "1:102 (101): rule \"grouping\": Parentheses nest deeper than 100 levels");
}

// ---------------------------------------------------------------- regex

#[test]
fn regular_expressions_are_refused_at_parse_time() {
    let err = Filter::parse("Service.Service matches \"^web\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Match operator \"Matches\" for selector \"Service.Service\": regular expressions are not supported yet"
    );
    let err = Filter::parse("Port == 1 or Name not matches `x.*`").unwrap_err();
    assert_eq!(err, FilterError::RegexUnsupported { operator: "Not Matches", selector: "Name".into() });
    // The grammar still knows the operators: syntax errors come first.
    assert!(matches!(Filter::parse("Name matches"), Err(FilterError::Syntax(_))));
}

// ---------------------------------------------------------------- selectors for an endpoint

#[test]
fn selectors_are_checked_against_the_endpoint() {
    let ok = [
        "Node.Node == foobar",
        "Node.Meta.env == prod",
        "Node.Meta[\"any key\"] == x",
        "Service.Tags contains v1",
        "Service.Anything == x",
        "Checks.Status == passing",
        "Checks is empty",
    ];
    for expr in ok {
        assert!(Filter::parse_for(expr, HEALTH_FIELDS).is_ok(), "{expr:?}");
    }
    let bad = [
        ("Nodes == x", "Selector \"Nodes\" is not valid"),
        ("Node.Foo == x", "Selector \"Node.Foo\" is not valid"),
        ("Node.Foo.Bar == x", "Selector \"Node.Foo\" is not valid"),
        ("Node is empty", "Selector \"Node\" is not valid"),
        ("x in node.Meta", "Selector \"node\" is not valid"),
        // The first bad selector, in source order, is the one reported.
        ("Checks is empty or Foo == 1 and Bar == 2", "Selector \"Foo\" is not valid"),
        ("not (Service.Port == 1 or Bar == 2)", "Selector \"Bar\" is not valid"),
    ];
    for (expr, want) in bad {
        let err = Filter::parse_for(expr, HEALTH_FIELDS).unwrap_err();
        assert_eq!(err.to_string(), want, "{expr:?}");
    }
}

#[test]
fn field_lists_may_use_wildcards() {
    let ok = [
        "TaggedAddresses.lan.Port == 1",
        "TaggedAddresses[\"lan_ipv4\"].Address == x",
        "Proxy.Upstreams.DestinationName == db",
    ];
    for expr in ok {
        assert!(Filter::parse_for(expr, AGENT_SERVICE_FIELDS).is_ok(), "{expr:?}");
    }
    let bad = [
        ("TaggedAddresses.lan.Foo == 1", "Selector \"TaggedAddresses.lan.Foo\" is not valid"),
        ("Weights.Critical == 1", "Selector \"Weights.Critical\" is not valid"),
        ("Meta[\"x\"] == 1 and Connect.Proxy == x", "Selector \"Connect.Proxy\" is not valid"),
    ];
    for (expr, want) in bad {
        assert_eq!(Filter::parse_for(expr, AGENT_SERVICE_FIELDS).unwrap_err().to_string(), want, "{expr:?}");
    }
}

#[test]
fn selector_errors_quote_as_go_does() {
    let err = Filter::parse_for("Meta[`say \"hi\"`] == x", &["Meta.greeting"]).unwrap_err();
    assert_eq!(err.to_string(), "Selector \"Meta.say \\\"hi\\\"\" is not valid");
    let err = Filter::parse_for("Meta[\"tab\\there\"] == x", &["Meta.x"]).unwrap_err();
    assert_eq!(err.to_string(), "Selector \"Meta.tab\\there\" is not valid");
    // An empty list allows nothing.
    assert_eq!(Filter::parse_for("ID == x", &[]).unwrap_err(), FilterError::InvalidSelector("ID".into()));
}

#[test]
fn syntax_is_checked_before_selectors_and_selectors_before_regex() {
    assert!(matches!(Filter::parse_for("Foo ==", HEALTH_FIELDS), Err(FilterError::Syntax(_))));
    assert_eq!(
        Filter::parse_for("Foo matches x", HEALTH_FIELDS).unwrap_err(),
        FilterError::InvalidSelector("Foo".into())
    );
    assert!(matches!(
        Filter::parse_for("Service.Service matches x", HEALTH_FIELDS),
        Err(FilterError::RegexUnsupported { .. })
    ));
}

#[test]
fn the_query_parameter_treats_empty_as_no_filter() {
    assert_eq!(Filter::from_query("", HEALTH_FIELDS), Ok(None));
    assert!(Filter::from_query("Checks is empty", HEALTH_FIELDS).unwrap().is_some());
    assert!(matches!(Filter::from_query(" ", HEALTH_FIELDS), Err(FilterError::Syntax(_))));
    assert!(matches!(Filter::from_query("Foo == 1", HEALTH_FIELDS), Err(FilterError::InvalidSelector(_))));
}

// ---------------------------------------------------------------- evaluation errors

#[test]
fn operators_a_type_does_not_support_are_errors() {
    eval_errors(
        &agent_service(),
        &[
            ("Tags == v2", "Invalid match operator \"Equal\" for selector \"Tags\""),
            ("Meta != x", "Invalid match operator \"Not Equal\" for selector \"Meta\""),
            ("Port contains 80", "Invalid match operator \"In\" for selector \"Port\""),
            ("80 not in Port", "Invalid match operator \"Not In\" for selector \"Port\""),
            ("Port is empty", "Invalid match operator \"Is Empty\" for selector \"Port\""),
            (
                "EnableTagOverride is not empty",
                "Invalid match operator \"Is Not Empty\" for selector \"EnableTagOverride\"",
            ),
            ("db in Proxy.Upstreams", "Invalid match operator \"In\" for selector \"Proxy.Upstreams\""),
            ("Proxy.DestinationServiceName.Foo == x", "Selector \"Proxy.DestinationServiceName.Foo\" is not valid"),
            ("Port.Value == 1", "Selector \"Port.Value\" is not valid"),
        ],
    );
}

#[test]
fn values_that_do_not_coerce_are_errors() {
    eval_errors(
        &agent_service(),
        &[
            ("Port == abc", "Failed to coerce value \"abc\" for selector \"Port\": strconv.ParseInt: parsing \"abc\": invalid syntax"),
            (
                "Port == 99999999999999999999",
                "Failed to coerce value \"99999999999999999999\" for selector \"Port\": strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
            (
                "EnableTagOverride == yes",
                "Failed to coerce value \"yes\" for selector \"EnableTagOverride\": strconv.ParseBool: parsing \"yes\": invalid syntax",
            ),
            (
                "Weights.Passing != \"1 \"",
                "Failed to coerce value \"1 \" for selector \"Weights.Passing\": strconv.ParseInt: parsing \"1 \": invalid syntax",
            ),
        ],
    );
    eval_errors(
        &numbers(),
        &[("Score == abc", "Failed to coerce value \"abc\" for selector \"Score\": strconv.ParseFloat: parsing \"abc\": invalid syntax")],
    );
    eval_errors(
        &json!({"Ports": [80]}),
        &[("http in Ports", "Failed to coerce value \"http\" for selector \"Ports\": strconv.ParseInt: parsing \"http\": invalid syntax")],
    );
}

#[test]
fn evaluation_short_circuits_like_go_bexpr() {
    // The right side would fail; the left side decides first.
    check_all(&agent_service(), &[("Port == 21000 or Port == abc", true), ("Port == 1 and Port == abc", false)]);
    eval_errors(
        &agent_service(),
        &[(
            "Port == 1 or Port == abc",
            "Failed to coerce value \"abc\" for selector \"Port\": strconv.ParseInt: parsing \"abc\": invalid syntax",
        )],
    );
    // Items without the field never reach the coercion.
    check_all(&bare_service(), &[("Meta.version == 2 and Meta.version.x == 1", false)]);
}

#[test]
fn one_filter_serves_many_items() {
    let filter = Filter::parse("Service.Tags contains primary and Checks.Status != critical").unwrap();
    let mut items: Vec<Value> = (0..1000)
        .map(|i| {
            let mut entry = health_entry();
            if i % 2 == 0 {
                entry["Service"]["Tags"] = json!(["replica"]);
            }
            entry
        })
        .collect();
    items.retain(|item| filter.matches(item).unwrap());
    assert_eq!(items.len(), 500);
}

// ---------------------------------------------------------------- strconv

#[test]
fn go_parse_int_rules() {
    let cases: &[(&str, Result<i64, NumError>)] = &[
        ("0", Ok(0)),
        ("42", Ok(42)),
        ("-42", Ok(-42)),
        ("+42", Ok(42)),
        ("0x1F", Ok(31)),
        ("0X1f", Ok(31)),
        ("0o17", Ok(15)),
        ("017", Ok(15)),
        ("0b101", Ok(5)),
        ("1_000", Ok(1000)),
        ("0x_1F", Ok(31)),
        ("-9223372036854775808", Ok(i64::MIN)),
        ("9223372036854775807", Ok(i64::MAX)),
        ("9223372036854775808", Err(NumError::Range)),
        ("-9223372036854775809", Err(NumError::Range)),
        ("99999999999999999999x", Err(NumError::Range)),
        ("", Err(NumError::Syntax)),
        ("-", Err(NumError::Syntax)),
        ("0x", Err(NumError::Syntax)),
        ("08", Err(NumError::Syntax)),
        ("_1", Err(NumError::Syntax)),
        ("1__0", Err(NumError::Syntax)),
        ("1_", Err(NumError::Syntax)),
        ("1.5", Err(NumError::Syntax)),
        (" 1", Err(NumError::Syntax)),
    ];
    for &(input, want) in cases {
        assert_eq!(strconv::parse_int(input), want, "{input:?}");
    }
    assert_eq!(strconv::parse_uint("18446744073709551615"), Ok(u64::MAX));
    assert_eq!(strconv::parse_uint("18446744073709551616"), Err(NumError::Range));
    assert_eq!(strconv::parse_uint("-1"), Err(NumError::Syntax));
}

#[test]
fn go_parse_float_and_bool_rules() {
    assert_eq!(strconv::parse_float("1.5"), Ok(1.5));
    assert_eq!(strconv::parse_float("-2e3"), Ok(-2000.0));
    assert_eq!(strconv::parse_float(".5"), Ok(0.5));
    assert_eq!(strconv::parse_float("1_000.5"), Ok(1000.5));
    assert_eq!(strconv::parse_float("+Inf"), Ok(f64::INFINITY));
    assert_eq!(strconv::parse_float("1e400"), Err(NumError::Range));
    assert_eq!(strconv::parse_float("1__0"), Err(NumError::Syntax));
    assert_eq!(strconv::parse_float("abc"), Err(NumError::Syntax));
    assert_eq!(strconv::parse_float(""), Err(NumError::Syntax));
    assert_eq!(strconv::parse_bool("True"), Ok(true));
    assert_eq!(strconv::parse_bool("tRUE"), Err(NumError::Syntax));
    assert_eq!(strconv::parse_bool("yes"), Err(NumError::Syntax));
}

#[test]
fn go_quote_and_unquote() {
    assert_eq!(strconv::quote("plain"), "\"plain\"");
    assert_eq!(strconv::quote("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
    assert_eq!(strconv::quote("\u{1}\u{7f}é"), "\"\\x01\\x7fé\"");
    assert_eq!(strconv::quote("\u{a0}"), "\"\\u00a0\"");
    assert_eq!(strconv::unquote_double("\\x41\\101\\u00e9\\U0001F600"), Some("AAé😀".as_bytes().to_vec()));
    assert_eq!(strconv::unquote_double("\\xff"), Some(vec![0xff]));
    assert_eq!(strconv::unquote_double("\\'"), None);
    assert_eq!(strconv::unquote_double("\\400"), None);
    assert_eq!(strconv::unquote_double("\\ud800"), None);
    assert_eq!(strconv::unquote_double("\\U00110000"), None);
    assert_eq!(strconv::unquote_double("\\x4"), None);
    assert_eq!(strconv::unquote_double("trailing\\"), None);
    assert_eq!(strconv::unquote_double("a\nb"), None);
    assert_eq!(strconv::unquote_double("a\rb\tc"), Some(b"a\rb\tc".to_vec()));
    assert_eq!(strconv::unquote_raw("a\r\nb\\n"), "a\nb\\n");
}

// ---------------------------------------------------------- projection

/// `matches_item` sees only the selectors' paths; it must answer as
/// `matches` over the whole JSON does, errors included.
#[test]
fn matching_an_item_by_its_serialize_impl_answers_as_over_its_whole_json() {
    let entry = health_entry();
    let fields = &["Node", "Service", "Checks"];
    for expr in [
        "Checks.Status == passing",
        "Checks.Status != passing",
        r#"Service.Tags contains "v1" and Node.Meta.env == prod"#,
        r#"Node.Meta["instance_type"] == "t2.medium""#,
        "Node.Meta is empty or Service.Meta is not empty",
        "Node.Meta.missing != x",
        "not Node.Meta.env == dev",
        "Service.Port == 8000",
        "Service.Address.Nope == x",
        "primary in Service.Tags",
        r#"Node.TaggedAddresses.lan == "10.1.10.12" and Node.TaggedAddresses is not empty"#,
        "Service.Weights.Passing == 1",
        "Service.Port contains 8",
    ] {
        let filter = Filter::parse_for(expr, fields).expect(expr);
        assert_eq!(filter.matches_item(&entry), filter.matches(&entry), "{expr}");
    }
}

#[test]
fn a_typed_item_is_projected_through_its_field_names_and_skips() {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Item<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<&'a str>,
        tags: &'a [&'a str],
        nested: Vec<Inner>,
    }
    #[derive(serde::Serialize)]
    struct Inner {
        #[serde(rename = "Port")]
        port: u16,
        #[serde(rename = "Big")]
        big: [u8; 3],
    }
    let item = Item { name: "web", kind: None, tags: &["a"], nested: vec![Inner { port: 80, big: [1, 2, 3] }] };
    let whole = serde_json::to_value(&item).unwrap();
    for expr in ["Name == web", "Kind == x", "Kind != x", "a in Tags", "Nested.Port == 80", "Nested.Big is empty"] {
        let filter = Filter::parse(expr).expect(expr);
        assert_eq!(filter.matches_item(&item), filter.matches(&whole), "{expr}");
    }
    let only_port = super::select::Paths::of(&Filter::parse("Nested.Port == 80").unwrap().expr);
    assert_eq!(only_port.project(&item).unwrap(), json!({"Nested": [{"Port": 80}]}));
}
